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

use crate::db::{Backend, Store};
use crate::error::StoreError;
use crate::ingest::{AsOf, EventResult, IngestMode};
use flywheel_core::Policy;
use flywheel_core::event::Event;
use flywheel_core::time::Micros;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

impl EventQueue {
    /// Starts the workers on the current tokio runtime: one on SQLite (it has one writer
    /// anyway), four on PostgreSQL (groups touching different members commit in parallel).
    pub fn start(store: Store, policy: Arc<Policy>) -> EventQueue {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let receiver = Arc::new(Mutex::new(receiver));
        let counts = Arc::new(Counts::default());
        let workers = match store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 4,
        };
        for _ in 0..workers {
            tokio::spawn(run_worker(
                store.clone(),
                policy.clone(),
                receiver.clone(),
                counts.clone(),
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

    /// Applies `event` (in a group with whatever else is waiting) and answers once it is
    /// committed.
    pub async fn submit(&self, event: Event, now: Micros) -> Result<EventResult, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Waiting { event, now, reply })
            .await
            .map_err(|_| StoreError::Invalid("the event queue has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Invalid("the event queue dropped the event".into()))?
    }
}

async fn run_worker(
    store: Store,
    policy: Arc<Policy>,
    receiver: Arc<Mutex<mpsc::Receiver<Waiting>>>,
    counts: Arc<Counts>,
) {
    loop {
        let mut group = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut group, MAX_GROUP).await == 0 {
                return;
            }
        }
        counts
            .events
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        let transactions = apply_group(&store, &policy, group).await;
        counts
            .transactions
            .fetch_add(transactions, Ordering::Relaxed);
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
