//! Flash sales (秒杀): an item at a price in cash and/or points, a stock, a window and a
//! per-member limit. A claim holds one unit until it is paid; unpaid after
//! `pay_within_minutes`, it lapses and the unit goes back on sale. The store keeps the
//! stock in one counter moved only while it is above zero, so it is never oversold.

use crate::ErrorCode;
use crate::money::Money;
use crate::time::{MINUTE, Micros};
use crate::validation::{FieldError, check_line};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashSale {
    pub id: String,
    pub name: String,
    /// The product on sale, if it is in the catalogue.
    pub sku: Option<String>,
    pub price_cash: Money,
    pub price_points: i64,
    pub stock: i64,
    pub starts_at: Micros,
    pub ends_at: Micros,
    pub per_member_limit: u32,
    pub pay_within_minutes: u32,
}

fn range(field: &str, message: &str) -> FieldError {
    FieldError::new(field, ErrorCode::OutOfRange, message)
}

impl FlashSale {
    pub fn check(&self) -> Result<(), FieldError> {
        let name = check_line("name", &self.name, 200)?;
        if name.trim().is_empty() {
            return Err(FieldError::new(
                "name",
                ErrorCode::InvalidValue,
                "name is empty",
            ));
        }
        if let Some(sku) = &self.sku {
            check_line("sku", sku, super::product::MAX_SKU)?;
        }
        if !(0..=1_000_000_000).contains(&self.price_points) {
            return Err(range("price.points", "price.points is 0 to 1,000,000,000"));
        }
        if self.price_cash.minor() == 0 && self.price_points == 0 {
            return Err(FieldError::new(
                "price",
                ErrorCode::InvalidValue,
                "a flash sale has a price in cash, in points or both",
            ));
        }
        if !(1..=1_000_000).contains(&self.stock) {
            return Err(range("stock", "stock is 1 to 1,000,000"));
        }
        if self.ends_at <= self.starts_at {
            return Err(FieldError::new(
                "ends_at",
                ErrorCode::InvalidValue,
                "ends_at must be after starts_at",
            ));
        }
        if !(1..=100).contains(&self.per_member_limit) {
            return Err(range("per_member_limit", "per_member_limit is 1 to 100"));
        }
        if !(1..=1440).contains(&self.pay_within_minutes) {
            return Err(range(
                "pay_within_minutes",
                "pay_within_minutes is 1 to 1440",
            ));
        }
        Ok(())
    }

    /// Whether claims are taken at `now`.
    pub fn open_at(&self, now: Micros) -> bool {
        now >= self.starts_at && now < self.ends_at
    }

    /// When a claim made at `at` lapses unpaid.
    pub fn pay_by(&self, at: Micros) -> Micros {
        at + i64::from(self.pay_within_minutes) * MINUTE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale() -> FlashSale {
        FlashSale {
            id: "mooncake".into(),
            name: "Mooncake box".into(),
            sku: None,
            price_cash: Money::from_minor(1990),
            price_points: 0,
            stock: 10,
            starts_at: 100 * MINUTE,
            ends_at: 220 * MINUTE,
            per_member_limit: 1,
            pay_within_minutes: 15,
        }
    }

    #[test]
    fn a_sale_is_open_in_its_window_and_claims_lapse_after_their_minutes() {
        let s = sale();
        assert!(s.check().is_ok());
        assert!(!s.open_at(99 * MINUTE) && s.open_at(100 * MINUTE) && !s.open_at(220 * MINUTE));
        assert_eq!(s.pay_by(100 * MINUTE), 115 * MINUTE);
        let mut free = sale();
        free.price_cash = Money::ZERO;
        assert_eq!(free.check().unwrap_err().field, "price");
        let mut backwards = sale();
        backwards.ends_at = backwards.starts_at;
        assert_eq!(backwards.check().unwrap_err().field, "ends_at");
    }
}
