//! The largest amounts Flywheel accepts: per order and per points posting. Everything
//! larger is refused at the edge (422 `out_of_range`, naming the field), so the sums the
//! ledger and the member facts keep stay far from the edge of an `i64`.
//!
//! Read from the `[limits]` part of the config, beside the HTTP limits the API applies.

use crate::money::Money;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The largest amount of one purchase, refund, deposit or item price.
    #[serde(with = "crate::money::text")]
    pub max_order_amount: Money,
    /// The most points one posting may move: an earning, adjustment, redemption,
    /// transfer or exchange.
    pub max_points_per_posting: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_order_amount: Money::from_minor(1_000_000_000), // 10,000,000.00
            max_points_per_posting: 100_000_000,
        }
    }
}

/// `i64::MAX` divided by this leaves room for a billion maximal postings or orders on
/// one account before a sum could overflow.
const HEADROOM: i64 = 1_000_000_000;

impl Limits {
    pub fn validate(&self) -> Result<(), String> {
        let most = i64::MAX / HEADROOM;
        if !(1..=most).contains(&self.max_order_amount.minor()) {
            return Err(format!(
                "limits.max_order_amount must be more than 0 and at most {}",
                Money::from_minor(most)
            ));
        }
        if !(1..=most).contains(&self.max_points_per_posting) {
            return Err(format!(
                "limits.max_points_per_posting must be from 1 to {most}"
            ));
        }
        Ok(())
    }

    /// Whole points from 1 to the maximum per posting.
    pub fn points_in_range(&self, points: i64) -> bool {
        (1..=self.max_points_per_posting).contains(&points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_silly_values_are_named() {
        assert_eq!(Limits::default().validate(), Ok(()));
        let huge = Limits {
            max_points_per_posting: i64::MAX,
            ..Limits::default()
        };
        assert!(
            huge.validate()
                .unwrap_err()
                .contains("max_points_per_posting")
        );
        let zero = Limits {
            max_order_amount: Money::ZERO,
            ..Limits::default()
        };
        assert!(zero.validate().unwrap_err().contains("max_order_amount"));
    }
}
