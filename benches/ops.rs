//! Instruction counts, for a machine too noisy to time on: a loop of one
//! operation, run under `valgrind --tool=callgrind` twice with different
//! counts; the difference divided by the difference in counts is the
//! instructions of one operation, the same on every run.
//!
//! ```sh
//! cargo bench -p tollgate --bench ops --no-run           # prints the binary's path
//! BIN=target/release/deps/ops-…                          # that path
//! $BIN dump /tmp/ledgers                                 # the bench ledgers, natively
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null $BIN check /tmp/ledgers/1000000.json 200
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null $BIN check /tmp/ledgers/1000000.json 1200
//! # (Collected₂ − Collected₁) / 1000 = instructions per check
//! ```
//!
//! Operations: `check`, `reserve` (reserve + commit on a copy of the
//! ledger), `maintain` (on a copy), `clone` (the copy alone, to subtract).
//! Under plain `cargo bench` (no operation given) it does nothing.

mod common;

use common::*;
use std::hint::black_box;
use tollgate::{Ledger, Options, Usage};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engine = engine();
    let sub = subscription();
    match args.first().map(String::as_str) {
        Some("dump") => {
            let dir = args.get(1).map_or("/tmp/tollgate-ledgers", String::as_str);
            std::fs::create_dir_all(dir).expect("mkdir");
            for n in [0u64, 1_000, 100_000, 1_000_000] {
                let mut ledger = Ledger::default();
                let mut keys = Rng(0x1de0_0002 ^ n);
                for i in 0..n {
                    apply(
                        &engine,
                        &mut ledger,
                        &sub,
                        &heavy_event(&engine, i, n),
                        &uuid(&mut keys),
                    );
                }
                engine.maintain(&mut ledger, NOW_MS);
                std::fs::write(format!("{dir}/{n}.json"), ledger.to_json()).expect("write");
            }
            let mut t = Ledger::default();
            let mut keys = Rng(0x1de0_0001);
            for ev in typical_month(&engine) {
                apply(&engine, &mut t, &sub, &ev, &uuid(&mut keys));
            }
            engine.maintain(&mut t, NOW_MS);
            std::fs::write(format!("{dir}/typical_month.json"), t.to_json()).expect("write");
            println!("ops: ledgers written to {dir}");
        }
        Some(op @ ("check" | "reserve" | "maintain" | "clone")) => {
            let path = args.get(1).expect("a ledger file");
            let count: u32 = args.get(2).and_then(|s| s.parse().ok()).expect("a count");
            let text = std::fs::read_to_string(path).expect("read");
            let ledger = Ledger::from_json(&text).expect("a ledger");
            let action = message_action();
            let opts = Options::default();
            let usage = Usage {
                input_tokens: 1_100,
                output_tokens: 640,
                ..Usage::default()
            };
            for _ in 0..count {
                match op {
                    "check" => {
                        black_box(engine.check(
                            black_box(&ledger),
                            Some(&sub),
                            &action,
                            NOW_MS,
                            &opts,
                        ));
                    }
                    "clone" => {
                        black_box(black_box(&ledger).clone());
                    }
                    "maintain" => {
                        let mut l = black_box(&ledger).clone();
                        engine.maintain(&mut l, NOW_MS + 2_000);
                        black_box(l);
                    }
                    _ => {
                        let mut l = black_box(&ledger).clone();
                        let d = engine
                            .reserve(
                                &mut l,
                                Some(&sub),
                                &action,
                                NOW_MS,
                                Some(tollgate::idem::Idem {
                                    key: "5b0c1a52-8a8e-4b7e-9a51-3f0f3c1d2e7a",
                                    fingerprint: "f",
                                }),
                                &opts,
                            )
                            .expect("a fresh key");
                        let hold = d.hold.expect("allowed");
                        engine
                            .commit(&mut l, &hold.id, &usage, NOW_MS + 2_000)
                            .expect("commit");
                        black_box(l);
                    }
                }
            }
        }
        _ => {} // `cargo bench` passes `--bench`: nothing to do.
    }
}
