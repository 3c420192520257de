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
