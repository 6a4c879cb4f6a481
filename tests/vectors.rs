//! Runs every shared vector in tests/vectors/*.json against the native core.
//! The wasm build (Node, Chromium) and the Worker replay the same files.

use std::fs;

#[test]
fn shared_vectors() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("tests/vectors exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vector files");
    let mut total = 0;
    let mut failures = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        match tollgate::replay::run_file(&text) {
            Ok(n) => total += n,
            Err(e) => failures.extend(e.into_iter().map(|m| format!("{}: {m}", f.display()))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{total} vector cases passed in {} files", files.len());
}

/// The Worker's built-in default config must always load.
#[test]
fn default_config_loads() {
    let text = include_str!("../worker/default-config.json");
    let c = tollgate::Config::from_json(text).expect("worker/default-config.json is valid");
    assert_eq!(
        c.plans.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["free", "basic", "premium"]
    );
}
