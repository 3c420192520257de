//! What happens to a paid tier or a card when its term and grace are over: kept by the
//! retention measure (保级), or lowered as the programme's downgrade policy says, or
//! lapsed. Decided here from numbers the store reads; nothing here reads a clock.

use super::programme::{DowngradePolicy, Programme, ProgrammeKind, Tier};
use super::state::{Membership, term_end};
use crate::money::Money;
use crate::time::to_rfc3339;

/// What the measures of a finished term came to, in each measure's unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TermMeasures {
    /// Money spent on orders in the term, less refunds (minor units).
    pub spend: i64,
    /// Points earned in the term.
    pub points: i64,
}

impl TermMeasures {
    pub fn of(&self, measure: super::Measure) -> i64 {
        match measure {
            super::Measure::Spend => self.spend,
            super::Measure::Points => self.points,
        }
    }
}

/// The outcome for one membership at the end of its grace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermEnd {
    /// The membership from now on; None: it lapsed.
    pub next: Option<Membership>,
    /// `retention`, `downgrade` or `lapse`.
    pub rule: &'static str,
    /// Why, in a sentence.
    pub reason: String,
}

fn amount(measure: super::Measure, n: i64) -> String {
    match measure {
        super::Measure::Spend => Money::from_minor(n).to_string(),
        super::Measure::Points => format!("{n} points"),
    }
}

/// Decides what follows a membership whose term (and grace) is over. The next term, if
/// any, runs on from where the last one ended, so a late sweep gives the same terms.
pub fn end_of_term(programme: &Programme, m: &Membership, measures: TermMeasures) -> TermEnd {
    if programme.kind == ProgrammeKind::Earned {
        return end_of_earned(programme, m, measures);
    }
    let ended = m.expires_at.unwrap_or(m.term_start);
    let next_term = |tier: &str| Membership {
        tier: tier.to_owned(),
        since: if tier == m.tier { m.since } else { ended },
        term_start: ended,
        expires_at: term_end(programme, ended),
        ..m.clone()
    };
    if let Some(r) = &programme.retention
        && let Ok(needed) = r.needed()
    {
        let got = measures.of(r.measure);
        if got >= needed {
            return TermEnd {
                next: Some(next_term(&m.tier)),
                rule: "retention",
                reason: format!(
                    "kept {}: {} in the term ending {}, at least {} keeps it",
                    m.tier,
                    amount(r.measure, got),
                    to_rfc3339(ended),
                    amount(r.measure, needed)
                ),
            };
        }
    }
    let not_kept = match &programme.retention {
        Some(r) => format!(
            "{} in the term ending {}, less than the {} that keeps {}",
            amount(r.measure, measures.of(r.measure)),
            to_rfc3339(ended),
            r.needed().map(|n| amount(r.measure, n)).unwrap_or_default(),
            m.tier
        ),
        None => format!("the term ended {} and was not renewed", to_rfc3339(ended)),
    };
    let lower = match programme.downgrade.policy {
        DowngradePolicy::OneDown => programme.below(&m.tier).map(|t| t.id.clone()),
        DowngradePolicy::Recompute => programme
            .ladder()
            .into_iter()
            .rev()
            .filter(|t| t.rank < programme.tier(&m.tier).map_or(0, |x| x.rank))
            // The highest lower tier the term's measure reaches; a tier with no upgrade
            // threshold (the ladder's floor) is reached by anyone.
            .find(|t| {
                t.upgrade.as_ref().is_none_or(|u| {
                    u.needed()
                        .map(|n| measures.of(u.measure) >= n)
                        .unwrap_or(false)
                })
            })
            .map(|t| t.id.clone()),
        DowngradePolicy::Never => None,
    };
    // Paid tiers below the one held were paid for only as part of it: a member lowered
    // to one keeps it for a term, as the ladder's floor; the lowest tier lapses.
    match lower {
        Some(tier) => TermEnd {
            reason: format!("lowered from {} to {tier}: {not_kept}", m.tier),
            next: Some(next_term(&tier)),
            rule: "downgrade",
        },
        None => TermEnd {
            next: None,
            rule: "lapse",
            reason: format!("{} lapsed: {not_kept}", m.tier),
        },
    }
}

/// The highest tier of an earned programme that `measures` (taken over its window)
/// reach, if any.
pub fn earned_tier(programme: &Programme, measures: TermMeasures) -> Option<&Tier> {
    programme.ladder().into_iter().rev().find(|t| {
        t.qualify.as_ref().is_some_and(|q| {
            q.needed()
                .map(|n| measures.of(q.measure) >= n)
                .unwrap_or(false)
        })
    })
}

/// The end of an earned tier's term: the window to its end is measured again. Reaching
/// the tier (or a higher one) keeps it for another window; otherwise the downgrade
/// policy decides: `recompute` to the tier reached, `one_down` one below, `never` kept.
fn end_of_earned(programme: &Programme, m: &Membership, measures: TermMeasures) -> TermEnd {
    let ended = m.expires_at.unwrap_or(m.term_start);
    let next_term = |tier: &str| Membership {
        tier: tier.to_owned(),
        since: if tier == m.tier { m.since } else { ended },
        term_start: ended,
        expires_at: term_end(programme, ended),
        ..m.clone()
    };
    let rank = programme.tier(&m.tier).map_or(0, |t| t.rank);
    let window = programme.window_days();
    let reached = earned_tier(programme, measures);
    let qualify = programme.tier(&m.tier).and_then(|t| t.qualify.as_ref());
    let measured = match qualify {
        Some(q) => format!(
            "{} in the {window} days to {}",
            amount(q.measure, measures.of(q.measure)),
            to_rfc3339(ended)
        ),
        None => format!(
            "nothing qualifies for it in the {window} days to {}",
            to_rfc3339(ended)
        ),
    };
    let needed = qualify
        .and_then(|q| q.needed().ok().map(|n| amount(q.measure, n)))
        .unwrap_or_default();
    if reached.is_some_and(|t| t.rank >= rank) {
        return TermEnd {
            next: Some(next_term(&m.tier)),
            rule: "retention",
            reason: format!("kept {}: {measured}, at least {needed} keeps it", m.tier),
        };
    }
    let not_kept = format!("{measured}, less than the {needed} that keeps {}", m.tier);
    let lower = match programme.downgrade.policy {
        DowngradePolicy::Never => {
            return TermEnd {
                next: Some(next_term(&m.tier)),
                rule: "retention",
                reason: format!(
                    "kept {}: the programme never lowers a tier ({not_kept})",
                    m.tier
                ),
            };
        }
        DowngradePolicy::Recompute => reached,
        DowngradePolicy::OneDown => programme.below(&m.tier),
    };
    match lower {
        Some(tier) => TermEnd {
            reason: format!("lowered from {} to {}: {not_kept}", m.tier, tier.id),
            next: Some(next_term(&tier.id)),
            rule: "downgrade",
        },
        None => TermEnd {
            next: None,
            rule: "lapse",
            reason: format!("{} lapsed: {not_kept}", m.tier),
        },
    }
}
