//! Events: what a member did, on which channel, when. Parsed once at the boundary from
//! JSON into a typed [`Event`]; every problem with the input is reported by field.
//!
//! Adding an event type is one [`Payload`] arm, one match arm in [`parse_payload`] and,
//! if it counts for something, one arm in `facts.rs`.

use crate::ErrorCode;
use crate::identity::{Identity, IdentityKind, IdentityRules};
use crate::money::{Money, MoneyError};
use crate::profile::ProfileChange;
use crate::time::{self, Micros};
use crate::validation::{Errors, FieldError, optional_text, paragraph, text};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::channel::Channel;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    Suggestion,
    Complaint,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub sku: String,
    pub sub_brand: Option<String>,
    pub category: Option<String>,
    pub qty: u32,
    pub price: Option<Money>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purchase {
    pub order_id: String,
    pub amount: Money,
    pub currency: String,
    pub store: Option<String>,
    pub items: Vec<Item>,
}

/// The typed part of an event, one arm per known type.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    Visit,
    Follow,
    /// The member stopped following (an official account's `unsubscribe`).
    Unfollow,
    Register(ProfileChange),
    ProfileUpdate(ProfileChange),
    Like,
    CheckIn,
    Comment,
    Review {
        rating: u8,
    },
    Share,
    /// The invitee is the event's member; the inviter is named here.
    Referral {
        referrer: Vec<Identity>,
    },
    Purchase(Purchase),
    Refund {
        order_id: String,
        amount: Money,
    },
    Feedback {
        kind: FeedbackKind,
        category: Option<String>,
    },
    /// Closes the complaint raised by `complaint_event_id`, or the oldest open one;
    /// `within_target` when the service team answered it inside its queue's targets.
    ComplaintResolved {
        complaint_event_id: Option<String>,
        within_target: bool,
    },
    Message {
        direction: Direction,
    },
    /// A person's decision on a referral held as farmed: the event's member is the
    /// inviter; `release` pays the conversion, otherwise it is refused. Not the member's
    /// doing, so it moves none of their facts.
    ReferralReview {
        referral_event_id: String,
        release: bool,
    },
    /// A tracked share link reached a milestone (`marketing::share`): the event's member
    /// is the sharer. What their readers did, not the member's doing, so it moves none of
    /// their facts; `share_milestone` rules pay on it.
    ShareMilestone(crate::marketing::Milestone),
    Participation {
        kind: String,
    },
    /// The member joined / left a customer group (a WeCom group chat, a community
    /// group): doing things together (seed 002's togetherness).
    GroupJoined {
        group: String,
    },
    GroupLeft {
        group: String,
    },
    /// A shop assistant's contact with the member opened / ended (WeCom): a standing
    /// line of talk, and who holds the relationship (seed 003).
    ContactAdded {
        staff: String,
    },
    ContactEnded {
        staff: String,
    },
    Deposit {
        amount: Option<Money>,
    },
    ContentOpen,
    ContentClick,
    /// Any other well-formed type: stored and counted.
    Custom,
}

/// A validated event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub event_id: String,
    pub type_name: String,
    pub occurred_at: Micros,
    pub channel: Channel,
    /// Normalised, sorted, one per kind.
    pub identities: Vec<Identity>,
    pub payload: Payload,
    /// The properties as sent, kept for the timeline.
    pub properties: Map<String, Value>,
}

impl Event {
    /// Connected: anything but passive traffic (visit, content open/click).
    pub fn is_connecting(&self) -> bool {
        !matches!(
            self.payload,
            Payload::Visit | Payload::ContentOpen | Payload::ContentClick
        )
    }

    /// An interaction in the sense of the sticky lens: the member engaged with the brand.
    pub fn is_interaction(&self) -> bool {
        matches!(
            self.payload,
            Payload::Like
                | Payload::Comment
                | Payload::CheckIn
                | Payload::Review { .. }
                | Payload::Share
                | Payload::Message {
                    direction: Direction::In
                }
                | Payload::Participation { .. }
        )
    }
}

impl Event {
    /// A fingerprint of what the event says once normalised: its id, type, instant,
    /// channel, identities and properties. A resent event has the same digest (even with
    /// its phone written another way or its time in another offset); an `event_id` reused
    /// for different content does not. Hex of the first 16 bytes of a SHA-256.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for part in [
            self.event_id.as_str(),
            self.type_name.as_str(),
            &self.occurred_at.to_string(),
            self.channel.as_str(),
        ] {
            hash.update(part.as_bytes());
            hash.update([0x1F]);
        }
        for identity in &self.identities {
            hash.update(identity.kind.as_str().as_bytes());
            hash.update(b":");
            hash.update(identity.value.as_bytes());
            hash.update([0x1F]);
        }
        hash.update([0x1E]);
        canonical_object(&self.properties, &mut |bytes| hash.update(bytes));
        hash.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Feeds JSON with object keys sorted at every level to `out`, so equal values always
/// hash alike (whatever order the map keeps its keys in).
fn canonical_object(map: &Map<String, Value>, out: &mut impl FnMut(&[u8])) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    out(b"{");
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out(b",");
        }
        json_string(k, out);
        out(b":");
        canonical_value(&map[k], out);
    }
    out(b"}");
}

fn canonical_value(value: &Value, out: &mut impl FnMut(&[u8])) {
    match value {
        Value::Object(map) => canonical_object(map, out),
        Value::Array(items) => {
            out(b"[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out(b",");
                }
                canonical_value(v, out);
            }
            out(b"]");
        }
        Value::String(s) => json_string(s, out),
        other => out(other.to_string().as_bytes()),
    }
}

/// A string as JSON writes it (quoted and escaped), without building a `Value`.
fn json_string(s: &str, out: &mut impl FnMut(&[u8])) {
    let mut buf = Vec::with_capacity(s.len() + 2);
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut buf, s);
    out(&buf);
}

/// What parsing needs besides the JSON: the identity policy, the brand's currency, the
/// largest amount accepted, and the present (events from more than five minutes in the
/// future are refused).
#[derive(Clone, Copy, Debug)]
pub struct ParseContext<'a> {
    pub identity: &'a IdentityRules,
    /// The brand's channels (`[events] channels`).
    pub channels: &'a [Channel],
    pub currency: &'a str,
    /// The largest amount an order, refund, deposit or item price may have.
    pub max_amount: Money,
    pub now: Micros,
}

/// The top-level fields of an event.
pub const EVENT_FIELDS: [&str; 6] = [
    "event_id",
    "type",
    "occurred_at",
    "channel",
    "identities",
    "properties",
];

const MAX_FUTURE_SKEW: Micros = 5 * 60 * time::SECOND;

/// Parses one event; on failure returns every field error found.
pub fn parse_event(value: &Value, ctx: &ParseContext<'_>) -> Result<Event, Vec<FieldError>> {
    let mut errors = Errors::default();
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldError::wrong_type("event", "a JSON object")]);
    };
    let known = EVENT_FIELDS;
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            errors.push(FieldError::new(
                key.clone(),
                ErrorCode::UnknownField,
                format!(
                    "{key} is not an event field (expected {})",
                    known.join(", ")
                ),
            ));
        }
    }
    let event_id = match obj.get("event_id") {
        None | Some(Value::Null) => {
            errors.push(FieldError::missing("event_id"));
            None
        }
        Some(v) => errors.take(text("event_id", v, 200)),
    };
    let type_name = match obj.get("type") {
        None | Some(Value::Null) => {
            errors.push(FieldError::missing("type"));
            None
        }
        Some(v) => errors.take(text("type", v, 64).and_then(|t| {
            let ok = t.starts_with(|c: char| c.is_ascii_lowercase())
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if ok {
                Ok(t)
            } else {
                Err(FieldError::new(
                    "type",
                    ErrorCode::InvalidValue,
                    "type must be snake_case (a-z, 0-9, _)",
                ))
            }
        })),
    };
    let occurred_at = match obj.get("occurred_at") {
        None | Some(Value::Null) => {
            errors.push(FieldError::missing("occurred_at"));
            None
        }
        Some(Value::String(s)) => match time::parse_rfc3339(s) {
            None => {
                errors.push(FieldError::new(
                    "occurred_at",
                    ErrorCode::InvalidTimestamp,
                    "occurred_at must be an RFC 3339 timestamp with an offset, e.g. 2026-11-23T10:00:00+08:00",
                ));
                None
            }
            Some(t) if t > ctx.now + MAX_FUTURE_SKEW => {
                errors.push(FieldError::new(
                    "occurred_at",
                    ErrorCode::OccurredAtInFuture,
                    "occurred_at is more than 5 minutes in the future",
                ));
                None
            }
            Some(t) if t < 0 => {
                errors.push(FieldError::new(
                    "occurred_at",
                    ErrorCode::InvalidTimestamp,
                    "occurred_at is before 1970",
                ));
                None
            }
            Some(t) => Some(t),
        },
        Some(_) => {
            errors.push(FieldError::wrong_type(
                "occurred_at",
                "an RFC 3339 timestamp string",
            ));
            None
        }
    };
    let channel = match obj.get("channel") {
        None | Some(Value::Null) => {
            errors.push(FieldError::missing("channel"));
            None
        }
        Some(Value::String(s)) => {
            let c = Channel::find(ctx.channels, s);
            if c.is_none() {
                errors.push(FieldError::new(
                    "channel",
                    ErrorCode::UnknownChannel,
                    Channel::unknown(ctx.channels, s),
                ));
            }
            c
        }
        Some(_) => {
            errors.push(FieldError::wrong_type("channel", "a string"));
            None
        }
    };
    let identities = match obj.get("identities") {
        None | Some(Value::Null) => {
            errors.push(FieldError::missing("identities"));
            None
        }
        Some(v) => parse_identities(v, "identities", ctx.identity, &mut errors),
    };
    let empty = Map::new();
    let properties = match obj.get("properties") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => {
            errors.push(FieldError::wrong_type("properties", "a JSON object"));
            &empty
        }
    };
    let payload = type_name
        .as_deref()
        .map(|t| parse_payload(t, properties, ctx, &mut errors));
    if let Some(t) = &type_name {
        errors.take(crate::source::read(
            t,
            properties,
            occurred_at.unwrap_or_default(),
        ));
    }
    if !errors.is_empty() {
        return Err(errors.0);
    }
    Ok(Event {
        event_id: event_id.unwrap_or_default(),
        type_name: type_name.unwrap_or_default(),
        occurred_at: occurred_at.unwrap_or_default(),
        channel: channel.unwrap_or(Channel::OTHER), // never used: errors returned above
        identities: identities.unwrap_or_default(),
        payload: payload.unwrap_or(Payload::Custom),
        properties: properties.clone(),
    })
}

/// Parses `{"kind": "value", …}` into normalised identities.
pub fn parse_identities(
    value: &Value,
    path: &str,
    rules: &IdentityRules,
    errors: &mut Errors,
) -> Option<Vec<Identity>> {
    let Some(map) = value.as_object() else {
        errors.push(FieldError::wrong_type(
            path,
            "an object of identity kind to value",
        ));
        return None;
    };
    if map.is_empty() {
        errors.push(FieldError::new(
            path,
            ErrorCode::MissingField,
            format!("{path} must name at least one identity"),
        ));
        return None;
    }
    let mut out = Vec::with_capacity(map.len());
    let before = errors.0.len();
    for (kind, raw) in map {
        let field = format!("{path}.{kind}");
        let Ok(kind) = kind.parse::<IdentityKind>() else {
            let all: Vec<_> = IdentityKind::ALL.iter().map(|k| k.as_str()).collect();
            errors.push(FieldError::new(
                &field,
                ErrorCode::UnknownIdentityKind,
                format!(
                    "{field}: unknown identity kind (expected one of {})",
                    all.join(", ")
                ),
            ));
            continue;
        };
        let raw = match raw {
            Value::String(s) => s.clone(),
            // Phone numbers and card numbers are often sent as JSON numbers.
            Value::Number(n) if n.is_u64() => n.to_string(),
            _ => {
                errors.push(FieldError::wrong_type(&field, "a string"));
                continue;
            }
        };
        match rules.normalise(kind, &raw) {
            Ok(identity) => out.push(identity),
            Err(e) => errors.push(FieldError::new(
                &field,
                ErrorCode::InvalidIdentity,
                format!("{field} {e}"),
            )),
        }
    }
    out.sort();
    (errors.0.len() == before).then_some(out)
}

/// An amount no larger than the configured maximum.
fn bounded(field: &str, amount: Money, max: Money) -> Result<Money, FieldError> {
    if amount > max {
        Err(FieldError::new(
            field,
            ErrorCode::OutOfRange,
            format!("{field} must be at most {max} (limits.max_order_amount)"),
        ))
    } else {
        Ok(amount)
    }
}

fn money_field(
    props: &Map<String, Value>,
    key: &str,
    required: bool,
    max: Money,
    errors: &mut Errors,
) -> Option<Money> {
    let field = format!("properties.{key}");
    match props.get(key) {
        None | Some(Value::Null) => {
            if required {
                errors.push(FieldError::missing(field));
            }
            None
        }
        Some(Value::String(s)) => match Money::parse(s) {
            Ok(m) => errors.take(bounded(&field, m, max)),
            Err(e) => {
                let code = match e {
                    MoneyError::Negative => ErrorCode::NegativeAmount,
                    _ => ErrorCode::InvalidAmount,
                };
                errors.push(FieldError::new(&field, code, format!("{field} {e}")));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(
                &field,
                ErrorCode::InvalidAmount,
                format!("{field} must be a decimal string such as \"19.90\" (not a JSON number)"),
            ));
            None
        }
    }
}

fn required_text(
    props: &Map<String, Value>,
    key: &str,
    max: usize,
    errors: &mut Errors,
) -> Option<String> {
    let field = format!("properties.{key}");
    match props.get(key) {
        None | Some(Value::Null) => {
            errors.push(FieldError::missing(field));
            None
        }
        Some(v) => errors.take(text(&field, v, max)),
    }
}

fn one_of<T: Copy>(
    props: &Map<String, Value>,
    key: &str,
    options: &[(&str, T)],
    errors: &mut Errors,
) -> Option<T> {
    let value = required_text(props, key, 32, errors)?;
    let found = options
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| *v);
    if found.is_none() {
        let names: Vec<_> = options.iter().map(|(n, _)| *n).collect();
        errors.push(FieldError::new(
            format!("properties.{key}"),
            ErrorCode::InvalidValue,
            format!("properties.{key} must be one of {}", names.join(", ")),
        ));
    }
    found
}

fn parse_payload(
    type_name: &str,
    props: &Map<String, Value>,
    ctx: &ParseContext<'_>,
    errors: &mut Errors,
) -> Payload {
    match type_name {
        "visit" => Payload::Visit,
        "follow" => Payload::Follow,
        "unfollow" => Payload::Unfollow,
        "like" => Payload::Like,
        "check_in" => Payload::CheckIn,
        "comment" => Payload::Comment,
        "share" => Payload::Share,
        "content_open" => Payload::ContentOpen,
        "content_click" => Payload::ContentClick,
        "register" => Payload::Register(ProfileChange::parse(props, false, errors)),
        "profile_update" => {
            let change = ProfileChange::parse(props, true, errors);
            if change.is_empty() && props.is_empty() {
                errors.push(FieldError::new(
                    "properties",
                    ErrorCode::MissingField,
                    "a profile_update must set at least one profile field",
                ));
            }
            Payload::ProfileUpdate(change)
        }
        "review" => {
            let rating = match props.get("rating") {
                None | Some(Value::Null) => {
                    errors.push(FieldError::missing("properties.rating"));
                    0
                }
                Some(v) => match v.as_u64() {
                    Some(r @ 1..=5) => r as u8,
                    _ => {
                        errors.push(FieldError::new(
                            "properties.rating",
                            ErrorCode::OutOfRange,
                            "properties.rating must be an integer from 1 to 5",
                        ));
                        0
                    }
                },
            };
            Payload::Review { rating }
        }
        "referral" => {
            let referrer = match props.get("referrer") {
                None | Some(Value::Null) => {
                    errors.push(FieldError::missing("properties.referrer"));
                    None
                }
                Some(v) => parse_identities(v, "properties.referrer", ctx.identity, errors),
            };
            Payload::Referral {
                referrer: referrer.unwrap_or_default(),
            }
        }
        "purchase" => Payload::Purchase(parse_purchase(props, ctx, errors)),
        "refund" => {
            let order_id = required_text(props, "order_id", 128, errors).unwrap_or_default();
            let amount =
                money_field(props, "amount", true, ctx.max_amount, errors).unwrap_or_default();
            Payload::Refund { order_id, amount }
        }
        "feedback" => {
            let kind = one_of(
                props,
                "kind",
                &[
                    ("suggestion", FeedbackKind::Suggestion),
                    ("complaint", FeedbackKind::Complaint),
                ],
                errors,
            );
            if let Some(v) = props.get("text").filter(|v| !v.is_null()) {
                errors.take(paragraph("properties.text", v, 4000));
            }
            let category = optional_text(props, "category", "properties", 64, errors);
            Payload::Feedback {
                kind: kind.unwrap_or(FeedbackKind::Suggestion),
                category,
            }
        }
        "complaint_resolved" => Payload::ComplaintResolved {
            complaint_event_id: optional_text(
                props,
                "complaint_event_id",
                "properties",
                200,
                errors,
            ),
            within_target: match props.get("within_target") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    errors.push(FieldError::wrong_type(
                        "properties.within_target",
                        "true or false",
                    ));
                    false
                }
            },
        },
        "message" => {
            let direction = one_of(
                props,
                "direction",
                &[("in", Direction::In), ("out", Direction::Out)],
                errors,
            );
            Payload::Message {
                direction: direction.unwrap_or(Direction::In),
            }
        }
        "referral_review" => {
            let referral_event_id =
                required_text(props, "referral_event_id", 200, errors).unwrap_or_default();
            let release = one_of(
                props,
                "decision",
                &[("release", true), ("refuse", false)],
                errors,
            );
            optional_text(props, "reason", "properties", 500, errors);
            Payload::ReferralReview {
                referral_event_id,
                release: release.unwrap_or(false),
            }
        }
        "share_milestone" => Payload::ShareMilestone(parse_milestone(props, errors)),
        "participation" => {
            let kind = required_text(props, "kind", 64, errors).unwrap_or_default();
            Payload::Participation { kind }
        }
        "group_joined" | "group_left" => {
            let group = required_text(props, "group", 128, errors).unwrap_or_default();
            if type_name == "group_joined" {
                Payload::GroupJoined { group }
            } else {
                Payload::GroupLeft { group }
            }
        }
        crate::wechat::CONTACT_ADDED | crate::wechat::CONTACT_ENDED => {
            let staff = required_text(props, "staff", 64, errors).unwrap_or_default();
            if type_name == crate::wechat::CONTACT_ADDED {
                Payload::ContactAdded { staff }
            } else {
                Payload::ContactEnded { staff }
            }
        }
        // Deals' steps (`service::deposit`): which deal and which kind of deposit.
        "deposit" => {
            optional_text(props, "order_id", "properties", 128, errors);
            if props.get("stage").is_some_and(|v| !v.is_null()) {
                one_of(
                    props,
                    "stage",
                    &crate::service::deposit::DEPOSIT_STAGES.map(|s| (s, ())),
                    errors,
                );
            }
            Payload::Deposit {
                amount: money_field(props, "amount", false, ctx.max_amount, errors),
            }
        }
        "delivery" | "deposit_refund" => {
            optional_text(props, "order_id", "properties", 128, errors);
            Payload::Custom
        }
        // A custom event for facts and scores; naming a programme, it also buys a tier
        // (`membership::realtime`), so what that needs must be there and sound.
        "membership_purchase" => {
            if props.get("programme").is_some_and(|v| !v.is_null()) {
                check_membership_purchase(props, ctx, errors);
            }
            Payload::Custom
        }
        _ => Payload::Custom,
    }
}

/// A milestone event's link and threshold: `token`, `measure` and `reached`.
fn parse_milestone(props: &Map<String, Value>, errors: &mut Errors) -> crate::marketing::Milestone {
    use crate::marketing::{Milestone, ShareMeasure, share};
    if let Some(token) = required_text(props, "token", 64, errors)
        && !share::is_token(&token)
    {
        errors.push(FieldError::new(
            "properties.token",
            ErrorCode::InvalidValue,
            "properties.token must be 8-64 letters, digits, '_' or '-'",
        ));
    }
    let measure = one_of(
        props,
        "measure",
        &ShareMeasure::ALL.map(|m| (m.as_str(), m)),
        errors,
    );
    let at = match props.get("reached") {
        None | Some(Value::Null) => {
            errors.push(FieldError::missing("properties.reached"));
            1
        }
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n @ 1..=share::MAX_MILESTONE) => n,
            _ => {
                errors.push(FieldError::new(
                    "properties.reached",
                    ErrorCode::OutOfRange,
                    format!(
                        "properties.reached must be an integer from 1 to {}",
                        share::MAX_MILESTONE
                    ),
                ));
                1
            }
        },
    };
    Milestone {
        measure: measure.unwrap_or(ShareMeasure::Clicks),
        at,
    }
}

/// The most points a membership purchase event may say were paid.
const MAX_MEMBERSHIP_POINTS: i64 = 1_000_000_000;

fn check_membership_purchase(
    props: &Map<String, Value>,
    ctx: &ParseContext<'_>,
    errors: &mut Errors,
) {
    required_text(props, "programme", 64, errors);
    required_text(props, "tier", 40, errors);
    money_field(props, "amount", true, ctx.max_amount, errors);
    match props.get("points") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_i64() {
            Some(n) if (0..=MAX_MEMBERSHIP_POINTS).contains(&n) => {}
            _ => errors.push(FieldError::new(
                "properties.points",
                ErrorCode::OutOfRange,
                format!(
                    "properties.points must be a whole number from 0 to {MAX_MEMBERSHIP_POINTS}"
                ),
            )),
        },
    }
}

/// The most coupon codes one order may name.
const MAX_ORDER_COUPONS: usize = 20;

/// Checks `properties.coupons`, the codes an order used (`marketing::coupon`): a list of
/// up to 20 codes as the member was given them.
fn coupon_codes(props: &Map<String, Value>, errors: &mut Errors) {
    match props.get("coupons") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) if list.len() <= MAX_ORDER_COUPONS => {
            for (i, v) in list.iter().enumerate() {
                errors.take(text(&format!("properties.coupons[{i}]"), v, 64));
            }
        }
        Some(Value::Array(_)) => errors.push(FieldError::new(
            "properties.coupons",
            ErrorCode::OutOfRange,
            format!("properties.coupons names at most {MAX_ORDER_COUPONS} codes"),
        )),
        Some(_) => errors.push(FieldError::wrong_type(
            "properties.coupons",
            "a list of coupon codes",
        )),
    }
}

/// The coupon codes a purchase names, as the parser checked them.
pub fn purchase_coupons(e: &Event) -> impl Iterator<Item = &str> {
    e.properties
        .get("coupons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn parse_purchase(
    props: &Map<String, Value>,
    ctx: &ParseContext<'_>,
    errors: &mut Errors,
) -> Purchase {
    let order_id = required_text(props, "order_id", 128, errors).unwrap_or_default();
    let amount = money_field(props, "amount", true, ctx.max_amount, errors).unwrap_or_default();
    let currency = optional_text(props, "currency", "properties", 3, errors)
        .unwrap_or_else(|| ctx.currency.to_owned());
    if currency != ctx.currency {
        errors.push(FieldError::new(
            "properties.currency",
            ErrorCode::UnsupportedCurrency,
            format!(
                "properties.currency must be the brand's currency {}",
                ctx.currency
            ),
        ));
    }
    let store = optional_text(props, "store", "properties", 128, errors);
    coupon_codes(props, errors);
    let mut items = Vec::new();
    match props.get("items") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, item) in list.iter().enumerate() {
                let path = format!("properties.items[{i}]");
                let Some(obj) = item.as_object() else {
                    errors.push(FieldError::wrong_type(&path, "an object"));
                    continue;
                };
                let sku = match obj.get("sku") {
                    None | Some(Value::Null) => {
                        errors.push(FieldError::missing(format!("{path}.sku")));
                        None
                    }
                    Some(v) => errors.take(text(&format!("{path}.sku"), v, 128)),
                };
                let qty = match obj.get("qty") {
                    None | Some(Value::Null) => Some(1),
                    Some(v) => match v.as_u64() {
                        Some(q @ 1..=1_000_000) => Some(q as u32),
                        _ => {
                            errors.push(FieldError::new(
                                format!("{path}.qty"),
                                ErrorCode::OutOfRange,
                                format!("{path}.qty must be a positive integer"),
                            ));
                            None
                        }
                    },
                };
                let price = match obj.get("price") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => match Money::parse(s) {
                        Ok(m) => errors.take(bounded(&format!("{path}.price"), m, ctx.max_amount)),
                        Err(e) => {
                            errors.push(FieldError::new(
                                format!("{path}.price"),
                                ErrorCode::InvalidAmount,
                                format!("{path}.price {e}"),
                            ));
                            None
                        }
                    },
                    Some(_) => {
                        errors.push(FieldError::new(
                            format!("{path}.price"),
                            ErrorCode::InvalidAmount,
                            format!("{path}.price must be a decimal string such as \"19.90\""),
                        ));
                        None
                    }
                };
                let sub_brand = optional_text(obj, "sub_brand", &path, 64, errors);
                let category = optional_text(obj, "category", &path, 64, errors);
                if let (Some(sku), Some(qty)) = (sku, qty) {
                    items.push(Item {
                        sku,
                        sub_brand,
                        category,
                        qty,
                        price,
                    });
                }
            }
        }
        Some(_) => errors.push(FieldError::wrong_type("properties.items", "an array")),
    }
    Purchase {
        order_id,
        amount,
        currency,
        store,
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(rules: &IdentityRules) -> ParseContext<'_> {
        ParseContext {
            identity: rules,
            channels: &crate::channel::Channel::BUILT_IN,
            currency: "CNY",
            max_amount: Money::from_minor(1_000_000_000),
            now: time::parse_rfc3339("2026-11-23T00:00:00Z").unwrap(),
        }
    }

    fn parse(v: Value) -> Result<Event, Vec<FieldError>> {
        let rules = IdentityRules::default();
        parse_event(&v, &ctx(&rules))
    }

    fn fields(v: Value) -> Vec<(String, &'static str)> {
        parse(v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.code.as_str()))
            .collect()
    }

    #[test]
    fn a_purchase_parses_into_exact_amounts_and_normalised_identities() {
        let e = parse(json!({
            "event_id": "e1", "type": "purchase", "occurred_at": "2026-11-01T10:00:00+08:00", "channel": "tmall",
            "identities": {"phone": "138 0013 8000", "tmall_nick": "yantao"},
            "properties": {"order_id": "T1", "amount": "59.90", "items": [{"sku": "LATTE", "category": "coffee", "qty": 2, "price": "29.95"}]}
        }))
        .unwrap();
        let Payload::Purchase(p) = &e.payload else {
            panic!()
        };
        assert_eq!(p.amount.minor(), 5990);
        assert_eq!(p.items[0].qty, 2);
        assert_eq!(e.identities[0].value, "+8613800138000");
        assert_eq!(
            e.occurred_at,
            time::parse_rfc3339("2026-11-01T02:00:00Z").unwrap()
        );
    }

    #[test]
    fn every_problem_of_a_bad_event_is_reported_by_field() {
        let got = fields(json!({
            "type": "purchase", "occurred_at": "yesterday", "channel": "myspace",
            "identities": {"phone": "123", "fax": "1"},
            "properties": {"amount": 12.5, "items": [{"qty": 0}]}
        }));
        assert_eq!(
            got,
            vec![
                ("event_id".into(), "missing_field"),
                ("occurred_at".into(), "invalid_timestamp"),
                ("channel".into(), "unknown_channel"),
                ("identities.fax".into(), "unknown_identity_kind"),
                ("identities.phone".into(), "invalid_identity"),
                ("properties.order_id".into(), "missing_field"),
                ("properties.amount".into(), "invalid_amount"),
                ("properties.items[0].sku".into(), "missing_field"),
                ("properties.items[0].qty".into(), "out_of_range"),
            ]
        );
    }

    #[test]
    fn a_deals_steps_name_their_stage_and_order_plainly() {
        let got = fields(json!({
            "event_id": "d1", "type": "deposit", "occurred_at": "2026-11-01T10:00:00+08:00",
            "channel": "store", "identities": {"card_no": "C1"},
            "properties": {"stage": "tiny", "order_id": 7, "amount": "500.00"}
        }));
        assert_eq!(
            got,
            vec![
                ("properties.order_id".into(), "invalid_type"),
                ("properties.stage".into(), "invalid_value"),
            ]
        );
        let got = fields(json!({
            "event_id": "d2", "type": "delivery", "occurred_at": "2026-11-01T10:00:00+08:00",
            "channel": "store", "identities": {"card_no": "C1"}, "properties": {"order_id": ["x"]}
        }));
        assert_eq!(got, vec![("properties.order_id".into(), "invalid_type")]);
        let e = parse(json!({
            "event_id": "d3", "type": "deposit", "occurred_at": "2026-11-01T10:00:00+08:00",
            "channel": "store", "identities": {"card_no": "C1"},
            "properties": {"stage": "small", "order_id": "CAR-1", "amount": "500.00"}
        }))
        .unwrap();
        assert_eq!(
            crate::service::deposit::deal_step(&e),
            Some((crate::service::deposit::DealStep::Small, "CAR-1"))
        );
    }

    #[test]
    fn amounts_must_be_non_negative_with_two_decimals() {
        let base = |amount: &str| {
            json!({"event_id": "e", "type": "purchase", "occurred_at": "2026-01-01T00:00:00Z", "channel": "store",
                   "identities": {"card_no": "C1"}, "properties": {"order_id": "o", "amount": amount}})
        };
        assert_eq!(
            fields(base("-1")),
            vec![("properties.amount".into(), "negative_amount")]
        );
        assert_eq!(
            fields(base("1.999")),
            vec![("properties.amount".into(), "invalid_amount")]
        );
        assert!(parse(base("0")).is_ok());
    }

    #[test]
    fn amounts_above_the_configured_maximum_are_refused_by_field() {
        let purchase = |amount: &str, price: &str| {
            json!({"event_id": "e", "type": "purchase", "occurred_at": "2026-01-01T00:00:00Z", "channel": "store",
                   "identities": {"card_no": "C1"},
                   "properties": {"order_id": "o", "amount": amount, "items": [{"sku": "S", "price": price}]}})
        };
        assert!(parse(purchase("10000000.00", "10000000.00")).is_ok());
        assert_eq!(
            fields(purchase("999999999999999.99", "10000000.01")),
            vec![
                ("properties.amount".into(), "out_of_range"),
                ("properties.items[0].price".into(), "out_of_range")
            ]
        );
        let refund = json!({"event_id": "r", "type": "refund", "occurred_at": "2026-01-01T00:00:00Z", "channel": "store",
                            "identities": {"card_no": "C1"}, "properties": {"order_id": "o", "amount": "10000000.01"}});
        assert_eq!(
            fields(refund),
            vec![("properties.amount".into(), "out_of_range")]
        );
    }

    #[test]
    fn the_digest_tells_a_resend_from_a_reused_event_id() {
        let base = json!({"event_id": "d1", "type": "purchase", "occurred_at": "2026-01-01T08:00:00+08:00",
                          "channel": "tmall", "identities": {"phone": "13800138000"},
                          "properties": {"order_id": "o", "amount": "5.00", "items": [{"sku": "A", "qty": 1}]}});
        let digest = parse(base.clone()).unwrap().digest();
        assert_eq!(digest.len(), 32);
        let resent = json!({"channel": "tmall", "event_id": "d1", "type": "purchase",
                            "occurred_at": "2026-01-01T00:00:00Z", "identities": {"phone": "+86 138-0013-8000"},
                            "properties": {"items": [{"qty": 1, "sku": "A"}], "amount": "5.00", "order_id": "o"}});
        assert_eq!(parse(resent).unwrap().digest(), digest);
        let mut other = base.clone();
        other["properties"]["amount"] = json!("6.00");
        assert_ne!(parse(other).unwrap().digest(), digest);
        let mut other = base;
        other["identities"]["phone"] = json!("13900139000");
        assert_ne!(parse(other).unwrap().digest(), digest);
    }

    #[test]
    fn reviews_need_a_rating_from_one_to_five() {
        let review = |r: Value| {
            json!({"event_id": "e", "type": "review", "occurred_at": "2026-01-01T00:00:00Z", "channel": "jd",
                   "identities": {"jd_pin": "p"}, "properties": {"rating": r}})
        };
        assert_eq!(
            fields(review(json!(6))),
            vec![("properties.rating".into(), "out_of_range")]
        );
        assert_eq!(
            fields(review(json!("5"))),
            vec![("properties.rating".into(), "out_of_range")]
        );
        assert!(parse(review(json!(4))).is_ok());
    }

    #[test]
    fn events_from_the_future_and_without_identities_are_refused() {
        assert_eq!(
            fields(
                json!({"event_id": "e", "type": "like", "occurred_at": "2027-01-01T00:00:00Z", "channel": "app", "identities": {}})
            ),
            vec![
                ("occurred_at".into(), "occurred_at_in_future"),
                ("identities".into(), "missing_field")
            ]
        );
    }

    #[test]
    fn unknown_types_are_kept_as_custom_events() {
        let e = parse(json!({"event_id": "e", "type": "coupon_use", "occurred_at": "2026-01-01T00:00:00Z",
                             "channel": "app", "identities": {"app_user_id": "u1"}, "properties": {"coupon": "X"}}))
        .unwrap();
        assert_eq!(e.payload, Payload::Custom);
        assert_eq!(e.type_name, "coupon_use");
    }

    #[test]
    fn referrals_name_the_inviter_by_identities() {
        let e = parse(json!({"event_id": "r", "type": "referral", "occurred_at": "2026-01-01T00:00:00Z", "channel": "wechat",
                             "identities": {"phone": "13900139000"}, "properties": {"referrer": {"phone": "+86 138 0013 8000"}}}))
        .unwrap();
        let Payload::Referral { referrer } = e.payload else {
            panic!()
        };
        assert_eq!(referrer[0].value, "+8613800138000");
        assert_eq!(
            fields(
                json!({"event_id": "r", "type": "referral", "occurred_at": "2026-01-01T00:00:00Z", "channel": "wechat",
                          "identities": {"phone": "13900139000"}})
            ),
            vec![("properties.referrer".into(), "missing_field")]
        );
    }
}
