//! Flywheel's domain, with no I/O: events and their validation, identities and their
//! normalisation, member facts, relationship stages, the ingest processor that ties
//! them together, points (ledger, lots, earning rules), and the role table.
//!
//! Nothing here knows where data lives; `flywheel-store` loads and saves, and
//! `flywheel-api` speaks HTTP. Instants are microseconds (see [`time`]); money is integer
//! minor units (see [`money`]).

pub mod activity;
pub mod auth;
pub mod channel;
pub mod clv;
pub mod engagement;
pub mod error_code;
pub mod event;
pub mod facts;
pub mod facts_view;
pub mod idea;
pub mod identity;
pub mod ingest;
pub mod kpi;
pub mod limits;
pub mod link;
pub mod marketing;
pub mod membership;
pub mod money;
pub mod persona;
pub mod points;
pub mod policy;
pub mod privacy;
pub mod profile;
pub mod scores;
pub mod segment;
pub mod service;
pub mod source;
pub mod stage;
pub mod time;
pub mod tracking;
pub mod validation;
pub mod wechat;

pub use error_code::ErrorCode;
pub use event::{Channel, Event, ParseContext, Payload, parse_event};
pub use identity::{Identity, IdentityKind, IdentityRules};
pub use ingest::{MemberId, Rules, WorkingSet};
pub use limits::Limits;
pub use money::Money;
pub use policy::Policy;
pub use stage::{Lens, Stage, StagePolicy};
