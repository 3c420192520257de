//! Memberships that open and close: a member's customer groups and their shop
//! assistants' WeCom contacts (issue 22). Kept as the latest join and the latest leave
//! of each, so the answer does not depend on the order the events arrive in — a leave
//! that overtakes its join still leaves the member out — and two members' links merge
//! by taking the later of each.

use crate::time::Micros;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Links kept per member and kind; beyond it, the longest closed go first.
pub const LINKS_KEPT: usize = 100;

/// One group or contact: when the member last joined and last left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// 0 when only a leave has been seen.
    #[serde(default)]
    pub joined: Micros,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<Micros>,
}

impl Link {
    /// In the group (or linked) now: joined, and not left since.
    pub fn is_open(&self) -> bool {
        self.joined > 0 && self.left.is_none_or(|left| left < self.joined)
    }
}

/// Links by the group's (or assistant's) id.
pub type Links = BTreeMap<String, Link>;

/// Record a join at `at`.
pub fn join(links: &mut Links, id: &str, at: Micros) {
    let link = links.entry(id.to_owned()).or_default();
    link.joined = link.joined.max(at);
    bound(links);
}

/// Record a leave at `at`.
pub fn leave(links: &mut Links, id: &str, at: Micros) {
    let link = links.entry(id.to_owned()).or_default();
    link.left = Some(link.left.map_or(at, |l| l.max(at)));
    bound(links);
}

/// Fold another member's links into these (a merge).
pub fn merge(into: &mut Links, from: &Links) {
    for (id, other) in from {
        let link = into.entry(id.clone()).or_default();
        link.joined = link.joined.max(other.joined);
        link.left = match (link.left, other.left) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    bound(into);
}

/// The ids of the open links, in id order.
pub fn open(links: &Links) -> impl Iterator<Item = &str> {
    links
        .iter()
        .filter(|(_, l)| l.is_open())
        .map(|(id, _)| id.as_str())
}

/// The latest join of an open link.
pub fn last_joined(links: &Links) -> Option<Micros> {
    links
        .values()
        .filter(|l| l.is_open())
        .map(|l| l.joined)
        .max()
}

fn bound(links: &mut Links) {
    while links.len() > LINKS_KEPT {
        // Closed links first, the longest closed first; then the oldest joined.
        let Some(id) = links
            .iter()
            .min_by_key(|(_, l)| (l.is_open(), l.left.unwrap_or(l.joined), l.joined))
            .map(|(id, _)| id.clone())
        else {
            break;
        };
        links.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_leaves_decide_by_their_instants_not_their_order() {
        let mut a = Links::new();
        join(&mut a, "g1", 10);
        leave(&mut a, "g1", 20);
        let mut b = Links::new();
        leave(&mut b, "g1", 20);
        join(&mut b, "g1", 10);
        assert_eq!(a, b);
        assert!(!a["g1"].is_open());
        join(&mut a, "g1", 30);
        assert!(a["g1"].is_open());
        assert_eq!(open(&a).collect::<Vec<_>>(), ["g1"]);
        assert_eq!(last_joined(&a), Some(30));
        // A leave alone is not a membership.
        let mut c = Links::new();
        leave(&mut c, "g2", 5);
        assert_eq!(open(&c).count(), 0);
        merge(&mut c, &a);
        assert_eq!(open(&c).collect::<Vec<_>>(), ["g1"]);
    }

    #[test]
    fn a_member_keeps_at_most_the_bound_and_drops_closed_links_first() {
        let mut links = Links::new();
        for i in 0..LINKS_KEPT {
            join(&mut links, &format!("open{i:03}"), 100 + i as i64);
        }
        join(&mut links, "closed", 1);
        leave(&mut links, "closed", 2);
        assert_eq!(links.len(), LINKS_KEPT);
        assert!(!links.contains_key("closed"));
        join(&mut links, "newest", 1_000);
        assert!(links.contains_key("newest"));
        assert!(!links.contains_key("open000"));
    }
}
