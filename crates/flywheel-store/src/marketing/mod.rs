//! Marketing tools' storage (issue 20): the product catalogue (`products.rs`) and
//! coupons — definitions with their budget counters, issued codes, the exactly-once
//! redemption and what ingest does with codes a purchase names or a refund frees
//! (`coupons.rs`), and flash sales with their claims (`flash.rs`).

mod coupons;
mod flash;
mod products;

pub(crate) use coupons::plan_event_coupons;
pub use coupons::{CodeRow, CouponRow, Issued, MarketingError, Redeemed};
pub use flash::{ClaimRow, FlashSaleRow};
pub use products::{ProductQuery, ProductRow, SavedProducts};
