//! The config document (SPEC §1–2): models, plans, message overrides.
//!
//! It is validated whole on load and rejected with every problem listed, so
//! an operator never runs half of a config. Plans may also be written with
//! the seed platform's flat field names ([`crate::seed`]).

use crate::calendar::{self, Calendar, CalendarKind};
use crate::files;
use crate::json::{index, join, Problems, Reader};
use crate::limit::{Limit, Metric, Scope, Window};
use crate::messages::{self, Locale};
use crate::seed;
use crate::strmap::StrMap;
use serde_json::{Map, Value};

/// One model the platform offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub id: String,
    /// OpenRouter's `:free` variants and the like: counted by `free` scopes.
    pub free: bool,
    /// Micro-dollars per million input tokens (USD/Mtok × 10⁶).
    pub input_micros_per_mtok: u64,
    /// Micro-dollars per million output tokens.
    pub output_micros_per_mtok: u64,
    /// Micro-dollars per generated image.
    pub image_micros: u64,
}

impl Model {
    /// Estimated cost in micro-dollars, rounded up so an estimate never
    /// undercounts a budget.
    pub fn token_cost(&self, input: u64, output: u64) -> u64 {
        let c = u128::from(input) * u128::from(self.input_micros_per_mtok)
            + u128::from(output) * u128::from(self.output_micros_per_mtok);
        u64::try_from(c.div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }
}

/// Upload rules of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRules {
    /// `None`: no size limit.
    pub max_file_bytes: Option<u64>,
    /// Lower-case extensions without dots; `None`: every extension.
    pub allowed_extensions: Option<Vec<String>>,
}

/// A subscription type.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub id: String,
    pub active: bool,
    /// Upgrades go to a strictly higher tier.
    pub tier: i64,
    /// Globs of allowed model ids.
    pub models: Vec<String>,
    pub limits: Vec<Limit>,
    pub files: FileRules,
    /// Open holds allowed at once; `None`: no concurrency limit.
    pub max_concurrent: Option<u64>,
    /// Fallback models (SPEC §11), tried in order for a quota-denied message.
    pub fallbacks: Vec<Fallback>,
}

/// `{from: "<glob>", to: "<model id>"}` (SPEC §11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub from: String,
    pub to: String,
}

impl Plan {
    pub fn allows_model(&self, id: &str) -> bool {
        self.models.iter().any(|g| crate::glob::matches(g, id))
    }
}

/// A validated config.
#[derive(Debug, Clone)]
pub struct Config {
    pub version: u64,
    pub timezone: String,
    pub calendar: Calendar,
    pub locale: Locale,
    pub models: Vec<Model>,
    pub plans: Vec<Plan>,
    /// `messages.<locale>.<code>` template overrides.
    pub messages: StrMap<StrMap<String>>,
    pub hold_ttl_s: u64,
    /// A hold is never extended past this many seconds after it was opened.
    pub hold_max_ttl_s: u64,
    /// What the alarm does with a hold nobody settled (SPEC §5).
    pub on_hold_expiry: OnExpiry,
    /// `gateway`: the OpenAI-compatible gateway's rules (SPEC §8).
    pub gateway: GatewayConfig,
    /// Warning thresholds in thousandths of a limit's `max` (SPEC §10;
    /// config `warn_at`, default `[0.8]`).
    pub warn_at: Vec<u16>,
    /// The document as given, for `GET /v1/admin/config`.
    pub raw: Value,
}

const CONFIG_KEYS: &[&str] = &[
    "version",
    "timezone",
    "locale",
    "week_start",
    "calendar",
    "hold_ttl_s",
    "hold_max_ttl_s",
    "on_hold_expiry",
    "models",
    "plans",
    "messages",
    "discounts",
    "gateway",
    // Revision 2: warnings (SPEC §10).
    "warn_at",
];
const MODEL_KEYS: &[&str] = &[
    "id",
    "free",
    "input_usd_per_mtok",
    "output_usd_per_mtok",
    "image_usd",
    "name",
];
const PLAN_KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "active",
    "tier",
    "models",
    "limits",
    "files",
    "max_concurrent",
    // Revision 2: fallback models (SPEC §11).
    "fallbacks",
];
// Revision 2 adds `overflow` (SPEC §9) and `warn_at` (SPEC §10).
const LIMIT_KEYS: &[&str] = &["metric", "scope", "window", "max", "overflow", "warn_at"];
const FILES_KEYS: &[&str] = &["max_file_bytes", "allowed_extensions"];

/// `hold_max_ttl_s` when the config does not say.
pub const DEFAULT_HOLD_MAX_TTL_S: u64 = 3_600;

/// What happens to a hold that nobody committed or released in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub enum OnExpiry {
    /// The estimate is dropped (the default: the call most likely failed).
    #[default]
    #[serde(rename = "r")]
    Release,
    /// The estimate is committed as the usage (the work may have happened;
    /// a late commit with the real figures still replaces it).
    #[serde(rename = "c")]
    Charge,
}

impl OnExpiry {
    /// As a hold stores it (`"r"` / `"c"`, see [`crate::stored`]).
    pub fn from_stored(v: &Value, at: &crate::stored::Path) -> crate::stored::Res<OnExpiry> {
        match crate::stored::unit_variant(v, at)? {
            "r" => Ok(OnExpiry::Release),
            "c" => Ok(OnExpiry::Charge),
            _ => at.err("unknown expiry policy"),
        }
    }
}

/// The longest a hold may stay open: a day. Longer would let a crashed client
/// pin a user's quota for too long.
pub const MAX_HOLD_TTL_S: u64 = 86_400;

impl Config {
    /// Parses and validates a config from JSON text.
    pub fn from_json(text: &str) -> Result<Config, Problems> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Problems::one("", format!("invalid JSON: {e}")))?;
        Config::from_value(&v)
    }

    /// Validates a parsed config document; every problem is listed.
    pub fn from_value(v: &Value) -> Result<Config, Problems> {
        let mut r = Reader::new();
        let Some(m) = r.object(v, "") else {
            return Err(Problems(r.problems));
        };
        r.known_keys(m, "", CONFIG_KEYS);

        let version = match r.opt_count(m, "", "version") {
            None | Some(1) => 1,
            Some(other) => {
                r.err(
                    "version",
                    format!("unsupported config version {other}; expected 1"),
                );
                other
            }
        };
        let timezone = r.opt_str(m, "", "timezone").unwrap_or("Asia/Tehran");
        let tz = calendar::parse_tz(timezone);
        if tz.is_none() {
            r.err("timezone", calendar::unknown_zone(timezone));
        }
        let week_start = match r.opt_str(m, "", "week_start") {
            None => calendar::Weekday::Mon,
            Some(s) => calendar::parse_weekday(s).unwrap_or_else(|| {
                r.err("week_start", "expected monday, tuesday, … or sunday");
                calendar::Weekday::Mon
            }),
        };
        let kind = match r.opt_str(m, "", "calendar") {
            None | Some("gregorian") => CalendarKind::Gregorian,
            Some("persian") => CalendarKind::Persian,
            Some(_) => {
                r.err("calendar", "expected \"gregorian\" or \"persian\"");
                CalendarKind::Gregorian
            }
        };
        let locale = match r.opt_str(m, "", "locale") {
            None => Locale::Fa,
            Some(s) => Locale::parse(s).unwrap_or_else(|| {
                r.err("locale", "expected \"fa\" or \"en\"");
                Locale::Fa
            }),
        };
        let hold_ttl_s = match r.opt_count(m, "", "hold_ttl_s") {
            None => 300,
            Some(t) if (1..=MAX_HOLD_TTL_S).contains(&t) => t,
            Some(_) => {
                r.err(
                    "hold_ttl_s",
                    format!("must be between 1 and {MAX_HOLD_TTL_S} seconds"),
                );
                300
            }
        };

        let hold_max_ttl_s = match r.opt_count(m, "", "hold_max_ttl_s") {
            None => DEFAULT_HOLD_MAX_TTL_S.max(hold_ttl_s),
            Some(t) if (hold_ttl_s..=MAX_HOLD_TTL_S).contains(&t) => t,
            Some(_) => {
                r.err(
                    "hold_max_ttl_s",
                    format!(
                        "must be between hold_ttl_s ({hold_ttl_s}) and {MAX_HOLD_TTL_S} seconds"
                    ),
                );
                DEFAULT_HOLD_MAX_TTL_S
            }
        };
        let on_hold_expiry = match r.opt_str(m, "", "on_hold_expiry") {
            None | Some("release") => OnExpiry::Release,
            Some("charge") => OnExpiry::Charge,
            Some(_) => {
                r.err("on_hold_expiry", "expected \"release\" or \"charge\"");
                OnExpiry::Release
            }
        };

        let warn_at = match m.get("warn_at") {
            None | Some(Value::Null) => vec![DEFAULT_WARN_AT],
            Some(v) => read_warn_at(&mut r, v, "warn_at"),
        };
        let models = read_models(&mut r, m);
        let plans = read_plans(&mut r, m);
        let messages = read_messages(&mut r, m);
        read_discounts(&mut r, m);
        let gateway = read_gateway(&mut r, m, &models);
        check_fallbacks(&mut r, &plans, &models);

        let cfg = Config {
            version,
            timezone: timezone.to_string(),
            calendar: Calendar {
                tz: tz.unwrap_or_else(calendar::tehran),
                week_start,
                kind,
            },
            locale,
            models,
            plans,
            messages,
            hold_ttl_s,
            hold_max_ttl_s,
            on_hold_expiry,
            gateway,
            warn_at,
            raw: v.clone(),
        };
        r.finish(cfg)
    }

    pub fn plan(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    pub fn model(&self, id: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.id == id)
    }

    /// The override for `code` in `locale`, if the config has one.
    pub fn template(&self, locale: Locale, code: &str) -> Option<&str> {
        self.messages
            .get(locale.as_str())
            .and_then(|m| m.get(code))
            .map(String::as_str)
    }
}

fn read_models(r: &mut Reader, m: &Map<String, Value>) -> Vec<Model> {
    let mut out = Vec::new();
    let Some(v) = m.get("models") else {
        return out;
    };
    let Some(arr) = r.array(v, "models") else {
        return out;
    };
    let mut seen = Seen::default();
    for (i, mv) in arr.iter().enumerate() {
        let path = index("models", i);
        let Some(mm) = r.object(mv, &path) else {
            continue;
        };
        r.known_keys(mm, &path, MODEL_KEYS);
        let id = r.req_id(mm, &path, "id", 256);
        let free = r.opt_bool(mm, &path, "free").unwrap_or(false);
        let input = r.opt_usd(mm, &path, "input_usd_per_mtok").unwrap_or(0);
        let output = r.opt_usd(mm, &path, "output_usd_per_mtok").unwrap_or(0);
        let image = r.opt_usd(mm, &path, "image_usd").unwrap_or(0);
        if let Some(id) = id {
            if !seen.insert(id.to_string()) {
                r.err(join(&path, "id"), format!("duplicate model id {id:?}"));
            }
            out.push(Model {
                id: id.to_string(),
                free,
                input_micros_per_mtok: input,
                output_micros_per_mtok: output,
                image_micros: image,
            });
        }
    }
    out
}

fn read_plans(r: &mut Reader, m: &Map<String, Value>) -> Vec<Plan> {
    let mut out = Vec::new();
    let Some(v) = r.required(m, "", "plans") else {
        return out;
    };
    let Some(arr) = r.array(v, "plans") else {
        return out;
    };
    let mut seen = Seen::default();
    for (i, pv) in arr.iter().enumerate() {
        let path = index("plans", i);
        let Some(pm) = r.object(pv, &path) else {
            continue;
        };
        let plan = if seed::is_seed_plan(pm) {
            seed::read_seed_plan(r, pm, &path)
        } else {
            read_plan(r, pm, &path)
        };
        if let Some(p) = plan {
            if !seen.insert(p.id.clone()) {
                r.err(join(&path, "id"), format!("duplicate plan id {:?}", p.id));
            }
            out.push(p);
        }
    }
    out
}

/// Reads a list of model globs (`models` of a plan).
pub(crate) fn read_model_globs(r: &mut Reader, v: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(arr) = r.array(v, path) {
        for (i, g) in arr.iter().enumerate() {
            let p = index(path, i);
            if let Some(s) = r.as_str(g, &p) {
                if let Some(s) = r.check_id(s, &p, 256) {
                    out.push(s.to_string());
                }
            }
        }
    }
    out
}

/// Reads an allowed-extensions list: a JSON list, or a comma-separated string as the seed kept it.
pub(crate) fn read_extensions(r: &mut Reader, v: &Value, path: &str) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(files::parse_extension_list(s)),
        Value::Array(a) => {
            let mut out = Vec::new();
            for (i, e) in a.iter().enumerate() {
                if let Some(s) = r.as_str(e, &index(path, i)) {
                    out.extend(files::parse_extension_list(s));
                }
            }
            Some(out)
        }
        other => {
            r.err(
                path,
                format!(
                    "expected a list of extensions or a comma-separated string, got {}",
                    crate::json::kind(other)
                ),
            );
            None
        }
    }
}

fn read_plan(r: &mut Reader, pm: &Map<String, Value>, path: &str) -> Option<Plan> {
    r.known_keys(pm, path, PLAN_KEYS);
    let id = r.req_id(pm, path, "id", 128);
    let active = r.opt_bool(pm, path, "active").unwrap_or(true);
    let tier = r.opt_int(pm, path, "tier").unwrap_or(0);
    let models = match r.required(pm, path, "models") {
        Some(v) => read_model_globs(r, v, &join(path, "models")),
        None => Vec::new(),
    };
    let mut limits = Vec::new();
    if let Some(lv) = pm.get("limits") {
        let lpath = join(path, "limits");
        if let Some(arr) = r.array(lv, &lpath) {
            for (i, l) in arr.iter().enumerate() {
                if let Some(l) = read_limit(r, l, &index(&lpath, i)) {
                    limits.push(l);
                }
            }
        }
    }
    check_duplicate_limits(r, &limits, &join(path, "limits"));
    let mut files_rules = FileRules::default();
    if let Some(fv) = pm.get("files") {
        let fpath = join(path, "files");
        if let Some(fm) = r.object(fv, &fpath) {
            r.known_keys(fm, &fpath, FILES_KEYS);
            files_rules.max_file_bytes = r.opt_count(fm, &fpath, "max_file_bytes");
            if let Some(ev) = fm.get("allowed_extensions") {
                files_rules.allowed_extensions =
                    read_extensions(r, ev, &join(&fpath, "allowed_extensions"));
            }
        }
    }
    let max_concurrent = r.opt_count(pm, path, "max_concurrent");
    let fallbacks = read_fallbacks(r, pm, path);
    Some(Plan {
        id: id?.to_string(),
        active,
        tier,
        models,
        limits,
        files: files_rules,
        max_concurrent,
        fallbacks,
    })
}

/// Two limits on the same metric, scope and window would share one counter
/// and contradict each other: refuse them.
pub(crate) fn check_duplicate_limits(r: &mut Reader, limits: &[Limit], path: &str) {
    let mut seen = Seen::default();
    for l in limits {
        if !seen.insert(l.key()) {
            r.err(
                path,
                format!(
                    "two limits on {} · {} · {}; keep one",
                    l.metric, l.scope, l.window
                ),
            );
        }
    }
}

fn read_limit(r: &mut Reader, v: &Value, path: &str) -> Option<Limit> {
    let lm = r.object(v, path)?;
    r.known_keys(lm, path, LIMIT_KEYS);
    let metric = r.req_str(lm, path, "metric").and_then(|s| {
        Metric::parse(s).or_else(|| {
            r.err(
                join(path, "metric"),
                format!("unknown metric {s:?}: expected messages, tokens, images, files, file_bytes or cost_usd"),
            );
            None
        })
    });
    let scope = match r.opt_str(lm, path, "scope") {
        None => Some(Scope::All),
        Some(s) => r.check_id(s, &join(path, "scope"), 256).map(Scope::parse),
    };
    let window = r.req_str(lm, path, "window").and_then(|s| {
        Window::parse(s)
            .map_err(|e| r.err(join(path, "window"), e))
            .ok()
    });
    let max = match (metric, lm.get("max")) {
        (_, None | Some(Value::Null)) => {
            r.err(
                join(path, "max"),
                "required (to have no limit, leave the limit out)",
            );
            None
        }
        (Some(Metric::CostUsd), Some(v)) => r.as_usd_micros(v, &join(path, "max")),
        (_, Some(v)) => r.as_count(v, &join(path, "max")),
    };
    // --- credits (SPEC §9): `"overflow": "credits"` opts a limit in.
    let overflow_credits = match lm.get("overflow") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "credits" => true,
        Some(_) => {
            r.err(join(path, "overflow"), "expected \"credits\"");
            false
        }
    };
    let warn_at = lm
        .get("warn_at")
        .filter(|v| !v.is_null())
        .map(|v| read_warn_at(r, v, &join(path, "warn_at")));
    Some(Limit {
        metric: metric?,
        scope: scope?,
        window: window?,
        max: max?,
        overflow_credits,
        warn_at,
    })
}

// ---------------------------------------------------------------- fallbacks

/// A plan's `fallbacks: [{from, to}]` (SPEC §11). `to` must be a model the
/// config knows (checked with the models, see `check_fallbacks`).
fn read_fallbacks(r: &mut Reader, pm: &Map<String, Value>, path: &str) -> Vec<Fallback> {
    let mut out = Vec::new();
    let fpath = join(path, "fallbacks");
    let Some(a) = pm.get("fallbacks").and_then(|v| r.array(v, &fpath)) else {
        return out;
    };
    for (i, f) in a.iter().enumerate() {
        let p = index(&fpath, i);
        let Some(m) = r.object(f, &p) else {
            continue;
        };
        r.known_keys(m, &p, &["from", "to"]);
        let from = r.req_id(m, &p, "from", 256);
        let to = r.req_id(m, &p, "to", 256);
        if let (Some(from), Some(to)) = (from, to) {
            out.push(Fallback {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
    }
    out
}

/// Every fallback goes to a model the config knows.
fn check_fallbacks(r: &mut Reader, plans: &[Plan], models: &[Model]) {
    for (pi, p) in plans.iter().enumerate() {
        for (i, f) in p.fallbacks.iter().enumerate() {
            if !models.iter().any(|m| m.id == f.to) {
                r.err(
                    format!("plans[{pi}].fallbacks[{i}].to"),
                    format!("unknown model {:?}", f.to),
                );
            }
        }
    }
}

// ---------------------------------------------------------------- warnings

/// `warn_at` when the config does not say: 80 % (in thousandths).
pub const DEFAULT_WARN_AT: u16 = 800;

/// A list of fractions of `max` in (0, 1], kept in thousandths, ascending,
/// without duplicates; `[]` turns warnings off.
fn read_warn_at(r: &mut Reader, v: &Value, path: &str) -> Vec<u16> {
    let mut out = Vec::new();
    if let Some(a) = r.array(v, path) {
        for (i, x) in a.iter().enumerate() {
            let p = index(path, i);
            match x.as_f64() {
                Some(f) if f > 0.0 && f <= 1.0 => out.push((f * 1000.0).round().max(1.0) as u16),
                _ => r.err(p, "expected a fraction of max, more than 0 and at most 1"),
            }
        }
    }
    crate::order::sort_by(&mut out, Ord::cmp);
    out.dedup();
    out
}

fn read_messages(r: &mut Reader, m: &Map<String, Value>) -> StrMap<StrMap<String>> {
    let mut out = StrMap::new();
    let Some(v) = m.get("messages") else {
        return out;
    };
    let Some(mm) = r.object(v, "messages") else {
        return out;
    };
    for (loc, tv) in mm {
        let lpath = join("messages", loc);
        if Locale::parse(loc).is_none() {
            r.err(&lpath, "unknown locale: expected \"fa\" or \"en\"");
            continue;
        }
        let Some(tm) = r.object(tv, &lpath) else {
            continue;
        };
        let mut map = StrMap::new();
        for (code, t) in tm {
            let cpath = join(&lpath, code);
            if !messages::is_known_code(code) {
                r.err(&cpath, "unknown code");
                continue;
            }
            if let Some(s) = r.as_str(t, &cpath) {
                if let Err(e) = messages::check_template(s) {
                    r.err(&cpath, e);
                } else {
                    map.insert(code.clone(), s.to_string());
                }
            }
        }
        out.insert(loc.clone(), map);
    }
    out
}

// ------------------------------------------------------------ discounts (SPEC §12)
//
// A config may carry `discounts: [{code, max_uses, max_uses_per_user,
// expires_at, plans?, grant?}]`; an accepted `PUT /v1/admin/config` applies
// each as `PUT /v1/admin/discounts/{code}` would (codes missing from the list
// are left as they are). They are validated with the config, by the same
// reader as that route's body, so a config is never accepted with a code the
// route would refuse. The engine does not decide with them (a code's state
// lives with the code), so they are read again from `raw` when applied.

/// A discount code carried by a config.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigDiscount {
    pub code: String,
    /// The body `PUT /v1/admin/discounts/{code}` takes (everything but `code`).
    pub rule: Value,
}

/// A discount code's spelling: 1–64 characters of `A–Z a–z 0–9 . _ -` (it
/// is a URL path segment and a Durable Object name).
pub fn valid_discount_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

impl Config {
    /// The config's `discounts`, in order (empty without the field).
    pub fn discounts(&self) -> Vec<ConfigDiscount> {
        let mut r = Reader::new();
        self.raw
            .as_object()
            .map(|m| read_discounts(&mut r, m))
            .unwrap_or_default()
    }
}

fn read_discounts(r: &mut Reader, m: &Map<String, Value>) -> Vec<ConfigDiscount> {
    let mut out = Vec::new();
    let Some(v) = m.get("discounts") else {
        return out;
    };
    let Some(arr) = r.array(v, "discounts") else {
        return out;
    };
    let mut seen = Seen::default();
    for (i, dv) in arr.iter().enumerate() {
        let path = index("discounts", i);
        let Some(dm) = r.object(dv, &path) else {
            continue;
        };
        let code = r.req_str(dm, &path, "code");
        if let Some(c) = code {
            if !valid_discount_code(c) {
                r.err(
                    join(&path, "code"),
                    "a discount code is 1-64 characters of A-Z a-z 0-9 . _ -",
                );
            } else if !seen.insert(c.to_string()) {
                r.err(join(&path, "code"), format!("duplicate code {c:?}"));
            }
        }
        let mut rule = dm.clone();
        rule.remove("code");
        let rule = Value::Object(rule);
        if let Err(p) = crate::discount::DiscountRule::from_value(&rule) {
            for problem in p.0 {
                let at = if problem.path.is_empty() {
                    path.clone()
                } else {
                    join(&path, &problem.path)
                };
                r.err(at, problem.reason);
            }
        }
        if let Some(c) = code {
            out.push(ConfigDiscount {
                code: c.to_string(),
                rule,
            });
        }
    }
    out
}

// ------------------------------------------------------------------ gateway

/// The `gateway` section (SPEC §8): what the OpenAI-compatible gateway lets
/// through beyond its defaults. Every field is optional; the default is the
/// strictest gateway (nothing opted in, no aliases, images must name a model).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Request fields the gateway forwards besides the ones it knows
    /// (`tollgate::openai::CHAT_FIELDS` / `IMAGE_FIELDS`): the operator opts
    /// in to a refused field (`provider`, `plugins`, …) or to a field of its
    /// own upstream, knowing the hold does not cover what it may add.
    pub allow_fields: Vec<String>,
    /// `{answer-model-id: config-model-id}`: an answer naming the key is an
    /// answer of the value (OpenAI's dated snapshots, OpenRouter's ids
    /// without `:free`, …), not another model.
    pub model_aliases: StrMap<String>,
    /// The model of an image request that names none; `None`: `model` is required.
    pub default_image_model: Option<String>,
}

const GATEWAY_KEYS: &[&str] = &["allow_fields", "model_aliases", "default_image_model"];

/// The longest request field name `allow_fields` takes.
const MAX_FIELD_NAME: usize = 64;

/// Reads `gateway`; alias targets and the default image model must be
/// models of the config (a typo would otherwise charge answers to nothing,
/// or refuse every image).
fn read_gateway(r: &mut Reader, m: &Map<String, Value>, models: &[Model]) -> GatewayConfig {
    let mut g = GatewayConfig::default();
    let Some(v) = m.get("gateway").filter(|v| !v.is_null()) else {
        return g;
    };
    let Some(gm) = r.object(v, "gateway") else {
        return g;
    };
    r.known_keys(gm, "gateway", GATEWAY_KEYS);
    let known = |id: &str| models.iter().any(|m| m.id == id);
    if let Some(v) = gm.get("allow_fields").filter(|v| !v.is_null()) {
        if let Some(arr) = r.array(v, "gateway.allow_fields") {
            for (i, f) in arr.iter().enumerate() {
                let path = index("gateway.allow_fields", i);
                let Some(name) = r.as_str(f, &path) else {
                    continue;
                };
                let ok = !name.is_empty()
                    && name.len() <= MAX_FIELD_NAME
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !ok {
                    r.err(
                        &path,
                        format!("expected a field name (1–{MAX_FIELD_NAME} of A–Z a–z 0–9 _ -)"),
                    );
                } else if !g.allow_fields.iter().any(|x| x == name) {
                    g.allow_fields.push(name.to_string());
                }
            }
        }
    }
    if let Some(v) = gm.get("model_aliases").filter(|v| !v.is_null()) {
        if let Some(am) = r.object(v, "gateway.model_aliases") {
            for (from, to) in am {
                let path = join("gateway.model_aliases", from);
                if r.check_id(from, &path, 256).is_none() {
                    continue;
                }
                let Some(to) = r.as_str(to, &path) else {
                    continue;
                };
                if !known(to) {
                    r.err(&path, format!("{to:?} is not a model of this config"));
                } else {
                    g.model_aliases.insert(from.clone(), to.to_string());
                }
            }
        }
    }
    if let Some(id) = r.opt_str(gm, "gateway", "default_image_model") {
        if !known(id) {
            r.err(
                "gateway.default_image_model",
                format!("{id:?} is not a model of this config"),
            );
        } else {
            g.default_image_model = Some(id.to_string());
        }
    }
    g
}

/// The ids a list has named so far, to refuse one named twice. A list, not
/// a hash set: a config names tens of models and plans, and a hash set was
/// a hash table's and SipHash's code in both `.wasm` files (issue 9).
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    /// `true` the first time `id` comes.
    fn insert(&mut self, id: String) -> bool {
        if self.0.contains(&id) {
            return false;
        }
        self.0.push(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn spec_example() -> Value {
        json!({
          "version": 1,
          "timezone": "Asia/Tehran",
          "locale": "fa",
          "models": [
            {"id": "openai/gpt-4o-mini", "free": false, "input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.6},
            {"id": "meta-llama/llama-3.3-8b-instruct:free", "free": true}
          ],
          "plans": [
            {
              "id": "basic", "active": true, "tier": 1, "models": ["*:free", "openai/gpt-4o-mini"],
              "limits": [
                {"metric": "tokens", "window": "1h", "max": 20000},
                {"metric": "tokens", "window": "day", "max": 100000},
                {"metric": "tokens", "window": "subscription", "max": 2000000},
                {"metric": "tokens", "scope": "free", "window": "subscription", "max": 100000},
                {"metric": "messages", "scope": "free", "window": "month", "max": 300},
                {"metric": "images", "window": "day", "max": 10},
                {"metric": "images", "window": "week", "max": 50},
                {"metric": "images", "window": "month", "max": 200},
                {"metric": "cost_usd", "window": "subscription", "max": 5},
                {"metric": "files", "window": "day", "max": 20},
                {"metric": "files", "window": "chat", "max": 5}
              ],
              "files": {"max_file_bytes": 10485760, "allowed_extensions": ["pdf", "txt", "png", "jpg", "jpeg", "docx"]},
              "max_concurrent": 2
            }
          ],
          "messages": {"fa": {}, "en": {}}
        })
    }

    #[test]
    fn spec_example_loads() {
        let c = Config::from_value(&spec_example()).unwrap();
        assert_eq!(c.plans.len(), 1);
        let p = &c.plans[0];
        assert_eq!(p.limits.len(), 11);
        assert_eq!(p.limits[8].max, 5_000_000);
        assert_eq!(p.max_concurrent, Some(2));
        assert_eq!(c.hold_ttl_s, 300);
        assert_eq!(c.models[0].input_micros_per_mtok, 150_000);
        assert!(p.allows_model("meta-llama/llama-3.3-8b-instruct:free"));
        assert!(!p.allows_model("openai/gpt-4o"));
    }

    #[test]
    fn every_problem_is_listed_with_its_path() {
        let mut v = spec_example();
        v["timezone"] = json!("Mars/Olympus");
        v["week_start"] = json!("someday");
        v["plans"][0]["limits"][0]["window"] = json!("1w");
        v["plans"][0]["limits"][1]["max"] = json!(-5);
        v["plans"][0]["limits"][2]["metric"] = json!("tokenz");
        v["plans"][0]["limts"] = json!([]);
        v["models"][1]["free"] = json!("yes");
        let e = Config::from_value(&v).unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
        for want in [
            "timezone",
            "week_start",
            "plans[0].limits[0].window",
            "plans[0].limits[1].max",
            "plans[0].limits[2].metric",
            "plans[0].limts",
            "models[1].free",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
    }

    #[test]
    fn duplicates_and_bad_templates_are_refused() {
        let mut v = spec_example();
        v["plans"][0]["limits"][1]["window"] = json!("1h");
        v["messages"]["fa"]["window_exceeded"] = json!("بیش از {limitt}");
        v["messages"]["de"] = json!({});
        let e = Config::from_value(&v).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("two limits on tokens · all · 1h"), "{s}");
        assert!(s.contains("messages.fa.window_exceeded"), "{s}");
        assert!(s.contains("messages.de"), "{s}");
    }

    #[test]
    fn warn_at_and_overflow_are_read_and_checked() {
        let mut v = spec_example();
        let c = Config::from_value(&v).unwrap();
        assert_eq!(c.warn_at, [DEFAULT_WARN_AT]);
        v["warn_at"] = json!([0.9, 0.5, 0.5]);
        v["plans"][0]["limits"][0]["warn_at"] = json!([]);
        v["plans"][0]["limits"][1]["overflow"] = json!("credits");
        let c = Config::from_value(&v).unwrap();
        assert_eq!(c.warn_at, [500, 900]);
        assert_eq!(c.plans[0].limits[0].warn_at, Some(vec![]));
        assert!(c.plans[0].limits[1].overflow_credits);
        v["warn_at"] = json!([0, 1.5, "x"]);
        v["plans"][0]["limits"][1]["overflow"] = json!("debt");
        let e = Config::from_value(&v).unwrap_err().to_string();
        for p in [
            "warn_at[0]",
            "warn_at[1]",
            "warn_at[2]",
            "plans[0].limits[1].overflow",
        ] {
            assert!(e.contains(p), "{p}: {e}");
        }
    }

    #[test]
    fn cost_rounds_up() {
        let c = Config::from_value(&spec_example()).unwrap();
        let m = c.model("openai/gpt-4o-mini").unwrap();
        // 1000 in × 0.15 $/M + 500 out × 0.6 $/M = 150 + 300 micro-dollars.
        assert_eq!(m.token_cost(1000, 500), 450);
        assert_eq!(m.token_cost(1, 0), 1);
        assert_eq!(m.token_cost(0, 0), 0);
    }

    #[test]
    fn not_json_and_not_object() {
        assert!(Config::from_json("{").is_err());
        assert_eq!(Config::from_json("[]").unwrap_err().0[0].path, "");
        let e = Config::from_json("{}").unwrap_err();
        assert_eq!(e.0[0].path, "plans");
    }

    #[test]
    fn gateway_section() {
        let c = Config::from_value(&spec_example()).unwrap();
        assert_eq!(c.gateway, GatewayConfig::default());
        let mut v = spec_example();
        v["gateway"] = json!({
            "allow_fields": ["provider", "fake", "provider"],
            "model_aliases": {"meta-llama/llama-3.3-8b-instruct": "meta-llama/llama-3.3-8b-instruct:free"},
            "default_image_model": "openai/gpt-4o-mini"
        });
        let g = Config::from_value(&v).unwrap().gateway;
        assert_eq!(g.allow_fields, ["provider", "fake"]);
        assert_eq!(
            g.model_aliases["meta-llama/llama-3.3-8b-instruct"],
            "meta-llama/llama-3.3-8b-instruct:free"
        );
        assert_eq!(g.default_image_model.as_deref(), Some("openai/gpt-4o-mini"));

        v["gateway"] = json!({
            "allow_fields": [3, "", "a b"],
            "model_aliases": {"x": "nope/y", "": "openai/gpt-4o-mini", "z": 1},
            "default_image_model": "nope/z",
            "extra": true
        });
        let e = Config::from_value(&v).unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
        for want in [
            "gateway.allow_fields[0]",
            "gateway.allow_fields[1]",
            "gateway.allow_fields[2]",
            "gateway.model_aliases.x",
            "gateway.model_aliases.",
            "gateway.model_aliases.z",
            "gateway.default_image_model",
            "gateway.extra",
        ] {
            assert!(paths.contains(&want), "{want} missing from {paths:?}");
        }
        v["gateway"] = json!([]);
        assert_eq!(Config::from_value(&v).unwrap_err().0[0].path, "gateway");
    }
}
