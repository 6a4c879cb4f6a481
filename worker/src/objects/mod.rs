//! Durable Object classes. Each one's state lives in its own SQLite database
//! (`state.storage().sql()`, synchronous); the classes are declared with
//! `new_sqlite_classes` in `wrangler.toml`. The internal protocol they speak
//! is in [`crate::internal`].

mod bare_counter;
mod config_store;
mod discount_code;
mod event_log;
mod outbox;
mod rows;
mod user_ledger;

pub use bare_counter::BareCounter;
pub use config_store::ConfigStore;
pub use discount_code::DiscountCode;
pub use event_log::{EventLog, MAX_PAGE};
pub use user_ledger::UserLedger;

use serde_json::Value;
use tollgate::decision::Decision;
use tollgate::headers;
use tollgate::messages::Locale;
use tollgate::time::secs;
use tollgate::Action;
use worker::{Headers, Response, Result};

use crate::http::{ApiError, ApiResult};

/// The public answer for a decision: its status, the decision as the body
/// (`limits` emptied unless `explain`), `Retry-After` when waiting helps, and
/// `RateLimit-Policy` / `RateLimit` for the tightest of `limits`.
pub(crate) fn decision_response(
    mut d: Decision,
    explain: bool,
    limits_for_headers: &[tollgate::decision::LimitState],
    now_ms: i64,
) -> ApiResult {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    if let Some((policy, state)) = headers::ratelimit(limits_for_headers, secs(now_ms)) {
        headers.set("ratelimit-policy", &policy)?;
        headers.set("ratelimit", &state)?;
    }
    if !d.allowed {
        if let Some(r) = d.retry_after_s {
            headers.set("retry-after", &r.to_string())?;
        }
    }
    if !explain {
        d.limits.clear();
    }
    let status = d.status;
    Ok(Response::ok(serde_json::to_string(&d)?)?
        .with_status(status)
        .with_headers(headers))
}

/// An action from an internal call (the Worker validated it; checked again).
pub(crate) fn parse_action(v: Option<&Value>) -> std::result::Result<Action, ApiError> {
    let v = v.ok_or_else(|| ApiError::bad_field("", "an action is required"))?;
    Action::from_value(v).map_err(|p| ApiError::bad_request("invalid action", p.0))
}

pub(crate) fn locale(s: Option<&str>) -> Option<Locale> {
    s.and_then(Locale::parse)
}

/// An [`ApiResult`] as a response (errors in the API's error shape).
pub(crate) fn respond(r: ApiResult) -> Result<Response> {
    match r {
        Ok(resp) => Ok(resp),
        Err(e) => e.into_response(),
    }
}
