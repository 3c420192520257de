//! Identities: the channel keys by which a member is known, and how raw values are
//! normalised before they are matched.
//!
//! Every value is folded to Unicode NFKC with its invisible format characters removed;
//! then phones become E.164 (`13800138000`, `+86 138-0013-8000` and `+8613800138000` are
//! one), emails are lower-cased, account ids are trimmed. Only normalised identities are ever
//! stored or compared, so matching is a plain equality.

mod recent;

use crate::validation::is_format;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;
use unicode_normalization::UnicodeNormalization;

/// Every kind of identity Flywheel matches on. Nicknames are deliberately absent: a
/// nickname is profile data and never merges two members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    Phone,
    Email,
    WechatUnionid,
    WechatOpenid,
    WeiboUid,
    DouyinId,
    TmallNick,
    JdPin,
    AppUserId,
    CardNo,
    ExternalId,
    /// A customer as WeCom (企业微信) knows them: the external user id a shop
    /// assistant's contact gets (`ExternalUserID` in its callbacks).
    WecomExternalId,
    /// A device's or browser's id before sign-in (the tracking protocol's `anonymousId`):
    /// the least trusted kind, bound to a person by their first identified call.
    AnonymousId,
}

impl IdentityKind {
    pub const ALL: [IdentityKind; 13] = [
        IdentityKind::Phone,
        IdentityKind::Email,
        IdentityKind::WechatUnionid,
        IdentityKind::WechatOpenid,
        IdentityKind::WeiboUid,
        IdentityKind::DouyinId,
        IdentityKind::TmallNick,
        IdentityKind::JdPin,
        IdentityKind::AppUserId,
        IdentityKind::CardNo,
        IdentityKind::ExternalId,
        IdentityKind::WecomExternalId,
        IdentityKind::AnonymousId,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Phone => "phone",
            IdentityKind::Email => "email",
            IdentityKind::WechatUnionid => "wechat_unionid",
            IdentityKind::WechatOpenid => "wechat_openid",
            IdentityKind::WeiboUid => "weibo_uid",
            IdentityKind::DouyinId => "douyin_id",
            IdentityKind::TmallNick => "tmall_nick",
            IdentityKind::JdPin => "jd_pin",
            IdentityKind::AppUserId => "app_user_id",
            IdentityKind::CardNo => "card_no",
            IdentityKind::ExternalId => "external_id",
            IdentityKind::WecomExternalId => "wecom_external_id",
            IdentityKind::AnonymousId => "anonymous_id",
        }
    }
}

impl FromStr for IdentityKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        IdentityKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalised identity. Built only by [`IdentityRules::normalise`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
}

impl Identity {
    /// The single-column key the store indexes identities by: `kind:value`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.value)
    }

    /// Rebuilds an identity from a stored key (already normalised).
    pub fn from_key(key: &str) -> Option<Identity> {
        let (kind, value) = key.split_once(':')?;
        Some(Identity {
            kind: kind.parse().ok()?,
            value: value.to_owned(),
        })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// Brand-level identity policy: the default phone region, the kinds a member may hold
/// only one value of, and the order in which kinds are trusted when they disagree.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityRules {
    /// ISO 3166 region used for phone numbers written without a country code.
    pub default_region: String,
    /// Kinds of which one member holds at most one value; a merge that would break this
    /// is recorded as a conflict instead.
    pub unique_kinds: Vec<IdentityKind>,
    /// Most trusted first: when an event's identities point at members that cannot be
    /// merged, the event goes to the member of the most trusted identity.
    pub priority: Vec<IdentityKind>,
}

impl Default for IdentityRules {
    fn default() -> Self {
        IdentityRules {
            default_region: "CN".into(),
            unique_kinds: vec![IdentityKind::Phone],
            priority: IdentityKind::ALL.to_vec(),
        }
    }
}

/// Why a raw identity value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("must not be empty")]
    Empty,
    #[error("is longer than 200 characters")]
    TooLong,
    #[error("contains control characters")]
    ControlCharacters,
    #[error("is not a valid phone number (default region {0})")]
    InvalidPhone(String),
    #[error("is not a valid email address")]
    InvalidEmail,
}

impl IdentityRules {
    pub fn is_unique(&self, kind: IdentityKind) -> bool {
        self.unique_kinds.contains(&kind)
    }

    /// Lower is more trusted.
    pub fn rank(&self, kind: IdentityKind) -> usize {
        self.priority
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(self.priority.len())
    }

    /// Checks the default region names a real one; called when configuration is loaded.
    pub fn validate(&self) -> Result<(), String> {
        self.default_region
            .parse::<phonenumber::country::Id>()
            .map(|_| ())
            .map_err(|_| {
                format!(
                    "identity.default_region {:?} is not an ISO 3166 region",
                    self.default_region
                )
            })
    }

    pub fn normalise(&self, kind: IdentityKind, raw: &str) -> Result<Identity, IdentityError> {
        // Compatibility forms fold into one (full-width digits and letters, ligatures,
        // non-breaking spaces), and invisible format characters — a zero-width space, a
        // right-to-left override — are dropped, so a look-alike is the same identity.
        let folded: String = raw.nfkc().filter(|c| !is_format(*c)).collect();
        let trimmed = folded.trim();
        if trimmed.is_empty() {
            return Err(IdentityError::Empty);
        }
        if trimmed.chars().count() > 200 {
            return Err(IdentityError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(IdentityError::ControlCharacters);
        }
        let value = match kind {
            IdentityKind::Phone => self.normalise_phone(trimmed)?,
            IdentityKind::Email => normalise_email(trimmed)?,
            _ => trimmed.to_owned(),
        };
        Ok(Identity { kind, value })
    }

    fn normalise_phone(&self, raw: &str) -> Result<String, IdentityError> {
        RECENT_PHONES
            .with_borrow_mut(|memo| {
                memo.get_or(raw, &self.default_region, || self.parse_phone(raw))
            })
            .ok_or_else(|| IdentityError::InvalidPhone(self.default_region.clone()))
    }

    /// `raw`'s E.164 form, or None when it is not a valid number.
    fn parse_phone(&self, raw: &str) -> Option<String> {
        let region = self.default_region.parse::<phonenumber::country::Id>().ok();
        // "0086…" is how many Chinese systems write the international prefix.
        let raw = raw
            .strip_prefix("00")
            .map(|rest| format!("+{rest}"))
            .unwrap_or_else(|| raw.to_owned());
        let number = phonenumber::parse(region, &raw).ok()?;
        phonenumber::is_valid(&number)
            .then(|| number.format().mode(phonenumber::Mode::E164).to_string())
    }
}

/// Numbers kept per thread: enough for the members active in a busy stretch of a
/// history (the demo's 60,000 first events name 8,517 numbers), a few MiB at most.
const PHONES_KEPT: usize = 16_384;

thread_local! {
    static RECENT_PHONES: RefCell<recent::Recent> = RefCell::new(recent::Recent::new(PHONES_KEPT));
}

fn normalise_email(raw: &str) -> Result<String, IdentityError> {
    let lower = raw.to_lowercase();
    let (local, domain) = lower.split_once('@').ok_or(IdentityError::InvalidEmail)?;
    let ok = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !lower.chars().any(char::is_whitespace);
    if ok {
        Ok(lower)
    } else {
        Err(IdentityError::InvalidEmail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(raw: &str) -> Result<String, IdentityError> {
        IdentityRules::default()
            .normalise(IdentityKind::Phone, raw)
            .map(|i| i.value)
    }

    #[test]
    fn the_three_spellings_of_one_chinese_mobile_are_one_identity() {
        for raw in [
            "13800138000",
            "+86 138-0013-8000",
            "+8613800138000",
            "0086 138 0013 8000",
        ] {
            assert_eq!(phone(raw).unwrap(), "+8613800138000", "{raw}");
        }
    }

    #[test]
    fn the_default_region_decides_numbers_without_a_country_code() {
        let us = IdentityRules {
            default_region: "US".into(),
            ..IdentityRules::default()
        };
        assert_eq!(
            us.normalise(IdentityKind::Phone, "(201) 555-0123")
                .unwrap()
                .value,
            "+12015550123"
        );
        assert_eq!(phone("+1 201 555 0123").unwrap(), "+12015550123");
    }

    #[test]
    fn garbage_phones_are_refused() {
        assert!(matches!(
            phone("12345"),
            Err(IdentityError::InvalidPhone(_))
        ));
        assert!(matches!(
            phone("hello"),
            Err(IdentityError::InvalidPhone(_))
        ));
        assert_eq!(phone("   "), Err(IdentityError::Empty));
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        let rules = IdentityRules::default();
        assert_eq!(
            rules
                .normalise(IdentityKind::Email, " Li.Wei@Example.COM ")
                .unwrap()
                .value,
            "li.wei@example.com"
        );
        for bad in ["no-at-sign", "a@b", "a@@b.com", "a b@c.com", "@c.com"] {
            assert_eq!(
                rules.normalise(IdentityKind::Email, bad),
                Err(IdentityError::InvalidEmail),
                "{bad}"
            );
        }
    }

    #[test]
    fn look_alikes_with_invisible_or_compatibility_characters_are_one_identity() {
        let rules = IdentityRules::default();
        let nick = |raw: &str| rules.normalise(IdentityKind::TmallNick, raw).unwrap().value;
        for raw in [
            "yan\u{200B}tao",
            "\u{202E}yantao",
            "yantao\u{FEFF}",
            "ｙａｎｔａｏ",
            "\u{00A0}yantao",
        ] {
            assert_eq!(nick(raw), "yantao", "{raw:?}");
        }
        assert_eq!(phone("１３８００１３８０００").unwrap(), "+8613800138000");
        assert_eq!(
            rules.normalise(IdentityKind::TmallNick, "\u{200B}\u{200D}"),
            Err(IdentityError::Empty)
        );
        assert_eq!(
            rules.normalise(IdentityKind::TmallNick, "yan\u{7}tao"),
            Err(IdentityError::ControlCharacters)
        );
    }

    #[test]
    fn account_ids_keep_their_case_and_lose_surrounding_space() {
        let id = IdentityRules::default()
            .normalise(IdentityKind::WechatOpenid, "  oAbC123 ")
            .unwrap();
        assert_eq!(id.value, "oAbC123");
        assert_eq!(Identity::from_key(&id.key()), Some(id));
    }
}
