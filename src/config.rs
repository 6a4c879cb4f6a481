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
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

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
    pub messages: BTreeMap<String, BTreeMap<String, String>>,
    pub hold_ttl_s: u64,
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
    "models",
    "plans",
    "messages",
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
];
const LIMIT_KEYS: &[&str] = &["metric", "scope", "window", "max"];
const FILES_KEYS: &[&str] = &["max_file_bytes", "allowed_extensions"];

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

        let models = read_models(&mut r, m);
        let plans = read_plans(&mut r, m);
        let messages = read_messages(&mut r, m);

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
    let mut seen = HashSet::new();
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
    let mut seen = HashSet::new();
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
    Some(Plan {
        id: id?.to_string(),
        active,
        tier,
        models,
        limits,
        files: files_rules,
        max_concurrent,
    })
}

/// Two limits on the same metric, scope and window would share one counter
/// and contradict each other: refuse them.
pub(crate) fn check_duplicate_limits(r: &mut Reader, limits: &[Limit], path: &str) {
    let mut seen = HashSet::new();
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
    Some(Limit {
        metric: metric?,
        scope: scope?,
        window: window?,
        max: max?,
    })
}

fn read_messages(
    r: &mut Reader,
    m: &Map<String, Value>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
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
        let mut map = BTreeMap::new();
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
}
