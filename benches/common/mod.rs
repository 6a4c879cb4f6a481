//! What the benchmarks share: a plan with every seed limit set, a
//! subscription, a deterministic history of usage, and the same history as
//! rows of the seed's `usage` table.
//!
//! Everything is deterministic (a fixed xorshift seed, fixed instants), so two
//! runs measure the same work.

#![allow(dead_code)] // each bench target uses a different part of this module

use serde_json::{json, Value};
use tollgate::action::{FileInfo, MessageKind};
use tollgate::{Action, Config, Engine, Ledger, Options, Subscription, Usage};

/// "Now" of every benchmark: 2026-11-23T19:21:00Z, 22:51 in Tehran (a Monday).
pub const NOW_S: i64 = 1_795_461_660;
pub const NOW_MS: i64 = NOW_S * 1000;
pub const DAY_S: i64 = 86_400;
/// The span a history is spread over: the past month.
pub const MONTH_S: i64 = 30 * DAY_S;

pub const PLAN: &str = "enterprise";
pub const PAID: &str = "openai/gpt-4o-mini";
pub const PAID_BIG: &str = "anthropic/claude-3.5-sonnet";
pub const FREE: &str = "meta-llama/llama-3.3-8b-instruct:free";
pub const FREE_2: &str = "google/gemini-2.0-flash-exp:free";
pub const IMAGE: &str = "openai/dall-e-3";
pub const CHATS: usize = 30;

/// The plan, written with the seed's flat field names, every limit set (none
/// is 0, so none is dropped). The figures are large enough that a history of
/// 10⁶ events a month is admitted in full: every counter fills up (all 61
/// buckets of each rolling window), which is the worst case for a check. The
/// ledger's size does not depend on these figures (maxima live in the
/// config, not in the ledger).
pub fn seed_plan() -> Value {
    json!({
        "name": PLAN,
        "is_active": true,
        "duration_days": 30,
        "price": 990_000,
        "models": [PAID, "openai/gpt-4o", PAID_BIG, "deepseek/deepseek-chat", FREE, FREE_2, IMAGE],
        "max_tokens": 10_000_000_000u64,
        "max_tokens_free": 10_000_000_000u64,
        "hourly_max_tokens": 10_000_000,
        "three_hours_max_tokens": 30_000_000,
        "twelve_hours_max_tokens": 100_000_000,
        "daily_max_tokens": 200_000_000,
        "weekly_max_tokens": 1_000_000_000,
        "monthly_max_tokens": 5_000_000_000u64,
        "hourly_max_messages": 5_000,
        "three_hours_max_messages": 15_000,
        "twelve_hours_max_messages": 50_000,
        "daily_max_messages": 100_000,
        "weekly_max_messages": 500_000,
        "monthly_max_messages": 2_000_000,
        "monthly_free_model_messages": 2_000_000,
        "monthly_free_model_tokens": 5_000_000_000u64,
        "daily_image_generation_limit": 5_000,
        "weekly_image_generation_limit": 20_000,
        "monthly_image_generation_limit": 100_000,
        "max_openrouter_cost_usd": 1_000_000,
        "daily_file_limit": 2_000,
        "weekly_file_limit": 10_000,
        "monthly_file_limit": 50_000,
        "max_files_per_chat": 5_000,
        "max_file_size": 10_485_760,
        "allowed_extensions": "pdf, txt, png, jpg, jpeg, docx, xlsx, csv, md",
        "max_concurrent": 4
    })
}

pub fn config_value() -> Value {
    json!({
        "version": 1,
        "timezone": "Asia/Tehran",
        "locale": "fa",
        "models": [
            {"id": PAID, "free": false, "input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.6},
            {"id": "openai/gpt-4o", "free": false, "input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10},
            {"id": PAID_BIG, "free": false, "input_usd_per_mtok": 3, "output_usd_per_mtok": 15},
            {"id": "deepseek/deepseek-chat", "free": false, "input_usd_per_mtok": 0.27, "output_usd_per_mtok": 1.1},
            {"id": FREE, "free": true},
            {"id": FREE_2, "free": true},
            {"id": IMAGE, "free": false, "image_usd": 0.04}
        ],
        "plans": [seed_plan()],
        "messages": {"fa": {}, "en": {}}
    })
}

pub fn engine() -> Engine {
    let config = Config::from_value(&config_value()).expect("the bench config is valid");
    let plan = config.plan(PLAN).expect("plan");
    // 23 count fields + the cost field: every seed limit is there.
    assert_eq!(plan.limits.len(), 24, "every seed limit must be set");
    Engine::new(config)
}

pub fn subscription() -> Subscription {
    Subscription {
        id: "sub-8731".into(),
        plan: PLAN.into(),
        active: true,
        starts_at: NOW_S - 35 * DAY_S,
        ends_at: Some(NOW_S + 25 * DAY_S),
    }
}

/// The action every decision benchmark decides: a message to a free model
/// (so the `free` limits apply too: 16 of the plan's 24 limits; the cost
/// limit concerns priced models only).
pub fn message_action() -> Action {
    Action::Message {
        model: FREE.into(),
        input_tokens: 1_200,
        max_output_tokens: 1_000,
        chat_id: Some(chat_id(7)),
        kind: MessageKind::Send,
    }
}

/// A chat id as the platform makes them (UUID-like, 36 characters).
pub fn chat_id(i: usize) -> String {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
    uuid(&mut r)
}

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// A UUID-shaped string (what clients send as `Idempotency-Key`).
pub fn uuid(r: &mut Rng) -> String {
    let a = r.next();
    let b = r.next();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// One thing the user did, with what it really used.
#[derive(Debug, Clone)]
pub struct Event {
    /// Unix seconds.
    pub at: i64,
    pub action: Action,
    pub usage: Usage,
    /// For the seed's table.
    pub row: Row,
}

/// A row of the seed's `usage` table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Row {
    pub at: i64,
    pub model_free: bool,
    pub tokens: u64,
    pub messages: u64,
    pub images: u64,
    pub files: u64,
    pub cost_micros: u64,
}

/// A message to `model`; the real usage is below the estimate.
fn message(engine: &Engine, at: i64, r: &mut Rng, model: &str, chat: usize) -> Event {
    let input = r.range(300, 2_500);
    let max_out = 1_000;
    let output = r.range(100, max_out);
    let m = engine.config.model(model).expect("model in config");
    let cost = m.token_cost(input, output);
    Event {
        at,
        action: Action::Message {
            model: model.into(),
            input_tokens: input,
            max_output_tokens: max_out,
            chat_id: Some(chat_id(chat)),
            kind: MessageKind::Send,
        },
        usage: Usage {
            input_tokens: input,
            output_tokens: output,
            cost_micros: Some(cost),
            images: None,
            files: None,
            model: None,
        },
        row: Row {
            at,
            model_free: m.free,
            tokens: input + output,
            messages: 1,
            cost_micros: cost,
            ..Row::default()
        },
    }
}

fn image(at: i64) -> Event {
    Event {
        at,
        action: Action::Image {
            model: Some(IMAGE.into()),
            count: 1,
        },
        usage: Usage {
            images: Some(1),
            cost_micros: Some(40_000),
            ..Usage::default()
        },
        row: Row {
            at,
            images: 1,
            cost_micros: 40_000,
            ..Row::default()
        },
    }
}

fn upload(at: i64, r: &mut Rng, chat: usize) -> Event {
    let n = r.range(1, 3);
    let files = (0..n)
        .map(|k| FileInfo {
            name: format!("document-{k}.pdf"),
            size: r.range(20_000, 2_000_000),
            mime: Some("application/pdf".into()),
            head: None,
        })
        .collect();
    Event {
        at,
        action: Action::Upload {
            chat_id: chat_id(chat),
            files,
        },
        usage: Usage {
            files: Some(n),
            ..Usage::default()
        },
        row: Row {
            at,
            files: n,
            ..Row::default()
        },
    }
}

/// Event `i` of a history of `n` events spread evenly over the month before
/// `NOW_S`, the last one a second before it. About 1 in 20 is an image, 1 in
/// 50 an upload to one of 30 chats, the rest messages (40 % on free models).
pub fn heavy_event(engine: &Engine, i: u64, n: u64) -> Event {
    let start = NOW_S - MONTH_S;
    let span = MONTH_S - 1;
    let at = start + ((i as i128 * span as i128) / n.max(1) as i128) as i64;
    let mut r = Rng(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef);
    r.next();
    let chat = (r.next() % CHATS as u64) as usize;
    if i % 50 == 13 {
        upload(at, &mut r, chat)
    } else if i % 20 == 7 {
        image(at)
    } else {
        let model = match r.next() % 10 {
            0..=2 => FREE,
            3 => FREE_2,
            4..=7 => PAID,
            _ => PAID_BIG,
        };
        message(engine, at, &mut r, model, chat)
    }
}

/// A month of typical use, in order: each day ~60 messages between 08:00 and
/// midnight Tehran time (40 % on free models), 3 images, 2 uploads of 1–2
/// files to one of 30 chats.
pub fn typical_month(engine: &Engine) -> Vec<Event> {
    let mut r = Rng(0x5eed_1234_abcd_ef01);
    let mut out = Vec::new();
    // 00:00 Tehran (UTC+3:30) of the day 30 days before NOW's day.
    let today_local_midnight = NOW_S - ((NOW_S + 12_600).rem_euclid(DAY_S));
    let first = today_local_midnight - 30 * DAY_S;
    for d in 0..=30 {
        let day = first + d * DAY_S;
        let mut times: Vec<(i64, u8)> = Vec::new();
        let n_msgs = r.range(45, 76);
        for _ in 0..n_msgs {
            times.push((day + r.range(8 * 3600, 24 * 3600) as i64, 0));
        }
        for _ in 0..3 {
            times.push((day + r.range(9 * 3600, 23 * 3600) as i64, 1));
        }
        for _ in 0..2 {
            times.push((day + r.range(9 * 3600, 23 * 3600) as i64, 2));
        }
        times.sort();
        for (at, k) in times {
            if at >= NOW_S {
                continue;
            }
            let chat = (r.next() % CHATS as u64) as usize;
            out.push(match k {
                1 => image(at),
                2 => upload(at, &mut r, chat),
                _ => {
                    let model = match r.next() % 10 {
                        0..=2 => FREE,
                        3 => FREE_2,
                        4..=7 => PAID,
                        _ => PAID_BIG,
                    };
                    message(engine, at, &mut r, model, chat)
                }
            });
        }
    }
    out
}

/// Applies one event the way the Worker does: `reserve` with an
/// `Idempotency-Key` (which runs `maintain` first), then `commit` with the real usage.
pub fn apply(engine: &Engine, ledger: &mut Ledger, sub: &Subscription, ev: &Event, key: &str) {
    let fp = tollgate::idem::fingerprint("reserve", &serde_json::Value::String(key.into()));
    let idem = tollgate::idem::Idem {
        key,
        fingerprint: &fp,
    };
    let d = engine
        .reserve(
            ledger,
            Some(sub),
            &ev.action,
            ev.at * 1000,
            Some(idem),
            &Options::default(),
        )
        .expect("a fresh key");
    assert!(
        d.allowed,
        "the bench plan must admit its history: {}",
        serde_json::to_string(&d).unwrap_or_default()
    );
    let hold = d.hold.expect("an allowed reserve holds");
    engine
        .commit(ledger, &hold.id, &ev.usage, ev.at * 1000)
        .expect("commit");
}

/// Where a serialised ledger's bytes go.
#[derive(Debug, Clone, Default)]
pub struct Breakdown {
    pub total: usize,
    pub counters: usize,
    pub n_counters: usize,
    pub rolling: usize,
    pub n_buckets: usize,
    pub period: usize,
    pub sub_total: usize,
    pub chat: usize,
    pub n_chats: usize,
    pub holds: usize,
    pub n_holds: usize,
    pub closed: usize,
    pub n_closed: usize,
    pub idem: usize,
    pub n_idem: usize,
    pub idem_answers: usize,
}

/// Measures each part of the books by serialising it alone: `total` is the
/// main document written on every request (`main_json`); closed holds and
/// idempotency entries are rows of their own, written when they change.
pub fn breakdown(ledger: &Ledger) -> Breakdown {
    use tollgate::window::Counter;
    let mut b = Breakdown {
        total: ledger.main_json().len(),
        counters: json_len(&ledger.counters),
        n_counters: ledger.counters.len(),
        holds: json_len(&ledger.holds),
        n_holds: ledger.holds.len(),
        closed: json_len(&ledger.closed),
        n_closed: ledger.closed.len(),
        idem: json_len(&ledger.idem),
        n_idem: ledger.idem.len(),
        idem_answers: ledger.idem.values().map(|e| e.answer.len()).sum(),
        ..Breakdown::default()
    };
    for (k, c) in &ledger.counters {
        // `"key":{…},`
        let n = k.len() + 4 + json_len(c);
        match c {
            Counter::Rolling { b: buckets, .. } => {
                b.rolling += n;
                b.n_buckets += buckets.len();
            }
            Counter::Period { .. } => b.period += n,
            Counter::Sub { .. } | Counter::Subs { .. } | Counter::Total { .. } => b.sub_total += n,
            Counter::Chat { m } => {
                b.chat += n;
                b.n_chats += m.len();
            }
            Counter::Chats { m } => {
                b.chat += n;
                b.n_chats += m.len();
            }
        }
    }
    b
}

impl std::fmt::Display for Breakdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let avg = |a: usize, n: usize| a.checked_div(n).unwrap_or(0);
        writeln!(f, "  total                 {:>6} B", self.total)?;
        writeln!(
            f,
            "  counters              {:>6} B  ({} counters)",
            self.counters, self.n_counters
        )?;
        writeln!(
            f,
            "    rolling             {:>6} B  ({} buckets in all)",
            self.rolling, self.n_buckets
        )?;
        writeln!(f, "    calendar periods    {:>6} B", self.period)?;
        writeln!(f, "    subscription/total  {:>6} B", self.sub_total)?;
        writeln!(
            f,
            "    chat map            {:>6} B  ({} chat entries)",
            self.chat, self.n_chats
        )?;
        writeln!(
            f,
            "  open holds            {:>6} B  ({} holds)",
            self.holds, self.n_holds
        )?;
        writeln!(
            f,
            "  closed holds          {:>6} B  ({} entries, {} B each on average)",
            self.closed,
            self.n_closed,
            avg(self.closed, self.n_closed)
        )?;
        write!(
            f,
            "  idempotency entries   {:>6} B  ({} entries; stored answers {} B, {} B each on average)",
            self.idem,
            self.n_idem,
            self.idem_answers,
            avg(self.idem_answers, self.n_idem)
        )
    }
}

/// Serialised length of anything serde can write.
fn json_len<T: serde::Serialize>(v: &T) -> usize {
    serde_json::to_string(v).map_or(0, |s| s.len())
}

/// What the reserve + commit benchmarks time: an allowed reserve of
/// `action` at `NOW_MS`, then its commit with `usage` two seconds later.
pub fn reserve_commit(
    engine: &Engine,
    ledger: &mut Ledger,
    sub: &Subscription,
    action: &Action,
    key: Option<tollgate::idem::Idem>,
    opts: &Options,
    usage: &Usage,
) {
    let d = engine
        .reserve(ledger, Some(sub), action, NOW_MS, key, opts)
        .expect("a fresh key");
    let h = d.hold.expect("allowed");
    engine
        .commit(ledger, &h.id, usage, NOW_MS + 2_000)
        .expect("commit");
}
