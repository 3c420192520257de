//! The definitions a group of events runs under: the earning rules, the active
//! journeys, the programme catalogue, the segments and the service queues. The store
//! keeps each compiled in memory until a stamp in the database says it changed, so a
//! group normally reads five small stamps to learn that its copies are current.
//!
//! While the member cache is trusted, nobody has committed since this writer's last
//! group (or a flush of its own plans, which change no definition): the definitions
//! that group ran under are still the current ones, and the member cache hands them
//! back without a single read. Any other commit the cache survives (the background
//! writers': `keep_member_cache`, `commit_keeping_cache`, `advance_settled`) drops
//! them, since those are not known to leave definitions alone.

use crate::db::Store;
use crate::engagement::journeys::JourneyBook;
use crate::error::StoreError;
use crate::segments::SegmentBook;
use crate::service::book::ServiceBook;
use flywheel_core::membership::Catalogue;
use flywheel_core::points::RuleBook;
use flywheel_core::segment::Language;
use sqlx::AnyConnection;
use std::sync::Arc;

/// Everything a group reads of the definitions, as of one moment of the database.
#[derive(Clone)]
pub(crate) struct Definitions {
    pub rules: Arc<RuleBook>,
    /// Journeys and segments compile under this language (the stage window of the
    /// group's rules, the rest as configured): a group under another one reads again.
    pub lang: Language,
    pub journeys: Arc<JourneyBook>,
    pub catalogue: Arc<Catalogue>,
    pub segments: Arc<SegmentBook>,
    pub service: Arc<ServiceBook>,
}

impl std::fmt::Debug for Definitions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Definitions")
            .field("lang", &self.lang)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The current definitions, read on the group's own transaction so that they and
    /// the rows it reads come from the same moment.
    pub(crate) async fn definitions(
        &self,
        conn: &mut AnyConnection,
        lang: &Language,
    ) -> Result<Definitions, StoreError> {
        Ok(Definitions {
            rules: self.rule_book_on(conn).await?,
            lang: lang.clone(),
            journeys: self.journey_book(conn, lang).await?,
            catalogue: self.catalogue_on(conn).await?,
            segments: self.segment_book(conn, lang).await?,
            service: self.service_book(conn).await?,
        })
    }
}
