//! WeChat's callbacks as events (issue 22). The HTTP side checks the signature, decrypts
//! safe-mode messages and reads the XML into its fields; this file turns those fields
//! into a native event body for the one parser, the same way `tracking.rs` does for the
//! Segment protocol.
//!
//! Official account (公众号) pushes:
//! - `subscribe` → `follow`, `unsubscribe` → `unfollow`; a subscribe from a QR code
//!   (`EventKey` = `qrscene_<scene>`) and a follower's `SCAN` name the scene as the
//!   member's source (which counts only if it was their first event: `source.rs`);
//! - menu `CLICK` and `VIEW` → `content_click`;
//! - a message the follower sends (text, image, voice, video, location, link) → an
//!   incoming `message`;
//! - any other event → a custom `wechat_<event>` event, kept and counted.
//!
//! The follower is `FromUserName` (`wechat_openid`), with `UnionId` too when the push
//! carries it (`wechat_unionid`). The event id is derived from what WeChat resends
//! unchanged — `MsgId`, else the follower, `CreateTime` and event — so a retried push
//! is a duplicate, never a second event.
//!
//! WeCom (企业微信) `change_external_contact` pushes, about a shop assistant (`UserID`,
//! matched case-insensitively as the platform does, so kept lower-case) and a customer
//! (`ExternalUserID` → `wecom_external_id`, with `UnionId` when the push carries it):
//! - `add_external_contact` / `add_half_external_contact` → `wecom_contact_added`
//!   (`staff`, and the `State` the contact way was given, if any);
//! - `edit_external_contact` → `wecom_contact_edited`;
//! - `del_external_contact` (the assistant removed the customer) and `del_follow_user`
//!   (the customer removed the assistant) → `wecom_contact_ended` (`ended_by` staff or
//!   customer).
//!
//! The store keeps each link and its end, and makes the assistant who added a customer
//! their owner when they have none.
//!
//! WeCom `change_external_chat` pushes, about a customer group (`ChatId`):
//! - `update` with `add_member` / `del_member` → a `group_joined` / `group_left` event
//!   for each customer in `MemChangeList` (the assistants there are skipped: customers'
//!   ids are WeCom's external user ids, which begin `wm` or `wo`);
//! - `create` and `dismiss` name no customer: the caller records the group, and on a
//!   dismissal makes a `group_left` for each customer still in it;
//! - other updates (name, owner, notice) change nothing Flywheel keeps.

use crate::time::{self, Micros};
use crate::validation::FieldError;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A callback's XML, one level deep: element name → text.
pub type Fields = BTreeMap<String, String>;

fn field<'a>(f: &'a Fields, name: &str) -> Option<&'a str> {
    f.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn required<'a>(f: &'a Fields, name: &str) -> Result<&'a str, FieldError> {
    field(f, name).ok_or_else(|| FieldError::missing(name))
}

/// `CreateTime` (seconds since the epoch) as an instant.
fn created_at(f: &Fields) -> Result<Micros, FieldError> {
    let raw = required(f, "CreateTime")?;
    raw.parse::<i64>()
        .ok()
        .filter(|s| (0..=32_503_680_000).contains(s))
        .map(|s| s * 1_000_000)
        .ok_or_else(|| FieldError::wrong_type("CreateTime", "seconds since 1970"))
}

/// The scene of a QR code from an `EventKey` (`qrscene_123` on subscribe, `123` on SCAN).
fn qr_scene(f: &Fields) -> Option<String> {
    let key = field(f, "EventKey")?;
    let scene = key.strip_prefix("qrscene_").unwrap_or(key);
    (!scene.is_empty()).then(|| scene.chars().take(100).collect())
}

/// What an official account's push becomes: a native event body on the `wechat` channel.
pub fn official_account_event(f: &Fields) -> Result<Value, FieldError> {
    let openid = required(f, "FromUserName")?;
    let at = created_at(f)?;
    let msg_type = required(f, "MsgType")?;
    let mut identities = Map::new();
    identities.insert("wechat_openid".into(), openid.into());
    if let Some(union) = field(f, "UnionId") {
        identities.insert("wechat_unionid".into(), union.into());
    }
    let mut props = Map::new();
    if let Some(account) = field(f, "ToUserName") {
        props.insert("account".into(), account.into());
    }
    let (type_name, id_part) = if msg_type == "event" {
        let event = required(f, "Event")?;
        let type_name = match event {
            "subscribe" => "follow".to_owned(),
            "unsubscribe" => "unfollow".to_owned(),
            "SCAN" => "visit".to_owned(),
            "CLICK" | "VIEW" => "content_click".to_owned(),
            other => custom_name(other),
        };
        if matches!(event, "subscribe" | "SCAN")
            && let Some(scene) = qr_scene(f)
        {
            props.insert("scene".into(), scene.clone().into());
            props.insert(
                "source".into(),
                json!({"kind": "qr", "name": scene, "medium": "official_account"}),
            );
        }
        if matches!(event, "CLICK" | "VIEW")
            && let Some(key) = field(f, "EventKey")
        {
            let name = if event == "VIEW" { "url" } else { "menu_key" };
            props.insert(
                name.into(),
                key.chars().take(500).collect::<String>().into(),
            );
        }
        (type_name, event.to_owned())
    } else {
        props.insert("direction".into(), "in".into());
        props.insert("kind".into(), msg_type.into());
        if let Some(text) = field(f, "Content") {
            props.insert(
                "text".into(),
                text.chars().take(2_000).collect::<String>().into(),
            );
        }
        ("message".to_owned(), msg_type.to_owned())
    };
    let event_id = match field(f, "MsgId") {
        Some(id) => format!("wx-oa:{id}"),
        None => format!("wx-oa:{openid}:{}:{id_part}", at / 1_000_000),
    };
    Ok(json!({
        "event_id": event_id,
        "type": type_name,
        "occurred_at": time::to_rfc3339(at),
        "channel": "wechat",
        "identities": identities,
        "properties": props,
    }))
}

/// The event types WeCom contact pushes become.
pub const CONTACT_ADDED: &str = "wecom_contact_added";
pub const CONTACT_ENDED: &str = "wecom_contact_ended";

/// What a WeCom `change_external_contact` push becomes (other WeCom pushes are the
/// caller's to route: they name no customer).
pub fn work_contact_event(f: &Fields) -> Result<Value, FieldError> {
    let at = created_at(f)?;
    let change = required(f, "ChangeType")?;
    let staff = required(f, "UserID")?.to_lowercase();
    let external = required(f, "ExternalUserID")?;
    let mut identities = Map::new();
    identities.insert("wecom_external_id".into(), external.into());
    if let Some(union) = field(f, "UnionId") {
        identities.insert("wechat_unionid".into(), union.into());
    }
    let mut props = Map::new();
    props.insert("staff".into(), staff.clone().into());
    let type_name = match change {
        "add_external_contact" | "add_half_external_contact" => {
            if let Some(state) = field(f, "State") {
                props.insert(
                    "state".into(),
                    state.chars().take(100).collect::<String>().into(),
                );
            }
            CONTACT_ADDED.to_owned()
        }
        "edit_external_contact" => "wecom_contact_edited".to_owned(),
        "del_external_contact" | "del_follow_user" => {
            let by = if change == "del_follow_user" {
                "customer"
            } else {
                "staff"
            };
            props.insert("ended_by".into(), by.into());
            CONTACT_ENDED.to_owned()
        }
        other => format!("wecom_{}", custom_name(other).trim_start_matches("wechat_")),
    };
    Ok(json!({
        "event_id": format!("wx-work:{change}:{staff}:{external}:{}", at / 1_000_000),
        "type": type_name,
        "occurred_at": time::to_rfc3339(at),
        "channel": "wechat",
        "identities": identities,
        "properties": props,
    }))
}

/// What a `change_external_chat` push says happened to its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatChange {
    Created,
    /// These customers joined.
    Joined(Vec<String>),
    /// These customers left (or were removed).
    Left(Vec<String>),
    Dismissed,
    /// A change of name, owner or notice: nothing Flywheel keeps.
    Other,
}

/// A WeCom customer group push, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatPush {
    pub chat_id: String,
    pub at: Micros,
    pub change: ChatChange,
    /// How the customers joined (`invited`, `link`, `qr`) or left (`self`, `removed`).
    pub scene: Option<&'static str>,
}

/// Whether a WeCom user id is a customer's (an external user id) rather than an
/// assistant's: WeCom gives customers ids beginning `wm` or `wo`.
pub fn is_external_user_id(id: &str) -> bool {
    (id.starts_with("wm") || id.starts_with("wo")) && id.len() >= 8
}

/// Reads a WeCom `change_external_chat` push.
pub fn work_chat_push(f: &Fields) -> Result<ChatPush, FieldError> {
    let at = created_at(f)?;
    let chat_id: String = required(f, "ChatId")?.chars().take(128).collect();
    let customers = || -> Vec<String> {
        f.get("MemChangeList.Item")
            .map(|items| {
                items
                    .lines()
                    .map(str::trim)
                    .filter(|id| is_external_user_id(id))
                    .map(|id| id.chars().take(128).collect())
                    .take(2_000)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (change, scene) = match required(f, "ChangeType")? {
        "create" => (ChatChange::Created, None),
        "dismiss" => (ChatChange::Dismissed, None),
        "update" => match field(f, "UpdateDetail") {
            Some("add_member") => (
                ChatChange::Joined(customers()),
                match field(f, "JoinScene") {
                    Some("0") => Some("invited"),
                    Some("1") => Some("link"),
                    Some("3") => Some("qr"),
                    _ => None,
                },
            ),
            Some("del_member") => (
                ChatChange::Left(customers()),
                match field(f, "QuitScene") {
                    Some("0") => Some("self"),
                    Some("1") => Some("removed"),
                    _ => None,
                },
            ),
            _ => (ChatChange::Other, None),
        },
        other => {
            return Err(FieldError::new(
                "ChangeType",
                crate::ErrorCode::InvalidValue,
                format!("{other:?} is not create, update or dismiss"),
            ));
        }
    };
    Ok(ChatPush {
        chat_id,
        at,
        change,
        scene,
    })
}

/// A customer's `group_joined` (or `group_left`) event for a group push; a dismissal's
/// leaves are made from the customers Flywheel has in the group.
pub fn group_event(push: &ChatPush, external_id: &str, joined: bool) -> Value {
    let (type_name, what) = if joined {
        ("group_joined", "join")
    } else {
        ("group_left", "leave")
    };
    let mut props = Map::new();
    props.insert("group".into(), push.chat_id.clone().into());
    props.insert("platform".into(), "wecom".into());
    if let Some(scene) = push.scene {
        props.insert("scene".into(), scene.into());
    }
    if push.change == ChatChange::Dismissed {
        props.insert("scene".into(), "dismissed".into());
    }
    json!({
        "event_id": format!(
            "wx-work-chat:{}:{what}:{external_id}:{}",
            push.chat_id,
            push.at / 1_000_000
        ),
        "type": type_name,
        "occurred_at": time::to_rfc3339(push.at),
        "channel": "wechat",
        "identities": {"wecom_external_id": external_id},
        "properties": props,
    })
}

/// `wechat_` and the event's name in snake_case (`LOCATION` → `wechat_location`).
fn custom_name(event: &str) -> String {
    let tail: String = event
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("wechat_{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_event;
    use crate::policy::Policy;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn parses(body: &Value) {
        let policy = Policy::default();
        let ctx = policy.parse_context(time::parse_rfc3339("2026-12-06T00:00:00Z").unwrap());
        parse_event(body, &ctx).unwrap_or_else(|e| panic!("{body}: {e:?}"));
    }

    #[test]
    fn a_subscribe_from_a_qr_code_is_a_follow_with_its_scene_as_the_source() {
        let f = fields(&[
            ("ToUserName", "gh_brand"),
            ("FromUserName", "oFan1"),
            ("CreateTime", "1764979200"),
            ("MsgType", "event"),
            ("Event", "subscribe"),
            ("EventKey", "qrscene_tin-2026"),
            ("Ticket", "TICKET"),
        ]);
        let body = official_account_event(&f).unwrap();
        assert_eq!(body["type"], "follow");
        assert_eq!(body["identities"], json!({"wechat_openid": "oFan1"}));
        assert_eq!(body["properties"]["source"]["name"], "tin-2026");
        assert_eq!(body["event_id"], "wx-oa:oFan1:1764979200:subscribe");
        parses(&body);
        // The same push again has the same id; a later unsubscribe is an unfollow.
        assert_eq!(
            official_account_event(&f).unwrap()["event_id"],
            body["event_id"]
        );
        let mut gone = f.clone();
        gone.insert("Event".into(), "unsubscribe".into());
        gone.remove("EventKey");
        let gone = official_account_event(&gone).unwrap();
        assert_eq!(gone["type"], "unfollow");
        parses(&gone);
    }

    #[test]
    fn wecom_contact_pushes_bind_the_customer_and_name_the_assistant() {
        let add = fields(&[
            ("ToUserName", "ww-corp"),
            ("CreateTime", "1764979200"),
            ("MsgType", "event"),
            ("Event", "change_external_contact"),
            ("ChangeType", "add_external_contact"),
            ("UserID", "ZhangWei"),
            ("ExternalUserID", "wmCustomer1"),
            ("UnionId", "uFan1"),
            ("State", "store-sh-01"),
        ]);
        let body = work_contact_event(&add).unwrap();
        assert_eq!(body["type"], CONTACT_ADDED);
        assert_eq!(
            body["identities"],
            json!({"wecom_external_id": "wmCustomer1", "wechat_unionid": "uFan1"})
        );
        assert_eq!(
            body["properties"],
            json!({"staff": "zhangwei", "state": "store-sh-01"})
        );
        parses(&body);
        let mut gone = add.clone();
        gone.insert("ChangeType".into(), "del_follow_user".into());
        let body = work_contact_event(&gone).unwrap();
        assert_eq!(body["type"], CONTACT_ENDED);
        assert_eq!(body["properties"]["ended_by"], "customer");
        assert_ne!(
            body["event_id"],
            work_contact_event(&add).unwrap()["event_id"]
        );
        parses(&body);
        let mut nobody = add;
        nobody.remove("ExternalUserID");
        assert_eq!(
            work_contact_event(&nobody).unwrap_err().field,
            "ExternalUserID"
        );
    }

    #[test]
    fn group_pushes_make_each_customers_join_or_leave_and_skip_the_assistants() {
        let mut join = fields(&[
            ("ToUserName", "ww-corp"),
            ("CreateTime", "1764979200"),
            ("MsgType", "event"),
            ("Event", "change_external_chat"),
            ("ChatId", "wrChat1"),
            ("ChangeType", "update"),
            ("UpdateDetail", "add_member"),
            ("JoinScene", "3"),
        ]);
        join.insert(
            "MemChangeList.Item".into(),
            "wmCustomer0001\nzhangwei\nwoCustomer0002".into(),
        );
        let push = work_chat_push(&join).unwrap();
        assert_eq!(
            push.change,
            ChatChange::Joined(vec!["wmCustomer0001".into(), "woCustomer0002".into()])
        );
        let body = group_event(&push, "wmCustomer0001", true);
        assert_eq!(body["type"], "group_joined");
        assert_eq!(
            body["properties"],
            json!({"group": "wrChat1", "platform": "wecom", "scene": "qr"})
        );
        assert_eq!(
            body["identities"],
            json!({"wecom_external_id": "wmCustomer0001"})
        );
        parses(&body);
        let mut leave = join.clone();
        leave.insert("UpdateDetail".into(), "del_member".into());
        leave.insert("QuitScene".into(), "1".into());
        let push = work_chat_push(&leave).unwrap();
        assert!(matches!(push.change, ChatChange::Left(ref c) if c.len() == 2));
        let body = group_event(&push, "wmCustomer0001", false);
        assert_eq!(
            (&body["type"], &body["properties"]["scene"]),
            (&json!("group_left"), &json!("removed"))
        );
        parses(&body);
        let mut dismiss = join.clone();
        dismiss.insert("ChangeType".into(), "dismiss".into());
        assert_eq!(
            work_chat_push(&dismiss).unwrap().change,
            ChatChange::Dismissed
        );
        let mut rename = join.clone();
        rename.insert("UpdateDetail".into(), "change_name".into());
        assert_eq!(work_chat_push(&rename).unwrap().change, ChatChange::Other);
        let mut odd = join;
        odd.insert("ChangeType".into(), "explode".into());
        assert_eq!(work_chat_push(&odd).unwrap_err().field, "ChangeType");
    }

    #[test]
    fn messages_menus_and_other_events_map_and_mistakes_name_the_field() {
        let text = fields(&[
            ("FromUserName", "oFan1"),
            ("UnionId", "uFan1"),
            ("CreateTime", "1764979200"),
            ("MsgType", "text"),
            ("Content", "when is the salon?"),
            ("MsgId", "24001"),
        ]);
        let body = official_account_event(&text).unwrap();
        assert_eq!(
            (
                &body["type"],
                &body["event_id"],
                &body["properties"]["direction"]
            ),
            (&json!("message"), &json!("wx-oa:24001"), &json!("in"))
        );
        assert_eq!(body["identities"]["wechat_unionid"], "uFan1");
        parses(&body);
        let click = fields(&[
            ("FromUserName", "oFan1"),
            ("CreateTime", "1764979200"),
            ("MsgType", "event"),
            ("Event", "CLICK"),
            ("EventKey", "MENU_POINTS"),
        ]);
        let body = official_account_event(&click).unwrap();
        assert_eq!(body["type"], "content_click");
        assert_eq!(body["properties"]["menu_key"], "MENU_POINTS");
        let mut location = click.clone();
        location.insert("Event".into(), "LOCATION".into());
        let body = official_account_event(&location).unwrap();
        assert_eq!(body["type"], "wechat_location");
        parses(&body);
        let mut no_user = click.clone();
        no_user.remove("FromUserName");
        assert_eq!(
            official_account_event(&no_user).unwrap_err().field,
            "FromUserName"
        );
        let mut bad_time = click;
        bad_time.insert("CreateTime".into(), "soon".into());
        assert_eq!(
            official_account_event(&bad_time).unwrap_err().field,
            "CreateTime"
        );
    }
}
