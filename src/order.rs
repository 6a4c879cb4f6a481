//! Ordering lists with one copy of the sort.
//!
//! std's stable sort is compiled once per element type and comparator
//! (about 4.5 KB of `.wasm` each), and so was `collect::<BTreeMap<_, _>>()`,
//! which sorts its pairs first (maps are now [`crate::strmap::StrMap`],
//! built by inserting). The Worker had nine such copies (issue 9).
//! Here the sort runs once, over positions, whatever is sorted: [`sort_by`]
//! orders positions with the caller's comparison and then moves the items
//! into that order, which is exactly the order a stable sort gives (equal
//! items keep their order). The lists sorted here are short (a plan's
//! limits, a user's grants, a header's languages), so the indirect
//! comparison costs nothing that matters.

use std::cmp::Ordering;

/// Sorts `v` stably by `cmp`, as `v.sort_by(cmp)` does.
pub fn sort_by<T>(v: &mut Vec<T>, cmp: impl Fn(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..v.len()).collect();
    positions(&mut order, &|a, b| cmp(&v[a], &v[b]));
    let mut taken: Vec<Option<T>> = v.drain(..).map(Some).collect();
    v.extend(order.into_iter().filter_map(|i| taken[i].take()));
}

/// Sorts `v` stably by `key`, as `v.sort_by_key(key)` does.
pub fn sort_by_key<T, K: Ord>(v: &mut Vec<T>, key: impl Fn(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// The one instantiation of std's stable sort.
#[inline(never)]
fn positions(order: &mut [usize], cmp: &dyn Fn(usize, usize) -> Ordering) {
    order.sort_by(|a, b| cmp(*a, *b));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The same order as std's stable sort, ties included (the second
        /// field tells equal keys apart).
        #[test]
        fn sorts_as_std_stable_sort(mut v in prop::collection::vec((0u8..6, any::<u16>()), 0..60)) {
            let mut want = v.clone();
            want.sort_by_key(|a| a.0);
            sort_by(&mut v, |a, b| a.0.cmp(&b.0));
            prop_assert_eq!(v, want);
        }
    }

    #[test]
    fn sorts_by_key_descending_and_empty() {
        let mut v = vec![3, 1, 2];
        sort_by_key(&mut v, |x| std::cmp::Reverse(*x));
        assert_eq!(v, [3, 2, 1]);
        let mut e: Vec<u8> = Vec::new();
        sort_by(&mut e, Ord::cmp);
        assert!(e.is_empty());
    }
}
