//! Figures that need a pass over every member's history — members active in the last 30
//! days, cohort retention by month of first purchase — and so cannot be summed from
//! daily rows (a member active on ten days is one member; a cohort is fixed by each
//! member's first purchase). They are computed together, kept in `stats_snapshots`, and
//! read from there: the overview reads one row however many members there are.
//!
//! Kept figures are computed again when they were made on an earlier UTC day, or when
//! anything was written since and they are older than the caller's `refresh_after`. The
//! server refreshes them in the background a little before that, so a person opening the
//! overview rarely waits for it; each answer says when its figures were computed.

use crate::db::{Store, write_generation};
use crate::error::StoreError;
use crate::stats::Cohort;
use flywheel_core::time::{DAY, Micros, day_start, month_bounds};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The months of cohorts kept: the most `GET /v1/stats/cohorts` answers.
pub const COHORT_MONTHS: u32 = 36;

/// The row of `stats_snapshots` these are kept in.
const NAME: &str = "history_figures";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryFigures {
    pub computed_at: Micros,
    /// Members (not merged away) with an event in the 30 days up to `computed_at`.
    pub active_30d: i64,
    /// The cohorts' months: the start of each of the last [`COHORT_MONTHS`], then
    /// `computed_at`.
    pub cohort_bounds: Vec<Micros>,
    /// One cohort per month of `cohort_bounds`.
    pub cohorts: Vec<Cohort>,
}

impl HistoryFigures {
    /// The last `months` cohorts (the same as computing them for that many months:
    /// a cohort is fixed by its members' first purchase, whatever the range asked).
    pub fn last_cohorts(&self, months: u32) -> (&[Micros], &[Cohort]) {
        let skip = self
            .cohorts
            .len()
            .saturating_sub(usize::try_from(months).unwrap_or(usize::MAX));
        (&self.cohort_bounds[skip..], &self.cohorts[skip..])
    }
}

impl Store {
    /// The kept figures, computed again first if they are stale at `now` (see the
    /// module's header).
    pub async fn history_figures(
        &self,
        now: Micros,
        refresh_after: Micros,
    ) -> Result<HistoryFigures, StoreError> {
        if let Some(kept) = self.fresh_history_figures(now, refresh_after).await? {
            return Ok(kept);
        }
        // One computation at a time: whoever waited finds the figures just made.
        let _computing = self.inner.history_figures.lock().await;
        if let Some(kept) = self.fresh_history_figures(now, refresh_after).await? {
            return Ok(kept);
        }
        let figures = HistoryFigures {
            computed_at: now,
            active_30d: self.active_members(now - 30 * DAY, now + 1).await?,
            cohort_bounds: month_bounds(now, COHORT_MONTHS),
            cohorts: self.cohorts(&month_bounds(now, COHORT_MONTHS)).await?,
        };
        let body = serde_json::to_string(&figures)?;
        let mut tx = self.begin_write().await?;
        // Stored with the generation its own write makes, so no write since is "none".
        let generation = tx.bump_generation().await?;
        sqlx::query(
            "INSERT INTO stats_snapshots (name, computed_at, generation, body) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET computed_at = excluded.computed_at, \
             generation = excluded.generation, body = excluded.body",
        )
        .bind(NAME)
        .bind(now)
        .bind(generation)
        .bind(body)
        .execute(&mut *tx)
        .await?;
        // A snapshot only: nothing the member cache holds.
        self.commit_keeping_cache(tx).await?;
        Ok(figures)
    }

    /// Whether the kept figures would be computed again if asked for at `now`.
    pub async fn history_figures_due(
        &self,
        now: Micros,
        refresh_after: Micros,
    ) -> Result<bool, StoreError> {
        Ok(self
            .fresh_history_figures(now, refresh_after)
            .await?
            .is_none())
    }

    async fn fresh_history_figures(
        &self,
        now: Micros,
        refresh_after: Micros,
    ) -> Result<Option<HistoryFigures>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let Some(row) = sqlx::query(
            "SELECT computed_at, generation, body FROM stats_snapshots WHERE name = $1",
        )
        .bind(NAME)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let computed_at: i64 = row.try_get("computed_at")?;
        let generation: i64 = row.try_get("generation")?;
        let same_day = day_start(computed_at) == day_start(now) && computed_at <= now;
        let unchanged = generation == write_generation(&mut conn).await?;
        if !same_day || (!unchanged && now - computed_at >= refresh_after) {
            return Ok(None);
        }
        let body: String = row.try_get("body")?;
        Ok(serde_json::from_str(&body).ok())
    }
}
