//! Membership programmes and tiers: the stored definitions (`programmes.rs`).

mod programmes;

pub use programmes::{ProgrammeVersion, PutProgramme};
