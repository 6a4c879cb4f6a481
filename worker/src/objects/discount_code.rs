//! `DiscountCode`: one per code (`idFromName(code)`), never a global object.
//! Redemptions of one code are serialised here, so its total and per-user
//! caps hold under any concurrency (read–judge–write has no `await`).
//!
//! Storage (SQLite), so that a code redeemed by a million users works like
//! one redeemed by ten (SPEC §5; issue 8, item 8):
//!
//! | table | rows |
//! |---|---|
//! | `code` | one: the code, its rule (JSON), its total `uses` |
//! | `redeemers` | one per user who redeemed: `(user, uses)` |
//! | `redeem_keys` | one per `Idempotency-Key` of an allowed redemption, kept [`KEY_RETENTION_MS`] |
//!
//! The code row is cached in memory; a redemption reads only the caller's
//! row and writes only that row, the code row and its key. Builds before
//! this one kept everything — per-user counts and the last 256 keys — in
//! one JSON value in the table `discount`; [`load`] moves such a value into
//! rows the first time the object starts, losing no count.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use tollgate::discount::{DiscountRule, DiscountState, Redemption};
use tollgate::engine::{Engine, Options};
use tollgate::ledger::Ledger;
use tollgate::time::{rfc3339, secs};
use tollgate::Action;
use worker::wasm_bindgen;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, State};

use super::{decision_response, locale, respond};
use crate::answers::DiscountView;
use crate::engine_cache::EngineCache;
use crate::http::{self, ApiError, ApiResult};
use crate::internal::{self, DiscountCall};

/// How long an `Idempotency-Key` of a redemption answers the first answer
/// (the same 24 hours as a reserve's, SPEC §5).
pub const KEY_RETENTION_MS: i64 = 24 * 3600 * 1000;

#[durable_object(fetch)]
pub struct DiscountCode {
    state: State,
    env: Env,
    engine: EngineCache,
    /// The code row (`by_user` always empty here). `Ok(None)`: no such code
    /// yet; `Err`: stored state unreadable (nothing is decided then).
    code: RefCell<std::result::Result<Option<DiscountState>, String>>,
}

const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS code (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        code TEXT NOT NULL,
        rule TEXT NOT NULL,
        uses INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS redeemers (user TEXT PRIMARY KEY, uses INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS redeem_keys (
        user TEXT NOT NULL,
        key TEXT NOT NULL,
        answer TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (user, key)
    )",
    "CREATE INDEX IF NOT EXISTS redeem_keys_at ON redeem_keys (at_ms)",
];

#[derive(Deserialize)]
struct CodeRow {
    code: String,
    rule: String,
    uses: i64,
}

#[derive(Deserialize)]
struct UsesRow {
    uses: i64,
}

#[derive(Deserialize)]
struct AnswerRow {
    answer: String,
}

#[derive(Deserialize)]
struct CountRow {
    n: i64,
}

#[derive(Deserialize)]
struct LegacyRow {
    state: String,
    updated_ms: i64,
}

/// A code as builds before per-user rows stored it: one JSON value in the
/// table `discount` (row `id = 1`), e.g.
/// `{"code":"X","rule":{…},"uses":3,"by_user":{"u1":2,"u2":1},"idem":[["k","u1",{…}]]}`.
/// A fixture of such a row, written by that build, is in
/// `tests/fixtures/discount-code-v1.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct LegacyState {
    pub code: String,
    pub rule: DiscountRule,
    pub uses: u64,
    pub by_user: BTreeMap<String, u64>,
    #[serde(default)]
    pub idem: Vec<(String, String, Redemption)>,
}

fn sql_err(what: &str) -> impl Fn(worker::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Reads the code row, creating the tables first and moving a code stored
/// by an earlier build into rows.
fn load(state: &State) -> std::result::Result<Option<DiscountState>, String> {
    let sql = state.storage().sql();
    for stmt in SCHEMA {
        sql.exec(stmt, None)
            .map_err(sql_err("creating the tables"))?;
    }
    if let Some(s) = read_code(&sql)? {
        return Ok(Some(s));
    }
    migrate_legacy(&sql)?;
    read_code(&sql)
}

fn read_code(sql: &SqlStorage) -> std::result::Result<Option<DiscountState>, String> {
    let rows: Vec<CodeRow> = sql
        .exec("SELECT code, rule, uses FROM code WHERE id = 1", None)
        .and_then(|c| c.to_array())
        .map_err(sql_err("reading the code"))?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let rule: DiscountRule =
        serde_json::from_str(&row.rule).map_err(|e| format!("stored rule unreadable: {e}"))?;
    Ok(Some(DiscountState {
        uses: u64::try_from(row.uses).map_err(|_| "stored uses negative".to_string())?,
        ..DiscountState::new(&row.code, rule)
    }))
}

/// Moves a code stored as one JSON value (earlier builds) into rows. The old
/// table is dropped only after every row is written; the code row is written
/// last, so an interrupted move is simply done again (every write here is an
/// upsert) the next time the object starts.
fn migrate_legacy(sql: &SqlStorage) -> std::result::Result<(), String> {
    let exists: Vec<CountRow> = sql
        .exec(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'discount'",
            None,
        )
        .and_then(|c| c.to_array())
        .map_err(sql_err("looking for an earlier code"))?;
    if exists.first().is_none_or(|r| r.n == 0) {
        return Ok(());
    }
    let rows: Vec<LegacyRow> = sql
        .exec("SELECT state, updated_ms FROM discount WHERE id = 1", None)
        .and_then(|c| c.to_array())
        .map_err(sql_err("reading the earlier code"))?;
    if let Some(row) = rows.into_iter().next() {
        let old: LegacyState = serde_json::from_str(&row.state)
            .map_err(|e| format!("earlier stored code unreadable: {e}"))?;
        let moved_ms = worker::Date::now().as_millis() as i64;
        write_legacy(sql, &old, row.updated_ms, moved_ms)
            .map_err(sql_err("moving the code into rows"))?;
    }
    sql.exec("DROP TABLE discount", None)
        .map_err(sql_err("dropping the earlier table"))?;
    Ok(())
}

/// `updated_ms` is the old row's; the old keys had no time, so they count
/// from `moved_ms` (they answer for [`KEY_RETENTION_MS`] after the move).
fn write_legacy(sql: &SqlStorage, old: &LegacyState, updated_ms: i64, moved_ms: i64) -> Result<()> {
    for (user, uses) in &old.by_user {
        sql.exec(
            "INSERT INTO redeemers (user, uses) VALUES (?, ?)
             ON CONFLICT (user) DO UPDATE SET uses = excluded.uses",
            vec![user.as_str().into(), (*uses as i64).into()],
        )?;
    }
    for (key, user, answer) in &old.idem {
        sql.exec(
            "INSERT OR REPLACE INTO redeem_keys (user, key, answer, at_ms) VALUES (?, ?, ?, ?)",
            vec![
                user.as_str().into(),
                key.as_str().into(),
                serde_json::to_string(answer)?.into(),
                moved_ms.into(),
            ],
        )?;
    }
    let rule = serde_json::to_string(&old.rule)?;
    sql.exec(
        "INSERT OR REPLACE INTO code (id, code, rule, uses, updated_ms) VALUES (1, ?, ?, ?, ?)",
        vec![
            old.code.as_str().into(),
            rule.into(),
            (old.uses as i64).into(),
            updated_ms.into(),
        ],
    )?;
    Ok(())
}

fn write_failed(e: worker::Error) -> ApiError {
    worker::console_error!("DiscountCode: write failed: {e}");
    ApiError::internal("could not store the code")
}

fn read_failed(e: worker::Error) -> ApiError {
    worker::console_error!("DiscountCode: read failed: {e}");
    ApiError::internal("could not read the code")
}

impl DiscountCode {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// How often `user` redeemed the code (their row; none: 0).
    fn uses_by(&self, user: &str) -> std::result::Result<u64, ApiError> {
        let rows: Vec<UsesRow> = self
            .sql()
            .exec(
                "SELECT uses FROM redeemers WHERE user = ?",
                vec![user.into()],
            )
            .and_then(|c| c.to_array())
            .map_err(read_failed)?;
        Ok(rows.first().map_or(0, |r| r.uses.max(0) as u64))
    }

    /// The code as a decision about `user` needs it: the code row and the
    /// user's count.
    fn for_user(
        &self,
        s: &DiscountState,
        user: &str,
    ) -> std::result::Result<DiscountState, ApiError> {
        let mut v = s.clone();
        v.by_user.insert(user.to_string(), self.uses_by(user)?);
        Ok(v)
    }

    /// The first answer to `key` from `user`, within [`KEY_RETENTION_MS`].
    fn remembered(
        &self,
        user: &str,
        key: &str,
        now_ms: i64,
    ) -> std::result::Result<Option<Redemption>, ApiError> {
        let rows: Vec<AnswerRow> = self
            .sql()
            .exec(
                "SELECT answer FROM redeem_keys WHERE user = ? AND key = ? AND at_ms > ?",
                vec![user.into(), key.into(), (now_ms - KEY_RETENTION_MS).into()],
            )
            .and_then(|c| c.to_array())
            .map_err(read_failed)?;
        Ok(rows
            .first()
            .and_then(|r| serde_json::from_str(&r.answer).ok()))
    }

    fn users(&self) -> std::result::Result<usize, ApiError> {
        let rows: Vec<CountRow> = self
            .sql()
            .exec("SELECT COUNT(*) AS n FROM redeemers", None)
            .and_then(|c| c.to_array())
            .map_err(read_failed)?;
        Ok(rows.first().map_or(0, |r| r.n.max(0) as usize))
    }

    /// The public view of a code.
    fn view(&self, s: &DiscountState) -> std::result::Result<DiscountView, ApiError> {
        Ok(DiscountView {
            code: s.code.clone(),
            max_uses: s.rule.max_uses,
            max_uses_per_user: s.rule.max_uses_per_user,
            expires_at: s.rule.expires_at.map(rfc3339),
            plans: s.rule.plans.clone(),
            uses: s.uses,
            users: self.users()?,
        })
    }

    /// Writes one allowed redemption: the user's row, the code's total and
    /// the key, with no `await` between them (one implicit transaction).
    fn store_redemption(
        &self,
        user: &str,
        r: &Redemption,
        key: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        let sql = self.sql();
        sql.exec(
            "INSERT INTO redeemers (user, uses) VALUES (?, ?)
             ON CONFLICT (user) DO UPDATE SET uses = excluded.uses",
            vec![user.into(), (r.uses_by_user as i64).into()],
        )?;
        sql.exec(
            "UPDATE code SET uses = ?, updated_ms = ? WHERE id = 1",
            vec![(r.uses as i64).into(), now_ms.into()],
        )?;
        if let Some(k) = key {
            sql.exec(
                "DELETE FROM redeem_keys WHERE at_ms <= ?",
                vec![(now_ms - KEY_RETENTION_MS).into()],
            )?;
            sql.exec(
                "INSERT OR REPLACE INTO redeem_keys (user, key, answer, at_ms) VALUES (?, ?, ?, ?)",
                vec![
                    user.into(),
                    k.into(),
                    serde_json::to_string(r)?.into(),
                    now_ms.into(),
                ],
            )?;
        }
        Ok(())
    }

    /// The denial decision for `call`'s user on this code as it stands.
    fn denial(
        &self,
        engine: &Engine,
        state: Option<&DiscountState>,
        call: &DiscountCall,
    ) -> tollgate::Decision {
        engine.check(
            &Ledger::default(),
            call.subscription.as_ref(),
            &Action::Discount {
                code: call.code.clone(),
            },
            call.now_ms,
            &Options {
                explain: call.explain,
                locale: locale(call.locale.as_deref()),
                discount: state,
                user: Some(&call.user),
                ..Options::default()
            },
        )
    }

    fn op_put(&self, call: &DiscountCall) -> ApiResult {
        let rule = DiscountRule::from_value(call.rule.as_ref().unwrap_or(&Value::Null))
            .map_err(|p| ApiError::bad_request("invalid discount rule", p.0))?;
        let mut cell = self.code.borrow_mut();
        let existing = match cell.as_ref() {
            Err(_) => return Err(ApiError::internal("this code's stored state is unreadable")),
            Ok(o) => o.clone(),
        };
        let created = existing.is_none();
        let s = match existing {
            Some(mut s) => {
                s.rule = rule;
                s
            }
            None => DiscountState::new(&call.code, rule),
        };
        // Stored first; memory follows only a successful write.
        self.sql()
            .exec(
                "INSERT INTO code (id, code, rule, uses, updated_ms) VALUES (1, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET rule = excluded.rule,
                   updated_ms = excluded.updated_ms",
                vec![
                    s.code.as_str().into(),
                    serde_json::to_string(&s.rule)?.into(),
                    (s.uses as i64).into(),
                    call.now_ms.into(),
                ],
            )
            .map_err(write_failed)?;
        let body = self.view(&s)?;
        *cell = Ok(Some(s));
        Ok(http::json(if created { 201 } else { 200 }, &body)?)
    }

    fn op_get(&self) -> ApiResult {
        let cell = self.code.borrow();
        match cell.as_ref() {
            Err(_) => Err(ApiError::internal("this code's stored state is unreadable")),
            Ok(None) => Err(ApiError::new(404, "discount_unknown", "no such code")),
            Ok(Some(s)) => Ok(http::json(200, &self.view(s)?)?),
        }
    }

    fn op_redeem(&self, engine: &Engine, call: &DiscountCall) -> ApiResult {
        let mut cell = self.code.borrow_mut();
        let current = cell
            .as_mut()
            .map_err(|_| ApiError::internal("this code's stored state is unreadable"))?;
        let Some(s) = current.as_mut() else {
            let d = self.denial(engine, None, call);
            return decision_response(d, call.explain, &[], call.now_ms);
        };
        let key = call.idempotency_key.as_deref();
        if let Some(k) = key {
            if let Some(first) = self.remembered(&call.user, k, call.now_ms)? {
                return Ok(http::json(200, &first)?);
            }
        }
        let mut mine = self.for_user(s, &call.user)?;
        match mine.redeem(&call.user, call.subscription.as_ref(), secs(call.now_ms)) {
            Ok(r) => {
                if let Err(e) = self.store_redemption(&call.user, &r, key, call.now_ms) {
                    // Memory never gets ahead of storage.
                    *cell = load(&self.state);
                    return Err(write_failed(e));
                }
                s.uses = r.uses;
                Ok(http::json(200, &r)?)
            }
            Err(_) => {
                let d = self.denial(engine, Some(&mine), call);
                decision_response(d, call.explain, &[], call.now_ms)
            }
        }
    }

    fn op_check(&self, engine: &Engine, call: &DiscountCall) -> ApiResult {
        let cell = self.code.borrow();
        let state = cell
            .as_ref()
            .map_err(|_| ApiError::internal("this code's stored state is unreadable"))?;
        let mine = match state {
            Some(s) => Some(self.for_user(s, &call.user)?),
            None => None,
        };
        let d = self.denial(engine, mine.as_ref(), call);
        let limits = d.limits.clone();
        decision_response(d, call.explain, &limits, call.now_ms)
    }

    async fn handle(&self, mut req: Request) -> ApiResult {
        let op = internal::op_of(&req);
        let call: DiscountCall = internal::read_call(&mut req)
            .await
            .map_err(|e| ApiError::bad_field("", format!("bad internal call: {e}")))?;
        match op.as_str() {
            "put" => self.op_put(&call),
            "get" => self.op_get(),
            "redeem" | "check" => {
                // The engine (messages, locale) before the state is touched.
                let (engine, _) = self.engine.get(&self.env).await?;
                if op == "redeem" {
                    self.op_redeem(&engine, &call)
                } else {
                    self.op_check(&engine, &call)
                }
            }
            _ => Err(ApiError::new(404, "not_found", "no such op")),
        }
    }
}

impl DurableObject for DiscountCode {
    fn new(state: State, env: Env) -> Self {
        let code = load(&state);
        if let Err(e) = &code {
            worker::console_error!("DiscountCode: {e}");
        }
        Self {
            state,
            env,
            engine: EngineCache::default(),
            code: RefCell::new(code),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        respond(self.handle(req).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A code as the build before per-user rows stored it (captured from
    /// that build under workerd): it still reads, every count included.
    #[test]
    fn the_earlier_stored_shape_reads() {
        let text = include_str!("../../../tests/fixtures/discount-code-v1.json");
        let fixture: Value = serde_json::from_str(text).unwrap();
        let old: LegacyState =
            serde_json::from_str(fixture["row"]["state"].as_str().unwrap()).unwrap();
        let want = &fixture["expect"];
        assert_eq!(old.code, want["code"].as_str().unwrap());
        assert_eq!(old.uses, want["uses"].as_u64().unwrap());
        assert_eq!(serde_json::to_value(&old.by_user).unwrap(), want["by_user"]);
        let keys: Vec<(&str, &str)> = old
            .idem
            .iter()
            .map(|(k, u, _)| (k.as_str(), u.as_str()))
            .collect();
        assert_eq!(
            keys,
            [("key-a1", "alice"), ("key-a2", "alice"), ("key-b1", "bob")]
        );
        assert_eq!(old.rule.max_uses_per_user, Some(2));
    }
}
