//! HTTP helpers shared by the routes and the Durable Objects: JSON answers,
//! the API's error shape, bounded body reading, query and path helpers, CORS.
//!
//! Nothing here panics on client data: every parse returns an [`ApiError`].

use serde::Serialize;
use serde_json::{json, Value};
use tollgate::json::{parse_strict, Problem, Problems};
use tollgate::messages::Locale;
use worker::js_sys::{Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;
use worker::{Headers, Request, Response, ResponseBody, Result};

/// Request bodies larger than this answer 413 (SPEC §5).
pub const MAX_BODY: usize = 64 * 1024;

/// Headers a browser may read on a cross-origin answer (`WWW-Authenticate`
/// says which scope a 403 `insufficient_scope` wanted).
pub const EXPOSE_HEADERS: &str = "Retry-After, RateLimit, RateLimit-Policy, WWW-Authenticate, \
     x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, \
     x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens";
/// Headers a browser may send on a cross-origin request.
pub const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, Idempotency-Key, Accept-Language, X-Tollgate-Now";

/// A JSON response with the given status. Only the serialisation is
/// generic: the response is built once, in [`json_text`] (issue 9).
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    json_text(status, serde_json::to_string(body)?)
}

/// A JSON response from already serialised JSON text.
pub fn json_text(status: u16, body: String) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::ok(body)?
        .with_status(status)
        .with_headers(headers))
}

/// A POST of `body` with `headers` to `url` (the objects' internal calls,
/// the webhook), built on the platform's own `Request`: worker's
/// `RequestInit` conversion also carries the serialiser of its `cf`
/// properties, about 6 KB of the `.wasm` (issue 9), which these requests
/// never set. Fails as `Request::new_with_init` fails.
pub fn post_request(url: &str, headers: &Headers, body: &str) -> Result<Request> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(headers.as_ref());
    init.set_body(&JsValue::from_str(body));
    web_sys::Request::new_with_str_and_init(url, &init)
        .map(Request::from)
        .map_err(|e| {
            worker::Error::JsError(
                e.as_string()
                    .unwrap_or_else(|| "invalid URL or options for Request".to_string()),
            )
        })
}

/// A fetched response's body as text. A streamed body (what a fetch
/// answers) is read by the platform (`new Response(stream).text()`):
/// worker's `Response::text` reads it through its own byte-stream adapter,
/// about 1.7 KB gzipped of the `.wasm` (issue 9), for the same text — the
/// bodies read here are the objects' JSON answers, always UTF-8.
pub async fn response_text(resp: &Response) -> Result<String> {
    match resp.body() {
        ResponseBody::Empty => Ok(String::new()),
        // (Not what a fetch answers: its body is a stream.)
        ResponseBody::Body(bytes) => String::from_utf8(bytes.clone())
            .map_err(|_| worker::Error::RustError("response body is not UTF-8".into())),
        ResponseBody::Stream(stream) => {
            let whole = web_sys::Response::new_with_opt_readable_stream(Some(stream))?;
            let text = JsFuture::from(whole.text()?).await?;
            Ok(text.as_string().unwrap_or_default())
        }
    }
}

/// An answer that is not a decision: `{code, message, errors?}` with a status
/// and optional extra headers. Routes return it with `?`.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub errors: Option<Vec<Problem>>,
    pub headers: Vec<(&'static str, String)>,
    /// `insufficient_scope`: the scope the route needs (`required` in the body).
    pub required: Option<&'static str>,
}

pub type ApiResult = std::result::Result<Response, ApiError>;

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            errors: None,
            headers: Vec::new(),
            required: None,
        }
    }

    /// 400 with every problem listed.
    pub fn bad_request(message: impl Into<String>, errors: Vec<Problem>) -> Self {
        ApiError {
            errors: Some(errors),
            ..ApiError::new(400, "bad_request", message)
        }
    }

    /// 400 with one problem.
    pub fn bad_field(path: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        ApiError::bad_request(
            format!("{path}: {reason}"),
            vec![Problem {
                path: path.to_string(),
                reason,
            }],
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            headers: vec![("www-authenticate", "Bearer".to_string())],
            ..ApiError::new(401, "unauthorized", message)
        }
    }

    /// 403 for a token without the scope a route needs (SPEC §5), with the
    /// RFC 6750 challenge naming it.
    pub fn insufficient_scope(scope: &'static str) -> Self {
        ApiError {
            headers: vec![(
                "www-authenticate",
                format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
            )],
            required: Some(scope),
            ..ApiError::new(
                403,
                "insufficient_scope",
                format!("this token's scope does not include `{scope}`"),
            )
        }
    }

    /// 400 for a body that is not strict JSON (every problem listed).
    pub fn bad_json(problems: Problems) -> Self {
        ApiError::bad_request(problems.to_string(), problems.0)
    }

    pub fn not_found() -> Self {
        ApiError::new(404, "not_found", "no such route")
    }

    pub fn method_not_allowed(allow: &str) -> Self {
        ApiError {
            headers: vec![("allow", allow.to_string())],
            ..ApiError::new(
                405,
                "method_not_allowed",
                format!("method not allowed; allowed: {allow}"),
            )
        }
    }

    pub fn too_large() -> Self {
        ApiError::new(
            413,
            "payload_too_large",
            format!("request body over {MAX_BODY} bytes"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(500, "internal", message)
    }

    pub fn into_response(self) -> Result<Response> {
        let mut body = json!({ "code": self.code, "message": self.message });
        if let Some(errors) = self.errors {
            body["errors"] = serde_json::to_value(errors)?;
        }
        if let Some(scope) = self.required {
            body["required"] = json!(scope);
        }
        let mut resp = json(self.status, &body)?;
        for (k, v) in &self.headers {
            resp.headers_mut().set(k, v)?;
        }
        Ok(resp)
    }
}

impl From<worker::Error> for ApiError {
    fn from(err: worker::Error) -> Self {
        worker::console_error!("internal error: {err}");
        ApiError::internal("internal error")
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        worker::console_error!("internal JSON error: {err}");
        ApiError::internal("internal error")
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Declared or received: more bytes than the limit.
    TooLarge,
    /// `Content-Length` is not a number.
    BadLength,
    /// The stream failed (the client went away).
    Unreadable,
}

/// Reads a request body as it arrives, at most `limit` bytes. A declared
/// `Content-Length` over the limit is refused before any byte is read; a
/// body without one (chunked) is counted chunk by chunk and refused the
/// moment the count passes the limit — the rest is never waited for, and the
/// stream is cancelled. A client that sends 70 KiB and keeps the body open
/// therefore gets its 413 at once instead of holding the request (issue 8,
/// item 13). Used by the API (64 KiB) and by the gateway (8 MiB).
pub async fn read_limited(req: &Request, limit: usize) -> std::result::Result<Vec<u8>, BodyError> {
    if let Some(len) = req
        .headers()
        .get("content-length")
        .map_err(|_| BodyError::Unreadable)?
    {
        match len.trim().parse::<u64>() {
            Ok(n) if n > limit as u64 => return Err(BodyError::TooLarge),
            Ok(_) => {}
            Err(_) => return Err(BodyError::BadLength),
        }
    }
    let Some(stream) = req.inner().body() else {
        return Ok(Vec::new());
    };
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut out = Vec::new();
    loop {
        let step = JsFuture::from(reader.read())
            .await
            .map_err(|_| BodyError::Unreadable)?;
        let done = Reflect::get(&step, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(out);
        }
        let value =
            Reflect::get(&step, &JsValue::from_str("value")).map_err(|_| BodyError::Unreadable)?;
        let chunk = Uint8Array::new(&value);
        if out.len() + chunk.length() as usize > limit {
            // Not awaited: the answer must not wait for the client either.
            // (workerd then closes the connection once the answer is sent; a
            // client still writing reads the 413 and then a reset.)
            let _ = reader.cancel();
            return Err(BodyError::TooLarge);
        }
        let at = out.len();
        out.resize(at + chunk.length() as usize, 0);
        chunk.copy_to(&mut out[at..]);
    }
}

/// The request body as the Worker received it, to read and drop after the
/// answer when no route read it.
///
/// workerd closes a connection whose request body was left unread once the
/// answer is sent, and a client that sends its next request on that kept-
/// alive connection before it sees the close gets "other side closed" instead
/// of an answer. Routes that answer before reading (401, 403
/// `insufficient_scope`, a bad code or hold id) therefore leave the body to
/// [`UnreadBody::drain`]: at most [`DRAIN_MAX_BYTES`] for at most
/// [`DRAIN_MS`]; a body declared larger, or not over in time, is not waited
/// for (the connection is closed as before: never a way to hold a request).
/// A body refused by its declared length (413) is drained too, so the
/// client, still writing, reads the 413 instead of a reset connection.
pub struct UnreadBody {
    stream: Option<web_sys::ReadableStream>,
    declared: Option<u64>,
}

/// The longest an unread body is drained after the answer, in ms.
pub const DRAIN_MS: u64 = 1000;
/// The most bytes of an unread body drained after the answer.
pub const DRAIN_MAX_BYTES: usize = 2 * 1024 * 1024;

impl UnreadBody {
    pub fn of(req: &Request) -> UnreadBody {
        UnreadBody {
            stream: req.inner().body(),
            declared: req
                .headers()
                .get("content-length")
                .ok()
                .flatten()
                .and_then(|v| v.trim().parse().ok()),
        }
    }

    /// Reads and drops the body if nothing read it (see [`UnreadBody`]).
    pub async fn drain(self) {
        let Some(stream) = self.stream else {
            return;
        };
        if stream.locked() || self.declared.is_some_and(|n| n > DRAIN_MAX_BYTES as u64) {
            // Read by a route (or cancelled after a 413), or too big to wait for.
            return;
        }
        let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
        let mark: JsValue = worker::js_sys::Object::new().into();
        let m = mark.clone();
        let deadline = worker::wasm_bindgen_futures::future_to_promise(async move {
            worker::Delay::from(std::time::Duration::from_millis(DRAIN_MS)).await;
            Ok(m)
        });
        let mut left = DRAIN_MAX_BYTES;
        loop {
            let both = worker::js_sys::Array::of2(&reader.read(), &deadline);
            let Ok(step) = JsFuture::from(worker::js_sys::Promise::race(&both)).await else {
                break;
            };
            if worker::js_sys::Object::is(&step, &mark) {
                break;
            }
            let done = Reflect::get(&step, &JsValue::from_str("done"))
                .ok()
                .and_then(|d| d.as_bool())
                .unwrap_or(true);
            if done {
                return;
            }
            let n = Reflect::get(&step, &JsValue::from_str("value"))
                .map(|v| Uint8Array::new(&v).length() as usize)
                .unwrap_or(usize::MAX);
            if n > left {
                break;
            }
            left -= n;
        }
        let _ = reader.cancel();
    }
}

/// Reads the body as strict JSON (duplicated keys refused, see
/// [`parse_strict`]), at most [`MAX_BODY`] bytes (413 beyond, see
/// [`read_limited`]). An empty body is `None`.
pub async fn read_json(req: &mut Request) -> std::result::Result<Option<Value>, ApiError> {
    let bytes = read_limited(req, MAX_BODY).await.map_err(|e| match e {
        BodyError::TooLarge => ApiError::too_large(),
        BodyError::BadLength => ApiError::bad_field("Content-Length", "not a number"),
        BodyError::Unreadable => ApiError::bad_field("", "the request body could not be read"),
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::bad_field("", "invalid JSON: not UTF-8"))?;
    parse_strict(text).map(Some).map_err(ApiError::bad_json)
}

/// The body as JSON; an empty body is refused.
pub async fn require_json(req: &mut Request) -> std::result::Result<Value, ApiError> {
    read_json(req)
        .await?
        .ok_or_else(|| ApiError::bad_field("", "a JSON body is required"))
}

/// A request's query parameters, decoded as the `url` crate's
/// `Url::query_pairs` decodes them (`application/x-www-form-urlencoded`:
/// `+` is a space, a malformed `%` escape is kept as it is, bytes that are
/// not UTF-8 become U+FFFD), without parsing the whole URL: the URL parser
/// and its host-name tables were about 39 KB of the `.wasm` (issue 9), and
/// the runtime hands over the URL already normalised.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// The query of the request's URL.
    pub fn of(req: &Request) -> Query {
        Query::parse(&req.inner().url())
    }

    /// The query of a serialised URL: after the first `?`, before any `#`.
    pub fn parse(url: &str) -> Query {
        let q = url.split_once('?').map_or("", |(_, q)| q);
        let q = q.split_once('#').map_or(q, |(q, _)| q);
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (form_decode(k), form_decode(v))
                })
                .collect(),
        )
    }
}

/// One name or value of a query: `+` is a space, `%XX` a byte; a malformed
/// escape stays as it is and bytes that are not UTF-8 become U+FFFD.
fn form_decode(s: &str) -> String {
    String::from_utf8_lossy(&unescape(s, true).0).into_owned()
}

/// `%XX` escapes as bytes (and `+` as a space in a form), for path segments
/// and query parameters alike; `true` beside them when an escape was
/// malformed (kept as it is).
fn unescape(s: &str, form: bool) -> (Vec<u8>, bool) {
    let hex = |c: Option<&u8>| c.and_then(|&c| char::from(c).to_digit(16));
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut malformed = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if form => out.push(b' '),
            b'%' => match (hex(b.get(i + 1)), hex(b.get(i + 2))) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => {
                    malformed = true;
                    out.push(b'%');
                }
            },
            c => out.push(c),
        }
        i += 1;
    }
    (out, malformed)
}

/// The value of a query parameter (the first, when repeated).
pub fn query(q: &Query, name: &str) -> Option<String> {
    q.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// `?explain=1` (or `true`).
pub fn explain(q: &Query) -> bool {
    matches!(query(q, "explain").as_deref(), Some("1" | "true" | "yes"))
}

/// `?lang=en`, else `Accept-Language`, else `None` (the config's locale).
pub fn locale(q: &Query, headers: &Headers) -> Option<Locale> {
    if let Some(l) = query(q, "lang").as_deref().and_then(Locale::parse) {
        return Some(l);
    }
    headers
        .get("accept-language")
        .ok()
        .flatten()
        .and_then(|h| Locale::from_accept_language(&h))
}

/// Percent-decodes one path segment; `None` when it is not valid UTF-8 or a
/// `%` escape is malformed.
pub fn percent_decode(s: &str) -> Option<String> {
    match unescape(s, false) {
        (bytes, false) => String::from_utf8(bytes).ok(),
        (_, true) => None,
    }
}

/// A user id (the JWT `sub`): 1–128 characters of `A–Z a–z 0–9 . _ : @ -`.
pub fn valid_user_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'@' | b'-'))
}

/// A discount code: 1–64 characters of `A–Z a–z 0–9 . _ -`.
pub fn valid_code(s: &str) -> bool {
    // The core states it (a config's `discounts` are checked by the same rule).
    tollgate::config::valid_discount_code(s)
}

/// A hold id as the ledger makes them (`h1`, `h2`, …); anything else is unknown.
pub fn valid_hold_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
}

/// An `Idempotency-Key`: 1–255 visible ASCII characters.
pub fn valid_idempotency_key(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|c| c.is_ascii_graphic() || c == b' ')
}

/// CORS: which origin to allow for this request, if any.
/// `allowed` is `TOLLGATE_ALLOWED_ORIGINS`: `*` or a comma-separated list.
pub fn cors_origin(allowed: &str, origin: Option<&str>) -> Option<String> {
    let origin = origin?;
    let mut any = false;
    for a in allowed.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if a == "*" {
            any = true;
        } else if a.trim_end_matches('/').eq_ignore_ascii_case(origin) {
            return Some(origin.to_string());
        }
    }
    any.then(|| "*".to_string())
}

/// Adds the CORS headers for an allowed origin to an answer.
pub fn add_cors(resp: &mut Response, allow_origin: &str) -> Result<()> {
    let h = resp.headers_mut();
    h.set("access-control-allow-origin", allow_origin)?;
    h.set("access-control-expose-headers", EXPOSE_HEADERS)?;
    if allow_origin != "*" {
        h.append("vary", "Origin")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_codes() {
        assert!(valid_user_id("alice@example.com"));
        assert!(valid_user_id("u:1-2_3.x"));
        assert!(!valid_user_id(""));
        assert!(!valid_user_id("a b"));
        assert!(!valid_user_id(&"a".repeat(129)));
        assert!(valid_code("NOWRUZ-1405"));
        assert!(!valid_code("a/b"));
        assert!(valid_hold_id("h12"));
        assert!(!valid_hold_id("h 1"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%ff"), None);
        // Two hex digits, not a signed number (`from_str_radix` took "+f").
        assert_eq!(percent_decode("%+f"), None);
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
    }

    /// The query as `Url::query_pairs` (the `url` crate, native here) reads it.
    #[test]
    fn query_as_the_url_crate_reads_it() {
        let cases = [
            "https://w.test/v1/check",
            "https://w.test/v1/check?",
            "https://w.test/v1/check?explain=1",
            "https://w.test/a?explain=1&lang=en&explain=0",
            "https://w.test/a?&&x&=y&z=&lang==en=",
            "https://w.test/a?note=a+b%20c%2Bd&user=%E2%9C%93",
            "https://w.test/a?bad=%zz%2%&trail=%4",
            "https://w.test/a?latin=%E9%FF&mixed=%C3%A9%C3",
            "https://w.test/a?x=1#frag?y=2",
            "https://w.test/a?since=u%3A12&limit=100&before=7",
            "https://w.test/a?k=%2b+%2B&%6Cang=fa",
            "https://w.test/a?sp=%20%09%0A&amp=%26&eq=%3D",
            "https://w.test/a?%=%&%%=%%41",
        ];
        for url in cases {
            let parsed = worker::Url::parse(url).unwrap();
            let want: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(Query::parse(url).0, want, "{url}");
        }
        let q = Query::parse("https://w.test/a?explain=yes&lang=en&lang=fa");
        assert!(explain(&q));
        assert_eq!(query(&q, "lang").as_deref(), Some("en"));
        assert_eq!(query(&q, "note"), None);
    }

    #[test]
    fn cors() {
        let list = "http://a.test, http://b.test";
        assert_eq!(
            cors_origin(list, Some("http://b.test")).as_deref(),
            Some("http://b.test")
        );
        assert_eq!(cors_origin(list, Some("http://c.test")), None);
        assert_eq!(
            cors_origin("*", Some("http://c.test")).as_deref(),
            Some("*")
        );
        assert_eq!(cors_origin("*", None), None);
    }
}
