//! Membership programmes and tiers (分级, 保级, 升级 — seed 003): paid ladders, tiers
//! earned by qualifying spend or points, and cards for particular audiences.
//!
//! `programme.rs` holds the definitions a brand writes and their checks.

pub mod programme;

pub use programme::{
    Amount, Downgrade, DowngradePolicy, Eligibility, Measure, Programme, ProgrammeKind, Term,
    Threshold, Tier,
};

#[cfg(test)]
mod tests;
