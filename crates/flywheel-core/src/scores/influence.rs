//! Influence (seed 004's social attributes): how much a member's word moves others —
//! their favour (seed 004's 喜欢: likes, check-ins and taking part in activities),
//! positive reviews, shares, followers (a KOL's audience), and the referral tree they
//! grew: people they invited, the people those invited (to depth three), and what all of
//! them have spent.
//!
//! Followers count on a log scale — each tenfold more audience adds the same — not by
//! Metcalfe's n². Metcalfe values a network by the links *among* its members, which
//! grow as n²; a member's followers are a star around one person, whose reach grows with
//! n at most, and whose attention per follower falls as the audience grows (a post seen
//! by a million is acted on by a far smaller share than one seen by a hundred). n² would
//! also let one celebrity outweigh every other part of every other member's score; the
//! log keeps a million followers worth a lot (seed 004: worth more than a steady buyer)
//! without drowning the rest.

use super::inputs::ScoreInputs;
use super::part::{Part, Score, Words, part, plural, saturate, total};
use super::policy::ScorePolicy;
use crate::ingest::MemberId;
use crate::money::Money;
use serde::Serialize;
use std::collections::HashSet;

/// Likes, check-ins and participations together for full marks on favour.
const FAVOUR_TARGET: f64 = 50.0;
const POSITIVE_REVIEWS_TARGET: f64 = 5.0;
const SHARES_TARGET: f64 = 20.0;
/// Followers for full marks, on a log scale: 10 followers earn a fifth, 100,000 all.
const FOLLOWERS_DECADES: f64 = 5.0;
/// Invitees for full marks on reach (indirect ones count half, depth three a quarter).
const TREE_REACH_TARGET: f64 = 10.0;
/// Decades of the invitees' spend in major units for full marks (100,000 → all).
const TREE_SPEND_DECADES: f64 = 5.0;

/// The referral tree below a member, to depth three. Invitees are people whose first
/// referral named this member (or, further down, an invitee) and who were not already
/// customers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReferralTree {
    /// Invitees at depth 1, 2 and 3.
    pub by_depth: [u32; 3],
    /// Net spend of every invitee in the tree.
    #[serde(with = "crate::money::text")]
    pub net_spend: Money,
}

impl ReferralTree {
    pub fn direct(&self) -> u32 {
        self.by_depth[0]
    }

    pub fn indirect(&self) -> u32 {
        self.by_depth[1] + self.by_depth[2]
    }
}

/// The score with its parts and explanation.
pub fn score(
    m: &ScoreInputs,
    followers: Option<u64>,
    tree: &ReferralTree,
    policy: &ScorePolicy,
) -> Score {
    Score::from_parts(
        "Influence",
        parts(m, followers, tree, policy, Words::Explain),
    )
}

/// The score alone.
pub fn points(
    m: &ScoreInputs,
    followers: Option<u64>,
    tree: &ReferralTree,
    policy: &ScorePolicy,
) -> f64 {
    total(&parts(m, followers, tree, policy, Words::NumbersOnly))
}

fn parts(
    m: &ScoreInputs,
    followers: Option<u64>,
    tree: &ReferralTree,
    policy: &ScorePolicy,
    words: Words,
) -> Vec<Part> {
    let w = &policy.influence;
    vec![
        part(
            "favour",
            w.favour,
            saturate(favour(m) as f64, FAVOUR_TARGET),
            words,
            || {
                let mut said = Vec::new();
                if m.likes > 0 {
                    said.push(format!(
                        "liked {}",
                        plural(u64::from(m.likes), "post", "posts")
                    ));
                }
                if m.check_ins > 0 {
                    said.push(format!(
                        "checked in {}",
                        plural(u64::from(m.check_ins), "time", "times")
                    ));
                }
                if m.participations.total > 0 {
                    said.push(format!(
                        "took part {}",
                        plural(m.participations.total, "time", "times")
                    ));
                }
                if said.is_empty() {
                    "no likes, check-ins or participations".into()
                } else {
                    said.join(", ")
                }
            },
        ),
        part(
            "positive_reviews",
            w.positive_reviews,
            saturate(f64::from(m.reviews_positive), POSITIVE_REVIEWS_TARGET),
            words,
            || {
                if m.reviews_positive == 0 {
                    "no positive reviews".into()
                } else {
                    let n = u64::from(m.reviews_positive);
                    format!("wrote {}", plural(n, "positive review", "positive reviews"))
                }
            },
        ),
        part(
            "shares",
            w.shares,
            saturate(f64::from(m.shares), SHARES_TARGET),
            words,
            || {
                if m.shares == 0 {
                    "no shares".into()
                } else {
                    format!("shared {}", plural(u64::from(m.shares), "time", "times"))
                }
            },
        ),
        followers_part(followers, w.followers, words),
        tree_part(tree, w.referral_tree, words),
    ]
}

/// Favour as seed 004 counts it: likes, check-ins and participations.
fn favour(m: &ScoreInputs) -> u64 {
    u64::from(m.likes) + u64::from(m.check_ins) + m.participations.total
}

fn followers_part(followers: Option<u64>, weight: f64, words: Words) -> Part {
    let n = followers.unwrap_or(0);
    let value = ((n as f64) + 1.0).log10() / FOLLOWERS_DECADES;
    part("followers", weight, value, words, || match followers {
        None | Some(0) => "no followers on record".into(),
        Some(n) => format!("has {}", plural(n, "follower", "followers")),
    })
}

/// Half for reach (how many were brought in), half for what they spent.
fn tree_part(tree: &ReferralTree, weight: f64, words: Words) -> Part {
    let [d1, d2, d3] = tree.by_depth.map(f64::from);
    let reach = saturate(d1 + 0.5 * d2 + 0.25 * d3, TREE_REACH_TARGET);
    let spend_major = tree.net_spend.minor().max(0) as f64 / 100.0;
    let spend = ((spend_major + 1.0).log10() / TREE_SPEND_DECADES).clamp(0.0, 1.0);
    part(
        "referral_tree",
        weight,
        0.5 * reach + 0.5 * spend,
        words,
        || {
            let direct = plural(u64::from(tree.direct()), "person", "people");
            if tree.direct() == 0 {
                "has not brought anyone in".into()
            } else if tree.indirect() == 0 {
                format!("invited {direct} who spent {}", tree.net_spend)
            } else {
                format!(
                    "invited {direct} and {} more through them, who spent {}",
                    tree.indirect(),
                    tree.net_spend
                )
            }
        },
    )
}

/// The tree below `root` to depth three, breadth first, each invitee counted once at the
/// shallowest depth it appears (referral cycles and repeats cannot inflate it).
/// `invitees(m)` lists the people `m` brought in; `net_spend(m)` is their net spend.
pub fn referral_tree<'a>(
    root: MemberId,
    invitees: impl Fn(MemberId) -> &'a [MemberId],
    net_spend: impl Fn(MemberId) -> Money,
) -> ReferralTree {
    let mut tree = ReferralTree::default();
    if invitees(root).is_empty() {
        return tree; // most members brought nobody in
    }
    let mut seen: HashSet<MemberId> = HashSet::from([root]);
    let mut level = vec![root];
    let mut spend = 0i64;
    for depth in 0..3 {
        let mut next = Vec::new();
        for &m in &level {
            for &invitee in invitees(m) {
                if seen.insert(invitee) {
                    next.push(invitee);
                    spend += net_spend(invitee).minor();
                }
            }
        }
        tree.by_depth[depth] = next.len() as u32;
        level = next;
    }
    tree.net_spend = Money::from_minor(spend);
    tree
}
