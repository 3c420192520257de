//! How many members a pass of the clock takes into one write transaction.
//!
//! The stage sweep, the points sweep and the segment fills and sweeps work in slices, each
//! its own write transaction, because on a server single-event ingest waits for the one
//! writer while a slice holds it. A fixed count is wrong at one end or the other: 500
//! members of the points sweep held the writer 92 ms at a server's start, while a history
//! replay, where nobody waits (its sweeps run inside the batch's transaction, `held.rs`),
//! is faster the fewer slices a day takes. So a slice is sized by time: each pass
//! remembers the size its last slice earned, and takes as many members as held the writer
//! about [`TARGET_HOLD`] then; inside a held transaction, or in a process that works
//! alone ([`Store::work_alone`]: a CLI sweep or import holding the lease), it takes its
//! most.

use crate::db::Store;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// How long a slice should hold the writer when ingest may be waiting: about twice what
/// an ingest group holds it on a server (4.2 ms on 30,000 members, `bench/PROFILE.md`).
pub(crate) const TARGET_HOLD: Duration = Duration::from_millis(8);

/// The slice size each pass last earned, 0 before its first slice.
#[derive(Default)]
pub(crate) struct Learned {
    pub stage: AtomicI64,
    pub points: AtomicI64,
    pub segments: AtomicI64,
}

/// The sizes a pass may take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    /// Never fewer, however slow the members: a slice must make progress.
    pub min: i64,
    /// The first slice's, before the pass has been timed.
    pub first: i64,
    /// Never more; and always this inside a held transaction.
    pub max: i64,
}

/// The size of a pass's slices, learning from each how long it held the writer.
pub(crate) struct Slicer<'a> {
    learned: &'a AtomicI64,
    bounds: Bounds,
    /// Nobody waits between slices (a held transaction, a process working alone), so the
    /// size stays at its most.
    fixed: bool,
    size: i64,
}

impl Store {
    /// The slicer of the pass whose learned size `pass` picks out.
    pub(crate) fn slicer(&self, pass: fn(&Learned) -> &AtomicI64, bounds: Bounds) -> Slicer<'_> {
        let nobody_waits = self.held.is_some() || self.inner.alone.load(Ordering::Relaxed);
        Slicer::new(pass(&self.inner.slices), bounds, nobody_waits)
    }

    /// Declares that no request of this process waits for the writer, if it holds the
    /// engine's lease (so no server on the database ingests through it either): the
    /// passes then take their largest slices, as fewer transactions finish sooner. For
    /// a command that does one job and exits (`flywheel sweep`, `flywheel import`); a
    /// server must not call it. Answers whether it took effect.
    ///
    /// A server started after this process took the lease writes through, and its
    /// single events may wait for one of these slices (tens of milliseconds) until the
    /// command ends.
    pub fn work_alone(&self) -> bool {
        let holder = self.inner.engine.holder();
        self.inner.alone.store(holder, Ordering::Relaxed);
        holder
    }
}

impl<'a> Slicer<'a> {
    /// Starting from the size `learned` holds (the first size if none yet), or at the
    /// most when `nobody_waits`.
    fn new(learned: &'a AtomicI64, bounds: Bounds, nobody_waits: bool) -> Slicer<'a> {
        let size = match learned.load(Ordering::Relaxed) {
            _ if nobody_waits => bounds.max,
            0 => bounds.first,
            n => n,
        };
        Slicer {
            learned,
            bounds,
            fixed: nobody_waits,
            size: size.clamp(bounds.min, bounds.max),
        }
    }
}

impl Slicer<'_> {
    /// Slices of the most, whatever the pace: for a person waiting on the answer.
    pub(crate) fn at_most(mut self) -> Self {
        self.fixed = true;
        self.size = self.bounds.max;
        self
    }

    /// How many members the next slice takes.
    pub(crate) fn size(&self) -> i64 {
        self.size
    }

    /// After a slice of `members` held the writer for `held`: the next takes as many as
    /// fit in [`TARGET_HOLD`] at that pace, growing at most twofold (one quick slice, its
    /// pages warm, says little about the next).
    pub(crate) fn learn(&mut self, members: usize, held: Duration) {
        if self.fixed || members == 0 {
            return;
        }
        let per_member = held.as_secs_f64() / members as f64;
        let fit = if per_member > 0.0 {
            (TARGET_HOLD.as_secs_f64() / per_member).min(i64::MAX as f64) as i64
        } else {
            i64::MAX
        };
        self.size = fit
            .min(self.size.saturating_mul(2))
            .clamp(self.bounds.min, self.bounds.max);
        self.learned.store(self.size, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        min: 10,
        first: 100,
        max: 2000,
    };

    #[test]
    fn a_slow_slice_makes_the_next_one_fit_the_target() {
        let learned = AtomicI64::new(0);
        let mut s = Slicer::new(&learned, BOUNDS, false);
        // 100 members in 40 ms: 0.4 ms each, so 8 ms fits 20.
        s.learn(100, Duration::from_millis(40));
        assert_eq!(s.size(), 20);
        assert_eq!(learned.load(Ordering::Relaxed), 20);
        // Far slower still: never under the floor.
        s.learn(20, Duration::from_secs(2));
        assert_eq!(s.size(), 10);
    }

    #[test]
    fn a_quick_slice_grows_the_next_at_most_twofold_up_to_the_ceiling() {
        let learned = AtomicI64::new(0);
        let mut s = Slicer::new(&learned, BOUNDS, false);
        s.learn(100, Duration::from_micros(100));
        assert_eq!(s.size(), 200);
        for _ in 0..10 {
            let n = s.size() as usize;
            s.learn(n, Duration::ZERO);
        }
        assert_eq!(s.size(), 2000);
    }

    #[test]
    fn inside_a_held_transaction_the_size_stays_at_its_most() {
        let learned = AtomicI64::new(0);
        let mut s = Slicer::new(&learned, BOUNDS, true);
        s.learn(2000, Duration::from_secs(1));
        assert_eq!(s.size(), 2000);
        assert_eq!(
            learned.load(Ordering::Relaxed),
            0,
            "a replay teaches the server nothing"
        );
    }

    #[test]
    fn a_pass_starts_where_the_last_one_left_off() {
        let learned = AtomicI64::new(0);
        assert_eq!(Slicer::new(&learned, BOUNDS, false).size(), 100);
        let mut s = Slicer::new(&learned, BOUNDS, false);
        // 100 members in 20 ms: 8 ms fits 40.
        s.learn(100, Duration::from_millis(20));
        assert_eq!(Slicer::new(&learned, BOUNDS, false).size(), 40);
        assert_eq!(Slicer::new(&learned, BOUNDS, true).size(), 2000);
        assert_eq!(Slicer::new(&learned, BOUNDS, false).at_most().size(), 2000);
    }
}
