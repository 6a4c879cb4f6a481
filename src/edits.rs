//! One-change edits of a JSON document, for the tests that compare a hand
//! reader with serde's derive (`crate::ledger`'s books, `crate::fields`'
//! snapshot, decision and stored forms): every field set to each JSON kind,
//! removed, and an unknown field beside it.

use serde_json::{json, Value};

/// The JSON kinds a field is set to.
pub(crate) fn kinds() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(7),
        json!(-1),
        json!(256),
        json!(65_536),
        json!(4_294_967_296u64),
        json!(1.5),
        json!(1.0),
        json!(18_446_744_073_709_551_615u64),
        json!(-9_223_372_036_854_775_808i64),
        json!(""),
        json!("a"),
        json!("r"),
        json!("t"),
        json!([]),
        json!([1]),
        json!([1, 2]),
        json!([0, 0, 0, 0, 0, 0, 0]),
        json!([0, 0, 0, 0, 0, 0, 1]),
        json!({}),
        json!({"x": 1}),
        json!({"t": null}),
        json!(-0.5),
        json!(1e300),
        json!("promo"),
        json!("2026-12-07T10:00:00Z"),
    ]
}

/// Every (JSON pointer, new value or removal) one change away from `v`,
/// and an unknown field beside every field.
pub(crate) fn mutations(v: &Value, path: &str, out: &mut Vec<(String, Option<Value>)>) {
    for k in kinds() {
        out.push((path.to_string(), Some(k)));
    }
    out.push((path.to_string(), None));
    match v {
        Value::Object(m) => {
            for (key, child) in m {
                mutations(
                    child,
                    &format!("{path}/{}", key.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
            out.push((format!("{path}/zz_unknown"), Some(json!(1))));
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                mutations(child, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// `doc` with the value at `at` replaced (or removed).
pub(crate) fn changed(doc: &Value, at: &str, to: Option<Value>) -> Option<Value> {
    if at.is_empty() {
        return to;
    }
    let mut d = doc.clone();
    let (parent, last) = at.rsplit_once('/').unwrap();
    let last = last.replace("~1", "/").replace("~0", "~");
    match d.pointer_mut(parent)? {
        Value::Object(m) => match to {
            Some(x) => {
                m.insert(last, x);
            }
            None => {
                m.remove(&last);
            }
        },
        Value::Array(a) => {
            let i: usize = last.parse().ok()?;
            match to {
                Some(x) => a[i] = x,
                None => {
                    a.remove(i);
                }
            }
        }
        _ => return None,
    }
    Some(d)
}
