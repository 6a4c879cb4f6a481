//! Credits (SPEC §9): grants that add to what a user may use beyond the plan.
//!
//! A grant belongs to one user's books ([`crate::ledger::Ledger::grants`]).
//! A limit with `"overflow": "credits"` may be exceeded by drawing the excess
//! from the grants of the same metric whose scope covers the request, in the
//! SPEC's order ([`draw_order`]). The hold that drew keeps a [`Draw`] per
//! grant, so a commit draws more or gives back and a release gives back,
//! exactly like its charges on the counters. A grant never goes below 0;
//! an expired, revoked or not yet started grant is never drawn on.
//!
//! How the draw meets the counters: a request that needs `excess` more than
//! an overflow limit's remaining draws the largest excess among the overflow
//! limits of that metric (one pool of credits pays for the request once), and
//! each overflow limit's counter is charged only the part the plan paid
//! (`requested − drawn`), so usage paid by credits does not also eat a longer
//! window's allowance and an overflow counter never passes its `max`. Limits
//! without overflow (rate limits) count the whole request, as always.

use crate::json::{join, Problems, Reader};
use crate::limit::{Metric, Scope};
use crate::stored::{self, Obj, Path, Res};
use crate::time::{parse_rfc3339, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a grant came from; it also orders the draw-down among grants
/// expiring at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Promo,
    Discount,
    Admin,
    Purchase,
}

impl Source {
    pub const ALL: [Source; 4] = [
        Source::Purchase,
        Source::Promo,
        Source::Admin,
        Source::Discount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Purchase => "purchase",
            Source::Promo => "promo",
            Source::Admin => "admin",
            Source::Discount => "discount",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// SPEC §9 says promo before purchase. Free credits (promo, a discount
    /// code's, an operator's gift) go before bought ones: a user keeps what
    /// they paid for longest.
    fn rank(self) -> u8 {
        match self {
            Source::Promo => 0,
            Source::Discount => 1,
            Source::Admin => 2,
            Source::Purchase => 3,
        }
    }
}

/// One grant as the user's books keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub struct Grant {
    pub id: String,
    #[serde(rename = "m")]
    pub metric: String,
    #[serde(rename = "s", default = "all_scope")]
    pub scope: String,
    /// Micro-dollars for `cost_usd`.
    #[serde(rename = "a")]
    pub amount: u64,
    /// What is left, open holds' draws taken out.
    #[serde(rename = "r")]
    pub remaining: u64,
    #[serde(rename = "src")]
    pub source: Source,
    /// Unix seconds: when it was granted (the "oldest" of the draw order).
    #[serde(rename = "c")]
    pub created: i64,
    #[serde(rename = "sa", default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<i64>,
    #[serde(rename = "ea", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Unix seconds of the revocation; what remained was removed then.
    #[serde(rename = "rv", default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

fn all_scope() -> String {
    "all".to_string()
}

impl Grant {
    /// A grant as the books store it (see [`crate::stored`]).
    pub fn from_stored(v: &Value, at: &Path) -> Res<Grant> {
        Obj::read(v, at, |o| Grant {
            id: o.req_str("id"),
            metric: o.req_str("m"),
            scope: o.or("s", all_scope(), stored::string),
            amount: o.req_u64("a"),
            remaining: o.req_u64("r"),
            source: o.req_else(
                "src",
                || Source::Purchase,
                |v, at| {
                    Source::parse(stored::unit_variant(v, at)?)
                        .map_or_else(|| at.err("unknown source"), Ok)
                },
            ),
            created: o.req_i64("c"),
            starts_at: o.opt_i64("sa"),
            expires_at: o.opt_i64("ea"),
            revoked_at: o.opt_i64("rv"),
        })
    }

    pub fn metric(&self) -> Option<Metric> {
        Metric::parse(&self.metric)
    }

    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// May be drawn on at `now`.
    pub fn usable(&self, now: i64) -> bool {
        self.revoked_at.is_none()
            && !self.expired(now)
            && self.starts_at.is_none_or(|s| s <= now)
            && self.remaining > 0
    }

    /// Shown in `GET /v1/usage`: not expired and not revoked.
    pub fn listed(&self, now: i64) -> bool {
        self.revoked_at.is_none() && !self.expired(now)
    }

    /// Does this grant pay for a request on `model` (`(id, free)`)?
    pub fn covers(&self, model: Option<(&str, bool)>) -> bool {
        Scope::str_matches(&self.scope, model)
    }

    /// Of `metric`, usable at `now` and paying for a request on `model`:
    /// what the draw looks at, cheapest test first (every decision of a
    /// user with grants asks this of each grant).
    fn pays(&self, metric: Metric, model: Option<(&str, bool)>, now: i64) -> bool {
        self.metric == metric.as_str() && self.usable(now) && self.covers(model)
    }

    /// The public view.
    pub fn info(&self) -> GrantInfo {
        let m = self.metric().unwrap_or(Metric::Tokens);
        GrantInfo {
            id: self.id.clone(),
            metric: self.metric.clone(),
            scope: self.scope.clone(),
            amount: crate::decision::Amount::of(m, self.amount),
            remaining: crate::decision::Amount::of(m, self.remaining),
            source: self.source,
            starts_at: self.starts_at.map(rfc3339),
            expires_at: self.expires_at.map(rfc3339),
            revoked_at: self.revoked_at.map(rfc3339),
        }
    }
}

/// A grant as `GET /v1/usage` and the admin explain show it, and as the
/// browser reads it back from a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantInfo {
    pub id: String,
    pub metric: String,
    pub scope: String,
    pub amount: crate::decision::Amount,
    pub remaining: crate::decision::Amount,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl GrantInfo {
    /// May be drawn on at `now` (the browser's view of [`Grant::usable`]).
    pub fn usable(&self, now: i64) -> bool {
        let at = |s: &Option<String>| s.as_deref().and_then(parse_rfc3339);
        self.revoked_at.is_none()
            && at(&self.expires_at).is_none_or(|e| e > now)
            && at(&self.starts_at).is_none_or(|s| s <= now)
    }
}

/// What a hold drew from one grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub struct Draw {
    #[serde(rename = "g")]
    pub grant: String,
    #[serde(rename = "m")]
    pub metric: u8,
    #[serde(rename = "a")]
    pub amount: u64,
}

impl Draw {
    pub fn from_stored(v: &Value, at: &Path) -> Res<Draw> {
        Obj::read(v, at, |o| Draw {
            grant: o.req_str("g"),
            metric: o.req("m", stored::small),
            amount: o.req_u64("a"),
        })
    }
}

/// The SPEC's draw-down order: soonest expiry first (never-expiring last),
/// then by source (promo before purchase), then the oldest, then by id so
/// the order is total.
pub fn draw_order(a: &Grant, b: &Grant) -> std::cmp::Ordering {
    let key = |g: &Grant| (g.expires_at.unwrap_or(i64::MAX), g.source.rank(), g.created);
    key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
}

/// The credits usable at `now` for `metric` on a request on `model`.
pub fn available(grants: &[Grant], metric: Metric, model: Option<(&str, bool)>, now: i64) -> u64 {
    grants
        .iter()
        .filter(|g| g.pays(metric, model, now))
        .fold(0u64, |s, g| s.saturating_add(g.remaining))
}

/// What a limit's meter shows as its credits: the usable grants of its
/// metric whose scope is `all` or the limit's own.
pub fn for_limit(grants: &[Grant], metric: Metric, scope: &Scope, now: i64) -> u64 {
    grants
        .iter()
        .filter(|g| {
            g.metric == metric.as_str()
                && g.usable(now)
                && (g.scope == "all" || g.scope == scope.as_str())
        })
        .fold(0u64, |s, g| s.saturating_add(g.remaining))
}

/// Draws up to `amount` of `metric` from the grants covering `model`, in
/// the draw-down order. Returns the draws made (they may add up to less
/// than `amount` when the grants hold less).
pub fn draw(
    grants: &mut [Grant],
    metric: Metric,
    model: Option<(&str, bool)>,
    amount: u64,
    now: i64,
) -> Vec<Draw> {
    let mut order: Vec<usize> = (0..grants.len())
        .filter(|&i| grants[i].pays(metric, model, now))
        .collect();
    crate::order::sort_by(&mut order, |&a, &b| draw_order(&grants[a], &grants[b]));
    let mut left = amount;
    let mut out = Vec::new();
    for i in order {
        if left == 0 {
            break;
        }
        let g = &mut grants[i];
        let take = left.min(g.remaining);
        g.remaining -= take;
        left -= take;
        out.push(Draw {
            grant: g.id.clone(),
            metric: metric.idx() as u8,
            amount: take,
        });
    }
    out
}

/// Gives draws back to their grants (a release, an expiry, a commit that
/// used less). A revoked grant takes nothing back (what remained was
/// removed); a grant never holds more than its amount.
pub fn give_back(grants: &mut [Grant], draws: &[Draw]) {
    for d in draws {
        if let Some(g) = grants.iter_mut().find(|g| g.id == d.grant) {
            if g.revoked_at.is_none() {
                g.remaining = g.remaining.saturating_add(d.amount).min(g.amount);
            }
        }
    }
}

/// Takes `amount` of `metric` back from `draws` (latest drawn first) and
/// returns it to the grants; the draws shrink accordingly.
pub fn undraw(grants: &mut [Grant], draws: &mut Vec<Draw>, metric: Metric, mut amount: u64) {
    for d in draws.iter_mut().rev() {
        if amount == 0 {
            break;
        }
        if usize::from(d.metric) != metric.idx() {
            continue;
        }
        let back = amount.min(d.amount);
        d.amount -= back;
        amount -= back;
        give_back(
            grants,
            &[Draw {
                grant: d.grant.clone(),
                metric: d.metric,
                amount: back,
            }],
        );
    }
    draws.retain(|d| d.amount > 0);
}

/// The total drawn per metric.
pub fn drawn(draws: &[Draw]) -> crate::limit::Amounts {
    let mut a = crate::limit::Amounts::default();
    for d in draws {
        let i = usize::from(d.metric).min(a.len() - 1);
        a[i] = a[i].saturating_add(d.amount);
    }
    a
}

/// The longest a grant id may be.
pub const MAX_GRANT_ID: usize = 128;

/// Reads a grant to create (`POST /v1/admin/users/{id}/grants`):
/// `{id?, metric, scope?, amount, source, starts_at?, expires_at?}`; times
/// are RFC 3339 strings or unix seconds, `cost_usd` amounts are dollars.
/// Without `id` the caller assigns one (`assign_id`).
pub fn read_grant(v: &Value, now: i64, assign_id: &str) -> Result<Grant, Problems> {
    let mut r = Reader::new();
    let Some(m) = r.object(v, "") else {
        return Err(Problems(r.problems));
    };
    r.known_keys(
        m,
        "",
        &[
            "id",
            "metric",
            "scope",
            "amount",
            "source",
            "starts_at",
            "expires_at",
        ],
    );
    let id = match m.get("id") {
        None | Some(Value::Null) => Some(assign_id.to_string()),
        Some(_) => r
            .req_id(m, "", "id", MAX_GRANT_ID)
            .and_then(|s| {
                // It appears in `DELETE /v1/admin/users/{id}/grants/{grant}`.
                let ok = s.bytes().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'@' | b'-')
                });
                if !ok {
                    r.err(
                        "id",
                        "a grant id is 1-128 characters of A-Z a-z 0-9 . _ : @ -",
                    );
                }
                ok.then_some(s)
            })
            .map(str::to_string),
    };
    let metric = r.req_str(m, "", "metric").and_then(|s| {
        Metric::parse(s).or_else(|| {
            r.err("metric", format!("unknown metric {s:?}"));
            None
        })
    });
    let scope = match r.opt_str(m, "", "scope") {
        None => Some("all".to_string()),
        Some(s) => r.check_id(s, "scope", 256).map(str::to_string),
    };
    let amount = match (metric, m.get("amount")) {
        (_, None | Some(Value::Null)) => {
            r.err("amount", "required");
            None
        }
        (Some(Metric::CostUsd), Some(v)) => r.as_usd_micros(v, "amount"),
        (_, Some(v)) => r.as_count(v, "amount"),
    };
    if amount == Some(0) {
        r.err("amount", "must be more than 0");
    }
    let source = r.req_str(m, "", "source").and_then(|s| {
        Source::parse(s).or_else(|| {
            r.err(
                "source",
                "expected \"purchase\", \"promo\", \"admin\" or \"discount\"",
            );
            None
        })
    });
    let mut time = |key: &str| -> Option<i64> {
        match m.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => parse_rfc3339(s).or_else(|| {
                r.err(join("", key), "expected an RFC 3339 time");
                None
            }),
            Some(v) => r.as_int(v, key),
        }
    };
    let starts_at = time("starts_at");
    let expires_at = time("expires_at");
    if let (Some(s), Some(e)) = (starts_at, expires_at) {
        if e <= s {
            r.err("expires_at", "must be after starts_at");
        }
    }
    let g = Grant {
        id: id.unwrap_or_default(),
        metric: metric.map(|m| m.as_str().to_string()).unwrap_or_default(),
        scope: scope.unwrap_or_default(),
        amount: amount.unwrap_or(0),
        remaining: amount.unwrap_or(0),
        source: source.unwrap_or(Source::Admin),
        created: now,
        starts_at,
        expires_at,
        revoked_at: None,
    };
    r.finish(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn g(id: &str, source: Source, created: i64, expires: Option<i64>, amount: u64) -> Grant {
        Grant {
            id: id.into(),
            metric: "tokens".into(),
            scope: "all".into(),
            amount,
            remaining: amount,
            source,
            created,
            starts_at: None,
            expires_at: expires,
            revoked_at: None,
        }
    }

    #[test]
    fn draws_soonest_expiry_then_promo_then_oldest_and_never_below_zero() {
        let mut gs = vec![
            g("never", Source::Promo, 0, None, 100),
            g("late", Source::Purchase, 0, Some(500), 100),
            g("soon-purchase", Source::Purchase, 0, Some(200), 10),
            g("soon-promo-new", Source::Promo, 5, Some(200), 10),
            g("soon-promo-old", Source::Promo, 1, Some(200), 10),
        ];
        let d = draw(&mut gs, Metric::Tokens, None, 150, 100);
        let ids: Vec<(&str, u64)> = d.iter().map(|d| (d.grant.as_str(), d.amount)).collect();
        assert_eq!(
            ids,
            [
                ("soon-promo-old", 10),
                ("soon-promo-new", 10),
                ("soon-purchase", 10),
                ("late", 100),
                ("never", 20)
            ]
        );
        // Only 80 left: a draw of 1000 takes 80 and no grant goes below 0.
        let d = draw(&mut gs, Metric::Tokens, None, 1000, 100);
        assert_eq!(d.iter().map(|d| d.amount).sum::<u64>(), 80);
        assert!(gs.iter().all(|g| g.remaining == 0));
        // Expired grants are not drawn; a give-back never exceeds the amount.
        give_back(&mut gs, &d);
        give_back(&mut gs, &d);
        assert_eq!(gs[0].remaining, 100);
        assert_eq!(available(&gs, Metric::Tokens, None, 600), 100);
    }

    #[test]
    fn a_grant_is_read_with_every_problem_listed() {
        let e = read_grant(
            &json!({"metric": "tokenz", "amount": 0, "source": "gift", "expires_at": "soon", "x": 1}),
            0,
            "g1",
        )
        .unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
        for p in ["metric", "amount", "source", "expires_at", "x"] {
            assert!(paths.contains(&p), "{p} in {paths:?}");
        }
        let ok = read_grant(
            &json!({"metric": "cost_usd", "amount": 1.5, "source": "purchase", "expires_at": "2026-12-01T00:00:00Z"}),
            7,
            "g1",
        )
        .unwrap();
        assert_eq!(
            (ok.id.as_str(), ok.amount, ok.created),
            ("g1", 1_500_000, 7)
        );
    }
}

#[cfg(test)]
mod engine_tests {
    use crate::action::{Action, MessageKind};
    use crate::config::Config;
    use crate::engine::{Engine, Options, Usage};
    use crate::ledger::Ledger;
    use crate::subscription::Subscription;
    use serde_json::json;

    const NOW: i64 = 1_795_461_660_000;

    fn engine(on_expiry: &str) -> Engine {
        Engine::new(
            Config::from_value(&json!({
                "hold_ttl_s": 60, "on_hold_expiry": on_expiry,
                "models": [{"id": "paid", "input_usd_per_mtok": 1}],
                "plans": [{"id": "p", "models": ["*"], "limits": [
                    {"metric": "tokens", "window": "day", "max": 100, "overflow": "credits"},
                    {"metric": "cost_usd", "window": "day", "max": 1}
                ]}]
            }))
            .unwrap(),
        )
    }

    fn sub() -> Subscription {
        Subscription {
            id: "s".into(),
            plan: "p".into(),
            active: true,
            starts_at: 0,
            ends_at: None,
        }
    }

    fn books(grant: u64) -> Ledger {
        let mut l = Ledger::default();
        let g = super::read_grant(
            &json!({"id": "g", "metric": "tokens", "amount": grant, "source": "purchase"}),
            0,
            "x",
        )
        .unwrap();
        assert!(l.add_grant(g.clone()));
        assert!(!l.add_grant(g), "the same id again changes nothing");
        l
    }

    fn msg(n: u64) -> Action {
        Action::Message {
            model: "paid".into(),
            input_tokens: n,
            max_output_tokens: 0,
            chat_id: None,
            kind: MessageKind::Send,
        }
    }

    #[test]
    fn an_expired_hold_gives_its_credits_back_unless_it_is_charged() {
        for (policy, left) in [("release", 50), ("charge", 0)] {
            let e = engine(policy);
            let mut l = books(50);
            let o = Options::default();
            let d = e
                .reserve(&mut l, Some(&sub()), &msg(150), NOW, None, &o)
                .unwrap();
            assert!(d.allowed, "{d:?}");
            assert_eq!(l.grants[0].remaining, 0);
            e.maintain(&mut l, NOW + 61_000);
            assert_eq!(l.grants[0].remaining, left, "{policy}");
        }
    }

    #[test]
    fn the_snapshot_decides_as_the_ledger_does_and_a_revoke_removes_what_remains() {
        let e = engine("release");
        let mut l = books(80);
        let o = Options {
            explain: true,
            ..Default::default()
        };
        for n in [60, 100, 170, 181, 200] {
            let snap = e.snapshot(&l, Some(&sub()), NOW);
            let snap: crate::Snapshot =
                serde_json::from_str(&serde_json::to_string(&snap).unwrap()).unwrap();
            let edge = e.check(&l, Some(&sub()), &msg(n), NOW, &o);
            let browser = e.check_snapshot(&snap, Some(&sub()), &msg(n), NOW, &o);
            assert_eq!(edge, browser, "{n}");
            assert_eq!(edge.allowed, n <= 180, "{n}");
        }
        // Drawn by an open hold: a revoke removes only what remains.
        let d = e
            .reserve(&mut l, Some(&sub()), &msg(130), NOW, None, &o)
            .unwrap();
        assert_eq!(l.revoke_grant("g", NOW / 1000), Some(50));
        // The release gives nothing back to a revoked grant.
        e.release(&mut l, &d.hold.unwrap().id, NOW).unwrap();
        assert_eq!(l.grants[0].remaining, 0);
        assert!(!e.check(&l, Some(&sub()), &msg(101), NOW, &o).allowed);
        // A commit of more than the estimate counts on the counter when the
        // grants cannot pay: committed usage is never lost.
        let mut l = books(10);
        let d = e
            .reserve(&mut l, Some(&sub()), &msg(105), NOW, None, &o)
            .unwrap();
        let u = Usage {
            input_tokens: 200,
            ..Default::default()
        };
        e.commit(&mut l, &d.hold.unwrap().id, &u, NOW).unwrap();
        assert_eq!(l.grants[0].remaining, 0);
        let s = e.snapshot(&l, Some(&sub()), NOW);
        assert_eq!(s.limits[0].used, crate::decision::Amount::Count(190));
    }
}
