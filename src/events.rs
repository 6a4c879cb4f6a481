//! Events (SPEC §10): what happened to a user's books that the platform may
//! act on — a message, an email, a top-up offer.
//!
//! | type              | raised when |
//! |-------------------|-------------|
//! | `limit.warning`   | an allowed reserve takes a limit past a `warn_at` threshold (the decision's `warnings`, once per limit per period) |
//! | `limit.reached`   | an allowed reserve takes a limit to its `max`, once per limit per period |
//! | `credits.granted` | a grant is created |
//! | `credits.low`     | a grant's remaining falls below 10 % of its amount |
//! | `credits.expired` | a grant with something left passes its expiry |
//! | `hold.expired`    | a hold expired (housekeeping or the alarm) |
//!
//! [`raise`] is pure: a function of the books before ([`Before`]) and after a
//! change, the decision the change made (if any), the holds housekeeping
//! expired, and `now`. It only numbers the events in the books
//! (`next_event`), so the shell stores the events in the same write as the
//! change that raised them and delivers them later: an event is never lost
//! between the change and its delivery, and a retry carries the same `id`.

use crate::strmap::StrMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::decision::{Amount, Decision, Warning};
use crate::ledger::{ClosedHold, Ledger, Warned};
use crate::limit::Metric;
use crate::time::{rfc3339, secs};

/// A grant is low below this share of its amount (per cent).
pub const LOW_PERCENT: u64 = 10;

/// One event, as delivered and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `<user>:<n>`: unique per user and stable across deliveries.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub user: String,
    /// RFC 3339.
    pub at: String,
    pub data: Value,
}

/// What [`raise`] needs to know of the books before a change.
#[derive(Debug, Clone, Default)]
pub struct Before {
    /// Remaining per grant id.
    grants: StrMap<u64>,
    warned: StrMap<Warned>,
}

impl Before {
    pub fn of(ledger: &Ledger) -> Before {
        Before {
            grants: ledger
                .grants
                .iter()
                .map(|g| (g.id.clone(), g.remaining))
                .collect(),
            warned: ledger.warned.clone(),
        }
    }
}

fn is_low(remaining: u64, amount: u64) -> bool {
    u128::from(remaining) * 100 < u128::from(amount) * u128::from(LOW_PERCENT)
}

/// The events a change raised, numbered from the books' `next_event` (which
/// this advances). `decision`: the decision of a reserve, if the change was
/// one (a replayed idempotency key raises nothing: its warnings were raised
/// when it was first decided). `expired`: the holds housekeeping expired.
pub fn raise(
    user: &str,
    before: &Before,
    after: &mut Ledger,
    decision: Option<&Decision>,
    expired: &[ClosedHold],
    now_ms: i64,
) -> Vec<Event> {
    let now = secs(now_ms);
    let mut out: Vec<(&str, Value)> = Vec::new();
    for c in expired {
        let hold = c.hold.as_ref();
        out.push((
            "hold.expired",
            json!({
                "hold_id": c.id,
                "kind": c.kind,
                "model": c.model,
                "created_at": hold.map(|h| rfc3339(h.created)),
                "expired_at": hold.map_or_else(|| rfc3339(c.closed_at), |h| rfc3339(h.expires)),
                "charged": c.charged,
            }),
        ));
    }
    // A fresh decision changed what was warned; a replayed one did not.
    if let Some(d) = decision.filter(|d| d.allowed && before.warned != after.warned) {
        let w = |w: &Warning| serde_json::to_value(w).unwrap_or(Value::Null);
        out.extend(d.warnings.iter().map(|x| ("limit.warning", w(x))));
        out.extend(d.reached.iter().map(|x| {
            let mut v = w(x);
            if let Some(o) = v.as_object_mut() {
                o.remove("message");
                o.remove("threshold");
            }
            ("limit.reached", v)
        }));
    }
    for g in &after.grants {
        let info = || serde_json::to_value(g.info()).unwrap_or(Value::Null);
        match before.grants.get(&g.id) {
            None => out.push(("credits.granted", json!({ "grant": info() }))),
            Some(&was) => {
                if g.revoked_at.is_none() && !is_low(was, g.amount) && is_low(g.remaining, g.amount)
                {
                    out.push(("credits.low", json!({ "grant": info() })));
                }
            }
        }
    }
    // Expiries: every grant with something left whose expiry falls in
    // (last look, now]. Books that never looked (older ones) start now, so
    // grants that expired before events existed raise nothing.
    if after.expiries_seen == 0 {
        after.expiries_seen = now;
    } else if now > after.expiries_seen {
        let since = after.expiries_seen;
        for g in &after.grants {
            let expired_now = g.expires_at.is_some_and(|e| since < e && e <= now);
            if expired_now && g.revoked_at.is_none() && g.remaining > 0 {
                let m = g.metric().unwrap_or(Metric::Tokens);
                out.push((
                    "credits.expired",
                    json!({ "grant": g.info(), "unused": Amount::of(m, g.remaining) }),
                ));
            }
        }
        after.expiries_seen = now;
    }
    let at = rfc3339(now);
    out.into_iter()
        .map(|(kind, data)| {
            let n = after.next_event.max(1);
            after.next_event = n + 1;
            Event {
                id: format!("{user}:{n}"),
                kind: kind.to_string(),
                user: user.to_string(),
                at: at.clone(),
                data,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, Options};
    use crate::{Action, Config, Subscription};

    const NOW: i64 = 1_767_000_000_000;

    fn engine() -> Engine {
        let cfg = json!({
            "models": [{"id": "m", "free": false}],
            "plans": [{"id": "p", "active": true, "tier": 1, "models": ["*"],
                "limits": [{"metric": "messages", "window": "day", "max": 10},
                           {"metric": "tokens", "window": "day", "max": 1000, "overflow": "credits"}]}]
        });
        Engine::new(Config::from_value(&cfg).expect("config"))
    }

    fn sub() -> Subscription {
        serde_json::from_value(json!({"id": "s1", "plan": "p", "active": true,
            "starts_at": 0, "ends_at": null}))
        .unwrap()
    }

    fn msg() -> Action {
        Action::from_value(
            &json!({"type": "message", "model": "m", "input_tokens": 1, "max_output_tokens": 1}),
        )
        .expect("action")
    }

    fn reserve(e: &Engine, l: &mut Ledger, t: i64, key: &str) -> (Decision, Vec<Event>) {
        let before = Before::of(l);
        let expired = e.maintain(l, t);
        let s = sub();
        let idem = crate::idem::Idem {
            key,
            fingerprint: "f",
        };
        let d = e
            .reserve(l, Some(&s), &msg(), t, Some(idem), &Options::default())
            .expect("reserve");
        let ev = raise("u1", &before, l, Some(&d), &expired, t);
        (d, ev)
    }

    fn kinds(ev: &[Event]) -> Vec<&str> {
        ev.iter().map(|e| e.kind.as_str()).collect()
    }

    #[test]
    fn warning_then_reached_once_per_period_and_ids_are_numbered() {
        let e = engine();
        let mut l = Ledger::default();
        let mut all = Vec::new();
        for i in 0..10 {
            let (d, ev) = reserve(&e, &mut l, NOW + i, &format!("k{i}"));
            assert!(d.allowed, "{i}");
            all.extend(ev);
        }
        // 8th message passes 80 % of messages, 10th reaches the max.
        let k: Vec<&str> = kinds(&all);
        assert_eq!(
            k.iter().filter(|k| **k == "limit.warning").count(),
            1,
            "{k:?}"
        );
        assert_eq!(
            k.iter().filter(|k| **k == "limit.reached").count(),
            1,
            "{k:?}"
        );
        let reached = all.iter().find(|e| e.kind == "limit.reached").unwrap();
        assert_eq!(reached.data["metric"], "messages");
        assert_eq!(reached.data["remaining"], 0);
        let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["u1:1", "u1:2"]);
        // A replayed key raises nothing again.
        let (_, ev) = reserve(&e, &mut l, NOW + 20, "k9");
        assert!(ev.is_empty(), "{ev:?}");
    }

    #[test]
    fn hold_expiry_raises_hold_expired_once() {
        let e = engine();
        let mut l = Ledger::default();
        let (d, _) = reserve(&e, &mut l, NOW, "a");
        let id = d.hold.unwrap().id;
        let later = NOW + 3_600_000;
        let before = Before::of(&l);
        let expired = e.maintain(&mut l, later);
        let ev = raise("u1", &before, &mut l, None, &expired, later);
        assert_eq!(kinds(&ev), ["hold.expired"]);
        assert_eq!(ev[0].data["hold_id"], id.as_str());
        let before = Before::of(&l);
        let expired = e.maintain(&mut l, later + 1000);
        assert!(raise("u1", &before, &mut l, None, &expired, later + 1000).is_empty());
    }

    #[test]
    fn grants_raise_granted_low_and_expired_once() {
        let e = engine();
        let mut l = Ledger::default();
        let t = secs(NOW);
        let before = Before::of(&l);
        let g = crate::credits::read_grant(
            &json!({"metric": "tokens", "amount": 100, "source": "promo",
                "expires_at": rfc3339(t + 3600)}),
            t,
            "g1",
        )
        .expect("grant");
        l.add_grant(g);
        let ev = raise("u1", &before, &mut l, None, &[], NOW);
        assert_eq!(kinds(&ev), ["credits.granted"]);
        assert_eq!(ev[0].data["grant"]["id"], "g1");
        // Spend down to 9 of 100: low once.
        let before = Before::of(&l);
        l.grants[0].remaining = 9;
        assert_eq!(
            kinds(&raise("u1", &before, &mut l, None, &[], NOW + 1)),
            ["credits.low"]
        );
        let before = Before::of(&l);
        l.grants[0].remaining = 5;
        assert!(raise("u1", &before, &mut l, None, &[], NOW + 2).is_empty());
        // Waking at the expiry (the books ask for it) raises credits.expired once.
        assert_eq!(l.next_wakeup(), Some(t + 3600));
        let at = (t + 3600) * 1000;
        let before = Before::of(&l);
        let expired = e.maintain(&mut l, at);
        let ev = raise("u1", &before, &mut l, None, &expired, at);
        assert_eq!(kinds(&ev), ["credits.expired"]);
        assert_eq!(ev[0].data["unused"], 5);
        let before = Before::of(&l);
        assert!(raise("u1", &before, &mut l, None, &[], at + 5000).is_empty());
        assert_eq!(l.next_wakeup(), None);
        // Numbering survives storage.
        let l2 = Ledger::from_json(&l.main_json()).unwrap();
        assert_eq!(l2.next_event, l.next_event);
        assert_eq!(l2.expiries_seen, l.expiries_seen);
    }
}
