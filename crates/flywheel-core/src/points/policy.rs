//! The `[points]` part of the config: programmes, expiry, the value of a point for the
//! liability, and the limits on moving points around.

use crate::money::Money;
use crate::time::{self, Micros};
use chrono::{Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

pub const DEFAULT_PROGRAMME: &str = "points";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PointsPolicy {
    /// Programmes members can hold points in; the first is the default.
    pub programmes: Vec<String>,
    /// A lot expires at the end (UTC) of the calendar year this many years after the
    /// year it was earned: 1 = end of next year.
    pub expire_after_years: u32,
    /// Points never expire (overrides `expire_after_years`).
    pub never_expire: bool,
    /// What one point costs the brand, for the liability in finance reports ("0.01").
    #[serde(with = "crate::money::text")]
    pub value_per_point: Money,
    /// Most points a member may transfer to others in one UTC day.
    pub transfer_daily_limit: i64,
}

impl Default for PointsPolicy {
    fn default() -> Self {
        PointsPolicy {
            programmes: vec![DEFAULT_PROGRAMME.to_owned()],
            expire_after_years: 1,
            never_expire: false,
            value_per_point: Money::from_minor(1),
            transfer_daily_limit: 10_000,
        }
    }
}

impl PointsPolicy {
    pub fn validate(&self) -> Result<(), String> {
        if self.programmes.is_empty() {
            return Err("points.programmes must name at least one programme".into());
        }
        for p in &self.programmes {
            if !is_code(p) {
                return Err(format!(
                    "points.programmes: {p:?} must be 1-40 lower-case letters, digits, '_' or '-'"
                ));
            }
        }
        if self.expire_after_years > 100 {
            return Err("points.expire_after_years must be at most 100".into());
        }
        if self.transfer_daily_limit < 0 {
            return Err("points.transfer_daily_limit must not be negative".into());
        }
        Ok(())
    }

    pub fn default_programme(&self) -> &str {
        &self.programmes[0]
    }

    pub fn knows(&self, programme: &str) -> bool {
        self.programmes.iter().any(|p| p == programme)
    }

    /// What `points` outstanding cost the brand at `value_per_point`; `None` if that is
    /// more money than can be counted.
    pub fn liability(&self, points: i64) -> Option<Money> {
        points
            .checked_mul(self.value_per_point.minor())
            .map(Money::from_minor)
    }

    /// When points earned at `earned_at` expire: the first instant of the year after the
    /// last year they are valid in.
    pub fn expires_at(&self, earned_at: Micros) -> Option<Micros> {
        if self.never_expire {
            return None;
        }
        let year = time::to_datetime(earned_at).year() + self.expire_after_years as i32 + 1;
        Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0)
            .single()
            .map(time::from_datetime)
    }
}

/// Breakage: the share of points leaving members' hands that expired unused, to four
/// decimals (0 when none left).
pub fn breakage_rate(expired: i64, redeemed: i64) -> f64 {
    let gone = expired + redeemed;
    if gone <= 0 {
        return 0.0;
    }
    (expired as f64 / gone as f64 * 10_000.0).round() / 10_000.0
}

/// Identifiers chosen by people (programmes, rules, rewards, partners).
pub fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_expire_at_the_end_of_the_next_calendar_year() {
        let policy = PointsPolicy::default();
        let earned = time::parse_rfc3339("2025-03-15T10:00:00Z").unwrap();
        let expires = policy.expires_at(earned).unwrap();
        assert_eq!(time::to_rfc3339(expires), "2027-01-01T00:00:00Z");
        let late = time::parse_rfc3339("2025-12-31T23:59:59Z").unwrap();
        assert_eq!(policy.expires_at(late), Some(expires));
        let never = PointsPolicy {
            never_expire: true,
            ..PointsPolicy::default()
        };
        assert_eq!(never.expires_at(earned), None);
    }

    #[test]
    fn liability_and_breakage_are_exact_where_they_can_be() {
        assert_eq!(
            PointsPolicy::default()
                .liability(728_838)
                .unwrap()
                .to_string(),
            "7288.38"
        );
        assert_eq!(breakage_rate(487, 5), 0.9898);
        assert_eq!(breakage_rate(0, 0), 0.0);
    }
}
