//! A full decision on a plan with every seed limit set (SPEC §7), native.
//!
//! - `check_message/tollgate/N`: `Engine::check` of a `message` action after
//!   N recorded events (reserve + commit, spread over the past month, ending a
//!   second before now, each reserve running `maintain`).
//! - `check_message/sqlite_seed/N`: the seed's way for the same limits: one
//!   `SUM` query per limit over a `usage` table with an index on
//!   `(user_id, at)`, in SQLite.
//! - `reserve_commit_message/…/N`: `Engine::reserve` + `Engine::commit` on a
//!   copy of the same ledger (the copy is made outside the timing), with and
//!   without an `Idempotency-Key`.
//! - `maintain/tollgate/N`: the housekeeping every reserve starts with.
//! - `ledger_json/…`: `Ledger::from_json` + `to_json`, what a Durable Object
//!   that stores the ledger as one value does on every request.
//!
//! Building a history is setup and is not measured. `cargo bench -p tollgate
//! --bench decision`; `make bench-core` also prints the summary table.

mod common;

use common::*;
use criterion::{black_box, BatchSize, BenchmarkId, Criterion, SamplingMode};
use rusqlite::{params, Connection};
use std::time::{Duration, Instant};
use tollgate::calendar::Period;
use tollgate::engine::UsageView;
use tollgate::limit::{Limit, Metric, Scope, Window};
use tollgate::window::WinCtx;
use tollgate::{Action, Engine, Ledger, Options, Subscription, Usage};

const USER_ID: i64 = 8731;

/// A ledger after `n` events of the heavy history.
fn build_ledger(engine: &Engine, sub: &Subscription, n: u64) -> Ledger {
    let mut ledger = Ledger::default();
    let mut keys = Rng(0x1de0_0002 ^ n);
    for i in 0..n {
        let ev = heavy_event(engine, i, n);
        apply(engine, &mut ledger, sub, &ev, &uuid(&mut keys));
    }
    engine.maintain(&mut ledger, NOW_MS);
    ledger
}

/// The seed's table with the same `n` events, as the Django app would keep it.
fn build_db(engine: &Engine, n: u64) -> Connection {
    let conn = Connection::open_in_memory().expect("sqlite");
    conn.execute_batch(
        "CREATE TABLE usage (
             id INTEGER PRIMARY KEY,
             user_id INTEGER NOT NULL,
             at INTEGER NOT NULL,
             model_free INTEGER NOT NULL,
             tokens INTEGER NOT NULL,
             messages INTEGER NOT NULL,
             images INTEGER NOT NULL,
             files INTEGER NOT NULL,
             cost_micros INTEGER NOT NULL
         );
         CREATE INDEX usage_user_at ON usage (user_id, at);",
    )
    .expect("schema");
    let tx = conn.unchecked_transaction().expect("tx");
    {
        let mut ins = tx
            .prepare(
                "INSERT INTO usage (user_id, at, model_free, tokens, messages, images, files, cost_micros)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .expect("insert");
        for i in 0..n {
            let r = heavy_event(engine, i, n).row;
            ins.execute(params![
                USER_ID,
                r.at,
                r.model_free,
                r.tokens as i64,
                r.messages as i64,
                r.images as i64,
                r.files as i64,
                r.cost_micros as i64
            ])
            .expect("row");
        }
    }
    tx.commit().expect("commit");
    conn.execute_batch("ANALYZE;").expect("analyze");
    conn
}

/// One of the seed's queries: a limit, its SQL and the start of its window.
struct SeedQuery {
    limit: Limit,
    sql: String,
    since: i64,
    requested: u64,
}

/// The limits `Engine::check` evaluates for `action` (asked of the engine
/// itself, with `explain`), each as the seed's `SUM` query since the start of
/// its window. Calendar bounds are computed here, outside the timing (the
/// seed computed them in Python on every check).
fn seed_queries(engine: &Engine, sub: &Subscription, action: &Action) -> Vec<SeedQuery> {
    let explained = engine.check(
        &Ledger::default(),
        Some(sub),
        action,
        NOW_MS,
        &Options {
            explain: true,
            ..Options::default()
        },
    );
    let m = action.model().and_then(|id| engine.config.model(id));
    let plan = engine.config.plan(&sub.plan).expect("plan");
    let cal = &engine.config.calendar;
    let mut out = Vec::new();
    for s in &explained.limits {
        let l = plan
            .limits
            .iter()
            .find(|l| {
                l.metric.as_str() == s.metric
                    && l.scope.as_str() == s.scope
                    && l.window.to_string() == s.window
            })
            .expect("an explained limit is one of the plan's");
        let (column, requested) = match (l.metric, action) {
            (Metric::Messages, Action::Message { .. }) => ("messages", 1),
            (
                Metric::Tokens,
                Action::Message {
                    input_tokens,
                    max_output_tokens,
                    ..
                },
            ) => ("tokens", input_tokens + max_output_tokens),
            (
                Metric::CostUsd,
                Action::Message {
                    input_tokens,
                    max_output_tokens,
                    ..
                },
            ) => (
                "cost_micros",
                m.map_or(0, |m| m.token_cost(*input_tokens, *max_output_tokens)),
            ),
            other => panic!("not a message limit: {other:?}"),
        };
        let free = match l.scope {
            Scope::All => "",
            Scope::Free => " AND model_free = 1",
            ref other => panic!("no column for scope {other}"),
        };
        let since = match l.window {
            Window::Rolling(..) => NOW_S - l.window.rolling_secs().expect("rolling") + 1,
            Window::Day => cal.bounds(Period::Day, NOW_S).0,
            Window::Week => cal.bounds(Period::Week, NOW_S).0,
            Window::Month => cal.bounds(Period::Month, NOW_S).0,
            Window::Subscription => sub.starts_at,
            Window::Lifetime => i64::MIN,
            Window::Chat => panic!("a message has no chat limit"),
        };
        out.push(SeedQuery {
            limit: l.clone(),
            sql: format!(
                "SELECT COALESCE(SUM({column}), 0) FROM usage WHERE user_id = ?1 AND at >= ?2{free}"
            ),
            since,
            requested,
        });
    }
    out
}

/// The seed's check: one query per limit, then compare. `true`: allowed.
fn seed_check(conn: &Connection, queries: &[SeedQuery]) -> bool {
    let mut allowed = true;
    for q in queries {
        let mut st = conn.prepare_cached(&q.sql).expect("prepare");
        let used: i64 = st
            .query_row(params![USER_ID, q.since], |r| r.get(0))
            .expect("sum");
        if (used as u64).saturating_add(q.requested) > q.limit.max {
            allowed = false;
        }
    }
    allowed
}

/// The two ways must agree: calendar and subscription windows exactly,
/// rolling windows conservatively (the ledger counts whole buckets).
fn cross_check(
    engine: &Engine,
    sub: &Subscription,
    ledger: &Ledger,
    conn: &Connection,
    qs: &[SeedQuery],
) {
    let ctx = WinCtx {
        now: NOW_S,
        cal: &engine.config.calendar,
        sub_id: Some(&sub.id),
        sub_ends: None,
        chat: None,
    };
    for q in qs {
        let mut st = conn.prepare_cached(&q.sql).expect("prepare");
        let sql: i64 = st
            .query_row(params![USER_ID, q.since], |r| r.get(0))
            .expect("sum");
        let ours = ledger.used(&q.limit, &q.limit.key(), &ctx);
        match q.limit.window {
            Window::Rolling(..) => assert!(
                ours >= sql as u64,
                "{}: ledger {ours} < exact {sql}",
                q.limit.key()
            ),
            _ => assert_eq!(ours, sql as u64, "{}", q.limit.key()),
        }
    }
}

/// `check` on ledgers `a` and `b`, interleaved in alternating rounds so that
/// the load of other processes falls on both alike. Returns the median
/// ns/op of each and the median of the per-round ratios `b / a`.
fn paired_check(
    engine: &Engine,
    sub: &Subscription,
    action: &Action,
    a: &Ledger,
    b: &Ledger,
) -> (f64, f64, f64) {
    const ROUNDS: usize = 101;
    const ITERS: u32 = 2_000;
    let opts = Options::default();
    let time = |l: &Ledger| {
        let t = Instant::now();
        for _ in 0..ITERS {
            black_box(engine.check(black_box(l), Some(sub), black_box(action), NOW_MS, &opts));
        }
        t.elapsed().as_secs_f64() * 1e9 / f64::from(ITERS)
    };
    let (mut ta, mut tb, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        let (x, y) = if r % 2 == 0 {
            let x = time(a);
            (x, time(b))
        } else {
            let y = time(b);
            (time(a), y)
        };
        ta.push(x);
        tb.push(y);
        ratio.push(y / x);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (med(&mut ta), med(&mut tb), med(&mut ratio))
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();

    let engine = engine();
    let sub = subscription();
    let action = message_action();
    let opts = Options::default();
    let queries = seed_queries(&engine, &sub, &action);
    eprintln!(
        "decision: plan {PLAN:?} has {} limits; a free-model message is checked against {} of them",
        engine.config.plan(PLAN).map_or(0, |p| p.limits.len()),
        queries.len()
    );

    // Ledgers are small (bounded), so all of them are built first and
    // measured back to back; the SQLite tables come one at a time below.
    let mut ledgers: Vec<(String, Ledger)> = Vec::new();
    for n in [0u64, 1_000, 100_000, 1_000_000] {
        let t = Instant::now();
        let ledger = build_ledger(&engine, &sub, n);
        let built = t.elapsed();
        let b = breakdown(&ledger);
        eprintln!(
            "decision: {n} events: ledger built in {built:.1?} ({:.2} µs/event, reserve + commit); \
             {} B ({} rolling buckets, {} closed holds, {} idempotency entries)",
            built.as_secs_f64() * 1e6 / n.max(1) as f64,
            b.total,
            b.n_buckets,
            b.n_closed,
            b.n_idem
        );
        ledgers.push((n.to_string(), ledger));
    }
    // The ledger of a month of typical use (see benches/ledger_size.rs).
    let mut typical = Ledger::default();
    let mut keys = Rng(0x1de0_0001);
    for ev in typical_month(&engine) {
        apply(&engine, &mut typical, &sub, &ev, &uuid(&mut keys));
    }
    engine.maintain(&mut typical, NOW_MS);
    ledgers.push(("typical_month".into(), typical));
    for (_, l) in &ledgers {
        let d = engine.check(l, Some(&sub), &action, NOW_MS, &opts);
        assert!(d.allowed, "the benchmarked check is an allowed decision");
    }
    let ledger_of = |n: &str| &ledgers.iter().find(|(k, _)| k == n).expect("built").1;

    let (a, b, r) = paired_check(
        &engine,
        &sub,
        &action,
        ledger_of("1000"),
        ledger_of("1000000"),
    );
    eprintln!(
        "decision: paired check (interleaved rounds): 10³ events {a:.0} ns, 10⁶ events {b:.0} ns, ratio 10⁶/10³ {r:.2}"
    );
    let (a, b, r) = paired_check(&engine, &sub, &action, ledger_of("0"), ledger_of("1000000"));
    eprintln!(
        "decision: paired check (interleaved rounds): empty ledger {a:.0} ns, 10⁶ events {b:.0} ns, ratio {r:.2}"
    );

    let mut g = c.benchmark_group("check_message");
    for (n, ledger) in &ledgers {
        g.bench_with_input(BenchmarkId::new("tollgate", n), ledger, |bch, l| {
            bch.iter(|| engine.check(black_box(l), Some(&sub), black_box(&action), NOW_MS, &opts))
        });
    }
    g.finish();

    let usage = Usage {
        input_tokens: 1_100,
        output_tokens: 640,
        cost_micros: None,
        images: None,
        files: None,
        model: None,
    };
    let mut g = c.benchmark_group("reserve_commit_message");
    for (n, ledger) in ledgers.iter().filter(|(n, _)| n != "0") {
        for (name, key) in [
            (
                "tollgate_with_key",
                Some(tollgate::idem::Idem {
                    key: "5b0c1a52-8a8e-4b7e-9a51-3f0f3c1d2e7a",
                    fingerprint: "f",
                }),
            ),
            ("tollgate_no_key", None),
        ] {
            g.bench_with_input(BenchmarkId::new(name, n), ledger, |bch, l| {
                bch.iter_batched_ref(
                    || l.clone(),
                    |l| reserve_commit(&engine, l, &sub, black_box(&action), key, &opts, &usage),
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();

    // What every reserve runs first (expire holds, prune counters, forget old keys).
    let mut g = c.benchmark_group("maintain");
    for (n, ledger) in ledgers.iter().filter(|(n, _)| n != "0") {
        g.bench_with_input(BenchmarkId::new("tollgate", n), ledger, |bch, l| {
            bch.iter_batched_ref(
                || l.clone(),
                |l| engine.maintain(l, black_box(NOW_MS + 2_000)),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("ledger_json");
    for n in ["typical_month", "1000000"] {
        let json = ledger_of(n).to_json();
        g.bench_with_input(BenchmarkId::new("from_json_to_json", n), &json, |bch, s| {
            bch.iter(|| Ledger::from_json(black_box(s)).expect("ledger").to_json())
        });
    }
    g.finish();

    // The seed's way, one table at a time.
    for n in [1_000u64, 100_000, 1_000_000] {
        let t = Instant::now();
        let conn = build_db(&engine, n);
        eprintln!(
            "decision: {n} events: sqlite table built in {:.1?}",
            t.elapsed()
        );
        cross_check(&engine, &sub, ledger_of(&n.to_string()), &conn, &queries);
        assert!(seed_check(&conn, &queries));
        let mut g = c.benchmark_group("check_message");
        if n >= 1_000_000 {
            g.sample_size(10).sampling_mode(SamplingMode::Flat);
        }
        g.bench_with_input(BenchmarkId::new("sqlite_seed", n), &conn, |bch, conn| {
            bch.iter(|| seed_check(black_box(conn), &queries))
        });
        g.finish();
    }

    c.final_summary();
}
