//! `tollgate`: the operator's command (SPEC §12).
//!
//! Local subcommands run the same core as the Worker and the browser
//! package (`config check`, `config from-django`, `decide`, `token`); remote
//! ones call a running Worker's admin API (`--url`, admin token from
//! `TOLLGATE_ADMIN_TOKEN`). This crate only converts types and does I/O:
//! every rule lives in the core or behind the Worker's routes.
//!
//! Output: JSON on stdout for anything a script reads, tables where a person
//! reads (`user show`, `config history`; `--json` gives their JSON), errors
//! on stderr with exit status 1 (2 for a command line clap refuses).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use tollgate::messages::Locale;

/// `print!` that ends the program quietly when stdout is closed
/// (`tollgate … | head`) instead of panicking.
macro_rules! out {
    ($($t:tt)*) => { $crate::emit(&format!($($t)*)) };
}
/// `println!`, likewise.
macro_rules! outln {
    ($($t:tt)*) => { $crate::emit(&format!("{}\n", format!($($t)*))) };
}

mod jwt;
mod local;
mod pretty;
mod remote;
mod table;

/// An error for stderr: a message and, when the input had several problems,
/// one line per problem (`path: reason`).
#[derive(Debug)]
pub struct Fail {
    pub message: String,
    pub details: Vec<String>,
}

impl Fail {
    pub fn new(message: impl Into<String>) -> Fail {
        Fail {
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Every problem of a document the core refused.
    pub fn problems(message: impl Into<String>, p: &tollgate::json::Problems) -> Fail {
        Fail {
            message: message.into(),
            details: p
                .0
                .iter()
                .map(|p| {
                    if p.path.is_empty() {
                        p.reason.clone()
                    } else {
                        format!("{}: {}", p.path, p.reason)
                    }
                })
                .collect(),
        }
    }
}

pub type Out = Result<(), Fail>;

/// Writes to stdout; a reader that went away ends the program (status 0:
/// it had what it wanted), any other failure is reported.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(text.as_bytes()).and_then(|_| o.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("tollgate: writing the output: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
}

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "Tollgate from a terminal: check and convert configs, decide, mint tokens, run a Worker's admin API",
    long_about = None,
)]
struct Cli {
    /// The running Worker (remote subcommands). The admin token comes from
    /// TOLLGATE_ADMIN_TOKEN.
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_URL",
        default_value = "http://127.0.0.1:8787"
    )]
    url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Configs: check, convert from Django, push, history, rollback.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// The decision the edge would give for an action against a usage
    /// snapshot (the core's snapshot check, as the browser package makes it).
    Decide(DecideArgs),
    /// Mint a user token (HS256, secret from TOLLGATE_JWT_SECRET).
    Token(TokenArgs),
    /// A user's books on the running Worker: show, reset, import usage.
    #[command(subcommand)]
    User(UserCmd),
    /// Discount codes on the running Worker.
    #[command(subcommand)]
    Discount(DiscountCmd),
    /// Give a user credits (a grant, SPEC §9) on the running Worker.
    Grant(GrantArgs),
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Validate a config file; every problem is listed (path: reason), exit 1.
    Check {
        /// The config (JSON); `-` reads stdin.
        file: PathBuf,
        /// Print the verdict as JSON on stdout ({ok, errors|plans, models, discounts}).
        #[arg(long)]
        json: bool,
    },
    /// Convert `manage.py dumpdata` output of the original platform into a
    /// config (printed on stdout).
    FromDjango {
        /// The dump (JSON list of {model, pk, fields}); `-` reads stdin.
        dump: PathBuf,
    },
    /// Replace the running Worker's config (checked here first).
    Push {
        /// The config (JSON); `-` reads stdin.
        file: PathBuf,
        /// Kept with the revision in the history.
        #[arg(long)]
        note: Option<String>,
    },
    /// Print the running Worker's config (the current one or an earlier revision).
    Get {
        /// An earlier revision (see `config history`).
        #[arg(long)]
        revision: Option<i64>,
    },
    /// The running Worker's accepted revisions, newest first.
    History {
        /// At most this many (the Worker caps it at 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Only revisions older than this one (paging).
        #[arg(long)]
        before: Option<i64>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make an earlier revision current again (as a new revision).
    Rollback {
        /// The revision to restore.
        revision: i64,
        /// Kept with the new revision in the history.
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LocaleArg {
    Fa,
    En,
}

impl LocaleArg {
    fn locale(self) -> Locale {
        match self {
            LocaleArg::Fa => Locale::Fa,
            LocaleArg::En => Locale::En,
        }
    }
}

#[derive(Args)]
struct DecideArgs {
    /// The config (JSON).
    #[arg(long)]
    config: PathBuf,
    /// The usage snapshot: the body of GET /v1/usage.
    #[arg(long)]
    snapshot: PathBuf,
    /// The subscription: {id, plan, active, starts_at, ends_at}.
    #[arg(long)]
    subscription: PathBuf,
    /// The action (SPEC §3), e.g. {"type": "message", ...}.
    #[arg(long)]
    action: PathBuf,
    /// The moment to decide at (RFC 3339); default: now.
    #[arg(long)]
    at: Option<String>,
    /// Fill `limits` with every limit that applied.
    #[arg(long)]
    explain: bool,
    /// Language of the messages (default: the config's).
    #[arg(long, value_enum)]
    locale: Option<LocaleArg>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScopeArg {
    Usage,
    Reserve,
    Settle,
    Gateway,
}

impl ScopeArg {
    fn as_str(self) -> &'static str {
        match self {
            ScopeArg::Usage => "usage",
            ScopeArg::Reserve => "reserve",
            ScopeArg::Settle => "settle",
            ScopeArg::Gateway => "gateway",
        }
    }
}

#[derive(Args)]
struct TokenArgs {
    /// The user id (`sub`).
    #[arg(long)]
    user: String,
    /// The subscription's plan.
    #[arg(long)]
    plan: String,
    /// Scopes (SPEC §5), repeated or space-separated; default `reserve settle`.
    #[arg(long, value_enum, num_args = 1.., value_delimiter = ' ')]
    scope: Vec<ScopeArg>,
    /// A token without a `scope` claim (read and pre-check only).
    #[arg(long, conflicts_with = "scope")]
    read_only: bool,
    /// Length of the subscription in days (its `ends_at`).
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Lifetime of the token in hours (`exp`).
    #[arg(long, default_value_t = 24)]
    hours: u32,
    /// The subscription id (keys the `subscription` window); default `dev-<user>`.
    #[arg(long)]
    sub_id: Option<String>,
    /// An inactive subscription.
    #[arg(long)]
    inactive: bool,
}

#[derive(Subcommand)]
enum UserCmd {
    /// A user's meters (used / limit / resets in), open holds and subscription.
    Show {
        id: String,
        /// Persian digits and words with `fa`.
        #[arg(long, value_enum, default_value = "en")]
        locale: LocaleArg,
        /// The Worker's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Reset a user's counters: all of them, or those of the given metrics and windows.
    Reset {
        id: String,
        /// Only counters of this metric (repeatable).
        #[arg(long = "metric")]
        metrics: Vec<String>,
        /// Only counters of this window (repeatable).
        #[arg(long = "window")]
        windows: Vec<String>,
    },
    /// Add usage from another system to the current periods
    /// ({subscription, entries: [{metric, scope?, window, chat_id?, used}]}).
    Import {
        id: String,
        /// The import body (JSON); `-` reads stdin.
        file: PathBuf,
        /// Default: derived from the user and the file's content, so running
        /// the same import twice adds once.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

#[derive(Subcommand)]
enum DiscountCmd {
    /// Create or change a code.
    Put {
        code: String,
        /// Total redemptions allowed (none: no cap; 0: none at all).
        #[arg(long)]
        max_uses: Option<u64>,
        /// Redemptions allowed per user.
        #[arg(long)]
        max_uses_per_user: Option<u64>,
        /// RFC 3339; the code works until then.
        #[arg(long)]
        expires_at: Option<String>,
        /// Plans whose subscribers may redeem it (repeatable; none: every plan).
        #[arg(long = "plan")]
        plans: Vec<String>,
        /// Credits a redemption adds (SPEC §9), as JSON: {"metric", "scope"?, "amount", "expires_in_days"?}.
        #[arg(long)]
        grant: Option<String>,
    },
    /// A code's rule and uses.
    Get { code: String },
}

#[derive(Args)]
struct GrantArgs {
    /// The user.
    id: String,
    /// What the credits are for (tokens, messages, images, files, file_bytes, cost_usd).
    #[arg(long)]
    metric: String,
    /// Scope the credits cover (all, free, paid or a model glob); default all.
    #[arg(long)]
    scope: Option<String>,
    /// How much (US dollars for cost_usd).
    #[arg(long)]
    amount: String,
    /// purchase, promo, admin or discount.
    #[arg(long, default_value = "admin")]
    source: String,
    /// RFC 3339.
    #[arg(long)]
    starts_at: Option<String>,
    /// RFC 3339.
    #[arg(long)]
    expires_at: Option<String>,
    /// The grant's id (creating it again with the same id changes nothing).
    #[arg(long)]
    grant_id: Option<String>,
    /// Sent as Idempotency-Key.
    #[arg(long)]
    idempotency_key: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("tollgate: {}", f.message);
            for d in &f.details {
                eprintln!("  {d}");
            }
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Out {
    match cli.command {
        Command::Config(c) => match c {
            ConfigCmd::Check { file, json } => local::config_check(&file, json),
            ConfigCmd::FromDjango { dump } => local::from_django(&dump),
            ConfigCmd::Push { file, note } => {
                remote::Remote::new(&cli.url)?.config_push(&file, note.as_deref())
            }
            ConfigCmd::Get { revision } => remote::Remote::new(&cli.url)?.config_get(revision),
            ConfigCmd::History {
                limit,
                before,
                json,
            } => remote::Remote::new(&cli.url)?.config_history(limit, before, json),
            ConfigCmd::Rollback { revision, note } => {
                remote::Remote::new(&cli.url)?.config_rollback(revision, note.as_deref())
            }
        },
        Command::Decide(a) => local::decide(&local::DecideInput {
            config: &a.config,
            snapshot: &a.snapshot,
            subscription: &a.subscription,
            action: &a.action,
            at: a.at.as_deref(),
            explain: a.explain,
            locale: a.locale.map(LocaleArg::locale),
        }),
        Command::Token(a) => {
            let scope = if a.read_only {
                None
            } else if a.scope.is_empty() {
                Some("reserve settle".to_string())
            } else {
                let mut names: Vec<&str> = Vec::new();
                for s in &a.scope {
                    if !names.contains(&s.as_str()) {
                        names.push(s.as_str());
                    }
                }
                Some(names.join(" "))
            };
            let t = jwt::mint(&jwt::TokenRequest {
                user: &a.user,
                plan: &a.plan,
                scope: scope.as_deref(),
                days: a.days,
                hours: a.hours,
                sub_id: a.sub_id.as_deref(),
                active: !a.inactive,
            })?;
            outln!("{t}");
            Ok(())
        }
        Command::User(u) => {
            let r = remote::Remote::new(&cli.url)?;
            match u {
                UserCmd::Show { id, locale, json } => r.user_show(&id, locale.locale(), json),
                UserCmd::Reset {
                    id,
                    metrics,
                    windows,
                } => r.user_reset(&id, &metrics, &windows),
                UserCmd::Import {
                    id,
                    file,
                    idempotency_key,
                } => r.user_import(&id, &file, idempotency_key.as_deref()),
            }
        }
        Command::Discount(d) => {
            let r = remote::Remote::new(&cli.url)?;
            match d {
                DiscountCmd::Put {
                    code,
                    max_uses,
                    max_uses_per_user,
                    expires_at,
                    plans,
                    grant,
                } => {
                    let mut rule = serde_json::Map::new();
                    rule.insert("max_uses".into(), json!(max_uses));
                    rule.insert("max_uses_per_user".into(), json!(max_uses_per_user));
                    rule.insert("expires_at".into(), json!(expires_at));
                    if !plans.is_empty() {
                        rule.insert("plans".into(), json!(plans));
                    }
                    if let Some(g) = grant {
                        let g: Value = serde_json::from_str(&g)
                            .map_err(|e| Fail::new(format!("--grant: not JSON: {e}")))?;
                        rule.insert("grant".into(), g);
                    }
                    r.discount_put(&code, &Value::Object(rule))
                }
                DiscountCmd::Get { code } => r.discount_get(&code),
            }
        }
        Command::Grant(g) => {
            let r = remote::Remote::new(&cli.url)?;
            let amount: serde_json::Number = serde_json::from_str(g.amount.trim())
                .map_err(|_| Fail::new(format!("--amount: not a number: {:?}", g.amount)))?;
            let mut body = serde_json::Map::new();
            if let Some(id) = g.grant_id {
                body.insert("id".into(), json!(id));
            }
            body.insert("metric".into(), json!(g.metric));
            if let Some(s) = g.scope {
                body.insert("scope".into(), json!(s));
            }
            body.insert("amount".into(), Value::Number(amount));
            body.insert("source".into(), json!(g.source));
            if let Some(t) = g.starts_at {
                body.insert("starts_at".into(), json!(t));
            }
            if let Some(t) = g.expires_at {
                body.insert("expires_at".into(), json!(t));
            }
            r.grant(&g.id, &Value::Object(body), g.idempotency_key.as_deref())
        }
    }
}
