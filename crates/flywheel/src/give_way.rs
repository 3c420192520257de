//! The server's own heavy background work gives way to ingest, for a while.
//!
//! At a start the scores recompute is often due (none recent) and the kept history
//! figures are stale. Run at once, they take a core and the writer while a restarted
//! server's clients are sending their backlog: measured on 30,000 members
//! (`bench/PROFILE.md`), the first 10 s of single-event ingest answered half as many
//! requests with three times the p99. So while this process ingests more than
//! [`BUSY_EVENTS_PER_SECOND`], that work waits, looking again every second, but never
//! more than [`AT_MOST`] past the moment it first waited: under endless load it still
//! runs. A server that has just started watches the pace for [`WATCH_FIRST`] first. The sweeps of stages and points do not wait; they are short slices
//! (`flywheel-store/src/slice.rs`) and dates depend on them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Events a second above which ingest counts as busy.
pub const BUSY_EVENTS_PER_SECOND: u64 = 200;
/// The longest a due run waits for ingest to calm down.
pub const AT_MOST: Duration = Duration::from_secs(300);
/// How soon a run that gave way looks again.
pub const LOOK_AGAIN: Duration = Duration::from_secs(1);
/// How long a server watches ingest's pace after it starts before it runs due work: a
/// restarted server's clients come back within moments, and the pace of the first
/// second is nothing.
pub const WATCH_FIRST: Duration = Duration::from_secs(3);

/// One background task's waiting, shared by its runs.
#[derive(Debug)]
pub struct GiveWay {
    /// Before this, due work waits whatever the pace (the server has just started).
    watching_until: Instant,
    waiting_since: Mutex<Option<Instant>>,
}

impl GiveWay {
    /// For a task of a server starting at `now`.
    pub fn starting_at(now: Instant) -> GiveWay {
        GiveWay {
            watching_until: now + WATCH_FIRST,
            waiting_since: Mutex::new(None),
        }
    }

    /// Whether work due at `now` waits, ingest having taken `pace` events in the last
    /// second. Calm ingest, or a wait of [`AT_MOST`] already, lets it run.
    pub fn waits(&self, pace: u64, now: Instant) -> bool {
        if now < self.watching_until {
            return true;
        }
        let mut since = self.waiting_since.lock().expect("give way");
        if pace < BUSY_EVENTS_PER_SECOND {
            *since = None;
            return false;
        }
        let first = *since.get_or_insert(now);
        if now.saturating_duration_since(first) < AT_MOST {
            return true;
        }
        *since = None;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_work_waits_while_ingest_is_busy_but_not_for_ever() {
        let started = Instant::now();
        let give_way = GiveWay::starting_at(started);
        let busy = BUSY_EVENTS_PER_SECOND;
        assert!(
            give_way.waits(0, started),
            "just started: watch the pace first"
        );
        assert!(give_way.waits(0, started + WATCH_FIRST - LOOK_AGAIN));
        let t0 = started + WATCH_FIRST;
        assert!(!give_way.waits(busy - 1, t0), "calm ingest: run");
        assert!(give_way.waits(busy, t0));
        assert!(give_way.waits(busy * 10, t0 + AT_MOST - LOOK_AGAIN));
        assert!(
            !give_way.waits(busy * 10, t0 + AT_MOST),
            "waited long enough"
        );
        // The next due run may wait again, from its own first wait.
        assert!(give_way.waits(busy, t0 + AT_MOST + LOOK_AGAIN));
        // A calm second ends a wait and forgets it.
        assert!(!give_way.waits(0, t0 + 2 * AT_MOST));
        assert!(give_way.waits(busy, t0 + 2 * AT_MOST + LOOK_AGAIN));
    }
}
