//! A small, strict JSON reader that collects *every* problem with its path.
//!
//! serde's derive stops at the first error and cannot say which of many
//! fields were wrong; a config or an action must be rejected with all of its
//! problems listed (SPEC §1, §5), so the few input documents Tollgate reads
//! are walked by hand with this helper instead.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

/// One thing wrong with an input document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where: `plans[0].limits[2].window`; the empty string means the document itself.
    pub path: String,
    /// Why, in plain English.
    pub reason: String,
}

/// Every problem found in one input document (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if p.path.is_empty() {
                write!(f, "{}", p.reason)?;
            } else {
                write!(f, "{}: {}", p.path, p.reason)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl Problems {
    /// A single problem.
    pub fn one(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Problems(vec![Problem {
            path: path.into(),
            reason: reason.into(),
        }])
    }
}

/// The largest integer a JSON number carries exactly in JavaScript (2^53 - 1).
/// Counts above it would silently change when they cross the JS boundary.
pub const MAX_SAFE_INT: u64 = (1 << 53) - 1;

/// Joins a path and a field name. Built with `push_str`, not `format!`:
/// every field a reader reads gets its path, and the formatting machinery
/// made paths a sixth of the package's `check()` (BENCHMARKS.md).
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        return key.to_string();
    }
    let mut s = String::with_capacity(path.len() + 1 + key.len());
    s.push_str(path);
    s.push('.');
    s.push_str(key);
    s
}

/// Joins a path and an index: `path[i]`.
pub fn index(path: &str, i: usize) -> String {
    let n = i as u64;
    let width = n.checked_ilog10().map_or(1, |l| l + 1);
    let mut s = String::with_capacity(path.len() + 2 + width as usize);
    s.push_str(path);
    s.push('[');
    crate::time::push_digits(&mut s, n, width);
    s.push(']');
    s
}

/// Collects problems while a document is walked.
#[derive(Default, Debug)]
pub struct Reader {
    pub problems: Vec<Problem>,
    /// Keeps no paths ([`Reader::quiet`]).
    quiet: bool,
}

/// Reads a document quietly first and, only when that finds a problem,
/// again with every path: a document that reads (nearly every one) builds
/// none of the paths its problems would have named. Building them was a
/// sixth of the package's `check()` (BENCHMARKS.md, "Browser package").
/// `read` must not depend on the paths it is given, only report them, so
/// both runs find the same value and the second lists the problems exactly
/// as one run with paths would.
pub fn read_twice<T>(read: impl Fn(&mut Reader) -> Option<T>) -> Result<T, Problems> {
    let mut quiet = Reader {
        problems: Vec::new(),
        quiet: true,
    };
    if let Some(x) = read(&mut quiet) {
        if quiet.ok() {
            return Ok(x);
        }
    }
    let mut r = Reader::new();
    match read(&mut r) {
        Some(x) if r.ok() => Ok(x),
        _ => Err(Problems(r.problems)),
    }
}

impl Reader {
    pub fn new() -> Self {
        Self::default()
    }

    /// `path.key`, or nothing when quiet.
    pub fn join(&self, path: &str, key: &str) -> String {
        if self.quiet {
            String::new()
        } else {
            join(path, key)
        }
    }

    /// `path[i]`, or nothing when quiet.
    pub fn index(&self, path: &str, i: usize) -> String {
        if self.quiet {
            String::new()
        } else {
            index(path, i)
        }
    }

    pub fn err(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            reason: reason.into(),
        });
    }

    /// `Ok(v)` when no problem was recorded, else every problem.
    pub fn finish<T>(self, v: T) -> Result<T, Problems> {
        if self.problems.is_empty() {
            Ok(v)
        } else {
            Err(Problems(self.problems))
        }
    }

    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn object<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            _ => {
                self.err(path, format!("expected an object, got {}", kind(v)));
                None
            }
        }
    }

    pub fn array<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a Vec<Value>> {
        match v {
            Value::Array(a) => Some(a),
            _ => {
                self.err(path, format!("expected an array, got {}", kind(v)));
                None
            }
        }
    }

    /// Refuses fields the schema does not know: a typo must not pass silently.
    pub fn known_keys(&mut self, m: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for k in m.keys() {
            if !allowed.contains(&k.as_str()) {
                self.err(self.join(path, k), "unknown field");
            }
        }
    }

    /// A field that must be present (and not null).
    pub fn required<'a>(
        &mut self,
        m: &'a Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'a Value> {
        match m.get(key) {
            None | Some(Value::Null) => {
                self.err(self.join(path, key), "required");
                None
            }
            Some(v) => Some(v),
        }
    }

    pub fn as_str<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a str> {
        match v {
            Value::String(s) => Some(s.as_str()),
            _ => {
                self.err(path, format!("expected a string, got {}", kind(v)));
                None
            }
        }
    }

    pub fn as_bool(&mut self, v: &Value, path: &str) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            _ => {
                self.err(path, format!("expected true or false, got {}", kind(v)));
                None
            }
        }
    }

    /// A non-negative integer no larger than 2^53 - 1.
    pub fn as_count(&mut self, v: &Value, path: &str) -> Option<u64> {
        match v {
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    if u > MAX_SAFE_INT {
                        self.err(path, format!("must be at most {MAX_SAFE_INT}"));
                        None
                    } else {
                        Some(u)
                    }
                } else if let Some(f) = n.as_f64() {
                    if f < 0.0 {
                        self.err(path, "must not be negative");
                    } else if f.fract() != 0.0 {
                        self.err(path, "must be a whole number");
                    } else {
                        self.err(path, format!("must be at most {MAX_SAFE_INT}"));
                    }
                    None
                } else {
                    self.err(path, "must not be negative");
                    None
                }
            }
            _ => {
                self.err(path, format!("expected an integer, got {}", kind(v)));
                None
            }
        }
    }

    /// Any integer within ±(2^53 - 1) (timestamps, tiers).
    pub fn as_int(&mut self, v: &Value, path: &str) -> Option<i64> {
        match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) if i.unsigned_abs() <= MAX_SAFE_INT => Some(i),
                Some(_) => {
                    self.err(path, "out of range");
                    None
                }
                None => {
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    if f.is_finite() && f.fract() != 0.0 {
                        self.err(path, "must be a whole number");
                    } else {
                        self.err(path, "out of range");
                    }
                    None
                }
            },
            _ => {
                self.err(path, format!("expected an integer, got {}", kind(v)));
                None
            }
        }
    }

    /// A non-negative US dollar amount, converted to integer micro-dollars
    /// (rounded to the nearest micro-dollar: SPEC allows at most six decimals).
    pub fn as_usd_micros(&mut self, v: &Value, path: &str) -> Option<u64> {
        match v {
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if !f.is_finite() || f < 0.0 {
                    self.err(path, "must be a non-negative amount of US dollars");
                    None
                } else if f > 1e9 {
                    self.err(path, "must be at most 1000000000 US dollars");
                    None
                } else {
                    Some(usd_to_micros(f))
                }
            }
            _ => {
                self.err(path, format!("expected a number, got {}", kind(v)));
                None
            }
        }
    }

    pub fn opt_str<'a>(
        &mut self,
        m: &'a Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'a str> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => self.as_str(v, &self.join(path, key)),
        }
    }

    pub fn req_str<'a>(
        &mut self,
        m: &'a Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'a str> {
        let v = self.required(m, path, key)?;
        self.as_str(v, &self.join(path, key))
    }

    /// A required string that must not be empty and at most `max_len` bytes.
    pub fn req_id<'a>(
        &mut self,
        m: &'a Map<String, Value>,
        path: &str,
        key: &str,
        max_len: usize,
    ) -> Option<&'a str> {
        let s = self.req_str(m, path, key)?;
        self.check_id(s, &self.join(path, key), max_len)
    }

    pub fn check_id<'a>(&mut self, s: &'a str, path: &str, max_len: usize) -> Option<&'a str> {
        if s.is_empty() {
            self.err(path, "must not be empty");
            None
        } else if s.len() > max_len {
            self.err(path, format!("must be at most {max_len} bytes"));
            None
        } else if s.chars().any(char::is_control) {
            self.err(path, "must not contain control characters");
            None
        } else {
            Some(s)
        }
    }

    pub fn opt_bool(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<bool> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => self.as_bool(v, &self.join(path, key)),
        }
    }

    pub fn opt_count(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<u64> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => self.as_count(v, &self.join(path, key)),
        }
    }

    pub fn req_count(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<u64> {
        let v = self.required(m, path, key)?;
        self.as_count(v, &self.join(path, key))
    }

    pub fn opt_int(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<i64> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => self.as_int(v, &self.join(path, key)),
        }
    }

    pub fn req_int(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<i64> {
        let v = self.required(m, path, key)?;
        self.as_int(v, &self.join(path, key))
    }

    pub fn opt_usd(&mut self, m: &Map<String, Value>, path: &str, key: &str) -> Option<u64> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => self.as_usd_micros(v, &self.join(path, key)),
        }
    }
}

/// Converts dollars to micro-dollars, rounding to the nearest micro-dollar.
pub fn usd_to_micros(usd: f64) -> u64 {
    (usd * 1_000_000.0).round() as u64
}

/// Micro-dollars as a JSON number of dollars: the double nearest to
/// `micros / 10^6`, i.e. exactly what reading the decimal `"<whole>.<six
/// digits>"` gives, so the printed value has no binary noise. Computed with
/// integers rather than by formatting and parsing text, which would link
/// the float parser and its tables into the browser package.
pub fn micros_to_usd(micros: u64) -> f64 {
    const MICROS: u128 = 1_000_000;
    if micros < 1 << 53 {
        // Both operands are exact doubles, and IEEE division rounds the
        // exact quotient once, to nearest.
        return micros as f64 / 1_000_000.0;
    }
    // From 2^53 micro-dollars on, `micros as f64` would round first. Scale
    // by 2^k so the quotient has 53 significant bits, then round half to
    // even by hand; dividing by 2^k is exact.
    let n = u128::from(micros);
    let mut k = 0;
    while (n << (k + 1)) / MICROS < 1 << 53 {
        k += 1;
    }
    let scaled = n << k;
    let (mut m, r) = (scaled / MICROS, scaled % MICROS);
    if 2 * r > MICROS || (2 * r == MICROS && m % 2 == 1) {
        m += 1;
    }
    m as f64 / (1_u64 << k) as f64
}

/// Parses JSON text as `serde_json::from_str` does, but refuses an object
/// that names the same key twice, at any depth.
///
/// JSON leaves duplicated keys undefined: one parser keeps the first value,
/// another the last. A body or a token read here and re-read elsewhere (a
/// proxy, a log pipeline, the upstream) could then mean two things, so every
/// JSON text a client sends is read with this function. A duplicate is one
/// problem whose path names the key (`files[0].name`); any other error is one
/// problem at the document (`""`) with serde_json's description.
pub fn parse_strict(text: &str) -> Result<Value, Problems> {
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = StrictSeed {
        at: &Seg::Root,
        dup: &dup,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (parsed, dup.into_inner()) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(path)) => Err(Problems::one(path, "duplicate key")),
        (Err(e), None) => Err(Problems::one("", format!("invalid JSON: {e}"))),
    }
}

/// Where a value sits, as a chain of borrowed segments: the path string is
/// built only when a duplicate is found.
enum Seg<'a> {
    Root,
    Key(&'a Seg<'a>, &'a str),
    Index(&'a Seg<'a>, usize),
}

impl Seg<'_> {
    fn render(&self) -> String {
        match self {
            Seg::Root => String::new(),
            Seg::Key(parent, k) => join(&parent.render(), k),
            Seg::Index(parent, i) => index(&parent.render(), *i),
        }
    }
}

/// Builds a [`Value`] like serde_json's own visitor, recording the path of
/// the first duplicated key in `dup`.
struct StrictSeed<'a> {
    at: &'a Seg<'a>,
    dup: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let at = Seg::Index(self.at, out.len());
            let seed = StrictSeed {
                at: &at,
                dup: self.dup,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let path = Seg::Key(self.at, &key).render();
                let err = de::Error::custom(format_args!("duplicate key {path:?}"));
                *self.dup.borrow_mut() = Some(path);
                return Err(err);
            }
            let v = map.next_value_seed(StrictSeed {
                at: &Seg::Key(self.at, &key),
                dup: self.dup,
            })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// What kind of JSON value this is, for error messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A reader of `{"a": [{"n": count}, …]}` that names paths as the
    /// readers do.
    fn counts(r: &mut Reader, v: &Value) -> Option<Vec<u64>> {
        let m = r.object(v, "")?;
        let a = r.array(m.get("a")?, "a")?;
        let mut out = Vec::new();
        for (i, x) in a.iter().enumerate() {
            let at = r.index("a", i);
            let o = r.object(x, &at)?;
            out.push(r.req_count(o, &at, "n")?);
        }
        Some(out)
    }

    #[test]
    fn read_twice_answers_as_one_run_with_paths() {
        for doc in [
            json!({"a": [{"n": 1}, {"n": 2}]}),
            json!({"a": [{"n": 1}, {"n": -2}]}),
            json!({"a": [{"n": 1}, {}]}),
            json!({"a": [{"n": 1}, 5]}),
            json!({"a": 5}),
            json!([]),
        ] {
            let mut r = Reader::new();
            let once = counts(&mut r, &doc);
            let want = match once {
                Some(x) if r.ok() => Ok(x),
                _ => Err(r.problems.clone()),
            };
            let got = read_twice(|r| counts(r, &doc)).map_err(|p| p.0);
            assert_eq!(got, want, "{doc}");
        }
        let got = read_twice(|r| counts(r, &json!({"a": [{"n": 1}, {"n": "x"}]})));
        assert_eq!(got.unwrap_err().0[0].path, "a[1].n");
        let quiet = Reader {
            problems: Vec::new(),
            quiet: true,
        };
        assert_eq!(
            (quiet.join("a", "b"), quiet.index("a", 3)),
            (String::new(), String::new())
        );
    }

    #[test]
    fn paths_are_written_as_format_writes_them() {
        for (p, k) in [("", "a"), ("a", "b"), ("a[0]", "limits"), ("é", "ü")] {
            let want = if p.is_empty() {
                k.to_string()
            } else {
                format!("{p}.{k}")
            };
            assert_eq!(join(p, k), want);
        }
        for i in [0, 1, 9, 10, 99, 100, 12345, usize::MAX] {
            assert_eq!(index("limits", i), format!("limits[{i}]"));
            assert_eq!(index("", i), format!("[{i}]"));
        }
    }

    #[test]
    fn counts_reject_negative_fractional_and_huge() {
        let mut r = Reader::new();
        assert_eq!(r.as_count(&json!(5), "a"), Some(5));
        assert_eq!(r.as_count(&json!(-1), "b"), None);
        assert_eq!(r.as_count(&json!(1.5), "c"), None);
        assert_eq!(r.as_count(&json!(1e300), "d"), None);
        assert_eq!(r.as_count(&json!(9007199254740992u64), "e"), None);
        assert_eq!(r.as_count(&json!("5"), "f"), None);
        let paths: Vec<_> = r.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["b", "c", "d", "e", "f"]);
    }

    #[test]
    fn usd_round_trips_six_decimals() {
        assert_eq!(usd_to_micros(0.15), 150_000);
        assert_eq!(usd_to_micros(5.0), 5_000_000);
        assert_eq!(usd_to_micros(0.000001), 1);
        assert_eq!(micros_to_usd(150_000), 0.15);
        assert_eq!(micros_to_usd(1_234_567), 1.234567);
        assert_eq!(micros_to_usd(0), 0.0);
        // The same double as reading the decimal text, everywhere.
        let text = |m: u64| -> f64 {
            format!("{}.{:06}", m / 1_000_000, m % 1_000_000)
                .parse()
                .unwrap()
        };
        let mut state = 9_u64;
        let mut values = vec![
            1,
            999_999,
            (1 << 53) - 1,
            1 << 53,
            (1 << 53) + 1,
            (1 << 54) + 500_000,
            u64::MAX,
            u64::MAX - 1,
        ];
        for _ in 0..200_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            values.push(state);
            values.push(state >> (state % 64));
        }
        for m in values {
            assert_eq!(micros_to_usd(m).to_bits(), text(m).to_bits(), "{m}");
        }
    }

    #[test]
    fn strict_parsing_refuses_duplicated_keys_with_their_path() {
        let dup = |text: &str| parse_strict(text).unwrap_err().0[0].clone();
        let p = dup(r#"{"a":1,"a":2}"#);
        assert_eq!((p.path.as_str(), p.reason.as_str()), ("a", "duplicate key"));
        assert_eq!(
            dup(r#"{"files":[{"name":"x"},{"name":"y","name":"z"}]}"#).path,
            "files[1].name"
        );
        assert_eq!(dup(r#"{"o":{"p":{"q":1,"q":1}}}"#).path, "o.p.q");
        // Escapes decode first: "\u0061" is "a".
        assert_eq!(dup(r#"{"a":1,"\u0061":2}"#).path, "a");
        assert_eq!(dup(r#"[[{"k":0,"k":0}]]"#).path, "[0][0].k");
    }

    #[test]
    fn strict_parsing_matches_serde_json_otherwise() {
        for text in [
            r#"{"a":[1,-2,3.5,1e300,18446744073709551615,null,true,"s\n"],"b":{}}"#,
            "[]",
            " 12 ",
            r#""x""#,
            r#"{"a":{"b":[{"c":1},{"c":2}]},"c":1}"#,
        ] {
            let want: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse_strict(text).unwrap(), want, "{text}");
        }
        for bad in ["", "{", r#"{"a":1,}"#, "[1] [2]", "nul", r#"{"a" 1}"#] {
            let e = parse_strict(bad).unwrap_err();
            assert_eq!(e.0.len(), 1);
            assert_eq!(e.0[0].path, "");
            assert!(e.0[0].reason.starts_with("invalid JSON"), "{bad}: {e}");
        }
        // serde_json's depth limit still holds: no stack overflow.
        let deep = "[".repeat(100_000);
        assert!(parse_strict(&deep).is_err());
    }

    #[test]
    fn unknown_keys_are_listed_with_paths() {
        let v = json!({"a": 1, "typo": 2, "other": 3});
        let mut r = Reader::new();
        r.known_keys(v.as_object().unwrap(), "x[0]", &["a"]);
        let e = r.finish(()).unwrap_err();
        assert_eq!(e.0.len(), 2);
        assert!(e.to_string().contains("x[0].typo: unknown field"));
    }
}
