//! Channels: where an event came from (`tmall`, `store`, `app`…). The brand's list is
//! configuration (`[events] channels`), because the places it sells and talks come and
//! go — dealers, Vipshop, Bilibili, Kuaishou, Douban, Zhihu. Flywheel ships a list of
//! the usual ones ([`Channel::BUILT_IN`]) that a brand replaces with its own.
//!
//! A channel is a short snake_case name kept inline, so it stays `Copy` and events carry
//! it without allocating.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The longest channel name.
pub const MAX_LEN: usize = 24;

/// One channel's name: 1–24 of `a-z`, `0-9`, `_`, starting with a letter.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel {
    len: u8,
    bytes: [u8; MAX_LEN],
}

impl Channel {
    pub const TMALL: Channel = Channel::known("tmall");
    pub const JD: Channel = Channel::known("jd");
    pub const WECHAT: Channel = Channel::known("wechat");
    pub const WEIBO: Channel = Channel::known("weibo");
    pub const DOUYIN: Channel = Channel::known("douyin");
    pub const XIAOHONGSHU: Channel = Channel::known("xiaohongshu");
    pub const APP: Channel = Channel::known("app");
    pub const MINI_PROGRAM: Channel = Channel::known("mini_program");
    pub const STORE: Channel = Channel::known("store");
    pub const CALL_CENTER: Channel = Channel::known("call_center");
    pub const WEB: Channel = Channel::known("web");
    pub const OTHER: Channel = Channel::known("other");

    /// The list a brand has until its config says otherwise.
    pub const BUILT_IN: [Channel; 12] = [
        Channel::TMALL,
        Channel::JD,
        Channel::WECHAT,
        Channel::WEIBO,
        Channel::DOUYIN,
        Channel::XIAOHONGSHU,
        Channel::APP,
        Channel::MINI_PROGRAM,
        Channel::STORE,
        Channel::CALL_CENTER,
        Channel::WEB,
        Channel::OTHER,
    ];

    /// The brand's own places by default (seed 000: relationships the brand owns): its
    /// app, mini-program, stores, official account, web site and call centre.
    pub const OWNED_BY_DEFAULT: [Channel; 6] = [
        Channel::APP,
        Channel::MINI_PROGRAM,
        Channel::STORE,
        Channel::WECHAT,
        Channel::WEB,
        Channel::CALL_CENTER,
    ];

    /// A name checked at compile time (the constants above).
    const fn known(name: &str) -> Channel {
        let b = name.as_bytes();
        assert!(!b.is_empty() && b.len() <= MAX_LEN);
        let mut bytes = [0u8; MAX_LEN];
        let mut i = 0;
        while i < b.len() {
            assert!(b[i].is_ascii_lowercase() || b[i].is_ascii_digit() || b[i] == b'_');
            bytes[i] = b[i];
            i += 1;
        }
        Channel {
            len: b.len() as u8,
            bytes,
        }
    }

    /// A well-formed name, whether or not the brand lists it; the reason when not.
    pub fn new(name: &str) -> Result<Channel, String> {
        let b = name.as_bytes();
        let shaped = !b.is_empty()
            && b.len() <= MAX_LEN
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_');
        if !shaped {
            return Err(format!(
                "channel {name:?} must be 1-{MAX_LEN} lower-case letters, digits or '_', \
                 starting with a letter"
            ));
        }
        let mut bytes = [0u8; MAX_LEN];
        bytes[..b.len()].copy_from_slice(b);
        Ok(Channel {
            len: b.len() as u8,
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked by `new` and `known`).
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("other")
    }

    /// `name` if it is one of `list`'s channels.
    pub fn find(list: &[Channel], name: &str) -> Option<Channel> {
        list.iter().copied().find(|c| c.as_str() == name)
    }

    /// Why `name` is not a channel of `list`, naming the ones that are.
    pub fn unknown(list: &[Channel], name: &str) -> String {
        format!("channel {name:?} is not one of {}", Channel::names(list))
    }

    /// The list's names, comma-separated, for messages.
    pub fn names(list: &[Channel]) -> String {
        list.iter()
            .map(Channel::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_str())
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Channel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Channel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Channel, D::Error> {
        let name = String::deserialize(d)?;
        Channel::new(&name).map_err(serde::de::Error::custom)
    }
}

/// Checks a brand's list: not empty, each name once.
pub fn validate_list(list: &[Channel]) -> Result<(), String> {
    if list.is_empty() {
        return Err("[events] channels must name at least one channel".into());
    }
    for (i, c) in list.iter().enumerate() {
        if list[..i].contains(c) {
            return Err(format!("[events] channels names {c} twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_round_trip() {
        let vipshop = Channel::new("vipshop").unwrap();
        assert_eq!(vipshop.as_str(), "vipshop");
        assert_eq!(serde_json::to_string(&vipshop).unwrap(), "\"vipshop\"");
        let back: Channel = serde_json::from_str("\"mini_program\"").unwrap();
        assert_eq!(back, Channel::MINI_PROGRAM);
        for bad in ["", "Tmall", "9live", "a-b", "x".repeat(25).as_str(), "微信"] {
            assert!(Channel::new(bad).is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<Channel>("\"Bad Name\"").is_err());
        assert!(Channel::new(&"x".repeat(24)).is_ok());
    }

    #[test]
    fn a_brand_list_finds_its_own_and_names_them_when_not() {
        let list = [Channel::STORE, Channel::new("bilibili").unwrap()];
        assert_eq!(Channel::find(&list, "bilibili"), Some(list[1]));
        assert_eq!(Channel::find(&list, "tmall"), None);
        assert_eq!(
            Channel::unknown(&list, "tmall"),
            "channel \"tmall\" is not one of store, bilibili"
        );
        assert!(validate_list(&list).is_ok());
        assert!(validate_list(&[]).is_err());
        assert!(validate_list(&[Channel::APP, Channel::APP]).is_err());
    }
}
