//! `ConfigStore`: a single object (name `"global"`) holding every accepted
//! config revision in SQLite (SPEC §12, config history). Empty, it serves
//! the embedded default config (`worker/default-config.json`) at revision 0.
//! Every accepted `put` and every `rollback` adds the next revision; none is
//! ever dropped (the history is bounded only by storage). The user and
//! discount objects poll `get` with the revision they have (at most every
//! `TOLLGATE_CONFIG_TTL_MS`) and receive the config only when it changed.
//!
//! | op | call fields | answer |
//! |---|---|---|
//! | `get` | `known_revision?` | `{revision, config?}` (the current one) |
//! | `get` | `revision` | `{revision, at, size, note?, config}` (that one; 404 `revision_unknown`) |
//! | `put` | `config`, `note?` | `{revision, config}` (the new one) |
//! | `revisions` | `limit?`, `before?` | `{revisions: [{revision, at, size, note?}]}`, newest first |
//! | `rollback` | `revision`, `note?` | `{revision, rolled_back_to, config}` (a new revision with the old content) |
//!
//! Revision 0 (the default config) is never stored: it is not listed, but it
//! can be read and rolled back to like any other.
//!
//! Storage: table `revisions (revision PRIMARY KEY, config, at_ms, note)`.
//! Before history existed the object kept one row in a table `config`; it is
//! moved into `revisions` (with its revision number) the first time the
//! object starts, and the old table dropped, in one synchronous block (one
//! implicit transaction).

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate::time::{rfc3339, secs};
use tollgate::Config;
use worker::wasm_bindgen;
use worker::{durable_object, Date, DurableObject, Env, Request, Response, Result, State};

use super::respond;
use super::rows::{self, FromRow};
use crate::engine_cache::DEFAULT_CONFIG;
use crate::http::{self, ApiError, ApiResult};
use crate::internal::{self, ConfigCall};

#[durable_object(fetch)]
pub struct ConfigStore {
    state: State,
    /// `(revision, config JSON text)` of the current revision; revision -1:
    /// the stored config could not be read (nothing is served then).
    current: RefCell<(i64, String)>,
}

struct Row {
    revision: i64,
    config: String,
}

impl FromRow for Row {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(Row {
            revision: r.int(0)?,
            config: r.text(1)?,
        })
    }
}

/// One revision as the history lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevisionInfo {
    pub revision: i64,
    /// RFC 3339: when it was accepted.
    pub at: String,
    /// Bytes of its JSON text.
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

struct InfoRow {
    revision: i64,
    at_ms: i64,
    size: i64,
    note: Option<String>,
}

impl FromRow for InfoRow {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(InfoRow {
            revision: r.int(0)?,
            at_ms: r.int(1)?,
            size: r.int(2)?,
            note: r.opt_text(3)?,
        })
    }
}

impl InfoRow {
    fn info(self) -> RevisionInfo {
        RevisionInfo {
            revision: self.revision,
            at: rfc3339(secs(self.at_ms)),
            size: self.size,
            note: self.note,
        }
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS revisions (
    revision INTEGER PRIMARY KEY,
    config TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    note TEXT
)";

/// The single-row table of the objects made before history existed.
const OLD_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS config (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL,
    config TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
)";

/// Revisions listed per call at most (`limit`); default 100.
pub const MAX_LIST: u32 = 1000;
const DEFAULT_LIST: u32 = 100;

/// Moves the old single config into `revisions` (keeping its revision),
/// then reads the newest revision.
fn load(state: &State) -> Result<(i64, String)> {
    let sql = state.storage().sql();
    sql.exec(SCHEMA, None)?;
    sql.exec(OLD_SCHEMA, None)?;
    sql.exec(
        "INSERT OR IGNORE INTO revisions (revision, config, at_ms, note)
         SELECT revision, config, updated_ms, NULL FROM config WHERE id = 1",
        None,
    )?;
    sql.exec("DROP TABLE config", None)?;
    let rows: Vec<Row> = sql
        .exec(
            "SELECT revision, config FROM revisions ORDER BY revision DESC LIMIT 1",
            None,
        )
        .and_then(rows::read)?;
    Ok(match rows.into_iter().next() {
        Some(r) => (r.revision, r.config),
        None => (0, DEFAULT_CONFIG.to_string()),
    })
}

impl ConfigStore {
    fn answer(revision: i64, config: Option<&str>) -> ApiResult {
        let body = match config {
            Some(c) => format!("{{\"revision\":{revision},\"config\":{c}}}"),
            None => format!("{{\"revision\":{revision}}}"),
        };
        Ok(http::json_text(200, body)?)
    }

    fn readable(&self) -> std::result::Result<(), ApiError> {
        if self.current.borrow().0 < 0 {
            return Err(ApiError::internal("the stored config could not be read"));
        }
        Ok(())
    }

    /// A stored revision's text and info; revision 0 is the default config.
    fn revision(&self, n: i64) -> std::result::Result<(String, RevisionInfo), ApiError> {
        if n == 0 {
            return Ok((
                DEFAULT_CONFIG.to_string(),
                RevisionInfo {
                    revision: 0,
                    at: rfc3339(0),
                    size: DEFAULT_CONFIG.len() as i64,
                    note: Some("the built-in default config".into()),
                },
            ));
        }
        struct Full {
            revision: i64,
            config: String,
            at_ms: i64,
            note: Option<String>,
        }
        impl FromRow for Full {
            fn from_row(r: &rows::Row) -> Result<Self> {
                Ok(Full {
                    revision: r.int(0)?,
                    config: r.text(1)?,
                    at_ms: r.int(2)?,
                    note: r.opt_text(3)?,
                })
            }
        }
        let rows: Vec<Full> = self
            .state
            .storage()
            .sql()
            .exec(
                "SELECT revision, config, at_ms, note FROM revisions WHERE revision = ?",
                vec![n.into()],
            )
            .and_then(rows::read)
            .map_err(|e| {
                worker::console_error!("ConfigStore: reading revision {n}: {e}");
                ApiError::internal("could not read the revision")
            })?;
        let r = rows.into_iter().next().ok_or_else(|| {
            ApiError::new(404, "revision_unknown", format!("no config revision {n}"))
        })?;
        let info = RevisionInfo {
            revision: r.revision,
            at: rfc3339(secs(r.at_ms)),
            size: r.config.len() as i64,
            note: r.note,
        };
        Ok((r.config, info))
    }

    fn op_get(&self, call: &ConfigCall) -> ApiResult {
        self.readable()?;
        if let Some(n) = call.revision {
            let (text, info) = self.revision(n)?;
            let mut v = serde_json::to_value(&info)?;
            v["config"] = serde_json::from_str(&text)?;
            return Ok(http::json(200, &v)?);
        }
        let cur = self.current.borrow();
        if call.known_revision == Some(cur.0) {
            Self::answer(cur.0, None)
        } else {
            Self::answer(cur.0, Some(&cur.1))
        }
    }

    /// Validates `v` and stores it as the next revision.
    fn store(&self, v: &Value, note: Option<&str>) -> std::result::Result<i64, ApiError> {
        Config::from_value(v).map_err(|p| ApiError::bad_request("invalid config", p.0))?;
        let text = serde_json::to_string(v)?;
        self.readable()?;
        let mut cur = self.current.borrow_mut();
        let revision = cur.0 + 1;
        self.state
            .storage()
            .sql()
            .exec(
                "INSERT INTO revisions (revision, config, at_ms, note) VALUES (?, ?, ?, ?)",
                vec![
                    revision.into(),
                    text.clone().into(),
                    (Date::now().as_millis() as i64).into(),
                    note.map(str::to_string).into(),
                ],
            )
            .map_err(|e| {
                worker::console_error!("ConfigStore: write failed: {e}");
                ApiError::internal("could not store the config")
            })?;
        *cur = (revision, text);
        Ok(revision)
    }

    fn op_put(&self, call: &ConfigCall) -> ApiResult {
        let v = call.config.clone().unwrap_or(Value::Null);
        self.store(&v, call.note.as_deref())?;
        let cur = self.current.borrow();
        Self::answer(cur.0, Some(&cur.1))
    }

    fn op_revisions(&self, call: &ConfigCall) -> ApiResult {
        self.readable()?;
        let limit = call.limit.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST);
        // `before` absent: every revision (a bound of i64::MAX would not
        // cross into JS exactly).
        let (filter, mut args) = match call.before {
            Some(b) => ("WHERE revision < ?", vec![b.into()]),
            None => ("", Vec::new()),
        };
        args.push(i64::from(limit).into());
        let rows: Vec<InfoRow> = self
            .state
            .storage()
            .sql()
            .exec(
                &format!(
                    "SELECT revision, at_ms, length(CAST(config AS BLOB)) AS size, note
                     FROM revisions {filter} ORDER BY revision DESC LIMIT ?"
                ),
                args,
            )
            .and_then(rows::read)
            .map_err(|e| {
                worker::console_error!("ConfigStore: listing revisions: {e}");
                ApiError::internal("could not list the revisions")
            })?;
        let list: Vec<RevisionInfo> = rows.into_iter().map(InfoRow::info).collect();
        Ok(http::json(200, &serde_json::json!({ "revisions": list }))?)
    }

    fn op_rollback(&self, call: &ConfigCall) -> ApiResult {
        let n = call
            .revision
            .ok_or_else(|| ApiError::bad_field("revision", "required"))?;
        let (text, _) = self.revision(n)?;
        let v: Value = serde_json::from_str(&text)?;
        let note = call
            .note
            .clone()
            .unwrap_or_else(|| format!("rollback to revision {n}"));
        let revision = self.store(&v, Some(&note))?;
        let cur = self.current.borrow();
        Ok(http::json_text(
            200,
            format!(
                "{{\"revision\":{revision},\"rolled_back_to\":{n},\"config\":{}}}",
                cur.1
            ),
        )?)
    }

    async fn handle(&self, mut req: Request) -> ApiResult {
        let op = internal::op_of(&req);
        let call: ConfigCall = internal::read_call(&mut req)
            .await
            .map_err(|e| ApiError::bad_field("", format!("bad internal call: {e}")))?;
        match op.as_str() {
            "get" => self.op_get(&call),
            "put" => self.op_put(&call),
            "revisions" => self.op_revisions(&call),
            "rollback" => self.op_rollback(&call),
            _ => Err(ApiError::new(404, "not_found", "no such op")),
        }
    }
}

impl DurableObject for ConfigStore {
    fn new(state: State, _env: Env) -> Self {
        let current = load(&state).unwrap_or_else(|e| {
            // Never serve the default over a stored config we failed to read.
            worker::console_error!("ConfigStore: reading the config: {e}");
            (-1, String::new())
        });
        Self {
            state,
            current: RefCell::new(current),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        respond(self.handle(req).await)
    }
}
