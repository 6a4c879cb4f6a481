//! `EventLog`: one object (`idFromName("events")`) that keeps the last 7
//! days of every user's events for `GET /v1/admin/events` (SPEC §10).
//!
//! Events are born in the users' objects (their outboxes, see
//! `objects/outbox.rs`); each user object's alarm forwards its new rows here
//! in batches. `append` is idempotent by event id (a forward retried after a
//! lost answer adds nothing), and gives every new event the next number of a
//! sequence that only grows: the listing is ordered by it, so a client that
//! pages with `since=<the last id it saw>` never misses an event appended
//! later, whichever user it came from.

use serde_json::{json, Value};
use worker::wasm_bindgen;
use worker::{durable_object, Date, DurableObject, Env, Request, Response, Result, State};

use super::respond;
use super::rows::{self, FromRow};
use crate::http::{self, ApiError, ApiResult};
use crate::internal::{self, EventLogCall};

/// How long events are listed.
const KEEP_MS: i64 = 7 * 86_400_000;
/// The most events one listing answers.
pub const MAX_PAGE: u32 = 1000;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    logged_ms INTEGER NOT NULL
)";

#[durable_object(fetch)]
pub struct EventLog {
    state: State,
}

struct Seq {
    seq: i64,
}

impl FromRow for Seq {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(Seq { seq: r.int(0)? })
    }
}

struct Listed {
    body: String,
}

impl FromRow for Listed {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(Listed { body: r.text(0)? })
    }
}

impl EventLog {
    fn append(&self, call: &EventLogCall) -> ApiResult {
        let sql = self.state.storage().sql();
        let now = Date::now().as_millis() as i64;
        let mut added = 0;
        for text in &call.events {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| ApiError::bad_field("events", format!("not JSON: {e}")))?;
            let Some(id) = v.get("id").and_then(Value::as_str) else {
                return Err(ApiError::bad_field("events", "an event without an id"));
            };
            let rows: Vec<Seq> = sql
                .exec(
                    "INSERT INTO events (id, body, logged_ms) VALUES (?, ?, ?)
                     ON CONFLICT (id) DO NOTHING RETURNING seq",
                    vec![id.into(), text.clone().into(), now.into()],
                )
                .and_then(rows::read)?;
            added += rows.len();
        }
        sql.exec(
            "DELETE FROM events WHERE logged_ms < ?",
            vec![(now - KEEP_MS).into()],
        )?;
        Ok(http::json(200, &json!({ "added": added }))?)
    }

    fn list(&self, call: &EventLogCall) -> ApiResult {
        let sql = self.state.storage().sql();
        let after = match call.since.as_deref() {
            None => 0,
            Some(id) => sql
                .exec("SELECT seq FROM events WHERE id = ?", vec![id.into()])
                .and_then(rows::read::<Seq>)?
                .into_iter()
                .next()
                .map(|s| s.seq)
                .ok_or_else(|| {
                    ApiError::bad_field(
                        "since",
                        "no such event among the last 7 days' (omit `since` to start from the oldest)",
                    )
                })?,
        };
        let limit = call.limit.clamp(1, MAX_PAGE);
        let rows: Vec<Listed> = sql
            .exec(
                "SELECT body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                vec![after.into(), i64::from(limit + 1).into()],
            )
            .and_then(rows::read)?;
        let more = rows.len() > limit as usize;
        let events: Vec<Value> = rows
            .iter()
            .take(limit as usize)
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect();
        let next = events
            .last()
            .and_then(|e| e.get("id").cloned())
            .or_else(|| call.since.clone().map(Value::from));
        Ok(http::json(
            200,
            &json!({ "events": events, "next": next, "more": more }),
        )?)
    }

    async fn handle(&self, mut req: Request) -> ApiResult {
        let op = internal::op_of(&req);
        let call: EventLogCall = internal::read_call(&mut req)
            .await
            .map_err(|e| ApiError::bad_field("", format!("bad internal call: {e}")))?;
        match op.as_str() {
            "append" => self.append(&call),
            "list" => self.list(&call),
            _ => Err(ApiError::new(404, "not_found", "no such op")),
        }
    }
}

impl DurableObject for EventLog {
    fn new(state: State, _env: Env) -> Self {
        if let Err(e) = state.storage().sql().exec(SCHEMA, None) {
            worker::console_error!("EventLog schema: {e}");
        }
        Self { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        respond(self.handle(req).await)
    }
}
