//! The counts behind the cockpit's overview and `/v1/stats/*`: members active and new
//! in a period, stage flows by month, and the RFM grid. Periods are given as instants;
//! what a month is belongs to the caller.

use crate::db::Store;
use crate::error::StoreError;
use crate::sql::{Val, bind_ref};
use flywheel_core::time::Micros;
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// Stage changes in one period, by (from, to).
pub type FlowCounts = BTreeMap<(String, String), i64>;

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

    /// Stage changes in each period `[bounds[i], bounds[i + 1])`, by (from, to), in one
    /// pass over the transitions since `bounds[0]`.
    pub async fn stage_flows(&self, bounds: &[Micros]) -> Result<Vec<FlowCounts>, StoreError> {
        let periods = bounds.len().saturating_sub(1);
        let mut out = vec![FlowCounts::new(); periods];
        if periods == 0 {
            return Ok(out);
        }
        // The period of each row as a CASE over bound parameters: the same SQL on both
        // databases, with no date functions.
        let mut case = String::from("CAST(CASE");
        let mut binds = Vec::with_capacity(bounds.len() + 1);
        for (i, end) in bounds[1..].iter().enumerate() {
            binds.push(Val::Int(*end));
            case.push_str(&format!(" WHEN at < ${} THEN {i}", binds.len()));
        }
        case.push_str(" ELSE -1 END AS BIGINT)");
        binds.push(Val::Int(bounds[0]));
        let sql = format!(
            "SELECT {case} AS period, from_stage, to_stage, COUNT(*) AS n FROM stage_transitions \
             WHERE at >= ${} GROUP BY 1, from_stage, to_stage",
            binds.len()
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for v in &binds {
            query = bind_ref(query, v);
        }
        for r in query.fetch_all(self.pool()).await? {
            let period: i64 = r.try_get("period")?;
            let Some(slot) = usize::try_from(period).ok().and_then(|p| out.get_mut(p)) else {
                continue;
            };
            slot.insert(
                (r.try_get("from_stage")?, r.try_get("to_stage")?),
                r.try_get("n")?,
            );
        }
        Ok(out)
    }

    /// Members of the last score recompute per (recency score, frequency score), 1–5.
    pub async fn rfm_grid(&self) -> Result<Vec<(i64, i64, i64)>, StoreError> {
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
