//! Reading our own JSON back field by field, as serde's derive reads it,
//! without the derive.
//!
//! Some documents are not inputs a caller writes but our own serialiser's
//! output handed back: a `GET /v1/usage` snapshot (the npm package), a
//! decision (a stored idempotent answer, the gateway's reserve answer).
//! They are read the way serde's derive reads them: unknown fields are
//! ignored, a missing `Option` is `None`, a missing list is empty, `null`
//! is refused where the derive refuses it. The derive is not used because
//! each derived reader compiles serde_json's parser into the `.wasm` once
//! more, and reaches the float formatting of its error messages: 15 % of
//! the npm package, and several KB of the Worker per type (issue 9;
//! BENCHMARKS.md, "Browser package"). The tests beside it
//! (`fields/tests.rs`) and `tests/props.rs` check that each reader agrees
//! with the derive. The books a Durable Object stores, and a discount
//! code's, are read by `crate::stored` instead, which stops at the first
//! problem and builds a path only for it: stored state is ours or damaged,
//! while a snapshot handed to the package must list every problem (`err.problems`).
//! Two inputs our serialiser never writes are
//! read differently: a struct written as a JSON array (the derive takes
//! fields by position) is refused, and a field named twice is read as its
//! last value (the derive refuses it).

use crate::decision::Amount;
use crate::json::{kind, Problems, Reader};
use serde_json::{Map, Value};

/// The fields of one object, with the path of each in problems.
pub(crate) struct Fields<'a, 'r> {
    pub r: &'r mut Reader,
    pub m: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Fields<'a, '_> {
    pub(crate) fn at(&self, key: &str) -> String {
        self.r.join(self.path, key)
    }

    /// Present and not `null`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.m.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn missing<T>(&mut self, key: &str) -> Option<T> {
        let at = self.at(key);
        self.r.err(at, "required");
        None
    }

    pub(crate) fn string(&mut self, key: &str) -> Option<String> {
        self.req(key, string)
    }

    /// `Option<String>`; `Err` on a wrong type.
    pub(crate) fn opt_string(&mut self, key: &str) -> Result<Option<String>, ()> {
        self.opt(key, string)
    }

    pub(crate) fn amount(&mut self, key: &str) -> Option<Amount> {
        self.req(key, amount)
    }

    pub(crate) fn opt_amount(&mut self, key: &str) -> Result<Option<Amount>, ()> {
        self.opt(key, amount)
    }

    /// A `Vec` with `#[serde(default)]`: missing is empty, `null` is refused.
    pub(crate) fn list<T>(
        &mut self,
        key: &str,
        item: impl Fn(&mut Reader, &Value, &str) -> Option<T>,
    ) -> Option<Vec<T>> {
        match self.m.get(key) {
            None => Some(Vec::new()),
            Some(v) => {
                let at = self.at(key);
                list(self.r, v, &at, item)
            }
        }
    }
}

impl<'a> Fields<'a, '_> {
    /// A required field (no `#[serde(default)]`, not an `Option`): missing is
    /// a problem, anything else is `item`'s to read (`null` included).
    pub(crate) fn req<T>(
        &mut self,
        key: &str,
        item: impl FnOnce(&mut Reader, &'a Value, &str) -> Option<T>,
    ) -> Option<T> {
        match self.m.get(key) {
            None => self.missing(key),
            Some(v) => {
                let at = self.at(key);
                item(self.r, v, &at)
            }
        }
    }

    /// An `Option` field: missing or `null` is `None`; `Err` when `item`
    /// refuses what is there.
    pub(crate) fn opt<T>(
        &mut self,
        key: &str,
        item: impl FnOnce(&mut Reader, &'a Value, &str) -> Option<T>,
    ) -> Result<Option<T>, ()> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                let at = self.at(key);
                item(self.r, v, &at).map(Some).ok_or(())
            }
        }
    }
}

/// A JSON array read item by item; every item's problems are listed.
pub(crate) fn list<T>(
    r: &mut Reader,
    v: &Value,
    path: &str,
    item: impl Fn(&mut Reader, &Value, &str) -> Option<T>,
) -> Option<Vec<T>> {
    let a = r.array(v, path)?;
    let mut out = Vec::with_capacity(a.len());
    let mut ok = true;
    for (i, x) in a.iter().enumerate() {
        match item(r, x, &r.index(path, i)) {
            Some(x) => out.push(x),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A string, owned.
pub(crate) fn string(r: &mut Reader, v: &Value, path: &str) -> Option<String> {
    r.as_str(v, path).map(str::to_string)
}

/// An unsigned integer as serde reads a `u64`: no fraction, no sign.
pub(crate) fn uint(r: &mut Reader, v: &Value, path: &str) -> Option<u64> {
    let u = v.as_u64();
    if u.is_none() {
        r.err(
            path,
            format!("expected a non-negative integer, got {}", kind(v)),
        );
    }
    u
}

pub(crate) fn fields<'a, 'r>(
    r: &'r mut Reader,
    v: &'a Value,
    path: &'a str,
) -> Option<Fields<'a, 'r>> {
    let m = r.object(v, path)?;
    Some(Fields { r, m, path })
}

pub(crate) fn amount(r: &mut Reader, v: &Value, path: &str) -> Option<Amount> {
    match v {
        Value::Number(n) => {
            let a = Amount::from_number(n);
            if a.is_none() {
                r.err(path, "amount must be non-negative");
            }
            a
        }
        _ => {
            r.err(path, format!("expected a number, got {}", kind(v)));
            None
        }
    }
}

/// Integers as serde reads an `i64`: no fraction, within its range.
pub(crate) fn int(r: &mut Reader, v: &Value, path: &str) -> Option<i64> {
    let i = v.as_i64();
    if i.is_none() {
        r.err(path, format!("expected an integer, got {}", kind(v)));
    }
    i
}

/// Our own JSON text read by `read` (a stored idempotent answer): `None`
/// when it is not JSON or does not read.
pub(crate) fn from_text<T>(text: &str, read: fn(&Value) -> Result<T, Problems>) -> Option<T> {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| read(&v).ok())
}

/// `read` on a whole document: its value when no problem was found, else
/// every problem.
pub(crate) fn whole<T>(
    v: &Value,
    read: impl Fn(&mut Reader, &Value) -> Option<T>,
) -> Result<T, Problems> {
    crate::json::read_twice(|r| read(r, v))
}

#[cfg(test)]
mod tests;
