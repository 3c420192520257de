//! Sources: what brought a member — a campaign, a QR code (on packaging, a poster, an
//! ad, a shop's counter), a referral. An event says it in `properties.source`; the
//! tracking protocol's `context.campaign` (the UTM fields) becomes one; a referral that
//! names none is a referral source. A member's source is the one their first event
//! carried: it is set by the earliest event and never by a later one, so a member who
//! arrived in a shop and later scanned a poster stays the shop's.

use crate::time::Micros;
use crate::validation::{FieldError, check_line};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What kind of thing brought the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A campaign: UTM fields, an ad, a launch, a livestream.
    Campaign,
    /// A QR code: its scene or code is the name, where it was printed the medium.
    Qr,
    /// A member's invitation.
    Referral,
    Other,
}

impl SourceKind {
    pub const ALL: [SourceKind; 4] = [
        SourceKind::Campaign,
        SourceKind::Qr,
        SourceKind::Referral,
        SourceKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Campaign => "campaign",
            SourceKind::Qr => "qr",
            SourceKind::Referral => "referral",
            SourceKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a member came from, and when that first event happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub kind: SourceKind,
    /// The campaign's name, the QR code's scene…
    pub name: String,
    /// How it reached them: `utm_medium`, or where a QR code was printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// The site or platform that sent them: `utm_source` (`bilibili`, `newsletter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The event's `occurred_at`.
    pub at: Micros,
}

/// The longest name, medium and platform.
pub const MAX_NAME: usize = 100;
pub const MAX_DETAIL: usize = 64;

/// The name a referral without a source of its own is counted under.
pub const REFERRAL_NAME: &str = "member invitation";

/// The source an event's properties name, if any: `source` as a name (a campaign) or as
/// `{kind, name, medium, platform}`. `referral` events default to a referral source.
/// Errors name the field (`properties.source.kind`).
pub fn read(
    type_name: &str,
    props: &Map<String, Value>,
    at: Micros,
) -> Result<Option<Source>, FieldError> {
    let field = "properties.source";
    let source = match props.get("source") {
        None | Some(Value::Null) if type_name == "referral" => Some(Source {
            kind: SourceKind::Referral,
            name: REFERRAL_NAME.into(),
            medium: None,
            platform: None,
            at,
        }),
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(Source {
            kind: SourceKind::Campaign,
            name: check_line(field, name, MAX_NAME)?,
            medium: None,
            platform: None,
            at,
        }),
        Some(Value::Object(o)) => {
            let kind = match o.get("kind") {
                None | Some(Value::Null) => SourceKind::Campaign,
                Some(Value::String(k)) => SourceKind::parse(k).ok_or_else(|| {
                    FieldError::new(
                        format!("{field}.kind"),
                        crate::ErrorCode::InvalidValue,
                        format!("{k:?} is not one of campaign, qr, referral, other"),
                    )
                })?,
                Some(_) => return Err(FieldError::wrong_type(format!("{field}.kind"), "a string")),
            };
            let name = match o.get("name") {
                Some(Value::String(n)) => check_line(&format!("{field}.name"), n, MAX_NAME)?,
                None | Some(Value::Null) => {
                    return Err(FieldError::missing(format!("{field}.name")));
                }
                Some(_) => return Err(FieldError::wrong_type(format!("{field}.name"), "a string")),
            };
            let detail = |key: &str| -> Result<Option<String>, FieldError> {
                match o.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => {
                        check_line(&format!("{field}.{key}"), s, MAX_DETAIL).map(Some)
                    }
                    Some(_) => Err(FieldError::wrong_type(format!("{field}.{key}"), "a string")),
                }
            };
            Some(Source {
                kind,
                name,
                medium: detail("medium")?,
                platform: detail("platform")?,
                at,
            })
        }
        Some(_) => {
            return Err(FieldError::wrong_type(
                field,
                "a name or an object {kind, name, medium, platform}",
            ));
        }
    };
    Ok(source)
}

/// The tracking protocol's `context.campaign` (Segment's UTM fields: `name`, `source`,
/// `medium`) as a `properties.source` object; `None` when it names nothing.
pub fn from_campaign(campaign: &Map<String, Value>) -> Option<Value> {
    let field = |k: &str| {
        campaign
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let name = field("name").or(field("source"))?;
    let mut source = Map::new();
    source.insert("kind".into(), "campaign".into());
    source.insert("name".into(), clip(name, MAX_NAME).into());
    if let Some(medium) = field("medium") {
        source.insert("medium".into(), clip(medium, MAX_DETAIL).into());
    }
    if let Some(platform) = field("source") {
        source.insert("platform".into(), clip(platform, MAX_DETAIL).into());
    }
    Some(Value::Object(source))
}

/// At most `max` characters of a one-line value, so a long UTM tag never fails a call.
fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_name_is_a_campaign_and_an_object_says_its_kind() {
        let s = read("visit", &props(json!({"source": "double-11"})), 5)
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.kind, s.name.as_str(), s.at),
            (SourceKind::Campaign, "double-11", 5)
        );
        let qr = json!({"source": {"kind": "qr", "name": "box-2026", "medium": "packaging"}});
        let s = read("follow", &props(qr), 7).unwrap().unwrap();
        assert_eq!(s.kind, SourceKind::Qr);
        assert_eq!(s.medium.as_deref(), Some("packaging"));
        assert_eq!(read("visit", &props(json!({})), 1).unwrap(), None);
        let invited = read("referral", &props(json!({})), 1).unwrap().unwrap();
        assert_eq!(invited.kind, SourceKind::Referral);
    }

    #[test]
    fn mistakes_name_the_field() {
        let field = |v: Value| read("visit", &props(v), 1).unwrap_err().field;
        assert_eq!(field(json!({"source": 3})), "properties.source");
        assert_eq!(
            field(json!({"source": {"kind": "tv", "name": "x"}})),
            "properties.source.kind"
        );
        assert_eq!(
            field(json!({"source": {"kind": "qr"}})),
            "properties.source.name"
        );
        assert_eq!(
            field(json!({"source": {"name": "x", "medium": 1}})),
            "properties.source.medium"
        );
        assert_eq!(
            field(json!({"source": "x".repeat(101)})),
            "properties.source"
        );
    }

    #[test]
    fn utm_fields_become_a_campaign_source() {
        let c = json!({"name": "spring_tea", "source": "bilibili", "medium": "video"});
        let v = from_campaign(c.as_object().unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"kind": "campaign", "name": "spring_tea", "medium": "video", "platform": "bilibili"})
        );
        let only_source = json!({"source": "newsletter"});
        let v = from_campaign(only_source.as_object().unwrap()).unwrap();
        assert_eq!(v["name"], "newsletter");
        assert_eq!(
            from_campaign(json!({"term": "tea"}).as_object().unwrap()),
            None
        );
        let long = json!({"name": "x".repeat(300)});
        let v = from_campaign(long.as_object().unwrap()).unwrap();
        assert!(read("visit", &props(json!({"source": v})), 1).is_ok());
    }
}
