//! The native half of `make bench-pkg`: one browser-style decision
//! (`check_snapshot` on a `GET /v1/usage` snapshot) timed natively, and the
//! inputs written to `target/bench-pkg-input.json` so that
//! scripts/pkg-bench.mjs times the very same decision in wasm under Node,
//! right after, on the same machine.
//!
//! Three native figures:
//! - `core`: the decision alone, inputs already parsed;
//! - `text`: JSON text in (snapshot, subscription, action), decide, decision
//!   as JSON text out: what the Worker does with HTTP bodies;
//! - `action_only`: the action read and the decision written, snapshot and
//!   subscription already parsed (what the package does when they are
//!   unchanged since the last call).
//!
//!     cargo run --release --example bench_check [-- ITERATIONS [-]]
//!
//! (`-`: do not write the inputs file.) The figures are also printed as one
//! JSON line on stdout. tests/pkg/wasi-bench builds this same file for
//! wasm32-wasip1, so scripts/pkg-bench.mjs can time the identical code as
//! WebAssembly inside Node (V8), with no JS boundary at all.

use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Instant;
use tollgate::replay::read_usage;
use tollgate::{Action, Config, Engine, Ledger, Options, Snapshot, Subscription};

const NOW_MS: i64 = 1_795_459_200_000; // 2026-11-23T18:40:00Z, 22:10 in Tehran
const ROUNDS: usize = 15;

/// Median of `ROUNDS` rounds of `iters` calls, in nanoseconds per call.
fn time(iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 + 1 {
        f();
    }
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

fn main() {
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    // TOLLGATE_ROOT: the same source built for wasm32-wasip1 (tests/pkg/wasi-bench) runs elsewhere.
    let root =
        std::env::var("TOLLGATE_ROOT").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let write = std::env::args().nth(2).is_none_or(|a| a != "-");
    let config_v: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/www/config.json")).expect("www/config.json"),
    )
    .expect("valid JSON");
    let engine = Engine::new(Config::from_value(&config_v).expect("valid config"));
    let sub_v = json!({"id": "sub-42", "plan": "premium", "active": true,
        "starts_at": 1_790_000_000, "ends_at": 1_800_000_000});
    let sub = Subscription::from_value(&sub_v).expect("valid subscription");

    // A realistic day of usage: messages on paid and free models, images,
    // uploads in two chats, one request still in flight.
    let mut ledger = Ledger::default();
    let history: &[(i64, Value, Option<Value>)] = &[
        (
            -300,
            json!({"type": "message", "model": "openai/gpt-4o-mini", "input_tokens": 1800, "max_output_tokens": 1000}),
            Some(json!({"input_tokens": 1800, "output_tokens": 640})),
        ),
        (
            -240,
            json!({"type": "message", "model": "meta-llama/llama-3.3-8b-instruct:free", "input_tokens": 900, "max_output_tokens": 800}),
            Some(json!({"input_tokens": 900, "output_tokens": 512})),
        ),
        (
            -200,
            json!({"type": "image", "model": "openai/gpt-image-1", "count": 2}),
            Some(json!({"input_tokens": 0, "output_tokens": 0, "images": 2})),
        ),
        (
            -150,
            json!({"type": "upload", "chat_id": "chat-1", "files": [{"name": "brief.pdf", "size": 120000}, {"name": "photo.jpg", "size": 800000}]}),
            Some(json!({"input_tokens": 0, "output_tokens": 0})),
        ),
        (
            -90,
            json!({"type": "message", "model": "anthropic/claude-3.5-sonnet", "input_tokens": 2500, "max_output_tokens": 1500, "chat_id": "chat-2"}),
            Some(json!({"input_tokens": 2500, "output_tokens": 1100})),
        ),
        (
            -60,
            json!({"type": "upload", "chat_id": "chat-2", "files": [{"name": "notes.txt", "size": 4000}]}),
            Some(json!({"input_tokens": 0, "output_tokens": 0})),
        ),
        (
            -20,
            json!({"type": "message", "model": "openai/gpt-4o", "input_tokens": 1200, "max_output_tokens": 1000}),
            Some(json!({"input_tokens": 1200, "output_tokens": 900})),
        ),
        (
            -1,
            json!({"type": "message", "model": "openai/gpt-4o-mini", "input_tokens": 500, "max_output_tokens": 500}),
            None,
        ),
    ];
    for (i, (min, a, commit)) in history.iter().enumerate() {
        let at = NOW_MS + min * 60_000;
        let action = Action::from_value(a).expect("valid history action");
        let key = format!("k{i}");
        let fp = tollgate::idem::fingerprint("reserve", a);
        let idem = tollgate::idem::Idem {
            key: &key,
            fingerprint: &fp,
        };
        let d = engine
            .reserve(
                &mut ledger,
                Some(&sub),
                &action,
                at,
                Some(idem),
                &Options::default(),
            )
            .expect("a fresh key");
        assert!(d.allowed, "history action {i} denied: {}", d.message);
        if let (Some(c), Some(h)) = (commit, &d.hold) {
            engine
                .commit(&mut ledger, &h.id, &read_usage(c).expect("usage"), at)
                .expect("commit");
        }
    }
    let snapshot = engine.snapshot(&ledger, Some(&sub), NOW_MS);
    let snapshot_v = serde_json::to_value(&snapshot).expect("serialises");
    let action_v = json!({"type": "message", "model": "openai/gpt-4o-mini",
        "input_tokens": 1200, "max_output_tokens": 800, "chat_id": "chat-1"});
    let action = Action::from_value(&action_v).expect("valid action");
    let opts = Options::default();

    let decision = engine.check_snapshot(&snapshot, Some(&sub), &action, NOW_MS, &opts);
    let core_ns = time(iters, || {
        black_box(engine.check_snapshot(
            black_box(&snapshot),
            Some(&sub),
            black_box(&action),
            NOW_MS,
            &opts,
        ));
    });
    // What the Worker does with HTTP bodies, and what `Tollgate.check()`
    // does with JS objects: JSON text in, decision, JSON text out.
    let snapshot_t = serde_json::to_string(&snapshot_v).unwrap();
    let sub_t = serde_json::to_string(&sub_v).unwrap();
    let action_t = serde_json::to_string(&action_v).unwrap();
    let text_ns = time(iters, || {
        let snap: Snapshot = serde_json::from_str(black_box(&snapshot_t)).unwrap();
        let sub_v: Value = serde_json::from_str(black_box(&sub_t)).unwrap();
        let sub = Subscription::from_value(&sub_v).unwrap();
        let action = Action::from_json(black_box(&action_t)).unwrap();
        let d = engine.check_snapshot(&snap, Some(&sub), &action, NOW_MS, &opts);
        black_box(serde_json::to_string(&d).unwrap());
    });
    // Only the action read and the decision written (snapshot and
    // subscription already parsed, as the package's cache does).
    let action_only_ns = time(iters, || {
        let action = Action::from_json(black_box(&action_t)).unwrap();
        let d = engine.check_snapshot(&snapshot, Some(&sub), &action, NOW_MS, &opts);
        black_box(serde_json::to_string(&d).unwrap());
    });
    let out = json!({
        "config": config_v,
        "subscription": sub_v,
        "snapshot": snapshot_v,
        "action": action_v,
        "now_ms": NOW_MS,
        "decision": decision,
        "native": {"iterations": iters, "rounds": ROUNDS, "core_ns": core_ns,
            "text_ns": text_ns, "action_only_ns": action_only_ns},
    });
    println!("{}", out["native"]);
    let path = format!("{root}/target/bench-pkg-input.json");
    if write {
        std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).expect("writable");
    }
    eprintln!(
        "native: check_snapshot {core_ns:.0} ns/op (core), {action_only_ns:.0} ns/op (action text in, decision text out), {text_ns:.0} ns/op (all JSON text in and out); {} limits in the snapshot → {path}",
        snapshot.limits.len()
    );
}
