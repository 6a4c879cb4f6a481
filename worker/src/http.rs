//! HTTP helpers shared by the routes and the Durable Objects: JSON answers,
//! the API's error shape, bounded body reading, query and path helpers, CORS.
//!
//! Nothing here panics on client data: every parse returns an [`ApiError`].

use serde::Serialize;
use serde_json::{json, Value};
use tollgate::json::Problem;
use tollgate::messages::Locale;
use worker::{Headers, Request, Response, Result, Url};

/// Request bodies larger than this answer 413 (SPEC §5).
pub const MAX_BODY: usize = 64 * 1024;

/// Headers a browser may read on a cross-origin answer.
pub const EXPOSE_HEADERS: &str = "Retry-After, RateLimit, RateLimit-Policy, \
     x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, \
     x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens";
/// Headers a browser may send on a cross-origin request.
pub const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, Idempotency-Key, Accept-Language, X-Tollgate-Now";

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// A JSON response from already serialised JSON text.
pub fn json_text(status: u16, body: String) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::ok(body)?
        .with_status(status)
        .with_headers(headers))
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

/// Reads the body as JSON, at most [`MAX_BODY`] bytes (413 beyond: the
/// declared `Content-Length` is checked first, then the bytes actually read).
/// An empty body is `None`.
pub async fn read_json(req: &mut Request) -> std::result::Result<Option<Value>, ApiError> {
    if let Some(len) = req.headers().get("content-length")? {
        match len.trim().parse::<u64>() {
            Ok(n) if n > MAX_BODY as u64 => return Err(ApiError::too_large()),
            Ok(_) => {}
            Err(_) => return Err(ApiError::bad_field("Content-Length", "not a number")),
        }
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|_| ApiError::bad_field("", "the request body could not be read"))?;
    if bytes.len() > MAX_BODY {
        return Err(ApiError::too_large());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError::bad_field("", format!("invalid JSON: {e}")))
}

/// The body as JSON; an empty body is refused.
pub async fn require_json(req: &mut Request) -> std::result::Result<Value, ApiError> {
    read_json(req)
        .await?
        .ok_or_else(|| ApiError::bad_field("", "a JSON body is required"))
}

/// The value of a query parameter.
pub fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `?explain=1` (or `true`).
pub fn explain(url: &Url) -> bool {
    matches!(query(url, "explain").as_deref(), Some("1" | "true" | "yes"))
}

/// `?lang=en`, else `Accept-Language`, else `None` (the config's locale).
pub fn locale(url: &Url, headers: &Headers) -> Option<Locale> {
    if let Some(l) = query(url, "lang").as_deref().and_then(Locale::parse) {
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
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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
