//! Bodies of `/v1/leaderboards`, `/v1/awards` and `/v1/members/{id}/honours`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardInput {
    /// Required on POST; the path's on PUT.
    pub id: Option<String>,
    pub name: String,
    /// What members are ranked by, highest first, in the segment language:
    /// `interactions_within(30d)`, `referrals_converted`, `positive_reviews`,
    /// `spent_within(365d)`, `super_user`. A count, amount, score or date; not text.
    pub score: String,
    /// Who may appear, in the segment language (`stage = super_strong`); everyone when
    /// absent.
    pub filter: Option<String>,
    /// Places shown (1-500); 10 by default.
    pub size: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct StandingView {
    /// Shared by equal scores; the next rank skips (1, 2, 2, 4).
    pub rank: u32,
    pub member_id: i64,
    pub score: f64,
    /// Others on the board with the same score.
    pub tied_with: u32,
    pub member_since: String,
}

#[derive(Serialize, ToSchema)]
pub struct LeaderboardView {
    pub id: String,
    pub name: String,
    pub score: String,
    pub filter: Option<String>,
    pub size: u32,
    /// How ties are ranked and listed.
    pub ties: String,
    /// When the standings were computed (they may lag ingest by one flush).
    pub as_of: String,
    pub standings: Vec<StandingView>,
}

#[derive(Serialize, ToSchema)]
pub struct LeaderboardList {
    pub leaderboards: Vec<LeaderboardView>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeAwardsInput {
    /// The honour ("Super user of 2026"; up to 100 characters).
    pub title: String,
    /// The places proposed (1-100): members ranked this high or better, ties included.
    pub top: u32,
}

#[derive(Serialize, ToSchema)]
pub struct AwardView {
    pub id: String,
    pub leaderboard_id: String,
    pub title: String,
    pub member_id: i64,
    pub rank: i64,
    pub score: f64,
    /// proposed | confirmed | declined
    pub status: String,
    pub proposed_at: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AwardList {
    pub awards: Vec<AwardView>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwardDecisionInput {
    /// confirm | decline
    pub decision: String,
    /// Why (shown with the award; up to 500 characters).
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BadgeView {
    pub badge: String,
    /// The segment that awarded it.
    pub segment_id: String,
    pub awarded_at: String,
}

/// What a member has been honoured with: badges and confirmed awards.
#[derive(Serialize, ToSchema)]
pub struct HonoursView {
    pub member_id: i64,
    pub badges: Vec<BadgeView>,
    pub awards: Vec<AwardView>,
}

/// One campaign's figures in the marketing report.
#[derive(Serialize, ToSchema)]
pub struct CampaignReportRow {
    /// coupon | group_buy | help | bargain
    pub kind: String,
    pub id: String,
    pub name: String,
    /// Members who took part: redeemed a code, led or joined a round.
    pub participants: i64,
    /// Friends new to the brand it brought (joined after the round opened, or after the
    /// gift was sent).
    pub new_members: i64,
    /// Referrals it made, and those converted by the friend's first purchase.
    pub referrals: i64,
    pub referral_conversions: i64,
    /// Points credited by its rewards, and what they cost at the points' value.
    pub points: i64,
    pub points_cost: String,
    /// Discounts granted on its coupons.
    pub discounts: String,
    /// points_cost + discounts.
    pub cost: String,
    /// A coupon's: the orders its codes were redeemed on. A group-buy's, help's or
    /// bargain's: net orders its participants placed from taking part until 30 days
    /// after.
    pub gmv: String,
    /// gmv / cost; null when it cost nothing.
    pub gmv_per_cost: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct CampaignReport {
    /// What a point costs the brand (`points.value_per_point`).
    pub value_per_point: String,
    /// Days after taking part a participant's orders count as influenced.
    pub influence_days: i64,
    pub campaigns: Vec<CampaignReportRow>,
}
