//! Intimacy (seed 002: Talk + Togetherness + Time). Talk is two-way conversation —
//! messages each way and complaints answered; Togetherness is the variety of things
//! done with the brand; Time is how long the relationship has lasted. Each fades with
//! silence, halving every half-life (90 days unless configured).

use super::part::{Part, Score, days_ago, decay, part, plural, saturate, silence};
use super::policy::ScorePolicy;
use crate::facts::MemberFacts;
use crate::time::{DAY, Micros};

/// Two-way exchanges for full marks on talk.
const TALK_TARGET: f64 = 10.0;
/// Distinct kinds of shared experience for full marks on togetherness.
const KINDS_TARGET: f64 = 6.0;
/// Days of relationship for full marks on time.
const TENURE_TARGET_DAYS: f64 = 730.0;

pub fn score(facts: &MemberFacts, policy: &ScorePolicy, now: Micros) -> Score {
    let w = &policy.intimacy;
    let h = policy.half_life_days;
    let parts: Vec<Part> = vec![
        talk(facts, w.talk, h, now),
        togetherness(facts, w.togetherness, h, now),
        time(facts, w.time, h, now),
    ];
    Score::from_parts("Intimacy", parts)
}

/// A conversation needs both sides: the smaller of messages in and out, plus every
/// complaint the brand answered.
fn talk(facts: &MemberFacts, weight: f64, half_life: f64, now: Micros) -> Part {
    let two_way = facts.messages_in.min(facts.messages_out) + facts.complaints_resolved;
    let value = saturate(f64::from(two_way), TALK_TARGET)
        * decay(silence(facts.last_talk_at, now), half_life);
    let detail = match facts.last_talk_at {
        None => "no conversation yet".into(),
        Some(last) => format!(
            "{} in, {} out, {} answered; last talked {} days ago",
            plural(u64::from(facts.messages_in), "message", "messages"),
            facts.messages_out,
            plural(
                u64::from(facts.complaints_resolved),
                "complaint",
                "complaints"
            ),
            days_ago(last, now)
        ),
    };
    part("talk", weight, value, detail)
}

/// The distinct kinds of thing done together: each interaction type, each kind of
/// participation (workshop, tasting…), buying, depositing.
fn togetherness(facts: &MemberFacts, weight: f64, half_life: f64, now: Micros) -> Part {
    let kinds = [
        facts.likes,
        facts.comments,
        facts.check_ins,
        facts.reviews,
        facts.shares,
        facts.messages_in,
        facts.orders,
        facts.deposits,
    ]
    .iter()
    .filter(|n| **n > 0)
    .count()
        + facts.participations.len();
    let last = facts.last_interaction_at.max(facts.last_purchase_at);
    let value = saturate(kinds as f64, KINDS_TARGET) * decay(silence(last, now), half_life);
    let detail = match last {
        None => "nothing done together yet".into(),
        Some(last) => format!(
            "{} of shared experience; last {} days ago",
            plural(kinds as u64, "kind", "kinds"),
            days_ago(last, now)
        ),
    };
    part("togetherness", weight, value, detail)
}

fn time(facts: &MemberFacts, weight: f64, half_life: f64, now: Micros) -> Part {
    let Some(since) = facts.first_connected_at else {
        return part("time", weight, 0.0, "not connected yet".into());
    };
    let tenure_days = ((now - since) as f64 / DAY as f64).max(0.0);
    let last = facts.last_engaged_at();
    let value = saturate(tenure_days, TENURE_TARGET_DAYS) * decay(silence(last, now), half_life);
    let detail = format!(
        "known for {} days; last engaged {} days ago",
        tenure_days.floor(),
        days_ago(last.unwrap_or(since), now)
    );
    part("time", weight, value, detail)
}
