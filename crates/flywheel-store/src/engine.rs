//! The ingest engine's write-behind: the event log as the commit point.
//!
//! Written through (the default, and always in a process that does not hold the lease),
//! a group of events and every row it derives commit in one transaction. Written behind,
//! a group commits only its events (`events`, the log: the normalised event, its member,
//! the clock it was applied at) and their places in `ingest_queue`; that is when it is
//! acknowledged. The rows it derives — members, identities, orders, referrals,
//! transitions, merges, conflicts, the ledger — wait in memory as a plan
//! ([`Writes`]) and are written by a flush: the plans of many groups, in order, in one
//! transaction that also deletes their queue rows. A crash loses only plans, never what
//! they came from: on start the lease holder replays the queue ([`Store::start_engine`])
//! and the tables come out as if nothing had happened (tables do not depend on where
//! groups end, see ARCHITECTURE.md).
//!
//! What keeps reads right while rows wait in memory:
//! - A group that would read anything a waiting plan writes — a member, an identity
//!   key, an order, a budget — flushes first ([`Pending::touches`]). So a group only
//!   ever reads rows that are current, and waiting plans never write the same row.
//! - Every other writer in this process (points commands, merges, sweeps, erasure)
//!   flushes and holds the engine while its transaction runs (`begin_write`).
//! - Reads that must see every acknowledged event call [`Store::settle`] first (the API
//!   does for every request but ingest).
//! - Another process never writes while the queue holds events: it asks the holder to
//!   write through for a while and waits for the queue to empty (`db.rs`).
//!
//! The lease: one process per database writes behind. On SQLite it is an exclusive lock
//! on the file `<database>-engine.lock`, on PostgreSQL a session advisory lock; both end
//! with the process, however it ends. The other processes try to take it now and then,
//! so when the holder dies one of them replays its queue and holds the lease instead.

use crate::crash;
use crate::db::Store;
use crate::dialect::{Lease, try_engine_lease};
use crate::error::StoreError;
use crate::plan::{Writes, run_together};
use flywheel_core::MemberId;
use flywheel_core::Policy;
use sqlx::AnyConnection;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Rows waiting before a group flushes them itself, by default.
pub const DEFAULT_FLUSH_ROWS: usize = 20_000;

/// Plans waiting longer than this are flushed by the background task.
const FLUSH_AFTER: Duration = Duration::from_secs(1);

/// Rows the background flush writes per transaction, by default: a few milliseconds of
/// the one writer, so a group arriving meanwhile waits for one slice, not the whole flush.
pub(crate) const DEFAULT_FLUSH_SLICE_ROWS: usize = 500;

/// How long another process's request to write through lasts.
pub(crate) const WRITE_THROUGH_FOR: Duration = Duration::from_secs(5);

pub(crate) struct Engine {
    pub pending: Arc<Mutex<Pending>>,
    /// This process holds the lease: it alone may leave rows in memory.
    holder: AtomicBool,
    /// … and writes behind (configured, and the lease held).
    behind: AtomicBool,
    flush_rows: AtomicUsize,
    slice_rows: AtomicUsize,
    lease: std::sync::Mutex<Option<Lease>>,
}

/// Plans acknowledged and not yet written, and every key they write.
#[derive(Default)]
pub(crate) struct Pending {
    plans: std::collections::VecDeque<Waiting>,
    rows: usize,
    /// The next queue position.
    next_seq: i64,
    /// Every key of every waiting plan: a quick "no" for most groups.
    all: Touched,
}

/// One acknowledged group's plan.
struct Waiting {
    plan: Writes,
    touched: Touched,
    events: usize,
    /// The group's last queue position.
    last_seq: i64,
    since: Instant,
}

/// The keys a group reads or writes: what decides whether it must flush first, and what
/// its plan adds to the waiting set.
#[derive(Default)]
pub(crate) struct Touched {
    pub members: HashSet<MemberId>,
    pub keys: HashSet<String>,
    pub orders: HashSet<String>,
    pub budgets: bool,
}

impl Touched {
    /// Whether a group touching `other` would read a row this one writes.
    fn meets(&self, other: &Touched) -> bool {
        (other.budgets && self.budgets)
            || other.members.iter().any(|m| self.members.contains(m))
            || other.keys.iter().any(|k| self.keys.contains(k))
            || other.orders.iter().any(|o| self.orders.contains(o))
    }

    fn extend(&mut self, other: &Touched) {
        self.members.extend(other.members.iter().copied());
        self.keys.extend(other.keys.iter().cloned());
        self.orders.extend(other.orders.iter().cloned());
        self.budgets |= other.budgets;
    }
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }

    /// How many of the waiting plans, from the oldest, a group touching `t` must see
    /// flushed first: up to the newest that writes a row the group would read (0: none).
    pub fn must_flush_for(&self, t: &Touched) -> usize {
        if !self.all.meets(t) {
            return 0;
        }
        self.plans
            .iter()
            .rposition(|w| w.touched.meets(t))
            .map_or(0, |i| i + 1)
    }

    /// Queue positions for `n` events.
    pub fn take_seqs(&mut self, n: usize) -> std::ops::Range<i64> {
        let start = self.next_seq.max(1);
        self.next_seq = start + n as i64;
        start..self.next_seq
    }

    /// Keeps an acknowledged group's plan until the next flush.
    pub fn add(&mut self, plan: Writes, touched: Touched, events: usize, last_seq: i64) {
        self.rows += plan.len();
        self.all.extend(&touched);
        self.plans.push_back(Waiting {
            plan,
            touched,
            events,
            last_seq,
            since: Instant::now(),
        });
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Forgets the oldest `n` plans, written.
    fn written(&mut self, n: usize) {
        for w in self.plans.drain(..n) {
            self.rows -= w.plan.len();
        }
        self.all = Touched::default();
        for w in &self.plans {
            self.all.extend(&w.touched);
        }
    }

    /// How long the oldest plan has waited.
    fn waited(&self) -> Option<Duration> {
        self.plans.front().map(|w| w.since.elapsed())
    }
}

impl Engine {
    pub fn new() -> Engine {
        Engine {
            pending: Arc::new(Mutex::new(Pending::default())),
            holder: AtomicBool::new(false),
            behind: AtomicBool::new(false),
            flush_rows: AtomicUsize::new(DEFAULT_FLUSH_ROWS),
            slice_rows: AtomicUsize::new(DEFAULT_FLUSH_SLICE_ROWS),
            lease: std::sync::Mutex::new(None),
        }
    }

    pub fn behind(&self) -> bool {
        self.behind.load(Ordering::Relaxed)
    }

    pub fn holder(&self) -> bool {
        self.holder.load(Ordering::Relaxed)
    }

    pub fn flush_rows(&self) -> usize {
        self.flush_rows.load(Ordering::Relaxed)
    }
}

/// How a process runs the engine (`Store::start_engine`).
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Write derived rows behind, if this process gets the lease.
    pub write_behind: bool,
    /// Flush once waiting plans hold this many rows.
    pub flush_rows: usize,
    /// Rows per transaction of the background flush (a plan with more is written whole).
    pub slice_rows: usize,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            write_behind: false,
            flush_rows: DEFAULT_FLUSH_ROWS,
            slice_rows: DEFAULT_FLUSH_SLICE_ROWS,
        }
    }
}

impl Store {
    /// Takes the lease if no other process holds it; the holder replays what the event
    /// log holds unapplied (with `policy`, which re-reads each logged event), and writes
    /// behind from then on if `options` say so. Answers whether this process holds the
    /// lease.
    pub async fn start_engine(
        &self,
        policy: &Policy,
        options: EngineOptions,
    ) -> Result<bool, StoreError> {
        let engine = &self.inner.engine;
        engine
            .flush_rows
            .store(options.flush_rows.max(1), Ordering::Relaxed);
        engine
            .slice_rows
            .store(options.slice_rows.max(1), Ordering::Relaxed);
        if !engine.holder() && !self.take_lease().await? {
            tracing::info!("another process holds the ingest lease: writing through");
            tokio::spawn(claim_lease_later(
                Arc::downgrade(&self.inner),
                policy.clone(),
                options,
            ));
            return Ok(false);
        }
        self.hold(policy, &options).await?;
        Ok(true)
    }

    /// With the lease just taken: replays what the log holds unapplied, then acts as the
    /// holder. Until the replay ends, this process's other writers wait for an empty
    /// queue as non-holders do (the replay itself does not wait: `ingest_group`).
    async fn hold(&self, policy: &Policy, options: &EngineOptions) -> Result<(), StoreError> {
        let engine = &self.inner.engine;
        self.replay_queue(policy).await?;
        engine.holder.store(true, Ordering::Relaxed);
        if options.write_behind && !engine.behind.swap(true, Ordering::Relaxed) {
            tokio::spawn(flush_forever(Arc::downgrade(&self.inner)));
        }
        Ok(())
    }

    async fn take_lease(&self) -> Result<bool, StoreError> {
        let engine = &self.inner.engine;
        let Some(lease) = try_engine_lease(
            self.pool(),
            self.backend(),
            self.inner.sqlite_path.as_deref(),
        )
        .await?
        else {
            return Ok(false);
        };
        *engine.lease.lock().unwrap_or_else(|p| p.into_inner()) = Some(lease);
        Ok(true)
    }

    /// Writes every waiting plan now. Reads that must see every acknowledged event call
    /// this first; it returns at once when nothing waits.
    pub async fn settle(&self) -> Result<(), StoreError> {
        if !self.inner.engine.behind() {
            return Ok(());
        }
        let mut pending = self.inner.engine.pending.lock().await;
        self.flush(&mut pending).await
    }

    /// Writes every waiting plan, in one transaction.
    pub(crate) async fn flush(&self, pending: &mut Pending) -> Result<(), StoreError> {
        self.flush_first(pending, pending.plans.len()).await
    }

    /// Writes the oldest `n` waiting plans, in the order they were acknowledged, in one
    /// transaction. (Slicing it would only add commits: whoever asked holds the engine
    /// until the last slice anyway.)
    pub(crate) async fn flush_first(
        &self,
        pending: &mut Pending,
        n: usize,
    ) -> Result<(), StoreError> {
        let n = n.min(pending.plans.len());
        if n > 0 {
            self.flush_slice(pending, n, usize::MAX).await?;
        }
        Ok(())
    }

    /// Writes the oldest waiting plans — at most `most`, and no more than `slice_rows`
    /// rows unless the first plan alone has more — in one transaction that deletes their
    /// queue rows: each kind of statement once over every plan's rows (`plan.rs`).
    /// Answers how many plans it wrote. On failure the plans stay, to be tried again.
    async fn flush_slice(
        &self,
        pending: &mut Pending,
        most: usize,
        slice_rows: usize,
    ) -> Result<usize, StoreError> {
        let mut count = 0;
        let mut rows = 0;
        for w in pending.plans.iter().take(most) {
            if count > 0 && rows + w.plan.len() > slice_rows {
                break;
            }
            count += 1;
            rows += w.plan.len();
        }
        if count == 0 {
            return Ok(0);
        }
        let started = Instant::now();
        let slice = pending.plans.range(..count);
        let plans: Vec<&Writes> = slice.clone().map(|w| &w.plan).collect();
        let events: usize = slice.clone().map(|w| w.events).sum();
        let last_seq = pending.plans[count - 1].last_seq;
        let mut tx = self.begin_engine_write().await?;
        run_together(&plans, &mut tx, || crash::point("flush.mid_write")).await?;
        sqlx::query("DELETE FROM ingest_queue WHERE seq <= $1")
            .bind(last_seq)
            .execute(&mut *tx)
            .await?;
        let before = tx.bump_generation().await? - 1;
        crash::point("flush.before_commit");
        let after = tx.commit().await?;
        crash::point("flush.after_commit");
        // The flush wrote what the member cache already holds: it stays valid.
        self.member_cache().lock().await.advance(before, after);
        metrics::histogram!("flywheel_engine_flush_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("flywheel_engine_flushes_total").increment(1);
        tracing::debug!(
            plans = count,
            events,
            rows,
            took = ?started.elapsed(),
            "flushed"
        );
        pending.written(count);
        Ok(count)
    }

    /// Flushes the plans that have waited long enough (the background task) a slice at a
    /// time, letting go of the engine between slices: groups arriving meanwhile wait for
    /// one slice, not the whole flush.
    async fn flush_due(&self) -> Result<(), StoreError> {
        let engine = &self.inner.engine;
        let slice_rows = engine.slice_rows.load(Ordering::Relaxed);
        // Only the plans waiting now: a steady stream of new ones cannot keep it going.
        let mut left = engine.pending.lock().await.plans.len();
        while left > 0 {
            let mut pending = engine.pending.lock().await;
            let wrote = self.flush_slice(&mut pending, left, slice_rows).await?;
            if wrote == 0 {
                return Ok(());
            }
            left -= wrote;
            drop(pending);
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// Whether another process asked the holder to write through.
    pub(crate) async fn write_through_asked(
        conn: &mut AnyConnection,
        now: flywheel_core::time::Micros,
    ) -> Result<bool, StoreError> {
        let until: i64 =
            sqlx::query_scalar("SELECT write_through_until FROM write_generation WHERE id = 1")
                .fetch_one(&mut *conn)
                .await?;
        Ok(until > now)
    }
}

/// Flushes plans that have waited long enough, or that another process is waiting for,
/// until the store is dropped.
async fn flush_forever(inner: std::sync::Weak<crate::db::Inner>) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let store = Store { inner, held: None };
        let (waiting, due) = {
            let pending = store.inner.engine.pending.lock().await;
            let due = pending.waited().is_some_and(|t| t >= FLUSH_AFTER);
            (!pending.is_empty(), due)
        };
        if !waiting {
            continue;
        }
        let asked = if due {
            false
        } else {
            match store.pool().acquire().await {
                Ok(mut conn) => {
                    let now = chrono::Utc::now().timestamp_micros();
                    Store::write_through_asked(&mut conn, now)
                        .await
                        .unwrap_or(false)
                }
                Err(_) => false,
            }
        };
        let flushed = if asked {
            store.settle().await
        } else if due {
            store.flush_due().await
        } else {
            Ok(())
        };
        if let Err(e) = flushed {
            tracing::warn!(error = %e, "flushing the engine's waiting writes failed; will retry");
        }
    }
}

/// How often a process without the lease tries to take it.
const CLAIM_EVERY: Duration = Duration::from_secs(2);

/// Tries to take the lease now and then, until it is had or the store is dropped: when
/// the holder dies, its queue would otherwise keep every other process's writers waiting
/// until one of them restarts. The taker replays the dead holder's queue.
async fn claim_lease_later(
    inner: std::sync::Weak<crate::db::Inner>,
    policy: Policy,
    options: EngineOptions,
) {
    loop {
        tokio::time::sleep(CLAIM_EVERY).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let store = Store { inner, held: None };
        match store.take_lease().await {
            Ok(false) => continue,
            Ok(true) => {
                tracing::info!("took over the ingest lease; replaying the event log");
                // A failed replay leaves the queue for the next start; this process keeps
                // the lease, so no other takes it over meanwhile.
                if let Err(e) = store.hold(&policy, &options).await {
                    tracing::error!(error = %e, "replaying the event log after taking over the lease failed");
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "trying to take the ingest lease failed"),
        }
    }
}

/// Queue rows read per replay step.
const REPLAY_CHUNK: i64 = 2_000;

impl Store {
    /// Applies what the event log holds unapplied — a process writing behind stopped
    /// before flushing it — exactly as it was applied the first time: the same events in
    /// the same order at the clocks they were logged with, from the member id counter as
    /// it stood before the first of them.
    async fn replay_queue(&self, policy: &Policy) -> Result<(), StoreError> {
        let first: Option<i64> =
            sqlx::query_scalar("SELECT members_before FROM ingest_queue ORDER BY seq LIMIT 1")
                .fetch_optional(self.pool())
                .await?;
        let Some(members_before) = first else {
            return Ok(());
        };
        let started = Instant::now();
        sqlx::query("UPDATE id_counters SET next_value = $1 WHERE name = 'members'")
            .bind(members_before)
            .execute(&self.inner.writes)
            .await?;
        let rules = policy.rules();
        let mut replayed = 0usize;
        loop {
            let rows = sqlx::query(
                "SELECT q.seq, e.event_id, e.type, e.channel, e.occurred_at, e.received_at, e.identities, e.properties, e.digest \
                 FROM ingest_queue q JOIN events e ON e.event_id = q.event_id ORDER BY q.seq LIMIT $1",
            )
            .bind(REPLAY_CHUNK)
            .fetch_all(self.pool())
            .await?;
            if rows.is_empty() {
                break;
            }
            let logged = rows
                .iter()
                .map(|row| logged_event(row, policy))
                .collect::<Result<Vec<_>, _>>()?;
            // Runs of one clock: each is one group, applied at that clock.
            let mut start = 0;
            while start < logged.len() {
                let clock = logged[start].received_at;
                let end = logged[start..]
                    .iter()
                    .position(|l| l.received_at != clock)
                    .map_or(logged.len(), |n| start + n);
                let run = &logged[start..end];
                let events: Vec<flywheel_core::event::Event> =
                    run.iter().map(|l| l.event.clone()).collect();
                let group = crate::ingest::Group {
                    events: &events,
                    rules: &rules,
                    as_of: crate::ingest::AsOf::At(clock),
                    mode: crate::ingest::IngestMode::SkipRejected,
                    replayed: Some(run[run.len() - 1].seq),
                };
                let results = self
                    .ingest_group(&group, None)
                    .await?
                    .ok_or(StoreError::Contended)?;
                for (l, r) in run.iter().zip(&results) {
                    if !matches!(r, crate::ingest::EventResult::Accepted(_)) {
                        return Err(StoreError::Corrupt(format!(
                            "replaying logged event {} did not apply as it did when it was acknowledged: {r:?}",
                            l.event.event_id
                        )));
                    }
                }
                replayed += run.len();
                start = end;
            }
        }
        tracing::info!(events = replayed, took = ?started.elapsed(), "replayed the event log's unapplied tail");
        Ok(())
    }
}

struct Logged {
    seq: i64,
    received_at: i64,
    event: flywheel_core::event::Event,
}

/// A logged event read back through the parser it first came through, checked against
/// the fingerprint it was logged with.
fn logged_event(row: &sqlx::any::AnyRow, policy: &Policy) -> Result<Logged, StoreError> {
    use sqlx::Row;
    let event_id: String = row.try_get("event_id")?;
    let received_at: i64 = row.try_get("received_at")?;
    let identities: String = row.try_get("identities")?;
    let properties: String = row.try_get("properties")?;
    let raw = serde_json::json!({
        "event_id": event_id,
        "type": row.try_get::<String, _>("type")?,
        "occurred_at": flywheel_core::time::to_rfc3339(row.try_get::<i64, _>("occurred_at")?),
        "channel": row.try_get::<String, _>("channel")?,
        "identities": serde_json::from_str::<serde_json::Value>(&identities)?,
        "properties": serde_json::from_str::<serde_json::Value>(&properties)?,
    });
    let event = flywheel_core::event::parse_event(&raw, &policy.parse_context(received_at))
        .map_err(|errors| {
            StoreError::Corrupt(format!(
                "logged event {event_id} no longer parses: {errors:?}"
            ))
        })?;
    let digest: Option<String> = row.try_get("digest")?;
    if digest.is_some_and(|d| d != event.digest()) {
        return Err(StoreError::Corrupt(format!(
            "logged event {event_id} reads back differently from how it was logged"
        )));
    }
    Ok(Logged {
        seq: row.try_get("seq")?,
        received_at,
        event,
    })
}
