//! The super-user score (seed 003): a super user comes back to buy, and recently; tells
//! the brand what they think; brings others in; buys across the range; and pays to
//! belong. Until membership tiers exist, "pays to belong" is any `membership_purchase`
//! event.

use super::part::{Part, Score, days_ago, decay, part, plural, saturate, silence};
use super::policy::ScorePolicy;
use crate::facts::MemberFacts;
use crate::time::Micros;

/// The custom event type that marks a paid membership.
pub const MEMBERSHIP_PURCHASE: &str = "membership_purchase";

/// Repeat purchases for full marks on repurchase (before decay).
const REPEATS_TARGET: f64 = 5.0;
/// Feedback (suggestions counting double) for full marks.
const FEEDBACK_TARGET: f64 = 6.0;
/// Shares plus five per converted referral, for full marks on advocacy.
const ADVOCACY_TARGET: f64 = 15.0;

pub fn is_paid_member(facts: &MemberFacts) -> bool {
    facts.custom.get(MEMBERSHIP_PURCHASE).copied().unwrap_or(0) > 0
}

pub fn score(facts: &MemberFacts, policy: &ScorePolicy, now: Micros) -> Score {
    let w = &policy.super_user;
    let parts: Vec<Part> = vec![
        repurchase(facts, w.repurchase, policy.half_life_days, now),
        feedback(facts, w.feedback),
        advocacy(facts, w.advocacy),
        system_purchase(facts, w.system_purchase),
        paid_membership(facts, w.paid_membership),
    ];
    Score::from_parts("Super user", parts)
}

/// Repeat orders (beyond the first, refunded-in-full ones left out), worth less the
/// longer since the last purchase: half after one half-life of silence.
fn repurchase(facts: &MemberFacts, weight: f64, half_life: f64, now: Micros) -> Part {
    let repeats = facts.purchase_count().saturating_sub(1);
    let Some(last) = facts.last_purchase_at else {
        return part("repurchase", weight, 0.0, "no purchase yet".into());
    };
    let value =
        saturate(f64::from(repeats), REPEATS_TARGET) * decay(silence(Some(last), now), half_life);
    let detail = if repeats == 0 {
        format!("bought once, {} days ago", days_ago(last, now))
    } else {
        format!(
            "came back to buy {}, last {} days ago",
            plural(u64::from(repeats), "time", "times"),
            days_ago(last, now)
        )
    };
    part("repurchase", weight, value, detail)
}

fn feedback(facts: &MemberFacts, weight: f64) -> Part {
    let others = facts.feedback.saturating_sub(facts.suggestions);
    let value = saturate(
        f64::from(facts.feedback + facts.suggestions),
        FEEDBACK_TARGET,
    );
    let detail = match (facts.suggestions, others) {
        (0, 0) => "no feedback or suggestions".into(),
        (s, 0) => format!("made {}", plural(u64::from(s), "suggestion", "suggestions")),
        (0, o) => format!("gave feedback {}", plural(u64::from(o), "time", "times")),
        (s, o) => format!(
            "made {} and gave feedback {} more",
            plural(u64::from(s), "suggestion", "suggestions"),
            plural(u64::from(o), "time", "times")
        ),
    };
    part("feedback", weight, value, detail)
}

fn advocacy(facts: &MemberFacts, weight: f64) -> Part {
    let (shares, converted) = (facts.shares, facts.referrals_converted);
    let value = saturate(
        f64::from(shares) + 5.0 * f64::from(converted),
        ADVOCACY_TARGET,
    );
    let detail = match (shares, converted) {
        (0, 0) => "has not shared or brought anyone in".into(),
        (s, 0) => format!("shared {}", plural(u64::from(s), "time", "times")),
        (0, c) => format!(
            "brought in {}",
            plural(u64::from(c), "customer", "customers")
        ),
        (s, c) => format!(
            "shared {} and brought in {}",
            plural(u64::from(s), "time", "times"),
            plural(u64::from(c), "customer", "customers")
        ),
    };
    part("advocacy", weight, value, detail)
}

/// Buying across the range: two categories or sub-brands earn half, three or more all.
fn system_purchase(facts: &MemberFacts, weight: f64) -> Part {
    let categories = facts.categories.len();
    let sub_brands = facts.sub_brands.len();
    let breadth = categories.max(sub_brands);
    let value = if breadth >= 2 {
        ((breadth - 1) as f64 / 2.0).min(1.0)
    } else {
        0.0
    };
    let (one, many) = if categories >= sub_brands {
        ("category", "categories")
    } else {
        ("sub-brand", "sub-brands")
    };
    let detail = match breadth {
        0 => "no itemised purchase yet".into(),
        1 => format!("buys in one {one} only"),
        n => format!("buys across {n} {many}"),
    };
    part("system_purchase", weight, value, detail)
}

fn paid_membership(facts: &MemberFacts, weight: f64) -> Part {
    if is_paid_member(facts) {
        part("paid_membership", weight, 1.0, "is a paid member".into())
    } else {
        part("paid_membership", weight, 0.0, "not a paid member".into())
    }
}
