//! Coupons: what a definition takes off an order, and its limits. Four kinds:
//! - `amount_off`: a fixed amount (10 off);
//! - `percent_off`: a percent of what the coupon covers, capped (`max_off`);
//! - `free_item`: one unit of a named SKU in the order is free;
//! - `buy_n_get_n` (seed 002's 买三赠三, buy three get three): for every `buy + get`
//!   units the coupon covers, the cheapest `get` of them are free.
//!
//! A coupon may be scoped to categories and sub-brands; it then covers only the order
//! lines in scope (a line's category comes from the order or else the catalogue), and
//! `min_spend` is judged on what it covers. The discount never exceeds what it covers.

use crate::ErrorCode;
use crate::money::Money;
use crate::time::{DAY, Micros};
use crate::validation::{FieldError, check_line};
use serde::{Deserialize, Serialize};

/// What the coupon takes off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Offer {
    AmountOff {
        amount: Money,
    },
    PercentOff {
        percent: u32,
        max_off: Option<Money>,
    },
    FreeItem {
        sku: String,
    },
    BuyNGetN {
        buy: u32,
        get: u32,
    },
}

impl Offer {
    pub fn kind(&self) -> &'static str {
        match self {
            Offer::AmountOff { .. } => "amount_off",
            Offer::PercentOff { .. } => "percent_off",
            Offer::FreeItem { .. } => "free_item",
            Offer::BuyNGetN { .. } => "buy_n_get_n",
        }
    }
}

/// A coupon definition, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    pub id: String,
    pub name: String,
    pub offer: Offer,
    pub min_spend: Option<Money>,
    /// Empty: every category (and every sub-brand).
    pub categories: Vec<String>,
    pub sub_brands: Vec<String>,
    /// A code lasts this many days from its issue…
    pub valid_days: Option<u32>,
    /// …and may be issued and redeemed only in this window.
    pub valid_from: Option<Micros>,
    pub valid_until: Option<Micros>,
    /// Codes one member may hold, used or not.
    pub per_member_limit: Option<u32>,
    /// Codes issued in all, and the discount granted in all.
    pub budget_count: Option<i64>,
    pub budget_amount: Option<Money>,
    pub active: bool,
    /// Give-one-get-one (送): points the giver and the friend each earn when a code the
    /// giver gifted is redeemed on the friend's first purchase.
    #[serde(default)]
    pub gift_points: Option<i64>,
}

/// One line of the order a coupon is redeemed against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderLine {
    pub sku: String,
    pub category: Option<String>,
    pub sub_brand: Option<String>,
    pub qty: u32,
    /// The unit price; from the catalogue when the order does not say.
    pub price: Option<Money>,
}

/// A code as members type it: trimmed and upper-case (codes are issued upper-case).
pub fn normalise_code(code: &str) -> String {
    code.trim().to_uppercase()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub amount: Money,
    /// May be empty for an unscoped amount or percent off.
    pub lines: Vec<OrderLine>,
}

/// Why a coupon does not apply to an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    BelowMinSpend { min: Money, covered: Money },
    NotApplicable(String),
}

impl Refusal {
    pub fn code(&self) -> ErrorCode {
        match self {
            Refusal::BelowMinSpend { .. } => ErrorCode::BelowMinSpend,
            Refusal::NotApplicable(_) => ErrorCode::CouponNotApplicable,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::BelowMinSpend { min, covered } => format!(
                "the coupon needs a spend of {min} on what it covers; the order has {covered}"
            ),
            Refusal::NotApplicable(why) => why.clone(),
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, ErrorCode::InvalidValue, message)
}

impl Coupon {
    /// Checks what serde cannot: ranges, names and that the coupon can ever be used.
    pub fn check(&self) -> Result<(), FieldError> {
        let name = check_line("name", &self.name, 200)?;
        if name.trim().is_empty() {
            return Err(invalid("name", "name is empty"));
        }
        match &self.offer {
            Offer::AmountOff { amount } if amount.minor() <= 0 => {
                return Err(invalid("amount", "amount must be more than 0"));
            }
            Offer::PercentOff { percent, max_off } => {
                if !(1..=100).contains(percent) {
                    return Err(FieldError::new(
                        "percent",
                        ErrorCode::OutOfRange,
                        "percent is 1 to 100",
                    ));
                }
                if max_off.is_some_and(|m| m.minor() <= 0) {
                    return Err(invalid("max_off", "max_off must be more than 0"));
                }
            }
            Offer::FreeItem { sku } => {
                let sku = check_line("sku", sku, super::product::MAX_SKU)?;
                if sku.trim().is_empty() {
                    return Err(invalid("sku", "a free item names its SKU"));
                }
            }
            Offer::BuyNGetN { buy, get } => {
                if !(1..=100).contains(buy) {
                    return Err(FieldError::new(
                        "buy",
                        ErrorCode::OutOfRange,
                        "buy is 1 to 100",
                    ));
                }
                if !(1..=100).contains(get) {
                    return Err(FieldError::new(
                        "get",
                        ErrorCode::OutOfRange,
                        "get is 1 to 100",
                    ));
                }
            }
            Offer::AmountOff { .. } => {}
        }
        for (field, list) in [
            ("categories", &self.categories),
            ("sub_brands", &self.sub_brands),
        ] {
            if list.len() > 50 {
                return Err(invalid(field, format!("{field} holds at most 50 names")));
            }
            for (i, v) in list.iter().enumerate() {
                let v = check_line(&format!("{field}[{i}]"), v, 64)?;
                if v.trim().is_empty() {
                    return Err(invalid(&format!("{field}[{i}]"), "a name is empty"));
                }
            }
        }
        if self.valid_days.is_none() && self.valid_until.is_none() {
            return Err(FieldError::new(
                "valid_days",
                ErrorCode::MissingField,
                "a coupon needs valid_days or valid_until: codes must end",
            ));
        }
        if let Some(d) = self.valid_days
            && !(1..=3650).contains(&d)
        {
            return Err(FieldError::new(
                "valid_days",
                ErrorCode::OutOfRange,
                "valid_days is 1 to 3650",
            ));
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until <= from
        {
            return Err(invalid(
                "valid_until",
                "valid_until must be after valid_from",
            ));
        }
        if let Some(n) = self.per_member_limit
            && !(1..=1000).contains(&n)
        {
            return Err(FieldError::new(
                "per_member_limit",
                ErrorCode::OutOfRange,
                "per_member_limit is 1 to 1000",
            ));
        }
        if let Some(n) = self.budget_count
            && !(1..=100_000_000).contains(&n)
        {
            return Err(FieldError::new(
                "budget_count",
                ErrorCode::OutOfRange,
                "budget_count is 1 to 100,000,000",
            ));
        }
        if self
            .gift_points
            .is_some_and(|p| !(1..=1_000_000).contains(&p))
        {
            return Err(FieldError::new(
                "gift_points",
                ErrorCode::OutOfRange,
                "gift_points is 1 to 1,000,000",
            ));
        }
        if self.budget_amount.is_some_and(|m| m.minor() <= 0) {
            return Err(invalid(
                "budget_amount",
                "budget_amount must be more than 0",
            ));
        }
        Ok(())
    }

    /// Whether a code may be issued at `now` (switched on and inside its window).
    pub fn issuable(&self, now: Micros) -> bool {
        self.active
            && self.valid_from.is_none_or(|f| now >= f)
            && self.valid_until.is_none_or(|u| now < u)
    }

    /// When a code issued at `at` stops being valid.
    pub fn expires_at(&self, at: Micros) -> Micros {
        let by_days = self.valid_days.map(|d| at + i64::from(d) * DAY);
        match (by_days, self.valid_until) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(at),
        }
    }

    fn covers(&self, line: &OrderLine) -> bool {
        let in_list = |list: &[String], v: &Option<String>| {
            list.is_empty() || v.as_ref().is_some_and(|v| list.contains(v))
        };
        in_list(&self.categories, &line.category) && in_list(&self.sub_brands, &line.sub_brand)
    }

    fn scoped(&self) -> bool {
        !self.categories.is_empty() || !self.sub_brands.is_empty()
    }

    /// What the coupon takes off `order`, or why it does not apply.
    pub fn discount(&self, order: &Order) -> Result<Money, Refusal> {
        let needs_lines =
            self.scoped() || matches!(self.offer, Offer::FreeItem { .. } | Offer::BuyNGetN { .. });
        if needs_lines && order.lines.is_empty() {
            return Err(Refusal::NotApplicable(
                "this coupon needs the order's items (sku, qty, price) to say what it covers"
                    .into(),
            ));
        }
        let mut covered_lines = Vec::new();
        for l in order.lines.iter().filter(|l| self.covers(l)) {
            let price = l.price.ok_or_else(|| {
                Refusal::NotApplicable(format!(
                    "the order's item {} has no price, in the order or the catalogue",
                    l.sku
                ))
            })?;
            covered_lines.push((l, price.minor()));
        }
        let covered = if self.scoped() {
            Money::from_minor(
                covered_lines
                    .iter()
                    .map(|(l, price)| price.saturating_mul(i64::from(l.qty)))
                    .fold(0i64, i64::saturating_add)
                    .min(order.amount.minor()),
            )
        } else {
            order.amount
        };
        if covered.minor() == 0 {
            return Err(Refusal::NotApplicable(
                "nothing in the order is in the coupon's categories or sub-brands".into(),
            ));
        }
        if let Some(min) = self.min_spend
            && covered < min
        {
            return Err(Refusal::BelowMinSpend { min, covered });
        }
        let off = match &self.offer {
            Offer::AmountOff { amount } => amount.minor(),
            Offer::PercentOff { percent, max_off } => {
                // Rounded down to the cent: the brand never gives a fraction more.
                let off = covered.minor() * i64::from(*percent) / 100;
                max_off.map_or(off, |m| off.min(m.minor()))
            }
            Offer::FreeItem { sku } => covered_lines
                .iter()
                .filter(|(l, _)| &l.sku == sku && l.qty > 0)
                .map(|(_, price)| *price)
                .max()
                .ok_or_else(|| {
                    Refusal::NotApplicable(format!("the free item {sku} is not in the order"))
                })?,
            Offer::BuyNGetN { buy, get } => {
                // Quantities are bounded by the parser; the bound here keeps it so.
                let mut units: Vec<i64> = covered_lines
                    .iter()
                    .flat_map(|(l, price)| std::iter::repeat_n(*price, l.qty.min(10_000) as usize))
                    .collect();
                let group = (buy + get) as usize;
                let free = units.len() / group * (*get as usize);
                if free == 0 {
                    return Err(Refusal::NotApplicable(format!(
                        "buy {buy} get {get} needs {group} items it covers; the order has {}",
                        units.len()
                    )));
                }
                units.sort_unstable();
                units[..free].iter().sum()
            }
        };
        Ok(Money::from_minor(off.min(covered.minor())))
    }
}

/// Whether a gifted code redeemed now is redeemed on the friend's first purchase: they
/// had bought nothing before the gift was sent, and at most once since — the order the
/// code is redeemed on, when the shop's purchase event came first. (`orders` and
/// `first_purchase_at` are the friend's facts as of the redemption.)
pub fn on_first_purchase(
    orders: u32,
    first_purchase_at: Option<Micros>,
    gifted_at: Micros,
) -> bool {
    match orders {
        0 => true,
        1 => first_purchase_at.is_some_and(|at| at >= gifted_at),
        _ => false,
    }
}

/// The referral a gift makes once a friend redeems it: the friend invited by the giver,
/// as of when the gift was sent (so the friend's purchase, made after, converts it).
pub fn gift_referral(
    code: &str,
    gifted_at: Micros,
    friend: crate::identity::Identity,
    giver: crate::identity::Identity,
) -> crate::event::Event {
    let mut properties = serde_json::Map::new();
    properties.insert("gift_code".into(), code.into());
    crate::event::Event {
        event_id: format!("gift-referral:{code}"),
        type_name: "referral".into(),
        occurred_at: gifted_at,
        channel: crate::event::Channel::MINI_PROGRAM,
        identities: vec![friend],
        payload: crate::event::Payload::Referral {
            referrer: vec![giver],
        },
        properties,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coupon(offer: Offer) -> Coupon {
        Coupon {
            id: "c".into(),
            name: "C".into(),
            offer,
            min_spend: None,
            categories: vec![],
            sub_brands: vec![],
            valid_days: Some(30),
            valid_from: None,
            valid_until: None,
            per_member_limit: None,
            gift_points: None,
            budget_count: None,
            budget_amount: None,
            active: true,
        }
    }

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    fn line(sku: &str, category: &str, qty: u32, price: &str) -> OrderLine {
        OrderLine {
            sku: sku.into(),
            category: Some(category.into()),
            sub_brand: None,
            qty,
            price: Some(m(price)),
        }
    }

    #[test]
    fn ten_off_fifty_needs_fifty() {
        let mut c = coupon(Offer::AmountOff { amount: m("10.00") });
        c.min_spend = Some(m("50.00"));
        let order = |a: &str| Order {
            amount: m(a),
            lines: vec![],
        };
        assert_eq!(c.discount(&order("80.00")), Ok(m("10.00")));
        assert_eq!(
            c.discount(&order("49.99")).unwrap_err().code(),
            ErrorCode::BelowMinSpend
        );
        // Never more than the order.
        c.min_spend = None;
        assert_eq!(c.discount(&order("6.00")), Ok(m("6.00")));
    }

    #[test]
    fn a_percent_off_is_rounded_down_and_capped_on_what_it_covers() {
        let mut c = coupon(Offer::PercentOff {
            percent: 15,
            max_off: Some(m("20.00")),
        });
        c.categories = vec!["tea".into()];
        let order = Order {
            amount: m("300.00"),
            lines: vec![
                line("PUER", "tea", 1, "99.99"),
                line("LATTE", "coffee", 10, "20.00"),
            ],
        };
        // 15% of 99.99 = 14.9985 → 14.99; the coffee is not covered.
        assert_eq!(c.discount(&order), Ok(m("14.99")));
        let big = Order {
            amount: m("500.00"),
            lines: vec![line("PUER", "tea", 5, "100.00")],
        };
        assert_eq!(c.discount(&big), Ok(m("20.00")));
        let none = Order {
            amount: m("20.00"),
            lines: vec![line("LATTE", "coffee", 1, "20.00")],
        };
        assert_eq!(
            c.discount(&none).unwrap_err().code(),
            ErrorCode::CouponNotApplicable
        );
    }

    #[test]
    fn buy_three_get_three_frees_the_cheapest_of_each_six() {
        let c = coupon(Offer::BuyNGetN { buy: 3, get: 3 });
        let order = Order {
            amount: m("0.00"),
            lines: vec![line("A", "tea", 4, "10.00"), line("B", "tea", 3, "30.00")],
        };
        // Seven units: one group of six; the three cheapest (10, 10, 10) are free.
        let order = Order {
            amount: m("130.00"),
            ..order
        };
        assert_eq!(c.discount(&order), Ok(m("30.00")));
        let few = Order {
            amount: m("50.00"),
            lines: vec![line("A", "tea", 5, "10.00")],
        };
        assert!(c.discount(&few).is_err());
    }

    #[test]
    fn a_free_item_must_be_in_the_order() {
        let c = coupon(Offer::FreeItem { sku: "CAKE".into() });
        let order = Order {
            amount: m("38.00"),
            lines: vec![
                line("CAKE", "food", 2, "18.00"),
                line("LATTE", "coffee", 1, "20.00"),
            ],
        };
        assert_eq!(c.discount(&order), Ok(m("18.00")));
        let without = Order {
            amount: m("20.00"),
            lines: vec![line("LATTE", "coffee", 1, "20.00")],
        };
        assert!(c.discount(&without).unwrap_err().message().contains("CAKE"));
    }

    #[test]
    fn a_code_ends_at_its_days_or_the_coupons_end_whichever_first() {
        let mut c = coupon(Offer::AmountOff { amount: m("1.00") });
        assert_eq!(c.expires_at(0), 30 * DAY);
        c.valid_until = Some(10 * DAY);
        assert_eq!(c.expires_at(0), 10 * DAY);
        assert!(c.issuable(9 * DAY) && !c.issuable(10 * DAY));
        c.valid_days = None;
        c.valid_until = None;
        assert_eq!(c.check().unwrap_err().field, "valid_days");
    }
}
