//! Money as integer minor units (fen, cents) inside; decimal strings at the edges.
//!
//! Floats never touch an amount: `"19.90"` parses to 1990 minor units and prints back
//! as `"19.90"`, so sums are exact to the last fen.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of the brand's currency in minor units (two decimals).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(i64);

/// Why a decimal string is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal string such as \"19.90\"")]
    NotDecimal,
    #[error("must not be negative")]
    Negative,
    #[error("must have at most 2 decimals")]
    TooManyDecimals,
    #[error("is too large")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_minor(minor: i64) -> Money {
        Money(minor)
    }

    pub const fn minor(self) -> i64 {
        self.0
    }

    /// Parses a non-negative decimal string with at most two decimals: `"12"`, `"12.5"`,
    /// `"12.50"`. Signs, exponents, spaces and thousands separators are refused.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        if text.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !digits(whole)
            || !digits(fraction)
            || (text.contains('.') && fraction.is_empty())
        {
            return Err(MoneyError::NotDecimal);
        }
        if fraction.len() > 2 {
            return Err(MoneyError::TooManyDecimals);
        }
        // 15 integer digits keeps every sum of a realistic history far from i64::MAX.
        if whole.trim_start_matches('0').len() > 15 {
            return Err(MoneyError::TooLarge);
        }
        let whole: i64 = whole.parse().map_err(|_| MoneyError::TooLarge)?;
        let mut cents: i64 = 0;
        for (i, b) in fraction.bytes().enumerate() {
            cents += i64::from(b - b'0') * if i == 0 { 10 } else { 1 };
        }
        Ok(Money(whole * 100 + cents))
    }

    pub fn saturating_sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }

    /// The sum, or `None` if it does not fit.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Serde as a decimal string (`"0.01"`), for config files and API bodies:
/// `#[serde(with = "crate::money::text")]`.
pub mod text {
    use super::Money;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Money, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        let text = String::deserialize(d)?;
        Money::parse(&text).map_err(|e| serde::de::Error::custom(format!("{text:?} {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_parse_to_exact_minor_units() {
        assert_eq!(Money::parse("0").unwrap().minor(), 0);
        assert_eq!(Money::parse("12").unwrap().minor(), 1200);
        assert_eq!(Money::parse("12.5").unwrap().minor(), 1250);
        assert_eq!(Money::parse("12.05").unwrap().minor(), 1205);
        assert_eq!(Money::parse("0.10").unwrap().to_string(), "0.10");
        assert_eq!(Money::parse("268.28").unwrap().to_string(), "268.28");
    }

    #[test]
    fn anything_but_a_plain_non_negative_decimal_is_refused_with_its_reason() {
        assert_eq!(Money::parse("-1"), Err(MoneyError::Negative));
        assert_eq!(Money::parse("1.234"), Err(MoneyError::TooManyDecimals));
        for bad in ["", "abc", "1e3", "+1", " 1", "1.", ".5", "1,000", "1.2.3"] {
            assert_eq!(Money::parse(bad), Err(MoneyError::NotDecimal), "{bad:?}");
        }
        assert_eq!(Money::parse("10000000000000000"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn negative_balances_print_with_a_sign() {
        assert_eq!(Money::from_minor(-5).to_string(), "-0.05");
    }
}
