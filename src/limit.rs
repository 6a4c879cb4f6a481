//! Limits: what is counted (metric), for which models (scope), over which
//! span of time (window), and how much is allowed (max).
//!
//! Inside the crate these are enums; at every boundary they are the stable
//! strings of SPEC §1 (`tokens`, `free`, `1h`, …).

use crate::glob;
use std::fmt;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    Messages,
    Tokens,
    Images,
    Files,
    FileBytes,
    /// Counted in integer micro-dollars, shown in dollars.
    CostUsd,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::Messages,
        Metric::Tokens,
        Metric::Images,
        Metric::Files,
        Metric::FileBytes,
        Metric::CostUsd,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Messages => "messages",
            Metric::Tokens => "tokens",
            Metric::Images => "images",
            Metric::Files => "files",
            Metric::FileBytes => "file_bytes",
            Metric::CostUsd => "cost_usd",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Position in [`Amounts`] arrays.
    pub fn idx(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One amount per metric (micro-dollars for cost), in [`Metric::ALL`] order.
pub type Amounts = [u64; 6];

/// Which models' usage a limit counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every action (the default).
    All,
    /// Only actions on free models.
    Free,
    /// Only actions on non-free models.
    Paid,
    /// Only actions on models whose id matches this glob (per-model limits).
    Model(String),
}

impl Scope {
    pub fn parse(s: &str) -> Scope {
        match s {
            "all" => Scope::All,
            "free" => Scope::Free,
            "paid" => Scope::Paid,
            other => Scope::Model(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Scope::All => "all",
            Scope::Free => "free",
            Scope::Paid => "paid",
            Scope::Model(g) => g,
        }
    }

    /// Does a limit with this scope count an action on `model` (`(id, free)`)?
    /// Actions without a model (uploads) are counted only by `all`.
    pub fn matches(&self, model: Option<(&str, bool)>) -> bool {
        match (self, model) {
            (Scope::All, _) => true,
            (_, None) => false,
            (Scope::Free, Some((_, free))) => free,
            (Scope::Paid, Some((_, free))) => !free,
            (Scope::Model(g), Some((id, _))) => glob::matches(g, id),
        }
    }

    /// [`Scope::matches`] for a scope still in its text form (a grant's),
    /// without building the `Scope` (which copies a model pattern).
    pub fn str_matches(scope: &str, model: Option<(&str, bool)>) -> bool {
        match (scope, model) {
            ("all", _) => true,
            (_, None) => false,
            ("free", Some((_, free))) => free,
            ("paid", Some((_, free))) => !free,
            (glob, Some((id, _))) => glob::matches(glob, id),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Units of a rolling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Minutes,
    Hours,
    Days,
}

impl Unit {
    fn secs(self) -> i64 {
        match self {
            Unit::Minutes => 60,
            Unit::Hours => 3600,
            Unit::Days => 86_400,
        }
    }
    fn suffix(self) -> char {
        match self {
            Unit::Minutes => 'm',
            Unit::Hours => 'h',
            Unit::Days => 'd',
        }
    }
}

/// The span of time a limit counts over (SPEC §1 "Windows").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// The last `n` units before now.
    Rolling(u32, Unit),
    /// Since local midnight.
    Day,
    /// Since local midnight of the configured first day of the week.
    Week,
    /// Since local midnight of the 1st (Gregorian or Solar Hijri).
    Month,
    /// Since the current subscription started.
    Subscription,
    /// Forever.
    Lifetime,
    /// Per chat id.
    Chat,
}

/// The longest rolling window accepted: a year. Longer spans want a calendar window.
pub const MAX_ROLLING_SECS: i64 = 366 * 86_400;

impl Window {
    pub fn parse(s: &str) -> Result<Window, String> {
        match s {
            "day" => return Ok(Window::Day),
            "week" => return Ok(Window::Week),
            "month" => return Ok(Window::Month),
            "subscription" => return Ok(Window::Subscription),
            "lifetime" => return Ok(Window::Lifetime),
            "chat" => return Ok(Window::Chat),
            _ => {}
        }
        let bad = || {
            format!(
                "unknown window {s:?}: expected <n>m, <n>h, <n>d, day, week, month, subscription, lifetime or chat"
            )
        };
        // The unit is the last byte; a name ending inside a multi-byte
        // character (`"٣"`) has none (and must not be split there: a panic).
        let Some(at) = s.len().checked_sub(1).filter(|&i| s.is_char_boundary(i)) else {
            return Err(bad());
        };
        let (num, unit) = s.split_at(at);
        let unit = match unit {
            "m" => Unit::Minutes,
            "h" => Unit::Hours,
            "d" => Unit::Days,
            _ => return Err(bad()),
        };
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || num.starts_with('0') {
            return Err(bad());
        }
        let n: u32 = num.parse().map_err(|_| bad())?;
        if i64::from(n) * unit.secs() > MAX_ROLLING_SECS {
            return Err(format!(
                "rolling window {s:?} is longer than a year; use month or subscription"
            ));
        }
        Ok(Window::Rolling(n, unit))
    }

    /// Is `s` this window's name, as `Display` writes it? Compared without
    /// writing the name: a snapshot's limits are looked up by it on every
    /// check (`Snapshot::entry`).
    pub fn is_named(self, s: &str) -> bool {
        match self {
            Window::Rolling(n, u) => s.strip_suffix(u.suffix()).is_some_and(|num| {
                (num == "0" || !num.starts_with('0'))
                    && !num.is_empty()
                    && num.bytes().all(|b| b.is_ascii_digit())
                    && num.parse::<u32>() == Ok(n)
            }),
            Window::Day => s == "day",
            Window::Week => s == "week",
            Window::Month => s == "month",
            Window::Subscription => s == "subscription",
            Window::Lifetime => s == "lifetime",
            Window::Chat => s == "chat",
        }
    }

    /// The rolling length in seconds, if rolling.
    pub fn rolling_secs(self) -> Option<i64> {
        match self {
            Window::Rolling(n, u) => Some(i64::from(n) * u.secs()),
            _ => None,
        }
    }

    /// The nominal length in seconds, for `RateLimit-Policy`'s `w` and for
    /// ordering ("smallest window first"); `None` when the window has no
    /// fixed length (subscription, lifetime, chat).
    pub fn nominal_secs(self) -> Option<i64> {
        match self {
            Window::Rolling(..) => self.rolling_secs(),
            Window::Day => Some(86_400),
            Window::Week => Some(7 * 86_400),
            Window::Month => Some(30 * 86_400),
            Window::Subscription | Window::Lifetime | Window::Chat => None,
        }
    }

    /// Sort key for "smallest window first" (SPEC §4).
    pub fn rank(self) -> (u8, i64) {
        match self {
            Window::Chat => (1, 0),
            Window::Subscription => (2, 0),
            Window::Lifetime => (3, 0),
            _ => (0, self.nominal_secs().unwrap_or(0)),
        }
    }

    /// Does waiting ever free room in this window?
    pub fn resets(self) -> bool {
        !matches!(self, Window::Subscription | Window::Lifetime | Window::Chat)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Rolling(n, u) => write!(f, "{n}{}", u.suffix()),
            Window::Day => f.write_str("day"),
            Window::Week => f.write_str("week"),
            Window::Month => f.write_str("month"),
            Window::Subscription => f.write_str("subscription"),
            Window::Lifetime => f.write_str("lifetime"),
            Window::Chat => f.write_str("chat"),
        }
    }
}

/// One limit of a plan: at most `max` of `metric` for `scope` within `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub metric: Metric,
    pub scope: Scope,
    pub window: Window,
    /// Micro-dollars for `cost_usd`. `0` means nothing is allowed, never "unlimited".
    pub max: u64,
    /// `"overflow": "credits"`: the excess over `max` may be drawn from the
    /// user's grants (SPEC §9). Without it the limit is never exceeded.
    pub overflow_credits: bool,
    /// This limit's own warning thresholds in thousandths of `max` (SPEC
    /// §10); `None`: the config's `warn_at`.
    pub warn_at: Option<Vec<u16>>,
}

impl Limit {
    /// The ledger key of this limit's counter: `tokens|all|1h`.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.metric, self.scope, self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_named_answers_as_comparing_display() {
        let names = [
            "",
            "0h",
            "00h",
            "1h",
            "01h",
            "1",
            "h",
            "60m",
            "1m",
            "1d",
            "3h",
            "12h",
            "365d",
            "10h",
            "4294967296h",
            "٣h",
            "day",
            "Day",
            "week",
            "month",
            "subscription",
            "lifetime",
            "chat",
            "1hh",
            "+1h",
        ];
        let windows = [
            Window::Rolling(0, Unit::Hours),
            Window::Rolling(1, Unit::Hours),
            Window::Rolling(3, Unit::Hours),
            Window::Rolling(12, Unit::Hours),
            Window::Rolling(60, Unit::Minutes),
            Window::Rolling(1, Unit::Minutes),
            Window::Rolling(365, Unit::Days),
            Window::Rolling(u32::MAX, Unit::Hours),
            Window::Day,
            Window::Week,
            Window::Month,
            Window::Subscription,
            Window::Lifetime,
            Window::Chat,
        ];
        for w in windows {
            for s in names.iter().copied().chain([w.to_string().as_str()]) {
                assert_eq!(w.is_named(s), w.to_string() == s, "{w} vs {s:?}");
            }
        }
    }

    #[test]
    fn a_scope_as_text_matches_as_the_parsed_scope_does() {
        let models = [
            None,
            Some(("openai/gpt-4o", false)),
            Some(("llama:free", true)),
        ];
        for scope in ["all", "free", "paid", "openai/*", "llama:free", "other"] {
            for m in models {
                assert_eq!(
                    Scope::str_matches(scope, m),
                    Scope::parse(scope).matches(m),
                    "{scope} {m:?}"
                );
            }
        }
    }

    #[test]
    fn windows_round_trip() {
        for s in [
            "1m",
            "90m",
            "1h",
            "3h",
            "12h",
            "7d",
            "day",
            "week",
            "month",
            "subscription",
            "lifetime",
            "chat",
        ] {
            assert_eq!(Window::parse(s).unwrap().to_string(), s);
        }
        for bad in [
            "", "h", "0h", "01h", "1w", "-1h", "1.5h", "400d", "hour", "٣", "1٣", "۲۴h", "é",
        ] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Window::parse("3h").unwrap().rolling_secs(), Some(10_800));
    }

    #[test]
    fn scopes_match_models() {
        let free = Some(("meta/llama:free", true));
        let paid = Some(("openai/gpt-4o-mini", false));
        assert!(Scope::All.matches(None));
        assert!(!Scope::Free.matches(None));
        assert!(Scope::Free.matches(free) && !Scope::Free.matches(paid));
        assert!(Scope::Paid.matches(paid) && !Scope::Paid.matches(free));
        assert!(Scope::parse("openai/gpt-4o*").matches(paid));
        assert!(!Scope::parse("openai/gpt-4o*").matches(free));
    }

    #[test]
    fn smallest_window_first() {
        let mut w = [
            Window::Lifetime,
            Window::Month,
            Window::Subscription,
            Window::Chat,
            Window::Day,
            Window::parse("12h").unwrap(),
            Window::parse("1h").unwrap(),
            Window::Week,
        ];
        w.sort_by_key(|w| w.rank());
        let s: Vec<String> = w.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            s,
            [
                "1h",
                "12h",
                "day",
                "week",
                "month",
                "chat",
                "subscription",
                "lifetime"
            ]
        );
    }
}
