//! Replays every shared vector (tests/vectors/*.json) natively and writes
//! each case's full decision to a JSON file (default
//! `target/vectors-native.json`), together with the exact vector it read.
//! The wasm runners (Node: tests/pkg/vectors.test.mjs; Chromium:
//! tests/pkg/browser-vectors.mjs) replay the same inputs and require every
//! decision to equal the native one field for field.
//!
//!     cargo run --example replay_vectors [-- OUT.json]

use serde_json::{json, Value};
use std::fs;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::args().nth(1).unwrap_or_else(|| {
        root.join("target/vectors-native.json")
            .display()
            .to_string()
    });
    let mut paths: Vec<_> = fs::read_dir(root.join("tests/vectors"))
        .expect("tests/vectors exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    let mut cases_total = 0;
    for p in &paths {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let text = fs::read_to_string(p).expect("readable vector file");
        let vector: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                files.push(json!({"file": name, "error": format!("invalid JSON: {e}")}));
                continue;
            }
        };
        let config = vector.get("config").cloned().unwrap_or(Value::Null);
        let cases = vector
            .get("cases")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let results: Vec<Value> = cases
            .iter()
            .map(|case| {
                let cfg = case.get("config").unwrap_or(&config);
                match tollgate::replay::run_case(cfg, case) {
                    Ok(d) => json!({"decision": d}),
                    Err(e) => json!({"error": e}),
                }
            })
            .collect();
        cases_total += results.len();
        files.push(json!({"file": name, "vector": vector, "native": results}));
    }
    let doc = json!({"files": files});
    if let Some(dir) = Path::new(&out).parent() {
        fs::create_dir_all(dir).expect("output directory");
    }
    fs::write(&out, serde_json::to_string(&doc).expect("serialises")).expect("writable output");
    eprintln!(
        "replay_vectors: {cases_total} cases in {} files → {out}",
        paths.len()
    );
}
