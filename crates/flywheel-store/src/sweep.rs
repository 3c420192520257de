//! The stage sweep: re-evaluates members whose stage can change with time alone (a
//! purchase leaving the window, a silence or an open complaint crossing its limit).
//!
//! Each member carries `next_review_at`, the earliest such instant, so a sweep reads
//! only the members due, in chunks, through the `members_review` index in
//! `(next_review_at, id)` order — never the whole table, because every chunk holds the
//! single writer that ingest is waiting for (chunks are sized by that hold, `slice.rs`). A full sweep (after the policy changed)
//! walks every member in id order instead. On PostgreSQL the chunk is claimed with
//! `FOR UPDATE SKIP LOCKED`, so several nodes can sweep at once without doing the same
//! work or waiting on ingest.

use crate::db::Store;
use crate::dialect::row_lock_skipping_held;
use crate::error::StoreError;
use crate::ingest::write_changes;
use crate::rows::{MEMBER_FROM, member_from_row};
use crate::slice::{Bounds, Slicer};
use flywheel_core::StagePolicy;
use flywheel_core::ingest::{Changes, WorkingSet};
use flywheel_core::time::Micros;
use sqlx::{AnyConnection, AssertSqlSafe};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub examined: u64,
    pub changed: u64,
}

/// Members a chunk takes: a replayed day's stretch takes up to 2,000 at once.
const CHUNK: Bounds = Bounds {
    min: 50,
    first: 100,
    max: 2000,
};

/// Review instants one member is evaluated at in one history sweep; more than the stages
/// and time rules can produce in one gap, so a review that does not move its own time
/// forward cannot loop.
const MAX_REVIEWS_PER_SWEEP: usize = 16;

/// Where the next chunk starts: after the last member the previous one read.
#[derive(Clone, Copy, Debug)]
enum Cursor {
    /// A full sweep, in id order.
    Full { after_id: i64 },
    /// Members due, in `(next_review_at, id)` order.
    Due { after: (Micros, i64) },
}

/// Members due at `$1`, after the cursor `($2, $3)`, in the `members_review` index's
/// order. The `merged_into IS NULL` matches that partial index, and `next_review_at >= $2`
/// gives PostgreSQL the index's lower bound (the row comparison alone it only filters).
const DUE_WHERE: &str = "WHERE merged_into IS NULL AND next_review_at <= $1 AND next_review_at >= $2 \
     AND (next_review_at, id) > ($2, $3) ORDER BY next_review_at, id LIMIT $4";

/// Every live member after `$1`, in id order.
const FULL_WHERE: &str = "WHERE merged_into IS NULL AND id > $1 ORDER BY id LIMIT $2";

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
        let started = std::time::Instant::now();
        let mut report = SweepReport::default();
        let mut cursor = if full {
            Cursor::Full { after_id: i64::MIN }
        } else {
            Cursor::Due {
                after: (Micros::MIN, i64::MIN),
            }
        };
        let mut slicer = self.slicer(|l| &l.stage, CHUNK);
        loop {
            let (examined, changed, next) = self
                .sweep_chunk(policy, as_of, cursor, false, &mut slicer)
                .await?;
            report.examined += examined;
            report.changed += changed;
            match next {
                Some(next) => cursor = next,
                None => {
                    metrics::histogram!("flywheel_sweep_seconds")
                        .record(started.elapsed().as_secs_f64());
                    return Ok(report);
                }
            }
        }
    }

    /// Replaying history: re-evaluates every member due by `until` at the instants
    /// their stages could change — each member's own review times, one after another
    /// while they fall before `until` — so a silence that crossed its limit on 3 March
    /// is dated 3 March, not the day the import reached. Imports in time order call this
    /// between stretches of events.
    pub async fn sweep_history(
        &self,
        policy: &StagePolicy,
        until: Micros,
    ) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let mut cursor = Cursor::Due {
            after: (Micros::MIN, i64::MIN),
        };
        let mut slicer = self.slicer(|l| &l.stage, CHUNK);
        loop {
            let (examined, changed, next) = self
                .sweep_chunk(policy, until, cursor, true, &mut slicer)
                .await?;
            report.examined += examined;
            report.changed += changed;
            match next {
                Some(next) => cursor = next,
                None => return Ok(report),
            }
        }
    }

    /// One chunk of members; `at_reviews` evaluates each at its own review instants up
    /// to `as_of` (history) rather than once at `as_of` (the present).
    async fn sweep_chunk(
        &self,
        policy: &StagePolicy,
        as_of: Micros,
        cursor: Cursor,
        at_reviews: bool,
        slicer: &mut Slicer<'_>,
    ) -> Result<(u64, u64, Option<Cursor>), StoreError> {
        let mut tx = self.begin_write().await?;
        let taken = tx.held_since();
        let conn: &mut AnyConnection = &mut tx;
        let lock = row_lock_skipping_held(self.backend());
        let rows = match cursor {
            Cursor::Full { after_id } => {
                sqlx::query(AssertSqlSafe(format!("{MEMBER_FROM} {FULL_WHERE} {lock}")))
                    .bind(after_id)
                    .bind(slicer.size())
                    .fetch_all(&mut *conn)
                    .await?
            }
            Cursor::Due {
                after: (after_at, after_id),
            } => {
                sqlx::query(AssertSqlSafe(format!("{MEMBER_FROM} {DUE_WHERE} {lock}")))
                    .bind(as_of)
                    .bind(after_at)
                    .bind(after_id)
                    .bind(slicer.size())
                    .fetch_all(&mut *conn)
                    .await?
            }
        };
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok((0, 0, None));
        }
        let mut ws = WorkingSet::default();
        let mut next = cursor;
        for row in &rows {
            let m = member_from_row(row)?;
            // The rows come in cursor order, so the last one read is where the next
            // chunk starts — taken before evaluation moves its review time.
            next = match cursor {
                Cursor::Full { .. } => Cursor::Full { after_id: m.id },
                // Every due row has a review time (the query asks `<= $1`).
                Cursor::Due { .. } => Cursor::Due {
                    after: (m.next_review_at.unwrap_or(as_of), m.id),
                },
            };
            ws.members.insert(m.id, m);
        }
        let mut changes = Changes::default();
        let ids: Vec<i64> = ws.members.keys().copied().collect();
        for id in &ids {
            if at_reviews {
                // A member may cross several limits in a long gap (strong → weak →
                // micro): each at its own instant, a bounded number of times.
                for _ in 0..MAX_REVIEWS_PER_SWEEP {
                    let due = ws.members.get(id).and_then(|m| m.next_review_at);
                    match due {
                        Some(at) if at <= as_of => {
                            ws.evaluate(*id, policy, at, None, &mut changes);
                        }
                        _ => break,
                    }
                }
            } else {
                ws.evaluate(*id, policy, as_of, None, &mut changes);
            }
        }
        let changed = changes.transitions.len() as u64;
        let journeys = self
            .journey_book(conn, &self.segment_settings().lang)
            .await?;
        write_changes(conn, &ws, &changes, as_of, &journeys).await?;
        // Segments over stages follow the members the clock moved.
        let moved: Vec<i64> = changes.transitions.iter().map(|t| t.member_id).collect();
        self.refresh_segments_in(conn, &moved, "stage_sweep", as_of)
            .await?;
        let committed = tx.commit().await?;
        slicer.learn(ids.len(), taken.elapsed());
        // Every member evaluated was written again; nothing else the cache holds was.
        self.keep_member_cache(committed, &ids).await;
        Ok((ids.len() as u64, changed, Some(next)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    /// The periodic sweep runs every minute holding the writer: reading the whole members
    /// table there held ingest up for about a second at a million members. On
    /// PostgreSQL the cursor must be an index condition and the order the index's: a
    /// bitmap scan and a sort re-read every dead entry of every page (migration 52).
    #[tokio::test]
    async fn due_members_are_read_through_the_review_index() {
        for db in flywheel_testkit::databases().await {
            // This crate's own `Store` (the testkit's is the library's, built apart).
            let store = Store::open(&db.url).await.unwrap();
            let (explain, column) = match store.backend() {
                crate::db::Backend::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
                crate::db::Backend::Postgres => ("EXPLAIN", "QUERY PLAN"),
            };
            let lock = row_lock_skipping_held(store.backend());
            let sql = format!("{explain} {MEMBER_FROM} {DUE_WHERE} {lock}");
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(0_i64)
                .bind(0_i64)
                .bind(0_i64)
                .bind(CHUNK.max)
                .fetch_all(store.pool())
                .await
                .unwrap();
            let plan: Vec<String> = rows.iter().map(|r| r.try_get(column).unwrap()).collect();
            let through_index = |step: &String| match store.backend() {
                crate::db::Backend::Sqlite => step.contains("USING INDEX members_review"),
                crate::db::Backend::Postgres => {
                    step.contains("Index Scan using members_review") && !step.contains("Bitmap")
                }
            };
            assert!(plan.iter().any(through_index), "{plan:?}");
            let bad = ["SCAN members", "TEMP B-TREE", "Sort", "Seq Scan", "Bitmap"];
            assert!(
                !plan.iter().any(|step| bad.iter().any(|b| step.contains(b))),
                "{plan:?}"
            );
            store.close().await;
        }
    }
}
