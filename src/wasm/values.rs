//! JS values across the boundary without JSON text.
//!
//! `JSON.stringify` on the way in and `JSON.parse` on the way out cost more
//! than the decision itself (BENCHMARKS.md, "A typed boundary"). Instead a
//! small walker in JS (below) writes a plain JS value as one `Float64Array`
//! of tags, numbers and lengths (a string's in UTF-16 units) plus one
//! string of every key and string value end to end, copied into wasm memory
//! by one `set` and one `TextEncoder.encodeInto`; Rust rebuilds the `serde_json::Value` that
//! `serde_json::from_str(JSON.stringify(v))` would give, and the core's own
//! readers take it from there, so validation and every error stay theirs.
//!
//! A snapshot's `limits` (most of a `GET /v1/usage` body) go as records of
//! their known fields, without keys, and become `LimitState`s directly; a
//! record whose fields are not plain strings and non-negative numbers sends
//! the whole list the generic way, and a snapshot the records' reader would
//! not take whole is read again on the JSON path, which lists every problem.
//!
//! A plain decision (no lists, hold, credits or model: most allowed checks)
//! goes out as an object literal with `JSON.parse`'s key order; any other
//! answer as JSON text.
//!
//! The walker gives up (and the caller takes the JSON path) on anything
//! whose JSON form it does not copy exactly: `toJSON`, objects that are not
//! plain (class instances, `Date`, `Map`, boxed primitives), `BigInt`,
//! nesting deeper than 64, integers beyond 2^53 (whose JSON digits are not
//! the number), strings with a lone surrogate (JSON escapes it; the text
//! crossing would turn it into U+FFFD). `undefined`, functions and symbols are left out of objects
//! and are `null` in arrays, and non-finite numbers are `null`, as
//! `JSON.stringify` does. tests/pkg/boundary.test.mjs compares both paths
//! (an object with `toJSON` takes the JSON path).

use crate::decision::{Amount, Decision, LimitState};
use crate::snapshot::Snapshot;
use serde_json::{Map, Number, Value};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
let OPS = new Float64Array(1024), N = 0, S = "";
const UTF8 = new TextEncoder();
function put(x) {
  if (N === OPS.length) { const o = new Float64Array(N * 2); o.set(OPS); OPS = o; }
  OPS[N++] = x;
}
function skipped(t) { return t === "undefined" || t === "function" || t === "symbol"; }
function walk(v, depth) {
  switch (typeof v) {
    case "string": put(4); put(v.length); S += v; return true;
    case "boolean": put(v ? 2 : 1); return true;
    case "number":
      if (!Number.isFinite(v)) { put(0); return true; }
      if (Number.isInteger(v) && Math.abs(v) > Number.MAX_SAFE_INTEGER) return false;
      put(3); put(v === 0 ? 0 : v); return true;
    case "object": {
      if (v === null) { put(0); return true; }
      if (depth > 64 || typeof v.toJSON === "function") return false;
      if (Array.isArray(v)) {
        const n = v.length;
        put(5); put(n);
        for (let i = 0; i < n; i++) {
          const x = v[i];
          if (skipped(typeof x)) put(0); else if (!walk(x, depth + 1)) return false;
        }
        return true;
      }
      return object(v, depth, false);
    }
    default: return false;
  }
}
// A plain object (not an array, no toJSON); a snapshot's `limits` as records.
function object(v, depth, snapshot) {
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(v);
  put(6); const at = N; put(0);
  let n = 0;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i], x = v[k];
    if (skipped(typeof x)) continue;
    put(k.length); S += k; n++;
    if (snapshot && k === "limits" && limits(x)) continue;
    if (!walk(x, depth + 1)) return false;
  }
  OPS[at] = n;
  return true;
}
function amount(x) {
  return typeof x === "number" && x >= 0 && x <= Number.MAX_SAFE_INTEGER;
}
function limitRecord(l) {
  if (l === null || typeof l !== "object" || Object.getPrototypeOf(l) !== Object.prototype) return false;
  const { metric, scope, window, chat_id, limit, used, requested, remaining, resets_at, credits, from_credits } = l;
  if (typeof metric !== "string" || typeof scope !== "string" || typeof window !== "string") return false;
  if (!amount(limit) || !amount(used) || !amount(remaining)) return false;
  let n = 6, flags = 0;
  if (chat_id !== undefined) { n++; if (chat_id === null) flags |= 1; else if (typeof chat_id === "string") flags |= 2; else return false; }
  if (requested !== undefined) { n++; if (requested !== null) { if (!amount(requested)) return false; flags |= 4; } }
  if (resets_at !== undefined) { n++; if (resets_at !== null) { if (typeof resets_at !== "string") return false; flags |= 8; } }
  if (credits !== undefined) { n++; if (credits !== null) { if (!amount(credits)) return false; flags |= 16; } }
  if (from_credits !== undefined) { n++; if (from_credits !== null) { if (!amount(from_credits)) return false; flags |= 32; } }
  for (const k in l) n--;
  if (n !== 0) return false;
  put(flags); put(limit); put(used); put(remaining);
  if (flags & 4) put(requested);
  if (flags & 16) put(credits);
  if (flags & 32) put(from_credits);
  put(metric.length); put(scope.length); put(window.length);
  S += metric; S += scope; S += window;
  if (flags & 2) { put(chat_id.length); S += chat_id; }
  if (flags & 8) { put(resets_at.length); S += resets_at; }
  return true;
}
function limits(x) {
  if (!Array.isArray(x) || typeof x.toJSON === "function") return false;
  const n0 = N, s0 = S, n = x.length;
  put(7); put(n);
  for (let i = 0; i < n; i++) {
    if (!limitRecord(x[i])) { N = n0; S = s0; return false; }
  }
  return true;
}
function joined() {
  if (typeof S.isWellFormed === "function" ? !S.isWellFormed() : /[\uD800-\uDFFF]/.test(S)) return -1;
  return S.length;
}
export function tg_encode(v) {
  N = 0; S = "";
  return walk(v, 0) ? joined() : -1;
}
export function tg_encode_snapshot(v) {
  N = 0; S = "";
  if (v === null || typeof v !== "object" || Array.isArray(v) || typeof v.toJSON === "function") return -1;
  return object(v, 0, true) ? joined() : -1;
}
export function tg_ops_len() { return N; }
// Views of wasm memory, made again only when memory has grown (which
// detaches the old buffer).
let BUFFER = null, F64 = null, U8 = null;
export function tg_take(memory, ops, strs, cap) {
  if (memory.buffer !== BUFFER) { BUFFER = memory.buffer; F64 = new Float64Array(BUFFER); U8 = new Uint8Array(BUFFER); }
  const at = ops / 8;
  for (let i = 0; i < N; i++) F64[at + i] = OPS[i];
  const r = UTF8.encodeInto(S, U8.subarray(strs, strs + cap));
  S = "";
  return r.written;
}
export function tg_plain_decision(allowed, status, code, message, retry_after_s) {
  return { allowed, status, code, message, retry_after_s, violations: [], limits: [], warnings: [] };
}
"#)]
extern "C" {
    fn tg_encode(v: &JsValue) -> i32;
    fn tg_encode_snapshot(v: &JsValue) -> i32;
    fn tg_ops_len() -> usize;
    fn tg_take(memory: &JsValue, ops: *mut f64, strs: *mut u8, cap: usize) -> usize;
    fn tg_plain_decision(
        allowed: bool,
        status: u16,
        code: &JsValue,
        message: &JsValue,
        retry_after_s: &JsValue,
    ) -> JsValue;
}

const NULL: f64 = 0.0;
const FALSE: f64 = 1.0;
const TRUE: f64 = 2.0;
const NUMBER: f64 = 3.0;
const STRING: f64 = 4.0;
const ARRAY: f64 = 5.0;
const OBJECT: f64 = 6.0;
/// A snapshot's `limits`, as records of known fields (`tg_encode_snapshot`).
const LIMITS: f64 = 7.0;

/// A JS value as the walker wrote it: equal encodings are equal JSON.
#[derive(PartialEq)]
pub(super) struct Encoded {
    ops: Vec<f64>,
    strs: String,
    /// One byte per UTF-16 unit: string lengths are byte lengths.
    ascii: bool,
}

impl Encoded {
    /// `v` encoded, or `None` where only `JSON.stringify` knows its form.
    pub(super) fn of(v: &JsValue) -> Option<Encoded> {
        Self::taken(tg_encode(v))
    }

    /// `v` as the JSON value its text would give, when it crosses typed.
    pub(super) fn value_of(v: &JsValue) -> Option<Value> {
        Self::of(v)?.value()
    }

    /// A snapshot encoded, its `limits` as records when each is plain data
    /// of the known fields.
    pub(super) fn snapshot_of(v: &JsValue) -> Option<Encoded> {
        Self::taken(tg_encode_snapshot(v))
    }

    /// The walker's output copied into wasm memory by one call: the tags
    /// into a view of it, the strings by one `TextEncoder.encodeInto`
    /// (UTF-8 takes at most 3 bytes per UTF-16 unit).
    fn taken(len: i32) -> Option<Encoded> {
        let len = usize::try_from(len).ok()?;
        let mut ops = vec![0.0; tg_ops_len()];
        let mut strs = vec![0u8; len * 3];
        let written = tg_take(
            &wasm_bindgen::memory(),
            ops.as_mut_ptr(),
            strs.as_mut_ptr(),
            strs.len(),
        );
        strs.truncate(written);
        Some(Encoded {
            ops,
            ascii: written == len,
            strs: String::from_utf8(strs).ok()?,
        })
    }

    /// The `Value` `serde_json` reads from `JSON.stringify` of the same
    /// object.
    pub(super) fn value(&self) -> Option<Value> {
        self.rebuild().map(|(v, _)| v)
    }

    /// The snapshot the core reads from `JSON.stringify` of the same
    /// object, when it reads without a problem; `None` leaves the reading,
    /// and the listing of every problem, to the JSON path.
    pub(super) fn snapshot(&self) -> Option<Snapshot> {
        let (v, limits) = self.rebuild()?;
        let mut snap = Snapshot::from_value(&v).ok()?;
        if let Some(limits) = limits {
            snap.limits = limits;
        }
        Some(snap)
    }

    fn rebuild(&self) -> Option<(Value, Option<Vec<LimitState>>)> {
        let mut r = Rebuild {
            ops: self.ops.iter(),
            strs: &self.strs,
            ascii: self.ascii,
            limits: None,
        };
        let v = r.value()?;
        (r.ops.next().is_none() && r.strs.is_empty()).then_some((v, r.limits))
    }
}

struct Rebuild<'a> {
    ops: std::slice::Iter<'a, f64>,
    /// The strings not read yet.
    strs: &'a str,
    ascii: bool,
    limits: Option<Vec<LimitState>>,
}

impl Rebuild<'_> {
    fn op(&mut self) -> Option<f64> {
        self.ops.next().copied()
    }

    /// The next string, its length in UTF-16 units the next op.
    fn string(&mut self) -> Option<String> {
        let units = self.op()? as usize;
        let bytes = if self.ascii {
            units
        } else {
            let mut left = units;
            let mut bytes = 0;
            for c in self.strs.chars() {
                if left == 0 {
                    break;
                }
                left = left.checked_sub(c.len_utf16())?;
                bytes += c.len_utf8();
            }
            if left != 0 {
                return None;
            }
            bytes
        };
        let s = self.strs.get(..bytes)?;
        self.strs = &self.strs[bytes..];
        Some(s.to_string())
    }

    fn value(&mut self) -> Option<Value> {
        let tag = self.op()?;
        Some(if tag == NULL {
            Value::Null
        } else if tag == FALSE {
            Value::Bool(false)
        } else if tag == TRUE {
            Value::Bool(true)
        } else if tag == NUMBER {
            number(self.op()?)
        } else if tag == STRING {
            Value::String(self.string()?)
        } else if tag == ARRAY {
            let n = self.op()? as usize;
            let mut a = Vec::with_capacity(n.min(self.ops.len()));
            for _ in 0..n {
                a.push(self.value()?);
            }
            Value::Array(a)
        } else if tag == OBJECT {
            let n = self.op()? as usize;
            let mut m = Map::new();
            for _ in 0..n {
                let k = self.string()?;
                m.insert(k, self.value()?);
            }
            Value::Object(m)
        } else if tag == LIMITS && self.limits.is_none() {
            let n = self.op()? as usize;
            let mut limits = Vec::with_capacity(n.min(self.ops.len()));
            for _ in 0..n {
                limits.push(self.limit()?);
            }
            self.limits = Some(limits);
            // Read by the snapshot's reader as no limits; the records
            // replace them.
            Value::Array(Vec::new())
        } else {
            return None;
        })
    }

    /// An amount as the snapshot's reader takes it from the same number.
    fn amount(&mut self) -> Option<Amount> {
        match number(self.op()?) {
            Value::Number(n) => Amount::from_number(&n),
            _ => None,
        }
    }

    fn opt_amount(&mut self, flags: u32, bit: u32) -> Option<Option<Amount>> {
        if flags & bit == 0 {
            return Some(None);
        }
        self.amount().map(Some)
    }

    /// One limit record: flags, the amounts, then the strings, in the order
    /// `limitRecord` writes them.
    fn limit(&mut self) -> Option<LimitState> {
        let flags = self.op()? as u32;
        let limit = self.amount()?;
        let used = self.amount()?;
        let remaining = self.amount()?;
        let requested = self.opt_amount(flags, 4)?;
        let credits = self.opt_amount(flags, 16)?;
        let from_credits = self.opt_amount(flags, 32)?;
        let metric = self.string()?;
        let scope = self.string()?;
        let window = self.string()?;
        let chat_id = match flags & 3 {
            0 => None,
            1 => Some(None),
            _ => Some(Some(self.string()?)),
        };
        let resets_at = if flags & 8 == 0 {
            None
        } else {
            Some(self.string()?)
        };
        Some(LimitState {
            metric,
            scope,
            window,
            chat_id,
            limit,
            used,
            requested,
            remaining,
            resets_at,
            credits,
            from_credits,
        })
    }
}

/// A finite JS number as `serde_json` reads the digits `JSON.stringify`
/// writes for it: a whole number (within 2^53, which the walker ensures)
/// is an integer, anything else a float.
pub(super) fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() <= crate::json::MAX_SAFE_INT as f64 {
        Value::from(x as i64)
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// A decision with no lists, hold, credits or model (most allowed checks)
/// as the object literal `JSON.parse` of its JSON text gives, key order
/// included; `None` for any other.
pub(super) fn plain_decision(d: &Decision) -> Option<JsValue> {
    // Every field named, so a field added to `Decision` cannot be left out
    // of the literal unnoticed: it must be placed here, plain or not.
    let Decision {
        allowed,
        status,
        code,
        message,
        retry_after_s,
        violations,
        limits,
        hold,
        from_credits,
        warnings,
        reached: _,
        model,
        fallback_from,
    } = d;
    let plain = violations.is_empty()
        && limits.is_empty()
        && hold.is_none()
        && from_credits.is_empty()
        && warnings.is_empty()
        && model.is_none()
        && fallback_from.is_none();
    if !plain {
        return None;
    }
    let retry = retry_after_s.map_or(JsValue::NULL, |s| JsValue::from_f64(s as f64));
    Some(CODE.with(|c| {
        c.with(code.as_str(), |code| {
            MESSAGE.with(|m| {
                m.with(message, |message| {
                    tg_plain_decision(*allowed, *status, code, message, &retry)
                })
            })
        })
    }))
}

/// The last string of one kind handed to JS and its JS string: a page
/// re-checking mostly gets the same code and words back, and decoding them
/// from UTF-8 costs more than comparing them.
struct LastString(std::cell::RefCell<Option<(String, JsValue)>>);

impl LastString {
    /// `f` of `s` as a JS string, lent (a clone of a `JsValue` is a call
    /// into JS).
    fn with<T>(&self, s: &str, f: impl FnOnce(&JsValue) -> T) -> T {
        let mut last = self.0.borrow_mut();
        if last.as_ref().is_none_or(|(text, _)| text != s) {
            *last = Some((s.to_string(), JsValue::from_str(s)));
        }
        let (_, js) = last.as_ref().expect("set just above");
        f(js)
    }
}

thread_local! {
    static CODE: LastString = const { LastString(std::cell::RefCell::new(None)) };
    static MESSAGE: LastString = const { LastString(std::cell::RefCell::new(None)) };
}
