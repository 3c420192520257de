//! Intimacy (seed 002: Talk + Togetherness + Time). Talk is two-way conversation —
//! messages each way and complaints answered; Togetherness is the variety of things
//! done with the brand; Time is how long the relationship has lasted. Each fades with
//! silence, halving every half-life (90 days unless configured).

use super::inputs::ScoreInputs;
use super::part::{Part, Score, Words, days_ago, decay, part, plural, saturate, silence, total};
use super::policy::ScorePolicy;
use crate::time::{DAY, Micros};

/// Two-way exchanges for full marks on talk.
const TALK_TARGET: f64 = 10.0;
/// Distinct kinds of shared experience for full marks on togetherness.
const KINDS_TARGET: f64 = 6.0;
/// Customer groups that count as kinds of togetherness, at most.
const GROUPS_COUNTED: u32 = 2;
/// Days of relationship for full marks on time.
const TENURE_TARGET_DAYS: f64 = 730.0;

/// The score with its parts and explanation.
pub fn score(m: &ScoreInputs, policy: &ScorePolicy, now: Micros) -> Score {
    Score::from_parts("Intimacy", parts(m, policy, now, Words::Explain))
}

/// The score alone.
pub fn points(m: &ScoreInputs, policy: &ScorePolicy, now: Micros) -> f64 {
    total(&parts(m, policy, now, Words::NumbersOnly))
}

fn parts(m: &ScoreInputs, policy: &ScorePolicy, now: Micros, words: Words) -> Vec<Part> {
    let w = &policy.intimacy;
    let h = policy.half_life_days;
    vec![
        talk(m, w.talk, h, now, words),
        togetherness(m, w.togetherness, h, now, words),
        time(m, w.time, h, now, words),
    ]
}

/// A conversation needs both sides: the smaller of messages in and out, plus every
/// complaint the brand answered — twice for one answered within its queue's targets,
/// since a fast answer is what turns a critic into an advocate (seed 002) — plus each
/// shop assistant the member keeps on WeCom, a line of talk that stays open (seed 003).
fn talk(m: &ScoreInputs, weight: f64, half_life: f64, now: Micros, words: Words) -> Part {
    let two_way = m.messages_in.min(m.messages_out)
        + m.complaints_resolved
        + m.complaints_resolved_in_time.min(m.complaints_resolved)
        + m.assistants.open;
    let last_talk = m.last_talk_at.max(m.assistants.last_joined);
    let value =
        saturate(f64::from(two_way), TALK_TARGET) * decay(silence(last_talk, now), half_life);
    part("talk", weight, value, words, || match last_talk {
        None => "no conversation yet".into(),
        Some(last) => {
            let answered = match (m.complaints_resolved, m.complaints_resolved_in_time) {
                (0, _) => String::new(),
                (n, 0) => format!(
                    ", {} answered",
                    plural(u64::from(n), "complaint", "complaints")
                ),
                (n, fast) => format!(
                    ", {} answered ({} within target, counted twice)",
                    plural(u64::from(n), "complaint", "complaints"),
                    fast.min(n)
                ),
            };
            let assistants = match m.assistants.open {
                0 => String::new(),
                n => format!(
                    ", {} on WeCom",
                    plural(u64::from(n), "shop assistant", "shop assistants")
                ),
            };
            format!(
                "{} in, {} out{answered}{assistants}; last talked {} days ago",
                plural(u64::from(m.messages_in), "message", "messages"),
                m.messages_out,
                days_ago(last, now)
            )
        }
    })
}

/// The distinct kinds of thing done together: each interaction type, each kind of
/// participation (workshop, tasting…), buying, depositing, and each customer group the
/// member is in (up to [`GROUPS_COUNTED`]: a group is a place, not a pastime).
fn togetherness(m: &ScoreInputs, weight: f64, half_life: f64, now: Micros, words: Words) -> Part {
    let kinds = [
        m.likes,
        m.comments,
        m.check_ins,
        m.reviews,
        m.shares,
        m.messages_in,
        m.orders,
        m.deposits,
    ]
    .iter()
    .filter(|n| **n > 0)
    .count()
        + m.participations.kinds
        + m.groups.open.min(GROUPS_COUNTED) as usize;
    let last = m
        .last_interaction_at
        .max(m.last_purchase_at)
        .max(m.groups.last_joined);
    let value = saturate(kinds as f64, KINDS_TARGET) * decay(silence(last, now), half_life);
    part("togetherness", weight, value, words, || match last {
        None => "nothing done together yet".into(),
        Some(last) => {
            let groups = match m.groups.open {
                0 => String::new(),
                n => format!(
                    " (in {})",
                    plural(u64::from(n), "customer group", "customer groups")
                ),
            };
            format!(
                "{} of shared experience{groups}; last {} days ago",
                plural(kinds as u64, "kind", "kinds"),
                days_ago(last, now)
            )
        }
    })
}

fn time(m: &ScoreInputs, weight: f64, half_life: f64, now: Micros, words: Words) -> Part {
    let Some(since) = m.first_connected_at else {
        return part("time", weight, 0.0, words, || "not connected yet".into());
    };
    let tenure_days = ((now - since) as f64 / DAY as f64).max(0.0);
    let last = m.last_engaged_at();
    let value = saturate(tenure_days, TENURE_TARGET_DAYS) * decay(silence(last, now), half_life);
    part("time", weight, value, words, || {
        format!(
            "known for {} days; last engaged {} days ago",
            tenure_days.floor(),
            days_ago(last.unwrap_or(since), now)
        )
    })
}
