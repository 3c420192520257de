//! Membership programmes and tiers: the stored definitions (`programmes.rs`), purchases
//! and the memberships and tier changes they make (`purchases.rs`), and members' card
//! numbers (`cards.rs`), the sweep that ends terms (`sweep.rs`), changes by hand
//! (`manual.rs`), what events do to tiers inside ingest (`ingest.rs`), benefits with
//! their uses and notices (`benefits.rs`), partners' codes those uses hand out and their
//! settlement (`partner_codes.rs`), and the report's counts (`report.rs`).

mod benefits;
mod cards;
pub(crate) mod ingest;
mod manual;
mod partner_codes;
mod programmes;
pub(crate) mod purchases;
mod report;
mod sweep;

pub use benefits::{
    BenefitRow, HeldBenefit, NoticeRow, SavedBenefit, TierBenefitsChange, UseRequest, UseRow,
};
pub use manual::ManualTier;
pub use partner_codes::{CodeSettlementRow, CodeStock, LoadedCodes, MAX_CODES_PER_LOAD};
pub use programmes::{ProgrammeVersion, PutProgramme};
pub use purchases::{MembershipRequest, PurchaseRow, TierChangeRow};
pub use report::MembershipReport;
pub use sweep::MembershipSweepReport;
