//! The decisions: config + usage + action + now → verdict.
//!
//! One evaluation serves every runtime. It reads usage through
//! [`UsageView`], implemented by the authoritative [`Ledger`] (the Worker's
//! Durable Object, native Rust) and by a [`Snapshot`] (the browser). The
//! order of checks is SPEC §4's: access, then files (name, type, size), then
//! concurrency, then quotas smallest window first.

use crate::action::{Action, FileInfo};
use crate::config::{Config, Plan};
use crate::decision::{Amount, Code, Decision, HoldRef, LimitState, Violation, Warning};
use crate::discount::DiscountState;
use crate::files;
use crate::idem::{Idem, KeyReused};
use crate::ledger::{Charge, Hold, IdemEntry, Ledger, Origin, Warned};
use crate::limit::{Amounts, Limit, Metric, Window};
use crate::messages::{self, Locale, MessageArgs};
use crate::snapshot::{HoldInfo, Snapshot};
use crate::subscription::Subscription;
use crate::time::{rfc3339, secs};
use crate::window::{self, WinCtx};

/// How a caller wants the answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// Fill `limits` with every limit that applied.
    pub explain: bool,
    /// Overrides the config's locale.
    pub locale: Option<Locale>,
    /// The code's state, for a `discount` action.
    pub discount: Option<&'a DiscountState>,
    /// The caller's user id, for per-user discount caps.
    pub user: Option<&'a str>,
    /// Who reserves: a gateway hold is settled only by the gateway.
    pub origin: Origin,
}

/// Real usage reported when a hold is committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Micro-dollars; `None`: computed from the model's prices. When given it
    /// always counts, free models included (SPEC §8).
    pub cost_micros: Option<u64>,
    pub images: Option<u64>,
    pub files: Option<u64>,
    /// The model that answered, when it is not the reserved one: the usage
    /// is charged as that model (its prices, its scope).
    pub model: Option<String>,
}

/// Usage as seen by a decision: the ledger (exact) or a snapshot (advisory).
pub trait UsageView {
    fn used(&self, limit: &Limit, key: &str, ctx: &WinCtx) -> u64;
    fn resets_at(&self, limit: &Limit, key: &str, ctx: &WinCtx) -> Option<i64>;
    /// Seconds until `requested` would fit by waiting; `None`: waiting never helps.
    fn retry_after(&self, limit: &Limit, key: &str, ctx: &WinCtx, requested: u64) -> Option<i64>;
    /// Open holds of kinds that count against `max_concurrent`.
    fn in_flight(&self, now: i64) -> u64;
    /// Credits usable at `now` for `metric` on a request on `model` (SPEC §9).
    fn credits(&self, metric: Metric, model: Option<(&str, bool)>, now: i64) -> u64;
    /// The credits a limit's meter shows (see [`crate::credits::for_limit`]).
    fn limit_credits(&self, limit: &Limit, now: i64) -> u64;
    /// The warnings already given for a limit (SPEC §10); a snapshot does
    /// not know them (the browser may repeat a warning, never miss one).
    fn warned(&self, _key: &str) -> Option<&Warned> {
        None
    }
}

impl UsageView for Ledger {
    fn used(&self, l: &Limit, key: &str, ctx: &WinCtx) -> u64 {
        window::used(self.counters.get(key), l.window, ctx)
    }
    fn resets_at(&self, l: &Limit, key: &str, ctx: &WinCtx) -> Option<i64> {
        window::resets_at(self.counters.get(key), l.window, ctx)
    }
    fn retry_after(&self, l: &Limit, key: &str, ctx: &WinCtx, requested: u64) -> Option<i64> {
        window::retry_after(self.counters.get(key), l.window, ctx, l.max, requested)
    }
    fn in_flight(&self, now: i64) -> u64 {
        self.holds
            .iter()
            .filter(|h| h.expires > now && counts_in_flight(&h.kind))
            .count() as u64
    }
    fn credits(&self, metric: Metric, model: Option<(&str, bool)>, now: i64) -> u64 {
        crate::credits::available(&self.grants, metric, model, now)
    }
    fn limit_credits(&self, l: &Limit, now: i64) -> u64 {
        crate::credits::for_limit(&self.grants, l.metric, &l.scope, now)
    }
    fn warned(&self, key: &str) -> Option<&Warned> {
        self.warned.get(key)
    }
}

/// Only model calls are "requests in flight"; an upload's hold is not.
pub fn counts_in_flight(kind: &str) -> bool {
    matches!(kind, "message" | "title" | "image" | "analyze_image")
}

/// A limit that applies to an action, with what it asks of it.
#[derive(Debug, Clone)]
struct Applied<'p> {
    limit: &'p Limit,
    key: &'p str,
    requested: u64,
    /// Used before this action.
    used: u64,
}

/// What an action asks of each metric.
#[derive(Debug, Clone, Copy, Default)]
struct Demand {
    amounts: Amounts,
    /// Metrics the action touches (checked even when the amount is 0:
    /// a `validate` with no tokens still hits an exhausted token window).
    touched: [bool; 6],
}

impl Demand {
    fn add(&mut self, m: Metric, n: u64) {
        self.amounts[m.idx()] = self.amounts[m.idx()].saturating_add(n);
        self.touched[m.idx()] = true;
    }
}

/// The result of evaluating an action, before it is turned into a decision.
struct Evaluation<'p> {
    violations: Vec<Violation>,
    applied: Vec<Applied<'p>>,
    demand: Demand,
    limit_states: Vec<LimitState>,
    /// Per metric, what an allowed request draws from credits.
    draw: Amounts,
    /// The warnings an allowed action raises, and what to remember of them.
    warnings: Vec<Warning>,
    warned: Vec<(String, Warned)>,
    /// Limits this allowed action takes to their max (event `limit.reached`).
    reached: Vec<Warning>,
}

/// A config made ready to decide.
#[derive(Debug, Clone)]
pub struct Engine {
    pub config: Config,
    /// Per plan (same order as `config.plans`), each limit's ledger key.
    pub(crate) keys: Vec<Vec<String>>,
    /// Every limit key of every plan and its window, for housekeeping:
    /// sorted by key, looked up by [`Engine::window_of`]. A sorted list, not
    /// a hash map: no hash table or SipHash in the `.wasm` (issue 9).
    windows: Vec<(String, Window)>,
    /// The "ok" message per locale, rendered once (it has no placeholders
    /// that change between decisions).
    ok: [String; 2],
}

impl Engine {
    /// The window of a limit key some plan of the config has.
    pub(crate) fn window_of(&self, key: &str) -> Option<Window> {
        self.windows
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.windows[i].1)
    }

    pub fn new(config: Config) -> Engine {
        let keys: Vec<Vec<String>> = config
            .plans
            .iter()
            .map(|p| p.limits.iter().map(Limit::key).collect())
            .collect();
        let mut windows: Vec<(String, Window)> = config
            .plans
            .iter()
            .flat_map(|p| p.limits.iter())
            .map(|l| (l.key(), l.window))
            .collect();
        crate::order::sort_by(&mut windows, |a, b| a.0.cmp(&b.0));
        // A key names its window, so equal keys carry equal windows.
        windows.dedup_by(|a, b| a.0 == b.0);
        let ok_in = |locale: Locale| {
            messages::render(
                Code::Ok,
                locale,
                &MessageArgs::default(),
                config.template(locale, Code::Ok.as_str()),
            )
        };
        let ok = [ok_in(Locale::Fa), ok_in(Locale::En)];
        Engine {
            config,
            keys,
            windows,
            ok,
        }
    }

    /// What the windows need to know at `now` for this subscription and chat.
    pub(crate) fn win_ctx<'a>(
        &'a self,
        now: i64,
        sub: Option<&'a Subscription>,
        chat: Option<&'a str>,
    ) -> WinCtx<'a> {
        WinCtx {
            now,
            cal: &self.config.calendar,
            sub_id: sub.map(|s| s.id.as_str()),
            sub_ends: sub.and_then(|s| s.ends_at),
            chat,
        }
    }

    fn locale(&self, opts: &Options) -> Locale {
        opts.locale.unwrap_or(self.config.locale)
    }

    pub(crate) fn plan_index(&self, id: &str) -> Option<usize> {
        self.config.plans.iter().position(|p| p.id == id)
    }

    fn msg(&self, code: Code, locale: Locale, args: &MessageArgs) -> String {
        messages::render(
            code,
            locale,
            args,
            self.config.template(locale, code.as_str()),
        )
    }

    fn simple(&self, code: Code, locale: Locale, args: &MessageArgs) -> Violation {
        Violation {
            code,
            status: code.status(),
            limit: None,
            file: args.file.map(str::to_string),
            model: args.model.map(str::to_string),
            retry_after_s: None,
            message: self.msg(code, locale, args),
        }
    }

    // ---------------------------------------------------------------- checks

    /// The access checks of SPEC §4, in order. `Err` ends the evaluation:
    /// quotas of a plan the user may not use say nothing useful.
    fn access<'s>(
        &'s self,
        sub: Option<&Subscription>,
        now: i64,
        locale: Locale,
        require_active_plan: bool,
    ) -> Result<(usize, &'s Plan), Box<Violation>> {
        let deny = |code| Err(Box::new(self.simple(code, locale, &MessageArgs::default())));
        let sub = match crate::subscription::standing(sub, now) {
            Ok(s) => s,
            Err(code) => return deny(code),
        };
        let Some(pi) = self.plan_index(&sub.plan) else {
            // A plan the config no longer has is as good as an inactive one.
            return deny(Code::PlanInactive);
        };
        let plan = &self.config.plans[pi];
        if require_active_plan && !plan.active {
            return deny(Code::PlanInactive);
        }
        Ok((pi, plan))
    }

    /// The model must be allowed by the plan *and* known to the config.
    fn model_check(
        &self,
        plan: &Plan,
        model: &str,
        locale: Locale,
    ) -> Result<bool, Box<Violation>> {
        match self.config.model(model) {
            Some(m) if plan.allows_model(model) => Ok(m.free),
            _ => Err(Box::new(self.simple(
                Code::ModelNotAllowed,
                locale,
                &MessageArgs {
                    model: Some(model),
                    ..Default::default()
                },
            ))),
        }
    }

    fn demand(&self, action: &Action) -> Demand {
        let mut d = Demand::default();
        let model = action.model().and_then(|m| self.config.model(m));
        let token_cost = |i: u64, o: u64| model.map_or(0, |m| m.token_cost(i, o));
        // Cost limits concern models that cost money: a free model costs
        // nothing, so an exhausted dollar budget does not lock a user out of
        // free models. A paid model without configured prices estimates $0 but
        // is still charged, so the real cost of its commit is recorded.
        let priced = model.is_some_and(|m| {
            !m.free
                || m.input_micros_per_mtok > 0
                || m.output_micros_per_mtok > 0
                || m.image_micros > 0
        });
        // A model call: its tokens, and its estimated cost when priced.
        let call = |d: &mut Demand, input: u64, output: u64| {
            d.add(Metric::Tokens, input.saturating_add(output));
            if priced {
                d.add(Metric::CostUsd, token_cost(input, output));
            }
        };
        match action {
            Action::Message {
                input_tokens,
                max_output_tokens,
                ..
            } => {
                d.add(Metric::Messages, 1);
                call(&mut d, *input_tokens, *max_output_tokens);
            }
            Action::Title {
                input_tokens,
                max_output_tokens,
                ..
            } => call(&mut d, *input_tokens, *max_output_tokens),
            Action::Image { count, .. } => {
                d.add(Metric::Images, *count);
                if priced {
                    d.add(
                        Metric::CostUsd,
                        model.map_or(0, |m| m.image_micros.saturating_mul(*count)),
                    );
                }
            }
            Action::AnalyzeImage {
                input_tokens,
                max_output_tokens,
                file,
                ..
            } => {
                d.add(Metric::Messages, 1);
                call(&mut d, *input_tokens, *max_output_tokens);
                if let Some(f) = file {
                    d.add(Metric::Files, 1);
                    d.add(Metric::FileBytes, f.size);
                }
            }
            Action::Upload { files, .. } => {
                d.add(Metric::Files, files.len() as u64);
                d.add(
                    Metric::FileBytes,
                    files.iter().fold(0u64, |a, f| a.saturating_add(f.size)),
                );
            }
            Action::Validate {
                model: m,
                input_tokens,
                generate_image,
                uploaded_files_count,
                ..
            } => {
                if m.is_some() {
                    d.add(Metric::Messages, 1);
                    call(&mut d, *input_tokens, 0);
                }
                if *generate_image {
                    d.add(Metric::Images, 1);
                }
                if let Some(n) = uploaded_files_count {
                    d.add(Metric::Files, *n);
                }
            }
            Action::Discount { .. } | Action::Upgrade { .. } => {}
        }
        d
    }

    /// File checks for every file: names (400), then types (415), then sizes (413).
    fn file_checks(&self, plan: &Plan, files_: &[&FileInfo], locale: Locale) -> Vec<Violation> {
        let mut names = Vec::new();
        let mut types = Vec::new();
        let mut sizes = Vec::new();
        for f in files_ {
            let args = MessageArgs {
                file: Some(&f.name),
                ..Default::default()
            };
            if files::check_name(&f.name).is_err() {
                // A hostile name is not echoed back: it may carry bidi controls.
                names.push(self.simple(Code::FileNameInvalid, locale, &MessageArgs::default()));
                let last = names.last_mut().expect("just pushed");
                last.file = Some(sanitize_name(&f.name));
                continue;
            }
            let ext = files::extension(&f.name);
            if let Some(allowed) = &plan.files.allowed_extensions {
                if !allowed.contains(&ext) {
                    types.push(self.simple(
                        Code::FileTypeNotAllowed,
                        locale,
                        &MessageArgs {
                            ext: Some(&ext),
                            allowed: Some(allowed),
                            ..args.clone()
                        },
                    ));
                    continue;
                }
            }
            if let Some(head) = &f.head {
                if !files::head_agrees(&ext, head) {
                    types.push(self.simple(
                        Code::FileTypeMismatch,
                        locale,
                        &MessageArgs {
                            ext: Some(&ext),
                            ..args.clone()
                        },
                    ));
                    continue;
                }
            }
            if let Some(max) = plan.files.max_file_bytes {
                if f.size > max {
                    let mut v = self.simple(
                        Code::FileTooLarge,
                        locale,
                        &MessageArgs {
                            limit: Some(max),
                            requested: Some(f.size),
                            ..args.clone()
                        },
                    );
                    v.limit = Some(LimitState {
                        metric: Metric::FileBytes.as_str().into(),
                        scope: "all".into(),
                        window: "file".into(),
                        chat_id: None,
                        limit: Amount::Count(max),
                        used: Amount::Count(0),
                        requested: Some(Amount::Count(f.size)),
                        remaining: Amount::Count(max),
                        resets_at: None,
                        credits: None,
                        from_credits: None,
                    });
                    sizes.push(v);
                }
            }
        }
        names.extend(types);
        names.extend(sizes);
        names
    }

    /// Evaluates an action against usage. Pure: changes nothing.
    fn evaluate<'p>(
        &'p self,
        view: &dyn UsageView,
        sub: Option<&Subscription>,
        action: &Action,
        now: i64,
        opts: &Options,
    ) -> Evaluation<'p> {
        let locale = self.locale(opts);
        let mut ev = Evaluation {
            violations: Vec::new(),
            applied: Vec::new(),
            demand: self.demand(action),
            limit_states: Vec::new(),
            draw: Amounts::default(),
            warnings: Vec::new(),
            warned: Vec::new(),
            reached: Vec::new(),
        };
        if let Action::Upgrade { to_plan } = action {
            ev.violations
                .extend(self.upgrade_check(sub, to_plan, now, locale));
            return ev;
        }
        if let Action::Discount { code } = action {
            ev.violations
                .extend(self.discount_check(sub, code, now, locale, opts));
            return ev;
        }
        let (pi, plan) = match self.access(sub, now, locale, true) {
            Ok(p) => p,
            Err(v) => {
                ev.violations.push(*v);
                return ev;
            }
        };
        ev.applied.reserve(plan.limits.len());
        let mut model_ref = None;
        if let Some(m) = action.model() {
            match self.model_check(plan, m, locale) {
                Ok(free) => model_ref = Some((m, free)),
                Err(v) => {
                    ev.violations.push(*v);
                    return ev;
                }
            }
        }

        let files_: Vec<&FileInfo> = match action {
            Action::Upload { files, .. } => files.iter().collect(),
            Action::AnalyzeImage { file: Some(f), .. } => vec![f],
            _ => Vec::new(),
        };
        ev.violations
            .extend(self.file_checks(plan, &files_, locale));

        if let Some(max) = plan.max_concurrent {
            let ai = counts_in_flight(action.kind()) || model_ref.is_some();
            if ai && view.in_flight(now) >= max {
                let mut v = self.simple(
                    Code::ConcurrencyExceeded,
                    locale,
                    &MessageArgs {
                        limit: Some(max),
                        ..Default::default()
                    },
                );
                v.model = None;
                ev.violations.push(v);
            }
        }

        let ctx = self.win_ctx(now, sub, action.chat_id());
        let mut quota: Vec<(usize, Violation)> = Vec::new();
        // Credits usable per metric, read once when an overflow limit asks.
        let mut pool: [Option<u64>; 6] = [None; 6];
        for (li, limit) in plan.limits.iter().enumerate() {
            let mi = limit.metric.idx();
            if !ev.demand.touched[mi] || !limit.scope.matches(model_ref) {
                continue;
            }
            if limit.window == Window::Chat && ctx.chat.is_none() {
                continue;
            }
            let key = self.keys[pi][li].as_str();
            let requested = ev.demand.amounts[mi];
            let used = view.used(limit, key, &ctx);
            let remaining = limit.max.saturating_sub(used);
            let mut over = remaining == 0 || requested > remaining;
            // Credits (SPEC §9): an overflow limit lets the excess be drawn
            // from the grants covering the request, when they hold enough.
            let (mut credits, mut from_credits) = (0, None);
            if limit.overflow_credits {
                credits =
                    *pool[mi].get_or_insert_with(|| view.credits(limit.metric, model_ref, now));
                if over {
                    let excess = requested.saturating_sub(remaining);
                    if credits > 0 && excess <= credits {
                        over = false;
                        ev.draw[mi] = ev.draw[mi].max(excess);
                    }
                    from_credits = Some(excess.min(credits));
                }
            }
            if over || opts.explain {
                let resets_at = view.resets_at(limit, key, &ctx);
                let mut state = limit_state(limit, ctx.chat, used, Some(requested), resets_at);
                if limit.overflow_credits {
                    state.credits = Some(Amount::of(limit.metric, credits));
                }
                state.from_credits = from_credits.map(|n| Amount::of(limit.metric, n));
                if over {
                    // What the user may still use here: the plan's remaining
                    // and, on an overflow limit, the credits.
                    let usable = remaining.saturating_add(credits);
                    let code = if usable == 0 {
                        Code::WindowExceeded
                    } else {
                        Code::InsufficientBudget
                    };
                    let retry = view
                        .retry_after(limit, key, &ctx, requested.saturating_sub(credits))
                        .map(|s| s.max(0) as u64);
                    // For a violation, `resets_at` is when this request would fit.
                    let fits_at = match (limit.window, retry) {
                        (Window::Rolling(..), Some(r)) => Some(rfc3339(now + r as i64)),
                        _ => state.resets_at.clone(),
                    };
                    let message = self.msg(
                        code,
                        locale,
                        &MessageArgs {
                            metric: Some(limit.metric),
                            scope: Some(&limit.scope),
                            window: Some(limit.window),
                            limit: Some(limit.max),
                            used: Some(used),
                            remaining: Some(usable),
                            requested: Some(requested),
                            resets_at: fits_at.as_deref(),
                            ..Default::default()
                        },
                    );
                    quota.push((
                        li,
                        Violation {
                            code,
                            status: code.status(),
                            limit: Some(LimitState {
                                resets_at: fits_at,
                                ..state.clone()
                            }),
                            file: None,
                            model: None,
                            retry_after_s: retry,
                            message,
                        },
                    ));
                }
                if opts.explain {
                    ev.limit_states.push(state);
                }
            }
            ev.applied.push(Applied {
                limit,
                key,
                requested,
                used,
            });
        }
        // Smallest window first; the config's order among equals.
        crate::order::sort_by_key(&mut quota, |(li, _)| (plan.limits[*li].window.rank(), *li));
        ev.violations.extend(quota.into_iter().map(|(_, v)| v));
        if ev.violations.is_empty() {
            self.warnings(view, &mut ev, &ctx, locale);
        }
        ev
    }

    /// Warnings (SPEC §10): every limit this action takes past one of its
    /// `warn_at` thresholds (the highest one passed), unless that threshold
    /// was already warned in the limit's period. A period is a calendar
    /// period (by its end), a subscription (by its id), a chat, the whole
    /// lifetime, or for a rolling window of length W the W-long slice of
    /// time since the epoch that `now` falls in.
    fn warnings(&self, view: &dyn UsageView, ev: &mut Evaluation, ctx: &WinCtx, locale: Locale) {
        for a in &ev.applied {
            let l = a.limit;
            let ts: &[u16] = l.warn_at.as_deref().unwrap_or(&self.config.warn_at);
            if l.max == 0 {
                continue;
            }
            let mi = l.metric.idx();
            // What this limit's counter takes (credits pay the rest).
            let charge = if l.overflow_credits {
                a.requested - ev.draw[mi].min(a.requested)
            } else {
                a.requested
            };
            let (before, after) = (
                u128::from(a.used),
                u128::from(a.used.saturating_add(charge)),
            );
            let max = u128::from(l.max);
            // Events (SPEC §10): `limit.reached` when this action takes
            // the limit to its max, once per limit per period (remembered
            // beside the warnings under `<key>#max`).
            let reaches = before < max && after >= max;
            let crossed = ts.iter().rev().find(|&&t| {
                let line = u128::from(t) * max;
                before * 1000 < line && line <= after * 1000
            });
            if crossed.is_none() && !reaches {
                continue;
            }
            let wkey = match ctx.chat {
                Some(c) if l.window == Window::Chat => format!("{}#{c}", a.key),
                _ => a.key.to_string(),
            };
            let resets_at = view.resets_at(l, a.key, ctx);
            let period = match l.window {
                Window::Rolling(..) => {
                    (ctx.now / l.window.rolling_secs().unwrap_or(1).max(1)).to_string()
                }
                Window::Day | Window::Week | Window::Month => resets_at.unwrap_or(0).to_string(),
                Window::Subscription => ctx.sub_id.unwrap_or("").to_string(),
                Window::Lifetime | Window::Chat => String::new(),
            };
            let used = a.used.saturating_add(charge);
            let remaining = l.max.saturating_sub(used);
            let amount = |n| Amount::of(l.metric, n);
            let resets = resets_at.map(rfc3339);
            let state = |threshold: u16, message: String| Warning {
                metric: l.metric.as_str().to_string(),
                scope: l.scope.as_str().to_string(),
                window: l.window.to_string(),
                chat_id: (l.window == Window::Chat)
                    .then(|| ctx.chat.map(str::to_string))
                    .flatten(),
                threshold: f64::from(threshold) / 1000.0,
                used: amount(used),
                limit: amount(l.max),
                remaining: amount(remaining),
                resets_at: resets.clone(),
                message,
            };
            let max_key = format!("{wkey}#max");
            if reaches && view.warned(&max_key).is_none_or(|w| w.period != period) {
                ev.reached.push(state(1000, String::new()));
                ev.warned.push((
                    max_key,
                    Warned {
                        period: period.clone(),
                        threshold: 1000,
                    },
                ));
            }
            let Some(&t) = crossed else {
                continue;
            };
            if view
                .warned(&wkey)
                .is_some_and(|w| w.period == period && w.threshold >= t)
            {
                continue;
            }
            let message = messages::render_warning(
                locale,
                &MessageArgs {
                    metric: Some(l.metric),
                    scope: Some(&l.scope),
                    window: Some(l.window),
                    limit: Some(l.max),
                    used: Some(used),
                    remaining: Some(remaining),
                    resets_at: resets.as_deref(),
                    percent: Some((u64::from(t) + 5) / 10),
                    ..Default::default()
                },
                self.config.template(locale, messages::WARNING),
            );
            ev.warnings.push(state(t, message));
            ev.warned.push((
                wkey,
                Warned {
                    period,
                    threshold: t,
                },
            ));
        }
    }

    fn upgrade_check(
        &self,
        sub: Option<&Subscription>,
        to_plan: &str,
        now: i64,
        locale: Locale,
    ) -> Option<Violation> {
        // Upgrading away from a retired plan is exactly what its users need,
        // so the current plan need not be active.
        let (_, current) = match self.access(sub, now, locale, false) {
            Ok(p) => p,
            Err(v) => return Some(*v),
        };
        match self.config.plan(to_plan) {
            Some(target) if target.active && target.tier > current.tier => None,
            _ => Some(self.simple(Code::UpgradeNotAllowed, locale, &MessageArgs::default())),
        }
    }

    fn discount_check(
        &self,
        sub: Option<&Subscription>,
        code: &str,
        now: i64,
        locale: Locale,
        opts: &Options,
    ) -> Option<Violation> {
        let state = opts.discount.filter(|d| d.code == code);
        match crate::discount::judge(state, opts.user.unwrap_or(""), sub, now) {
            Ok(()) => None,
            Err((c, limit)) => Some(self.simple(
                c,
                locale,
                &MessageArgs {
                    limit,
                    ..Default::default()
                },
            )),
        }
    }

    fn decide(&self, ev: Evaluation, locale: Locale) -> Decision {
        let Evaluation {
            violations,
            limit_states,
            draw,
            warnings,
            reached,
            ..
        } = ev;
        match violations.first() {
            None => Decision {
                allowed: true,
                status: 200,
                code: Code::Ok,
                message: self.ok[usize::from(locale == Locale::En)].clone(),
                retry_after_s: None,
                violations,
                limits: limit_states,
                hold: None,
                from_credits: Metric::ALL
                    .iter()
                    .filter(|m| draw[m.idx()] > 0)
                    .map(|m| (m.as_str().to_string(), Amount::of(*m, draw[m.idx()])))
                    .collect(),
                warnings,
                reached,
                model: None,
                fallback_from: None,
            },
            Some(first) => {
                // Waiting helps only if every violation clears by waiting: then
                // the answer is the latest of their resets.
                let retry = violations
                    .iter()
                    .map(|v| v.retry_after_s)
                    .try_fold(0u64, |acc, r| r.map(|r| acc.max(r)));
                Decision {
                    allowed: false,
                    status: first.status,
                    code: first.code,
                    message: first.message.clone(),
                    retry_after_s: retry,
                    violations,
                    limits: limit_states,
                    hold: None,
                    from_credits: Default::default(),
                    warnings: Vec::new(),
                    reached: Vec::new(),
                    model: None,
                    fallback_from: None,
                }
            }
        }
    }

    // ------------------------------------------------------------ operations

    /// Dry run against the authoritative ledger: the decision, nothing changes.
    pub fn check(
        &self,
        ledger: &Ledger,
        sub: Option<&Subscription>,
        action: &Action,
        now_ms: i64,
        opts: &Options,
    ) -> Decision {
        let now = secs(now_ms);
        let l = as_of(ledger, now);
        let ev = self.evaluate(&*l, sub, action, now, opts);
        let (ev, fallback) = self.fallback(&*l, sub, action, now, opts, ev);
        with_fallback(
            self.decide(ev, self.locale(opts)),
            action,
            fallback.as_ref(),
        )
    }

    /// Fallback models (SPEC §11): a `message` denied only for quota (every
    /// violation a 429) is tried again, in the plan's order, for each
    /// fallback whose `from` matches its model; the first that passes
    /// replaces the evaluation. Access denials (403) and file problems
    /// never fall back.
    fn fallback<'p>(
        &'p self,
        view: &dyn UsageView,
        sub: Option<&Subscription>,
        action: &Action,
        now: i64,
        opts: &Options,
        ev: Evaluation<'p>,
    ) -> (Evaluation<'p>, Option<Action>) {
        let Action::Message { model, .. } = action else {
            return (ev, None);
        };
        if ev.violations.is_empty() || ev.violations.iter().any(|v| v.status != 429) {
            return (ev, None);
        }
        let Some(plan) = sub.and_then(|s| self.config.plan(&s.plan)) else {
            return (ev, None);
        };
        for f in plan
            .fallbacks
            .iter()
            .filter(|f| f.to != *model && crate::glob::matches(&f.from, model))
        {
            let other = match action.clone() {
                Action::Message {
                    input_tokens,
                    max_output_tokens,
                    chat_id,
                    kind,
                    ..
                } => Action::Message {
                    model: f.to.clone(),
                    input_tokens,
                    max_output_tokens,
                    chat_id,
                    kind,
                },
                a => a,
            };
            let try_ev = self.evaluate(view, sub, &other, now, opts);
            if try_ev.violations.is_empty() {
                return (try_ev, Some(other));
            }
        }
        (ev, None)
    }

    /// Atomic check-and-hold: allowed → every applicable counter moves and a
    /// hold is opened; denied → nothing changes and nothing is remembered.
    /// The same idempotency key with the same request returns the first
    /// allowed answer and never holds twice; with another request, or when
    /// its stored answer cannot be read back, it is refused ([`KeyReused`]).
    pub fn reserve(
        &self,
        ledger: &mut Ledger,
        sub: Option<&Subscription>,
        action: &Action,
        now_ms: i64,
        idem: Option<Idem<'_>>,
        opts: &Options,
    ) -> Result<Decision, KeyReused> {
        let now = secs(now_ms);
        self.maintain(ledger, now_ms);
        if let Some(k) = idem {
            if let Some(e) = ledger.idem_get(k.key, now) {
                // Revision 1 kept no fingerprint: its keys replay as before.
                if !e.fp.is_empty() && e.fp != k.fingerprint {
                    return Err(KeyReused);
                }
                // An answer that no longer reads (another version wrote
                // it, or storage damaged it) is still a key that was used:
                // refused, never taken as a new request that would hold
                // and count a second time.
                return crate::fields::from_text(&e.answer, Decision::from_value).ok_or(KeyReused);
            }
        }
        let locale = self.locale(opts);
        let ev = self.evaluate(ledger, sub, action, now, opts);
        let (mut ev, fallback) = self.fallback(ledger, sub, action, now, opts, ev);
        // Allowed for a fallback model: the hold is for that model.
        let asked = action;
        let action = fallback.as_ref().unwrap_or(action);
        let warned = std::mem::take(&mut ev.warned);
        // What to charge if allowed: borrowed from the engine's plans, no copies.
        let charges: Vec<(&str, Window, Metric, u64, bool)> = ev
            .applied
            .iter()
            .map(|a| {
                (
                    a.key,
                    a.limit.window,
                    a.limit.metric,
                    a.requested,
                    a.limit.overflow_credits,
                )
            })
            .collect();
        let demand = ev.demand;
        let draw = ev.draw;
        let mut d = with_fallback(self.decide(ev, locale), asked, fallback.as_ref());
        let holds_usage = !matches!(
            action,
            Action::Discount { .. } | Action::Upgrade { .. } | Action::Validate { .. }
        );
        if d.allowed && holds_usage {
            let ctx = self.win_ctx(now, sub, action.chat_id());
            let mut hold_charges = Vec::with_capacity(charges.len());
            // Credits first: an overflow limit's counter gets the part the
            // plan pays, the grants the rest (see `crate::credits`).
            let model_ref = action
                .model()
                .and_then(|m| self.config.model(m).map(|x| (m, x.free)));
            let mut draws = Vec::new();
            for m in Metric::ALL {
                if draw[m.idx()] > 0 {
                    draws.extend(crate::credits::draw(
                        &mut ledger.grants,
                        m,
                        model_ref,
                        draw[m.idx()],
                        now,
                    ));
                }
            }
            for (key, win, metric, requested, overflow) in charges {
                let amount = if overflow {
                    requested - draw[metric.idx()].min(requested)
                } else {
                    requested
                };
                let mut slot = ledger.counters.remove(key);
                let s = window::charge(&mut slot, win, &ctx, amount);
                if let Some(c) = slot {
                    ledger.counters.insert(key.to_string(), c);
                }
                hold_charges.push(Charge {
                    key: key.to_string(),
                    metric: metric.idx() as u8,
                    slot: s,
                    amount,
                    overflow,
                });
            }
            let id = ledger.new_hold_id();
            let expires = now + self.config.hold_ttl_s as i64;
            ledger.open(Hold {
                id: id.clone(),
                created: now,
                expires,
                kind: action.kind().to_string(),
                model: action.model().map(str::to_string),
                est: demand.amounts,
                charges: hold_charges,
                origin: opts.origin,
                max_expires: Some(now + self.config.hold_max_ttl_s as i64),
                // The gateway's calls are charged when nobody settles them:
                // the upstream may have done the work (SPEC §8).
                on_expiry: match opts.origin {
                    Origin::Gateway => crate::config::OnExpiry::Charge,
                    Origin::Api => self.config.on_hold_expiry,
                },
                plan: sub.map(|s| s.plan.clone()),
                sub: sub.map(|s| s.id.clone()),
                sub_ends: sub.and_then(|s| s.ends_at),
                chat: action.chat_id().map(str::to_string),
                touched: Some(demand.touched.iter().enumerate().fold(0u8, |b, (i, t)| {
                    if *t {
                        b | 1 << i
                    } else {
                        b
                    }
                })),
                draws,
            });
            d.hold = Some(HoldRef {
                id,
                expires_at: rfc3339(expires),
            });
            // A threshold warns once per limit per period.
            ledger.warned.extend(warned);
        }
        if let (Some(k), true) = (idem, d.allowed) {
            let mut stored = d.clone();
            stored.limits.clear();
            ledger.idem_put(
                k.key,
                IdemEntry {
                    at: now,
                    fp: k.fingerprint.to_string(),
                    answer: serde_json::to_string(&stored).unwrap_or_default(),
                },
            );
        }
        Ok(d)
    }

    // -------------------------------------------------------------- reports

    /// Every limit of the user's plan as it stands. A `chat` limit appears
    /// once per entry of `chats` (`None`: a chat with no usage yet), skipping
    /// chats without usage unless `keep_empty`.
    pub fn limit_states(
        &self,
        view: &dyn UsageView,
        sub: Option<&Subscription>,
        chats: &[Option<&str>],
        keep_empty: bool,
        now: i64,
    ) -> Vec<LimitState> {
        let Some((pi, plan)) =
            sub.and_then(|s| self.plan_index(&s.plan).map(|i| (i, &self.config.plans[i])))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (li, limit) in plan.limits.iter().enumerate() {
            let key = &self.keys[pi][li];
            let chat_list: &[Option<&str>] = if limit.window == Window::Chat {
                chats
            } else {
                &[None]
            };
            for &chat in chat_list {
                let ctx = self.win_ctx(now, sub, chat);
                let used = view.used(limit, key, &ctx);
                if limit.window == Window::Chat && used == 0 && !keep_empty {
                    continue;
                }
                let resets_at = view.resets_at(limit, key, &ctx);
                let mut state = limit_state(limit, chat, used, None, resets_at);
                if limit.overflow_credits {
                    state.credits = Some(Amount::of(limit.metric, view.limit_credits(limit, now)));
                }
                out.push(state);
            }
        }
        out
    }

    /// The snapshot `GET /v1/usage` returns and the browser pre-validates against.
    pub fn snapshot(&self, ledger: &Ledger, sub: Option<&Subscription>, now_ms: i64) -> Snapshot {
        let now = secs(now_ms);
        let l = &*as_of(ledger, now);
        let mut chats: Vec<Option<&str>> = Vec::new();
        for c in l.counters.values() {
            if let window::Counter::Chats { m } = c {
                chats.extend(m.keys().map(|k| Some(k.as_str())));
            }
        }
        crate::order::sort_by(&mut chats, Ord::cmp);
        chats.dedup();
        Snapshot {
            subscription: sub.cloned(),
            plan: sub.map(|s| s.plan.clone()),
            as_of: rfc3339(now),
            limits: self.limit_states(l, sub, &chats, false, now),
            grants: l
                .grants
                .iter()
                .filter(|g| g.listed(now))
                .map(crate::credits::Grant::info)
                .collect(),
            holds: l
                .holds
                .iter()
                .map(|h| HoldInfo {
                    id: h.id.clone(),
                    kind: h.kind.clone(),
                    model: h.model.clone(),
                    created_at: rfc3339(h.created),
                    expires_at: rfc3339(h.expires),
                })
                .collect(),
        }
    }

    /// The decision the edge would give for this snapshot (the browser's
    /// advisory check): exact for calendar, subscription, lifetime and chat
    /// windows; for rolling windows never looser.
    pub fn check_snapshot(
        &self,
        snapshot: &Snapshot,
        sub: Option<&Subscription>,
        action: &Action,
        now_ms: i64,
        opts: &Options,
    ) -> Decision {
        let now = secs(now_ms);
        let ev = self.evaluate(snapshot, sub, action, now, opts);
        let (ev, fallback) = self.fallback(snapshot, sub, action, now, opts, ev);
        with_fallback(
            self.decide(ev, self.locale(opts)),
            action,
            fallback.as_ref(),
        )
    }

    /// The browser's pre-upload check: one decision for the whole batch and
    /// one per file (each as if uploaded alone), against a snapshot.
    pub fn check_files(
        &self,
        snapshot: &Snapshot,
        sub: Option<&Subscription>,
        chat_id: &str,
        files: &[FileInfo],
        now_ms: i64,
        opts: &Options,
    ) -> FilesVerdict {
        let batch = Action::Upload {
            chat_id: chat_id.to_string(),
            files: files.to_vec(),
        };
        let decision = self.check_snapshot(snapshot, sub, &batch, now_ms, opts);
        let per_file = files
            .iter()
            .map(|f| FileVerdict {
                name: f.name.clone(),
                decision: self.check_snapshot(
                    snapshot,
                    sub,
                    &Action::Upload {
                        chat_id: chat_id.to_string(),
                        files: vec![f.clone()],
                    },
                    now_ms,
                    opts,
                ),
            })
            .collect();
        FilesVerdict {
            allowed: decision.allowed,
            decision,
            files: per_file,
        }
    }

    /// Every limit as it stands at `now` according to a snapshot (quota
    /// meters, SPEC §6): a `chat` limit once per chat in the snapshot and
    /// once for `chat` (`None`: what a new chat may use), so no limit of the
    /// plan is ever missing.
    pub fn status_from_snapshot(
        &self,
        snapshot: &Snapshot,
        sub: Option<&Subscription>,
        chat: Option<&str>,
        now_ms: i64,
    ) -> Vec<LimitState> {
        let mut chats: Vec<Option<&str>> = snapshot
            .limits
            .iter()
            .filter_map(|l| l.chat_id.as_ref()?.as_deref().map(Some))
            .collect();
        chats.push(chat);
        crate::order::sort_by(&mut chats, Ord::cmp);
        chats.dedup();
        self.limit_states(snapshot, sub, &chats, true, secs(now_ms))
    }
}

/// Marks a decision allowed for a fallback model (SPEC §11).
fn with_fallback(mut d: Decision, asked: &Action, fallback: Option<&Action>) -> Decision {
    if let Some(f) = fallback {
        d.model = f.model().map(str::to_string);
        d.fallback_from = asked.model().map(str::to_string);
    }
    d
}

/// The ledger as it stands at `now`: holds whose time is up no longer
/// count, whether or not the alarm has run yet. Borrowed when none is due.
fn as_of(ledger: &Ledger, now: i64) -> std::borrow::Cow<'_, Ledger> {
    if ledger.holds.iter().any(|h| h.expires <= now) {
        let mut l = ledger.clone();
        let _ = l.expire(now);
        std::borrow::Cow::Owned(l)
    } else {
        std::borrow::Cow::Borrowed(ledger)
    }
}

/// The verdict on one file of a batch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FileVerdict {
    pub name: String,
    pub decision: Decision,
}

/// `checkFiles`' answer: the batch and each file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FilesVerdict {
    pub allowed: bool,
    pub decision: Decision,
    pub files: Vec<FileVerdict>,
}

/// A name safe to echo: control and bidi characters replaced by U+FFFD.
fn sanitize_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control()
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
            {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .take(255)
        .collect()
}

fn limit_state(
    limit: &Limit,
    chat: Option<&str>,
    used: u64,
    requested: Option<u64>,
    resets_at: Option<i64>,
) -> LimitState {
    let a = |n| Amount::of(limit.metric, n);
    LimitState {
        metric: limit.metric.as_str().to_string(),
        scope: limit.scope.as_str().to_string(),
        window: limit.window.to_string(),
        chat_id: (limit.window == Window::Chat).then(|| chat.map(str::to_string)),
        limit: a(limit.max),
        used: a(used),
        requested: requested.map(a),
        remaining: a(limit.max.saturating_sub(used)),
        resets_at: resets_at.map(rfc3339),
        credits: None,
        from_credits: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_795_461_660_000; // 2026-11-23T19:21:00Z

    fn engine() -> Engine {
        Engine::new(
            Config::from_value(&json!({
                "models": [
                    {"id": "paid", "input_usd_per_mtok": 1, "output_usd_per_mtok": 2},
                    {"id": "free:free", "free": true}
                ],
                "plans": [{
                    "id": "p", "models": ["*"], "max_concurrent": 2,
                    "limits": [
                        {"metric": "messages", "window": "day", "max": 3},
                        {"metric": "tokens", "window": "1h", "max": 1000},
                        {"metric": "cost_usd", "window": "subscription", "max": 0.002},
                        {"metric": "files", "window": "chat", "max": 2}
                    ],
                    "files": {"max_file_bytes": 100, "allowed_extensions": ["txt", "png"]}
                }]
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

    fn msg(model: &str, input: u64, output: u64) -> Action {
        Action::Message {
            model: model.into(),
            input_tokens: input,
            max_output_tokens: output,
            chat_id: None,
            kind: crate::action::MessageKind::Send,
        }
    }

    #[test]
    fn a_denied_reserve_changes_nothing_and_an_allowed_one_moves_every_counter() {
        let e = engine();
        let mut l = Ledger::default();
        let o = Options::default();
        let d = e
            .reserve(&mut l, Some(&sub()), &msg("paid", 300, 300), NOW, None, &o)
            .unwrap();
        assert!(d.allowed, "{d:?}");
        assert_eq!(l.counters.len(), 3, "messages, tokens and cost all moved");
        let before = l.clone();
        // 600 + 600 > 1000 tokens: denied, nothing moves.
        let d = e
            .reserve(&mut l, Some(&sub()), &msg("paid", 300, 300), NOW, None, &o)
            .unwrap();
        assert_eq!(d.code, Code::InsufficientBudget);
        assert_eq!(
            d.message,
            "بودجه باقی‌مانده‌ی توکن شما برای این مدل کافی نیست (۴۰۰ عدد)"
        );
        assert_eq!(l, before);
    }

    #[test]
    fn every_violation_is_listed_smallest_window_first() {
        let e = engine();
        let mut l = Ledger::default();
        let o = Options::default();
        for _ in 0..2 {
            let d = e
                .reserve(
                    &mut l,
                    Some(&sub()),
                    &msg("free:free", 10, 490),
                    NOW,
                    None,
                    &o,
                )
                .unwrap();
            let id = d.hold.unwrap().id;
            e.commit(
                &mut l,
                &id,
                &Usage {
                    input_tokens: 10,
                    output_tokens: 490,
                    ..Default::default()
                },
                NOW,
            )
            .unwrap();
        }
        // tokens 1h is full (1000), messages day has 1 left, and the cost budget
        // (0.002 $ = 2000 µ$) is short for 1000 in + 1000 out on "paid" (3000 µ$).
        let d = e.check(&l, Some(&sub()), &msg("paid", 1000, 1000), NOW, &o);
        let codes: Vec<(&str, &str)> = d
            .violations
            .iter()
            .map(|v| {
                let l = v.limit.as_ref().unwrap();
                (v.code.as_str(), l.window.as_str())
            })
            .collect();
        assert_eq!(
            codes,
            [
                ("window_exceeded", "1h"),
                ("insufficient_budget", "subscription")
            ]
        );
        assert_eq!(d.status, 429);
        // The cost violation never clears by waiting: no retry time.
        assert_eq!(d.retry_after_s, None);
        let d = e.check(&l, Some(&sub()), &msg("free:free", 1, 1), NOW, &o);
        assert_eq!(d.code, Code::WindowExceeded);
        assert_eq!(
            d.retry_after_s,
            Some(3600),
            "the usage of NOW leaves the window at NOW+3600"
        );
    }

    #[test]
    fn access_comes_first_and_ends_the_evaluation() {
        let e = engine();
        let l = Ledger::default();
        let o = Options::default();
        let a = msg("paid", 1, 1);
        assert_eq!(
            e.check(&l, None, &a, NOW, &o).code,
            Code::SubscriptionMissing
        );
        let future = Subscription {
            starts_at: NOW / 1000 + 10,
            ..sub()
        };
        assert_eq!(
            e.check(&l, Some(&future), &a, NOW, &o).code,
            Code::SubscriptionInactive
        );
        let ended = Subscription {
            ends_at: Some(NOW / 1000),
            ..sub()
        };
        let d = e.check(&l, Some(&ended), &a, NOW, &o);
        assert_eq!(
            (d.code, d.status, d.violations.len()),
            (Code::SubscriptionExpired, 403, 1)
        );
        let unknown = msg("nobody/model", 1, 1);
        assert_eq!(
            e.check(&l, Some(&sub()), &unknown, NOW, &o).code,
            Code::ModelNotAllowed
        );
    }

    #[test]
    fn file_checks_run_name_then_type_then_size() {
        let e = engine();
        let l = Ledger::default();
        let f = |name: &str, size: u64, head: Option<&[u8]>| FileInfo {
            name: name.into(),
            size,
            mime: None,
            head: head.map(<[u8]>::to_vec),
        };
        let upload = Action::Upload {
            chat_id: "c".into(),
            files: vec![
                f("big.txt", 1000, None),
                f("x.exe", 1, None),
                f("a\u{202E}txt.exe", 1, None),
                f("img.txt", 10, Some(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")),
            ],
        };
        let d = e.check(&l, Some(&sub()), &upload, NOW, &Options::default());
        let codes: Vec<&str> = d.violations.iter().map(|v| v.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "file_name_invalid",
                "file_type_not_allowed",
                "file_type_mismatch",
                "file_too_large",
                "insufficient_budget"
            ]
        );
        assert_eq!(d.status, 400);
        assert!(!d.violations[0].file.as_ref().unwrap().contains('\u{202E}'));
    }

    #[test]
    fn concurrency_counts_open_model_holds() {
        let e = engine();
        let mut l = Ledger::default();
        let o = Options::default();
        for _ in 0..2 {
            assert!(
                e.reserve(&mut l, Some(&sub()), &msg("free:free", 1, 1), NOW, None, &o)
                    .unwrap()
                    .allowed
            );
        }
        let d = e
            .reserve(&mut l, Some(&sub()), &msg("free:free", 1, 1), NOW, None, &o)
            .unwrap();
        assert_eq!((d.code, d.retry_after_s), (Code::ConcurrencyExceeded, None));
        // After the TTL the holds expire and the slot frees up.
        let later = NOW + 301_000;
        assert!(
            e.reserve(
                &mut l,
                Some(&sub()),
                &msg("free:free", 1, 1),
                later,
                None,
                &o
            )
            .unwrap()
            .allowed
        );
    }

    #[test]
    fn idempotent_reserve_returns_the_same_answer_and_holds_once() {
        let e = engine();
        let mut l = Ledger::default();
        let o = Options::default();
        let a = e
            .reserve(
                &mut l,
                Some(&sub()),
                &msg("paid", 1, 1),
                NOW,
                Some(Idem {
                    key: "k",
                    fingerprint: "f",
                }),
                &o,
            )
            .unwrap();
        let b = e
            .reserve(
                &mut l,
                Some(&sub()),
                &msg("paid", 1, 1),
                NOW + 5,
                Some(Idem {
                    key: "k",
                    fingerprint: "f",
                }),
                &o,
            )
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(l.holds.len(), 1);
        // The same key with another request is refused and holds nothing.
        let other = Idem {
            key: "k",
            fingerprint: "g",
        };
        let c = e.reserve(
            &mut l,
            Some(&sub()),
            &msg("paid", 1, 1),
            NOW,
            Some(other),
            &o,
        );
        assert_eq!(c, Err(KeyReused));
        assert_eq!(l.holds.len(), 1);
    }

    /// Every limit key of every plan finds its window (keys shared by two
    /// plans once); anything else finds none.
    #[test]
    fn limit_keys_find_their_windows() {
        let e = Engine::new(
            Config::from_value(&json!({
                "models": [{"id": "m"}],
                "plans": [
                    {"id": "a", "models": ["*"], "limits": [
                        {"metric": "messages", "window": "day", "max": 3},
                        {"metric": "tokens", "window": "3h", "max": 10}]},
                    {"id": "b", "models": ["*"], "limits": [
                        {"metric": "tokens", "window": "3h", "max": 20},
                        {"metric": "images", "scope": "free", "window": "month", "max": 1},
                        {"metric": "files", "window": "chat", "max": 2}]}
                ]
            }))
            .unwrap(),
        );
        let mut n = 0;
        for p in &e.config.plans {
            for l in &p.limits {
                assert_eq!(e.window_of(&l.key()), Some(l.window), "{}", l.key());
                n += 1;
            }
        }
        assert_eq!(n, 5);
        assert_eq!(e.windows.len(), 4);
        assert_eq!(e.window_of("tokens|all|1h"), None);
        assert_eq!(e.window_of(""), None);
    }

    /// Attack: a retried key whose stored answer no longer reads as a
    /// `Decision` (written by another version, or damaged in storage) must
    /// not be taken as a new request: that would hold, and count, twice.
    #[test]
    fn a_key_whose_stored_answer_does_not_read_never_reserves_again() {
        let e = engine();
        let mut l = Ledger::default();
        let o = Options::default();
        let k = Idem {
            key: "k",
            fingerprint: "f",
        };
        let first = e
            .reserve(&mut l, Some(&sub()), &msg("paid", 1, 1), NOW, Some(k), &o)
            .unwrap();
        assert!(first.allowed);
        let counters = l.counters.clone();
        for answer in [
            "",
            "{",
            r#"{"allowed":true}"#,
            r#"{"allowed":true,"code":"no_such_code"}"#,
        ] {
            l.idem.get_mut("k").unwrap().answer = answer.to_string();
            let again = e.reserve(
                &mut l,
                Some(&sub()),
                &msg("paid", 1, 1),
                NOW + 5,
                Some(k),
                &o,
            );
            assert_eq!(again, Err(KeyReused), "stored answer {answer:?}");
            assert_eq!(l.holds.len(), 1, "stored answer {answer:?}");
            assert_eq!(l.counters, counters, "stored answer {answer:?}");
        }
    }

    #[test]
    fn a_denial_is_not_remembered_under_its_key() {
        let e = engine();
        let mut l = Ledger::default();
        let o = Options::default();
        let k = Idem {
            key: "k",
            fingerprint: "f",
        };
        // 1001 tokens never fit the 1h window of 1000.
        let big = msg("free:free", 1, 1000);
        assert!(
            !e.reserve(&mut l, Some(&sub()), &big, NOW, Some(k), &o)
                .unwrap()
                .allowed
        );
        assert!(l.idem.is_empty());
        let small = Idem {
            key: "k",
            fingerprint: "f",
        };
        let d = e
            .reserve(
                &mut l,
                Some(&sub()),
                &msg("free:free", 1, 1),
                NOW,
                Some(small),
                &o,
            )
            .unwrap();
        assert!(d.allowed);
    }
}
