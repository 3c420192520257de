//! The background passes: filling a new or edited segment (every member evaluated once,
//! in chunks of ids, so a million members never hold the writer for long), and the
//! segment sweep, which re-evaluates only the members whose segments could change with
//! the clock by now (`segment_reviews.due_at`), as the stage sweep does with
//! `next_review_at`. Both evaluate in memory (`live.rs`), the same way ingest does, so
//! a member's next review instant is set whichever path saw it last.

use super::live::{LiveContext, Moved, refresh_members};
use crate::db::Store;
use crate::error::StoreError;
use crate::plan::Writes;
use crate::slice::{Bounds, Slicer};
use flywheel_core::ingest::MemberId;
use flywheel_core::segment::Language;
use flywheel_core::time::Micros;
use sqlx::{AnyConnection, Row};

/// What the segment passes need to know of the brand's policy.
#[derive(Clone, Debug)]
pub struct SegmentSettings {
    pub lang: Language,
    /// The programme `points_balance` reads.
    pub points_programme: String,
}

impl Default for SegmentSettings {
    fn default() -> Self {
        SegmentSettings {
            lang: Language::new(365),
            points_programme: flywheel_core::points::policy::DEFAULT_PROGRAMME.into(),
        }
    }
}

impl SegmentSettings {
    /// The settings a brand's policy implies: its stage window, its default points
    /// programme.
    pub fn of(policy: &flywheel_core::Policy) -> SegmentSettings {
        SegmentSettings {
            lang: policy.language(),
            points_programme: policy.points.default_programme().to_owned(),
        }
    }
}

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FillReport {
    pub examined: u64,
    pub entered: u64,
    pub left: u64,
    /// Segments that became ready.
    pub ready: Vec<String>,
}

impl FillReport {
    fn add(&mut self, n: usize, moved: Moved) {
        self.examined += n as u64;
        self.entered += moved.entered as u64;
        self.left += moved.left as u64;
    }
}

/// Members evaluated per transaction of a pass, sized by how long it holds the writer
/// (`slice.rs`): it reads and judges its members meanwhile, and 2,000 held it about 70 ms
/// each in the fills of a server starting on 30,000 members
/// (`flywheel_write_held_seconds`), while single-event ingest waited each out.
const CHUNK: Bounds = Bounds {
    min: 20,
    first: 50,
    max: 2000,
};

impl Store {
    /// Tells the store the policy segments are evaluated under (the binary calls this
    /// once its configuration is read).
    pub fn configure_segments(&self, settings: SegmentSettings) {
        *self
            .inner
            .segment_settings
            .write()
            .expect("segment settings") = settings;
    }

    pub fn segment_settings(&self) -> SegmentSettings {
        self.inner
            .segment_settings
            .read()
            .expect("segment settings")
            .clone()
    }

    /// Re-evaluates `ids` in the caller's write transaction and writes what changed.
    pub(crate) async fn refresh_segments_in(
        &self,
        conn: &mut AnyConnection,
        ids: &[MemberId],
        cause: &str,
        now: Micros,
    ) -> Result<Moved, StoreError> {
        let settings = self.segment_settings();
        let book = self.segment_book(conn, &settings.lang).await?;
        if book.is_empty() || ids.is_empty() {
            return Ok(Moved::default());
        }
        let catalogue = self.catalogue_on(conn).await?;
        let journeys = self.journey_book(conn, &settings.lang).await?;
        let ctx = LiveContext {
            backend: self.backend(),
            book: &book,
            catalogue: &catalogue,
            points_programme: &settings.points_programme,
            now,
            journeys: Some(&journeys),
        };
        let mut w = Writes::default();
        let moved = refresh_members(conn, &ctx, ids, cause, &mut w).await?;
        w.run(conn).await?;
        Ok(moved)
    }

    /// Runs one chunk of every segment fill that is under way, until none is left or
    /// `max_chunks` have run. Returns what it did.
    pub async fn fill_segments(
        &self,
        now: Micros,
        max_chunks: u32,
    ) -> Result<FillReport, StoreError> {
        let slicer = self.slicer(|l| &l.segments, CHUNK);
        self.fill_in_slices(now, max_chunks, slicer).await
    }

    /// One chunk of the most members (2,000), for the request that saved a segment: a
    /// small brand's fills before the answer, a larger one's goes on in the background.
    /// A save is rare, so one longer hold of the writer is worth the person's wait.
    pub async fn fill_segments_at_once(&self, now: Micros) -> Result<FillReport, StoreError> {
        let slicer = self.slicer(|l| &l.segments, CHUNK).at_most();
        self.fill_in_slices(now, 1, slicer).await
    }

    async fn fill_in_slices(
        &self,
        now: Micros,
        max_chunks: u32,
        mut slicer: Slicer<'_>,
    ) -> Result<FillReport, StoreError> {
        let mut report = FillReport::default();
        for _ in 0..max_chunks {
            if !self.fill_chunk(now, &mut slicer, &mut report).await? {
                break;
            }
        }
        Ok(report)
    }

    /// One chunk of the fill that is furthest behind; false when no fill runs.
    async fn fill_chunk(
        &self,
        now: Micros,
        slicer: &mut Slicer<'_>,
        report: &mut FillReport,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let taken = tx.held_since();
        let conn: &mut AnyConnection = &mut tx;
        let Some(row) = sqlx::query(
            "SELECT id, fill_after FROM segments WHERE fill_after IS NOT NULL ORDER BY fill_after, id LIMIT 1",
        )
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(false);
        };
        let after: i64 = row.try_get("fill_after")?;
        let ids: Vec<MemberId> = sqlx::query_scalar(
            "SELECT id FROM members WHERE id > $1 AND merged_into IS NULL ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(slicer.size())
        .fetch_all(&mut *conn)
        .await?;
        // Every segment at this point moves on together: one evaluation serves them all.
        let reached = ids.last().copied();
        let moved = self.refresh_segments_in(conn, &ids, "fill", now).await?;
        report.add(ids.len(), moved);
        match reached {
            Some(last) if ids.len() as i64 == slicer.size() => {
                sqlx::query("UPDATE segments SET fill_after = $1 WHERE fill_after IS NOT NULL AND fill_after <= $2")
                    .bind(last)
                    .bind(after)
                    .execute(&mut *conn)
                    .await?;
            }
            _ => {
                let done: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM segments WHERE fill_after IS NOT NULL AND fill_after <= $1",
                )
                .bind(after)
                .fetch_all(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE segments SET fill_after = NULL, fill_reason = NULL, status = 'ready' \
                     WHERE fill_after IS NOT NULL AND fill_after <= $1",
                )
                .bind(after)
                .execute(&mut *conn)
                .await?;
                report.ready.extend(done);
            }
        }
        // Memberships, tags, reviews and the fill's marks: nothing the member cache
        // holds (it drops the definitions it kept, segments among them).
        self.commit_keeping_cache(tx).await?;
        slicer.learn(ids.len(), taken.elapsed());
        Ok(true)
    }

    /// Re-evaluates members whose segments could have changed with the clock by `now`.
    pub async fn sweep_segments(&self, now: Micros) -> Result<FillReport, StoreError> {
        let mut report = FillReport::default();
        let mut slicer = self.slicer(|l| &l.segments, CHUNK);
        loop {
            let mut tx = self.begin_write().await?;
            let taken = tx.held_since();
            let conn: &mut AnyConnection = &mut tx;
            let ids: Vec<MemberId> = sqlx::query_scalar(
                "SELECT member_id FROM segment_reviews WHERE due_at <= $1 ORDER BY due_at, member_id LIMIT $2",
            )
            .bind(now)
            .bind(slicer.size())
            .fetch_all(&mut *conn)
            .await?;
            if ids.is_empty() {
                return Ok(report);
            }
            let settings = self.segment_settings();
            if self.segment_book(conn, &settings.lang).await?.is_empty() {
                // No segment is left to review for.
                sqlx::query("DELETE FROM segment_reviews")
                    .execute(&mut *conn)
                    .await?;
                tx.commit().await?;
                return Ok(report);
            }
            // Each member's review moves past `now` (or goes, when nothing is due).
            let moved = self.refresh_segments_in(conn, &ids, "clock", now).await?;
            report.add(ids.len(), moved);
            // Segments and tags: nothing the member cache holds.
            self.commit_keeping_cache(tx).await?;
            slicer.learn(ids.len(), taken.elapsed());
        }
    }

    /// Starts a pass over every member for the segments that read scores, after a
    /// recompute changed them.
    pub(crate) async fn refill_segments_reading_scores(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<(), StoreError> {
        let settings = self.segment_settings();
        let book = self.segment_book(conn, &settings.lang).await?;
        for s in book.segments.iter().filter(|s| s.needs.scores) {
            sqlx::query(
                "UPDATE segments SET fill_after = 0, fill_reason = 'scores' WHERE id = $1 AND fill_after IS NULL",
            )
            .bind(s.id.clone())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
