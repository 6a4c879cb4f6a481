//! Unicode lower-casing for file extensions (SPEC §3: "the extension is the
//! part after the last dot, lower-cased"), exactly as `str::to_lowercase`
//! does it — the same mapping, `İ` → `i̇`, and a word-final `Σ` → `ς` — from
//! tables build.rs reads off this toolchain's `str::to_lowercase` itself.
//! std's own tables are 14 KB of the browser package; these are a few KB.
//! The tests compare every character, and every character around a `Σ`,
//! with std.

use std::sync::OnceLock;

static LOWER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/case_lower.bin"));
static IGNORABLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/case_ignorable.bin"));
static CASED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/case_cased.bin"));

/// `s.to_lowercase()`.
pub fn to_lowercase(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        match c {
            '\u{130}' => out.push_str("i\u{307}"),
            // Final_Sigma (Unicode §3.13): a cased letter before it, none after,
            // case-ignorable characters skipped on both sides.
            '\u{3a3}' => out.push(
                if cased_before(s[..i].chars().rev()) && !cased_before(s[i + 2..].chars()) {
                    '\u{3c2}'
                } else {
                    '\u{3c3}'
                },
            ),
            _ => out.push(lower(c)),
        }
    }
    out
}

/// Whether the first character that is not case-ignorable is cased.
fn cased_before(mut chars: impl Iterator<Item = char>) -> bool {
    chars
        .find(|&c| !in_ranges(&IGNORABLE_RANGES, IGNORABLE, c))
        .is_some_and(|c| in_ranges(&CASED_RANGES, CASED, c))
}

/// A run of characters that lower-case to `c + delta`: `first`, `first +
/// stride`, … `last`.
struct Run {
    first: u32,
    last: u32,
    stride: u32,
    delta: i32,
}

static RUNS: OnceLock<Vec<Run>> = OnceLock::new();
static IGNORABLE_RANGES: OnceLock<Vec<(u32, u32)>> = OnceLock::new();
static CASED_RANGES: OnceLock<Vec<(u32, u32)>> = OnceLock::new();

/// The one-character lower case of `c` (`c` itself when it has none).
fn lower(c: char) -> char {
    let runs = RUNS.get_or_init(|| {
        let mut r = Varints(LOWER);
        let mut out = Vec::new();
        let mut prev = 0;
        while let (Some(gap), Some(count), Some(stride), Some(delta)) =
            (r.next(), r.next(), r.next(), r.next())
        {
            let first = prev + gap;
            prev = first + count * stride;
            out.push(Run {
                first,
                last: prev,
                stride,
                delta: (delta >> 1) as i32 ^ -((delta & 1) as i32),
            });
        }
        out
    });
    let u = c as u32;
    let i = runs.partition_point(|r| r.last < u);
    match runs.get(i) {
        Some(r) if r.first <= u && (u - r.first) % r.stride == 0 => {
            char::from_u32(u.wrapping_add_signed(r.delta)).unwrap_or(c)
        }
        _ => c,
    }
}

/// Whether `c` is in a range list (pairs of gap from the previous range's
/// end, length - 1), decoded once into `cache`.
fn in_ranges(cache: &OnceLock<Vec<(u32, u32)>>, table: &[u8], c: char) -> bool {
    let ranges = cache.get_or_init(|| {
        let mut r = Varints(table);
        let mut out = Vec::new();
        let mut prev = 0;
        while let (Some(gap), Some(len)) = (r.next(), r.next()) {
            let first = prev + gap;
            prev = first + len;
            out.push((first, prev));
        }
        out
    });
    let u = c as u32;
    let i = ranges.partition_point(|&(_, last)| last < u);
    ranges.get(i).is_some_and(|&(first, _)| first <= u)
}

/// Unsigned LEB128 numbers, one after another.
struct Varints<'a>(&'a [u8]);

impl Iterator for Varints<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        let mut n = 0;
        for shift in (0..35).step_by(7) {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            n |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_character_as_std() {
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            let s = c.to_string();
            assert_eq!(to_lowercase(&s), s.to_lowercase(), "U+{:04X}", c as u32);
        }
    }

    /// Every character before a `Σ` (alone, and after a cased letter: the
    /// two tables), and after one for every character that is in a table
    /// and every 97th other.
    #[test]
    fn every_character_around_a_sigma_as_std() {
        for (i, c) in (0..=0x10FFFF_u32).filter_map(char::from_u32).enumerate() {
            let mut cases = vec![format!("A{c}\u{3a3}"), format!("{c}\u{3a3}")];
            let listed =
                in_ranges(&IGNORABLE_RANGES, IGNORABLE, c) || in_ranges(&CASED_RANGES, CASED, c);
            if listed || i % 97 == 0 {
                cases.push(format!("A\u{3a3}{c}"));
                cases.push(format!("A\u{3a3}\u{301}{c}b"));
            }
            for s in cases {
                assert_eq!(to_lowercase(&s), s.to_lowercase(), "{s:?}");
            }
        }
    }

    #[test]
    fn examples() {
        assert_eq!(to_lowercase("PDF"), "pdf");
        assert_eq!(to_lowercase("ÄBC"), "äbc");
        assert_eq!(to_lowercase("ΟΔΟΣ"), "οδος");
        assert_eq!(to_lowercase("İ"), "i\u{307}");
        assert_eq!(to_lowercase("پی‌دی‌اف"), "پی‌دی‌اف");
    }
}
