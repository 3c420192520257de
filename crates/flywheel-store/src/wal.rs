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
//!   copy, syncs the file system (the pages those passes wrote), then takes the writer
//!   connection for a moment (writes queue behind it), copies the rest and lets go: the
//!   next write restarts the log. That bounds the log's size. Under single-event load
//!   on a 1 GB database the writer was held 95–200 ms by one catch-up after a 250 ms
//!   interval; with the converging passes 3–23 ms at ~2,500 events/s but 50–1,375 ms at
//!   ~3,500/s, most of it syncing pages the passes had copied; with the sync moved
//!   before the catch-up, 1–119 ms at that rate.
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
    if log_frames > 0 {
        crate::crash::point("checkpoint.mid");
    }
    metrics::histogram!("flywheel_checkpoint_seconds", "step" => "pass")
        .record(started.elapsed().as_secs_f64());
    metrics::gauge!("flywheel_wal_frames").set(log_frames as f64);
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
    // The passes wrote pages into the database file but did not sync it: SQLite syncs
    // the file only after a pass that copied the whole log, which a busy writer never
    // allows. Left alone, the catch-up under the writer would sync every page copied
    // since the last restart (measured 180–220 ms, once 1.4 s, at ~3,500 events/s);
    // synced here, while the writer goes on, the catch-up syncs only what it copies.
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&mut *reader)
            .await?;
    drop(reader);
    flush_file_system(&file).await;
    let mut writer = inner.writes.acquire().await?;
    let started = Instant::now();
    passive_checkpoint(&mut writer).await?;
    metrics::histogram!("flywheel_checkpoint_seconds", "step" => "catch_up")
        .record(started.elapsed().as_secs_f64());
    tracing::debug!(log_frames, writer_held = ?started.elapsed(), "checkpoint let the log restart");
    Ok(())
}

/// Writes back the dirty pages of the file system holding `database` (nothing for an
/// in-memory database). It syncs the whole file system rather than the database file
/// because syncing the file would mean opening and closing it, and closing any
/// descriptor of a SQLite file drops every POSIX lock this process holds on it — the
/// locks that tell other processes the database is in use.
async fn flush_file_system(database: &str) {
    // An in-memory database's file is "", which has no parent.
    let Some(dir) = std::path::Path::new(database).parent() else {
        return;
    };
    let dir = dir.to_owned();
    let synced = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let handle = std::fs::File::open(&dir)?;
        sync_file_system_of(&handle)
    })
    .await;
    if let Ok(Err(e)) = synced {
        tracing::debug!(error = %e, "could not sync the database's file system");
    }
}

#[cfg(target_os = "linux")]
fn sync_file_system_of(handle: &std::fs::File) -> std::io::Result<()> {
    rustix::fs::syncfs(handle).map_err(std::io::Error::from)
}

/// Elsewhere the catch-up under the writer syncs everything itself, as before.
#[cfg(not(target_os = "linux"))]
fn sync_file_system_of(_handle: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

/// Copies what it can of the log into the database; returns the log's length in frames.
async fn passive_checkpoint(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(conn)
        .await?;
    row.try_get::<i64, _>(1)
}
