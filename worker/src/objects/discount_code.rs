//! `DiscountCode`: one per code (`idFromName(code)`), never a global object.
//! Holds the code's `DiscountState` JSON in SQLite; redemptions of one code
//! are serialised here, so its total and per-user caps hold under any
//! concurrency (read–judge–write has no `await`).

use std::cell::RefCell;

use serde::Deserialize;
use serde_json::Value;
use tollgate::discount::{DiscountRule, DiscountState};
use tollgate::engine::{Engine, Options};
use tollgate::ledger::Ledger;
use tollgate::time::{rfc3339, secs};
use tollgate::Action;
use worker::wasm_bindgen;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::{decision_response, locale, respond};
use crate::answers::DiscountView;
use crate::engine_cache::EngineCache;
use crate::http::{self, ApiError, ApiResult};
use crate::internal::{self, DiscountCall};

#[durable_object(fetch)]
pub struct DiscountCode {
    state: State,
    env: Env,
    engine: EngineCache,
    /// `Ok(None)`: no such code yet; `Err`: stored state unreadable.
    code: RefCell<std::result::Result<Option<DiscountState>, String>>,
}

#[derive(Deserialize)]
struct Row {
    state: String,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS discount (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
)";

fn load(state: &State) -> std::result::Result<Option<DiscountState>, String> {
    let sql = state.storage().sql();
    let rows: Vec<Row> = sql
        .exec(SCHEMA, None)
        .and_then(|_| {
            sql.exec("SELECT state FROM discount WHERE id = 1", None)?
                .to_array()
        })
        .map_err(|e| format!("reading the code: {e}"))?;
    match rows.into_iter().next() {
        None => Ok(None),
        Some(r) => serde_json::from_str(&r.state)
            .map(Some)
            .map_err(|e| format!("stored code unreadable: {e}")),
    }
}

/// The public view of a code.
fn view(s: &DiscountState) -> DiscountView {
    DiscountView {
        code: s.code.clone(),
        max_uses: s.rule.max_uses,
        max_uses_per_user: s.rule.max_uses_per_user,
        expires_at: s.rule.expires_at.map(rfc3339),
        plans: s.rule.plans.clone(),
        uses: s.uses,
        users: s.by_user.len(),
    }
}

impl DiscountCode {
    fn persist(&self, s: &DiscountState, now_ms: i64) -> std::result::Result<(), ApiError> {
        let text = serde_json::to_string(s)?;
        self.state
            .storage()
            .sql()
            .exec(
                "INSERT INTO discount (id, state, updated_ms) VALUES (1, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state,
                   updated_ms = excluded.updated_ms",
                vec![text.into(), now_ms.into()],
            )
            .map_err(|e| {
                worker::console_error!("DiscountCode: write failed: {e}");
                ApiError::internal("could not store the code")
            })?;
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
        self.persist(&s, call.now_ms)?;
        let body = view(&s);
        *cell = Ok(Some(s));
        Ok(http::json(if created { 201 } else { 200 }, &body)?)
    }

    fn op_get(&self) -> ApiResult {
        let cell = self.code.borrow();
        match cell.as_ref() {
            Err(_) => Err(ApiError::internal("this code's stored state is unreadable")),
            Ok(None) => Err(ApiError::new(404, "discount_unknown", "no such code")),
            Ok(Some(s)) => Ok(http::json(200, &view(s))?),
        }
    }

    fn op_redeem(&self, engine: &Engine, call: &DiscountCall) -> ApiResult {
        let plan = call.subscription.as_ref().map(|s| s.plan.as_str());
        let now_s = secs(call.now_ms);
        let mut cell = self.code.borrow_mut();
        let current = cell
            .as_mut()
            .map_err(|_| ApiError::internal("this code's stored state is unreadable"))?;
        let Some(s) = current.as_mut() else {
            let d = self.denial(engine, None, call);
            return decision_response(d, call.explain, &[], call.now_ms);
        };
        let uses_before = s.uses;
        match s.redeem(&call.user, plan, now_s, call.idempotency_key.as_deref()) {
            Ok(r) => {
                if s.uses != uses_before {
                    if let Err(e) = self.persist(s, call.now_ms) {
                        // Memory never gets ahead of storage.
                        *cell = load(&self.state);
                        return Err(e);
                    }
                }
                Ok(http::json(200, &r)?)
            }
            Err(_) => {
                let d = self.denial(engine, Some(s), call);
                decision_response(d, call.explain, &[], call.now_ms)
            }
        }
    }

    fn op_check(&self, engine: &Engine, call: &DiscountCall) -> ApiResult {
        let cell = self.code.borrow();
        let state = cell
            .as_ref()
            .map_err(|_| ApiError::internal("this code's stored state is unreadable"))?;
        let d = self.denial(engine, state.as_ref(), call);
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
