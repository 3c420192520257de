//! Response bodies, as documented in the OpenAPI document. Built from domain values at
//! the edge; instants are RFC 3339 strings and money decimal strings.

use flywheel_core::facts_view::FactsView;
use flywheel_core::ingest::MemberState;
use flywheel_core::time::{Micros, to_rfc3339};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct EventAnswer {
    pub member_id: i64,
    /// none, micro, weak, strong or super_strong
    pub stage: String,
    /// none, shallow, sticky, deep or iron
    pub lens: String,
    /// True when this event_id was seen before: nothing changed.
    pub duplicate: bool,
}

#[derive(Serialize, ToSchema)]
pub struct BatchAnswer {
    pub accepted: usize,
    pub duplicates: usize,
}

#[derive(Serialize, ToSchema)]
pub struct IdentityView {
    pub kind: String,
    pub value: String,
}

#[derive(Serialize, ToSchema)]
pub struct MemberDoc {
    pub id: i64,
    pub identities: Vec<IdentityView>,
    /// name, nicknames (per channel), gender, birthday, city, occupation, followers
    #[schema(value_type = Object)]
    pub profile: Value,
    pub stage: String,
    pub stage_since: String,
    pub lens: String,
    pub created_at: String,
    /// Ids of members merged into this one.
    pub merged_from: Vec<i64>,
    /// When the member's personal data was erased (null if it was not).
    pub erased_at: Option<String>,
    /// What brought the member: the source their first event named (null if none).
    pub source: Option<MemberSourceView>,
    /// All-time counters and window facts counted at the time of the request:
    /// purchase_count, total_spent (decimal string), purchases_in_window, likes, …
    #[schema(value_type = Object)]
    pub facts: FactsView,
}

/// A member's source: a campaign, a QR code, a referral.
#[derive(Serialize, ToSchema)]
pub struct MemberSourceView {
    /// `campaign`, `qr`, `referral` or `other`.
    pub kind: String,
    /// The campaign's name, the QR code's scene…
    pub name: String,
    /// How it reached them (`utm_medium`, where a QR code was printed).
    pub medium: Option<String>,
    /// The site that sent them (`utm_source`).
    pub platform: Option<String>,
    /// When the member's first event happened.
    pub at: String,
}

impl MemberSourceView {
    pub fn of(s: &flywheel_core::source::Source) -> MemberSourceView {
        MemberSourceView {
            kind: s.kind.as_str().into(),
            name: s.name.clone(),
            medium: s.medium.clone(),
            platform: s.platform.clone(),
            at: to_rfc3339(s.at),
        }
    }
}

impl MemberDoc {
    pub fn of(m: &MemberState, merged_from: Vec<i64>, now: Micros, window_days: u32) -> MemberDoc {
        MemberDoc {
            id: m.id,
            identities: m
                .identities
                .iter()
                .map(|i| IdentityView {
                    kind: i.kind.as_str().into(),
                    value: i.value.clone(),
                })
                .collect(),
            profile: serde_json::to_value(ProfileOut::of(&m.profile)).unwrap_or_default(),
            stage: m.stage.as_str().into(),
            stage_since: to_rfc3339(m.stage_since),
            lens: m.lens.as_str().into(),
            created_at: to_rfc3339(m.created_at),
            merged_from,
            erased_at: m.erased_at.map(to_rfc3339),
            source: m.facts.source.as_ref().map(MemberSourceView::of),
            facts: FactsView::of(&m.facts, now, window_days),
        }
    }
}

/// The profile without its bookkeeping timestamps.
#[derive(Serialize)]
struct ProfileOut<'a> {
    name: &'a Option<String>,
    nicknames: &'a BTreeMap<String, String>,
    gender: &'a Option<String>,
    birthday: &'a Option<String>,
    city: &'a Option<String>,
    occupation: &'a Option<String>,
    followers: &'a Option<u64>,
}

impl<'a> ProfileOut<'a> {
    fn of(p: &'a flywheel_core::profile::Profile) -> ProfileOut<'a> {
        ProfileOut {
            name: &p.name,
            nicknames: &p.nicknames,
            gender: &p.gender,
            birthday: &p.birthday,
            city: &p.city,
            occupation: &p.occupation,
            followers: &p.followers,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TimelineEvent {
    pub event_id: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub channel: String,
    pub occurred_at: String,
    pub received_at: String,
    #[schema(value_type = Object)]
    pub identities: Value,
    #[schema(value_type = Object)]
    pub properties: Value,
}

#[derive(Serialize, ToSchema)]
pub struct Timeline {
    pub member_id: i64,
    pub events: Vec<TimelineEvent>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TransitionView {
    pub from: String,
    pub to: String,
    pub at: String,
    /// The rule that decided: a stage name, `cap:<name>`, or `default`.
    pub rule: String,
    /// The values the rule saw.
    pub reason: String,
    pub from_lens: String,
    pub to_lens: String,
    /// The event that caused it; null for the time-based sweep and manual merges.
    pub event_id: Option<String>,
    /// The member the change happened to before any merge.
    pub origin_member_id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct StageHistory {
    pub member_id: i64,
    pub stage: String,
    pub lens: String,
    pub transitions: Vec<TransitionView>,
}

#[derive(Serialize, ToSchema)]
pub struct ConflictView {
    pub id: i64,
    pub created_at: String,
    pub event_id: Option<String>,
    pub kind: String,
    pub member_ids: Vec<i64>,
    pub values: Vec<String>,
    pub explanation: String,
    /// open, merged or dismissed
    pub status: String,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConflictList {
    pub conflicts: Vec<ConflictView>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct StageStats {
    pub total: i64,
    /// Members per stage, every stage listed.
    pub stages: BTreeMap<String, i64>,
    /// Members per lens, every lens listed.
    pub lenses: BTreeMap<String, i64>,
    pub computed_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub database: String,
    /// The database engine and its version: the SQLite library built into the binary
    /// ("SQLite 3.50.4"), or the PostgreSQL server ("PostgreSQL 15.18").
    pub database_version: String,
    pub schema_version: i64,
    pub version: String,
}

/// An event as sent to `POST /v1/events` (each event of a batch likewise). The server
/// checks every field and reports every problem at once; properties depend on the type.
#[derive(serde::Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct EventInput {
    /// The idempotency key: the same id again changes nothing.
    #[schema(min_length = 1, max_length = 200)]
    pub event_id: String,
    /// visit, follow, register, profile_update, like, check_in, comment, review, share,
    /// referral, purchase, refund, feedback, complaint_resolved, message, participation,
    /// deposit, content_open, content_click, or any other snake_case type.
    #[serde(rename = "type")]
    #[schema(pattern = "^[a-z][a-z0-9_]*$", max_length = 64)]
    pub type_name: String,
    /// RFC 3339 with an offset; at most five minutes ahead of the server's clock.
    #[schema(format = DateTime)]
    pub occurred_at: String,
    #[schema(value_type = ChannelName)]
    pub channel: String,
    /// Identity kind → value: phone, email, wechat_unionid, wechat_openid, weibo_uid,
    /// douyin_id, tmall_nick, jd_pin, app_user_id, card_no, external_id, anonymous_id.
    pub identities: BTreeMap<String, String>,
    /// Per type: a purchase has order_id and amount (a decimal string), a review a rating…
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Value>,
}

/// Where an event came from: one of the brand's channels (`[events] channels` in the
/// config file; the built-in list until it says otherwise). The document cannot list
/// them, since each deployment has its own: it gives the shape and the built-in names.
pub struct ChannelName;

impl utoipa::PartialSchema for ChannelName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let built_in = flywheel_core::Channel::names(&flywheel_core::Channel::BUILT_IN);
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[a-z][a-z0-9_]{0,23}$"))
            .description(Some(format!(
                "One of the brand's channels (422 unknown_channel otherwise); built in: {built_in}"
            )))
            .examples([serde_json::json!("tmall")])
            .into()
    }
}

impl utoipa::ToSchema for ChannelName {}

/// `POST /v1/events/batch`.
#[derive(serde::Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct BatchInput {
    #[schema(max_items = 10000)]
    pub events: Vec<EventInput>,
}

/// Every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code from the README's error table.
    #[schema(schema_with = code_schema)]
    pub code: String,
    pub message: String,
    /// The field at fault, dotted (`properties.items[2].qty`), if one is.
    pub field: Option<String>,
    /// Every problem, when there are several (`[{index?, field, code, message}]`); or the
    /// numbers behind the refusal (`insufficient_points`: `{available, requested}`,
    /// `inexact_exchange`: `{step}`).
    #[schema(schema_with = details_schema)]
    pub details: Option<Value>,
}

/// `code`: one of the codes `ErrorCode` lists.
fn code_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            flywheel_core::ErrorCode::ALL.iter().map(|c| c.as_str()),
        ))
        .description(Some("A stable code from the README's error table"))
        .into()
}

/// `details`: a list of problems, an object of numbers, or absent.
fn details_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Object)))
        .item(ObjectBuilder::new().schema_type(Type::Object))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

#[derive(Serialize, ToSchema)]
pub struct AuditActorView {
    /// `key:<id>`, `env-admin`, `cli`, `system` or `demo`.
    #[serde(rename = "ref")]
    pub reference: String,
    pub key_id: Option<i64>,
    /// The key's label, or who ran the command.
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    pub at: String,
    pub actor: AuditActorView,
    /// points_rules, programme, membership, reward, partner, points_adjustment, member_merge,
    /// identity_conflict, api_key or member_erasure.
    pub kind: String,
    /// create, update, remove, merge, dismiss, revoke or erase.
    pub action: String,
    /// What changed: `reward:mug`, `member:42`, `api_key:3`…
    pub target: String,
    /// Why, as the person said.
    pub reason: Option<String>,
    /// The value before the change (null when there was none).
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The value after the change.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryView>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next: Option<i64>,
}

/// A body with only a reason, for the audit log.
#[derive(serde::Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ReasonInput {
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// The points part of a member's export.
#[derive(Serialize, ToSchema)]
pub struct PointsExportView {
    /// The member's accounts per programme: wallet, pending, debt.
    #[schema(value_type = Vec<Object>)]
    pub accounts: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub lots: Vec<Value>,
    /// Every ledger line, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub ledger: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub redemptions: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub transfers: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub exchanges: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub adjustments: Vec<Value>,
}

/// Everything Flywheel holds about one member.
#[derive(Serialize, ToSchema)]
pub struct MemberExportView {
    pub exported_at: String,
    /// Identities, profile, stage, lens and facts.
    pub member: MemberDoc,
    /// Every event, oldest first, as stored.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
    /// Paid memberships bought (`membership_purchase` events).
    #[schema(value_type = Vec<Object>)]
    pub memberships: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub stage_history: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub merges: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub identity_conflicts: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub orders: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub referrals: Vec<Value>,
    pub points: PointsExportView,
    /// Consent to be contacted, per channel, with where it was given.
    #[schema(value_type = Vec<Object>)]
    pub consents: Vec<Value>,
    /// Service tickets: what the member raised and when it was answered.
    #[schema(value_type = Vec<Object>)]
    pub tickets: Vec<Value>,
    /// Coupon codes issued to them and what became of each.
    #[schema(value_type = Vec<Object>)]
    pub coupons: Vec<Value>,
    /// Links they shared, with what each counted.
    #[schema(value_type = Vec<Object>)]
    pub share_links: Vec<Value>,
    /// The last recompute's scores (null before the first).
    #[schema(value_type = Option<Object>)]
    pub scores: Option<Value>,
}

/// What an erasure did.
#[derive(Serialize, ToSchema)]
pub struct ErasureView {
    pub member_id: i64,
    pub erased_at: String,
    /// True when the member had been erased before: this call changed nothing.
    pub already_erased: bool,
    pub identities_erased: usize,
    pub events_scrubbed: usize,
    /// Points the member held (available and pending), forfeited to expiry.
    pub points_forfeited: i64,
}
