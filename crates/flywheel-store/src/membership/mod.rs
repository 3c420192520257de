//! Membership programmes and tiers: the stored definitions (`programmes.rs`), purchases
//! and the memberships and tier changes they make (`purchases.rs`), and members' card
//! numbers (`cards.rs`), the sweep that ends terms (`sweep.rs`), and changes by hand (`manual.rs`).

mod cards;
mod manual;
mod programmes;
mod purchases;
mod sweep;

pub use manual::ManualTier;
pub use programmes::{ProgrammeVersion, PutProgramme};
pub use purchases::{MembershipRequest, PurchaseRow, TierChangeRow};
pub use sweep::MembershipSweepReport;
