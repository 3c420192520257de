//! The product catalogue (DESIGN C12): what the brand sells, by SKU, with its name,
//! sub-brand, category, list price and whether it needs a service some days after it is
//! bought. The shop (Youzan, Tmall, the till) still sells; the catalogue lets coupons,
//! flash sales and group-buys be scoped to products and categories, and fills in what
//! an order line leaves out.

use crate::ErrorCode;
use crate::money::Money;
use crate::validation::{FieldError, check_line};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub sub_brand: Option<String>,
    pub category: Option<String>,
    pub price: Option<Money>,
    /// A service falls due this many days after a purchase (a pram's check-up).
    pub service_after_days: Option<u32>,
    pub active: bool,
}

/// The longest SKU, as purchases' items allow.
pub const MAX_SKU: usize = 64;

impl Product {
    /// Checks a product's fields, each error naming its field. A SKU is what purchases'
    /// items may carry: one line of up to 64 characters, without spaces at its ends.
    pub fn check(&self) -> Result<(), FieldError> {
        let sku = check_line("sku", &self.sku, MAX_SKU)?;
        if sku != self.sku {
            return Err(FieldError::new(
                "sku",
                ErrorCode::InvalidValue,
                "a SKU is 1-64 characters without spaces at its ends",
            ));
        }
        let name = check_line("name", &self.name, 200)?;
        if name.trim().is_empty() {
            return Err(FieldError::new(
                "name",
                ErrorCode::InvalidValue,
                "name is empty",
            ));
        }
        for (field, v) in [("sub_brand", &self.sub_brand), ("category", &self.category)] {
            if let Some(v) = v {
                check_line(field, v, 64)?;
            }
        }
        if let Some(d) = self.service_after_days
            && !(1..=3650).contains(&d)
        {
            return Err(FieldError::new(
                "service_after_days",
                ErrorCode::OutOfRange,
                "service_after_days is 1 to 3650",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(sku: &str) -> Product {
        Product {
            sku: sku.into(),
            name: "Pu'er cake".into(),
            sub_brand: None,
            category: Some("tea".into()),
            price: Some(Money::from_minor(12_800)),
            service_after_days: None,
            active: true,
        }
    }

    #[test]
    fn a_product_names_a_plain_sku() {
        assert!(product("LEAF-PUER").check().is_ok());
        assert!(product("茶-1").check().is_ok());
        assert_eq!(product(" a").check().unwrap_err().field, "sku");
        assert_eq!(product("a\nb").check().unwrap_err().field, "sku");
        assert_eq!(product("").check().unwrap_err().field, "sku");
        let mut p = product("X");
        p.service_after_days = Some(0);
        assert_eq!(p.check().unwrap_err().field, "service_after_days");
    }
}
