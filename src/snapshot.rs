//! The usage snapshot: what `GET /v1/usage` returns, and what the browser
//! package decides against.
//!
//! A snapshot is a picture of the ledger at `as_of`. Deciding against it
//! later is exact for calendar windows (a period that has ended counts 0),
//! subscription, lifetime and chat windows; for rolling windows it keeps the
//! figure of `as_of`, which only ever overstates usage (usage leaves a rolling
//! window as time passes, and nothing new is in the snapshot), so the browser
//! may refuse early but never allows what the edge would deny.

use crate::credits::{GrantInfo, Source};
use crate::decision::{Amount, LimitState};
use crate::engine::{counts_in_flight, UsageView};
use crate::json::{index, join, kind, Problems, Reader};
use crate::limit::{Limit, Metric, Window};
use crate::subscription::Subscription;
use crate::time::parse_rfc3339;
use crate::window::WinCtx;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An open hold as the snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldInfo {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

/// The body of `GET /v1/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub subscription: Option<Subscription>,
    /// The plan id.
    pub plan: Option<String>,
    pub as_of: String,
    #[serde(default)]
    pub limits: Vec<LimitState>,
    #[serde(default)]
    pub holds: Vec<HoldInfo>,
    /// Credits (SPEC §9): every grant not expired and not revoked, spent
    /// ones with `remaining: 0`.
    #[serde(default)]
    pub grants: Vec<crate::credits::GrantInfo>,
}

impl Snapshot {
    /// The snapshot of a user with no usage.
    pub fn empty(sub: Option<Subscription>) -> Snapshot {
        Snapshot {
            plan: sub.as_ref().map(|s| s.plan.clone()),
            subscription: sub,
            as_of: crate::time::rfc3339(0),
            limits: Vec::new(),
            holds: Vec::new(),
            grants: Vec::new(),
        }
    }

    fn entry(&self, l: &Limit, chat: Option<&str>) -> Option<&LimitState> {
        let w = l.window.to_string();
        self.limits.iter().find(|e| {
            e.metric == l.metric.as_str()
                && e.scope == l.scope.as_str()
                && e.window == w
                && (l.window != Window::Chat
                    || e.chat_id.as_ref().and_then(|c| c.as_deref()) == chat)
        })
    }
}

/// Reading a snapshot from parsed JSON ([`Snapshot::from_value`]).
///
/// A snapshot is not an input the caller writes but the edge's own answer
/// handed back, so it is read as serde's derive reads it (the native and
/// test paths still use the derive): unknown fields are ignored, a missing
/// `Option` is `None`, a missing list is empty, `null` is refused where the
/// derive refuses it. The npm package reads it this way because serde's
/// derived deserializers and the float formatting their error messages
/// reach were 15 % of its size (BENCHMARKS.md, "Browser package", also has
/// the faster readers that cost more bytes); `tests/snapshot_read.rs` and
/// `tests/props.rs` check both readers agree. Two inputs no edge sends are
/// read differently: a struct written as a JSON array (the derive takes
/// fields by position) is refused, and a field named twice is read as its
/// last value (the derive refuses it).
struct Fields<'a, 'r> {
    r: &'r mut Reader,
    m: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Fields<'a, '_> {
    fn at(&self, key: &str) -> String {
        join(self.path, key)
    }

    /// Present and not `null`.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.m.get(key).filter(|v| !v.is_null())
    }

    fn missing<T>(&mut self, key: &str) -> Option<T> {
        let at = self.at(key);
        self.r.err(at, "required");
        None
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.m.get(key) {
            None => self.missing(key),
            Some(v) => {
                let at = self.at(key);
                self.r.as_str(v, &at).map(str::to_string)
            }
        }
    }

    /// `Option<String>`; `Err` on a wrong type.
    fn opt_string(&mut self, key: &str) -> Result<Option<String>, ()> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                let at = self.at(key);
                self.r.as_str(v, &at).map(|s| Some(s.to_string())).ok_or(())
            }
        }
    }

    fn amount(&mut self, key: &str) -> Option<Amount> {
        match self.m.get(key) {
            None => self.missing(key),
            Some(v) => {
                let at = self.at(key);
                amount(self.r, v, &at)
            }
        }
    }

    fn opt_amount(&mut self, key: &str) -> Result<Option<Amount>, ()> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                let at = self.at(key);
                amount(self.r, v, &at).map(Some).ok_or(())
            }
        }
    }

    /// A `Vec` with `#[serde(default)]`: missing is empty, `null` is refused.
    fn list<T>(
        &mut self,
        key: &str,
        item: impl Fn(&mut Reader, &Value, &str) -> Option<T>,
    ) -> Option<Vec<T>> {
        let Some(v) = self.m.get(key) else {
            return Some(Vec::new());
        };
        let at = self.at(key);
        let a = self.r.array(v, &at)?;
        let mut out = Vec::with_capacity(a.len());
        let mut ok = true;
        for (i, x) in a.iter().enumerate() {
            match item(self.r, x, &index(&at, i)) {
                Some(x) => out.push(x),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

fn fields<'a, 'r>(r: &'r mut Reader, v: &'a Value, path: &'a str) -> Option<Fields<'a, 'r>> {
    let m = r.object(v, path)?;
    Some(Fields { r, m, path })
}

fn amount(r: &mut Reader, v: &Value, path: &str) -> Option<Amount> {
    match v {
        Value::Number(n) => {
            let a = Amount::from_number(n);
            if a.is_none() {
                r.err(path, "amount must be non-negative");
            }
            a
        }
        _ => {
            r.err(path, format!("expected a number, got {}", kind(v)));
            None
        }
    }
}

fn limit_state(r: &mut Reader, v: &Value, path: &str) -> Option<LimitState> {
    let mut f = fields(r, v, path)?;
    let metric = f.string("metric");
    let scope = f.string("scope");
    let window = f.string("window");
    let chat_id = match f.m.get("chat_id") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(_) => f.opt_string("chat_id").map(Some),
    };
    let limit = f.amount("limit");
    let used = f.amount("used");
    let requested = f.opt_amount("requested");
    let remaining = f.amount("remaining");
    let resets_at = f.opt_string("resets_at");
    let credits = f.opt_amount("credits");
    let from_credits = f.opt_amount("from_credits");
    Some(LimitState {
        metric: metric?,
        scope: scope?,
        window: window?,
        chat_id: chat_id.ok()?,
        limit: limit?,
        used: used?,
        requested: requested.ok()?,
        remaining: remaining?,
        resets_at: resets_at.ok()?,
        credits: credits.ok()?,
        from_credits: from_credits.ok()?,
    })
}

fn hold_info(r: &mut Reader, v: &Value, path: &str) -> Option<HoldInfo> {
    let mut f = fields(r, v, path)?;
    let id = f.string("id");
    let kind = f.string("type");
    let model = f.opt_string("model");
    let created_at = f.string("created_at");
    let expires_at = f.string("expires_at");
    Some(HoldInfo {
        id: id?,
        kind: kind?,
        model: model.ok()?,
        created_at: created_at?,
        expires_at: expires_at?,
    })
}

fn grant_info(r: &mut Reader, v: &Value, path: &str) -> Option<GrantInfo> {
    let mut f = fields(r, v, path)?;
    let id = f.string("id");
    let metric = f.string("metric");
    let scope = f.string("scope");
    let amount = f.amount("amount");
    let remaining = f.amount("remaining");
    let source = f.string("source").and_then(|s| {
        let s = Source::parse(&s);
        if s.is_none() {
            let at = f.at("source");
            f.r.err(at, "unknown source");
        }
        s
    });
    let starts_at = f.opt_string("starts_at");
    let expires_at = f.opt_string("expires_at");
    let revoked_at = f.opt_string("revoked_at");
    Some(GrantInfo {
        id: id?,
        metric: metric?,
        scope: scope?,
        amount: amount?,
        remaining: remaining?,
        source: source?,
        starts_at: starts_at.ok()?,
        expires_at: expires_at.ok()?,
        revoked_at: revoked_at.ok()?,
    })
}

/// Integers as serde reads an `i64`: no fraction, within its range.
fn int(r: &mut Reader, v: &Value, path: &str) -> Option<i64> {
    let i = v.as_i64();
    if i.is_none() {
        r.err(path, format!("expected an integer, got {}", kind(v)));
    }
    i
}

fn subscription(r: &mut Reader, v: &Value, path: &str) -> Option<Subscription> {
    let mut f = fields(r, v, path)?;
    let id = f.string("id");
    let plan = f.string("plan");
    let active = match f.m.get("active") {
        None => f.missing("active"),
        Some(v) => {
            let at = f.at("active");
            f.r.as_bool(v, &at)
        }
    };
    let starts_at = match f.m.get("starts_at") {
        None => f.missing("starts_at"),
        Some(v) => {
            let at = f.at("starts_at");
            int(f.r, v, &at)
        }
    };
    let ends_at = match f.get("ends_at") {
        None => Some(None),
        Some(v) => {
            let at = f.at("ends_at");
            int(f.r, v, &at).map(Some)
        }
    };
    Some(Subscription {
        id: id?,
        plan: plan?,
        active: active?,
        starts_at: starts_at?,
        ends_at: ends_at?,
    })
}

impl Snapshot {
    /// Reads the body of `GET /v1/usage` from parsed JSON, accepting what
    /// the serde derive accepts (the comment on `Fields` says how); every
    /// problem is listed.
    pub fn from_value(v: &Value) -> Result<Snapshot, Problems> {
        let mut r = Reader::new();
        let snap = (|| {
            let mut f = fields(&mut r, v, "")?;
            let sub = match f.get("subscription") {
                None => Some(None),
                Some(v) => subscription(f.r, v, "subscription").map(Some),
            };
            let plan = f.opt_string("plan");
            let as_of = f.string("as_of");
            let limits = f.list("limits", limit_state);
            let holds = f.list("holds", hold_info);
            let grants = f.list("grants", grant_info);
            Some(Snapshot {
                subscription: sub?,
                plan: plan.ok()?,
                as_of: as_of?,
                limits: limits?,
                holds: holds?,
                grants: grants?,
            })
        })();
        match snap {
            Some(s) if r.ok() => Ok(s),
            _ => Err(Problems(r.problems)),
        }
    }
}

/// A snapshot figure as an integer of the metric's unit (micro-dollars for cost).
pub fn raw_amount(metric: Metric, a: &Amount) -> u64 {
    match (metric, *a) {
        (Metric::CostUsd, Amount::Count(n)) => n.saturating_mul(1_000_000),
        (_, Amount::Count(n)) | (Metric::CostUsd, Amount::Usd(n)) => n,
        // A fractional count is not a count: round up, never down.
        (_, Amount::Usd(m)) => m.div_ceil(1_000_000),
    }
}

impl UsageView for Snapshot {
    fn used(&self, l: &Limit, _key: &str, ctx: &WinCtx) -> u64 {
        let Some(e) = self.entry(l, ctx.chat) else {
            return 0;
        };
        let used = raw_amount(l.metric, &e.used);
        match l.window {
            Window::Day | Window::Week | Window::Month => {
                match e.resets_at.as_deref().and_then(parse_rfc3339) {
                    Some(r) if r <= ctx.now => 0,
                    _ => used,
                }
            }
            Window::Subscription => {
                let same = self.subscription.as_ref().map(|s| s.id.as_str()) == ctx.sub_id;
                if same {
                    used
                } else {
                    0
                }
            }
            _ => used,
        }
    }

    fn resets_at(&self, l: &Limit, key: &str, ctx: &WinCtx) -> Option<i64> {
        match l.window {
            Window::Day | Window::Week | Window::Month => {
                let stored = self
                    .entry(l, ctx.chat)
                    .and_then(|e| e.resets_at.as_deref())
                    .and_then(parse_rfc3339);
                match stored {
                    Some(r) if r > ctx.now => Some(r),
                    _ => crate::window::resets_at(None, l.window, ctx),
                }
            }
            Window::Rolling(..) => {
                if self.used(l, key, ctx) == 0 {
                    return None;
                }
                self.entry(l, ctx.chat)
                    .and_then(|e| e.resets_at.as_deref())
                    .and_then(parse_rfc3339)
                    .map(|r| r.max(ctx.now))
            }
            _ => None,
        }
    }

    fn retry_after(&self, l: &Limit, key: &str, ctx: &WinCtx, requested: u64) -> Option<i64> {
        if requested > l.max || !l.window.resets() {
            return None;
        }
        self.resets_at(l, key, ctx).map(|r| (r - ctx.now).max(0))
    }

    fn credits(&self, metric: Metric, model: Option<(&str, bool)>, now: i64) -> u64 {
        self.grants
            .iter()
            .filter(|g| {
                g.usable(now)
                    && g.metric == metric.as_str()
                    && crate::limit::Scope::parse(&g.scope).matches(model)
            })
            .fold(0u64, |s, g| {
                s.saturating_add(raw_amount(metric, &g.remaining))
            })
    }

    fn limit_credits(&self, l: &Limit, now: i64) -> u64 {
        self.grants
            .iter()
            .filter(|g| {
                g.usable(now)
                    && g.metric == l.metric.as_str()
                    && (g.scope == "all" || g.scope == l.scope.as_str())
            })
            .fold(0u64, |s, g| {
                s.saturating_add(raw_amount(l.metric, &g.remaining))
            })
    }

    fn in_flight(&self, now: i64) -> u64 {
        self.holds
            .iter()
            .filter(|h| counts_in_flight(&h.kind))
            .filter(|h| parse_rfc3339(&h.expires_at).is_none_or(|x| x > now))
            .count() as u64
    }
}
