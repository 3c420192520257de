//! Replaying history at its own time. Importing two years of events evaluates each one
//! at its `occurred_at` (as live traffic would have been), and between stretches of at
//! most a day applies what the clock alone changes — stages at each member's own review
//! instants, points maturing and expiring, membership terms ending, segments' time
//! windows — so stage flows, cohorts and monthly charts read as they happened, not as
//! the day of the import. Used by `flywheel import` (for files in time order) and the
//! demo.

use crate::config::Config;
use flywheel_core::Event;
use flywheel_core::time::{DAY, Micros};
use flywheel_store::Store;
use std::ops::Range;

/// The length of a stretch: events of one UTC day are replayed together, after the
/// clock's changes up to the start of that day. Cutting at calendar days rather than
/// by the file's batches means the same history gives the same database whatever the
/// batch size; a clock-driven change (a points lot expiring) is dated at most a day late.
pub const STRETCH: Micros = DAY;
/// Applies the time rules up to each stretch of a history replayed in order.
#[derive(Debug, Default)]
pub struct Replay {
    /// Unset: nothing swept yet.
    swept_to: Option<Micros>,
}

impl Replay {
    pub fn new() -> Replay {
        Replay::default()
    }

    /// Brings everything the clock changes up to `t` (no-op for a `t` already reached).
    pub async fn catch_up(
        &mut self,
        store: &Store,
        config: &Config,
        t: Micros,
    ) -> anyhow::Result<()> {
        if self.swept_to.is_some_and(|s| t <= s) {
            return Ok(());
        }
        let started = std::time::Instant::now();
        store.sweep_history(&config.policy.stages, t).await?;
        let stages = started.elapsed();
        store.sweep_points(t).await?;
        let points = started.elapsed() - stages;
        store.sweep_memberships(t).await?;
        let memberships = started.elapsed() - stages - points;
        store.sweep_segments(t).await?;
        let segments = started.elapsed() - stages - points - memberships;
        // Where a replay's time between days goes (bench/PROFILE.md sums these).
        tracing::debug!(?stages, ?points, ?memberships, ?segments, "caught up");
        self.swept_to = Some(t);
        Ok(())
    }
}

/// `events` (in time order) cut into stretches of one UTC day each.
pub fn stretches(events: &[Event]) -> Vec<Range<usize>> {
    let times: Vec<Micros> = events.iter().map(|e| e.occurred_at).collect();
    stretches_of(&times)
}

fn stretches_of(times: &[Micros]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..times.len() {
        if day_start(times[i]) != day_start(times[start]) {
            out.push(start..i);
            start = i;
        }
    }
    if start < times.len() {
        out.push(start..times.len());
    }
    out
}

/// The start of the UTC day `t` falls in: where its stretch's catch-up runs to.
pub fn day_start(t: Micros) -> Micros {
    t - t.rem_euclid(STRETCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_are_calendar_days_and_cover_every_event() {
        let h = DAY / 24;
        let times = [0, h, 23 * h, 24 * h, 25 * h, 100 * h];
        assert_eq!(stretches_of(&times), vec![0..3, 3..5, 5..6]);
        // 22:00 and 02:00 the next day are two stretches, however close.
        assert_eq!(stretches_of(&[22 * h, 26 * h]), vec![0..1, 1..2]);
        assert!(stretches_of(&[]).is_empty());
        assert_eq!(day_start(25 * h), DAY);
    }
}
