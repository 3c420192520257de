//! Membership programmes and tiers: the stored definitions (`programmes.rs`), purchases
//! and the memberships and tier changes they make (`purchases.rs`), and members' card
//! numbers (`cards.rs`).

mod cards;
mod programmes;
mod purchases;

pub use programmes::{ProgrammeVersion, PutProgramme};
pub use purchases::{MembershipRequest, PurchaseRow, TierChangeRow};
