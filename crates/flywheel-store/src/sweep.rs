//! The stage sweep: re-evaluates members whose stage can change with time alone (a
//! purchase leaving the window, a silence or an open complaint crossing its limit).
//!
//! Each member carries `next_review_at`, the earliest such instant, so a sweep reads
//! only the members due, in chunks. On PostgreSQL the chunk is claimed with
//! `FOR UPDATE SKIP LOCKED`, so several nodes can sweep at once without doing the same
//! work or waiting on ingest.

use crate::db::{Backend, Store};
use crate::error::StoreError;
use crate::ingest::write_changes;
use crate::rows::{MEMBER_FROM, member_from_row};
use flywheel_core::StagePolicy;
use flywheel_core::ingest::{Changes, WorkingSet};
use flywheel_core::time::Micros;
use sqlx::{AnyConnection, AssertSqlSafe};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub examined: u64,
    pub changed: u64,
}

const CHUNK: i64 = 2000;

impl Store {
    /// Re-evaluates every member due at `as_of`; returns how many were examined and how
    /// many changed stage. `full` re-evaluates every member regardless of the schedule
    /// (after the policy itself changed).
    pub async fn sweep(
        &self,
        policy: &StagePolicy,
        as_of: Micros,
        full: bool,
    ) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let mut after_id = i64::MIN;
        loop {
            let (examined, changed, last) = self.sweep_chunk(policy, as_of, full, after_id).await?;
            report.examined += examined;
            report.changed += changed;
            match last {
                Some(id) => after_id = id,
                None => return Ok(report),
            }
        }
    }

    async fn sweep_chunk(
        &self,
        policy: &StagePolicy,
        as_of: Micros,
        full: bool,
        after_id: i64,
    ) -> Result<(u64, u64, Option<i64>), StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "{MEMBER_FROM} WHERE merged_into IS NULL AND id > $2 AND (next_review_at <= $1 OR $4 = 1) ORDER BY id LIMIT $3 {lock}"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(as_of)
            .bind(after_id)
            .bind(CHUNK)
            .bind(i64::from(full))
            .fetch_all(&mut *conn)
            .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok((0, 0, None));
        }
        let mut ws = WorkingSet::default();
        let mut last = after_id;
        for row in &rows {
            let m = member_from_row(row)?;
            last = last.max(m.id);
            ws.members.insert(m.id, m);
        }
        let mut changes = Changes::default();
        let ids: Vec<i64> = ws.members.keys().copied().collect();
        for id in &ids {
            ws.evaluate(*id, policy, as_of, None, &mut changes);
        }
        let changed = changes.transitions.len() as u64;
        write_changes(conn, &ws, &changes, as_of).await?;
        tx.commit().await?;
        Ok((ids.len() as u64, changed, Some(last)))
    }
}
