//! The real `tollgate` binary against the real Worker in workerd (miniflare,
//! SQLite Durable Objects): the operator's journey of README "From the
//! platform's Django data to a running Tollgate". Needs the built Worker:
//! `make test-cli` builds it and runs these (`--include-ignored`).

mod common;

use common::*;
use serde_json::{json, Value};

/// A message of `tokens` input tokens to the free model every plan has.
fn message(tokens: u64) -> Value {
    json!({"type": "message", "model": "deepseek/deepseek-chat-v3-0324:free",
           "input_tokens": tokens, "max_output_tokens": 0, "kind": "send"})
}

#[test]
#[ignore = "needs the built Worker: make test-cli"]
fn from_the_django_dump_to_a_running_tollgate() {
    let w = Worker::start();
    let dir = scratch("journey");

    // 1. The platform's data as a config, checked, pushed with a note.
    let config = ok(&run(
        &[
            "config",
            "from-django",
            "tests/fixtures/mobixai-dumpdata.json",
        ],
        &[],
    ));
    let cfg_file = dir.join("config.json");
    std::fs::write(&cfg_file, &config).unwrap();
    let cfg = cfg_file.to_str().unwrap();
    ok(&run(&["config", "check", cfg], &[]));
    let pushed = json(&ok(&w.run(&[
        "config",
        "push",
        cfg,
        "--note",
        "from django",
    ])));
    assert_eq!(pushed["revision"], 1);
    assert_eq!(
        pushed["discounts_applied"],
        json!(["WELCOME10", "NOWRUZ1405", "OLDPROMO", "YALDA1404"])
    );
    assert!(
        pushed.get("config").is_none(),
        "the long config is left out"
    );
    // The discount codes of the dump are live.
    let code = json(&ok(&w.run(&["discount", "get", "WELCOME10"])));
    assert_eq!(code["max_uses"], 1000);
    assert_eq!(code["max_uses_per_user"], 1);
    let old = json(&ok(&w.run(&["discount", "get", "OLDPROMO"])));
    assert_eq!(old["max_uses"], 0);

    // 2. A user's current usage moved over: 19,990 of Free's 20,000 hourly tokens.
    let import = write(
        &dir,
        "import.json",
        &json!({
            "subscription": {"id": "s-77", "plan": "Free", "active": true,
                             "starts_at": 1_700_000_000, "ends_at": null},
            "entries": [
                {"metric": "tokens", "window": "1h", "used": 19_990},
                {"metric": "tokens", "window": "day", "used": 25_000},
                {"metric": "messages", "scope": "free", "window": "month", "used": 120},
                {"metric": "files", "window": "chat", "chat_id": "c-1", "used": 2}
            ]
        }),
    );
    let a = json(&ok(&w.run(&["user", "import", "u-77", &import])));
    assert_eq!(a["imported"], 4);
    // Run twice: the key derived from the file makes it count once.
    let again = json(&ok(&w.run(&["user", "import", "u-77", &import])));
    assert_eq!(again, a);
    let token = w.token("u-77", "Free", &["--sub-id", "s-77"]);
    let (status, d) = w.user_call(&token, "POST", "/v1/check", Some(&message(50)));
    assert_eq!(status, 429, "{d}");
    assert_eq!(d["code"], "insufficient_budget");
    let (status, _) = w.user_call(&token, "POST", "/v1/check", Some(&message(5)));
    assert_eq!(status, 200);

    // 3. The operator looks the user up: meters, in English and in Persian.
    let (_, _) = w.user_call(&token, "GET", "/v1/usage", None); // the Worker sees the subscription
    let table = ok(&w.run(&["user", "show", "u-77"]));
    assert!(table.contains("user u-77 · plan Free"), "{table}");
    assert!(table.contains("subscription s-77 (active)"), "{table}");
    let line = |t: &str, start: &str| {
        t.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?} in\n{t}"))
            .to_string()
    };
    let hourly = line(&table, "tokens    all    1h");
    assert!(hourly.contains("19,990 / 20,000"), "{hourly}");
    assert!(hourly.contains(" 10 "), "{hourly}");
    let resets = hourly.split_whitespace().last().unwrap();
    assert!(
        resets.len() >= 2 && resets.ends_with(['h', 'm', 's']),
        "resets in: {hourly}"
    );
    assert!(
        line(&table, "messages  free").contains("120 / 300"),
        "{table}"
    );
    assert!(
        line(&table, "files     all    chat (c-1)").contains("2 / 3"),
        "{table}"
    );
    let fa = ok(&w.run(&["user", "show", "u-77", "--locale", "fa"]));
    assert!(fa.contains("۱۹٬۹۹۰ / ۲۰٬۰۰۰"), "{fa}");
    assert!(
        ["ساعت", "دقیقه", "ثانیه"].iter().any(|w| fa.contains(w)),
        "{fa}"
    );
    assert!(!fa.contains("19,990"), "{fa}");
    let raw = json(&ok(&w.run(&["user", "show", "u-77", "--json"])));
    assert_eq!(raw["user"], "u-77");

    // 4. Reset the hourly tokens: the meter and the answer change.
    let r = json(&ok(&w.run(&[
        "user", "reset", "u-77", "--metric", "tokens", "--window", "1h",
    ])));
    assert_eq!(r["counters_reset"], 1);
    let table = ok(&w.run(&["user", "show", "u-77"]));
    assert!(
        line(&table, "tokens    all    1h").contains("0 / 20,000"),
        "{table}"
    );
    assert!(
        line(&table, "tokens    all    day").contains("25,000 / 100,000"),
        "{table}"
    );
    let (status, _) = w.user_call(&token, "POST", "/v1/check", Some(&message(50)));
    assert_eq!(status, 200);

    // A bad import lists each bad entry and adds nothing.
    let bad = write(
        &dir,
        "bad-import.json",
        &json!({"subscription": {"id": "s-77", "plan": "Free", "active": true, "starts_at": 0},
                "entries": [{"metric": "tokens", "window": "1h", "used": 5},
                            {"metric": "tokens", "window": "1w", "used": 1},
                            {"metric": "images", "window": "week", "used": 1}]}),
    );
    let err = fails(&w.run(&["user", "import", "u-77", &bad]));
    assert!(err.contains("400 bad_request"), "{err}");
    assert!(err.contains("entries[1].window"), "{err}");
    let table = ok(&w.run(&["user", "show", "u-77"]));
    assert!(
        line(&table, "tokens    all    1h").contains("0 / 20,000"),
        "{table}"
    );

    // 5. A discount code by hand.
    let d = json(&ok(&w.run(&[
        "discount",
        "put",
        "SPRING",
        "--max-uses",
        "5",
        "--max-uses-per-user",
        "1",
        "--expires-at",
        "2030-01-01T00:00:00Z",
        "--plan",
        "Basic",
        "--plan",
        "Premium",
    ])));
    assert_eq!(d["code"], "SPRING");
    assert_eq!(d["plans"], json!(["Basic", "Premium"]));
    let err = fails(&w.run(&["discount", "put", "BAD", "--expires-at", "tomorrow"]));
    assert!(err.contains("expires_at"), "{err}");
}

#[test]
#[ignore = "needs the built Worker: make test-cli"]
fn history_and_rollback() {
    let w = Worker::start();
    let dir = scratch("history");
    let out = ok(&w.run(&["config", "history"]));
    assert!(out.contains("no revisions yet"), "{out}");
    let mut c: Value =
        serde_json::from_str(include_str!("../../worker/default-config.json")).unwrap();
    // No concurrency limit: the hold left open below must not be what denies.
    c["plans"][0]
        .as_object_mut()
        .unwrap()
        .remove("max_concurrent");
    let f1 = write(&dir, "c1.json", &c);
    c["plans"][0]["limits"][0]["max"] = json!(1);
    let f2 = write(&dir, "c2.json", &c);
    assert_eq!(
        json(&ok(&w.run(&["config", "push", &f1, "--note", "first"])))["revision"],
        1
    );
    assert_eq!(json(&ok(&w.run(&["config", "push", &f2])))["revision"], 2);

    let token = w.token("h-1", "free", &[]);
    let msg = json!({"type": "message", "model": "meta-llama/llama-3.3-8b-instruct:free",
                     "input_tokens": 10, "max_output_tokens": 10, "kind": "send"});
    let reserve = |key: &str| {
        let r = ureq::post(&format!("{}/v1/reserve", w.url))
            .set("authorization", &format!("Bearer {token}"))
            .set("idempotency-key", key)
            .set("content-type", "application/json")
            .send_string(&msg.to_string());
        match r {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(s, _)) => s,
            Err(e) => panic!("{e}"),
        }
    };
    // Revision 2 allows one message an hour.
    assert_eq!(reserve("a"), 200);
    assert_eq!(reserve("b"), 429);

    let table = ok(&w.run(&["config", "history"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("revision  at"), "{table}");
    assert!(lines[1].starts_with("2 "), "newest first: {table}");
    assert!(
        lines[2].starts_with("1 ") && lines[2].ends_with("first"),
        "{table}"
    );
    let h = json(&ok(&w.run(&["config", "history", "--json"])));
    assert_eq!(h["revisions"][1]["note"], "first");
    assert!(h["revisions"][0].get("note").is_none());
    assert!(h["revisions"][0]["size"].as_u64().unwrap() > 1000);

    // Roll back to 1: a new revision 3 with revision 1's content.
    let r = json(&ok(&w.run(&[
        "config",
        "rollback",
        "1",
        "--note",
        "too strict",
    ])));
    assert_eq!(r["revision"], 3);
    assert_eq!(r["rolled_back_to"], 1);
    assert_eq!(reserve("c"), 200, "the previous answer is back");
    let got = json(&ok(&w.run(&["config", "get"])));
    assert_eq!(got, json(&std::fs::read_to_string(&f1).unwrap()));
    let two = json(&ok(&w.run(&["config", "get", "--revision", "2"])));
    assert_eq!(two["plans"][0]["limits"][0]["max"], 1);
    let h = json(&ok(&w.run(&["config", "history", "--json", "--limit", "2"])));
    let revs: Vec<i64> = h["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_i64().unwrap())
        .collect();
    assert_eq!(revs, [3, 2]);
    assert_eq!(h["revisions"][0]["note"], "too strict");
    let h = json(&ok(
        &w.run(&["config", "history", "--json", "--before", "2"])
    ));
    assert_eq!(h["revisions"].as_array().unwrap().len(), 1);

    // Errors from the Worker: stderr, exit 1.
    let err = fails(&w.run(&["config", "rollback", "99"]));
    assert!(err.contains("404 revision_unknown"), "{err}");
    let err = fails(&w.run(&["config", "get", "--revision", "42"]));
    assert!(err.contains("404 revision_unknown"), "{err}");
    c["plans"][0]["limits"][0]["window"] = json!("1w");
    let bad = write(&dir, "bad.json", &c);
    let err = fails(&w.run(&["config", "push", &bad]));
    assert!(err.contains("plans[0].limits[0].window"), "{err}");
    let out = run(
        &["--url", &w.url, "config", "history"],
        &[("TOLLGATE_ADMIN_TOKEN", "wrong")],
    );
    assert!(fails(&out).contains("401 unauthorized"), "{}", stderr(&out));
}
