//! How busy ingest is in this process: the events it took in the last whole second. A
//! server's own background work (the scores recompute, the history figures) asks this
//! before it starts, and waits a while when ingest is busy (`flywheel serve`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// Events counted in one-second windows.
#[derive(Debug)]
pub(crate) struct IngestPace {
    windows: Mutex<Windows>,
}

#[derive(Debug)]
struct Windows {
    /// When the current window began.
    started: Instant,
    current: u64,
    /// The window before the current one, if it ended less than a second ago.
    previous: u64,
}

impl Default for IngestPace {
    fn default() -> Self {
        IngestPace {
            windows: Mutex::new(Windows {
                started: Instant::now(),
                current: 0,
                previous: 0,
            }),
        }
    }
}

impl IngestPace {
    /// `events` were taken in at `now`.
    pub(crate) fn record(&self, events: usize, now: Instant) {
        let mut w = self.windows.lock().expect("ingest pace");
        w.roll(now);
        w.current += events as u64;
    }

    /// The events taken in during the last whole second before `now`.
    pub(crate) fn per_second(&self, now: Instant) -> u64 {
        let mut w = self.windows.lock().expect("ingest pace");
        w.roll(now);
        w.previous
    }
}

impl Windows {
    /// Moves the windows on to the one `now` falls in.
    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed >= 2 * SECOND {
            self.previous = 0;
            self.current = 0;
            self.started = now;
        } else if elapsed >= SECOND {
            self.previous = self.current;
            self.current = 0;
            self.started += SECOND;
        }
    }
}

impl crate::db::Store {
    /// Events this process took in during the last whole second.
    pub fn ingest_per_second(&self) -> u64 {
        self.inner.ingest_pace.per_second(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_is_the_last_whole_second_and_falls_to_nothing_in_silence() {
        let pace = IngestPace::default();
        let t0 = pace.windows.lock().unwrap().started;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        pace.record(300, at(100));
        pace.record(200, at(900));
        // The first second is not over: nothing whole to tell yet.
        assert_eq!(pace.per_second(at(950)), 0);
        assert_eq!(pace.per_second(at(1_200)), 500);
        pace.record(40, at(1_500));
        assert_eq!(pace.per_second(at(1_999)), 500);
        assert_eq!(pace.per_second(at(2_100)), 40);
        // More than a second with nothing: not busy.
        assert_eq!(pace.per_second(at(4_500)), 0);
    }
}
