//! Benchmark baseline: increments a counter in SQLite on every request and
//! answers `{"count": n}`. No Tollgate logic, so a load test against it
//! measures the platform's own ceiling on the machine.

// `#[durable_object]` expands to code that names `wasm_bindgen::...`.
use worker::wasm_bindgen;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::rows::{self, FromRow};
use crate::http;

#[durable_object(fetch)]
pub struct BareCounter {
    state: State,
}

struct CountRow {
    n: i64,
}

impl FromRow for CountRow {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(CountRow { n: r.int(0)? })
    }
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
            )
            .and_then(rows::read)?;
        let count = rows.first().map(|r| r.n).unwrap_or(0);
        http::json(200, &serde_json::json!({ "count": count }))
    }
}
