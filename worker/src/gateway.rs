//! Gateway mode (issue #5): an OpenAI-compatible front for the upstream AI
//! API, metered by the user's ledger. See docs/gateway.md.
//!
//! | route | action reserved |
//! |---|---|
//! | `POST /v1/chat/completions` | `message` (model, input estimate, max output tokens × `n`) |
//! | `POST /v1/images/generations` | `image` (`n`, default 1) |
//! | `GET /v1/models` | none: the models the caller's plan allows |
//!
//! A call is authenticated with the user's JWT (like every user route),
//! checked against the gateway's field allowlist (SPEC §8: only known fields
//! are forwarded), reserved in the user's Durable Object as a *gateway hold*
//! (a fresh idempotency key per call; only the gateway may settle it, and
//! its id never reaches the client), and, when allowed, forwarded to
//! `UPSTREAM_URL` with the server's own key `UPSTREAM_API_KEY` — never the
//! client's credentials or other headers, and only the allowed fields.
//! Everything that touches the upstream runs in one task under
//! `Context::wait_until` (so it outlives a client that disconnects); the
//! handler waits only for the answer's head. A stream is passed through as it
//! arrives: the task writes each SSE event into an `IdentityTransformStream`
//! whose readable side is the response body, sees every byte (so it knows
//! what was delivered), strips the usage chunk the gateway asked for on the
//! client's behalf, and settles the hold when the call ends — commit with the
//! upstream's `usage` charged as the model that answered, or release (the
//! policy is `tollgate::openai::settle_*`, written down in docs/gateway.md).
//! While the call runs, the hold is extended every third of `hold_ttl_s`;
//! a settlement that does not land is retried; a Worker that dies mid-call
//! leaves the hold to the Durable Object's alarm, which charges a gateway
//! hold its estimate.
//!
//! Denials and errors answer in OpenAI's error format
//! (`{"error": {"message", "type", "param", "code"}}`) with the decision's
//! status and localized message, `Retry-After`, and OpenAI's
//! `x-ratelimit-*` headers (plus the API's `RateLimit` headers).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use serde_json::{json, Value};
use tollgate::config::GatewayConfig;
use tollgate::json::micros_to_usd;
use tollgate::openai::{
    self, ChatRequest, Ending, ImageRequest, Settlement, SseKind, SseScanner, StreamTally,
};
use tollgate::time::secs;
use tollgate::{Decision, Engine, Usage};
use worker::js_sys::{self, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::{self as wasm_bindgen_futures, JsFuture};
use worker::web_sys;
use worker::{Context, Date, Delay, Env, Headers, Request, Response, Result};

use crate::engine_cache::EngineCache;
use crate::internal::{self, UserCall, UserOp};
use crate::{auth, http};

/// The largest request body the gateway reads (chat histories with inline
/// images are big; the API's own routes stop at 64 KiB).
pub const MAX_GATEWAY_BODY: usize = 8 << 20;
/// The most bytes of a JSON answer read (images in base64 included);
/// beyond it the answer is refused (502) and the hold released.
const MAX_KEPT_JSON: usize = 32 << 20;

/// Whether this request is for the gateway (the router's hook).
pub fn handles(path: &str) -> bool {
    matches!(
        path,
        "/v1/chat/completions" | "/v1/images/generations" | "/v1/models"
    )
}

/// An error in OpenAI's format.
struct GwError {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

impl GwError {
    fn new(status: u16, code: &str, message: impl Into<String>) -> GwError {
        let message = message.into();
        GwError {
            status,
            body: openai::error_json(&message, openai::error_type(status, code, None), code, None),
            headers: Vec::new(),
        }
    }

    fn response(self) -> Result<Response> {
        let mut resp = http::json(self.status, &self.body)?;
        for (k, v) in &self.headers {
            resp.headers_mut().set(k, v)?;
        }
        Ok(resp)
    }
}

impl From<worker::Error> for GwError {
    fn from(e: worker::Error) -> GwError {
        worker::console_error!("gateway: {e}");
        GwError::new(500, "internal", "internal error")
    }
}

impl From<http::ApiError> for GwError {
    fn from(e: http::ApiError) -> GwError {
        let mut g = GwError::new(e.status, e.code, e.message);
        g.headers = e
            .headers
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        g
    }
}

type GwResult = std::result::Result<Response, GwError>;

/// The gateway's routes. Errors are answered in OpenAI's format here.
pub async fn handle(req: Request, env: &Env, ctx: &Context) -> Result<Response> {
    let path = req.path();
    let method = req.inner().method().to_ascii_uppercase();
    let allowed = if path == "/v1/models" { "GET" } else { "POST" };
    if method == "OPTIONS" {
        let mut resp = Response::empty()?.with_status(204);
        let h = resp.headers_mut();
        h.set(
            "access-control-allow-methods",
            &format!("{allowed}, OPTIONS"),
        )?;
        h.set("access-control-allow-headers", http::ALLOW_HEADERS)?;
        h.set("access-control-max-age", "600")?;
        return Ok(resp);
    }
    let result = if method != allowed {
        let mut e = GwError::new(405, "method_not_allowed", format!("use {allowed}"));
        e.headers.push(("allow".into(), allowed.into()));
        Err(e)
    } else {
        match path.as_str() {
            "/v1/models" => models(req, env).await,
            "/v1/images/generations" => images(req, env, ctx).await,
            _ => chat(req, env, ctx).await,
        }
    };
    match result {
        Ok(r) => Ok(r),
        Err(e) => e.response(),
    }
}

/// Who is calling, and the request's clock.
struct Caller {
    user: String,
    claims: auth::Claims,
    now_ms: i64,
    /// `Date::now()` when `now_ms` was read (the dev clock may differ).
    real_ms: f64,
    locale: Option<String>,
}

fn caller(req: &Request, env: &Env) -> std::result::Result<Caller, GwError> {
    let real_ms = Date::now().as_millis() as f64;
    let now_ms = crate::clock(req, env)?;
    let header = req.headers().get("authorization")?;
    let token = auth::bearer(header.as_deref()).map_err(unauthorized)?;
    let secret = internal::var(env, "TOLLGATE_JWT_SECRET")
        .ok_or_else(|| GwError::new(500, "internal", "TOLLGATE_JWT_SECRET is not configured"))?;
    let claims = auth::verify_jwt(token, secret.as_bytes(), secs(now_ms)).map_err(unauthorized)?;
    // Only a gateway client's token (scope `gateway`) may spend here; the
    // browser's and the backend's tokens may not (SPEC §5).
    crate::require_scope(&claims, auth::Scope::Gateway)?;
    Ok(Caller {
        user: claims.sub.clone(),
        claims,
        now_ms,
        real_ms,
        locale: http::locale(&http::Query::of(req), req.headers()).map(|l| l.as_str().to_string()),
    })
}

fn unauthorized(message: impl Into<String>) -> GwError {
    let mut e = GwError::new(401, "invalid_api_key", message);
    e.headers.push(("www-authenticate".into(), "Bearer".into()));
    e
}

impl Caller {
    /// The clock at settlement: the request's, advanced by the time spent.
    fn now_ms(&self) -> i64 {
        self.now_ms + (Date::now().as_millis() as f64 - self.real_ms).max(0.0) as i64
    }

    /// A call to the user's object as the gateway: the holds it opens are
    /// gateway holds (settled by the gateway only; charged if they expire).
    fn call(&self) -> UserCall {
        UserCall {
            locale: self.locale.clone(),
            caller: internal::Caller::Gateway,
            ..UserCall::new(self.now_ms, &self.user, self.claims.subscription.clone())
        }
    }
}

/// Reads the body as strict JSON (a duplicated key is a 400 naming it in
/// `param`), at most [`MAX_GATEWAY_BODY`] bytes: 413 as soon as the body
/// passes it, declared or chunked ([`http::read_limited`]).
async fn read_body(req: &mut Request) -> std::result::Result<Value, GwError> {
    let bytes = http::read_limited(req, MAX_GATEWAY_BODY)
        .await
        .map_err(|e| match e {
            http::BodyError::TooLarge => GwError::new(
                413,
                "payload_too_large",
                format!("request body over {MAX_GATEWAY_BODY} bytes"),
            ),
            http::BodyError::BadLength => {
                GwError::new(400, "bad_request", "Content-Length is not a number")
            }
            http::BodyError::Unreadable => {
                GwError::new(400, "bad_request", "the request body could not be read")
            }
        })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| GwError::new(400, "bad_request", "invalid JSON: not UTF-8"))?;
    tollgate::json::parse_strict(text).map_err(|p| {
        let message = p.to_string();
        let param =
            p.0.first()
                .map(|x| x.path.as_str())
                .filter(|s| !s.is_empty());
        GwError {
            status: 400,
            body: openai::error_json(&message, "invalid_request_error", "bad_request", param),
            headers: Vec::new(),
        }
    })
}

/// A fresh idempotency key: one per gateway call, never the client's (a
/// client retrying after an upstream failure must not get back the answer
/// whose hold was released).
fn fresh_key() -> String {
    let r = || (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
    format!("gw-{:x}-{:x}", r(), r())
}

/// An allowed reservation.
struct Reserved {
    hold_id: String,
    headers: Vec<(String, String)>,
    /// The plan's fallback model the reserve was allowed for (SPEC §11),
    /// when the asked-for model's quota was spent.
    fallback: Option<String>,
}

/// Reserves `action` in the caller's ledger as a gateway hold (settleable
/// by the gateway only; charged its estimate if it expires unsettled): the
/// hold, or the denial in OpenAI's format with `Retry-After` and the
/// rate-limit headers.
async fn reserve(
    env: &Env,
    who: &Caller,
    action: &tollgate::Action,
) -> std::result::Result<Reserved, GwError> {
    let call = UserCall {
        action: Some(action_json(action)),
        idempotency_key: Some(fresh_key()),
        explain: true,
        ..who.call()
    };
    let reply = internal::user(env, UserOp::Reserve, call).await?;
    let mut headers: Vec<(String, String)> = reply
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    // Read as the engine reads a stored answer (`Decision::from_value`, no
    // derived deserializer in the `.wasm`: issue 9).
    let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    let Ok(d) = Decision::from_value(&body) else {
        // Not a decision: the API's `{code, message}` error.
        let code = body
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or("internal");
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("internal error");
        let mut e = GwError::new(reply.status, code, message);
        e.headers = headers;
        return Err(e);
    };
    let limits = if d.limits.is_empty() {
        d.violations
            .iter()
            .filter_map(|v| v.limit.clone())
            .collect()
    } else {
        d.limits.clone()
    };
    headers.extend(tollgate::headers::openai(&limits, secs(who.now_ms)));
    match (&d.hold, d.allowed) {
        (Some(h), true) => {
            let fallback = d.fallback_from.as_ref().and(d.model.clone());
            if let Some(m) = &fallback {
                headers.push(("x-tollgate-model".into(), m.clone()));
            }
            Ok(Reserved {
                hold_id: h.id.clone(),
                headers,
                fallback,
            })
        }
        _ => {
            if let Some(r) = d.retry_after_s {
                if !headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                {
                    headers.push(("retry-after".into(), r.to_string()));
                }
            }
            Err(GwError {
                status: d.status,
                body: openai::error_body(&d),
                headers,
            })
        }
    }
}

/// An action as the ledger's JSON.
fn action_json(a: &tollgate::Action) -> Value {
    match a {
        tollgate::Action::Message {
            model,
            input_tokens,
            max_output_tokens,
            ..
        } => json!({"type": "message", "model": model, "input_tokens": input_tokens,
                    "max_output_tokens": max_output_tokens, "kind": "send"}),
        tollgate::Action::Image { model, count } => {
            let mut v = json!({"type": "image", "count": count});
            if let Some(m) = model {
                v["model"] = json!(m);
            }
            v
        }
        _ => Value::Null,
    }
}

/// `{input_tokens, output_tokens, cost_usd?, images?}` for a commit.
fn usage_json(u: &Usage) -> Value {
    let mut v = json!({"input_tokens": u.input_tokens, "output_tokens": u.output_tokens});
    if let Some(c) = u.cost_micros {
        v["cost_usd"] = json!(micros_to_usd(c));
    }
    if let Some(i) = u.images {
        v["images"] = json!(i);
    }
    v
}

// ------------------------------------------------------------------ routes

async fn models(req: Request, env: &Env) -> GwResult {
    let who = caller(&req, env)?;
    let engine = engine(env).await?;
    let list = openai::models_list(
        &engine.config,
        who.claims.subscription.as_ref(),
        secs(who.now_ms),
    );
    Ok(http::json(200, &list)?)
}

thread_local! {
    /// The config, for the gateway's own rules (`gateway`, `hold_ttl_s`) and
    /// `/v1/models` (decisions use the objects' own cache).
    static CONFIG: Rc<EngineCache> = Rc::new(EngineCache::default());
}

/// The current config (cached like the objects' own).
async fn engine(env: &Env) -> std::result::Result<Rc<Engine>, GwError> {
    let cache = CONFIG.with(Rc::clone);
    Ok(cache.get(env).await?.0)
}

fn bad_request(p: &tollgate::json::Problems) -> GwError {
    GwError {
        status: 400,
        body: openai::bad_request_body(p),
        headers: Vec::new(),
    }
}

async fn chat(mut req: Request, env: &Env, ctx: &Context) -> GwResult {
    let who = caller(&req, env)?;
    let body = read_body(&mut req).await?;
    let engine = engine(env).await?;
    let gw = &engine.config.gateway;
    let chat = ChatRequest::parse(&body, gw).map_err(|p| bad_request(&p))?;
    let held = reserve(env, &who, &chat.action()).await?;
    let mode = if chat.stream {
        Mode::Stream {
            client_wants_usage: chat.client_wants_usage,
            input_estimate: chat.input_tokens,
        }
    } else {
        Mode::ChatJson {
            input_estimate: chat.input_tokens,
        }
    };
    let mut upstream_body = chat.upstream_body(&body, gw);
    // A fallback: the upstream is called with the model that was reserved.
    let model = match &held.fallback {
        Some(to) => {
            upstream_body["model"] = Value::String(to.clone());
            to.clone()
        }
        None => chat.model,
    };
    let call = Call {
        endpoint: "chat/completions",
        body: upstream_body,
        mode,
        model,
    };
    forward(env, ctx, who, held, &engine, call).await
}

async fn images(mut req: Request, env: &Env, ctx: &Context) -> GwResult {
    let who = caller(&req, env)?;
    let body = read_body(&mut req).await?;
    let engine = engine(env).await?;
    let gw = &engine.config.gateway;
    let image = ImageRequest::parse(&body, gw).map_err(|p| bad_request(&p))?;
    let held = reserve(env, &who, &image.action()).await?;
    let call = Call {
        endpoint: "images/generations",
        body: image.upstream_body(&body, gw),
        mode: Mode::Image { requested: image.n },
        model: image.model,
    };
    forward(env, ctx, who, held, &engine, call).await
}

// ----------------------------------------------------------------- upstream

/// What the pump does with the upstream's bytes, and how it settles.
#[derive(Clone, Copy)]
enum Mode {
    /// SSE: events passed through (less the usage chunk the client did not
    /// ask for); settled from the stream's usage, or what was delivered.
    Stream {
        client_wants_usage: bool,
        input_estimate: u64,
    },
    /// A chat completion as one JSON document.
    ChatJson { input_estimate: u64 },
    /// An images answer.
    Image { requested: u64 },
}

/// One upstream call: where, what, how it is read, and the model reserved.
struct Call {
    endpoint: &'static str,
    body: Value,
    mode: Mode,
    model: String,
}

/// What the upstream task hands the handler: the answer's head.
enum Head {
    Error(GwError),
    /// A whole JSON answer (chat without `stream`, images).
    Json {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// An SSE answer: the readable side of the pipe the pump writes into.
    Stream {
        status: u16,
        content_type: String,
        readable: web_sys::ReadableStream,
    },
}

/// The rendezvous between the handler and the upstream task.
#[derive(Default)]
struct Handoff {
    head: Option<Head>,
    /// The handler took the head: someone will read the stream.
    taken: bool,
}

/// Sends the call upstream and answers with what comes back.
///
/// Everything that touches the upstream runs in one task under
/// `Context::wait_until`: when the client disconnects, workerd cancels the
/// handler (and would cancel an upstream call made by it), but lets
/// `wait_until` tasks finish — so the hold is settled even when the client
/// leaves before the upstream has answered. The handler only waits for the
/// task to hand over the answer's head. The hold's id stays inside: only the
/// gateway settles a gateway hold, and clients never see its id.
async fn forward(
    env: &Env,
    ctx: &Context,
    who: Caller,
    held: Reserved,
    engine: &Engine,
    call: Call,
) -> GwResult {
    let handoff = Rc::new(RefCell::new(Handoff::default()));
    let mut resolve: Option<js_sys::Function> = None;
    let ready = js_sys::Promise::new(&mut |res, _rej| resolve = Some(res));
    let Some(resolve) = resolve else {
        return Err(GwError::new(500, "internal", "internal error"));
    };
    let every = openai::extend_every_ms(engine.config.hold_ttl_s) as f64;
    let task = UpstreamTask {
        env: env.clone(),
        who,
        hold_id: held.hold_id.clone(),
        handoff: handoff.clone(),
        resolve,
        gateway: engine.config.gateway.clone(),
        model: call.model,
        keep: Keepalive {
            every_ms: every,
            next_ms: Cell::new(Date::now().as_millis() as f64 + every),
            timer: RefCell::new(None),
        },
    };
    ctx.wait_until(task.run(call.endpoint, call.body, call.mode));

    let _ = JsFuture::from(ready).await;
    let head = {
        let mut h = handoff.borrow_mut();
        h.taken = true;
        h.head.take()
    };
    let headers = Headers::new();
    for (k, v) in &held.headers {
        headers.set(k, v)?;
    }
    match head {
        None => Err(GwError::new(500, "internal", "internal error")),
        Some(Head::Error(mut e)) => {
            e.headers.extend(held.headers);
            Err(e)
        }
        Some(Head::Json {
            status,
            content_type,
            body,
        }) => {
            headers.set("content-type", &content_type)?;
            Ok(Response::builder()
                .with_status(status)
                .with_headers(headers)
                .fixed(body))
        }
        Some(Head::Stream {
            status,
            content_type,
            readable,
        }) => {
            headers.set("content-type", &content_type)?;
            headers.set("cache-control", "no-cache")?;
            Ok(Response::builder()
                .with_status(status)
                .with_headers(headers)
                .stream(readable))
        }
    }
}

/// Keeps a running call's hold open: every `every_ms` (a third of
/// `hold_ttl_s`) of waiting — for the upstream's head, its next bytes, or
/// the client reading — the hold is extended.
struct Keepalive {
    every_ms: f64,
    /// When the next extension is due (`Date::now()` ms).
    next_ms: Cell<f64>,
    /// The pending timer (one at a time, shared by the waits until it fires)
    /// and the value it resolves with.
    timer: RefCell<Option<(js_sys::Promise, JsValue)>>,
}

/// The upstream side of one call: send, hand the head over, pass the
/// answer through, settle.
struct UpstreamTask {
    env: Env,
    who: Caller,
    hold_id: String,
    handoff: Rc<RefCell<Handoff>>,
    resolve: js_sys::Function,
    gateway: GatewayConfig,
    /// The model reserved.
    model: String,
    keep: Keepalive,
}

impl UpstreamTask {
    fn hand_over(&self, head: Head) {
        self.handoff.borrow_mut().head = Some(head);
        let _ = self.resolve.call0(&JsValue::UNDEFINED);
    }

    /// A call to the user's object as the gateway, at the current clock.
    fn call(&self) -> UserCall {
        UserCall {
            now_ms: self.who.now_ms(),
            hold_id: Some(self.hold_id.clone()),
            ..self.who.call()
        }
    }

    /// Awaits `p` (the upstream's answer, its next bytes, a write to the
    /// client), extending the hold whenever an extension falls due meanwhile.
    async fn wait(&self, p: js_sys::Promise) -> std::result::Result<JsValue, JsValue> {
        loop {
            let now = Date::now().as_millis() as f64;
            if now >= self.keep.next_ms.get() {
                // The next one is due a period after this one *started*: a
                // slow extension does not push the next one later.
                self.keep.next_ms.set(now + self.keep.every_ms);
                self.keep.timer.borrow_mut().take();
                self.extend().await;
            }
            let (timer, mark) = self.timer();
            let both = js_sys::Array::of2(&p, &timer);
            let v = JsFuture::from(js_sys::Promise::race(&both)).await?;
            if js_sys::Object::is(&v, &mark) {
                // The timer fired first: extend, then wait on.
                self.keep.timer.borrow_mut().take();
                continue;
            }
            return Ok(v);
        }
    }

    /// The pending timer until the next extension, made when there is none.
    fn timer(&self) -> (js_sys::Promise, JsValue) {
        let mut t = self.keep.timer.borrow_mut();
        if let Some(x) = t.as_ref() {
            return x.clone();
        }
        let mark: JsValue = js_sys::Object::new().into();
        let left = (self.keep.next_ms.get() - Date::now().as_millis() as f64).max(0.0);
        let m = mark.clone();
        let p = wasm_bindgen_futures::future_to_promise(async move {
            Delay::from(Duration::from_millis(left as u64)).await;
            Ok(m)
        });
        *t = Some((p.clone(), mark.clone()));
        (p, mark)
    }

    /// Extends the hold by `hold_ttl_s` from now (the object caps it at
    /// `hold_max_ttl_s`). A failure is logged: the next one is due in a
    /// third of the TTL, and an expired gateway hold is charged, not dropped.
    async fn extend(&self) {
        let call = self.call();
        match internal::user(&self.env, UserOp::Extend, call).await {
            Ok(r) if r.status == 200 => {}
            Ok(r) => worker::console_error!(
                "gateway: extend of hold {} answered {}: {}",
                self.hold_id,
                r.status,
                r.body
            ),
            Err(e) => worker::console_error!("gateway: extend of hold {}: {e}", self.hold_id),
        }
    }

    /// Commits or releases the hold, retrying (with backoff, ~24 s in all)
    /// until the object answers for good. Retrying a commit is safe: the
    /// same figures again are a duplicate. Past the retries, the hold's
    /// expiry ("charge" for gateway holds) settles it with its estimate.
    async fn settle(&self, s: Settlement, answered: Option<String>) {
        let (op, usage) = match s {
            Settlement::Commit(u) => (UserOp::Commit, Some(usage_json(&u))),
            Settlement::Release => (UserOp::Release, None),
        };
        let answered_model = if op == UserOp::Commit {
            openai::charged_model(&self.gateway, &self.model, answered.as_deref())
        } else {
            None
        };
        let pauses = std::iter::once(0).chain(openai::SETTLE_RETRY_DELAYS_MS.iter().copied());
        for pause in pauses {
            if pause > 0 {
                Delay::from(Duration::from_millis(pause)).await;
            }
            let call = UserCall {
                usage: usage.clone(),
                answered_model: answered_model.clone(),
                ..self.call()
            };
            let status = match internal::user(&self.env, op, call).await {
                Ok(r) if r.status == 200 => return,
                Ok(r) => {
                    worker::console_error!(
                        "gateway: {} of hold {} answered {}: {}",
                        op.as_str(),
                        self.hold_id,
                        r.status,
                        r.body
                    );
                    Some(r.status)
                }
                Err(e) => {
                    worker::console_error!(
                        "gateway: {} of hold {}: {e}",
                        op.as_str(),
                        self.hold_id
                    );
                    None
                }
            };
            if !openai::settle_retryable(status) {
                return;
            }
        }
        worker::console_error!(
            "gateway: {} of hold {} did not land; its expiry settles it",
            op.as_str(),
            self.hold_id
        );
    }

    async fn run(self, endpoint: &'static str, body: Value, mode: Mode) {
        let stream = matches!(mode, Mode::Stream { .. });
        let sent = match send_upstream(&self.env, endpoint, &body, stream) {
            Ok((p, abort)) => self.wait(p).await.map(|r| (r, abort)),
            Err(e) => Err(e),
        };
        let (resp, abort): (web_sys::Response, _) = match sent {
            Ok((r, abort)) => (r.unchecked_into(), abort),
            Err(e) => {
                worker::console_error!("gateway: upstream unreachable: {e:?}");
                self.hand_over(Head::Error(GwError::new(
                    502,
                    "upstream_unreachable",
                    "the upstream could not be reached",
                )));
                return self.settle(Settlement::Release, None).await;
            }
        };
        let status = resp.status();
        let content_type = resp.headers().get("content-type").ok().flatten();
        let reader: Option<web_sys::ReadableStreamDefaultReader> =
            resp.body().map(|b| b.get_reader().unchecked_into());

        if !(200..300).contains(&status) || !stream {
            // A whole JSON answer: read to its end (also when the client has
            // left: it is already generated and billed), then hand it over.
            let mut kept = Vec::new();
            let mut broke = false;
            if let Some(r) = &reader {
                loop {
                    match self.read_chunk(r).await {
                        Ok(Some(c)) if kept.len() + c.len() <= MAX_KEPT_JSON => {
                            kept.extend_from_slice(&c)
                        }
                        Ok(Some(_)) => {
                            broke = true;
                            break;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            worker::console_error!("gateway: upstream body broke: {e:?}");
                            broke = true;
                            break;
                        }
                    }
                }
            }
            if !(200..300).contains(&status) {
                // The upstream refused before producing anything: nothing is charged.
                let text = String::from_utf8_lossy(&kept);
                self.hand_over(Head::Error(upstream_error(status, &text, Vec::new())));
                return self.settle(Settlement::Release, None).await;
            }
            if broke {
                abort.abort();
                self.hand_over(Head::Error(GwError::new(
                    502,
                    "upstream_error",
                    "the upstream's answer broke off",
                )));
                return self.settle(Settlement::Release, None).await;
            }
            let (s, answered) = match mode {
                Mode::Image { requested } => (openai::settle_image(status, &kept, requested), None),
                Mode::Stream { input_estimate, .. } | Mode::ChatJson { input_estimate } => (
                    openai::settle_chat_json(status, &kept, input_estimate),
                    openai::answer_model_of(&kept),
                ),
            };
            self.hand_over(Head::Json {
                status,
                content_type: content_type.unwrap_or_else(|| "application/json".into()),
                body: kept,
            });
            return self.settle(s, answered).await;
        }

        // A stream: hand the pipe over, then pass events through as they come.
        let Some(reader) = reader else {
            self.hand_over(Head::Error(GwError::new(
                502,
                "upstream_error",
                "the upstream answered without a body",
            )));
            return self.settle(Settlement::Release, None).await;
        };
        let pipe = match identity_stream() {
            Ok(p) => p,
            Err(e) => {
                worker::console_error!("gateway: no pipe: {e:?}");
                abort.abort();
                self.hand_over(Head::Error(GwError::new(500, "internal", "internal error")));
                return self.settle(Settlement::Release, None).await;
            }
        };
        let writer = match pipe.writable().get_writer() {
            Ok(w) => w,
            Err(e) => {
                worker::console_error!("gateway: no writer: {e:?}");
                abort.abort();
                self.hand_over(Head::Error(GwError::new(500, "internal", "internal error")));
                return self.settle(Settlement::Release, None).await;
            }
        };
        self.hand_over(Head::Stream {
            status,
            content_type: content_type.unwrap_or_else(|| "text/event-stream".into()),
            readable: pipe.readable(),
        });
        // The handler takes the head within a few microtasks unless the
        // client has already gone (workerd then never resumes the handler,
        // and nobody would ever read the pipe).
        let mut waited = 0;
        while !self.handoff.borrow().taken && waited < 100 {
            Delay::from(Duration::from_millis(1)).await;
            waited += 1;
        }
        let (s, answered) = if self.handoff.borrow().taken {
            self.pump(reader, writer, abort, mode).await
        } else {
            abort.abort();
            let _ = JsFuture::from(reader.cancel()).await;
            let s = match mode {
                Mode::Stream { input_estimate, .. } => openai::settle_stream(
                    Ending::ClientGone,
                    &StreamTally::default(),
                    input_estimate,
                ),
                _ => Settlement::Release,
            };
            (s, None)
        };
        self.settle(s, answered).await;
    }

    /// Reads the next chunk of the upstream's body (`Ok(None)` at its end),
    /// keeping the hold open while it waits.
    async fn read_chunk(
        &self,
        reader: &web_sys::ReadableStreamDefaultReader,
    ) -> std::result::Result<Option<Vec<u8>>, JsValue> {
        let r = self.wait(reader.read()).await?;
        if Reflect::get(&r, &JsValue::from_str("done"))?
            .as_bool()
            .unwrap_or(true)
        {
            return Ok(None);
        }
        let value = Reflect::get(&r, &JsValue::from_str("value"))?;
        Ok(Some(Uint8Array::new(&value).to_vec()))
    }

    /// Writes bytes to the client; `false` when the client has gone away.
    /// A client that reads slowly keeps the hold open too.
    async fn write(&self, writer: &web_sys::WritableStreamDefaultWriter, bytes: &[u8]) -> bool {
        if bytes.is_empty() {
            return true;
        }
        let chunk = Uint8Array::from(bytes);
        self.wait(writer.write_with_chunk(&chunk)).await.is_ok()
    }

    /// Passes an SSE answer to the client as it arrives and returns the
    /// settlement and the model the chunks named. When the client has gone,
    /// the upstream call is aborted at once: tokens nobody reads are not
    /// paid for. When the upstream's stream ends without `[DONE]` (broken,
    /// or cut short) and without an error event, the client gets one
    /// (OpenAI's streaming error shape), so an SDK raises instead of taking
    /// the text so far as the whole answer.
    async fn pump(
        &self,
        reader: web_sys::ReadableStreamDefaultReader,
        writer: web_sys::WritableStreamDefaultWriter,
        abort: web_sys::AbortController,
        mode: Mode,
    ) -> (Settlement, Option<String>) {
        let Mode::Stream {
            client_wants_usage,
            input_estimate,
        } = mode
        else {
            return (Settlement::Release, None);
        };
        let mut scanner = SseScanner::new();
        let mut tally = StreamTally::default();
        let ending = loop {
            let chunk = match self.read_chunk(&reader).await {
                Ok(Some(c)) => c,
                Ok(None) => break Ending::Completed,
                Err(e) => {
                    worker::console_error!("gateway: upstream stream broke: {e:?}");
                    break Ending::UpstreamFailed;
                }
            };
            let events = scanner.push(&chunk);
            let out: Vec<u8> = events
                .iter()
                .filter(|e| e.forward(client_wants_usage))
                .flat_map(|e| e.raw.iter().copied())
                .collect();
            let delivered = self.write(&writer, &out).await;
            for e in &events {
                if delivered {
                    tally.observe(e);
                } else if let SseKind::Chunk(c) = &e.kind {
                    // Not delivered, but a usage report is still a report.
                    if c.usage.is_some() {
                        tally.usage = c.usage;
                    }
                }
            }
            if !delivered {
                abort.abort();
                let _ = JsFuture::from(reader.cancel()).await;
                break Ending::ClientGone;
            }
        };
        if ending != Ending::ClientGone {
            if let Some(last) = scanner.finish() {
                if !last.forward(client_wants_usage) || self.write(&writer, &last.raw).await {
                    tally.observe(&last);
                }
            }
            if !tally.done && tally.error.is_none() {
                // Neither `[DONE]` nor an error reached the client: tell it.
                let event = openai::stream_error_event(
                    "the upstream's answer broke off before its end; the text so far is incomplete",
                );
                self.write(&writer, &event).await;
            }
            let _ = JsFuture::from(writer.close()).await;
        }
        let s = openai::settle_stream(ending, &tally, input_estimate);
        (s, tally.model)
    }
}

/// The response body's pipe: workerd's `IdentityTransformStream` (a byte
/// stream whose writes fail with "Network connection lost" once the client
/// has gone — with a standard `TransformStream`, workerd drops the pending
/// write and the pump with it, and the hold would wait for the alarm), or a
/// standard `TransformStream` elsewhere.
fn identity_stream() -> std::result::Result<web_sys::TransformStream, JsValue> {
    let ctor = Reflect::get(
        &js_sys::global(),
        &JsValue::from_str("IdentityTransformStream"),
    )?;
    match ctor.dyn_into::<js_sys::Function>() {
        Ok(f) => Ok(Reflect::construct(&f, &js_sys::Array::new())?.unchecked_into()),
        Err(_) => web_sys::TransformStream::new(),
    }
}

/// Starts the POST of `body` to the upstream with the server's key: the
/// pending answer and its abort handle. The client's headers are not
/// forwarded: only these.
fn send_upstream(
    env: &Env,
    endpoint: &str,
    body: &Value,
    stream: bool,
) -> std::result::Result<(js_sys::Promise, web_sys::AbortController), JsValue> {
    let base = internal::var(env, "UPSTREAM_URL")
        .ok_or_else(|| JsValue::from_str("UPSTREAM_URL is not configured"))?;
    let key = env
        .secret("UPSTREAM_API_KEY")
        .map(|s| s.to_string())
        .or_else(|_| env.var("UPSTREAM_API_KEY").map(|s| s.to_string()))
        .map_err(|_| JsValue::from_str("UPSTREAM_API_KEY is not configured"))?;
    let headers = web_sys::Headers::new()?;
    headers.set("authorization", &format!("Bearer {key}"))?;
    headers.set("content-type", "application/json")?;
    headers.set(
        "accept",
        if stream {
            "text/event-stream"
        } else {
            "application/json"
        },
    )?;
    let abort = web_sys::AbortController::new()?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&body.to_string()));
    init.set_signal(Some(&abort.signal()));
    let url = openai::upstream_url(&base, endpoint);
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok((global.fetch_with_str_and_init(&url, &init), abort))
}

/// The upstream's own error, passed on: its status and message, except that
/// an upstream that refuses *our* key (401/403) is a gateway fault (502).
fn upstream_error(status: u16, text: &str, headers: Vec<(String, String)>) -> GwError {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let message = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("the upstream answered {status}"));
    let (status, code) = match status {
        401 | 403 | 407 => (502, "upstream_auth_failed".to_string()),
        s => (
            s,
            v.pointer("/error/code")
                .map(|c| match c {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "upstream_error".into()),
        ),
    };
    let mut e = GwError::new(status, &code, message);
    e.headers = headers;
    e
}
