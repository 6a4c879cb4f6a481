//! One user's usage state: a counter per limit, the open holds, the holds
//! recently closed, and recent idempotency keys.
//!
//! Everything here is plain data (serde) and bounded: old buckets, periods,
//! closed holds and idempotency keys are dropped, so a ledger's size does not
//! grow with the user's history. The rules that decide live in
//! [`crate::engine`]; this module only keeps books.

use crate::limit::{Amounts, Metric};
use crate::window::{self, Counter, Slot};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped when the stored shape changes incompatibly.
pub const LEDGER_VERSION: u32 = 1;
/// Closed holds remembered (for idempotent commit/release and late commits).
/// Retries come within seconds and late commits within minutes of a hold's
/// TTL; remembering more only grows the ledger stored on every request.
pub const MAX_CLOSED: usize = 32;
/// How long a closed hold is remembered, in seconds (expired ones twice as
/// long, for late commits).
pub const CLOSED_RETENTION_S: i64 = 6 * 3_600;
/// Idempotency keys remembered.
pub const MAX_IDEM: usize = 32;
/// How long an idempotency key is remembered, in seconds.
pub const IDEM_RETENTION_S: i64 = 3_600;

/// One amount put on one limit's counter by a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Charge {
    pub fn metric(&self) -> Metric {
        Metric::ALL[usize::from(self.metric).min(5)]
    }
}

/// Usage reserved by an allowed action, waiting for its real figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(rename = "e")]
    pub est: Amounts,
    #[serde(rename = "g")]
    pub charges: Vec<Charge>,
}

/// How a hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldEnd {
    #[serde(rename = "c")]
    Committed,
    #[serde(rename = "r")]
    Released,
    /// Released by the alarm; a commit may still come ("late").
    #[serde(rename = "x")]
    Expired,
}

/// A hold that has ended, remembered for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedHold {
    pub id: String,
    #[serde(rename = "at")]
    pub closed_at: i64,
    #[serde(rename = "e")]
    pub end: HoldEnd,
    /// Committed: whether it came after expiry.
    #[serde(rename = "l", default)]
    pub late: bool,
    /// Committed: the real usage recorded.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Amounts>,
    /// Expired: where the estimate had been, so a late commit can record the real usage there.
    #[serde(rename = "g", default, skip_serializing_if = "Vec::is_empty")]
    pub charges: Vec<Charge>,
    /// Expired: the hold's estimate, so that a late commit derives its real
    /// figures (an image's cost from its count) exactly as an on-time one.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub est: Option<Amounts>,
    #[serde(rename = "t", default)]
    pub kind: String,
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// A recently seen `Idempotency-Key` and the answer it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdemEntry {
    pub key: String,
    pub at: i64,
    /// The decision as JSON, replayed verbatim.
    pub answer: String,
}

/// One user's books.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    #[serde(rename = "v")]
    pub version: u32,
    #[serde(rename = "c", default)]
    pub counters: BTreeMap<String, Counter>,
    #[serde(rename = "h", default)]
    pub holds: Vec<Hold>,
    #[serde(rename = "x", default)]
    pub closed: Vec<ClosedHold>,
    #[serde(rename = "i", default)]
    pub idem: Vec<IdemEntry>,
    /// Next hold number.
    #[serde(rename = "n", default)]
    pub next_hold: u64,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            version: LEDGER_VERSION,
            counters: BTreeMap::new(),
            holds: Vec::new(),
            closed: Vec::new(),
            idem: Vec::new(),
            next_hold: 1,
        }
    }
}

/// Why a hold operation could not be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldError {
    /// No such hold (never existed, or forgotten long ago).
    Unknown,
    /// Commit after an explicit release.
    Released,
}

impl HoldError {
    pub fn code(self) -> &'static str {
        match self {
            HoldError::Unknown => "hold_unknown",
            HoldError::Released => "hold_released",
        }
    }
    pub fn status(self) -> u16 {
        match self {
            HoldError::Unknown => 404,
            HoldError::Released => 409,
        }
    }
}

/// The result of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub usage: Amounts,
    /// The hold had expired; the usage was recorded all the same.
    pub late: bool,
    /// This hold had been committed before; nothing changed now.
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
    /// Reads a stored ledger; `None` when it is not one (the caller starts afresh
    /// only if it knows the data was never a ledger: it must not silently drop counts).
    pub fn from_json(s: &str) -> Result<Ledger, String> {
        let l: Ledger = serde_json::from_str(s).map_err(|e| e.to_string())?;
        if l.version != LEDGER_VERSION {
            return Err(format!("unsupported ledger version {}", l.version));
        }
        Ok(l)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a ledger always serialises")
    }

    pub fn hold(&self, id: &str) -> Option<&Hold> {
        self.holds.iter().find(|h| h.id == id)
    }

    /// Open holds at `now` (expired ones waiting for the alarm do not count).
    pub fn open_holds(&self, now: i64) -> usize {
        self.holds.iter().filter(|h| h.expires > now).count()
    }

    /// The earliest moment a hold expires: when the alarm should run.
    pub fn next_expiry(&self) -> Option<i64> {
        self.holds.iter().map(|h| h.expires).min()
    }

    fn undo_charges(&mut self, charges: &[Charge]) {
        for c in charges {
            window::adjust(self.counters.get_mut(&c.key), &c.slot, c.amount, 0);
        }
    }

    /// The counter a charge's real usage goes to. A rolling or chat counter
    /// may have been dropped while it held nothing (see [`window::adjust`]);
    /// when there is real usage to record, it is recreated empty first.
    fn counter_for(&mut self, c: &Charge, real: u64) -> Option<&mut Counter> {
        if real > 0 && !self.counters.contains_key(&c.key) {
            let fresh = match c.slot {
                Slot::Bucket(_) => c
                    .key
                    .rsplit('|')
                    .next()
                    .and_then(|w| crate::limit::Window::parse(w).ok())
                    .and_then(|w| w.rolling_secs())
                    .map(|len| window::rolling(window::bucket_secs(len))),
                Slot::Chat(_) => Some(Counter::Chat { m: BTreeMap::new() }),
                _ => None,
            };
            if let Some(f) = fresh {
                self.counters.insert(c.key.clone(), f);
            }
        }
        self.counters.get_mut(&c.key)
    }

    fn remember(&mut self, closed: ClosedHold) {
        self.closed.push(closed);
        if self.closed.len() > MAX_CLOSED {
            let extra = self.closed.len() - MAX_CLOSED;
            self.closed.drain(..extra);
        }
    }

    /// Forgets closed holds and idempotency keys past their retention.
    pub fn forget_old(&mut self, now: i64) {
        self.closed.retain(|c| {
            now - c.closed_at < CLOSED_RETENTION_S
                || c.end == HoldEnd::Expired && now - c.closed_at < 2 * CLOSED_RETENTION_S
        });
        self.idem.retain(|e| now - e.at < IDEM_RETENTION_S);
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

    /// Replaces a hold's estimate by the real `usage` (per metric).
    pub fn commit(&mut self, id: &str, usage: Amounts, now: i64) -> Result<Committed, HoldError> {
        if let Some(pos) = self.holds.iter().position(|h| h.id == id) {
            let hold = self.holds.remove(pos);
            for c in &hold.charges {
                let real = usage[c.metric().idx()];
                window::adjust(self.counter_for(c, real), &c.slot, c.amount, real);
            }
            self.remember(ClosedHold {
                id: hold.id,
                closed_at: now,
                end: HoldEnd::Committed,
                late: false,
                usage: Some(usage),
                charges: Vec::new(),
                est: None,
                kind: hold.kind.clone(),
                model: hold.model.clone(),
            });
            return Ok(Committed {
                usage,
                late: false,
                duplicate: false,
                kind: hold.kind,
                model: hold.model,
            });
        }
        let Some(pos) = self.closed.iter().position(|c| c.id == id) else {
            return Err(HoldError::Unknown);
        };
        match self.closed[pos].end {
            HoldEnd::Released => Err(HoldError::Released),
            HoldEnd::Committed => {
                let c = &self.closed[pos];
                Ok(Committed {
                    usage: c.usage.unwrap_or_default(),
                    late: c.late,
                    duplicate: true,
                    kind: c.kind.clone(),
                    model: c.model.clone(),
                })
            }
            HoldEnd::Expired => {
                // It happened: record the real usage where the estimate had been.
                let charges = std::mem::take(&mut self.closed[pos].charges);
                for c in &charges {
                    let real = usage[c.metric().idx()];
                    window::adjust(self.counter_for(c, real), &c.slot, 0, real);
                }
                let c = &mut self.closed[pos];
                c.end = HoldEnd::Committed;
                c.late = true;
                c.usage = Some(usage);
                c.est = None;
                c.closed_at = now;
                Ok(Committed {
                    usage,
                    late: true,
                    duplicate: false,
                    kind: c.kind.clone(),
                    model: c.model.clone(),
                })
            }
        }
    }

    /// Drops a hold's estimate (the upstream failed).
    pub fn release(&mut self, id: &str, now: i64) -> Result<Released, HoldError> {
        if let Some(pos) = self.holds.iter().position(|h| h.id == id) {
            let hold = self.holds.remove(pos);
            self.undo_charges(&hold.charges);
            self.remember(ClosedHold {
                id: hold.id,
                closed_at: now,
                end: HoldEnd::Released,
                late: false,
                usage: None,
                charges: Vec::new(),
                est: None,
                kind: hold.kind,
                model: hold.model,
            });
            return Ok(Released::Now);
        }
        match self.closed.iter_mut().find(|c| c.id == id) {
            None => Err(HoldError::Unknown),
            Some(c) => match c.end {
                HoldEnd::Committed => Ok(Released::AfterCommit),
                HoldEnd::Released => Ok(Released::Already),
                HoldEnd::Expired => {
                    // An explicit release after expiry: no late commit may follow.
                    c.end = HoldEnd::Released;
                    c.charges.clear();
                    c.est = None;
                    Ok(Released::Already)
                }
            },
        }
    }

    /// Releases every hold whose time is up (the Durable Object's alarm).
    /// Returns how many expired.
    pub fn expire(&mut self, now: i64) -> usize {
        let (due, keep): (Vec<Hold>, Vec<Hold>) = std::mem::take(&mut self.holds)
            .into_iter()
            .partition(|h| h.expires <= now);
        self.holds = keep;
        let n = due.len();
        for hold in due {
            self.undo_charges(&hold.charges);
            self.remember(ClosedHold {
                id: hold.id,
                closed_at: now,
                end: HoldEnd::Expired,
                late: false,
                usage: None,
                charges: hold.charges,
                est: Some(hold.est),
                kind: hold.kind,
                model: hold.model,
            });
        }
        n
    }

    /// The stored answer for an idempotency key, if seen recently.
    pub fn idem_answer(&self, key: &str, now: i64) -> Option<&str> {
        self.idem
            .iter()
            .find(|e| e.key == key && now - e.at < IDEM_RETENTION_S)
            .map(|e| e.answer.as_str())
    }

    pub fn remember_idem(&mut self, key: &str, answer: String, now: i64) {
        self.idem.retain(|e| e.key != key);
        self.idem.push(IdemEntry {
            key: key.to_string(),
            at: now,
            answer,
        });
        if self.idem.len() > MAX_IDEM {
            let extra = self.idem.len() - MAX_IDEM;
            self.idem.drain(..extra);
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
        for c in &mut self.closed {
            c.charges.retain(|c| !pick(&c.key));
        }
        before - self.counters.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Calendar;
    use crate::limit::Window;
    use crate::window::WinCtx;

    fn with_hold(amount: u64, now: i64) -> Ledger {
        let cal = Calendar::default();
        let ctx = WinCtx {
            now,
            cal: &cal,
            sub_id: Some("s"),
            chat: None,
        };
        let mut l = Ledger::default();
        let mut slot = None;
        let s = window::charge(&mut slot, Window::Lifetime, &ctx, amount);
        l.counters
            .insert("tokens|all|lifetime".into(), slot.unwrap());
        let id = l.new_hold_id();
        l.open(Hold {
            id,
            created: now,
            expires: now + 300,
            kind: "message".into(),
            model: None,
            est: [0, amount, 0, 0, 0, 0],
            charges: vec![Charge {
                key: "tokens|all|lifetime".into(),
                metric: 1,
                slot: s,
                amount,
            }],
        });
        l
    }

    fn total(l: &Ledger) -> u64 {
        match l.counters.get("tokens|all|lifetime") {
            Some(Counter::Total { u }) => *u,
            _ => 0,
        }
    }

    #[test]
    fn commit_replaces_the_estimate_once() {
        let mut l = with_hold(100, 0);
        let c = l.commit("h1", [0, 70, 0, 0, 0, 0], 1).unwrap();
        assert!(!c.duplicate && !c.late);
        assert_eq!(total(&l), 70);
        let again = l.commit("h1", [0, 999, 0, 0, 0, 0], 2).unwrap();
        assert!(again.duplicate);
        assert_eq!(again.usage[1], 70);
        assert_eq!(total(&l), 70);
        assert_eq!(l.release("h1", 3), Ok(Released::AfterCommit));
        assert_eq!(total(&l), 70);
    }

    #[test]
    fn release_then_commit_is_refused() {
        let mut l = with_hold(100, 0);
        assert_eq!(l.release("h1", 1), Ok(Released::Now));
        assert_eq!(total(&l), 0);
        assert_eq!(l.release("h1", 1), Ok(Released::Already));
        assert_eq!(l.commit("h1", [0; 6], 2), Err(HoldError::Released));
        assert_eq!(l.commit("nope", [0; 6], 2), Err(HoldError::Unknown));
        assert_eq!(l.release("nope", 2), Err(HoldError::Unknown));
    }

    #[test]
    fn expiry_then_late_commit_records_usage() {
        let mut l = with_hold(100, 0);
        assert_eq!(l.expire(299), 0);
        assert_eq!(l.expire(300), 1);
        assert_eq!(total(&l), 0);
        let c = l.commit("h1", [0, 120, 0, 0, 0, 0], 400).unwrap();
        assert!(c.late);
        assert_eq!(total(&l), 120);
        assert!(l.commit("h1", [0, 120, 0, 0, 0, 0], 401).unwrap().duplicate);
        assert_eq!(total(&l), 120);
    }

    #[test]
    fn late_commit_after_the_alarm_pruned_the_bucket_records_usage() {
        let cal = Calendar::default();
        let w = Window::parse("1h").unwrap();
        let ctx = |now| WinCtx {
            now,
            cal: &cal,
            sub_id: None,
            chat: None,
        };
        let key = "tokens|all|1h".to_string();
        let mut l = Ledger::default();
        let mut slot = None;
        let s = window::charge(&mut slot, w, &ctx(0), 100);
        l.counters.insert(key.clone(), slot.unwrap());
        let id = l.new_hold_id();
        l.open(Hold {
            id: id.clone(),
            created: 0,
            expires: 300,
            kind: "message".into(),
            model: None,
            est: [0, 100, 0, 0, 0, 0],
            charges: vec![Charge {
                key: key.clone(),
                metric: 1,
                slot: s,
                amount: 100,
            }],
        });
        assert_eq!(l.expire(300), 1);
        // The alarm's housekeeping drops the now empty bucket and counter.
        l.counters.retain(|_, c| {
            window::prune(c, w, 360);
            !window::is_idle(c, w, &ctx(360))
        });
        assert!(l.counters.is_empty());
        assert!(l.commit(&id, [0, 90, 0, 0, 0, 0], 400).unwrap().late);
        assert_eq!(window::used(l.counters.get(&key), w, &ctx(400)), 90);
    }

    #[test]
    fn serialises_compactly_and_round_trips() {
        let l = with_hold(100, 0);
        let s = l.to_json();
        assert_eq!(Ledger::from_json(&s).unwrap(), l);
        assert!(Ledger::from_json("{\"v\":99}").is_err());
    }
}
