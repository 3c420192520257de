//! The counts behind the cockpit's overview and `/v1/stats/*`: members active and new
//! in a period, stage flows by month, cohort retention, referrals, and the RFM grid. Periods are given as instants;
//! what a month is belongs to the caller.

use crate::daily::split_days_where_empty;
use crate::db::Store;
use crate::error::StoreError;
use crate::sql::{Val, bind_ref};
use flywheel_core::time::Micros;
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// Stage changes in one period, by (from, to).
pub type FlowCounts = BTreeMap<(String, String), i64>;

/// One cohort: the members whose first purchase fell in a period, and how many of them
/// bought in each period from then on (the first is the cohort itself).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cohort {
    pub members: i64,
    pub buyers: Vec<i64>,
}

/// Referrals made and converted in one period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReferralCounts {
    pub made: i64,
    pub converted: i64,
}

/// The period of each row by `column`, as a CASE over bound parameters — the same SQL on
/// both databases, with no date functions — and its parameters: the periods' ends, then
/// the first period's start (the last parameter, for the caller's lower bound).
fn period_case(bounds: &[Micros], column: &str) -> (String, Vec<Val>) {
    let mut case = String::from("CAST(CASE");
    let mut binds = Vec::with_capacity(bounds.len());
    for (i, end) in bounds[1..].iter().enumerate() {
        binds.push(Val::Int(*end));
        case.push_str(&format!(" WHEN {column} < ${} THEN {i}", binds.len()));
    }
    case.push_str(" ELSE -1 END AS BIGINT)");
    binds.push(Val::Int(bounds[0]));
    (case, binds)
}

/// The period index of `t` among `bounds` (`[bounds[i], bounds[i + 1])`), if any.
fn period_of(bounds: &[Micros], t: Micros) -> Option<usize> {
    if bounds.len() < 2 || t < bounds[0] || t >= bounds[bounds.len() - 1] {
        return None;
    }
    Some(bounds.partition_point(|b| *b <= t) - 1)
}

impl Store {
    /// Members (not merged away) with an event in `[from, to)`; an event of a member
    /// merged since counts for the survivor.
    pub async fn active_members(&self, from: Micros, to: Micros) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(DISTINCT COALESCE(m.merged_into, m.id)) AS n FROM events e \
             JOIN members m ON m.id = e.member_id \
             WHERE e.occurred_at >= $1 AND e.occurred_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Members (not merged away) who joined in `[from, to)`.
    pub async fn new_members(&self, from: Micros, to: Micros) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM members WHERE merged_into IS NULL AND created_at >= $1 AND created_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Stage changes in each period `[bounds[i], bounds[i + 1])`, by (from, to): whole
    /// days from `stage_flows_daily`, the pieces of days at the ends from the transitions.
    pub async fn stage_flows(&self, bounds: &[Micros]) -> Result<Vec<FlowCounts>, StoreError> {
        let mut out = Vec::with_capacity(bounds.len().saturating_sub(1));
        for pair in bounds.windows(2) {
            let mut counts = FlowCounts::new();
            let split =
                split_days_where_empty(self.pool(), "stage_transitions", "at", pair[0], pair[1])
                    .await?;
            let whole_days = split.days.map(|(first, end)| {
                (
                    "SELECT from_stage, to_stage, CAST(SUM(n) AS BIGINT) AS n FROM stage_flows_daily \
                     WHERE day >= $1 AND day < $2 GROUP BY from_stage, to_stage",
                    first,
                    end,
                )
            });
            let pieces = split.edges.into_iter().map(|(from, to)| {
                (
                    "SELECT from_stage, to_stage, COUNT(*) AS n FROM stage_transitions \
                     WHERE at >= $1 AND at < $2 GROUP BY from_stage, to_stage",
                    from,
                    to,
                )
            });
            for (sql, from, to) in whole_days.into_iter().chain(pieces) {
                for r in sqlx::query(sql)
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.pool())
                    .await?
                {
                    *counts
                        .entry((r.try_get("from_stage")?, r.try_get("to_stage")?))
                        .or_default() += r.try_get::<i64, _>("n")?;
                }
            }
            out.push(counts);
        }
        Ok(out)
    }

    /// Retention by cohort: for each period `[bounds[i], bounds[i + 1])`, the members
    /// (merged ids counted with their survivor) whose first kept purchase fell in it, and
    /// how many of them bought in it and in each later period. Refunded orders do not
    /// count.
    pub async fn cohorts(&self, bounds: &[Micros]) -> Result<Vec<Cohort>, StoreError> {
        let periods = bounds.len().saturating_sub(1);
        let mut out = vec![Cohort::default(); periods];
        if periods == 0 {
            return Ok(out);
        }
        let owner = "COALESCE(m.merged_into, o.member_id)";
        // First purchases inside the range: members whose cohort is one of ours.
        let firsts = sqlx::query(AssertSqlSafe(format!(
            "SELECT {owner} AS mid, MIN(o.occurred_at) AS first FROM orders o \
             JOIN members m ON m.id = o.member_id \
             WHERE o.refunded = 0 AND o.occurred_at IS NOT NULL GROUP BY {owner} \
             HAVING MIN(o.occurred_at) >= $1 AND MIN(o.occurred_at) < $2"
        )))
        .bind(bounds[0])
        .bind(bounds[periods])
        .fetch_all(self.pool())
        .await?;
        let mut cohort_of: std::collections::HashMap<i64, usize> =
            std::collections::HashMap::with_capacity(firsts.len());
        for r in &firsts {
            let first: i64 = r.try_get("first")?;
            if let Some(p) = period_of(bounds, first) {
                cohort_of.insert(r.try_get("mid")?, p);
                out[p].members += 1;
            }
        }
        for (p, c) in out.iter_mut().enumerate() {
            c.buyers = vec![0; periods - p];
        }
        // Who bought in which period, once per member and period.
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT DISTINCT {owner} AS mid, o.occurred_at AS at FROM orders o \
             JOIN members m ON m.id = o.member_id \
             WHERE o.refunded = 0 AND o.occurred_at >= $1 AND o.occurred_at < $2"
        )))
        .bind(bounds[0])
        .bind(bounds[periods])
        .fetch_all(self.pool())
        .await?;
        let mut seen: std::collections::HashSet<(i64, usize)> = std::collections::HashSet::new();
        for r in &rows {
            let mid: i64 = r.try_get("mid")?;
            let Some(&cohort) = cohort_of.get(&mid) else {
                continue;
            };
            let Some(p) = period_of(bounds, r.try_get("at")?) else {
                continue;
            };
            if p >= cohort && seen.insert((mid, p)) {
                out[cohort].buyers[p - cohort] += 1;
            }
        }
        Ok(out)
    }

    /// Kept sales (orders not refunded, by when they happened) in each period
    /// `[bounds[i], bounds[i + 1])`, minor units.
    pub async fn sales(&self, bounds: &[Micros]) -> Result<Vec<i64>, StoreError> {
        let periods = bounds.len().saturating_sub(1);
        let mut out = vec![0; periods];
        if periods == 0 {
            return Ok(out);
        }
        let rows = self
            .rows_by_period(bounds, "occurred_at", |case, start| {
                format!(
                    "SELECT {case} AS period, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM orders \
                     WHERE refunded = 0 AND occurred_at >= ${start} GROUP BY 1"
                )
            })
            .await?;
        for (period, r) in rows {
            out[period] = r.try_get("total")?;
        }
        Ok(out)
    }

    /// Referrals made and converted in each period `[bounds[i], bounds[i + 1])`.
    pub async fn referral_counts(
        &self,
        bounds: &[Micros],
    ) -> Result<Vec<ReferralCounts>, StoreError> {
        let periods = bounds.len().saturating_sub(1);
        let mut out = vec![ReferralCounts::default(); periods];
        if periods == 0 {
            return Ok(out);
        }
        // Each side by its own index: the referrals made in the periods, then those
        // converted in them.
        for (column, converted) in [("referred_at", false), ("converted_at", true)] {
            let rows = self
                .rows_by_period(bounds, column, |case, start| {
                    format!(
                        "SELECT {case} AS period, COUNT(*) AS n FROM referrals \
                         WHERE {column} >= ${start} GROUP BY 1"
                    )
                })
                .await?;
            for (period, r) in rows {
                let n: i64 = r.try_get("n")?;
                if converted {
                    out[period].converted += n;
                } else {
                    out[period].made += n;
                }
            }
        }
        Ok(out)
    }

    /// The rows of `sql` — given the CASE naming each row's period by `column`, and the
    /// number of the parameter holding the first period's start — each with its period;
    /// rows outside every period are left out.
    async fn rows_by_period(
        &self,
        bounds: &[Micros],
        column: &str,
        sql: impl FnOnce(&str, usize) -> String,
    ) -> Result<Vec<(usize, sqlx::any::AnyRow)>, StoreError> {
        let periods = bounds.len().saturating_sub(1);
        let (case, binds) = period_case(bounds, column);
        let sql = sql(&case, binds.len());
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for v in &binds {
            query = bind_ref(query, v);
        }
        let mut out = Vec::new();
        for r in query.fetch_all(self.pool()).await? {
            let period: i64 = r.try_get("period")?;
            if let Some(p) = usize::try_from(period).ok().filter(|p| *p < periods) {
                out.push((p, r));
            }
        }
        Ok(out)
    }

    /// Members of the last score recompute per (recency score, frequency score), 1–5:
    /// as the run counted them (scores change only in runs), or counted now for a run
    /// made before runs kept their grid.
    pub async fn rfm_grid(&self) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        let kept: Option<Option<String>> =
            sqlx::query_scalar("SELECT rfm_cells FROM score_runs ORDER BY started_at DESC LIMIT 1")
                .fetch_optional(self.pool())
                .await?;
        if let Some(Some(cells)) = kept {
            return Ok(serde_json::from_str(&cells)?);
        }
        self.count_rfm_cells().await
    }

    /// Counts the grid over every member's stored score.
    pub(crate) async fn count_rfm_cells(&self) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT r, f, COUNT(*) AS n FROM member_scores WHERE r IS NOT NULL AND f IS NOT NULL GROUP BY r, f",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("r")?, r.try_get("f")?, r.try_get("n")?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::period_of;

    #[test]
    fn instants_fall_in_half_open_periods() {
        let bounds = [10, 20, 30];
        assert_eq!(period_of(&bounds, 9), None);
        assert_eq!(period_of(&bounds, 10), Some(0));
        assert_eq!(period_of(&bounds, 19), Some(0));
        assert_eq!(period_of(&bounds, 20), Some(1));
        assert_eq!(period_of(&bounds, 30), None);
        assert_eq!(period_of(&[10], 10), None);
    }
}
