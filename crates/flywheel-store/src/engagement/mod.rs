//! Engagement's storage (issue 18): the content library (`content.rs`), consent per
//! member and channel (`consent.rs`), the global suppression list (`suppressions.rs`),
//! journeys and their book (`journeys.rs`), the triggers ingest and the segment planner
//! record (`triggers.rs`), the runner that walks members through their journeys and
//! decides each message (`runner.rs`), campaigns and their results per variant
//! (`campaigns.rs`), membership notices delivered as messages (`notices.rs`), the
//! outbox the senders drain (`outbox.rs`), how messages did (`performance.rs`), and
//! the best sellers a template's recommendation is chosen from (`recommend.rs`).

mod campaigns;
pub(crate) mod consent;
mod content;
pub(crate) mod journeys;
mod notices;
mod outbox;
mod performance;
pub(crate) mod recommend;
mod runner;
mod suppressions;
pub(crate) mod triggers;

pub use campaigns::{
    CAMPAIGN_STATUSES, CampaignReport, CampaignRow, PutCampaign, SavedCampaign, VariantResult,
    compile_stored_campaign,
};
pub use consent::ConsentRow;
pub use content::{ContentRow, PutContent, SavedContent};
pub use journeys::{JOURNEY_STATUSES, JourneyRow, PutJourney, SavedJourney, compile_stored};
pub use outbox::{Claimed, Delivery, OutboxQuery, OutboxRow, Tracked};
pub use performance::{Messages, Performance};
pub use runner::{RunReport, RunRow};
pub use suppressions::SuppressionRow;
