//! Points in the database: the ledger tables, the earning rules run inside ingest, the
//! member-facing commands (`redemptions.rs`; transfer, exchange, adjust in `commands.rs`), the catalogue
//! (rules, rewards, partners), the sweep that posts maturity and expiry, and the reads
//! and finance reports.
//!
//! Every write runs in one transaction under the member rows' locks (`FOR UPDATE` on
//! PostgreSQL; SQLite has one writer), and every posting has a unique key, so a retried
//! call can never post twice.

mod catalog;
pub(crate) mod commands;
pub(crate) mod ingest;
pub(crate) mod ledger;
pub(crate) mod redemptions;
mod reports;
mod sweep;

pub use catalog::{PartnerRow, RewardRow, RuleVersion};
pub use commands::{AdjustRequest, ExchangeRequest, ExchangeRow, TransferRequest, TransferRow};
pub use redemptions::{RedeemRequest, RedemptionRow};
pub use reports::{
    AccountBalance, LedgerCursor, LedgerEntry, PointsBalances, PointsReport, SettlementRow,
    TrialBalance, TrialGroup,
};
pub use sweep::PointsSweepReport;

use crate::error::StoreError;

/// Why a points command was refused. Each maps to one stable API error code.
#[derive(Debug, thiserror::Error)]
pub enum PointsError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not enough points: {available} available, {requested} needed")]
    InsufficientPoints { available: i64, requested: i64 },
    #[error("the reward is out of stock")]
    OutOfStock,
    #[error("{0}")]
    RewardUnavailable(String),
    #[error("{0}")]
    LimitReached(String),
    #[error("points must be a multiple of {step} for the exchange to be exact")]
    InexactExchange { step: i64 },
    /// A number beyond a configured maximum; the message names the field.
    #[error("{message}")]
    OutOfRange {
        field: &'static str,
        message: String,
    },
    #[error("this idempotency key was used for a different request")]
    IdempotencyConflict,
    #[error("member {0}'s personal data was erased; its points can no longer move")]
    Erased(i64),
    #[error("{0}")]
    Invalid(String),
    /// A field of the request does not fit what it refers to (a tier not sold, a payment
    /// that does not add up to the fee).
    #[error("{}", .0.message)]
    Field(flywheel_core::validation::FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for PointsError {
    fn from(e: sqlx::Error) -> Self {
        PointsError::Store(StoreError::Database(e))
    }
}

impl From<serde_json::Error> for PointsError {
    fn from(e: serde_json::Error) -> Self {
        PointsError::Store(StoreError::from(e))
    }
}

impl PointsError {
    fn is_transient(&self) -> bool {
        matches!(self, PointsError::Store(e) if e.is_transient())
    }
}

/// Runs a command transaction again after a deadlock, serialization failure or key race.
pub(crate) async fn retrying<T, F, Fut>(mut attempt_once: F) -> Result<T, PointsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, PointsError>>,
{
    let mut attempt = 1u32;
    loop {
        match attempt_once().await {
            Err(e) if e.is_transient() && attempt < 8 => {
                tracing::debug!(attempt, error = %e, "retrying points command");
                tokio::time::sleep(std::time::Duration::from_millis(5 << attempt.min(6))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}
