//! Marketing tools (issue 20): the product catalogue that scopes them, coupons — what
//! each kind takes off an order, and when one may be issued and redeemed — and flash
//! sales and the points lottery. Storage,
//! codes and the exactly-once redemption live in the store; nothing here does I/O.

pub mod coupon;
pub mod flash;
pub mod lottery;
pub mod product;

pub use coupon::{Coupon, Offer, Order, OrderLine, Refusal};
pub use flash::FlashSale;
pub use lottery::{Lottery, Prize};
pub use product::Product;
