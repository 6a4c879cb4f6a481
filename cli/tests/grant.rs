//! `tollgate grant` end to end against the real Worker. It waits for the
//! route `POST /v1/admin/users/{id}/grants` (SPEC §9, another change): run it
//! with `cargo test -p tollgate-cli --test grant -- --include-ignored` once
//! that route is in, then add `--test grant` to `make test-cli`. The request
//! the command sends is tested against SPEC §9 in cli/tests/local.rs.

mod common;

use common::*;

#[test]
#[ignore = "waits for POST /v1/admin/users/{id}/grants (SPEC §9) in the Worker"]
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
    assert_eq!(g["id"], "welcome");
    // The same id again changes nothing.
    ok(&w.run(&[
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
    ]));
    let books = json(&ok(&w.run(&["user", "show", "g-1", "--json"])));
    let grants = books["grants"]
        .as_array()
        .expect("GET /v1/admin/users/{id} lists grants");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["amount"], 5000);
    assert_eq!(grants[0]["source"], "promo");
}
