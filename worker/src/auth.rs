//! Who is calling: user JWTs (HS256) and the admin token.
//!
//! A user token is `header.payload.signature`, base64url, signed with
//! HMAC-SHA256 under `TOLLGATE_JWT_SECRET` by the platform backend. Rules:
//!
//! * each part is canonical base64url (RFC 7515 §2): the URL-safe alphabet,
//!   no `=` padding, and the unused low bits of the last character zero. A
//!   token therefore has exactly one spelling; the variants others accept
//!   (padding, `+` `/`, other trailing bits) are refused, so a token cannot
//!   be altered without the signature check seeing it;
//! * header and payload are JSON objects without a duplicated key (a parser
//!   that keeps the first `sub` and one that keeps the last must never read
//!   two users out of one token);
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
//!   malformed one is refused;
//! * `scope` (SPEC §5) is a space-separated string of [`Scope`] words
//!   (unknown words are ignored, so the backend may add its own); a token
//!   without it (or with `null`) has `usage` only: the token a browser holds
//!   can read and pre-check, never reserve or settle. A `scope` that is not a
//!   string is refused.
//!
//! The admin token is compared in constant time (both sides hashed first, so
//! not even the length leaks through timing).

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tollgate::json::parse_strict;
use tollgate::Subscription;

use crate::http::valid_user_id;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_S: i64 = 30;
/// Longest token read.
pub const MAX_TOKEN: usize = 8 * 1024;

/// What a token may do (SPEC §5). Each route needs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `GET /v1/usage`, `POST /v1/check`.
    Usage,
    /// `POST /v1/reserve`, `POST /v1/discounts/{code}/redeem`.
    Reserve,
    /// `POST /v1/holds/{id}/commit`, `/release`, `/extend`.
    Settle,
    /// The OpenAI-compatible routes (worker/src/gateway.rs).
    Gateway,
}

impl Scope {
    const ALL: [Scope; 4] = [Scope::Usage, Scope::Reserve, Scope::Settle, Scope::Gateway];

    /// The word in the `scope` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Usage => "usage",
            Scope::Reserve => "reserve",
            Scope::Settle => "settle",
            Scope::Gateway => "gateway",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The set of scopes a token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// A token without a `scope` claim: it may only read.
    pub const DEFAULT: Scopes = Scopes(1 << Scope::Usage as u8);

    /// Reads a `scope` claim: space-separated words; unknown words are ignored.
    pub fn parse(claim: &str) -> Scopes {
        let words = || claim.split([' ', '\t']).filter(|w| !w.is_empty());
        Scopes(
            Scope::ALL
                .iter()
                .filter(|s| words().any(|w| w == s.as_str()))
                .fold(0, |acc, s| acc | s.bit()),
        )
    }

    pub fn allows(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }
}

/// What a verified user token says.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub subscription: Option<Subscription>,
    pub scopes: Scopes,
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

/// Decodes canonical base64url (RFC 7515 §2, RFC 4648 §5 without padding):
/// only `A–Z a–z 0–9 - _`, no `=`, no length that leaves a lone character,
/// and the bits of the last character that fall beyond the data all zero.
/// Every byte string has exactly one such spelling.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // What is left are the last character's unused bits: zero when canonical.
    (acc == 0).then_some(out)
}

/// A token part: canonical base64url of a JSON object without duplicated keys.
fn b64_json(part: &str) -> Option<Value> {
    let bytes = b64url_decode(part)?;
    let text = std::str::from_utf8(&bytes).ok()?;
    parse_strict(text).ok().filter(Value::is_object)
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
    let sig = b64url_decode(s).ok_or("malformed token signature")?;
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
    let scopes = match claims.get("scope") {
        None | Some(Value::Null) => Scopes::DEFAULT,
        Some(Value::String(s)) => Scopes::parse(s),
        Some(_) => return Err("scope must be a space-separated string".into()),
    };
    Ok(Claims {
        sub: sub.to_string(),
        subscription,
        scopes,
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
    fn base64url_is_canonical() {
        assert_eq!(b64url_decode("").unwrap(), b"");
        assert_eq!(b64url_decode("YQ").unwrap(), b"a");
        assert_eq!(b64url_decode("YWI").unwrap(), b"ab");
        assert_eq!(b64url_decode("-_8").unwrap(), [0xfb, 0xff]);
        for bad in [
            "YQ==", "YWI=", "+/8", "YR", "YWJ", "Y", "YQ\n", "Y Q", "YQ.", "é",
        ] {
            assert!(b64url_decode(bad).is_none(), "{bad:?}");
        }
        // Every byte string has one spelling: decode(encode(x)) round-trips.
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ n).collect();
            assert_eq!(b64url_decode(&b64url(&data)).unwrap(), data);
        }
    }

    #[test]
    fn malleated_tokens_are_refused() {
        let ok = r#"{"sub":"alice","exp":2000}"#;
        let t = sign(HS, ok, K);
        assert!(verify_jwt(&t, K, 1000).is_ok());
        let (hp, sig) = t.rsplit_once('.').unwrap();
        // `=` padding, the standard alphabet, other unused low bits.
        assert!(verify_jwt(&format!("{t}="), K, 1000).is_err());
        let std = sig.replace('-', "+").replace('_', "/");
        if std != sig {
            assert!(verify_jwt(&format!("{hp}.{std}"), K, 1000).is_err());
        }
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = A
            .iter()
            .position(|&c| c == *sig.as_bytes().last().unwrap())
            .unwrap();
        let flipped = format!("{hp}.{}{}", &sig[..sig.len() - 1], A[last ^ 1] as char);
        assert!(verify_jwt(&flipped, K, 1000).is_err());
        // Duplicated keys, signed as sent.
        let alg_twice = sign(r#"{"alg":"none","alg":"HS256"}"#, ok, K);
        assert!(verify_jwt(&alg_twice, K, 1000).is_err());
        let sub_twice = sign(HS, r#"{"sub":"alice","sub":"bob","exp":2000}"#, K);
        assert!(verify_jwt(&sub_twice, K, 1000).is_err());
    }

    #[test]
    fn scopes() {
        let scopes = |claims: &str| verify_jwt(&sign(HS, claims, K), K, 1000).map(|c| c.scopes);
        let none = scopes(r#"{"sub":"a","exp":2000}"#).unwrap();
        assert_eq!(none, Scopes::DEFAULT);
        assert!(none.allows(Scope::Usage) && !none.allows(Scope::Reserve));
        assert_eq!(
            scopes(r#"{"sub":"a","exp":2000,"scope":null}"#).unwrap(),
            none
        );
        let backend = scopes(r#"{"sub":"a","exp":2000,"scope":"reserve settle"}"#).unwrap();
        assert!(backend.allows(Scope::Reserve) && backend.allows(Scope::Settle));
        assert!(!backend.allows(Scope::Usage) && !backend.allows(Scope::Gateway));
        let odd = scopes(r#"{"sub":"a","exp":2000,"scope":" gateway  admin\tusage "}"#).unwrap();
        assert!(odd.allows(Scope::Gateway) && odd.allows(Scope::Usage));
        assert!(!odd.allows(Scope::Settle));
        let nothing = scopes(r#"{"sub":"a","exp":2000,"scope":""}"#).unwrap();
        assert!(!nothing.allows(Scope::Usage));
        assert!(scopes(r#"{"sub":"a","exp":2000,"scope":["usage"]}"#).is_err());
        // Words are whole: "usages" is not "usage".
        let near = scopes(r#"{"sub":"a","exp":2000,"scope":"usages reserved"}"#).unwrap();
        assert!(!near.allows(Scope::Usage) && !near.allows(Scope::Reserve));
    }

    #[test]
    fn admin_tokens() {
        assert!(admin_token_matches("t", "t"));
        assert!(!admin_token_matches("t", "u"));
        assert!(!admin_token_matches("", ""));
    }
}
