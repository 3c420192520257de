//! Lists over the last recompute: the super users and the members to invite, and the
//! pages the CSV export streams.

use super::{SCORE_COLUMNS, StoredScores, stored_from_row};
use crate::db::Store;
use crate::error::StoreError;
use crate::rows::identity_from_row;
use crate::sql::{Val, select_in};
use flywheel_core::ingest::MemberState;
use flywheel_core::{Identity, MemberId};
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;

/// A member on a super-user list: their row of the last recompute and their member
/// document now, so the caller can explain the score.
#[derive(Clone, Debug)]
pub struct SuperUserRow {
    pub stored: StoredScores,
    pub member: MemberState,
}

/// One line of the export.
#[derive(Clone, Debug)]
pub struct ExportRow {
    pub stored: StoredScores,
    pub identities: Vec<Identity>,
}

impl Store {
    /// Paid members (`paid = true`: the current super users) or the others (`false`:
    /// whom to invite), best super-user score first, at least `min_score`.
    pub async fn super_users(
        &self,
        paid: bool,
        min_score: f64,
        limit: u32,
    ) -> Result<Vec<SuperUserRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let sql = format!(
            "SELECT {SCORE_COLUMNS} FROM member_scores WHERE paid_member = $1 AND super_user >= $2 \
             ORDER BY super_user DESC, member_id LIMIT $3"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(i64::from(paid))
            .bind(min_score)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?;
        let stored: Vec<StoredScores> =
            rows.iter().map(stored_from_row).collect::<Result<_, _>>()?;
        let ids = stored.iter().map(|s| Val::Int(s.member_id));
        let members = select_in(&mut conn, crate::rows::MEMBER_SELECT, ids, "").await?;
        let mut by_id: HashMap<MemberId, MemberState> = members
            .iter()
            .map(|r| crate::rows::member_from_row(r).map(|m| (m.id, m)))
            .collect::<Result<_, _>>()?;
        Ok(stored
            .into_iter()
            .filter_map(|s| {
                let member = by_id.remove(&s.member_id)?;
                Some(SuperUserRow { stored: s, member })
            })
            .collect())
    }

    /// Up to `limit` rows of the last recompute after member `after`, with identities.
    pub async fn score_export_page(
        &self,
        after: MemberId,
        limit: u32,
    ) -> Result<Vec<ExportRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let sql = format!(
            "SELECT {SCORE_COLUMNS} FROM member_scores WHERE member_id > $1 ORDER BY member_id LIMIT $2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?;
        let mut out: Vec<ExportRow> = rows
            .iter()
            .map(|r| {
                Ok(ExportRow {
                    stored: stored_from_row(r)?,
                    identities: Vec::new(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        let ids = out.iter().map(|r| Val::Int(r.stored.member_id));
        let rows = select_in(
            &mut conn,
            "SELECT key, member_id FROM identities WHERE member_id",
            ids,
            "ORDER BY key",
        )
        .await?;
        let mut identities: HashMap<MemberId, Vec<Identity>> = HashMap::new();
        for row in &rows {
            let (identity, member) = identity_from_row(row)?;
            identities.entry(member).or_default().push(identity);
        }
        for r in &mut out {
            r.identities = identities.remove(&r.stored.member_id).unwrap_or_default();
        }
        Ok(out)
    }

    /// Paid members in the last recompute.
    pub async fn paid_member_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM member_scores WHERE paid_member = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get(0)?)
    }

    /// The last recompute: when and over how many members (`None` before the first).
    pub async fn last_score_run(&self) -> Result<Option<(i64, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT started_at, members FROM score_runs ORDER BY started_at DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }
}
