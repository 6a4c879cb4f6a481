//! `ConfigStore`: a single object (name `"global"`) holding `{revision,
//! config}` in SQLite. Empty, it serves the embedded default config
//! (`worker/default-config.json`) at revision 0. Every accepted `put` raises
//! the revision by one. The user and discount objects poll `get` with the
//! revision they have (at most every `TOLLGATE_CONFIG_TTL_MS`) and receive the
//! config only when it changed.

use std::cell::RefCell;

use serde::Deserialize;
use serde_json::Value;
use tollgate::Config;
use worker::wasm_bindgen;
use worker::{durable_object, Date, DurableObject, Env, Request, Response, Result, State};

use super::respond;
use crate::engine_cache::DEFAULT_CONFIG;
use crate::http::{self, ApiError, ApiResult};
use crate::internal::{self, ConfigCall};

#[durable_object(fetch)]
pub struct ConfigStore {
    state: State,
    /// `(revision, config JSON text)`.
    current: RefCell<(i64, String)>,
}

#[derive(Deserialize)]
struct Row {
    revision: i64,
    config: String,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS config (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL,
    config TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
)";

fn load(state: &State) -> (i64, String) {
    let sql = state.storage().sql();
    let rows: Result<Vec<Row>> = sql.exec(SCHEMA, None).and_then(|_| {
        sql.exec("SELECT revision, config FROM config WHERE id = 1", None)?
            .to_array()
    });
    match rows {
        Ok(rows) => match rows.into_iter().next() {
            Some(r) => (r.revision, r.config),
            None => (0, DEFAULT_CONFIG.to_string()),
        },
        Err(e) => {
            // Never serve the default over a stored config we failed to read.
            worker::console_error!("ConfigStore: reading the config: {e}");
            (-1, String::new())
        }
    }
}

impl ConfigStore {
    fn answer(revision: i64, config: Option<&str>) -> ApiResult {
        let body = match config {
            Some(c) => format!("{{\"revision\":{revision},\"config\":{c}}}"),
            None => format!("{{\"revision\":{revision}}}"),
        };
        Ok(http::json_text(200, body)?)
    }

    fn op_get(&self, call: &ConfigCall) -> ApiResult {
        let cur = self.current.borrow();
        if cur.0 < 0 {
            return Err(ApiError::internal("the stored config could not be read"));
        }
        if call.known_revision == Some(cur.0) {
            Self::answer(cur.0, None)
        } else {
            Self::answer(cur.0, Some(&cur.1))
        }
    }

    fn op_put(&self, call: &ConfigCall) -> ApiResult {
        let v = call.config.clone().unwrap_or(Value::Null);
        Config::from_value(&v).map_err(|p| ApiError::bad_request("invalid config", p.0))?;
        let text = serde_json::to_string(&v)?;
        let mut cur = self.current.borrow_mut();
        if cur.0 < 0 {
            return Err(ApiError::internal("the stored config could not be read"));
        }
        let revision = cur.0 + 1;
        self.state
            .storage()
            .sql()
            .exec(
                "INSERT INTO config (id, revision, config, updated_ms) VALUES (1, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET revision = excluded.revision,
                   config = excluded.config, updated_ms = excluded.updated_ms",
                vec![
                    revision.into(),
                    text.clone().into(),
                    (Date::now().as_millis() as i64).into(),
                ],
            )
            .map_err(|e| {
                worker::console_error!("ConfigStore: write failed: {e}");
                ApiError::internal("could not store the config")
            })?;
        *cur = (revision, text);
        Self::answer(cur.0, Some(&cur.1))
    }

    async fn handle(&self, mut req: Request) -> ApiResult {
        let op = internal::op_of(&req);
        let call: ConfigCall = internal::read_call(&mut req)
            .await
            .map_err(|e| ApiError::bad_field("", format!("bad internal call: {e}")))?;
        match op.as_str() {
            "get" => self.op_get(&call),
            "put" => self.op_put(&call),
            _ => Err(ApiError::new(404, "not_found", "no such op")),
        }
    }
}

impl DurableObject for ConfigStore {
    fn new(state: State, _env: Env) -> Self {
        let current = load(&state);
        Self {
            state,
            current: RefCell::new(current),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        respond(self.handle(req).await)
    }
}
