//! The super-user score (seed 003): a super user comes back to buy, and recently; tells
//! the brand what they think; brings others in; buys across the range; and pays to
//! belong. Until membership tiers exist, "pays to belong" is any `membership_purchase`
//! event.

use super::inputs::ScoreInputs;
use super::part::{Part, Score, Words, days_ago, decay, part, plural, saturate, silence, total};
use super::policy::ScorePolicy;
use crate::time::Micros;

/// The custom event type that marks a paid membership.
pub const MEMBERSHIP_PURCHASE: &str = "membership_purchase";

/// Repeat purchases for full marks on repurchase (before decay).
const REPEATS_TARGET: f64 = 5.0;
/// Feedback (suggestions counting double) for full marks.
const FEEDBACK_TARGET: f64 = 6.0;
/// Shares plus five per converted referral, for full marks on advocacy.
const ADVOCACY_TARGET: f64 = 15.0;

/// The score with its parts and explanation.
pub fn score(m: &ScoreInputs, policy: &ScorePolicy, now: Micros) -> Score {
    Score::from_parts("Super user", parts(m, policy, now, Words::Explain))
}

/// The score alone.
pub fn points(m: &ScoreInputs, policy: &ScorePolicy, now: Micros) -> f64 {
    total(&parts(m, policy, now, Words::NumbersOnly))
}

fn parts(m: &ScoreInputs, policy: &ScorePolicy, now: Micros, words: Words) -> Vec<Part> {
    let w = &policy.super_user;
    vec![
        repurchase(m, w.repurchase, policy.half_life_days, now, words),
        feedback(m, w.feedback, words),
        advocacy(m, w.advocacy, words),
        system_purchase(m, w.system_purchase, words),
        paid_membership(m, w.paid_membership, words),
    ]
}

/// Repeat orders (beyond the first, refunded-in-full ones left out), worth less the
/// longer since the last purchase: half after one half-life of silence.
fn repurchase(m: &ScoreInputs, weight: f64, half_life: f64, now: Micros, words: Words) -> Part {
    let repeats = m.purchase_count().saturating_sub(1);
    let Some(last) = m.last_purchase_at else {
        return part("repurchase", weight, 0.0, words, || {
            "no purchase yet".into()
        });
    };
    let value =
        saturate(f64::from(repeats), REPEATS_TARGET) * decay(silence(Some(last), now), half_life);
    part("repurchase", weight, value, words, || {
        if repeats == 0 {
            format!("bought once, {} days ago", days_ago(last, now))
        } else {
            format!(
                "came back to buy {}, last {} days ago",
                plural(u64::from(repeats), "time", "times"),
                days_ago(last, now)
            )
        }
    })
}

fn feedback(m: &ScoreInputs, weight: f64, words: Words) -> Part {
    let others = m.feedback.saturating_sub(m.suggestions);
    let value = saturate(f64::from(m.feedback + m.suggestions), FEEDBACK_TARGET);
    part("feedback", weight, value, words, || {
        match (m.suggestions, others) {
            (0, 0) => "no feedback or suggestions".into(),
            (s, 0) => format!("made {}", plural(u64::from(s), "suggestion", "suggestions")),
            (0, o) => format!("gave feedback {}", plural(u64::from(o), "time", "times")),
            (s, o) => format!(
                "made {} and gave feedback {} more",
                plural(u64::from(s), "suggestion", "suggestions"),
                plural(u64::from(o), "time", "times")
            ),
        }
    })
}

fn advocacy(m: &ScoreInputs, weight: f64, words: Words) -> Part {
    let (shares, converted) = (m.shares, m.referrals_converted);
    let value = saturate(
        f64::from(shares) + 5.0 * f64::from(converted),
        ADVOCACY_TARGET,
    );
    part("advocacy", weight, value, words, || {
        match (shares, converted) {
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
        }
    })
}

/// Buying across the range: two categories or sub-brands earn half, three or more all.
fn system_purchase(m: &ScoreInputs, weight: f64, words: Words) -> Part {
    let (categories, sub_brands) = (m.category_count, m.sub_brand_count);
    let breadth = categories.max(sub_brands);
    let value = if breadth >= 2 {
        ((breadth - 1) as f64 / 2.0).min(1.0)
    } else {
        0.0
    };
    part("system_purchase", weight, value, words, || {
        let (one, many) = if categories >= sub_brands {
            ("category", "categories")
        } else {
            ("sub-brand", "sub-brands")
        };
        match breadth {
            0 => "no itemised purchase yet".into(),
            1 => format!("buys in one {one} only"),
            n => format!("buys across {n} {many}"),
        }
    })
}

fn paid_membership(m: &ScoreInputs, weight: f64, words: Words) -> Part {
    let value = if m.paid_member { 1.0 } else { 0.0 };
    part("paid_membership", weight, value, words, || {
        if m.paid_member {
            "is a paid member".into()
        } else {
            "not a paid member".into()
        }
    })
}
