//! The subcommands that need no Worker: they read files, hand them to the
//! core, and print what it answers.

use std::io::Read;
use std::path::Path;

use serde_json::{json, Value};
use tollgate::engine::Options;
use tollgate::messages::Locale;
use tollgate::{Action, Config, Engine, Snapshot, Subscription};

use crate::{pretty, Fail, Out};

/// A file's text; `-` is stdin.
pub fn read_text(path: &Path) -> Result<String, Fail> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Fail::new(format!("reading stdin: {e}")))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| Fail::new(format!("{}: {e}", path.display())))
}

/// A file's JSON; `what` names it in errors.
pub fn read_json(path: &Path, what: &str) -> Result<Value, Fail> {
    let text = read_text(path)?;
    serde_json::from_str(&text)
        .map_err(|e| Fail::new(format!("{what} {}: not JSON: {e}", path.display())))
}

/// `tollgate config check FILE`.
pub fn config_check(path: &Path, as_json: bool) -> Out {
    let text = read_text(path)?;
    match Config::from_json(&text) {
        Ok(c) => {
            let discounts = c.discounts().len();
            if as_json {
                outln!(
                    "{}",
                    json!({"ok": true, "plans": c.plans.len(), "models": c.models.len(), "discounts": discounts})
                );
            } else {
                outln!(
                    "{}: ok ({} plans, {} models, {} discount codes)",
                    path.display(),
                    c.plans.len(),
                    c.models.len(),
                    discounts
                );
            }
            Ok(())
        }
        Err(p) => {
            if as_json {
                outln!("{}", json!({"ok": false, "errors": p.0}));
            }
            let n = p.0.len();
            Err(Fail::problems(
                format!(
                    "{}: invalid config ({n} problem{})",
                    path.display(),
                    if n == 1 { "" } else { "s" }
                ),
                &p,
            ))
        }
    }
}

/// `tollgate config from-django DUMP`.
pub fn from_django(path: &Path) -> Out {
    let dump = read_json(path, "dump")?;
    let config = tollgate::django::config_from_dumpdata(&dump)
        .map_err(|p| Fail::problems(format!("{}: cannot convert the dump", path.display()), &p))?;
    outln!("{}", pretty::config(&config));
    Ok(())
}

pub struct DecideInput<'a> {
    pub config: &'a Path,
    pub snapshot: &'a Path,
    pub subscription: &'a Path,
    pub action: &'a Path,
    pub at: Option<&'a str>,
    pub explain: bool,
    pub locale: Option<Locale>,
}

/// `tollgate decide`: the core's snapshot check, exactly as the browser
/// package's `check(snapshot, subscription, action, nowMs, options)`.
pub fn decide(i: &DecideInput) -> Out {
    let config = Config::from_json(&read_text(i.config)?)
        .map_err(|p| Fail::problems(format!("{}: invalid config", i.config.display()), &p))?;
    let snapshot: Snapshot = serde_json::from_str(&read_text(i.snapshot)?).map_err(|e| {
        Fail::new(format!(
            "{}: not a usage snapshot (the body of GET /v1/usage): {e}",
            i.snapshot.display()
        ))
    })?;
    let sub_v = read_json(i.subscription, "subscription")?;
    // A document that wraps it (a snapshot, a token's claims) may be given:
    // a subscription has an `id`, they have a `subscription`.
    let sub_v = match sub_v.get("subscription") {
        Some(inner) if sub_v.get("id").is_none() => inner.clone(),
        _ => sub_v,
    };
    let subscription = Subscription::from_value(&sub_v).map_err(|p| {
        Fail::problems(
            format!("{}: invalid subscription", i.subscription.display()),
            &p,
        )
    })?;
    let action = Action::from_value(&read_json(i.action, "action")?)
        .map_err(|p| Fail::problems(format!("{}: invalid action", i.action.display()), &p))?;
    let now_ms = match i.at {
        Some(s) => tollgate::time::parse_rfc3339(s)
            .map(|t| t * 1000)
            .ok_or_else(|| Fail::new(format!("--at: not RFC 3339: {s:?}")))?,
        None => now_ms(),
    };
    let engine = Engine::new(config);
    let opts = Options {
        explain: i.explain,
        locale: i.locale,
        ..Options::default()
    };
    let d = engine.check_snapshot(&snapshot, Some(&subscription), &action, now_ms, &opts);
    let text = serde_json::to_string_pretty(&d).map_err(|e| Fail::new(e.to_string()))?;
    outln!("{text}");
    Ok(())
}

/// The clock, read once here in the shell.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
