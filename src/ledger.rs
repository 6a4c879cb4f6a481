//! One user's books: a counter per limit, the open holds, the holds closed
//! in the last day, and the idempotency keys of the last day.
//!
//! Everything here is plain data (serde). Counters are bounded by their
//! windows (old buckets, periods, idle chats and long-ended subscriptions
//! are dropped). Closed holds and idempotency keys are kept for
//! [`CLOSED_RETENTION_S`] / [`IDEM_RETENTION_S`] **whatever their number**
//! (SPEC §5): no amount of other activity pushes a late commit's hold or a
//! retried key out. So that the books written on every request stay small,
//! a Durable Object stores those two maps as rows of their own
//! ([`Ledger::main_json`] + [`Ledger::take_changes`]); native callers may
//! keep the whole ledger as one document ([`Ledger::to_json`]).
//!
//! The rules that decide live in [`crate::engine`]; this module only keeps
//! books and the hold lifecycle's bookkeeping.

use crate::config::OnExpiry;
use crate::credits::{self, Draw, Grant};
use crate::limit::{Amounts, Metric, Window};
use crate::stored::{self, Obj, Path, Res};
use crate::strmap::StrMap;
use crate::window::{self, Counter, Slot};
#[cfg(test)]
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

/// Bumped when the stored shape changes; older versions are migrated by
/// [`Ledger::from_json`], never refused.
pub const LEDGER_VERSION: u32 = 2;
/// How long a closed hold is remembered, in seconds: a late commit within a
/// day of expiry counts, a commit within a day of a release answers 409, and
/// a repeated commit within a day is recognised as a duplicate.
pub const CLOSED_RETENTION_S: i64 = 24 * 3_600;
/// How long an idempotency key is remembered, in seconds.
pub const IDEM_RETENTION_S: i64 = 24 * 3_600;

/// Amounts per metric, stored as a list so that a metric added later does
/// not make stored books unreadable (a shorter list reads with zeros).
mod amounts {
    use crate::limit::Amounts;
    use crate::stored::{self, Path, Res};
    use serde::Serializer;
    #[cfg(test)]
    use serde::{de, Deserialize, Deserializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(a: &Amounts, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(a.iter())
    }

    #[cfg(test)]
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Amounts, D::Error> {
        let v: Vec<u64> = Vec::deserialize(d)?;
        from_vec(v).map_err(de::Error::custom)
    }

    /// A shorter list reads with zeros; a longer one only with zeros past
    /// the metrics this build knows.
    pub fn from_stored(v: &Value, at: &Path) -> Res<Amounts> {
        let Some(list) = v.as_array() else {
            return at.err("expected an array");
        };
        let mut a = Amounts::default();
        for (i, x) in list.iter().enumerate() {
            let n = stored::u64_(x, &at.index(i))?;
            match a.get_mut(i) {
                Some(slot) => *slot = n,
                None if n == 0 => {}
                None => return at.err("more metrics stored than this build knows"),
            }
        }
        Ok(a)
    }

    /// [`from_stored`] of the derived reader (tests only).
    #[cfg(test)]
    pub fn from_vec(v: Vec<u64>) -> Result<Amounts, String> {
        let mut a = Amounts::default();
        if v.len() > a.len() && v[a.len()..].iter().any(|n| *n != 0) {
            return Err(format!(
                "{} metrics stored, this build knows {}",
                v.len(),
                a.len()
            ));
        }
        for (slot, n) in a.iter_mut().zip(v) {
            *slot = n;
        }
        Ok(a)
    }

    pub mod opt {
        use super::*;
        pub fn serialize<S: Serializer>(a: &Option<Amounts>, s: S) -> Result<S::Ok, S::Error> {
            match a {
                Some(a) => s.collect_seq(a.iter()),
                None => s.serialize_none(),
            }
        }
        #[cfg(test)]
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Amounts>, D::Error> {
            let v: Option<Vec<u64>> = Option::deserialize(d)?;
            v.map(from_vec).transpose().map_err(de::Error::custom)
        }
    }
}

/// One amount put on one limit's counter by a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub struct Charge {
    /// The limit's key (`tokens|all|1h`).
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "m")]
    pub metric: u8,
    #[serde(rename = "s")]
    pub slot: Slot,
    #[serde(rename = "a")]
    pub amount: u64,
    /// The limit draws on credits (SPEC §9): `amount` is the part the plan
    /// paid, the hold's draws paid the rest.
    #[serde(rename = "o", default, skip_serializing_if = "std::ops::Not::not")]
    pub overflow: bool,
}

impl Charge {
    pub fn from_stored(v: &Value, at: &Path) -> Res<Charge> {
        Obj::read(v, at, |o| Charge {
            key: o.req_str("k"),
            metric: o.req("m", stored::small),
            slot: o.req_else("s", || Slot::Total, Slot::from_stored),
            amount: o.req_u64("a"),
            overflow: o.flag("o"),
        })
    }

    pub fn metric(&self) -> Metric {
        Metric::ALL[usize::from(self.metric).min(Metric::ALL.len() - 1)]
    }
}

/// The window of a limit key (`tokens|all|1h` → `1h`).
pub fn window_of_key(key: &str) -> Option<Window> {
    key.rsplit('|').next().and_then(|w| Window::parse(w).ok())
}

/// Who opened a hold, and so who may settle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub enum Origin {
    /// `POST /v1/reserve`: settled by a token with the `settle` scope.
    #[default]
    #[serde(rename = "a")]
    Api,
    /// The gateway's own model calls: only the gateway settles them.
    #[serde(rename = "g")]
    Gateway,
}

impl Origin {
    fn is_api(&self) -> bool {
        *self == Origin::Api
    }

    fn from_stored(v: &Value, at: &Path) -> Res<Origin> {
        match stored::unit_variant(v, at)? {
            "a" => Ok(Origin::Api),
            "g" => Ok(Origin::Gateway),
            _ => at.err("unknown origin"),
        }
    }
}

fn is_release(p: &OnExpiry) -> bool {
    *p == OnExpiry::Release
}

/// Usage reserved by an allowed action, waiting for its real figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub struct Hold {
    pub id: String,
    /// Unix seconds.
    #[serde(rename = "c")]
    pub created: i64,
    #[serde(rename = "x")]
    pub expires: i64,
    /// The action's type (`message`, `image`, …).
    #[serde(rename = "t")]
    pub kind: String,
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The estimate per metric.
    #[serde(rename = "e", with = "amounts")]
    pub est: Amounts,
    #[serde(rename = "g")]
    pub charges: Vec<Charge>,
    #[serde(rename = "w", default, skip_serializing_if = "Origin::is_api")]
    pub origin: Origin,
    /// The latest it may be extended to (unix s); `None` for holds stored by
    /// revision 1 (then `created` + the config's `hold_max_ttl_s`).
    #[serde(rename = "mx", default, skip_serializing_if = "Option::is_none")]
    pub max_expires: Option<i64>,
    #[serde(rename = "p", default, skip_serializing_if = "is_release")]
    pub on_expiry: OnExpiry,
    /// The plan, subscription and chat it was reserved under, so a commit
    /// that must count on other limits (another model answered, a reported
    /// cost on a free model) finds them.
    #[serde(rename = "pl", default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(rename = "su", default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(rename = "se", default, skip_serializing_if = "Option::is_none")]
    pub sub_ends: Option<i64>,
    #[serde(rename = "ch", default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<String>,
    /// The metrics its action counts (bit `Metric::idx`); `None` for holds
    /// stored by revision 1.
    #[serde(rename = "tm", default, skip_serializing_if = "Option::is_none")]
    pub touched: Option<u8>,
    /// What it drew from the user's grants (SPEC §9), settled like its charges.
    #[serde(rename = "cr", default, skip_serializing_if = "Vec::is_empty")]
    pub draws: Vec<Draw>,
}

impl Hold {
    pub fn from_stored(v: &Value, at: &Path) -> Res<Hold> {
        Obj::read(v, at, |o| Hold {
            id: o.req_str("id"),
            created: o.req_i64("c"),
            expires: o.req_i64("x"),
            kind: o.req_str("t"),
            model: o.opt_str("o"),
            est: o.req("e", amounts::from_stored),
            charges: o.req("g", |v, at| stored::list(v, at, Charge::from_stored)),
            origin: o.or("w", Origin::Api, Origin::from_stored),
            max_expires: o.opt_i64("mx"),
            on_expiry: o.or("p", OnExpiry::Release, OnExpiry::from_stored),
            plan: o.opt_str("pl"),
            sub: o.opt_str("su"),
            sub_ends: o.opt_i64("se"),
            chat: o.opt_str("ch"),
            touched: o.opt("tm", stored::small),
            draws: o.list("cr", Draw::from_stored),
        })
    }
}

/// How a hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub enum HoldEnd {
    #[serde(rename = "c")]
    Committed,
    #[serde(rename = "r")]
    Released,
    /// Its time ran out; a commit may still come ("late").
    #[serde(rename = "x")]
    Expired,
}

impl HoldEnd {
    fn from_stored(v: &Value, at: &Path) -> Res<HoldEnd> {
        match stored::unit_variant(v, at)? {
            "c" => Ok(HoldEnd::Committed),
            "r" => Ok(HoldEnd::Released),
            "x" => Ok(HoldEnd::Expired),
            _ => at.err("unknown hold end"),
        }
    }
}

/// The figures a commit was asked with, kept to tell a repeated commit
/// (same figures: a duplicate) from a conflicting one (409).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub struct CommitRequest {
    #[serde(rename = "i")]
    pub input_tokens: u64,
    #[serde(rename = "o")]
    pub output_tokens: u64,
    /// Micro-dollars.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub cost_micros: Option<u64>,
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub images: Option<u64>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    /// The model that answered, when another than the reserved one.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl CommitRequest {
    fn from_stored(v: &Value, at: &Path) -> Res<CommitRequest> {
        Obj::read(v, at, |o| CommitRequest {
            input_tokens: o.req_u64("i"),
            output_tokens: o.req_u64("o"),
            cost_micros: o.opt_u64("c"),
            images: o.opt_u64("g"),
            files: o.opt_u64("f"),
            model: o.opt_str("m"),
        })
    }
}

/// A hold that has ended, remembered for [`CLOSED_RETENTION_S`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub struct ClosedHold {
    pub id: String,
    #[serde(rename = "at")]
    pub closed_at: i64,
    #[serde(rename = "e")]
    pub end: HoldEnd,
    /// Committed: whether it came after expiry.
    #[serde(rename = "l", default)]
    pub late: bool,
    /// Committed: what the commit asked (`None` for revision 1's holds).
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    pub request: Option<CommitRequest>,
    /// Committed: the real usage recorded.
    #[serde(
        rename = "u",
        default,
        skip_serializing_if = "Option::is_none",
        with = "amounts::opt"
    )]
    pub usage: Option<Amounts>,
    /// Expired: the hold as it was, so a late commit records the real usage
    /// exactly where an on-time one would have.
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// Expired: the estimate was left on the counters (`on_hold_expiry: charge`).
    #[serde(rename = "ce", default)]
    pub charged: bool,
    #[serde(rename = "t", default)]
    pub kind: String,
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(rename = "w", default, skip_serializing_if = "Origin::is_api")]
    pub origin: Origin,
}

impl ClosedHold {
    pub fn from_stored(v: &Value, at: &Path) -> Res<ClosedHold> {
        Obj::read(v, at, |o| ClosedHold {
            id: o.req_str("id"),
            closed_at: o.req_i64("at"),
            end: o.req_else("e", || HoldEnd::Released, HoldEnd::from_stored),
            late: o.flag("l"),
            request: o.opt("q", CommitRequest::from_stored),
            usage: o.opt("u", amounts::from_stored),
            hold: o.opt("h", Hold::from_stored),
            charged: o.flag("ce"),
            kind: o.or("t", String::new(), stored::string),
            model: o.opt_str("o"),
            origin: o.or("w", Origin::Api, Origin::from_stored),
        })
    }
}

/// A recently seen `Idempotency-Key`: what it was sent with, and the
/// (allowed) answer it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub struct IdemEntry {
    pub at: i64,
    /// [`crate::idem::fingerprint`] of the request.
    #[serde(default)]
    pub fp: String,
    /// The decision as JSON, replayed verbatim.
    pub answer: String,
}

impl IdemEntry {
    pub fn from_stored(v: &Value, at: &Path) -> Res<IdemEntry> {
        Obj::read(v, at, |o| IdemEntry {
            at: o.req_i64("at"),
            fp: o.or("fp", String::new(), stored::string),
            answer: o.req_str("answer"),
        })
    }
}

/// What changed in the closed holds and idempotency keys since the last
/// [`Ledger::take_changes`]. Never part of equality.
#[derive(Debug, Clone, Default)]
struct Dirty {
    closed: StrMap<()>,
    idem: StrMap<()>,
}

impl PartialEq for Dirty {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Dirty {}

/// One user's books.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub struct Ledger {
    #[serde(rename = "v")]
    pub version: u32,
    #[serde(rename = "c", default)]
    pub counters: StrMap<Counter>,
    #[serde(rename = "h", default)]
    pub holds: Vec<Hold>,
    /// Next hold number.
    #[serde(rename = "n", default)]
    pub next_hold: u64,
    #[serde(rename = "x", default)]
    pub closed: StrMap<ClosedHold>,
    #[serde(rename = "i", default)]
    pub idem: StrMap<IdemEntry>,
    /// Credits (SPEC §9): every grant, spent, expired and revoked ones
    /// included (the admin explain lists them). Absent from books written
    /// before credits existed.
    #[serde(rename = "gr", default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<Grant>,
    /// Warnings (SPEC §10): per limit (and chat), the period and the
    /// highest threshold already warned in it, so a threshold warns once
    /// per limit per period.
    #[serde(rename = "wn", default, skip_serializing_if = "StrMap::is_empty")]
    pub warned: StrMap<Warned>,
    /// Events (SPEC §10): the number of the next event raised for this
    /// user (ids are `<user>:<n>`, stable across deliveries).
    #[serde(rename = "ne", default, skip_serializing_if = "is_zero")]
    pub next_event: u64,
    /// Events: unix seconds up to which grant expiries were looked at, so
    /// `credits.expired` is raised once per grant (see `crate::events`).
    #[serde(rename = "ec", default, skip_serializing_if = "is_zero_i")]
    pub expiries_seen: i64,
    #[serde(skip)]
    dirty: Dirty,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_i(n: &i64) -> bool {
    *n == 0
}

/// The warnings already given for one limit in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
pub struct Warned {
    /// Which period (see `Engine`'s warnings): a calendar period's end, a
    /// subscription id, a rolling window's slice of time.
    #[serde(rename = "p")]
    pub period: String,
    /// The highest threshold warned, in thousandths.
    #[serde(rename = "t")]
    pub threshold: u16,
}

impl Warned {
    fn from_stored(v: &Value, at: &Path) -> Res<Warned> {
        Obj::read(v, at, |o| Warned {
            period: o.req_str("p"),
            threshold: o.req("t", stored::small),
        })
    }
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            version: LEDGER_VERSION,
            counters: StrMap::new(),
            holds: Vec::new(),
            next_hold: 1,
            closed: StrMap::new(),
            idem: StrMap::new(),
            grants: Vec::new(),
            warned: StrMap::new(),
            next_event: 0,
            expiries_seen: 0,
            dirty: Dirty::default(),
        }
    }
}

/// The part of the books written on every request.
#[derive(Serialize)]
struct Main<'a> {
    v: u32,
    c: &'a StrMap<Counter>,
    h: &'a [Hold],
    n: u64,
    #[serde(skip_serializing_if = "<[Grant]>::is_empty")]
    gr: &'a [Grant],
    #[serde(skip_serializing_if = "StrMap::is_empty")]
    wn: &'a StrMap<Warned>,
    #[serde(skip_serializing_if = "is_zero")]
    ne: u64,
    #[serde(skip_serializing_if = "is_zero_i")]
    ec: i64,
}

/// Rows to write or delete, for a store that keeps closed holds and
/// idempotency keys apart from the main document.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// `(hold id, JSON, forget after (unix s))`.
    pub closed_put: Vec<(String, String, i64)>,
    pub closed_del: Vec<String>,
    /// `(key, JSON, forget after (unix s))`.
    pub idem_put: Vec<(String, String, i64)>,
    pub idem_del: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.closed_put.is_empty()
            && self.closed_del.is_empty()
            && self.idem_put.is_empty()
            && self.idem_del.is_empty()
    }
}

/// Revision 1's stored shapes, read only to migrate them. (`Serialize`
/// lets the tests write revision-1 books; nothing else writes them.)
mod v1 {
    use super::*;

    #[derive(Serialize)]
    #[cfg_attr(test, derive(Debug, Deserialize))]
    pub struct Ledger {
        #[serde(rename = "c", default)]
        pub counters: StrMap<Counter>,
        #[serde(rename = "h", default)]
        pub holds: Vec<Hold>,
        #[serde(rename = "x", default)]
        pub closed: Vec<ClosedHold>,
        #[serde(rename = "i", default)]
        pub idem: Vec<IdemEntry>,
        #[serde(rename = "n", default)]
        pub next_hold: u64,
    }

    #[derive(Serialize)]
    #[cfg_attr(test, derive(Debug, Deserialize))]
    pub struct ClosedHold {
        pub id: String,
        #[serde(rename = "at")]
        pub closed_at: i64,
        #[serde(rename = "e")]
        pub end: HoldEnd,
        #[serde(rename = "l", default)]
        pub late: bool,
        #[serde(rename = "u", default, with = "amounts::opt")]
        pub usage: Option<Amounts>,
        #[serde(rename = "g", default)]
        pub charges: Vec<Charge>,
        #[serde(rename = "s", default, with = "amounts::opt")]
        pub est: Option<Amounts>,
        #[serde(rename = "t", default)]
        pub kind: String,
        #[serde(rename = "o", default)]
        pub model: Option<String>,
    }

    #[derive(Serialize)]
    #[cfg_attr(test, derive(Debug, Deserialize))]
    pub struct IdemEntry {
        pub key: String,
        pub at: i64,
        pub answer: String,
    }

    impl Ledger {
        pub fn from_stored(o: &Obj) -> Ledger {
            Ledger {
                counters: o.map("c", Counter::from_stored),
                holds: o.list("h", Hold::from_stored),
                closed: o.list("x", ClosedHold::from_stored),
                idem: o.list("i", IdemEntry::from_stored),
                next_hold: o.or("n", 0, stored::u64_),
            }
        }
    }

    impl IdemEntry {
        fn from_stored(v: &Value, at: &Path) -> Res<IdemEntry> {
            Obj::read(v, at, |o| IdemEntry {
                key: o.req_str("key"),
                at: o.req_i64("at"),
                answer: o.req_str("answer"),
            })
        }
    }

    impl ClosedHold {
        fn from_stored(v: &Value, at: &Path) -> Res<ClosedHold> {
            Obj::read(v, at, |o| ClosedHold {
                id: o.req_str("id"),
                closed_at: o.req_i64("at"),
                end: o.req_else("e", || HoldEnd::Released, HoldEnd::from_stored),
                late: o.flag("l"),
                usage: o.opt("u", amounts::from_stored),
                charges: o.list("g", Charge::from_stored),
                est: o.opt("s", amounts::from_stored),
                kind: o.or("t", String::new(), stored::string),
                model: o.opt_str("o"),
            })
        }

        /// An expired hold of revision 1 kept its charges and estimate: it
        /// becomes a closed hold carrying the hold, as today's do.
        pub fn upgrade(self) -> super::ClosedHold {
            let hold = (self.end == HoldEnd::Expired).then(|| {
                let est = self.est.unwrap_or_else(|| {
                    let mut e = Amounts::default();
                    for c in &self.charges {
                        let i = c.metric().idx();
                        e[i] = e[i].max(c.amount);
                    }
                    e
                });
                Hold {
                    id: self.id.clone(),
                    created: self.closed_at,
                    expires: self.closed_at,
                    kind: self.kind.clone(),
                    model: self.model.clone(),
                    est,
                    charges: self.charges,
                    origin: Origin::Api,
                    max_expires: None,
                    on_expiry: OnExpiry::Release,
                    plan: None,
                    sub: None,
                    sub_ends: None,
                    chat: None,
                    touched: None,
                    draws: Vec::new(),
                }
            });
            super::ClosedHold {
                id: self.id,
                closed_at: self.closed_at,
                end: self.end,
                late: self.late,
                request: None,
                usage: self.usage,
                hold,
                charged: false,
                kind: self.kind,
                model: self.model,
                origin: Origin::Api,
            }
        }
    }
}

/// Why a hold operation could not be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldError {
    /// No such hold (never existed, or forgotten a day after it closed).
    Unknown,
    /// Commit or extend after an explicit release.
    Released,
    /// A second commit with other figures, or an extend after the commit.
    Committed,
    /// Extend after the hold's time ran out.
    Expired,
    /// A gateway hold, settled by someone else than the gateway.
    OwnedByGateway,
}

impl HoldError {
    pub fn code(self) -> &'static str {
        match self {
            HoldError::Unknown => "hold_unknown",
            HoldError::Released => "hold_released",
            HoldError::Committed => "hold_committed",
            HoldError::Expired => "hold_expired",
            HoldError::OwnedByGateway => "hold_owned_by_gateway",
        }
    }
    pub fn status(self) -> u16 {
        match self {
            HoldError::Unknown => 404,
            HoldError::OwnedByGateway => 403,
            _ => 409,
        }
    }
}

/// The result of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub usage: Amounts,
    /// The hold had expired; the usage was recorded all the same.
    pub late: bool,
    /// This hold had been committed before with the same figures; nothing changed now.
    pub duplicate: bool,
    pub kind: String,
    pub model: Option<String>,
}

/// The result of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    Now,
    /// Released (or expired) before: nothing changed.
    Already,
    /// Committed before: a release changes nothing.
    AfterCommit,
}

impl Ledger {
    /// Reads stored books: today's shape, or revision 1's (migrated: its
    /// closed holds and keys become entries to store as rows, see
    /// [`Ledger::take_changes`]). An error means the text is not books at
    /// all; the caller must not silently start afresh over it.
    pub fn from_json(s: &str) -> Result<Ledger, String> {
        Ok(Ledger::read(s)?.upgraded())
    }

    /// The books as stored (revision 1's migrated, its counters not yet
    /// upgraded).
    fn read(s: &str) -> Res<Ledger> {
        let doc = stored::parse(s)?;
        let root = Path::Root("");
        match Obj::read(&doc, &root, |o| o.req("v", stored::small))? {
            1 => Obj::read(&doc, &root, v1::Ledger::from_stored).map(Ledger::migrate),
            LEDGER_VERSION => Obj::read(&doc, &root, Ledger::from_stored),
            n => Err(format!("unsupported ledger version {n}")),
        }
    }

    /// Today's books (version 2) as [`Ledger::to_json`] writes them.
    fn from_stored(o: &Obj) -> Ledger {
        Ledger {
            version: o.req("v", stored::small),
            counters: o.map("c", Counter::from_stored),
            holds: o.list("h", Hold::from_stored),
            next_hold: o.or("n", 0, stored::u64_),
            closed: o.map("x", ClosedHold::from_stored),
            idem: o.map("i", IdemEntry::from_stored),
            grants: o.list("gr", Grant::from_stored),
            warned: o.map("wn", Warned::from_stored),
            next_event: o.or("ne", 0, stored::u64_),
            expiries_seen: o.or("ec", 0, stored::i64_),
            dirty: Dirty::default(),
        }
    }

    /// Revision 1's books in today's shape: its closed holds and keys
    /// become entries to store as rows.
    fn migrate(old: v1::Ledger) -> Ledger {
        let mut l = Ledger {
            counters: old.counters,
            holds: old.holds,
            next_hold: old.next_hold,
            ..Ledger::default()
        };
        for c in old.closed {
            let c = c.upgrade();
            l.dirty.closed.insert(c.id.clone(), ());
            l.closed.insert(c.id.clone(), c);
        }
        for e in old.idem {
            l.dirty.idem.insert(e.key.clone(), ());
            // Revision 1 kept no fingerprint: the first retry's own
            // fingerprint is taken as the key's (see `idem_get`).
            l.idem.insert(
                e.key,
                IdemEntry {
                    at: e.at,
                    fp: String::new(),
                    answer: e.answer,
                },
            );
        }
        l
    }

    /// Counters stored by revision 1 in today's shape, whatever the version.
    fn upgraded(mut self) -> Ledger {
        self.version = LEDGER_VERSION;
        for c in self.counters.values_mut() {
            window::upgrade(c);
        }
        self
    }

    /// Builds the books from a main document and separately stored rows
    /// (closed holds, and idempotency entries with their keys). Rows in any
    /// order give the same books; in key order (the Durable Object reads
    /// them `ORDER BY` their key) each is appended, where another order
    /// makes loading a busy user's thousands of keys quadratic (`StrMap`).
    pub fn from_parts<'a>(
        main: &str,
        closed: impl IntoIterator<Item = &'a str>,
        idem: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Ledger, String> {
        let mut l = Ledger::from_json(main)?;
        let root = Path::Root("");
        for row in closed {
            let c = stored::parse(row)
                .and_then(|v| ClosedHold::from_stored(&v, &root))
                .map_err(|e| format!("closed hold row: {e}"))?;
            l.closed.insert(c.id.clone(), c);
        }
        for (k, row) in idem {
            let e = stored::parse(row)
                .and_then(|v| IdemEntry::from_stored(&v, &root))
                .map_err(|e| format!("idempotency key {k:?}: {e}"))?;
            l.idem.insert(k.to_string(), e);
        }
        Ok(l)
    }

    /// [`Ledger::from_json`] with serde's derived readers: the reference
    /// the tests compare the hand-written readers with.
    #[cfg(test)]
    fn from_json_derived(s: &str) -> Result<Ledger, String> {
        Ok(Ledger::read_derived(s)?.upgraded())
    }

    /// [`Ledger::read`] with serde's derived readers (tests only).
    #[cfg(test)]
    fn read_derived(s: &str) -> Result<Ledger, String> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let v: Version = serde_json::from_str(s).map_err(|e| e.to_string())?;
        let l = match v.v {
            1 => Ledger::migrate(serde_json::from_str(s).map_err(|e| e.to_string())?),
            LEDGER_VERSION => serde_json::from_str(s).map_err(|e| e.to_string())?,
            n => return Err(format!("unsupported ledger version {n}")),
        };
        Ok(l)
    }

    /// [`Ledger::from_parts`] with serde's derived readers (tests only).
    #[cfg(test)]
    fn from_parts_derived<'a>(
        main: &str,
        closed: impl IntoIterator<Item = &'a str>,
        idem: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Ledger, String> {
        let mut l = Ledger::from_json_derived(main)?;
        for row in closed {
            let c: ClosedHold = serde_json::from_str(row).map_err(|e| e.to_string())?;
            l.closed.insert(c.id.clone(), c);
        }
        for (k, row) in idem {
            let e: IdemEntry = serde_json::from_str(row).map_err(|e| e.to_string())?;
            l.idem.insert(k.to_string(), e);
        }
        Ok(l)
    }

    /// The whole books as one document.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a ledger always serialises")
    }

    /// The books without closed holds and idempotency keys (stored apart).
    pub fn main_json(&self) -> String {
        serde_json::to_string(&Main {
            v: self.version,
            c: &self.counters,
            h: &self.holds,
            n: self.next_hold,
            gr: &self.grants,
            wn: &self.warned,
            ne: self.next_event,
            ec: self.expiries_seen,
        })
        .expect("a ledger always serialises")
    }

    /// The closed holds and idempotency keys added, changed or forgotten
    /// since the last call, as rows to write and delete.
    pub fn take_changes(&mut self) -> Changes {
        let d = std::mem::take(&mut self.dirty);
        let mut ch = Changes::default();
        for (id, ()) in d.closed {
            match self.closed.get(&id) {
                Some(c) => ch.closed_put.push((
                    id,
                    serde_json::to_string(c).expect("serialises"),
                    c.closed_at + CLOSED_RETENTION_S,
                )),
                None => ch.closed_del.push(id),
            }
        }
        for (k, ()) in d.idem {
            match self.idem.get(&k) {
                Some(e) => ch.idem_put.push((
                    k,
                    serde_json::to_string(e).expect("serialises"),
                    e.at + IDEM_RETENTION_S,
                )),
                None => ch.idem_del.push(k),
            }
        }
        ch
    }

    pub fn hold(&self, id: &str) -> Option<&Hold> {
        self.holds.iter().find(|h| h.id == id)
    }

    /// Takes an open hold out of the list.
    pub fn take_open(&mut self, id: &str) -> Option<Hold> {
        let pos = self.holds.iter().position(|h| h.id == id)?;
        Some(self.holds.remove(pos))
    }

    /// Open holds at `now` (expired ones waiting for the alarm do not count).
    pub fn open_holds(&self, now: i64) -> usize {
        self.holds.iter().filter(|h| h.expires > now).count()
    }

    /// The earliest moment a hold expires.
    pub fn next_expiry(&self) -> Option<i64> {
        self.holds.iter().map(|h| h.expires).min()
    }

    /// When the alarm should next run: a hold's expiry, or the moment a
    /// closed hold or key is due to be forgotten (so storage is swept even
    /// for a user who stops calling).
    pub fn next_wakeup(&self) -> Option<i64> {
        let closed = self
            .closed
            .values()
            .map(|c| c.closed_at + CLOSED_RETENTION_S);
        let idem = self.idem.values().map(|e| e.at + IDEM_RETENTION_S);
        // A grant with something left expiring after the last look: its
        // `credits.expired` event is due then.
        let grants = self
            .grants
            .iter()
            .filter(|g| g.revoked_at.is_none() && g.remaining > 0)
            .filter_map(|g| g.expires_at)
            .filter(|&e| e > self.expiries_seen);
        self.next_expiry()
            .into_iter()
            .chain(closed)
            .chain(idem)
            .chain(grants)
            .min()
    }

    /// The counter a limit's real usage goes to. A rolling, subscription,
    /// chat or lifetime counter may have been dropped while it held nothing;
    /// when there is real usage to record it is recreated empty first.
    pub fn counter_for(&mut self, key: &str, real: u64) -> Option<&mut Counter> {
        if real > 0 && !self.counters.contains_key(key) {
            if let Some(f) = window_of_key(key).and_then(window::fresh) {
                self.counters.insert(key.to_string(), f);
            }
        }
        self.counters.get_mut(key)
    }

    /// Takes a hold's charges back off the counters.
    pub fn undo_charges(&mut self, charges: &[Charge], now: i64) {
        for c in charges {
            window::adjust(self.counters.get_mut(&c.key), &c.slot, c.amount, 0, now);
        }
    }

    /// Remembers a closed hold (replacing an earlier state of it).
    pub fn put_closed(&mut self, c: ClosedHold) {
        self.dirty.closed.insert(c.id.clone(), ());
        self.closed.insert(c.id.clone(), c);
    }

    /// Forgets closed holds and idempotency keys past their retention.
    pub fn forget_old(&mut self, now: i64) {
        let dirty = &mut self.dirty;
        self.closed.retain(|id, c| {
            let keep = now - c.closed_at < CLOSED_RETENTION_S;
            if !keep {
                dirty.closed.insert(id.clone(), ());
            }
            keep
        });
        self.idem.retain(|k, e| {
            let keep = now - e.at < IDEM_RETENTION_S;
            if !keep {
                dirty.idem.insert(k.clone(), ());
            }
            keep
        });
    }

    /// Records a new open hold (its charges are already on the counters).
    pub fn open(&mut self, hold: Hold) {
        self.holds.push(hold);
    }

    /// A fresh hold id.
    pub fn new_hold_id(&mut self) -> String {
        let n = self.next_hold.max(1);
        self.next_hold = n + 1;
        format!("h{n}")
    }

    /// Ends every hold whose time is up: its estimate is taken back
    /// (`release` policy) or left as the usage (`charge`), and the hold is
    /// remembered so a late commit records the real figures. Returns the
    /// holds that expired.
    pub fn expire(&mut self, now: i64) -> Vec<ClosedHold> {
        if !self.holds.iter().any(|h| h.expires <= now) {
            return Vec::new();
        }
        let (due, keep): (Vec<Hold>, Vec<Hold>) = std::mem::take(&mut self.holds)
            .into_iter()
            .partition(|h| h.expires <= now);
        self.holds = keep;
        let mut out = Vec::with_capacity(due.len());
        for hold in due {
            let charged = hold.on_expiry == OnExpiry::Charge;
            if !charged {
                self.undo_charges(&hold.charges, now);
                credits::give_back(&mut self.grants, &hold.draws);
            }
            let c = ClosedHold {
                id: hold.id.clone(),
                closed_at: hold.expires,
                end: HoldEnd::Expired,
                late: false,
                request: None,
                usage: None,
                kind: hold.kind.clone(),
                model: hold.model.clone(),
                origin: hold.origin,
                charged,
                hold: Some(hold),
            };
            out.push(c.clone());
            self.put_closed(c);
        }
        out
    }

    /// Drops a hold's estimate (the upstream failed). Idempotent; after a
    /// commit it changes nothing. An expired hold becomes released: no late
    /// commit may follow, and an estimate charged at expiry is taken back.
    pub fn release(&mut self, id: &str, now: i64) -> Result<Released, HoldError> {
        if let Some(hold) = self.take_open(id) {
            self.undo_charges(&hold.charges, now);
            credits::give_back(&mut self.grants, &hold.draws);
            self.put_closed(ClosedHold {
                id: hold.id,
                closed_at: now,
                end: HoldEnd::Released,
                late: false,
                request: None,
                usage: None,
                hold: None,
                charged: false,
                kind: hold.kind,
                model: hold.model,
                origin: hold.origin,
            });
            return Ok(Released::Now);
        }
        let Some(c) = self.closed.get(id).cloned() else {
            return Err(HoldError::Unknown);
        };
        match c.end {
            HoldEnd::Committed => Ok(Released::AfterCommit),
            HoldEnd::Released => Ok(Released::Already),
            HoldEnd::Expired => {
                if c.charged {
                    if let Some(h) = &c.hold {
                        self.undo_charges(&h.charges, now);
                        credits::give_back(&mut self.grants, &h.draws);
                    }
                }
                self.put_closed(ClosedHold {
                    end: HoldEnd::Released,
                    closed_at: now,
                    hold: None,
                    charged: false,
                    ..c
                });
                Ok(Released::Already)
            }
        }
    }

    /// Moves an open hold's expiry to `until`, never past its maximum.
    /// Returns the new expiry.
    pub fn extend(&mut self, id: &str, until: i64, default_max: i64) -> Result<i64, HoldError> {
        if let Some(h) = self.holds.iter_mut().find(|h| h.id == id) {
            let max = h
                .max_expires
                .unwrap_or(h.created.saturating_add(default_max));
            h.expires = until.min(max).max(h.created);
            return Ok(h.expires);
        }
        match self.closed.get(id).map(|c| c.end) {
            None => Err(HoldError::Unknown),
            Some(HoldEnd::Committed) => Err(HoldError::Committed),
            Some(HoldEnd::Released) => Err(HoldError::Released),
            Some(HoldEnd::Expired) => Err(HoldError::Expired),
        }
    }

    /// The remembered entry of an idempotency key, if seen in the last day.
    pub fn idem_get(&self, key: &str, now: i64) -> Option<&IdemEntry> {
        self.idem.get(key).filter(|e| now - e.at < IDEM_RETENTION_S)
    }

    pub fn idem_put(&mut self, key: &str, entry: IdemEntry) {
        self.dirty.idem.insert(key.to_string(), ());
        self.idem.insert(key.to_string(), entry);
    }

    /// Adds a grant (SPEC §9). A grant with an id already present changes
    /// nothing (creating it again is idempotent); returns whether it was added.
    pub fn add_grant(&mut self, g: Grant) -> bool {
        if self.grants.iter().any(|x| x.id == g.id) {
            return false;
        }
        self.grants.push(g);
        true
    }

    /// Revokes a grant: what remains is removed (draws of open holds stay
    /// spent). Returns the amount removed, `None` for an unknown grant.
    pub fn revoke_grant(&mut self, id: &str, now: i64) -> Option<u64> {
        let g = self.grants.iter_mut().find(|g| g.id == id)?;
        let removed = g.remaining;
        g.remaining = 0;
        if g.revoked_at.is_none() {
            g.revoked_at = Some(now);
        }
        Some(removed)
    }

    /// A fresh grant id (`g1`, `g2`, …) not used by any grant of this user.
    pub fn new_grant_id(&self) -> String {
        let mut n = self.grants.len() + 1;
        loop {
            let id = format!("g{n}");
            if !self.grants.iter().any(|g| g.id == id) {
                return id;
            }
            n += 1;
        }
    }

    /// Resets the counters whose keys `pick` selects, and forgets the charges
    /// holds had on them (so a later commit or release cannot touch the new count).
    pub fn reset(&mut self, pick: impl Fn(&str) -> bool) -> usize {
        let before = self.counters.len();
        self.counters.retain(|k, _| !pick(k));
        for h in &mut self.holds {
            h.charges.retain(|c| !pick(&c.key));
        }
        let dirty = &mut self.dirty;
        for (id, c) in self.closed.iter_mut() {
            if let Some(h) = c.hold.as_mut() {
                let n = h.charges.len();
                h.charges.retain(|c| !pick(&c.key));
                if h.charges.len() != n {
                    dirty.closed.insert(id.clone(), ());
                }
            }
        }
        before - self.counters.len()
    }
}

#[cfg(test)]
mod read_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_shorter_lists_and_refuse_unknown_metrics() {
        let root = Path::Root("");
        let read = |v: serde_json::Value| amounts::from_stored(&v, &root);
        assert_eq!(read(serde_json::json!([1, 2])).unwrap(), [1, 2, 0, 0, 0, 0]);
        assert_eq!(
            read(serde_json::json!([1, 2, 3, 4, 5, 6, 0])).unwrap(),
            [1, 2, 3, 4, 5, 6]
        );
        assert!(read(serde_json::json!([1, 2, 3, 4, 5, 6, 7])).is_err());
        assert!(read(serde_json::json!([1, 2, 3, 4, 5, 6, 0, -1])).is_err());
        assert_eq!(amounts::from_vec(vec![1, 2]).unwrap(), [1, 2, 0, 0, 0, 0]);
        assert_eq!(
            amounts::from_vec(vec![1, 2, 3, 4, 5, 6, 0]).unwrap(),
            [1, 2, 3, 4, 5, 6]
        );
        assert!(amounts::from_vec(vec![1, 2, 3, 4, 5, 6, 7]).is_err());
    }

    #[test]
    fn version_2_books_written_before_credits_still_load() {
        let text = include_str!("../tests/fixtures/v2-ledger-before-credits.json");
        let l = Ledger::from_json(text).unwrap();
        assert!(l.grants.is_empty());
        assert_eq!(l.holds.len(), 1);
        assert!(l.holds[0].draws.is_empty());
        assert!(!l.holds[0].charges[0].overflow);
        assert_eq!(l.next_hold, 2);
        // Written back without credits, the document keeps its old shape.
        let again: serde_json::Value = serde_json::from_str(&l.main_json()).unwrap();
        let before: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(again, before);
    }

    #[test]
    fn main_document_and_rows_rebuild_the_same_books() {
        let mut l = Ledger::default();
        l.put_closed(ClosedHold {
            id: "h1".into(),
            closed_at: 10,
            end: HoldEnd::Released,
            late: false,
            request: None,
            usage: None,
            hold: None,
            charged: false,
            kind: "message".into(),
            model: None,
            origin: Origin::Gateway,
        });
        l.idem_put(
            "k1",
            IdemEntry {
                at: 10,
                fp: "f".into(),
                answer: "{}".into(),
            },
        );
        let ch = l.take_changes();
        assert_eq!(ch.closed_put.len(), 1);
        assert_eq!(ch.idem_put.len(), 1);
        assert!(l.take_changes().is_empty());
        let back = Ledger::from_parts(
            &l.main_json(),
            ch.closed_put.iter().map(|(_, j, _)| j.as_str()),
            ch.idem_put.iter().map(|(k, j, _)| (k.as_str(), j.as_str())),
        )
        .unwrap();
        assert_eq!(back, l);
        assert_eq!(Ledger::from_json(&l.to_json()).unwrap(), l);
        assert!(Ledger::from_json("{\"v\":99}").is_err());
        // Forgotten a day later, as rows to delete.
        l.forget_old(10 + CLOSED_RETENTION_S);
        let ch = l.take_changes();
        assert_eq!(ch.closed_del, ["h1"]);
        assert_eq!(ch.idem_del, ["k1"]);
    }
}
