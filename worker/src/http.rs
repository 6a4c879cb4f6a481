//! Small HTTP helpers shared by the routes and the Durable Objects.

use serde::Serialize;
use worker::{Response, Result};

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// An error answer in the API's error shape: `{"code", "message"}`.
pub fn error(status: u16, code: &str, message: &str) -> Result<Response> {
    json(
        status,
        &serde_json::json!({ "code": code, "message": message }),
    )
}
