//! `UserLedger`: one per user (`idFromName(sub)`), the authoritative books.
//!
//! * The ledger is read from SQLite once (in the constructor: the SQL API is
//!   synchronous) and kept in memory.
//! * Each request first gets the engine (the only `await`: the config may be
//!   fetched from the `ConfigStore`), then reads the ledger, runs
//!   `Engine::maintain`, decides and writes the ledger's JSON back to its
//!   SQLite row — with no `await` in between, so a reserve is atomic across
//!   every limit whatever the concurrency, and the answer leaves only after
//!   the write (the runtime's output gate holds it until the write is durable).
//! * Storage: the books' main document (counters, open holds) in one row of
//!   `books`; closed holds and idempotency keys in rows of their own
//!   (`closed_holds`, `idem_keys`), kept a day whatever their number, so a
//!   late commit or a retried key is never pushed out by other activity and
//!   the row written on every request stays small. All rows of a change are
//!   written in the same synchronous turn (one implicit transaction).
//! * After every change the alarm is set to the next hold expiry or the next
//!   row due to be forgotten (`Ledger::next_wakeup`); `alarm()` runs
//!   `maintain`, persists and re-arms.
//! * The last subscription a user's token carried is kept for the admin explain.
//! * Events (SPEC §10): every change's events (`tollgate::events::raise`, from
//!   the books before and after it) are written as rows of the `outbox` table
//!   in the same synchronous write as the change. The alarm (armed also for
//!   the outbox's next due row) forwards them to the `EventLog` and POSTs
//!   them to the webhook; no request ever waits for a receiver (see
//!   `objects/outbox.rs`, `webhook.rs`).
//!
//! Clock: requests carry `now_ms` from the Worker. With `TOLLGATE_DEV_CLOCK=1`
//! that clock may be moved by tests; the object then keeps the offset between
//! the request clock and the real one, schedules the alarm in real time and
//! lets `alarm()` read the request clock (real now + offset), so holds expire
//! on the tests' timeline. In production the offset is always 0.

use std::cell::RefCell;

use serde_json::json;
use tollgate::decision::Amount;
use tollgate::engine::{Engine, Options};
use tollgate::events::{self, Before, Event};
use tollgate::idem::{Idem, KeyReused};
use tollgate::ledger::{ClosedHold, HoldEnd, Ledger, Origin, Released};
use tollgate::replay::{read_reset, read_usage};
use tollgate::time::{rfc3339, secs};
use tollgate::Subscription;
use worker::wasm_bindgen;
use worker::{
    durable_object, js_sys, wasm_bindgen::JsValue, Date, DurableObject, Env, Request, Response,
    Result, ScheduledTime, State,
};

use super::{decision_response, locale, parse_action, respond};
use super::{outbox, rows};
use crate::answers::{
    ChargeView, ClosedView, CommitAnswer, ExplainAnswer, ExtendAnswer, Figures, HoldView,
    ReleaseAnswer, ResetAnswer,
};
use crate::engine_cache::EngineCache;
use crate::http::{self, ApiError, ApiResult};
use crate::internal::{self, Caller, EventLogCall, UserCall, UserOp};
use crate::webhook::{self, Settings};

#[durable_object(alarm)]
pub struct UserLedger {
    state: State,
    env: Env,
    engine: EngineCache,
    books: RefCell<Books>,
}

/// What the object keeps in memory (and in its one SQLite row).
struct Books {
    /// `Err`: the stored ledger could not be read; nothing is decided then
    /// (usage must never be silently forgotten).
    ledger: std::result::Result<Ledger, String>,
    /// The subscription the user's last token carried.
    subscription: Option<Subscription>,
    subscription_seen_ms: Option<i64>,
    /// Request clock minus real clock (0 unless TOLLGATE_DEV_CLOCK=1).
    clock_offset_ms: i64,
    /// The alarm this instance set (real unix ms), to avoid setting it again.
    alarm_at: Option<i64>,
    /// The user these books are (learnt from the calls; events name it).
    user: Option<String>,
    user_dirty: bool,
    /// Events raised by the change being made, written by the next persist.
    events: Vec<Event>,
}

/// What a change needs to raise its events: the books before it, and the
/// holds housekeeping expired when it began.
struct Change {
    before: Before,
    expired: Vec<ClosedHold>,
}

/// Housekeeping at the start of a change (`Engine::maintain`), remembering
/// what the change's events are measured against.
fn begin(engine: &Engine, ledger: &mut Ledger, now_ms: i64) -> Change {
    let before = Before::of(ledger);
    let expired = engine.maintain(ledger, now_ms);
    Change { before, expired }
}

/// The `books` row.
struct BooksRow {
    ledger: String,
    sub: Option<String>,
    sub_seen_ms: Option<i64>,
    clock_offset_ms: Option<i64>,
}

const SCHEMA: [&str; 5] = [
    "CREATE TABLE IF NOT EXISTS books (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    ledger TEXT NOT NULL,
    sub TEXT,
    sub_seen_ms INTEGER,
    clock_offset_ms INTEGER NOT NULL DEFAULT 0,
    updated_ms INTEGER NOT NULL
)",
    "CREATE TABLE IF NOT EXISTS closed_holds (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    until_s INTEGER NOT NULL
)",
    "CREATE TABLE IF NOT EXISTS idem_keys (
    key TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    until_s INTEGER NOT NULL
)",
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
    outbox::SCHEMA,
];

/// Who the caller is, as a hold's owner.
fn origin(call: &UserCall) -> Origin {
    match call.caller {
        Caller::Gateway => Origin::Gateway,
        Caller::User | Caller::Admin => Origin::Api,
    }
}

fn real_now_ms() -> i64 {
    Date::now().as_millis() as i64
}

impl Books {
    fn load(state: &State) -> Books {
        let sql = state.storage().sql();
        // (key, body) of each row of `closed_holds` / `idem_keys`.
        let bodies = |q: &str| -> Result<Vec<(String, String)>> {
            rows::all(sql.exec(q, None)?)?
                .iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?)))
                .collect()
        };
        type Rows = (
            Option<BooksRow>,
            Vec<(String, String)>,
            Vec<(String, String)>,
            Option<String>,
        );
        let rows: Result<Rows> = (|| {
            for s in SCHEMA {
                sql.exec(s, None)?;
            }
            let books = rows::first(sql.exec(
                "SELECT ledger, sub, sub_seen_ms, clock_offset_ms FROM books WHERE id = 1",
                None,
            )?)?
            .map(|r| -> Result<BooksRow> {
                Ok(BooksRow {
                    ledger: r.text(0)?,
                    sub: r.opt_text(1)?,
                    sub_seen_ms: r.opt_int(2)?,
                    clock_offset_ms: r.opt_int(3)?,
                })
            })
            .transpose()?;
            // In key order (the primary key's index; SQLite's BINARY order
            // is Rust's byte order): the books' maps append each row
            // (`Ledger::from_parts`).
            let closed = bodies("SELECT id, body FROM closed_holds ORDER BY id")?;
            let idem = bodies("SELECT key, body FROM idem_keys ORDER BY key")?;
            let user = match rows::first(sql.exec("SELECT v FROM meta WHERE k = 'user'", None)?)? {
                Some(r) => Some(r.text(0)?),
                None => None,
            };
            Ok((books, closed, idem, user))
        })();
        let mut books = Books {
            ledger: Ok(Ledger::default()),
            subscription: None,
            subscription_seen_ms: None,
            clock_offset_ms: 0,
            alarm_at: None,
            user: None,
            user_dirty: false,
            events: Vec::new(),
        };
        match rows {
            Err(e) => books.ledger = Err(format!("reading the ledger: {e}")),
            Ok((row, closed, idem, user)) => {
                books.user = user;
                if let Some(row) = row {
                    books.ledger = Ledger::from_parts(
                        &row.ledger,
                        closed.iter().map(|(_, body)| body.as_str()),
                        idem.iter().map(|(k, body)| (k.as_str(), body.as_str())),
                    );
                    books.subscription = row
                        .sub
                        .as_deref()
                        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                        .and_then(|v| tollgate::Subscription::from_stored(&v).ok());
                    books.subscription_seen_ms = row.sub_seen_ms;
                    books.clock_offset_ms = row.clock_offset_ms.unwrap_or(0);
                }
            }
        }
        if let Err(e) = &books.ledger {
            worker::console_error!("UserLedger: stored ledger unreadable: {e}");
        }
        books
    }

    fn ledger_mut(&mut self) -> std::result::Result<&mut Ledger, ApiError> {
        self.ledger
            .as_mut()
            .map_err(|_| ApiError::internal("this user's stored ledger is unreadable"))
    }

    /// Learns the user's id from a call (events name it).
    fn note_user(&mut self, call: &UserCall) {
        if !call.user.is_empty() && self.user.as_deref() != Some(call.user.as_str()) {
            self.user = Some(call.user.clone());
            self.user_dirty = true;
        }
    }

    /// Raises the events of the change begun with `c` (written by the next
    /// persist); `true` if there are any.
    fn raise(&mut self, c: &Change, decision: Option<&tollgate::Decision>, now_ms: i64) -> bool {
        let user = self.user.clone().unwrap_or_default();
        if let Ok(ledger) = self.ledger.as_mut() {
            let new = events::raise(&user, &c.before, ledger, decision, &c.expired, now_ms);
            self.events.extend(new);
        }
        !self.events.is_empty()
    }

    /// Records what a user's call says about the subscription; `true` if it changed.
    fn note_call(&mut self, call: &UserCall, dev_clock: bool) -> bool {
        self.note_user(call);
        if dev_clock {
            self.clock_offset_ms = call.now_ms - real_now_ms();
        }
        if call.caller != Caller::User {
            return false;
        }
        if self.subscription != call.subscription || self.subscription_seen_ms.is_none() {
            self.subscription = call.subscription.clone();
            self.subscription_seen_ms = Some(call.now_ms);
            return true;
        }
        false
    }
}

impl UserLedger {
    /// Writes the books to SQLite (synchronous). On failure the in-memory
    /// state is dropped and read again from storage: memory never gets ahead
    /// of what is stored.
    fn persist(&self, b: &mut Books, now_ms: i64) -> std::result::Result<(), ApiError> {
        let Ok(ledger) = &mut b.ledger else {
            return Err(ApiError::internal(
                "this user's stored ledger is unreadable",
            ));
        };
        let sub = b
            .subscription
            .as_ref()
            .and_then(|s| serde_json::to_string(s).ok());
        let changes = ledger.take_changes();
        let events = std::mem::take(&mut b.events);
        let user = b.user_dirty.then(|| b.user.clone()).flatten();
        let sql = self.state.storage().sql();
        let written = (|| -> Result<()> {
            outbox::write(&sql, &events, real_now_ms())?;
            if let Some(u) = user {
                sql.exec(
                    "INSERT INTO meta (k, v) VALUES ('user', ?)
                     ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                    vec![u.into()],
                )?;
            }
            sql.exec(
                "INSERT INTO books (id, ledger, sub, sub_seen_ms, clock_offset_ms, updated_ms)
             VALUES (1, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET ledger = excluded.ledger, sub = excluded.sub,
               sub_seen_ms = excluded.sub_seen_ms, clock_offset_ms = excluded.clock_offset_ms,
               updated_ms = excluded.updated_ms",
                vec![
                    ledger.main_json().into(),
                    sub.into(),
                    b.subscription_seen_ms.into(),
                    b.clock_offset_ms.into(),
                    now_ms.into(),
                ],
            )?;
            let rows = [
                ("closed_holds", "id", changes.closed_put, changes.closed_del),
                ("idem_keys", "key", changes.idem_put, changes.idem_del),
            ];
            for (table, key, put, del) in rows {
                for (k, body, until) in put {
                    sql.exec(
                        &format!(
                            "INSERT INTO {table} ({key}, body, until_s) VALUES (?, ?, ?)
                             ON CONFLICT ({key}) DO UPDATE SET body = excluded.body,
                               until_s = excluded.until_s"
                        ),
                        vec![k.into(), body.into(), until.into()],
                    )?;
                }
                for k in del {
                    sql.exec(
                        &format!("DELETE FROM {table} WHERE {key} = ?"),
                        vec![k.into()],
                    )?;
                }
            }
            Ok(())
        })();
        if let Err(e) = written {
            worker::console_error!("UserLedger: write failed: {e}");
            *b = Books::load(&self.state);
            return Err(ApiError::internal("could not store the ledger"));
        }
        b.user_dirty = false;
        Ok(())
    }

    /// Sets the alarm to the earliest of: a hold expiry or other moment the
    /// books ask for (`Ledger::next_wakeup`), the outbox's next forward or
    /// delivery; unless this instance already set it there.
    async fn arm(&self) -> Result<()> {
        let want = {
            let mut b = self.books.borrow_mut();
            let Ok(l) = &b.ledger else { return Ok(()) };
            let books = l
                .next_wakeup()
                .map(|exp| exp.saturating_mul(1000).saturating_sub(b.clock_offset_ms));
            let deliver = Settings::from_env(&self.env).url.is_some();
            let sql = self.state.storage().sql();
            let due = outbox::next_due(&sql, deliver);
            let Some(want) = books.into_iter().chain(due).min() else {
                return Ok(());
            };
            if b.alarm_at == Some(want) {
                return Ok(());
            }
            b.alarm_at = Some(want);
            want
        };
        let at = js_sys::Date::new(&JsValue::from_f64(want as f64));
        self.state.storage().set_alarm(ScheduledTime::new(at)).await
    }

    fn dev_clock(&self) -> bool {
        internal::dev_clock(&self.env)
    }

    // ------------------------------------------------------------------ ops

    fn op_check(&self, engine: &Engine, call: &UserCall) -> ApiResult {
        let action = parse_action(call.action.as_ref())?;
        let opts = Options {
            explain: true,
            locale: locale(call.locale.as_deref()),
            discount: None,
            user: Some(&call.user),
            origin: origin(call),
        };
        let now = call.now_ms;
        let d = {
            let mut b = self.books.borrow_mut();
            let mut changed = b.note_call(call, self.dev_clock());
            let ledger = b.ledger_mut()?;
            let c = begin(engine, ledger, now);
            changed |= !c.expired.is_empty();
            let d = engine.check(ledger, call.subscription.as_ref(), &action, now, &opts);
            changed |= b.raise(&c, None, now);
            if changed {
                self.persist(&mut b, now)?;
            }
            d
        };
        let limits = d.limits.clone();
        decision_response(d, call.explain, &limits, now)
    }

    fn op_reserve(&self, engine: &Engine, call: &UserCall) -> ApiResult {
        let action = parse_action(call.action.as_ref())?;
        let key = call
            .idempotency_key
            .as_deref()
            .ok_or_else(|| ApiError::bad_field("Idempotency-Key", "required"))?;
        let loc = locale(call.locale.as_deref());
        let opts = Options {
            explain: true,
            locale: loc,
            discount: None,
            user: Some(&call.user),
            origin: origin(call),
        };
        let fingerprint = call.fingerprint.as_deref().unwrap_or("");
        let now = call.now_ms;
        let sub = call.subscription.as_ref();
        let (d, after) = {
            let mut b = self.books.borrow_mut();
            b.note_call(call, self.dev_clock());
            let ledger = b.ledger_mut()?;
            let c = begin(engine, ledger, now);
            let idem = Idem { key, fingerprint };
            let d = match engine.reserve(ledger, sub, &action, now, Some(idem), &opts) {
                Ok(d) => d,
                Err(KeyReused) => {
                    // Nothing held; housekeeping may have changed the books.
                    b.raise(&c, None, now);
                    self.persist(&mut b, now)?;
                    return Err(ApiError::new(
                        KeyReused::STATUS,
                        KeyReused::CODE,
                        KeyReused::MESSAGE,
                    ));
                }
            };
            // The headers say what is left *after* this answer (also on a
            // replayed key, whose stored answer keeps no limits).
            let after = engine.check(ledger, sub, &action, now, &opts).limits;
            b.raise(&c, Some(&d), now);
            self.persist(&mut b, now)?;
            (d, after)
        };
        decision_response(d, call.explain, &after, now)
    }

    fn op_commit(&self, engine: &Engine, call: &UserCall) -> ApiResult {
        let id = call.hold_id.as_deref().unwrap_or("");
        let mut usage = read_usage(call.usage.as_ref().unwrap_or(&json!({})))
            .map_err(|p| ApiError::bad_request("invalid usage", p.0))?;
        if call.caller == Caller::Gateway {
            usage.model = call.answered_model.clone();
        }
        let now = call.now_ms;
        let mut b = self.books.borrow_mut();
        b.note_call(call, self.dev_clock());
        let ledger = b.ledger_mut()?;
        let c = begin(engine, ledger, now);
        let result = engine.commit_as(ledger, id, &usage, now, origin(call));
        b.raise(&c, None, now);
        self.persist(&mut b, now)?;
        match result {
            Ok(c) => Ok(http::json(
                200,
                &CommitAnswer {
                    committed: true,
                    hold_id: id.to_string(),
                    late: c.late,
                    duplicate: c.duplicate,
                    kind: c.kind,
                    model: c.model,
                    usage: Figures::of(&c.usage),
                },
            )?),
            Err(e) => Err(hold_error(e, id)),
        }
    }

    fn op_release(&self, engine: &Engine, call: &UserCall) -> ApiResult {
        let id = call.hold_id.as_deref().unwrap_or("");
        let now = call.now_ms;
        let mut b = self.books.borrow_mut();
        b.note_call(call, self.dev_clock());
        let ledger = b.ledger_mut()?;
        let c = begin(engine, ledger, now);
        let result = engine.release_as(ledger, id, now, origin(call));
        b.raise(&c, None, now);
        self.persist(&mut b, now)?;
        match result {
            Ok(r) => {
                let (released, changed) = match r {
                    Released::Now => (true, true),
                    Released::Already => (true, false),
                    Released::AfterCommit => (false, false),
                };
                Ok(http::json(
                    200,
                    &ReleaseAnswer {
                        hold_id: id.to_string(),
                        released,
                        changed,
                        committed: r == Released::AfterCommit,
                    },
                )?)
            }
            Err(e) => Err(hold_error(e, id)),
        }
    }

    fn op_extend(&self, engine: &Engine, call: &UserCall) -> ApiResult {
        let id = call.hold_id.as_deref().unwrap_or("");
        let now = call.now_ms;
        let mut b = self.books.borrow_mut();
        b.note_call(call, self.dev_clock());
        let ledger = b.ledger_mut()?;
        let c = begin(engine, ledger, now);
        let result = engine.extend_as(ledger, id, call.ttl_s, now, origin(call));
        b.raise(&c, None, now);
        self.persist(&mut b, now)?;
        match result {
            Ok(until) => Ok(http::json(
                200,
                &ExtendAnswer {
                    hold_id: id.to_string(),
                    expires_at: rfc3339(until),
                },
            )?),
            Err(e) => Err(hold_error(e, id)),
        }
    }

    fn op_usage(&self, engine: &Engine, call: &UserCall) -> ApiResult {
        let now = call.now_ms;
        let mut b = self.books.borrow_mut();
        let mut changed = b.note_call(call, self.dev_clock());
        let ledger = b.ledger_mut()?;
        let c = begin(engine, ledger, now);
        changed |= !c.expired.is_empty();
        let snap = engine.snapshot(ledger, call.subscription.as_ref(), now);
        changed |= b.raise(&c, None, now);
        if changed {
            self.persist(&mut b, now)?;
        }
        Ok(http::json(200, &snap)?)
    }

    /// Credits (SPEC §9): creates a grant. The same `id` again changes
    /// nothing (200, `created: false`); an `Idempotency-Key` seen in the
    /// last day with the same body answers the first answer, with another
    /// body 422 (keys share the user's key space with reserves).
    fn op_grant(&self, engine: &Engine, call: &UserCall) -> ApiResult {
        let now = call.now_ms;
        let fp = call.fingerprint.as_deref().unwrap_or("");
        let mut b = self.books.borrow_mut();
        b.note_user(call);
        let ledger = b.ledger_mut()?;
        let c = begin(engine, ledger, now);
        if let Some(k) = call.idempotency_key.as_deref() {
            if let Some(e) = ledger.idem_get(k, secs(now)) {
                if e.fp != fp {
                    return Err(ApiError::new(
                        KeyReused::STATUS,
                        KeyReused::CODE,
                        KeyReused::MESSAGE,
                    ));
                }
                let answer = e.answer.clone();
                let created = serde_json::from_str::<serde_json::Value>(&answer)
                    .ok()
                    .and_then(|v| v.get("created").and_then(serde_json::Value::as_bool))
                    .unwrap_or(false);
                return Ok(http::json_text(if created { 201 } else { 200 }, answer)?);
            }
        }
        let id = ledger.new_grant_id();
        let g = tollgate::credits::read_grant(
            call.grant.as_ref().unwrap_or(&json!(null)),
            secs(now),
            &id,
        )
        .map_err(|p| ApiError::bad_request("invalid grant", p.0))?;
        let gid = g.id.clone();
        let created = ledger.add_grant(g);
        let info = ledger.grants.iter().find(|g| g.id == gid).map(|g| g.info());
        let answer = json!({"created": created, "user": call.user, "grant": info});
        let text = serde_json::to_string(&answer)?;
        if let Some(k) = call.idempotency_key.as_deref() {
            ledger.idem_put(
                k,
                tollgate::ledger::IdemEntry {
                    at: secs(now),
                    fp: fp.to_string(),
                    answer: text.clone(),
                },
            );
        }
        b.raise(&c, None, now);
        self.persist(&mut b, now)?;
        Ok(http::json_text(if created { 201 } else { 200 }, text)?)
    }

    /// Credits (SPEC §9): revokes a grant; what remains is removed. Again
    /// for the same grant: 200 with nothing more removed.
    fn op_revoke(&self, engine: &Engine, call: &UserCall) -> ApiResult {
        let now = call.now_ms;
        let gid = call.grant_id.as_deref().unwrap_or("");
        let mut b = self.books.borrow_mut();
        b.note_user(call);
        let ledger = b.ledger_mut()?;
        let c = begin(engine, ledger, now);
        let Some(removed) = ledger.revoke_grant(gid, secs(now)) else {
            return Err(ApiError::new(
                404,
                "grant_unknown",
                format!("no grant {gid:?} for this user"),
            ));
        };
        let g = ledger.grants.iter().find(|g| g.id == gid).map(|g| g.info());
        let removed = g
            .as_ref()
            .and_then(|g| tollgate::limit::Metric::parse(&g.metric))
            .map_or(Amount::Count(removed), |m| Amount::of(m, removed));
        b.raise(&c, None, now);
        self.persist(&mut b, now)?;
        Ok(http::json(
            200,
            &json!({"revoked": true, "user": call.user, "removed": removed, "grant": g}),
        )?)
    }

    fn op_reset(&self, engine: &Engine, call: &UserCall) -> ApiResult {
        let (metrics, windows) = read_reset(call.reset.as_ref().unwrap_or(&json!({})))
            .map_err(|p| ApiError::bad_request("invalid reset", p.0))?;
        let now = call.now_ms;
        let mut b = self.books.borrow_mut();
        b.note_user(call);
        let ledger = b.ledger_mut()?;
        let c = begin(engine, ledger, now);
        let n = engine.reset(
            ledger,
            (!metrics.is_empty()).then_some(&metrics[..]),
            (!windows.is_empty()).then_some(&windows[..]),
        );
        b.raise(&c, None, now);
        self.persist(&mut b, now)?;
        Ok(http::json(
            200,
            &ResetAnswer {
                user: call.user.clone(),
                reset: true,
                counters_reset: n,
            },
        )?)
    }

    /// Usage from another system into the current periods (SPEC §12); the
    /// body comes in `usage`, the key in `idempotency_key`. All or nothing.
    fn op_import(&self, engine: &Engine, call: &UserCall) -> ApiResult {
        use tollgate::import::ImportRefused;
        let body = call.usage.as_ref().unwrap_or(&serde_json::Value::Null);
        let req = tollgate::import::read_import(body)
            .map_err(|p| ApiError::bad_request("invalid usage import", p.0))?;
        let idem = call.idempotency_key.as_deref().map(|key| Idem {
            key,
            fingerprint: call.fingerprint.as_deref().unwrap_or(""),
        });
        let now = call.now_ms;
        let mut b = self.books.borrow_mut();
        b.note_user(call);
        let ledger = b.ledger_mut()?;
        let c = begin(engine, ledger, now);
        let result = engine.import(ledger, &req, now, idem);
        b.raise(&c, None, now);
        self.persist(&mut b, now)?;
        match result {
            Ok(answer) => Ok(http::json(200, &answer)?),
            Err(ImportRefused::Invalid(p)) => {
                Err(ApiError::bad_request("invalid usage import", p.0))
            }
            Err(ImportRefused::KeyReused(_)) => Err(ApiError::new(
                KeyReused::STATUS,
                KeyReused::CODE,
                KeyReused::MESSAGE,
            )),
        }
    }

    /// The admin's view: the stored books as they are (no housekeeping is
    /// run first, so what the alarm did or did not do is visible).
    fn op_explain(&self, engine: &Engine, revision: i64, call: &UserCall) -> ApiResult {
        let now = call.now_ms;
        let now_s = secs(now);
        let b = self.books.borrow();
        let ledger = b
            .ledger
            .as_ref()
            .map_err(|_| ApiError::internal("this user's stored ledger is unreadable"))?;
        let snap = engine.snapshot(ledger, b.subscription.as_ref(), now);
        let holds: Vec<HoldView> = ledger
            .holds
            .iter()
            .map(|h| HoldView {
                id: h.id.clone(),
                kind: h.kind.clone(),
                model: h.model.clone(),
                created_at: rfc3339(h.created),
                expires_at: rfc3339(h.expires),
                expired: h.expires <= now_s,
                origin: match h.origin {
                    Origin::Api => "api",
                    Origin::Gateway => "gateway",
                }
                .to_string(),
                estimate: Figures::of(&h.est),
                charges: h
                    .charges
                    .iter()
                    .map(|c| ChargeView {
                        limit: c.key.clone(),
                        metric: c.metric().as_str().to_string(),
                        amount: Amount::of(c.metric(), c.amount),
                    })
                    .collect(),
            })
            .collect();
        // The most recent closed holds (all are kept a day; the list shows 100).
        let recent = newest(ledger.closed.values(), |c| c.closed_at, 100);
        let closed: Vec<ClosedView> = recent
            .into_iter()
            .take(100)
            .map(|c| ClosedView {
                id: c.id.clone(),
                end: match c.end {
                    HoldEnd::Committed => "committed",
                    HoldEnd::Released => "released",
                    HoldEnd::Expired => "expired",
                }
                .to_string(),
                late: c.late,
                closed_at: rfc3339(c.closed_at),
                kind: c.kind.clone(),
                model: c.model.clone(),
                usage: c.usage.as_ref().map(Figures::of),
            })
            .collect();
        Ok(http::json(
            200,
            &ExplainAnswer {
                user: call.user.clone(),
                as_of: rfc3339(now_s),
                config_revision: revision,
                subscription: b.subscription.clone(),
                subscription_seen_at: b.subscription_seen_ms.map(|ms| rfc3339(secs(ms))),
                plan: snap.plan,
                limits: snap.limits,
                open_holds: holds.len(),
                holds,
                closed_holds: closed,
                idempotency_keys: ledger.idem.len(),
                counters: ledger.counters.keys().cloned().collect(),
                next_expiry: ledger.next_expiry().map(rfc3339),
                grants: ledger.grants.iter().map(|g| g.info()).collect(),
            },
        )?)
    }

    async fn handle(&self, mut req: Request) -> ApiResult {
        let op = UserOp::parse(&internal::op_of(&req))
            .ok_or_else(|| ApiError::new(404, "not_found", "no such op"))?;
        let call: UserCall = internal::read_call(&mut req)
            .await
            .map_err(|e| ApiError::bad_field("", format!("bad internal call: {e}")))?;
        // The engine first: the only await before the ledger is touched.
        let (engine, revision) = self.engine.get(&self.env).await?;
        let r = match op {
            UserOp::Check => self.op_check(&engine, &call),
            UserOp::Reserve => self.op_reserve(&engine, &call),
            UserOp::Commit => self.op_commit(&engine, &call),
            UserOp::Release => self.op_release(&engine, &call),
            UserOp::Extend => self.op_extend(&engine, &call),
            UserOp::Usage => self.op_usage(&engine, &call),
            UserOp::Reset => self.op_reset(&engine, &call),
            UserOp::Explain => self.op_explain(&engine, revision, &call),
            UserOp::Import => self.op_import(&engine, &call),
            UserOp::Grant => self.op_grant(&engine, &call),
            UserOp::Revoke => self.op_revoke(&engine, &call),
            UserOp::Events => self.op_events(&call),
        };
        if op != UserOp::Explain && op != UserOp::Events {
            self.arm().await?;
        }
        r
    }

    /// This user's outbox (`GET /v1/admin/users/{id}/events`): every event
    /// of the last 7 days with its delivery state, oldest first, after
    /// event number `since`.
    fn op_events(&self, call: &UserCall) -> ApiResult {
        let sql = self.state.storage().sql();
        let limit = call.limit.unwrap_or(100).clamp(1, super::MAX_PAGE);
        let rows = outbox::list(&sql, call.since.unwrap_or(0), i64::from(limit))?;
        let when = |ms: i64| rfc3339(secs(ms));
        let list: Vec<serde_json::Value> = rows
            .into_iter()
            .filter_map(|r| {
                let mut v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
                let pending = r.delivered_ms.is_none() && r.failed == 0;
                v.as_object_mut()?.insert(
                    "delivery".into(),
                    json!({
                        "state": if r.delivered_ms.is_some() { "delivered" }
                            else if r.failed != 0 { "failed" } else { "pending" },
                        "attempts": r.attempts,
                        "delivered_at": r.delivered_ms.map(when),
                        "next_attempt_at": pending.then(|| when(r.next_ms)),
                        "last_error": r.last_error,
                    }),
                );
                Some(v)
            })
            .collect();
        Ok(http::json(
            200,
            &json!({"user": call.user, "events": list,
                "webhook": Settings::from_env(&self.env).url.is_some()}),
        )?)
    }

    /// The outbox's due work (from the alarm, never from a request): new
    /// events to the `EventLog`, then due deliveries to the webhook, each
    /// outcome written as it comes.
    async fn pump(&self) -> Result<()> {
        let sql = self.state.storage().sql();
        let now = real_now_ms();
        let rows = outbox::due_forward(&sql, now, 200)?;
        if !rows.is_empty() {
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let call = EventLogCall {
                events: rows.into_iter().map(|r| r.body).collect(),
                ..EventLogCall::default()
            };
            match internal::event_log(&self.env, "append", call).await {
                Ok(r) if r.status == 200 => {
                    if internal::dev_halt(&self.env, "outbox.forwarded") {
                        return Err(worker::Error::RustError("halted: outbox.forwarded".into()));
                    }
                    outbox::forwarded(&sql, &ids)?
                }
                other => {
                    let why = other.map_or_else(|e| e.to_string(), |r| r.body);
                    worker::console_error!("UserLedger: forwarding events failed: {why}");
                    outbox::forward_later(&sql, &ids, real_now_ms() + 5_000)?;
                }
            }
        }
        let s = Settings::from_env(&self.env);
        if let Some(url) = s.url.clone() {
            for row in outbox::due_delivery(&sql, real_now_ms(), 20)? {
                let sent = real_now_ms();
                let outcome = webhook::post(&s, &url, &row.id, &row.body, sent / 1000).await;
                if outcome.is_ok() && internal::dev_halt(&self.env, "outbox.delivered") {
                    return Err(worker::Error::RustError("halted: outbox.delivered".into()));
                }
                outbox::attempted(&sql, &s, &row, &outcome, real_now_ms())?;
            }
        }
        outbox::sweep(&sql, real_now_ms())
    }
}

/// The `n` items with the greatest `at`, greatest first, ties in the order
/// they come: what a stable sort by `at` descending and `take(n)` give,
/// without instantiating a sort for the one list that needs it (issue 9).
fn newest<T>(items: impl Iterator<Item = T>, at: impl Fn(&T) -> i64, n: usize) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        let t = at(&item);
        let i = out.partition_point(|o| at(o) >= t);
        if i < n {
            out.insert(i, item);
            out.truncate(n);
        }
    }
    out
}

fn hold_error(e: tollgate::ledger::HoldError, id: &str) -> ApiError {
    use tollgate::ledger::HoldError;
    let message = match e {
        HoldError::Unknown => format!("no hold {id:?} for this user"),
        HoldError::Released => {
            format!("hold {id:?} was released; its usage can no longer be committed")
        }
        HoldError::Committed => {
            format!("hold {id:?} was already committed with other figures")
        }
        HoldError::Expired => format!("hold {id:?} has expired; it can only be committed late"),
        HoldError::OwnedByGateway => {
            format!("hold {id:?} belongs to the gateway; only the gateway settles it")
        }
    };
    ApiError::new(e.status(), e.code(), message)
}

impl DurableObject for UserLedger {
    fn new(state: State, env: Env) -> Self {
        let books = Books::load(&state);
        Self {
            state,
            env,
            engine: EngineCache::default(),
            books: RefCell::new(books),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        respond(self.handle(req).await)
    }

    async fn alarm(&self) -> Result<Response> {
        self.books.borrow_mut().alarm_at = None;
        let (engine, _) = self.engine.get(&self.env).await?;
        {
            let mut b = self.books.borrow_mut();
            let now = real_now_ms() + b.clock_offset_ms;
            if let Ok(ledger) = b.ledger.as_mut() {
                let c = begin(&engine, ledger, now);
                b.raise(&c, None, now);
                if let Err(e) = self.persist(&mut b, now) {
                    return Err(worker::Error::RustError(e.message));
                }
            }
        }
        // Deliveries may wait on a receiver; requests go on meanwhile (the
        // books are not borrowed across these awaits).
        let pumped = self.pump().await;
        self.arm().await?;
        pumped?;
        Response::ok("")
    }
}

#[cfg(test)]
mod tests {
    use super::newest;

    /// The same list as a stable sort by `at` descending, cut to `n`.
    #[test]
    fn newest_is_a_stable_sort_cut_short() {
        // Many ties, more items than kept, and fewer.
        let items: Vec<(usize, i64)> = (0..300).map(|i| (i, ((i * 7919) % 37) as i64)).collect();
        for n in [0, 1, 5, 36, 100, 299, 300, 400] {
            let mut want = items.clone();
            want.sort_by_key(|&(_, at)| std::cmp::Reverse(at));
            want.truncate(n);
            assert_eq!(
                newest(items.iter().copied(), |&(_, at)| at, n),
                want,
                "n = {n}"
            );
        }
        assert!(newest(std::iter::empty::<(usize, i64)>(), |&(_, at)| at, 100).is_empty());
    }
}
