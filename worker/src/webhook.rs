//! Webhook delivery of events (SPEC §10): the settings, the signature, the
//! backoff and one POST with a deadline. Only a user object's alarm calls
//! [`post`]; nothing on a request's path waits for a receiver.
//!
//! * `Tollgate-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
//!   with `TOLLGATE_WEBHOOK_SECRET`; the body is one event's JSON (one event
//!   per POST) and `Tollgate-Event-Id` repeats its id.
//! * Retried until a 2xx: the first retry after `TOLLGATE_WEBHOOK_FIRST_RETRY_MS`
//!   (default 10 s), then doubling, each wait at most 6 hours; attempts go on
//!   for at least 24 hours after the event was written, then the row is kept,
//!   marked failed.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use worker::{AbortController, Delay, Env, Fetch, Headers};

use crate::internal::var;

/// The longest wait between two attempts.
pub const MAX_INTERVAL_MS: i64 = 6 * 3600 * 1000;
/// Attempts go on at least this long after the event was written.
pub const GIVE_UP_AFTER_MS: i64 = 24 * 3600 * 1000;

/// Delivery settings, from the Worker's vars and secrets.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `TOLLGATE_WEBHOOK_URL`; unset: events are kept (and listed), never sent.
    pub url: Option<String>,
    pub secret: String,
    /// Wait before the first retry (`TOLLGATE_WEBHOOK_FIRST_RETRY_MS`,
    /// default 10 000; tests set it lower).
    pub first_retry_ms: i64,
    /// How long one POST may take (`TOLLGATE_WEBHOOK_TIMEOUT_MS`, default 10 000).
    pub timeout_ms: i64,
}

impl Settings {
    pub fn from_env(env: &Env) -> Settings {
        let num = |name: &str, default: i64| {
            var(env, name)
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|&n| n > 0)
                .unwrap_or(default)
        };
        let secret = var(env, "TOLLGATE_WEBHOOK_SECRET")
            .or_else(|| {
                env.secret("TOLLGATE_WEBHOOK_SECRET")
                    .ok()
                    .map(|s| s.to_string())
            })
            .unwrap_or_default();
        let url = var(env, "TOLLGATE_WEBHOOK_URL");
        if url.is_some() && secret.is_empty() {
            worker::console_error!(
                "TOLLGATE_WEBHOOK_URL is set without TOLLGATE_WEBHOOK_SECRET: events are kept, not sent"
            );
        }
        Settings {
            url: url.filter(|_| !secret.is_empty()),
            secret,
            first_retry_ms: num("TOLLGATE_WEBHOOK_FIRST_RETRY_MS", 10_000),
            timeout_ms: num("TOLLGATE_WEBHOOK_TIMEOUT_MS", 10_000),
        }
    }

    /// The wait after the `attempts`-th failed attempt (1 = the first).
    pub fn backoff_ms(&self, attempts: i64) -> i64 {
        let doublings = (attempts - 1).clamp(0, 40) as u32;
        self.first_retry_ms
            .saturating_mul(1i64 << doublings.min(40))
            .min(MAX_INTERVAL_MS)
    }
}

/// The `Tollgate-Signature` header for `body` sent at unix second `t`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// POSTs one event. `Ok(())` on a 2xx; otherwise what went wrong (status,
/// network error, or no answer within `timeout_ms`).
pub async fn post(s: &Settings, url: &str, id: &str, body: &str, now_s: i64) -> Result<(), String> {
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
    set("content-type", "application/json")?;
    set("tollgate-signature", &signature(&s.secret, now_s, body))?;
    set("tollgate-event-id", id)?;
    let req = crate::http::post_request(url, &headers, body).map_err(|e| e.to_string())?;
    let abort = AbortController::default();
    let signal = abort.signal();
    let fetch = Fetch::Request(req);
    let mut sent = pin!(fetch.send_with_signal(&signal));
    let mut deadline = pin!(Delay::from(Duration::from_millis(s.timeout_ms as u64)));
    let answer = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = sent.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    match answer {
        None => {
            abort.abort();
            Err(format!("no answer within {} ms", s.timeout_ms))
        }
        Some(Err(e)) => Err(format!("fetch failed: {e}")),
        Some(Ok(resp)) => {
            let status = resp.status_code();
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(format!("answered {status}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_t_dot_body() {
        // Computed independently
        // (Node: createHmac("sha256","s").update("1.{}").digest("hex")).
        assert_eq!(
            signature("s", 1, "{}"),
            "t=1,v1=b253639bcd705ed1cda3073f66104f16988bd40272584dea7d0d345ae93e61cc"
        );
    }

    #[test]
    fn backoff_doubles_from_the_first_retry_and_is_capped() {
        let s = Settings {
            url: None,
            secret: String::new(),
            first_retry_ms: 10_000,
            timeout_ms: 1,
        };
        assert_eq!(s.backoff_ms(1), 10_000);
        assert_eq!(s.backoff_ms(2), 20_000);
        assert_eq!(s.backoff_ms(3), 40_000);
        assert_eq!(s.backoff_ms(30), MAX_INTERVAL_MS);
        assert_eq!(s.backoff_ms(1000), MAX_INTERVAL_MS);
    }
}
