//! Tollgate's Cloudflare Worker: the edge HTTP API (SPEC.md section 5).
//!
//! The Worker is a thin shell around the `tollgate` core crate: it parses
//! HTTP, reads the clock once per request (`worker::Date::now()`, because
//! `std::time::SystemTime::now()` panics on wasm32-unknown-unknown), and
//! forwards state changes to Durable Objects, which own all state in SQLite.
//!
//! Durable Object classes (bindings in `wrangler.toml`):
//!
//! | class          | binding     | keyed by            |
//! |----------------|-------------|---------------------|
//! | `UserLedger`   | `USERS`     | user id (`sub`)     |
//! | `DiscountCode` | `DISCOUNTS` | discount code       |
//! | `ConfigStore`  | `CONFIG`    | a single name       |
//! | `BareCounter`  | `BARE`      | any name (benchmark baseline) |

use worker::{event, Context, Env, Method, Request, Response, Result};

mod http;
mod objects;

pub use objects::{BareCounter, ConfigStore, DiscountCode, UserLedger};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match route(req, env).await {
        Ok(resp) => Ok(resp),
        Err(err) => {
            worker::console_error!("unhandled error: {err}");
            http::error(500, "internal", "internal error")
        }
    }
}

async fn route(req: Request, env: Env) -> Result<Response> {
    let url = req.url()?;
    let path = url.path().to_owned();
    match (req.method(), path.as_str()) {
        (Method::Get, "/healthz") => http::json(200, &serde_json::json!({ "ok": true })),

        // Benchmark baseline: one SQLite-backed counter per `user`, with no
        // Tollgate logic. Compare the real routes against it in the same run.
        (Method::Post, "/bench/counter") => {
            let user = url
                .query_pairs()
                .find(|(k, _)| k == "user")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if user.is_empty() || user.len() > 128 {
                return http::error(400, "bad_request", "query parameter `user` is required");
            }
            let stub = env.durable_object("BARE")?.get_by_name(&user)?;
            stub.fetch_with_request(req).await
        }

        // TODO(routes): /v1/check, /v1/reserve, /v1/holds/{id}/commit|release,
        // /v1/usage, /v1/discounts/{code}/redeem, /v1/admin/... (SPEC.md §5).
        _ => http::error(404, "not_found", "no such route"),
    }
}
