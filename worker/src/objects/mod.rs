//! Durable Object classes. Each one's state lives in its own SQLite database
//! (`state.storage().sql()`); the classes are declared with
//! `new_sqlite_classes` in `wrangler.toml`.

use serde::Deserialize;
// `#[durable_object]` expands to code that names `wasm_bindgen::...`; importing it
// here avoids a direct dependency on the crate (and a Cargo.lock change).
use worker::wasm_bindgen;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::http;

/// Answer for a class whose routes are not written yet.
fn not_implemented(class: &str, state: &State) -> Result<Response> {
    http::json(
        501,
        &serde_json::json!({
            "code": "not_implemented",
            "message": format!("{class} is a stub"),
            "object": state.id().to_string(),
        }),
    )
}

/// One per user (`idFromName(sub)`): counters, holds, idempotency keys.
/// Stub for now. `alarm` = fetch + alarm handlers (the alarm will release
/// holds not committed within `hold_ttl_s`); implement
/// `async fn alarm(&self) -> Result<Response>` before setting one.
#[durable_object(alarm)]
pub struct UserLedger {
    state: State,
}

impl DurableObject for UserLedger {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        not_implemented("UserLedger", &self.state)
    }
}

/// One per discount code (`idFromName(code)`): caps and redemptions.
/// Stub for now.
#[durable_object(fetch)]
pub struct DiscountCode {
    state: State,
}

impl DurableObject for DiscountCode {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        not_implemented("DiscountCode", &self.state)
    }
}

/// A single instance holding the versioned config. Stub for now.
#[durable_object(fetch)]
pub struct ConfigStore {
    state: State,
}

impl DurableObject for ConfigStore {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        not_implemented("ConfigStore", &self.state)
    }
}

/// Benchmark baseline: increments a counter in SQLite on every request and
/// answers `{"count": n}`. No Tollgate logic, so a load test against it
/// measures the platform's own ceiling on the machine.
#[durable_object(fetch)]
pub struct BareCounter {
    state: State,
}

#[derive(Deserialize)]
struct CountRow {
    n: i64,
}

impl DurableObject for BareCounter {
    fn new(state: State, _env: Env) -> Self {
        // The constructor is synchronous, and so is the SQL API: the schema
        // exists before the first fetch is delivered.
        if let Err(err) = state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS counter (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 n  INTEGER NOT NULL
             )",
            None,
        ) {
            worker::console_error!("BareCounter schema: {err}");
        }
        Self { state }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        let rows: Vec<CountRow> = self
            .state
            .storage()
            .sql()
            .exec(
                "INSERT INTO counter (id, n) VALUES (1, 1)
                 ON CONFLICT (id) DO UPDATE SET n = n + 1
                 RETURNING n",
                None,
            )?
            .to_array()?;
        let count = rows.first().map(|r| r.n).unwrap_or(0);
        http::json(200, &serde_json::json!({ "count": count }))
    }
}
