//! The books side of the engine: housekeeping and the life of a hold after
//! the decision that opened it — commit, release, extend, expiry — and
//! admin resets. The decisions themselves are in [`crate::engine`].
//!
//! Rules kept here (SPEC §5):
//! * a commit replaces the hold's estimate by the real figures; the same
//!   figures again answer the first answer as a duplicate, other figures
//!   are refused (`hold_committed`);
//! * a commit after expiry still records the usage (`late`), for a day
//!   after the expiry, whatever else the user did meanwhile; after an
//!   explicit release it is refused (`hold_released`) for as long;
//! * a hold opened by the gateway is settled only by the gateway;
//! * the real usage of a model that is not the reserved one, or a cost the
//!   upstream reported for a model whose limits the estimate did not touch,
//!   is counted on the limits that apply to what really happened.

use crate::config::Plan;
use crate::engine::{Engine, Usage};
use crate::ledger::{
    window_of_key, ClosedHold, CommitRequest, Committed, Hold, HoldEnd, HoldError, Ledger, Origin,
    Released,
};
use crate::limit::{Amounts, Metric, Window};
use crate::time::secs;
use crate::window::{self, WinCtx};

impl CommitRequest {
    fn of(u: &Usage) -> CommitRequest {
        CommitRequest {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cost_micros: u.cost_micros,
            images: u.images,
            files: u.files,
            model: u.model.clone(),
        }
    }
}

/// Who opened a hold, open or closed.
fn origin_of(ledger: &Ledger, id: &str) -> Result<Origin, HoldError> {
    match (ledger.hold(id), ledger.closed.get(id)) {
        (Some(h), _) => Ok(h.origin),
        (None, Some(c)) => Ok(c.origin),
        (None, None) => Err(HoldError::Unknown),
    }
}

/// A commit's real usage per metric, and the part of it credits paid.
struct Settled {
    real: Amounts,
    paid: Amounts,
}

fn owner_check(origin: Origin, by: Origin) -> Result<(), HoldError> {
    if origin == Origin::Gateway && by != Origin::Gateway {
        Err(HoldError::OwnedByGateway)
    } else {
        Ok(())
    }
}

impl Engine {
    /// Housekeeping before any operation: expire holds whose time is up,
    /// drop buckets and periods that can no longer count, forget closed
    /// holds and keys older than a day. Counters of limits that left the
    /// config are kept like any other (SPEC §1): their own window says when
    /// they stop counting. Returns the holds that expired now.
    pub fn maintain(&self, ledger: &mut Ledger, now_ms: i64) -> Vec<ClosedHold> {
        let now = secs(now_ms);
        let expired = ledger.expire(now);
        let ctx = WinCtx {
            now,
            cal: &self.config.calendar,
            sub_id: None,
            sub_ends: None,
            chat: None,
        };
        ledger.counters.retain(|key, c| {
            let w = self.window_of(key).or_else(|| window_of_key(key));
            let Some(w) = w else {
                // Not a limit key at all: nothing could ever read it.
                return false;
            };
            window::prune(c, w, now);
            !window::is_idle(c, w, &ctx)
        });
        // Warnings are remembered for their period: forgotten once a
        // calendar period or a rolling slice is over, or when the counter of
        // a subscription, lifetime or chat limit is gone.
        let counters = &ledger.counters;
        ledger.warned.retain(|k, w| {
            let base = k.split('#').next().unwrap_or(k);
            let p = w.period.parse::<i64>().ok();
            match window_of_key(base) {
                Some(Window::Day | Window::Week | Window::Month) => p.is_some_and(|end| now < end),
                Some(win @ Window::Rolling(..)) => {
                    let len = win.rolling_secs().unwrap_or(1).max(1);
                    p.is_some_and(|slice| slice >= now / len)
                }
                _ => counters.contains_key(base),
            }
        });
        ledger.forget_old(now);
        expired
    }

    /// The real usage a commit records, per metric, for `model` (the model
    /// that answered).
    pub fn real_usage(&self, kind: &str, model: Option<&str>, est: &Amounts, u: &Usage) -> Amounts {
        let m = model.and_then(|id| self.config.model(id));
        let mut real = *est;
        real[Metric::Tokens.idx()] = u.input_tokens.saturating_add(u.output_tokens);
        if let Some(i) = u.images {
            real[Metric::Images.idx()] = i;
        }
        if let Some(f) = u.files {
            real[Metric::Files.idx()] = f;
        }
        real[Metric::CostUsd.idx()] = match u.cost_micros {
            Some(c) => c,
            None => {
                let tokens = m.map_or(0, |m| m.token_cost(u.input_tokens, u.output_tokens));
                let images = if kind == "image" {
                    m.map_or(0, |m| {
                        m.image_micros.saturating_mul(real[Metric::Images.idx()])
                    })
                } else {
                    0
                };
                tokens.saturating_add(images)
            }
        };
        real
    }

    /// Replaces a hold's estimate by the real usage, as an API caller.
    pub fn commit(
        &self,
        ledger: &mut Ledger,
        hold_id: &str,
        usage: &Usage,
        now_ms: i64,
    ) -> Result<Committed, HoldError> {
        self.commit_as(ledger, hold_id, usage, now_ms, Origin::Api)
    }

    /// Replaces a hold's estimate by the real usage, as `by`.
    pub fn commit_as(
        &self,
        ledger: &mut Ledger,
        hold_id: &str,
        usage: &Usage,
        now_ms: i64,
        by: Origin,
    ) -> Result<Committed, HoldError> {
        let now = secs(now_ms);
        self.maintain(ledger, now_ms);
        let request = CommitRequest::of(usage);
        let (hold, on_counters, late) = if let Some(h) = ledger.hold(hold_id) {
            owner_check(h.origin, by)?;
            let hold = ledger.take_open(hold_id).expect("found above");
            (hold, true, false)
        } else {
            let Some(c) = ledger.closed.get(hold_id) else {
                return Err(HoldError::Unknown);
            };
            owner_check(c.origin, by)?;
            match c.end {
                HoldEnd::Released => return Err(HoldError::Released),
                HoldEnd::Committed => {
                    let same = match &c.request {
                        Some(q) => *q == request,
                        // Committed by revision 1 (no request kept): the
                        // same real figures are the same commit.
                        None => {
                            let model = usage.model.as_deref().or(c.model.as_deref());
                            let est = c.usage.unwrap_or_default();
                            c.usage == Some(self.real_usage(&c.kind, model, &est, usage))
                        }
                    };
                    if !same {
                        return Err(HoldError::Committed);
                    }
                    return Ok(Committed {
                        usage: c.usage.unwrap_or_default(),
                        late: c.late,
                        duplicate: true,
                        kind: c.kind.clone(),
                        model: c.model.clone(),
                    });
                }
                HoldEnd::Expired => {
                    let Some(hold) = c.hold.clone() else {
                        return Err(HoldError::Unknown);
                    };
                    (hold, c.charged, true)
                }
            }
        };
        let model = usage.model.clone().or_else(|| hold.model.clone());
        let real = self.real_usage(&hold.kind, model.as_deref(), &hold.est, usage);
        let paid = self.settle_credits(ledger, &hold, on_counters, model.as_deref(), &real, now);
        let settled = Settled { real, paid };
        self.record(ledger, &hold, on_counters, model.as_deref(), &settled, now);
        ledger.put_closed(ClosedHold {
            id: hold.id.clone(),
            closed_at: now,
            end: HoldEnd::Committed,
            late,
            request: Some(request),
            usage: Some(real),
            hold: None,
            charged: false,
            kind: hold.kind.clone(),
            model: model.clone(),
            origin: hold.origin,
        });
        Ok(Committed {
            usage: real,
            late,
            duplicate: false,
            kind: hold.kind,
            model,
        })
    }

    /// The limits of `plan` that count `real` usage of `model`.
    fn counting_limits<'p>(
        &'p self,
        plan: &'p Plan,
        pi: usize,
        model: Option<&str>,
        chat: bool,
        real: &Amounts,
    ) -> impl Iterator<Item = (&'p str, Window, Metric)> + 'p {
        // A model the config does not know counts as a paid one (SPEC §8).
        let m = model.map(|id| {
            (
                id.to_string(),
                self.config.model(id).is_some_and(|m| m.free),
            )
        });
        let real = *real;
        plan.limits.iter().enumerate().filter_map(move |(li, l)| {
            let applies = real[l.metric.idx()] > 0
                && l.scope
                    .matches(m.as_ref().map(|(id, free)| (id.as_str(), *free)))
                && (l.window != Window::Chat || chat);
            applies.then(|| (self.keys[pi][li].as_str(), l.window, l.metric))
        })
    }

    /// Credits (SPEC §9) at a commit: the part of the real usage over what
    /// the plan paid on the hold's overflow limits comes from the grants —
    /// more is drawn when the real figure is higher, the difference given
    /// back when lower (`on_counters`: the hold's draws are still held; an
    /// expired hold's were given back at expiry). Returns what credits pay
    /// per metric; what the grants cannot pay lands on the counters.
    fn settle_credits(
        &self,
        ledger: &mut Ledger,
        hold: &Hold,
        on_counters: bool,
        model: Option<&str>,
        real: &Amounts,
        now: i64,
    ) -> Amounts {
        let mut paid = Amounts::default();
        if !hold.charges.iter().any(|c| c.overflow) {
            return paid;
        }
        let mut draws = if on_counters {
            hold.draws.clone()
        } else {
            Vec::new()
        };
        if model != hold.model.as_deref() {
            // Another model answered: its usage is charged on the limits of
            // what really happened (see `record`), credits give back all.
            crate::credits::give_back(&mut ledger.grants, &draws);
            return paid;
        }
        let before = crate::credits::drawn(&draws);
        let model_ref = model.map(|id| (id, self.config.model(id).is_some_and(|m| m.free)));
        for m in Metric::ALL {
            // What the plan paid on this metric's overflow limits.
            let Some(plan_part) = hold
                .charges
                .iter()
                .filter(|c| c.overflow && c.metric() == m)
                .map(|c| c.amount)
                .max()
            else {
                continue;
            };
            let need = real[m.idx()].saturating_sub(plan_part);
            let had = before[m.idx()];
            if need < had {
                crate::credits::undraw(&mut ledger.grants, &mut draws, m, had - need);
            } else if need > had {
                let more = crate::credits::draw(&mut ledger.grants, m, model_ref, need - had, now);
                draws.extend(more);
            }
            paid[m.idx()] = crate::credits::drawn(&draws)[m.idx()];
        }
        paid
    }

    /// Puts a hold's real usage on the books: each charge's estimate
    /// (`on_counters`: still on the counters) replaced by the real figure
    /// where it landed; usage on limits the estimate did not touch (a cost
    /// reported for a free model, another model's scope) charged as of the
    /// moment the hold was opened, like the estimate.
    fn record(
        &self,
        ledger: &mut Ledger,
        hold: &Hold,
        on_counters: bool,
        model: Option<&str>,
        settled: &Settled,
        now: i64,
    ) {
        let (real, paid) = (&settled.real, &settled.paid);
        let minus = |amount: u64| if on_counters { amount } else { 0 };
        // An overflow limit's counter gets what credits did not pay.
        let real_for = |c: &crate::ledger::Charge| {
            let m = c.metric().idx();
            if c.overflow {
                real[m].saturating_sub(paid[m])
            } else {
                real[m]
            }
        };
        // A bucket or chat entry recreated for the real figures is dated
        // when the hold was opened.
        let at = hold.created.min(now);
        let plan = hold
            .plan
            .as_deref()
            .and_then(|p| self.plan_index(p).map(|i| (i, &self.config.plans[i])));
        let moved = model != hold.model.as_deref();
        let (Some((pi, plan)), Some(touched)) = (plan, hold.touched) else {
            // A hold of revision 1 (no plan kept) or of a plan that left the
            // config: the real figures go where the estimate was.
            for c in &hold.charges {
                let r = real_for(c);
                window::adjust(
                    ledger.counter_for(&c.key, r),
                    &c.slot,
                    minus(c.amount),
                    r,
                    at,
                );
            }
            return;
        };
        // What the action counts, and a reported cost whatever the action.
        let counts = |m: Metric| touched & (1 << m.idx()) != 0 || m == Metric::CostUsd;
        let targets: Vec<(&str, Window, Metric)> = self
            .counting_limits(plan, pi, model, hold.chat.is_some(), real)
            .filter(|(_, _, m)| counts(*m))
            .collect();
        for c in &hold.charges {
            let keep = !moved && targets.iter().any(|(k, ..)| *k == c.key);
            let r = if keep { real_for(c) } else { 0 };
            window::adjust(
                ledger.counter_for(&c.key, r),
                &c.slot,
                minus(c.amount),
                r,
                at,
            );
        }
        // Counted when the work was asked for, as the estimate was.
        let ctx = WinCtx {
            now: hold.created.min(now),
            cal: &self.config.calendar,
            sub_id: hold.sub.as_deref(),
            sub_ends: hold.sub_ends,
            chat: hold.chat.as_deref(),
        };
        for (key, win, metric) in targets {
            let kept = !moved && hold.charges.iter().any(|c| c.key == key);
            if kept {
                continue;
            }
            let mut slot = ledger.counters.remove(key);
            window::charge(&mut slot, win, &ctx, real[metric.idx()]);
            if let Some(c) = slot {
                ledger.counters.insert(key.to_string(), c);
            }
        }
    }

    /// Drops a hold, as an API caller.
    pub fn release(
        &self,
        ledger: &mut Ledger,
        hold_id: &str,
        now_ms: i64,
    ) -> Result<Released, HoldError> {
        self.release_as(ledger, hold_id, now_ms, Origin::Api)
    }

    /// Drops a hold (the upstream failed), as `by`. Idempotent; after a
    /// commit it changes nothing.
    pub fn release_as(
        &self,
        ledger: &mut Ledger,
        hold_id: &str,
        now_ms: i64,
        by: Origin,
    ) -> Result<Released, HoldError> {
        let now = secs(now_ms);
        self.maintain(ledger, now_ms);
        owner_check(origin_of(ledger, hold_id)?, by)?;
        ledger.release(hold_id, now)
    }

    /// Keeps a hold open `ttl_s` more seconds from now (default the
    /// config's `hold_ttl_s`), never past `hold_max_ttl_s` after it was
    /// opened. Returns the new expiry (unix s).
    pub fn extend_as(
        &self,
        ledger: &mut Ledger,
        hold_id: &str,
        ttl_s: Option<u64>,
        now_ms: i64,
        by: Origin,
    ) -> Result<i64, HoldError> {
        let now = secs(now_ms);
        self.maintain(ledger, now_ms);
        owner_check(origin_of(ledger, hold_id)?, by)?;
        let ttl = ttl_s
            .unwrap_or(self.config.hold_ttl_s)
            .min(i64::MAX as u64 / 2) as i64;
        ledger.extend(
            hold_id,
            now.saturating_add(ttl),
            self.config.hold_max_ttl_s as i64,
        )
    }

    /// Resets counters: every one when both lists are `None`, else those
    /// whose metric is in `metrics` (if given) and whose window is in
    /// `windows` (if given).
    pub fn reset(
        &self,
        ledger: &mut Ledger,
        metrics: Option<&[Metric]>,
        windows: Option<&[Window]>,
    ) -> usize {
        let ms: Option<Vec<&str>> = metrics.map(|m| m.iter().map(|m| m.as_str()).collect());
        let ws: Option<Vec<String>> = windows.map(|w| w.iter().map(|w| w.to_string()).collect());
        ledger.reset(|key| {
            let m = key.split('|').next().unwrap_or("");
            let w = key.rsplit('|').next().unwrap_or("");
            ms.as_ref().is_none_or(|ms| ms.contains(&m))
                && ws.as_ref().is_none_or(|ws| ws.iter().any(|x| x == w))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{Action, MessageKind};
    use crate::config::Config;
    use crate::engine::Options;
    use crate::ledger::HoldError;
    use crate::limit::Limit;
    use crate::subscription::Subscription;
    use serde_json::json;

    const NOW: i64 = 1_795_461_660_000;

    fn engine(extra: serde_json::Value) -> Engine {
        let mut c = json!({
            "hold_ttl_s": 60,
            "models": [
                {"id": "paid", "input_usd_per_mtok": 1, "output_usd_per_mtok": 2},
                {"id": "other", "input_usd_per_mtok": 10, "output_usd_per_mtok": 20},
                {"id": "free:free", "free": true}
            ],
            "plans": [{
                "id": "p", "models": ["*"],
                "limits": [
                    {"metric": "tokens", "window": "day", "max": 100000},
                    {"metric": "tokens", "scope": "free", "window": "day", "max": 100000},
                    {"metric": "tokens", "scope": "other", "window": "day", "max": 100000},
                    {"metric": "cost_usd", "window": "day", "max": 100},
                    {"metric": "messages", "window": "1h", "max": 1000}
                ]
            }]
        });
        if let Some(m) = extra.as_object() {
            for (k, v) in m {
                c[k] = v.clone();
            }
        }
        Engine::new(Config::from_value(&c).unwrap())
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

    fn msg(model: &str) -> Action {
        Action::Message {
            model: model.into(),
            input_tokens: 10,
            max_output_tokens: 90,
            chat_id: None,
            kind: MessageKind::Send,
        }
    }

    fn used(e: &Engine, l: &Ledger, key: &str, at_ms: i64) -> u64 {
        let limit: &Limit = e.config.plans[0]
            .limits
            .iter()
            .find(|x| x.key() == key)
            .unwrap();
        let ctx = WinCtx {
            now: secs(at_ms),
            cal: &e.config.calendar,
            sub_id: Some("s"),
            sub_ends: None,
            chat: None,
        };
        crate::engine::UsageView::used(l, limit, key, &ctx)
    }

    fn reserve(e: &Engine, l: &mut Ledger, model: &str, at: i64, origin: Origin) -> String {
        let o = Options {
            origin,
            ..Default::default()
        };
        let d = e
            .reserve(l, Some(&sub()), &msg(model), at, None, &o)
            .unwrap();
        d.hold.expect("allowed").id
    }

    fn usage(i: u64, o: u64) -> Usage {
        Usage {
            input_tokens: i,
            output_tokens: o,
            ..Default::default()
        }
    }

    #[test]
    fn same_figures_again_are_a_duplicate_other_figures_a_conflict() {
        let e = engine(json!({}));
        let mut l = Ledger::default();
        let id = reserve(&e, &mut l, "paid", NOW, Origin::Api);
        let first = e.commit(&mut l, &id, &usage(10, 20), NOW).unwrap();
        assert!(!first.duplicate);
        let again = e.commit(&mut l, &id, &usage(10, 20), NOW + 1_000).unwrap();
        assert!(again.duplicate);
        assert_eq!(again.usage, first.usage);
        assert_eq!(
            e.commit(&mut l, &id, &usage(0, 0), NOW + 2_000),
            Err(HoldError::Committed)
        );
        assert_eq!(used(&e, &l, "tokens|all|day", NOW + 2_000), 30);
    }

    #[test]
    fn a_late_commit_counts_a_day_after_expiry_whatever_happened_meanwhile() {
        let e = engine(json!({}));
        let mut l = Ledger::default();
        let id = reserve(&e, &mut l, "paid", NOW, Origin::Api);
        // 60 s later it expired; then 200 other holds come and go.
        let mut t = NOW + 61_000;
        e.maintain(&mut l, t);
        for _ in 0..200 {
            let h = reserve(&e, &mut l, "paid", t, Origin::Api);
            e.release(&mut l, &h, t).unwrap();
            t += 10;
        }
        // Still the same Tehran day (it ends at 20:30Z, NOW is 19:21Z).
        let late_at = NOW + 3_000_000;
        let c = e.commit(&mut l, &id, &usage(5, 5), late_at).unwrap();
        assert!(c.late && !c.duplicate);
        assert_eq!(used(&e, &l, "tokens|all|day", late_at), 10);
        // Another expired hold commits late almost a day after its expiry.
        let old = reserve(&e, &mut l, "paid", NOW, Origin::Api);
        let c = e
            .commit(&mut l, &old, &usage(1, 1), NOW + 60_000 + 86_399_000)
            .unwrap();
        assert!(c.late);
        // A released hold keeps answering 409 for as long.
        let r = reserve(&e, &mut l, "paid", NOW + 1_000, Origin::Api);
        e.release(&mut l, &r, NOW + 1_000).unwrap();
        for _ in 0..100 {
            let h = reserve(&e, &mut l, "paid", NOW + 2_000, Origin::Api);
            e.release(&mut l, &h, NOW + 2_000).unwrap();
        }
        assert_eq!(
            e.commit(&mut l, &r, &usage(1, 1), NOW + 86_000_000),
            Err(HoldError::Released)
        );
        // A hold never committed is forgotten a day after it expired.
        let gone = reserve(&e, &mut l, "paid", NOW, Origin::Api);
        e.maintain(&mut l, NOW + 60_000 + 86_400_000);
        assert_eq!(
            e.commit(&mut l, &gone, &usage(5, 5), NOW + 60_000 + 86_400_000),
            Err(HoldError::Unknown)
        );
        // The late-committed one is remembered a day after its commit.
        assert!(
            e.commit(&mut l, &id, &usage(5, 5), late_at + 1_000)
                .unwrap()
                .duplicate
        );
    }

    #[test]
    fn charge_on_expiry_keeps_the_estimate_until_the_real_figures_come() {
        let e = engine(json!({"on_hold_expiry": "charge"}));
        let mut l = Ledger::default();
        let id = reserve(&e, &mut l, "paid", NOW, Origin::Api);
        e.maintain(&mut l, NOW + 61_000);
        assert_eq!(used(&e, &l, "tokens|all|day", NOW + 61_000), 100);
        let c = e.commit(&mut l, &id, &usage(7, 3), NOW + 70_000).unwrap();
        assert!(c.late);
        assert_eq!(used(&e, &l, "tokens|all|day", NOW + 70_000), 10);
    }

    #[test]
    fn gateway_holds_are_settled_only_by_the_gateway_and_charged_at_expiry() {
        let e = engine(json!({}));
        let mut l = Ledger::default();
        let id = reserve(&e, &mut l, "paid", NOW, Origin::Gateway);
        assert_eq!(
            e.commit(&mut l, &id, &usage(0, 0), NOW),
            Err(HoldError::OwnedByGateway)
        );
        assert_eq!(e.release(&mut l, &id, NOW), Err(HoldError::OwnedByGateway));
        assert_eq!(
            e.extend_as(&mut l, &id, None, NOW, Origin::Api),
            Err(HoldError::OwnedByGateway)
        );
        assert_eq!(used(&e, &l, "tokens|all|day", NOW), 100);
        // Unsettled, it is charged its estimate when it expires.
        e.maintain(&mut l, NOW + 61_000);
        assert_eq!(used(&e, &l, "tokens|all|day", NOW + 61_000), 100);
        let c = e
            .commit_as(&mut l, &id, &usage(20, 30), NOW + 62_000, Origin::Gateway)
            .unwrap();
        assert!(c.late);
        assert_eq!(used(&e, &l, "tokens|all|day", NOW + 62_000), 50);
    }

    #[test]
    fn extend_moves_the_expiry_up_to_the_maximum() {
        let e = engine(json!({"hold_max_ttl_s": 150}));
        let mut l = Ledger::default();
        let id = reserve(&e, &mut l, "paid", NOW, Origin::Api);
        let t = secs(NOW);
        assert_eq!(
            e.extend_as(&mut l, &id, Some(100), NOW + 50_000, Origin::Api),
            Ok(t + 150)
        );
        assert_eq!(
            e.extend_as(&mut l, &id, None, NOW + 10_000, Origin::Api),
            Ok(t + 70)
        );
        e.maintain(&mut l, NOW + 71_000);
        assert_eq!(
            e.extend_as(&mut l, &id, None, NOW + 72_000, Origin::Api),
            Err(HoldError::Expired)
        );
        let id2 = reserve(&e, &mut l, "paid", NOW + 80_000, Origin::Api);
        e.commit(&mut l, &id2, &usage(1, 1), NOW + 80_000).unwrap();
        assert_eq!(
            e.extend_as(&mut l, &id2, None, NOW + 80_000, Origin::Api),
            Err(HoldError::Committed)
        );
        assert_eq!(
            e.extend_as(&mut l, "h999", None, NOW + 80_000, Origin::Api),
            Err(HoldError::Unknown)
        );
    }

    #[test]
    fn another_model_answering_is_charged_as_that_model() {
        let e = engine(json!({}));
        let mut l = Ledger::default();
        let id = reserve(&e, &mut l, "free:free", NOW, Origin::Gateway);
        assert_eq!(used(&e, &l, "tokens|free|day", NOW), 100);
        let u = Usage {
            model: Some("other".into()),
            ..usage(1000, 1000)
        };
        e.commit_as(&mut l, &id, &u, NOW, Origin::Gateway).unwrap();
        assert_eq!(used(&e, &l, "tokens|free|day", NOW), 0);
        assert_eq!(used(&e, &l, "tokens|other|day", NOW), 2000);
        assert_eq!(used(&e, &l, "tokens|all|day", NOW), 2000);
        // $10 and $20 per Mtok: 0.01 + 0.02 $.
        assert_eq!(used(&e, &l, "cost_usd|all|day", NOW), 30_000);
        // An unknown model is charged as a paid one at its reported cost.
        let id = reserve(&e, &mut l, "free:free", NOW, Origin::Gateway);
        let u = Usage {
            model: Some("nobody/knows".into()),
            cost_micros: Some(5_000),
            ..usage(1, 1)
        };
        e.commit_as(&mut l, &id, &u, NOW, Origin::Gateway).unwrap();
        assert_eq!(used(&e, &l, "cost_usd|all|day", NOW), 35_000);
    }

    #[test]
    fn a_reported_cost_counts_for_a_free_model_too() {
        let e = engine(json!({}));
        let mut l = Ledger::default();
        let id = reserve(&e, &mut l, "free:free", NOW, Origin::Api);
        assert_eq!(used(&e, &l, "cost_usd|all|day", NOW), 0);
        let u = Usage {
            cost_micros: Some(1_234),
            ..usage(5, 5)
        };
        e.commit(&mut l, &id, &u, NOW).unwrap();
        assert_eq!(used(&e, &l, "cost_usd|all|day", NOW), 1_234);
        assert_eq!(used(&e, &l, "tokens|free|day", NOW), 10);
    }

    #[test]
    fn counters_of_a_removed_limit_are_kept() {
        let e = engine(json!({}));
        let mut l = Ledger::default();
        let id = reserve(&e, &mut l, "paid", NOW, Origin::Api);
        e.commit(&mut l, &id, &usage(10, 10), NOW).unwrap();
        // A config without the day limits: housekeeping keeps their counts.
        let e2 = engine(json!({"plans": [{"id": "p", "models": ["*"], "limits": [
            {"metric": "messages", "window": "1h", "max": 1000}
        ]}]}));
        e2.maintain(&mut l, NOW + 1_000);
        assert_eq!(used(&e, &l, "tokens|all|day", NOW + 2_000), 20);
    }
}
