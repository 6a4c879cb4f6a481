//! `tollgate token`: an HS256 user token with the claims of SPEC §5, signed
//! with `TOLLGATE_JWT_SECRET` as the platform's backend signs them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::Fail;

pub struct TokenRequest<'a> {
    pub user: &'a str,
    pub plan: &'a str,
    /// The `scope` claim; `None`: no claim (the token may only read).
    pub scope: Option<&'a str>,
    /// Subscription length in days.
    pub days: u32,
    /// Token lifetime in hours.
    pub hours: u32,
    pub sub_id: Option<&'a str>,
    pub active: bool,
}

/// The token's claims at `now` (unix seconds).
pub fn claims(t: &TokenRequest, now: i64) -> Value {
    let mut c = json!({
        "sub": t.user,
        "iat": now,
        "exp": now + i64::from(t.hours) * 3600,
        "subscription": {
            "id": t.sub_id.map(str::to_string).unwrap_or_else(|| format!("dev-{}", t.user)),
            "plan": t.plan,
            "active": t.active,
            "starts_at": now - 60,
            "ends_at": now + i64::from(t.days) * 86_400,
        },
    });
    if let Some(s) = t.scope {
        c["scope"] = json!(s);
    }
    c
}

/// Signs `claims` with `secret` (HS256).
pub fn sign(claims: &Value, secret: &[u8]) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let signing_input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "typ": "JWT"})),
        b64(claims)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// A token for `t`, now, with the secret from the environment.
pub fn mint(t: &TokenRequest) -> Result<String, Fail> {
    let secret = std::env::var("TOLLGATE_JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Fail::new("TOLLGATE_JWT_SECRET is not set (the secret the Worker verifies tokens with)")
        })?;
    if t.days == 0 || t.hours == 0 {
        return Err(Fail::new("--days and --hours must be at least 1"));
    }
    let now = crate::local::now_ms() / 1000;
    Ok(sign(&claims(t, now), secret.as_bytes()))
}
