//! Bodies of the engagement API (issue 18): the content library, consent, journeys and
//! the outbox.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A template for one channel. Variables are written `{{nickname}}`; the known ones are
/// nickname, name, member_id, stage, tier, points.balance, points.expiring_next,
/// points.expiring_at and link. A template naming another is refused.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentInput {
    /// 1-40 lower-case letters, digits, '_' or '-'; required on POST, the path's on PUT.
    pub id: Option<String>,
    /// sms, email, wechat, push or webhook.
    pub channel: String,
    /// A name for people; the id when absent.
    pub name: Option<String>,
    /// The e-mail subject or the push title (up to 200 characters).
    pub subject: Option<String>,
    /// Up to 4,000 characters.
    pub body: String,
    /// Where the tracked link (`{{link}}`) leads: an http(s) URL.
    pub link: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ContentView {
    pub id: String,
    pub channel: String,
    pub name: String,
    pub subject: Option<String>,
    pub body: String,
    pub link: Option<String>,
    /// The variables the template names, in order of first use.
    pub variables: Vec<String>,
    /// Counts saves that changed it.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct ContentList {
    pub content: Vec<ContentView>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentPreviewInput {
    /// The member whose data fills the variables.
    pub member_id: i64,
}

/// The template as this member would receive it now.
#[derive(Serialize, ToSchema)]
pub struct ContentPreviewView {
    pub content: String,
    pub member_id: i64,
    pub channel: String,
    pub subject: Option<String>,
    pub body: String,
}

/// A grant or withdrawal of consent to be contacted on one channel.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// sms, email, wechat, push or webhook.
    pub channel: String,
    pub granted: bool,
    /// Where the member said so: 1-40 lower-case letters, digits or '_' (`call_center`,
    /// `app`, `store`…).
    pub source: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConsentView {
    pub channel: String,
    pub granted: bool,
    pub source: String,
    /// When it was recorded.
    pub at: String,
    /// The API key (or process) that recorded it.
    pub set_by: String,
}

/// A member's consents: only channels someone recorded a word on are listed.
#[derive(Serialize, ToSchema)]
pub struct ConsentsView {
    /// The member (the survivor, when the id asked for was merged).
    pub member_id: i64,
    pub consents: Vec<ConsentView>,
}

/// A journey: a trigger, steps, a re-entry policy and an optional goal.
///
/// Triggers: `{"event": "purchase", "when": "<expression>"}`, `{"stage": {"from": "weak",
/// "to": "strong"}}` (either end may be left out), `{"segment": "<id>", "on": "enter" |
/// "exit"}` or `{"tier": {"programme": "club", "from": "silver", "to": "gold"}}` (any end
/// may be left out). Steps: `{"wait": "2d"}`, `{"wait": {"until": "10:00"}}`, `{"send": {"content":
/// "<id>", "channel": "sms"}}`, `{"tag": "vip"}`, `{"untag": "vip"}`, `{"points": {"amount":
/// 100, "rule": "birthday"}}`, `{"coupon": {"id": "ten-off"}}`, `{"webhook": {"event":
/// "<name>"}}` and `{"if": "<expression>",
/// "then": [steps], "else": [steps]}`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JourneyInput {
    /// 1-40 lower-case letters, digits, '_' or '-'; required on POST, the path's on PUT.
    pub id: Option<String>,
    /// A name for people; the id when absent.
    pub name: Option<String>,
    /// draft (the default), active or paused. Only an active journey starts members on
    /// it, and only for triggers from the moment it became active.
    pub status: Option<String>,
    /// once (the default), always, or once_per:<duration> (once_per:30d).
    pub reentry: Option<String>,
    #[schema(value_type = Object)]
    pub trigger: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub steps: serde_json::Value,
    /// An expression: a member for whom it holds leaves the journey (checked before each
    /// step).
    pub goal: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct JourneyView {
    pub id: String,
    pub name: String,
    pub status: String,
    /// Counts saves that changed the definition; a member's run keeps the version it
    /// entered with.
    pub version: i64,
    pub reentry: String,
    #[schema(value_type = Object)]
    pub trigger: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub steps: serde_json::Value,
    pub goal: Option<String>,
    /// Since when triggers start it (while active).
    pub active_since: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct JourneyList {
    pub journeys: Vec<JourneyView>,
}

/// A member's place in one journey.
#[derive(Serialize, ToSchema)]
pub struct MemberJourneyView {
    pub journey: String,
    pub version: i64,
    /// The next step to run, counted in the compiled program from 0.
    pub step: i64,
    /// triggered (waiting to be admitted) | active | done | exited | skipped | failed
    pub status: String,
    /// Why it ended: goal, reentry (not admitted), member_gone, or a failure.
    pub reason: Option<String>,
    /// What started it: `event:<event_id>`, `stage:…` or `segment:…`.
    pub cause: String,
    pub triggered_at: String,
    pub entered_at: Option<String>,
    /// When the next step runs, while under way.
    pub next_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberJourneysView {
    pub member_id: i64,
    pub journeys: Vec<MemberJourneyView>,
}

/// A message in the outbox.
#[derive(Serialize, ToSchema)]
pub struct OutboxMessageView {
    pub id: i64,
    pub member_id: i64,
    pub journey: Option<String>,
    pub campaign: Option<String>,
    pub content: Option<String>,
    pub content_version: Option<i64>,
    /// message (to the member) or call (a journey's webhook step).
    pub kind: String,
    pub channel: String,
    /// queued | waiting (quiet hours) | sending | delivered | failed | suppressed
    pub status: String,
    /// Why it was suppressed or is waiting: no_consent, consent_withdrawn, no_address,
    /// suppression_list, frequency_cap_channel_day, frequency_cap_channel_week,
    /// frequency_cap_all_day, content_missing, no_recommendation (the template names
    /// `{{recommended.sku}}` and the member has none), member_gone, member_erased,
    /// quiet_hours.
    pub reason: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub created_at: String,
    pub send_at: String,
    pub attempts: i64,
    /// When it was delivered or failed for good.
    pub done_at: Option<String>,
    /// The provider's last answer.
    pub answer: Option<String>,
    /// The first open and the first click its tracked links saw.
    pub opened_at: Option<String>,
    pub clicked_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxView {
    pub messages: Vec<OutboxMessageView>,
}

/// How a content's (or a journey's) messages did.
#[derive(Serialize, ToSchema)]
pub struct PerformanceView {
    /// The window after delivery a purchase or a rise counts in.
    pub days: u32,
    /// Messages decided (suppressed ones included).
    pub messages: i64,
    pub suppressed: i64,
    /// Queued, waiting for quiet hours to end, or being sent.
    pub waiting: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Messages whose open image or tracked link was seen.
    pub opened: i64,
    pub clicked: i64,
    /// Delivered messages whose member bought within `days`.
    pub converted: i64,
    /// Delivered messages whose member's stage rose within `days`.
    pub rose: i64,
    /// clicked ÷ delivered, converted ÷ delivered, rose ÷ delivered (None before any
    /// delivery).
    pub click_rate: Option<f64>,
    pub conversion_rate: Option<f64>,
    pub rise_rate: Option<f64>,
}

impl PerformanceView {
    pub fn of(p: flywheel_store::Performance, days: u32) -> PerformanceView {
        let rate = |n: i64| (p.delivered > 0).then(|| n as f64 / p.delivered as f64);
        PerformanceView {
            days,
            click_rate: rate(p.clicked),
            conversion_rate: rate(p.converted),
            rise_rate: rate(p.rose),
            messages: p.messages,
            suppressed: p.suppressed,
            waiting: p.waiting,
            delivered: p.delivered,
            failed: p.failed,
            opened: p.opened,
            clicked: p.clicked,
            converted: p.converted,
            rose: p.rose,
        }
    }
}

/// Why a member goes on the suppression list.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionInput {
    /// Up to 200 characters ("asked never to be contacted on the complaint call").
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct SuppressionView {
    pub member_id: i64,
    /// A channel, or `*` for every channel.
    pub channel: String,
    pub reason: String,
    pub at: String,
    pub set_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct SuppressionList {
    pub suppressions: Vec<SuppressionView>,
}

/// A campaign: content sent to a saved segment at a date and time, once or every so
/// often, split between variants with a holdout group.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    /// 1-40 lower-case letters, digits, '_' or '-'; required on POST, the path's on PUT.
    pub id: Option<String>,
    pub name: Option<String>,
    /// draft (the default), scheduled, paused or done. Only a scheduled campaign goes out.
    pub status: Option<String>,
    /// The saved segment it goes to (its members when each occurrence goes out).
    pub segment: String,
    /// The first occurrence (RFC 3339).
    pub send_at: String,
    /// Again this long after each occurrence (`7d`; at least a day).
    pub every: Option<String>,
    /// No occurrence after this instant (RFC 3339).
    pub until: Option<String>,
    /// One content for everyone (or give `variants`).
    pub content: Option<String>,
    /// Up to five: `{"id": "a", "content": "…", "weight": 1}`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub variants: Option<serde_json::Value>,
    /// Percent of the segment held out (0-50): they get nothing, and show what happens
    /// without the message.
    pub holdout: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct CampaignView {
    pub id: String,
    pub name: String,
    pub status: String,
    pub version: i64,
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    /// Occurrences sent so far.
    pub occurrences_sent: i64,
    /// When the next goes out; None once the last has.
    pub next_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct CampaignList {
    pub campaigns: Vec<CampaignView>,
}

/// One group's results: a variant, or the holdout.
#[derive(Serialize, ToSchema)]
pub struct VariantResultView {
    pub variant: String,
    pub members: i64,
    pub suppressed: i64,
    pub delivered: i64,
    pub opened: i64,
    pub clicked: i64,
    /// Members who bought within `days` of their occurrence.
    pub converted: i64,
    /// Members whose stage rose within `days`.
    pub rose: i64,
    /// converted ÷ members, rose ÷ members.
    pub conversion_rate: Option<f64>,
    pub rise_rate: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct CampaignResultsView {
    pub campaign: String,
    pub days: u32,
    pub groups: Vec<VariantResultView>,
}
