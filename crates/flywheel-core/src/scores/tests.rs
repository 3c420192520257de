//! Crafted members whose scores must come out in the right order, with explanations
//! that name what earned them.

use super::*;
use crate::facts::MemberFacts;
use crate::money::Money;
use crate::time::{DAY, Micros};

const NOW: Micros = 20_000 * DAY;

fn buyer(orders: u32, last_days_ago: i64, categories: &[&str]) -> MemberFacts {
    MemberFacts {
        orders,
        gross_spent: i64::from(orders) * 10_000,
        first_purchase_at: Some(NOW - 400 * DAY),
        last_purchase_at: Some(NOW - last_days_ago * DAY),
        first_connected_at: Some(NOW - 500 * DAY),
        categories: categories.iter().map(|c| (c.to_string(), 1)).collect(),
        ..MemberFacts::default()
    }
}

#[test]
fn super_user_score_ranks_the_four_criteria_and_the_membership() {
    let policy = ScorePolicy::default();
    let mut champion = buyer(8, 3, &["tea", "coffee", "ware"]);
    champion.feedback = 3;
    champion.suggestions = 3;
    champion.shares = 6;
    champion.referrals_converted = 2;
    champion.custom.insert("membership_purchase".into(), 1);
    let mut potential = champion.clone();
    potential.custom.clear();
    let regular = buyer(4, 20, &["tea"]);
    let lapsed = buyer(4, 400, &["tea"]);
    let once = buyer(1, 5, &["tea"]);
    let scores: Vec<Score> = [&champion, &potential, &regular, &lapsed, &once]
        .iter()
        .map(|f| super_user::score(&ScoreInputs::from(*f), &policy, NOW))
        .collect();
    for pair in scores.windows(2) {
        assert!(
            pair[0].score > pair[1].score,
            "{:?}",
            scores.iter().map(|s| s.score).collect::<Vec<_>>()
        );
    }
    assert!(scores[0].score > 90.0, "{}", scores[0].explanation);
    let potential = &scores[1];
    assert!(
        potential
            .explanation
            .contains("came back to buy 7 times, last 3 days ago"),
        "{}",
        potential.explanation
    );
    assert!(
        potential.explanation.contains("Missing: not a paid member"),
        "{}",
        potential.explanation
    );
    assert!(
        scores[3].explanation.contains("last 400 days ago"),
        "{}",
        scores[3].explanation
    );
    // The parts add up to the score (weights sum to 100).
    let sum: f64 = scores[2].parts.iter().map(|p| p.points).sum();
    assert!((sum - scores[2].score).abs() < 0.3, "{scores:?}");
}

#[test]
fn weights_are_relative_and_a_zero_weight_drops_a_part() {
    let mut policy = ScorePolicy {
        super_user: SuperUserWeights {
            repurchase: 1.0,
            feedback: 0.0,
            advocacy: 0.0,
            system_purchase: 0.0,
            paid_membership: 0.0,
        },
        ..ScorePolicy::default()
    };
    policy.validate().unwrap();
    let s = super_user::score(&ScoreInputs::from(&buyer(6, 0, &["tea"])), &policy, NOW);
    assert_eq!(s.score, 100.0);
    policy.super_user.repurchase = 0.0;
    assert!(policy.validate().unwrap_err().contains("scores.super_user"));
    policy.super_user.repurchase = -1.0;
    assert!(
        policy
            .validate()
            .unwrap_err()
            .contains("scores.super_user.repurchase")
    );
}

#[test]
fn influence_counts_audience_content_and_the_referral_tree() {
    let policy = ScorePolicy::default();
    let mut kol = MemberFacts {
        likes: 80,
        reviews_positive: 6,
        shares: 30,
        ..MemberFacts::default()
    };
    let tree = ReferralTree {
        by_depth: [4, 6, 2],
        net_spend: Money::from_minor(2_500_000),
    };
    let k = influence::score(&ScoreInputs::from(&kol), Some(120_000), &tree, &policy);
    kol.likes = 10;
    let no_tree = ReferralTree::default();
    let sharer = influence::score(&ScoreInputs::from(&kol), Some(300), &no_tree, &policy);
    let quiet = influence::score(&ScoreInputs::default(), None, &no_tree, &policy);
    assert!(k.score > sharer.score && sharer.score > quiet.score);
    assert_eq!(quiet.score, 0.0);
    assert!(
        k.explanation.contains("has 120000 followers"),
        "{}",
        k.explanation
    );
    assert!(
        k.explanation
            .contains("invited 4 people and 8 more through them, who spent 25000.00"),
        "{}",
        k.explanation
    );
    assert!(quiet.explanation.ends_with("nothing yet. Missing: no likes, check-ins or participations; no positive reviews; no shares; no followers on record; has not brought anyone in."), "{}", quiet.explanation);
}

/// Seed 004's favour (喜欢) is likes, check-ins and taking part: a member who never
/// likes a post but checks in and joins activities is favoured as much.
#[test]
fn favour_counts_check_ins_and_participations_as_well_as_likes() {
    let policy = ScorePolicy::default();
    let liker = MemberFacts {
        likes: 20,
        ..MemberFacts::default()
    };
    let regular = MemberFacts {
        check_ins: 12,
        participations: [("masterclass".to_string(), 8)].into(),
        ..MemberFacts::default()
    };
    let none = ReferralTree::default();
    let a = influence::score(&ScoreInputs::from(&liker), None, &none, &policy);
    let b = influence::score(&ScoreInputs::from(&regular), None, &none, &policy);
    assert_eq!(a.score, b.score);
    assert!(
        b.explanation
            .contains("checked in 12 times, took part 8 times"),
        "{}",
        b.explanation
    );
}

#[test]
fn intimacy_needs_both_sides_variety_and_time_and_fades_with_silence() {
    let policy = ScorePolicy::default();
    let close = MemberFacts {
        messages_in: 12,
        messages_out: 10,
        complaints_resolved: 1,
        last_talk_at: Some(NOW - 2 * DAY),
        likes: 3,
        check_ins: 5,
        reviews: 2,
        orders: 4,
        participations: [("tasting".to_string(), 2), ("workshop".to_string(), 1)].into(),
        last_interaction_at: Some(NOW - 2 * DAY),
        first_connected_at: Some(NOW - 800 * DAY),
        ..MemberFacts::default()
    };
    // The same history, silent for half a year.
    let faded = MemberFacts {
        last_talk_at: Some(NOW - 180 * DAY),
        last_interaction_at: Some(NOW - 180 * DAY),
        ..close.clone()
    };
    // Talks at the brand, never heard back.
    let one_way = MemberFacts {
        messages_in: 30,
        messages_out: 0,
        last_talk_at: Some(NOW - 2 * DAY),
        first_connected_at: Some(NOW - 30 * DAY),
        ..MemberFacts::default()
    };
    let c = intimacy::score(&ScoreInputs::from(&close), &policy, NOW);
    let f = intimacy::score(&ScoreInputs::from(&faded), &policy, NOW);
    let o = intimacy::score(&ScoreInputs::from(&one_way), &policy, NOW);
    assert!(
        c.score > 90.0 && c.score > f.score && f.score > o.score,
        "{} {} {}",
        c.score,
        f.score,
        o.score
    );
    // Half a year is two half-lives: talk keeps a quarter of what it had.
    let talk = |s: &Score| s.parts.iter().find(|p| p.name == "talk").unwrap().points;
    assert!(
        (talk(&f) / talk(&c) - 0.25).abs() < 0.01,
        "{} {}",
        talk(&f),
        talk(&c)
    );
    assert_eq!(talk(&o), 0.0);
    assert!(
        c.explanation
            .contains("7 kinds of shared experience; last 2 days ago"),
        "{}",
        c.explanation
    );
    assert!(
        o.explanation.contains("30 messages in, 0 out"),
        "{}",
        o.explanation
    );
}

#[test]
fn the_referral_tree_goes_three_deep_and_counts_everyone_once() {
    use std::collections::HashMap;
    // 1 → 2, 3; 2 → 4; 4 → 5; 5 → 6 (too deep); 3 → 1 (a cycle back to the root); 4 → 3.
    let edges: HashMap<i64, Vec<i64>> = [
        (1, vec![2, 3]),
        (2, vec![4]),
        (4, vec![5, 3]),
        (5, vec![6]),
        (3, vec![1]),
    ]
    .into();
    let tree = influence::referral_tree(
        1,
        |m| edges.get(&m).map(Vec::as_slice).unwrap_or(&[]),
        |m| Money::from_minor(m * 100),
    );
    assert_eq!(tree.by_depth, [2, 1, 1]);
    assert_eq!(tree.net_spend, Money::from_minor((2 + 3 + 4 + 5) * 100));
}
