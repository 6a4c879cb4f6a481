//! Rate-limit headers (draft-ietf-httpapi-ratelimit-headers-10) and the
//! OpenAI-style `x-ratelimit-*` headers, computed from a decision's limits.
//! Pure: the shells only copy the strings onto their responses.

use crate::decision::LimitState;
use crate::limit::{Metric, Window};
use crate::time::parse_rfc3339;

/// `RateLimit-Policy` and `RateLimit` for the limit with the smallest
/// remaining share, e.g. `"tokens-1h";q=20000;w=3600` and
/// `"tokens-1h";r=500;t=1260`. `w` is left out for windows without a fixed
/// length (subscription, lifetime, chat); `t` when the window never resets.
pub fn ratelimit(limits: &[LimitState], now: i64) -> Option<(String, String)> {
    let tightest = limits
        .iter()
        .filter(|l| l.limit.raw() > 0 || l.remaining.raw() == 0)
        .min_by(|a, b| {
            // Compare remaining/limit as fractions without floats.
            let (ra, la) = (
                u128::from(a.remaining.raw()),
                u128::from(a.limit.raw().max(1)),
            );
            let (rb, lb) = (
                u128::from(b.remaining.raw()),
                u128::from(b.limit.raw().max(1)),
            );
            (ra * lb).cmp(&(rb * la))
        })?;
    let name = policy_name(tightest);
    let window = Window::parse(&tightest.window).ok();
    let mut policy = format!("\"{name}\";q={}", tightest.limit.raw());
    if let Some(w) = window.and_then(Window::nominal_secs) {
        policy.push_str(&format!(";w={w}"));
    }
    let mut state = format!("\"{name}\";r={}", tightest.remaining.raw());
    if let Some(r) = tightest.resets_at.as_deref().and_then(parse_rfc3339) {
        state.push_str(&format!(";t={}", (r - now).max(0)));
    }
    Some((policy, state))
}

/// `tokens-1h`, `messages-free-month`, `files-chat`.
pub fn policy_name(l: &LimitState) -> String {
    let metric = if l.metric == Metric::CostUsd.as_str() {
        "cost_usd_micros"
    } else {
        l.metric.as_str()
    };
    let scope: String = if l.scope == "all" {
        String::new()
    } else {
        // Header tokens must stay simple: globs lose their punctuation.
        let s: String = l
            .scope
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format!("{s}-")
    };
    format!("{metric}-{scope}{}", l.window)
}

/// OpenAI's headers for the tightest request and token limits:
/// `x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests`,
/// `x-ratelimit-reset-requests` (and the same for `tokens`), resets as `"1260s"`.
pub fn openai(limits: &[LimitState], now: i64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (metric, suffix) in [("messages", "requests"), ("tokens", "tokens")] {
        let tightest = limits
            .iter()
            .filter(|l| l.metric == metric)
            .min_by_key(|l| l.remaining.raw());
        if let Some(l) = tightest {
            out.push((
                format!("x-ratelimit-limit-{suffix}"),
                l.limit.raw().to_string(),
            ));
            out.push((
                format!("x-ratelimit-remaining-{suffix}"),
                l.remaining.raw().to_string(),
            ));
            if let Some(r) = l.resets_at.as_deref().and_then(parse_rfc3339) {
                out.push((
                    format!("x-ratelimit-reset-{suffix}"),
                    format!("{}s", (r - now).max(0)),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Amount;

    fn ls(
        metric: &str,
        window: &str,
        limit: u64,
        remaining: u64,
        resets: Option<&str>,
    ) -> LimitState {
        LimitState {
            metric: metric.into(),
            scope: "all".into(),
            window: window.into(),
            chat_id: None,
            limit: Amount::Count(limit),
            used: Amount::Count(limit - remaining),
            requested: None,
            remaining: Amount::Count(remaining),
            resets_at: resets.map(str::to_string),
            credits: None,
            from_credits: None,
        }
    }

    #[test]
    fn picks_the_smallest_remaining_share() {
        let now = parse_rfc3339("2026-11-23T19:00:00Z").unwrap();
        let limits = [
            ls(
                "tokens",
                "day",
                100_000,
                90_000,
                Some("2026-11-23T20:30:00Z"),
            ),
            ls("tokens", "1h", 20_000, 500, Some("2026-11-23T19:21:00Z")),
            ls("tokens", "subscription", 2_000_000, 1_000_000, None),
        ];
        let (p, s) = ratelimit(&limits, now).unwrap();
        assert_eq!(p, "\"tokens-1h\";q=20000;w=3600");
        assert_eq!(s, "\"tokens-1h\";r=500;t=1260");
        let sub = [ls("tokens", "subscription", 10, 1, None)];
        let (p, s) = ratelimit(&sub, now).unwrap();
        assert_eq!(p, "\"tokens-subscription\";q=10");
        assert_eq!(s, "\"tokens-subscription\";r=1");
        assert!(ratelimit(&[], now).is_none());
    }

    #[test]
    fn openai_headers() {
        let now = parse_rfc3339("2026-11-23T19:00:00Z").unwrap();
        let limits = [
            ls("messages", "day", 50, 10, Some("2026-11-23T20:30:00Z")),
            ls("tokens", "1h", 20_000, 500, Some("2026-11-23T19:21:00Z")),
        ];
        let h = openai(&limits, now);
        assert!(h.contains(&("x-ratelimit-remaining-requests".into(), "10".into())));
        assert!(h.contains(&("x-ratelimit-reset-tokens".into(), "1260s".into())));
    }
}
