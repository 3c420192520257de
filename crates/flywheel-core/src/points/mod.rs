//! Points: a double-entry ledger of integer points with lots, earning rules, refunds,
//! expiry, redemption, transfers and partner exchange. Pure like the rest of the core:
//! the store loads wallets and usage, these modules decide, the store writes the
//! resulting postings and lots in the same transaction.
//!
//! - `account.rs`: the accounts and their sign convention.
//! - `posting.rs`: a balanced, immutable transaction with its reason and source.
//! - `wallet.rs`: one member's lots; every change to a lot is mirrored in a posting.
//! - `view.rs`: what earning needs of a wallet and of rule usage, kept between groups.
//! - `rules.rs`: earning rules, their defaults and validation, and what one rule quotes.
//! - `earn.rs`: limits, budgets, refunds and merges over a batch's wallets.
//! - `commands.rs`: redemption, cancellation, transfer, exchange, adjustment.
//! - `policy.rs`: the `[points]` config: programmes, expiry, value per point, limits.

pub mod account;
pub mod commands;
pub mod earn;
pub mod policy;
pub mod posting;
pub mod rules;
pub mod view;
pub mod wallet;

pub use account::{Account, BrandAccount, MemberAccount};
pub use earn::{Book, Earning, Line, OrderPoints, Usage, UsageKey};
pub use policy::{DEFAULT_PROGRAMME, PointsPolicy};
pub use posting::{Kind, LotMove, Posting};
pub use rules::{EarningRule, Progress, RuleBook, RuleSet, Task, Trigger};
pub use view::{EarningView, PeriodUsage};
pub use wallet::{Credit, Insufficient, Lot, Summary, Wallet};

#[cfg(test)]
mod tests;
