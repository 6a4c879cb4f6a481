//! Reading back JSON this crate wrote itself (a Durable Object's books).
//!
//! serde's derived `Deserialize`, called through `serde_json::from_str::<T>`,
//! instantiates serde_json's parser once more for every type it reads (and
//! routing it through a `Value` makes the Worker bigger still). Instead the
//! text is parsed once into a [`Value`] (a parser the Worker links anyway)
//! and each type reads its fields with these helpers, beside the type
//! (`Hold::from_stored`, …): the Worker 14.5 KB gzipped smaller for the
//! books (BENCHMARKS.md). The derive stays on those types in tests only, as
//! the reference the tests compare with (`src/ledger/read_tests.rs`).
//!
//! The readers accept what the derive accepts for everything the writer
//! (serde's derived `Serialize`, unchanged) writes, and refuse where it
//! refuses: a missing required field, or a field of the wrong JSON kind or
//! out of range, is an error naming its path (`h[2].c: expected an
//! integer`), never a silent default. Absent optional fields read as their
//! default; `null` reads as absent only for `Option` fields (as the derive
//! does); unknown fields are ignored. The tests compare both readers. One
//! difference, on purpose: serde_json also reads a derived struct from an
//! array of its fields in order; the writer never writes one, and these
//! readers refuse it (an error, never a guess).

use crate::strmap::StrMap;
use serde_json::{Map, Value};
use std::cell::Cell;

/// A reader's result: the error is `path: reason`.
pub type Res<T> = Result<T, String>;

/// Where a value sits in the document, as a chain of borrowed segments: the
/// path text is built only when there is an error to report.
#[derive(Clone, Copy)]
pub enum Path<'a> {
    /// The document itself (`name` is what it is, e.g. a row's kind; may be empty).
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub fn key(&'a self, k: &'a str) -> Path<'a> {
        Path::Key(self, k)
    }

    pub fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }

    /// The path as text: `h[2].c`, `c.tokens|all|1h.r`.
    pub fn render(&self) -> String {
        match self {
            Path::Root(name) => name.to_string(),
            Path::Key(up, k) => crate::json::join(&up.render(), k),
            Path::Index(up, i) => crate::json::index(&up.render(), *i),
        }
    }

    /// An error at this path.
    #[inline]
    pub fn err<T>(&self, reason: &str) -> Res<T> {
        Err(self.error(reason))
    }

    /// The error text (not generic: one copy, whatever the reader's type).
    #[inline(never)]
    fn error(&self, reason: &str) -> String {
        let p = self.render();
        if p.is_empty() {
            reason.to_string()
        } else {
            format!("{p}: {reason}")
        }
    }
}

/// Parses stored text: refuses a known field written twice (as the derive
/// does) and, like every JSON this crate reads, any other duplicated key.
pub fn parse(text: &str) -> Res<Value> {
    crate::json::parse_strict(text).map_err(|p| p.to_string())
}

/// A non-negative integer that fits a `u64`.
pub fn u64_(v: &Value, at: &Path) -> Res<u64> {
    v.as_u64()
        .map_or_else(|| at.err("expected a non-negative integer"), Ok)
}

/// An integer that fits an `i64`.
pub fn i64_(v: &Value, at: &Path) -> Res<i64> {
    v.as_i64().map_or_else(|| at.err("expected an integer"), Ok)
}

/// A non-negative integer that fits a smaller type (`u8`, `u16`, `u32`).
pub fn small<T: TryFrom<u64>>(v: &Value, at: &Path) -> Res<T> {
    T::try_from(u64_(v, at)?).map_or_else(|_| at.err("integer out of range"), Ok)
}

pub fn string(v: &Value, at: &Path) -> Res<String> {
    v.as_str()
        .map_or_else(|| at.err("expected a string"), |s| Ok(s.to_string()))
}

pub fn boolean(v: &Value, at: &Path) -> Res<bool> {
    v.as_bool().map_or_else(|| at.err("expected a boolean"), Ok)
}

/// Every element of an array, read by `read`.
pub fn list<T>(v: &Value, at: &Path, read: fn(&Value, &Path) -> Res<T>) -> Res<Vec<T>> {
    let Some(a) = v.as_array() else {
        return at.err("expected an array");
    };
    // Loops, not `collect`: a `Result` collect costs the Worker kilobytes.
    let mut out = Vec::with_capacity(a.len());
    for (i, x) in a.iter().enumerate() {
        out.push(read(x, &at.index(i))?);
    }
    Ok(out)
}

/// Every entry of an object, its values read by `read`.
pub fn map<T>(v: &Value, at: &Path, read: fn(&Value, &Path) -> Res<T>) -> Res<StrMap<T>> {
    let Some(m) = v.as_object() else {
        return at.err("expected an object");
    };
    let mut out = StrMap::new();
    for (k, x) in m {
        out.insert(k.clone(), read(x, &at.key(k))?);
    }
    Ok(out)
}

/// An externally tagged enum value as serde writes it: `"name"` (a unit
/// variant, payload `None`) or `{"name": payload}` (exactly one key).
pub fn variant<'v>(v: &'v Value, at: &Path) -> Res<(&'v str, Option<&'v Value>)> {
    match v {
        Value::String(s) => Ok((s, None)),
        Value::Object(m) if m.len() == 1 => {
            let (k, x) = m.iter().next().expect("one entry");
            Ok((k, Some(x)))
        }
        _ => at.err("expected a variant name or an object with one key"),
    }
}

/// A unit variant: `"name"`, or `{"name": null}` (serde_json reads both).
pub fn unit_variant<'v>(v: &'v Value, at: &Path) -> Res<&'v str> {
    match variant(v, at)? {
        (name, None | Some(Value::Null)) => Ok(name),
        _ => at.err("expected a variant name"),
    }
}

/// The fields of one stored object. A field that does not read gives a
/// placeholder and records its error; [`Obj::read`] returns the first one.
/// (Reading every field without returning early spares the Worker a
/// ladder of drops per field of every type: kilobytes.)
pub struct Obj<'v, 'p> {
    m: &'v Map<String, Value>,
    at: &'p Path<'p>,
    first: Cell<Option<String>>,
}

impl<'v, 'p> Obj<'v, 'p> {
    /// Reads the object `v` with `f`: what `f` made of its fields, or the
    /// first field's error.
    pub fn read<T>(v: &'v Value, at: &'p Path<'p>, f: impl FnOnce(&Self) -> T) -> Res<T> {
        let Some(m) = v.as_object() else {
            return at.err("expected an object");
        };
        let o = Obj {
            m,
            at,
            first: Cell::new(None),
        };
        let out = f(&o);
        match o.first.into_inner() {
            None => Ok(out),
            Some(e) => Err(e),
        }
    }

    #[inline(never)]
    fn note(&self, e: String) {
        let first = self.first.take().unwrap_or(e);
        self.first.set(Some(first));
    }

    fn keep<T>(&self, r: Res<T>, placeholder: impl FnOnce() -> T) -> T {
        r.unwrap_or_else(|e| {
            self.note(e);
            placeholder()
        })
    }

    /// A required field.
    pub fn req<T: Default>(&self, k: &str, read: fn(&Value, &Path) -> Res<T>) -> T {
        self.req_else(k, T::default, read)
    }

    /// A required field of a type without a default: `placeholder` stands
    /// in when it does not read (then [`Obj::read`] fails).
    pub fn req_else<T>(
        &self,
        k: &str,
        placeholder: fn() -> T,
        read: fn(&Value, &Path) -> Res<T>,
    ) -> T {
        let at = self.at.key(k);
        let r = match self.m.get(k) {
            Some(v) => read(v, &at),
            None => at.err("missing"),
        };
        self.keep(r, placeholder)
    }

    /// A field with a default when absent (`#[serde(default)]` on a field
    /// that is not an `Option`): `null` is an error, as for the derive.
    pub fn or<T: Default>(&self, k: &str, default: T, read: fn(&Value, &Path) -> Res<T>) -> T {
        match self.m.get(k) {
            Some(v) => self.keep(read(v, &self.at.key(k)), T::default),
            None => default,
        }
    }

    /// An `Option` field: absent or `null` is `None`.
    pub fn opt<T>(&self, k: &str, read: fn(&Value, &Path) -> Res<T>) -> Option<T> {
        match self.m.get(k) {
            None | Some(Value::Null) => None,
            Some(v) => self.keep(read(v, &self.at.key(k)).map(Some), || None),
        }
    }

    pub fn req_u64(&self, k: &str) -> u64 {
        self.req(k, u64_)
    }

    pub fn req_i64(&self, k: &str) -> i64 {
        self.req(k, i64_)
    }

    pub fn req_str(&self, k: &str) -> String {
        self.req(k, string)
    }

    pub fn opt_i64(&self, k: &str) -> Option<i64> {
        self.opt(k, i64_)
    }

    pub fn opt_u64(&self, k: &str) -> Option<u64> {
        self.opt(k, u64_)
    }

    pub fn opt_str(&self, k: &str) -> Option<String> {
        self.opt(k, string)
    }

    /// A `bool` field defaulting to `false`.
    pub fn flag(&self, k: &str) -> bool {
        self.or(k, false, boolean)
    }

    /// A list defaulting to empty.
    pub fn list<T>(&self, k: &str, read: fn(&Value, &Path) -> Res<T>) -> Vec<T> {
        match self.m.get(k) {
            Some(v) => self.keep(list(v, &self.at.key(k), read), Vec::new),
            None => Vec::new(),
        }
    }

    /// A map defaulting to empty.
    pub fn map<T>(&self, k: &str, read: fn(&Value, &Path) -> Res<T>) -> StrMap<T> {
        match self.m.get(k) {
            Some(v) => self.keep(map(v, &self.at.key(k), read), StrMap::new),
            None => StrMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c_of(v: &Value, at: &Path) -> Res<i64> {
        Obj::read(v, at, |o| o.req_i64("c"))
    }

    fn u_of(v: &Value, at: &Path) -> Res<u64> {
        Obj::read(v, at, |o| o.req_u64("u"))
    }

    #[test]
    fn errors_name_the_path() {
        let v = json!({"h": [{"c": 1}, {"c": "x"}], "m": {"a|b": {"u": -1}}});
        let root = Path::Root("");
        let e = Obj::read(&v, &root, |o| o.list("h", c_of)).unwrap_err();
        assert_eq!(e, "h[1].c: expected an integer");
        let e = Obj::read(&v, &root, |o| o.map("m", u_of)).unwrap_err();
        assert_eq!(e, "m.a|b.u: expected a non-negative integer");
        let e = Obj::read(&v, &root, |o| o.req_str("zz")).unwrap_err();
        assert_eq!(e, "zz: missing");
        // The first field that does not read is the one reported.
        let e = Obj::read(&v, &root, |o| (o.map("m", u_of), o.list("h", c_of))).unwrap_err();
        assert_eq!(e, "m.a|b.u: expected a non-negative integer");
        let row = Path::Root("closed hold");
        assert_eq!(
            Obj::read(&json!([]), &row, |_| ()).unwrap_err(),
            "closed hold: expected an object"
        );
    }

    #[test]
    fn defaults_apply_only_when_absent() {
        let v = json!({"n": null, "b": true, "x": 3});
        let root = Path::Root("");
        let read = |f: fn(&Obj)| Obj::read(&v, &root, f).is_ok();
        let o = Obj::read(&v, &root, |o| {
            (
                o.opt_u64("n"),
                o.opt_u64("gone"),
                o.or("gone", 7, u64_),
                o.flag("b"),
                o.flag("gone"),
                o.opt_u64("x"),
            )
        });
        assert_eq!(o.unwrap(), (None, None, 7, true, false, Some(3)));
        assert!(!read(|o| {
            o.or("n", 0, u64_);
        }));
        assert!(!read(|o| {
            o.flag("n");
        }));
        assert!(!read(|o| {
            o.list("n", u64_);
        }));
        assert!(!read(|o| {
            o.map("n", u64_);
        }));
        assert!(!read(|o| {
            o.req_u64("n");
        }));
        assert!(read(|o| {
            o.req_u64("x");
        }));
        assert_eq!(small::<u8>(&json!(255), &root).unwrap(), 255);
        assert!(small::<u8>(&json!(256), &root).is_err());
        assert!(u64_(&json!(1.0), &root).is_err());
        assert!(i64_(&json!(u64::MAX), &root).is_err());
        assert_eq!(unit_variant(&json!({"a": null}), &root).unwrap(), "a");
        assert!(unit_variant(&json!({"a": 1}), &root).is_err());
        assert!(variant(&json!({"a": 1, "b": 2}), &root).is_err());
        assert!(variant(&json!({}), &root).is_err());
    }
}
