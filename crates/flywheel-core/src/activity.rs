//! Activities (issue 22; seeds 001 and 002: intimacy is made by doing things together):
//! a master class, a salon, a fan meetup, a volunteer shift, an online challenge. Each
//! has a time, a place or a link, an optional capacity (beyond it RSVPs wait in line),
//! a cost in points or cash, and who may join as a segment expression.
//!
//! Checking in at the door makes a `participation` event of the activity's kind, which
//! is what facts, stages and intimacy count. A challenge (`challenge.days`, seed 002's
//! 45 days in a row) is checked in once a day; the member completes it when their run
//! of consecutive days reaches the target, and is rewarded once, with points and/or a
//! badge.

use crate::ErrorCode;
use crate::money::Money;
use crate::segment::{Language, compile};
use crate::time::{Micros, day_number, parse_rfc3339};
use crate::validation::{FieldError, check_line, check_paragraph};
use serde::{Deserialize, Serialize};

/// The longest challenge, in days.
pub const MAX_CHALLENGE_DAYS: u32 = 366;

/// An activity as defined (and stored): times as RFC 3339, money as a decimal string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub name: String,
    /// The kind of participation checking in makes (`salon`, `masterclass`,
    /// `volunteer`, `challenge`…): snake_case.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// For an online activity: where it happens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Seats; without it, everyone who may join is confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// Points taken from the member's wallet when their seat is confirmed (given back
    /// if they cancel before the start).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cost_points: i64,
    /// A price paid at the door or in the shop; shown, not collected here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_cash: Option<String>,
    /// Who may RSVP: a segment expression (`stage >= weak`); anyone when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligibility: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<Challenge>,
    /// `open`, or `cancelled` (no more RSVPs or check-ins).
    #[serde(default = "open")]
    pub status: String,
}

/// A daily check-in challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Days in a row to complete it.
    pub days: u32,
    /// Points credited on completion.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reward_points: i64,
    /// A badge given on completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn open() -> String {
    "open".into()
}

/// What checking an activity yields beyond its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub starts_at: Micros,
    pub ends_at: Micros,
}

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, ErrorCode::InvalidValue, message)
}

fn instant(field: &str, text: &str) -> Result<Micros, FieldError> {
    parse_rfc3339(text).ok_or_else(|| {
        invalid(
            field,
            format!("{field} is an RFC 3339 instant such as 2026-12-20T14:00:00+08:00"),
        )
    })
}

/// Whether `s` is a snake_case name of 1 to 32 characters.
fn is_snake(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Activity {
    /// Checks the activity, normalising its text; answers its window.
    pub fn check(&mut self, lang: &Language) -> Result<Window, FieldError> {
        self.name = check_line("name", &self.name, 100)?.trim().to_owned();
        if self.name.is_empty() {
            return Err(invalid("name", "name is empty"));
        }
        if !is_snake(&self.kind) {
            return Err(invalid(
                "kind",
                "kind is snake_case, 1 to 32 characters (salon, masterclass, challenge)",
            ));
        }
        if let Some(d) = &self.description {
            self.description = Some(check_paragraph("description", d, 2000)?);
        }
        let starts_at = instant("starts_at", &self.starts_at)?;
        let ends_at = instant("ends_at", &self.ends_at)?;
        if ends_at <= starts_at {
            return Err(invalid("ends_at", "ends_at is after starts_at"));
        }
        if let Some(p) = &self.place {
            self.place = Some(check_line("place", p, 200)?);
        }
        if let Some(l) = &self.link {
            let l = check_line("link", l, 500)?;
            if !(l.starts_with("https://") || l.starts_with("http://")) {
                return Err(invalid("link", "link is an http(s) address"));
            }
            self.link = Some(l);
        }
        if self.place.is_none() && self.link.is_none() {
            return Err(FieldError::new(
                "place",
                ErrorCode::MissingField,
                "an activity has a place or (online) a link",
            ));
        }
        if self.capacity == Some(0) {
            return Err(invalid(
                "capacity",
                "capacity is at least 1 (leave it out for no limit)",
            ));
        }
        if !(0..=10_000_000).contains(&self.cost_points) {
            return Err(invalid("cost_points", "cost_points is 0 to 10,000,000"));
        }
        if let Some(cash) = &self.cost_cash {
            let m = Money::parse(cash).map_err(|e| invalid("cost_cash", e.to_string()))?;
            if m.minor() < 0 {
                return Err(invalid("cost_cash", "cost_cash is not negative"));
            }
            self.cost_cash = Some(m.to_string());
        }
        if let Some(rule) = &self.eligibility {
            compile(rule, lang).map_err(|e| invalid("eligibility", e.to_string()))?;
        }
        if let Some(c) = &mut self.challenge {
            if !(1..=MAX_CHALLENGE_DAYS).contains(&c.days) {
                return Err(invalid(
                    "challenge.days",
                    format!("challenge.days is 1 to {MAX_CHALLENGE_DAYS}"),
                ));
            }
            if !(0..=1_000_000).contains(&c.reward_points) {
                return Err(invalid(
                    "challenge.reward_points",
                    "reward_points is 0 to 1,000,000",
                ));
            }
            if let Some(b) = &c.badge {
                let b = check_line("challenge.badge", b, 64)?.trim().to_owned();
                if b.is_empty() {
                    return Err(invalid("challenge.badge", "badge is empty"));
                }
                c.badge = Some(b);
            }
            let span = (ends_at - starts_at) / crate::time::DAY + 1;
            if i64::from(c.days) > span {
                return Err(invalid(
                    "challenge.days",
                    format!(
                        "{} days in a row do not fit between starts_at and ends_at",
                        c.days
                    ),
                ));
            }
        }
        if !matches!(self.status.as_str(), "open" | "cancelled") {
            return Err(invalid("status", "status is open or cancelled"));
        }
        Ok(Window { starts_at, ends_at })
    }
}

/// Whether an RSVP made now is confirmed (a seat is free) or waits in line.
pub fn seat_free(capacity: Option<u32>, confirmed: i64) -> bool {
    capacity.is_none_or(|c| confirmed < i64::from(c))
}

/// The run of consecutive UTC days ending at the latest of `days` (sorted or not).
pub fn streak(days: &[i64]) -> u32 {
    let mut sorted = days.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut run = 0;
    let mut next: Option<i64> = None;
    for d in sorted.iter().rev() {
        match next {
            Some(n) if *d != n => break,
            _ => {}
        }
        run += 1;
        next = Some(d - 1);
    }
    run
}

/// The UTC day a check-in at `at` counts for.
pub fn check_in_day(at: Micros) -> i64 {
    day_number(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn salon() -> Activity {
        Activity {
            name: "Winter tea salon".into(),
            kind: "salon".into(),
            description: None,
            starts_at: "2026-12-20T14:00:00+08:00".into(),
            ends_at: "2026-12-20T17:00:00+08:00".into(),
            place: Some("Flagship store, Nanjing Rd".into()),
            link: None,
            capacity: Some(2),
            cost_points: 0,
            cost_cash: Some("88".into()),
            eligibility: Some("stage >= weak".into()),
            challenge: None,
            status: "open".into(),
        }
    }

    #[test]
    fn a_sound_activity_checks_and_mistakes_name_their_field() {
        let lang = Language::new(365);
        let mut a = salon();
        let w = a.check(&lang).unwrap();
        assert!(w.ends_at > w.starts_at);
        assert_eq!(a.cost_cash.as_deref(), Some("88.00"));
        let fails = |f: fn(&mut Activity)| {
            let mut a = salon();
            f(&mut a);
            a.check(&lang).unwrap_err().field
        };
        assert_eq!(fails(|a| a.kind = "Tea Salon".into()), "kind");
        assert_eq!(fails(|a| a.ends_at = a.starts_at.clone()), "ends_at");
        assert_eq!(fails(|a| a.place = None), "place");
        assert_eq!(fails(|a| a.capacity = Some(0)), "capacity");
        assert_eq!(
            fails(|a| a.eligibility = Some("stage >=".into())),
            "eligibility"
        );
        assert_eq!(fails(|a| a.cost_cash = Some("-1".into())), "cost_cash");
        assert_eq!(
            fails(|a| {
                a.challenge = Some(Challenge {
                    days: 45,
                    reward_points: 100,
                    badge: None,
                })
            }),
            "challenge.days"
        );
    }

    #[test]
    fn seats_and_streaks() {
        assert!(seat_free(Some(2), 1));
        assert!(!seat_free(Some(2), 2));
        assert!(seat_free(None, 1_000));
        assert_eq!(streak(&[]), 0);
        assert_eq!(streak(&[10, 11, 12]), 3);
        assert_eq!(streak(&[12, 10, 11, 11]), 3);
        assert_eq!(streak(&[5, 6, 8, 9]), 2);
    }
}
