//! Member scores in the database: the recompute job that scores every member at once
//! (`recompute.rs`), and the reads — one member's scores, live where they can be
//! (`member.rs`), the super-user lists and the CSV export pages (`lists.rs`).

mod lists;
mod member;
mod recompute;

pub use lists::{ExportRow, SuperUserRow};
pub use member::MemberScores;
pub use recompute::{ClvFit, ModelSummary, Progress, RecomputeReport};

use flywheel_core::MemberId;
use flywheel_core::money::Money;
use flywheel_core::time::Micros;
use sqlx::Row;
use sqlx::any::AnyRow;

/// RFM from the last recompute.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRfm {
    pub recency_days: i64,
    pub frequency: i64,
    pub monetary: Money,
    pub r: i64,
    pub f: i64,
    pub m: i64,
    pub cell: String,
}

/// Lifetime value from the last recompute, over the configured horizon.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredClv {
    pub p_alive: f64,
    pub expected_purchases: f64,
    pub expected_value: Money,
}

/// One member's row of the last recompute.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredScores {
    pub member_id: MemberId,
    pub computed_at: Micros,
    pub rfm: Option<StoredRfm>,
    pub clv: Option<StoredClv>,
    pub super_user: f64,
    pub paid_member: bool,
    pub influence: f64,
    pub intimacy: f64,
}

pub(crate) const SCORE_COLUMNS: &str = "member_id, computed_at, recency_days, frequency, monetary, r, f, m, cell, \
     p_alive_millionths, expected_purchases_millionths, expected_value, super_user, paid_member, influence, intimacy";

pub(crate) fn stored_from_row(row: &AnyRow) -> Result<StoredScores, sqlx::Error> {
    let cell: Option<String> = row.try_get("cell")?;
    let rfm = match cell {
        Some(cell) => Some(StoredRfm {
            recency_days: row.try_get("recency_days")?,
            frequency: row.try_get("frequency")?,
            monetary: Money::from_minor(row.try_get("monetary")?),
            r: row.try_get("r")?,
            f: row.try_get("f")?,
            m: row.try_get("m")?,
            cell,
        }),
        None => None,
    };
    let p_alive: Option<i64> = row.try_get("p_alive_millionths")?;
    let clv = match p_alive {
        Some(p_alive) => Some(StoredClv {
            p_alive: from_millionths(p_alive),
            expected_purchases: from_millionths(row.try_get("expected_purchases_millionths")?),
            expected_value: Money::from_minor(row.try_get("expected_value")?),
        }),
        None => None,
    };
    Ok(StoredScores {
        member_id: row.try_get("member_id")?,
        computed_at: row.try_get("computed_at")?,
        rfm,
        clv,
        super_user: row.try_get("super_user")?,
        paid_member: row.try_get::<i64, _>("paid_member")? != 0,
        influence: row.try_get("influence")?,
        intimacy: row.try_get("intimacy")?,
    })
}

/// Fractions are stored as whole millionths.
pub(crate) fn to_millionths(x: f64) -> i64 {
    if x.is_finite() {
        (x * 1e6).round() as i64
    } else {
        0
    }
}

fn from_millionths(n: i64) -> f64 {
    n as f64 / 1e6
}
