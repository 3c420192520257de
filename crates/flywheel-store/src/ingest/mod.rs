//! Ingest: one transaction per batch. Load the working set the batch can reach, let the
//! core apply each event, then write every change before committing. A single event is
//! a batch of one; imports use batches of thousands, which is what makes them fast.
//! Points are earned in the same transaction (`points/ingest.rs`), and tiers move in it
//! (`membership/ingest.rs`).
//!
//! `load.rs` finds what was seen before and loads the working set, `apply.rs` runs the
//! core's processor over it at the caller's clock, `write.rs` writes what changed.
//!
//! Concurrency: on SQLite one writer runs at a time (one writer connection, and
//! `BEGIN IMMEDIATE` against other processes). On PostgreSQL the batch takes advisory
//! locks on its identity keys and row locks on its members; a deadlock, a serialization
//! failure or a key taken by a concurrent batch rolls back and the batch runs again.

mod apply;
mod definitions;
mod ids;
mod load;
mod write;

pub(crate) use definitions::Definitions;
pub(crate) use load::{IdentityScope, load_members};
pub(crate) use write::{plan_changes, write_changes};

use crate::crash;
use crate::db::{Store, write_generation};
use crate::engagement::triggers::{plan_event_triggers, plan_stage_triggers};
use crate::engine::{Pending, Touched};
use crate::error::StoreError;
use crate::membership::ingest::{load_tier_pass, plan_tiers};
use crate::plan::Writes;
use crate::points::ingest::earn_for_batch;
use crate::points::ledger::plan_book;
use crate::rows::MemberColdColumns;
use crate::segments::live::{BatchSegments, ExtrasFor, plan_batch_segments};
use crate::sql::{Val, insert_rows};
use crate::survivor::survivor_row;
use apply::{Applied, apply_fresh};
use flywheel_core::ErrorCode;
use flywheel_core::event::Event;
use flywheel_core::ingest::points::{Accepted, Batch};
use flywheel_core::ingest::{MemberId, Outcome, Rejection, Rules, WorkingSet};
use flywheel_core::membership::realtime::wanted as wanted_by_tiers;
use flywheel_core::points::rules::REFERRED_PURCHASE;
use flywheel_core::time::Micros;
use ids::give_back_member_ids;
use load::{Seen, load_working_set, seen_before};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use std::time::Duration;
use write::plan_events;

/// The clock a batch is applied at: the instant stages are evaluated at, recorded as
/// each event's `received_at` and on every row the batch writes. The caller reads the
/// clock; the store never does, so a batch applied twice at the same clock (a retry, a
/// replay) writes the same rows.
#[derive(Clone, Copy, Debug)]
pub enum AsOf {
    /// One instant for the whole batch: the present, for live traffic and imports.
    At(Micros),
    /// Each event's own time, never going backwards and never before the instant given
    /// (what the database was already judged at): replays history in order, so the
    /// stage history reads as it happened. Used by imports in time order and the demo.
    EventTime(Micros),
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

/// A group of events and how to apply them.
#[derive(Clone, Copy)]
pub(crate) struct Group<'a> {
    pub events: &'a [Event],
    pub rules: &'a Rules<'a>,
    pub as_of: AsOf,
    pub mode: IngestMode,
    /// Replaying the event log up to this queue position: the events are logged
    /// already, and their queue rows are deleted with the rows they derive.
    pub replayed: Option<i64>,
}

/// Every key a group read or wrote (`engine.rs`).
fn touched_by(
    ws: &WorkingSet,
    reached: &crate::cache::Reached,
    changes: &flywheel_core::ingest::Changes,
    duplicates_of: impl Iterator<Item = MemberId>,
) -> Touched {
    let mut t = Touched::default();
    t.members.extend(ws.members.keys().copied());
    t.members.extend(duplicates_of);
    for r in ws.referrals.values() {
        t.members.extend([r.inviter_id, r.invitee_id]);
    }
    t.keys.extend(reached.identities.iter().map(|i| i.key()));
    t.keys
        .extend(changes.new_identities.iter().map(|n| n.identity.key()));
    t.orders.extend(reached.order_ids.iter().cloned());
    t.orders.extend(ws.orders.keys().cloned());
    t
}

const MAX_ATTEMPTS: u32 = 8;

impl Store {
    /// Applies `events` as one group and answers for each of them, in order, once they
    /// are acknowledged: committed with every row they derive, or — where this process
    /// writes behind — committed to the event log with those rows waiting in memory.
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
                Ok(results) => {
                    self.inner
                        .ingest_pace
                        .record(results.len(), std::time::Instant::now());
                    return Ok(results);
                }
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
        let group = Group {
            events,
            rules,
            as_of,
            mode,
            replayed: None,
        };
        if !self.inner.engine.behind() {
            return self
                .ingest_group(&group, None)
                .await?
                .ok_or(StoreError::Contended);
        }
        let mut pending = self.inner.engine.pending.lock().await;
        loop {
            // None: the group would have read rows a waiting plan writes; those are
            // written now, so it runs again.
            if let Some(results) = self.ingest_group(&group, Some(&mut pending)).await? {
                return Ok(results);
            }
        }
    }

    /// Applies one group in one transaction. With `pending` (this process writes
    /// behind), commits only the events and their queue rows and keeps the derived
    /// rows' plan in `pending` — or, when the group would read a row a waiting plan
    /// writes, writes nothing of its own, flushes the plans it needs written and answers
    /// None: the caller runs it again.
    pub(crate) async fn ingest_group(
        &self,
        group: &Group<'_>,
        mut pending: Option<&mut Pending>,
    ) -> Result<Option<Vec<EventResult>>, StoreError> {
        let Group {
            events,
            rules,
            as_of,
            mode,
            replayed,
        } = *group;
        let backend = self.backend();
        let started = std::time::Instant::now();
        // The engine's own transactions (writing behind, replaying the log) never wait
        // for the queue: they are what empties it.
        let mut tx = if pending.is_some() || replayed.is_some() {
            self.begin_engine_write().await?
        } else {
            self.begin_write().await?
        };
        // Behind unless another process asked this one to write through for a while.
        let behind = match pending.as_deref() {
            Some(p) => {
                let wall = chrono::Utc::now().timestamp_micros();
                if Store::write_through_asked(&mut tx, wall).await? {
                    if !p.is_empty() {
                        tx.rollback().await?;
                        if let Some(p) = pending {
                            self.flush(p).await?;
                        }
                        return Ok(None);
                    }
                    false
                } else {
                    true
                }
            }
            None => false,
        };
        let members_before: i64 = if behind {
            sqlx::query_scalar("SELECT next_value FROM id_counters WHERE name = 'members'")
                .fetch_one(&mut *tx)
                .await?
        } else {
            0
        };
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
        // Journeys and segments judge under the stage window of the rules this group
        // runs under; the rest of the language as configured.
        let lang = flywheel_core::segment::Language {
            window_days: rules.stages.window_days,
            ..self.segment_settings().lang
        };
        let trusted = cache.as_deref().filter(|_| cached);
        let definitions = match trusted.and_then(|c| c.definitions(&lang)) {
            Some(d) => d.clone(),
            None => self.definitions(conn, &lang).await?,
        };
        let rule_book = &definitions.rules;
        let journeys = &definitions.journeys;
        let catalogue = &definitions.catalogue;

        let Seen {
            stored,
            digests,
            first_index,
            fresh,
            mut results,
        } = match replayed {
            // Replayed events are in the log already: each is new to the derived rows.
            Some(_) => Seen::all_fresh(events),
            None => seen_before(conn, events).await?,
        };
        let (mut ws, reached) = load_working_set(
            conn,
            backend,
            &rules.identity.unique_kinds,
            fresh.iter().map(|&i| &events[i]),
            cache.as_deref().filter(|_| cached),
            rule_book.uses_trigger(REFERRED_PURCHASE),
        )
        .await?;
        // The loaded members' cold columns, to write only what moved (`plan_changes`).
        let as_loaded: HashMap<MemberId, MemberColdColumns> = reached
            .loaded
            .iter()
            .filter_map(|id| ws.members.get(id))
            .map(|m| (m.id, MemberColdColumns::of(m)))
            .collect();
        let loaded = started.elapsed();
        let Applied {
            changes,
            accepted,
            clocks,
            clock,
            after_watched,
        } = apply_fresh(
            &mut ws,
            events,
            &fresh,
            rules,
            as_of,
            &mut results,
            journeys,
        );
        let mut touched = touched_by(&ws, &reached, &changes, stored.values().map(|s| s.0));
        if let Some(p) = pending.as_deref_mut() {
            touched.budgets = !rule_book.budgeted().is_empty();
            let flush_first = p.must_flush_for(&touched);
            if flush_first > 0 {
                tx.rollback().await?;
                drop(cache);
                self.flush_first(p, flush_first).await?;
                return Ok(None);
            }
        }
        let conn: &mut AnyConnection = &mut tx;
        give_back_member_ids(conn, &ws.fresh_ids).await?;
        let any_rejected = results
            .iter()
            .any(|r| matches!(r, Some(EventResult::Rejected(_))));
        if mode == IngestMode::AllOrNothing && any_rejected {
            tx.rollback().await?;
            return Ok(Some(
                results
                    .into_iter()
                    .map(|r| r.unwrap_or_else(not_applied))
                    .collect(),
            ));
        }
        let applied = started.elapsed();
        // The batch's rows carry the last clock it applied an event at.
        let now = clock;
        let earned: Vec<Accepted<'_>> = accepted
            .iter()
            .zip(&clocks)
            .map(|(&(i, member_id), &as_of)| Accepted {
                event: &events[i],
                member_id,
                as_of,
            })
            .collect();
        let batch = Batch {
            ws: &ws,
            changes: &changes,
            accepted: &earned,
        };
        // Tiers move with the events that move them (`membership/ingest.rs`).
        let mut tiers = match wanted_by_tiers(catalogue, &batch, rule_book.uses_tiers()) {
            Some(w) => {
                Some(load_tier_pass(conn, catalogue, &w, rules.points.default_programme()).await?)
            }
            None => None,
        };
        let (book, points_reached) = match earn_for_batch(
            conn,
            backend,
            rule_book,
            rules,
            &batch,
            tiers.as_mut(),
            now,
            &reached.loaded,
            cache.as_deref().filter(|_| cached),
        )
        .await?
        {
            Some((book, reached)) => (Some(book), Some(reached)),
            None => (None, None),
        };
        let earned_at = started.elapsed();
        let mut derived = Writes::default();
        plan_changes(&mut derived, &ws, &changes, &as_loaded, now)?;
        plan_stage_triggers(&mut derived, journeys, &changes.transitions);
        if let Some(book) = &book {
            plan_book(&mut derived, book, now)?;
            touched.budgets = !book.dirty_budgets.is_empty();
        }
        if let Some(tiers) = &tiers {
            plan_tiers(&mut derived, tiers, now);
            let runs = tiers
                .moves
                .iter()
                .flat_map(|m| {
                    crate::engagement::triggers::tier_trigger_rows(
                        journeys,
                        m.member,
                        &m.programme,
                        m.from.as_deref(),
                        m.to.as_deref(),
                        m.at,
                    )
                })
                .collect();
            crate::engagement::triggers::plan_runs(&mut derived, runs);
        }
        // Segments move with the events that move their members (`segments/live.rs`).
        plan_batch_segments(
            conn,
            &BatchSegments {
                ws: &ws,
                changes: &changes,
                events,
                accepted: &accepted,
                clocks: &clocks,
                tiers: tiers.as_ref(),
                book: book.as_ref(),
                segments: &definitions.segments,
                backend,
                points_programme: rules.points.default_programme(),
                catalogue,
                journeys,
                now,
            },
            &mut derived,
        )
        .await?;
        // Consent follows a merged member to its survivor, as tags do.
        let merged: Vec<(MemberId, MemberId)> = changes
            .merges
            .iter()
            .map(|m| (m.survivor, m.merged))
            .collect();
        crate::engagement::consent::plan_merged_consents(&mut derived, &merged);
        crate::engagement::consent::plan_event_consents(&mut derived, &ws, events, &accepted);
        // Feedback opens a ticket in the queue its category routes to; a resolution
        // sent as an event closes it.
        // An event a team template names starts (or times the end of) a service team;
        // deposits, deliveries and deposit refunds move their deals.
        let service_book = &definitions.service;
        crate::service::teams::plan_event_teams(&mut derived, service_book, &ws, events, &accepted);
        crate::service::deals::plan_event_deals(&mut derived, &ws, events, &accepted);
        // Codes a purchase used, and codes a refund gives back.
        crate::marketing::plan_event_coupons(&mut derived, &ws, events, &accepted);
        // Buyers a tracked share link brought.
        crate::marketing::plan_event_shares(&mut derived, &ws, events, &accepted);
        // WeCom links between shop assistants and customers, and the owners they set.
        crate::service::wecom::plan_wecom_contacts(&mut derived, &ws, events, &accepted);
        // Suggestions onto the co-creation board.
        crate::ideas::plan_ideas(&mut derived, &ws, events, &accepted);
        let service = accepted.iter().any(|&(i, _)| {
            matches!(
                events[i].payload,
                flywheel_core::event::Payload::Feedback { .. }
                    | flywheel_core::event::Payload::ComplaintResolved { .. }
            )
        });
        if service {
            let queues = &service_book.queues;
            let planned = crate::service::tickets::plan_event_tickets(
                &mut derived,
                queues,
                journeys,
                &ws,
                events,
                &accepted,
            );
            crate::service::tickets::plan_event_resolutions(
                conn,
                &mut derived,
                queues,
                journeys,
                events,
                &accepted,
                planned,
            )
            .await?;
        }
        // Journeys an event starts, judged as the event left its member.
        plan_event_triggers(
            conn,
            journeys,
            &ExtrasFor {
                backend,
                catalogue,
                points_programme: rules.points.default_programme(),
                now,
            },
            &after_watched,
            &mut derived,
        )
        .await?;
        let mut logged = Writes::default();
        if replayed.is_none() {
            plan_events(&mut logged, &ws, events, &digests, &accepted, &clocks)?;
        }
        let planned = started.elapsed();
        let mut last_seq = None;
        if behind && let Some(p) = pending.as_deref_mut() {
            logged.run(conn).await?;
            crash::point("ingest.mid_write");
            let seqs = p.take_seqs(accepted.len());
            last_seq = seqs.clone().last();
            let rows: Vec<Vec<Val>> = accepted
                .iter()
                .zip(seqs)
                .map(|(&(i, _), seq)| {
                    vec![
                        Val::Int(seq),
                        events[i].event_id.as_str().into(),
                        Val::Int(members_before),
                    ]
                })
                .collect();
            insert_rows(
                conn,
                "INSERT INTO ingest_queue (seq, event_id, members_before)",
                &rows,
                "",
            )
            .await?;
        } else {
            derived.run(conn).await?;
            crash::point("ingest.mid_write");
            logged.run(conn).await?;
            if let Some(last) = replayed {
                sqlx::query("DELETE FROM ingest_queue WHERE seq <= $1")
                    .bind(last)
                    .execute(&mut *conn)
                    .await?;
            }
        }
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
            behind,
            ?loaded,
            apply = ?(applied - loaded),
            earn = ?(earned_at - applied),
            plan = ?(planned - earned_at),
            write = ?(written - planned),
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
                // Where the member stands in the database, unless this group moved it:
                // then as the group left it (written behind, its rows are not there yet).
                Some((member, _)) => self
                    .member_brief(*member)
                    .await?
                    .map(|o| ws.member(o.member_id).map_or(o, outcome_of)),
                None => results_of_first(&first_index, id, &accepted, &ws),
            };
            *slot = Some(match outcome {
                Some(o) => EventResult::Duplicate(o),
                None => not_applied(),
            });
        }
        if alone && let Some(cache) = cache.as_mut() {
            let points = book.as_ref().zip(points_reached.as_ref());
            cache.install(
                ws,
                &reached,
                &changes.merges,
                committed,
                points,
                definitions,
            );
        }
        drop(cache);
        if let (Some(p), Some(last)) = (pending, last_seq) {
            p.add(derived, touched, accepted.len(), last);
            if p.rows() >= self.inner.engine.flush_rows()
                && let Err(e) = self.flush(p).await
            {
                // The group is acknowledged (its events are in the log); its rows wait
                // for the next flush.
                tracing::warn!(error = %e, "flushing the engine's waiting writes failed; will retry");
            }
        }
        let results: Vec<EventResult> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(not_applied))
            .collect();
        count_results(&results);
        Ok(Some(results))
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
    ws.member(*member).map(outcome_of)
}

fn outcome_of(m: &flywheel_core::ingest::MemberState) -> Outcome {
    Outcome {
        member_id: m.id,
        stage: m.stage,
        lens: m.lens,
    }
}
