//! The daily points lottery (seed 000): a member pays points per draw, up to a daily
//! limit, and wins one of the prizes or nothing. Each prize has a chance in basis points
//! (1/10,000; what the prizes leave is the chance of nothing) and may have a stock.
//!
//! A draw is auditable: the store keeps the random number it drew and the version of
//! the prize table, and [`Lottery::pick`] maps that number to the same prize every time.
//! A prize whose stock is gone is not redrawn — the draw wins nothing — so the chances
//! stay as published and stock is never overdrawn.

use crate::ErrorCode;
use crate::validation::{FieldError, check_line};
use serde::{Deserialize, Serialize};

/// The chances are out of this many.
pub const CHANCE_SCALE: u64 = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prize {
    pub id: String,
    pub name: String,
    /// Basis points: 250 is a 2.5% chance.
    pub chance: u64,
    /// None: unlimited.
    pub stock: Option<i64>,
    /// Points the prize credits, if it is points.
    pub points: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lottery {
    pub id: String,
    pub name: String,
    pub cost_points: i64,
    /// Draws per member per UTC day.
    pub daily_limit: u32,
    pub prizes: Vec<Prize>,
    pub active: bool,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::new(field, ErrorCode::InvalidValue, message)
}

impl Lottery {
    pub fn check(&self) -> Result<(), FieldError> {
        let name = check_line("name", &self.name, 200)?;
        if name.trim().is_empty() {
            return Err(invalid("name", "name is empty"));
        }
        if !(0..=1_000_000).contains(&self.cost_points) {
            return Err(FieldError::new(
                "cost_points",
                ErrorCode::OutOfRange,
                "cost_points is 0 to 1,000,000",
            ));
        }
        if !(1..=100).contains(&self.daily_limit) {
            return Err(FieldError::new(
                "daily_limit",
                ErrorCode::OutOfRange,
                "daily_limit is 1 to 100",
            ));
        }
        if self.prizes.is_empty() || self.prizes.len() > 50 {
            return Err(invalid("prizes", "a lottery has 1 to 50 prizes"));
        }
        let mut total = 0;
        for (i, p) in self.prizes.iter().enumerate() {
            let field = |f: &str| format!("prizes[{i}].{f}");
            let ok_id = !p.id.is_empty()
                && p.id.len() <= 40
                && p.id.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !ok_id {
                return Err(invalid(
                    field("id"),
                    "a prize id is 1-40 lower-case letters, digits, '-' or '_'",
                ));
            }
            if self.prizes[..i].iter().any(|q| q.id == p.id) {
                return Err(FieldError::new(
                    field("id"),
                    ErrorCode::Duplicate,
                    format!("prize {} comes twice", p.id),
                ));
            }
            let name = check_line(&field("name"), &p.name, 200)?;
            if name.trim().is_empty() {
                return Err(invalid(field("name"), "name is empty"));
            }
            if p.chance == 0 || p.chance > CHANCE_SCALE {
                return Err(FieldError::new(
                    field("chance"),
                    ErrorCode::OutOfRange,
                    "chance is 1 to 10,000 basis points",
                ));
            }
            if p.stock.is_some_and(|s| !(0..=100_000_000).contains(&s)) {
                return Err(FieldError::new(
                    field("stock"),
                    ErrorCode::OutOfRange,
                    "stock is 0 to 100,000,000",
                ));
            }
            if p.points.is_some_and(|n| !(1..=1_000_000).contains(&n)) {
                return Err(FieldError::new(
                    field("points"),
                    ErrorCode::OutOfRange,
                    "points is 1 to 1,000,000",
                ));
            }
            total += p.chance;
        }
        if total > CHANCE_SCALE {
            return Err(invalid(
                "prizes",
                format!("the prizes' chances add up to {total}; at most 10,000 basis points"),
            ));
        }
        Ok(())
    }

    /// The prize a drawn number wins under this table, by index; None wins nothing.
    /// The number is taken modulo 10,000 and walks the prizes' chances in order.
    pub fn pick(&self, number: u64) -> Option<usize> {
        let mut slot = number % CHANCE_SCALE;
        for (i, p) in self.prizes.iter().enumerate() {
            if slot < p.chance {
                return Some(i);
            }
            slot -= p.chance;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lottery() -> Lottery {
        Lottery {
            id: "daily".into(),
            name: "Daily draw".into(),
            cost_points: 10,
            daily_limit: 3,
            prizes: vec![
                Prize {
                    id: "cup".into(),
                    name: "A cup".into(),
                    chance: 100,
                    stock: Some(5),
                    points: None,
                },
                Prize {
                    id: "fifty".into(),
                    name: "50 points".into(),
                    chance: 2_000,
                    stock: None,
                    points: Some(50),
                },
            ],
            active: true,
        }
    }

    #[test]
    fn a_number_always_picks_the_same_prize() {
        let l = lottery();
        assert!(l.check().is_ok());
        assert_eq!(l.pick(0), Some(0));
        assert_eq!(l.pick(99), Some(0));
        assert_eq!(l.pick(100), Some(1));
        assert_eq!(l.pick(2_099), Some(1));
        assert_eq!(l.pick(2_100), None);
        assert_eq!(l.pick(10_000 + 50), Some(0));
        // Over many numbers the shares match the chances exactly.
        let won: usize = (0..10_000).filter(|n| l.pick(*n) == Some(1)).count();
        assert_eq!(won, 2_000);
    }

    #[test]
    fn chances_add_up_to_at_most_one() {
        let mut l = lottery();
        l.prizes[1].chance = 9_950;
        assert_eq!(l.check().unwrap_err().field, "prizes");
        let mut l = lottery();
        l.prizes[1].id = "cup".into();
        assert_eq!(l.check().unwrap_err().field, "prizes[1].id");
    }
}
