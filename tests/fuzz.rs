//! Fuzzing what clients send (issue 8): a config, an action, a commit's
//! usage, a reset, a discount rule, a subscription claim, the gateway's
//! OpenAI bodies and file heads. Inputs are arbitrary bytes, valid documents
//! with random structural mutations (a value replaced by an odd one, a key
//! dropped or added, at any depth), and valid documents' text with random
//! byte edits. Properties:
//!
//! 1. no reader panics, whatever it is given (each answers `Ok` or problems
//!    with paths);
//! 2. when a config and an action are accepted, deciding them — check,
//!    reserve, commit with a fuzzed usage, snapshot, reset — does not panic
//!    either, and a refused reserve changes nothing;
//! 3. the strict JSON reader agrees with serde_json on every text without a
//!    duplicated key, and refuses the others.
//!
//! Bounded: a thousand cases per property (`PROPTEST_CASES` raises it).

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tollgate::action::Action;
use tollgate::api::{read_reset, read_usage};
use tollgate::config::{Config, GatewayConfig};
use tollgate::discount::DiscountRule;
use tollgate::engine::{Engine, Options};
use tollgate::files;
use tollgate::idem::{fingerprint, Idem};
use tollgate::json::parse_strict;
use tollgate::ledger::Ledger;
use tollgate::openai::{ChatRequest, ImageRequest};
use tollgate::subscription::Subscription;

const DEFAULT_CONFIG: &str = include_str!("../worker/default-config.json");
const NOW_MS: i64 = 1_795_461_660_000;

/// Valid documents of every kind, as a hostile client would start from.
fn seeds() -> Vec<Value> {
    let config: Value = serde_json::from_str(DEFAULT_CONFIG).unwrap();
    vec![
        config,
        json!({"type": "message", "model": "openai/gpt-4o-mini", "input_tokens": 1200,
               "max_output_tokens": 800, "chat_id": "c1", "kind": "send"}),
        json!({"type": "image", "model": "openai/gpt-image-1", "count": 2}),
        json!({"type": "upload", "chat_id": "c1", "files": [
            {"name": "a.pdf", "size": 1000, "type": "application/pdf", "head": "JVBERi0xLjcKJeLjz9MK"},
            {"name": "b.txt", "size": 12, "head": "aGVsbG8gd29ybGQK"}]}),
        json!({"type": "validate", "files": [{"name": "x.png", "size": 5}]}),
        json!({"type": "discount", "code": "NOWRUZ"}),
        json!({"type": "upgrade", "to_plan": "premium"}),
        json!({"type": "analyze_image", "model": "openai/gpt-4o", "file": {"name": "p.jpg", "size": 10}}),
        json!({"input_tokens": 100, "output_tokens": 50, "cost_usd": 0.25, "images": 1, "files": 0}),
        json!({}),
        json!({"metrics": ["tokens", "messages"], "windows": ["day", "1h"]}),
        json!({"max_uses": 10, "max_uses_per_user": 1, "expires_at": "2026-12-31T23:59:59Z", "plans": ["basic"]}),
        json!({"id": "s1", "plan": "basic", "active": true, "starts_at": 0, "ends_at": null}),
        json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
               "max_tokens": 100, "stream": true, "n": 1}),
        json!({"model": "openai/gpt-image-1", "prompt": "a cat", "n": 2, "size": "1024x1024"}),
    ]
}

fn subscription() -> Subscription {
    Subscription {
        id: "s1".into(),
        plan: "basic".into(),
        active: true,
        starts_at: 0,
        ends_at: None,
    }
}

/// Every reader of client input, on one value: none may panic.
fn read_everything(v: &Value) {
    let _ = Config::from_value(v);
    let _ = Action::from_value(v);
    let _ = read_usage(v);
    let _ = read_reset(v);
    let _ = DiscountRule::from_value(v);
    let _ = Subscription::from_value(v);
    let gw = GatewayConfig {
        default_image_model: Some("openai/gpt-image-1".into()),
        ..GatewayConfig::default()
    };
    for g in [&GatewayConfig::default(), &gw] {
        let _ = ChatRequest::parse(v, g);
        let _ = ImageRequest::parse(v, g);
    }
}

/// What a user is charged: counters, open and closed holds (the remembered
/// idempotency answers aside).
fn books(l: &Ledger) -> String {
    format!("{:?} {:?} {:?}", l.counters, l.holds, l.closed)
}

/// Decides an accepted action under an accepted config; a refused reserve
/// must leave the ledger as it was.
fn decide(config: &Value, action_json: &Value, usage: &Value, reset: &Value) {
    let (Ok(config), Ok(action)) = (Config::from_value(config), Action::from_value(action_json))
    else {
        return;
    };
    let engine = Engine::new(config);
    let sub = subscription();
    let opts = Options {
        explain: true,
        ..Options::default()
    };
    let mut ledger = Ledger::default();
    let _ = engine.check(&ledger, Some(&sub), &action, NOW_MS, &opts);
    let before = books(&ledger);
    let fp = fingerprint("reserve", action_json);
    let key = Idem {
        key: "k",
        fingerprint: &fp,
    };
    let Ok(d) = engine.reserve(&mut ledger, Some(&sub), &action, NOW_MS, Some(key), &opts) else {
        panic!("a first use of a key is never a reuse");
    };
    if !d.allowed {
        assert_eq!(
            books(&ledger),
            before,
            "a refused reserve changed the books"
        );
    }
    if let (Some(hold), Ok(u)) = (&d.hold, read_usage(usage)) {
        let _ = engine.commit(&mut ledger, &hold.id, &u, NOW_MS + 1000);
    }
    let _ = engine.snapshot(&ledger, Some(&sub), NOW_MS + 2000);
    if let Ok((m, w)) = read_reset(reset) {
        engine.reset(
            &mut ledger,
            (!m.is_empty()).then_some(&m[..]),
            (!w.is_empty()).then_some(&w[..]),
        );
    }
}

// ------------------------------------------------------------ strategies

/// Values that tend to break readers: edge numbers, odd strings, nesting.
fn odd_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(json!(0)),
            Just(json!(-1)),
            Just(json!(1.5)),
            Just(json!(1e300)),
            Just(json!(-1e300)),
            Just(json!(9_007_199_254_740_991u64)),
            Just(json!(9_007_199_254_740_992u64)),
            Just(json!(u64::MAX)),
            Just(json!(i64::MIN)),
            Just(json!(0.000_000_1)),
        ],
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            Just(String::new()),
            Just("*".to_string()),
            Just("x".repeat(300)),
            Just("a\u{0}b".to_string()),
            Just("\u{202e}gpj.exe".to_string()),
            Just("2026-13-45T99:99:99Z".to_string()),
            Just("tokens".to_string()),
            Just("day".to_string()),
            Just("subscription".to_string()),
            Just("../../etc/passwd".to_string()),
            // Multi-byte characters where a unit letter or a digit is
            // expected (the HTTP fuzz loop found `"windows": ["٣"]`).
            Just("٣".to_string()),
            Just("1٣".to_string()),
            Just("۲۴h".to_string()),
            Just("é".to_string()),
            "\\PC{0,24}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Keys that the readers know, and some they do not.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "type",
            "model",
            "models",
            "input_tokens",
            "max_output_tokens",
            "output_tokens",
            "cost_usd",
            "images",
            "files",
            "count",
            "chat_id",
            "kind",
            "name",
            "size",
            "head",
            "plans",
            "limits",
            "metric",
            "window",
            "max",
            "scope",
            "id",
            "tier",
            "active",
            "version",
            "timezone",
            "locale",
            "messages",
            "metrics",
            "windows",
            "max_uses",
            "expires_at",
            "plan",
            "starts_at",
            "ends_at",
            "n",
            "stream",
            "prompt",
            "content",
            "role",
            "calendar",
            "hold_ttl_s",
            "max_concurrent",
            "free",
            "code",
            "to_plan",
        ])
        .prop_map(str::to_string),
        "[a-z_]{0,8}",
    ]
}

/// One structural edit: which node (pre-order index, modulo the count) and what.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, Value),
    Remove(usize),
    Insert(usize, String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), odd_value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), key(), odd_value()).prop_map(|(i, k, v)| Edit::Insert(i, k, v)),
    ]
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(m) => m.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// The node at pre-order index `*i` (counting down), as a mutable reference.
fn node_at<'a>(v: &'a mut Value, i: &mut usize) -> Option<&'a mut Value> {
    if *i == 0 {
        return Some(v);
    }
    *i -= 1;
    match v {
        Value::Array(a) => a.iter_mut().find_map(|c| node_at(c, i)),
        Value::Object(m) => m.values_mut().find_map(|c| node_at(c, i)),
        _ => None,
    }
}

fn apply(doc: &mut Value, e: &Edit) {
    let n = count_nodes(doc);
    match e {
        Edit::Replace(i, v) => {
            if let Some(node) = node_at(doc, &mut (i % n)) {
                *node = v.clone();
            }
        }
        Edit::Remove(i) => {
            if let Some(node) = node_at(doc, &mut (i % n)) {
                match node {
                    Value::Array(a) if !a.is_empty() => {
                        a.remove(i % a.len());
                    }
                    Value::Object(m) if !m.is_empty() => {
                        let k = m.keys().nth(i % m.len()).cloned().unwrap_or_default();
                        m.remove(&k);
                    }
                    _ => {}
                }
            }
        }
        Edit::Insert(i, k, v) => {
            if let Some(node) = node_at(doc, &mut (i % n)) {
                match node {
                    Value::Array(a) => a.push(v.clone()),
                    Value::Object(m) => {
                        m.insert(k.clone(), v.clone());
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Byte edits of a document's text: flip, insert, delete, truncate.
#[derive(Debug, Clone)]
enum ByteEdit {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    let interesting = prop_oneof![
        any::<u8>(),
        prop::sample::select(b"{}[],:\"\\0-+.eE \x00\xff".to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), interesting.clone()).prop_map(|(i, b)| ByteEdit::Set(i, b)),
        (any::<usize>(), interesting).prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        any::<usize>().prop_map(ByteEdit::Delete),
        any::<usize>().prop_map(ByteEdit::Truncate),
    ]
}

fn apply_bytes(text: &mut Vec<u8>, e: &ByteEdit) {
    let n = text.len().max(1);
    match *e {
        ByteEdit::Set(i, b) if !text.is_empty() => text[i % n] = b,
        ByteEdit::Insert(i, b) => text.insert(i % (text.len() + 1), b),
        ByteEdit::Delete(i) if !text.is_empty() => {
            text.remove(i % n);
        }
        ByteEdit::Truncate(i) => text.truncate(i % (text.len() + 1)),
        _ => {}
    }
}

/// Odd values for the exhaustive sweep below.
fn odd_list() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!(u64::MAX),
        json!(9_007_199_254_740_992u64),
        json!(""),
        json!("x".repeat(300)),
        json!("a\u{0}b"),
        json!("٣"),
        json!("1٣"),
        json!("۲۴h"),
        json!("é"),
        json!("9999999999999999999999h"),
        json!("0m"),
        json!("2026-13-45T99:99:99Z"),
        json!([]),
        json!({}),
        json!([[{}]]),
    ]
}

/// Every leaf of `v`, as a path of keys and indices.
fn leaf_paths(v: &Value, at: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                at.push(json!(i));
                leaf_paths(c, at, out);
                at.pop();
            }
        }
        Value::Object(m) => {
            for (k, c) in m {
                at.push(json!(k));
                leaf_paths(c, at, out);
                at.pop();
            }
        }
        _ => out.push(at.clone()),
    }
}

fn at_path<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(v, |v, p| match p {
        Value::String(k) => &mut v[k.as_str()],
        _ => &mut v[p.as_u64().unwrap() as usize],
    })
}

/// Every leaf of every valid document replaced, one at a time, by every odd
/// value: no reader panics, and neither does a decision on what is accepted.
#[test]
fn every_leaf_replaced_by_every_odd_value() {
    let seeds = seeds();
    let odd = odd_list();
    for (si, seed) in seeds.iter().enumerate() {
        let mut paths = Vec::new();
        leaf_paths(seed, &mut Vec::new(), &mut paths);
        for path in &paths {
            for o in &odd {
                let mut doc = seed.clone();
                *at_path(&mut doc, path) = o.clone();
                read_everything(&doc);
                if si == 0 {
                    decide(&doc, &seeds[1], &seeds[8], &seeds[10]);
                } else {
                    decide(&seeds[0], &doc, &doc, &doc);
                }
            }
        }
    }
}

fn seed() -> impl Strategy<Value = Value> {
    prop::sample::select(seeds())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Arbitrary bytes: as JSON text (strict reader, then every reader), as
    /// a file head, as a file name.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(v) = parse_strict(&text) {
            read_everything(&v);
        }
        let _ = files::sniff(&bytes);
        for ext in ["txt", "png", "pdf", "docx", "", "xyz"] {
            let _ = files::head_agrees(ext, &bytes);
        }
        let _ = files::check_name(&text);
        let _ = files::extension(&text);
    }

    /// Valid documents with structural mutations at any depth.
    #[test]
    fn mutated_documents_never_panic(
        doc in seed(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let mut doc = doc;
        for e in &edits {
            apply(&mut doc, e);
        }
        read_everything(&doc);
        // The mutated document in each role of a decision.
        let seeds = seeds();
        decide(&doc, &seeds[1], &seeds[8], &seeds[10]);
        decide(&seeds[0], &doc, &seeds[8], &seeds[10]);
        decide(&seeds[0], &seeds[3], &doc, &doc);
    }

    /// Valid documents' text with byte edits: the strict reader answers, and
    /// whatever it accepts goes through every reader and a decision.
    #[test]
    fn mutated_text_never_panics(
        doc in seed(),
        edits in prop::collection::vec(byte_edit(), 1..8),
    ) {
        let mut text = serde_json::to_vec(&doc).unwrap();
        for e in &edits {
            apply_bytes(&mut text, e);
        }
        let text = String::from_utf8_lossy(&text);
        if let Ok(v) = parse_strict(&text) {
            read_everything(&v);
            let seeds = seeds();
            decide(&seeds[0], &v, &v, &v);
        }
    }

    /// The strict reader reads what serde_json reads, unless a key repeats.
    #[test]
    fn strict_reader_agrees_with_serde_json(doc in odd_value(), dup in any::<bool>()) {
        let text = serde_json::to_string(&doc).unwrap();
        let plain: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(parse_strict(&text).unwrap(), plain);
        if dup {
            // The same key twice in the outermost object.
            let twice = format!("{{\"k\":1,\"k\":{text}}}");
            let e = parse_strict(&twice).unwrap_err();
            prop_assert_eq!(e.0[0].path.as_str(), "k");
        }
    }
}
