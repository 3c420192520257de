//! Membership programmes and tiers: the stored definitions (`programmes.rs`), purchases
//! and the memberships and tier changes they make (`purchases.rs`), and members' card
//! numbers (`cards.rs`), and the sweep that ends terms (`sweep.rs`).

mod cards;
mod programmes;
mod purchases;
mod sweep;

pub use programmes::{ProgrammeVersion, PutProgramme};
pub use purchases::{MembershipRequest, PurchaseRow, TierChangeRow};
pub use sweep::MembershipSweepReport;
