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

/// Every seed field of SPEC §7 and every code of SPEC §4 (with `ok`).
const MUST_COVER: &[&str] = &[
    // SubscriptionType
    "max_tokens",
    "max_tokens_free",
    "hourly_max_tokens",
    "three_hours_max_tokens",
    "twelve_hours_max_tokens",
    "daily_max_tokens",
    "weekly_max_tokens",
    "monthly_max_tokens",
    "hourly_max_messages",
    "three_hours_max_messages",
    "twelve_hours_max_messages",
    "daily_max_messages",
    "weekly_max_messages",
    "monthly_max_messages",
    "monthly_free_model_messages",
    "monthly_free_model_tokens",
    "daily_image_generation_limit",
    "weekly_image_generation_limit",
    "monthly_image_generation_limit",
    "max_openrouter_cost_usd",
    "is_active",
    "duration_days",
    // FileUploadSettings
    "daily_file_limit",
    "weekly_file_limit",
    "monthly_file_limit",
    "max_files_per_chat",
    "max_file_size",
    "allowed_extensions",
    // DiscountCode
    "max_uses",
    "max_uses_per_user",
    "expires_at",
    // Decision codes
    "ok",
    "subscription_missing",
    "subscription_inactive",
    "subscription_expired",
    "plan_inactive",
    "model_not_allowed",
    "window_exceeded",
    "insufficient_budget",
    "concurrency_exceeded",
    "file_name_invalid",
    "file_too_large",
    "file_type_not_allowed",
    "file_type_mismatch",
    "discount_unknown",
    "discount_expired",
    "discount_exhausted",
    "discount_user_exhausted",
    "discount_not_applicable",
    "upgrade_not_allowed",
    "bad_request",
];

/// The union of every case's `covers` must include every seed field and
/// every code, so coverage cannot silently shrink; every case says what it
/// covers, and only with names from that list.
#[test]
fn vectors_cover_every_seed_field_and_code() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
    let mut covered = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    let mut cases = 0;
    for e in fs::read_dir(dir).expect("tests/vectors exists") {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&p).unwrap()).expect("valid JSON");
        for (i, case) in v["cases"].as_array().into_iter().flatten().enumerate() {
            cases += 1;
            let covers = case["covers"].as_array().cloned().unwrap_or_default();
            if covers.is_empty() {
                problems.push(format!("{} case {i}: no covers", p.display()));
            }
            for c in covers {
                let c = c.as_str().unwrap_or_default().to_string();
                if !MUST_COVER.contains(&c.as_str()) {
                    problems.push(format!("{} case {i}: unknown covers {c:?}", p.display()));
                }
                covered.insert(c);
            }
        }
    }
    let missing: Vec<_> = MUST_COVER
        .iter()
        .filter(|n| !covered.contains(**n))
        .collect();
    assert!(missing.is_empty(), "not covered by any vector: {missing:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(cases >= 70, "only {cases} vector cases");
}
