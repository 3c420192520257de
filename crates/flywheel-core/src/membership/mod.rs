//! Membership programmes and tiers (分级, 保级, 升级 — seed 003): paid ladders, tiers
//! earned by qualifying spend or points, and cards for particular audiences.
//!
//! `programme.rs` holds the definitions a brand writes and their checks; `state.rs` who
//! holds which tier for how long, and what a purchase must pay; `card.rs` members' card
//! numbers; `lifecycle.rs` what follows the end of a term; `realtime.rs` what events do
//! to tiers as they happen; `progress.rs` how far the next tier is and what keeps the
//! one held; `benefit.rs` what tiers give and the checks a use must pass; `report.rs`
//! what the membership report counts.

pub mod benefit;
pub mod card;
pub mod lifecycle;
pub mod programme;
pub mod progress;
pub mod realtime;
pub mod report;
pub mod state;

pub use programme::{
    Amount, Downgrade, DowngradePolicy, Eligibility, Measure, Programme, ProgrammeKind, Term,
    Threshold, Tier,
};
pub use realtime::{Catalogue, TierPass};
pub use state::{Membership, Payment, Purchased, Source, check_payment, purchase, term_end};

#[cfg(test)]
mod tests;
