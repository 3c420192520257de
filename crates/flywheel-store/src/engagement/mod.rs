//! Engagement's storage (issue 18): the content library (`content.rs`) and consent per
//! member and channel (`consent.rs`). Journeys and the outbox follow as they land.

pub(crate) mod consent;
mod content;

pub use consent::ConsentRow;
pub use content::{ContentRow, PutContent, SavedContent};
