//! The hand-written readers of the books ([`Ledger::from_json`],
//! [`Ledger::from_parts`], `from_stored` of every stored type) against
//! serde's derived `Deserialize` (kept for these tests only): every ledger
//! the writer writes reads back the same through both and equal to what was
//! written, and every document one change away from a stored one is
//! accepted or refused alike.

use super::*;
use crate::credits::Source;
use crate::edits::{changed, mutations};
use crate::strmap::StrMap;
use crate::window::{Bucket, ChatUse, SubUse};
use proptest::collection::vec;
use std::collections::BTreeSet;

/// proptest's `btree_map`, as the books' map type.
fn btree_map<V: std::fmt::Debug>(
    k: impl Strategy<Value = String>,
    v: impl Strategy<Value = V>,
    size: std::ops::Range<usize>,
) -> impl Strategy<Value = StrMap<V>> {
    proptest::collection::btree_map(k, v, size).prop_map(|m| m.into_iter().collect())
}
use proptest::option::of;
use proptest::prelude::*;
use serde_json::{json, Value};

// ------------------------------------------------------------- generators

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z0-9|:]{0,6}",
        1 => any::<String>(),
        1 => Just("\"\\/\u{0}\u{1f}é𝄞".to_string()),
    ]
    .boxed()
}

fn int() -> BoxedStrategy<i64> {
    prop_oneof![
        -3i64..3,
        1_700_000_000i64..1_900_000_000,
        Just(i64::MIN),
        Just(i64::MAX),
        any::<i64>(),
    ]
    .boxed()
}

/// A time or size the engine does arithmetic with (a day added, a bucket
/// index multiplied): wide, but not at the edges of `i64`.
fn time() -> BoxedStrategy<i64> {
    prop_oneof![
        -3i64..3,
        1_700_000_000i64..1_900_000_000,
        -(1i64 << 40)..(1i64 << 40)
    ]
    .boxed()
}

fn count() -> BoxedStrategy<u64> {
    prop_oneof![0u64..3, Just(u64::MAX), Just(1 << 53), any::<u64>()].boxed()
}

fn amounts() -> BoxedStrategy<Amounts> {
    [count(), count(), count(), count(), count(), count()].boxed()
}

fn slot() -> BoxedStrategy<Slot> {
    prop_oneof![
        int().prop_map(Slot::Bucket),
        int().prop_map(Slot::Period),
        text().prop_map(Slot::Sub),
        Just(Slot::Total),
        text().prop_map(Slot::Chat),
    ]
    .boxed()
}

fn charge() -> BoxedStrategy<Charge> {
    (text(), any::<u8>(), slot(), count(), any::<bool>())
        .prop_map(|(key, metric, slot, amount, overflow)| Charge {
            key,
            metric,
            slot,
            amount,
            overflow,
        })
        .boxed()
}

fn draw() -> BoxedStrategy<Draw> {
    (text(), any::<u8>(), count())
        .prop_map(|(grant, metric, amount)| Draw {
            grant,
            metric,
            amount,
        })
        .boxed()
}

fn origin() -> BoxedStrategy<Origin> {
    prop_oneof![Just(Origin::Api), Just(Origin::Gateway)].boxed()
}

fn hold() -> BoxedStrategy<Hold> {
    (
        (text(), int(), int(), text(), of(text()), amounts()),
        (vec(charge(), 0..3), origin(), of(int()), any::<bool>()),
        (
            of(text()),
            of(text()),
            of(int()),
            of(text()),
            of(any::<u8>()),
        ),
        vec(draw(), 0..3),
    )
        .prop_map(
            |(
                (id, created, expires, kind, model, est),
                (charges, origin, max_expires, charge_on_expiry),
                (plan, sub, sub_ends, chat, touched),
                draws,
            )| Hold {
                id,
                created,
                expires,
                kind,
                model,
                est,
                charges,
                origin,
                max_expires,
                on_expiry: if charge_on_expiry {
                    OnExpiry::Charge
                } else {
                    OnExpiry::Release
                },
                plan,
                sub,
                sub_ends,
                chat,
                touched,
                draws,
            },
        )
        .boxed()
}

fn end() -> BoxedStrategy<HoldEnd> {
    prop_oneof![
        Just(HoldEnd::Committed),
        Just(HoldEnd::Released),
        Just(HoldEnd::Expired)
    ]
    .boxed()
}

fn request() -> BoxedStrategy<CommitRequest> {
    (
        count(),
        count(),
        of(count()),
        of(count()),
        of(count()),
        of(text()),
    )
        .prop_map(
            |(input_tokens, output_tokens, cost_micros, images, files, model)| CommitRequest {
                input_tokens,
                output_tokens,
                cost_micros,
                images,
                files,
                model,
            },
        )
        .boxed()
}

fn closed() -> BoxedStrategy<ClosedHold> {
    (
        (text(), time(), end(), any::<bool>(), of(request())),
        (of(amounts()), of(hold()), any::<bool>(), text(), of(text())),
        origin(),
    )
        .prop_map(
            |((id, closed_at, end, late, request), (usage, hold, charged, kind, model), origin)| {
                ClosedHold {
                    id,
                    closed_at,
                    end,
                    late,
                    request,
                    usage,
                    hold,
                    charged,
                    kind,
                    model,
                    origin,
                }
            },
        )
        .boxed()
}

fn idem() -> BoxedStrategy<IdemEntry> {
    (time(), text(), text())
        .prop_map(|(at, fp, answer)| IdemEntry { at, fp, answer })
        .boxed()
}

fn grant() -> BoxedStrategy<Grant> {
    (
        (text(), text(), text(), count(), count()),
        (0..Source::ALL.len(), int(), of(int()), of(int()), of(int())),
    )
        .prop_map(
            |((id, metric, scope, amount, remaining), (src, created, sa, ea, rv))| Grant {
                id,
                metric,
                scope,
                amount,
                remaining,
                source: Source::ALL[src],
                created,
                starts_at: sa,
                expires_at: ea,
                revoked_at: rv,
            },
        )
        .boxed()
}

fn warned() -> BoxedStrategy<Warned> {
    (text(), any::<u16>())
        .prop_map(|(period, threshold)| Warned { period, threshold })
        .boxed()
}

fn bucket() -> BoxedStrategy<Bucket> {
    (
        -(1i64 << 33)..(1i64 << 33),
        count(),
        prop_oneof![Just(Bucket::UNKNOWN), int()],
    )
        .prop_map(|(i, n, t)| Bucket { i, n, t })
        .boxed()
}

/// Every kind of counter, revision 1's included (a ledger holds them until
/// the engine next touches them).
fn counter() -> BoxedStrategy<Counter> {
    prop_oneof![
        (1i64..100_000, vec(bucket(), 0..4)).prop_map(|(g, b)| Counter::Rolling {
            g,
            b,
            t: Default::default()
        }),
        (int(), int(), count()).prop_map(|(s, e, u)| Counter::Period { s, e, u }),
        (text(), count()).prop_map(|(id, u)| Counter::Sub { id, u }),
        btree_map(text(), (count(), of(int())), 0..3).prop_map(|m| Counter::Subs {
            m: m.into_iter()
                .map(|(k, (u, e))| (k, SubUse { u, e }))
                .collect()
        }),
        count().prop_map(|u| Counter::Total { u }),
        btree_map(text(), count(), 0..3).prop_map(|m| Counter::Chat { m }),
        btree_map(text(), (count(), int()), 0..3).prop_map(|m| Counter::Chats {
            m: m.into_iter()
                .map(|(k, (u, t))| (k, ChatUse { u, t }))
                .collect()
        }),
    ]
    .boxed()
}

/// Books without closed holds and keys (those are added per test).
fn main_books() -> BoxedStrategy<Ledger> {
    (
        btree_map(text(), counter(), 0..4),
        vec(hold(), 0..3),
        count(),
        vec(grant(), 0..3),
        btree_map(text(), warned(), 0..3),
        count(),
        int(),
    )
        .prop_map(
            |(counters, holds, next_hold, grants, warned, next_event, expiries_seen)| Ledger {
                counters,
                holds,
                next_hold,
                grants,
                warned,
                next_event,
                expiries_seen,
                ..Ledger::default()
            },
        )
        .boxed()
}

fn books() -> BoxedStrategy<Ledger> {
    (
        main_books(),
        btree_map(text(), closed(), 0..3),
        btree_map(text(), idem(), 0..3),
    )
        .prop_map(|(l, closed, idem)| Ledger { closed, idem, ..l })
        .boxed()
}

fn v1_closed() -> BoxedStrategy<v1::ClosedHold> {
    (
        (text(), time(), end(), any::<bool>(), of(amounts())),
        (vec(charge(), 0..3), of(amounts()), text(), of(text())),
    )
        .prop_map(
            |((id, closed_at, end, late, usage), (charges, est, kind, model))| v1::ClosedHold {
                id,
                closed_at,
                end,
                late,
                usage,
                charges,
                est,
                kind,
                model,
            },
        )
        .boxed()
}

/// Revision 1's books as its writer wrote them (its fields, `"v": 1`).
fn v1_books() -> BoxedStrategy<String> {
    (
        btree_map(text(), counter(), 0..4),
        vec(hold(), 0..3),
        vec(v1_closed(), 0..3),
        vec((text(), time(), text()), 0..3),
        count(),
    )
        .prop_map(|(counters, holds, closed, idem, next_hold)| {
            let old = v1::Ledger {
                counters,
                holds,
                closed,
                idem: idem
                    .into_iter()
                    .map(|(key, at, answer)| v1::IdemEntry { key, at, answer })
                    .collect(),
                next_hold,
            };
            let mut v = serde_json::to_value(&old).unwrap();
            v["v"] = json!(1);
            v.to_string()
        })
        .boxed()
}

// ------------------------------------------------------------- properties

/// What reading `l` back must give: revision 1's counters in today's shape.
fn expected(l: &Ledger) -> Ledger {
    l.clone().upgraded()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The whole books as one document.
    #[test]
    fn whole_books_read_back_alike(l in books()) {
        let text = l.to_json();
        let hand = Ledger::from_json(&text);
        let derived = Ledger::from_json_derived(&text);
        prop_assert_eq!(&hand, &derived, "{}", text);
        prop_assert_eq!(hand.unwrap(), expected(&l));
    }

    /// The main document and the rows a Durable Object stores.
    #[test]
    fn main_document_and_rows_read_back_alike(
        mut l in main_books(),
        closed in vec(closed(), 0..4),
        idem in btree_map(text(), idem(), 0..4),
    ) {
        for c in closed {
            l.put_closed(c);
        }
        for (k, e) in idem {
            l.idem_put(&k, e);
        }
        let ch = l.take_changes();
        let main = l.main_json();
        let rows = || ch.closed_put.iter().map(|(_, j, _)| j.as_str());
        let keys = || ch.idem_put.iter().map(|(k, j, _)| (k.as_str(), j.as_str()));
        let hand = Ledger::from_parts(&main, rows(), keys());
        let derived = Ledger::from_parts_derived(&main, rows(), keys());
        prop_assert_eq!(&hand, &derived);
        prop_assert_eq!(hand.unwrap(), expected(&l));
    }

    /// Revision 1's books, migrated.
    #[test]
    fn revision_1_books_migrate_alike(text in v1_books()) {
        let hand = Ledger::from_json(&text);
        prop_assert!(hand.is_ok(), "{:?}\n{}", hand, text);
        prop_assert_eq!(&hand, &Ledger::from_json_derived(&text), "{}", text);
        // The migrated closed holds and keys are rows to write.
        let mut l = hand.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let ch = l.take_changes();
        prop_assert_eq!(ch.idem_put.len(), l.idem.len());
        prop_assert_eq!(ch.closed_put.len(), l.closed.len());
        prop_assert!(l.idem.len() <= v["i"].as_array().unwrap().len());
    }
}

// ------------------------------------------------ one change from a document

/// Books with every optional field present somewhere, and absent elsewhere.
fn full_books() -> Ledger {
    let hold = Hold {
        id: "h7".into(),
        created: 1_800_000_000,
        expires: 1_800_000_300,
        kind: "message".into(),
        model: Some("paid/m".into()),
        est: [1, 500, 0, 0, 0, 900],
        charges: vec![
            Charge {
                key: "tokens|all|1h".into(),
                metric: 1,
                slot: Slot::Bucket(30_000_000),
                amount: 500,
                overflow: true,
            },
            Charge {
                key: "cost_usd|all|lifetime".into(),
                metric: 5,
                slot: Slot::Total,
                amount: 900,
                overflow: false,
            },
            Charge {
                key: "messages|all|day".into(),
                metric: 0,
                slot: Slot::Period(1_799_990_000),
                amount: 1,
                overflow: false,
            },
            Charge {
                key: "tokens|all|subscription".into(),
                metric: 1,
                slot: Slot::Sub("s1".into()),
                amount: 500,
                overflow: false,
            },
            Charge {
                key: "files|all|chat".into(),
                metric: 3,
                slot: Slot::Chat("c1".into()),
                amount: 1,
                overflow: false,
            },
        ],
        origin: Origin::Gateway,
        max_expires: Some(1_800_003_600),
        on_expiry: OnExpiry::Charge,
        plan: Some("pro".into()),
        sub: Some("s1".into()),
        sub_ends: Some(1_900_000_000),
        chat: Some("c1".into()),
        touched: Some(0b100011),
        draws: vec![Draw {
            grant: "g1".into(),
            metric: 1,
            amount: 40,
        }],
    };
    let bare = Hold {
        id: "h8".into(),
        model: None,
        charges: vec![],
        origin: Origin::Api,
        max_expires: None,
        on_expiry: OnExpiry::Release,
        plan: None,
        sub: None,
        sub_ends: None,
        chat: None,
        touched: None,
        draws: vec![],
        ..hold.clone()
    };
    let mut counters = StrMap::new();
    counters.insert(
        "tokens|all|1h".to_string(),
        serde_json::from_value::<Counter>(
            json!({"r": {"g": 60, "b": [[30000000, 5, 1800000001]]}}),
        )
        .unwrap(),
    );
    for (k, c) in [
        ("messages|all|day", json!({"p": {"s": 1, "e": 2, "u": 3}})),
        (
            "tokens|all|subscription",
            json!({"S": {"m": {"s1": {"u": 4, "e": 1900000000}, "s0": {"u": 1}}}}),
        ),
        ("cost_usd|all|lifetime", json!({"t": {"u": 900}})),
        (
            "files|all|chat",
            json!({"C": {"m": {"c1": {"u": 1, "t": 1800000000}}}}),
        ),
    ] {
        counters.insert(k.to_string(), serde_json::from_value(c).unwrap());
    }
    let committed = ClosedHold {
        id: "h1".into(),
        closed_at: 1_800_000_010,
        end: HoldEnd::Committed,
        late: true,
        request: Some(CommitRequest {
            input_tokens: 10,
            output_tokens: 20,
            cost_micros: Some(30),
            images: Some(1),
            files: Some(2),
            model: Some("other/m".into()),
        }),
        usage: Some([1, 30, 1, 2, 0, 30]),
        hold: None,
        charged: false,
        kind: "message".into(),
        model: Some("paid/m".into()),
        origin: Origin::Gateway,
    };
    let expired = ClosedHold {
        id: "h2".into(),
        end: HoldEnd::Expired,
        late: false,
        request: Some(CommitRequest::default()),
        usage: None,
        hold: Some(hold.clone()),
        charged: true,
        model: None,
        origin: Origin::Api,
        ..committed.clone()
    };
    let released = ClosedHold {
        id: "h3".into(),
        end: HoldEnd::Released,
        request: None,
        hold: None,
        charged: false,
        kind: String::new(),
        ..expired.clone()
    };
    let grant = Grant {
        id: "g1".into(),
        metric: "tokens".into(),
        scope: "paid".into(),
        amount: 100,
        remaining: 60,
        source: Source::Promo,
        created: 1_799_000_000,
        starts_at: Some(1_799_000_000),
        expires_at: Some(1_900_000_000),
        revoked_at: Some(1_850_000_000),
    };
    let plain = Grant {
        id: "g2".into(),
        source: Source::Purchase,
        starts_at: None,
        expires_at: None,
        revoked_at: None,
        ..grant.clone()
    };
    let mut l = Ledger {
        counters,
        holds: vec![hold, bare],
        next_hold: 9,
        grants: vec![grant, plain],
        next_event: 4,
        expiries_seen: 1_800_000_000,
        ..Ledger::default()
    };
    for c in [committed, expired, released] {
        l.closed.insert(c.id.clone(), c);
    }
    l.idem.insert(
        "k1".into(),
        IdemEntry {
            at: 1_800_000_000,
            fp: "f".into(),
            answer: "{}".into(),
        },
    );
    l.idem.insert(
        "k2".into(),
        IdemEntry {
            at: 1_800_000_000,
            fp: String::new(),
            answer: "{\"allowed\":true}".into(),
        },
    );
    l.warned.insert(
        "tokens|all|day".into(),
        Warned {
            period: "1800000000".into(),
            threshold: 800,
        },
    );
    l
}

/// What one comparison found.
#[derive(Default, Debug)]
struct Tally {
    documents: usize,
    refused: usize,
    /// Refused by hand, read by the derive: an array where the writer
    /// writes an object (serde_json lets a derived struct be read from an
    /// array of its fields in order; our writer never writes one).
    array_as_struct: usize,
}

/// Reads every one-change variant of `doc` with both readers (`read`
/// gives the (hand, derive) results) and compares them.
fn compare_mutations(
    doc: &Value,
    read: impl Fn(&str) -> (Result<Ledger, String>, Result<Ledger, String>),
) -> Tally {
    let mut t = Tally::default();
    let (hand, derived) = read(&doc.to_string());
    assert_eq!(hand, derived, "the document itself");
    assert!(hand.is_ok());
    let mut all = Vec::new();
    mutations(doc, "", &mut all);
    for (at, to) in all {
        let Some(m) = changed(doc, &at, to.clone()) else {
            continue;
        };
        let text = m.to_string();
        let (hand, derived) = read(&text);
        t.documents += 1;
        match (&hand, &derived) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{at} := {to:?}: read differently"),
            (Err(e), Err(_)) => {
                t.refused += 1;
                assert!(!e.is_empty());
            }
            (Err(e), Ok(_))
                if matches!(to, Some(Value::Array(_)))
                    && doc.pointer(&at).is_some_and(Value::is_object) =>
            {
                t.array_as_struct += 1;
                assert!(e.contains("expected an object"), "{at}: {e}");
            }
            _ => panic!("{at} := {to:?}: hand {hand:?}, derive {derived:?}\n{text}"),
        }
    }
    t
}

/// Both readers, before revision 1's counters are upgraded (the upgrade
/// is the same code after either, and assumes sane bucket sizes).
fn both(text: &str) -> (Result<Ledger, String>, Result<Ledger, String>) {
    (Ledger::read(text), Ledger::read_derived(text))
}

fn check(what: &str, t: &Tally) {
    eprintln!("{what}: {t:?}");
    // Both kinds of answer are exercised.
    assert!(t.documents > 500, "{what}: {t:?}");
    assert!(
        t.refused > t.documents / 3 && t.refused < t.documents,
        "{what}: {t:?}"
    );
}

#[test]
fn one_change_from_todays_books_reads_alike() {
    let doc: Value = serde_json::from_str(&full_books().to_json()).unwrap();
    let t = compare_mutations(&doc, both);
    check("today's books", &t);
}

#[test]
fn one_change_from_revision_1_books_reads_alike() {
    let text = include_str!("../../tests/fixtures/rev1-ledger.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let l = Ledger::from_json(text).unwrap();
    assert_eq!(l.closed.len(), 4);
    assert_eq!(l.idem.len(), 5);
    let t = compare_mutations(&doc, both);
    check("revision 1's books", &t);
}

#[test]
fn one_change_from_stored_rows_reads_alike() {
    let mut l = full_books();
    let closed: Vec<ClosedHold> = std::mem::take(&mut l.closed).into_values().collect();
    let idem = std::mem::take(&mut l.idem);
    let main = l.main_json();
    for c in &closed {
        let row: Value = serde_json::to_value(c).unwrap();
        let t = compare_mutations(&row, |text| {
            (
                Ledger::from_parts(&main, [text], []),
                Ledger::from_parts_derived(&main, [text], []),
            )
        });
        assert!(t.documents > 50 && t.refused > 0, "closed {}: {t:?}", c.id);
    }
    for (k, e) in &idem {
        let row: Value = serde_json::to_value(e).unwrap();
        let t = compare_mutations(&row, |text| {
            (
                Ledger::from_parts(&main, [], [(k.as_str(), text)]),
                Ledger::from_parts_derived(&main, [], [(k.as_str(), text)]),
            )
        });
        assert!(t.documents > 50 && t.refused > 0, "key {k}: {t:?}");
    }
}

#[test]
fn errors_name_the_path() {
    let mut doc: Value = serde_json::from_str(&full_books().to_json()).unwrap();
    doc["h"][1]["c"] = json!("soon");
    assert_eq!(
        Ledger::from_json(&doc.to_string()).unwrap_err(),
        "h[1].c: expected an integer"
    );
    let mut doc: Value = serde_json::from_str(&full_books().to_json()).unwrap();
    doc["x"]["h2"]["h"]["g"][0]["s"] = json!({"q": 1});
    assert_eq!(
        Ledger::from_json(&doc.to_string()).unwrap_err(),
        "x.h2.h.g[0].s.q: unknown or malformed slot"
    );
    let e = Ledger::from_parts(&full_books().main_json(), ["{\"id\":\"h1\"}"], []).unwrap_err();
    assert_eq!(e, "closed hold row: at: missing");
    // A known field written twice is refused, as the derive refuses it.
    let twice = "{\"v\":2,\"n\":1,\"n\":2}";
    assert!(Ledger::from_json(twice).is_err());
    assert!(Ledger::from_json_derived(twice).is_err());
}

// ---------------------------------------------------- books the engine wrote

mod engine_run {
    use super::*;
    use crate::engine::{Engine, Options, Usage};
    use crate::idem::Idem;
    use crate::{Action, Config, Subscription};
    use proptest::strategy::ValueTree;

    fn engine(charge_on_expiry: bool) -> Engine {
        let limits = json!([
            {"metric": "messages", "window": "1h", "max": 6},
            {"metric": "tokens", "window": "day", "max": 400, "overflow": "credits", "warn_at": [0.5, 0.8]},
            {"metric": "tokens", "window": "subscription", "max": 2000},
            {"metric": "cost_usd", "window": "lifetime", "max": 5, "overflow": "credits"},
            {"metric": "messages", "window": "chat", "max": 4},
            {"metric": "images", "scope": "paid", "window": "week", "max": 3}
        ]);
        Engine::new(
            Config::from_value(&json!({
                "version": 1,
                "on_hold_expiry": if charge_on_expiry { "charge" } else { "release" },
                "models": [
                    {"id": "paid/m", "free": false, "input_usd_per_mtok": 1000, "output_usd_per_mtok": 2000},
                    {"id": "free/m:free", "free": true},
                    {"id": "img/m", "free": false, "image_usd": 0.01}
                ],
                "plans": [{"id": "p", "tier": 1, "models": ["*"], "limits": limits}]
            }))
            .expect("config"),
        )
    }

    #[derive(Debug, Clone)]
    enum Op {
        Message {
            paid: bool,
            input: u64,
            chat: Option<u8>,
            key: Option<u8>,
            gateway: bool,
        },
        Image(u64),
        Commit {
            pick: usize,
            input: u64,
            output: u64,
            cost: Option<u64>,
            other_model: bool,
        },
        Release(usize),
        Extend(usize, u64),
        Grant {
            metric: bool,
            amount: u64,
            expires_in: Option<i64>,
        },
        Revoke(usize),
        Wait(i64),
        Resubscribe,
    }

    fn op() -> BoxedStrategy<Op> {
        prop_oneof![
            4 => (any::<bool>(), 0u64..300, of(0u8..3), of(0u8..4), any::<bool>()).prop_map(
                |(paid, input, chat, key, gateway)| Op::Message { paid, input, chat, key, gateway }
            ),
            1 => (1u64..3).prop_map(Op::Image),
            3 => (0usize..8, 0u64..300, 0u64..300, of(0u64..3_000_000), any::<bool>()).prop_map(
                |(pick, input, output, cost, other_model)| Op::Commit { pick, input, output, cost, other_model }
            ),
            1 => (0usize..8).prop_map(Op::Release),
            1 => (0usize..8, 1u64..900).prop_map(|(p, t)| Op::Extend(p, t)),
            1 => (any::<bool>(), 1u64..1_000_000, of(1i64..200_000)).prop_map(
                |(metric, amount, expires_in)| Op::Grant { metric, amount, expires_in }
            ),
            1 => (0usize..4).prop_map(Op::Revoke),
            2 => prop_oneof![1i64..120, 100i64..4_000, 80_000i64..200_000].prop_map(Op::Wait),
            1 => Just(Op::Resubscribe),
        ]
        .boxed()
    }

    /// Runs `ops` through the engine and returns the books it kept.
    fn run(charge_on_expiry: bool, ops: &[Op]) -> Ledger {
        let e = engine(charge_on_expiry);
        let mut l = Ledger::default();
        let mut now = 1_800_000_000_000i64;
        let mut sub_n = 0;
        let mut ids: Vec<String> = Vec::new();
        let sub = |n: i64| -> Subscription {
            serde_json::from_value(json!({"id": format!("s{n}"), "plan": "p", "active": true,
                "starts_at": 1_799_000_000 + n, "ends_at": 1_900_000_000 + n}))
            .unwrap()
        };
        for op in ops {
            now += 1_000;
            let s = sub(sub_n);
            match op {
                Op::Message {
                    paid,
                    input,
                    chat,
                    key,
                    gateway,
                } => {
                    let mut a = json!({"type": "message", "input_tokens": input, "max_output_tokens": 50,
                        "model": if *paid { "paid/m" } else { "free/m:free" }});
                    if let Some(c) = chat {
                        a["chat_id"] = json!(format!("c{c}"));
                    }
                    let a = Action::from_value(&a).expect("action");
                    let key = key.map(|k| format!("k{k}"));
                    let idem = key.as_deref().map(|key| Idem {
                        key,
                        fingerprint: "f",
                    });
                    let opts = Options {
                        origin: if *gateway {
                            Origin::Gateway
                        } else {
                            Origin::Api
                        },
                        ..Options::default()
                    };
                    if let Ok(d) = e.reserve(&mut l, Some(&s), &a, now, idem, &opts) {
                        ids.extend(d.hold.map(|h| h.id));
                    }
                }
                Op::Image(n) => {
                    let a =
                        Action::from_value(&json!({"type": "image", "model": "img/m", "count": n}))
                            .expect("action");
                    if let Ok(d) = e.reserve(&mut l, Some(&s), &a, now, None, &Options::default()) {
                        ids.extend(d.hold.map(|h| h.id));
                    }
                }
                Op::Commit {
                    pick,
                    input,
                    output,
                    cost,
                    other_model,
                } => {
                    if let Some(id) = ids.get(*pick) {
                        let u = Usage {
                            input_tokens: *input,
                            output_tokens: *output,
                            cost_micros: *cost,
                            images: None,
                            files: None,
                            model: other_model.then(|| "paid/m".to_string()),
                        };
                        let by = l.hold(id).map_or(Origin::Api, |h| h.origin);
                        let _ = e.commit_as(&mut l, id, &u, now, by);
                    }
                }
                Op::Release(pick) => {
                    if let Some(id) = ids.get(*pick) {
                        let _ = e.release_as(&mut l, id, now, Origin::Api);
                    }
                }
                Op::Extend(pick, ttl) => {
                    if let Some(id) = ids.get(*pick) {
                        let _ = e.extend_as(&mut l, id, Some(*ttl), now, Origin::Api);
                    }
                }
                Op::Grant {
                    metric,
                    amount,
                    expires_in,
                } => {
                    let t = now / 1000;
                    let id = l.new_grant_id();
                    l.add_grant(Grant {
                        id,
                        metric: if *metric { "tokens" } else { "cost_usd" }.into(),
                        scope: "all".into(),
                        amount: *amount,
                        remaining: *amount,
                        source: Source::ALL[(*amount % 4) as usize],
                        created: t,
                        starts_at: (amount % 3 == 0).then_some(t),
                        expires_at: expires_in.map(|x| t + x),
                        revoked_at: None,
                    });
                }
                Op::Revoke(i) => {
                    if let Some(id) = l.grants.get(*i).map(|g| g.id.clone()) {
                        l.revoke_grant(&id, now / 1000);
                    }
                }
                Op::Wait(s) => now += s * 1000,
                Op::Resubscribe => sub_n += 1,
            }
        }
        e.maintain(&mut l, now);
        l
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Books the engine wrote read back alike, whole or as a main
        /// document and rows, and equal to the books themselves.
        #[test]
        fn engine_books_read_back_alike(
            charge in any::<bool>(),
            ops in vec(op(), 1..40),
        ) {
            let mut l = run(charge, &ops);
            let text = l.to_json();
            let hand = Ledger::from_json(&text);
            prop_assert_eq!(&hand, &Ledger::from_json_derived(&text));
            prop_assert_eq!(hand.as_ref().unwrap(), &l);
            let ch = l.take_changes();
            let main = l.main_json();
            let rows = || ch.closed_put.iter().map(|(_, j, _)| j.as_str());
            let keys = || ch.idem_put.iter().map(|(k, j, _)| (k.as_str(), j.as_str()));
            let hand = Ledger::from_parts(&main, rows(), keys());
            prop_assert_eq!(&hand, &Ledger::from_parts_derived(&main, rows(), keys()));
            prop_assert_eq!(hand.unwrap(), l);
        }
    }

    /// The runs above write what the books can hold: every optional field
    /// (events' `ne` and `ec` aside: the shell raises events) is present in
    /// some run.
    #[test]
    fn the_runs_cover_the_optional_fields() {
        fn fields(v: &Value, path: &str, seen: &mut BTreeSet<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        // Map keys (limit keys, ids) are not field names.
                        let k = if k.contains(|c: char| c.is_ascii_digit() || c == '|') {
                            "*"
                        } else {
                            k
                        };
                        let p = format!("{path}/{k}");
                        seen.insert(p.clone());
                        fields(x, &p, seen);
                    }
                }
                Value::Array(a) => {
                    for x in a {
                        fields(x, &format!("{path}[]"), seen);
                    }
                }
                _ => {}
            }
        }
        let mut seen = BTreeSet::new();
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        for _ in 0..64 {
            let charge = any::<bool>().new_tree(&mut runner).unwrap().current();
            let ops = vec(op(), 1..40).new_tree(&mut runner).unwrap().current();
            let l = run(charge, &ops);
            fields(&serde_json::from_str(&l.to_json()).unwrap(), "", &mut seen);
        }
        for must in [
            "/c/*/r/b",
            "/c/*/p/s",
            "/c/*/S/m/*/e",
            "/c/*/t/u",
            "/c/*/C/m/*/t",
            "/h[]/o",
            "/h[]/w",
            "/h[]/mx",
            "/h[]/p",
            "/h[]/pl",
            "/h[]/su",
            "/h[]/se",
            "/h[]/ch",
            "/h[]/tm",
            "/h[]/cr[]/g",
            "/h[]/g[]/o",
            "/h[]/g[]/s/b",
            "/h[]/g[]/s/p",
            "/h[]/g[]/s/s",
            "/h[]/g[]/s/c",
            "/x/*/q/c",
            "/x/*/q/m",
            "/x/*/u",
            "/x/*/h/id",
            "/x/*/ce",
            "/x/*/w",
            "/i/*/fp",
            "/gr[]/sa",
            "/gr[]/ea",
            "/gr[]/rv",
            "/wn/*/t",
        ] {
            assert!(seen.contains(must), "{must} never written: {seen:?}");
        }
    }
}
