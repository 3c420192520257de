//! The counts behind the membership report: tier changes in a period by kind, who
//! holds each tier at its end, and the purchases made in it. What the changes mean is
//! `flywheel_core::membership::report`.

use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::membership::report::{ProgrammeFigures, figures};
use flywheel_core::time::{DAY, Micros};
use sqlx::Row;
use std::collections::BTreeMap;

/// One programme's figures for a period.
#[derive(Clone, Debug)]
pub struct MembershipReport {
    pub programme: super::ProgrammeVersion,
    pub figures: ProgrammeFigures,
}

impl Store {
    /// Every programme's figures for `[from, to)`. Holders are counted as of `to` from
    /// the tier history; a membership whose grace was over by then counts as ended even
    /// when the sweep has not recorded it yet, as reads of memberships do.
    pub async fn membership_report(
        &self,
        from: Micros,
        to: Micros,
    ) -> Result<Vec<MembershipReport>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let mut out = Vec::new();
        for programme in self.programmes().await? {
            let changes = sqlx::query(
                "SELECT from_tier, to_tier, rule, CAST(COUNT(*) AS BIGINT) AS n FROM tier_changes \
                 WHERE programme = $1 AND at >= $2 AND at < $3 GROUP BY from_tier, to_tier, rule",
            )
            .bind(programme.id.clone())
            .bind(from)
            .bind(to)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<Option<String>, _>("from_tier")?,
                    r.try_get::<Option<String>, _>("to_tier")?,
                    r.try_get::<String, _>("rule")?,
                    r.try_get::<i64, _>("n")?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
            // Each member's last change before `to` names the tier held then.
            let grace = i64::from(programme.definition.downgrade.grace_days) * DAY;
            let holders = sqlx::query(
                "SELECT t.to_tier AS tier, CAST(COUNT(*) AS BIGINT) AS n FROM tier_changes t \
                 LEFT JOIN memberships m ON m.member_id = t.member_id AND m.programme = t.programme \
                 WHERE t.programme = $1 AND t.at < $2 AND t.to_tier IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM tier_changes u WHERE u.member_id = t.member_id \
                   AND u.programme = t.programme AND u.at < $2 \
                   AND (u.at > t.at OR (u.at = t.at AND u.id > t.id))) \
                 AND NOT (m.tier IS NOT NULL AND m.tier = t.to_tier AND m.expires_at IS NOT NULL \
                   AND m.expires_at + $3 <= $2) \
                 GROUP BY t.to_tier",
            )
            .bind(programme.id.clone())
            .bind(to)
            .bind(grace)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((r.try_get::<String, _>("tier")?, r.try_get::<i64, _>("n")?)))
            .collect::<Result<BTreeMap<_, _>, StoreError>>()?;
            let purchases = sqlx::query(
                "SELECT tier, CAST(COUNT(*) AS BIGINT) AS n, CAST(SUM(cash) AS BIGINT) AS cash, \
                 CAST(SUM(points) AS BIGINT) AS points FROM membership_purchases \
                 WHERE programme = $1 AND created_at >= $2 AND created_at < $3 \
                 AND status = 'completed' GROUP BY tier",
            )
            .bind(programme.id.clone())
            .bind(from)
            .bind(to)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("tier")?,
                    (
                        r.try_get::<i64, _>("n")?,
                        r.try_get::<i64, _>("cash")?,
                        r.try_get::<i64, _>("points")?,
                    ),
                ))
            })
            .collect::<Result<BTreeMap<_, _>, StoreError>>()?;
            let figures = figures(&programme.definition, &changes, &holders, &purchases);
            out.push(MembershipReport { programme, figures });
        }
        Ok(out)
    }
}
