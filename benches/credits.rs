//! What credits and warnings (SPEC §9–10) cost a full decision, native.
//!
//! Both sides decide the same `message` on the seed plan with every limit
//! set (benches/common), after a month of typical use:
//!
//! - `credits_warnings/baseline`: the decision as it was before credits and
//!   warnings: no limit opts into credits, `warn_at: []`, no grants.
//! - `credits_warnings/5_grants_warnings`: every limit opts into credits,
//!   `warn_at` has four thresholds, the user has 5 grants (tokens, tokens on
//!   free models, messages, cost, one expired): the everyday decision of a
//!   user with credits and warnings on (issue 10's figure: within 1.2×).
//! - `credits_warnings/draws_and_warns`: the same, but the daily token limit
//!   is set just above what the day used and the 1 h and 3 h message limits
//!   so the message fills them: the message draws on the grants, raises
//!   warnings and reaches two limits (the bench asserts it). This happens
//!   once per limit and period, not on every decision; it is measured to
//!   show what that work costs.
//!
//! Each side is measured for `check` and for `reserve` + `commit` (the
//! ledger copied outside the timing), in the same run, so the ratio is the
//! figure (issue 10: within 1.2×). `cargo bench -p tollgate --bench credits`.

mod common;

use common::*;
use criterion::{black_box, BatchSize, BenchmarkId, Criterion};
use serde_json::json;
use std::time::Duration;
use tollgate::config::Config;
use tollgate::limit::{Metric, Scope, Unit, Window};
use tollgate::{Engine, Ledger, Options, Usage};

/// The month of typical use, under `engine`.
fn month(engine: &Engine) -> Ledger {
    let sub = subscription();
    let mut ledger = Ledger::default();
    let mut keys = Rng(0x1de0_0001);
    for ev in typical_month(engine) {
        apply(engine, &mut ledger, &sub, &ev, &uuid(&mut keys));
    }
    engine.maintain(&mut ledger, NOW_MS);
    ledger
}

/// The seed plan's config with warnings off (the baseline).
fn baseline_config() -> Config {
    let mut c = Config::from_value(&config_value()).expect("bench config");
    c.warn_at = Vec::new();
    c
}

/// What the month used on the limits the rich side tightens.
struct Used {
    tokens_day: u64,
    messages_1h: u64,
    messages_3h: u64,
}

/// Every limit opts into credits and has four thresholds. With `tight`: the
/// daily token limit is set just above what the day used, so the
/// benchmarked message draws credits, and the 1 h and 3 h message limits so
/// that the message fills them (crossing thresholds: warnings).
fn credits_config(tight: Option<Used>) -> Config {
    let mut c = Config::from_value(&config_value()).expect("bench config");
    c.warn_at = vec![500, 800, 900, 950];
    for p in &mut c.plans {
        for l in &mut p.limits {
            l.overflow_credits = true;
            let Some(used) = &tight else { continue };
            if l.scope != Scope::All {
                continue;
            }
            match (l.metric, l.window) {
                (Metric::Tokens, Window::Day) => l.max = used.tokens_day + 1_000,
                (Metric::Messages, Window::Rolling(1, Unit::Hours)) => l.max = used.messages_1h + 1,
                (Metric::Messages, Window::Rolling(3, Unit::Hours)) => l.max = used.messages_3h + 1,
                _ => {}
            }
        }
    }
    c
}

fn grants(ledger: &mut Ledger) {
    let at = NOW_S - 10 * DAY_S;
    for (id, g) in [
        (
            "g1",
            json!({"metric": "tokens", "amount": 50_000, "source": "promo", "expires_at": NOW_S + DAY_S}),
        ),
        (
            "g2",
            json!({"metric": "tokens", "amount": 200_000, "source": "purchase"}),
        ),
        (
            "g3",
            json!({"metric": "tokens", "scope": "free", "amount": 20_000, "source": "admin"}),
        ),
        (
            "g4",
            json!({"metric": "messages", "amount": 100, "source": "discount"}),
        ),
        (
            "g5",
            json!({"metric": "cost_usd", "amount": 5, "source": "purchase", "expires_at": NOW_S - DAY_S}),
        ),
    ] {
        let g = tollgate::credits::read_grant(&g, at, id).expect("a valid grant");
        assert!(ledger.add_grant(g));
    }
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let sub = subscription();
    let action = message_action();
    let opts = Options::default();

    let base = Engine::new(baseline_config());
    let base_ledger = month(&base);
    let explain = Options {
        explain: true,
        ..Options::default()
    };
    let d = base.check(&base_ledger, Some(&sub), &action, NOW_MS, &explain);
    assert!(d.allowed && d.warnings.is_empty() && d.from_credits.is_empty());
    let used = |metric: &str, window: &str| {
        d.limits
            .iter()
            .find(|l| l.metric == metric && l.window == window && l.scope == "all")
            .map(|l| l.used.raw())
            .expect("the limit applies")
    };
    let tight = Engine::new(credits_config(Some(Used {
        tokens_day: used("tokens", "day"),
        messages_1h: used("messages", "1h"),
        messages_3h: used("messages", "3h"),
    })));
    let rich = Engine::new(credits_config(None));
    // The same month (the books hold counts, not maxima), plus the grants.
    let mut rich_ledger = base_ledger.clone();
    grants(&mut rich_ledger);
    let d = rich.check(&rich_ledger, Some(&sub), &action, NOW_MS, &explain);
    assert!(d.allowed && d.warnings.is_empty() && d.from_credits.is_empty());
    assert!(
        d.limits.iter().all(|l| l.credits.is_some()),
        "every limit shows its credits"
    );
    let d = tight.check(&rich_ledger, Some(&sub), &action, NOW_MS, &opts);
    assert!(d.allowed, "{d:?}");
    assert!(
        d.from_credits.contains_key("tokens"),
        "the message draws on the grants: {:?}",
        d.from_credits
    );
    assert!(
        !d.warnings.is_empty(),
        "the message raises warnings: {:?}",
        d.warnings
    );
    eprintln!(
        "credits: {} B ledger; the message draws {:?} and raises {} warnings",
        rich_ledger.to_json().len(),
        d.from_credits,
        d.warnings.len()
    );

    let usage = Usage {
        input_tokens: 1_100,
        output_tokens: 640,
        ..Usage::default()
    };
    let sides = [
        ("baseline", &base, &base_ledger),
        ("5_grants_warnings", &rich, &rich_ledger),
        ("draws_and_warns", &tight, &rich_ledger),
    ];
    let mut g = c.benchmark_group("credits_warnings");
    for (name, engine, ledger) in sides {
        g.bench_with_input(BenchmarkId::new("check", name), ledger, |b, l| {
            b.iter(|| engine.check(black_box(l), Some(&sub), black_box(&action), NOW_MS, &opts))
        });
        g.bench_with_input(BenchmarkId::new("reserve_commit", name), ledger, |b, l| {
            b.iter_batched_ref(
                || l.clone(),
                |l| reserve_commit(engine, l, &sub, black_box(&action), None, &opts, &usage),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
    c.final_summary();
}
