//! `StrMap<V>`: a map from text keys, kept in key order, for every map of
//! the core (a ledger's counters, closed holds and idempotent answers, a
//! config's messages and aliases, a code's uses per user, …).
//!
//! Why not `BTreeMap<String, V>`: each value type instantiated the B-tree's
//! node code again (insert, remove, search, clone, drop: about 6 KB of
//! `.wasm` per type, 65 KB over the Worker's ten types; BENCHMARKS.md,
//! "Readers and one sort"). Here the keys live in one `Vec<String>`, so the
//! search is one non-generic function, and only `Vec<V>`'s insert and remove
//! are instantiated per type. The maps are small (tens to a few thousand
//! entries), where a sorted vector is as fast as a tree. Inserting keys in
//! ascending order appends; in any other order each insert moves the
//! entries after it, so a long list is given in key order (a Durable
//! Object reads its rows `ORDER BY` their key: 40,000 keys in storage
//! order took 897 ms natively one by one, `BTreeMap` 10 ms).
//!
//! It behaves as `BTreeMap<String, V>` does where the core uses it: keys in
//! byte order (`str`'s `Ord`), `insert` replaces and returns the old value,
//! iteration in key order, and serde's form is a JSON object in key order.
//! The property test below checks it against `BTreeMap` operation by
//! operation.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// A map from `String` to `V` in key order (see the module's doc).
#[derive(Clone, PartialEq, Eq)]
pub struct StrMap<V> {
    keys: Vec<String>,
    vals: Vec<V>,
}

impl<V> Default for StrMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

/// Where `key` is in `keys`, or where it would go. One function for every
/// value type.
#[inline(never)]
fn position(keys: &[String], key: &str) -> Result<usize, usize> {
    keys.binary_search_by(|k| k.as_str().cmp(key))
}

impl<V> StrMap<V> {
    pub const fn new() -> Self {
        StrMap {
            keys: Vec::new(),
            vals: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        position(&self.keys, key).ok().map(|i| &self.vals[i])
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        position(&self.keys, key).ok().map(|i| &mut self.vals[i])
    }

    pub fn contains_key(&self, key: &str) -> bool {
        position(&self.keys, key).is_ok()
    }

    /// Sets `key` to `value`; the value it replaces, if any.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        match position(&self.keys, &key) {
            Ok(i) => Some(std::mem::replace(&mut self.vals[i], value)),
            Err(i) => {
                self.keys.insert(i, key);
                self.vals.insert(i, value);
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = position(&self.keys, key).ok()?;
        self.keys.remove(i);
        Some(self.vals.remove(i))
    }

    /// The value of `key`, inserted first if missing (`BTreeMap::entry`).
    pub fn entry(&mut self, key: String) -> Entry<'_, V> {
        Entry { map: self, key }
    }

    /// Keeps the entries `keep` says yes to, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut V) -> bool) {
        let mut w = 0;
        for r in 0..self.keys.len() {
            if keep(&self.keys[r], &mut self.vals[r]) {
                self.keys.swap(w, r);
                self.vals.swap(w, r);
                w += 1;
            }
        }
        self.keys.truncate(w);
        self.vals.truncate(w);
    }

    /// Moves every entry of `other` into `self` (`BTreeMap::append`: `other`'s
    /// values win).
    pub fn append(&mut self, other: &mut Self) {
        for (k, v) in std::mem::take(other) {
            self.insert(k, v);
        }
    }

    pub fn iter(&self) -> Iter<'_, V> {
        self.keys.iter().zip(self.vals.iter())
    }

    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        self.keys.iter().zip(self.vals.iter_mut())
    }

    pub fn keys(&self) -> std::slice::Iter<'_, String> {
        self.keys.iter()
    }

    pub fn values(&self) -> std::slice::Iter<'_, V> {
        self.vals.iter()
    }

    pub fn values_mut(&mut self) -> std::slice::IterMut<'_, V> {
        self.vals.iter_mut()
    }

    pub fn into_values(self) -> std::vec::IntoIter<V> {
        self.vals.into_iter()
    }
}

/// A place in a [`StrMap`] for one key.
pub struct Entry<'a, V> {
    map: &'a mut StrMap<V>,
    key: String,
}

impl<'a, V> Entry<'a, V> {
    /// Changes the value if the key is there.
    pub fn and_modify(self, change: impl FnOnce(&mut V)) -> Self {
        if let Some(v) = self.map.get_mut(&self.key) {
            change(v);
        }
        self
    }

    pub fn or_insert_with(self, make: impl FnOnce() -> V) -> &'a mut V {
        let i = match position(&self.map.keys, &self.key) {
            Ok(i) => i,
            Err(i) => {
                self.map.keys.insert(i, self.key);
                self.map.vals.insert(i, make());
                i
            }
        };
        &mut self.map.vals[i]
    }

    pub fn or_insert(self, value: V) -> &'a mut V {
        self.or_insert_with(|| value)
    }

    pub fn or_default(self) -> &'a mut V
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }
}

pub type Iter<'a, V> = std::iter::Zip<std::slice::Iter<'a, String>, std::slice::Iter<'a, V>>;
pub type IterMut<'a, V> = std::iter::Zip<std::slice::Iter<'a, String>, std::slice::IterMut<'a, V>>;

impl<V> IntoIterator for StrMap<V> {
    type Item = (String, V);
    type IntoIter = std::iter::Zip<std::vec::IntoIter<String>, std::vec::IntoIter<V>>;
    fn into_iter(self) -> Self::IntoIter {
        self.keys.into_iter().zip(self.vals)
    }
}

impl<'a, V> IntoIterator for &'a StrMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = Iter<'a, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, V> IntoIterator for &'a mut StrMap<V> {
    type Item = (&'a String, &'a mut V);
    type IntoIter = IterMut<'a, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// Built by inserting in turn, so a later pair wins over an earlier one with
/// the same key, as `collect::<BTreeMap<_, _>>()` does.
impl<V> FromIterator<(String, V)> for StrMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(pairs: I) -> Self {
        let mut m = StrMap::new();
        m.extend(pairs);
        m
    }
}

/// `map["key"]`: panics when the key is missing, as `BTreeMap`'s does.
impl<V> std::ops::Index<&str> for StrMap<V> {
    type Output = V;
    fn index(&self, key: &str) -> &V {
        self.get(key).expect("no entry for the key")
    }
}

/// Inserts in turn: a pair wins over an entry with the same key.
impl<V> Extend<(String, V)> for StrMap<V> {
    fn extend<I: IntoIterator<Item = (String, V)>>(&mut self, pairs: I) {
        for (k, v) in pairs {
            self.insert(k, v);
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for StrMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: Serialize> Serialize for StrMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for StrMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Pairs<V> {
            type Value = StrMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<StrMap<V>, A::Error> {
                let mut m = StrMap::new();
                while let Some((k, v)) = a.next_entry::<String, V>()? {
                    m.insert(k, v);
                }
                Ok(m)
            }
        }
        d.deserialize_map(Pairs(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(String, u32),
        Remove(String),
        Entry(String, u32),
        Bump(String),
        Modify(String),
        Extend(Vec<(String, u32)>),
        Retain(u32),
        Append(Vec<(String, u32)>),
    }

    fn key() -> impl Strategy<Value = String> {
        // Few distinct keys, so operations meet each other; byte order
        // differs from char order only beyond ASCII, so include some.
        prop_oneof![
            "[a-d]{0,2}",
            Just("é".to_string()),
            Just("z".to_string()),
            Just("\u{10000}".to_string())
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (key(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            key().prop_map(Op::Remove),
            (key(), any::<u32>()).prop_map(|(k, v)| Op::Entry(k, v)),
            key().prop_map(Op::Bump),
            key().prop_map(Op::Modify),
            prop::collection::vec((key(), any::<u32>()), 0..4).prop_map(Op::Extend),
            (1u32..5).prop_map(Op::Retain),
            prop::collection::vec((key(), any::<u32>()), 0..4).prop_map(Op::Append),
        ]
    }

    proptest! {
        /// Every operation answers as `BTreeMap`'s, and the two hold the
        /// same entries in the same order after each.
        #[test]
        fn behaves_as_a_btreemap(ops in prop::collection::vec(op(), 0..60)) {
            let mut m = StrMap::new();
            let mut r = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(m.insert(k.clone(), v), r.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(m.remove(&k), r.remove(&k)),
                    Op::Entry(k, v) => prop_assert_eq!(*m.entry(k.clone()).or_insert(v), *r.entry(k).or_insert(v)),
                    Op::Bump(k) => {
                        *m.entry(k.clone()).or_default() += 1;
                        *r.entry(k).or_default() += 1;
                    }
                    Op::Modify(k) => prop_assert_eq!(
                        *m.entry(k.clone()).and_modify(|v| *v /= 2).or_insert(7),
                        *r.entry(k).and_modify(|v| *v /= 2).or_insert(7)
                    ),
                    Op::Extend(pairs) => {
                        m.extend(pairs.clone());
                        r.extend(pairs);
                    }
                    Op::Retain(d) => {
                        m.retain(|_, v| *v % d == 0);
                        r.retain(|_, v| *v % d == 0);
                    }
                    Op::Append(pairs) => {
                        let mut a: StrMap<u32> = pairs.iter().cloned().collect();
                        let mut b: BTreeMap<String, u32> = pairs.into_iter().collect();
                        m.append(&mut a);
                        r.append(&mut b);
                        prop_assert!(a.is_empty());
                    }
                }
                let got: Vec<(&String, &u32)> = m.iter().collect();
                let want: Vec<(&String, &u32)> = r.iter().collect();
                prop_assert_eq!(got, want);
                prop_assert_eq!(m.len(), r.len());
                for k in ["", "a", "ab", "é", "z"] {
                    prop_assert_eq!(m.get(k), r.get(k));
                    prop_assert_eq!(m.contains_key(k), r.contains_key(k));
                }
            }
            prop_assert_eq!(serde_json::to_string(&m).unwrap(), serde_json::to_string(&r).unwrap());
            let text = serde_json::to_string(&r).unwrap();
            let back: StrMap<u32> = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, m);
        }
    }

    #[test]
    fn a_later_duplicate_key_wins_as_in_btreemap() {
        let text = r#"{"b":1,"a":2,"b":3}"#;
        let m: StrMap<u32> = serde_json::from_str(text).unwrap();
        let r: BTreeMap<String, u32> = serde_json::from_str(text).unwrap();
        assert_eq!(m.iter().collect::<Vec<_>>(), r.iter().collect::<Vec<_>>());
        assert_eq!(m.get("b"), Some(&3));
        let not_a_map = serde_json::from_str::<StrMap<u32>>("[1]").unwrap_err();
        assert!(not_a_map.to_string().contains("a map"), "{not_a_map}");
    }
}
