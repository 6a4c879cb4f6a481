//! Plans written with the seed platform's flat field names (SPEC §7).
//!
//! MobixAI's `SubscriptionType` and `FileUploadSettings` kept one column per
//! limit, with `0` meaning unlimited. Operators can paste such a row into a
//! config; it is converted to ordinary limits here, dropping the zeros.

use crate::config::{check_duplicate_limits, read_extensions, read_model_globs, FileRules, Plan};
use crate::json::{join, Reader};
use crate::limit::{Limit, Metric, Scope, Window};
use serde_json::{Map, Value};

/// Each flat count field and the limit it becomes.
const SEED_LIMITS: &[(&str, Metric, &str, &str)] = &[
    ("max_tokens", Metric::Tokens, "all", "subscription"),
    ("max_tokens_free", Metric::Tokens, "free", "subscription"),
    ("hourly_max_tokens", Metric::Tokens, "all", "1h"),
    ("three_hours_max_tokens", Metric::Tokens, "all", "3h"),
    ("twelve_hours_max_tokens", Metric::Tokens, "all", "12h"),
    ("daily_max_tokens", Metric::Tokens, "all", "day"),
    ("weekly_max_tokens", Metric::Tokens, "all", "week"),
    ("monthly_max_tokens", Metric::Tokens, "all", "month"),
    ("hourly_max_messages", Metric::Messages, "all", "1h"),
    ("three_hours_max_messages", Metric::Messages, "all", "3h"),
    ("twelve_hours_max_messages", Metric::Messages, "all", "12h"),
    ("daily_max_messages", Metric::Messages, "all", "day"),
    ("weekly_max_messages", Metric::Messages, "all", "week"),
    ("monthly_max_messages", Metric::Messages, "all", "month"),
    (
        "monthly_free_model_messages",
        Metric::Messages,
        "free",
        "month",
    ),
    ("monthly_free_model_tokens", Metric::Tokens, "free", "month"),
    ("daily_image_generation_limit", Metric::Images, "all", "day"),
    (
        "weekly_image_generation_limit",
        Metric::Images,
        "all",
        "week",
    ),
    (
        "monthly_image_generation_limit",
        Metric::Images,
        "all",
        "month",
    ),
    ("daily_file_limit", Metric::Files, "all", "day"),
    ("weekly_file_limit", Metric::Files, "all", "week"),
    ("monthly_file_limit", Metric::Files, "all", "month"),
    ("max_files_per_chat", Metric::Files, "all", "chat"),
];

/// The seed's flat limit fields and the metric each counts, in the order the
/// converted limits come out (`max_openrouter_cost_usd` aside: it is a dollar
/// amount, [`COST_FIELD`]). The Django import ([`crate::django`]) picks its
/// fields from this list rather than naming them again.
pub fn limit_fields() -> impl Iterator<Item = (&'static str, Metric)> {
    SEED_LIMITS.iter().map(|(f, m, ..)| (*f, *m))
}

/// The seed's dollar budget field: `cost_usd · all · subscription`.
pub const COST_FIELD: &str = "max_openrouter_cost_usd";

/// Other seed fields that are accepted.
const SEED_OTHER: &[&str] = &[
    "name",
    "id",
    "description",
    "price",
    "is_active",
    "duration_days",
    "tier",
    "models",
    "max_openrouter_cost_usd",
    "max_file_size",
    "allowed_extensions",
    "max_concurrent",
];

/// A plan object is in the seed's form when it has the seed's `name` and no
/// `limits` list.
pub fn is_seed_plan(m: &Map<String, Value>) -> bool {
    m.contains_key("name") && !m.contains_key("limits") && !m.contains_key("id")
        || SEED_LIMITS.iter().any(|(k, ..)| m.contains_key(*k))
}

/// Converts a seed plan; `0` means unlimited and becomes no limit.
pub fn read_seed_plan(r: &mut Reader, m: &Map<String, Value>, path: &str) -> Option<Plan> {
    for k in m.keys() {
        if !SEED_OTHER.contains(&k.as_str()) && !SEED_LIMITS.iter().any(|(f, ..)| f == k) {
            r.err(join(path, k), "unknown field");
        }
    }
    // The seed's `name` is the plan id; an explicit string `id` wins when given.
    let id = match m.get("id") {
        Some(Value::String(_)) => r.req_id(m, path, "id", 128),
        _ => r.req_id(m, path, "name", 128),
    };
    let active = r.opt_bool(m, path, "is_active").unwrap_or(true);
    let tier = r.opt_int(m, path, "tier").unwrap_or(0);
    let _ = r.opt_count(m, path, "duration_days");
    let models = match m.get("models") {
        Some(v) => read_model_globs(r, v, &join(path, "models")),
        None => {
            r.err(
                join(path, "models"),
                "required: the model ids this plan may use",
            );
            Vec::new()
        }
    };
    let mut limits = Vec::new();
    for (field, metric, scope, window) in SEED_LIMITS {
        if let Some(n) = r.opt_count(m, path, field) {
            if n > 0 {
                limits.push(Limit {
                    metric: *metric,
                    scope: Scope::parse(scope),
                    window: Window::parse(window).expect("seed windows are valid"),
                    max: n,
                    overflow_credits: false,
                    warn_at: None,
                });
            }
        }
    }
    if let Some(usd) = r.opt_usd(m, path, COST_FIELD) {
        if usd > 0 {
            limits.push(Limit {
                metric: Metric::CostUsd,
                scope: Scope::All,
                window: Window::Subscription,
                max: usd,
                overflow_credits: false,
                warn_at: None,
            });
        }
    }
    check_duplicate_limits(r, &limits, &join(path, "limits"));
    let files = FileRules {
        max_file_bytes: r.opt_count(m, path, "max_file_size").filter(|&n| n > 0),
        allowed_extensions: m
            .get("allowed_extensions")
            .and_then(|v| read_extensions(r, v, &join(path, "allowed_extensions")))
            .filter(|l| !l.is_empty()),
    };
    let max_concurrent = r.opt_count(m, path, "max_concurrent").filter(|&n| n > 0);
    Some(Plan {
        id: id?.to_string(),
        active,
        tier,
        models,
        limits,
        files,
        max_concurrent,
        fallbacks: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::limit::{Metric, Window};
    use serde_json::json;

    #[test]
    fn seed_plan_converts_and_drops_zeros() {
        let v = json!({
            "plans": [{
                "name": "Premium", "is_active": true, "duration_days": 30, "price": 250000,
                "models": ["openai/gpt-4o-mini", "*:free"],
                "max_tokens": 2000000, "max_tokens_free": 100000,
                "hourly_max_tokens": 0, "three_hours_max_tokens": 30000, "twelve_hours_max_tokens": 0,
                "daily_max_tokens": 50000, "weekly_max_tokens": 300000, "monthly_max_tokens": 1000000,
                "hourly_max_messages": 20, "daily_max_messages": 0,
                "monthly_free_model_messages": 300, "monthly_free_model_tokens": 0,
                "daily_image_generation_limit": 10, "weekly_image_generation_limit": 50,
                "monthly_image_generation_limit": 200, "max_openrouter_cost_usd": 5.5,
                "daily_file_limit": 20, "weekly_file_limit": 0, "monthly_file_limit": 0,
                "max_files_per_chat": 5, "max_file_size": 10485760,
                "allowed_extensions": "pdf, .TXT,png"
            }]
        });
        let c = Config::from_value(&v).unwrap();
        let p = c.plan("Premium").unwrap();
        assert!(p.active);
        let has = |m: Metric, s: &str, w: &str, max: u64| {
            p.limits.iter().any(|l| {
                l.metric == m
                    && l.scope.as_str() == s
                    && l.window == Window::parse(w).unwrap()
                    && l.max == max
            })
        };
        assert!(has(Metric::Tokens, "all", "subscription", 2_000_000));
        assert!(has(Metric::Tokens, "free", "subscription", 100_000));
        assert!(has(Metric::Tokens, "all", "3h", 30_000));
        assert!(has(Metric::Messages, "all", "1h", 20));
        assert!(has(Metric::Messages, "free", "month", 300));
        assert!(has(Metric::Images, "all", "week", 50));
        assert!(has(Metric::CostUsd, "all", "subscription", 5_500_000));
        assert!(has(Metric::Files, "all", "chat", 5));
        assert!(!p
            .limits
            .iter()
            .any(|l| l.window == Window::parse("1h").unwrap() && l.metric == Metric::Tokens));
        assert_eq!(p.limits.len(), 14);
        assert_eq!(p.files.max_file_bytes, Some(10_485_760));
        assert_eq!(
            p.files.allowed_extensions.as_deref(),
            Some(&["pdf".to_string(), "txt".into(), "png".into()][..])
        );
    }

    #[test]
    fn seed_plan_problems_have_paths() {
        let v =
            json!({"plans": [{"name": "x", "models": ["*"], "daily_max_tokens": -1, "bogus": 1}]});
        let e = Config::from_value(&v).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("plans[0].daily_max_tokens"), "{s}");
        assert!(s.contains("plans[0].bogus: unknown field"), "{s}");
    }
}
