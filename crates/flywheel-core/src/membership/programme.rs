//! Membership programmes (会员体系, seed 003): what a brand defines — a paid ladder, tiers
//! earned by qualifying spend or points, or a card for a particular audience — and the
//! checks that keep a definition sound. Only definitions live here; who holds which tier
//! is `state.rs`.
//!
//! Tiers qualify on money spent (net of refunds) or points earned, never on the points
//! balance, so spending points cannot lower a tier (the Open Loyalty defect #131).

use crate::ErrorCode;
use crate::money::Money;
use crate::validation::{FieldError, check_line};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The longest window or term a definition may name, in days (ten years).
pub const MAX_DAYS: u32 = 3_660;
/// The most tiers one programme may have.
pub const MAX_TIERS: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgrammeKind {
    /// Tiers bought for a term (V1/V2/V3 at 99/199/299 a year).
    Paid,
    /// Tiers reached by qualifying spend or points over a rolling window.
    Earned,
    /// A horizontal card for an audience (a new-parents card beside the black card).
    Card,
}

impl ProgrammeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProgrammeKind::Paid => "paid",
            ProgrammeKind::Earned => "earned",
            ProgrammeKind::Card => "card",
        }
    }
}

/// What qualifies a member for a tier, keeps it, or raises it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Money spent on orders, less refunds.
    Spend,
    /// Points earned (credits by earning rules; spending never lowers it).
    Points,
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Spend => "spend",
            Measure::Points => "points",
        }
    }
}

/// A measure and how much of it is needed: money as a decimal string ("10000.00"),
/// points as a whole number (as a string or a number).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub measure: Measure,
    pub threshold: Amount,
}

/// A threshold as given: a decimal string or a number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Amount {
    Text(String),
    Number(i64),
}

impl Threshold {
    /// The threshold in the measure's unit: minor units of money, or points.
    pub fn needed(&self) -> Result<i64, String> {
        match (self.measure, &self.threshold) {
            (Measure::Spend, Amount::Text(t)) => {
                Money::parse(t).map(Money::minor).map_err(|e| e.to_string())
            }
            // A number is whole units of money.
            (Measure::Spend, Amount::Number(n)) => {
                n.checked_mul(100).ok_or_else(|| "is too large".to_owned())
            }
            (Measure::Points, Amount::Number(n)) => Ok(*n),
            (Measure::Points, Amount::Text(t)) => t
                .trim()
                .parse::<i64>()
                .map_err(|_| "must be a whole number of points".to_owned()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub id: String,
    pub name: String,
    pub rank: u32,
    /// Paid tiers: the fee for one term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<String>,
    /// Paid tiers: the largest share of the fee payable in points (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points_share: Option<f64>,
    /// Paid tiers: reached free, until the term ends, when the measure over the term
    /// reaches the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Threshold>,
    /// Earned tiers: held while the measure over the window reaches the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualify: Option<Threshold>,
}

/// How long a paid tier or a card lasts once bought or granted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    /// A term of this many days from the purchase…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// …or a yearly cycle ending on this day ("12-31"): every term ends on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_on: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DowngradePolicy {
    /// One tier down (out of the programme from the lowest).
    OneDown,
    /// To the tier the member qualifies for now.
    Recompute,
    /// Never down: the tier lapses only when nothing keeps it.
    Never,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Downgrade {
    pub policy: DowngradePolicy,
    #[serde(default)]
    pub grace_days: u32,
}

impl Default for Downgrade {
    fn default() -> Self {
        Downgrade {
            policy: DowngradePolicy::OneDown,
            grace_days: 0,
        }
    }
}

/// Who may hold a card: members with a profile field set to a value (`{"field":
/// "occupation", "equals": "student"}`); tags join when tags exist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    pub field: String,
    pub equals: String,
}

/// The profile fields a card's eligibility may name.
pub const ELIGIBILITY_FIELDS: [&str; 4] = ["gender", "city", "occupation", "birthday"];

impl Eligibility {
    /// Whether a member with `profile` may hold the card; if not, why (a sentence).
    /// Values compare without regard to case or surrounding spaces.
    pub fn admits(&self, profile: &crate::profile::Profile) -> Result<(), String> {
        let value = match self.field.as_str() {
            "gender" => profile.gender.as_deref(),
            "city" => profile.city.as_deref(),
            "occupation" => profile.occupation.as_deref(),
            "birthday" => profile.birthday.as_deref(),
            _ => None,
        };
        match value {
            Some(v) if v.trim().eq_ignore_ascii_case(self.equals.trim()) => Ok(()),
            Some(v) => Err(format!(
                "the card is for members whose {} is {:?}; this member's is {v:?}",
                self.field, self.equals
            )),
            None => Err(format!(
                "the card is for members whose {} is {:?}; this member's profile has no {}",
                self.field, self.equals, self.field
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Programme {
    pub name: String,
    pub kind: ProgrammeKind,
    pub tiers: Vec<Tier>,
    /// Paid programmes and cards (default 365 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<Term>,
    /// Earned programmes: the rolling window the measure is taken over (default 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_days: Option<u32>,
    /// Paid programmes: what keeps the tier at the end of the term without paying again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Threshold>,
    #[serde(default)]
    pub downgrade: Downgrade,
    /// Cards: who may hold one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligibility: Option<Eligibility>,
    /// Days after a purchase within which it may be cancelled, points returned.
    #[serde(default = "default_cooling_off")]
    pub cooling_off_days: u32,
    /// Days before a benefit leaves a holder's tier (at the end of their term) that
    /// they are told; an added benefit is announced as long before their renewal.
    #[serde(default = "default_notice_days")]
    pub notice_days: u32,
}

fn default_cooling_off() -> u32 {
    7
}

fn default_notice_days() -> u32 {
    30
}

impl Programme {
    /// The tiers from the lowest rank up.
    pub fn ladder(&self) -> Vec<&Tier> {
        let mut tiers: Vec<&Tier> = self.tiers.iter().collect();
        tiers.sort_by_key(|t| t.rank);
        tiers
    }

    pub fn tier(&self, id: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.id == id)
    }

    /// The tier one rank below `id`, if any.
    pub fn below(&self, id: &str) -> Option<&Tier> {
        let rank = self.tier(id)?.rank;
        self.ladder().into_iter().rev().find(|t| t.rank < rank)
    }

    /// Days in the rolling window of an earned programme.
    pub fn window_days(&self) -> u32 {
        self.window_days.unwrap_or(365)
    }

    /// Every problem with the definition, each naming its field; empty when sound.
    /// `programme_id` is the path's id; `max_points` the largest posting allowed.
    pub fn validate(&self, programme_id: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut bad = |field: String, code: ErrorCode, message: String| {
            errors.push(FieldError::new(field, code, message));
        };
        if !crate::points::policy::is_code(programme_id) {
            bad(
                "id".into(),
                ErrorCode::InvalidValue,
                "a programme id must be 1-40 lower-case letters, digits, '_' or '-'".into(),
            );
        }
        if let Err(e) = check_line("name", &self.name, 200) {
            bad("name".into(), e.code, e.message);
        }
        if self.tiers.is_empty() {
            bad(
                "tiers".into(),
                ErrorCode::InvalidValue,
                "a programme needs at least one tier".into(),
            );
        }
        if self.tiers.len() > MAX_TIERS {
            bad(
                "tiers".into(),
                ErrorCode::OutOfRange,
                format!("at most {MAX_TIERS} tiers"),
            );
        }
        let (mut ids, mut ranks) = (BTreeSet::new(), BTreeSet::new());
        for (i, t) in self.tiers.iter().enumerate() {
            let at = |f: &str| format!("tiers[{i}].{f}");
            if !is_tier_id(&t.id) {
                bad(
                    at("id"),
                    ErrorCode::InvalidValue,
                    "a tier id must be 1-40 letters, digits, '_' or '-'".into(),
                );
            } else if !ids.insert(t.id.as_str()) {
                bad(
                    at("id"),
                    ErrorCode::Duplicate,
                    format!("tier id {:?} is used twice", t.id),
                );
            }
            if let Err(e) = check_line("name", &t.name, 200) {
                bad(at("name"), e.code, e.message);
            }
            if t.rank == 0 || t.rank > 1000 {
                bad(
                    at("rank"),
                    ErrorCode::OutOfRange,
                    "must be 1 to 1000".into(),
                );
            } else if !ranks.insert(t.rank) {
                bad(
                    at("rank"),
                    ErrorCode::Duplicate,
                    format!("rank {} is used twice", t.rank),
                );
            }
            let paid = self.kind == ProgrammeKind::Paid;
            match (&t.fee, paid) {
                (None, true) => bad(
                    at("fee"),
                    ErrorCode::MissingField,
                    "a paid tier needs its fee".into(),
                ),
                (Some(_), false) => bad(
                    at("fee"),
                    ErrorCode::InvalidValue,
                    "only tiers of a paid programme have a fee".into(),
                ),
                (Some(fee), true) => match Money::parse(fee) {
                    Err(e) => bad(at("fee"), ErrorCode::InvalidAmount, e.to_string()),
                    Ok(m) if m.minor() <= 0 => bad(
                        at("fee"),
                        ErrorCode::OutOfRange,
                        "a fee must be more than 0".into(),
                    ),
                    Ok(_) => {}
                },
                (None, false) => {}
            }
            if let Some(share) = t.max_points_share {
                if !paid {
                    bad(
                        at("max_points_share"),
                        ErrorCode::InvalidValue,
                        "only tiers of a paid programme have a fee to pay in points".into(),
                    );
                } else if !(0.0..=1.0).contains(&share) || share.is_nan() {
                    bad(
                        at("max_points_share"),
                        ErrorCode::OutOfRange,
                        "must be between 0 and 1".into(),
                    );
                }
            }
            if let Some(up) = &t.upgrade {
                if !paid {
                    bad(
                        at("upgrade"),
                        ErrorCode::InvalidValue,
                        "only tiers of a paid programme are reached by upgrade; earned tiers qualify".into(),
                    );
                }
                check_threshold(&mut bad, at("upgrade.threshold"), up);
            }
            match (&t.qualify, self.kind) {
                (None, ProgrammeKind::Earned) => bad(
                    at("qualify"),
                    ErrorCode::MissingField,
                    "an earned tier needs what qualifies for it".into(),
                ),
                (Some(_), ProgrammeKind::Paid | ProgrammeKind::Card) => bad(
                    at("qualify"),
                    ErrorCode::InvalidValue,
                    "only tiers of an earned programme qualify by a measure".into(),
                ),
                (Some(q), ProgrammeKind::Earned) => {
                    check_threshold(&mut bad, at("qualify.threshold"), q)
                }
                (None, _) => {}
            }
        }
        // An earned ladder must ask more of each tier up.
        if self.kind == ProgrammeKind::Earned {
            let mut last: Option<(Measure, i64)> = None;
            for t in self.ladder() {
                let Some(q) = &t.qualify else { continue };
                let Ok(needed) = q.needed() else { continue };
                if let Some((measure, before)) = last {
                    if measure != q.measure {
                        bad(
                            format!("tiers[{}].qualify.measure", index_of(&self.tiers, &t.id)),
                            ErrorCode::InvalidValue,
                            "every tier of a programme qualifies by the same measure".into(),
                        );
                    } else if needed <= before {
                        bad(
                            format!("tiers[{}].qualify.threshold", index_of(&self.tiers, &t.id)),
                            ErrorCode::InvalidValue,
                            "a higher tier must ask more than the tier below it".into(),
                        );
                    }
                }
                last = Some((q.measure, needed));
            }
        }
        match (&self.term, self.kind) {
            (Some(_), ProgrammeKind::Earned) => bad(
                "term".into(),
                ErrorCode::InvalidValue,
                "an earned programme has a window_days, not a term".into(),
            ),
            (Some(term), _) => match (term.days, &term.ends_on) {
                (Some(d), None) if d == 0 || d > MAX_DAYS => bad(
                    "term.days".into(),
                    ErrorCode::OutOfRange,
                    format!("must be 1 to {MAX_DAYS}"),
                ),
                (Some(_), None) => {}
                (None, Some(day)) => {
                    if month_day(day).is_none() {
                        bad(
                            "term.ends_on".into(),
                            ErrorCode::InvalidValue,
                            "must be a day of the year as MM-DD, such as 12-31".into(),
                        );
                    }
                }
                _ => bad(
                    "term".into(),
                    ErrorCode::InvalidValue,
                    "give either days or ends_on".into(),
                ),
            },
            (None, _) => {}
        }
        if let Some(w) = self.window_days {
            if self.kind != ProgrammeKind::Earned {
                bad(
                    "window_days".into(),
                    ErrorCode::InvalidValue,
                    "only an earned programme has a rolling window".into(),
                );
            } else if w == 0 || w > MAX_DAYS {
                bad(
                    "window_days".into(),
                    ErrorCode::OutOfRange,
                    format!("must be 1 to {MAX_DAYS}"),
                );
            }
        }
        if let Some(r) = &self.retention {
            if self.kind != ProgrammeKind::Paid {
                bad(
                    "retention".into(),
                    ErrorCode::InvalidValue,
                    "only a paid programme keeps a tier at the end of its term".into(),
                );
            }
            check_threshold(&mut bad, "retention.threshold".into(), r);
        }
        if self.downgrade.grace_days > MAX_DAYS {
            bad(
                "downgrade.grace_days".into(),
                ErrorCode::OutOfRange,
                format!("must be 0 to {MAX_DAYS}"),
            );
        }
        match (&self.eligibility, self.kind) {
            (Some(_), ProgrammeKind::Paid | ProgrammeKind::Earned) => bad(
                "eligibility".into(),
                ErrorCode::InvalidValue,
                "only a card names who may hold it".into(),
            ),
            (Some(e), ProgrammeKind::Card) => {
                if !ELIGIBILITY_FIELDS.contains(&e.field.as_str()) {
                    bad(
                        "eligibility.field".into(),
                        ErrorCode::InvalidValue,
                        format!("must be one of {}", ELIGIBILITY_FIELDS.join(", ")),
                    );
                }
                if let Err(err) = check_line("equals", &e.equals, 200) {
                    bad("eligibility.equals".into(), err.code, err.message);
                }
            }
            (None, _) => {}
        }
        if self.cooling_off_days > 365 {
            bad(
                "cooling_off_days".into(),
                ErrorCode::OutOfRange,
                "must be 0 to 365".into(),
            );
        }
        if self.notice_days > 365 {
            bad(
                "notice_days".into(),
                ErrorCode::OutOfRange,
                "must be 0 to 365".into(),
            );
        }
        errors
    }
}

fn index_of(tiers: &[Tier], id: &str) -> usize {
    tiers.iter().position(|t| t.id == id).unwrap_or(0)
}

fn check_threshold(bad: &mut impl FnMut(String, ErrorCode, String), field: String, t: &Threshold) {
    match t.needed() {
        Err(message) => bad(field, ErrorCode::InvalidValue, message),
        Ok(n) if n <= 0 => bad(field, ErrorCode::OutOfRange, "must be more than 0".into()),
        Ok(n) if n > 1_000_000_000_000 => bad(field, ErrorCode::OutOfRange, "is too large".into()),
        Ok(_) => {}
    }
}

/// Tier ids are shown to people as they are ("V1"), so capitals are allowed.
pub fn is_tier_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// "MM-DD" → (month, day), for a day every year has (not 02-29).
pub fn month_day(s: &str) -> Option<(u32, u32)> {
    let (m, d) = s.split_once('-')?;
    if m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (m, d): (u32, u32) = (m.parse().ok()?, d.parse().ok()?);
    let days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    (1..=12).contains(&m).then_some(())?;
    (d >= 1 && d <= days[(m - 1) as usize]).then_some((m, d))
}
