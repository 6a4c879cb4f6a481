//! The API's request bodies that are not actions or configs: a commit's
//! usage, a hold extension and an admin reset. Every runtime reads them here (the Worker's
//! routes and Durable Object, the shared vectors' replay), so a body means
//! the same thing everywhere. Each reader lists every problem with its path.

use crate::engine::Usage;
use crate::json::{Problems, Reader};
use crate::limit::{Metric, Window};
use serde_json::Value;

/// Reads a commit body (`{input_tokens, output_tokens, cost_usd?, images?, files?}`).
pub fn read_usage(v: &Value) -> Result<Usage, Problems> {
    let mut r = Reader::new();
    let Some(m) = r.object(v, "") else {
        return Err(Problems(r.problems));
    };
    r.known_keys(
        m,
        "",
        &[
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "images",
            "files",
        ],
    );
    let u = Usage {
        input_tokens: r.opt_count(m, "", "input_tokens").unwrap_or(0),
        output_tokens: r.opt_count(m, "", "output_tokens").unwrap_or(0),
        cost_micros: r.opt_usd(m, "", "cost_usd"),
        images: r.opt_count(m, "", "images"),
        files: r.opt_count(m, "", "files"),
        model: None,
    };
    r.finish(u)
}

/// Reads an extend body (`{}` or `{ttl_s}`): the seconds asked for.
pub fn read_extend(v: &Value) -> Result<Option<u64>, Problems> {
    let mut r = Reader::new();
    let Some(m) = r.object(v, "") else {
        return Err(Problems(r.problems));
    };
    r.known_keys(m, "", &["ttl_s"]);
    let ttl = r.opt_count(m, "", "ttl_s");
    if ttl == Some(0) {
        r.err("ttl_s", "must be at least 1 second");
    }
    r.finish(ttl)
}

/// Reads an admin reset body: `{}` resets every counter; `{metrics?,
/// windows?}` those of the listed metrics and windows. A list that is given
/// must not be empty: an empty list selects nothing, and reading it as "no
/// filter" would reset everything (issue 8, item 14).
pub fn read_reset(v: &Value) -> Result<(Vec<Metric>, Vec<Window>), Problems> {
    let mut r = Reader::new();
    let Some(m) = r.object(v, "") else {
        return Err(Problems(r.problems));
    };
    r.known_keys(m, "", &["metrics", "windows"]);
    let mut metrics = Vec::new();
    let mut windows = Vec::new();
    for key in ["metrics", "windows"] {
        if matches!(m.get(key), Some(Value::Array(a)) if a.is_empty()) {
            r.err(key, "must not be empty");
        }
    }
    if let Some(a) = m.get("metrics").and_then(|v| r.array(v, "metrics")) {
        for (i, x) in a.iter().enumerate() {
            let p = crate::json::index("metrics", i);
            if let Some(s) = r.as_str(x, &p) {
                match Metric::parse(s) {
                    Some(mm) => metrics.push(mm),
                    None => r.err(p, "unknown metric"),
                }
            }
        }
    }
    if let Some(a) = m.get("windows").and_then(|v| r.array(v, "windows")) {
        for (i, x) in a.iter().enumerate() {
            let p = crate::json::index("windows", i);
            if let Some(s) = r.as_str(x, &p) {
                match Window::parse(s) {
                    Ok(w) => windows.push(w),
                    Err(e) => r.err(p, e),
                }
            }
        }
    }
    r.finish((metrics, windows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reset_lists_must_not_be_empty() {
        for (body, path) in [
            (json!({"metrics": []}), "metrics"),
            (json!({"windows": []}), "windows"),
            (json!({"metrics": [], "windows": ["day"]}), "metrics"),
        ] {
            let e = read_reset(&body).unwrap_err();
            assert_eq!(e.0.len(), 1, "{body}");
            assert_eq!(e.0[0].path, path);
            assert_eq!(e.0[0].reason, "must not be empty");
        }
        assert_eq!(read_reset(&json!({})).unwrap(), (vec![], vec![]));
        let (m, w) = read_reset(&json!({"metrics": ["tokens"], "windows": ["day"]})).unwrap();
        assert_eq!((m.len(), w.len()), (1, 1));
    }

    #[test]
    fn usage_problems_are_all_listed() {
        let e =
            read_usage(&json!({"input_tokens": -1, "output_tokens": "x", "extra": 1})).unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["extra", "input_tokens", "output_tokens"]);
    }
}
