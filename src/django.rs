//! The original platform's own data in (SPEC §12): a config from the output
//! of Django's `manage.py dumpdata`.
//!
//! MobixAI keeps its limits in Django models. An operator moving to Tollgate
//! dumps them (`python manage.py dumpdata subscriptions ai_models > dump.json`)
//! and [`config_from_dumpdata`] turns the dump into a config, reading exactly
//! the models and fields of SPEC §12 and ignoring every other model and field:
//!
//! | model | fields read |
//! |---|---|
//! | `subscriptions.subscriptiontype` | `name`, `is_active`, `duration_days`, every limit field of SPEC §7, `tier` or else `price` |
//! | `subscriptions.fileuploadsettings` | `subscription_type`, the file limits, `max_file_size`, `allowed_extensions` |
//! | `ai_models.aimodel` | `model_id`, `is_free`, `is_active`, `input_price_per_million`, `output_price_per_million` |
//! | `ai_models.modelsubscription` | `ai_model`, `subscription_types` |
//! | `subscriptions.discountcode` | `code`, `max_uses`, `max_uses_per_user`, `expires_at`, `is_active` |
//!
//! A subscription type and its file settings become one plan in the seed's
//! flat form, which [`crate::seed`] converts (so the field → limit mapping
//! exists once); the plan is then written out in the config's own form. The
//! result is checked by [`Config::from_value`] before it is returned: what
//! comes out is always a config `tollgate config check` accepts.
//!
//! Choices where the dump says less than the config needs:
//! * `tier` comes from the type's `tier` when it has one, else from its rank
//!   by `price` among the types without one (cheapest = 1; equal prices share
//!   a tier; no price = 0).
//! * A plan's `models` are the ids of the *active* models linked to it in
//!   `modelsubscription`; inactive models are left out of the config.
//! * `duration_days` has no place in a config (it sets the subscription's
//!   `ends_at`, which the platform signs into the user's token): it is kept in
//!   the plan's `description`.
//! * Discount codes: `0` or `null` caps mean no cap (the seed's convention
//!   that `0` is unlimited); an inactive code gets `max_uses: 0` (no use at
//!   all). `expires_at` without an offset (Django with `USE_TZ = False`) is
//!   local time in the config's time zone, Asia/Tehran.
//! * A `fileuploadsettings` row without a `subscription_type` applies to every
//!   type that has no row of its own.

use crate::config::{Config, Plan};
use crate::json::{index, join, micros_to_usd, Problems, Reader};
use crate::limit::{Metric, Scope};
use crate::seed;
use serde_json::{json, Map, Number, Value};
use std::collections::{BTreeMap, HashMap};

const SUBSCRIPTION_TYPE: &str = "subscriptions.subscriptiontype";
const FILE_SETTINGS: &str = "subscriptions.fileuploadsettings";
const AI_MODEL: &str = "ai_models.aimodel";
const MODEL_SUBSCRIPTION: &str = "ai_models.modelsubscription";
const DISCOUNT_CODE: &str = "subscriptions.discountcode";

/// The config's time zone, and the one naive dump dates are read in.
const TIMEZONE: &str = "Asia/Tehran";

/// One row of the dump: its place (for problem paths), its key and its fields.
struct Row<'a> {
    /// `[i].fields`: where its fields are in the dump.
    path: String,
    pk: String,
    fields: &'a Map<String, Value>,
}

/// Converts `manage.py dumpdata` output (a JSON list of `{model, pk,
/// fields}`) into a config; every problem is listed with its path in the
/// dump (`[12].fields.daily_max_tokens`).
pub fn config_from_dumpdata(dump: &Value) -> Result<Value, Problems> {
    let mut r = Reader::new();
    let Some(items) = r.array(dump, "") else {
        return Err(Problems(r.problems));
    };
    let mut rows: HashMap<&str, Vec<Row>> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let path = index("", i);
        let Some(m) = r.object(item, &path) else {
            continue;
        };
        let Some(label) = m.get("model").and_then(Value::as_str) else {
            r.err(join(&path, "model"), "required: the dumpdata model label");
            continue;
        };
        let label = label.to_ascii_lowercase();
        let Some(wanted) = [
            SUBSCRIPTION_TYPE,
            FILE_SETTINGS,
            AI_MODEL,
            MODEL_SUBSCRIPTION,
            DISCOUNT_CODE,
        ]
        .into_iter()
        .find(|w| *w == label) else {
            continue; // another model: not ours to read
        };
        let pk = match m.get("pk") {
            Some(v) => pk_of(v),
            None => None,
        };
        let fields = m
            .get("fields")
            .and_then(|f| r.object(f, &join(&path, "fields")));
        match (pk, fields) {
            (Some(pk), Some(fields)) => rows.entry(wanted).or_default().push(Row {
                path: join(&path, "fields"),
                pk,
                fields,
            }),
            (None, _) => r.err(join(&path, "pk"), "required: an integer or string key"),
            _ => {}
        }
    }
    let mut take = |k| rows.remove(k).unwrap_or_default();
    let types = take(SUBSCRIPTION_TYPE);
    let files = take(FILE_SETTINGS);
    let models = take(AI_MODEL);
    let links = take(MODEL_SUBSCRIPTION);
    let codes = take(DISCOUNT_CODE);
    if types.is_empty() {
        r.err(
            "",
            format!("no {SUBSCRIPTION_TYPE} in the dump: dump the subscriptions app (manage.py dumpdata subscriptions ai_models)"),
        );
    }

    let (model_json, active_ids) = read_models(&mut r, &models);
    let plan_models = read_links(&mut r, &links, &models, &active_ids, &types);
    let file_rows = read_file_settings(&mut r, &files, &types);
    let tiers = tiers(&mut r, &types);

    let mut plans = Vec::new();
    for (ti, t) in types.iter().enumerate() {
        let mut flat = Map::new();
        for key in ["name", "is_active"] {
            if let Some(v) = t.fields.get(key) {
                flat.insert(key.to_string(), v.clone());
            }
        }
        flat.insert("tier".into(), json!(tiers[ti]));
        flat.insert(
            "models".into(),
            json!(plan_models.get(&t.pk).cloned().unwrap_or_default()),
        );
        for (field, metric) in seed::limit_fields() {
            if metric == Metric::Files {
                continue; // a fileuploadsettings field
            }
            if let Some(v) = t.fields.get(field) {
                flat.insert(field.to_string(), v.clone());
            }
        }
        if let Some(v) = t.fields.get(seed::COST_FIELD) {
            flat.insert(seed::COST_FIELD.to_string(), decimal(v));
        }
        if let Some(fr) = file_rows.get(&t.pk).or_else(|| file_rows.get("")) {
            for (k, v) in fr {
                flat.insert(k.clone(), v.clone());
            }
        }
        let duration = r.opt_count(t.fields, &t.path, "duration_days");
        if let Some(p) = seed::read_seed_plan(&mut r, &flat, &t.path) {
            let mut description = format!("{SUBSCRIPTION_TYPE} pk {}", t.pk);
            if let Some(d) = duration {
                description.push_str(&format!(
                    "; duration_days {d} (the subscription's ends_at, signed in the user's token)"
                ));
            }
            plans.push(plan_json(&p, &description));
        }
    }

    let discounts = read_discounts(&mut r, &codes);

    let config = json!({
        "version": 1,
        "timezone": TIMEZONE,
        "locale": "fa",
        "models": model_json,
        "plans": plans,
        "discounts": discounts,
    });
    if !r.ok() {
        return Err(Problems(r.problems));
    }
    // What comes out must be a config the core accepts.
    Config::from_value(&config).map(|_| config)
}

/// A Django primary key as text: integers and strings (UUIDs) alike.
fn pk_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Django's `DecimalField` dumps as a string (`"5.00"`): as a JSON number,
/// so the strict readers take it. Anything else is left for them to judge.
fn decimal(v: &Value) -> Value {
    match v {
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| v.clone()),
        other => other.clone(),
    }
}

/// The config's `models` (active ones) and, per model pk, its id when active.
fn read_models(r: &mut Reader, rows: &[Row]) -> (Vec<Value>, HashMap<String, String>) {
    let mut out = Vec::new();
    let mut active = HashMap::new();
    let mut seen = HashMap::new();
    for m in rows {
        let id = r.req_id(m.fields, &m.path, "model_id", 256);
        let free = r.opt_bool(m.fields, &m.path, "is_free").unwrap_or(false);
        let is_active = r.opt_bool(m.fields, &m.path, "is_active").unwrap_or(true);
        let mut prices = Map::new();
        for (field, key) in [
            ("input_price_per_million", "input_usd_per_mtok"),
            ("output_price_per_million", "output_usd_per_mtok"),
        ] {
            let v = match m.fields.get(field) {
                None | Some(Value::Null) => continue,
                Some(v) => decimal(v),
            };
            if r.as_usd_micros(&v, &join(&m.path, field)).is_some() {
                prices.insert(key.to_string(), v);
            }
        }
        let Some(id) = id else { continue };
        if !is_active {
            continue;
        }
        if let Some(first) = seen.insert(id.to_string(), m.path.clone()) {
            r.err(
                join(&m.path, "model_id"),
                format!("duplicate active model id {id:?} (also at {first})"),
            );
            continue;
        }
        active.insert(m.pk.clone(), id.to_string());
        let mut model = Map::new();
        model.insert("id".into(), json!(id));
        model.insert("free".into(), json!(free));
        model.extend(prices);
        out.push(Value::Object(model));
    }
    (out, active)
}

/// Per subscription type pk, the ids of the active models linked to it, in
/// the dump's model order.
fn read_links(
    r: &mut Reader,
    links: &[Row],
    models: &[Row],
    active: &HashMap<String, String>,
    types: &[Row],
) -> HashMap<String, Vec<String>> {
    let known_model = |pk: &str| models.iter().any(|m| m.pk == pk);
    let known_type = |pk: &str| types.iter().any(|t| t.pk == pk);
    let mut linked: HashMap<String, Vec<String>> = HashMap::new();
    for l in links {
        let model = match l.fields.get("ai_model") {
            Some(v) => pk_of(v),
            None => None,
        };
        let Some(model) = model else {
            r.err(join(&l.path, "ai_model"), "required: the aimodel's pk");
            continue;
        };
        if !known_model(&model) {
            r.err(
                join(&l.path, "ai_model"),
                format!("no {AI_MODEL} with pk {model} in the dump"),
            );
            continue;
        }
        let Some(list) = l
            .fields
            .get("subscription_types")
            .and_then(|v| r.array(v, &join(&l.path, "subscription_types")))
        else {
            if !l.fields.contains_key("subscription_types") {
                r.err(
                    join(&l.path, "subscription_types"),
                    "required: the subscriptiontype pks",
                );
            }
            continue;
        };
        for (i, t) in list.iter().enumerate() {
            let tpath = index(&join(&l.path, "subscription_types"), i);
            match pk_of(t) {
                Some(t) if known_type(&t) => {
                    if let Some(id) = active.get(&model) {
                        linked.entry(t).or_default().push(id.clone());
                    }
                }
                Some(t) => r.err(
                    tpath,
                    format!("no {SUBSCRIPTION_TYPE} with pk {t} in the dump"),
                ),
                None => r.err(tpath, "expected a subscriptiontype pk"),
            }
        }
    }
    // The dump's model order, each id once.
    let order: Vec<&String> = models.iter().filter_map(|m| active.get(&m.pk)).collect();
    for ids in linked.values_mut() {
        let mut sorted: Vec<String> = order
            .iter()
            .filter(|id| ids.contains(id))
            .map(|id| (*id).clone())
            .collect();
        sorted.dedup();
        *ids = sorted;
    }
    linked
}

/// Per subscription type pk (`""`: the row without one), the file fields in
/// the seed's flat form; each value already checked at its own path.
fn read_file_settings(
    r: &mut Reader,
    rows: &[Row],
    types: &[Row],
) -> HashMap<String, Map<String, Value>> {
    let mut out: HashMap<String, Map<String, Value>> = HashMap::new();
    let mut first: HashMap<String, String> = HashMap::new();
    for f in rows {
        let owner = match f.fields.get("subscription_type") {
            None | Some(Value::Null) => String::new(),
            Some(v) => match pk_of(v) {
                Some(pk) if types.iter().any(|t| t.pk == pk) => pk,
                Some(pk) => {
                    r.err(
                        join(&f.path, "subscription_type"),
                        format!("no {SUBSCRIPTION_TYPE} with pk {pk} in the dump"),
                    );
                    continue;
                }
                None => {
                    r.err(
                        join(&f.path, "subscription_type"),
                        "expected a subscriptiontype pk",
                    );
                    continue;
                }
            },
        };
        if let Some(other) = first.insert(owner.clone(), f.path.clone()) {
            r.err(
                join(&f.path, "subscription_type"),
                format!("a second file settings row for this subscription type (first at {other})"),
            );
            continue;
        }
        let mut flat = Map::new();
        for (field, metric) in seed::limit_fields() {
            if metric != Metric::Files {
                continue;
            }
            if r.opt_count(f.fields, &f.path, field).is_some() {
                flat.insert(field.to_string(), f.fields[field].clone());
            }
        }
        if r.opt_count(f.fields, &f.path, "max_file_size").is_some() {
            flat.insert("max_file_size".into(), f.fields["max_file_size"].clone());
        }
        match f.fields.get("allowed_extensions") {
            None | Some(Value::Null) => {}
            Some(v @ (Value::String(_) | Value::Array(_))) => {
                let mut probe = Reader::new();
                crate::config::read_extensions(&mut probe, v, &join(&f.path, "allowed_extensions"));
                if probe.ok() {
                    flat.insert("allowed_extensions".into(), v.clone());
                } else {
                    r.problems.extend(probe.problems);
                }
            }
            Some(_) => r.err(
                join(&f.path, "allowed_extensions"),
                "expected a comma-separated string or a list of extensions",
            ),
        }
        out.insert(owner, flat);
    }
    out
}

/// Each type's tier: its `tier`, else its dense rank by `price` among the
/// types without one (cheapest 1), else 0.
fn tiers(r: &mut Reader, types: &[Row]) -> Vec<i64> {
    let mut explicit = Vec::with_capacity(types.len());
    let mut prices = Vec::with_capacity(types.len());
    for t in types {
        let tier = r.opt_int(t.fields, &t.path, "tier");
        let price = if tier.is_none() {
            match t.fields.get("price") {
                None | Some(Value::Null) => None,
                Some(v) => {
                    let v = decimal(v);
                    match v.as_f64() {
                        Some(p) if p.is_finite() && p >= 0.0 => Some(p),
                        _ => {
                            r.err(join(&t.path, "price"), "expected a non-negative price");
                            None
                        }
                    }
                }
            }
        } else {
            None
        };
        explicit.push(tier);
        prices.push(price);
    }
    let mut distinct: Vec<f64> = prices.iter().flatten().copied().collect();
    crate::order::sort_by(&mut distinct, f64::total_cmp);
    distinct.dedup();
    explicit
        .iter()
        .zip(&prices)
        .map(|(tier, price)| match (tier, price) {
            (Some(t), _) => *t,
            (None, Some(p)) => distinct
                .iter()
                .position(|d| d == p)
                .map_or(0, |i| i as i64 + 1),
            (None, None) => 0,
        })
        .collect()
}

/// A converted plan in the config's own form.
fn plan_json(p: &Plan, description: &str) -> Value {
    let limits: Vec<Value> = p
        .limits
        .iter()
        .map(|l| {
            let mut m = Map::new();
            m.insert("metric".into(), json!(l.metric.as_str()));
            if l.scope != Scope::All {
                m.insert("scope".into(), json!(l.scope.as_str()));
            }
            m.insert("window".into(), json!(l.window.to_string()));
            m.insert(
                "max".into(),
                if l.metric == Metric::CostUsd {
                    json!(micros_to_usd(l.max))
                } else {
                    json!(l.max)
                },
            );
            Value::Object(m)
        })
        .collect();
    let mut out = Map::new();
    out.insert("id".into(), json!(p.id));
    out.insert("description".into(), json!(description));
    out.insert("active".into(), json!(p.active));
    out.insert("tier".into(), json!(p.tier));
    out.insert("models".into(), json!(p.models));
    out.insert("limits".into(), Value::Array(limits));
    let mut files = Map::new();
    if let Some(b) = p.files.max_file_bytes {
        files.insert("max_file_bytes".into(), json!(b));
    }
    if let Some(e) = &p.files.allowed_extensions {
        files.insert("allowed_extensions".into(), json!(e));
    }
    if !files.is_empty() {
        out.insert("files".into(), Value::Object(files));
    }
    if let Some(c) = p.max_concurrent {
        out.insert("max_concurrent".into(), json!(c));
    }
    Value::Object(out)
}

/// The dump's discount codes as the config's `discounts` list.
fn read_discounts(r: &mut Reader, rows: &[Row]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for d in rows {
        let code = r.req_str(d.fields, &d.path, "code");
        let cap =
            |r: &mut Reader, key: &str| r.opt_count(d.fields, &d.path, key).filter(|&n| n > 0);
        let max_uses = cap(r, "max_uses");
        let per_user = cap(r, "max_uses_per_user");
        let active = r.opt_bool(d.fields, &d.path, "is_active").unwrap_or(true);
        let expires = match d.fields.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match dump_datetime(s) {
                Some(t) => Some(crate::time::rfc3339(t)),
                None => {
                    r.err(
                        join(&d.path, "expires_at"),
                        "expected a date-time such as 2026-12-31T23:59:59Z",
                    );
                    None
                }
            },
            Some(_) => {
                r.err(join(&d.path, "expires_at"), "expected a date-time string");
                None
            }
        };
        let Some(code) = code else { continue };
        if !crate::config::valid_discount_code(code) {
            r.err(
                join(&d.path, "code"),
                "a discount code is 1-64 characters of A-Z a-z 0-9 . _ -",
            );
            continue;
        }
        if let Some(first) = seen.insert(code.to_string(), d.path.clone()) {
            r.err(
                join(&d.path, "code"),
                format!("duplicate code {code:?} (also at {first})"),
            );
            continue;
        }
        let mut m = Map::new();
        m.insert("code".into(), json!(code));
        m.insert(
            "max_uses".into(),
            if active { json!(max_uses) } else { json!(0) },
        );
        m.insert("max_uses_per_user".into(), json!(per_user));
        m.insert("expires_at".into(), json!(expires));
        out.push(Value::Object(m));
    }
    out
}

/// A dumped `DateTimeField`: RFC 3339, or naive local time in [`TIMEZONE`]
/// (Django with `USE_TZ = False`).
fn dump_datetime(s: &str) -> Option<i64> {
    if let Some(t) = crate::time::parse_rfc3339(s) {
        return Some(t);
    }
    crate::calendar::tehran().earliest(crate::time::parse_naive(s)?)
}
