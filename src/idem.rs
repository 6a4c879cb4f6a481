//! Idempotency keys: what makes two requests "the same request".
//!
//! A key is bound to the request it first came with (SPEC §5): the route and
//! the body, as JSON with its keys sorted (so key order and white space do
//! not matter). The fingerprint is a 128-bit FNV-1a of that text, kept
//! instead of the body (bodies may be 64 KiB). It is not a cryptographic
//! hash: a client that forged a collision for its own key would only be
//! handed the key's first answer again — nothing is held twice either way.

use serde_json::Value;

/// The fingerprint of a request on `route` with `body`.
pub fn fingerprint(route: &str, body: &Value) -> String {
    // serde_json's maps are sorted (no `preserve_order`): canonical text.
    let text = body.to_string();
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x6c62_272e_07bb_0142;
    for byte in route.bytes().chain([0u8]).chain(text.bytes()) {
        a = (a ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        b = (b ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        b = b.rotate_left(5);
    }
    format!("{a:016x}{b:016x}")
}

/// An `Idempotency-Key` and the fingerprint of the request it came with.
#[derive(Debug, Clone, Copy)]
pub struct Idem<'a> {
    pub key: &'a str,
    pub fingerprint: &'a str,
}

/// The key was used in the last day with another request, or its first
/// answer can no longer be read back to be replayed (422): either way the
/// request is not carried out again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReused;

impl KeyReused {
    pub const CODE: &'static str = "idempotency_key_reused";
    pub const STATUS: u16 = 422;
    pub const MESSAGE: &'static str = "this Idempotency-Key was used in the last 24 hours with another request, or its first answer can no longer be replayed";
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_request_same_fingerprint_whatever_the_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":[1,2]}"#).unwrap();
        let b = json!({"a": [1, 2], "b": 1});
        assert_eq!(fingerprint("reserve", &a), fingerprint("reserve", &b));
        assert_ne!(fingerprint("reserve", &a), fingerprint("redeem", &a));
        assert_ne!(
            fingerprint("reserve", &a),
            fingerprint("reserve", &json!({"a": [2, 1], "b": 1}))
        );
    }
}
