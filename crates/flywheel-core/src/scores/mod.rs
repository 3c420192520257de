//! Member scores: who is a super user already, who could become one, whose word
//! carries, who is close to the brand, and what a customer is likely worth.
//!
//! Member-local scores ([`super_user`], [`influence`], [`intimacy`]) are pure functions
//! of one member's facts (and, for influence, their referral tree) at an instant, so
//! they are always current. Population-relative ones ([`rfm`] quintiles and the
//! lifetime-value fit in [`crate::clv`]) need every member at once and are recomputed
//! by a job; the store keeps the last run.
//!
//! Every score is 0–100 and comes with its parts (points out of each part's weight, and
//! the facts behind them) and a sentence a store manager can read aloud.

pub mod influence;
mod inputs;
pub mod intimacy;
mod part;
mod policy;
pub mod rfm;
pub mod super_user;

pub use influence::ReferralTree;
pub use inputs::ScoreInputs;
pub use part::{Part, Score};
pub use policy::{InfluenceWeights, IntimacyWeights, ScorePolicy, SuperUserWeights};

#[cfg(test)]
mod tests;
