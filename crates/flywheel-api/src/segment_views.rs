//! Bodies of the tag and segment routes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A segment to save. `POST` takes the id in the body; `PUT` in the path.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// 1-40 lower-case letters, digits, '_' or '-' (POST only).
    pub id: Option<String>,
    /// What people call it ("Bought last month").
    pub name: String,
    /// In the segment language, e.g. `stage >= strong and purchases_within(30d) >= 1`.
    #[schema(max_length = 4000)]
    pub expression: String,
    /// A tag the segment sets on its members while they are in it (`segment_rule`).
    pub tag: Option<String>,
    /// A badge the segment awards each member when they first enter it — in real time,
    /// and to those already in it as it fills — kept when they leave ("Ten friends
    /// brought"; up to 60 characters). Shown on the member card.
    pub badge: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SegmentView {
    pub id: String,
    pub name: String,
    pub expression: String,
    pub tag: Option<String>,
    pub badge: Option<String>,
    /// One of the built-in segments (still editable).
    pub builtin: bool,
    pub version: i64,
    /// Members in it now.
    pub count: i64,
    /// `filling` while a background pass evaluates every member against a new or
    /// edited definition, then `ready`.
    #[schema(example = "ready")]
    pub status: String,
    /// The share of members the running pass has evaluated (1 when none runs).
    pub progress: f64,
    /// When its membership last changed (its definition's time if never).
    pub changed_at: String,
    pub defined_at: String,
    pub defined_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct SegmentList {
    pub segments: Vec<SegmentView>,
}

#[derive(Serialize, ToSchema)]
pub struct SegmentMemberView {
    pub member_id: i64,
    pub entered_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct SegmentMembersPage {
    pub members: Vec<SegmentMemberView>,
    /// The cursor of the next page; null on the last.
    pub next: Option<String>,
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeView {
    pub segment_id: String,
    pub member_id: i64,
    pub at: String,
    /// `entered` or `left`.
    pub change: String,
    /// What caused it: `event:<event_id>`, `clock` (a window passed), `tag:<tag>`,
    /// `untag:<tag>`, `import:<file>`, `stage_sweep`, `merged:<survivor>`, `fill` (a
    /// new or edited definition).
    pub cause: String,
    /// The definition's version that decided it.
    pub version: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ChangesPage {
    pub changes: Vec<ChangeView>,
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberSegmentView {
    pub id: String,
    pub entered_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct MemberSegmentsView {
    pub member_id: i64,
    pub segments: Vec<MemberSegmentView>,
    /// The latest entries and exits, newest first.
    pub changes: Vec<ChangeView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    #[schema(max_length = 4000)]
    pub expression: String,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewView {
    pub count: i64,
    /// Up to 20 member ids, newest members first.
    pub sample: Vec<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagInput {
    /// `vip`, or `dimension:value` for a dimension defined at
    /// `PUT /v1/tags/dimensions/{id}`.
    pub tag: String,
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberTagView {
    pub tag: String,
    /// `staff`, `import` or `segment`.
    pub source: String,
    /// The API key (`key:<id>`), file or segment that set it.
    pub set_by: String,
    pub note: Option<String>,
    pub set_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct MemberTagsView {
    pub member_id: i64,
    pub tags: Vec<MemberTagView>,
}

#[derive(Serialize, ToSchema)]
pub struct TagCountView {
    pub tag: String,
    pub dimension: Option<String>,
    pub members: i64,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DimensionInput {
    pub name: String,
    /// Whether a member may hold several values at once; one value otherwise (setting
    /// another replaces it).
    pub multiple: bool,
    /// The values allowed; empty or absent allows any.
    pub values: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct DimensionView {
    pub id: String,
    pub name: String,
    pub multiple: bool,
    pub values: Vec<String>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct TagsView {
    pub tags: Vec<TagCountView>,
    pub dimensions: Vec<DimensionView>,
}

#[derive(Serialize, ToSchema)]
pub struct InfluencerView {
    pub member_id: i64,
    pub followers: Option<i64>,
    pub shares: i64,
    /// People who came through the member's referrals.
    pub referrals_made: i64,
    /// Of them, those who bought.
    pub referrals_converted: i64,
    /// Shown for context; never used to rank.
    pub total_spent: String,
}

#[derive(Serialize, ToSchema)]
pub struct InfluencerList {
    /// `followers` or `referrals`.
    pub by: String,
    pub members: Vec<InfluencerView>,
}
