//! SQLite write-ahead-log checkpoints, off the commit path.
//!
//! By default SQLite checkpoints inside the commit that pushes the log past its limit:
//! that commit copies every logged page into the database file and fsyncs it, which
//! took 150–500 ms on a gigabyte database — the p99 of single-event ingest and a third
//! of import time. Instead no connection checkpoints on commit (`wal_autocheckpoint = 0`
//! in `db.rs`) and this task checkpoints every [`INTERVAL`]:
//!
//! - a PASSIVE checkpoint on a reader connection copies what the log holds into the
//!   database while the writer goes on committing (to the log) on the other core;
//! - the log can only start over from its beginning when a checkpoint has copied all of
//!   it before a write begins, which a busy writer never allows. So once the log passes
//!   [`RESTART_FRAMES`], the task repeats passes until one has almost nothing left to
//!   copy, then takes the writer connection for a moment (writes queue behind it),
//!   copies the rest and lets go: the next write restarts the log. That bounds the log's
//!   size; the pause measured 3–23 ms under single-event load on a 1 GB database, where
//!   one catch-up right after a 250 ms interval had held the writer 95–200 ms.
//!
//! Closing the store checkpoints what is left.

use crate::db::Inner;
use sqlx::{AnyConnection, Row};
use std::sync::Weak;
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_millis(250);

/// 64 Ki frames of 4 KiB pages: a log of about 256 MiB.
const RESTART_FRAMES: i64 = 65_536;

/// Before taking the writer, passes repeat (up to this many) until one is this quick.
const MAX_CONVERGING_PASSES: usize = 4;
const CONVERGED: Duration = Duration::from_millis(5);

/// Checkpoints until the store is dropped or closed.
pub(crate) async fn checkpoint_forever(store: Weak<Inner>) {
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = store.upgrade() else { return };
        if inner.pool.is_closed() || inner.writes.is_closed() {
            return;
        }
        if let Err(e) = checkpoint(&inner).await {
            tracing::debug!(error = %e, "checkpoint skipped");
        }
    }
}

async fn checkpoint(inner: &Inner) -> Result<(), sqlx::Error> {
    let mut reader = inner.pool.acquire().await?;
    let started = Instant::now();
    let log_frames = passive_checkpoint(&mut reader).await?;
    if log_frames <= RESTART_FRAMES {
        return Ok(());
    }
    // Each pass copies what was logged during the one before, so a few passes in a row
    // leave the catch-up under the writer almost nothing to copy.
    let mut pass = started.elapsed();
    for _ in 0..MAX_CONVERGING_PASSES {
        if pass < CONVERGED {
            break;
        }
        let started = Instant::now();
        passive_checkpoint(&mut reader).await?;
        pass = started.elapsed();
    }
    drop(reader);
    let mut writer = inner.writes.acquire().await?;
    let started = Instant::now();
    passive_checkpoint(&mut writer).await?;
    tracing::debug!(log_frames, writer_held = ?started.elapsed(), "checkpoint let the log restart");
    Ok(())
}

/// Copies what it can of the log into the database; returns the log's length in frames.
async fn passive_checkpoint(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(conn)
        .await?;
    row.try_get::<i64, _>(1)
}
