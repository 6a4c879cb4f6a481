//! `config_from_dumpdata` against a realistic dump of the original platform
//! (tests/fixtures/mobixai-dumpdata.json): four subscription types (one
//! retired) with every SPEC §7 limit field set or 0, file settings per type,
//! free and paid models linked through `modelsubscription` (one inactive),
//! discount codes (one inactive, one expired), and models and fields the
//! conversion must ignore. Checked field by field.

use serde_json::{json, Value};
use tollgate::django::config_from_dumpdata;
use tollgate::engine::Options;
use tollgate::{Action, Config, Engine, Ledger, Subscription};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/mobixai-dumpdata.json")).unwrap()
}

fn converted() -> Value {
    config_from_dumpdata(&fixture()).unwrap_or_else(|p| panic!("{p}"))
}

fn plan<'a>(c: &'a Value, id: &str) -> &'a Value {
    c["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("no plan {id}"))
}

/// The plan's limits as `metric·scope·window=max` strings, in order.
fn limits(p: &Value) -> Vec<String> {
    p["limits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}·{}·{}={}",
                l["metric"].as_str().unwrap(),
                l.get("scope").and_then(Value::as_str).unwrap_or("all"),
                l["window"].as_str().unwrap(),
                l["max"]
            )
        })
        .collect()
}

#[test]
fn the_output_is_a_config_the_core_accepts() {
    let c = converted();
    let cfg = Config::from_value(&c).unwrap();
    assert_eq!(cfg.plans.len(), 4);
    assert_eq!(cfg.models.len(), 5);
    assert_eq!(cfg.discounts().len(), 4);
    assert_eq!(c["version"], 1);
    assert_eq!(c["timezone"], "Asia/Tehran");
    assert_eq!(c["locale"], "fa");
    // Only the config's own keys: nothing of the dump leaks through.
    let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "discounts",
            "locale",
            "models",
            "plans",
            "timezone",
            "version"
        ]
    );
}

#[test]
fn active_models_with_their_prices() {
    let c = converted();
    assert_eq!(
        c["models"],
        json!([
            {"id": "meta-llama/llama-3.3-8b-instruct:free", "free": true,
             "input_usd_per_mtok": 0.0, "output_usd_per_mtok": 0.0},
            {"id": "openai/gpt-4o-mini", "free": false,
             "input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.6},
            {"id": "openai/gpt-4o", "free": false,
             "input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10.0},
            {"id": "anthropic/claude-3.5-sonnet", "free": false,
             "input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0},
            {"id": "deepseek/deepseek-chat-v3-0324:free", "free": true}
        ])
    );
}

#[test]
fn plans_take_name_active_tier_and_linked_active_models() {
    let c = converted();
    let ids: Vec<&str> = c["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["Free", "Basic", "Premium", "Legacy"]);
    let free = plan(&c, "Free");
    assert_eq!(free["active"], true);
    // Tier = rank by price: 0 → 1, 250000 → 2 (Basic and Legacy), 750000 → 3.
    assert_eq!(free["tier"], 1);
    assert_eq!(plan(&c, "Basic")["tier"], 2);
    assert_eq!(plan(&c, "Legacy")["tier"], 2);
    assert_eq!(plan(&c, "Premium")["tier"], 3);
    assert_eq!(plan(&c, "Legacy")["active"], false);
    assert_eq!(
        free["models"],
        json!([
            "meta-llama/llama-3.3-8b-instruct:free",
            "deepseek/deepseek-chat-v3-0324:free"
        ])
    );
    // Gemini is linked to Basic and Premium but inactive: left out.
    assert_eq!(
        plan(&c, "Basic")["models"],
        json!([
            "meta-llama/llama-3.3-8b-instruct:free",
            "openai/gpt-4o-mini",
            "deepseek/deepseek-chat-v3-0324:free"
        ])
    );
    assert_eq!(
        plan(&c, "Premium")["models"],
        json!([
            "meta-llama/llama-3.3-8b-instruct:free",
            "openai/gpt-4o-mini",
            "openai/gpt-4o",
            "anthropic/claude-3.5-sonnet",
            "deepseek/deepseek-chat-v3-0324:free"
        ])
    );
    assert_eq!(plan(&c, "Legacy")["models"], json!(["openai/gpt-4o-mini"]));
    // duration_days has no place in a config: kept in the description.
    let d = plan(&c, "Basic")["description"].as_str().unwrap();
    assert!(d.contains("pk 2") && d.contains("duration_days 30"), "{d}");
    assert!(plan(&c, "Legacy")["description"]
        .as_str()
        .unwrap()
        .contains("duration_days 90"));
}

#[test]
fn every_limit_field_set_or_zero() {
    let c = converted();
    // Free: zeros dropped (0 = unlimited in the seed); cost "0.00" too.
    assert_eq!(
        limits(plan(&c, "Free")),
        [
            "tokens·free·subscription=100000",
            "tokens·all·1h=20000",
            "tokens·all·day=100000",
            "messages·all·1h=10",
            "messages·all·day=50",
            "messages·free·month=300",
            "images·all·day=2",
            "files·all·day=5",
            "files·all·chat=3",
        ]
    );
    // Basic: every field of SPEC §7 set.
    assert_eq!(
        limits(plan(&c, "Basic")),
        [
            "tokens·all·subscription=2000000",
            "tokens·free·subscription=100000",
            "tokens·all·1h=20000",
            "tokens·all·3h=45000",
            "tokens·all·12h=80000",
            "tokens·all·day=100000",
            "tokens·all·week=500000",
            "tokens·all·month=1500000",
            "messages·all·1h=30",
            "messages·all·3h=60",
            "messages·all·12h=150",
            "messages·all·day=200",
            "messages·all·week=1000",
            "messages·all·month=3000",
            "messages·free·month=300",
            "tokens·free·month=200000",
            "images·all·day=10",
            "images·all·week=50",
            "images·all·month=200",
            "files·all·day=20",
            "files·all·week=100",
            "files·all·month=300",
            "files·all·chat=5",
            "cost_usd·all·subscription=5.0",
        ]
    );
    assert_eq!(
        limits(plan(&c, "Premium")),
        [
            "tokens·all·subscription=10000000",
            "tokens·all·12h=250000",
            "tokens·all·day=400000",
            "tokens·all·week=2000000",
            "tokens·all·month=6000000",
            "messages·all·day=500",
            "messages·all·month=10000",
            "images·all·day=30",
            "images·all·week=150",
            "images·all·month=500",
            "files·all·month=1000",
            "files·all·chat=10",
            "cost_usd·all·subscription=25.5",
        ]
    );
    // Legacy has no file settings row: no file limits, no file rules.
    assert_eq!(
        limits(plan(&c, "Legacy")),
        [
            "tokens·all·subscription=1000000",
            "tokens·free·subscription=50000",
            "tokens·all·day=50000",
            "images·all·day=5",
            "cost_usd·all·subscription=2.0",
        ]
    );
    assert!(plan(&c, "Legacy").get("files").is_none());
}

#[test]
fn file_rules_per_type() {
    let c = converted();
    assert_eq!(
        plan(&c, "Free")["files"],
        json!({"max_file_bytes": 5242880, "allowed_extensions": ["pdf", "txt", "png", "jpg", "jpeg"]})
    );
    // ", " separators, a leading dot and upper case, as operators type them.
    assert_eq!(
        plan(&c, "Basic")["files"],
        json!({"max_file_bytes": 10485760, "allowed_extensions": ["pdf", "txt", "png", "jpg", "jpeg", "docx"]})
    );
    assert_eq!(
        plan(&c, "Premium")["files"]["allowed_extensions"],
        json!(["pdf", "txt", "png", "jpg", "jpeg", "docx", "xlsx", "csv"])
    );
    assert_eq!(plan(&c, "Premium")["files"]["max_file_bytes"], 52428800);
}

#[test]
fn discount_codes_active_inactive_expired() {
    let c = converted();
    assert_eq!(
        c["discounts"],
        json!([
            {"code": "WELCOME10", "max_uses": 1000, "max_uses_per_user": 1,
             "expires_at": "2027-01-01T00:00:00Z"},
            // max_uses 0: no cap (the seed's 0 = unlimited); the offset is kept.
            {"code": "NOWRUZ1405", "max_uses": null, "max_uses_per_user": 2,
             "expires_at": "2027-04-02T20:29:59Z"},
            // Inactive: no use at all.
            {"code": "OLDPROMO", "max_uses": 0, "max_uses_per_user": 1, "expires_at": null},
            // Expired codes stay (a redemption answers discount_expired).
            {"code": "YALDA1404", "max_uses": 500, "max_uses_per_user": null,
             "expires_at": "2025-12-22T00:00:00Z"}
        ])
    );
}

#[test]
fn the_converted_config_decides_like_the_platform() {
    let engine = Engine::new(Config::from_value(&converted()).unwrap());
    let now_ms = 1_795_461_660_000; // 2026-11-23T19:21:00Z
    let sub = |plan: &str| Subscription {
        id: "s1".into(),
        plan: plan.into(),
        active: true,
        starts_at: 1_795_000_000,
        ends_at: Some(1_797_000_000),
    };
    let msg = |model: &str, tokens: u64| {
        Action::from_value(&json!({"type": "message", "model": model,
            "input_tokens": tokens, "max_output_tokens": 0, "kind": "send"}))
        .unwrap()
    };
    let opts = Options::default();
    let l = Ledger::default();
    let d = engine.check(
        &l,
        Some(&sub("Free")),
        &msg("openai/gpt-4o-mini", 10),
        now_ms,
        &opts,
    );
    assert_eq!(d.code.as_str(), "model_not_allowed");
    let d = engine.check(
        &l,
        Some(&sub("Free")),
        &msg("openai/gpt-4o", 10),
        now_ms,
        &opts,
    );
    assert_eq!(d.code.as_str(), "model_not_allowed");
    let free = "deepseek/deepseek-chat-v3-0324:free";
    assert!(
        engine
            .check(&l, Some(&sub("Free")), &msg(free, 10), now_ms, &opts)
            .allowed
    );
    let d = engine.check(&l, Some(&sub("Free")), &msg(free, 20_001), now_ms, &opts);
    assert_eq!(d.code.as_str(), "insufficient_budget");
    let d = engine.check(
        &l,
        Some(&sub("Legacy")),
        &msg("openai/gpt-4o-mini", 10),
        now_ms,
        &opts,
    );
    assert_eq!(d.code.as_str(), "plan_inactive");
    let d = engine.check(
        &l,
        Some(&sub("Premium")),
        &msg("google/gemini-pro-1.0", 10),
        now_ms,
        &opts,
    );
    assert_eq!(d.code.as_str(), "model_not_allowed");
}

#[test]
fn an_explicit_tier_wins_over_price() {
    let dump = json!([
        {"model": "subscriptions.subscriptiontype", "pk": 1,
         "fields": {"name": "a", "price": "9.00", "tier": 5, "daily_max_tokens": 10}},
        {"model": "subscriptions.subscriptiontype", "pk": 2,
         "fields": {"name": "b", "price": "1.00"}},
        {"model": "subscriptions.subscriptiontype", "pk": 3, "fields": {"name": "c"}}
    ]);
    let c = config_from_dumpdata(&dump).unwrap();
    assert_eq!(plan(&c, "a")["tier"], 5);
    assert_eq!(plan(&c, "b")["tier"], 1);
    assert_eq!(plan(&c, "c")["tier"], 0);
    assert_eq!(plan(&c, "c")["models"], json!([]));
    assert_eq!(c["discounts"], json!([]));
}

#[test]
fn every_problem_of_a_bad_dump_is_listed_with_its_place() {
    let dump = json!([
        {"model": "auth.user", "pk": 1, "fields": {"whatever": "ignored"}},
        {"model": "subscriptions.subscriptiontype", "pk": 1,
         "fields": {"name": "a", "daily_max_tokens": -1, "hourly_max_messages": "ten",
                    "max_openrouter_cost_usd": "lots", "is_active": "yes"}},
        {"model": "subscriptions.subscriptiontype", "pk": 2, "fields": {"price": "1"}},
        {"model": "subscriptions.fileuploadsettings", "pk": 1,
         "fields": {"subscription_type": 9, "daily_file_limit": 1}},
        {"model": "subscriptions.fileuploadsettings", "pk": 2,
         "fields": {"subscription_type": 1, "max_file_size": 1.5, "allowed_extensions": 7}},
        {"model": "ai_models.aimodel", "pk": 1, "fields": {"is_free": true}},
        {"model": "ai_models.aimodel", "pk": 2,
         "fields": {"model_id": "x", "input_price_per_million": "-3"}},
        {"model": "ai_models.modelsubscription", "pk": 1,
         "fields": {"ai_model": 42, "subscription_types": [1]}},
        {"model": "ai_models.modelsubscription", "pk": 2,
         "fields": {"ai_model": 2, "subscription_types": [1, 77]}},
        {"model": "subscriptions.discountcode", "pk": 1,
         "fields": {"code": "bad code!", "expires_at": "soon"}},
        {"model": "subscriptions.discountcode", "pk": 2, "fields": {"max_uses": 1}},
        {"model": "subscriptions.subscriptiontype", "fields": {"name": "nopk"}},
        "not an object"
    ]);
    let p = config_from_dumpdata(&dump).unwrap_err();
    let paths: Vec<&str> = p.0.iter().map(|p| p.path.as_str()).collect();
    for want in [
        "[1].fields.daily_max_tokens",
        "[1].fields.hourly_max_messages",
        "[1].fields.max_openrouter_cost_usd",
        "[1].fields.is_active",
        "[2].fields.name",
        "[3].fields.subscription_type",
        "[4].fields.max_file_size",
        "[4].fields.allowed_extensions",
        "[5].fields.model_id",
        "[6].fields.input_price_per_million",
        "[7].fields.ai_model",
        "[8].fields.subscription_types[1]",
        "[9].fields.code",
        "[9].fields.expires_at",
        "[10].fields.code",
        "[11].pk",
        "[12]",
    ] {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
    assert!(!paths.iter().any(|p| p.starts_with("[0]")), "{paths:?}");
    // Not a dump at all.
    assert_eq!(config_from_dumpdata(&json!({})).unwrap_err().0[0].path, "");
    let p = config_from_dumpdata(&json!([])).unwrap_err();
    assert!(p.0[0].reason.contains("subscriptiontype"), "{p}");
}
