//! Marketing tools' storage (issue 20): the product catalogue (`products.rs`) and
//! coupons — definitions with their budget counters, issued codes, the exactly-once
//! redemption and what ingest does with codes a purchase names or a refund frees
//! (`coupons.rs`), flash sales with their claims (`flash.rs`), and the points lottery
//! with its auditable draws (`lottery.rs`), and fission campaigns — group-buys, help
//! requests and bargains — with their rounds and joins (`fission.rs`), and leaderboards, awards and badges
//! (`honours.rs`), each campaign's figures for the marketing report (`reports.rs`), and
//! referrals held as farmed for staff to review (`referrals.rs`), and tracked share links
//! with their clicks, readers, buyers and paid milestones (`shares.rs`).

mod coupons;
mod definitions;
mod fission;
mod flash;
mod honours;
mod lottery;
mod products;
mod referrals;
mod reports;
mod shares;

pub(crate) use coupons::plan_event_coupons;
pub use coupons::{CodeRow, CouponRow, Issued, MarketingError, Redeemed};
pub use fission::{FissionCampaignRow, JoinRow, Joined, RoundRow};
pub use flash::{ClaimRow, FlashSaleRow};
pub use honours::{AwardRow, BadgeRow, LeaderboardRow};
pub use lottery::{DrawRow, LotteryRow};
pub use products::{ProductQuery, ProductRow, SavedProducts};
pub use reports::{CampaignFigures, INFLUENCE_DAYS};
pub(crate) use shares::plan_event_shares;
pub use shares::{MilestoneReport, NewShareLink, PaidMilestone, ShareLinkRow};
