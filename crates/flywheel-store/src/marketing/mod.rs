//! Marketing tools' storage (issue 20): the product catalogue (`products.rs`) and
//! coupons — definitions with their budget counters, issued codes, the exactly-once
//! redemption and what ingest does with codes a purchase names or a refund frees
//! (`coupons.rs`).

mod coupons;
mod products;

pub(crate) use coupons::plan_event_coupons;
pub use coupons::{CodeRow, CouponError, CouponRow, IssueTo, Issued, Redeemed};
pub use products::{ProductQuery, ProductRow, SavedProducts};
