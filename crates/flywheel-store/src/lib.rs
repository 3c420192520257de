//! All of Flywheel's SQL. One schema on SQLite (embedded, the default) and PostgreSQL
//! (production), reached through sqlx's `Any` driver with runtime queries, so each
//! statement is written once; the few dialect differences live in `dialect.rs`.
//!
//! Layout: `db.rs` opens and configures connections, `wal.rs` checkpoints SQLite's log
//! in the background, `migrate.rs` applies the embedded migrations, `ingest.rs` loads a
//! batch's working set and writes its changes in one transaction (`plan.rs` holds those
//! writes as data; `engine.rs` writes them behind the event log where configured, and
//! replays the log after a crash), `group_commit.rs`
//! gathers single events into shared transactions, `members.rs` serves reads and the
//! manual merge, `sweep.rs` re-evaluates members whose stage can change with time
//! (`slice.rs` sizes the clock's passes by how long they hold the writer; `pace.rs`
//! counts how busy ingest is),
//! `stats.rs` the counts behind the overview and `/v1/stats` (`daily.rs` the daily
//! aggregates they sum, `history_figures.rs` the kept figures that need every member's
//! history), `contribution.rs` what
//! members are worth by stage, lens, tier and entry product, `persona.rs` a group's
//! profile counts, `kpi.rs` KPI targets and month figures, `keys.rs` holds API keys,
//! `cockpit.rs` the cockpit's sessions and the server's secrets, `audit.rs` the audit
//! log of changes people make,
//! `points/` the points ledger, its commands, catalogue, sweep and reports, `scores/`
//! the score recompute job and score reads, `engagement/` the content library and consent
//! (journeys and the outbox as they land), `privacy.rs` a member's export and erasure
//! (PIPL), `dump.rs` the canonical dump that tests compare databases with.

mod activities;
mod audit;
mod cache;
mod cockpit;
mod contribution;
mod crash;
mod daily;
mod db;
mod dialect;
mod dump;
mod engagement;
mod engine;
mod error;
mod group_commit;
mod held;
mod history_figures;
mod ideas;
mod ingest;
mod keys;
mod kpi;
mod marketing;
mod members;
mod membership;
mod migrate;
mod pace;
mod persona;
mod plan;
mod points;
mod privacy;
mod rows;
mod scores;
mod segments;
mod service;
mod slice;
mod sources;
mod sql;
mod stats;
mod survivor;
mod sweep;
mod tracking;
mod wal;

pub use activities::{
    ActivityReport, ActivityRow, CheckInRow, DOORS_OPEN_BEFORE, MOVEMENT_DAYS, RsvpRow,
};
pub use audit::{AUDIT_KINDS, AuditActor, AuditChange, AuditQuery, AuditRow};
pub use cockpit::SessionRow;
pub use contribution::{Contribution, Entries, GroupFigures};
pub use db::{Backend, PoolStats, Store, create_postgres_database};
pub use engagement::{
    CAMPAIGN_STATUSES, CampaignReport, CampaignRow, Claimed, ConsentRow, ContentRow, Delivery,
    JOURNEY_STATUSES, JourneyRow, Messages, OutboxQuery, OutboxRow, Performance, PutCampaign,
    PutContent, PutJourney, RunReport, RunRow, SavedCampaign, SavedContent, SavedJourney,
    SuppressionRow, Tracked, VariantResult, compile_stored, compile_stored_campaign,
};
pub use engine::{DEFAULT_FLUSH_ROWS, EngineOptions};
pub use error::StoreError;
pub use group_commit::EventQueue;
pub use held::HeldWrites;
pub use history_figures::{COHORT_MONTHS, HistoryFigures};
pub use ideas::{IdeaChange, IdeaRow, idea_id};
pub use ingest::{AsOf, EventResult, IngestMode};
pub use keys::ApiKeyRow;
pub use kpi::TargetRow;
pub use marketing::*;
pub use members::{
    ConflictRow, MergeRow, OrderLine, StageCounts, StoredEvent, TimelineCursor, TransitionRow,
};
pub use membership::{
    BenefitRow, CodeSettlementRow, CodeStock, HeldBenefit, LoadedCodes, MAX_CODES_PER_LOAD,
    ManualTier, MembershipReport, MembershipRequest, MembershipSweepReport, NoticeRow,
    ProgrammeVersion, PurchaseRow, PutProgramme, SavedBenefit, TierBenefitsChange, TierChangeRow,
    UseRequest, UseRow,
};
pub use persona::PersonaGroup;
pub use points::*;
pub use privacy::{Erasure, MemberExport};
pub use scores::*;
pub use segments::*;
pub use service::*;
pub use sources::SourceFigures;
pub use stats::{Cohort, FlowCounts, ReferralCounts};
pub use sweep::SweepReport;
pub use tracking::RejectedCall;
