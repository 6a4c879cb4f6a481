//! JSON for people to read and edit: a config printed like SPEC §2's
//! example, keys in a sensible order (ids first) and each small object
//! (a model, a limit, a discount code) on one line.
//!
//! serde_json keeps object keys sorted (its `preserve_order` feature would
//! change the core's maps for every crate in the workspace), so the order
//! is chosen here, when printing.

use serde_json::Value;

/// Keys that come first, in this order; the rest follow alphabetically.
const FIRST: &[&str] = &[
    "version",
    "timezone",
    "locale",
    "week_start",
    "calendar",
    "hold_ttl_s",
    "id",
    "code",
    "name",
    "description",
    "active",
    "free",
    "tier",
    "metric",
    "scope",
    "window",
    "chat_id",
    "max",
    "input_usd_per_mtok",
    "output_usd_per_mtok",
    "image_usd",
    "max_uses",
    "max_uses_per_user",
    "expires_at",
    "models",
    "plans",
    "limits",
    "files",
    "max_concurrent",
    "max_file_bytes",
    "allowed_extensions",
    "messages",
    "discounts",
];

/// One-line objects and arrays stay under this width.
const INLINE: usize = 110;

fn rank(k: &str) -> (usize, &str) {
    (FIRST.iter().position(|f| *f == k).unwrap_or(FIRST.len()), k)
}

fn sorted(m: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut kv: Vec<_> = m.iter().collect();
    kv.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)));
    kv
}

/// One line, keys in order.
fn inline(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let parts: Vec<String> = sorted(m)
                .into_iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), inline(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

fn write(v: &Value, indent: usize, out: &mut String) {
    let one = inline(v);
    if one.len() + indent <= INLINE || !matches!(v, Value::Object(_) | Value::Array(_)) {
        out.push_str(&one);
        return;
    }
    let pad = "  ".repeat(indent + 1);
    let end = "  ".repeat(indent);
    match v {
        Value::Object(m) => {
            out.push_str("{\n");
            let kv = sorted(m);
            for (i, (k, v)) in kv.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push_str(": ");
                write(v, indent + 1, out);
                if i + 1 < kv.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&end);
            out.push('}');
        }
        Value::Array(a) => {
            out.push_str("[\n");
            for (i, x) in a.iter().enumerate() {
                out.push_str(&pad);
                write(x, indent + 1, out);
                if i + 1 < a.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&end);
            out.push(']');
        }
        _ => unreachable!("scalars are printed inline"),
    }
}

/// A config (or any JSON document) for people.
pub fn config(v: &Value) -> String {
    let mut out = String::new();
    write(v, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_the_same_document_in_a_readable_order() {
        let v = json!({"plans": [{"limits": [{"window": "1h", "max": 5, "metric": "tokens"}],
            "id": "basic", "models": ["*"]}], "version": 1, "note": "x\"y"});
        let s = config(&v);
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
        assert!(s.find("\"version\"").unwrap() < s.find("\"plans\"").unwrap());
        assert!(
            s.contains(r#"{"metric": "tokens", "window": "1h", "max": 5}"#),
            "{s}"
        );
    }
}
