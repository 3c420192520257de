//! Ingest: one transaction per batch. Load the working set the batch can reach, let the
//! core apply each event, then write every change before committing. A single event is
//! a batch of one; imports use batches of thousands, which is what makes them fast.
//! Points are earned in the same transaction (`points/ingest.rs`).
//!
//! `load.rs` finds what was seen before and loads the working set, `apply.rs` runs the
//! core's processor over it at the caller's clock, `write.rs` writes what changed.
//!
//! Concurrency: on SQLite one writer runs at a time (one writer connection, and
//! `BEGIN IMMEDIATE` against other processes). On PostgreSQL the batch takes advisory
//! locks on its identity keys and row locks on its members; a deadlock, a serialization
//! failure or a key taken by a concurrent batch rolls back and the batch runs again.

mod apply;
mod ids;
mod load;
mod write;

pub(crate) use load::{IdentityScope, load_members};
pub(crate) use write::write_changes;

use crate::crash;
use crate::db::{Store, write_generation};
use crate::error::StoreError;
use crate::points::ingest::earn_for_batch;
use crate::survivor::survivor_row;
use apply::{Applied, apply_fresh};
use flywheel_core::ErrorCode;
use flywheel_core::event::Event;
use flywheel_core::ingest::points::{Accepted, Batch};
use flywheel_core::ingest::{MemberId, Outcome, Rejection, Rules, WorkingSet};
use flywheel_core::time::Micros;
use ids::give_back_member_ids;
use load::{Seen, load_working_set, seen_before};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use std::time::Duration;
use write::insert_events;

/// The clock a batch is applied at: the instant stages are evaluated at, recorded as
/// each event's `received_at` and on every row the batch writes. The caller reads the
/// clock; the store never does, so a batch applied twice at the same clock (a retry, a
/// replay) writes the same rows.
#[derive(Clone, Copy, Debug)]
pub enum AsOf {
    /// One instant for the whole batch: the present, for live traffic and imports.
    At(Micros),
    /// Each event's own time (never going backwards): replays history in order, so the
    /// stage history reads as it happened. Used by the demo generator.
    EventTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestMode {
    /// Any rejected event rolls the whole batch back (the batch API).
    AllOrNothing,
    /// Rejected events are reported and skipped (file imports).
    SkipRejected,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventResult {
    Accepted(Outcome),
    /// Seen before: nothing changed; the outcome is where that member stands now.
    Duplicate(Outcome),
    Rejected(Rejection),
}

const MAX_ATTEMPTS: u32 = 8;

impl Store {
    /// Applies `events` in one transaction and answers for each of them, in order.
    pub async fn ingest(
        &self,
        events: &[Event],
        rules: &Rules<'_>,
        as_of: AsOf,
        mode: IngestMode,
    ) -> Result<Vec<EventResult>, StoreError> {
        let mut attempt = 1;
        loop {
            match self.ingest_once(events, rules, as_of, mode).await {
                Err(e) if e.is_transient() && attempt < MAX_ATTEMPTS => {
                    tracing::debug!(attempt, error = %e, "retrying batch");
                    tokio::time::sleep(Duration::from_millis(5 << attempt.min(6))).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn ingest_once(
        &self,
        events: &[Event],
        rules: &Rules<'_>,
        as_of: AsOf,
        mode: IngestMode,
    ) -> Result<Vec<EventResult>, StoreError> {
        let backend = self.backend();
        let started = std::time::Instant::now();
        let rule_book = self.rule_book().await?;
        let mut tx = self.begin_write().await?;
        // The member cache, when on, is held to the end: it belongs to the transaction
        // that trusts it.
        let mut cache = if self.member_cache_on() {
            Some(self.member_cache().lock().await)
        } else {
            None
        };
        let conn: &mut AnyConnection = &mut tx;
        let generation = match cache {
            Some(_) => Some(write_generation(conn).await?),
            None => None,
        };
        let cached = match (cache.as_mut(), generation) {
            (Some(cache), Some(now)) => cache.check(now),
            _ => false,
        };

        let Seen {
            stored,
            digests,
            first_index,
            fresh,
            mut results,
        } = seen_before(conn, events).await?;
        let (mut ws, reached) = load_working_set(
            conn,
            backend,
            &rules.identity.unique_kinds,
            fresh.iter().map(|&i| &events[i]),
            cache.as_deref().filter(|_| cached),
        )
        .await?;
        let loaded = started.elapsed();
        let Applied {
            changes,
            accepted,
            clocks,
            clock,
        } = apply_fresh(&mut ws, events, &fresh, rules, as_of, &mut results);
        let conn: &mut AnyConnection = &mut tx;
        give_back_member_ids(conn, &ws.fresh_ids).await?;
        let any_rejected = results
            .iter()
            .any(|r| matches!(r, Some(EventResult::Rejected(_))));
        if mode == IngestMode::AllOrNothing && any_rejected {
            tx.rollback().await?;
            return Ok(results
                .into_iter()
                .map(|r| r.unwrap_or_else(not_applied))
                .collect());
        }
        let applied = started.elapsed();
        // The batch's rows carry the last clock it applied an event at.
        let now = clock;
        let conn: &mut AnyConnection = &mut tx;
        write_changes(conn, &ws, &changes, now).await?;
        crash::point("ingest.mid_write");
        insert_events(conn, &ws, events, &digests, &accepted, &clocks).await?;
        let earned: Vec<Accepted<'_>> = accepted
            .iter()
            .zip(&clocks)
            .map(|(&(i, member_id), &as_of)| Accepted {
                event: &events[i],
                member_id,
                as_of,
            })
            .collect();
        earn_for_batch(
            conn,
            backend,
            &rule_book,
            rules.points,
            rules.limits,
            &Batch {
                ws: &ws,
                changes: &changes,
                accepted: &earned,
            },
            now,
        )
        .await?;
        let written = started.elapsed();
        // Nobody else may have committed since this writer's last commit if it read
        // from the cache; otherwise what it read may be stale: run again from the
        // database.
        let committed = tx.bump_generation().await?;
        let alone = generation.is_some_and(|g| committed == g + 1);
        if let Some(cache) = cache.as_mut()
            && !alone
        {
            cache.clear();
            if cached {
                tx.rollback().await?;
                return Err(StoreError::Contended);
            }
        }
        crash::point("ingest.before_commit");
        tx.commit().await?;
        crash::point("ingest.after_commit");
        metrics::histogram!("flywheel_ingest_commit_seconds")
            .record((started.elapsed() - written).as_secs_f64());
        metrics::histogram!("flywheel_ingest_batch_seconds")
            .record(started.elapsed().as_secs_f64());
        tracing::debug!(
            events = events.len(),
            members = ws.members.len(),
            ?loaded,
            apply = ?(applied - loaded),
            write = ?(written - applied),
            commit = ?(started.elapsed() - written),
            "ingested batch"
        );

        // Duplicates answer with where their member stands now.
        for (i, slot) in results.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let id = events[i].event_id.as_str();
            let outcome = match stored.get(id) {
                Some((member, _)) => self.member_brief(*member).await?,
                None => results_of_first(&first_index, id, &accepted, &ws),
            };
            *slot = Some(match outcome {
                Some(o) => EventResult::Duplicate(o),
                None => not_applied(),
            });
        }
        if alone && let Some(cache) = cache.as_mut() {
            cache.install(ws, &reached, &changes.merges, committed);
        }
        let results: Vec<EventResult> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(not_applied))
            .collect();
        count_results(&results);
        Ok(results)
    }

    /// Where a member (or the member it merged into) stands.
    pub async fn member_brief(&self, id: MemberId) -> Result<Option<Outcome>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let select = "SELECT id, merged_into, stage, lens FROM members WHERE id = $1";
        let Some(row) = survivor_row(&mut conn, select, id).await? else {
            return Ok(None);
        };
        let stage: String = row.try_get("stage")?;
        let lens: String = row.try_get("lens")?;
        Ok(Some(Outcome {
            member_id: row.try_get("id")?,
            stage: flywheel_core::Stage::parse(&stage)
                .ok_or_else(|| StoreError::Corrupt(stage.clone()))?,
            lens: flywheel_core::Lens::parse(&lens)
                .ok_or_else(|| StoreError::Corrupt(lens.clone()))?,
        }))
    }
}

/// Events ingested, by what became of them.
fn count_results(results: &[EventResult]) {
    let (mut accepted, mut duplicate, mut rejected) = (0u64, 0u64, 0u64);
    for r in results {
        match r {
            EventResult::Accepted(_) => accepted += 1,
            EventResult::Duplicate(_) => duplicate += 1,
            EventResult::Rejected(_) => rejected += 1,
        }
    }
    for (result, n) in [
        ("accepted", accepted),
        ("duplicate", duplicate),
        ("rejected", rejected),
    ] {
        metrics::counter!("flywheel_ingest_events_total", "result" => result).increment(n);
    }
}

fn not_applied() -> EventResult {
    EventResult::Rejected(Rejection {
        code: ErrorCode::BatchRejected,
        field: None,
        message: "not applied: another event in the batch was rejected".into(),
    })
}

fn results_of_first(
    first_index: &HashMap<&str, usize>,
    id: &str,
    accepted: &[(usize, MemberId)],
    ws: &WorkingSet,
) -> Option<Outcome> {
    let first = *first_index.get(id)?;
    let (_, member) = accepted.iter().find(|(i, _)| *i == first)?;
    let m = ws.member(*member)?;
    Some(Outcome {
        member_id: m.id,
        stage: m.stage,
        lens: m.lens,
    })
}
