//! Property tests: random plans, random operation sequences over several
//! days, checked against a simple exact reference model.
//!
//! The reference keeps every hold as an event (time, subscription, chat,
//! model, estimate, real figures, state) and answers "how much is used in
//! this window at time t" by summing events exactly: rolling windows count
//! events with time > t − W; calendar windows the events in the local period
//! of t (`Calendar::bounds`); subscription windows the events of the current
//! subscription; lifetime everything; chat windows the events of that chat.
//! An open hold counts its estimate until it expires; a committed hold its
//! real figures (a late commit too); a released or expired one nothing.
//!
//! Properties (each over 128 random cases of ≤ 40 operations):
//! 1. a reserve is never allowed when reference usage + request > max;
//! 2. the engine's `used` is never below the reference, and equal to it for
//!    calendar, subscription, lifetime and chat windows;
//! 3. reserve followed by release restores the counters (empty buckets aside);
//! 4. a second commit of a hold counts nothing, nor does a release after a commit;
//! 5. a denied reserve changes nothing in the ledger;
//! 6. the browser's check against a snapshot taken at t never allows, at any
//!    t' ≥ t, what the edge's check denies on the same ledger;
//! 7. a rolling window's `retry_after_s` and `resets_at` are never further
//!    ahead than the window's length (checked on every denied reserve);
//! 8. a hold's usage is never lost: whatever other holds come and go, a
//!    commit within a day of its expiry counts, a second commit within a day
//!    is a duplicate (same figures) or a conflict (others), a commit within
//!    a day of a release is refused as released (checked on every commit).

use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tollgate::action::Action;
use tollgate::calendar::Period;
use tollgate::config::Config;
use tollgate::engine::{Engine, Options, Usage, UsageView};
use tollgate::ledger::{HoldError, Ledger, Released};
use tollgate::limit::{Limit, Scope, Window};
use tollgate::snapshot::Snapshot;
use tollgate::subscription::Subscription;
use tollgate::window::{Bucket, ChatUse, Counter, WinCtx};

// ------------------------------------------------------------------ inputs

const METRICS: [&str; 6] = [
    "messages",
    "tokens",
    "images",
    "files",
    "file_bytes",
    "cost_usd",
];
const SCOPES: [&str; 3] = ["all", "free", "paid"];
const WINDOWS: [&str; 9] = [
    "1m",
    "1h",
    "3h",
    "day",
    "week",
    "month",
    "subscription",
    "lifetime",
    "chat",
];
const ZONES: [&str; 3] = ["Asia/Tehran", "America/New_York", "UTC"];

/// Per metric, index order of `tollgate::limit::Metric::ALL`.
const MSG: usize = 0;
const TOK: usize = 1;
const IMG: usize = 2;
const FILES: usize = 3;
const BYTES: usize = 4;
const COST: usize = 5;

/// Micro-dollars per token of `paid/m` (input, output) and per image of `img/m`.
const IN_PRICE: u64 = 1000;
const OUT_PRICE: u64 = 2000;
const IMG_PRICE: u64 = 10_000;

#[derive(Debug, Clone)]
struct PlanSpec {
    /// (metric, scope, window, max)
    limits: Vec<(usize, usize, usize, u64)>,
    max_concurrent: Option<u64>,
    zone: usize,
    persian: bool,
    week_start_sunday: bool,
}

fn max_for(metric: usize) -> BoxedStrategy<u64> {
    match metric {
        MSG | IMG | FILES => (0u64..6).boxed(),
        TOK => (0u64..150).boxed(),
        BYTES => (0u64..300).boxed(),
        _ => (0u64..150_000).boxed(),
    }
}

fn limit_spec() -> impl Strategy<Value = (usize, usize, usize, u64)> {
    (0usize..6, 0usize..3, 0usize..WINDOWS.len())
        .prop_flat_map(|(m, s, w)| max_for(m).prop_map(move |max| (m, s, w, max)))
}

fn plan_spec() -> impl Strategy<Value = PlanSpec> {
    (
        prop::collection::vec(limit_spec(), 1..5),
        prop::option::of(1u64..4),
        0usize..ZONES.len(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(mut limits, max_concurrent, zone, persian, sunday)| {
            let mut seen = std::collections::HashSet::new();
            limits.retain(|(m, s, w, _)| seen.insert((*m, *s, *w)));
            PlanSpec {
                limits,
                max_concurrent,
                zone,
                persian,
                week_start_sunday: sunday,
            }
        })
}

impl PlanSpec {
    fn config(&self) -> Value {
        let limits: Vec<Value> = self
            .limits
            .iter()
            .map(|&(m, s, w, max)| {
                let max = if m == COST {
                    json!(max as f64 / 1e6)
                } else {
                    json!(max)
                };
                json!({"metric": METRICS[m], "scope": SCOPES[s], "window": WINDOWS[w], "max": max})
            })
            .collect();
        let mut plan = json!({"id": "p", "tier": 1, "models": ["*"], "limits": limits});
        if let Some(c) = self.max_concurrent {
            plan["max_concurrent"] = json!(c);
        }
        json!({
            "version": 1,
            "timezone": ZONES[self.zone],
            "calendar": if self.persian { "persian" } else { "gregorian" },
            "week_start": if self.week_start_sunday { "sunday" } else { "monday" },
            "models": [
                {"id": "paid/m", "free": false, "input_usd_per_mtok": 1000, "output_usd_per_mtok": 2000},
                {"id": "free/m:free", "free": true},
                {"id": "img/m", "free": false, "image_usd": 0.01}
            ],
            "plans": [plan]
        })
    }
}

#[derive(Debug, Clone)]
enum ActionSpec {
    Message {
        paid: bool,
        input: u64,
        out: u64,
        chat: Option<u8>,
    },
    Title {
        paid: bool,
        input: u64,
        out: u64,
    },
    Image {
        with_model: bool,
        count: u64,
    },
    Upload {
        chat: u8,
        sizes: Vec<u64>,
    },
}

fn action_spec() -> impl Strategy<Value = ActionSpec> {
    prop_oneof![
        4 => (any::<bool>(), 0u64..30, 0u64..30, prop::option::of(0u8..2))
            .prop_map(|(paid, input, out, chat)| ActionSpec::Message { paid, input, out, chat }),
        1 => (any::<bool>(), 0u64..30, 0u64..30)
            .prop_map(|(paid, input, out)| ActionSpec::Title { paid, input, out }),
        2 => (any::<bool>(), 1u64..4).prop_map(|(with_model, count)| ActionSpec::Image { with_model, count }),
        2 => (0u8..2, prop::collection::vec(1u64..100, 1..4))
            .prop_map(|(chat, sizes)| ActionSpec::Upload { chat, sizes }),
    ]
}

#[derive(Debug, Clone, PartialEq)]
struct RealSpec {
    input: u64,
    output: u64,
    cost: Option<u64>,
    images: Option<u64>,
    files: Option<u64>,
}

fn real_spec() -> impl Strategy<Value = RealSpec> {
    (
        0u64..40,
        0u64..40,
        prop::option::of(0u64..100_000),
        prop::option::of(0u64..4),
        prop::option::of(0u64..4),
    )
        .prop_map(|(input, output, cost, images, files)| RealSpec {
            input,
            output,
            cost,
            images,
            files,
        })
}

#[derive(Debug, Clone)]
enum Op {
    Reserve(ActionSpec),
    Commit(usize, RealSpec),
    Release(usize),
    Maintain,
    SwitchSub,
    /// Back to the first subscription: its count continues (SPEC §5).
    SwitchBack,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => action_spec().prop_map(Op::Reserve),
        3 => (any::<usize>(), real_spec()).prop_map(|(i, r)| Op::Commit(i, r)),
        1 => any::<usize>().prop_map(Op::Release),
        1 => Just(Op::Maintain),
        1 => Just(Op::SwitchSub),
        1 => Just(Op::SwitchBack),
    ]
}

/// Seconds to wait before an operation: mostly short, sometimes days, and
/// often just under a rolling window's length (where a bucket is half out).
fn dt() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 0i64..120,
        3 => 0i64..1800,
        2 => 0i64..14_400,
        1 => 0i64..200_000,
        3 => (0usize..3, 0i64..240).prop_map(|(w, k)| ([60, 3600, 10_800][w] - k).max(0)),
    ]
}

/// (wait, operation, a probe action, how long after the snapshot to probe).
type Step = (i64, Op, ActionSpec, i64);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((dt(), op(), action_spec(), dt()), 1..40)
}

fn start() -> impl Strategy<Value = i64> {
    // Around November 2026, so Tehran/Jalali months and New York DST are crossed.
    1_790_000_000i64..1_800_000_000
}

// --------------------------------------------------------------- reference

/// What an action asks for, as the reference sees it (independently of the engine).
#[derive(Debug, Clone)]
struct Ask {
    kind: &'static str,
    /// (id, free)
    model: Option<(&'static str, bool)>,
    chat: Option<String>,
    touched: [bool; 6],
    est: [u64; 6],
    action: Action,
}

fn ask(a: &ActionSpec) -> Ask {
    let chat_name = |c: u8| format!("c{}", c + 1);
    let model_of = |paid: bool| {
        if paid {
            ("paid/m", false)
        } else {
            ("free/m:free", true)
        }
    };
    let mut touched = [false; 6];
    let mut est = [0u64; 6];
    let (kind, model, chat, v) = match a {
        ActionSpec::Message {
            paid,
            input,
            out,
            chat,
        } => {
            let m = model_of(*paid);
            touched[MSG] = true;
            touched[TOK] = true;
            est[MSG] = 1;
            est[TOK] = input + out;
            if *paid {
                touched[COST] = true;
                est[COST] = input * IN_PRICE + out * OUT_PRICE;
            }
            let mut v = json!({"type": "message", "model": m.0, "input_tokens": input, "max_output_tokens": out});
            let chat = chat.map(chat_name);
            if let Some(c) = &chat {
                v["chat_id"] = json!(c);
            }
            ("message", Some(m), chat, v)
        }
        ActionSpec::Title { paid, input, out } => {
            let m = model_of(*paid);
            touched[TOK] = true;
            est[TOK] = input + out;
            if *paid {
                touched[COST] = true;
                est[COST] = input * IN_PRICE + out * OUT_PRICE;
            }
            let v = json!({"type": "title", "model": m.0, "input_tokens": input, "max_output_tokens": out});
            ("title", Some(m), None, v)
        }
        ActionSpec::Image { with_model, count } => {
            touched[IMG] = true;
            est[IMG] = *count;
            let mut v = json!({"type": "image", "count": count});
            let model = if *with_model {
                touched[COST] = true;
                est[COST] = count * IMG_PRICE;
                v["model"] = json!("img/m");
                Some(("img/m", false))
            } else {
                None
            };
            ("image", model, None, v)
        }
        ActionSpec::Upload { chat, sizes } => {
            touched[FILES] = true;
            touched[BYTES] = true;
            est[FILES] = sizes.len() as u64;
            est[BYTES] = sizes.iter().sum();
            let files: Vec<Value> = sizes
                .iter()
                .enumerate()
                .map(|(i, s)| json!({"name": format!("f{i}.txt"), "size": s}))
                .collect();
            let chat = chat_name(*chat);
            let v = json!({"type": "upload", "chat_id": chat, "files": files});
            ("upload", None, Some(chat), v)
        }
    };
    Ask {
        kind,
        model,
        chat,
        touched,
        est,
        action: Action::from_value(&v).expect("generated actions are valid"),
    }
}

/// The real figures a commit records (SPEC: they replace the estimate).
fn real_of(h: &RefHold, r: &RealSpec) -> [u64; 6] {
    let mut real = h.est;
    real[TOK] = r.input + r.output;
    if let Some(i) = r.images {
        real[IMG] = i;
    }
    if let Some(f) = r.files {
        real[FILES] = f;
    }
    real[COST] = r.cost.unwrap_or_else(|| {
        let tokens = match h.model {
            Some(("paid/m", _)) => r.input * IN_PRICE + r.output * OUT_PRICE,
            _ => 0,
        };
        let images = match (h.kind, h.model) {
            ("image", Some(("img/m", _))) => real[IMG] * IMG_PRICE,
            _ => 0,
        };
        tokens + images
    });
    real
}

#[derive(Debug, Clone)]
enum St {
    /// Counts its estimate while `expires > now`.
    Open {
        expires: i64,
    },
    Committed([u64; 6], RealSpec),
    Released,
}

#[derive(Debug, Clone)]
struct RefHold {
    id: String,
    t: i64,
    sub: String,
    chat: Option<String>,
    model: Option<(&'static str, bool)>,
    kind: &'static str,
    touched: [bool; 6],
    est: [u64; 6],
    state: St,
    /// When it was committed or released (unix s).
    closed_at: Option<i64>,
}

impl RefHold {
    fn counted(&self, m: usize, now: i64) -> u64 {
        // A reported cost counts whatever the action (SPEC §8).
        if !self.touched[m] && m != COST {
            return 0;
        }
        match self.state {
            St::Open { expires } if expires > now => self.est[m],
            St::Open { .. } | St::Released => 0,
            St::Committed(r, _) => r[m],
        }
    }
}

fn scope_matches(scope: &Scope, model: Option<(&str, bool)>) -> bool {
    match (scope, model) {
        (Scope::All, _) => true,
        (Scope::Free, Some((_, free))) => free,
        (Scope::Paid, Some((_, free))) => !free,
        _ => false,
    }
}

// --------------------------------------------------------------- the world

struct Sim {
    engine: Engine,
    ledger: Ledger,
    now: i64,
    sub: Subscription,
    subs: u32,
    holds: Vec<RefHold>,
}

impl Sim {
    fn new(plan: &PlanSpec, start: i64) -> Sim {
        let config = Config::from_value(&plan.config()).expect("generated configs are valid");
        Sim {
            engine: Engine::new(config),
            ledger: Ledger::default(),
            now: start,
            sub: Subscription {
                id: "s1".into(),
                plan: "p".into(),
                active: true,
                starts_at: start - 86_400,
                ends_at: None,
            },
            subs: 1,
            holds: Vec::new(),
        }
    }

    fn limits(&self) -> &[Limit] {
        &self.engine.config.plans[0].limits
    }

    fn ms(&self) -> i64 {
        self.now * 1000
    }

    /// The chats a limit is looked at in: every chat for a chat window.
    fn chats(l: &Limit) -> Vec<Option<&'static str>> {
        if l.window == Window::Chat {
            vec![Some("c1"), Some("c2")]
        } else {
            vec![None]
        }
    }

    /// Exact usage of limit `l` at `now`, for `chat`, by summing events.
    fn ref_used(&self, l: &Limit, chat: Option<&str>, now: i64) -> u64 {
        let m = l.metric.idx();
        let cal = &self.engine.config.calendar;
        self.holds
            .iter()
            .filter(|h| scope_matches(&l.scope, h.model))
            .filter(|h| match l.window {
                Window::Rolling(..) => h.t > now - l.window.rolling_secs().unwrap(),
                Window::Day | Window::Week | Window::Month => {
                    let p = match l.window {
                        Window::Day => Period::Day,
                        Window::Week => Period::Week,
                        _ => Period::Month,
                    };
                    let (s, e) = cal.bounds(p, now);
                    s <= h.t && h.t < e
                }
                Window::Subscription => h.sub == self.sub.id,
                Window::Lifetime => true,
                Window::Chat => h.chat.as_deref() == chat && chat.is_some(),
            })
            .map(|h| h.counted(m, now))
            .sum()
    }

    fn engine_used(&self, l: &Limit, chat: Option<&str>, now: i64) -> u64 {
        let mut c = self.ledger.clone();
        self.engine.maintain(&mut c, now * 1000);
        let ctx = WinCtx {
            now,
            cal: &self.engine.config.calendar,
            sub_id: Some(&self.sub.id),
            sub_ends: None,
            chat,
        };
        c.used(l, &l.key(), &ctx)
    }

    /// The limits that apply to `a`, with what it asks of each.
    fn applied<'a>(&'a self, a: &Ask) -> Vec<(&'a Limit, u64)> {
        self.limits()
            .iter()
            .filter(|l| a.touched[l.metric.idx()])
            .filter(|l| scope_matches(&l.scope, a.model))
            .filter(|l| l.window != Window::Chat || a.chat.is_some())
            .map(|l| (l, a.est[l.metric.idx()]))
            .collect()
    }

    fn pick(&self, i: usize) -> Option<usize> {
        if self.holds.is_empty() {
            None
        } else {
            Some(i % self.holds.len())
        }
    }

    /// Applies one operation to the engine and the reference; checks
    /// property 1 on every reserve.
    fn step(&mut self, wait: i64, op: &Op) -> Result<(), TestCaseError> {
        self.now += wait;
        let now = self.now;
        let ms = self.ms();
        match op {
            Op::Reserve(spec) => {
                let a = ask(spec);
                let before: Vec<(Limit, u64, u64)> = self
                    .applied(&a)
                    .into_iter()
                    .map(|(l, req)| (l.clone(), req, self.ref_used(l, a.chat.as_deref(), now)))
                    .collect();
                let d = self
                    .engine
                    .reserve(
                        &mut self.ledger,
                        Some(&self.sub),
                        &a.action,
                        ms,
                        None,
                        &Options::default(),
                    )
                    .expect("no key, no reuse");
                for v in &d.violations {
                    let Some(ls) = &v.limit else { continue };
                    let Ok(w) = Window::parse(&ls.window) else {
                        continue;
                    };
                    if let Some(len) = w.rolling_secs() {
                        if let Some(r) = v.retry_after_s {
                            prop_assert!(
                                r as i64 <= len,
                                "retry_after_s {r} > window {len} ({v:?})"
                            );
                        }
                        if let Some(at) = ls
                            .resets_at
                            .as_deref()
                            .and_then(tollgate::time::parse_rfc3339)
                        {
                            prop_assert!(at <= now + len, "resets_at {at} > now + {len} ({v:?})");
                        }
                    }
                }
                if d.allowed {
                    for (l, req, used) in &before {
                        prop_assert!(
                            used + req <= l.max,
                            "over-admitted on {}: exact usage {used} + request {req} > max {} ({d:?})",
                            l.key(),
                            l.max
                        );
                    }
                    let hold = d.hold.as_ref().expect("an allowed reserve holds");
                    self.holds.push(RefHold {
                        id: hold.id.clone(),
                        t: now,
                        sub: self.sub.id.clone(),
                        chat: a.chat.clone(),
                        model: a.model,
                        kind: a.kind,
                        touched: a.touched,
                        est: a.est,
                        state: St::Open {
                            expires: now + self.engine.config.hold_ttl_s as i64,
                        },
                        closed_at: None,
                    });
                }
            }
            Op::Commit(i, r) => {
                let Some(i) = self.pick(*i) else {
                    return Ok(());
                };
                // Closed holds are remembered for CLOSED_RETENTION_S whatever
                // happened meanwhile: within it every answer is exact.
                let day = tollgate::ledger::CLOSED_RETENTION_S;
                let since = match self.holds[i].state {
                    St::Open { expires } if expires > now => None,
                    St::Open { expires } => Some(now - expires),
                    _ => self.holds[i].closed_at.map(|c| now - c),
                };
                if since.is_some_and(|s| s >= day) {
                    return Ok(());
                }
                let usage = usage_of(r);
                let res = self
                    .engine
                    .commit(&mut self.ledger, &self.holds[i].id, &usage, ms);
                let h = &mut self.holds[i];
                match &h.state {
                    St::Open { .. } => {
                        prop_assert!(res.is_ok(), "commit of an open/expired hold: {res:?}");
                        h.state = St::Committed(real_of(h, r), r.clone());
                        h.closed_at = Some(now);
                    }
                    St::Committed(_, first) => {
                        if first == r {
                            prop_assert!(res.is_ok_and(|c| c.duplicate), "same figures again");
                        } else {
                            prop_assert_eq!(res, Err(HoldError::Committed));
                        }
                    }
                    St::Released => prop_assert_eq!(res, Err(HoldError::Released)),
                }
            }
            Op::Release(i) => {
                let Some(i) = self.pick(*i) else {
                    return Ok(());
                };
                let res = self.engine.release(&mut self.ledger, &self.holds[i].id, ms);
                let h = &mut self.holds[i];
                if let St::Open { expires } = h.state {
                    // An expired hold is forgotten a day after its expiry.
                    if expires <= now && now - expires >= tollgate::ledger::CLOSED_RETENTION_S {
                        prop_assert_eq!(res, Err(HoldError::Unknown));
                    } else {
                        prop_assert!(res.is_ok(), "release of an open/expired hold: {res:?}");
                        h.state = St::Released;
                        h.closed_at = Some(now);
                    }
                }
            }
            Op::Maintain => {
                self.engine.maintain(&mut self.ledger, ms);
            }
            Op::SwitchSub => {
                self.subs += 1;
                self.sub = Subscription {
                    id: format!("s{}", self.subs),
                    starts_at: now,
                    ..self.sub.clone()
                };
            }
            Op::SwitchBack => {
                self.sub = Subscription {
                    id: "s1".into(),
                    ..self.sub.clone()
                };
            }
        }
        Ok(())
    }
}

fn usage_of(r: &RealSpec) -> Usage {
    Usage {
        input_tokens: r.input,
        output_tokens: r.output,
        cost_micros: r.cost,
        images: r.images,
        files: r.files,
        model: None,
    }
}

/// Counters as they count for the current subscription: empty buckets, zero
/// entries and other subscriptions' counts left out.
fn norm(l: &Ledger, sub: &str) -> BTreeMap<String, Counter> {
    l.counters
        .iter()
        .filter_map(|(k, c)| {
            let c = match c {
                Counter::Rolling { g, b, t } => {
                    // Bucket amounts, not their latest event times: a release
                    // takes the amount back but the bucket keeps its time.
                    let b: Vec<_> = b
                        .iter()
                        .filter(|x| x.n > 0)
                        .map(|x| Bucket { t: 0, ..*x })
                        .collect();
                    (!b.is_empty()).then_some(Counter::Rolling { g: *g, b, t: *t })
                }
                Counter::Chats { m } => {
                    let m: tollgate::strmap::StrMap<_> = m
                        .iter()
                        .filter(|(_, c)| c.u > 0)
                        .map(|(k, c)| (k.clone(), ChatUse { u: c.u, t: 0 }))
                        .collect();
                    (!m.is_empty()).then_some(Counter::Chats { m })
                }
                Counter::Subs { m } => {
                    let m: tollgate::strmap::StrMap<_> = m
                        .iter()
                        .filter(|(id, s)| s.u > 0 && *id == sub)
                        .map(|(k, s)| (k.clone(), *s))
                        .collect();
                    (!m.is_empty()).then_some(Counter::Subs { m })
                }
                Counter::Period { u, .. } | Counter::Total { u } => (*u > 0).then(|| c.clone()),
                Counter::Sub { .. } | Counter::Chat { .. } => {
                    panic!("revision 1 shape in a live ledger")
                }
            };
            c.map(|c| (k.clone(), c))
        })
        .collect()
}

fn maintained(sim: &Sim) -> Ledger {
    let mut l = sim.ledger.clone();
    sim.engine.maintain(&mut l, sim.ms());
    l
}

// -------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// 1. Never over-admits (checked inside `Sim::step` on every reserve).
    #[test]
    fn never_over_admits(plan in plan_spec(), t0 in start(), steps in steps()) {
        let mut sim = Sim::new(&plan, t0);
        for (wait, op, _, _) in &steps {
            sim.step(*wait, op)?;
        }
    }

    /// 2. Conservative: engine `used` ≥ exact usage; equal off rolling windows.
    #[test]
    fn used_is_conservative_and_exact_off_rolling(plan in plan_spec(), t0 in start(), steps in steps()) {
        let mut sim = Sim::new(&plan, t0);
        for (n, (wait, op, _, _)) in steps.iter().enumerate() {
            sim.step(*wait, op)?;
            for l in sim.limits() {
                for chat in Sim::chats(l) {
                    let exact = sim.ref_used(l, chat, sim.now);
                    let used = sim.engine_used(l, chat, sim.now);
                    prop_assert!(used >= exact, "step {n} at {}: {} {chat:?}: engine {used} < exact {exact}\nledger {:?}\nreference {:?}",
                        sim.now, l.key(), sim.ledger, sim.holds);
                    if !matches!(l.window, Window::Rolling(..)) {
                        prop_assert_eq!(used, exact, "{} {:?}", l.key(), chat);
                    }
                }
            }
        }
    }

    /// 3. Reserve then release restores the counters (empty buckets aside) and the open holds.
    #[test]
    fn reserve_then_release_restores(plan in plan_spec(), t0 in start(), steps in steps()) {
        let mut sim = Sim::new(&plan, t0);
        for (wait, op, _, _) in &steps {
            if let Op::Reserve(spec) = op {
                sim.now += wait;
                let base = maintained(&sim);
                let mut l = base.clone();
                let a = ask(spec);
                let d = sim.engine.reserve(&mut l, Some(&sim.sub), &a.action, sim.ms(), None, &Options::default()).unwrap();
                if let Some(h) = &d.hold {
                    prop_assert_eq!(sim.engine.release(&mut l, &h.id, sim.ms()), Ok(Released::Now));
                    prop_assert_eq!(norm(&l, &sim.sub.id), norm(&base, &sim.sub.id));
                    prop_assert_eq!(&l.holds, &base.holds);
                }
                sim.step(0, op)?;
            } else {
                sim.step(*wait, op)?;
            }
        }
    }

    /// 4. A second commit counts nothing; a release after a commit changes nothing.
    #[test]
    fn commit_is_idempotent_and_final(plan in plan_spec(), t0 in start(), steps in steps(), again in real_spec()) {
        let mut sim = Sim::new(&plan, t0);
        for (wait, op, _, _) in &steps {
            sim.step(*wait, op)?;
            if let Op::Commit(i, _) = op {
                let Some(i) = sim.pick(*i) else { continue };
                let id = sim.holds[i].id.clone();
                let mut l = sim.ledger.clone();
                let once = sim.engine.commit(&mut l, &id, &usage_of(&again), sim.ms());
                let after_once = l.counters.clone();
                let twice = sim.engine.commit(&mut l, &id, &usage_of(&again), sim.ms());
                prop_assert_eq!(&l.counters, &after_once);
                if let Ok(c) = &once {
                    prop_assert!(twice.as_ref().is_ok_and(|t| t.duplicate && t.usage == c.usage), "{twice:?}");
                    prop_assert_eq!(sim.engine.release(&mut l, &id, sim.ms()), Ok(Released::AfterCommit));
                    prop_assert_eq!(&l.counters, &after_once);
                }
            }
        }
    }

    /// 5. A denied reserve changes nothing (no idempotency key is used).
    #[test]
    fn denied_reserve_changes_nothing(plan in plan_spec(), t0 in start(), steps in steps()) {
        let mut sim = Sim::new(&plan, t0);
        for (wait, op, _, _) in &steps {
            if let Op::Reserve(spec) = op {
                sim.now += wait;
                let base = maintained(&sim);
                let mut l = base.clone();
                let a = ask(spec);
                let d = sim.engine.reserve(&mut l, Some(&sim.sub), &a.action, sim.ms(), None, &Options::default()).unwrap();
                if !d.allowed {
                    prop_assert_eq!(&l, &base);
                }
                sim.step(0, op)?;
            } else {
                sim.step(*wait, op)?;
            }
        }
    }

    /// 6. The browser's check against a snapshot (as JSON, as the browser gets
    /// it) taken at t never allows at t' ≥ t what the edge denies.
    #[test]
    fn browser_never_looser_than_edge(plan in plan_spec(), t0 in start(), steps in steps()) {
        let mut sim = Sim::new(&plan, t0);
        for (wait, op, probe, later) in &steps {
            sim.step(*wait, op)?;
            let snap = sim.engine.snapshot(&sim.ledger, Some(&sim.sub), sim.ms());
            let text = serde_json::to_string(&snap).unwrap();
            // The package reads it with `Snapshot::from_value`; serde's derive
            // (the native path) must read the same snapshot.
            let snap = Snapshot::from_value(&serde_json::from_str(&text).unwrap()).unwrap();
            prop_assert_eq!(&snap, &serde_json::from_str::<Snapshot>(&text).unwrap());
            let at = (sim.now + later) * 1000;
            let a = ask(probe);
            let browser = sim.engine.check_snapshot(&snap, Some(&sim.sub), &a.action, at, &Options::default());
            let edge = sim.engine.check(&sim.ledger, Some(&sim.sub), &a.action, at, &Options::default());
            prop_assert!(
                !browser.allowed || edge.allowed,
                "browser allowed what the edge denies {later}s after the snapshot: {:?}\nsnapshot: {snap:?}",
                edge
            );
        }
    }
}
