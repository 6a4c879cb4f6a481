//! The JSON shapes of the answers that are not decisions (a decision is
//! `tollgate::Decision`; a snapshot `tollgate::Snapshot`). Structs rather
//! than `json!` so the fields keep a readable order.

use serde::{Deserialize, Serialize};
use tollgate::decision::{Amount, LimitState};
use tollgate::limit::{Amounts, Metric};
use tollgate::Subscription;

/// One figure per metric; `cost_usd` in dollars.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    pub messages: Amount,
    pub tokens: Amount,
    pub images: Amount,
    pub files: Amount,
    pub file_bytes: Amount,
    pub cost_usd: Amount,
}

impl Figures {
    pub fn of(a: &Amounts) -> Figures {
        let f = |m: Metric| Amount::of(m, a[m.idx()]);
        Figures {
            messages: f(Metric::Messages),
            tokens: f(Metric::Tokens),
            images: f(Metric::Images),
            files: f(Metric::Files),
            file_bytes: f(Metric::FileBytes),
            cost_usd: f(Metric::CostUsd),
        }
    }
}

/// `POST /v1/holds/{id}/commit` → 200.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitAnswer {
    pub committed: bool,
    pub hold_id: String,
    /// The hold had expired; the usage was recorded all the same.
    pub late: bool,
    /// Committed before: nothing changed now (the first figures stand).
    pub duplicate: bool,
    /// The action's type (`message`, `image`, …).
    #[serde(rename = "type")]
    pub kind: String,
    pub model: Option<String>,
    /// What was recorded.
    pub usage: Figures,
}

/// `POST /v1/holds/{id}/release` → 200.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseAnswer {
    pub hold_id: String,
    /// The hold is released (now or before); `false` after a commit.
    pub released: bool,
    /// This call changed something.
    pub changed: bool,
    /// The hold had been committed: the release changed nothing.
    pub committed: bool,
}

/// `POST /v1/holds/{id}/extend` → 200.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtendAnswer {
    pub hold_id: String,
    pub expires_at: String,
}

/// `POST /v1/admin/users/{id}/reset` → 200.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResetAnswer {
    pub user: String,
    pub reset: bool,
    pub counters_reset: usize,
}

/// One amount a hold put on one limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChargeView {
    /// The limit's key: `metric|scope|window`.
    pub limit: String,
    pub metric: String,
    pub amount: Amount,
}

/// An open hold in the admin explain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub model: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    /// Past its expiry, waiting for the alarm or the next request.
    pub expired: bool,
    /// `api` or `gateway`: who may settle it.
    pub origin: String,
    pub estimate: Figures,
    pub charges: Vec<ChargeView>,
}

/// A recently closed hold in the admin explain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClosedView {
    pub id: String,
    /// `committed`, `released` or `expired`.
    pub end: String,
    pub late: bool,
    pub closed_at: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub model: Option<String>,
    /// Committed: the real usage recorded.
    pub usage: Option<Figures>,
}

/// `GET /v1/admin/users/{id}` → 200: the stored books as they are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExplainAnswer {
    pub user: String,
    pub as_of: String,
    pub config_revision: i64,
    /// The subscription the user's last token carried.
    pub subscription: Option<Subscription>,
    pub subscription_seen_at: Option<String>,
    pub plan: Option<String>,
    /// Every limit of the plan with used / limit / remaining / resets_at.
    pub limits: Vec<LimitState>,
    pub open_holds: usize,
    pub holds: Vec<HoldView>,
    /// Newest first.
    pub closed_holds: Vec<ClosedView>,
    pub idempotency_keys: usize,
    /// The ledger's counter keys (`metric|scope|window`).
    pub counters: Vec<String>,
    /// When the alarm will release the next hold.
    pub next_expiry: Option<String>,
    /// Credits (SPEC §9): every grant, spent, expired and revoked ones included.
    pub grants: Vec<tollgate::credits::GrantInfo>,
}

/// A discount code (`PUT` → 201/200 and `GET /v1/admin/discounts/{code}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiscountView {
    pub code: String,
    pub max_uses: Option<u64>,
    pub max_uses_per_user: Option<u64>,
    pub expires_at: Option<String>,
    pub plans: Option<Vec<String>>,
    /// The grant each redemption adds (SPEC §9); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<tollgate::discount::GrantTemplate>,
    pub uses: u64,
    /// How many users redeemed it.
    pub users: usize,
    /// Redemptions whose grant has not yet reached the user's books (a
    /// hand-over under way or being retried); shown only when there are
    /// any, so a code's view keeps its earlier shape.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub handovers_pending: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
