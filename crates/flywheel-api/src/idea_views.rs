//! Bodies of the co-creation board's API (issue 22).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An idea on the board.
#[derive(Serialize, ToSchema)]
pub struct IdeaView {
    pub id: String,
    /// The suggestion event that brought it.
    pub event_id: String,
    pub member_id: i64,
    /// The member's words (masked for keys that may not read personal data).
    pub text: String,
    pub category: Option<String>,
    /// `card` (the member card) or the channel of the suggestion.
    pub via: String,
    /// received | under_review | adopted | shipped | declined
    pub status: String,
    pub owner_staff_id: Option<String>,
    /// What the member reads about it.
    pub public_note: Option<String>,
    /// A decline's reason.
    pub reason: Option<String>,
    /// Points the adoption gives.
    pub reward_points: i64,
    /// A badge the adoption gives.
    pub badge: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct IdeasView {
    /// Ideas per status, on the whole board.
    pub counts: std::collections::BTreeMap<String, i64>,
    pub ideas: Vec<IdeaView>,
}

/// A suggestion sent in through the API (a `feedback` event of kind suggestion).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdeaInput {
    pub member_id: i64,
    /// Up to 4,000 characters.
    pub text: String,
    pub category: Option<String>,
    /// Retrying with the same key adds nothing.
    pub idempotency_key: String,
}

/// A person's change to an idea; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdeaDecisionInput {
    /// received → under_review → adopted → shipped; declined (with `reason`) from
    /// received or under_review, and back to under_review.
    pub status: Option<String>,
    /// Why it was declined: the member reads it.
    pub reason: Option<String>,
    /// A note the member reads.
    pub public_note: Option<String>,
    /// The member of staff who owns the idea.
    pub owner_staff_id: Option<String>,
    /// Points the adoption gives (0–100,000), credited when adopted.
    pub reward_points: Option<i64>,
    /// A badge the adoption gives.
    pub badge: Option<String>,
}

/// What a decision did.
#[derive(Serialize, ToSchema)]
pub struct IdeaDecisionView {
    pub idea: IdeaView,
    /// The status moved (the member is told).
    pub moved: bool,
    /// On adoption: the `co_creation` participation event sent.
    pub participation_event_id: Option<String>,
    /// On adoption with points: the ledger key of the credit.
    pub reward_ledger_key: Option<String>,
}
