//! KPI targets, set by people (audited), and the month figures they are read against.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::kpi::Metric;
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::{AnyConnection, Row};

/// A target as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRow {
    pub metric: String,
    pub month: String,
    pub phase: String,
    pub target: i64,
}

fn target_from(r: &sqlx::any::AnyRow) -> Result<TargetRow, StoreError> {
    Ok(TargetRow {
        metric: r.try_get("metric")?,
        month: r.try_get("month")?,
        phase: r.try_get("phase")?,
        target: r.try_get("target")?,
    })
}

impl Store {
    /// Sets a month's target for a metric, audited; false if it was already so.
    pub async fn set_kpi_target(
        &self,
        t: &TargetRow,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = sqlx::query(
            "SELECT metric, month, phase, target FROM kpi_targets WHERE metric = $1 AND month = $2",
        )
        .bind(t.metric.clone())
        .bind(t.month.clone())
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(target_from)
        .transpose()?;
        if before.as_ref() == Some(t) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO kpi_targets (metric, month, phase, target, set_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (metric, month) DO UPDATE SET phase = excluded.phase, target = excluded.target, set_at = excluded.set_at",
        )
        .bind(t.metric.clone())
        .bind(t.month.clone())
        .bind(t.phase.clone())
        .bind(t.target)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        let view = |r: &TargetRow| json!({"metric": r.metric, "month": r.month, "phase": r.phase, "target": r.target});
        let change = AuditChange {
            kind: "kpi_target",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("kpi_target:{}:{}", t.metric, t.month),
            reason: None,
            before: before.as_ref().map(view),
            after: Some(view(t)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The targets set for `month`.
    pub async fn kpi_targets(&self, month: &str) -> Result<Vec<TargetRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT metric, month, phase, target FROM kpi_targets WHERE month = $1 ORDER BY metric",
        )
        .bind(month.to_owned())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(target_from).collect()
    }

    /// `metric` in each period `[bounds[i], bounds[i + 1])`.
    pub async fn metric_by_period(
        &self,
        metric: Metric,
        bounds: &[Micros],
    ) -> Result<Vec<i64>, StoreError> {
        let mut out = Vec::with_capacity(bounds.len().saturating_sub(1));
        match metric {
            Metric::NewMembers => {
                for w in bounds.windows(2) {
                    out.push(self.new_members(w[0], w[1]).await?);
                }
            }
            Metric::ActiveMembers => {
                for w in bounds.windows(2) {
                    out.push(self.active_members(w[0], w[1]).await?);
                }
            }
            Metric::Referrals => {
                out = self
                    .referral_counts(bounds)
                    .await?
                    .iter()
                    .map(|c| c.made)
                    .collect();
            }
            Metric::ReferralConversions => {
                out = self
                    .referral_counts(bounds)
                    .await?
                    .iter()
                    .map(|c| c.converted)
                    .collect();
            }
            Metric::Sales => out = self.sales(bounds).await?,
            Metric::StageUps => {
                let rank = |s: &str| flywheel_core::Stage::parse(s).map_or(0, |s| s as i64);
                out = self
                    .stage_flows(bounds)
                    .await?
                    .iter()
                    .map(|flows| {
                        flows
                            .iter()
                            .filter(|((from, to), _)| rank(to) > rank(from))
                            .map(|(_, n)| n)
                            .sum()
                    })
                    .collect();
            }
        }
        Ok(out)
    }
}
