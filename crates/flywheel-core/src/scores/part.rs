//! A score and its parts, and the small curves every part uses: saturation (more is
//! better, up to a target) and decay with silence (halves every half-life).

use serde::Serialize;

/// One part of a score: `points` out of `max` (the part's weight), the measure behind
/// it, and what it means in words.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Part {
    pub name: &'static str,
    pub points: f64,
    pub max: f64,
    pub detail: String,
}

/// A 0–100 score, its parts, and one sentence that explains it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Score {
    pub score: f64,
    pub parts: Vec<Part>,
    pub explanation: String,
}

impl Score {
    /// Sums parts into a 0–100 score (whatever the weights add up to) and explains it:
    /// the parts that earned most first, then what is missing.
    pub fn from_parts(subject: &str, parts: Vec<Part>) -> Score {
        let max: f64 = parts.iter().map(|p| p.max).sum();
        let got: f64 = parts.iter().map(|p| p.points).sum();
        let score = if max > 0.0 {
            round1(100.0 * got / max)
        } else {
            0.0
        };
        let mut earned: Vec<&Part> = parts.iter().filter(|p| p.points >= 0.05).collect();
        earned.sort_by(|a, b| (b.points / b.max).total_cmp(&(a.points / a.max)));
        let missing: Vec<&Part> = parts
            .iter()
            .filter(|p| p.points < 0.05 && p.max > 0.0)
            .collect();
        let mut explanation = format!("{subject} {score}/100");
        if earned.is_empty() {
            explanation.push_str(": nothing yet");
        } else {
            explanation.push_str(": ");
            let said: Vec<&str> = earned.iter().map(|p| p.detail.as_str()).collect();
            explanation.push_str(&said.join("; "));
        }
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|p| p.detail.as_str()).collect();
            explanation.push_str(". Missing: ");
            explanation.push_str(&names.join("; "));
        }
        explanation.push('.');
        Score {
            score,
            parts,
            explanation,
        }
    }
}

/// Whether to write the words: a recompute over a million members only needs numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Words {
    Explain,
    NumbersOnly,
}

/// `weight × value` rounded to a tenth, value clamped to 0..=1; the detail is only
/// written when asked for.
pub(crate) fn part(
    name: &'static str,
    weight: f64,
    value: f64,
    words: Words,
    detail: impl FnOnce() -> String,
) -> Part {
    Part {
        name,
        points: round1(weight * value.clamp(0.0, 1.0)),
        max: weight,
        detail: match words {
            Words::Explain => detail(),
            Words::NumbersOnly => String::new(),
        },
    }
}

/// The 0–100 score of some parts, without the sentence.
pub(crate) fn total(parts: &[Part]) -> f64 {
    let max: f64 = parts.iter().map(|p| p.max).sum();
    let got: f64 = parts.iter().map(|p| p.points).sum();
    if max > 0.0 {
        round1(100.0 * got / max)
    } else {
        0.0
    }
}

/// 0 at nothing, 1 at `target` or more, linear between.
pub(crate) fn saturate(amount: f64, target: f64) -> f64 {
    if target <= 0.0 {
        return 1.0;
    }
    (amount / target).clamp(0.0, 1.0)
}

/// ½ per `half_life_days` of silence; 1 with no silence (or none to measure).
pub(crate) fn decay(silent_days: f64, half_life_days: f64) -> f64 {
    if silent_days <= 0.0 || half_life_days <= 0.0 {
        return 1.0;
    }
    0.5f64.powf(silent_days / half_life_days)
}

pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// "1 time" / "3 times".
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Whole days from `then` to `now`, for the sentences ("12 days ago").
pub(crate) fn days_ago(then: crate::time::Micros, now: crate::time::Micros) -> i64 {
    crate::time::whole_days_between(then, now).max(0)
}

/// Fractional days of silence, for the decay.
pub(crate) fn silence(then: Option<crate::time::Micros>, now: crate::time::Micros) -> f64 {
    match then {
        Some(t) => ((now - t) as f64 / crate::time::DAY as f64).max(0.0),
        None => 0.0,
    }
}
