//! Instants. The core never reads the clock: every operation takes `now` in
//! Unix milliseconds (what `Date.now()` gives the Worker and the browser) and
//! works in whole seconds inside.

use chrono::{DateTime, SecondsFormat};

/// Whole seconds of a millisecond instant, rounded down (also before 1970).
pub fn secs(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000)
}

/// RFC 3339 in UTC with a `Z`: `2026-11-23T19:21:00Z`.
pub fn rfc3339(unix_s: i64) -> String {
    DateTime::from_timestamp(unix_s, 0)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_string())
}

/// Parses RFC 3339 into Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok().map(|d| d.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(rfc3339(1_795_461_660), "2026-11-23T19:21:00Z");
        assert_eq!(parse_rfc3339("2026-11-23T19:21:00Z"), Some(1_795_461_660));
        assert_eq!(
            parse_rfc3339("2026-11-23T22:51:00+03:30"),
            Some(1_795_461_660)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(secs(-1), -1);
        assert_eq!(secs(1999), 1);
    }
}
