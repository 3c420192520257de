//! Roughly how much memory a cached member, order, referral or identity owner holds, so
//! that the store's member cache can be bounded in bytes rather than in entries: members
//! differ by two orders of magnitude (a first-time visitor against a super user with a
//! hundred SKUs and a year of dated signals), so a bound in members alone cannot promise
//! a process size.
//!
//! The figures are estimates, not measurements: each heap allocation is counted as its
//! length plus a fixed overhead (the allocator's rounding and header), and each entry of
//! a B-tree map or set as its key and value plus a share of the node. They were checked
//! against the process's resident set (bench/PROFILE.md): what matters is that they grow
//! as the real size does, and are not far below it.

use super::{MemberState, OrderState, ReferralState};
use crate::facts::{MemberFacts, Signal, SignalKind};
use crate::identity::Identity;
use crate::points::{EarningView, Lot, PeriodUsage};
use crate::profile::Profile;
use std::collections::BTreeMap;

/// Overhead of one heap allocation beyond its length (rounding to the size class).
const ALLOCATION: usize = 16;
/// A B-tree entry's share of its node beyond its key and value (nodes are about two
/// thirds full, and carry lengths and parent links).
const TREE_ENTRY: usize = 24;
/// A hash-map entry's share of its table beyond its key and value (control bytes, and
/// the table kept at most seven eighths full).
pub const HASH_ENTRY: usize = 16;

/// Approximate bytes held in memory by a value, its own size included.
pub trait Footprint {
    fn footprint(&self) -> usize;
}

fn text(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        s.len() + ALLOCATION
    }
}

fn counts(map: &BTreeMap<String, u32>) -> usize {
    map.keys()
        .map(|k| size_of::<(String, u32)>() + TREE_ENTRY + text(k))
        .sum()
}

fn texts(list: &[String]) -> usize {
    let items: usize = list.iter().map(|s| size_of::<String>() + text(s)).sum();
    if list.is_empty() {
        0
    } else {
        items + ALLOCATION
    }
}

impl Footprint for Identity {
    fn footprint(&self) -> usize {
        size_of::<Identity>() + text(&self.value)
    }
}

impl Footprint for Signal {
    fn footprint(&self) -> usize {
        size_of::<Signal>()
            + match &self.kind {
                SignalKind::Purchase {
                    order_id,
                    categories,
                    sub_brands,
                    ..
                } => text(order_id) + texts(categories) + texts(sub_brands),
                SignalKind::Participation { kind } => text(kind),
                SignalKind::ConvertedReferral
                | SignalKind::Feedback
                | SignalKind::PositiveReview => 0,
            }
    }
}

impl Footprint for MemberFacts {
    fn footprint(&self) -> usize {
        let recent: usize = self.recent.iter().map(Footprint::footprint).sum();
        let complaints: usize = self
            .open_complaints
            .iter()
            .map(|c| size_of_val(c) + text(&c.event_id))
            .sum();
        size_of::<MemberFacts>()
            + counts(&self.categories)
            + counts(&self.sub_brands)
            + counts(&self.skus)
            + counts(&self.participations)
            + counts(&self.custom)
            + counts(&self.channels)
            + recent
            + complaints
            + if self.interaction_days.is_empty() {
                0
            } else {
                ALLOCATION + self.interaction_days.capacity() * size_of::<(i64, u32)>()
            }
            + if self.recent.is_empty() {
                0
            } else {
                ALLOCATION
            }
    }
}

impl Footprint for Profile {
    fn footprint(&self) -> usize {
        let optional = [
            &self.name,
            &self.gender,
            &self.birthday,
            &self.city,
            &self.occupation,
        ]
        .into_iter()
        .flatten()
        .map(|s| text(s))
        .sum::<usize>();
        let nicknames: usize = self
            .nicknames
            .iter()
            .map(|(k, v)| size_of::<(String, String)>() + TREE_ENTRY + text(k) + text(v))
            .sum();
        let dated: usize = self
            .updated_at
            .keys()
            .map(|k| size_of::<(String, i64)>() + TREE_ENTRY + text(k))
            .sum();
        size_of::<Profile>() + optional + nicknames + dated
    }
}

impl Footprint for MemberState {
    fn footprint(&self) -> usize {
        let identities: usize = self
            .identities
            .iter()
            .map(|i| i.footprint() + TREE_ENTRY)
            .sum();
        // The facts and profile are inline in the state; count their heap parts only.
        size_of::<MemberState>() + self.facts.footprint() - size_of::<MemberFacts>()
            + self.profile.footprint()
            - size_of::<Profile>()
            + identities
    }
}

impl Footprint for OrderState {
    fn footprint(&self) -> usize {
        size_of::<OrderState>()
            + text(&self.order_id)
            + self.purchase_event_id.as_deref().map_or(0, text)
    }
}

impl Footprint for ReferralState {
    fn footprint(&self) -> usize {
        size_of::<ReferralState>()
            + text(&self.event_id)
            + text(&self.status)
            + self
                .fingerprint
                .iter()
                .map(String::footprint)
                .sum::<usize>()
            + self.hold_reason.as_deref().map_or(0, text)
    }
}

impl Footprint for String {
    fn footprint(&self) -> usize {
        size_of::<String>() + text(self)
    }
}

impl Footprint for i64 {
    fn footprint(&self) -> usize {
        size_of::<i64>()
    }
}

impl<T: Footprint> Footprint for Option<T> {
    fn footprint(&self) -> usize {
        match self {
            Some(value) => size_of::<Option<T>>() - size_of::<T>() + value.footprint(),
            None => size_of::<Option<T>>(),
        }
    }
}

impl<T: Footprint> Footprint for Vec<T> {
    fn footprint(&self) -> usize {
        let items: usize = self.iter().map(Footprint::footprint).sum();
        size_of::<Vec<T>>() + items + if self.is_empty() { 0 } else { ALLOCATION }
    }
}

impl Footprint for Lot {
    fn footprint(&self) -> usize {
        size_of::<Lot>()
            + text(&self.id)
            + text(&self.programme)
            + self.order_id.as_deref().map_or(0, text)
    }
}

impl Footprint for EarningView {
    fn footprint(&self) -> usize {
        // The lots are inline in the vector; the vector inline in the view.
        size_of::<EarningView>() - size_of::<Vec<Lot>>()
            + text(&self.programme)
            + self.loose.footprint()
            + if self.orders_due.is_empty() {
                0
            } else {
                ALLOCATION + self.orders_due.capacity() * size_of::<i64>()
            }
    }
}

impl Footprint for PeriodUsage {
    fn footprint(&self) -> usize {
        let periods: usize = self
            .periods
            .iter()
            .map(|p| size_of::<String>() + TREE_ENTRY + text(p))
            .sum();
        let rows: usize = self
            .rows
            .iter()
            .map(|(rule, period, _)| {
                size_of::<(String, String, crate::points::Usage)>() + text(rule) + text(period)
            })
            .sum();
        size_of::<PeriodUsage>()
            + periods
            + rows
            + if self.rows.is_empty() { 0 } else { ALLOCATION }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Signal;
    use crate::identity::IdentityKind;

    #[test]
    fn a_member_costs_more_with_every_thing_it_holds() {
        let bare = MemberState::new(1, 0);
        let base = bare.footprint();
        assert!(base >= size_of::<MemberState>());

        let mut rich = bare.clone();
        rich.identities.insert(Identity {
            kind: IdentityKind::Phone,
            value: "+8613800000000".into(),
        });
        let with_phone = rich.footprint();
        assert!(with_phone > base + "+8613800000000".len());

        rich.facts.skus.insert("LEAF-JASMINE-MILK".into(), 3);
        let with_sku = rich.footprint();
        assert!(with_sku > with_phone + "LEAF-JASMINE-MILK".len());

        for n in 0..10 {
            rich.facts.recent.push(Signal {
                at: n,
                kind: SignalKind::Purchase {
                    order_id: format!("order-{n}"),
                    amount: 100,
                    refunded: 0,
                    categories: vec!["tea".into()],
                    sub_brands: vec![],
                },
            });
        }
        let with_history = rich.footprint();
        assert!(
            with_history > with_sku + 10 * size_of::<Signal>(),
            "{with_history} against {with_sku}"
        );
        rich.profile.city = Some("Hangzhou".into());
        assert!(rich.footprint() > with_history);
    }
}
