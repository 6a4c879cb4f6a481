//! The verdict on an action (SPEC §4), and its stable codes.

use crate::fields::{fields, list, uint, whole};
use crate::json::{micros_to_usd, Problems, Reader};
use crate::limit::Metric;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every kind of answer, one stable snake_case string each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    Ok,
    SubscriptionMissing,
    SubscriptionInactive,
    SubscriptionExpired,
    PlanInactive,
    ModelNotAllowed,
    WindowExceeded,
    InsufficientBudget,
    ConcurrencyExceeded,
    FileNameInvalid,
    FileTooLarge,
    FileTypeNotAllowed,
    FileTypeMismatch,
    DiscountUnknown,
    DiscountExpired,
    DiscountExhausted,
    DiscountUserExhausted,
    DiscountNotApplicable,
    UpgradeNotAllowed,
    BadRequest,
}

impl Code {
    pub const ALL: [Code; 20] = [
        Code::Ok,
        Code::SubscriptionMissing,
        Code::SubscriptionInactive,
        Code::SubscriptionExpired,
        Code::PlanInactive,
        Code::ModelNotAllowed,
        Code::WindowExceeded,
        Code::InsufficientBudget,
        Code::ConcurrencyExceeded,
        Code::FileNameInvalid,
        Code::FileTooLarge,
        Code::FileTypeNotAllowed,
        Code::FileTypeMismatch,
        Code::DiscountUnknown,
        Code::DiscountExpired,
        Code::DiscountExhausted,
        Code::DiscountUserExhausted,
        Code::DiscountNotApplicable,
        Code::UpgradeNotAllowed,
        Code::BadRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "ok",
            Code::SubscriptionMissing => "subscription_missing",
            Code::SubscriptionInactive => "subscription_inactive",
            Code::SubscriptionExpired => "subscription_expired",
            Code::PlanInactive => "plan_inactive",
            Code::ModelNotAllowed => "model_not_allowed",
            Code::WindowExceeded => "window_exceeded",
            Code::InsufficientBudget => "insufficient_budget",
            Code::ConcurrencyExceeded => "concurrency_exceeded",
            Code::FileNameInvalid => "file_name_invalid",
            Code::FileTooLarge => "file_too_large",
            Code::FileTypeNotAllowed => "file_type_not_allowed",
            Code::FileTypeMismatch => "file_type_mismatch",
            Code::DiscountUnknown => "discount_unknown",
            Code::DiscountExpired => "discount_expired",
            Code::DiscountExhausted => "discount_exhausted",
            Code::DiscountUserExhausted => "discount_user_exhausted",
            Code::DiscountNotApplicable => "discount_not_applicable",
            Code::UpgradeNotAllowed => "upgrade_not_allowed",
            Code::BadRequest => "bad_request",
        }
    }

    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The HTTP status of a denial with this code.
    pub fn status(self) -> u16 {
        match self {
            Code::Ok => 200,
            Code::WindowExceeded | Code::InsufficientBudget | Code::ConcurrencyExceeded => 429,
            Code::FileNameInvalid | Code::BadRequest => 400,
            Code::FileTooLarge => 413,
            Code::FileTypeNotAllowed | Code::FileTypeMismatch => 415,
            _ => 403,
        }
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Code::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown code {s:?}")))
    }
}

/// A count, or an amount of US dollars: how numbers cross the boundary.
/// Counts are integers; `cost_usd` figures are dollars with at most six
/// decimals while the core keeps integer micro-dollars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    Count(u64),
    Usd(u64),
}

impl Amount {
    pub fn of(metric: Metric, raw: u64) -> Amount {
        if metric == Metric::CostUsd {
            Amount::Usd(raw)
        } else {
            Amount::Count(raw)
        }
    }

    /// The raw integer (micro-dollars for USD).
    pub fn raw(self) -> u64 {
        match self {
            Amount::Count(n) | Amount::Usd(n) => n,
        }
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Amount::Count(n) => s.serialize_u64(n),
            Amount::Usd(m) if m % 1_000_000 == 0 => s.serialize_u64(m / 1_000_000),
            Amount::Usd(m) => s.serialize_f64(micros_to_usd(m)),
        }
    }
}

impl<'de> Deserialize<'de> for Amount {
    /// Reading back a number: integers stay counts; the caller re-tags
    /// dollars by metric with [`Amount::of`] semantics.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Number::deserialize(d)?;
        Amount::from_number(&v)
            .ok_or_else(|| serde::de::Error::custom("amount must be non-negative"))
    }
}

impl Amount {
    /// A JSON number read back: an integer stays a count, anything else is
    /// dollars; `None` for a negative or non-finite figure.
    pub fn from_number(v: &serde_json::Number) -> Option<Amount> {
        if let Some(u) = v.as_u64() {
            Some(Amount::Count(u))
        } else {
            let f = v.as_f64().unwrap_or(0.0);
            if f < 0.0 || !f.is_finite() {
                return None;
            }
            Some(Amount::Usd(crate::json::usd_to_micros(f)))
        }
    }
}

/// A field that may be `null`: present (even as `null`) → `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// One limit as it stands for this action: used in `violations`, `limits`,
/// `GET /v1/usage` and the browser's quota meters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitState {
    pub metric: String,
    pub scope: String,
    pub window: String,
    /// Only for `chat` windows: the chat, or `null` for a chat with no
    /// usage yet (`status()`'s "what a new chat may use"); absent otherwise.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub chat_id: Option<Option<String>>,
    pub limit: Amount,
    /// Includes open holds.
    pub used: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<Amount>,
    pub remaining: Amount,
    /// RFC 3339; `null` when waiting never frees room (subscription, lifetime,
    /// chat) or when nothing is counted in a rolling window.
    pub resets_at: Option<String>,
    /// Credits (SPEC §9): what the user's grants still hold for this limit
    /// to draw on; only on a limit with `"overflow": "credits"` (no other
    /// limit can draw on any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Amount>,
    /// What this request draws from credits on this limit (its excess over
    /// `remaining`); on a violation, what credits would have paid of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_credits: Option<Amount>,
}

/// One reason an action is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub code: Code,
    pub status: u16,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitState>,
    /// The file this is about (file checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The model this is about (access checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Seconds until waiting would clear this violation; `None` when it never would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    pub message: String,
}

/// A hold reserved by an allowed `reserve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRef {
    pub id: String,
    pub expires_at: String,
}

/// The verdict (SPEC §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    pub status: u16,
    pub code: Code,
    pub message: String,
    pub retry_after_s: Option<u64>,
    pub violations: Vec<Violation>,
    /// Every limit that applied, when explain was asked for.
    pub limits: Vec<LimitState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldRef>,
    /// Credits (SPEC §9): what an allowed request draws from the user's
    /// grants, per metric (`{"tokens": 500}`; dollars for `cost_usd`).
    #[serde(default, skip_serializing_if = "crate::strmap::StrMap::is_empty")]
    pub from_credits: crate::strmap::StrMap<Amount>,
    /// Warnings (SPEC §10): the thresholds this action takes a limit past
    /// for the first time in the limit's period; on every decision, often
    /// empty (a denial raises none).
    #[serde(default)]
    pub warnings: Vec<Warning>,
    /// Events (SPEC §10): the limits an allowed action takes to their max
    /// for the first time in the limit's period (`limit.reached`; `threshold`
    /// 1, no message). Not part of the answer: the shell turns them into
    /// events (`crate::events`).
    #[serde(skip)]
    pub reached: Vec<Warning>,
    /// Fallback models (SPEC §11): the model the decision is for, when a
    /// quota-denied message was allowed for the plan's fallback instead…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// …and the model that was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_from: Option<String>,
}

/// A limit taken past a `warn_at` threshold (SPEC §10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub metric: String,
    pub scope: String,
    pub window: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// The fraction of `limit` passed (`0.8`).
    pub threshold: f64,
    /// After this action.
    pub used: Amount,
    pub limit: Amount,
    pub remaining: Amount,
    pub resets_at: Option<String>,
    pub message: String,
}

impl Default for Decision {
    /// An allowed decision with nothing in it; for building answers field
    /// by field (`..Decision::default()`).
    fn default() -> Self {
        Decision {
            allowed: true,
            status: 200,
            code: Code::Ok,
            message: String::new(),
            retry_after_s: None,
            violations: Vec::new(),
            limits: Vec::new(),
            hold: None,
            from_credits: Default::default(),
            warnings: Vec::new(),
            reached: Vec::new(),
            model: None,
            fallback_from: None,
        }
    }
}

// ------------------------------------------------------------ reading back

// A decision is read back from its JSON in two places: a stored idempotent
// answer (`Engine::reserve` replays it) and the gateway's reserve answer.
// Both are our own serialiser's output, so they are read field by field as
// serde's derive reads them (`crate::fields`), which keeps the derive's
// readers (and a copy of serde_json's parser per type) out of the Worker;
// the derives stay for native callers and for the tests that compare both.

impl Decision {
    /// Reads a decision back from our own JSON, as serde's derive reads it;
    /// every problem is listed.
    pub fn from_value(v: &Value) -> Result<Decision, Problems> {
        whole(v, |r, v| decision(r, v, ""))
    }
}

impl LimitState {
    /// One limit's state read back (a decision's, a snapshot's).
    pub(crate) fn read(r: &mut Reader, v: &Value, path: &str) -> Option<LimitState> {
        let mut f = fields(r, v, path)?;
        let metric = f.string("metric");
        let scope = f.string("scope");
        let window = f.string("window");
        let chat_id = match f.m.get("chat_id") {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(_) => f.opt_string("chat_id").map(Some),
        };
        let limit = f.amount("limit");
        let used = f.amount("used");
        let requested = f.opt_amount("requested");
        let remaining = f.amount("remaining");
        let resets_at = f.opt_string("resets_at");
        let credits = f.opt_amount("credits");
        let from_credits = f.opt_amount("from_credits");
        Some(LimitState {
            metric: metric?,
            scope: scope?,
            window: window?,
            chat_id: chat_id.ok()?,
            limit: limit?,
            used: used?,
            requested: requested.ok()?,
            remaining: remaining?,
            resets_at: resets_at.ok()?,
            credits: credits.ok()?,
            from_credits: from_credits.ok()?,
        })
    }
}

fn code(r: &mut Reader, v: &Value, path: &str) -> Option<Code> {
    let c = r.as_str(v, path).and_then(Code::parse);
    if c.is_none() {
        r.err(path, "expected a known code");
    }
    c
}

fn status(r: &mut Reader, v: &Value, path: &str) -> Option<u16> {
    let s = v.as_u64().and_then(|u| u16::try_from(u).ok());
    if s.is_none() {
        r.err(path, "expected an HTTP status");
    }
    s
}

fn violation(r: &mut Reader, v: &Value, path: &str) -> Option<Violation> {
    // `#[serde(flatten)]` on an `Option`: the limit's fields beside the
    // violation's, `None` when they do not read as a limit.
    let limit = LimitState::read(&mut Reader::new(), v, path);
    let mut f = fields(r, v, path)?;
    let code = f.req("code", code);
    let status = f.req("status", status);
    let file = f.opt_string("file");
    let model = f.opt_string("model");
    let retry_after_s = f.opt("retry_after_s", uint);
    let message = f.string("message");
    Some(Violation {
        code: code?,
        status: status?,
        limit,
        file: file.ok()?,
        model: model.ok()?,
        retry_after_s: retry_after_s.ok()?,
        message: message?,
    })
}

fn hold_ref(r: &mut Reader, v: &Value, path: &str) -> Option<HoldRef> {
    let mut f = fields(r, v, path)?;
    let id = f.string("id");
    let expires_at = f.string("expires_at");
    Some(HoldRef {
        id: id?,
        expires_at: expires_at?,
    })
}

fn warning(r: &mut Reader, v: &Value, path: &str) -> Option<Warning> {
    let mut f = fields(r, v, path)?;
    let metric = f.string("metric");
    let scope = f.string("scope");
    let window = f.string("window");
    let chat_id = f.opt_string("chat_id");
    let threshold = f.req("threshold", |r, v, at| {
        let x = v.as_f64();
        if x.is_none() {
            r.err(at, "expected a number");
        }
        x
    });
    let used = f.amount("used");
    let limit = f.amount("limit");
    let remaining = f.amount("remaining");
    let resets_at = f.opt_string("resets_at");
    let message = f.string("message");
    Some(Warning {
        metric: metric?,
        scope: scope?,
        window: window?,
        chat_id: chat_id.ok()?,
        threshold: threshold?,
        used: used?,
        limit: limit?,
        remaining: remaining?,
        resets_at: resets_at.ok()?,
        message: message?,
    })
}

fn decision(r: &mut Reader, v: &Value, path: &str) -> Option<Decision> {
    let mut f = fields(r, v, path)?;
    let allowed = f.req("allowed", |r, v, at| r.as_bool(v, at));
    let status = f.req("status", status);
    let code = f.req("code", code);
    let message = f.string("message");
    let retry_after_s = f.opt("retry_after_s", uint);
    let violations = f.req("violations", |r, v, at| list(r, v, at, violation));
    let limits = f.req("limits", |r, v, at| list(r, v, at, LimitState::read));
    let hold = f.opt("hold", hold_ref);
    let from_credits = match f.m.get("from_credits") {
        None => Some(Default::default()),
        Some(v) => {
            let at = f.at("from_credits");
            f.r.object(v, &at).and_then(|m| {
                let mut out = crate::strmap::StrMap::new();
                let mut ok = true;
                for (k, x) in m {
                    let at = f.r.join(&at, k);
                    match crate::fields::amount(f.r, x, &at) {
                        Some(a) => {
                            out.insert(k.clone(), a);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            })
        }
    };
    let warnings = f.list("warnings", warning);
    let model = f.opt_string("model");
    let fallback_from = f.opt_string("fallback_from");
    Some(Decision {
        allowed: allowed?,
        status: status?,
        code: code?,
        message: message?,
        retry_after_s: retry_after_s.ok()?,
        violations: violations?,
        limits: limits?,
        hold: hold.ok()?,
        from_credits: from_credits?,
        warnings: warnings?,
        reached: Vec::new(),
        model: model.ok()?,
        fallback_from: fallback_from.ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_spec() {
        assert_eq!(Code::SubscriptionExpired.status(), 403);
        assert_eq!(Code::DiscountUserExhausted.status(), 403);
        assert_eq!(Code::UpgradeNotAllowed.status(), 403);
        assert_eq!(Code::WindowExceeded.status(), 429);
        assert_eq!(Code::ConcurrencyExceeded.status(), 429);
        assert_eq!(Code::FileTooLarge.status(), 413);
        assert_eq!(Code::FileTypeMismatch.status(), 415);
        assert_eq!(Code::FileNameInvalid.status(), 400);
        for c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn usd_amounts_print_as_dollars() {
        let j = |a: Amount| serde_json::to_string(&a).unwrap();
        assert_eq!(j(Amount::Usd(5_000_000)), "5");
        assert_eq!(j(Amount::Usd(150_000)), "0.15");
        assert_eq!(j(Amount::Usd(1)), "1e-6");
        assert_eq!(j(Amount::Count(20_000)), "20000");
    }
}
