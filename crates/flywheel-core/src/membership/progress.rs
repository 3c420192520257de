//! Where a member stands in a programme: how far they are from the next tier, and what
//! keeps the tier they hold when the term ends (保级). Both are read by people — on the
//! member card, at the till — so each comes with a sentence. Numbers come from the
//! store; nothing here reads a clock.

use super::lifecycle::TermMeasures;
use super::programme::{DowngradePolicy, Measure, Programme, ProgrammeKind, Threshold};
use super::state::Membership;
use crate::money::Money;
use crate::time::{DAY, Micros, to_rfc3339};

/// Where the measures behind progress and retention start: a paid tier is raised and
/// kept by what is done in its term; an earned tier by the programme's rolling window.
pub fn measured_since(programme: &Programme, m: &Membership, now: Micros) -> Micros {
    match programme.kind {
        ProgrammeKind::Earned => now - i64::from(programme.window_days()) * DAY,
        _ => m.term_at(programme, now).0,
    }
}

/// Where an earned tier's keeping is measured from: the window that ends with its term.
/// Other kinds measure their term, as progress does.
pub fn kept_since(programme: &Programme, m: &Membership, now: Micros) -> Micros {
    match (programme.kind, m.expires_at) {
        (ProgrammeKind::Earned, Some(end)) => end - i64::from(programme.window_days()) * DAY,
        _ => measured_since(programme, m, now),
    }
}

/// How far a member is from the next tier up that a measure can reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The tier to reach.
    pub tier: String,
    pub tier_name: String,
    pub measure: Measure,
    /// The measure so far, in its unit (minor units of money, or points).
    pub current: i64,
    /// What the tier needs in all.
    pub threshold: i64,
    /// The deadline: a paid upgrade counts only within the term. None for an earned
    /// tier, whose window rolls.
    pub by: Option<Micros>,
    /// The window an earned tier is measured over, in days.
    pub window_days: Option<u32>,
}

impl Progress {
    /// What is still missing (0 once reached).
    pub fn needed(&self) -> i64 {
        (self.threshold - self.current).max(0)
    }

    /// "spend 2,340.00 more by 2027-05-01 to reach V2".
    pub fn sentence(&self) -> String {
        let verb = match self.measure {
            Measure::Spend => "spend",
            Measure::Points => "earn",
        };
        let when = match (self.by, self.window_days) {
            (Some(by), _) => format!(" by {}", &to_rfc3339(by)[..10]),
            (None, Some(days)) => format!(" (counted over the last {days} days)"),
            (None, None) => String::new(),
        };
        format!(
            "{verb} {} more{when} to reach {}",
            readable(self.measure, self.needed()),
            self.tier_name
        )
    }
}

/// The next tier above the one held that spend or points can reach, and how far off it
/// is. None at the top of the ladder, for cards, or when no tier above has a threshold.
pub fn progress(
    programme: &Programme,
    m: &Membership,
    measured: TermMeasures,
    now: Micros,
) -> Option<Progress> {
    let rank = programme.tier(&m.tier)?.rank;
    let next = programme.ladder().into_iter().find_map(|t| {
        let rule = match programme.kind {
            ProgrammeKind::Paid => t.upgrade.as_ref(),
            ProgrammeKind::Earned => t.qualify.as_ref(),
            ProgrammeKind::Card => None,
        }?;
        (t.rank > rank).then_some((t, rule))
    })?;
    let (tier, rule) = next;
    let threshold = rule.needed().ok()?;
    Some(Progress {
        tier: tier.id.clone(),
        tier_name: tier.name.clone(),
        measure: rule.measure,
        current: measured.of(rule.measure),
        threshold,
        by: match programme.kind {
            // The end of the term now falls in, whose spend `measured` is.
            ProgrammeKind::Paid => m.term_at(programme, now).1,
            _ => None,
        },
        window_days: (programme.kind == ProgrammeKind::Earned).then(|| programme.window_days()),
    })
}

/// What keeps a tier when its term ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keep {
    /// A measure that keeps it without paying: the paid programme's retention rule, or
    /// an earned tier's own threshold. None: only paying again keeps it.
    pub measure: Option<Measure>,
    pub current: i64,
    pub threshold: i64,
    /// Whether the measure already reaches the threshold.
    pub met: bool,
    /// When it is judged: the end of the term.
    pub by: Option<Micros>,
    /// Paid tiers: the fee for another term…
    pub renewal_fee: Option<Money>,
    /// …and the most of it payable in points, at the present value of a point.
    pub renewal_max_points: Option<i64>,
    pub sentence: String,
}

/// What keeps `m` at the end of its term, given the measures since `kept_since`.
pub fn keep(
    programme: &Programme,
    m: &Membership,
    measured: TermMeasures,
    value_per_point: Money,
) -> Keep {
    let tier = programme.tier(&m.tier);
    let rule: Option<&Threshold> = match programme.kind {
        ProgrammeKind::Paid => programme.retention.as_ref(),
        ProgrammeKind::Earned => tier.and_then(|t| t.qualify.as_ref()),
        ProgrammeKind::Card => None,
    };
    let threshold = rule.and_then(|r| r.needed().ok());
    let current = rule.map_or(0, |r| measured.of(r.measure));
    let met = threshold.is_some_and(|t| current >= t);
    let renewal_fee = match programme.kind {
        ProgrammeKind::Paid => tier
            .and_then(|t| t.fee.as_deref())
            .and_then(|f| Money::parse(f).ok()),
        _ => None,
    };
    let renewal_max_points = renewal_fee.and_then(|fee| {
        let share = tier.and_then(|t| t.max_points_share).unwrap_or(0.0);
        let allowed = (share * fee.minor() as f64).floor() as i64;
        (value_per_point.minor() > 0).then(|| allowed / value_per_point.minor())
    });
    let by = m.expires_at;
    let end = by.map(|t| to_rfc3339(t)[..10].to_owned());
    let on = end
        .as_deref()
        .map(|d| format!(" on {d}"))
        .unwrap_or_default();
    let mut sentence = match (rule, threshold) {
        (Some(r), Some(t)) if met => format!(
            "{} will be kept{on}: {} already reaches the {} that keeps it",
            m.tier,
            readable(r.measure, current),
            readable(r.measure, t)
        ),
        (Some(r), Some(t)) => format!(
            "{} {} more before {} keeps {}",
            match r.measure {
                Measure::Spend => "spending",
                Measure::Points => "earning",
            },
            readable(r.measure, t - current),
            end.as_deref().unwrap_or("the term ends"),
            m.tier
        ),
        _ if programme.kind == ProgrammeKind::Card => match &end {
            Some(d) => format!("the card is valid until {d}"),
            None => "the card does not expire".into(),
        },
        _ => String::new(),
    };
    if programme.kind == ProgrammeKind::Earned
        && !met
        && programme.downgrade.policy == DowngradePolicy::Never
    {
        sentence = format!("{} is never lowered", m.tier);
    }
    if let Some(fee) = renewal_fee {
        let points = renewal_max_points
            .filter(|p| *p > 0)
            .map(|p| format!(" (up to {} points of it)", group_digits(&p.to_string())))
            .unwrap_or_default();
        sentence = if sentence.is_empty() {
            format!("renewing for {fee}{points} keeps {}", m.tier)
        } else if met {
            sentence
        } else {
            format!("{sentence}, or renewing for {fee}{points}")
        };
    }
    Keep {
        measure: rule.map(|r| r.measure),
        current,
        threshold: threshold.unwrap_or(0),
        met,
        by,
        renewal_fee,
        renewal_max_points,
        sentence,
    }
}

/// An amount in a measure's unit for people: "2,340.00" or "1,500 points".
pub fn readable(measure: Measure, n: i64) -> String {
    match measure {
        Measure::Spend => group_digits(&Money::from_minor(n).to_string()),
        Measure::Points => format!("{} points", group_digits(&n.to_string())),
    }
}

/// Puts a comma between each group of three digits of the whole part ("12,340.00").
fn group_digits(number: &str) -> String {
    let (sign, rest) = match number.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", number),
    };
    let (whole, fraction) = match rest.find('.') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_in_threes() {
        assert_eq!(group_digits("2340.00"), "2,340.00");
        assert_eq!(group_digits("1234567"), "1,234,567");
        assert_eq!(group_digits("999.50"), "999.50");
        assert_eq!(group_digits("-10000.00"), "-10,000.00");
    }
}
