//! Tables for people: a user's meters (`user show`) and the config history.
//! Numbers go through the core's formatting, so `--locale fa` prints the
//! same Persian digits and grouping as the decisions' messages.

use serde_json::Value;
use tollgate::json::usd_to_micros;
use tollgate::messages::{format_int, format_usd, localize_digits, Locale};
use tollgate::time::parse_rfc3339;

/// Characters a terminal gives a column to (the zero-width joiners of
/// Persian words, as in «باقی‌مانده», take none).
fn width(s: &str) -> usize {
    s.chars()
        .filter(|c| !matches!(c, '\u{200c}' | '\u{200d}'))
        .count()
}

/// Left-aligned columns, widths by characters (Persian digits are one each).
fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(width(c));
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                let pad = widths[i] - width(c) + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A figure of `metric` as the Worker sent it (dollars for cost_usd).
fn figure(v: Option<&Value>, metric: &str, locale: Locale) -> String {
    let Some(n) = v.and_then(Value::as_f64) else {
        return "—".into();
    };
    if metric == "cost_usd" {
        format!("${}", format_usd(usd_to_micros(n), locale))
    } else {
        format_int(n.max(0.0) as u64, locale)
    }
}

/// A span of seconds: `2d 3h`, `3h 12m`, `12m`, `45s` / `۲ روز ۳ ساعت` …
pub fn span(secs: i64, locale: Locale) -> String {
    let s = secs.max(0) as u64;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    let parts: Vec<(u64, &str, &str)> = if d > 0 {
        vec![(d, "d", "روز"), (h, "h", "ساعت")]
    } else if h > 0 {
        vec![(h, "h", "ساعت"), (m, "m", "دقیقه")]
    } else if m > 0 {
        vec![(m, "m", "دقیقه")]
    } else {
        vec![(s, "s", "ثانیه")]
    };
    let words: Vec<String> = parts
        .into_iter()
        .enumerate()
        .filter(|(i, (n, ..))| *i == 0 || *n > 0)
        .map(|(_, (n, en, fa))| match locale {
            Locale::En => format!("{n}{en}"),
            Locale::Fa => format!("{} {fa}", format_int(n, locale)),
        })
        .collect();
    words.join(" ")
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `user show`: the answer of `GET /v1/admin/users/{id}` as meters.
pub fn user(a: &Value, locale: Locale) -> String {
    let fa = locale == Locale::Fa;
    let as_of = parse_rfc3339(text(a, "as_of"));
    let mut out = String::new();
    let sub = a.get("subscription").filter(|s| !s.is_null());
    let plan = a.get("plan").and_then(Value::as_str).unwrap_or("—");
    let revision = a
        .get("config_revision")
        .and_then(Value::as_i64)
        .map(|r| localize_digits(&r.to_string(), locale))
        .unwrap_or_else(|| "—".into());
    let head = if fa {
        format!(
            "کاربر {} · طرح {plan} · نسخهٔ پیکربندی {revision} · {}\n",
            text(a, "user"),
            localize_digits(text(a, "as_of"), locale)
        )
    } else {
        format!(
            "user {} · plan {plan} · config revision {revision} · as of {}\n",
            text(a, "user"),
            text(a, "as_of")
        )
    };
    out.push_str(&head);
    match sub {
        Some(s) => {
            let ends = s
                .get("ends_at")
                .and_then(Value::as_i64)
                .map(tollgate::time::rfc3339)
                .unwrap_or_else(|| "—".into());
            let active = s.get("active").and_then(Value::as_bool).unwrap_or(false);
            out.push_str(&if fa {
                format!(
                    "اشتراک {} ({}) · پایان {}\n",
                    text(s, "id"),
                    if active { "فعال" } else { "غیرفعال" },
                    localize_digits(&ends, locale)
                )
            } else {
                format!(
                    "subscription {} ({}) · ends {ends}\n",
                    text(s, "id"),
                    if active { "active" } else { "inactive" }
                )
            });
        }
        None => out.push_str(if fa {
            "اشتراکی از این کاربر دیده نشده است\n"
        } else {
            "no subscription seen for this user yet\n"
        }),
    }
    let mut rows = vec![if fa {
        [
            "معیار",
            "دامنه",
            "بازه",
            "مصرف / سقف",
            "باقی‌مانده",
            "تا بازنشانی",
        ]
    } else {
        [
            "metric",
            "scope",
            "window",
            "used / limit",
            "remaining",
            "resets in",
        ]
    }
    .iter()
    .map(|s| s.to_string())
    .collect::<Vec<_>>()];
    for l in a
        .get("limits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let metric = text(l, "metric");
        let mut window = text(l, "window").to_string();
        if let Some(c) = l.get("chat_id").and_then(Value::as_str) {
            window = format!("{window} ({c})");
        }
        let resets = match (
            l.get("resets_at")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339),
            as_of,
        ) {
            (Some(t), Some(now)) => span(t - now, locale),
            _ => "—".into(),
        };
        rows.push(vec![
            metric.to_string(),
            text(l, "scope").to_string(),
            window,
            format!(
                "{} / {}",
                figure(l.get("used"), metric, locale),
                figure(l.get("limit"), metric, locale)
            ),
            figure(l.get("remaining"), metric, locale),
            resets,
        ]);
    }
    if rows.len() == 1 {
        out.push_str(if fa {
            "این طرح محدودیتی ندارد (یا طرح در پیکربندی نیست)\n"
        } else {
            "no limits (no plan, or the plan is not in the config)\n"
        });
    } else {
        out.push_str(&render(&rows));
    }
    let holds = a.get("holds").and_then(Value::as_array);
    let n = holds.map_or(0, Vec::len);
    out.push_str(&if fa {
        format!("درخواست‌های باز: {}\n", format_int(n as u64, locale))
    } else {
        format!("open holds: {n}\n")
    });
    for h in holds.into_iter().flatten() {
        out.push_str(&format!(
            "  {} {} {} → {}\n",
            text(h, "id"),
            text(h, "type"),
            h.get("model").and_then(Value::as_str).unwrap_or("-"),
            text(h, "expires_at")
        ));
    }
    out
}

/// `config history`: the answer of `GET /v1/admin/config/revisions`.
pub fn history(a: &Value) -> String {
    let mut rows = vec![["revision", "at", "size", "note"]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    for r in a
        .get("revisions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        rows.push(vec![
            r.get("revision").map(Value::to_string).unwrap_or_default(),
            text(r, "at").to_string(),
            r.get("size").map(Value::to_string).unwrap_or_default(),
            text(r, "note").to_string(),
        ]);
    }
    if rows.len() == 1 {
        return "no revisions yet: the Worker runs its built-in default config (revision 0)\n"
            .into();
    }
    render(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_like_people_write_them() {
        assert_eq!(span(2 * 86_400 + 3 * 3600 + 5, Locale::En), "2d 3h");
        assert_eq!(span(3 * 3600 + 12 * 60, Locale::En), "3h 12m");
        assert_eq!(span(3600, Locale::En), "1h");
        assert_eq!(span(45, Locale::En), "45s");
        assert_eq!(span(3 * 3600 + 12 * 60, Locale::Fa), "۳ ساعت ۱۲ دقیقه");
        assert_eq!(span(-5, Locale::Fa), "۰ ثانیه");
    }
}
