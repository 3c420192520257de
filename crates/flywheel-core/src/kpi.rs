//! KPIs per stage of a programme (seed 001: the targets a brand sets while recruiting
//! differ from those while it runs — so many new members then, so much referral
//! conversion later): the metrics a target can be set on, and how a month's actual
//! reads against its target and the brand's own baseline.

use serde::{Deserialize, Serialize};

/// What a target can be set on, each counted over one calendar month (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Members who joined.
    NewMembers,
    /// Members with any event.
    ActiveMembers,
    /// Referrals made.
    Referrals,
    /// Referrals whose invitee bought.
    ReferralConversions,
    /// Kept sales, minor units.
    Sales,
    /// Stage changes upward.
    StageUps,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::NewMembers,
        Metric::ActiveMembers,
        Metric::Referrals,
        Metric::ReferralConversions,
        Metric::Sales,
        Metric::StageUps,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::NewMembers => "new_members",
            Metric::ActiveMembers => "active_members",
            Metric::Referrals => "referrals",
            Metric::ReferralConversions => "referral_conversions",
            Metric::Sales => "sales",
            Metric::StageUps => "stage_ups",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the figure is money (minor units), shown as a decimal.
    pub fn is_money(self) -> bool {
        self == Metric::Sales
    }
}

/// The months a baseline averages: the brand's own recent history.
pub const BASELINE_MONTHS: u32 = 3;

/// A month's figure against its target and baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub actual: i64,
    pub target: Option<i64>,
    /// The average of the previous [`BASELINE_MONTHS`] months.
    pub baseline: f64,
}

impl Reading {
    /// actual − target.
    pub fn variance(&self) -> Option<i64> {
        self.target.map(|t| self.actual - t)
    }

    /// actual / target (1 = on target); none without a positive target.
    pub fn attainment(&self) -> Option<f64> {
        self.target
            .filter(|t| *t > 0)
            .map(|t| self.actual as f64 / t as f64)
    }

    /// actual / baseline; none without a baseline.
    pub fn against_baseline(&self) -> Option<f64> {
        (self.baseline > 0.0).then(|| self.actual as f64 / self.baseline)
    }
}

/// `2026-11`: a calendar month as KPIs name it; none if `text` is not one.
pub fn parse_month(text: &str) -> Option<(i32, u32)> {
    let (y, m) = text.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let (y, m) = (y.parse::<i32>().ok()?, m.parse::<u32>().ok()?);
    ((1970..=9999).contains(&y) && (1..=12).contains(&m)).then_some((y, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_and_months_parse_back() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.as_str()), Some(m));
        }
        assert_eq!(Metric::parse("members"), None);
        assert_eq!(parse_month("2026-11"), Some((2026, 11)));
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "x"] {
            assert_eq!(parse_month(bad), None, "{bad}");
        }
    }

    #[test]
    fn readings_say_variance_attainment_and_baseline() {
        let r = Reading {
            actual: 120,
            target: Some(100),
            baseline: 80.0,
        };
        assert_eq!(r.variance(), Some(20));
        assert_eq!(r.attainment(), Some(1.2));
        assert_eq!(r.against_baseline(), Some(1.5));
        let none = Reading {
            actual: 5,
            target: None,
            baseline: 0.0,
        };
        assert_eq!(
            (none.variance(), none.attainment(), none.against_baseline()),
            (None, None, None)
        );
    }
}
