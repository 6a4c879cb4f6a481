//! The readers that read our own JSON back without serde's derive
//! (`Snapshot::from_value`, what the npm package reads a snapshot with;
//! `Decision::from_value`, what the Worker reads a stored idempotent answer
//! and the gateway its reserve answer with; the stored forms of a user's
//! subscription and of a discount code's rule and answers) accept the same
//! documents as the derive and read them the same: a full document, then
//! every field of it removed, set to `null`, or set to a value of every
//! other JSON kind, plus an unknown field beside every field. (The books'
//! readers have their own such tests: `ledger/read_tests.rs`.)

use crate::decision::Decision;
use crate::discount::{DiscountRule, Redemption};
use crate::edits::{changed, mutations};
use crate::import::ImportAnswer;
use crate::snapshot::Snapshot;
use crate::subscription::Subscription;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::fmt::Debug;

fn full() -> Value {
    json!({
        "subscription": {"id": "sub_1", "plan": "pro", "active": true,
                         "starts_at": 1_700_000_000, "ends_at": 1_800_000_000},
        "plan": "pro",
        "as_of": "2026-12-07T10:00:00Z",
        "limits": [
            {"metric": "messages", "scope": "all", "window": "day",
             "limit": 100, "used": 3, "remaining": 97,
             "resets_at": "2026-12-08T00:00:00Z"},
            {"metric": "cost_usd", "scope": "gpt-4o", "window": "chat", "chat_id": null,
             "limit": 1.5, "used": 0.25, "requested": 0.000001, "remaining": 1.25,
             "resets_at": null, "credits": 2, "from_credits": 0.5},
            {"metric": "tokens", "scope": "all", "window": "chat", "chat_id": "c1",
             "limit": 1000, "used": 10, "remaining": 990}
        ],
        "holds": [
            {"id": "h1", "type": "message", "model": "gpt-4o",
             "created_at": "2026-12-07T09:59:00Z", "expires_at": "2026-12-07T10:04:00Z"},
            {"id": "h2", "type": "image",
             "created_at": "2026-12-07T09:59:00Z", "expires_at": "2026-12-07T10:04:00Z"}
        ],
        "grants": [
            {"id": "g1", "metric": "tokens", "scope": "all", "amount": 500, "remaining": 200,
             "source": "promo", "starts_at": "2026-12-01T00:00:00Z",
             "expires_at": "2027-01-01T00:00:00Z", "revoked_at": "2026-12-05T00:00:00Z"},
            {"id": "g2", "metric": "cost_usd", "scope": "gpt-4o", "amount": 2.5,
             "remaining": 1, "source": "purchase", "expires_at": null}
        ]
    })
}

/// Both readers on the same text: equal values, or both refuse.
fn same<T: DeserializeOwned + PartialEq + Debug>(
    v: &Value,
    what: &str,
    read: fn(&Value) -> Result<T, String>,
) {
    let text = v.to_string();
    let derived = serde_json::from_str::<T>(&text);
    let ours = read(v);
    match (&derived, &ours) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}: read differently"),
        (Err(_), Err(e)) => assert!(!e.is_empty(), "{what}: refused without a reason"),
        _ => panic!("{what}: derive {derived:?}, from_value {ours:?}\n{text}"),
    }
}

/// `doc` and every document one change away from it read alike by both
/// readers; returns (documents, refused).
fn agree<T: DeserializeOwned + PartialEq + Debug>(
    doc: &Value,
    read: fn(&Value) -> Result<T, String>,
) -> (usize, usize) {
    same(doc, "full document", read);
    assert!(read(doc).is_ok());
    let mut edits = Vec::new();
    mutations(doc, "", &mut edits);
    let mut n = 0;
    let mut refused = 0;
    for (at, to) in edits {
        let what = format!("{at} := {to:?}");
        if let Some(m) = changed(doc, &at, to) {
            same(&m, &what, read);
            n += 1;
            refused += usize::from(read(&m).is_err());
        }
    }
    (n, refused)
}

#[test]
fn from_value_reads_what_the_derive_reads() {
    let (n, refused) = agree(&full(), |v| {
        Snapshot::from_value(v).map_err(|p| p.to_string())
    });
    // Both kinds of answer are exercised.
    assert!(n > 1000, "{n} documents");
    assert!(refused > n / 3 && refused < n, "{refused} of {n} refused");
}

/// A decision with every field the serialiser may write: a denial's
/// violations (with and without a limit's fields beside them), an allowed
/// answer's hold, credits, warnings and fallback.
fn decision() -> Value {
    json!({
        "allowed": false, "status": 429, "code": "window_exceeded",
        "message": "سقف پیام روزانه", "retry_after_s": 3600,
        "violations": [
            {"code": "window_exceeded", "status": 429,
             "metric": "messages", "scope": "all", "window": "day",
             "limit": 100, "used": 100, "requested": 1, "remaining": 0,
             "resets_at": "2026-12-08T00:00:00Z", "credits": 5, "from_credits": 1,
             "retry_after_s": 3600, "message": "سقف پیام روزانه"},
            {"code": "file_too_large", "status": 413, "file": "a.pdf", "message": "too large"},
            {"code": "model_not_allowed", "status": 403, "model": "gpt-4o",
             "metric": "cost_usd", "scope": "gpt-4o", "window": "chat", "chat_id": null,
             "limit": 1.5, "used": 0.25, "remaining": 1.25, "resets_at": null,
             "message": "no"}
        ],
        "limits": [
            {"metric": "tokens", "scope": "all", "window": "chat", "chat_id": "c1",
             "limit": 1000, "used": 10, "remaining": 990, "resets_at": null}
        ],
        "hold": {"id": "h1", "expires_at": "2026-12-07T10:05:00Z"},
        "from_credits": {"tokens": 500, "cost_usd": 0.25},
        "warnings": [
            {"metric": "messages", "scope": "all", "window": "day", "chat_id": "c1",
             "threshold": 0.8, "used": 80, "limit": 100, "remaining": 20,
             "resets_at": "2026-12-08T00:00:00Z", "message": "۸۰٪"},
            {"metric": "cost_usd", "scope": "paid", "window": "month", "threshold": 1,
             "used": 2.5, "limit": 2.5, "remaining": 0, "resets_at": null, "message": "m"}
        ],
        "model": "openai/gpt-4o-mini", "fallback_from": "openai/gpt-4o"
    })
}

#[test]
fn decisions_read_back_as_the_derive_reads_them() {
    let (n, refused) = agree(&decision(), |v| {
        Decision::from_value(v).map_err(|p| p.to_string())
    });
    assert!(n > 1000, "{n} documents");
    assert!(refused > n / 3 && refused < n, "{refused} of {n} refused");
    // What the engine writes reads back as it was written.
    let d: Decision = serde_json::from_value(decision()).unwrap();
    let text = serde_json::to_string(&d).unwrap();
    let back = Decision::from_value(&serde_json::from_str(&text).unwrap()).unwrap();
    assert_eq!(back, d);
}

#[test]
fn problems_name_the_field() {
    let mut doc = full();
    doc["limits"][1]["used"] = json!(-1);
    doc["grants"][0]["source"] = json!("gift");
    doc.as_object_mut().unwrap().remove("as_of");
    let p = Snapshot::from_value(&doc).unwrap_err();
    let paths: Vec<&str> = p.0.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["as_of", "limits[1].used", "grants[0].source"],
        "{p}"
    );
}

/// What the Worker stores of a discount code, and a user's subscription:
/// read back by the core's stored-form readers as the derive reads them.
#[test]
fn stored_rules_answers_and_subscriptions_read_as_the_derive_reads_them() {
    let rule = json!({
        "max_uses": 10, "max_uses_per_user": 2, "expires_at": 1_800_000_000,
        "plans": ["pro", "team*"],
        "grant": {"metric": "cost_usd", "scope": "paid", "amount": 2.5, "expires_in_days": 30}
    });
    let (n, refused) = agree(&rule, DiscountRule::from_stored);
    assert!(
        n > 200 && refused > 0 && refused < n,
        "{refused} of {n} refused"
    );
    let answer = json!({"redeemed": true, "code": "NOWRUZ", "uses": 3, "uses_by_user": 1,
                        "grant_id": "discount:NOWRUZ:3"});
    let (n, refused) = agree(&answer, Redemption::from_stored);
    assert!(
        n > 100 && refused > 0 && refused < n,
        "{refused} of {n} refused"
    );
    let sub = json!({"id": "sub_1", "plan": "pro", "active": true,
                     "starts_at": 1_700_000_000, "ends_at": 1_800_000_000});
    let (n, refused) = agree(&sub, |v| {
        Subscription::from_stored(v).map_err(|p| p.to_string())
    });
    assert!(
        n > 100 && refused > 0 && refused < n,
        "{refused} of {n} refused"
    );
    // What the serialiser writes, defaults included, reads back as written.
    for r in [
        DiscountRule::default(),
        serde_json::from_value::<DiscountRule>(rule).unwrap(),
    ] {
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(DiscountRule::from_stored(&v).unwrap(), r);
    }
}

/// An import's answer, as stored under its idempotency key.
#[test]
fn import_answers_read_as_the_derive_reads_them() {
    let answer = json!({"imported": 2, "limits": [
        {"metric": "tokens", "scope": "all", "window": "1h",
         "limit": 1000, "used": 600, "remaining": 400, "resets_at": "2026-11-23T20:21:01Z"}
    ]});
    let (n, refused) = agree(&answer, |v| {
        ImportAnswer::from_value(v).map_err(|p| p.to_string())
    });
    assert!(
        n > 200 && refused > 0 && refused < n,
        "{refused} of {n} refused"
    );
}
