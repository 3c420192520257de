//! Group commit for events sent one at a time (`POST /v1/events`).
//!
//! Each single event used to be a transaction of its own, so under load the writer spent
//! most of its time opening, committing and re-reading the rule book for one row at a
//! time. Here callers queue their event and wait; a worker takes everything waiting
//! (up to [`MAX_GROUP`]) and applies it as one batch in one transaction, then answers
//! each caller with its own result. Nobody waits for a timer: a lone event is applied at
//! once, and a group only forms from events that arrived while the previous one ran.
//!
//! Each caller still gets exactly what a transaction of its own would have given it:
//! events are applied in arrival order with `SkipRejected` (a rejected event changes
//! nothing, the others go ahead), a repeated `event_id` answers as a duplicate, and the
//! answer is sent only after the commit. If the group's transaction fails, every event
//! in it is run again in a transaction of its own, so one failure answers one caller.
//! A panic while applying a group fails only that group's callers (with an error they
//! answer as 500 `internal`); the worker logs it and goes on with the next group.

use crate::db::Store;
use crate::dialect::parallel_writers;
use crate::error::StoreError;
use crate::ingest::{AsOf, EventResult, IngestMode};
use flywheel_core::Policy;
use flywheel_core::event::Event;
use flywheel_core::time::Micros;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::{Mutex, mpsc, oneshot};

/// The most events applied in one transaction.
const MAX_GROUP: usize = 512;

/// Events waiting beyond this make callers wait to queue (back-pressure).
const QUEUE_DEPTH: usize = 8_192;

type Reply = oneshot::Sender<Result<EventResult, StoreError>>;

struct Waiting {
    event: Event,
    /// The caller's clock when the event arrived; a group is evaluated at the latest.
    now: Micros,
    reply: Reply,
}

/// A handle on the queue; cheap to clone. Workers stop when every handle is dropped.
#[derive(Clone)]
pub struct EventQueue {
    sender: mpsc::Sender<Waiting>,
    counts: Arc<Counts>,
}

/// Transactions run and events answered, for logs and tests.
#[derive(Default)]
struct Counts {
    transactions: AtomicU64,
    events: AtomicU64,
}

/// Runs before a group is applied; tests use it to make one group fail.
type Fault = Arc<dyn Fn(&[Event]) + Send + Sync>;

impl EventQueue {
    /// Starts the workers on the current tokio runtime: one on SQLite (it has one writer
    /// anyway), four on PostgreSQL (groups touching different members commit in parallel).
    pub fn start(store: Store, policy: Arc<Policy>) -> EventQueue {
        EventQueue::start_with(store, policy, None)
    }

    fn start_with(store: Store, policy: Arc<Policy>, fault: Option<Fault>) -> EventQueue {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let receiver = Arc::new(Mutex::new(receiver));
        let counts = Arc::new(Counts::default());
        let workers = parallel_writers(store.backend());
        for _ in 0..workers {
            tokio::spawn(run_worker(
                store.clone(),
                policy.clone(),
                receiver.clone(),
                counts.clone(),
                fault.clone(),
            ));
        }
        EventQueue { sender, counts }
    }

    /// How many transactions the queue has run and how many events it has answered:
    /// the difference is what group commit saved.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counts.transactions.load(Ordering::Relaxed),
            self.counts.events.load(Ordering::Relaxed),
        )
    }

    /// Events waiting for a worker now.
    pub fn depth(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    /// Applies `event` (in a group with whatever else is waiting) and answers once it is
    /// committed.
    pub async fn submit(&self, event: Event, now: Micros) -> Result<EventResult, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Waiting { event, now, reply })
            .await
            .map_err(|_| StoreError::Invalid("the event queue has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Invalid("the event was not applied: its group failed (see the log)".into())
        })?
    }
}

/// Takes groups off the queue until every handle is gone. A panic while a group is
/// applied drops its callers' replies (each answers with an error), is logged and
/// counted, and the worker goes on with the next group.
async fn run_worker(
    store: Store,
    policy: Arc<Policy>,
    receiver: Arc<Mutex<mpsc::Receiver<Waiting>>>,
    counts: Arc<Counts>,
    fault: Option<Fault>,
) {
    loop {
        let mut group = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut group, MAX_GROUP).await == 0 {
                return;
            }
        }
        let events = group.len();
        counts.events.fetch_add(events as u64, Ordering::Relaxed);
        let started = Instant::now();
        let applied = AssertUnwindSafe(async {
            if let Some(fault) = &fault {
                let events: Vec<Event> = group.iter().map(|w| w.event.clone()).collect();
                fault(&events);
            }
            apply_group(&store, &policy, group).await
        })
        .catch_unwind()
        .await;
        match applied {
            Ok(transactions) => {
                counts
                    .transactions
                    .fetch_add(transactions, Ordering::Relaxed);
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                tracing::error!(
                    events,
                    panic = %what,
                    "applying a group of events panicked; its callers got an error and the queue goes on"
                );
                metrics::counter!("flywheel_ingest_group_panics_total").increment(1);
            }
        }
        metrics::counter!("flywheel_ingest_groups_total").increment(1);
        metrics::histogram!("flywheel_ingest_group_seconds")
            .record(started.elapsed().as_secs_f64());
    }
}

/// Applies a group; returns how many transactions that took.
async fn apply_group(store: &Store, policy: &Policy, group: Vec<Waiting>) -> u64 {
    let now = group.iter().map(|w| w.now).max().unwrap_or_default();
    let (events, replies): (Vec<Event>, Vec<(Reply, Micros)>) = group
        .into_iter()
        .map(|w| (w.event, (w.reply, w.now)))
        .unzip();
    let rules = policy.rules();
    if events.len() > 1 {
        let grouped = store
            .ingest(&events, &rules, AsOf::At(now), IngestMode::SkipRejected)
            .await;
        match grouped {
            Ok(results) if results.len() == events.len() => {
                for ((reply, _), result) in replies.into_iter().zip(results) {
                    // A caller that went away (client disconnected) needs no answer.
                    let _ = reply.send(Ok(result));
                }
                return 1;
            }
            Ok(_) => tracing::error!("a grouped ingest answered the wrong number of events"),
            Err(e) => tracing::warn!(
                events = events.len(),
                error = %e,
                "grouped ingest failed; applying its events one by one"
            ),
        }
    }
    let mut transactions = u64::from(events.len() > 1);
    for (event, (reply, now)) in events.iter().zip(replies) {
        transactions += 1;
        let result = store
            .ingest(
                std::slice::from_ref(event),
                &rules,
                AsOf::At(now),
                IngestMode::AllOrNothing,
            )
            .await
            .and_then(|mut results| {
                results
                    .pop()
                    .ok_or_else(|| StoreError::Invalid("ingest answered nothing".into()))
            });
        let _ = reply.send(result);
    }
    transactions
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_core::event::parse_event;
    use serde_json::json;

    fn event(id: &str, phone: &str, now: Micros) -> Event {
        let policy = Policy::default();
        let raw = json!({"event_id": id, "type": "like", "occurred_at": flywheel_core::time::to_rfc3339(now),
                         "channel": "app", "identities": {"phone": phone}});
        parse_event(&raw, &policy.parse_context(now)).unwrap()
    }

    /// A panic while a group is applied fails that group's callers, and the next groups
    /// are applied as if nothing had happened.
    #[tokio::test]
    async fn the_worker_survives_a_panic_in_one_group() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("q.db").display());
        let store = Store::open(&url).await.unwrap();
        let fault: Fault = Arc::new(|events: &[Event]| {
            if events.iter().any(|e| e.event_id == "boom") {
                panic!("injected fault");
            }
        });
        let policy = Arc::new(Policy::default());
        let queue = EventQueue::start_with(store.clone(), policy, Some(fault));
        let now = chrono::Utc::now().timestamp_micros();
        let failed = queue.submit(event("boom", "13800138000", now), now).await;
        assert!(failed.is_err(), "{failed:?}");
        for (id, phone) in [("after-1", "13900139000"), ("after-2", "13700137000")] {
            let result = queue.submit(event(id, phone, now), now).await.unwrap();
            assert!(matches!(result, EventResult::Accepted(_)), "{result:?}");
        }
        let total = store.stage_counts().await.unwrap().total;
        assert_eq!(total, 2, "the failed group wrote nothing");
        assert_eq!(queue.depth(), 0);
    }
}
