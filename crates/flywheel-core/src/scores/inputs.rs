//! What the member-local scores read: a few counters and dates of a member's facts.
//!
//! Declared on its own so the recompute can read just these fields straight from the
//! stored facts JSON — skipping the dated signals, SKU counts and the rest — which is
//! most of the cost of scoring a million members. Field names are those of
//! [`MemberFacts`], so the same JSON deserialises into either.

use crate::facts::MemberFacts;
use crate::time::Micros;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

use super::super_user::MEMBERSHIP_PURCHASE;

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ScoreInputs {
    pub orders: u32,
    pub refunded_orders: u32,
    pub gross_spent: i64,
    pub refunded: i64,
    pub first_connected_at: Option<Micros>,
    pub last_interaction_at: Option<Micros>,
    pub last_talk_at: Option<Micros>,
    pub last_purchase_at: Option<Micros>,
    pub feedback: u32,
    pub suggestions: u32,
    pub shares: u32,
    pub referrals_converted: u32,
    #[serde(rename = "categories", deserialize_with = "count_entries")]
    pub category_count: usize,
    #[serde(rename = "sub_brands", deserialize_with = "count_entries")]
    pub sub_brand_count: usize,
    #[serde(rename = "participations", deserialize_with = "kinds_and_total")]
    pub participations: Participations,
    pub likes: u32,
    pub comments: u32,
    pub check_ins: u32,
    pub reviews: u32,
    pub reviews_positive: u32,
    pub messages_in: u32,
    pub messages_out: u32,
    pub complaints_resolved: u32,
    /// Of those, resolved within their queue's targets.
    pub complaints_resolved_in_time: u32,
    pub deposits: u32,
    /// Customer groups the member is in now.
    #[serde(deserialize_with = "open_links")]
    pub groups: OpenLinks,
    /// Shop assistants with an open WeCom contact with the member.
    #[serde(deserialize_with = "open_links")]
    pub assistants: OpenLinks,
    /// Bought the paid membership (a `membership_purchase` event).
    #[serde(rename = "custom", deserialize_with = "has_membership")]
    pub paid_member: bool,
}

impl From<&MemberFacts> for ScoreInputs {
    fn from(f: &MemberFacts) -> ScoreInputs {
        ScoreInputs {
            orders: f.orders,
            refunded_orders: f.refunded_orders,
            gross_spent: f.gross_spent,
            refunded: f.refunded,
            first_connected_at: f.first_connected_at,
            last_interaction_at: f.last_interaction_at,
            last_talk_at: f.last_talk_at,
            last_purchase_at: f.last_purchase_at,
            feedback: f.feedback,
            suggestions: f.suggestions,
            shares: f.shares,
            referrals_converted: f.referrals_converted,
            category_count: f.categories.len(),
            sub_brand_count: f.sub_brands.len(),
            participations: Participations {
                kinds: f.participations.len(),
                total: f.participations.values().map(|n| u64::from(*n)).sum(),
            },
            likes: f.likes,
            comments: f.comments,
            check_ins: f.check_ins,
            reviews: f.reviews,
            reviews_positive: f.reviews_positive,
            messages_in: f.messages_in,
            messages_out: f.messages_out,
            complaints_resolved: f.complaints_resolved,
            complaints_resolved_in_time: f.complaints_resolved_in_time,
            deposits: f.deposits,
            groups: OpenLinks::of(&f.groups),
            assistants: OpenLinks::of(&f.assistants),
            paid_member: f.custom.get(MEMBERSHIP_PURCHASE).copied().unwrap_or(0) > 0,
        }
    }
}

impl ScoreInputs {
    /// Orders that still stand (not refunded in full).
    pub fn purchase_count(&self) -> u32 {
        self.orders.saturating_sub(self.refunded_orders)
    }

    /// Net spend in minor units.
    pub fn net_spent(&self) -> i64 {
        self.gross_spent - self.refunded
    }

    /// As [`MemberFacts::last_engaged_at`].
    pub fn last_engaged_at(&self) -> Option<Micros> {
        self.last_purchase_at
            .max(self.last_interaction_at)
            .or(self.first_connected_at)
    }
}

/// The number of entries of a JSON object, without keeping them.
fn count_entries<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = usize;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
            let mut n = 0;
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                n += 1;
            }
            Ok(n)
        }
    }
    d.deserialize_map(Count)
}

/// Open links (groups, assistants): how many, and the latest join among them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenLinks {
    pub open: u32,
    pub last_joined: Option<Micros>,
}

impl OpenLinks {
    fn of(links: &crate::link::Links) -> OpenLinks {
        OpenLinks {
            open: crate::link::open(links).count() as u32,
            last_joined: crate::link::last_joined(links),
        }
    }
}

fn open_links<'de, D: Deserializer<'de>>(d: D) -> Result<OpenLinks, D::Error> {
    Ok(OpenLinks::of(&crate::link::Links::deserialize(d)?))
}

/// Participations in activities: how many kinds, and how many in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Participations {
    pub kinds: usize,
    pub total: u64,
}

fn kinds_and_total<'de, D: Deserializer<'de>>(d: D) -> Result<Participations, D::Error> {
    let map = BTreeMap::<String, u64>::deserialize(d)?;
    Ok(Participations {
        kinds: map.len(),
        total: map.values().sum(),
    })
}

fn has_membership<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let custom = BTreeMap::<String, u32>::deserialize(d)?;
    Ok(custom.get(MEMBERSHIP_PURCHASE).copied().unwrap_or(0) > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_the_stored_json_gives_what_the_facts_give() {
        let mut f = MemberFacts {
            orders: 5,
            refunded_orders: 1,
            gross_spent: 9_000,
            refunded: 1_000,
            last_purchase_at: Some(77),
            likes: 3,
            messages_in: 2,
            ..MemberFacts::default()
        };
        f.categories.insert("tea".into(), 3);
        f.categories.insert("coffee".into(), 1);
        f.participations.insert("tasting".into(), 2);
        f.custom.insert(MEMBERSHIP_PURCHASE.into(), 1);
        f.skus.insert("X".into(), 9);
        let json = serde_json::to_string(&f).unwrap();
        let read: ScoreInputs = serde_json::from_str(&json).unwrap();
        assert_eq!(read, ScoreInputs::from(&f));
        assert_eq!(
            (read.category_count, read.participations, read.paid_member),
            (2, Participations { kinds: 1, total: 2 }, true)
        );
        assert_eq!((read.purchase_count(), read.net_spent()), (4, 8_000));
    }
}
