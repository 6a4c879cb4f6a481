//! Tollgate's Cloudflare Worker: the edge HTTP API (SPEC.md section 5).
//!
//! The Worker parses, authenticates and forwards; the Durable Objects apply
//! the core. It reads the clock once per request (`worker::Date::now()`,
//! because `std::time::SystemTime::now()` panics on wasm32-unknown-unknown)
//! and passes it to the object in the forwarded call. With the var
//! `TOLLGATE_DEV_CLOCK=1` (tests only; off in wrangler.toml and
//! .dev.vars.example) the header `x-tollgate-now: <unix ms>` replaces it.
//!
//! Durable Object classes (bindings in `wrangler.toml`):
//!
//! | class          | binding     | keyed by            |
//! |----------------|-------------|---------------------|
//! | `UserLedger`   | `USERS`     | user id (`sub`)     |
//! | `DiscountCode` | `DISCOUNTS` | discount code       |
//! | `ConfigStore`  | `CONFIG`    | `"global"`          |
//! | `BareCounter`  | `BARE`      | any name (benchmark baseline, `TOLLGATE_BENCH=1` only) |
//!
//! Routes: one function each (`route_*` below); see [`Route`]. Each user
//! route names the token scope it needs (SPEC §5) in its `user_claims` call:
//! `usage` for `GET /v1/usage` and `POST /v1/check`, `reserve` for reserve and
//! redeem, `settle` for commit, release and extend; the gateway's routes need
//! `gateway` (worker/src/gateway.rs). Without it: 403 `insufficient_scope`.

use serde_json::{json, Value};
use tollgate::api::{read_extend, read_reset, read_usage};
use tollgate::discount::DiscountRule;
use tollgate::time::secs;
use tollgate::{Action, Config};
use worker::{event, Context, Date, Env, Request, Response, Result};

pub mod answers;
mod auth;
mod engine_cache;
mod gateway;
mod http;
pub mod internal;
mod objects;
mod webhook;

use auth::{Claims, Scope};
use http::{ApiError, ApiResult};
use internal::{Caller, ConfigCall, DiscountCall, UserCall, UserOp};

pub use objects::{BareCounter, ConfigStore, DiscountCode, EventLog, UserLedger};

/// talc's dynamic wasm allocator instead of Rust's default dlmalloc: smaller
/// (BENCHMARKS.md, "Browser package") and, like dlmalloc, it reuses freed
/// memory and grows the linear memory only when no free block fits, so a
/// long-lived Durable Object does not creep. Only on single-threaded wasm
/// (the Worker's target); native unit tests keep the system allocator.
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let origin = req.headers().get("origin").ok().flatten();
    let allowed = internal::var(&env, "TOLLGATE_ALLOWED_ORIGINS").unwrap_or_default();
    let cors = http::cors_origin(&allowed, origin.as_deref());
    let unread = http::UnreadBody::of(&req);
    // Gateway mode (OpenAI-compatible routes, issue #5): worker/src/gateway.rs.
    let mut resp = if gateway::handles(&req.path()) {
        gateway::handle(req, &env, &ctx).await?
    } else {
        match handle(req, &env).await {
            Ok(resp) => resp,
            Err(err) => err.into_response()?,
        }
    };
    if let Some(o) = cors {
        http::add_cors(&mut resp, &o)?;
    }
    // An answer given before the body was read (401, 403, a bad path) keeps
    // the connection usable for the client's next request; the answer does
    // not wait for it.
    ctx.wait_until(unread.drain());
    Ok(resp)
}

/// Every route of the API.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    Healthz,
    Check,
    Reserve,
    Commit(String),
    Release(String),
    Extend(String),
    Usage,
    Redeem(String),
    AdminConfig,
    AdminConfigRevisions,
    AdminConfigRollback,
    AdminUser(String),
    AdminUserUsage(String),
    AdminUserReset(String),
    AdminDiscount(String),
    // Credits (SPEC §9).
    AdminUserGrants(String),
    AdminUserGrant(String, String),
    // Events (SPEC §10).
    AdminEvents,
    AdminUserEvents(String),
    BenchCounter,
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let dec = |s: &str| http::percent_decode(s).unwrap_or_default();
        Some(match segs.as_slice() {
            ["healthz"] => Route::Healthz,
            ["v1", "check"] => Route::Check,
            ["v1", "reserve"] => Route::Reserve,
            ["v1", "holds", id, "commit"] => Route::Commit(dec(id)),
            ["v1", "holds", id, "release"] => Route::Release(dec(id)),
            ["v1", "holds", id, "extend"] => Route::Extend(dec(id)),
            ["v1", "usage"] => Route::Usage,
            ["v1", "discounts", code, "redeem"] => Route::Redeem(dec(code)),
            ["v1", "admin", "config"] => Route::AdminConfig,
            ["v1", "admin", "config", "revisions"] => Route::AdminConfigRevisions,
            ["v1", "admin", "config", "rollback"] => Route::AdminConfigRollback,
            ["v1", "admin", "users", id] => Route::AdminUser(dec(id)),
            ["v1", "admin", "users", id, "reset"] => Route::AdminUserReset(dec(id)),
            ["v1", "admin", "users", id, "usage"] => Route::AdminUserUsage(dec(id)),
            ["v1", "admin", "discounts", code] => Route::AdminDiscount(dec(code)),
            ["v1", "admin", "users", id, "grants"] => Route::AdminUserGrants(dec(id)),
            ["v1", "admin", "users", id, "grants", g] => Route::AdminUserGrant(dec(id), dec(g)),
            ["v1", "admin", "events"] => Route::AdminEvents,
            ["v1", "admin", "users", id, "events"] => Route::AdminUserEvents(dec(id)),
            ["bench", "counter"] => Route::BenchCounter,
            _ => return None,
        })
    }

    /// The methods the route answers (besides OPTIONS for CORS preflight).
    fn methods(&self) -> &'static [&'static str] {
        match self {
            Route::Healthz
            | Route::Usage
            | Route::AdminUser(_)
            | Route::AdminConfigRevisions
            | Route::AdminEvents
            | Route::AdminUserEvents(_) => &["GET"],
            Route::AdminConfig | Route::AdminDiscount(_) => &["GET", "PUT"],
            Route::AdminUserGrant(..) => &["DELETE"],
            _ => &["POST"],
        }
    }
}

/// What every route gets: the environment, the query and the request's clock.
struct Ctx {
    env: Env,
    query: http::Query,
    now_ms: i64,
}

async fn handle(req: Request, env: &Env) -> ApiResult {
    // The path as the runtime serialised it (what `Url::path` gives).
    let route = Route::parse(&req.path()).ok_or_else(ApiError::not_found)?;
    if route == Route::BenchCounter && internal::var(env, "TOLLGATE_BENCH").as_deref() != Some("1")
    {
        return Err(ApiError::not_found());
    }
    let method = req.inner().method().to_ascii_uppercase();
    let allowed = route.methods();
    if method == "OPTIONS" {
        return preflight(allowed);
    }
    if !allowed.contains(&method.as_str()) {
        return Err(ApiError::method_not_allowed(&allowed.join(", ")));
    }
    let now_ms = clock(&req, env)?;
    let ctx = Ctx {
        env: env.clone(),
        query: http::Query::of(&req),
        now_ms,
    };
    let routed = match (route, method.as_str()) {
        (Route::Healthz, _) => route_healthz(),
        (Route::Check, _) => route_check(req, &ctx).await,
        (Route::Reserve, _) => route_reserve(req, &ctx).await,
        (Route::Commit(id), _) => route_commit(req, &ctx, &id).await,
        (Route::Release(id), _) => route_release(req, &ctx, &id).await,
        (Route::Extend(id), _) => route_extend(req, &ctx, &id).await,
        (Route::Usage, _) => route_usage(req, &ctx).await,
        (Route::Redeem(code), _) => route_redeem(req, &ctx, &code).await,
        (Route::AdminConfig, "PUT") => route_admin_config_put(req, &ctx).await,
        (Route::AdminConfig, _) => route_admin_config_get(req, &ctx).await,
        (Route::AdminConfigRevisions, _) => route_admin_config_revisions(req, &ctx).await,
        (Route::AdminConfigRollback, _) => route_admin_config_rollback(req, &ctx).await,
        (Route::AdminUser(id), _) => route_admin_user(req, &ctx, &id).await,
        (Route::AdminUserReset(id), _) => route_admin_user_reset(req, &ctx, &id).await,
        (Route::AdminUserUsage(id), _) => route_admin_user_usage(req, &ctx, &id).await,
        (Route::AdminDiscount(code), "PUT") => route_admin_discount_put(req, &ctx, &code).await,
        (Route::AdminDiscount(code), _) => route_admin_discount_get(req, &ctx, &code).await,
        (Route::AdminUserGrants(id), _) => route_admin_grant_create(req, &ctx, &id).await,
        (Route::AdminUserGrant(id, g), _) => route_admin_grant_revoke(req, &ctx, &id, &g).await,
        (Route::AdminEvents, _) => route_admin_events(req, &ctx).await,
        (Route::AdminUserEvents(id), _) => route_admin_user_events(req, &ctx, &id).await,
        (Route::BenchCounter, _) => route_bench_counter(req, &ctx).await,
    }?;
    match routed {
        Routed::Answer(resp) => Ok(resp),
        // The one place a route's call is sent and its reply answered.
        Routed::Forward(call) => Ok(call.send(env).await?.into_response()?),
    }
}

/// What a route answers: an answer of its own, or a call to an object
/// whose reply is the answer (sent by [`handle`], not by each route).
enum Routed {
    Answer(Response),
    Forward(internal::Call),
}

type RouteResult = std::result::Result<Routed, ApiError>;

/// CORS preflight: 204 with the route's methods and the headers clients send.
fn preflight(methods: &[&str]) -> ApiResult {
    let mut resp = Response::empty()?.with_status(204);
    let h = resp.headers_mut();
    h.set(
        "access-control-allow-methods",
        &format!("{}, OPTIONS", methods.join(", ")),
    )?;
    h.set("access-control-allow-headers", http::ALLOW_HEADERS)?;
    h.set("access-control-max-age", "600")?;
    Ok(resp)
}

/// The request's clock in unix ms: `Date::now()`, or `x-tollgate-now` when
/// `TOLLGATE_DEV_CLOCK=1`.
fn clock(req: &Request, env: &Env) -> std::result::Result<i64, ApiError> {
    let real = Date::now().as_millis() as i64;
    if !internal::dev_clock(env) {
        return Ok(real);
    }
    match req.headers().get("x-tollgate-now")? {
        None => Ok(real),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=tollgate::json::MAX_SAFE_INT as i64).contains(n))
            .ok_or_else(|| ApiError::bad_field("x-tollgate-now", "expected unix milliseconds")),
    }
}

// ---------------------------------------------------------------- auth

fn bearer(req: &Request) -> std::result::Result<String, ApiError> {
    let header = req.headers().get("authorization")?;
    auth::bearer(header.as_deref())
        .map(str::to_string)
        .map_err(ApiError::unauthorized)
}

/// The caller's verified token, which must carry `scope` (401 for a bad
/// token, then 403 `insufficient_scope`; SPEC §5).
fn user_claims(req: &Request, ctx: &Ctx, scope: Scope) -> std::result::Result<Claims, ApiError> {
    let token = bearer(req)?;
    let secret = internal::var(&ctx.env, "TOLLGATE_JWT_SECRET")
        .ok_or_else(|| ApiError::internal("TOLLGATE_JWT_SECRET is not configured"))?;
    let claims = auth::verify_jwt(&token, secret.as_bytes(), secs(ctx.now_ms))
        .map_err(ApiError::unauthorized)?;
    require_scope(&claims, scope)?;
    Ok(claims)
}

/// 403 `insufficient_scope` unless the token carries `scope`.
pub(crate) fn require_scope(claims: &Claims, scope: Scope) -> std::result::Result<(), ApiError> {
    if claims.scopes.allows(scope) {
        Ok(())
    } else {
        Err(ApiError::insufficient_scope(scope.as_str()))
    }
}

/// The admin token, or 401 (also for user tokens).
fn require_admin(req: &Request, ctx: &Ctx) -> std::result::Result<(), ApiError> {
    let token = bearer(req)?;
    let configured = internal::var(&ctx.env, "TOLLGATE_ADMIN_TOKEN").unwrap_or_default();
    if auth::admin_token_matches(&token, &configured) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("admin token required"))
    }
}

// ---------------------------------------------------------------- inputs

fn parse_action(v: &Value) -> std::result::Result<Action, ApiError> {
    Action::from_value(v).map_err(|p| ApiError::bad_request("invalid action", p.0))
}

fn locale(req: &Request, ctx: &Ctx) -> Option<String> {
    http::locale(&ctx.query, req.headers()).map(|l| l.as_str().to_string())
}

/// `Idempotency-Key`, checked when present.
fn idempotency_key(req: &Request) -> std::result::Result<Option<String>, ApiError> {
    match req.headers().get("idempotency-key")? {
        None => Ok(None),
        Some(k) if http::valid_idempotency_key(&k) => Ok(Some(k)),
        Some(_) => Err(ApiError::bad_field(
            "Idempotency-Key",
            "must be 1-255 visible ASCII characters",
        )),
    }
}

fn check_user_id(id: &str) -> std::result::Result<(), ApiError> {
    if http::valid_user_id(id) {
        Ok(())
    } else {
        Err(ApiError::bad_field(
            "id",
            "a user id is 1-128 characters of A-Z a-z 0-9 . _ : @ -",
        ))
    }
}

fn check_code(code: &str) -> std::result::Result<(), ApiError> {
    if http::valid_code(code) {
        Ok(())
    } else {
        Err(ApiError::bad_field(
            "code",
            "a discount code is 1-64 characters of A-Z a-z 0-9 . _ -",
        ))
    }
}

/// A hold id that cannot exist answers like an unknown one.
fn check_hold_id(id: &str) -> std::result::Result<(), ApiError> {
    if http::valid_hold_id(id) {
        Ok(())
    } else {
        Err(ApiError::new(
            404,
            "hold_unknown",
            "no such hold for this user",
        ))
    }
}

/// An optional body: must be empty or a JSON object.
async fn optional_object(req: &mut Request) -> std::result::Result<Value, ApiError> {
    match http::read_json(req).await? {
        None => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(ApiError::bad_field("", "expected a JSON object")),
    }
}

// ---------------------------------------------------------------- routes

/// `GET /healthz`: liveness.
/// `GET /healthz`: alive, and which IANA time zone release the calendar
/// windows are computed with (the bundled database, src/zone.rs).
fn route_healthz() -> RouteResult {
    Ok(Routed::Answer(http::json(
        200,
        &json!({ "ok": true, "tzdata": tollgate::zone::TZDATA_VERSION }),
    )?))
}

/// `POST /v1/check`: dry run of an action; `?explain=1` fills `limits`.
async fn route_check(mut req: Request, ctx: &Ctx) -> RouteResult {
    let claims = user_claims(&req, ctx, Scope::Usage)?;
    let body = http::require_json(&mut req).await?;
    let action = parse_action(&body)?;
    let explain = http::explain(&ctx.query);
    let locale = locale(&req, ctx);
    if let Action::Discount { code } = action {
        // A code's state lives in its own object.
        let call = DiscountCall {
            now_ms: ctx.now_ms,
            code,
            user: claims.sub,
            subscription: claims.subscription,
            idempotency_key: None,
            locale,
            explain,
            rule: None,
        };
        return Ok(Routed::Forward(internal::Call::discount("check", call)));
    }
    let call = UserCall {
        action: Some(body),
        explain,
        locale,
        ..UserCall::new(ctx.now_ms, &claims.sub, claims.subscription)
    };
    Ok(Routed::Forward(internal::Call::user(UserOp::Check, call)))
}

/// `POST /v1/reserve`: atomic check-and-hold; `Idempotency-Key` required.
async fn route_reserve(mut req: Request, ctx: &Ctx) -> RouteResult {
    let claims = user_claims(&req, ctx, Scope::Reserve)?;
    let key =
        idempotency_key(&req)?.ok_or_else(|| ApiError::bad_field("Idempotency-Key", "required"))?;
    let body = http::require_json(&mut req).await?;
    let action = parse_action(&body)?;
    if matches!(action, Action::Discount { .. }) {
        return Err(ApiError::bad_field(
            "type",
            "a discount is redeemed with POST /v1/discounts/{code}/redeem",
        ));
    }
    let call = UserCall {
        fingerprint: Some(tollgate::idem::fingerprint("reserve", &body)),
        action: Some(body),
        explain: http::explain(&ctx.query),
        locale: locale(&req, ctx),
        idempotency_key: Some(key),
        ..UserCall::new(ctx.now_ms, &claims.sub, claims.subscription)
    };
    Ok(Routed::Forward(internal::Call::user(UserOp::Reserve, call)))
}

/// `POST /v1/holds/{id}/commit`: the real usage replaces the hold's estimate.
async fn route_commit(mut req: Request, ctx: &Ctx, id: &str) -> RouteResult {
    let claims = user_claims(&req, ctx, Scope::Settle)?;
    let body = http::require_json(&mut req).await?;
    read_usage(&body).map_err(|p| ApiError::bad_request("invalid usage", p.0))?;
    check_hold_id(id)?;
    let call = UserCall {
        hold_id: Some(id.to_string()),
        usage: Some(body),
        ..UserCall::new(ctx.now_ms, &claims.sub, claims.subscription)
    };
    Ok(Routed::Forward(internal::Call::user(UserOp::Commit, call)))
}

/// `POST /v1/holds/{id}/release`: drops the hold; idempotent.
async fn route_release(mut req: Request, ctx: &Ctx, id: &str) -> RouteResult {
    let claims = user_claims(&req, ctx, Scope::Settle)?;
    optional_object(&mut req).await?;
    check_hold_id(id)?;
    let call = UserCall {
        hold_id: Some(id.to_string()),
        ..UserCall::new(ctx.now_ms, &claims.sub, claims.subscription)
    };
    Ok(Routed::Forward(internal::Call::user(UserOp::Release, call)))
}

/// `POST /v1/holds/{id}/extend`: `{ttl_s?}`; the hold now expires `ttl_s`
/// from now (never past `hold_max_ttl_s` after it was opened).
async fn route_extend(mut req: Request, ctx: &Ctx, id: &str) -> RouteResult {
    let claims = user_claims(&req, ctx, Scope::Settle)?;
    let body = optional_object(&mut req).await?;
    let ttl_s = read_extend(&body).map_err(|p| ApiError::bad_request("invalid extend", p.0))?;
    check_hold_id(id)?;
    let call = UserCall {
        hold_id: Some(id.to_string()),
        ttl_s,
        ..UserCall::new(ctx.now_ms, &claims.sub, claims.subscription)
    };
    Ok(Routed::Forward(internal::Call::user(UserOp::Extend, call)))
}

/// `GET /v1/usage`: the caller's snapshot.
async fn route_usage(req: Request, ctx: &Ctx) -> RouteResult {
    let claims = user_claims(&req, ctx, Scope::Usage)?;
    let call = UserCall::new(ctx.now_ms, &claims.sub, claims.subscription);
    Ok(Routed::Forward(internal::Call::user(UserOp::Usage, call)))
}

/// `POST /v1/discounts/{code}/redeem`: atomic redemption; honours `Idempotency-Key`.
async fn route_redeem(mut req: Request, ctx: &Ctx, code: &str) -> RouteResult {
    let claims = user_claims(&req, ctx, Scope::Reserve)?;
    check_code(code)?;
    let key = idempotency_key(&req)?;
    optional_object(&mut req).await?;
    let call = DiscountCall {
        now_ms: ctx.now_ms,
        code: code.to_string(),
        user: claims.sub,
        subscription: claims.subscription,
        idempotency_key: key,
        locale: locale(&req, ctx),
        explain: http::explain(&ctx.query),
        rule: None,
    };
    Ok(Routed::Forward(internal::Call::discount("redeem", call)))
}

/// `PUT /v1/admin/config[?note=…]`: validated (every problem listed), then
/// stored with the next revision (and `note`, kept in the history); then
/// the config's `discounts` are applied ([`apply_discounts`]).
async fn route_admin_config_put(mut req: Request, ctx: &Ctx) -> RouteResult {
    require_admin(&req, ctx)?;
    let note = note_param(http::query(&ctx.query, "note"))?;
    let body = http::require_json(&mut req).await?;
    let config =
        Config::from_value(&body).map_err(|p| ApiError::bad_request("invalid config", p.0))?;
    let call = ConfigCall {
        config: Some(body),
        note,
        ..ConfigCall::default()
    };
    let reply = internal::config(&ctx.env, "put", call).await?;
    with_discounts(reply, &config, ctx)
        .await
        .map(Routed::Answer)
}

/// `GET /v1/admin/config`: `{revision, config}`; `?revision=N`: that
/// revision, `{revision, at, size, note?, config}` (404 `revision_unknown`).
async fn route_admin_config_get(req: Request, ctx: &Ctx) -> RouteResult {
    require_admin(&req, ctx)?;
    let revision = match http::query(&ctx.query, "revision") {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .ok()
                .filter(|n| (0..=tollgate::json::MAX_SAFE_INT as i64).contains(n))
                .ok_or_else(|| ApiError::bad_field("revision", "expected a revision number"))?,
        ),
    };
    let call = ConfigCall {
        revision,
        ..ConfigCall::default()
    };
    Ok(Routed::Forward(internal::Call::config("get", call)))
}

/// `GET /v1/admin/config/revisions[?limit=N&before=R]`: `{revisions:
/// [{revision, at, size, note?}]}`, newest first; `limit` default 100, at
/// most 1000; `before` pages to older revisions.
async fn route_admin_config_revisions(req: Request, ctx: &Ctx) -> RouteResult {
    require_admin(&req, ctx)?;
    let number = |name: &str| -> std::result::Result<Option<i64>, ApiError> {
        match http::query(&ctx.query, name) {
            None => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=tollgate::json::MAX_SAFE_INT as i64).contains(n))
                .map(Some)
                .ok_or_else(|| ApiError::bad_field(name, "expected a non-negative integer")),
        }
    };
    let call = ConfigCall {
        limit: number("limit")?.map(|n| n.min(i64::from(u32::MAX)) as u32),
        before: number("before")?,
        ..ConfigCall::default()
    };
    Ok(Routed::Forward(internal::Call::config("revisions", call)))
}

/// `POST /v1/admin/config/rollback {"revision": N, "note"?}`: revision N's
/// content becomes current again as a new revision (`{revision,
/// rolled_back_to, config}`); its `discounts` are applied as on a PUT.
async fn route_admin_config_rollback(mut req: Request, ctx: &Ctx) -> RouteResult {
    require_admin(&req, ctx)?;
    let body = http::require_json(&mut req).await?;
    let mut r = tollgate::json::Reader::new();
    let (revision, note) = match r.object(&body, "") {
        Some(m) => {
            r.known_keys(m, "", &["revision", "note"]);
            let n = r.req_int(m, "", "revision");
            if matches!(n, Some(n) if n < 0) {
                r.err("revision", "expected a revision number");
            }
            (n, r.opt_str(m, "", "note").map(str::to_string))
        }
        None => (None, None),
    };
    let (revision, note) = r
        .finish((revision, note))
        .map_err(|p| ApiError::bad_request("invalid rollback", p.0))?;
    let call = ConfigCall {
        revision,
        note: note_param(note)?,
        ..ConfigCall::default()
    };
    let reply = internal::config(&ctx.env, "rollback", call).await?;
    if reply.status != 200 {
        return Ok(Routed::Answer(reply.into_response()?));
    }
    let restored = reply
        .json()?
        .get("config")
        .map(Config::from_value)
        .and_then(std::result::Result::ok)
        .ok_or_else(|| ApiError::internal("the restored config could not be read back"))?;
    with_discounts(reply, &restored, ctx)
        .await
        .map(Routed::Answer)
}

/// A history note: at most 500 characters, no control characters.
fn note_param(note: Option<String>) -> std::result::Result<Option<String>, ApiError> {
    match note {
        Some(n) if n.chars().count() > 500 || n.chars().any(char::is_control) => Err(
            ApiError::bad_field("note", "at most 500 characters, no control characters"),
        ),
        other => Ok(other),
    }
}

/// After a config was stored (`reply` from the `ConfigStore`): applies each
/// of its `discounts` as `PUT /v1/admin/discounts/{code}` would (codes
/// missing from the list are left as they are) and adds
/// `discounts_applied: [code…]` to the answer. The rules were validated with
/// the config, so a failure here is the platform's; the answer then says
/// which codes were not applied (the revision is stored: PUT it again).
async fn with_discounts(reply: internal::Reply, config: &Config, ctx: &Ctx) -> ApiResult {
    if reply.status != 200 {
        return Ok(reply.into_response()?);
    }
    let mut applied = Vec::new();
    let mut failed = Vec::new();
    for d in config.discounts() {
        let call = DiscountCall {
            now_ms: ctx.now_ms,
            code: d.code.clone(),
            rule: Some(d.rule),
            ..DiscountCall::default()
        };
        match internal::discount(&ctx.env, "put", call).await {
            Ok(r) if r.status == 200 || r.status == 201 => applied.push(d.code),
            Ok(r) => failed.push(format!("{} ({})", d.code, r.status)),
            Err(e) => failed.push(format!("{} ({e})", d.code)),
        }
    }
    let mut v = reply.json()?;
    if !failed.is_empty() {
        let revision = v.get("revision").cloned().unwrap_or(Value::Null);
        return Err(ApiError::internal(format!(
            "config revision {revision} is stored, but these discount codes were not applied: {}; PUT the config again",
            failed.join(", ")
        )));
    }
    v["discounts_applied"] = json!(applied);
    Ok(http::json(200, &v)?)
}

/// `GET /v1/admin/users/{id}`: the full explanation of a user's books.
async fn route_admin_user(req: Request, ctx: &Ctx, id: &str) -> RouteResult {
    require_admin(&req, ctx)?;
    check_user_id(id)?;
    let call = UserCall {
        caller: Caller::Admin,
        ..UserCall::new(ctx.now_ms, id, None)
    };
    Ok(Routed::Forward(internal::Call::user(UserOp::Explain, call)))
}

/// `POST /v1/admin/users/{id}/reset`: `{}` resets every counter, or
/// `{metrics?, windows?}` those selected.
async fn route_admin_user_reset(mut req: Request, ctx: &Ctx, id: &str) -> RouteResult {
    require_admin(&req, ctx)?;
    check_user_id(id)?;
    let body = http::read_json(&mut req)
        .await?
        .unwrap_or_else(|| json!({}));
    read_reset(&body).map_err(|p| ApiError::bad_request("invalid reset", p.0))?;
    let call = UserCall {
        caller: Caller::Admin,
        reset: Some(body),
        ..UserCall::new(ctx.now_ms, id, None)
    };
    Ok(Routed::Forward(internal::Call::user(UserOp::Reset, call)))
}

/// `POST /v1/admin/users/{id}/usage`: usage from another system added to
/// the current periods (SPEC §12): `{subscription, entries: [{metric,
/// scope?, window, chat_id?, used}]}`; `Idempotency-Key` honoured; every bad
/// entry listed (400), and then nothing is added.
async fn route_admin_user_usage(mut req: Request, ctx: &Ctx, id: &str) -> RouteResult {
    require_admin(&req, ctx)?;
    check_user_id(id)?;
    let key = idempotency_key(&req)?;
    let body = http::require_json(&mut req).await?;
    tollgate::import::read_import(&body)
        .map_err(|p| ApiError::bad_request("invalid usage import", p.0))?;
    let call = UserCall {
        caller: Caller::Admin,
        fingerprint: Some(tollgate::idem::fingerprint(tollgate::import::ROUTE, &body)),
        usage: Some(body),
        idempotency_key: key,
        ..UserCall::new(ctx.now_ms, id, None)
    };
    Ok(Routed::Forward(internal::Call::user(UserOp::Import, call)))
}

/// `PUT /v1/admin/discounts/{code}`: create (201) or change (200) a code.
async fn route_admin_discount_put(mut req: Request, ctx: &Ctx, code: &str) -> RouteResult {
    require_admin(&req, ctx)?;
    check_code(code)?;
    let body = http::require_json(&mut req).await?;
    DiscountRule::from_value(&body)
        .map_err(|p| ApiError::bad_request("invalid discount rule", p.0))?;
    let call = DiscountCall {
        now_ms: ctx.now_ms,
        code: code.to_string(),
        rule: Some(body),
        ..DiscountCall::default()
    };
    Ok(Routed::Forward(internal::Call::discount("put", call)))
}

/// `GET /v1/admin/discounts/{code}`: the code's rule and uses.
async fn route_admin_discount_get(req: Request, ctx: &Ctx, code: &str) -> RouteResult {
    require_admin(&req, ctx)?;
    check_code(code)?;
    let call = DiscountCall {
        now_ms: ctx.now_ms,
        code: code.to_string(),
        ..DiscountCall::default()
    };
    Ok(Routed::Forward(internal::Call::discount("get", call)))
}

// ---------------------------------------------------------------- credits

/// `POST /v1/admin/users/{id}/grants`: creates a grant (SPEC §9); the
/// server assigns `id` when absent; `Idempotency-Key` honoured.
async fn route_admin_grant_create(mut req: Request, ctx: &Ctx, id: &str) -> RouteResult {
    require_admin(&req, ctx)?;
    check_user_id(id)?;
    let key = idempotency_key(&req)?;
    let body = http::require_json(&mut req).await?;
    tollgate::credits::read_grant(&body, secs(ctx.now_ms), "g")
        .map_err(|p| ApiError::bad_request("invalid grant", p.0))?;
    let call = UserCall {
        caller: Caller::Admin,
        fingerprint: Some(tollgate::idem::fingerprint("grant", &body)),
        grant: Some(body),
        idempotency_key: key,
        ..UserCall::new(ctx.now_ms, id, None)
    };
    Ok(Routed::Forward(internal::Call::user(UserOp::Grant, call)))
}

/// `DELETE /v1/admin/users/{id}/grants/{grant}`: what remains is removed.
async fn route_admin_grant_revoke(req: Request, ctx: &Ctx, id: &str, grant: &str) -> RouteResult {
    require_admin(&req, ctx)?;
    check_user_id(id)?;
    if !http::valid_user_id(grant) {
        return Err(ApiError::new(
            404,
            "grant_unknown",
            "no such grant for this user",
        ));
    }
    let call = UserCall {
        caller: Caller::Admin,
        grant_id: Some(grant.to_string()),
        ..UserCall::new(ctx.now_ms, id, None)
    };
    Ok(Routed::Forward(internal::Call::user(UserOp::Revoke, call)))
}

// ------------------------------------------------------------ events (SPEC §10)

/// `?limit=`: 1..=1000 (default 100).
fn page_limit(ctx: &Ctx) -> std::result::Result<u32, ApiError> {
    match http::query(&ctx.query, "limit") {
        None => Ok(100),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=objects::MAX_PAGE).contains(n))
            .ok_or_else(|| ApiError::bad_field("limit", "an integer from 1 to 1000")),
    }
}

/// `GET /v1/admin/events?since=<id>&limit=`: every user's events of the
/// last 7 days, in the order the `EventLog` received them, after the event
/// `since` (absent: from the oldest kept). Answers `{events, next, more}`:
/// pass `next` as `since` for the following page. An event reaches the log
/// from its user's object's alarm, moments after it was raised.
async fn route_admin_events(req: Request, ctx: &Ctx) -> RouteResult {
    require_admin(&req, ctx)?;
    let since = http::query(&ctx.query, "since").filter(|s| !s.is_empty());
    if let Some(s) = &since {
        if s.len() > 200 || s.chars().any(char::is_control) {
            return Err(ApiError::bad_field("since", "not an event id"));
        }
    }
    let call = internal::EventLogCall {
        since,
        limit: page_limit(ctx)?,
        ..Default::default()
    };
    Ok(Routed::Forward(internal::Call::event_log("list", call)))
}

/// `GET /v1/admin/users/{id}/events?since=<n>&limit=`: this user's own
/// outbox, straight from their object: each event with its `delivery`
/// (`pending` / `delivered` / `failed`, attempts, next attempt, last error).
/// `since` is the number after the last `:` of an event id.
async fn route_admin_user_events(req: Request, ctx: &Ctx, id: &str) -> RouteResult {
    require_admin(&req, ctx)?;
    check_user_id(id)?;
    let since = match http::query(&ctx.query, "since").filter(|s| !s.is_empty()) {
        None => None,
        Some(v) => {
            let n = v.rsplit(':').next().unwrap_or("");
            Some(n.parse::<i64>().map_err(|_| {
                ApiError::bad_field("since", "an event id (`<user>:<n>`) or its number")
            })?)
        }
    };
    let call = UserCall {
        caller: Caller::Admin,
        since,
        limit: Some(page_limit(ctx)?),
        ..UserCall::new(ctx.now_ms, id, None)
    };
    Ok(Routed::Forward(internal::Call::user(UserOp::Events, call)))
}

// ---------------------------------------------------------------- benchmark

/// `POST /bench/counter?user=`: the benchmark baseline (a bare SQLite counter
/// object, no Tollgate logic); only with `TOLLGATE_BENCH=1`.
async fn route_bench_counter(req: Request, ctx: &Ctx) -> RouteResult {
    let user = http::query(&ctx.query, "user").unwrap_or_default();
    if user.is_empty() || user.len() > 128 {
        return Err(ApiError::bad_field(
            "user",
            "query parameter `user` is required",
        ));
    }
    let stub = ctx.env.durable_object("BARE")?.get_by_name(&user)?;
    let resp = stub.fetch_with_request(req).await?;
    // A fetched response's headers are immutable: copy it (CORS is added later).
    let status = resp.status_code();
    Ok(Routed::Answer(http::json_text(
        status,
        http::response_text(&resp).await?,
    )?))
}
