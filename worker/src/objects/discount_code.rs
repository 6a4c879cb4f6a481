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
//! | `handovers` | one per redemption whose grant has not yet reached the user's books |
//!
//! The code row is cached in memory; a redemption reads only the caller's
//! row and writes only that row, the code row and its key. Builds before
//! this one kept everything — per-user counts and the last 256 keys — in
//! one JSON value in the table `discount`; [`load`] moves such a value into
//! rows the first time the object starts, losing no count.
//!
//! ## A code's grant: the hand-over (SPEC §9)
//!
//! A code may carry a grant; the code's counts live here, the user's books
//! in the user's `UserLedger`. A redemption must add the grant exactly once,
//! even when the request is retried or the runtime stops half-way:
//!
//! 1. The redemption (user row, code row, key) and a `handovers` row — the
//!    grant, under an id fixed by the redemption (`discount:<code>:<n>`) —
//!    are written in one synchronous turn, and the alarm is set in that same
//!    turn: from then on the grant is owed and written down.
//! 2. The object calls the user's `grant` op with that id. The user's books
//!    add a grant id once: a second delivery answers `created: false` and
//!    changes nothing.
//! 3. When the user's object answered, the row is deleted.
//!
//! A stop after 1 leaves the row: the alarm (or the object's first request
//! after a restart, which re-arms it, or a retry of the request with its
//! `Idempotency-Key`) delivers it. A stop after 2 leaves the row too: the
//! next delivery is a no-op in the user's books and deletes it. Failed
//! deliveries are retried with a doubling backoff (1 s … 10 min), forever:
//! the code's use was counted, so the grant is owed. Tests stop the runtime
//! at each step (`TOLLGATE_DEV_HALT`, honoured only with the dev clock on).

use std::cell::{Cell, RefCell};
use tollgate::strmap::StrMap;

use serde_json::Value;
use tollgate::discount::{DiscountRule, DiscountState, Handover, Redemption};
use tollgate::engine::{Engine, Options};
use tollgate::idem::KeyReused;
use tollgate::ledger::Ledger;
use tollgate::time::{rfc3339, secs};
use tollgate::Action;
use worker::wasm_bindgen;
use worker::{
    durable_object, js_sys, wasm_bindgen::JsValue, DurableObject, Env, Request, Response, Result,
    ScheduledTime, SqlStorage, State,
};

use super::rows::{self, FromRow};
use super::{decision_response, locale, respond};
use crate::answers::DiscountView;
use crate::engine_cache::EngineCache;
use crate::http::{self, ApiError, ApiResult};
use crate::internal::{self, DiscountCall, UserCall, UserOp};

/// How long an `Idempotency-Key` of a redemption answers the first answer
/// (the same 24 hours as a reserve's, SPEC §5).
pub const KEY_RETENTION_MS: i64 = 24 * 3600 * 1000;

/// The first retry of a hand-over that did not finish (then doubling).
const HANDOVER_FIRST_RETRY_MS: i64 = 1000;
/// Hand-over retries are at most this far apart.
const HANDOVER_MAX_RETRY_MS: i64 = 600_000;
/// Hand-overs delivered by one alarm (the rest by the next one, set at once).
const HANDOVERS_PER_ALARM: i64 = 50;

#[durable_object(alarm)]
pub struct DiscountCode {
    state: State,
    env: Env,
    engine: EngineCache,
    /// The code row (`by_user` always empty here). `Ok(None)`: no such code
    /// yet; `Err`: stored state unreadable (nothing is decided then).
    code: RefCell<std::result::Result<Option<DiscountState>, String>>,
    /// This instance looked for hand-overs left by an earlier one and armed
    /// the alarm for them.
    woken: Cell<bool>,
}

const SCHEMA: [&str; 6] = [
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
    // `at_ms`: the redemption's clock; `next_ms`: real unix ms of the next try.
    "CREATE TABLE IF NOT EXISTS handovers (
        grant_id TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        grant_json TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_ms INTEGER NOT NULL,
        last_error TEXT
    )",
    "CREATE INDEX IF NOT EXISTS handovers_next ON handovers (next_ms)",
];

struct CodeRow {
    code: String,
    rule: String,
    uses: i64,
}

impl FromRow for CodeRow {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(CodeRow {
            code: r.text(0)?,
            rule: r.text(1)?,
            uses: r.int(2)?,
        })
    }
}

struct UsesRow {
    uses: i64,
}

impl FromRow for UsesRow {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(UsesRow { uses: r.int(0)? })
    }
}

struct AnswerRow {
    answer: String,
}

impl FromRow for AnswerRow {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(AnswerRow { answer: r.text(0)? })
    }
}

struct CountRow {
    n: i64,
}

impl FromRow for CountRow {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(CountRow { n: r.int(0)? })
    }
}

/// A grant owed to a user (a `handovers` row): the grant as the user's
/// grant op reads it, under the id the redemption fixed.
struct Owed {
    grant_id: String,
    user: String,
    grant_json: String,
    /// The redemption's clock (unix ms).
    at_ms: i64,
    attempts: i64,
}

impl FromRow for Owed {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(Owed {
            grant_id: r.text(0)?,
            user: r.text(1)?,
            grant_json: r.text(2)?,
            at_ms: r.int(3)?,
            attempts: r.int(4)?,
        })
    }
}

impl Owed {
    /// What a redemption at `now_ms` owes, before its first delivery.
    fn new(h: Handover, now_ms: i64) -> Owed {
        Owed {
            grant_json: h.grant.to_string(),
            grant_id: h.grant_id,
            user: h.user,
            at_ms: now_ms,
            attempts: 0,
        }
    }
}

struct NextRow {
    next_ms: Option<i64>,
}

impl FromRow for NextRow {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(NextRow {
            next_ms: r.opt_int(0)?,
        })
    }
}

fn real_now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// Where tests stop the runtime ([`internal::dev_halt`]): `handover.recorded`
/// (after the redemption and its hand-over row are stored, before the
/// user's books are called) or `handover.applied` (after the user's books
/// took the grant, before the row is deleted).
fn halt_at(env: &Env, step: &str) -> std::result::Result<(), ApiError> {
    if internal::dev_halt(env, step) {
        return Err(ApiError::new(
            503,
            "halted",
            format!("TOLLGATE_DEV_HALT: stopped at {step}"),
        ));
    }
    Ok(())
}

struct LegacyRow {
    state: String,
    updated_ms: i64,
}

impl FromRow for LegacyRow {
    fn from_row(r: &rows::Row) -> Result<Self> {
        Ok(LegacyRow {
            state: r.text(0)?,
            updated_ms: r.int(1)?,
        })
    }
}

/// A code as builds before per-user rows stored it: one JSON value in the
/// table `discount` (row `id = 1`), e.g.
/// `{"code":"X","rule":{…},"uses":3,"by_user":{"u1":2,"u2":1},"idem":[["k","u1",{…}]]}`.
/// A fixture of such a row, written by that build, is in
/// `tests/fixtures/discount-code-v1.json`.
#[derive(Debug)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct LegacyState {
    pub code: String,
    pub rule: DiscountRule,
    pub uses: u64,
    pub by_user: StrMap<u64>,
    #[cfg_attr(test, serde(default))]
    pub idem: Vec<(String, String, Redemption)>,
}

impl LegacyState {
    /// Reads the stored value as serde's derive read it (the derive is the
    /// tests' reference), with the core's stored-form readers for the rule
    /// and the answers: no derived reader in the `.wasm` (issue 9).
    fn from_text(text: &str) -> std::result::Result<LegacyState, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let bad = |what: &str| format!("{what}: missing or of the wrong kind");
        let code = v
            .get("code")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("code"))?;
        let rule = DiscountRule::from_stored(v.get("rule").unwrap_or(&Value::Null))
            .map_err(|p| format!("rule: {p}"))?;
        let uses = v
            .get("uses")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("uses"))?;
        let by_user = v
            .get("by_user")
            .and_then(Value::as_object)
            .and_then(|m| {
                let mut by_user = StrMap::new();
                for (k, n) in m {
                    by_user.insert(k.clone(), n.as_u64()?);
                }
                Some(by_user)
            })
            .ok_or_else(|| bad("by_user"))?;
        let idem = match v.get("idem") {
            None => Vec::new(),
            Some(list) => list
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|e| match e.as_array()?.as_slice() {
                            [k, u, r] => Some((
                                k.as_str()?.to_string(),
                                u.as_str()?.to_string(),
                                Redemption::from_stored(r).ok()?,
                            )),
                            _ => None,
                        })
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| bad("idem"))?,
        };
        Ok(LegacyState {
            code: code.to_string(),
            rule,
            uses,
            by_user,
            idem,
        })
    }
}

/// A key's stored first answer, read back. A key that was used but whose
/// answer no longer reads (another version wrote it, or storage damaged it)
/// is refused (422), never taken as a new redemption: that would count a
/// use, and hand over a grant, a second time.
fn replayed(answer: Option<&str>) -> std::result::Result<Option<Redemption>, ApiError> {
    let Some(text) = answer else {
        return Ok(None);
    };
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| Redemption::from_stored(&v).ok())
        .map(Some)
        .ok_or_else(|| ApiError::new(KeyReused::STATUS, KeyReused::CODE, KeyReused::MESSAGE))
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
        .and_then(rows::read)
        .map_err(sql_err("reading the code"))?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let rule = serde_json::from_str::<Value>(&row.rule)
        .map_err(|e| e.to_string())
        .and_then(|v| DiscountRule::from_stored(&v).map_err(|p| p.to_string()))
        .map_err(|e| format!("stored rule unreadable: {e}"))?;
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
        .and_then(rows::read)
        .map_err(sql_err("looking for an earlier code"))?;
    if exists.first().is_none_or(|r| r.n == 0) {
        return Ok(());
    }
    let rows: Vec<LegacyRow> = sql
        .exec("SELECT state, updated_ms FROM discount WHERE id = 1", None)
        .and_then(rows::read)
        .map_err(sql_err("reading the earlier code"))?;
    if let Some(row) = rows.into_iter().next() {
        let old = LegacyState::from_text(&row.state)
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
            .and_then(rows::read)
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
            .and_then(rows::read)
            .map_err(read_failed)?;
        replayed(rows.first().map(|r| r.answer.as_str()))
    }

    fn users(&self) -> std::result::Result<usize, ApiError> {
        let rows: Vec<CountRow> = self
            .sql()
            .exec("SELECT COUNT(*) AS n FROM redeemers", None)
            .and_then(rows::read)
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
            grant: s.rule.grant.clone(),
            uses: s.uses,
            users: self.users()?,
            handovers_pending: self.pending_handovers()?,
        })
    }

    /// Writes one allowed redemption: the user's row, the code's total and
    /// the key, with no `await` between them (one implicit transaction).
    ///
    /// A code's grant is written down in the same turn (`handovers`): the
    /// grant is owed from the moment the use is counted.
    fn store_redemption(
        &self,
        user: &str,
        r: &Redemption,
        key: Option<&str>,
        owed: Option<&Owed>,
        now_ms: i64,
    ) -> Result<()> {
        let sql = self.sql();
        if let Some(o) = owed {
            sql.exec(
                "INSERT OR IGNORE INTO handovers (grant_id, user, grant_json, at_ms, next_ms)
                 VALUES (?, ?, ?, ?, ?)",
                vec![
                    o.grant_id.as_str().into(),
                    o.user.as_str().into(),
                    o.grant_json.as_str().into(),
                    o.at_ms.into(),
                    (real_now_ms() + HANDOVER_FIRST_RETRY_MS).into(),
                ],
            )?;
        }
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

    /// Redeems (or answers a retried key's first answer). Returns the answer
    /// and the hand-over still owed for it, which [`Self::handle`] delivers
    /// before answering (no `await` here: read–judge–write is atomic).
    fn op_redeem(
        &self,
        engine: &Engine,
        call: &DiscountCall,
    ) -> std::result::Result<(Response, Option<Owed>), ApiError> {
        let mut cell = self.code.borrow_mut();
        let current = cell
            .as_mut()
            .map_err(|_| ApiError::internal("this code's stored state is unreadable"))?;
        let Some(s) = current.as_mut() else {
            let d = self.denial(engine, None, call);
            return Ok((decision_response(d, call.explain, &[], call.now_ms)?, None));
        };
        let key = call.idempotency_key.as_deref();
        if let Some(k) = key {
            if let Some(first) = self.remembered(&call.user, k, call.now_ms)? {
                // A retry also finishes a hand-over the first try left owed.
                let owed = match &first.grant_id {
                    Some(id) => self.owed(id)?,
                    None => None,
                };
                return Ok((http::json(200, &first)?, owed));
            }
        }
        let mut mine = self.for_user(s, &call.user)?;
        let now = secs(call.now_ms);
        match mine.redeem(&call.user, call.subscription.as_ref(), now) {
            Ok(r) => {
                let owed = mine
                    .handover(&call.user, &r, now)
                    .map(|h| Owed::new(h, call.now_ms));
                if let Err(e) =
                    self.store_redemption(&call.user, &r, key, owed.as_ref(), call.now_ms)
                {
                    // Memory never gets ahead of storage.
                    *cell = load(&self.state);
                    return Err(write_failed(e));
                }
                s.uses = r.uses;
                Ok((http::json(200, &r)?, owed))
            }
            Err(_) => {
                let d = self.denial(engine, Some(&mine), call);
                Ok((decision_response(d, call.explain, &[], call.now_ms)?, None))
            }
        }
    }

    // ------------------------------------------------------------ hand-overs

    /// The hand-over of grant `id`, if still owed.
    fn owed(&self, id: &str) -> std::result::Result<Option<Owed>, ApiError> {
        let rows: Vec<Owed> = self
            .sql()
            .exec(
                "SELECT grant_id, user, grant_json, at_ms, attempts FROM handovers WHERE grant_id = ?",
                vec![id.into()],
            )
            .and_then(rows::read)
            .map_err(read_failed)?;
        Ok(rows.into_iter().next())
    }

    fn pending_handovers(&self) -> std::result::Result<u64, ApiError> {
        let rows: Vec<CountRow> = self
            .sql()
            .exec("SELECT COUNT(*) AS n FROM handovers", None)
            .and_then(rows::read)
            .map_err(read_failed)?;
        Ok(rows.first().map_or(0, |r| r.n.max(0) as u64))
    }

    /// Sets the alarm to the next hand-over's try (none owed: nothing).
    /// Called in the same turn as the write that owes one, so the write and
    /// the alarm stand or fall together.
    async fn arm(&self) -> Result<()> {
        let rows: Vec<NextRow> = self
            .sql()
            .exec("SELECT MIN(next_ms) AS next_ms FROM handovers", None)
            .and_then(rows::read)?;
        let Some(next) = rows.first().and_then(|r| r.next_ms) else {
            return Ok(());
        };
        let at = js_sys::Date::new(&JsValue::from_f64(next as f64));
        self.state.storage().set_alarm(ScheduledTime::new(at)).await
    }

    /// Delivers one hand-over to the user's books and deletes the row once
    /// they hold the grant. A failed delivery (a row that does not read
    /// included) is noted and tried again later with a doubling wait; only
    /// a test halt is an error.
    async fn deliver(&self, owed: &Owed) -> std::result::Result<(), ApiError> {
        halt_at(&self.env, "handover.recorded")?;
        let failure = match serde_json::from_str::<Value>(&owed.grant_json) {
            Err(e) => Some(format!("stored grant unreadable: {e}")),
            Ok(grant) => {
                let call = UserCall {
                    // The user's clock never runs behind the redemption's.
                    now_ms: owed.at_ms.max(real_now_ms()),
                    user: owed.user.clone(),
                    grant: Some(grant),
                    ..UserCall::default()
                };
                match internal::user(&self.env, UserOp::Grant, call).await {
                    Ok(reply) if matches!(reply.status, 200 | 201) => None,
                    Ok(reply) => Some(format!("{}: {}", reply.status, reply.body)),
                    Err(e) => Some(e.to_string()),
                }
            }
        };
        let sql = self.sql();
        let id = owed.grant_id.as_str();
        match failure {
            None => {
                halt_at(&self.env, "handover.applied")?;
                sql.exec("DELETE FROM handovers WHERE grant_id = ?", vec![id.into()])
            }
            Some(why) => {
                worker::console_error!("DiscountCode: hand-over of {id} failed: {why}");
                let wait = HANDOVER_FIRST_RETRY_MS
                    .saturating_mul(1i64 << owed.attempts.clamp(0, 20))
                    .min(HANDOVER_MAX_RETRY_MS);
                sql.exec(
                    "UPDATE handovers SET attempts = attempts + 1, next_ms = ?, last_error = ?
                     WHERE grant_id = ?",
                    vec![(real_now_ms() + wait).into(), why.into(), id.into()],
                )
            }
        }
        .map(|_| ())
        .map_err(write_failed)
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
        if !self.woken.replace(true) {
            // Hand-overs an earlier instance left owed (the runtime may have
            // stopped before its alarm ran): arm the alarm for them.
            self.arm().await.map_err(read_failed)?;
        }
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
                    let (answer, owed) = self.op_redeem(&engine, &call)?;
                    if let Some(o) = owed {
                        // The alarm first, in the turn of the write.
                        self.arm().await.map_err(write_failed)?;
                        // A failed delivery is the alarm's to finish: the
                        // redemption itself stands.
                        self.deliver(&o).await?;
                    }
                    Ok(answer)
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
            woken: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        respond(self.handle(req).await)
    }

    /// Delivers the hand-overs due, then sets the alarm for the rest.
    async fn alarm(&self) -> Result<Response> {
        self.woken.set(true);
        let rows: Vec<Owed> = self
            .sql()
            .exec(
                "SELECT grant_id, user, grant_json, at_ms, attempts FROM handovers
                 WHERE next_ms <= ? ORDER BY next_ms LIMIT ?",
                vec![real_now_ms().into(), HANDOVERS_PER_ALARM.into()],
            )
            .and_then(rows::read)?;
        let mut halted = None;
        for owed in &rows {
            if let Err(e) = self.deliver(owed).await {
                halted = Some(e);
                break;
            }
        }
        self.arm().await?;
        match halted {
            Some(e) => Err(worker::Error::RustError(e.message)),
            None => Response::ok(""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attack: a retried redemption whose stored first answer no longer
    /// reads must be refused, not redeemed again (a second use counted, a
    /// second grant handed over).
    #[test]
    fn a_key_whose_stored_answer_does_not_read_never_redeems_again() {
        assert!(replayed(None).unwrap().is_none());
        let first = Redemption {
            redeemed: true,
            code: "NOWRUZ".into(),
            uses: 3,
            uses_by_user: 1,
            grant_id: Some("discount:NOWRUZ:3".into()),
        };
        let text = serde_json::to_string(&first).unwrap();
        assert_eq!(replayed(Some(&text)).unwrap(), Some(first));
        for answer in [
            "",
            "{",
            r#"{"redeemed":true}"#,
            r#"{"redeemed":true,"code":"X","uses":-1,"uses_by_user":0}"#,
        ] {
            let e = replayed(Some(answer)).expect_err(answer);
            assert_eq!(
                (e.status, e.code),
                (KeyReused::STATUS, KeyReused::CODE),
                "{answer:?}"
            );
        }
    }

    /// A code as the build before per-user rows stored it (captured from
    /// that build under workerd): it still reads, every count included.
    #[test]
    fn the_earlier_stored_shape_reads() {
        let text = include_str!("../../../tests/fixtures/discount-code-v1.json");
        let fixture: Value = serde_json::from_str(text).unwrap();
        let state = fixture["row"]["state"].as_str().unwrap();
        let old = LegacyState::from_text(state).unwrap();
        // Read as the derive reads it.
        let derived: LegacyState = serde_json::from_str(state).unwrap();
        assert_eq!(format!("{old:?}"), format!("{derived:?}"));
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
