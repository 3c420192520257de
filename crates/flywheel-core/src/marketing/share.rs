//! Tracked shares (seeds 002 and 004 reward a share by its forwards, reads and the new
//! buyers it brings): a member's share carries a link of its own, and the link counts
//! what it caused — clicks, distinct readers, buyers and new buyers. Rewards sit at
//! thresholds: when a count reaches one a `share_milestone` rule names, the sharer gets a
//! `share_milestone` event, and the rule pays on it like any earning rule (limits,
//! budget, pending days, the ledger's explanation).
//!
//! This module owns the measures, the milestone a count reaches, and the event that
//! tells the engine; the store keeps the counts (`share_links`), the API the public
//! redirect that counts clicks and readers.

use crate::ErrorCode;
use crate::validation::FieldError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// The event type (and rule trigger) of a link reaching a milestone.
pub const SHARE_MILESTONE: &str = "share_milestone";

/// The most a milestone may ask of a count.
pub const MAX_MILESTONE: u32 = 1_000_000;

/// What a tracked link counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareMeasure {
    /// Every visit of the link.
    Clicks,
    /// Distinct browsers that opened it.
    Readers,
    /// Distinct members who bought with the link's token (not the sharer).
    Buyers,
    /// Of those, the ones for whom it was their first purchase.
    NewBuyers,
}

impl ShareMeasure {
    pub const ALL: [ShareMeasure; 4] = [
        ShareMeasure::Clicks,
        ShareMeasure::Readers,
        ShareMeasure::Buyers,
        ShareMeasure::NewBuyers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShareMeasure::Clicks => "clicks",
            ShareMeasure::Readers => "readers",
            ShareMeasure::Buyers => "buyers",
            ShareMeasure::NewBuyers => "new_buyers",
        }
    }

    pub fn parse(text: &str) -> Option<ShareMeasure> {
        ShareMeasure::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

impl fmt::Display for ShareMeasure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A threshold on one measure: "10 readers".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    pub measure: ShareMeasure,
    pub at: u32,
}

impl Milestone {
    /// The milestone's event id for a link: one per link and milestone, so a milestone
    /// sent twice (a retry, two processes) pays once.
    pub fn event_id(self, token: &str) -> String {
        format!("share-milestone:{token}:{}:{}", self.measure, self.at)
    }

    pub fn check(self, field: &str) -> Result<(), FieldError> {
        if (1..=MAX_MILESTONE).contains(&self.at) {
            Ok(())
        } else {
            Err(FieldError::new(
                format!("{field}.at"),
                ErrorCode::OutOfRange,
                format!("{field}.at must be from 1 to {MAX_MILESTONE}"),
            ))
        }
    }
}

/// What a link has counted so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareCounts {
    pub clicks: u64,
    pub readers: u64,
    pub buyers: u64,
    pub new_buyers: u64,
}

impl ShareCounts {
    pub fn get(&self, measure: ShareMeasure) -> u64 {
        match measure {
            ShareMeasure::Clicks => self.clicks,
            ShareMeasure::Readers => self.readers,
            ShareMeasure::Buyers => self.buyers,
            ShareMeasure::NewBuyers => self.new_buyers,
        }
    }

    /// The milestones of `wanted` these counts have reached and `paid` does not hold yet,
    /// in order.
    pub fn due(&self, wanted: &BTreeSet<Milestone>, paid: &BTreeSet<Milestone>) -> Vec<Milestone> {
        wanted
            .iter()
            .filter(|m| self.get(m.measure) >= u64::from(m.at) && !paid.contains(m))
            .copied()
            .collect()
    }
}

/// Whether `text` can be a link token: 8–64 of `[A-Za-z0-9_-]` (what the store makes
/// is 22 such characters; a bound keeps forged ones out of the tables).
pub fn is_token(text: &str) -> bool {
    (8..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A link a member may share: an absolute http(s) URL of at most 2,000 characters.
pub fn check_url(field: &str, url: &str) -> Result<(), FieldError> {
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    let host = url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    if !scheme_ok || host.is_empty() || host.starts_with('/') {
        return Err(FieldError::new(
            field,
            ErrorCode::InvalidValue,
            format!("{field} must be an absolute http:// or https:// URL"),
        ));
    }
    if url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            field,
            ErrorCode::InvalidValue,
            format!("{field} must be at most 2000 characters with no spaces"),
        ));
    }
    Ok(())
}

/// The shared URL with the link's token added as `fw_share`, so the shop the reader
/// lands in can send it back on the order (`properties.share_token`).
pub fn landing_url(url: &str, token: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let joiner = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let mut out = format!("{base}{joiner}fw_share={token}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(measure: ShareMeasure, at: u32) -> Milestone {
        Milestone { measure, at }
    }

    #[test]
    fn due_milestones_are_the_reached_ones_not_yet_paid() {
        let counts = ShareCounts {
            clicks: 12,
            readers: 9,
            buyers: 1,
            new_buyers: 0,
        };
        let wanted: BTreeSet<_> = [
            m(ShareMeasure::Clicks, 10),
            m(ShareMeasure::Readers, 10),
            m(ShareMeasure::Readers, 5),
            m(ShareMeasure::Buyers, 1),
            m(ShareMeasure::NewBuyers, 1),
        ]
        .into();
        let paid: BTreeSet<_> = [m(ShareMeasure::Readers, 5)].into();
        assert_eq!(
            counts.due(&wanted, &paid),
            vec![m(ShareMeasure::Clicks, 10), m(ShareMeasure::Buyers, 1)]
        );
    }

    #[test]
    fn the_landing_url_keeps_query_and_fragment() {
        assert_eq!(
            landing_url("https://shop.example/p/1", "abcdefgh"),
            "https://shop.example/p/1?fw_share=abcdefgh"
        );
        assert_eq!(
            landing_url("https://shop.example/p?id=1#top", "abcdefgh"),
            "https://shop.example/p?id=1&fw_share=abcdefgh#top"
        );
        assert_eq!(
            landing_url("https://shop.example/p?", "abcdefgh"),
            "https://shop.example/p?fw_share=abcdefgh"
        );
    }

    #[test]
    fn urls_and_tokens_are_bounded() {
        assert!(check_url("url", "https://shop.example/x").is_ok());
        assert!(check_url("url", "javascript:alert(1)").is_err());
        assert!(check_url("url", "https:///nohost").is_err());
        assert!(check_url("url", "https://a b").is_err());
        assert!(is_token("Ab3_-xyz"));
        assert!(!is_token("short"));
        assert!(!is_token("has space in it"));
        assert_eq!(
            m(ShareMeasure::NewBuyers, 3).event_id("tok12345"),
            "share-milestone:tok12345:new_buyers:3"
        );
    }
}
