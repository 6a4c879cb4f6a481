//! What a denial says, Persian first (the seed's own wording, Persian
//! digits), English on request, every template overridable in the config.

use crate::decision::Code;
use crate::limit::{Metric, Scope, Window};

/// The languages Tollgate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    Fa,
    En,
}

impl Locale {
    pub fn parse(s: &str) -> Option<Locale> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fa" | "fa-ir" | "per" | "fas" => Some(Locale::Fa),
            "en" | "en-us" | "en-gb" | "eng" => Some(Locale::En),
            _ => None,
        }
    }

    /// Picks a locale from an `Accept-Language` header: the first listed
    /// language we speak wins (q-values are honoured by order of preference).
    pub fn from_accept_language(h: &str) -> Option<Locale> {
        let mut langs: Vec<(u32, usize, &str)> = h
            .split(',')
            .enumerate()
            .filter_map(|(i, part)| {
                let mut it = part.split(';');
                let tag = it.next()?.trim();
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(1000, |q| qvalue(q).unwrap_or(1000));
                Some((q, i, tag))
            })
            .collect();
        crate::order::sort_by(&mut langs, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        langs.into_iter().find_map(|(q, _, tag)| {
            if q == 0 {
                return None;
            }
            let primary = tag.split('-').next().unwrap_or(tag);
            Locale::parse(primary)
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::Fa => "fa",
            Locale::En => "en",
        }
    }
}

/// An `Accept-Language` weight (RFC 9110 §12.4.2: `0`–`1`, at most three
/// decimals) in thousandths; `None` for one that is not a decimal number
/// (the caller then reads it as 1, as before). Read by hand: a float parser
/// for this one figure was kilobytes of the Worker (issue 9). More than
/// three decimals are cut, a weight above 1 counts as 1, a negative one as 0.
fn qvalue(q: &str) -> Option<u32> {
    if let Some(rest) = q.strip_prefix('-') {
        return rest
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
            .then_some(0);
    }

    let (whole, frac) = q.split_once('.').unwrap_or((q, ""));
    if (whole.is_empty() && frac.is_empty())
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut thousandths = 0;
    for (i, b) in frac.bytes().take(3).enumerate() {
        thousandths += u32::from(b - b'0') * [100, 10, 1][i];
    }
    if whole.bytes().any(|b| b != b'0') {
        return Some(1000);
    }
    Some(thousandths)
}

/// Formats an integer in the locale's digits with thousands grouping:
/// `20000` → `۲۰٬۰۰۰` (fa) or `20,000` (en).
pub fn format_int(n: u64, locale: Locale) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() * 3);
    let len = s.len();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (len - i) % 3 == 0 {
            out.push(match locale {
                Locale::Fa => '\u{066C}',
                Locale::En => ',',
            });
        }
        out.push(localize_digit(c, locale));
    }
    out
}

/// Formats micro-dollars as dollars with up to six decimals, trailing zeros dropped.
pub fn format_usd(micros: u64, locale: Locale) -> String {
    let whole = format_int(micros / 1_000_000, locale);
    let frac = micros % 1_000_000;
    if frac == 0 {
        return whole;
    }
    let f = format!("{frac:06}");
    let f = f.trim_end_matches('0');
    let sep = match locale {
        Locale::Fa => '\u{066B}',
        Locale::En => '.',
    };
    let f: String = f.chars().map(|c| localize_digit(c, locale)).collect();
    format!("{whole}{sep}{f}")
}

/// Formats a byte size for people: `10485760` → `۱۰ مگابایت` / `10 MB`.
pub fn format_bytes(n: u64, locale: Locale) -> String {
    const UNITS: [(u64, &str, &str); 3] = [
        (1 << 30, "گیگابایت", "GB"),
        (1 << 20, "مگابایت", "MB"),
        (1 << 10, "کیلوبایت", "KB"),
    ];
    for (size, fa, en) in UNITS {
        if n >= size && n.saturating_mul(10) % size == 0 {
            let tenths = n.saturating_mul(10) / size;
            let num = if tenths % 10 == 0 {
                format_int(tenths / 10, locale)
            } else {
                let sep = if locale == Locale::Fa {
                    '\u{066B}'
                } else {
                    '.'
                };
                format!(
                    "{}{sep}{}",
                    format_int(tenths / 10, locale),
                    format_int(tenths % 10, locale)
                )
            };
            return match locale {
                Locale::Fa => format!("{num} {fa}"),
                Locale::En => format!("{num} {en}"),
            };
        }
    }
    match locale {
        Locale::Fa => format!("{} بایت", format_int(n, locale)),
        Locale::En => format!("{} bytes", format_int(n, locale)),
    }
}

fn localize_digit(c: char, locale: Locale) -> char {
    match (locale, c) {
        (Locale::Fa, '0'..='9') => char::from_u32(0x06F0 + (c as u32 - '0' as u32)).unwrap_or(c),
        _ => c,
    }
}

/// Converts ASCII digits in a string to the locale's digits.
pub fn localize_digits(s: &str, locale: Locale) -> String {
    s.chars().map(|c| localize_digit(c, locale)).collect()
}

/// The window in words: `ساعتی`, `۳ ساعتی`, `روزانه` … / `hourly`, `3-hour`, `daily` …
pub fn window_words(w: Window, locale: Locale) -> String {
    use crate::limit::Unit;
    match (locale, w) {
        (Locale::Fa, Window::Rolling(1, Unit::Hours)) => "ساعتی".into(),
        (Locale::Fa, Window::Rolling(n, Unit::Hours)) => {
            format!("{} ساعتی", format_int(n.into(), locale))
        }
        (Locale::Fa, Window::Rolling(n, Unit::Minutes)) => {
            format!("{} دقیقه‌ای", format_int(n.into(), locale))
        }
        (Locale::Fa, Window::Rolling(1, Unit::Days)) => "۲۴ ساعته".into(),
        (Locale::Fa, Window::Rolling(n, Unit::Days)) => {
            format!("{} روزه", format_int(n.into(), locale))
        }
        (Locale::Fa, Window::Day) => "روزانه".into(),
        (Locale::Fa, Window::Week) => "هفتگی".into(),
        (Locale::Fa, Window::Month) => "ماهانه".into(),
        (Locale::Fa, Window::Subscription) => "اشتراک".into(),
        (Locale::Fa, Window::Lifetime) => "کل".into(),
        (Locale::Fa, Window::Chat) => "این گفتگو".into(),
        (Locale::En, Window::Rolling(1, Unit::Hours)) => "hourly".into(),
        (Locale::En, Window::Rolling(n, Unit::Hours)) => format!("{n}-hour"),
        (Locale::En, Window::Rolling(n, Unit::Minutes)) => format!("{n}-minute"),
        (Locale::En, Window::Rolling(n, Unit::Days)) => format!("{n}-day"),
        (Locale::En, Window::Day) => "daily".into(),
        (Locale::En, Window::Week) => "weekly".into(),
        (Locale::En, Window::Month) => "monthly".into(),
        (Locale::En, Window::Subscription) => "subscription".into(),
        (Locale::En, Window::Lifetime) => "lifetime".into(),
        (Locale::En, Window::Chat) => "per-chat".into(),
    }
}

/// What is limited, in words, for `… حد مجاز {subject} {window} …`.
fn subject(metric: Metric, scope: &Scope, window: Window, locale: Locale) -> String {
    let fa_base = match metric {
        Metric::Messages => "پیام‌های",
        Metric::Tokens => "توکن‌های",
        Metric::Images => "تولید تصویر",
        Metric::Files => "آپلود فایل",
        Metric::FileBytes => "حجم آپلود فایل",
        Metric::CostUsd => "هزینه‌ی",
    };
    let en_base = match metric {
        Metric::Messages => "message",
        Metric::Tokens => "token",
        Metric::Images => "image generation",
        Metric::Files => "file upload",
        Metric::FileBytes => "upload size",
        Metric::CostUsd => "cost",
    };
    match locale {
        Locale::Fa => match scope {
            // «کل توکن‌های مصرفی»: the seed's words for the whole allowance.
            Scope::All if window == Window::Subscription => format!("کل {fa_base} مصرفی"),
            Scope::All => fa_base.to_string(),
            // The seed's own words: «توکن‌های رایگان» for the whole free allowance,
            // «توکن‌های مدل رایگان ماهانه» for a free-model window.
            Scope::Free if window == Window::Subscription => format!("{fa_base} رایگان"),
            Scope::Free => format!("{fa_base} مدل رایگان"),
            Scope::Paid => format!("{fa_base} مدل‌های غیررایگان"),
            Scope::Model(g) => format!("{fa_base} مدل {g}"),
        },
        Locale::En => match scope {
            Scope::All => en_base.to_string(),
            Scope::Free => format!("free-model {en_base}"),
            Scope::Paid => format!("paid-model {en_base}"),
            Scope::Model(g) => format!("{g} {en_base}"),
        },
    }
}

/// The unit after a number: `عدد` for counts, as the seed writes it.
fn unit(metric: Metric, locale: Locale) -> &'static str {
    match (locale, metric) {
        (Locale::Fa, Metric::CostUsd) => "دلار",
        (Locale::Fa, Metric::FileBytes) => "بایت",
        (Locale::Fa, _) => "عدد",
        (Locale::En, Metric::CostUsd) => "USD",
        (Locale::En, Metric::FileBytes) => "bytes",
        (Locale::En, _) => "",
    }
}

/// The singular noun for «بودجه باقی‌مانده‌ی X شما …».
fn budget_noun(metric: Metric, locale: Locale) -> &'static str {
    match (locale, metric) {
        (Locale::Fa, Metric::Messages) => "پیام",
        (Locale::Fa, Metric::Tokens) => "توکن",
        (Locale::Fa, Metric::Images) => "تصویر",
        (Locale::Fa, Metric::Files) => "فایل",
        (Locale::Fa, Metric::FileBytes) => "حجم آپلود",
        (Locale::Fa, Metric::CostUsd) => "هزینه",
        (Locale::En, Metric::Messages) => "message",
        (Locale::En, Metric::Tokens) => "token",
        (Locale::En, Metric::Images) => "image",
        (Locale::En, Metric::Files) => "file",
        (Locale::En, Metric::FileBytes) => "upload size",
        (Locale::En, Metric::CostUsd) => "cost",
    }
}

/// The default template of a code. Placeholders in `{}`; the private ones
/// (`subject`, `unit`, `noun`) are filled from the limit.
fn default_template(code: Code, locale: Locale) -> &'static str {
    match locale {
        Locale::Fa => match code {
            Code::Ok => "همه محدودیت‌ها رعایت شده‌اند",
            Code::SubscriptionMissing => "شما اشتراک فعالی ندارید",
            Code::SubscriptionInactive => "اشتراک شما فعال نیست",
            Code::SubscriptionExpired => "اشتراک شما منقضی شده است",
            Code::PlanInactive => "این اشتراک دیگر فعال نیست",
            Code::ModelNotAllowed => "دسترسی به این مدل دیگر برای اشتراک شما فعال نیست",
            Code::WindowExceeded => "شما به حد مجاز {subject} {window} ({limit} {unit}) رسیده‌اید",
            Code::InsufficientBudget => {
                "بودجه باقی‌مانده‌ی {noun} شما برای این مدل کافی نیست ({remaining} {unit})"
            }
            Code::ConcurrencyExceeded => {
                "تعداد درخواست‌های هم‌زمان شما به حد مجاز ({limit} عدد) رسیده است"
            }
            Code::FileNameInvalid => "نام فایل {file} معتبر نیست",
            Code::FileTooLarge => "حجم فایل {file} بیش از حد مجاز ({limit}) است",
            Code::FileTypeNotAllowed => "نوع فایل {file} مجاز نیست (پسوندهای مجاز: {allowed})",
            Code::FileTypeMismatch => "محتوای فایل {file} با پسوند آن ({ext}) مطابقت ندارد",
            Code::DiscountUnknown => "کد تخفیف نامعتبر است",
            Code::DiscountExpired => "کد تخفیف منقضی شده است",
            Code::DiscountExhausted => "ظرفیت استفاده از این کد تخفیف تکمیل شده است",
            Code::DiscountUserExhausted => {
                "شما به حد مجاز استفاده از این کد تخفیف ({limit} عدد) رسیده‌اید"
            }
            Code::DiscountNotApplicable => "این کد تخفیف برای اشتراک شما قابل استفاده نیست",
            Code::UpgradeNotAllowed => "ارتقا به این اشتراک امکان‌پذیر نیست",
            Code::BadRequest => "درخواست نامعتبر است",
        },
        Locale::En => match code {
            Code::Ok => "All limits are respected",
            Code::SubscriptionMissing => "You have no active subscription",
            Code::SubscriptionInactive => "Your subscription is not active",
            Code::SubscriptionExpired => "Your subscription has expired",
            Code::PlanInactive => "This plan is no longer active",
            Code::ModelNotAllowed => "Your subscription does not include this model",
            Code::WindowExceeded => "You have reached your {window} {subject} limit ({limit} {unit})",
            Code::InsufficientBudget => {
                "Your remaining {noun} budget is not enough for this request ({remaining} {unit} left)"
            }
            Code::ConcurrencyExceeded => {
                "You have reached the limit of simultaneous requests ({limit})"
            }
            Code::FileNameInvalid => "The file name {file} is not valid",
            Code::FileTooLarge => "The file {file} is larger than allowed ({limit})",
            Code::FileTypeNotAllowed => {
                "The file type of {file} is not allowed (allowed extensions: {allowed})"
            }
            Code::FileTypeMismatch => {
                "The content of {file} does not match its extension ({ext})"
            }
            Code::DiscountUnknown => "This discount code is not valid",
            Code::DiscountExpired => "This discount code has expired",
            Code::DiscountExhausted => "This discount code has been used up",
            Code::DiscountUserExhausted => {
                "You have already used this discount code the allowed number of times ({limit})"
            }
            Code::DiscountNotApplicable => "This discount code does not apply to your plan",
            Code::UpgradeNotAllowed => "Upgrading to this plan is not allowed",
            Code::BadRequest => "The request is not valid",
        },
    }
}

/// Placeholders an override may use.
pub const PLACEHOLDERS: &[&str] = &[
    "limit",
    "used",
    "remaining",
    "requested",
    "window",
    "resets_at",
    "metric",
    "scope",
    "model",
    "file",
    "ext",
    "allowed",
    "percent",
];

/// The config key of the warning template (SPEC §10): `messages.<locale>.warning`.
pub const WARNING: &str = "warning";

/// Is `code` one whose message a config may override?
pub fn is_known_code(code: &str) -> bool {
    Code::parse(code).is_some() || code == WARNING
}

/// Checks an override: balanced braces and only known placeholders.
pub fn check_template(t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("unclosed '{' in template".into());
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}}; known: {}",
                PLACEHOLDERS.join(", ")
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// Everything a message may mention.
#[derive(Debug, Clone, Default)]
pub struct MessageArgs<'a> {
    pub metric: Option<Metric>,
    pub scope: Option<&'a Scope>,
    pub window: Option<Window>,
    pub limit: Option<u64>,
    pub used: Option<u64>,
    pub remaining: Option<u64>,
    pub requested: Option<u64>,
    pub resets_at: Option<&'a str>,
    pub model: Option<&'a str>,
    pub file: Option<&'a str>,
    pub ext: Option<&'a str>,
    pub allowed: Option<&'a [String]>,
    /// A warning's threshold, in percent.
    pub percent: Option<u64>,
}

/// Renders the message of `code`: the config's override when it has one,
/// else the default; numbers in the locale's digits.
pub fn render(code: Code, locale: Locale, args: &MessageArgs, over: Option<&str>) -> String {
    let template = over.unwrap_or_else(|| default_template(code, locale));
    fill(
        template,
        over.is_some(),
        code == Code::FileTooLarge,
        locale,
        args,
    )
}

/// Renders a warning (SPEC §10): «۸۰٪ از سهمیهٔ توکن‌های روزانهٔ شما مصرف
/// شده است» / "You have used 80% of your daily token allowance"; the
/// config's `messages.<locale>.warning` when it has one.
pub fn render_warning(locale: Locale, args: &MessageArgs, over: Option<&str>) -> String {
    let template = over.unwrap_or(match locale {
        Locale::Fa => "{percent} از سهمیهٔ {subject} {window_ezafe} شما مصرف شده است",
        Locale::En => "You have used {percent} of your {window} {subject} allowance",
    });
    fill(template, over.is_some(), false, locale, args)
}

fn fill(
    template: &str,
    overridden: bool,
    bytes: bool,
    locale: Locale,
    args: &MessageArgs,
) -> String {
    let over = overridden.then_some(template);
    let metric = args.metric.unwrap_or(Metric::Messages);
    let num = |n: Option<u64>| -> String {
        match n {
            None => String::new(),
            Some(n) if bytes => format_bytes(n, locale),
            Some(n) if metric == Metric::CostUsd && args.metric.is_some() => format_usd(n, locale),
            Some(n) => format_int(n, locale),
        }
    };
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let name = &after[..close];
        let value = match name {
            "limit" => num(args.limit),
            "used" => num(args.used),
            "remaining" => num(args.remaining),
            "requested" => num(args.requested),
            // In the default Persian sentences the subject already says
            // "subscription" («کل توکن‌های مصرفی», «توکن‌های رایگان»).
            "window"
                if over.is_none()
                    && locale == Locale::Fa
                    && args.window == Some(Window::Subscription) =>
            {
                String::new()
            }
            "window" => args
                .window
                .map(|w| window_words(w, locale))
                .unwrap_or_default(),
            "resets_at" => args.resets_at.unwrap_or("").to_string(),
            "metric" => args
                .metric
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
            "scope" => args
                .scope
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            "model" => args.model.unwrap_or("").to_string(),
            "file" => args.file.map(|f| format!("«{f}»")).unwrap_or_default(),
            "ext" => args.ext.unwrap_or("").to_string(),
            "allowed" => args.allowed.map(|a| a.join(", ")).unwrap_or_default(),
            "subject" => match (args.metric, args.scope, args.window) {
                (Some(m), Some(s), Some(w)) => subject(m, s, w, locale),
                _ => String::new(),
            },
            "percent" => args
                .percent
                .map(|p| match locale {
                    Locale::Fa => format!("{}٪", format_int(p, locale)),
                    Locale::En => format!("{p}%"),
                })
                .unwrap_or_default(),
            // «روزانهٔ شما»: the ezafe on a word ending in ه (the subscription
            // window is already in the subject).
            "window_ezafe" => match args.window {
                Some(Window::Subscription) | None => String::new(),
                Some(w) => {
                    let words = window_words(w, locale);
                    if words.ends_with('ه') {
                        format!("{words}ٔ")
                    } else {
                        words
                    }
                }
            },
            "unit" => unit(metric, locale).to_string(),
            "noun" => budget_noun(metric, locale).to_string(),
            other => format!("{{{other}}}"),
        };
        out.push_str(&value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    tidy(&out)
}

/// Collapses the doubled spaces an empty placeholder leaves, and `( ` / ` )`.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_space = false;
    for c in s.chars() {
        if c == ' ' {
            if prev_space {
                continue;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
        out.push(c);
    }
    // Most sentences have none of these: only pay for a copy when one is there.
    for (from, to) in [("( ", "("), (" )", ")"), ("()", ""), (" «»", "")] {
        if out.contains(from) {
            out = out.replace(from, to);
        }
    }
    match out.trim() {
        t if t.len() == out.len() => out,
        t => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Window {
        Window::parse(s).unwrap()
    }

    #[test]
    fn persian_digits_and_grouping() {
        assert_eq!(format_int(20_000, Locale::Fa), "۲۰٬۰۰۰");
        assert_eq!(format_int(50, Locale::Fa), "۵۰");
        assert_eq!(format_int(2_000_000, Locale::En), "2,000,000");
        assert_eq!(format_int(0, Locale::Fa), "۰");
        assert_eq!(format_usd(5_000_000, Locale::Fa), "۵");
        assert_eq!(format_usd(150_000, Locale::Fa), "۰٫۱۵");
        assert_eq!(format_usd(1_234_567, Locale::En), "1.234567");
        assert_eq!(format_bytes(10_485_760, Locale::Fa), "۱۰ مگابایت");
        assert_eq!(format_bytes(1_572_864, Locale::En), "1.5 MB");
        assert_eq!(format_bytes(1000, Locale::En), "1,000 bytes");
    }

    #[test]
    fn the_seed_wording() {
        let all = Scope::All;
        let free = Scope::Free;
        let args = |m, s, win: &str, limit| MessageArgs {
            metric: Some(m),
            scope: Some(s),
            window: Some(w(win)),
            limit: Some(limit),
            ..Default::default()
        };
        let r = |a: &MessageArgs| render(Code::WindowExceeded, Locale::Fa, a, None);
        assert_eq!(
            r(&args(Metric::Tokens, &all, "1h", 20_000)),
            "شما به حد مجاز توکن‌های ساعتی (۲۰٬۰۰۰ عدد) رسیده‌اید"
        );
        assert_eq!(
            r(&args(Metric::Messages, &all, "day", 50)),
            "شما به حد مجاز پیام‌های روزانه (۵۰ عدد) رسیده‌اید"
        );
        assert_eq!(
            r(&args(Metric::Tokens, &all, "3h", 30_000)),
            "شما به حد مجاز توکن‌های ۳ ساعتی (۳۰٬۰۰۰ عدد) رسیده‌اید"
        );
        assert_eq!(
            r(&args(Metric::Tokens, &all, "12h", 1000)),
            "شما به حد مجاز توکن‌های ۱۲ ساعتی (۱٬۰۰۰ عدد) رسیده‌اید"
        );
        assert_eq!(
            r(&args(Metric::Tokens, &free, "subscription", 100_000)),
            "شما به حد مجاز توکن‌های رایگان (۱۰۰٬۰۰۰ عدد) رسیده‌اید"
        );
        assert_eq!(
            r(&args(Metric::Messages, &free, "month", 300)),
            "شما به حد مجاز پیام‌های مدل رایگان ماهانه (۳۰۰ عدد) رسیده‌اید"
        );
        assert_eq!(
            r(&args(Metric::Images, &all, "day", 5)),
            "شما به حد مجاز تولید تصویر روزانه (۵ عدد) رسیده‌اید"
        );
        let budget = MessageArgs {
            metric: Some(Metric::Tokens),
            scope: Some(&all),
            window: Some(w("day")),
            remaining: Some(1200),
            ..Default::default()
        };
        assert_eq!(
            render(Code::InsufficientBudget, Locale::Fa, &budget, None),
            "بودجه باقی‌مانده‌ی توکن شما برای این مدل کافی نیست (۱٬۲۰۰ عدد)"
        );
        assert_eq!(
            render(
                Code::WindowExceeded,
                Locale::En,
                &args(Metric::Tokens, &all, "1h", 20_000),
                None
            ),
            "You have reached your hourly token limit (20,000)"
        );
    }

    #[test]
    fn overrides_and_template_checks() {
        let all = Scope::All;
        let a = MessageArgs {
            metric: Some(Metric::Tokens),
            scope: Some(&all),
            window: Some(w("day")),
            limit: Some(100),
            used: Some(100),
            remaining: Some(0),
            ..Default::default()
        };
        assert_eq!(
            render(
                Code::WindowExceeded,
                Locale::Fa,
                &a,
                Some("سقف {window}: {used}/{limit}")
            ),
            "سقف روزانه: ۱۰۰/۱۰۰"
        );
        assert!(check_template("{limit} and {resets_at}").is_ok());
        assert!(check_template("{nope}").is_err());
        assert!(check_template("{limit").is_err());
    }

    #[test]
    fn accept_language() {
        assert_eq!(
            Locale::from_accept_language("en-US,en;q=0.9"),
            Some(Locale::En)
        );
        assert_eq!(
            Locale::from_accept_language("de, fa;q=0.5"),
            Some(Locale::Fa)
        );
        assert_eq!(
            Locale::from_accept_language("fa;q=0.2, en;q=0.8"),
            Some(Locale::En)
        );
        assert_eq!(Locale::from_accept_language("de"), None);
        // Weights in thousandths, as RFC 9110 writes them, and what else
        // comes: more decimals cut, above 1 is 1, negative is 0 (left out),
        // not a number is 1.
        for (q, want) in [
            ("1", Some(1000)),
            ("0", Some(0)),
            ("0.5", Some(500)),
            (".5", Some(500)),
            ("0.123", Some(123)),
            ("0.1239", Some(123)),
            ("1.000", Some(1000)),
            ("2", Some(1000)),
            ("-0.5", Some(0)),
            ("", None),
            (".", None),
            ("0.5x", None),
            ("1e-1", None),
            ("NaN", None),
        ] {
            assert_eq!(qvalue(q), want, "{q:?}");
        }
        assert_eq!(
            Locale::from_accept_language("fa;q=0.001, en;q=0.0005"),
            Some(Locale::Fa)
        );
        assert_eq!(
            Locale::from_accept_language("en;q=-1, fa"),
            Some(Locale::Fa)
        );
        assert_eq!(Locale::from_accept_language("en;q=0, fa;q=0"), None);
    }
}
