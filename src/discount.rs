//! Discount codes: the pure rules on a code's state. Each code's state lives
//! in its own Durable Object, so redemptions of one code are serialised and
//! its caps hold under any concurrency.
//!
//! A code may carry a grant (SPEC §9, [`GrantTemplate`]): each redemption
//! adds it to the redeeming user's books. The code's counts and the user's
//! books live in two objects, so the grant a redemption hands over has an
//! id fixed by the redemption itself ([`grant_id`]: the code and its use
//! number): the user's books add a grant id once, whoever delivers it and
//! however often (see `worker/src/objects/discount_code.rs`).

use crate::decision::Code;
use crate::json::{Problems, Reader};
use crate::stored::{self, Obj, Path};
use crate::strmap::StrMap;
use crate::subscription::Subscription;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an operator sets on a code (`PUT /v1/admin/discounts/{code}`).
/// `None` caps mean no cap; `0` means no use at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DiscountRule {
    pub max_uses: Option<u64>,
    pub max_uses_per_user: Option<u64>,
    /// Unix seconds; the code works while `now < expires_at`.
    pub expires_at: Option<i64>,
    /// Plans whose subscribers may use it; `None`: every plan.
    pub plans: Option<Vec<String>>,
    /// The grant each redemption adds to the redeeming user (SPEC §9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantTemplate>,
}

/// A code's grant: `{metric, scope?, amount, expires_in_days?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantTemplate {
    pub metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// As the operator wrote it (USD for `cost_usd`): the user's books read
    /// it with the same reader as an admin grant, so both agree on units.
    pub amount: Value,
    /// The grant expires this many days after the redemption; `None`: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u64>,
}

/// At most 100 years.
const MAX_GRANT_DAYS: u64 = 36_500;

/// The id of the grant handed over by the `n`-th redemption of `code`
/// (`n` counts every user's): unique for the code's lifetime, and the same
/// on every retry of the hand-over.
pub fn grant_id(code: &str, n: u64) -> String {
    format!("discount:{code}:{n}")
}

impl GrantTemplate {
    fn read(r: &mut Reader, v: &Value, path: &str) -> Option<GrantTemplate> {
        let m = r.object(v, path)?;
        r.known_keys(m, path, &["metric", "scope", "amount", "expires_in_days"]);
        let days = r.opt_count(m, path, "expires_in_days");
        if days.is_some_and(|d| d == 0 || d > MAX_GRANT_DAYS) {
            r.err(
                crate::json::join(path, "expires_in_days"),
                format!("expected 1 to {MAX_GRANT_DAYS} days"),
            );
        }
        let t = GrantTemplate {
            metric: m
                .get("metric")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            scope: m.get("scope").and_then(Value::as_str).map(str::to_string),
            amount: m.get("amount").cloned().unwrap_or(Value::Null),
            expires_in_days: days,
        };
        // The rest is what the user's books will read: check the operator's
        // fields with their own reader now, so a code never carries a grant
        // they would refuse.
        let mut probe = serde_json::Map::new();
        for k in ["metric", "scope", "amount"] {
            if let Some(v) = m.get(k) {
                probe.insert(k.to_string(), v.clone());
            }
        }
        probe.insert("source".into(), Value::from("discount"));
        if let Err(p) = crate::credits::read_grant(&Value::Object(probe), 0, "probe") {
            for e in p.0 {
                r.err(crate::json::join(path, &e.path), e.reason);
            }
        }
        Some(t)
    }

    /// The grant as the user's books' grant op reads it (an admin grant's
    /// shape, `source: "discount"`), for a redemption at `now` (unix s).
    pub fn grant_json(&self, id: &str, now: i64) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("id".into(), Value::from(id));
        o.insert("metric".into(), Value::from(self.metric.as_str()));
        if let Some(s) = &self.scope {
            o.insert("scope".into(), Value::from(s.as_str()));
        }
        o.insert("amount".into(), self.amount.clone());
        o.insert("source".into(), Value::from("discount"));
        if let Some(d) = self.expires_in_days {
            let at = now.saturating_add((d as i64).saturating_mul(86_400));
            o.insert("expires_at".into(), Value::from(crate::time::rfc3339(at)));
        }
        Value::Object(o)
    }
}

impl DiscountRule {
    pub fn from_value(v: &Value) -> Result<DiscountRule, Problems> {
        let mut r = Reader::new();
        let Some(m) = r.object(v, "") else {
            return Err(Problems(r.problems));
        };
        r.known_keys(
            m,
            "",
            &[
                "max_uses",
                "max_uses_per_user",
                "expires_at",
                "plans",
                "grant",
            ],
        );
        let max_uses = r.opt_count(m, "", "max_uses");
        let max_uses_per_user = r.opt_count(m, "", "max_uses_per_user");
        let expires_at = match m.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => crate::time::parse_rfc3339(s).or_else(|| {
                r.err(
                    "expires_at",
                    "expected an RFC 3339 date-time, e.g. 2026-12-31T23:59:59Z",
                );
                None
            }),
            Some(_) => {
                r.err("expires_at", "expected an RFC 3339 date-time string");
                None
            }
        };
        let plans = match m.get("plans") {
            None | Some(Value::Null) => None,
            Some(v) => Some(crate::config::read_model_globs(&mut r, v, "plans")),
        };
        let grant = match m.get("grant") {
            None | Some(Value::Null) => None,
            Some(v) => GrantTemplate::read(&mut r, v, "grant"),
        };
        r.finish(DiscountRule {
            max_uses,
            max_uses_per_user,
            expires_at,
            plans,
            grant,
        })
    }
}

/// A code's rule and its uses, as far as the decisions at hand need them.
///
/// `by_user` holds per-user redemption counts: every user's when the whole
/// code lives in memory (the shared vectors' replay), or only the caller's
/// when the code is stored — the Worker's `DiscountCode` object keeps each
/// user's count in its own SQLite row and loads just the one a redemption
/// needs, so a code redeemed by a million users works like one redeemed by
/// ten (SPEC §5). A user missing from the map has redeemed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscountState {
    pub code: String,
    pub rule: DiscountRule,
    /// Redemptions by every user.
    pub uses: u64,
    pub by_user: StrMap<u64>,
}

/// The answer of a successful redemption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    pub redeemed: bool,
    pub code: String,
    pub uses: u64,
    pub uses_by_user: u64,
    /// The id of the grant this redemption added (a code carrying a grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
}

/// What a redemption hands to the user's books: the grant, by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    pub grant_id: String,
    pub user: String,
    /// For the user's grant op ([`GrantTemplate::grant_json`]).
    pub grant: Value,
}

/// Why a code may not be used now, with the cap that stopped it.
pub type Denial = (Code, Option<u64>);

/// The rules, in order: the caller's subscription in force (SPEC §4: a
/// missing, inactive, not yet started or expired subscription is refused for
/// every action, a redemption included), then the code known, not expired,
/// for this plan, the total cap, the per-user cap.
pub fn judge(
    state: Option<&DiscountState>,
    user: &str,
    sub: Option<&Subscription>,
    now: i64,
) -> Result<(), Denial> {
    let sub = crate::subscription::standing(sub, now).map_err(|c| (c, None))?;
    let Some(s) = state else {
        return Err((Code::DiscountUnknown, None));
    };
    if s.rule.expires_at.is_some_and(|e| now >= e) {
        return Err((Code::DiscountExpired, None));
    }
    if let Some(plans) = &s.rule.plans {
        if !plans.iter().any(|g| crate::glob::matches(g, &sub.plan)) {
            return Err((Code::DiscountNotApplicable, None));
        }
    }
    if let Some(max) = s.rule.max_uses {
        if s.uses >= max {
            return Err((Code::DiscountExhausted, Some(max)));
        }
    }
    if let Some(max) = s.rule.max_uses_per_user {
        if s.uses_by(user) >= max {
            return Err((Code::DiscountUserExhausted, Some(max)));
        }
    }
    Ok(())
}

impl DiscountState {
    pub fn new(code: &str, rule: DiscountRule) -> DiscountState {
        DiscountState {
            code: code.to_string(),
            rule,
            uses: 0,
            by_user: StrMap::new(),
        }
    }

    /// How often `user` has redeemed the code.
    pub fn uses_by(&self, user: &str) -> u64 {
        self.by_user.get(user).copied().unwrap_or(0)
    }

    /// Redeems once for `user`, atomically against every rule of [`judge`].
    /// Idempotency keys are the caller's business (the Durable Object keeps
    /// them as rows beside the counts).
    pub fn redeem(
        &mut self,
        user: &str,
        sub: Option<&Subscription>,
        now: i64,
    ) -> Result<Redemption, Denial> {
        judge(Some(self), user, sub, now)?;
        self.uses += 1;
        let by = self.by_user.entry(user.to_string()).or_insert(0);
        *by += 1;
        Ok(Redemption {
            redeemed: true,
            code: self.code.clone(),
            uses: self.uses,
            uses_by_user: *by,
            grant_id: self
                .rule
                .grant
                .as_ref()
                .map(|_| grant_id(&self.code, self.uses)),
        })
    }

    /// The grant redemption `r` (by `user`, at `now` unix s) hands over.
    pub fn handover(&self, user: &str, r: &Redemption, now: i64) -> Option<Handover> {
        let t = self.rule.grant.as_ref()?;
        let id = r.grant_id.clone()?;
        Some(Handover {
            grant: t.grant_json(&id, now),
            grant_id: id,
            user: user.to_string(),
        })
    }
}

// ------------------------------------------------------------ stored forms

// A code's rule and its redemption answers are stored by the Worker as our
// own serialiser wrote them, and read back as serde's derive reads them
// (`crate::stored`, as the books are), without the derive's readers in the
// Worker (issue 9). The rule's stored form is not the operator's:
// `expires_at` is Unix seconds there, and nothing is checked again.

impl DiscountRule {
    /// A rule as stored (`serde_json::to_string` of it).
    pub fn from_stored(v: &Value) -> stored::Res<DiscountRule> {
        Obj::read(v, &Path::Root("rule"), |o| DiscountRule {
            max_uses: o.opt_u64("max_uses"),
            max_uses_per_user: o.opt_u64("max_uses_per_user"),
            expires_at: o.opt_i64("expires_at"),
            plans: o.opt("plans", |v, at| stored::list(v, at, stored::string)),
            grant: o.opt("grant", |v, at| {
                Obj::read(v, at, |g| GrantTemplate {
                    metric: g.req_str("metric"),
                    scope: g.opt_str("scope"),
                    amount: g.req("amount", |v, _| Ok(v.clone())),
                    expires_in_days: g.opt_u64("expires_in_days"),
                })
            }),
        })
    }
}

impl Redemption {
    /// A redemption's answer as stored under its idempotency key.
    pub fn from_stored(v: &Value) -> stored::Res<Redemption> {
        Obj::read(v, &Path::Root("answer"), |o| Redemption {
            redeemed: o.req("redeemed", stored::boolean),
            code: o.req_str("code"),
            uses: o.req_u64("uses"),
            uses_by_user: o.req_u64("uses_by_user"),
            grant_id: o.opt_str("grant_id"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sub(plan: &str) -> Subscription {
        Subscription {
            id: "s1".into(),
            plan: plan.into(),
            active: true,
            starts_at: 0,
            ends_at: None,
        }
    }

    #[test]
    fn caps_expiry_and_plans() {
        let rule = DiscountRule::from_value(&json!({
            "max_uses": 2, "max_uses_per_user": 1,
            "expires_at": "2026-12-01T00:00:00Z", "plans": ["basic"]
        }))
        .unwrap();
        let mut s = DiscountState::new("NOWRUZ", rule);
        let now = 1_795_461_660;
        let (basic, pro) = (sub("basic"), sub("pro"));
        assert_eq!(s.redeem("u1", Some(&basic), now).unwrap().uses, 1);
        assert_eq!(
            s.redeem("u1", Some(&basic), now).unwrap_err().0,
            Code::DiscountUserExhausted
        );
        assert_eq!(
            s.redeem("u2", Some(&pro), now).unwrap_err().0,
            Code::DiscountNotApplicable
        );
        assert_eq!(s.redeem("u2", Some(&basic), now).unwrap().uses, 2);
        assert_eq!(
            s.redeem("u3", Some(&basic), now).unwrap_err().0,
            Code::DiscountExhausted
        );
        let later = crate::time::parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        assert_eq!(
            s.redeem("u4", Some(&basic), later).unwrap_err().0,
            Code::DiscountExpired
        );
        assert_eq!(
            judge(None, "u", Some(&basic), now).unwrap_err().0,
            Code::DiscountUnknown
        );
    }

    #[test]
    fn a_redemption_needs_a_subscription_in_force() {
        // A code open to every plan, no caps.
        let mut s = DiscountState::new("OPEN", DiscountRule::default());
        let now = 1_795_461_660;
        let cases = [
            (None, Code::SubscriptionMissing),
            (
                Some(Subscription {
                    active: false,
                    ..sub("basic")
                }),
                Code::SubscriptionInactive,
            ),
            (
                Some(Subscription {
                    starts_at: now + 1,
                    ..sub("basic")
                }),
                Code::SubscriptionInactive,
            ),
            (
                Some(Subscription {
                    ends_at: Some(now),
                    ..sub("basic")
                }),
                Code::SubscriptionExpired,
            ),
        ];
        for (sub, code) in cases {
            assert_eq!(s.redeem("u1", sub.as_ref(), now).unwrap_err().0, code);
            // Access first: even an unknown code answers the subscription's denial.
            assert_eq!(judge(None, "u1", sub.as_ref(), now).unwrap_err().0, code);
        }
        assert_eq!(s.uses, 0);
        assert_eq!(s.redeem("u1", Some(&sub("any")), now).unwrap().uses, 1);
    }

    #[test]
    fn a_code_with_a_grant_hands_it_over_under_the_redemption_id() {
        let rule = DiscountRule::from_value(&json!({
            "max_uses_per_user": 2,
            "grant": {"metric": "cost_usd", "amount": 1.5, "expires_in_days": 30}
        }))
        .unwrap();
        let mut s = DiscountState::new("GIFT", rule);
        let now = 1_795_461_660;
        let r1 = s.redeem("u1", Some(&sub("basic")), now).unwrap();
        let r2 = s.redeem("u2", Some(&sub("basic")), now).unwrap();
        assert_eq!(r1.grant_id.as_deref(), Some("discount:GIFT:1"));
        assert_eq!(r2.grant_id.as_deref(), Some("discount:GIFT:2"));
        let h = s.handover("u1", &r1, now).unwrap();
        assert_eq!(h.user, "u1");
        // The user's books read it like an admin grant: same units, expiry
        // 30 days after the redemption.
        let g = crate::credits::read_grant(&h.grant, now, "unused").unwrap();
        assert_eq!(g.id, "discount:GIFT:1");
        assert_eq!(g.amount, 1_500_000);
        assert_eq!(g.source, crate::credits::Source::Discount);
        assert_eq!(g.expires_at, Some(now + 30 * 86_400));
        // A code without a grant hands nothing over.
        let mut plain = DiscountState::new("PLAIN", DiscountRule::default());
        let r = plain.redeem("u1", Some(&sub("basic")), now).unwrap();
        assert_eq!(r.grant_id, None);
        assert_eq!(plain.handover("u1", &r, now), None);
        // The answer of a code without a grant keeps its earlier shape.
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"redeemed": true, "code": "PLAIN", "uses": 1, "uses_by_user": 1})
        );
    }

    #[test]
    fn a_bad_grant_is_refused_with_its_path() {
        let e = DiscountRule::from_value(&json!({
            "grant": {"metric": "gold", "amount": 0, "expires_in_days": 0, "source": "promo"}
        }))
        .unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "grant.source",
                "grant.expires_in_days",
                "grant.metric",
                "grant.amount"
            ]
        );
        let e = DiscountRule::from_value(&json!({"grant": {"metric": "tokens"}})).unwrap_err();
        assert_eq!(e.0[0].path, "grant.amount");
        // A rule stored before grants existed still reads.
        let old: DiscountRule = serde_json::from_str(
            r#"{"max_uses":3,"max_uses_per_user":null,"expires_at":null,"plans":null}"#,
        )
        .unwrap();
        assert_eq!(old.grant, None);
    }

    #[test]
    fn rule_problems_have_paths() {
        let e = DiscountRule::from_value(&json!({"max_uses": -1, "expires_at": "soon", "x": 1}))
            .unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["x", "max_uses", "expires_at"]);
    }
}
