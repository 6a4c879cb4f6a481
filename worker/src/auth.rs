//! Who is calling: user JWTs (HS256) and the admin token.
//!
//! A user token is `header.payload.signature`, base64url, signed with
//! HMAC-SHA256 under `TOLLGATE_JWT_SECRET` by the platform backend. Rules:
//!
//! * `alg` must be exactly `HS256` (`none` and every other algorithm are
//!   refused before anything else is read); a `crit` header is refused;
//! * the signature is checked in constant time (`hmac`'s `verify_slice`)
//!   before the claims are parsed;
//! * `exp` (unix seconds) is required; the token is refused from
//!   `exp + LEEWAY_S` on; `nbf`, when present, is honoured from
//!   `nbf - LEEWAY_S` on. [`LEEWAY_S`] is 30 s of clock skew between the
//!   backend that signs and the edge;
//! * `sub` is the user id: 1–128 characters of `A–Z a–z 0–9 . _ : @ -`; it is
//!   the only source of the user id;
//! * `subscription` (`{id, plan, active, starts_at, ends_at}`, unix seconds) is
//!   optional: without it every decision says `subscription_missing`; a
//!   malformed one is refused.
//!
//! The admin token is compared in constant time (both sides hashed first, so
//! not even the length leaks through timing).

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tollgate::action::base64_decode;
use tollgate::Subscription;

use crate::http::valid_user_id;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_S: i64 = 30;
/// Longest token read.
pub const MAX_TOKEN: usize = 8 * 1024;

/// What a verified user token says.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub subscription: Option<Subscription>,
}

/// The bearer token of an `Authorization` header.
pub fn bearer(header: Option<&str>) -> Result<&str, &'static str> {
    let h = header.ok_or("missing Authorization header")?.trim();
    let (scheme, token) = h
        .split_once(' ')
        .ok_or("expected Authorization: Bearer <token>")?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err("expected Authorization: Bearer <token>");
    }
    let token = token.trim();
    if token.is_empty() {
        return Err("empty bearer token");
    }
    Ok(token)
}

fn b64_json(part: &str) -> Option<Value> {
    let bytes = base64_decode(part)?;
    serde_json::from_slice(&bytes).ok()
}

/// A JSON number as whole seconds (fractions are cut).
fn seconds(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9.0e15)
                .map(|f| f.floor() as i64)
        }),
        _ => None,
    }
}

/// Verifies a user token at `now_s` (unix seconds).
pub fn verify_jwt(token: &str, secret: &[u8], now_s: i64) -> Result<Claims, String> {
    if token.len() > MAX_TOKEN {
        return Err("token too long".into());
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed token: expected header.payload.signature".into());
    };
    let header = b64_json(h).ok_or("malformed token header")?;
    match header.get("alg").and_then(Value::as_str) {
        Some("HS256") => {}
        Some(other) => return Err(format!("unsupported alg {other:?}: only HS256")),
        None => return Err("token header has no alg".into()),
    }
    if header.get("crit").is_some() {
        return Err("unsupported crit header".into());
    }
    let sig = base64_decode(s).ok_or("malformed token signature")?;
    if secret.is_empty() {
        return Err("no signing secret configured".into());
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| "bad secret")?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| "invalid token signature".to_string())?;

    // Signed by our backend: now read the claims.
    let claims = b64_json(p).ok_or("malformed token payload")?;
    if !claims.is_object() {
        return Err("token payload is not an object".into());
    }
    let exp = claims
        .get("exp")
        .ok_or("token has no exp")
        .and_then(|v| seconds(v).ok_or("exp is not a number"))?;
    if now_s >= exp.saturating_add(LEEWAY_S) {
        return Err("token expired".into());
    }
    if let Some(nbf) = claims.get("nbf").filter(|v| !v.is_null()) {
        let nbf = seconds(nbf).ok_or("nbf is not a number")?;
        if now_s.saturating_add(LEEWAY_S) < nbf {
            return Err("token not valid yet (nbf)".into());
        }
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or("token has no sub")?;
    if !valid_user_id(sub) {
        return Err("sub must be 1-128 characters of A-Z a-z 0-9 . _ : @ -".into());
    }
    let subscription = match claims.get("subscription") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            Subscription::from_value(v).map_err(|e| format!("invalid subscription claim: {e}"))?,
        ),
    };
    Ok(Claims {
        sub: sub.to_string(),
        subscription,
    })
}

/// Constant-time comparison of a presented admin token with the configured one.
/// An empty configured token never matches.
pub fn admin_token_matches(presented: &str, configured: &str) -> bool {
    if configured.is_empty() {
        return false;
    }
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(configured.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate::action::base64_encode;

    fn b64url(bytes: &[u8]) -> String {
        base64_encode(bytes)
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_")
    }

    fn sign(header: &str, claims: &str, secret: &[u8]) -> String {
        let h = b64url(header.as_bytes());
        let p = b64url(claims.as_bytes());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        let s = b64url(&mac.finalize().into_bytes());
        format!("{h}.{p}.{s}")
    }

    const K: &[u8] = b"secret";
    const HS: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn good_token() {
        let t = sign(
            HS,
            r#"{"sub":"alice","exp":2000,"subscription":{"id":"s1","plan":"basic","active":true,"starts_at":0,"ends_at":null}}"#,
            K,
        );
        let c = verify_jwt(&t, K, 1000).unwrap();
        assert_eq!(c.sub, "alice");
        assert_eq!(c.subscription.unwrap().plan, "basic");
        let t = sign(HS, r#"{"sub":"bob","exp":2000}"#, K);
        assert_eq!(verify_jwt(&t, K, 1000).unwrap().subscription, None);
    }

    #[test]
    fn refusals() {
        let ok = r#"{"sub":"alice","exp":2000}"#;
        assert!(verify_jwt(&sign(HS, ok, b"other"), K, 1000).is_err());
        assert!(verify_jwt(&sign(r#"{"alg":"none"}"#, ok, K), K, 1000).is_err());
        assert!(verify_jwt(&sign(r#"{"alg":"HS512"}"#, ok, K), K, 1000).is_err());
        assert!(verify_jwt(&sign(HS, ok, K), K, 2030).is_err());
        assert!(verify_jwt(&sign(HS, ok, K), K, 2029).is_ok());
        assert!(verify_jwt(&sign(HS, r#"{"sub":"a"}"#, K), K, 0).is_err());
        assert!(verify_jwt(&sign(HS, r#"{"sub":"a b","exp":9}"#, K), K, 0).is_err());
        assert!(verify_jwt(&sign(HS, r#"{"sub":"a","exp":99,"nbf":50}"#, K), K, 10).is_err());
        assert!(verify_jwt(&sign(HS, r#"{"sub":"a","exp":99,"nbf":50}"#, K), K, 20).is_ok());
        assert!(verify_jwt("a.b", K, 0).is_err());
        assert!(verify_jwt("...", K, 0).is_err());
        let unsigned = sign(r#"{"alg":"none"}"#, ok, K);
        let (hp, _) = unsigned.rsplit_once('.').unwrap();
        assert!(verify_jwt(&format!("{hp}."), K, 1000).is_err());
    }

    #[test]
    fn admin_tokens() {
        assert!(admin_token_matches("t", "t"));
        assert!(!admin_token_matches("t", "u"));
        assert!(!admin_token_matches("", ""));
    }
}
