//! Discount codes: the pure rules on a code's state. Each code's state lives
//! in its own Durable Object, so redemptions of one code are serialised and
//! its caps hold under any concurrency.

use crate::decision::Code;
use crate::json::{Problems, Reader};
use crate::subscription::Subscription;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

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
            &["max_uses", "max_uses_per_user", "expires_at", "plans"],
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
        r.finish(DiscountRule {
            max_uses,
            max_uses_per_user,
            expires_at,
            plans,
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
    pub by_user: BTreeMap<String, u64>,
}

/// The answer of a successful redemption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    pub redeemed: bool,
    pub code: String,
    pub uses: u64,
    pub uses_by_user: u64,
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
            by_user: BTreeMap::new(),
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
    fn rule_problems_have_paths() {
        let e = DiscountRule::from_value(&json!({"max_uses": -1, "expires_at": "soon", "x": 1}))
            .unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["x", "max_uses", "expires_at"]);
    }
}
