//! Discount codes: the pure rules on a code's state. Each code's state lives
//! in its own Durable Object, so redemptions of one code are serialised and
//! its caps hold under any concurrency.

use crate::decision::Code;
use crate::json::{Problems, Reader};
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

/// A code's rule and its uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountState {
    pub code: String,
    pub rule: DiscountRule,
    pub uses: u64,
    pub by_user: BTreeMap<String, u64>,
    /// Recent `Idempotency-Key`s: key → (user, the answer given).
    #[serde(default)]
    pub idem: Vec<(String, String, Redemption)>,
}

/// The answer of a successful redemption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    pub redeemed: bool,
    pub code: String,
    pub uses: u64,
    pub uses_by_user: u64,
}

/// Idempotency keys a code remembers.
pub const MAX_IDEM: usize = 256;

/// Why a code may not be used now, with the cap that stopped it.
pub type Denial = (Code, Option<u64>);

/// The rules, in order: known, not expired, for this plan, total cap, per-user cap.
pub fn judge(
    state: Option<&DiscountState>,
    user: &str,
    plan: Option<&str>,
    now: i64,
) -> Result<(), Denial> {
    let Some(s) = state else {
        return Err((Code::DiscountUnknown, None));
    };
    if s.rule.expires_at.is_some_and(|e| now >= e) {
        return Err((Code::DiscountExpired, None));
    }
    if let Some(plans) = &s.rule.plans {
        if !plan.is_some_and(|p| plans.iter().any(|g| crate::glob::matches(g, p))) {
            return Err((Code::DiscountNotApplicable, None));
        }
    }
    if let Some(max) = s.rule.max_uses {
        if s.uses >= max {
            return Err((Code::DiscountExhausted, Some(max)));
        }
    }
    if let Some(max) = s.rule.max_uses_per_user {
        if s.by_user.get(user).copied().unwrap_or(0) >= max {
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
            idem: Vec::new(),
        }
    }

    /// Redeems once for `user`, atomically against every cap; the same
    /// `idem_key` from the same user returns the first answer and counts once.
    pub fn redeem(
        &mut self,
        user: &str,
        plan: Option<&str>,
        now: i64,
        idem_key: Option<&str>,
    ) -> Result<Redemption, Denial> {
        if let Some(k) = idem_key {
            if let Some((_, _, r)) = self.idem.iter().find(|(key, u, _)| key == k && u == user) {
                return Ok(r.clone());
            }
        }
        judge(Some(self), user, plan, now)?;
        self.uses += 1;
        let by = self.by_user.entry(user.to_string()).or_insert(0);
        *by += 1;
        let r = Redemption {
            redeemed: true,
            code: self.code.clone(),
            uses: self.uses,
            uses_by_user: *by,
        };
        if let Some(k) = idem_key {
            self.idem.push((k.to_string(), user.to_string(), r.clone()));
            if self.idem.len() > MAX_IDEM {
                self.idem.remove(0);
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn caps_expiry_and_plans() {
        let rule = DiscountRule::from_value(&json!({
            "max_uses": 2, "max_uses_per_user": 1,
            "expires_at": "2026-12-01T00:00:00Z", "plans": ["basic"]
        }))
        .unwrap();
        let mut s = DiscountState::new("NOWRUZ", rule);
        let now = 1_795_461_660;
        assert_eq!(
            s.redeem("u1", Some("basic"), now, Some("k1")).unwrap().uses,
            1
        );
        // Retried: same answer, counted once.
        assert_eq!(
            s.redeem("u1", Some("basic"), now, Some("k1")).unwrap().uses,
            1
        );
        assert_eq!(
            s.redeem("u1", Some("basic"), now, Some("k2"))
                .unwrap_err()
                .0,
            Code::DiscountUserExhausted
        );
        assert_eq!(
            s.redeem("u2", Some("pro"), now, None).unwrap_err().0,
            Code::DiscountNotApplicable
        );
        assert_eq!(s.redeem("u2", Some("basic"), now, None).unwrap().uses, 2);
        assert_eq!(
            s.redeem("u3", Some("basic"), now, None).unwrap_err().0,
            Code::DiscountExhausted
        );
        let later = crate::time::parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        assert_eq!(
            s.redeem("u4", Some("basic"), later, None).unwrap_err().0,
            Code::DiscountExpired
        );
        assert_eq!(
            judge(None, "u", None, now).unwrap_err().0,
            Code::DiscountUnknown
        );
    }

    #[test]
    fn rule_problems_have_paths() {
        let e = DiscountRule::from_value(&json!({"max_uses": -1, "expires_at": "soon", "x": 1}))
            .unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["x", "max_uses", "expires_at"]);
    }
}
