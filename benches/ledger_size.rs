//! The serialised ledger's size after a month of typical use (goal: ≤ 8 KB),
//! and where its bytes go. Not timed: `cargo bench` just prints the figures.
//!
//! A month of typical use: each day ~60 messages between 08:00 and midnight
//! Tehran time (40 % on free models), 3 images and 2 uploads of 1–2 files to
//! one of 30 chats, every request reserved with an `Idempotency-Key` and
//! committed, as the Worker does it.

mod common;

use common::*;
use tollgate::{Action, Ledger};

/// The goal: what a Durable Object reads and writes on every request.
const GOAL_BYTES: usize = 8 * 1024;

fn main() {
    let engine = engine();
    let sub = subscription();
    let events = typical_month(&engine);
    let (mut msgs, mut imgs, mut ups) = (0, 0, 0);
    for e in &events {
        match e.action {
            Action::Message { .. } => msgs += 1,
            Action::Image { .. } => imgs += 1,
            _ => ups += 1,
        }
    }
    let mut ledger = Ledger::default();
    let mut keys = Rng(0x1de0_0001);
    let mut max = (0usize, 0i64, Ledger::default());
    for ev in &events {
        apply(&engine, &mut ledger, &sub, ev, &uuid(&mut keys));
        let n = ledger.to_json().len();
        if n > max.0 {
            max = (n, ev.at, ledger.clone());
        }
    }
    engine.maintain(&mut ledger, NOW_MS);
    let b = breakdown(&ledger);
    println!(
        "ledger_size: a month of typical use: {} events ({msgs} messages, {imgs} images, {ups} uploads), all committed",
        events.len()
    );
    println!(
        "ledger_size: ledger.to_json().len() at the end = {} B (goal ≤ {GOAL_BYTES} B: {}); largest during the month = {} B (at {})",
        b.total,
        if b.total <= GOAL_BYTES { "met" } else { "NOT met" },
        max.0,
        tollgate::time::rfc3339(max.1),
    );
    println!("{b}");
    println!(
        "ledger_size: the largest, at {}:",
        tollgate::time::rfc3339(max.1)
    );
    println!("{}", breakdown(&max.2));
    if let Some(c) = ledger.closed.values().last() {
        println!(
            "  a closed hold:  {}",
            serde_json::to_string(c).unwrap_or_default()
        );
    }
    if let Some(e) = ledger.idem.values().last() {
        println!(
            "  an idempotency entry:  {}",
            serde_json::to_string(e).unwrap_or_default()
        );
    }
    println!(
        "ledger_size: closed holds {} B and idempotency entries {} B are rows of their own",
        b.closed, b.idem
    );
}
