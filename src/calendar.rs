//! Calendar windows: where a `day`, `week` or `month` starts and ends.
//!
//! Calendar limits reset at *local* midnight in the config's IANA time zone
//! (SPEC §1 "Windows"), not at UTC midnight: a user in Tehran expects their
//! daily quota back at 00:00 Tehran time. The core never reads the clock, so
//! every function here takes the instant as a parameter (unix seconds, UTC).
//!
//! Every period is a half-open interval `[start, end)` of unix seconds and the
//! periods of one kind tile the time line: the `end` of one is exactly the
//! `start` of the next. Both properties matter to the ledger: a counter is
//! keyed by the period's `start`, and `end` is what the user sees as
//! `resets_at`. Gaps or overlaps between periods would let usage be forgotten
//! or counted twice.
//!
//! The only thing this module asks of a time zone is its UTC offset at an
//! instant ([`Zone::offset_at`]); where that comes from (the bundled IANA
//! database, or the host's `Intl` in the npm package) is [`crate::zone`]'s
//! business. So every rule below is the same code in every runtime.
//!
//! Daylight-saving time makes local midnight awkward:
//!
//! * Days are 23 or 25 hours long on transition days. That is correct: the
//!   quota resets when the wall clock says midnight.
//! * If local midnight does not exist (a gap at 00:00, as Asia/Tehran had until
//!   2022, and America/Santiago and America/Havana have), the day starts at the
//!   first instant whose local date is that day, i.e. at the transition (the
//!   wall clock then reads 01:00).
//! * If local midnight happens twice (a fold at 00:00), the day starts at the
//!   earlier one, so a day never starts late and the previous day never
//!   swallows part of the new one.
//!
//! `"calendar": "persian"` makes `month` follow Solar Hijri (Jalali) months;
//! the conversion is the arithmetic algorithm of jalaali-js (Borkowski's leap
//! year breaks), reimplemented here. It is defined for years −61 … 3177 AH and
//! matches the official Iranian calendar in the era the product lives in
//! (tests check known Nowruz and Esfand 30 dates and every day 1990–2100).
//!
//! Dates are day numbers (days since 1970-01-01, proleptic Gregorian), so
//! the arithmetic is plain integers.

use crate::zone::{civil_from_days, days_from_civil, Zone};

/// Which calendar `month` windows follow. Days and weeks are the same in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarKind {
    /// Months start on the 1st of January, February, … (the default).
    Gregorian,
    /// Months start on the 1st of Farvardin, Ordibehesht, … (Solar Hijri), as
    /// Iranian users count their months.
    Persian,
}

/// A calendar period whose bounds depend on the local wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Local midnight to the next local midnight.
    Day,
    /// Local midnight of the most recent `week_start` day, for seven local days.
    Week,
    /// Local midnight of the 1st of the month to the 1st of the next month.
    Month,
}

/// A day of the week (the config's `week_start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// 0 for Monday … 6 for Sunday.
    pub fn num_days_from_monday(self) -> i64 {
        self as i64
    }

    /// The weekday of a day number (1970-01-01 was a Thursday).
    fn of_day(day: i64) -> i64 {
        (day + 3).rem_euclid(7)
    }
}

/// The settings that decide where calendar periods fall: the config's
/// `timezone`, `week_start` and `calendar`.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    /// The IANA zone whose wall clock defines midnight.
    pub tz: Zone,
    /// The day a week starts on.
    pub week_start: Weekday,
    /// Which months `Period::Month` means.
    pub kind: CalendarKind,
}

impl Default for Calendar {
    /// The product's defaults (SPEC §1/§2): Asia/Tehran, weeks from Monday,
    /// Gregorian months.
    fn default() -> Self {
        Calendar {
            tz: tehran(),
            week_start: Weekday::Mon,
            kind: CalendarKind::Gregorian,
        }
    }
}

/// Asia/Tehran, which every build carries ([`crate::zone`]).
pub fn tehran() -> Zone {
    Zone::named("Asia/Tehran").unwrap_or_else(Zone::utc)
}

/// 1800-01-01T00:00:00Z. Below this, instants are clamped (see [`Calendar::bounds`]).
const MIN_T: i64 = -5_364_662_400;
/// 2400-01-01T00:00:00Z. From this on, instants are clamped (see [`Calendar::bounds`]).
const MAX_T: i64 = 13_569_465_600;

/// How far (seconds) either side of a naive local midnight the matching
/// instant can be: more than any UTC offset tzdata has ever had (±15:56 LMT).
const SEARCH_SPAN: i64 = 30 * 3600;

const DAY: i64 = 86_400;

impl Calendar {
    /// A calendar from its three settings.
    pub fn new(tz: Zone, week_start: Weekday, kind: CalendarKind) -> Self {
        Calendar {
            tz,
            week_start,
            kind,
        }
    }

    /// `[start, end)` in unix seconds of the `period` that contains instant `t`
    /// (unix seconds, UTC).
    ///
    /// Always `start <= t < end`, and the `end` of one period is the `start` of
    /// the next, so counters keyed by `start` neither overlap nor leave holes.
    ///
    /// Total for every `i64`: periods are computed exactly from 1800 to 2400
    /// CE. Before that, everything before the first computed period is one
    /// period `[i64::MIN, start)`; after it, everything from the end of the
    /// last computed period on is one period `[end, i64::MAX)` (for
    /// `t == i64::MAX` itself, `end == t`, the only case where `t < end` fails).
    /// No real instant is anywhere near these limits; they only keep the
    /// function from panicking on garbage input.
    pub fn bounds(&self, period: Period, t: i64) -> (i64, i64) {
        if t < MIN_T {
            let (s, e) = self.bounds_in_range(period, MIN_T);
            return if t >= s { (s, e) } else { (i64::MIN, s) };
        }
        if t >= MAX_T {
            let (s, e) = self.bounds_in_range(period, MAX_T);
            return if t < e { (s, e) } else { (e, i64::MAX) };
        }
        self.bounds_in_range(period, t)
    }

    /// [`Calendar::bounds`] for `t` in `[MIN_T, MAX_T]`, where the Jalali
    /// arithmetic is valid.
    fn bounds_in_range(&self, period: Period, t: i64) -> (i64, i64) {
        let (day, day_start) = self.day_of(t);
        let (first, next) = match period {
            Period::Day => {
                // The day's start is known already: one midnight to find.
                return (day_start, self.day_start(day + 1));
            }
            Period::Week => {
                let back =
                    (Weekday::of_day(day) - self.week_start.num_days_from_monday()).rem_euclid(7);
                (day - back, day - back + 7)
            }
            Period::Month => {
                let (y, m, d) = civil_from_days(day);
                match self.kind {
                    CalendarKind::Gregorian => {
                        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                        (days_from_civil(y, m, 1), days_from_civil(ny, nm, 1))
                    }
                    CalendarKind::Persian => {
                        let (jy, jm, _) = gregorian_to_jalali(narrow(y), m as u32, d as u32);
                        let (ny, nm) = if jm == 12 { (jy + 1, 1) } else { (jy, jm + 1) };
                        (jalali_day(jy, jm), jalali_day(ny, nm))
                    }
                }
            }
        };
        let start = if first == day {
            day_start
        } else {
            self.day_start(first)
        };
        (start, self.day_start(next))
    }

    /// The local date (day number) whose day contains `t`, with the instant
    /// that day starts: the latest date `d` with `day_start(d) <= t`.
    ///
    /// Usually that is simply the wall-clock date of `t`. It differs only
    /// where the wall clock runs backwards across midnight (a fold from
    /// 00:30 back to 23:30, say): the repeated 23:xx already belongs to the
    /// new day, because that day has started and periods must not overlap.
    /// The loops are bounded so that even nonsensical tz data cannot hang us.
    fn day_of(&self, t: i64) -> (i64, i64) {
        let mut day = self.wall_seconds(t).div_euclid(DAY);
        let mut start = self.day_start(day);
        for _ in 0..4 {
            if start <= t {
                break;
            }
            day -= 1;
            start = self.day_start(day);
        }
        for _ in 0..4 {
            let next = self.day_start(day + 1);
            if next > t {
                break;
            }
            day += 1;
            start = next;
        }
        (day, start)
    }

    /// The first instant (unix seconds) whose wall-clock time is at or after
    /// local midnight of day number `day`.
    fn day_start(&self, day: i64) -> i64 {
        let midnight = day * DAY;
        // If midnight happens twice, the day starts at the first one; if it
        // is skipped, at the transition, the first instant whose wall clock
        // is past midnight.
        self.tz
            .earliest(midnight)
            .unwrap_or_else(|| self.first_at_or_after(midnight))
    }

    /// The first instant whose wall clock reads `local` (seconds of the naive
    /// local time line) or later, for a `local` that falls in a gap. Binary
    /// search over one second steps: transitions are on whole seconds, so the
    /// answer is exact.
    fn first_at_or_after(&self, local: i64) -> i64 {
        // Invariant: wall(lo) < local <= wall(hi), which holds at the start
        // because no UTC offset exceeds SEARCH_SPAN.
        let mut lo = local - SEARCH_SPAN;
        let mut hi = local + SEARCH_SPAN;
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.wall_seconds(mid) >= local {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }

    /// Seconds east of UTC at `t`.
    fn offset(&self, t: i64) -> i64 {
        i64::from(self.tz.offset_at(t))
    }

    /// The local wall-clock time at instant `t`, as seconds on the naive
    /// local time line (local midnight of day `d` is `d * 86400`).
    fn wall_seconds(&self, t: i64) -> i64 {
        t + self.offset(t)
    }
}

/// A year that fits an `i32` (always, for the clamped range).
fn narrow(y: i64) -> i32 {
    i32::try_from(y).unwrap_or(if y < 0 { i32::MIN } else { i32::MAX })
}

/// The day number of the 1st of Jalali month `jm` of year `jy`.
fn jalali_day(jy: i32, jm: u32) -> i64 {
    let (y, m, d) = jalali_to_gregorian(jy, jm, 1);
    days_from_civil(i64::from(y), i64::from(m), i64::from(d))
}

/// An IANA time zone by its exact name (`"Asia/Tehran"`, `"UTC"`, …), as the
/// config's `timezone` must be written. `None` for unknown names, so config
/// validation can report the field. Names are case-sensitive, as in tzdata.
pub fn parse_tz(name: &str) -> Option<Zone> {
    Zone::named(name)
}

/// Why `name` is not a usable `timezone`: not an IANA name at all, or (in
/// the npm package, which asks the host for zone data) a name the
/// JavaScript engine's `Intl` does not know.
pub fn unknown_zone(name: &str) -> String {
    if crate::zone::is_known_name(name) {
        format!(
            "time zone {name:?} is not known to this runtime's time zone data ({})",
            crate::zone::data_source()
        )
    } else {
        format!("unknown IANA time zone {name:?}")
    }
}

/// The config's `week_start`: `"monday"` … `"sunday"`, case-insensitive.
/// Only full English names are accepted, so a typo is reported rather than
/// guessed at.
pub fn parse_weekday(name: &str) -> Option<Weekday> {
    const DAYS: [(&str, Weekday); 7] = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];
    DAYS.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, w)| w)
}

/// The config's `calendar`: `"gregorian"` or `"persian"`, case-insensitive.
pub fn parse_calendar_kind(name: &str) -> Option<CalendarKind> {
    if name.eq_ignore_ascii_case("gregorian") {
        Some(CalendarKind::Gregorian)
    } else if name.eq_ignore_ascii_case("persian") {
        Some(CalendarKind::Persian)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Solar Hijri (Jalali) conversion.
//
// A reimplementation of the arithmetic in jalaali-js: leap years follow the
// 33-year cycles between Borkowski's "break" years, an arithmetic
// approximation of the astronomical (official) calendar, defined for
// -61 … 3177 AH. Integer division here
// truncates toward zero, exactly like the `~~(a / b)` of the original; all
// arithmetic is in i64 so no input can overflow.
// ---------------------------------------------------------------------------

/// Jalali years at which the leap-year pattern of the 33-year cycle shifts.
const BREAKS: [i64; 20] = [
    -61, 9, 38, 199, 426, 686, 756, 818, 1111, 1181, 1210, 1635, 2060, 2097, 2192, 2262, 2324,
    2394, 2456, 3178,
];
/// The first and last Jalali years the break table covers.
const MIN_JY: i64 = -61;
const MAX_JY: i64 = 3177;

/// What [`jal_cal`] knows about a Jalali year.
struct JalaliYear {
    /// 0 for a leap year (Esfand has 30 days), 1..=3 otherwise.
    leap: i64,
    /// The Gregorian year in which the Jalali year starts.
    gy: i64,
    /// The day in March of `gy` on which Farvardin 1 falls.
    march: i64,
}

/// Leap status and start (in March) of Jalali year `jy` (must be within
/// `MIN_JY..=MAX_JY`; callers clamp).
fn jal_cal(jy: i64) -> JalaliYear {
    let gy = jy + 621;
    let mut leap_j: i64 = -14;
    let mut jp = BREAKS[0];
    let mut jump = 0;
    for &jm in &BREAKS[1..] {
        jump = jm - jp;
        if jy < jm {
            break;
        }
        leap_j += jump / 33 * 8 + (jump % 33) / 4;
        jp = jm;
    }
    let mut n = jy - jp;
    // Leap years from the last break up to this year.
    leap_j += n / 33 * 8 + ((n % 33) + 3) / 4;
    if jump % 33 == 4 && jump - n == 4 {
        leap_j += 1;
    }
    // Gregorian leap years up to gy.
    let leap_g = gy / 4 - ((gy / 100 + 1) * 3) / 4 - 150;
    let march = 20 + leap_j - leap_g;
    if jump - n < 6 {
        n = n - jump + (jump + 4) / 33 * 33;
    }
    let mut leap = (((n + 1) % 33) - 1) % 4;
    if leap == -1 {
        leap = 4;
    }
    JalaliYear { leap, gy, march }
}

/// Julian day number of a Gregorian date (any month/day; overflowing days roll over).
fn g2d(gy: i64, gm: i64, gd: i64) -> i64 {
    let d = ((gy + (gm - 8) / 6 + 100_100) * 1461) / 4 + (153 * ((gm + 9) % 12) + 2) / 5 + gd
        - 34_840_408;
    d - ((gy + 100_100 + (gm - 8) / 6) / 100 * 3) / 4 + 752
}

/// Gregorian date of a Julian day number.
fn d2g(jdn: i64) -> (i64, i64, i64) {
    let mut j = 4 * jdn + 139_361_631;
    j += (4 * jdn + 183_187_720) / 146_097 * 3 / 4 * 4 - 3908;
    let i = (j % 1461) / 4 * 5 + 308;
    let gd = (i % 153) / 5 + 1;
    let gm = (i / 153) % 12 + 1;
    let gy = j / 1461 - 100_100 + (8 - gm) / 6;
    (gy, gm, gd)
}

/// Julian day number of a Jalali date.
fn j2d(jy: i64, jm: i64, jd: i64) -> i64 {
    let r = jal_cal(jy);
    g2d(r.gy, 3, r.march) + (jm - 1) * 31 - jm / 7 * (jm - 7) + jd - 1
}

/// Jalali date of a Julian day number (within the supported range).
fn d2j(jdn: i64) -> (i64, i64, i64) {
    let gy = d2g(jdn).0;
    let mut jy = gy - 621;
    let r = jal_cal(jy);
    let farvardin1 = g2d(gy, 3, r.march);
    let mut k = jdn - farvardin1;
    if k >= 0 {
        if k <= 185 {
            // The first six months have 31 days.
            return (jy, 1 + k / 31, k % 31 + 1);
        }
        k -= 186;
    } else {
        // Before Nowruz: the last months of the previous Jalali year.
        jy -= 1;
        k += 179;
        if r.leap == 1 {
            k += 1;
        }
    }
    (jy, 7 + k / 30, k % 30 + 1)
}

/// Days in Jalali month `jm` of year `jy`: 31 for the first six, 30 for the
/// next five, and Esfand 29 or 30 (leap years).
fn jalali_month_days(jy: i64, jm: i64) -> i64 {
    match jm {
        1..=6 => 31,
        7..=11 => 30,
        _ if jal_cal(jy).leap == 0 => 30,
        _ => 29,
    }
}

/// The Solar Hijri (Jalali) date `(year, month, day)` of a Gregorian date.
///
/// Defined for Gregorian years 561 … 3798 (Jalali −61 … 3177), far beyond the
/// 1921–2121 the product needs. Out-of-range input is clamped rather than
/// rejected so the function is total: the year into that range, the month
/// into 1..=12 and the day into the month's length.
pub fn gregorian_to_jalali(y: i32, m: u32, d: u32) -> (i32, u32, u32) {
    let gy = i64::from(y).clamp(MIN_JY + 622, MAX_JY + 621);
    let gm = i64::from(m).clamp(1, 12);
    let gd = i64::from(d).clamp(1, crate::zone::month_days(gy, gm));
    let (jy, jm, jd) = d2j(g2d(gy, gm, gd));
    to_ymd(jy, jm, jd)
}

/// The Gregorian date `(year, month, day)` of a Solar Hijri (Jalali) date;
/// month 1 is Farvardin (Nowruz is Farvardin 1).
///
/// Defined for Jalali years −61 … 3177. Out-of-range input is clamped rather
/// than rejected so the function is total: the year into that range, the
/// month into 1..=12 and the day into the month's length (Esfand 30 of a
/// common year becomes Esfand 29).
pub fn jalali_to_gregorian(jy: i32, jm: u32, jd: u32) -> (i32, u32, u32) {
    let jy = i64::from(jy).clamp(MIN_JY, MAX_JY);
    let jm = i64::from(jm).clamp(1, 12);
    let jd = i64::from(jd).clamp(1, jalali_month_days(jy, jm));
    let (gy, gm, gd) = d2g(j2d(jy, jm, jd));
    to_ymd(gy, gm, gd)
}

/// Narrow a computed date; the clamped inputs keep every part in range.
fn to_ymd(y: i64, m: i64, d: i64) -> (i32, u32, u32) {
    (
        i32::try_from(y).unwrap_or(0),
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of an RFC 3339 timestamp.
    fn ts(s: &str) -> i64 {
        crate::time::parse_rfc3339(s).unwrap()
    }

    fn cal(tz: &str) -> Calendar {
        Calendar {
            tz: parse_tz(tz).unwrap(),
            ..Calendar::default()
        }
    }

    fn persian(tz: &str) -> Calendar {
        Calendar {
            kind: CalendarKind::Persian,
            ..cal(tz)
        }
    }

    fn b(c: &Calendar, p: Period, t: &str) -> (i64, i64) {
        c.bounds(p, ts(t))
    }

    fn pair(s: &str, e: &str) -> (i64, i64) {
        (ts(s), ts(e))
    }

    #[test]
    fn clamp_constants_are_the_dates_they_claim() {
        assert_eq!(MIN_T, ts("1800-01-01T00:00:00Z"));
        assert_eq!(MAX_T, ts("2400-01-01T00:00:00Z"));
    }

    #[test]
    fn default_is_tehran_monday_gregorian() {
        let c = Calendar::default();
        assert_eq!(c.tz.name(), "Asia/Tehran");
        assert_eq!(c.week_start, Weekday::Mon);
        assert_eq!(c.kind, CalendarKind::Gregorian);
        assert_eq!(
            Calendar::new(tehran(), Weekday::Mon, CalendarKind::Gregorian),
            c
        );
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_tz("Asia/Tehran").unwrap().name(), "Asia/Tehran");
        assert_eq!(parse_tz("UTC"), Some(Zone::utc()));
        assert_eq!(
            parse_tz("America/New_York").unwrap().name(),
            "America/New_York"
        );
        assert_eq!(parse_tz("Mars/Olympus"), None);
        assert_eq!(parse_tz(""), None);
        assert_eq!(parse_weekday("monday"), Some(Weekday::Mon));
        assert_eq!(parse_weekday("Sunday"), Some(Weekday::Sun));
        assert_eq!(parse_weekday("SATURDAY"), Some(Weekday::Sat));
        assert_eq!(parse_weekday("tuesday"), Some(Weekday::Tue));
        assert_eq!(parse_weekday("wednesday"), Some(Weekday::Wed));
        assert_eq!(parse_weekday("thursday"), Some(Weekday::Thu));
        assert_eq!(parse_weekday("friday"), Some(Weekday::Fri));
        assert_eq!(parse_weekday("mon"), None);
        assert_eq!(parse_weekday(" monday"), None);
        assert_eq!(parse_weekday(""), None);
        assert_eq!(parse_calendar_kind("persian"), Some(CalendarKind::Persian));
        assert_eq!(
            parse_calendar_kind("Gregorian"),
            Some(CalendarKind::Gregorian)
        );
        assert_eq!(parse_calendar_kind("jalali"), None);
    }

    #[test]
    fn tehran_midnight_is_not_utc_midnight() {
        let c = Calendar::default();
        // 2026-11-23T20:29:59Z is 23:59:59 on the 23rd in Tehran (+03:30).
        assert_eq!(
            b(&c, Period::Day, "2026-11-23T20:29:59Z"),
            pair("2026-11-22T20:30:00Z", "2026-11-23T20:30:00Z")
        );
        // One second later it is 00:00 on the 24th.
        assert_eq!(
            b(&c, Period::Day, "2026-11-23T20:30:00Z"),
            pair("2026-11-23T20:30:00Z", "2026-11-24T20:30:00Z")
        );
        // UTC midnight is 03:30 local, in the middle of the local day.
        assert_eq!(
            b(&c, Period::Day, "2026-11-24T00:00:00Z"),
            pair("2026-11-23T20:30:00Z", "2026-11-24T20:30:00Z")
        );
        // The same instants in UTC split at UTC midnight.
        let u = cal("UTC");
        assert_eq!(
            b(&u, Period::Day, "2026-11-23T20:30:00Z"),
            pair("2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z")
        );
    }

    #[test]
    fn week_rolls_over_on_monday() {
        let c = Calendar::default();
        // 2026-11-23 is a Monday. Sunday 23:59:59 Tehran is still last week.
        let last = pair("2026-11-15T20:30:00Z", "2026-11-22T20:30:00Z");
        assert_eq!(b(&c, Period::Week, "2026-11-22T20:29:59Z"), last);
        assert_eq!(b(&c, Period::Week, "2026-11-16T00:00:00Z"), last);
        let this = pair("2026-11-22T20:30:00Z", "2026-11-29T20:30:00Z");
        assert_eq!(b(&c, Period::Week, "2026-11-22T20:30:00Z"), this);
        assert_eq!(b(&c, Period::Week, "2026-11-25T12:00:00Z"), this);
        assert_eq!(b(&c, Period::Week, "2026-11-29T20:29:59Z"), this);
    }

    #[test]
    fn week_with_sunday_start() {
        let c = Calendar {
            week_start: Weekday::Sun,
            ..cal("UTC")
        };
        // 2026-11-22 is a Sunday.
        assert_eq!(
            b(&c, Period::Week, "2026-11-21T23:59:59Z"),
            pair("2026-11-15T00:00:00Z", "2026-11-22T00:00:00Z")
        );
        assert_eq!(
            b(&c, Period::Week, "2026-11-22T00:00:00Z"),
            pair("2026-11-22T00:00:00Z", "2026-11-29T00:00:00Z")
        );
        // A Monday belongs to the week that started the day before.
        assert_eq!(
            b(&c, Period::Week, "2026-11-23T10:00:00Z"),
            pair("2026-11-22T00:00:00Z", "2026-11-29T00:00:00Z")
        );
        // Saturday (Iran's first weekday) in Tehran.
        let t = Calendar {
            week_start: Weekday::Sat,
            ..Calendar::default()
        };
        assert_eq!(
            b(&t, Period::Week, "2026-11-23T10:00:00Z"),
            pair("2026-11-20T20:30:00Z", "2026-11-27T20:30:00Z")
        );
    }

    #[test]
    fn gregorian_month_ends() {
        let c = Calendar::default();
        // Jan 31 23:59:59 Tehran is January; 00:00 Feb 1 is February.
        assert_eq!(
            b(&c, Period::Month, "2026-01-31T20:29:59Z"),
            pair("2025-12-31T20:30:00Z", "2026-01-31T20:30:00Z")
        );
        assert_eq!(
            b(&c, Period::Month, "2026-01-31T20:30:00Z"),
            pair("2026-01-31T20:30:00Z", "2026-02-28T20:30:00Z")
        );
        // April has 30 days.
        assert_eq!(
            b(&c, Period::Month, "2026-04-30T12:00:00Z"),
            pair("2026-03-31T20:30:00Z", "2026-04-30T20:30:00Z")
        );
        // Dec 31 → Jan 1 crosses the year.
        assert_eq!(
            b(&c, Period::Month, "2026-12-31T20:29:59Z"),
            pair("2026-11-30T20:30:00Z", "2026-12-31T20:30:00Z")
        );
        assert_eq!(
            b(&c, Period::Month, "2026-12-31T20:30:00Z"),
            pair("2026-12-31T20:30:00Z", "2027-01-31T20:30:00Z")
        );
        // The day rolls over the year too.
        assert_eq!(
            b(&c, Period::Day, "2026-12-31T21:00:00Z"),
            pair("2026-12-31T20:30:00Z", "2027-01-01T20:30:00Z")
        );
    }

    #[test]
    fn february_in_leap_and_common_years() {
        let u = cal("UTC");
        // 2028 is a leap year: Feb 29 exists and February has 29 days.
        assert_eq!(
            b(&u, Period::Day, "2028-02-29T12:00:00Z"),
            pair("2028-02-29T00:00:00Z", "2028-03-01T00:00:00Z")
        );
        assert_eq!(
            b(&u, Period::Month, "2028-02-29T23:59:59Z"),
            pair("2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z")
        );
        // 2027 is not: Feb 28 is followed by Mar 1.
        assert_eq!(
            b(&u, Period::Month, "2027-02-28T23:59:59Z"),
            pair("2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z")
        );
        assert_eq!(
            b(&u, Period::Day, "2027-02-28T12:00:00Z"),
            pair("2027-02-28T00:00:00Z", "2027-03-01T00:00:00Z")
        );
        let c = Calendar::default();
        assert_eq!(
            b(&c, Period::Month, "2028-02-15T00:00:00Z"),
            pair("2028-01-31T20:30:00Z", "2028-02-29T20:30:00Z")
        );
    }

    #[test]
    fn new_york_dst_days_are_23_and_25_hours() {
        let c = cal("America/New_York");
        // 2026-03-08: 02:00 EST → 03:00 EDT. The day runs EST midnight to EDT midnight.
        let (s, e) = b(&c, Period::Day, "2026-03-08T12:00:00Z");
        assert_eq!((s, e), pair("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"));
        assert_eq!(e - s, 23 * 3600);
        // 2026-11-01: 02:00 EDT → 01:00 EST.
        let (s, e) = b(&c, Period::Day, "2026-11-01T12:00:00Z");
        assert_eq!((s, e), pair("2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"));
        assert_eq!(e - s, 25 * 3600);
        // Both 01:30s (the fold) belong to Nov 1.
        assert_eq!(b(&c, Period::Day, "2026-11-01T05:30:00Z"), (s, e));
        assert_eq!(b(&c, Period::Day, "2026-11-01T06:30:00Z"), (s, e));
        // A week containing a DST change is 7 days ± 1 hour.
        let (s, e) = b(&c, Period::Week, "2026-03-08T12:00:00Z");
        assert_eq!((s, e), pair("2026-03-02T05:00:00Z", "2026-03-09T04:00:00Z"));
        assert_eq!(e - s, 7 * 86400 - 3600);
        let (s, e) = b(&c, Period::Month, "2026-11-15T12:00:00Z");
        assert_eq!((s, e), pair("2026-11-01T04:00:00Z", "2026-12-01T05:00:00Z"));
    }

    #[test]
    fn berlin_dst_days() {
        let c = cal("Europe/Berlin");
        // 2026-03-29: 02:00 CET → 03:00 CEST.
        let (s, e) = b(&c, Period::Day, "2026-03-29T10:00:00Z");
        assert_eq!((s, e), pair("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"));
        assert_eq!(e - s, 23 * 3600);
        // 2026-10-25: 03:00 CEST → 02:00 CET.
        let (s, e) = b(&c, Period::Day, "2026-10-25T10:00:00Z");
        assert_eq!((s, e), pair("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"));
        assert_eq!(e - s, 25 * 3600);
    }

    #[test]
    fn tehran_2021_midnight_gap_and_fold() {
        let c = Calendar::default();
        // 2021-03-21 24:00 +03:30 became 2021-03-22 01:00 +04:30: midnight of
        // the 22nd never happened, so the 22nd starts at the transition
        // (wall clock 01:00) and is 23 hours long.
        let before = pair("2021-03-20T20:30:00Z", "2021-03-21T20:30:00Z");
        assert_eq!(b(&c, Period::Day, "2021-03-21T20:29:59Z"), before);
        assert_eq!(before.1 - before.0, 24 * 3600);
        let gap_day = pair("2021-03-21T20:30:00Z", "2021-03-22T19:30:00Z");
        assert_eq!(b(&c, Period::Day, "2021-03-21T20:30:00Z"), gap_day);
        assert_eq!(b(&c, Period::Day, "2021-03-22T19:29:59Z"), gap_day);
        assert_eq!(gap_day.1 - gap_day.0, 23 * 3600);
        // 2021-09-21 24:00 +04:30 went back to 23:00 +03:30: the 21st is 25 hours
        // and its repeated 23:xx hour is still the 21st.
        let fold_day = pair("2021-09-20T19:30:00Z", "2021-09-21T20:30:00Z");
        assert_eq!(b(&c, Period::Day, "2021-09-21T19:45:00Z"), fold_day);
        assert_eq!(b(&c, Period::Day, "2021-09-21T20:15:00Z"), fold_day);
        assert_eq!(fold_day.1 - fold_day.0, 25 * 3600);
        // The Persian month Farvardin 1400 started before the change and
        // spans it.
        let p = persian("Asia/Tehran");
        assert_eq!(
            b(&p, Period::Month, "2021-03-22T12:00:00Z"),
            pair("2021-03-20T20:30:00Z", "2021-04-20T19:30:00Z")
        );
    }

    #[test]
    fn santiago_midnight_gap() {
        let c = cal("America/Santiago");
        // 2026-09-06 00:00 -04 → 01:00 -03 (at 04:00Z): the 6th starts at 04:00Z.
        let (s, e) = b(&c, Period::Day, "2026-09-06T12:00:00Z");
        assert_eq!((s, e), pair("2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"));
        assert_eq!(e - s, 23 * 3600);
        assert_eq!(
            b(&c, Period::Day, "2026-09-06T03:59:59Z"),
            pair("2026-09-05T04:00:00Z", "2026-09-06T04:00:00Z")
        );
        // 2026-04-05 00:00 -03 → 2026-04-04 23:00 -04: the 4th is 25 hours.
        let (s, e) = b(&c, Period::Day, "2026-04-04T12:00:00Z");
        assert_eq!((s, e), pair("2026-04-04T03:00:00Z", "2026-04-05T04:00:00Z"));
        assert_eq!(e - s, 25 * 3600);
    }

    #[test]
    fn havana_gap_and_ambiguous_midnight() {
        let c = cal("America/Havana");
        // 2026-03-08 00:00 -05 → 01:00 -04: no midnight; the day starts at 05:00Z.
        let (s, e) = b(&c, Period::Day, "2026-03-08T12:00:00Z");
        assert_eq!((s, e), pair("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"));
        // 2025-11-02 01:00 -04 → 00:00 -05: midnight happens twice; the day
        // starts at the first one and is 25 hours. (Cuba stays on -04 from
        // 2026-03-08 to November 2027 in tzdata after 2026c: no 2026 fold.)
        let (s, e) = b(&c, Period::Day, "2025-11-02T12:00:00Z");
        assert_eq!((s, e), pair("2025-11-02T04:00:00Z", "2025-11-03T05:00:00Z"));
        assert_eq!(e - s, 25 * 3600);
        // The second midnight is inside the day, not the start of another.
        assert_eq!(b(&c, Period::Day, "2025-11-02T05:00:00Z"), (s, e));
        assert_eq!(
            b(&c, Period::Day, "2025-11-02T03:59:59Z"),
            pair("2025-11-01T04:00:00Z", "2025-11-02T04:00:00Z")
        );
        assert_eq!(
            b(&c, Period::Day, "2026-11-02T12:00:00Z"),
            pair("2026-11-02T04:00:00Z", "2026-11-03T04:00:00Z")
        );
    }

    #[test]
    fn samoa_skipped_day() {
        // Pacific/Apia skipped 2011-12-30 entirely. The 29th ends when the
        // 31st starts; no instant is in an empty period.
        let c = cal("Pacific/Apia");
        assert_eq!(
            b(&c, Period::Day, "2011-12-30T09:59:59Z"),
            pair("2011-12-29T10:00:00Z", "2011-12-30T10:00:00Z")
        );
        assert_eq!(
            b(&c, Period::Day, "2011-12-30T10:00:00Z"),
            pair("2011-12-30T10:00:00Z", "2011-12-31T10:00:00Z")
        );
    }

    #[test]
    fn persian_month_boundaries() {
        let p = persian("Asia/Tehran");
        // Nowruz 1405 (Farvardin 1) is 2026-03-21; Esfand 1404 (common year) has 29 days.
        assert_eq!(
            b(&p, Period::Month, "2026-03-20T20:29:59Z"),
            pair("2026-02-19T20:30:00Z", "2026-03-20T20:30:00Z")
        );
        assert_eq!(
            b(&p, Period::Month, "2026-03-20T20:30:00Z"),
            pair("2026-03-20T20:30:00Z", "2026-04-20T20:30:00Z")
        );
        // Esfand 1403 (leap year) has 30 days: Esfand 30, 1403 = 2025-03-20.
        let (s, e) = b(&p, Period::Month, "2025-03-20T12:00:00Z");
        assert_eq!((s, e), pair("2025-02-18T20:30:00Z", "2025-03-20T20:30:00Z"));
        assert_eq!(e - s, 30 * 86400);
        // Shahrivar (31 days) → Mehr 1 1405 = 2026-09-23; Mehr has 30 days.
        assert_eq!(
            b(&p, Period::Month, "2026-09-22T20:29:59Z"),
            pair("2026-08-22T20:30:00Z", "2026-09-22T20:30:00Z")
        );
        assert_eq!(
            b(&p, Period::Month, "2026-09-22T20:30:00Z"),
            pair("2026-09-22T20:30:00Z", "2026-10-22T20:30:00Z")
        );
        // Days and weeks do not depend on the calendar kind.
        let g = Calendar::default();
        for t in ["2026-03-20T20:30:00Z", "2026-09-23T10:00:00Z"] {
            assert_eq!(b(&p, Period::Day, t), b(&g, Period::Day, t));
            assert_eq!(b(&p, Period::Week, t), b(&g, Period::Week, t));
        }
    }

    #[test]
    fn jalali_known_dates() {
        // (Jalali, Gregorian) pairs from the official calendar.
        let known = [
            ((1300, 1, 1), (1921, 3, 21)),
            ((1370, 1, 1), (1991, 3, 21)),
            ((1395, 12, 30), (2017, 3, 20)),
            ((1399, 1, 1), (2020, 3, 20)),
            ((1399, 12, 30), (2021, 3, 20)),
            ((1400, 1, 1), (2021, 3, 21)),
            ((1403, 1, 1), (2024, 3, 20)),
            ((1403, 12, 30), (2025, 3, 20)),
            ((1404, 1, 1), (2025, 3, 21)),
            ((1404, 12, 29), (2026, 3, 20)),
            ((1405, 1, 1), (2026, 3, 21)),
            ((1405, 7, 1), (2026, 9, 23)),
            ((1407, 1, 1), (2028, 3, 20)),
            ((1408, 12, 30), (2030, 3, 20)),
        ];
        for (j, g) in known {
            assert_eq!(jalali_to_gregorian(j.0, j.1, j.2), g, "{j:?}");
            assert_eq!(gregorian_to_jalali(g.0, g.1, g.2), j, "{g:?}");
        }
        // Esfand of a common year has 29 days: Esfand 30 is clamped to 29.
        assert_eq!(jalali_to_gregorian(1404, 12, 30), (2026, 3, 20));
    }

    #[test]
    fn jalali_round_trip_every_day_1990_to_2100() {
        let mut day = days_from_civil(1990, 1, 1);
        let end = days_from_civil(2101, 1, 1);
        let mut prev = gregorian_to_jalali(1989, 12, 31);
        while day < end {
            let (y, m, d) = civil_from_days(day);
            let (y, m, d) = (y as i32, m as u32, d as u32);
            let j = gregorian_to_jalali(y, m, d);
            assert_eq!(jalali_to_gregorian(j.0, j.1, j.2), (y, m, d), "{day}");
            // Consecutive Gregorian days are consecutive Jalali days.
            let expected = if i64::from(prev.2) < jalali_month_days(prev.0.into(), prev.1.into()) {
                (prev.0, prev.1, prev.2 + 1)
            } else if prev.1 < 12 {
                (prev.0, prev.1 + 1, 1)
            } else {
                (prev.0 + 1, 1, 1)
            };
            assert_eq!(j, expected, "{day}");
            prev = j;
            day += 1;
        }
    }

    #[test]
    fn jalali_is_total() {
        for y in [i32::MIN, -1000, 0, 560, 3800, i32::MAX] {
            for m in [0, 1, 12, 13, u32::MAX] {
                for d in [0, 1, 31, u32::MAX] {
                    let _ = gregorian_to_jalali(y, m, d);
                    let _ = jalali_to_gregorian(y, m, d);
                }
            }
        }
        // Clamped month and day.
        assert_eq!(
            gregorian_to_jalali(2026, 2, 31),
            gregorian_to_jalali(2026, 2, 28)
        );
        assert_eq!(
            jalali_to_gregorian(1405, 13, 1),
            jalali_to_gregorian(1405, 12, 1)
        );
    }

    /// A deterministic pseudo-random sequence (no dependency, reproducible).
    fn lcg(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *state >> 33
    }

    /// Checks containment and tiling around `t`, and that the period is within
    /// `slack` hours of its nominal length.
    fn check_period(c: &Calendar, p: Period, t: i64, slack: i64) {
        let (s, e) = c.bounds(p, t);
        assert!(s <= t && t < e, "{c:?} {p:?} t={t}: ({s}, {e})");
        // Tiling: the next period starts where this one ends, and the
        // previous one ends where this one starts.
        assert_eq!(c.bounds(p, e).0, e, "{c:?} {p:?} t={t}");
        assert_eq!(c.bounds(p, s - 1).1, s, "{c:?} {p:?} t={t}");
        assert_eq!(c.bounds(p, s), (s, e), "{c:?} {p:?} t={t}");
        assert_eq!(c.bounds(p, e - 1), (s, e), "{c:?} {p:?} t={t}");
        let (min, max) = match p {
            Period::Day => (24 - slack, 24 + slack),
            Period::Week => (7 * 24 - slack, 7 * 24 + slack),
            Period::Month => (28 * 24 - slack, 31 * 24 + slack),
        };
        assert!(
            (min * 3600..=max * 3600).contains(&(e - s)),
            "{c:?} {p:?} t={t}: ({s}, {e})"
        );
    }

    #[test]
    fn periods_contain_t_and_tile_over_a_year() {
        let zones = [
            "Asia/Tehran",
            "UTC",
            "America/New_York",
            "Europe/Berlin",
            "America/Santiago",
            "America/Havana",
            "Australia/Lord_Howe",
            "Asia/Kathmandu",
            "Pacific/Chatham",
            "America/St_Johns",
        ];
        let starts = [ts("2021-01-01T00:00:00Z"), ts("2026-01-01T00:00:00Z")];
        let mut state = 42;
        for zone in zones {
            for kind in [CalendarKind::Gregorian, CalendarKind::Persian] {
                for week_start in [Weekday::Mon, Weekday::Sat, Weekday::Sun] {
                    let c = Calendar::new(parse_tz(zone).unwrap(), week_start, kind);
                    for &start in &starts {
                        for _ in 0..150 {
                            let t = start + (lcg(&mut state) % (366 * 86400)) as i64;
                            for p in [Period::Day, Period::Week, Period::Month] {
                                check_period(&c, p, t, 2);
                            }
                        }
                        // Walk a whole year of consecutive days and months.
                        for p in [Period::Day, Period::Month] {
                            let mut t = start;
                            while t < start + 366 * 86400 {
                                let (s, e) = c.bounds(p, t);
                                assert!(s <= t && t < e);
                                assert_eq!(c.bounds(p, e).0, e);
                                t = e;
                            }
                        }
                    }
                }
            }
        }
    }

    #[cfg(feature = "tzdb")]
    #[test]
    fn every_zone_every_era() {
        // Every zone in tzdata, sampled from 1900 to 2100: historical offsets,
        // odd gaps and folds must still give containing, tiling periods.
        let from = ts("1900-01-01T00:00:00Z");
        let span = ts("2100-01-01T00:00:00Z") - from;
        let mut state = 7;
        for name in crate::zone::names() {
            let c = Calendar::new(parse_tz(name).unwrap(), Weekday::Mon, CalendarKind::Persian);
            for _ in 0..40 {
                let t = from + (lcg(&mut state) as i64 % span);
                for p in [Period::Day, Period::Week, Period::Month] {
                    // Historical zones jumped by up to a day at once
                    // (Antarctic stations going from -00 to +07, Samoa and
                    // Kwajalein crossing the date line), hence the slack.
                    check_period(&c, p, t, 25);
                }
            }
        }
    }

    #[test]
    fn bounds_is_total() {
        let c = persian("Asia/Tehran");
        for t in [
            i64::MIN,
            i64::MIN + 1,
            -100_000_000_000,
            MIN_T - 1,
            MIN_T,
            MAX_T - 1,
            MAX_T,
            100_000_000_000,
            i64::MAX - 1,
        ] {
            for p in [Period::Day, Period::Week, Period::Month] {
                let (s, e) = c.bounds(p, t);
                assert!(s <= t && t < e, "{p:?} t={t}: ({s}, {e})");
                if e != i64::MAX {
                    assert_eq!(c.bounds(p, e).0, e);
                }
                if s != i64::MIN {
                    assert_eq!(c.bounds(p, s - 1).1, s);
                }
            }
        }
        let (s, e) = c.bounds(Period::Day, i64::MAX);
        assert!(s < e && e == i64::MAX);
        // ±100 years of 2000 are computed exactly, not clamped.
        let u = cal("UTC");
        assert_eq!(
            b(&u, Period::Day, "1900-06-15T12:00:00Z"),
            pair("1900-06-15T00:00:00Z", "1900-06-16T00:00:00Z")
        );
        assert_eq!(
            b(&u, Period::Month, "2100-02-15T12:00:00Z"),
            pair("2100-02-01T00:00:00Z", "2100-03-01T00:00:00Z")
        );
    }
}
