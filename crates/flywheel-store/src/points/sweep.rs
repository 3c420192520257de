//! The points sweep: posts what time alone changed — pending points past their return
//! window, lots past expiry — in slices of members sized by how long they hold the writer
//! (`slice.rs`). Reads never wait for it (balances are computed as of the moment asked),
//! but the ledger and the finance reports do.

use super::ledger::{Lots, load_wallets, write_book};
use crate::db::Store;
use crate::dialect::lock_free_members;
use crate::error::StoreError;
use crate::segments::live::posting_members;
use crate::slice::{Bounds, Slicer};
use flywheel_core::MemberId;
use flywheel_core::points::Book;
use flywheel_core::time::Micros;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeSet;

/// Members a slice takes. At most 500: a replayed day settles that many in one.
const SLICE: Bounds = Bounds {
    min: 10,
    first: 25,
    max: 500,
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PointsSweepReport {
    pub members: u64,
    pub matured: u64,
    pub expired: u64,
}

impl Store {
    /// Posts maturity and expiry due by `now`, for every member.
    pub async fn sweep_points(&self, now: Micros) -> Result<PointsSweepReport, StoreError> {
        let started = std::time::Instant::now();
        let mut report = PointsSweepReport::default();
        let mut slicer = self.slicer(|l| &l.points, SLICE);
        loop {
            let posted_before = report.matured + report.expired;
            let mut done = self
                .sweep_points_once(now, &mut slicer, &mut report)
                .await?;
            if !done && report.matured + report.expired == posted_before {
                // Members were due but settling them posted nothing: asking again would
                // find the same members for ever. Leave them for the next sweep.
                tracing::warn!("points sweep: due members posted nothing; stopping");
                done = true;
            }
            if done {
                metrics::histogram!("flywheel_points_sweep_seconds")
                    .record(started.elapsed().as_secs_f64());
                return Ok(report);
            }
        }
    }

    /// One slice; true when nothing is left to do.
    async fn sweep_points_once(
        &self,
        now: Micros,
        slicer: &mut Slicer<'_>,
        report: &mut PointsSweepReport,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let taken = tx.held_since();
        let conn: &mut AnyConnection = &mut tx;
        let due = due_members(conn, now, slicer.size()).await?;
        if due.is_empty() {
            return Ok(true);
        }
        let ids: Vec<MemberId> = due.into_iter().collect();
        // PostgreSQL skips members another transaction holds.
        let locked = lock_free_members(conn, self.backend(), &ids).await?;
        // Settling reads only the lots due by now and the debt they repay: the others
        // stay as they are in the database.
        let mut book = Book {
            wallets: load_wallets(conn, locked.iter().copied(), Lots::DueBy(now)).await?,
            ..Book::default()
        };
        let keys: Vec<(MemberId, String)> = book.wallets.keys().cloned().collect();
        for (member, programme) in keys {
            book.wallet(member, &programme, now);
        }
        for p in &book.postings {
            match p.kind {
                flywheel_core::points::Kind::Mature => report.matured += 1,
                flywheel_core::points::Kind::Expire => report.expired += 1,
                _ => {}
            }
        }
        report.members += locked.len() as u64;
        write_book(conn, &book, now).await?;
        self.refresh_segments_in(conn, &posting_members(&book), "points", now)
            .await?;
        // Lots, the ledger and segments: of what the member cache holds, only these
        // members' wallets, which it brings up to date from the book.
        let committed = tx.commit().await?;
        slicer.learn(locked.len(), taken.elapsed());
        self.keep_member_cache_settled(committed, &book, &locked, now)
            .await;
        // Members locked by someone else are left for the next sweep. Otherwise ask
        // again until nothing is due: fewer members than a pass takes does not mean
        // fewer lots (a member may have several due), so only an empty answer ends it.
        Ok(locked.len() < ids.len())
    }
}

/// Members with a pending lot past its window or an available lot past expiry, each with
/// points left: an empty lot has nothing to post, and the wallets leave it out.
async fn due_members(
    conn: &mut AnyConnection,
    now: Micros,
    limit: i64,
) -> Result<BTreeSet<MemberId>, StoreError> {
    let mut out = BTreeSet::new();
    for sql in [
        "SELECT member_id FROM points_lots WHERE pending = 1 AND remaining > 0 AND available_at <= $1 ORDER BY available_at LIMIT $2",
        "SELECT member_id FROM points_lots WHERE remaining > 0 AND pending = 0 AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
    ] {
        for row in sqlx::query(sql)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        {
            out.insert(row.try_get("member_id")?);
            if out.len() as i64 >= limit {
                return Ok(out);
            }
        }
    }
    Ok(out)
}
