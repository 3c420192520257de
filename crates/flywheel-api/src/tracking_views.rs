//! Bodies of the tracking protocol's routes (`/v1/batch`, `/v1/track`…,
//! `/v1/tracking/mapping`, `/v1/tracking/rejected`): Segment's call shapes, as its
//! libraries send them, and what Flywheel answers.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What the libraries expect: `{"success": true}`.
#[derive(Serialize, ToSchema)]
pub struct TrackingAnswer {
    pub success: bool,
}

/// One call of the protocol, as the libraries send it. Every field may be anything as
/// far as the transport goes: a call that cannot become an event is kept in the
/// dead-letter list with the reason (or, strict, refused with 400), so the types below
/// say what a call must hold to map, not what is accepted.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrackingCallInput {
    /// A string: identify | track | page | screen | alias | group (the single endpoints
    /// imply it).
    #[serde(rename = "type")]
    pub call_type: Option<Value>,
    /// A string of at most 200 characters, the event id: a retry with the same id is a
    /// duplicate. Without one, an id fixed by the call's content.
    pub message_id: Option<Value>,
    /// A string or number, the user's id (→ the configured identity kind, `external_id`
    /// by default).
    pub user_id: Option<Value>,
    /// A string or number, the device's or browser's id (→ `anonymous_id`).
    pub anonymous_id: Option<Value>,
    /// When it happened: ISO 8601 with an offset.
    pub timestamp: Option<Value>,
    /// The device's clock when it happened (ISO 8601), corrected by `sentAt`.
    pub original_timestamp: Option<Value>,
    /// When the device sent it (ISO 8601).
    pub sent_at: Option<Value>,
    /// track: the action's name (`Order Completed`…).
    pub event: Option<Value>,
    /// page, screen: the page's name.
    pub name: Option<Value>,
    /// alias: the id being aliased (taken as an anonymous id).
    pub previous_id: Option<Value>,
    /// group: the group's id.
    pub group_id: Option<Value>,
    /// An object: the action's properties.
    pub properties: Option<Value>,
    /// An object: identify's traits (also read from `context.traits`), group's traits.
    pub traits: Option<Value>,
    /// An object, kept in the event's properties; `context.channel` may name a Flywheel
    /// channel.
    pub context: Option<Value>,
}

/// A batch, as the libraries send it to `<host>/v1/batch`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrackingBatchInput {
    /// The calls, each shaped as `TrackingCallInput` (anything else is a dead letter).
    pub batch: Vec<Value>,
    /// An object applied to the calls without a context of their own.
    pub context: Option<Value>,
    /// When the batch was sent (ISO 8601): the clock skew it shows moves each call's
    /// `originalTimestamp`.
    pub sent_at: Option<Value>,
    /// Sent by some libraries besides the Basic header; the header's key is the one used.
    pub write_key: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct TrackMappingView {
    /// The Flywheel event type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The protocol's property name → Flywheel's.
    pub properties: BTreeMap<String, String>,
}

#[derive(Serialize, ToSchema)]
pub struct TrackingMappingView {
    /// The identity kind `userId` becomes.
    pub user_id_kind: String,
    /// The identity kind `anonymousId` (and alias's `previousId`) becomes.
    pub anonymous_id_kind: String,
    /// The channel of a call whose `context.channel` names none of Flywheel's.
    pub default_channel: String,
    /// `track` names and what each becomes; others become custom events in snake_case.
    pub events: BTreeMap<String, TrackMappingView>,
    /// What each call type becomes.
    pub calls: BTreeMap<String, String>,
}

/// A call kept as a dead letter.
#[derive(Serialize, ToSchema)]
pub struct RejectedCallView {
    pub id: i64,
    pub received_at: String,
    pub call_type: Option<String>,
    pub message_id: Option<String>,
    /// A stable error code.
    pub code: String,
    /// The call's field at fault, when one is.
    pub field: Option<String>,
    pub reason: String,
    /// The call as it came (whatever JSON it was).
    pub call: Value,
}

#[derive(Serialize, ToSchema)]
pub struct RejectedCallList {
    pub calls: Vec<RejectedCallView>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    pub next_cursor: Option<i64>,
}
