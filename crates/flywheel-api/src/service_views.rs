//! Bodies of the service API (issue 19): queues, tickets and the staff roster.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// When a queue's team works; its targets count only these hours.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkingHoursInput {
    /// mon, tue, wed, thu, fri, sat, sun.
    pub days: Vec<String>,
    /// `HH:MM`, local time.
    pub from: String,
    /// `HH:MM` after `from`; "24:00" for the end of the day.
    pub to: String,
    /// An IANA time zone such as "Asia/Shanghai".
    pub time_zone: String,
}

/// A service queue: the feedback categories a team owns, and how fast it answers.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueInput {
    /// The path's id when present.
    pub id: Option<String>,
    /// A name for people; the id when absent.
    pub name: Option<String>,
    /// Feedback categories routed here (`delivery`); `*` takes any category no other
    /// queue lists.
    pub categories: Vec<String>,
    /// The department that owns the queue.
    pub team: Option<String>,
    /// The first response is due this many working hours after the ticket opens
    /// (fractions allowed, up to a year).
    pub respond_within_hours: f64,
    /// The resolution is due this many working hours after it opens.
    pub resolve_within_hours: f64,
    /// Round the clock in UTC when absent.
    pub working_hours: Option<WorkingHoursInput>,
}

#[derive(Serialize, ToSchema)]
pub struct WorkingHoursView {
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
    pub time_zone: String,
}

#[derive(Serialize, ToSchema)]
pub struct QueueView {
    pub id: String,
    pub name: String,
    pub categories: Vec<String>,
    pub team: Option<String>,
    pub respond_within_hours: f64,
    pub resolve_within_hours: f64,
    pub working_hours: WorkingHoursView,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct QueueList {
    pub queues: Vec<QueueView>,
}

/// A ticket staff open for a member (a complaint taken on the phone, a request).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketInput {
    pub member_id: i64,
    /// complaint, suggestion or request. A complaint or suggestion is recorded as the
    /// member's `feedback` event (a complaint holds their stage until resolved); a
    /// request is a task for the team.
    pub kind: String,
    /// Routes the ticket to the queue that lists it.
    pub category: Option<String>,
    /// What the member said (up to 4,000 characters).
    pub text: Option<String>,
    /// Where it was taken: call_center (the default), store, wechat, app…
    pub channel: Option<String>,
    /// Makes a retry return the same ticket (1-100 characters).
    pub idempotency_key: String,
}

/// A note for a move or a comment.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketNoteInput {
    /// Up to 4,000 characters.
    pub note: Option<String>,
    /// On a comment: a retry under the same key adds nothing.
    pub idempotency_key: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketAssignInput {
    /// A member of the roster (`POST /v1/staff`).
    pub staff_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct TicketNoteView {
    pub at: String,
    /// Who: `key:<id>`, `env-admin`, or `sweep` for a breach.
    pub author: String,
    /// comment, respond, resolve, reopen, assign, response_breached, resolution_breached.
    pub kind: String,
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TicketView {
    pub id: i64,
    pub member_id: i64,
    /// None when no queue lists its category (and none takes `*`).
    pub queue: Option<String>,
    /// complaint, suggestion or request.
    pub kind: String,
    pub category: Option<String>,
    /// open, responded or resolved.
    pub status: String,
    pub text: Option<String>,
    pub channel: Option<String>,
    /// `event:<event_id>`, `staff:<key>` or `journey:<run>:<step>`.
    pub source: String,
    pub opened_at: String,
    pub respond_by: Option<String>,
    pub resolve_by: Option<String>,
    pub responded_at: Option<String>,
    pub resolved_at: Option<String>,
    /// Working hours the first response and the resolution took.
    pub response_hours: Option<f64>,
    pub resolution_hours: Option<f64>,
    /// A target passed without its answer (flagged as it happens, kept after).
    pub breached: bool,
    pub response_breached: bool,
    pub resolution_breached: bool,
    pub assignee: Option<String>,
    pub reopened: i64,
    /// Present on `GET /v1/tickets/{id}`: the ticket's timeline, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<TicketNoteView>>,
}

#[derive(Serialize, ToSchema)]
pub struct TicketList {
    pub tickets: Vec<TicketView>,
}

/// A member of staff.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffInput {
    /// 1-40 lower-case letters, digits, '_' or '-'.
    pub id: String,
    pub name: String,
    /// sales, service, delivery, city_manager, after_sales…
    pub roles: Vec<String>,
    pub city: Option<String>,
    pub store: Option<String>,
    /// Inactive staff keep their history and are assigned nothing new; true by default.
    pub active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct StaffView {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub city: Option<String>,
    pub store: Option<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct StaffList {
    pub staff: Vec<StaffView>,
}

/// One queue's figures over the period.
#[derive(Serialize, ToSchema)]
pub struct QueueFiguresView {
    /// None: tickets no queue took.
    pub queue: Option<String>,
    /// Opened in the period.
    pub opened: i64,
    /// Open now, whenever opened, and of those past a target.
    pub open_now: i64,
    pub breached_now: i64,
    /// Of the period's tickets: answered, resolved, past a target at any time.
    pub responded: i64,
    pub resolved: i64,
    pub breached: i64,
    /// breached / opened.
    pub breach_rate: Option<f64>,
    /// Median working hours to the first answer and to the resolution.
    pub median_response_hours: Option<f64>,
    pub median_resolution_hours: Option<f64>,
    /// Of the period's complaints resolved: members who bought after the resolution,
    /// and that share (complaint-to-repurchase conversion).
    pub complaints_resolved: i64,
    pub bought_after: i64,
    pub repurchase_rate: Option<f64>,
    /// Members who reviewed after the resolution, and the mean rating (1-5) of their
    /// first review after it: satisfaction.
    pub reviewed_after: i64,
    pub mean_rating_after: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceReportView {
    pub from: String,
    pub to: String,
    pub queues: Vec<QueueFiguresView>,
    /// Deals begun in the period, from deposit to delivery.
    pub deposits: DepositFunnelsView,
}

/// How deals went from a small deposit to the full one to delivery.
#[derive(Serialize, ToSchema)]
pub struct FunnelView {
    pub deals: i64,
    /// Deals with a small (refundable) deposit, with the full deposit, delivered.
    pub small: i64,
    pub full: i64,
    pub delivered: i64,
    /// Deals whose deposit was given back before any delivery.
    pub lost: i64,
    /// Of the deals with a small deposit, the share that paid the full one.
    pub small_to_full: Option<f64>,
    /// Of the deals with a full deposit, the share delivered.
    pub full_to_delivery: Option<f64>,
    /// Of all deals, the share delivered.
    pub deposit_to_delivery: Option<f64>,
    /// Median days from the first deposit to delivery.
    pub median_days_to_delivery: Option<f64>,
}

/// The deposit funnel: every deal, and split by whether a service team was around the
/// member while the deal was open.
#[derive(Serialize, ToSchema)]
pub struct DepositFunnelsView {
    pub all: FunnelView,
    pub with_team: FunnelView,
    pub without_team: FunnelView,
}

/// A service-team template: who gathers around a member, on what, and for how long.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamTemplateInput {
    /// The path's id when present.
    pub id: Option<String>,
    pub name: Option<String>,
    /// Role → how many people (1-10 each, 30 in all): {"sales": 1, "service": 2}.
    #[schema(value_type = Object)]
    pub roles: serde_json::Value,
    /// `{"event": "deposit", "when"?: "<segment expression checked as the team forms>"}`.
    #[schema(value_type = Object)]
    pub trigger: serde_json::Value,
    /// The team closes this many days after `close_on`'s event, or after it opened.
    pub close_after_days: u32,
    /// An event type (`delivery`) the closing days count from.
    pub close_on: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamTemplateView {
    pub id: String,
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct TeamTemplateList {
    pub templates: Vec<TeamTemplateView>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamPlaceView {
    pub staff_id: String,
    pub name: String,
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct TeamNoteView {
    pub at: String,
    pub author: String,
    pub note: String,
}

/// The member's service team.
#[derive(Serialize, ToSchema)]
pub struct ServiceTeamView {
    pub id: i64,
    pub template: String,
    pub member_id: i64,
    /// forming (within a second of its event), open or closed.
    pub status: String,
    pub team: Vec<TeamPlaceView>,
    /// Roles no one on the roster could fill.
    pub missing: Vec<String>,
    pub opened_at: Option<String>,
    pub closes_at: Option<String>,
    pub closed_at: Option<String>,
    /// Notes the team shares, oldest first.
    pub notes: Vec<TeamNoteView>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamNoteInput {
    /// Up to 4,000 characters.
    pub note: String,
    /// A retry under the same key adds nothing.
    pub idempotency_key: Option<String>,
}

/// A reason for a store's staff to reach out to a member today.
#[derive(Serialize, ToSchema)]
pub struct CareItemView {
    pub member_id: i64,
    /// birthday, anniversary, service_due or repurchase.
    pub kind: String,
    /// The category or SKU it is about; empty for birthdays and anniversaries.
    pub subject: String,
    /// The member's home store (where they buy most).
    pub store: Option<String>,
    /// Why, in a sentence: "Buys LEAF-PUER every 14 days (median of 3 gaps); last …".
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct CareList {
    /// The UTC day, YYYY-MM-DD.
    pub day: String,
    pub items: Vec<CareItemView>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerInput {
    /// A member of the roster; absent on DELETE.
    pub staff_id: Option<String>,
    /// Why (up to 500 characters), for the audit log.
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct OwnerView {
    pub member_id: i64,
    pub staff_id: String,
    pub name: String,
    pub since: String,
    /// `rule:home_store`, `rule:city`, or the key that set it.
    pub assigned_by: String,
    pub reason: Option<String>,
}

/// A shop assistant's WeCom link with the member.
#[derive(Serialize, ToSchema)]
pub struct WecomContactView {
    /// The assistant's WeCom UserID, lower-case (a staff id when staff are named so).
    pub staff_id: String,
    /// The customer's external user id under that assistant.
    pub external_id: String,
    pub added_at: String,
    /// The contact way's `State` the customer came by (a store, a campaign).
    pub state: Option<String>,
    pub ended_at: Option<String>,
    /// `staff` (the assistant removed the customer) or `customer`.
    pub ended_by: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WecomContactsView {
    pub member_id: i64,
    /// The newest first; ended links too.
    pub contacts: Vec<WecomContactView>,
}

/// A WeCom customer group.
#[derive(Serialize, ToSchema)]
pub struct WecomGroupView {
    /// WeCom's chat id: what `in_group("…")` names.
    pub chat_id: String,
    /// Staff's name for it (`PUT /v1/wecom/groups/{chat_id}`).
    pub name: Option<String>,
    pub created_at: String,
    pub dismissed_at: Option<String>,
    /// Customers in it now.
    pub members: i64,
}

#[derive(Serialize, ToSchema)]
pub struct WecomGroupsView {
    pub groups: Vec<WecomGroupView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WecomGroupInput {
    /// Up to 100 characters.
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct OwnedMemberView {
    pub member_id: i64,
    pub stage: String,
    /// Today's reasons to reach out, each a sentence.
    pub todo: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OwnedMembersView {
    pub staff_id: String,
    pub members: Vec<OwnedMemberView>,
}

/// A contact a member of staff made with a member, logged as the member's `message`
/// (out) event so intimacy sees it.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub staff_id: String,
    /// Where: wechat (the default), call_center, store, app…
    pub channel: Option<String>,
    /// Up to 1,000 characters.
    pub note: Option<String>,
    /// Makes a retry log nothing more (1-100 characters).
    pub idempotency_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct ContactView {
    pub event_id: String,
    pub duplicate: bool,
}

/// Points a member of staff gives a member at their discretion, within their monthly
/// allowance (`[care] staff_allowance_points`).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiftInput {
    pub staff_id: String,
    /// 1 up to the allowance.
    pub points: i64,
    /// Why (up to 500 characters): on the ledger line and in the audit log.
    pub reason: String,
    /// Makes a retry give nothing more (1-100 characters).
    pub idempotency_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct GiftView {
    pub ledger_key: String,
    pub member_id: i64,
    pub staff_id: String,
    pub points: i64,
    /// The giver's points given this month, this gift included, and the allowance.
    pub used_this_month: i64,
    pub allowance: i64,
    pub replayed: bool,
}
