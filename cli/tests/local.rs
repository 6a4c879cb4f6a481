//! The real `tollgate` binary, subcommands that need no Worker (and the
//! remote ones' behaviour without one).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const SUBCOMMANDS: &[&[&str]] = &[
    &[],
    &["config"],
    &["config", "check"],
    &["config", "from-django"],
    &["config", "push"],
    &["config", "get"],
    &["config", "history"],
    &["config", "rollback"],
    &["decide"],
    &["token"],
    &["user"],
    &["user", "show"],
    &["user", "reset"],
    &["user", "import"],
    &["discount"],
    &["discount", "put"],
    &["discount", "get"],
    &["grant"],
];

#[test]
fn every_subcommand_has_help() {
    for path in SUBCOMMANDS {
        let mut args = path.to_vec();
        args.push("--help");
        let out = ok(&run(&args, &[]));
        assert!(out.contains("Usage: tollgate"), "{path:?}: {out}");
    }
    // A wrong command line is clap's exit 2, on stderr.
    let o = run(&["config", "frobnicate"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty());
}

#[test]
fn config_check_accepts_a_good_config() {
    let out = ok(&run(
        &["config", "check", "worker/default-config.json"],
        &[],
    ));
    assert!(out.contains("ok (3 plans"), "{out}");
    let v = json(&ok(&run(
        &["config", "check", "--json", "worker/default-config.json"],
        &[],
    )));
    assert_eq!(v["ok"], true);
    assert_eq!(v["plans"], 3);
}

#[test]
fn config_check_lists_every_problem_and_exits_1() {
    let dir = scratch("check");
    let mut c: Value =
        serde_json::from_str(include_str!("../../worker/default-config.json")).unwrap();
    c["timezone"] = json!("Mars/Olympus");
    c["plans"][0]["limits"][1]["window"] = json!("1w");
    c["plans"][1]["limits"][0]["max"] = json!(-3);
    c["discounts"] = json!([{"code": "bad code", "max_uses": 1}, {"code": "OK", "max_uses": "x"}]);
    let f = write(&dir, "bad.json", &c);
    let err = fails(&run(&["config", "check", &f], &[]));
    for want in [
        "invalid config (5 problems)",
        "timezone: unknown IANA time zone",
        "plans[0].limits[1].window:",
        "plans[1].limits[0].max:",
        "discounts[0].code:",
        "discounts[1].max_uses:",
    ] {
        assert!(err.contains(want), "{want} missing from {err}");
    }
    let o = run(&["config", "check", "--json", &f], &[]);
    fails(&o);
    let v = json(&stdout(&o));
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"].as_array().unwrap().len(), 5);
    assert_eq!(v["errors"][0]["path"], "timezone");
    // Not JSON, a missing file: stderr, exit 1.
    std::fs::write(dir.join("nojson.json"), "{").unwrap();
    let err = fails(&run(
        &["config", "check", dir.join("nojson.json").to_str().unwrap()],
        &[],
    ));
    assert!(err.contains("invalid JSON"), "{err}");
    let err = fails(&run(&["config", "check", "no/such/file.json"], &[]));
    assert!(err.contains("no/such/file.json"), "{err}");
}

#[test]
fn from_django_prints_a_config_check_accepts() {
    let dir = scratch("django");
    let out = ok(&run(
        &[
            "config",
            "from-django",
            "tests/fixtures/mobixai-dumpdata.json",
        ],
        &[],
    ));
    let printed = json(&out);
    // Exactly the core's conversion (tested field by field in tests/django.rs).
    let dump: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/mobixai-dumpdata.json")).unwrap();
    assert_eq!(
        printed,
        tollgate::django::config_from_dumpdata(&dump).unwrap()
    );
    // Readable: ids first, one limit per line.
    assert!(out.starts_with("{\n  \"version\": 1,"), "{out}");
    assert!(
        out.contains(
            r#"{"metric": "tokens", "scope": "free", "window": "subscription", "max": 100000}"#
        ),
        "{out}"
    );
    let f = dir.join("config.json");
    std::fs::write(&f, &out).unwrap();
    let check = ok(&run(&["config", "check", f.to_str().unwrap()], &[]));
    assert!(
        check.contains("ok (4 plans, 5 models, 4 discount codes)"),
        "{check}"
    );
    // From stdin too.
    let mut c = tollgate();
    c.args(["config", "from-django", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&dump).unwrap().as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(json(&ok(&o)), printed);
}

#[test]
fn from_django_lists_the_problems_of_a_bad_dump() {
    let dir = scratch("django-bad");
    let f = write(
        &dir,
        "dump.json",
        &json!([
            {"model": "subscriptions.subscriptiontype", "pk": 1,
             "fields": {"name": "a", "daily_max_tokens": -1}},
            {"model": "ai_models.modelsubscription", "pk": 1,
             "fields": {"ai_model": 5, "subscription_types": [1]}}
        ]),
    );
    let o = run(&["config", "from-django", &f], &[]);
    let err = fails(&o);
    assert!(stdout(&o).is_empty());
    assert!(err.contains("cannot convert the dump"), "{err}");
    assert!(err.contains("[0].fields.daily_max_tokens"), "{err}");
    assert!(
        err.contains("[1].fields.ai_model: no ai_models.aimodel with pk 5"),
        "{err}"
    );
}

/// Inputs of `decide` and what the core says for them.
fn decide_files(dir: &std::path::Path, used_1h: u64) -> [String; 4] {
    let config = "worker/default-config.json".to_string();
    let sub = json!({"id": "s1", "plan": "basic", "active": true,
        "starts_at": 1_795_000_000, "ends_at": 1_797_000_000});
    let snapshot = json!({
        "subscription": sub, "plan": "basic", "as_of": "2026-11-23T19:00:00Z",
        "limits": [{"metric": "tokens", "scope": "all", "window": "1h", "limit": 20000,
                    "used": used_1h, "remaining": 20000 - used_1h, "resets_at": "2026-11-23T19:40:00Z"}],
        "holds": []
    });
    let action = json!({"type": "message", "model": "openai/gpt-4o-mini",
        "input_tokens": 300, "max_output_tokens": 400, "kind": "send"});
    [
        config,
        write(dir, "snapshot.json", &snapshot),
        write(dir, "sub.json", &sub),
        write(dir, "action.json", &action),
    ]
}

#[test]
fn decide_gives_the_snapshot_decision_of_the_core() {
    let dir = scratch("decide");
    let [config, snap, sub, action] = decide_files(&dir, 19_500);
    let args = |extra: &[&'static str]| {
        let mut a: Vec<String> = [
            "decide",
            "--config",
            &config,
            "--snapshot",
            &snap,
            "--subscription",
            &sub,
            "--action",
            &action,
            "--at",
            "2026-11-23T19:21:00Z",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run_s = |a: Vec<String>| run(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    let d = json(&ok(&run_s(args(&[]))));
    assert_eq!(d["allowed"], false);
    assert_eq!(d["status"], 429);
    assert_eq!(d["code"], "insufficient_budget");
    assert!(d["message"].as_str().unwrap().contains("۵۰۰"), "{d}");
    assert_eq!(d["limits"], json!([]));
    // The same decision the core makes for the same documents.
    let engine = tollgate::Engine::new(
        tollgate::Config::from_json(include_str!("../../worker/default-config.json")).unwrap(),
    );
    let snapshot: tollgate::Snapshot =
        serde_json::from_str(&std::fs::read_to_string(&snap).unwrap()).unwrap();
    let s =
        tollgate::Subscription::from_value(&json(&std::fs::read_to_string(&sub).unwrap())).unwrap();
    let a =
        tollgate::Action::from_value(&json(&std::fs::read_to_string(&action).unwrap())).unwrap();
    let want = engine.check_snapshot(
        &snapshot,
        Some(&s),
        &a,
        1_795_461_660_000,
        &tollgate::Options::default(),
    );
    assert_eq!(d, serde_json::to_value(&want).unwrap());
    // English, and every limit with --explain.
    let d = json(&ok(&run_s(args(&["--locale", "en", "--explain"]))));
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .starts_with("Your remaining token budget"),
        "{d}"
    );
    assert!(d["limits"].as_array().unwrap().len() >= 3, "{d}");
    // Room left: allowed.
    let [_, snap2, ..] = decide_files(&scratch("decide2"), 100);
    let mut a = args(&[]);
    a[4] = snap2;
    let d = json(&ok(&run_s(a)));
    assert_eq!(d["allowed"], true);
    assert_eq!(d["code"], "ok");
    // Bad inputs: stderr, exit 1.
    let mut a = args(&[]);
    a[10] = "yesterday".into();
    assert!(fails(&run_s(a)).contains("--at: not RFC 3339"));
    let bad = write(
        &dir,
        "bad-action.json",
        &json!({"type": "message", "model": 5}),
    );
    let mut a = args(&[]);
    a[8] = bad;
    let err = fails(&run_s(a));
    assert!(
        err.contains("invalid action") && err.contains("model"),
        "{err}"
    );
}

fn verify(token: &str, secret: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
        .expect("signed with the secret");
    let head: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(head["alg"], "HS256");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

#[test]
fn token_signs_the_claims_of_the_spec() {
    let secret = [("TOLLGATE_JWT_SECRET", "s3cret")];
    let t = ok(&run(
        &["token", "--user", "u-1", "--plan", "basic"],
        &secret,
    ));
    let c = verify(t.trim(), "s3cret");
    assert_eq!(c["sub"], "u-1");
    assert_eq!(c["scope"], "reserve settle");
    assert_eq!(c["subscription"]["plan"], "basic");
    assert_eq!(c["subscription"]["id"], "dev-u-1");
    assert_eq!(c["subscription"]["active"], true);
    let (exp, iat) = (c["exp"].as_i64().unwrap(), c["iat"].as_i64().unwrap());
    assert_eq!(exp - iat, 24 * 3600);
    let ends = c["subscription"]["ends_at"].as_i64().unwrap();
    assert_eq!(ends - iat, 30 * 86_400);
    let t = ok(&run(
        &[
            "token", "--user", "u", "--plan", "pro", "--scope", "usage", "--scope", "gateway",
            "--days", "7", "--sub-id", "s-9",
        ],
        &secret,
    ));
    let c = verify(t.trim(), "s3cret");
    assert_eq!(c["scope"], "usage gateway");
    assert_eq!(c["subscription"]["id"], "s-9");
    let t = ok(&run(
        &[
            "token",
            "--user",
            "u",
            "--plan",
            "p",
            "--scope",
            "reserve settle",
        ],
        &secret,
    ));
    assert_eq!(verify(t.trim(), "s3cret")["scope"], "reserve settle");
    let t = ok(&run(
        &["token", "--user", "u", "--plan", "p", "--read-only"],
        &secret,
    ));
    assert!(verify(t.trim(), "s3cret").get("scope").is_none());
    // No secret, an unknown scope.
    let err = fails(&run(&["token", "--user", "u", "--plan", "p"], &[]));
    assert!(err.contains("TOLLGATE_JWT_SECRET"), "{err}");
    let o = run(
        &["token", "--user", "u", "--plan", "p", "--scope", "admin"],
        &secret,
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn remote_commands_need_the_admin_token_and_a_worker() {
    let err = fails(&run(&["user", "show", "u1"], &[]));
    assert!(err.contains("TOLLGATE_ADMIN_TOKEN"), "{err}");
    // Nothing listens on port 9 of 127.0.0.1.
    let err = fails(&run(
        &["--url", "http://127.0.0.1:9", "config", "history"],
        &[("TOLLGATE_ADMIN_TOKEN", "t")],
    ));
    assert!(
        err.contains("http://127.0.0.1:9/v1/admin/config/revisions"),
        "{err}"
    );
    let err = fails(&run(
        &["--url", "ftp://x", "config", "history"],
        &[("TOLLGATE_ADMIN_TOKEN", "t")],
    ));
    assert!(err.contains("--url"), "{err}");
}

/// A one-shot HTTP server on 127.0.0.1: answers `status` with `body` and
/// hands back the request it received (head and body).
fn one_shot(status: &'static str, body: &'static str) -> (String, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut head = String::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let mut body_in = vec![0; len];
        r.read_exact(&mut body_in).unwrap();
        let mut s = s;
        write!(
            s,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        format!("{head}\r\n{}", String::from_utf8(body_in).unwrap())
    });
    (url, h)
}

/// `grant` speaks SPEC §9's `POST /v1/admin/users/{id}/grants` (the route
/// itself is another change; its end-to-end test is cli/tests/grant.rs).
#[test]
fn grant_sends_the_spec_request() {
    let (url, h) = one_shot(
        "201 Created",
        r#"{"id":"g1","metric":"tokens","amount":5000}"#,
    );
    let out = ok(&run(
        &[
            "--url",
            &url,
            "grant",
            "u 1",
            "--metric",
            "tokens",
            "--scope",
            "free",
            "--amount",
            "5000",
            "--source",
            "promo",
            "--expires-at",
            "2027-01-01T00:00:00Z",
            "--grant-id",
            "g1",
            "--idempotency-key",
            "k-1",
        ],
        &[("TOLLGATE_ADMIN_TOKEN", "adm")],
    ));
    assert_eq!(json(&out)["id"], "g1");
    let req = h.join().unwrap();
    let (head, body) = req.split_once("\r\n\r\n").unwrap();
    let head_l = head.to_ascii_lowercase();
    assert!(
        head.starts_with("POST /v1/admin/users/u%201/grants HTTP/1.1"),
        "{head}"
    );
    assert!(head_l.contains("authorization: bearer adm"), "{head}");
    assert!(head_l.contains("idempotency-key: k-1"), "{head}");
    assert!(head_l.contains("content-type: application/json"), "{head}");
    assert_eq!(
        json(body),
        json!({"id": "g1", "metric": "tokens", "scope": "free", "amount": 5000,
               "source": "promo", "expires_at": "2027-01-01T00:00:00Z"})
    );
    // Dollars for cost_usd pass as given; an error answer goes to stderr.
    let (url, h) = one_shot(
        "400 Bad Request",
        r#"{"code":"bad_request","message":"invalid grant","errors":[{"path":"metric","reason":"unknown metric"}]}"#,
    );
    let err = fails(&run(
        &[
            "--url", &url, "grant", "u1", "--metric", "cost_usd", "--amount", "2.5",
        ],
        &[("TOLLGATE_ADMIN_TOKEN", "adm")],
    ));
    assert!(err.contains("400 bad_request: invalid grant"), "{err}");
    assert!(err.contains("metric: unknown metric"), "{err}");
    let req = h.join().unwrap();
    let body = json(req.split_once("\r\n\r\n").unwrap().1);
    assert_eq!(body["amount"], 2.5);
    assert_eq!(body["source"], "admin");
    assert!(!req.to_ascii_lowercase().contains("idempotency-key"));
    assert!(fails(&run(
        &[
            "--url",
            "http://127.0.0.1:9",
            "grant",
            "u1",
            "--metric",
            "tokens",
            "--amount",
            "lots"
        ],
        &[("TOLLGATE_ADMIN_TOKEN", "adm")],
    ))
    .contains("--amount"));
}
