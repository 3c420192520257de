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
    /// All-time counters and window facts counted at the time of the request:
    /// purchase_count, total_spent (decimal string), purchases_in_window, likes, …
    #[schema(value_type = Object)]
    pub facts: FactsView,
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
    pub schema_version: i64,
    pub version: String,
}
