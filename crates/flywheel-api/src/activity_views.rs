//! Bodies of the activities API (issue 22): activities, RSVPs, check-ins and reports.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A daily check-in challenge.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeInput {
    /// Days in a row to complete it (1–366), e.g. 45.
    pub days: u32,
    /// Points credited on completion.
    #[serde(default)]
    pub reward_points: i64,
    /// A badge given on completion.
    pub badge: Option<String>,
}

/// An activity: a class, a salon, a meetup, a volunteer shift, an online challenge.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityInput {
    pub name: String,
    /// The kind of participation checking in makes: snake_case (`salon`,
    /// `masterclass`, `challenge`).
    pub kind: String,
    pub description: Option<String>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339, after `starts_at`.
    pub ends_at: String,
    /// Where it happens; or `link` for an online one (one of the two is required).
    pub place: Option<String>,
    pub link: Option<String>,
    /// Seats; RSVPs beyond wait in line. No limit when absent.
    pub capacity: Option<u32>,
    /// Points taken when a seat is confirmed, given back on a cancel before the start.
    #[serde(default)]
    pub cost_points: i64,
    /// A price paid at the door or in the shop (decimal), shown to members.
    pub cost_cash: Option<String>,
    /// Who may RSVP, as a segment expression (`stage >= weak`); anyone when absent.
    pub eligibility: Option<String>,
    pub challenge: Option<ChallengeInput>,
    /// `open` (the default) or `cancelled`.
    pub status: Option<String>,
}

/// An activity's definition as answered: the fields of [`ActivityInput`], `status`
/// always given. (Its own type: the input refuses unknown fields, so its schema cannot
/// be flattened into a view that has more.)
#[derive(Clone, Serialize, ToSchema)]
pub struct ActivityDefinition {
    pub name: String,
    pub kind: String,
    pub description: Option<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub place: Option<String>,
    pub link: Option<String>,
    pub capacity: Option<u32>,
    pub cost_points: i64,
    pub cost_cash: Option<String>,
    pub eligibility: Option<String>,
    pub challenge: Option<ChallengeInput>,
    /// `open` or `cancelled`.
    pub status: String,
}

/// An activity as stored, with its RSVPs counted.
#[derive(Serialize, ToSchema)]
pub struct ActivityView {
    pub id: String,
    #[serde(flatten)]
    pub activity: ActivityDefinition,
    pub confirmed: i64,
    pub waitlisted: i64,
    pub attended: i64,
    /// Seats left; absent without a capacity.
    pub seats_left: Option<i64>,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct ActivitiesView {
    pub activities: Vec<ActivityView>,
}

/// An RSVP made from the API (the member card makes its own).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RsvpInput {
    pub member_id: i64,
}

/// A member's RSVP.
#[derive(Serialize, ToSchema)]
pub struct RsvpView {
    pub activity_id: String,
    pub member_id: i64,
    /// confirmed | waitlisted | cancelled
    pub status: String,
    /// api | card | door
    pub via: String,
    pub rsvp_at: String,
    /// In line: 1 is next.
    pub position: Option<i64>,
    /// Points paid for the seat.
    pub points_paid: i64,
    pub attended_at: Option<String>,
    /// A challenge completed.
    pub completed_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RsvpsView {
    pub activity_id: String,
    pub rsvps: Vec<RsvpView>,
}

/// What cancelling an RSVP did.
#[derive(Serialize, ToSchema)]
pub struct CancelledView {
    pub activity_id: String,
    pub member_id: i64,
    /// Members given the freed seat, from the line.
    pub seated: Vec<i64>,
}

/// Who is checking in: the code on their member card (its number, as the card's QR
/// code and barcode carry it), or their member id.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInInput {
    pub card_code: Option<String>,
    pub member_id: Option<i64>,
}

/// What a check-in did.
#[derive(Serialize, ToSchema)]
pub struct CheckInView {
    pub activity_id: String,
    pub member_id: i64,
    /// The participation event the first check-in sent.
    pub event_id: String,
    /// False when the member had checked in before (today, for a challenge).
    pub first: bool,
    /// A challenge's days in a row so far.
    pub streak: u32,
    /// The challenge is complete (its reward given once).
    pub completed: bool,
    /// The ledger key of the completion's points, when this check-in completed it.
    pub reward_ledger_key: Option<String>,
}

/// Inviting a segment: a campaign (`activity-<id>`) sending the content to the
/// segment's members through the outbox, with consent, caps and quiet hours as any
/// campaign.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationInput {
    /// A saved segment's id.
    pub segment: String,
    /// A content id from the library: the invitation's text.
    pub content: String,
    /// RFC 3339; now when absent.
    pub send_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    pub activity_id: String,
    /// The campaign that sends the invitations (`GET /v1/campaigns/{id}/results`).
    pub campaign_id: String,
    pub send_at: String,
}

/// Attendees' stage then → now.
#[derive(Serialize, ToSchema)]
pub struct StageMoveView {
    pub from: String,
    pub to: String,
    pub members: i64,
}

/// An activity's report.
#[derive(Serialize, ToSchema)]
pub struct ActivityReportView {
    pub activity_id: String,
    /// Members the invitation campaign chose (0 without one).
    pub invited: i64,
    pub confirmed: i64,
    pub waitlisted: i64,
    pub cancelled: i64,
    pub attended: i64,
    /// Confirmed, the activity over, never checked in.
    pub no_shows: i64,
    /// Challenges completed.
    pub completed: i64,
    /// Members created after the activity was announced who RSVP'd or came.
    pub new_members: i64,
    pub moved_up: i64,
    pub moved_down: i64,
    pub movement: Vec<StageMoveView>,
    /// When the movement is final: 30 days after the end.
    pub movement_final_at: String,
    pub movement_final: bool,
}
