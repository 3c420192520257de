//! Response bodies of the points API. Instants are RFC 3339 strings, money decimal
//! strings, points integers.

use flywheel_core::time::to_rfc3339;
use flywheel_store::{ExchangeRow, PartnerRow, RedemptionRow, RewardRow, TransferRow};
use serde::Serialize;
use utoipa::ToSchema;

fn money(minor: Option<i64>) -> Option<String> {
    minor.map(|m| flywheel_core::Money::from_minor(m).to_string())
}

#[derive(Serialize, ToSchema)]
pub struct LotView {
    pub points: i64,
    /// Null: never expires.
    pub expires_at: Option<String>,
    pub available_at: String,
    /// `available` or `pending` (inside the return window).
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct ExpiryView {
    pub points: i64,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct PointsView {
    pub member_id: i64,
    pub programme: String,
    /// Points available now (never any past expiry, swept or not).
    pub balance: i64,
    pub pending: i64,
    /// Points owed after a clawback found the balance short; repaid from later earnings.
    pub debt: i64,
    pub lots: Vec<LotView>,
    pub next_expiry: Option<ExpiryView>,
    pub as_of: String,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerEntryView {
    pub key: String,
    pub at: String,
    pub kind: String,
    /// The member's account the line is on: `wallet`, `pending` or `debt`.
    pub account: String,
    pub programme: String,
    pub amount: i64,
    pub reason: String,
    pub source: SourceView,
    pub rule_id: Option<String>,
    pub actor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SourceView {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerView {
    pub member_id: i64,
    pub entries: Vec<LedgerEntryView>,
    /// Pass as `?before=` for older entries; null on the last page.
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RewardView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub programme: String,
    pub points_cost: i64,
    pub cash_cost: Option<String>,
    pub stock: Option<i64>,
    pub per_member_limit: Option<i64>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
    /// kind coupon: the coupon each redemption issues a code of.
    pub coupon_id: Option<String>,
}

impl From<RewardRow> for RewardView {
    fn from(r: RewardRow) -> Self {
        RewardView {
            id: r.id,
            name: r.name,
            kind: r.kind,
            programme: r.programme,
            points_cost: r.points_cost,
            cash_cost: money(r.cash_cost),
            stock: r.stock,
            per_member_limit: r.per_member_limit,
            valid_from: r.valid_from.map(to_rfc3339),
            valid_until: r.valid_until.map(to_rfc3339),
            active: r.active,
            created_at: to_rfc3339(r.created_at),
            updated_at: to_rfc3339(r.updated_at),
            coupon_id: r.coupon_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RedemptionView {
    pub id: String,
    pub idempotency_key: String,
    pub member_id: i64,
    pub reward_id: Option<String>,
    pub programme: String,
    pub points: i64,
    /// The cash part to collect, if the reward has one.
    pub cash: Option<String>,
    /// `completed` or `cancelled`.
    pub status: String,
    pub created_at: String,
    pub cancelled_at: Option<String>,
    /// True when this answers a repeated idempotency key (nothing changed).
    pub replayed: bool,
    /// A coupon reward's code, issued by this redemption.
    pub coupon: Option<crate::marketing_views::CodeView>,
}

impl RedemptionView {
    pub fn of(r: RedemptionRow, replayed: bool) -> Self {
        RedemptionView {
            id: r.id,
            idempotency_key: r.idempotency_key,
            member_id: r.member_id,
            reward_id: r.reward_id,
            programme: r.programme,
            points: r.points,
            cash: money(r.cash),
            status: r.status,
            created_at: to_rfc3339(r.created_at),
            cancelled_at: r.cancelled_at.map(to_rfc3339),
            replayed,
            coupon: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TransferView {
    pub idempotency_key: String,
    pub from_member_id: i64,
    pub to_member_id: i64,
    pub programme: String,
    pub points: i64,
    pub at: String,
    pub replayed: bool,
}

impl TransferView {
    pub fn of(t: TransferRow, replayed: bool) -> Self {
        TransferView {
            idempotency_key: t.idempotency_key,
            from_member_id: t.from_member_id,
            to_member_id: t.to_member_id,
            programme: t.programme,
            points: t.points,
            at: to_rfc3339(t.at),
            replayed,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PartnerView {
    pub id: String,
    pub name: String,
    pub programme: String,
    pub rate_ours: i64,
    pub rate_theirs: i64,
    pub daily_limit: i64,
    pub created_at: String,
}

impl From<PartnerRow> for PartnerView {
    fn from(p: PartnerRow) -> Self {
        PartnerView {
            id: p.id,
            name: p.name,
            programme: p.programme,
            rate_ours: p.rate_ours,
            rate_theirs: p.rate_theirs,
            daily_limit: p.daily_limit,
            created_at: to_rfc3339(p.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ExchangeView {
    pub idempotency_key: String,
    pub member_id: i64,
    pub partner_id: String,
    pub direction: String,
    /// Our points.
    pub points: i64,
    /// The partner's points they are worth at the partner's rate.
    pub partner_points: i64,
    pub at: String,
    pub replayed: bool,
}

impl ExchangeView {
    pub fn of(e: ExchangeRow, replayed: bool) -> Self {
        ExchangeView {
            idempotency_key: e.idempotency_key,
            member_id: e.member_id,
            partner_id: e.partner_id,
            direction: e.direction,
            points: e.points,
            partner_points: e.partner_points,
            at: to_rfc3339(e.at),
            replayed,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AdjustmentView {
    pub ledger_key: String,
    pub member_id: i64,
    pub points: i64,
    pub reason: String,
    pub replayed: bool,
}

/// One task of the task centre: an earning rule shown to members.
#[derive(Serialize, ToSchema)]
pub struct TaskView {
    /// The earning rule that pays it.
    pub rule_id: String,
    pub title: String,
    pub description: Option<String>,
    /// The event type that completes it (`check_in`, `review`, `profile_update`…).
    pub trigger: String,
    /// "50 points", or "1 point per 1.00".
    pub reward: String,
    /// Paid once per member (`limits.per_member: 1`).
    pub once: bool,
    /// done (a once-only task paid) | open
    pub status: String,
    /// Times it has paid this member.
    pub times_done: i64,
    pub last_done_at: Option<String>,
    /// How far the member is on a streak or profile task.
    pub progress: Option<TaskProgressView>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskProgressView {
    pub current: u32,
    pub target: u32,
    /// "days in a row" | "profile fields"
    pub unit: String,
}

/// `GET /v1/members/{id}/tasks`: the member's task list, in the rules' order.
#[derive(Serialize, ToSchema)]
pub struct TaskList {
    pub member_id: i64,
    pub tasks: Vec<TaskView>,
}
