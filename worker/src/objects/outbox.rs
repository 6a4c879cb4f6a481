//! A user object's outbox (SPEC §10): the events its changes raised, as rows
//! of its own SQLite database, written in the same synchronous turn as the
//! change (see `UserLedger::persist`), so an event exists exactly when the
//! change does. The object's alarm later
//!
//! 1. forwards new rows to the `EventLog` (the admin listing; idempotent by
//!    event id there), and
//! 2. POSTs each row to `TOLLGATE_WEBHOOK_URL` until a 2xx (see
//!    [`crate::webhook`]), when a URL is set.
//!
//! A row is kept 7 days (the listing's reach), whatever its delivery state.
//! All times here are real unix ms (not the dev clock).

use tollgate::events::Event;
use worker::{Result, SqlStorage};

use super::rows::{self, FromRow};
use crate::webhook::{Settings, GIVE_UP_AFTER_MS};

/// How long rows are kept.
pub const KEEP_MS: i64 = 7 * 86_400_000;

pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    written_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ms INTEGER NOT NULL,
    delivered_ms INTEGER,
    failed INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    forwarded INTEGER NOT NULL DEFAULT 0,
    forward_next_ms INTEGER NOT NULL
)";

/// Writes new events (part of the caller's synchronous write).
pub fn write(sql: &SqlStorage, events: &[Event], real_now_ms: i64) -> Result<()> {
    for e in events {
        let seq =
            e.id.rsplit(':')
                .next()
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0);
        sql.exec(
            "INSERT INTO outbox (id, seq, body, written_ms, next_ms, forward_next_ms)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            vec![
                e.id.clone().into(),
                seq.into(),
                serde_json::to_string(e)?.into(),
                real_now_ms.into(),
                real_now_ms.into(),
                real_now_ms.into(),
            ],
        )?;
    }
    Ok(())
}

struct Due {
    m: Option<i64>,
}

impl FromRow for Due {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(Due { m: r.opt_int(0)? })
    }
}

fn min(sql: &SqlStorage, q: &str) -> Option<i64> {
    sql.exec(q, None)
        .and_then(rows::read::<Due>)
        .ok()
        .and_then(|r| r.into_iter().next())
        .and_then(|d| d.m)
}

/// When the alarm must next run for the outbox (real ms): the next
/// forward, the next delivery (only when a URL is set), the next sweep.
pub fn next_due(sql: &SqlStorage, deliver: bool) -> Option<i64> {
    let fwd = min(
        sql,
        "SELECT MIN(forward_next_ms) AS m FROM outbox WHERE forwarded = 0",
    );
    let send = if deliver {
        min(
            sql,
            "SELECT MIN(next_ms) AS m FROM outbox WHERE delivered_ms IS NULL AND failed = 0",
        )
    } else {
        None
    };
    let sweep = min(
        sql,
        "SELECT MIN(written_ms) AS m FROM outbox WHERE forwarded = 1",
    )
    .map(|m| m + KEEP_MS);
    [fwd, send, sweep].into_iter().flatten().min()
}

/// A row due for forwarding or delivery.
#[derive(Debug)]
pub struct Row {
    pub id: String,
    pub body: String,
    pub written_ms: i64,
    pub attempts: i64,
}

impl FromRow for Row {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(Row {
            id: r.text(0)?,
            body: r.text(1)?,
            written_ms: r.int(2)?,
            attempts: r.int(3)?,
        })
    }
}

pub fn due_forward(sql: &SqlStorage, now_ms: i64, limit: i64) -> Result<Vec<Row>> {
    sql.exec(
        "SELECT id, body, written_ms, attempts FROM outbox
         WHERE forwarded = 0 AND forward_next_ms <= ? ORDER BY seq LIMIT ?",
        vec![now_ms.into(), limit.into()],
    )
    .and_then(rows::read)
}

pub fn forwarded(sql: &SqlStorage, ids: &[String]) -> Result<()> {
    for id in ids {
        sql.exec(
            "UPDATE outbox SET forwarded = 1 WHERE id = ?",
            vec![id.clone().into()],
        )?;
    }
    Ok(())
}

/// The EventLog did not take them: try again in `after_ms`.
pub fn forward_later(sql: &SqlStorage, ids: &[String], at_ms: i64) -> Result<()> {
    for id in ids {
        sql.exec(
            "UPDATE outbox SET forward_next_ms = ? WHERE id = ?",
            vec![at_ms.into(), id.clone().into()],
        )?;
    }
    Ok(())
}

pub fn due_delivery(sql: &SqlStorage, now_ms: i64, limit: i64) -> Result<Vec<Row>> {
    sql.exec(
        "SELECT id, body, written_ms, attempts FROM outbox
         WHERE delivered_ms IS NULL AND failed = 0 AND next_ms <= ? ORDER BY seq LIMIT ?",
        vec![now_ms.into(), limit.into()],
    )
    .and_then(rows::read)
}

/// Records one attempt's outcome.
pub fn attempted(
    sql: &SqlStorage,
    s: &Settings,
    row: &Row,
    outcome: &std::result::Result<(), String>,
    now_ms: i64,
) -> Result<()> {
    let attempts = row.attempts + 1;
    match outcome {
        Ok(()) => sql.exec(
            "UPDATE outbox SET attempts = ?, delivered_ms = ?, last_error = NULL WHERE id = ?",
            vec![attempts.into(), now_ms.into(), row.id.clone().into()],
        )?,
        Err(e) => {
            // Past a day of trying, the row stays (listed), marked failed.
            let failed = i64::from(now_ms - row.written_ms >= GIVE_UP_AFTER_MS);
            sql.exec(
                "UPDATE outbox SET attempts = ?, next_ms = ?, failed = ?, last_error = ? WHERE id = ?",
                vec![
                    attempts.into(),
                    (now_ms + s.backoff_ms(attempts)).into(),
                    failed.into(),
                    e.clone().into(),
                    row.id.clone().into(),
                ],
            )?
        }
    };
    Ok(())
}

/// Forgets rows older than [`KEEP_MS`] that the `EventLog` has.
pub fn sweep(sql: &SqlStorage, now_ms: i64) -> Result<()> {
    sql.exec(
        "DELETE FROM outbox WHERE written_ms < ? AND forwarded = 1",
        vec![(now_ms - KEEP_MS).into()],
    )?;
    Ok(())
}

/// A row as `GET /v1/admin/users/{id}/events` shows it.
#[derive(Debug)]
pub struct Listed {
    pub body: String,
    pub attempts: i64,
    pub delivered_ms: Option<i64>,
    pub failed: i64,
    pub last_error: Option<String>,
    pub next_ms: i64,
}

impl FromRow for Listed {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(Listed {
            body: r.text(0)?,
            attempts: r.int(1)?,
            delivered_ms: r.opt_int(2)?,
            failed: r.int(3)?,
            last_error: r.opt_text(4)?,
            next_ms: r.int(5)?,
        })
    }
}

/// The newest `limit` rows after event number `after` (oldest first).
pub fn list(sql: &SqlStorage, after: i64, limit: i64) -> Result<Vec<Listed>> {
    sql.exec(
        "SELECT body, attempts, delivered_ms, failed, last_error, next_ms FROM outbox
         WHERE seq > ? ORDER BY seq LIMIT ?",
        vec![after.into(), limit.into()],
    )
    .and_then(rows::read)
}
