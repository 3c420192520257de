//! Crash points, for the tests that prove what survives a crash. With
//! `FLYWHEEL_CRASH_AT=<point>` (or `<point>:<n>`) in the environment the process aborts —
//! no destructors, no buffered writes flushed, as a power cut or an OOM kill would leave
//! it — the first (or n-th) time it reaches that point. Without the variable a point
//! costs one load of an initialised `OnceLock`.
//!
//! The points, in the order an event meets them:
//! - `ingest.mid_write`: written through, a batch's derived rows are written and its
//!   events are not; written behind, its events are written and their queue rows are
//!   not. Nothing is committed.
//! - `ingest.before_commit`: everything is written, the commit has not run.
//! - `ingest.after_commit`: the batch is committed (written behind: to the event log
//!   only), no caller has its answer yet. Inside a held transaction (`held.rs`) these
//!   three mark a savepoint: nothing is committed until the next two.
//! - `held.before_commit`: a held transaction (an import's batch, every day of it) has
//!   released its last savepoint and not committed.
//! - `held.after_commit`: the held transaction is committed; the import has not counted
//!   it.
//! - `flush.mid_write`: written behind, a flush has written the first waiting plan.
//! - `flush.before_commit`: the flush has written every plan and deleted their queue
//!   rows, and not committed.
//! - `flush.after_commit`: the flush is committed; the plans are still in memory.
//! - `checkpoint.mid`: SQLite only: a checkpoint pass has copied part of the log into
//!   the database file; the log still holds what the file may lack.
//! - `journey.decided`: the runner committed a journey step's decision (its outbox row
//!   and the run's new position); no sender has seen the message.
//! - `outbox.before_record`: a sender has handed a message to its channel and has its
//!   answer; the attempt is not recorded, so the message is still claimed (`sending`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every point the store checks, so a misspelt `FLYWHEEL_CRASH_AT` fails loudly.
pub(crate) const POINTS: [&str; 11] = [
    "ingest.mid_write",
    "ingest.before_commit",
    "ingest.after_commit",
    "held.before_commit",
    "held.after_commit",
    "flush.mid_write",
    "flush.before_commit",
    "flush.after_commit",
    "checkpoint.mid",
    "journey.decided",
    "outbox.before_record",
];

struct Armed {
    point: String,
    at_hit: u64,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("FLYWHEEL_CRASH_AT").ok()?;
            let (point, at_hit) = match spec.split_once(':') {
                Some((p, n)) => (p, n.parse().unwrap_or(1)),
                None => (spec.as_str(), 1),
            };
            assert!(
                POINTS.contains(&point),
                "FLYWHEEL_CRASH_AT names no crash point: {point} (known: {POINTS:?})"
            );
            Some(Armed {
                point: point.to_owned(),
                at_hit: at_hit.max(1),
                hits: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Aborts the process if `FLYWHEEL_CRASH_AT` names `name` and this is the hit it asks
/// for.
pub(crate) fn point(name: &'static str) {
    debug_assert!(POINTS.contains(&name), "unlisted crash point {name}");
    let Some(armed) = armed() else { return };
    if armed.point != name {
        return;
    }
    if armed.hits.fetch_add(1, Ordering::SeqCst) + 1 == armed.at_hit {
        eprintln!("FLYWHEEL_CRASH_AT: aborting at {name}");
        std::process::abort();
    }
}
