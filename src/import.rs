//! Usage import (SPEC §12): moving users from another system without handing
//! them a fresh quota.
//!
//! `POST /v1/admin/users/{id}/usage` carries `{subscription, entries:
//! [{metric, scope?, window, chat_id?, used}]}`. Each entry names one limit
//! of the subscription's plan and adds `used` to that limit's *current*
//! period (today's day, this month, the subscription's count, the current
//! rolling bucket, the chat's count): exactly where a reserve made now would
//! have counted it, so it leaves the window when such usage would.
//!
//! All or nothing: every entry is checked first (shape by [`read_import`],
//! then against the plan by [`Engine::import`]), every bad entry is listed
//! with its path (`entries[3].window`), and nothing is added unless all are
//! good. An `Idempotency-Key` replays the first answer and never adds twice;
//! the same key with another request (another body, or a reserve) is
//! refused, as on every route ([`crate::idem`]).

use crate::decision::LimitState;
use crate::engine::Engine;
use crate::fields::{fields, list, uint, whole};
use crate::idem::{Idem, KeyReused};
use crate::json::{index, join, Problems, Reader};
use crate::ledger::{IdemEntry, Ledger};
use crate::limit::{Limit, Metric, Scope, Window};
use crate::subscription::Subscription;
use crate::time::secs;
use crate::window;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One imported figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportEntry {
    pub metric: Metric,
    pub scope: Scope,
    pub window: Window,
    /// Only (and always) for a `chat` window.
    pub chat_id: Option<String>,
    /// Micro-dollars for `cost_usd` (given in dollars), else a count.
    pub used: u64,
}

/// A whole import request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRequest {
    /// The subscription the usage belongs to: its plan says which limits
    /// exist, its id keys the `subscription` window.
    pub subscription: Subscription,
    pub entries: Vec<ImportEntry>,
}

/// The answer: how many entries were added and every limit they touched as
/// it stands afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportAnswer {
    pub imported: usize,
    pub limits: Vec<LimitState>,
}

impl ImportAnswer {
    /// Reads an answer back (a stored idempotent one), as serde's derive
    /// reads it (`crate::fields`): no derived reader in the Worker.
    pub fn from_value(v: &Value) -> Result<ImportAnswer, Problems> {
        whole(v, |r, v| {
            let mut f = fields(r, v, "")?;
            let imported = f.req("imported", |r, v, at| {
                uint(r, v, at).and_then(|n| usize::try_from(n).ok())
            });
            let limits = f.req("limits", |r, v, at| list(r, v, at, LimitState::read));
            Some(ImportAnswer {
                imported: imported?,
                limits: limits?,
            })
        })
    }
}

/// Entries per request: a body is at most 64 KiB anyway; this keeps the
/// work of one request bounded.
pub const MAX_ENTRIES: usize = 1000;

/// The route name an import's [`crate::idem::fingerprint`] is taken with.
pub const ROUTE: &str = "import";

/// Why an import added nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportRefused {
    /// Entries that name no limit of the plan, or an unknown plan (400).
    Invalid(Problems),
    /// The key came with another request in the last day (422).
    KeyReused(KeyReused),
}

const KEYS: &[&str] = &["subscription", "entries"];
const ENTRY_KEYS: &[&str] = &["metric", "scope", "window", "chat_id", "used"];

/// Reads an import body; every malformed entry is listed.
pub fn read_import(v: &Value) -> Result<ImportRequest, Problems> {
    let mut r = Reader::new();
    let Some(m) = r.object(v, "") else {
        return Err(Problems(r.problems));
    };
    r.known_keys(m, "", KEYS);
    let subscription = r
        .required(m, "", "subscription")
        .and_then(|s| Subscription::read(&mut r, s, "subscription"));
    let mut entries = Vec::new();
    if let Some(list) = r
        .required(m, "", "entries")
        .and_then(|e| r.array(e, "entries"))
    {
        if list.len() > MAX_ENTRIES {
            r.err(
                "entries",
                format!("at most {MAX_ENTRIES} entries per request; split the import"),
            );
        }
        for (i, e) in list.iter().enumerate().take(MAX_ENTRIES) {
            if let Some(entry) = read_entry(&mut r, e, &index("entries", i)) {
                entries.push(entry);
            }
        }
    }
    let req = ImportRequest {
        subscription: subscription.unwrap_or_else(|| Subscription {
            id: String::new(),
            plan: String::new(),
            active: false,
            starts_at: 0,
            ends_at: None,
        }),
        entries,
    };
    r.finish(req)
}

fn read_entry(r: &mut Reader, v: &Value, path: &str) -> Option<ImportEntry> {
    let m = r.object(v, path)?;
    r.known_keys(m, path, ENTRY_KEYS);
    let metric = r.req_str(m, path, "metric").and_then(|s| {
        Metric::parse(s).or_else(|| {
            r.err(join(path, "metric"), format!("unknown metric {s:?}"));
            None
        })
    });
    let scope = match r.opt_str(m, path, "scope") {
        None => Some(Scope::All),
        Some(s) => r.check_id(s, &join(path, "scope"), 256).map(Scope::parse),
    };
    let window = r.req_str(m, path, "window").and_then(|s| {
        Window::parse(s)
            .map_err(|e| r.err(join(path, "window"), e))
            .ok()
    });
    let chat_id = r
        .opt_str(m, path, "chat_id")
        .and_then(|c| r.check_id(c, &join(path, "chat_id"), 256))
        .map(str::to_string);
    match (window, &chat_id) {
        (Some(Window::Chat), None) => r.err(
            join(path, "chat_id"),
            "required for a chat window: the chat the usage belongs to",
        ),
        (Some(w), Some(_)) if w != Window::Chat => {
            r.err(join(path, "chat_id"), "only a chat window has a chat_id")
        }
        _ => {}
    }
    let used = match (metric, r.required(m, path, "used")) {
        (_, None) => None,
        (Some(Metric::CostUsd), Some(u)) => r.as_usd_micros(u, &join(path, "used")),
        (_, Some(u)) => r.as_count(u, &join(path, "used")),
    };
    Some(ImportEntry {
        metric: metric?,
        scope: scope?,
        window: window?,
        chat_id,
        used: used?,
    })
}

impl Engine {
    /// Adds each entry's `used` to the current period of the plan's matching
    /// limit, all or nothing. An entry that names no limit of the
    /// subscription's plan is refused with its path; so is an unknown plan.
    /// With `idem`, the same key and request answer the first answer again
    /// and add nothing; the same key with another request is refused.
    pub fn import(
        &self,
        ledger: &mut Ledger,
        req: &ImportRequest,
        now_ms: i64,
        idem: Option<Idem<'_>>,
    ) -> Result<ImportAnswer, ImportRefused> {
        let now = secs(now_ms);
        if let Some(k) = idem {
            if let Some(e) = ledger.idem_get(k.key, now) {
                if e.fp != k.fingerprint {
                    return Err(ImportRefused::KeyReused(KeyReused));
                }
                // An answer that no longer reads is still a key that was
                // used: refused, never imported a second time.
                return crate::fields::from_text(&e.answer, ImportAnswer::from_value)
                    .ok_or(ImportRefused::KeyReused(KeyReused));
            }
        }
        let sub = &req.subscription;
        let mut r = Reader::new();
        let Some(plan) = self.config.plan(&sub.plan) else {
            return Err(ImportRefused::Invalid(Problems::one(
                "subscription.plan",
                format!("no plan {:?} in the current config", sub.plan),
            )));
        };
        let mut targets: Vec<(&ImportEntry, &Limit)> = Vec::with_capacity(req.entries.len());
        for (i, e) in req.entries.iter().enumerate() {
            let found = plan
                .limits
                .iter()
                .find(|l| l.metric == e.metric && l.scope == e.scope && l.window == e.window);
            match found {
                Some(l) => targets.push((e, l)),
                None => r.err(
                    index("entries", i),
                    format!(
                        "plan {:?} has no limit on {} · {} · {}",
                        plan.id, e.metric, e.scope, e.window
                    ),
                ),
            }
        }
        r.finish(()).map_err(ImportRefused::Invalid)?;
        for (e, l) in &targets {
            let ctx = self.win_ctx(now, Some(sub), e.chat_id.as_deref());
            let k = l.key();
            let mut slot = ledger.counters.remove(&k);
            window::charge(&mut slot, l.window, &ctx, e.used);
            if let Some(c) = slot {
                ledger.counters.insert(k, c);
            }
        }
        let chats: Vec<Option<&str>> = targets
            .iter()
            .filter_map(|(e, _)| e.chat_id.as_deref().map(Some))
            .collect();
        let limits = self
            .limit_states(ledger, Some(sub), &chats, false, now)
            .into_iter()
            .filter(|s| {
                targets.iter().any(|(e, l)| {
                    s.metric == l.metric.as_str()
                        && s.scope == l.scope.as_str()
                        && s.window == l.window.to_string()
                        && s.chat_id.clone().flatten() == e.chat_id
                })
            })
            .collect();
        let answer = ImportAnswer {
            imported: targets.len(),
            limits,
        };
        if let Some(k) = idem {
            ledger.idem_put(
                k.key,
                IdemEntry {
                    at: now,
                    fp: k.fingerprint.to_string(),
                    answer: serde_json::to_string(&answer).unwrap_or_default(),
                },
            );
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;
    use crate::config::Config;
    use crate::decision::Amount;
    use crate::engine::Options;
    use serde_json::json;

    const NOW: i64 = 1_795_461_660_000; // 2026-11-23T19:21:00Z

    fn engine() -> Engine {
        Engine::new(
            Config::from_value(&json!({
                "models": [{"id": "m", "free": false}, {"id": "f:free", "free": true}],
                "plans": [{"id": "basic", "models": ["*"], "limits": [
                    {"metric": "tokens", "window": "1h", "max": 1000},
                    {"metric": "tokens", "window": "day", "max": 5000},
                    {"metric": "tokens", "scope": "free", "window": "subscription", "max": 9000},
                    {"metric": "messages", "window": "month", "max": 100},
                    {"metric": "cost_usd", "window": "subscription", "max": 5},
                    {"metric": "files", "window": "chat", "max": 3}
                ]}]
            }))
            .unwrap(),
        )
    }

    fn body(entries: Value) -> Value {
        json!({
            "subscription": {"id": "s1", "plan": "basic", "active": true, "starts_at": 0, "ends_at": null},
            "entries": entries,
        })
    }

    fn state<'a>(a: &'a ImportAnswer, metric: &str, window: &str) -> &'a LimitState {
        a.limits
            .iter()
            .find(|l| l.metric == metric && l.window == window)
            .unwrap()
    }

    #[test]
    fn adds_to_the_current_period_of_each_limit() {
        let e = engine();
        let mut l = Ledger::default();
        let req = read_import(&body(json!([
            {"metric": "tokens", "window": "day", "used": 4500},
            {"metric": "tokens", "scope": "free", "window": "subscription", "used": 8000},
            {"metric": "messages", "window": "month", "used": 60},
            {"metric": "cost_usd", "window": "subscription", "used": 1.25},
            {"metric": "files", "window": "chat", "chat_id": "c9", "used": 3}
        ])))
        .unwrap();
        let a = e.import(&mut l, &req, NOW, None).unwrap();
        assert_eq!(a.imported, 5);
        assert_eq!(state(&a, "tokens", "day").used, Amount::Count(4500));
        assert_eq!(state(&a, "messages", "month").remaining, Amount::Count(40));
        assert_eq!(
            state(&a, "cost_usd", "subscription").used,
            Amount::Usd(1_250_000)
        );
        assert_eq!(
            state(&a, "files", "chat")
                .chat_id
                .clone()
                .flatten()
                .as_deref(),
            Some("c9")
        );
        // The imported usage decides like usage counted here.
        let sub = req.subscription.clone();
        let msg = Action::from_value(&json!({"type": "message", "model": "m",
            "input_tokens": 400, "max_output_tokens": 500, "kind": "send"}))
        .unwrap();
        let d = e.check(&l, Some(&sub), &msg, NOW, &Options::default());
        assert!(!d.allowed);
        assert_eq!(d.violations[0].limit.as_ref().unwrap().window, "day");
        let up = Action::from_value(&json!({"type": "upload", "chat_id": "c9",
            "files": [{"name": "a.txt", "size": 1}]}))
        .unwrap();
        assert!(
            !e.check(&l, Some(&sub), &up, NOW, &Options::default())
                .allowed
        );
        // The day's import leaves with the day (Tehran midnight is 20:30Z).
        let tomorrow = NOW + 2 * 3_600_000;
        let d = e.check(&l, Some(&sub), &msg, tomorrow, &Options::default());
        assert!(d.allowed, "{d:?}");
    }

    #[test]
    fn every_bad_entry_is_listed_and_nothing_changes() {
        let e = engine();
        let mut l = Ledger::default();
        let bad = body(json!([
            {"metric": "tokens", "window": "day", "used": 10},
            {"metric": "tokenz", "window": "day", "used": 1},
            {"metric": "tokens", "window": "1w", "used": 1},
            {"metric": "tokens", "window": "day", "used": -4},
            {"metric": "files", "window": "chat", "used": 1},
            {"metric": "tokens", "window": "day", "chat_id": "c", "used": 1},
            {"metric": "tokens", "window": "day", "usd": 1}
        ]));
        let p = read_import(&bad).unwrap_err();
        let paths: Vec<&str> = p.0.iter().map(|p| p.path.as_str()).collect();
        for want in [
            "entries[1].metric",
            "entries[2].window",
            "entries[3].used",
            "entries[4].chat_id",
            "entries[5].chat_id",
            "entries[6].usd",
            "entries[6].used",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
        assert!(!paths.iter().any(|p| p.starts_with("entries[0]")));
        // Well-formed, but naming limits the plan does not have.
        let req = read_import(&body(json!([
            {"metric": "tokens", "window": "day", "used": 10},
            {"metric": "tokens", "window": "week", "used": 1},
            {"metric": "images", "window": "day", "used": 1}
        ])))
        .unwrap();
        let Err(ImportRefused::Invalid(p)) = e.import(&mut l, &req, NOW, None) else {
            panic!("refused")
        };
        let paths: Vec<&str> = p.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["entries[1]", "entries[2]"]);
        assert_eq!(l, Ledger::default(), "a refused import changes nothing");
        let mut other = req.clone();
        other.subscription.plan = "gold".into();
        let Err(ImportRefused::Invalid(p)) = e.import(&mut l, &other, NOW, None) else {
            panic!("refused")
        };
        assert_eq!(p.0[0].path, "subscription.plan");
        assert!(read_import(&json!({"entries": []})).is_err());
    }

    #[test]
    fn the_same_key_adds_once() {
        let e = engine();
        let mut l = Ledger::default();
        let body = body(json!([{"metric": "tokens", "window": "1h", "used": 300}]));
        let req = read_import(&body).unwrap();
        let fp = crate::idem::fingerprint(ROUTE, &body);
        let k = |key| {
            Some(Idem {
                key,
                fingerprint: &fp,
            })
        };
        let a1 = e.import(&mut l, &req, NOW, k("k1")).unwrap();
        let a2 = e.import(&mut l, &req, NOW + 1000, k("k1")).unwrap();
        assert_eq!(a1, a2);
        assert_eq!(state(&a2, "tokens", "1h").used, Amount::Count(300));
        let a3 = e.import(&mut l, &req, NOW + 2000, k("k2")).unwrap();
        assert_eq!(state(&a3, "tokens", "1h").used, Amount::Count(600));
        let a4 = e.import(&mut l, &req, NOW + 3000, None).unwrap();
        assert_eq!(state(&a4, "tokens", "1h").used, Amount::Count(900));
        // The same key with another request: refused, nothing added.
        let other = Idem {
            key: "k1",
            fingerprint: "another",
        };
        let before = l.clone();
        assert_eq!(
            e.import(&mut l, &req, NOW + 4000, Some(other)),
            Err(ImportRefused::KeyReused(KeyReused))
        );
        assert_eq!(l, before);
    }

    /// Attack: a retried import whose stored answer no longer reads (another
    /// version wrote it, or storage damaged it) must not import again.
    #[test]
    fn a_key_whose_stored_answer_does_not_read_never_imports_again() {
        let e = engine();
        let mut l = Ledger::default();
        let body = body(json!([{"metric": "tokens", "window": "1h", "used": 300}]));
        let req = read_import(&body).unwrap();
        let fp = crate::idem::fingerprint(ROUTE, &body);
        let k = Idem {
            key: "k1",
            fingerprint: &fp,
        };
        e.import(&mut l, &req, NOW, Some(k)).unwrap();
        let counters = l.counters.clone();
        for answer in [
            "",
            "{",
            r#"{"imported":1}"#,
            r#"{"imported":-1,"limits":[]}"#,
        ] {
            l.idem.get_mut("k1").unwrap().answer = answer.to_string();
            let again = e.import(&mut l, &req, NOW + 1000, Some(k));
            assert_eq!(
                again,
                Err(ImportRefused::KeyReused(KeyReused)),
                "stored answer {answer:?}"
            );
            assert_eq!(l.counters, counters, "stored answer {answer:?}");
        }
    }
}
