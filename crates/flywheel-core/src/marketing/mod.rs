//! Marketing tools (issue 20): the product catalogue that scopes them, coupons — what
//! each kind takes off an order, and when one may be issued and redeemed — and flash
//! sales, the points lottery and fission campaigns (group-buy, help, bargain). Storage,
//! codes and the exactly-once redemption live in the store; nothing here does I/O.

pub mod coupon;
pub mod fission;
pub mod flash;
pub mod honours;
pub mod lottery;
pub mod product;
pub mod share;

pub use coupon::{Coupon, Offer, Order, OrderLine, Refusal};
pub use fission::{FissionCampaign, JoinEffect, Mechanic, RoundProgress};
pub use flash::FlashSale;
pub use honours::{Leaderboard, Standing};
pub use lottery::{Lottery, Prize};
pub use product::Product;
pub use share::{Milestone, ShareCounts, ShareMeasure};
