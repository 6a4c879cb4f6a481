//! Instants. The core never reads the clock: every operation takes `now` in
//! Unix milliseconds (what `Date.now()` gives the Worker and the browser) and
//! works in whole seconds inside.
//!
//! RFC 3339 is written and read here with plain integer arithmetic (the
//! civil calendar of [`crate::zone`]) rather than a date-time library: it is
//! the one format the product speaks, and a small reader keeps the browser
//! package small. Both behave exactly as chrono's `to_rfc3339_opts` and
//! `parse_from_rfc3339` did (the tests compare them).

use crate::zone::{civil_from_days, days_from_civil, month_days};

/// Whole seconds of a millisecond instant, rounded down (also before 1970).
pub fn secs(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000)
}

/// The first and last unix second that have an RFC 3339 form here:
/// -262143-01-01T00:00:00Z and +262142-12-31T23:59:59Z (chrono's range).
const MIN_S: i64 = -8_334_601_228_800;
const MAX_S: i64 = 8_210_266_876_799;

/// RFC 3339 in UTC with a `Z`: `2026-11-23T19:21:00Z`. Years beyond 0–9999
/// get a sign and at least four digits (`+10000-01-01T00:00:00Z`); instants
/// out of the representable range read `9999-12-31T23:59:59Z`.
pub fn rfc3339(unix_s: i64) -> String {
    if !(MIN_S..=MAX_S).contains(&unix_s) {
        return "9999-12-31T23:59:59Z".to_string();
    }
    let (y, m, d) = civil_from_days(unix_s.div_euclid(86_400));
    let s = unix_s.rem_euclid(86_400);
    // Written digit by digit: every decision carries several of these, and
    // the formatting machinery costs more than the calendar arithmetic.
    let mut out = String::with_capacity(24);
    if (0..=9999).contains(&y) {
        push_digits(&mut out, y as u64, 4);
    } else {
        out.push(if y < 0 { '-' } else { '+' });
        let a = y.unsigned_abs();
        push_digits(
            &mut out,
            a,
            if a >= 100_000 {
                6
            } else if a >= 10_000 {
                5
            } else {
                4
            },
        );
    }
    let two = |out: &mut String, sep: char, n: i64| {
        out.push(sep);
        push_digits(out, n as u64, 2);
    };
    two(&mut out, '-', m);
    two(&mut out, '-', d);
    two(&mut out, 'T', s / 3600);
    two(&mut out, ':', s / 60 % 60);
    two(&mut out, ':', s % 60);
    out.push('Z');
    out
}

/// `n` in exactly `width` decimal digits (zero-padded; `n` fits).
pub(crate) fn push_digits(out: &mut String, n: u64, width: u32) {
    for i in (0..width).rev() {
        out.push(char::from(b'0' + (n / 10u64.pow(i) % 10) as u8));
    }
}

/// Parses RFC 3339 (`2026-11-23T19:21:00Z`, `2026-11-23T22:51:00.5+03:30`)
/// into Unix seconds, fractions dropped. As RFC 3339 allows, the `T` may be
/// a `t` or a space and the `Z` a `z`; a leap second (`:60`) is the second
/// before it.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let sep = |at: usize, ok: &[u8]| b.get(at).is_some_and(|c| ok.contains(c));
    let (y, m, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hh, mm, ss) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    if !(1..=12).contains(&m) || d < 1 || d > month_days(y, m) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut i = 19;
    if sep(i, b".") {
        i += 1;
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        i += digits;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        &c @ (b'+' | b'-') if i + 6 == b.len() && sep(i + 3, b":") => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if c == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let local = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss.min(59);
    Some(local - offset)
}

/// A naive local date-time, `2026-11-23T22:51:00` or `2026-11-23
/// 22:51:00.123456` (fractions dropped), as seconds on the local time line
/// (midnight of day `d` since 1970-01-01 is `d * 86400`): what Django dumps
/// with `USE_TZ = False`. The zone decides which instant that is
/// ([`crate::zone::Zone::earliest`]).
pub fn parse_naive(s: &str) -> Option<i64> {
    let date_time = match s.split_once('.') {
        Some((dt, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => dt,
        Some(_) => return None,
        None => s,
    };
    // `YYYY-MM-DD[T or space]HH:MM:SS`: the fields of RFC 3339, read as UTC.
    let b = date_time.as_bytes();
    if b.len() != 19 || !matches!(b[10], b'T' | b' ') {
        return None;
    }
    parse_rfc3339(&format!("{date_time}Z"))
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

    /// Django's naive dumps, as chrono's `NaiveDateTime::parse_from_str` read
    /// them with `%Y-%m-%dT%H:%M:%S%.f` or `%Y-%m-%d %H:%M:%S%.f`.
    #[test]
    fn naive_agrees_with_chrono() {
        use chrono::NaiveDateTime;
        let chrono_naive = |s: &str| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
                .ok()
                .map(|d| d.and_utc().timestamp())
        };
        for s in [
            "2026-11-23T22:51:00",
            "2026-11-23 22:51:00",
            "2026-11-23T22:51:00.123456",
            "2026-11-23 22:51:00.5",
            "2024-02-29 00:00:00",
            "2026-02-29 00:00:00",
            "2026-11-23T22:51",
            "2026-11-23T22:51:00Z",
            "2026-11-23T22:51:00.",
            "2026-11-23X22:51:00",
            "2026-11-23",
            "",
        ] {
            assert_eq!(parse_naive(s), chrono_naive(s), "{s:?}");
        }
    }

    /// The same answers as chrono, which the core used before: formatting
    /// over the whole range and its edges, parsing on valid and broken text.
    #[test]
    fn agrees_with_chrono() {
        use chrono::{DateTime, SecondsFormat};
        let chrono_fmt = |t: i64| {
            DateTime::from_timestamp(t, 0)
                .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_string())
        };
        let chrono_parse = |s: &str| DateTime::parse_from_rfc3339(s).ok().map(|d| d.timestamp());
        let mut ts = vec![
            i64::MIN,
            i64::MAX,
            MIN_S - 1,
            MIN_S,
            MAX_S,
            MAX_S + 1,
            -62_135_596_800 - 1,
            -62_135_596_800,
            253_402_300_799,
            253_402_300_800,
            0,
            -1,
        ];
        let mut state = 3_u64;
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = (state >> 1) as i64;
            ts.push(r % 20_000_000_000_000);
            ts.push(r % 5_000_000_000);
        }
        for &t in &ts {
            let ours = rfc3339(t);
            assert_eq!(ours, chrono_fmt(t), "{t}");
            if ours != "9999-12-31T23:59:59Z" {
                assert_eq!(parse_rfc3339(&ours), chrono_parse(&ours), "{ours}");
            }
        }
        for s in [
            "2026-11-23T19:21:00Z",
            "2026-11-23t19:21:00z",
            "2026-11-23 19:21:00Z",
            "2026-11-23T19:21:00.123456789123Z",
            "2026-11-23T19:21:00.Z",
            "2026-11-23T19:21:60Z",
            "2026-11-23T19:21:61Z",
            "2026-11-23T24:00:00Z",
            "2026-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-11-23T19:21:00+03:30",
            "2026-11-23T19:21:00-00:00",
            "2026-11-23T19:21:00+23:59",
            "2026-11-23T19:21:00+24:00",
            "2026-11-23T19:21:00+0330",
            "2026-11-23T19:21:00+03",
            "2026-11-23T19:21:00",
            "2026-11-23T19:21Z",
            "2026-11-23",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59+01:00",
            "+2026-11-23T19:21:00Z",
            "20261-11-23T19:21:00Z",
            "2026-1-23T19:21:00Z",
            "2026-11-23T19:21:00Z ",
            " 2026-11-23T19:21:00Z",
            "2026-11-23T19:21:00ZZ",
            "2026-11-23T19:21:0aZ",
            "2026-11-23T19:21:00.5+03:30",
            "yesterday",
            "",
            "2026-11-23T19:21:00\u{0660}Z",
        ] {
            assert_eq!(parse_rfc3339(s), chrono_parse(s), "{s:?}");
        }
    }
}
