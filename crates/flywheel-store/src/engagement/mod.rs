//! Engagement's storage (issue 18): the content library (`content.rs`). Journeys, the
//! outbox and consent follow as they land.

mod content;

pub use content::{ContentRow, PutContent, SavedContent};
