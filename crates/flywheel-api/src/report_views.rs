//! Response bodies of the points catalogue and finance routes: earning rules and their
//! versions, simulations, the sweep, the period report, the trial balance, settlement,
//! and the reward and partner lists. Points are integers, money decimal strings,
//! instants RFC 3339.

use crate::points_views::{PartnerView, RewardView};
use flywheel_core::time::to_rfc3339;
use flywheel_store::{AccountBalance, SettlementRow, TrialBalance, TrialGroup};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One stored version of the earning rules, in brief.
#[derive(Serialize, ToSchema)]
pub struct RuleVersionView {
    /// 0 is the built-in default set.
    pub version: i64,
    pub effective_from: Option<String>,
    pub created_at: Option<String>,
    pub created_by: Option<String>,
    /// How many rules the version holds.
    pub rules: usize,
}

/// The earning rules in force now, with every version.
#[derive(Serialize, ToSchema)]
pub struct RulesView {
    pub version: i64,
    /// Null for the built-in defaults.
    pub effective_from: Option<String>,
    /// The rules: id, trigger, programme, conditions, award, pending_days,
    /// stage_multipliers, tier_multipliers, windows, limits, budget, active.
    #[schema(value_type = Vec<Object>)]
    pub rules: Value,
    /// Stored versions that take effect later.
    pub scheduled_versions: Vec<i64>,
    pub versions: Vec<RuleVersionView>,
}

/// `PUT /v1/points/rules`.
#[derive(serde::Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct PutRulesInput {
    /// The whole rule set (see `GET /v1/points/rules` for the shape of a rule).
    #[schema(value_type = Vec<Object>)]
    pub rules: Value,
    /// RFC 3339; default now.
    #[schema(format = DateTime)]
    pub effective_from: Option<String>,
}

/// A version just stored.
#[derive(Serialize, ToSchema)]
pub struct StoredRulesView {
    pub version: i64,
    pub effective_from: String,
    #[schema(value_type = Vec<Object>)]
    pub rules: Value,
}

/// `POST /v1/points/rules/simulate`.
#[derive(serde::Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct SimulateInput {
    pub event: crate::views::EventInput,
}

/// What one rule would do for the simulated event.
#[derive(Serialize, ToSchema)]
pub struct SimulatedLine {
    pub rule_id: String,
    pub programme: String,
    pub fires: bool,
    /// After limits and budget.
    pub points: i64,
    /// Before limits and budget.
    pub quoted: i64,
    pub pending_until: Option<String>,
    pub explanation: String,
    pub limited_by: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SimulationView {
    /// The member the event's identities point at (null for a new person).
    pub member_id: Option<i64>,
    pub stage: String,
    /// The tiers the member held when the event happened (`"programme:tier"`), which
    /// rules' tier conditions and multipliers look at.
    pub tiers: Vec<String>,
    pub rule_version: i64,
    pub total: i64,
    pub lines: Vec<SimulatedLine>,
}

#[derive(Serialize, ToSchema)]
pub struct PointsSweepView {
    pub members: u64,
    pub matured: u64,
    pub expired: u64,
}

/// Flows in a period and balances at its end.
#[derive(Serialize, ToSchema)]
pub struct PointsReportView {
    pub programme: String,
    pub from: String,
    pub to: String,
    pub issued: i64,
    pub reversed_pending: i64,
    pub redeemed: i64,
    pub expired: i64,
    pub clawed_back: i64,
    pub adjusted: i64,
    pub transferred: i64,
    pub exchanged_out: i64,
    pub exchanged_in: i64,
    pub outstanding: i64,
    pub pending: i64,
    pub debt: i64,
    pub value_per_point: String,
    /// Outstanding points × value per point.
    pub liability: String,
    /// Points that expired unused in the period.
    pub breakage: i64,
    /// Expired ÷ (expired + redeemed), to four decimals.
    pub breakage_rate: f64,
}

#[derive(Serialize, ToSchema)]
pub struct AccountBalanceView {
    pub account: String,
    pub account_type: String,
    pub programme: String,
    pub balance: i64,
}

#[derive(Serialize, ToSchema)]
pub struct TrialGroupView {
    pub account_type: String,
    pub programme: String,
    pub accounts: i64,
    pub balance: i64,
}

/// Every brand and partner account, members' accounts summed by type, and their total.
#[derive(Serialize, ToSchema)]
pub struct TrialBalanceView {
    pub accounts: Vec<AccountBalanceView>,
    pub member_accounts: Vec<TrialGroupView>,
    /// 0 unless the books are broken.
    pub total: i64,
    /// With `verify=true`: every entry summed again.
    pub entries_total: Option<i64>,
    /// With `verify=true`: accounts whose balance differs from the sum of their entries.
    pub mismatched_accounts: Option<Vec<String>>,
    /// With `verify=true`: rows of the daily aggregate the reports read (`programme day
    /// account_type kind sign`, the day as its first microsecond) that differ from the
    /// entries they sum.
    pub mismatched_days: Option<Vec<String>>,
}

impl From<TrialBalance> for TrialBalanceView {
    fn from(tb: TrialBalance) -> Self {
        let account = |a: AccountBalance| AccountBalanceView {
            account: a.account,
            account_type: a.account_type,
            programme: a.programme,
            balance: a.balance,
        };
        let group = |g: TrialGroup| TrialGroupView {
            account_type: g.account_type,
            programme: g.programme,
            accounts: g.accounts,
            balance: g.balance,
        };
        TrialBalanceView {
            accounts: tb.accounts.into_iter().map(account).collect(),
            member_accounts: tb.member_accounts.into_iter().map(group).collect(),
            total: tb.total,
            entries_total: tb.entries_total,
            mismatched_accounts: tb.mismatched_accounts,
            mismatched_days: tb.mismatched_days,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SettlementRowView {
    pub partner_id: String,
    /// UTC day, YYYY-MM-DD.
    pub day: String,
    pub exchanges: i64,
    pub points_out: i64,
    pub partner_points_out: i64,
    pub points_in: i64,
    pub partner_points_in: i64,
    pub net_points: i64,
    pub net_partner_points: i64,
}

impl From<SettlementRow> for SettlementRowView {
    fn from(r: SettlementRow) -> Self {
        SettlementRowView {
            partner_id: r.partner_id,
            day: r.day,
            exchanges: r.exchanges,
            points_out: r.points_out,
            partner_points_out: r.partner_points_out,
            points_in: r.points_in,
            partner_points_in: r.partner_points_in,
            net_points: r.net_points,
            net_partner_points: r.net_partner_points,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SettlementView {
    pub from: String,
    pub to: String,
    pub rows: Vec<SettlementRowView>,
}

#[derive(Serialize, ToSchema)]
pub struct RewardList {
    pub rewards: Vec<RewardView>,
}

#[derive(Serialize, ToSchema)]
pub struct PartnerList {
    pub partners: Vec<PartnerView>,
}

/// An instant as RFC 3339, or null.
pub fn rfc3339_opt(at: Option<i64>) -> Option<String> {
    at.map(to_rfc3339)
}

/// One tier's figures in the membership report.
#[derive(Serialize, ToSchema)]
pub struct TierFiguresView {
    pub tier: String,
    /// The tier's name (the id again for a tier no longer in the programme).
    pub name: String,
    /// Members holding the tier at the end of the period.
    pub members: i64,
    /// Joined the programme at this tier.
    pub new: i64,
    /// Kept this tier for another term: renewed by paying, or by the retention measure.
    pub renewed: i64,
    /// Raised to this tier (by spend, a purchase, or by hand).
    pub upgraded: i64,
    /// Lowered from this tier.
    pub downgraded: i64,
    /// Left the programme from this tier.
    pub lapsed: i64,
    /// Purchases undone within their cooling-off period.
    pub cancelled: i64,
    /// Terms that came up and were lowered or lapsed by the sweep.
    pub not_renewed: i64,
    /// renewed ÷ (renewed + not_renewed); none when no term came up.
    pub renewal_rate: Option<f64>,
    /// Completed purchases in the period, the cash they paid and the points.
    pub purchases: i64,
    pub revenue_cash: String,
    pub revenue_points: i64,
}

/// One programme in the membership report.
#[derive(Serialize, ToSchema)]
pub struct ProgrammeFiguresView {
    pub programme: String,
    pub name: String,
    /// paid, earned or card.
    pub kind: String,
    /// In ladder order, lowest first.
    pub tiers: Vec<TierFiguresView>,
    /// The programme's tiers summed (`tier` is "all").
    pub total: TierFiguresView,
}

/// `GET /v1/reports/memberships`.
#[derive(Serialize, ToSchema)]
pub struct MembershipReportView {
    pub from: String,
    pub to: String,
    pub programmes: Vec<ProgrammeFiguresView>,
}
