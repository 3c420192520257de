//! Bodies of `/v1/stats/*`: the figures the cockpit's overview draws, each one the same
//! number the page shows.

use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The overview's tiles.
#[derive(Serialize, ToSchema)]
pub struct OverviewStats {
    /// Members (merged-away ids not counted).
    pub members: i64,
    /// Members with any event in the 30 days up to `active_30d_computed_at`.
    pub active_30d: i64,
    /// When `active_30d` was computed: it needs a pass over every member's history, so
    /// it is kept and computed again every few minutes when anything changed (and on
    /// each new day), as the cohorts are.
    pub active_30d_computed_at: String,
    /// Members who joined since the start of this month (UTC).
    pub new_this_month: i64,
    /// Members at the super-strong stage.
    pub super_users: i64,
    /// Members holding a tier of a paid programme now.
    pub paid_members: i64,
    /// Points in members' wallets: what the brand owes (default programme).
    pub points_liability: i64,
    /// Points earned but not yet available.
    pub points_pending: i64,
    pub points_programme: String,
    pub computed_at: String,
}

/// One stage change counted in a month.
#[derive(Serialize, ToSchema)]
pub struct FlowView {
    pub from: String,
    pub to: String,
    pub members: i64,
}

/// A month's stage changes.
#[derive(Serialize, ToSchema)]
pub struct StageFlowMonth {
    /// `2026-11`.
    #[schema(example = "2026-11")]
    pub month: String,
    pub from: String,
    /// Exclusive; the current month ends now.
    pub to: String,
    /// Changes to a higher stage.
    pub up: i64,
    /// Changes to a lower stage.
    pub down: i64,
    /// Changes up by two stages or more at once (counted in `up` too).
    pub jumped: i64,
    pub flows: Vec<FlowView>,
}

#[derive(Serialize, ToSchema)]
pub struct StageFlows {
    pub months: Vec<StageFlowMonth>,
    pub computed_at: String,
}

/// Members in one cell of the RFM grid.
#[derive(Serialize, ToSchema)]
pub struct RfmCell {
    /// Recency score, 1–5 (5 bought most recently).
    pub r: i64,
    /// Frequency score, 1–5.
    pub f: i64,
    pub members: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RfmGrid {
    /// All 25 cells, r then f ascending.
    pub cells: Vec<RfmCell>,
    /// Members scored (buyers in the last recompute).
    pub scored: i64,
    /// When the scores were computed; none before the first recompute.
    pub computed_at: Option<String>,
}

/// A month's points flows.
#[derive(Serialize, ToSchema)]
pub struct PointsMonth {
    pub month: String,
    pub issued: i64,
    pub redeemed: i64,
    pub expired: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PointsMonths {
    pub programme: String,
    pub months: Vec<PointsMonth>,
}

/// Buyers of a cohort in one month after its first.
#[derive(Serialize, ToSchema)]
pub struct RetentionPoint {
    /// Months after the cohort's month (0: the month itself).
    pub offset: u32,
    pub buyers: i64,
    /// buyers / members, 0–1.
    pub share: f64,
}

/// The members whose first purchase fell in one month, and how many bought later.
#[derive(Serialize, ToSchema)]
pub struct CohortView {
    #[schema(example = "2026-05")]
    pub month: String,
    pub members: i64,
    pub retention: Vec<RetentionPoint>,
}

#[derive(Serialize, ToSchema)]
pub struct Cohorts {
    pub cohorts: Vec<CohortView>,
    pub computed_at: String,
}

/// Referrals made and converted (the invitee bought) in one month.
#[derive(Serialize, ToSchema)]
pub struct ReferralMonth {
    pub month: String,
    pub made: i64,
    pub converted: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ReferralMonths {
    pub months: Vec<ReferralMonth>,
}

/// The members one source brought.
#[derive(Serialize, ToSchema)]
pub struct SourceRow {
    /// `campaign`, `qr`, `referral`, `other`; null for members who named no source.
    pub kind: Option<String>,
    pub name: Option<String>,
    pub members: i64,
    /// Members who have made their first purchase (and maybe more).
    pub buyers: i64,
    /// buyers / members, 0–1.
    pub buyer_share: f64,
    /// Members by the stage they have reached, every stage listed.
    pub stages: BTreeMap<String, i64>,
}

/// Members by what brought them, the most first.
#[derive(Serialize, ToSchema)]
pub struct SourceReport {
    pub sources: Vec<SourceRow>,
    /// Members whose first event named no source.
    pub unattributed: SourceRow,
    pub computed_at: String,
}

/// One group's contribution.
#[derive(Serialize, ToSchema)]
pub struct GroupView {
    /// The stage, lens, `programme:tier`, or `super_users` / `everyone_else`.
    pub key: String,
    pub members: i64,
    /// members / all members, 0–1.
    pub member_share: f64,
    pub buyers: i64,
    /// Kept spend (gross less refunds), decimal.
    pub revenue: String,
    /// revenue / all revenue, 0–1.
    pub revenue_share: f64,
    /// Revenue per member, decimal.
    pub spend_per_head: String,
    /// Buyers with two orders or more / buyers.
    pub repurchase_rate: f64,
    /// Buyers who bought one SKU more than three times / buyers.
    pub sku_repurchase_rate: f64,
    /// Members who shared / members.
    pub share_rate: f64,
    /// Members who referred someone / members.
    pub referral_rate: f64,
    /// Spend per head against that of every member outside the group (seed 002: a
    /// super user is worth at least 5 ordinary members); null when nobody is outside.
    pub multiple: Option<f64>,
    /// Expected value over the score horizon, summed (last recompute), decimal.
    pub lifetime_value: String,
}

/// A point of the concentration curve.
#[derive(Serialize, ToSchema)]
pub struct ConcentrationPoint {
    /// The top share of buyers, by revenue, 0–1.
    pub buyers: f64,
    /// The share of revenue they bring, 0–1.
    pub revenue: f64,
}

/// What the relationships are worth, cut by stage, lens, tier, and super users.
#[derive(Serialize, ToSchema)]
pub struct ContributionView {
    pub by_stage: Vec<GroupView>,
    pub by_lens: Vec<GroupView>,
    pub by_tier: Vec<GroupView>,
    pub super_users: Vec<GroupView>,
    /// Every 5% of buyers, largest spenders first.
    pub concentration: Vec<ConcentrationPoint>,
    /// The share of revenue from the top 20% of buyers (the 80/20 rule's figure).
    pub top_fifth_revenue_share: f64,
    pub computed_at: String,
}

/// A profile value and its members.
#[derive(Serialize, ToSchema)]
pub struct CountView {
    pub value: String,
    pub members: i64,
    /// members / the group's members, 0–1.
    pub share: f64,
}

/// Who the people of a group are.
#[derive(Serialize, ToSchema)]
pub struct PersonaView {
    /// `all`, `stage:<stage>` or `segment:<id>`.
    pub group: String,
    pub members: i64,
    pub genders: Vec<CountView>,
    pub age_bands: Vec<CountView>,
    /// The ten largest, then `other`, then `unknown`.
    pub cities: Vec<CountView>,
    pub occupations: Vec<CountView>,
    /// Written from the figures: "412 members: mostly women (62%), …".
    pub summary: String,
}

/// A month's points cost against its sales.
#[derive(Serialize, ToSchema)]
pub struct PointsCostMonth {
    pub month: String,
    pub points_issued: i64,
    /// points_issued at the configured value per point, decimal.
    pub cost: String,
    /// Kept sales that month, decimal.
    pub sales: String,
    /// cost / sales, 0–1 (0 without sales).
    pub cost_share: f64,
}

#[derive(Serialize, ToSchema)]
pub struct PointsCost {
    pub programme: String,
    /// What one point costs the brand (`points.value_per_point`), decimal.
    pub value_per_point: String,
    pub months: Vec<PointsCostMonth>,
}

/// A KPI target to set.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KpiTargetInput {
    /// The stage of the programme it belongs to, e.g. `recruiting`, `interaction`,
    /// `conversion` (seed 001), 1–40 characters.
    #[schema(example = "recruiting")]
    pub phase: String,
    /// The month's target: a count, or for `sales` minor units.
    #[schema(minimum = 0)]
    pub target: i64,
}

/// One metric's month against its target and the brand's own baseline.
#[derive(Serialize, ToSchema)]
pub struct KpiView {
    /// new_members, active_members, referrals, referral_conversions, sales, stage_ups.
    pub metric: String,
    pub phase: Option<String>,
    pub target: Option<i64>,
    /// So far, for the current month.
    pub actual: i64,
    /// The average of the three months before.
    pub baseline: f64,
    /// actual − target.
    pub variance: Option<i64>,
    /// actual / target (1 = on target).
    pub attainment: Option<f64>,
    /// actual / baseline.
    pub against_baseline: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct KpiMonth {
    #[schema(example = "2026-11")]
    pub month: String,
    /// Every metric, those with a target first.
    pub kpis: Vec<KpiView>,
}

/// Members a product or channel brought in, and how many came back.
#[derive(Serialize, ToSchema)]
pub struct EntryView {
    /// A SKU (else a category, else `unknown`), or a channel.
    pub key: String,
    /// Members whose first purchase it was.
    pub members: i64,
    /// Of them, those who bought again.
    pub came_back: i64,
    pub came_back_rate: f64,
}

/// Entry products and channels, most members first.
#[derive(Serialize, ToSchema)]
pub struct EntriesView {
    pub products: Vec<EntryView>,
    pub channels: Vec<EntryView>,
}
