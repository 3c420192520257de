//! Who holds which tier, for how long, and what a purchase must pay: the terms of a
//! membership, the grace after them, and a fee split between cash and points.

use super::programme::{Programme, ProgrammeKind, Term, Tier, month_day};
use crate::ErrorCode;
use crate::money::Money;
use crate::time::{DAY, Micros, from_datetime, to_datetime};
use crate::validation::FieldError;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// How a member came to hold a tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Bought (through the API, or a `membership_purchase` event).
    Paid,
    /// Qualified for by the programme's measure.
    Earned,
    /// Raised free by an upgrade rule, until the paid term ends.
    Upgrade,
    /// Set by a person (audited).
    Manual,
    /// A card taken by a member its eligibility admits (free, or for its fee).
    Card,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Paid => "paid",
            Source::Earned => "earned",
            Source::Upgrade => "upgrade",
            Source::Manual => "manual",
            Source::Card => "card",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        [
            Source::Paid,
            Source::Earned,
            Source::Upgrade,
            Source::Manual,
            Source::Card,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A member's current tier in one programme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub member_id: i64,
    pub programme: String,
    pub tier: String,
    /// When the member reached this tier.
    pub since: Micros,
    /// When the terms paid for in a row began: a renewal keeps it, so this and
    /// `expires_at` can span several terms (`term_at` tells them apart).
    pub term_start: Micros,
    /// When the term ends; None: held while qualified (earned tiers).
    pub expires_at: Option<Micros>,
    pub source: Source,
}

impl Membership {
    /// The end of the grace after the term, when there is a term.
    pub fn grace_until(&self, programme: &Programme) -> Option<Micros> {
        self.expires_at
            .map(|end| end + i64::from(programme.downgrade.grace_days) * DAY)
    }

    /// Whether the membership holds at `now`: within its term, or its grace.
    pub fn active_at(&self, programme: &Programme, now: Micros) -> bool {
        self.grace_until(programme).is_none_or(|until| now < until)
    }

    /// The term `at` falls in, `[start, end)`. A membership renewed before its end runs
    /// terms back to back from `term_start` to `expires_at`; each is its own term for
    /// what is measured in it (upgrades, retention, a benefit's uses per term). Before
    /// the first term: the first; after the last: the last. An earned tier's term (and
    /// one without end) is the whole span.
    pub fn term_at(&self, programme: &Programme, at: Micros) -> (Micros, Option<Micros>) {
        let Some(mut end) = self.expires_at else {
            return (self.term_start, None);
        };
        if programme.kind == ProgrammeKind::Earned {
            return (self.term_start, Some(end));
        }
        // Bounded: memberships are renewed a term at a time, so a few steps suffice.
        for _ in 0..1_000 {
            let start = term_before(programme, end).max(self.term_start);
            if start <= at || start <= self.term_start {
                return (start, Some(end));
            }
            end = start;
        }
        (self.term_start, Some(end))
    }

    /// Whether `now` falls in the grace after the term.
    pub fn in_grace(&self, programme: &Programme, now: Micros) -> bool {
        match (self.expires_at, self.grace_until(programme)) {
            (Some(end), Some(until)) => now >= end && now < until,
            _ => false,
        }
    }
}

/// When a term that starts at `start` ends: so many days later, or on the next
/// `ends_on` day of the year (at the end of that day, UTC) after the start. An earned
/// tier's term is the programme's window from the moment the measure last reached it:
/// reaching it again extends it, and at its end the tier is judged again.
pub fn term_end(programme: &Programme, start: Micros) -> Option<Micros> {
    if programme.kind == ProgrammeKind::Earned {
        return Some(start + i64::from(programme.window_days()) * DAY);
    }
    let default = Term {
        days: Some(365),
        ends_on: None,
    };
    let term = programme.term.as_ref().unwrap_or(&default);
    if let Some(days) = term.days {
        return Some(start + i64::from(days) * DAY);
    }
    let (month, day) = term.ends_on.as_deref().and_then(month_day)?;
    let started = to_datetime(start);
    let year = started.year();
    let end_of = |y: i32| {
        NaiveDate::from_ymd_opt(y, month, day)
            .and_then(|d| d.succ_opt())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| from_datetime(t.and_utc()))
    };
    match end_of(year)? {
        end if end > start => Some(end),
        _ => end_of(year + 1),
    }
}

/// When the full term that ends at `end` began: so many days before, or a year before
/// for a yearly cycle.
fn term_before(programme: &Programme, end: Micros) -> Micros {
    match programme.term.as_ref() {
        Some(Term { days: None, .. }) => to_datetime(end)
            .checked_sub_months(chrono::Months::new(12))
            .map_or(end - 365 * DAY, from_datetime),
        Some(Term { days: Some(n), .. }) => end - i64::from(*n) * DAY,
        None => end - 365 * DAY,
    }
}

/// What a purchase pays: cash, and points worth `value_per_point` each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payment {
    pub cash: Money,
    pub points: i64,
}

/// Checks that `payment` pays the tier's fee exactly, with no more of it in points than
/// the tier allows. Errors name the field under `payment`.
pub fn check_payment(
    tier: &Tier,
    payment: Payment,
    value_per_point: Money,
) -> Result<(), FieldError> {
    let fee = tier
        .fee
        .as_deref()
        .and_then(|f| Money::parse(f).ok())
        .ok_or_else(|| {
            FieldError::new(
                "tier",
                ErrorCode::InvalidValue,
                format!("tier {:?} is not sold", tier.id),
            )
        })?;
    if payment.points < 0 {
        return Err(FieldError::new(
            "payment.points",
            ErrorCode::OutOfRange,
            "must be 0 or more",
        ));
    }
    let points_value = i128::from(payment.points) * i128::from(value_per_point.minor());
    let paid = points_value + i128::from(payment.cash.minor());
    if paid != i128::from(fee.minor()) {
        return Err(FieldError::new(
            "payment",
            ErrorCode::InvalidValue,
            format!(
                "cash and points must add up to the fee, {fee}: {} cash and {} points worth {} make {}",
                payment.cash,
                payment.points,
                Money::from_minor(points_value.clamp(0, i128::from(i64::MAX)) as i64),
                Money::from_minor(paid.clamp(0, i128::from(i64::MAX)) as i64),
            ),
        ));
    }
    let share = tier.max_points_share.unwrap_or(0.0);
    // The points' value may be at most share × fee (compared in minor units).
    let allowed = (share * fee.minor() as f64).floor() as i128;
    if points_value > allowed {
        return Err(FieldError::new(
            "payment.points",
            ErrorCode::OutOfRange,
            format!(
                "at most {} of the fee {fee} may be paid in points",
                Money::from_minor(allowed as i64)
            ),
        ));
    }
    Ok(())
}

/// What buying a tier comes to, given what the member holds when the purchase happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purchased {
    /// The membership from the purchase on.
    pub membership: Membership,
    /// Where the term bought starts: the purchase, or the end of the current term for
    /// a renewal bought early.
    pub term_start: Micros,
    /// `purchase` or `renewal`.
    pub rule: &'static str,
    /// `joined`, `raised` or `renewed`, for the change's sentence.
    pub verb: &'static str,
}

/// Decides a purchase of `tier_id` (of a paid programme, or a card — whose eligibility
/// the caller checks) at `at` by a member holding `current` (active at `at`, or None): the same tier renews from where its term ends; a higher tier starts
/// a new term now; a lower tier is refused while the higher one holds. The same rule
/// serves the API and `membership_purchase` events.
pub fn purchase(
    programme_id: &str,
    programme: &Programme,
    member_id: i64,
    current: Option<&Membership>,
    tier_id: &str,
    at: Micros,
) -> Result<Purchased, FieldError> {
    if programme.kind == ProgrammeKind::Earned {
        return Err(FieldError::new(
            "programme",
            ErrorCode::InvalidValue,
            format!(
                "programme {programme_id:?} is earned: its tiers are reached by spend or points, not bought"
            ),
        ));
    }
    let tier = programme.tier(tier_id).ok_or_else(|| {
        FieldError::new(
            "tier",
            ErrorCode::InvalidValue,
            format!("programme {programme_id:?} has no tier {tier_id:?}"),
        )
    })?;
    let rank_of = |id: &str| programme.tier(id).map_or(0, |t| t.rank);
    let (term_start, since, rule, verb) = match current {
        Some(m) if m.tier == tier_id => {
            let start = m.expires_at.map_or(at, |end| end.max(at));
            (start, m.since, "renewal", "renewed")
        }
        Some(m) if rank_of(&m.tier) > tier.rank => {
            let until = m
                .expires_at
                .map(crate::time::to_rfc3339)
                .unwrap_or_default();
            return Err(FieldError::new(
                "tier",
                ErrorCode::InvalidValue,
                format!(
                    "the member holds {} until {until}; a lower tier can be bought once that ends",
                    m.tier
                ),
            ));
        }
        Some(_) => (at, at, "purchase", "raised"),
        None => (at, at, "purchase", "joined"),
    };
    let renewed = current.filter(|m| m.tier == tier_id);
    Ok(Purchased {
        membership: Membership {
            member_id,
            programme: programme_id.to_owned(),
            tier: tier_id.to_owned(),
            since,
            // A renewal keeps the term's start: the tier has been held since then.
            term_start: renewed.map_or(term_start, |m| m.term_start),
            expires_at: term_end(programme, term_start),
            source: match programme.kind {
                ProgrammeKind::Card => Source::Card,
                _ => Source::Paid,
            },
        },
        term_start,
        rule,
        verb,
    })
}
