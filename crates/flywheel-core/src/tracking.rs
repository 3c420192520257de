//! The tracking protocol apps already speak (Segment's HTTP tracking API, which
//! RudderStack and others accept too): how one of its calls — identify, track, page,
//! screen, alias, group — becomes a Flywheel event. The mapping is declarative
//! ([`Mapping`], the `[tracking]` section of the config file, shown at
//! `GET /v1/tracking/mapping`); the call becomes an event body exactly as an integrator
//! would send it to `POST /v1/events`, so the native parser validates and normalises it.
//!
//! - `messageId` → `event_id` (a library's retry sends the same id, so it is a
//!   duplicate); a call without one gets an id fixed by its content.
//! - `timestamp` → `occurred_at`; without it, `originalTimestamp` moved by the clock skew
//!   the protocol measures (`receivedAt − sentAt`); without either, when it arrived.
//! - `userId` → the configured kind (`external_id`), `anonymousId` → `anonymous_id`.
//! - `context.channel`, when it names a Flywheel channel, is the channel; otherwise the
//!   mapping's default. The context is kept in the event's properties.
//! - identify → `profile_update` from its traits or `context.traits` (where RudderStack
//!   sends them) — name, nickname, gender, birthday, `address.city`, with `phone` and
//!   `email` as identities — or, with no profile trait, `identify`; track →
//!   the event its name maps to (Segment's e-commerce names by default), else a custom
//!   event named in snake_case; page and screen → `visit`; alias → `alias`, binding
//!   `previousId` (as an anonymous id) to `userId`; group → `group`.

use crate::ErrorCode;
use crate::event::Channel;
use crate::identity::IdentityKind;
use crate::time::{self, Micros};
use crate::validation::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The protocol's per-call limit (32 KB).
pub const MAX_CALL_BYTES: usize = 32 * 1024;
/// The protocol's per-batch limit (500 KB).
pub const MAX_BATCH_BYTES: usize = 500 * 1024;

/// The kinds of call the protocol has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallType {
    Identify,
    Track,
    Page,
    Screen,
    Alias,
    Group,
}

impl CallType {
    pub const ALL: [CallType; 6] = [
        CallType::Identify,
        CallType::Track,
        CallType::Page,
        CallType::Screen,
        CallType::Alias,
        CallType::Group,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Identify => "identify",
            CallType::Track => "track",
            CallType::Page => "page",
            CallType::Screen => "screen",
            CallType::Alias => "alias",
            CallType::Group => "group",
        }
    }

    pub fn parse(text: &str) -> Option<CallType> {
        CallType::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// What a `track` call of one name becomes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackMapping {
    /// The Flywheel event type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Properties renamed on the way: the protocol's name → Flywheel's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

/// How calls become events: the `[tracking]` section of the config file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mapping {
    /// The identity kind `userId` is (default `external_id`).
    pub user_id_kind: IdentityKind,
    /// The channel of a call whose `context.channel` names none of Flywheel's.
    pub default_channel: Channel,
    /// `track` event names and what each becomes; a name not here becomes a custom
    /// event of its snake_case form. Entries of the config file are added to (or
    /// replace) the defaults.
    pub events: BTreeMap<String, TrackMapping>,
}

impl Default for Mapping {
    fn default() -> Self {
        let plain = |t: &str| TrackMapping {
            type_name: t.to_owned(),
            properties: BTreeMap::new(),
        };
        let events = [
            ("Order Completed", plain("purchase")),
            ("Order Refunded", plain("refund")),
            ("Product Reviewed", plain("review")),
            ("Product Shared", plain("share")),
            ("Cart Shared", plain("share")),
            ("Signed Up", plain("register")),
            ("Product Added to Wishlist", plain("like")),
            ("Product Clicked", plain("content_click")),
            ("Checked In", plain("check_in")),
            ("Referral Accepted", plain("referral")),
        ]
        .into_iter()
        .map(|(name, m)| (name.to_owned(), m))
        .collect();
        Mapping {
            user_id_kind: IdentityKind::ExternalId,
            default_channel: Channel::APP,
            events,
        }
    }
}

impl Mapping {
    /// The defaults with the config file's entries laid over them.
    pub fn with_events(mut self, extra: BTreeMap<String, TrackMapping>) -> Mapping {
        self.events.extend(extra);
        self
    }

    /// Every mapped type is a well-formed event type and every rename names something.
    pub fn validate(&self) -> Result<(), String> {
        for (name, m) in &self.events {
            if snake_case(&m.type_name).as_deref() != Some(m.type_name.as_str()) {
                return Err(format!(
                    "[tracking.events] {name:?}: type {:?} must be a snake_case event type",
                    m.type_name
                ));
            }
            if m.properties
                .iter()
                .any(|(a, b)| a.is_empty() || b.is_empty())
            {
                return Err(format!(
                    "[tracking.events] {name:?}: a property rename names an empty property"
                ));
            }
        }
        Ok(())
    }

    /// What a `track` of `name` becomes: its mapping, else a custom event of its
    /// snake_case form.
    pub fn track(&self, name: &str) -> Option<TrackMapping> {
        if let Some(m) = self.events.get(name) {
            return Some(m.clone());
        }
        snake_case(name).map(|t| TrackMapping {
            type_name: t,
            properties: BTreeMap::new(),
        })
    }
}

/// "Video Played" → `video_played`; None when nothing is left (or it is too long).
pub fn snake_case(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "e_");
    }
    (!out.is_empty() && out.len() <= 64).then_some(out)
}

fn bad(field: &str, code: ErrorCode, message: impl Into<String>) -> FieldError {
    FieldError::new(field, code, message)
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An amount as Flywheel writes it ("19.90") from the protocol's number or string.
fn amount_of(v: &Value) -> Option<Value> {
    match v {
        Value::Number(n) => {
            let text = n.to_string();
            // Integers and one decimal place gain their zeros; more places stay as sent,
            // for the native parser to refuse by name.
            Some(Value::String(match text.split_once('.') {
                None => format!("{text}.00"),
                Some((_, f)) if f.len() == 1 => format!("{text}0"),
                Some(_) => text,
            }))
        }
        Value::String(s) => Some(Value::String(s.clone())),
        _ => None,
    }
}

/// The instant the call happened (see the module header).
fn occurred_at(
    call: &Map<String, Value>,
    sent_at: Option<Micros>,
    received_at: Micros,
) -> Result<Micros, FieldError> {
    let instant = |key: &str| -> Result<Option<Micros>, FieldError> {
        match call.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => time::parse_rfc3339(s).map(Some).ok_or_else(|| {
                bad(
                    key,
                    ErrorCode::InvalidTimestamp,
                    format!("{key} must be an ISO 8601 instant with an offset"),
                )
            }),
            Some(_) => Err(FieldError::wrong_type(key, "an ISO 8601 string")),
        }
    };
    if let Some(t) = instant("timestamp")? {
        return Ok(t);
    }
    if let Some(original) = instant("originalTimestamp")? {
        let skew = sent_at.map_or(0, |sent| received_at - sent);
        return Ok(original + skew);
    }
    Ok(received_at)
}

/// The event id: `messageId`, else the first 32 hex digits of the call's hash.
fn event_id(call: &Map<String, Value>) -> Result<String, FieldError> {
    match call.get("messageId") {
        None | Some(Value::Null) => {
            let digest = Sha256::digest(Value::Object(call.clone()).to_string().as_bytes());
            let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            Ok(format!("call-{hex}"))
        }
        Some(v) => match text_of(v) {
            Some(id) if id.chars().count() <= 200 => Ok(id),
            Some(_) => Err(bad(
                "messageId",
                ErrorCode::InvalidValue,
                "messageId must be at most 200 characters",
            )),
            None => Err(FieldError::wrong_type("messageId", "a non-empty string")),
        },
    }
}

/// Turns one call into a native event body (for `POST /v1/events`). `default_type` is
/// the endpoint's (`/v1/track`…) when the call does not say; `sent_at` the batch's;
/// `channels` the brand's (`context.channel` counts when it names one of them).
pub fn to_event(
    call: &Value,
    default_type: Option<CallType>,
    sent_at: Option<Micros>,
    received_at: Micros,
    channels: &[Channel],
    mapping: &Mapping,
) -> Result<Value, FieldError> {
    let Some(call) = call.as_object() else {
        return Err(FieldError::wrong_type("call", "an object"));
    };
    let kind = match call.get("type") {
        None | Some(Value::Null) => default_type.ok_or_else(|| FieldError::missing("type"))?,
        Some(Value::String(t)) => CallType::parse(t).ok_or_else(|| {
            bad(
                "type",
                ErrorCode::InvalidValue,
                "type must be one of identify, track, page, screen, alias, group",
            )
        })?,
        Some(_) => return Err(FieldError::wrong_type("type", "a string")),
    };
    let mut identities = Map::new();
    let user_id = call.get("userId").filter(|v| !v.is_null());
    let anonymous_id = call.get("anonymousId").filter(|v| !v.is_null());
    if let Some(v) = user_id {
        let id = text_of(v).ok_or_else(|| FieldError::wrong_type("userId", "a string"))?;
        identities.insert(mapping.user_id_kind.as_str().into(), id.into());
    }
    if let Some(v) = anonymous_id {
        let id = text_of(v).ok_or_else(|| FieldError::wrong_type("anonymousId", "a string"))?;
        identities.insert(IdentityKind::AnonymousId.as_str().into(), id.into());
    }
    let context = call
        .get("context")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let channel = context
        .get("channel")
        .and_then(Value::as_str)
        .and_then(|name| Channel::find(channels, name))
        .unwrap_or(mapping.default_channel);
    let object = |key: &str| -> Result<Map<String, Value>, FieldError> {
        match call.get(key) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(FieldError::wrong_type(key, "an object")),
        }
    };
    let keep_context = |props: &mut Map<String, Value>| {
        if !context.is_empty() {
            props.insert("context".into(), Value::Object(context.clone()));
        }
    };
    let (type_name, properties) = match kind {
        CallType::Identify => {
            // RudderStack's libraries send an identify's traits in `context.traits`
            // (the protocol allows both); the top level wins where both say.
            let mut traits = context
                .get("traits")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            traits.extend(object("traits")?);
            for (trait_name, kind) in [("phone", "phone"), ("email", "email")] {
                if let Some(v) = traits.get(trait_name).and_then(text_of) {
                    identities.insert(kind.into(), v.into());
                }
            }
            let mut profile = Map::new();
            for key in ["name", "nickname", "gender", "birthday"] {
                if let Some(v) = traits.get(key).filter(|v| !v.is_null()) {
                    profile.insert(key.into(), v.clone());
                }
            }
            if !profile.contains_key("nickname")
                && let Some(v) = traits.get("username").filter(|v| !v.is_null())
            {
                profile.insert("nickname".into(), v.clone());
            }
            let city = traits
                .get("address")
                .and_then(|a| a.get("city"))
                .or_else(|| traits.get("city"))
                .filter(|v| !v.is_null());
            if let Some(c) = city {
                profile.insert("city".into(), c.clone());
            }
            if profile.is_empty() {
                let mut props = Map::new();
                keep_context(&mut props);
                ("identify".to_owned(), props)
            } else {
                // A profile update holds profile fields only.
                ("profile_update".to_owned(), profile)
            }
        }
        CallType::Track => {
            let name = match call.get("event") {
                Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
                None | Some(Value::Null) => return Err(FieldError::missing("event")),
                Some(_) => return Err(FieldError::wrong_type("event", "a non-empty string")),
            };
            let m = mapping.track(&name).ok_or_else(|| {
                bad(
                    "event",
                    ErrorCode::InvalidValue,
                    "event must have a letter or digit, and at most 64 once in snake_case",
                )
            })?;
            let mut props = object("properties")?;
            for (from, to) in &m.properties {
                if let Some(v) = props.remove(from) {
                    props.insert(to.clone(), v);
                }
            }
            shape_track(&m.type_name, &mut props);
            if m.type_name != "profile_update" {
                props.insert("event_name".into(), name.into());
                keep_context(&mut props);
            }
            (m.type_name, props)
        }
        CallType::Page | CallType::Screen => {
            let mut props = object("properties")?;
            if let Some(n) = call.get("name").filter(|v| !v.is_null()) {
                props.insert("name".into(), n.clone());
            }
            props.insert("call".into(), kind.as_str().into());
            keep_context(&mut props);
            ("visit".to_owned(), props)
        }
        CallType::Alias => {
            let previous = call
                .get("previousId")
                .filter(|v| !v.is_null())
                .ok_or_else(|| FieldError::missing("previousId"))?;
            let previous = text_of(previous)
                .ok_or_else(|| FieldError::wrong_type("previousId", "a string"))?;
            if user_id.is_none() {
                return Err(FieldError::missing("userId"));
            }
            identities.insert(IdentityKind::AnonymousId.as_str().into(), previous.into());
            let mut props = Map::new();
            keep_context(&mut props);
            ("alias".to_owned(), props)
        }
        CallType::Group => {
            let group = call
                .get("groupId")
                .and_then(text_of)
                .ok_or_else(|| FieldError::missing("groupId"))?;
            let mut props = Map::new();
            props.insert("group_id".into(), group.into());
            let traits = object("traits")?;
            if !traits.is_empty() {
                props.insert("traits".into(), Value::Object(traits));
            }
            keep_context(&mut props);
            ("group".to_owned(), props)
        }
    };
    let mut properties = properties;
    attribute(&mut properties, &type_name, &context);
    if identities.is_empty() {
        return Err(bad(
            "userId",
            ErrorCode::MissingField,
            "a call names userId or anonymousId",
        ));
    }
    Ok(json!({
        "event_id": event_id(call)?,
        "type": type_name,
        "occurred_at": time::to_rfc3339(occurred_at(call, sent_at, received_at)?),
        "channel": channel.as_str(),
        "identities": identities,
        "properties": properties,
    }))
}

/// The member's source from the call: `context.campaign` (the UTM fields) when the
/// properties name none. A `source` property that is not a Flywheel source (an app's
/// own meaning of the word) is kept as `source_property`, so the call is not refused.
fn attribute(props: &mut Map<String, Value>, type_name: &str, context: &Map<String, Value>) {
    if props.contains_key("source") && crate::source::read(type_name, props, 0).is_err() {
        let theirs = props.remove("source").unwrap_or_default();
        props.insert("source_property".into(), theirs);
    }
    if !props.contains_key("source")
        && let Some(source) = context
            .get("campaign")
            .and_then(Value::as_object)
            .and_then(crate::source::from_campaign)
    {
        props.insert("source".into(), source);
    }
}

/// Segment's e-commerce properties in Flywheel's names: an order's `order_id`,
/// `total`/`revenue`/`value` → `amount`, `products` → `items` (`sku` or `product_id`,
/// `brand` → `sub_brand`, `quantity` → `qty`, prices as decimal strings).
fn shape_track(type_name: &str, props: &mut Map<String, Value>) {
    if !matches!(type_name, "purchase" | "refund") {
        return;
    }
    if !props.contains_key("order_id")
        && let Some(v) = props
            .remove("orderId")
            .or_else(|| props.remove("checkout_id"))
    {
        props.insert("order_id".into(), v);
    }
    if !props.contains_key("amount")
        && let Some(a) = ["total", "revenue", "value"]
            .iter()
            .find_map(|k| props.get(*k).and_then(amount_of))
    {
        props.insert("amount".into(), a);
    }
    for k in [
        "total", "revenue", "value", "subtotal", "tax", "shipping", "discount",
    ] {
        props.remove(k);
    }
    if let Some(c) = props.get("currency").and_then(Value::as_str) {
        let upper = c.to_ascii_uppercase();
        props.insert("currency".into(), upper.into());
    }
    if type_name == "refund" {
        props.remove("products");
        return;
    }
    if let Some(Value::Array(products)) = props.remove("products") {
        let items: Vec<Value> = products
            .into_iter()
            .map(|p| {
                let Value::Object(mut p) = p else {
                    return p;
                };
                let mut item = Map::new();
                if let Some(sku) = p.remove("sku").or_else(|| p.remove("product_id")) {
                    item.insert("sku".into(), text_of(&sku).map_or(sku, Value::String));
                }
                for (from, to) in [
                    ("name", "name"),
                    ("category", "category"),
                    ("brand", "sub_brand"),
                ] {
                    if let Some(v) = p.remove(from).filter(|v| !v.is_null()) {
                        item.insert(to.into(), v);
                    }
                }
                if let Some(v) = p.remove("price").as_ref().and_then(amount_of) {
                    item.insert("price".into(), v);
                }
                if let Some(q) = p.remove("quantity").filter(|v| !v.is_null()) {
                    item.insert("qty".into(), q);
                }
                Value::Object(item)
            })
            .collect();
        props.insert("items".into(), Value::Array(items));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_event;
    use crate::policy::Policy;

    fn at(s: &str) -> Micros {
        time::parse_rfc3339(s).unwrap()
    }

    fn native(call: Value, default: Option<CallType>) -> Value {
        to_event(
            &call,
            default,
            Some(at("2026-12-01T10:00:05Z")),
            at("2026-12-01T10:00:00Z"),
            &Channel::BUILT_IN,
            &Mapping::default(),
        )
        .unwrap()
    }

    #[test]
    fn an_order_completed_becomes_a_purchase_the_native_parser_accepts() {
        let body = native(
            json!({"type": "track", "event": "Order Completed", "userId": "u-1",
                "messageId": "m-1", "timestamp": "2026-11-30T08:00:00+08:00",
                "context": {"library": {"name": "analytics-python"}},
                "properties": {"order_id": "O-1", "total": 59.9, "currency": "cny",
                    "products": [{"product_id": "SKU-1", "name": "Tea", "price": 19.95,
                                  "quantity": 2, "brand": "Leaf", "category": "tea"},
                                 {"sku": 77, "price": 20}]}}),
            None,
        );
        assert_eq!(body["event_id"], "m-1");
        assert_eq!(body["type"], "purchase");
        assert_eq!(body["channel"], "app");
        assert_eq!(body["identities"], json!({"external_id": "u-1"}));
        let p = &body["properties"];
        assert_eq!(
            (&p["amount"], &p["currency"], &p["event_name"]),
            (&json!("59.90"), &json!("CNY"), &json!("Order Completed"))
        );
        assert_eq!(
            p["items"],
            json!([{"sku": "SKU-1", "name": "Tea", "category": "tea", "sub_brand": "Leaf",
                    "price": "19.95", "qty": 2}, {"sku": "77", "price": "20.00"}])
        );
        let policy = Policy::default();
        let event = parse_event(&body, &policy.parse_context(at("2026-12-01T10:00:00Z")))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(event.occurred_at, at("2026-11-30T00:00:00Z"));
    }

    #[test]
    fn the_clock_skew_moves_an_original_timestamp() {
        // Sent 5 s ahead of the server's clock: the call happened 5 s earlier than its
        // own clock said.
        let body = native(
            json!({"type": "page", "anonymousId": "a-1", "name": "Home",
                "originalTimestamp": "2026-12-01T10:00:03Z", "messageId": "p-1"}),
            None,
        );
        assert_eq!(body["occurred_at"], "2026-12-01T09:59:58Z");
        assert_eq!(body["type"], "visit");
        assert_eq!(body["identities"], json!({"anonymous_id": "a-1"}));
        assert_eq!(body["properties"]["name"], "Home");
    }

    #[test]
    fn identify_updates_the_profile_and_binds_phone_and_email() {
        let body = native(
            json!({"userId": "u-1", "anonymousId": "a-1", "messageId": "i-1",
                "traits": {"name": "Lin", "phone": "13800138000", "email": "Lin@Example.com",
                    "address": {"city": "Hangzhou"}, "plan": "gold"}}),
            Some(CallType::Identify),
        );
        assert_eq!(body["type"], "profile_update");
        assert_eq!(
            body["properties"],
            json!({"name": "Lin", "city": "Hangzhou"})
        );
        assert_eq!(
            body["identities"],
            json!({"external_id": "u-1", "anonymous_id": "a-1", "phone": "13800138000",
                   "email": "Lin@Example.com"})
        );
        let rudder = native(
            json!({"userId": "u-2", "messageId": "i-3",
                "context": {"traits": {"name": "Wei", "phone": "13800138001"}}}),
            Some(CallType::Identify),
        );
        assert_eq!(
            (
                &rudder["type"],
                &rudder["properties"],
                &rudder["identities"]["phone"]
            ),
            (
                &json!("profile_update"),
                &json!({"name": "Wei"}),
                &json!("13800138001")
            )
        );
        let bare = native(
            json!({"userId": "u-1", "messageId": "i-2", "traits": {"phone": "13800138000"}}),
            Some(CallType::Identify),
        );
        assert_eq!(bare["type"], "identify");
    }

    #[test]
    fn the_campaign_in_the_context_is_the_source_and_an_apps_own_source_is_kept() {
        let body = native(
            json!({"type": "page", "anonymousId": "a-1", "messageId": "p-1",
                   "context": {"campaign": {"name": "spring", "source": "bilibili", "medium": "video"}}}),
            None,
        );
        assert_eq!(
            body["properties"]["source"],
            json!({"kind": "campaign", "name": "spring", "medium": "video", "platform": "bilibili"})
        );
        let body = native(
            json!({"type": "track", "event": "Video Played", "userId": "u-1", "messageId": "t-1",
                   "properties": {"source": {"player": "inline"}},
                   "context": {"campaign": {"name": "spring"}}}),
            None,
        );
        assert_eq!(
            body["properties"]["source_property"],
            json!({"player": "inline"})
        );
        assert_eq!(body["properties"]["source"]["name"], "spring");
        let policy = Policy::default();
        assert!(parse_event(&body, &policy.parse_context(at("2026-12-01T10:00:00Z"))).is_ok());
    }

    #[test]
    fn alias_binds_the_previous_id_and_unknown_names_become_custom_events() {
        let body = native(
            json!({"type": "alias", "previousId": "a-9", "userId": "u-9", "messageId": "al"}),
            None,
        );
        assert_eq!(body["type"], "alias");
        assert_eq!(
            body["identities"],
            json!({"external_id": "u-9", "anonymous_id": "a-9"})
        );
        let custom = native(
            json!({"type": "track", "event": "Video Played!", "userId": "u-9",
                   "context": {"channel": "mini_program"}}),
            None,
        );
        assert_eq!(custom["type"], "video_played");
        assert_eq!(custom["channel"], "mini_program");
        assert!(custom["event_id"].as_str().unwrap().starts_with("call-"));
        assert_eq!(snake_case("3D Viewed"), Some("e_3d_viewed".into()));
        assert_eq!(snake_case("!!!"), None);
    }

    #[test]
    fn a_call_that_cannot_map_names_its_field() {
        let mapping = Mapping::default();
        let now = at("2026-12-01T10:00:00Z");
        let field = |call: Value| {
            to_event(&call, None, None, now, &Channel::BUILT_IN, &mapping)
                .unwrap_err()
                .field
        };
        assert_eq!(field(json!({"type": "track", "event": "X"})), "userId");
        assert_eq!(field(json!({"type": "track", "userId": "u"})), "event");
        assert_eq!(field(json!({"type": "fly", "userId": "u"})), "type");
        assert_eq!(field(json!({"userId": "u"})), "type");
        assert_eq!(field(json!({"type": "alias", "userId": "u"})), "previousId");
        assert_eq!(
            field(json!({"type": "page", "userId": "u", "timestamp": "yesterday"})),
            "timestamp"
        );
        assert_eq!(field(json!({"type": "group", "userId": "u"})), "groupId");
    }
}
