//! Benefits (权益, seed 003): what a tier or card gives — free delivery twice a month,
//! a free refill a day, online only, a video-site membership whose codes a partner
//! supplies — and the checks a use must pass where it happens.
//! Which tiers give which benefits, and how a removal waits for each holder's term to
//! end, is the store's; the decisions are here.

use crate::ErrorCode;
use crate::event::Channel;
use crate::time::{Micros, parse_rfc3339, to_datetime};
use crate::validation::{FieldError, check_line};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Most uses a limit may allow in one period.
pub const MAX_USES: u32 = 10_000;

/// A benefit as a brand defines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benefit {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// RFC 3339: from when it can be used.
    pub effective_from: String,
    /// RFC 3339: until when (exclusive); none: open-ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_to: Option<String>,
    /// Where it applies; none: every channel and category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// How often a member may use it; none: without limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    /// A partner whose codes a use hands out (a video-site membership bundled with the
    /// paid tier); each code handed out counts in the partner's settlement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<Partner>,
}

/// The partner behind a benefit, settled by the codes handed out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    /// 1-40 lower-case letters, digits, '_' or '-'; the settlement groups by it.
    pub id: String,
    pub name: String,
}

/// Most characters in a partner's code.
pub const MAX_CODE_CHARS: usize = 100;

/// Checks one partner code: 1-100 printable characters without spaces, as the
/// partner's site will want it typed.
pub fn check_code(code: &str) -> Result<(), String> {
    let n = code.chars().count();
    if n == 0 || n > MAX_CODE_CHARS {
        return Err(format!("a code has 1 to {MAX_CODE_CHARS} characters"));
    }
    if code.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a code has no spaces or control characters".into());
    }
    Ok(())
}

/// Channels and categories a benefit applies to; an empty list means all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
}

/// `uses` per `per`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub uses: u32,
    pub per: Period,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A UTC day.
    Day,
    /// A calendar month (UTC).
    Month,
    /// The member's current term of the tier that gives the benefit.
    Term,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
            Period::Term => "term",
        }
    }
}

impl Benefit {
    /// Every problem with the definition, each naming its field; empty when sound.
    /// `channels` are the brand's (a scope may only name those).
    pub fn validate(&self, id: &str, channels: &[Channel]) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut bad = |field: &str, code: ErrorCode, message: String| {
            errors.push(FieldError::new(field, code, message));
        };
        if !crate::points::policy::is_code(id) {
            bad(
                "id",
                ErrorCode::InvalidValue,
                "a benefit id must be 1-40 lower-case letters, digits, '_' or '-'".into(),
            );
        }
        if let Err(e) = check_line("name", &self.name, 200) {
            bad("name", e.code, e.message);
        }
        if self.description.chars().count() > 2_000 {
            bad(
                "description",
                ErrorCode::OutOfRange,
                "at most 2,000 characters".into(),
            );
        }
        let from = parse_rfc3339(&self.effective_from);
        if from.is_none() {
            bad(
                "effective_from",
                ErrorCode::InvalidValue,
                "must be an RFC 3339 instant such as 2026-01-01T00:00:00Z".into(),
            );
        }
        if let Some(to) = &self.effective_to {
            match (parse_rfc3339(to), from) {
                (None, _) => bad(
                    "effective_to",
                    ErrorCode::InvalidValue,
                    "must be an RFC 3339 instant".into(),
                ),
                (Some(to), Some(from)) if to <= from => bad(
                    "effective_to",
                    ErrorCode::InvalidValue,
                    "must come after effective_from".into(),
                ),
                _ => {}
            }
        }
        if let Some(scope) = &self.scope {
            for (i, c) in scope.channels.iter().enumerate() {
                if Channel::find(channels, c).is_none() {
                    bad(
                        &format!("scope.channels[{i}]"),
                        ErrorCode::InvalidValue,
                        format!("must be one of {}", Channel::names(channels)),
                    );
                }
            }
            for (i, c) in scope.categories.iter().enumerate() {
                if let Err(e) = check_line("category", c, 64) {
                    bad(&format!("scope.categories[{i}]"), e.code, e.message);
                }
            }
        }
        if let Some(partner) = &self.partner {
            if !crate::points::policy::is_code(&partner.id) {
                bad(
                    "partner.id",
                    ErrorCode::InvalidValue,
                    "a partner id must be 1-40 lower-case letters, digits, '_' or '-'".into(),
                );
            }
            if let Err(e) = check_line("name", &partner.name, 200) {
                bad("partner.name", e.code, e.message);
            }
        }
        if let Some(limit) = &self.limit
            && !(1..=MAX_USES).contains(&limit.uses)
        {
            bad(
                "limit.uses",
                ErrorCode::OutOfRange,
                format!("must be from 1 to {MAX_USES}"),
            );
        }
        errors
    }

    /// Whether the benefit can be used at `at`.
    pub fn in_effect(&self, at: Micros) -> bool {
        let from = parse_rfc3339(&self.effective_from).unwrap_or(Micros::MAX);
        let to = self
            .effective_to
            .as_deref()
            .and_then(parse_rfc3339)
            .unwrap_or(Micros::MAX);
        at >= from && at < to
    }
}

/// The period a use at `at` counts in: `[start, end)`. A term-limited benefit counts in
/// the holder's term (`term`); without an end, since the term began.
pub fn period_of(per: Period, at: Micros, term: (Micros, Option<Micros>)) -> (Micros, Micros) {
    let d = to_datetime(at).date_naive();
    let start_of = |day: NaiveDate| {
        crate::time::from_datetime(day.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
    };
    match per {
        Period::Day => {
            let next = d.succ_opt().unwrap_or(d);
            (start_of(d), start_of(next))
        }
        Period::Month => {
            let first = d.with_day(1).unwrap_or(d);
            let next = if first.month() == 12 {
                NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
            }
            .unwrap_or(first);
            (start_of(first), start_of(next))
        }
        Period::Term => (term.0, term.1.unwrap_or(Micros::MAX)),
    }
}

/// Why a use is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub field: &'static str,
    pub message: String,
}

/// Checks a use at `at` through `channel` on `category` against the benefit's dates,
/// scope and limit, given the uses already counted in its period.
pub fn check_use(
    benefit: &Benefit,
    channel: Option<&str>,
    category: Option<&str>,
    at: Micros,
    used_in_period: u32,
) -> Result<(), Refusal> {
    if !benefit.in_effect(at) {
        return Err(Refusal {
            code: ErrorCode::BenefitNotInEffect,
            field: "benefit",
            message: format!(
                "{} can be used from {}{}",
                benefit.name,
                benefit.effective_from,
                benefit
                    .effective_to
                    .as_deref()
                    .map(|t| format!(" until {t}"))
                    .unwrap_or_default()
            ),
        });
    }
    if let Some(scope) = &benefit.scope {
        if !scope.channels.is_empty()
            && !channel.is_some_and(|c| scope.channels.iter().any(|s| s == c))
        {
            return Err(Refusal {
                code: ErrorCode::BenefitOutOfScope,
                field: "channel",
                message: format!(
                    "{} applies only on {}; this use is on {}",
                    benefit.name,
                    scope.channels.join(", "),
                    channel.unwrap_or("an unnamed channel")
                ),
            });
        }
        if !scope.categories.is_empty()
            && !category.is_some_and(|c| scope.categories.iter().any(|s| s == c))
        {
            return Err(Refusal {
                code: ErrorCode::BenefitOutOfScope,
                field: "category",
                message: format!(
                    "{} applies only to {}; this use is on {}",
                    benefit.name,
                    scope.categories.join(", "),
                    category.unwrap_or("no category")
                ),
            });
        }
    }
    if let Some(limit) = &benefit.limit
        && used_in_period >= limit.uses
    {
        return Err(Refusal {
            code: ErrorCode::BenefitLimitReached,
            field: "benefit",
            message: format!(
                "{} allows {} use{} a {}; all are used",
                benefit.name,
                limit.uses,
                if limit.uses == 1 { "" } else { "s" },
                limit.per.as_str()
            ),
        });
    }
    Ok(())
}
