//! The internal protocol between the Worker and its Durable Objects, and a
//! small client for it. Every call is `POST https://<object>.internal/<op>`
//! with a JSON body; the object answers with the *public* answer: its status,
//! its JSON body, and the headers `RateLimit`, `RateLimit-Policy` and
//! `Retry-After` when they apply. The Worker copies those onto its answer and
//! adds CORS.
//!
//! | object (binding, name)            | ops |
//! |-----------------------------------|-----|
//! | `UserLedger` (`USERS`, `sub`)     | `check`, `reserve`, `commit`, `release`, `extend`, `usage`, `explain`, `reset`, `import`, `grant`, `revoke`, `events` — body [`UserCall`] |
//! | `DiscountCode` (`DISCOUNTS`, code)| `put`, `get`, `redeem`, `check` — body [`DiscountCall`] |
//! | `ConfigStore` (`CONFIG`, `"global"`) | `get`, `put`, `revisions`, `rollback` — body [`ConfigCall`] |
//! | `EventLog` (`EVENTS`, `"events"`) | `append`, `list` — body [`EventLogCall`] |
//!
//! A route that wants a decision builds a [`UserCall`] and calls
//! [`user`]; e.g. a gateway route reserves with
//! `user(env, sub, UserOp::Reserve, &UserCall { action: Some(json), idempotency_key: Some(k), ..UserCall::new(now_ms, sub, sub_claim) })`,
//! reads the decision from [`Reply::json`] (`hold.id` when allowed), and later
//! commits with `UserOp::Commit` + `hold_id` + `usage`, or releases with
//! `UserOp::Release` + `hold_id`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use tollgate::Subscription;
use worker::{Env, Headers, Request, Response, Result};

/// Headers an object's answer may carry that the Worker passes on.
pub const PASSED_HEADERS: [&str; 3] = ["ratelimit", "ratelimit-policy", "retry-after"];

/// Who asked, as far as the user's object needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Caller {
    /// A user with a verified token: its subscription is remembered as "last seen".
    #[default]
    User,
    /// The admin: no subscription comes with the call.
    Admin,
    /// The gateway, on a user's behalf: the holds it opens are its own
    /// (settled only by the gateway, charged at expiry when unsettled).
    Gateway,
}

/// The ops of a user's ledger object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOp {
    Check,
    Reserve,
    Commit,
    Release,
    Usage,
    Explain,
    Reset,
    Extend,
    /// Usage from another system (SPEC §12): body in `usage`, `Idempotency-Key` honoured.
    Import,
    /// Credits (SPEC §9): create a grant / revoke one.
    Grant,
    Revoke,
    /// Events (SPEC §10): this user's outbox, with each event's delivery state.
    Events,
}

impl UserOp {
    pub fn as_str(self) -> &'static str {
        match self {
            UserOp::Check => "check",
            UserOp::Reserve => "reserve",
            UserOp::Commit => "commit",
            UserOp::Release => "release",
            UserOp::Usage => "usage",
            UserOp::Explain => "explain",
            UserOp::Reset => "reset",
            UserOp::Extend => "extend",
            UserOp::Import => "import",
            UserOp::Grant => "grant",
            UserOp::Revoke => "revoke",
            UserOp::Events => "events",
        }
    }

    pub fn parse(s: &str) -> Option<UserOp> {
        [
            UserOp::Check,
            UserOp::Reserve,
            UserOp::Commit,
            UserOp::Release,
            UserOp::Usage,
            UserOp::Explain,
            UserOp::Reset,
            UserOp::Extend,
            UserOp::Import,
            UserOp::Grant,
            UserOp::Revoke,
            UserOp::Events,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// The body of every call to a `UserLedger`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserCall {
    /// The request's clock (unix ms), read once by the Worker.
    pub now_ms: i64,
    /// The user id (the token's `sub`, or the admin route's `{id}`).
    pub user: String,
    #[serde(default)]
    pub caller: Caller,
    /// The token's `subscription` claim (`None`: the token had none).
    #[serde(default)]
    pub subscription: Option<Subscription>,
    /// `check` / `reserve`: the action (SPEC §3) as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Value>,
    /// Fill the decision's `limits` in the answer.
    #[serde(default)]
    pub explain: bool,
    /// `"fa"` / `"en"`; `None`: the config's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// `reserve`: the `Idempotency-Key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// `commit` / `release`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_id: Option<String>,
    /// `commit`: `{input_tokens, output_tokens, cost_usd?, images?, files?}`;
    /// `import`: `{subscription, entries}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Value>,
    /// `reset`: `{}` or `{metrics?, windows?}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<Value>,
    /// `reserve`: the fingerprint of the request the `Idempotency-Key` came
    /// with (`tollgate::idem::fingerprint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// `extend`: seconds from now (default the config's `hold_ttl_s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_s: Option<u64>,
    /// `commit` (gateway): the model that answered, when another than the
    /// reserved one; the usage is charged as that model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_model: Option<String>,
    /// `grant`: the grant to create (SPEC §9); `revoke`: `grant_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// `events`: after this event number of the user's, at most `limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl UserCall {
    /// A user's call at `now_ms` with the token's subscription.
    pub fn new(now_ms: i64, user: &str, subscription: Option<Subscription>) -> UserCall {
        UserCall {
            now_ms,
            user: user.to_string(),
            subscription,
            ..UserCall::default()
        }
    }
}

/// The body of every call to a `DiscountCode`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DiscountCall {
    pub now_ms: i64,
    pub code: String,
    /// `redeem` / `check`: the caller's user id and subscription.
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub subscription: Option<Subscription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default)]
    pub explain: bool,
    /// `put`: `{max_uses, max_uses_per_user, expires_at, plans?, grant?}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Value>,
}

/// The body of a call to the `EventLog`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventLogCall {
    /// `append`: event JSON texts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// `list`: after this event id (`None`: from the oldest kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default)]
    pub limit: u32,
}

/// The body of a call to the `ConfigStore`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigCall {
    /// `get`: the revision the caller has; the config is left out of the
    /// answer when it is still current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_revision: Option<i64>,
    /// `put`: the new config (already validated by the Worker; validated again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// History (SPEC §12; ops in `objects/config_store.rs`). `get`: that
    /// revision instead of the current one; `rollback`: the one to restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// `put` / `rollback`: kept with the new revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `revisions`: at most this many, older than `before`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
}

/// The ConfigStore's answer to `get` and `put`: `{revision, config?}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigReply {
    pub revision: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
}

/// An object's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// JSON text.
    pub body: String,
    /// The passed-on headers present in the answer.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(&self) -> Result<Value> {
        Ok(serde_json::from_str(&self.body)?)
    }

    /// The public answer: same status, body and passed-on headers.
    pub fn into_response(self) -> Result<Response> {
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        for (k, v) in &self.headers {
            headers.set(k, v)?;
        }
        Ok(Response::ok(self.body)?
            .with_status(self.status)
            .with_headers(headers))
    }
}

/// A call to an object, ready to send: which object, which op, and the
/// call serialised. Building it is not async and drops the typed call;
/// sending is one future type for every call (issue 9: one copy of the
/// fetch machinery in the `.wasm`, and routes that only forward a call
/// return it instead of each awaiting their own).
pub struct Call {
    binding: &'static str,
    name: String,
    op: &'static str,
    body: serde_json::Result<String>,
}

impl Call {
    /// To the user's ledger object (`idFromName(call.user)`).
    pub fn user(op: UserOp, call: UserCall) -> Call {
        Call {
            body: serde_json::to_string(&call),
            binding: "USERS",
            name: call.user,
            op: op.as_str(),
        }
    }

    /// To a discount code's object (`idFromName(call.code)`).
    pub fn discount(op: &'static str, call: DiscountCall) -> Call {
        Call {
            body: serde_json::to_string(&call),
            binding: "DISCOUNTS",
            name: call.code,
            op,
        }
    }

    /// To the single config store.
    pub fn config(op: &'static str, call: ConfigCall) -> Call {
        Call {
            body: serde_json::to_string(&call),
            binding: "CONFIG",
            name: CONFIG_OBJECT.to_string(),
            op,
        }
    }

    /// To the single event log (SPEC §10: `append`, `list`).
    pub fn event_log(op: &'static str, call: EventLogCall) -> Call {
        Call {
            body: serde_json::to_string(&call),
            binding: "EVENTS",
            name: EVENT_LOG_OBJECT.to_string(),
            op,
        }
    }

    /// Sends the call; the object's answer.
    pub async fn send(self, env: &Env) -> Result<Reply> {
        let Call {
            binding,
            name,
            op,
            body,
        } = self;
        let body = body?;
        let stub = env.durable_object(binding)?.get_by_name(&name)?;
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        let req = crate::http::post_request(
            &format!("https://{binding}.internal/{op}"),
            &headers,
            &body,
        )?;
        let resp = stub.fetch_with_request(req).await?;
        let status = resp.status_code();
        let mut passed = Vec::new();
        for name in PASSED_HEADERS {
            if let Some(v) = resp.headers().get(name)? {
                passed.push((name, v));
            }
        }
        Ok(Reply {
            status,
            body: crate::http::response_text(&resp).await?,
            headers: passed,
        })
    }
}

/// Calls the user's ledger object (`idFromName(call.user)`).
pub fn user(env: &Env, op: UserOp, call: UserCall) -> impl Future<Output = Result<Reply>> + '_ {
    Call::user(op, call).send(env)
}

/// Calls a discount code's object (`idFromName(call.code)`).
pub fn discount<'a>(
    env: &'a Env,
    op: &'static str,
    call: DiscountCall,
) -> impl Future<Output = Result<Reply>> + 'a {
    Call::discount(op, call).send(env)
}

/// Calls the single config store.
pub fn config<'a>(
    env: &'a Env,
    op: &'static str,
    call: ConfigCall,
) -> impl Future<Output = Result<Reply>> + 'a {
    Call::config(op, call).send(env)
}

/// Calls the single event log (SPEC §10: `append`, `list`).
pub fn event_log<'a>(
    env: &'a Env,
    op: &'static str,
    call: EventLogCall,
) -> impl Future<Output = Result<Reply>> + 'a {
    Call::event_log(op, call).send(env)
}

/// The name of the one `EventLog` object.
pub const EVENT_LOG_OBJECT: &str = "events";

/// The name of the one `ConfigStore` object.
pub const CONFIG_OBJECT: &str = "global";

/// Reads an internal call's body.
pub async fn read_call<T: for<'de> Deserialize<'de>>(req: &mut Request) -> Result<T> {
    let text = req.text().await?;
    Ok(serde_json::from_str(&text)?)
}

/// The op of an internal request: the last path segment.
pub fn op_of(req: &Request) -> String {
    req.path().trim_start_matches('/').to_string()
}

/// A var's value, if set and not empty.
pub fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .filter(|s| !s.is_empty())
}

/// `TOLLGATE_DEV_CLOCK` is `"1"`: the `x-tollgate-now` header sets the clock.
pub fn dev_clock(env: &Env) -> bool {
    var(env, "TOLLGATE_DEV_CLOCK").as_deref() == Some("1")
}

/// Tests stop the runtime at a named step of a hand-over between objects:
/// `TOLLGATE_DEV_HALT` names the step (`handover.recorded`,
/// `handover.applied`, `outbox.forwarded`, `outbox.delivered`; see where
/// each is checked). At that step the object gives up as if the process had
/// died there: what it wrote stays, nothing after it happens. Honoured only
/// with `TOLLGATE_DEV_CLOCK=1`, i.e. never in production.
pub fn dev_halt(env: &Env, step: &str) -> bool {
    dev_clock(env) && var(env, "TOLLGATE_DEV_HALT").as_deref() == Some(step)
}
