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
use crate::fields::{fields, whole};
use crate::json::{Problems, Reader};
use crate::limit::{Limit, Metric, Window};
use crate::subscription::Subscription;
use crate::time::parse_rfc3339;
use crate::window::WinCtx;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
        self.limits.iter().find(|e| {
            same(&e.metric, l.metric.as_str())
                && same(&e.scope, l.scope.as_str())
                && l.window.is_named(&e.window)
                && (l.window != Window::Chat
                    || e.chat_id.as_ref().and_then(|c| c.as_deref()) == chat)
        })
    }
}

/// Two short names equal. In wasm `==` on strings calls `memcmp`, a byte
/// loop behind a call, and `entry` compares names hundreds of times per
/// check (a tenth of a re-check in the npm package): there the bytes are
/// compared inline. Native `memcmp` is faster than that loop, so native
/// keeps `==` (BENCHMARKS.md, "A typed boundary", has both).
fn same(a: &str, b: &str) -> bool {
    if cfg!(target_family = "wasm") {
        a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
    } else {
        a == b
    }
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

impl Snapshot {
    /// Reads the body of `GET /v1/usage` from parsed JSON, accepting what
    /// the serde derive accepts (`crate::fields` says how); every
    /// problem is listed.
    pub fn from_value(v: &Value) -> Result<Snapshot, Problems> {
        whole(v, |r, v| {
            let mut f = fields(r, v, "")?;
            let sub = match f.get("subscription") {
                None => Some(None),
                Some(v) => Subscription::read_stored(f.r, v, "subscription").map(Some),
            };
            let plan = f.opt_string("plan");
            let as_of = f.string("as_of");
            let limits = f.list("limits", LimitState::read);
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
        })
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
