//! `tollgate grant` end to end against the real Worker (`make test-cli`).
//! The request the command sends is tested against SPEC §9 in
//! cli/tests/local.rs.

mod common;

use common::*;

#[test]
#[ignore = "needs the built Worker: make test-cli"]
fn a_grant_shows_in_the_users_books() {
    let w = Worker::start();
    let g = json(&ok(&w.run(&[
        "grant",
        "g-1",
        "--metric",
        "tokens",
        "--amount",
        "5000",
        "--source",
        "promo",
        "--grant-id",
        "welcome",
        "--idempotency-key",
        "k-1",
    ])));
    assert_eq!(g["created"], true);
    assert_eq!(g["grant"]["id"], "welcome");
    // The same id again changes nothing.
    let again = json(&ok(&w.run(&[
        "grant",
        "g-1",
        "--metric",
        "tokens",
        "--amount",
        "5000",
        "--source",
        "promo",
        "--grant-id",
        "welcome",
    ])));
    assert_eq!(again["created"], false);
    let books = json(&ok(&w.run(&["user", "show", "g-1", "--json"])));
    let grants = books["grants"]
        .as_array()
        .expect("GET /v1/admin/users/{id} lists grants");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["amount"], 5000);
    assert_eq!(grants[0]["source"], "promo");
}

#[test]
#[ignore = "needs the built Worker: make test-cli"]
fn a_discount_code_may_carry_a_grant() {
    let w = Worker::start();
    let d = json(&ok(&w.run(&[
        "discount",
        "put",
        "GIFT",
        "--max-uses",
        "5",
        "--max-uses-per-user",
        "1",
        "--expires-at",
        "2030-01-01T00:00:00Z",
        "--grant",
        r#"{"metric":"tokens","amount":2500,"expires_in_days":14}"#,
    ])));
    assert_eq!(
        d["grant"],
        serde_json::json!({"metric": "tokens", "amount": 2500, "expires_in_days": 14})
    );
    assert_eq!(
        d.get("handovers_pending"),
        None,
        "shown only when some are owed"
    );
    // A grant the user's books would refuse is refused here, with its path.
    let err = fails(&w.run(&[
        "discount",
        "put",
        "GIFT2",
        "--grant",
        r#"{"metric":"tokens","amount":0}"#,
    ]));
    assert!(err.contains("grant.amount"), "{err}");
}
