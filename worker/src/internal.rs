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
//! `user(env, UserOp::Reserve, UserCall { action: Some(json), idempotency_key: Some(k), ..UserCall::new(now_ms, sub, sub_claim) })`,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

impl Caller {
    const ALL: [Caller; 3] = [Caller::User, Caller::Admin, Caller::Gateway];

    /// Its name in a call's `caller` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Caller::User => "user",
            Caller::Admin => "admin",
            Caller::Gateway => "gateway",
        }
    }

    pub fn parse(s: &str) -> Option<Caller> {
        Caller::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl Serialize for Caller {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Caller {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Caller::parse(&s).ok_or_else(|| serde::de::Error::custom("unknown caller"))
    }
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
pub async fn read_call<T: FromCall>(req: &mut Request) -> Result<T> {
    read_text(&req.text().await?)
}

/// Reads an internal call, or an object's answer, from its JSON text.
pub fn read_text<T: FromCall>(text: &str) -> Result<T> {
    let v: Value = serde_json::from_str(text)?;
    let m = v
        .as_object()
        .ok_or_else(|| worker::Error::RustError("a call is a JSON object".into()))?;
    T::from_call(&Fields(m)).map_err(worker::Error::RustError)
}

/// A call read from its JSON object. The calls are written by this
/// Worker's own `Serialize` (the derive), and read here by hand instead of
/// by serde's derive: each derived deserializer is its own copy of
/// serde_json's parser in the `.wasm` (issue 9), while the `Value` parser is
/// there anyway. As the derive: unknown fields are ignored, a missing or
/// `null` `Option` is `None`, a missing `#[serde(default)]` field its
/// default; a field of the wrong kind refuses the call.
pub trait FromCall: Sized {
    fn from_call(f: &Fields) -> std::result::Result<Self, String>;
}

/// A call's fields.
pub struct Fields<'a>(&'a serde_json::Map<String, Value>);

type Field<T> = std::result::Result<T, String>;

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn wrong<T>(key: &str, want: &str) -> Field<T> {
        Err(format!("call field `{key}`: expected {want}"))
    }

    fn required<T>(&self, key: &str, read: fn(&Value) -> Option<T>, want: &str) -> Field<T> {
        match self.get(key).map(read) {
            Some(Some(v)) => Ok(v),
            _ => Self::wrong(key, want),
        }
    }

    fn optional<T>(
        &self,
        key: &str,
        read: fn(&Value) -> Option<T>,
        want: &str,
    ) -> Field<Option<T>> {
        match self.get(key).map(read) {
            None => Ok(None),
            Some(Some(v)) => Ok(Some(v)),
            Some(None) => Self::wrong(key, want),
        }
    }

    fn string(&self, key: &str) -> Field<String> {
        self.required(key, |v| v.as_str().map(str::to_string), "a string")
    }

    fn int(&self, key: &str) -> Field<i64> {
        self.required(key, Value::as_i64, "an integer")
    }

    fn opt_int(&self, key: &str) -> Field<Option<i64>> {
        self.optional(key, Value::as_i64, "an integer")
    }

    fn opt_u64(&self, key: &str) -> Field<Option<u64>> {
        self.optional(key, Value::as_u64, "an unsigned integer")
    }

    fn opt_u32(&self, key: &str) -> Field<Option<u32>> {
        self.optional(
            key,
            |v| v.as_u64().and_then(|n| u32::try_from(n).ok()),
            "a u32",
        )
    }

    fn opt_string(&self, key: &str) -> Field<Option<String>> {
        self.optional(key, |v| v.as_str().map(str::to_string), "a string")
    }

    /// A `String` with `#[serde(default)]`.
    fn string_or_empty(&self, key: &str) -> Field<String> {
        self.opt_string(key).map(Option::unwrap_or_default)
    }

    /// A `bool` with `#[serde(default)]`.
    fn flag(&self, key: &str) -> Field<bool> {
        self.optional(key, Value::as_bool, "a boolean")
            .map(Option::unwrap_or_default)
    }

    /// Any JSON, carried on as it came.
    fn value(&self, key: &str) -> Option<Value> {
        self.get(key).cloned()
    }

    /// The token's subscription, as the Worker read it from the token (the
    /// same strict reader, so it reads back unchanged).
    fn subscription(&self) -> Field<Option<Subscription>> {
        match self.get("subscription") {
            None => Ok(None),
            Some(v) => Subscription::from_value(v)
                .map(Some)
                .map_err(|p| p.to_string()),
        }
    }
}

impl FromCall for UserCall {
    fn from_call(f: &Fields) -> Field<UserCall> {
        let caller = match f.get("caller") {
            None => Caller::default(),
            Some(v) => match v.as_str().and_then(Caller::parse) {
                Some(c) => c,
                None => return Fields::wrong("caller", "user, admin or gateway"),
            },
        };
        Ok(UserCall {
            now_ms: f.int("now_ms")?,
            user: f.string("user")?,
            caller,
            subscription: f.subscription()?,
            action: f.value("action"),
            explain: f.flag("explain")?,
            locale: f.opt_string("locale")?,
            idempotency_key: f.opt_string("idempotency_key")?,
            hold_id: f.opt_string("hold_id")?,
            usage: f.value("usage"),
            reset: f.value("reset"),
            fingerprint: f.opt_string("fingerprint")?,
            ttl_s: f.opt_u64("ttl_s")?,
            answered_model: f.opt_string("answered_model")?,
            grant: f.value("grant"),
            grant_id: f.opt_string("grant_id")?,
            since: f.opt_int("since")?,
            limit: f.opt_u32("limit")?,
        })
    }
}

impl FromCall for DiscountCall {
    fn from_call(f: &Fields) -> Field<DiscountCall> {
        Ok(DiscountCall {
            now_ms: f.int("now_ms")?,
            code: f.string("code")?,
            user: f.string_or_empty("user")?,
            subscription: f.subscription()?,
            idempotency_key: f.opt_string("idempotency_key")?,
            locale: f.opt_string("locale")?,
            explain: f.flag("explain")?,
            rule: f.value("rule"),
        })
    }
}

impl FromCall for EventLogCall {
    fn from_call(f: &Fields) -> Field<EventLogCall> {
        let events = match f.get("events") {
            None => Vec::new(),
            Some(v) => v
                .as_array()
                .and_then(|a| a.iter().map(|e| e.as_str().map(str::to_string)).collect())
                .map_or_else(|| Fields::wrong("events", "a list of strings"), Ok)?,
        };
        Ok(EventLogCall {
            events,
            since: f.opt_string("since")?,
            limit: f.opt_u32("limit")?.unwrap_or_default(),
        })
    }
}

impl FromCall for ConfigCall {
    fn from_call(f: &Fields) -> Field<ConfigCall> {
        Ok(ConfigCall {
            known_revision: f.opt_int("known_revision")?,
            config: f.value("config"),
            revision: f.opt_int("revision")?,
            note: f.opt_string("note")?,
            limit: f.opt_u32("limit")?,
            before: f.opt_int("before")?,
        })
    }
}

impl FromCall for ConfigReply {
    fn from_call(f: &Fields) -> Field<ConfigReply> {
        Ok(ConfigReply {
            revision: f.int("revision")?,
            config: f.value("config"),
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the sender writes (the derive) reads back as the same call, and
    /// as serde's derive reads it.
    fn round_trip<T: Serialize + FromCall + for<'de> Deserialize<'de>>(call: &T) {
        let text = serde_json::to_string(call).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let ours = T::from_call(&Fields(v.as_object().unwrap())).unwrap();
        let derived: T = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_value(&ours).unwrap(), v, "{text}");
        assert_eq!(serde_json::to_value(&derived).unwrap(), v, "{text}");
    }

    fn sub() -> Subscription {
        Subscription::from_value(&json!({"id": "s1", "plan": "pro", "active": false,
            "starts_at": 1_700_000_000, "ends_at": null}))
        .unwrap()
    }

    #[test]
    fn calls_read_back_as_written() {
        round_trip(&UserCall::default());
        round_trip(&UserCall {
            now_ms: -5,
            user: "u/ü".into(),
            caller: Caller::Gateway,
            subscription: Some(sub()),
            action: Some(json!({"type": "message", "x": [1, null]})),
            explain: true,
            locale: Some("en".into()),
            idempotency_key: Some("k".into()),
            hold_id: Some("h1".into()),
            usage: Some(json!({"input_tokens": 1})),
            reset: Some(json!({})),
            fingerprint: Some("f".into()),
            ttl_s: Some(u64::MAX),
            answered_model: Some("m".into()),
            grant: Some(json!({"metric": "tokens"})),
            grant_id: Some("g".into()),
            since: Some(i64::MIN),
            limit: Some(u32::MAX),
        });
        round_trip(&UserCall {
            caller: Caller::Admin,
            ..UserCall::new(7, "a", None)
        });
        round_trip(&DiscountCall::default());
        round_trip(&DiscountCall {
            now_ms: 1,
            code: "SPRING".into(),
            user: "u".into(),
            subscription: Some(sub()),
            idempotency_key: Some("k".into()),
            locale: Some("fa".into()),
            explain: true,
            rule: Some(json!({"max_uses": 3})),
        });
        round_trip(&EventLogCall::default());
        round_trip(&EventLogCall {
            events: vec!["{}".into(), "a\"b".into()],
            since: Some("u:3".into()),
            limit: 50,
        });
        round_trip(&ConfigCall::default());
        round_trip(&ConfigCall {
            known_revision: Some(3),
            config: Some(json!({"plans": []})),
            revision: Some(2),
            note: Some("n".into()),
            limit: Some(10),
            before: Some(9),
        });
        // The ConfigStore's answers, read by the engine cache.
        round_trip(&ConfigReply {
            revision: 4,
            config: Some(json!({"plans": [{"id": "p"}]})),
        });
        round_trip(&ConfigReply {
            revision: -1,
            config: None,
        });
        let r: ConfigReply = read_text(r#"{"revision": 2, "config": null}"#).unwrap();
        assert!(r.config.is_none());
        assert!(read_text::<ConfigReply>(r#"{"config": {}}"#).is_err());
        assert!(read_text::<ConfigReply>(r#"{"revision": 1.5}"#).is_err());
    }

    /// A field of the wrong kind refuses the call, as the derive refuses it.
    #[test]
    fn wrong_kinds_are_refused() {
        for (doc, what) in [
            (json!({"user": "u"}), "now_ms missing"),
            (json!({"now_ms": 1.5, "user": "u"}), "now_ms a fraction"),
            (json!({"now_ms": 1, "user": 2}), "user a number"),
            (
                json!({"now_ms": 1, "user": "u", "caller": "root"}),
                "unknown caller",
            ),
            (
                json!({"now_ms": 1, "user": "u", "explain": "yes"}),
                "explain a string",
            ),
            (
                json!({"now_ms": 1, "user": "u", "limit": 4_294_967_296u64}),
                "limit past u32",
            ),
            (
                json!({"now_ms": 1, "user": "u", "subscription": {"id": "s"}}),
                "subscription without plan",
            ),
        ] {
            let text = doc.to_string();
            assert!(
                serde_json::from_str::<UserCall>(&text).is_err(),
                "derive: {what}"
            );
            assert!(
                UserCall::from_call(&Fields(doc.as_object().unwrap())).is_err(),
                "{what}"
            );
        }
        let bad = json!({"events": ["a", 1]});
        assert!(EventLogCall::from_call(&Fields(bad.as_object().unwrap())).is_err());
    }
}
