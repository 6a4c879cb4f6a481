//! Shared test vectors: one JSON format, replayed by native Rust, by the wasm
//! build in Node and in Chromium, and (through HTTP) by the Worker tests.
//!
//! A vector file (`tests/vectors/*.json`) is
//!
//! ```json
//! {
//!   "description": "…",
//!   "config": { …a config… },
//!   "cases": [{
//!     "name": "hourly tokens exhausted",
//!     "covers": ["hourly_max_tokens", "window_exceeded"],
//!     "subscription": {"id": "s1", "plan": "basic", "active": true, "starts_at": 0, "ends_at": null},
//!     "events": [
//!       {"at": "2026-11-23T18:00:00Z", "op": "reserve", "action": {…}, "commit": {"input_tokens": 10, "output_tokens": 5}},
//!       {"at": "…", "op": "reserve", "action": {…}},          // left open
//!       {"at": "…", "op": "release", "hold": "h2"},
//!       {"at": "…", "op": "commit", "hold": "h1", "usage": {…}},
//!       {"at": "…", "op": "discount_put", "code": "X", "rule": {…}},
//!       {"at": "…", "op": "redeem", "code": "X", "user": "u2"},
//!       {"at": "…", "op": "reset", "metrics": ["tokens"], "windows": ["day"]}
//!     ],
//!     "at": "2026-11-23T19:00:00Z",
//!     "op": "check",                      // or "reserve", "redeem"
//!     "action": {…},
//!     "user": "u1",                       // for discounts; default "u1"
//!     "options": {"explain": false, "locale": "fa"},
//!     "expect": {"allowed": false, "code": "window_exceeded", "status": 429, …}
//!   }]
//! }
//! ```
//!
//! An event's `subscription` (optional) replaces the case's from then on.
//! `expect` is matched as a subset: every key given must equal the
//! decision's; arrays must have the same length and match element-wise.
//! [`run_case`] returns the decision as JSON; [`subset_mismatch`] compares.

use crate::action::Action;
use crate::config::Config;
use crate::discount::{DiscountRule, DiscountState};
use crate::engine::{Engine, Options};
use crate::ledger::Ledger;
use crate::messages::Locale;
use crate::strmap::StrMap;
use crate::subscription::Subscription;
use crate::time::parse_rfc3339;
use serde_json::{json, Value};

/// The state a case's events build.
struct World {
    engine: Engine,
    ledger: Ledger,
    discounts: StrMap<DiscountState>,
    sub: Option<Subscription>,
    /// Whose books `ledger` is (the case's `user`, default `"u1"`).
    owner: String,
}

fn at_ms(v: &Value, path: &str) -> Result<i64, String> {
    match v.get("at") {
        Some(Value::String(s)) => parse_rfc3339(s)
            .map(|t| t * 1000)
            .ok_or_else(|| format!("{path}.at: not RFC 3339")),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| format!("{path}.at: bad number")),
        _ => Err(format!("{path}.at: required")),
    }
}

fn sub_of(v: &Value) -> Result<Option<Subscription>, String> {
    match v {
        Value::Null => Ok(None),
        other => Subscription::from_value(other)
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

// The API's request bodies are read in `crate::api`; re-exported here for
// the code that imported them from this module.
pub use crate::api::{read_extend, read_reset, read_usage};

/// Reads `options` (`{explain?, locale?}`).
pub fn read_options(v: Option<&Value>) -> (bool, Option<Locale>) {
    let explain = v
        .and_then(|o| o.get("explain"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let locale = v
        .and_then(|o| o.get("locale"))
        .and_then(Value::as_str)
        .and_then(Locale::parse);
    (explain, locale)
}

impl World {
    fn apply(&mut self, ev: &Value, path: &str) -> Result<(), String> {
        let now = at_ms(ev, path)?;
        if let Some(s) = ev.get("subscription") {
            self.sub = sub_of(s)?;
        }
        let op = ev.get("op").and_then(Value::as_str).unwrap_or("reserve");
        let hold = |ev: &Value| {
            ev.get("hold")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("{path}.hold: required"))
        };
        match op {
            "reserve" => {
                let action = Action::from_value(ev.get("action").unwrap_or(&Value::Null))
                    .map_err(|e| format!("{path}.action: {e}"))?;
                let key = ev.get("key").and_then(Value::as_str);
                let fp =
                    crate::idem::fingerprint("reserve", ev.get("action").unwrap_or(&Value::Null));
                let idem = key.map(|key| crate::idem::Idem {
                    key,
                    fingerprint: &fp,
                });
                let d = self
                    .engine
                    .reserve(
                        &mut self.ledger,
                        self.sub.as_ref(),
                        &action,
                        now,
                        idem,
                        &Options::default(),
                    )
                    .map_err(|_| format!("{path}: idempotency_key_reused"))?;
                if let Some(want) = ev.get("expect_allowed").and_then(Value::as_bool) {
                    if d.allowed != want {
                        return Err(format!("{path}: expected allowed={want}, got {d:?}"));
                    }
                }
                if let (Some(c), Some(h)) = (ev.get("commit"), &d.hold) {
                    let u = read_usage(c).map_err(|e| format!("{path}.commit: {e}"))?;
                    self.engine
                        .commit(&mut self.ledger, &h.id, &u, now)
                        .map_err(|e| format!("{path}: commit failed: {e:?}"))?;
                }
            }
            "commit" => {
                let u = read_usage(ev.get("usage").unwrap_or(&json!({})))
                    .map_err(|e| format!("{path}.usage: {e}"))?;
                let _ = self.engine.commit(&mut self.ledger, &hold(ev)?, &u, now);
            }
            "release" => {
                let _ = self.engine.release(&mut self.ledger, &hold(ev)?, now);
            }
            "expire" => {
                self.engine.maintain(&mut self.ledger, now);
            }
            "reset" => {
                // The event carries `at` and `op` too: read only the reset body.
                let mut body = serde_json::Map::new();
                for k in ["metrics", "windows"] {
                    if let Some(v) = ev.get(k) {
                        body.insert(k.to_string(), v.clone());
                    }
                }
                let (m, w) =
                    read_reset(&Value::Object(body)).map_err(|e| format!("{path}: {e}"))?;
                self.engine.reset(
                    &mut self.ledger,
                    (!m.is_empty()).then_some(&m[..]),
                    (!w.is_empty()).then_some(&w[..]),
                );
            }
            "discount_put" => {
                let code = ev
                    .get("code")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{path}.code: required"))?;
                let rule = DiscountRule::from_value(ev.get("rule").unwrap_or(&json!({})))
                    .map_err(|e| format!("{path}.rule: {e}"))?;
                self.discounts
                    .entry(code.to_string())
                    .and_modify(|s| s.rule = rule.clone())
                    .or_insert_with(|| DiscountState::new(code, rule));
            }
            "redeem" => {
                let code = ev.get("code").and_then(Value::as_str).unwrap_or("");
                let user = ev.get("user").and_then(Value::as_str).unwrap_or("u1");
                if let Some(s) = self.discounts.get_mut(code) {
                    if let Ok(r) = s.redeem(user, self.sub.as_ref(), now / 1000) {
                        // A code's grant reaches the books in the same step
                        // (the Worker's hand-over finishes before it answers).
                        let handover = s.handover(user, &r, now / 1000);
                        if let Some(h) = handover.filter(|h| h.user == self.owner) {
                            let g = crate::credits::read_grant(&h.grant, now / 1000, &h.grant_id)
                                .map_err(|e| format!("{path}: the code's grant: {e}"))?;
                            self.engine.maintain(&mut self.ledger, now);
                            self.ledger.add_grant(g);
                        }
                    }
                }
            }
            // Credits (SPEC §9): an admin grant and its revocation.
            "grant" => {
                let id = self.ledger.new_grant_id();
                let g = crate::credits::read_grant(
                    ev.get("grant").unwrap_or(&Value::Null),
                    now / 1000,
                    &id,
                )
                .map_err(|e| format!("{path}.grant: {e}"))?;
                self.engine.maintain(&mut self.ledger, now);
                self.ledger.add_grant(g);
            }
            "revoke" => {
                let id = ev
                    .get("grant")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{path}.grant: required"))?;
                self.engine.maintain(&mut self.ledger, now);
                let _ = self.ledger.revoke_grant(id, now / 1000);
            }
            other => return Err(format!("{path}.op: unknown op {other:?}")),
        }
        Ok(())
    }
}

/// Replays one case and returns the final decision (or redemption) as JSON.
pub fn run_case(config: &Value, case: &Value) -> Result<Value, String> {
    let config = Config::from_value(config).map_err(|e| format!("config: {e}"))?;
    let mut w = World {
        engine: Engine::new(config),
        ledger: Ledger::default(),
        discounts: StrMap::new(),
        sub: sub_of(case.get("subscription").unwrap_or(&Value::Null))?,
        owner: case
            .get("user")
            .and_then(Value::as_str)
            .unwrap_or("u1")
            .to_string(),
    };
    if let Some(evs) = case.get("events").and_then(Value::as_array) {
        for (i, ev) in evs.iter().enumerate() {
            w.apply(ev, &format!("events[{i}]"))?;
        }
    }
    let now = at_ms(case, "case")?;
    let (explain, locale) = read_options(case.get("options"));
    let user = case.get("user").and_then(Value::as_str).unwrap_or("u1");
    let op = case.get("op").and_then(Value::as_str).unwrap_or("check");
    let action_v = case.get("action").unwrap_or(&Value::Null);
    if op == "usage" {
        let snap = w.engine.snapshot(&w.ledger, w.sub.as_ref(), now);
        return Ok(serde_json::to_value(snap).expect("serialises"));
    }
    if op == "redeem" {
        let code = case.get("code").and_then(Value::as_str).unwrap_or("");
        let state = w.discounts.get_mut(code);
        return Ok(match state {
            Some(s) => match s.redeem(user, w.sub.as_ref(), now / 1000) {
                Ok(r) => serde_json::to_value(r).expect("serialises"),
                Err(_) => {
                    let d = discount_decision(&w, code, user, now, explain, locale);
                    serde_json::to_value(d).expect("serialises")
                }
            },
            None => serde_json::to_value(discount_decision(&w, code, user, now, explain, locale))
                .expect("serialises"),
        });
    }
    let action = match Action::from_value(action_v) {
        Ok(a) => a,
        Err(e) => {
            return Ok(json!({
                "code": "bad_request",
                "status": 400,
                "errors": e.0,
            }))
        }
    };
    let discount = match &action {
        Action::Discount { code } => w.discounts.get(code),
        _ => None,
    };
    let opts = Options {
        explain,
        locale,
        discount,
        user: Some(user),
        origin: crate::ledger::Origin::Api,
    };
    let d = match op {
        "reserve" => {
            let key = case.get("key").and_then(Value::as_str);
            let fp = crate::idem::fingerprint("reserve", action_v);
            let idem = key.map(|key| crate::idem::Idem {
                key,
                fingerprint: &fp,
            });
            let mut ledger = w.ledger.clone();
            match w
                .engine
                .reserve(&mut ledger, w.sub.as_ref(), &action, now, idem, &opts)
            {
                Ok(d) => d,
                Err(_) => {
                    return Ok(json!({
                        "code": crate::idem::KeyReused::CODE,
                        "status": crate::idem::KeyReused::STATUS,
                    }))
                }
            }
        }
        // The browser's check: against the snapshot `GET /v1/usage` gives
        // at `at`, read back from its JSON as the package reads it.
        "check_snapshot" => {
            let snap = w.engine.snapshot(&w.ledger, w.sub.as_ref(), now);
            let text = serde_json::to_string(&snap).expect("serialises");
            let snap: crate::snapshot::Snapshot =
                serde_json::from_str(&text).map_err(|e| format!("snapshot: {e}"))?;
            w.engine
                .check_snapshot(&snap, w.sub.as_ref(), &action, now, &opts)
        }
        _ => w
            .engine
            .check(&w.ledger, w.sub.as_ref(), &action, now, &opts),
    };
    Ok(serde_json::to_value(d).expect("a decision serialises"))
}

fn discount_decision(
    w: &World,
    code: &str,
    user: &str,
    now: i64,
    explain: bool,
    locale: Option<Locale>,
) -> crate::decision::Decision {
    let action = Action::Discount {
        code: code.to_string(),
    };
    w.engine.check(
        &w.ledger,
        w.sub.as_ref(),
        &action,
        now,
        &Options {
            origin: crate::ledger::Origin::Api,
            explain,
            locale,
            discount: w.discounts.get(code),
            user: Some(user),
        },
    )
}

/// `None` when `actual` matches every key of `expected` (recursively);
/// otherwise the path of the first difference and both values.
pub fn subset_mismatch(expected: &Value, actual: &Value, path: &str) -> Option<String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e.iter().find_map(|(k, ev)| {
            let p = crate::json::join(path, k);
            match a.get(k) {
                Some(av) => subset_mismatch(ev, av, &p),
                None if ev.is_null() => None,
                None => Some(format!("{p}: missing, expected {ev}")),
            }
        }),
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Some(format!(
                    "{path}: expected {} elements, got {}: {actual}",
                    e.len(),
                    a.len()
                ));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .find_map(|(i, (ev, av))| subset_mismatch(ev, av, &crate::json::index(path, i)))
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => None,
        (e, a) if e == a => None,
        (e, a) => Some(format!("{path}: expected {e}, got {a}")),
    }
}

/// Runs every case of a vector file; returns one line per failure.
pub fn run_file(text: &str) -> Result<usize, Vec<String>> {
    let v: Value = serde_json::from_str(text).map_err(|e| vec![format!("invalid JSON: {e}")])?;
    let config = v.get("config").cloned().unwrap_or(Value::Null);
    let cases = v
        .get("cases")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let name = case.get("name").and_then(Value::as_str).unwrap_or("?");
        let cfg = case.get("config").unwrap_or(&config);
        match run_case(cfg, case) {
            Err(e) => failures.push(format!("case {i} ({name}): {e}")),
            Ok(d) => {
                let expect = case.get("expect").unwrap_or(&Value::Null);
                if let Some(m) = subset_mismatch(expect, &d, "") {
                    failures.push(format!("case {i} ({name}): {m}\n  decision: {d}"));
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(cases.len())
    } else {
        Err(failures)
    }
}
