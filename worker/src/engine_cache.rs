//! The parsed config (an [`Engine`]) cached in memory for the Durable Objects.
//!
//! The user and discount objects share one engine per isolate (a
//! thread-local: wasm is single-threaded, and the objects of a class that
//! run in one isolate share its memory), with its config revision, and ask
//! the `ConfigStore` whether the revision changed at most every
//! `TOLLGATE_CONFIG_TTL_MS` (default 2000 ms; 0: on every request). A config
//! change therefore reaches a user at their first request after the cache's
//! TTL has run out: within 2 s by default. Sharing the cache keeps the
//! `ConfigStore` out of the hot path: with many users, one revision check per
//! TTL per isolate rather than per object.
//!
//! The cache is read *before* a request touches the ledger: the only `await`
//! of a decision is here, so the ledger's read–decide–write has none.

use std::cell::RefCell;
use std::rc::Rc;

use tollgate::{Config, Engine};
use worker::{Date, Env, Error, Result};

use crate::internal::{self, ConfigCall, ConfigReply};

/// The config served when none was ever PUT (revision 0).
pub const DEFAULT_CONFIG: &str = include_str!("../default-config.json");

/// Default `TOLLGATE_CONFIG_TTL_MS`.
pub const DEFAULT_TTL_MS: f64 = 2000.0;

struct Cached {
    engine: Rc<Engine>,
    revision: i64,
    checked_ms: f64,
}

thread_local! {
    static CACHED: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

/// Handle on the isolate's engine cache (every handle shares it).
#[derive(Default)]
pub struct EngineCache {
    _shared: (),
}

fn ttl_ms(env: &Env) -> f64 {
    // Whole milliseconds: parsing as an integer keeps the float parser (and
    // its 10 KB table) out of the Worker's .wasm.
    internal::var(env, "TOLLGATE_CONFIG_TTL_MS")
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map(f64::from)
        .unwrap_or(DEFAULT_TTL_MS)
}

impl EngineCache {
    /// The current engine and its revision.
    pub async fn get(&self, env: &Env) -> Result<(Rc<Engine>, i64)> {
        let now = Date::now().as_millis() as f64;
        let ttl = ttl_ms(env);
        let known = CACHED.with(|c| match c.borrow().as_ref() {
            Some(c) if now - c.checked_ms < ttl => Ok((c.engine.clone(), c.revision)),
            Some(c) => Err(Some(c.revision)),
            None => Err(None),
        });
        let known = match known {
            Ok(hit) => return Ok(hit),
            Err(known) => known,
        };
        let reply = internal::config(
            env,
            "get",
            ConfigCall {
                known_revision: known,
                ..ConfigCall::default()
            },
        )
        .await;
        let reply: ConfigReply = match reply.and_then(|r| {
            if r.status == 200 {
                internal::read_text::<ConfigReply>(&r.body)
            } else {
                Err(Error::RustError(format!(
                    "config store answered {}",
                    r.status
                )))
            }
        }) {
            Ok(r) => r,
            Err(e) => {
                // The store is unreachable: keep deciding with what we have.
                worker::console_error!("config store: {e}");
                return CACHED.with(|c| match c.borrow_mut().as_mut() {
                    Some(c) => {
                        c.checked_ms = now;
                        Ok((c.engine.clone(), c.revision))
                    }
                    None => Err(e),
                });
            }
        };
        let current = CACHED.with(|c| match c.borrow_mut().as_mut() {
            // Unchanged (or an older answer than what we have: keep ours).
            Some(cached) if cached.revision >= reply.revision || reply.config.is_none() => {
                cached.checked_ms = now;
                Some((cached.engine.clone(), cached.revision))
            }
            _ => None,
        });
        if let Some(hit) = current {
            return Ok(hit);
        }
        let engine = match &reply.config {
            Some(v) => Config::from_value(v),
            None => Config::from_json(DEFAULT_CONFIG),
        }
        .map(|cfg| Rc::new(Engine::new(cfg)))
        .map_err(|e| Error::RustError(format!("stored config is invalid: {e}")))?;
        CACHED.with(|c| {
            *c.borrow_mut() = Some(Cached {
                engine: engine.clone(),
                revision: reply.revision,
                checked_ms: now,
            })
        });
        Ok((engine, reply.revision))
    }
}
