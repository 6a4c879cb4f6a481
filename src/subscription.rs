//! The user's binding to a plan. It arrives signed in the user's token, so
//! the core trusts it as given and only checks its shape and its dates.

use crate::decision::Code;
use crate::fields::{fields, int, whole};
use crate::json::{Problems, Reader};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Keys the `subscription` window: a new id starts a fresh count.
    pub id: String,
    pub plan: String,
    pub active: bool,
    /// Unix seconds.
    pub starts_at: i64,
    /// Unix seconds; `None`: it does not end.
    pub ends_at: Option<i64>,
}

const KEYS: &[&str] = &["id", "plan", "active", "starts_at", "ends_at"];

impl Subscription {
    /// A subscription as our own serialiser wrote it (a snapshot's, the
    /// one a user's books remember), read as serde's derive reads it
    /// (`crate::fields`): no defaults, no id as a number.
    pub(crate) fn read_stored(r: &mut Reader, v: &Value, path: &str) -> Option<Subscription> {
        let mut f = fields(r, v, path)?;
        let id = f.string("id");
        let plan = f.string("plan");
        let active = match f.m.get("active") {
            None => f.missing("active"),
            Some(v) => {
                let at = f.at("active");
                f.r.as_bool(v, &at)
            }
        };
        let starts_at = match f.m.get("starts_at") {
            None => f.missing("starts_at"),
            Some(v) => {
                let at = f.at("starts_at");
                int(f.r, v, &at)
            }
        };
        let ends_at = match f.get("ends_at") {
            None => Some(None),
            Some(v) => {
                let at = f.at("ends_at");
                int(f.r, v, &at).map(Some)
            }
        };
        Some(Subscription {
            id: id?,
            plan: plan?,
            active: active?,
            starts_at: starts_at?,
            ends_at: ends_at?,
        })
    }

    /// [`Subscription::read_stored`] on a whole document.
    pub fn from_stored(v: &Value) -> Result<Subscription, Problems> {
        whole(v, |r, v| Subscription::read_stored(r, v, ""))
    }

    /// Reads a subscription object; `path` prefixes problem paths.
    pub fn read(r: &mut Reader, v: &Value, path: &str) -> Option<Subscription> {
        let m = r.object(v, path)?;
        r.known_keys(m, path, KEYS);
        let id = match m.get("id") {
            // Backends often key subscriptions by number; both are accepted.
            Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
            _ => r.req_id(m, path, "id", 128).map(str::to_string),
        };
        let plan = r.req_id(m, path, "plan", 128);
        let active = r.opt_bool(m, path, "active").unwrap_or(true);
        let starts_at = r.req_int(m, path, "starts_at");
        let ends_at = r.opt_int(m, path, "ends_at");
        Some(Subscription {
            id: id?,
            plan: plan?.to_string(),
            active,
            starts_at: starts_at?,
            ends_at,
        })
    }

    pub fn from_value(v: &Value) -> Result<Subscription, Problems> {
        let mut r = Reader::new();
        let s = Subscription::read(&mut r, v, "subscription");
        match s {
            Some(s) if r.ok() => Ok(s),
            _ => Err(Problems(r.problems)),
        }
    }
}

/// SPEC §4's access rule on the subscription itself, for every action: a
/// missing one is `subscription_missing`; one not active, or whose
/// `starts_at` is still ahead, `subscription_inactive`; one whose `ends_at`
/// is reached, `subscription_expired`. `now` is unix seconds.
pub fn standing(sub: Option<&Subscription>, now: i64) -> Result<&Subscription, Code> {
    let Some(sub) = sub else {
        return Err(Code::SubscriptionMissing);
    };
    if !sub.active || sub.starts_at > now {
        return Err(Code::SubscriptionInactive);
    }
    if sub.ends_at.is_some_and(|e| e <= now) {
        return Err(Code::SubscriptionExpired);
    }
    Ok(sub)
}
