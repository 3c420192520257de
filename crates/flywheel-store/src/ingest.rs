//! Ingest: one transaction per batch. Load the working set the batch can reach, let the
//! core apply each event, then write every change before committing. A single event is
//! a batch of one; imports use batches of thousands, which is what makes them fast.
//! Points are earned in the same transaction (`points/ingest.rs`).
//!
//! Concurrency: on SQLite one writer runs at a time (one writer connection, and
//! `BEGIN IMMEDIATE` against other processes). On PostgreSQL the batch takes advisory
//! locks on its identity keys and row locks on its members; a deadlock, a serialization
//! failure or a key taken by a concurrent batch rolls back and the batch runs again.

use crate::db::{Backend, Store};
use crate::dialect::{lock_identity_keys, reserve_member_ids, select_members_for_update};
use crate::error::StoreError;
use crate::points::ingest::earn_for_batch;
use crate::rows::{
    MEMBER_INSERT, MEMBER_UPSERT_TAIL, ORDER_SELECT, REFERRAL_SELECT, identity_from_row,
    member_from_row, member_values, order_from_row, referral_from_row,
};
use crate::sql::{Val, insert_rows, remap_ids, select_in};
use flywheel_core::ErrorCode;
use flywheel_core::event::{Event, Payload};
use flywheel_core::identity::IdentityKind;
use flywheel_core::ingest::points::{Accepted, Batch};
use flywheel_core::ingest::{
    Changes, MemberId, MemberState, Outcome, Rejection, Rules, WorkingSet,
};
use flywheel_core::time::Micros;
use flywheel_core::{Identity, Money};
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// The instant stages are evaluated at.
#[derive(Clone, Copy, Debug)]
pub enum AsOf {
    /// The present, for live traffic and imports.
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
        let conn: &mut AnyConnection = &mut tx;

        // Which events were seen before, in the store or earlier in this batch; a seen
        // id with other content is refused (`event_id_reused`), never taken as a resend.
        let ids: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        let rows = select_in(
            conn,
            "SELECT event_id, member_id, digest FROM events WHERE event_id",
            ids.iter().map(|i| Val::from(*i)),
            "",
        )
        .await?;
        let mut stored: HashMap<String, (MemberId, Option<String>)> = HashMap::new();
        for r in rows {
            stored.insert(
                r.try_get("event_id")?,
                (r.try_get("member_id")?, r.try_get("digest")?),
            );
        }
        let digests: Vec<String> = events.iter().map(Event::digest).collect();
        let mut results: Vec<Option<EventResult>> = vec![None; events.len()];
        let mut first_index: HashMap<&str, usize> = HashMap::new();
        let mut fresh: Vec<usize> = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let id = event.event_id.as_str();
            let earlier = match stored.get(id) {
                Some((_, digest)) => digest.as_deref(),
                None => match *first_index.entry(id).or_insert(i) {
                    first if first == i => {
                        fresh.push(i);
                        continue;
                    }
                    first => Some(digests[first].as_str()),
                },
            };
            if earlier.is_some_and(|d| d != digests[i]) {
                results[i] = Some(EventResult::Rejected(reused(id)));
            }
        }

        let mut ws = load_working_set(
            conn,
            backend,
            &rules.identity.unique_kinds,
            fresh.iter().map(|&i| &events[i]),
        )
        .await?;
        let loaded = started.elapsed();
        let mut changes = Changes::default();
        let mut clock = match as_of {
            AsOf::At(t) => t,
            AsOf::EventTime => Micros::MIN,
        };
        let mut accepted: Vec<(usize, MemberId)> = Vec::with_capacity(fresh.len());
        let mut clocks: Vec<Micros> = Vec::with_capacity(fresh.len());
        for &i in &fresh {
            let event = &events[i];
            if let AsOf::EventTime = as_of {
                clock = clock.max(event.occurred_at);
            }
            match ws.apply(event, rules, clock, &mut changes) {
                Ok(outcome) => {
                    accepted.push((i, outcome.member_id));
                    clocks.push(clock);
                    results[i] = Some(EventResult::Accepted(outcome));
                }
                Err(rejection) => results[i] = Some(EventResult::Rejected(rejection)),
            }
        }
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
        let now = chrono::Utc::now().timestamp_micros();
        let conn: &mut AnyConnection = &mut tx;
        write_changes(conn, &ws, &changes, now).await?;
        insert_events(conn, &ws, events, &digests, &accepted, now).await?;
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
        tx.commit().await?;
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
        let results: Vec<EventResult> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(not_applied))
            .collect();
        count_results(&results);
        Ok(results)
    }

    /// Where a member (or the member it merged into) stands.
    pub async fn member_brief(&self, id: MemberId) -> Result<Option<Outcome>, StoreError> {
        let mut id = id;
        for _ in 0..64 {
            let row = sqlx::query("SELECT id, merged_into, stage, lens FROM members WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
            let Some(row) = row else { return Ok(None) };
            if let Some(next) = row.try_get::<Option<i64>, _>("merged_into")? {
                id = next;
                continue;
            }
            let stage: String = row.try_get("stage")?;
            let lens: String = row.try_get("lens")?;
            return Ok(Some(Outcome {
                member_id: id,
                stage: flywheel_core::Stage::parse(&stage)
                    .ok_or_else(|| StoreError::Corrupt(stage.clone()))?,
                lens: flywheel_core::Lens::parse(&lens)
                    .ok_or_else(|| StoreError::Corrupt(lens.clone()))?,
            }));
        }
        Err(StoreError::Corrupt(format!(
            "member {id}: merge chain too long"
        )))
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

fn reused(event_id: &str) -> Rejection {
    Rejection {
        code: ErrorCode::EventIdReused,
        field: Some("event_id".into()),
        message: format!(
            "event_id {event_id:?} was already used for an event with different content; \
             give this event an id of its own"
        ),
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

/// Every identity set a batch names: each event's identities and each referrer's.
fn identity_sets<'a>(events: impl Iterator<Item = &'a Event> + Clone) -> Vec<&'a [Identity]> {
    let mut sets = Vec::new();
    for e in events {
        sets.push(e.identities.as_slice());
        if let Payload::Referral { referrer } = &e.payload {
            sets.push(referrer.as_slice());
        }
    }
    sets
}

/// Loads everything `events` can reach: the owners of their identities, the owners of
/// their orders, the pending referrals of those members and the inviters of those.
pub(crate) async fn load_working_set<'a>(
    conn: &mut AnyConnection,
    backend: Backend,
    unique_kinds: &[IdentityKind],
    events: impl Iterator<Item = &'a Event> + Clone,
) -> Result<WorkingSet, StoreError> {
    let sets = identity_sets(events.clone());
    let keys: BTreeSet<String> = sets
        .iter()
        .flat_map(|s| s.iter().map(Identity::key))
        .collect();
    let keys: Vec<String> = keys.into_iter().collect();
    lock_identity_keys(conn, backend, &keys).await?;
    let mut named: HashMap<MemberId, Vec<Identity>> = HashMap::new();
    for row in select_in(
        conn,
        "SELECT key, member_id FROM identities WHERE key",
        keys.iter().map(|k| Val::from(k.as_str())),
        "",
    )
    .await?
    {
        let (identity, member) = identity_from_row(&row)?;
        named.entry(member).or_default().push(identity);
    }
    let mut wanted: BTreeSet<MemberId> = named.keys().copied().collect();

    let order_ids: BTreeSet<&str> = events
        .clone()
        .filter_map(|e| match &e.payload {
            Payload::Purchase(p) => Some(p.order_id.as_str()),
            Payload::Refund { order_id, .. } => Some(order_id.as_str()),
            _ => None,
        })
        .collect();
    let mut ws = WorkingSet::default();
    let head = format!("{ORDER_SELECT} order_id");
    for row in select_in(conn, &head, order_ids.iter().map(|o| Val::from(*o)), "").await? {
        let order = order_from_row(&row)?;
        wanted.insert(order.member_id);
        ws.orders.insert(order.order_id.clone(), order);
    }

    let scope = IdentityScope::ForResolution {
        named: &named,
        unique_kinds,
    };
    load_members(conn, backend, &scope, &mut ws, wanted).await?;
    let invitees: Vec<MemberId> = ws.members.keys().copied().collect();
    let head = format!("{REFERRAL_SELECT} invitee_id");
    let mut inviters = BTreeSet::new();
    for row in select_in(conn, &head, invitees.into_iter().map(Val::Int), "").await? {
        let r = referral_from_row(&row)?;
        if r.status == "pending" {
            inviters.insert(r.inviter_id);
        }
        ws.referrals.insert(r.event_id.clone(), r);
    }
    load_members(conn, backend, &scope, &mut ws, inviters).await?;

    // One fresh id for every identity set none of whose identities is known: an upper
    // bound on the members this batch can create.
    let needed = sets
        .iter()
        .filter(|s| s.iter().all(|i| !ws.owners.contains_key(i)))
        .count();
    let mut ids = reserve_member_ids(conn, backend, needed).await?;
    ids.reverse();
    ws.fresh_ids = ids;
    Ok(ws)
}

/// Which of a loaded member's identities come into the working set.
pub(crate) enum IdentityScope<'a> {
    /// Every identity it holds.
    All,
    /// Only what identity resolution reads: the identities the batch names (already read
    /// by key, by member) and those of unique kinds, to spot a second phone. A loyal
    /// member collects devices and accounts over the years; reading all of them for
    /// every event was the second-largest read of an import. The others stay in the
    /// store, where a merge re-points them by member id.
    ForResolution {
        named: &'a HashMap<MemberId, Vec<Identity>>,
        unique_kinds: &'a [IdentityKind],
    },
}

/// Loads members (and whoever they were merged into) with the identities `scope` asks for.
pub(crate) async fn load_members(
    conn: &mut AnyConnection,
    backend: Backend,
    scope: &IdentityScope<'_>,
    ws: &mut WorkingSet,
    ids: impl IntoIterator<Item = MemberId>,
) -> Result<(), StoreError> {
    let mut pending: BTreeSet<MemberId> = ids
        .into_iter()
        .filter(|id| !ws.members.contains_key(id))
        .collect();
    while !pending.is_empty() {
        let rows = select_members_for_update(conn, backend, pending.iter().copied()).await?;
        let mut loaded: BTreeMap<MemberId, MemberState> = BTreeMap::new();
        for row in &rows {
            let m = member_from_row(row)?;
            loaded.insert(m.id, m);
        }
        load_identities(conn, scope, &mut loaded).await?;
        let mut next = BTreeSet::new();
        for (_, m) in loaded {
            if let Some(target) = m.merged_into
                && !ws.members.contains_key(&target)
            {
                next.insert(target);
            }
            ws.insert_loaded(m);
        }
        pending = next;
    }
    Ok(())
}

/// Reads the identities `scope` asks for into the members just loaded.
async fn load_identities(
    conn: &mut AnyConnection,
    scope: &IdentityScope<'_>,
    loaded: &mut BTreeMap<MemberId, MemberState>,
) -> Result<(), StoreError> {
    let kinds_filter = match scope {
        IdentityScope::All => String::new(),
        IdentityScope::ForResolution {
            named,
            unique_kinds,
        } => {
            for (id, m) in loaded.iter_mut() {
                if let Some(identities) = named.get(id) {
                    m.identities.extend(identities.iter().cloned());
                }
            }
            if unique_kinds.is_empty() {
                return Ok(());
            }
            // Kind names are constants of a closed enum, so they may go into the text.
            let kinds: Vec<String> = unique_kinds
                .iter()
                .map(|k| format!("'{}'", k.as_str()))
                .collect();
            format!("AND kind IN ({})", kinds.join(", "))
        }
    };
    let head = "SELECT key, member_id FROM identities WHERE member_id";
    let ids = loaded.keys().map(|id| Val::Int(*id));
    for row in select_in(conn, head, ids, &kinds_filter).await? {
        let (identity, member) = identity_from_row(&row)?;
        if let Some(m) = loaded.get_mut(&member) {
            m.identities.insert(identity);
        }
    }
    Ok(())
}

/// Re-points the rows of the members a batch merged at the member each now stands for:
/// one statement per column for the whole batch (a statement per merge and column was a
/// tenth of an import's SQL on PostgreSQL). Following each chain to its end gives what
/// replaying the merges in order would: rows of a member merged into one that is merged
/// later end at the last survivor either way. Runs before the member upserts, which
/// write each merged member's own `merged_into`.
async fn repoint_merged(
    conn: &mut AnyConnection,
    ws: &WorkingSet,
    changes: &Changes,
) -> Result<(), StoreError> {
    if changes.merges.is_empty() {
        return Ok(());
    }
    let moves: BTreeMap<MemberId, MemberId> = changes
        .merges
        .iter()
        .map(|m| (m.merged, ws.survivor(m.merged)))
        .collect();
    let moves: Vec<(MemberId, MemberId)> = moves.into_iter().collect();
    for (table, column) in [
        ("identities", "member_id"),
        ("events", "member_id"),
        ("orders", "member_id"),
        ("referrals", "inviter_id"),
        ("referrals", "invitee_id"),
        ("stage_transitions", "member_id"),
        ("members", "merged_into"),
        ("points_orders", "member_id"),
        ("redemptions", "member_id"),
    ] {
        remap_ids(conn, table, column, &moves).await?;
    }
    Ok(())
}

/// Writes what the processor changed (everything but the events themselves).
pub(crate) async fn write_changes(
    conn: &mut AnyConnection,
    ws: &WorkingSet,
    changes: &Changes,
    now: Micros,
) -> Result<(), StoreError> {
    repoint_merged(conn, ws, changes).await?;
    let members: Vec<Vec<Val>> = changes
        .dirty_members
        .iter()
        .filter_map(|id| ws.members.get(id))
        .map(|m| member_values(m, now))
        .collect::<Result<_, _>>()?;
    insert_rows(conn, MEMBER_INSERT, members, MEMBER_UPSERT_TAIL).await?;

    let identities = changes
        .new_identities
        .iter()
        .map(|n| {
            vec![
                n.identity.key().into(),
                n.identity.kind.as_str().into(),
                n.identity.value.clone().into(),
                ws.survivor(n.member_id).into(),
                n.at.into(),
                n.event_id.clone().into(),
            ]
        })
        .collect();
    insert_rows(
        conn,
        "INSERT INTO identities (key, kind, value, member_id, created_at, source_event_id)",
        identities,
        "",
    )
    .await?;

    let orders = changes
        .dirty_orders
        .iter()
        .filter_map(|id| ws.orders.get(id))
        .map(|o| {
            vec![
                o.order_id.clone().into(),
                ws.survivor(o.member_id).into(),
                o.purchase_event_id.clone().into(),
                o.amount.map(Money::minor).into(),
                o.refunded.minor().into(),
                o.occurred_at.into(),
            ]
        })
        .collect();
    insert_rows(
        conn,
        "INSERT INTO orders (order_id, member_id, purchase_event_id, amount, refunded, occurred_at)",
        orders,
        "ON CONFLICT (order_id) DO UPDATE SET member_id = excluded.member_id, purchase_event_id = excluded.purchase_event_id, \
         amount = excluded.amount, refunded = excluded.refunded, occurred_at = excluded.occurred_at",
    )
    .await?;

    let referral_ids: BTreeSet<&String> = changes
        .new_referrals
        .iter()
        .chain(&changes.dirty_referrals)
        .collect();
    let referrals = referral_ids
        .into_iter()
        .filter_map(|id| ws.referrals.get(id))
        .map(|r| {
            vec![
                r.event_id.clone().into(),
                ws.survivor(r.inviter_id).into(),
                ws.survivor(r.invitee_id).into(),
                r.referred_at.into(),
                r.converted_at.into(),
                r.status.clone().into(),
            ]
        })
        .collect();
    insert_rows(
        conn,
        "INSERT INTO referrals (event_id, inviter_id, invitee_id, referred_at, converted_at, status)",
        referrals,
        "ON CONFLICT (event_id) DO UPDATE SET inviter_id = excluded.inviter_id, invitee_id = excluded.invitee_id, \
         converted_at = excluded.converted_at, status = excluded.status",
    )
    .await?;

    let transitions = changes
        .transitions
        .iter()
        .map(|t| {
            vec![
                ws.survivor(t.member_id).into(),
                t.member_id.into(),
                t.from.as_str().into(),
                t.to.as_str().into(),
                t.from_lens.as_str().into(),
                t.to_lens.as_str().into(),
                t.at.into(),
                t.rule.clone().into(),
                t.reason.clone().into(),
                t.event_id.clone().into(),
            ]
        })
        .collect();
    insert_rows(
        conn,
        "INSERT INTO stage_transitions (member_id, origin_member_id, from_stage, to_stage, from_lens, to_lens, at, rule, reason, event_id)",
        transitions,
        "",
    )
    .await?;

    let merges = changes
        .merges
        .iter()
        .map(|m| {
            vec![
                m.survivor.into(),
                m.merged.into(),
                m.at.into(),
                m.event_id.clone().into(),
                m.actor.clone().into(),
                m.explanation.clone().into(),
            ]
        })
        .collect();
    insert_rows(
        conn,
        "INSERT INTO merges (survivor_id, merged_id, at, event_id, actor, explanation)",
        merges,
        "",
    )
    .await?;

    // A disagreement already on record (open or settled) is not recorded again: a family
    // tablet naming the spouse's phone on every visit makes one conflict, not hundreds.
    for c in &changes.conflicts {
        let member_ids = serde_json::to_string(&c.member_ids)?;
        let values = serde_json::to_string(&c.values)?;
        sqlx::query(
            "INSERT INTO identity_conflicts (created_at, event_id, kind, member_ids, identity_values, explanation, status) \
             SELECT $1, $2, $3, $4, $5, $6, 'open' WHERE NOT EXISTS \
             (SELECT 1 FROM identity_conflicts WHERE kind = $3 AND member_ids = $4 AND identity_values = $5)",
        )
        .bind(c.at)
        .bind(c.event_id.clone())
        .bind(c.kind.as_str())
        .bind(member_ids)
        .bind(values)
        .bind(c.explanation.clone())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn insert_events(
    conn: &mut AnyConnection,
    ws: &WorkingSet,
    events: &[Event],
    digests: &[String],
    accepted: &[(usize, MemberId)],
    now: Micros,
) -> Result<(), StoreError> {
    let rows = accepted
        .iter()
        .map(|(i, member)| {
            let e = &events[*i];
            let identities: serde_json::Map<String, serde_json::Value> = e
                .identities
                .iter()
                .map(|i| (i.kind.as_str().to_owned(), i.value.clone().into()))
                .collect();
            Ok(vec![
                e.event_id.clone().into(),
                ws.survivor(*member).into(),
                e.type_name.clone().into(),
                e.channel.as_str().into(),
                e.occurred_at.into(),
                now.into(),
                serde_json::to_string(&identities)?.into(),
                serde_json::to_string(&e.properties)?.into(),
                digests[*i].clone().into(),
            ])
        })
        .collect::<Result<_, StoreError>>()?;
    insert_rows(
        conn,
        "INSERT INTO events (event_id, member_id, type, channel, occurred_at, received_at, identities, properties, digest)",
        rows,
        "",
    )
    .await?;
    Ok(())
}
