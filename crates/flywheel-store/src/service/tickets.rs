//! Tickets (migration 29): opened from `feedback` events in the ingest batch that
//! carries them (one per event, `source` unique, so a retried or replayed event never
//! opens a second), by staff or by a journey; moved by staff (respond, resolve, reopen)
//! with a note on the ticket's timeline and in the audit log; and swept for breached
//! targets, each flagged once, as it happens.
//!
//! What a resolution does to the member's facts (the complaint closed, the stage cap
//! lifted) is an event the API sends through ingest before it moves the ticket here.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::engagement::journeys::JourneyBook;
use crate::engagement::triggers::{plan_runs, ticket_trigger_rows, write_runs};
use crate::error::StoreError;
use crate::plan::Writes;
use crate::sql::Val;
use flywheel_core::Event;
use flywheel_core::engagement::journey::TicketMoment;
use flywheel_core::event::{FeedbackKind, Payload};
use flywheel_core::ingest::{MemberId, WorkingSet};
use flywheel_core::service::{Move, Queue, Targets, TicketStatus, route};
use flywheel_core::time::{Micros, SECOND};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// The property of a `feedback` event that reopens a ticket rather than opening one.
pub const REOPENS: &str = "reopens_ticket";

/// A ticket as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketRow {
    pub id: i64,
    /// `event:<event_id>`, `staff:<key>` or `journey:<run>:<step>`.
    pub source: String,
    pub member_id: MemberId,
    /// complaint | suggestion | request
    pub kind: String,
    pub category: Option<String>,
    /// None when no queue took its category.
    pub queue_id: Option<String>,
    pub text: Option<String>,
    pub channel: Option<String>,
    /// The feedback event whose complaint the member's facts hold open.
    pub complaint_event_id: Option<String>,
    pub status: TicketStatus,
    pub opened_at: Micros,
    pub respond_by: Option<Micros>,
    pub resolve_by: Option<Micros>,
    pub responded_at: Option<Micros>,
    pub resolved_at: Option<Micros>,
    /// Working minutes to the first response and to the resolution.
    pub response_minutes: Option<i64>,
    pub resolution_minutes: Option<i64>,
    pub response_breached_at: Option<Micros>,
    pub resolution_breached_at: Option<Micros>,
    pub assignee: Option<String>,
    pub reopened: i64,
    pub updated_at: Micros,
}

impl TicketRow {
    pub fn breached(&self) -> bool {
        self.response_breached_at.is_some() || self.resolution_breached_at.is_some()
    }

    /// Records the first answer at `at` (if none yet): the working minutes it took on
    /// `queue`'s clock, and a missed target.
    fn answer_at(&mut self, queue: Option<&Queue>, at: Micros) {
        if self.responded_at.is_none() {
            self.responded_at = Some(at);
            self.response_minutes = Some(working_minutes(queue, self.opened_at, at));
            if self.respond_by.is_some_and(|by| at > by) && self.response_breached_at.is_none() {
                self.response_breached_at = self.respond_by;
            }
        }
    }

    /// Records the resolution at `at` — an answer too, if there was none — with the
    /// working minutes it took and a missed target.
    fn resolve_at(&mut self, queue: Option<&Queue>, at: Micros) {
        self.answer_at(queue, at);
        self.resolved_at = Some(at);
        self.resolution_minutes = Some(working_minutes(queue, self.opened_at, at));
        if self.resolve_by.is_some_and(|by| at > by) && self.resolution_breached_at.is_none() {
            self.resolution_breached_at = self.resolve_by;
        }
    }
}

/// One entry of a ticket's timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketNote {
    pub at: Micros,
    /// The person (`key:<id>`), `sweep`, or `journey`.
    pub author: String,
    /// comment | respond | resolve | reopen | assign | response_breached |
    /// resolution_breached
    pub kind: String,
    pub note: Option<String>,
}

/// Tickets past a target not yet flagged (`$1` is now).
const BREACHED: &str = "(status = 'open' AND response_breached_at IS NULL AND respond_by <= $1) \
     OR (status <> 'resolved' AND resolution_breached_at IS NULL AND resolve_by <= $1)";

const COLUMNS: &str = "id, source, member_id, kind, category, queue_id, text, channel, \
     complaint_event_id, status, opened_at, respond_by, resolve_by, responded_at, resolved_at, \
     response_minutes, resolution_minutes, response_breached_at, resolution_breached_at, \
     assignee, reopened, updated_at";

const INSERT: &str = "INSERT INTO tickets (source, member_id, kind, category, queue_id, text, \
     channel, complaint_event_id, status, opened_at, respond_by, resolve_by, reopened, updated_at)";
const INSERT_TAIL: &str = "ON CONFLICT (source) DO NOTHING";

fn ticket_from_row(r: &AnyRow) -> Result<TicketRow, StoreError> {
    let status: String = r.try_get("status")?;
    Ok(TicketRow {
        id: r.try_get("id")?,
        source: r.try_get("source")?,
        member_id: r.try_get("member_id")?,
        kind: r.try_get("kind")?,
        category: r.try_get("category")?,
        queue_id: r.try_get("queue_id")?,
        text: r.try_get("text")?,
        channel: r.try_get("channel")?,
        complaint_event_id: r.try_get("complaint_event_id")?,
        status: TicketStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("ticket status {status:?}")))?,
        opened_at: r.try_get("opened_at")?,
        respond_by: r.try_get("respond_by")?,
        resolve_by: r.try_get("resolve_by")?,
        responded_at: r.try_get("responded_at")?,
        resolved_at: r.try_get("resolved_at")?,
        response_minutes: r.try_get("response_minutes")?,
        resolution_minutes: r.try_get("resolution_minutes")?,
        response_breached_at: r.try_get("response_breached_at")?,
        resolution_breached_at: r.try_get("resolution_breached_at")?,
        assignee: r.try_get("assignee")?,
        reopened: r.try_get("reopened")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A new ticket's row for [`INSERT`].
struct NewTicket<'a> {
    source: String,
    member: MemberId,
    kind: &'a str,
    category: Option<&'a str>,
    queue: Option<&'a Queue>,
    text: Option<String>,
    channel: Option<&'a str>,
    complaint_event_id: Option<&'a str>,
    opened_at: Micros,
}

impl NewTicket<'_> {
    /// The ticket as it will read once written (its id not known yet).
    fn as_row(&self) -> TicketRow {
        let targets = self.queue.map(|q| q.targets(self.opened_at));
        TicketRow {
            id: 0,
            source: self.source.clone(),
            member_id: self.member,
            kind: self.kind.to_owned(),
            category: self.category.map(str::to_owned),
            queue_id: self.queue.map(|q| q.id.clone()),
            text: self.text.clone(),
            channel: self.channel.map(str::to_owned),
            complaint_event_id: self.complaint_event_id.map(str::to_owned),
            status: TicketStatus::Open,
            opened_at: self.opened_at,
            respond_by: targets.map(|t| t.respond_by),
            resolve_by: targets.map(|t| t.resolve_by),
            responded_at: None,
            resolved_at: None,
            response_minutes: None,
            resolution_minutes: None,
            response_breached_at: None,
            resolution_breached_at: None,
            assignee: None,
            reopened: 0,
            updated_at: self.opened_at,
        }
    }

    fn row(&self) -> Vec<Val> {
        let targets: Option<Targets> = self.queue.map(|q| q.targets(self.opened_at));
        vec![
            self.source.clone().into(),
            Val::Int(self.member),
            self.kind.into(),
            Val::OptText(self.category.map(str::to_owned)),
            Val::OptText(self.queue.map(|q| q.id.clone())),
            Val::OptText(self.text.clone()),
            Val::OptText(self.channel.map(str::to_owned)),
            Val::OptText(self.complaint_event_id.map(str::to_owned)),
            TicketStatus::Open.as_str().into(),
            Val::Int(self.opened_at),
            Val::OptInt(targets.map(|t| t.respond_by)),
            Val::OptInt(targets.map(|t| t.resolve_by)),
            Val::Int(0),
            Val::Int(self.opened_at),
        ]
    }
}

/// Plans a ticket for each accepted `feedback` event of the batch, routed by its
/// category; its clock starts at the event's `occurred_at`.
pub(crate) fn plan_event_tickets(
    w: &mut Writes,
    queues: &[Queue],
    journeys: &JourneyBook,
    ws: &WorkingSet,
    events: &[Event],
    accepted: &[(usize, MemberId)],
) -> Vec<TicketRow> {
    let mut rows = Vec::new();
    let mut runs = Vec::new();
    let mut planned = Vec::new();
    for &(i, member) in accepted {
        let e = &events[i];
        let Payload::Feedback { kind, category } = &e.payload else {
            continue;
        };
        if e.properties.contains_key(REOPENS) {
            continue;
        }
        let kind = match kind {
            FeedbackKind::Complaint => "complaint",
            FeedbackKind::Suggestion => "suggestion",
        };
        let text = e
            .properties
            .get("text")
            .and_then(|t| t.as_str())
            .map(str::to_owned);
        let ticket = NewTicket {
            source: format!("event:{}", e.event_id),
            member: ws.survivor(member),
            kind,
            category: category.as_deref(),
            queue: route(queues, category.as_deref()),
            text,
            channel: Some(e.channel.as_str()),
            complaint_event_id: (kind == "complaint").then_some(e.event_id.as_str()),
            opened_at: e.occurred_at,
        };
        rows.push(ticket.row());
        planned.push(ticket.as_row());
        runs.extend(ticket_trigger_rows(
            journeys,
            ticket.member,
            TicketMoment::Opened,
            ticket.queue.map(|q| q.id.as_str()),
            &ticket.source,
            e.occurred_at,
        ));
    }
    w.rows(INSERT, rows, INSERT_TAIL);
    plan_runs(w, runs);
    planned
}

/// Closes the tickets that `complaint_resolved` events of the batch resolve — sent by
/// a call-centre system rather than through `/v1/tickets/{id}/resolve` (whose own
/// events carry `ticket_id` and are left to it) — as a resolution by that event: the
/// answer and resolution times counted, a missed target marked, a note on the
/// timeline. A ticket opened in an earlier group is in the tables by now: the engine
/// flushes any group that touched the same member before this one reads.
pub(crate) async fn plan_event_resolutions(
    conn: &mut AnyConnection,
    w: &mut Writes,
    queues: &[Queue],
    journeys: &JourneyBook,
    events: &[Event],
    accepted: &[(usize, MemberId)],
    planned: Vec<TicketRow>,
) -> Result<(), StoreError> {
    let resolving: Vec<&Event> = accepted
        .iter()
        .map(|&(i, _)| &events[i])
        .filter(|e| !e.properties.contains_key("ticket_id"))
        .filter(|e| {
            matches!(
                &e.payload,
                Payload::ComplaintResolved {
                    complaint_event_id: Some(_),
                    ..
                }
            )
        })
        .collect();
    if resolving.is_empty() {
        return Ok(());
    }
    let sources = resolving.iter().filter_map(|e| match &e.payload {
        Payload::ComplaintResolved {
            complaint_event_id: Some(id),
            ..
        } => Some(Val::Text(format!("event:{id}"))),
        _ => None,
    });
    let head = format!("SELECT {COLUMNS} FROM tickets WHERE source");
    let rows = crate::sql::select_in(conn, &head, sources, "AND status <> 'resolved'").await?;
    let mut open: std::collections::HashMap<String, TicketRow> = rows
        .iter()
        .map(|r| ticket_from_row(r).map(|t| (t.source.clone(), t)))
        .collect::<Result<_, _>>()?;
    // Opened earlier in this very batch: not in the table yet.
    for t in planned {
        open.entry(t.source.clone()).or_insert(t);
    }
    let mut runs = Vec::new();
    for e in resolving {
        let Payload::ComplaintResolved {
            complaint_event_id: Some(id),
            ..
        } = &e.payload
        else {
            continue;
        };
        let Some(mut t) = open.remove(&format!("event:{id}")) else {
            continue;
        };
        let at = e.occurred_at.max(t.opened_at);
        let queue = t
            .queue_id
            .as_deref()
            .and_then(|q| queues.iter().find(|x| x.id == q));
        t.resolve_at(queue, at);
        w.statement(
            "UPDATE tickets SET status = 'resolved', responded_at = $1, resolved_at = $2, \
             response_minutes = $3, resolution_minutes = $4, response_breached_at = $5, \
             resolution_breached_at = $6, updated_at = $7 WHERE source = $8 AND status <> 'resolved'",
            vec![
                Val::OptInt(t.responded_at),
                Val::OptInt(t.resolved_at),
                Val::OptInt(t.response_minutes),
                Val::OptInt(t.resolution_minutes),
                Val::OptInt(t.response_breached_at),
                Val::OptInt(t.resolution_breached_at),
                Val::Int(at),
                t.source.clone().into(),
            ],
        );
        w.statement(
            "INSERT INTO ticket_notes (ticket_id, at, author, kind, note, request_key) \
             SELECT id, $1, $2, 'resolve', NULL, $3 FROM tickets WHERE source = $4 \
             ON CONFLICT (ticket_id, request_key) DO NOTHING",
            vec![
                Val::Int(at),
                format!("event:{}", e.event_id).into(),
                format!("event:{}", e.event_id).into(),
                t.source.clone().into(),
            ],
        );
        runs.extend(ticket_trigger_rows(
            journeys,
            t.member_id,
            TicketMoment::Resolved,
            t.queue_id.as_deref(),
            &format!("{}-{}", t.source, t.reopened),
            at,
        ));
    }
    plan_runs(w, runs);
    Ok(())
}

/// Inserts a new ticket unless its source has one; true when it did.
async fn insert_ticket(
    conn: &mut AnyConnection,
    ticket: &NewTicket<'_>,
) -> Result<bool, StoreError> {
    let places: Vec<String> = (1..=14).map(|i| format!("${i}")).collect();
    let mut insert = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{INSERT} VALUES ({}) {INSERT_TAIL}",
        places.join(", ")
    )));
    for v in ticket.row() {
        insert = crate::sql::bind(insert, v);
    }
    Ok(insert.execute(&mut *conn).await?.rows_affected() > 0)
}

/// A journey's ticket step: a request for the team, once per run and step.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn open_journey_ticket(
    conn: &mut AnyConnection,
    queues: &[Queue],
    run: i64,
    step: usize,
    member: MemberId,
    category: Option<&str>,
    text: Option<String>,
    now: Micros,
) -> Result<(), StoreError> {
    let ticket = NewTicket {
        source: format!("journey:{run}:{step}"),
        member,
        kind: "request",
        category,
        queue: route(queues, category),
        text,
        channel: None,
        complaint_event_id: None,
        opened_at: now,
    };
    insert_ticket(conn, &ticket).await?;
    Ok(())
}

/// Which tickets to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketQuery {
    pub queue: Option<String>,
    pub status: Option<TicketStatus>,
    pub breached: Option<bool>,
    pub member_id: Option<MemberId>,
    pub limit: i64,
}

/// What a staff move did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Moved {
    Changed(TicketRow),
    /// The ticket already stood where the move leads (a retried request).
    Unchanged(TicketRow),
}

async fn ticket_in(
    conn: &mut AnyConnection,
    id: i64,
    lock: &str,
) -> Result<Option<TicketRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tickets WHERE id = $1{lock}"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(ticket_from_row).transpose()
}

async fn add_note(
    conn: &mut AnyConnection,
    ticket: i64,
    at: Micros,
    author: &str,
    kind: &str,
    note: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ticket_notes (ticket_id, at, author, kind, note, request_key) \
         VALUES ($1, $2, $3, $4, $5, NULL)",
    )
    .bind(ticket)
    .bind(at)
    .bind(author.to_owned())
    .bind(kind.to_owned())
    .bind(note.map(str::to_owned))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn audit_body(t: &TicketRow) -> serde_json::Value {
    json!({"status": t.status.as_str(), "assignee": t.assignee, "queue": t.queue_id,
        "reopened": t.reopened})
}

/// Whole working minutes from `from` to `to` on the queue's clock (a plain clock when
/// the queue is gone).
fn working_minutes(queue: Option<&Queue>, from: Micros, to: Micros) -> i64 {
    let span = match queue {
        Some(q) => q.hours.between(from, to),
        None => (to - from).max(0),
    };
    span / (60 * SECOND)
}

impl Store {
    pub async fn ticket(&self, id: i64) -> Result<Option<TicketRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        ticket_in(&mut conn, id, "").await
    }

    /// The ticket opened from `source`, if any.
    pub async fn ticket_from(&self, source: &str) -> Result<Option<TicketRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tickets WHERE source = $1"
        )))
        .bind(source.to_owned())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(ticket_from_row).transpose()
    }

    /// Tickets, newest first; a member's include those of members merged into them.
    pub async fn tickets(&self, q: &TicketQuery) -> Result<Vec<TicketRow>, StoreError> {
        let breached = "(response_breached_at IS NOT NULL OR resolution_breached_at IS NOT NULL)";
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tickets WHERE ($1 = '' OR queue_id = $1) \
             AND ($2 = '' OR status = $2) \
             AND ($3 < 0 OR ($3 = 1 AND {breached}) OR ($3 = 0 AND NOT {breached})) \
             AND ($4 < 0 OR member_id = $4 OR member_id IN (SELECT id FROM members WHERE merged_into = $4)) \
             ORDER BY opened_at DESC, id DESC LIMIT $5"
        )))
        .bind(q.queue.clone().unwrap_or_default())
        .bind(q.status.map(|s| s.as_str()).unwrap_or_default().to_owned())
        .bind(q.breached.map_or(-1, i64::from))
        .bind(q.member_id.unwrap_or(-1))
        .bind(q.limit.clamp(1, 1000))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(ticket_from_row).collect()
    }

    /// A ticket's timeline, oldest first.
    pub async fn ticket_notes(&self, id: i64) -> Result<Vec<TicketNote>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, author, kind, note FROM ticket_notes WHERE ticket_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TicketNote {
                    at: r.try_get("at")?,
                    author: r.try_get("author")?,
                    kind: r.try_get("kind")?,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }

    /// Opens a ticket that no event carries (a staff request, a journey's step) under
    /// `source`; a second call with the same source returns the first ticket.
    #[allow(clippy::too_many_arguments)]
    pub async fn open_ticket(
        &self,
        source: &str,
        member: MemberId,
        kind: &str,
        category: Option<&str>,
        text: Option<String>,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<(TicketRow, bool), StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let book = self.service_book(conn).await?;
        let queues = &book.queues;
        let ticket = NewTicket {
            source: source.to_owned(),
            member,
            kind,
            category,
            queue: route(queues, category),
            text,
            channel: None,
            complaint_event_id: None,
            opened_at: now,
        };
        let fresh = insert_ticket(conn, &ticket).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tickets WHERE source = $1"
        )))
        .bind(source.to_owned())
        .fetch_one(&mut *conn)
        .await?;
        let row = ticket_from_row(&row)?;
        if fresh {
            let journeys = self
                .journey_book(conn, &self.segment_settings().lang)
                .await?;
            let runs = ticket_trigger_rows(
                &journeys,
                row.member_id,
                TicketMoment::Opened,
                row.queue_id.as_deref(),
                &row.source,
                now,
            );
            write_runs(conn, runs).await?;
            let change = AuditChange {
                kind: "ticket",
                action: "open",
                target: format!("ticket:{}", row.id),
                reason: None,
                before: None,
                after: Some(audit_body(&row)),
            };
            audit::record(conn, now, actor, change).await?;
        }
        tx.commit().await?;
        Ok((row, fresh))
    }

    /// Responds to, resolves or reopens a ticket, with the person's note on its
    /// timeline. `complaint_event_id` is the event a reopened complaint was sent in as.
    pub async fn move_ticket(
        &self,
        id: i64,
        step: Move,
        note: Option<&str>,
        complaint_event_id: Option<&str>,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<Option<Moved>, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let lock = crate::dialect::row_lock(self.backend());
        let Some(before) = ticket_in(conn, id, lock).await? else {
            return Ok(None);
        };
        let Some(status) = step.apply(before.status) else {
            return Ok(Some(Moved::Unchanged(before)));
        };
        let book = self.service_book(conn).await?;
        let queue = before
            .queue_id
            .as_deref()
            .and_then(|q| book.queues.iter().find(|x| x.id == q));
        let mut t = before.clone();
        t.status = status;
        t.updated_at = now;
        match step {
            Move::Respond => t.answer_at(queue, now),
            Move::Resolve => t.resolve_at(queue, now),
            Move::Reopen => {
                // A new promise to resolve, counted from now on the same clock.
                t.reopened += 1;
                t.resolved_at = None;
                t.resolution_minutes = None;
                t.resolution_breached_at = None;
                t.resolve_by = queue.map(|q| q.targets(now).resolve_by);
                if let Some(e) = complaint_event_id {
                    t.complaint_event_id = Some(e.to_owned());
                }
            }
        }
        sqlx::query(
            "UPDATE tickets SET status = $1, responded_at = $2, resolved_at = $3, \
             response_minutes = $4, resolution_minutes = $5, response_breached_at = $6, \
             resolution_breached_at = $7, resolve_by = $8, reopened = $9, complaint_event_id = $10, \
             updated_at = $11 WHERE id = $12",
        )
        .bind(t.status.as_str().to_owned())
        .bind(t.responded_at)
        .bind(t.resolved_at)
        .bind(t.response_minutes)
        .bind(t.resolution_minutes)
        .bind(t.response_breached_at)
        .bind(t.resolution_breached_at)
        .bind(t.resolve_by)
        .bind(t.reopened)
        .bind(t.complaint_event_id.clone())
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        add_note(conn, id, now, &actor.reference, step.as_str(), note).await?;
        if step == Move::Resolve {
            let journeys = self
                .journey_book(conn, &self.segment_settings().lang)
                .await?;
            let runs = ticket_trigger_rows(
                &journeys,
                t.member_id,
                TicketMoment::Resolved,
                t.queue_id.as_deref(),
                &format!("{id}-{}", t.reopened),
                now,
            );
            write_runs(conn, runs).await?;
        }
        let change = AuditChange {
            kind: "ticket",
            action: step.as_str(),
            target: format!("ticket:{id}"),
            reason: note.map(str::to_owned),
            before: Some(audit_body(&before)),
            after: Some(audit_body(&t)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(Some(Moved::Changed(t)))
    }

    /// Adds a comment to a ticket's timeline; a retry under the same `request_key` adds
    /// nothing. None when there is no such ticket.
    pub async fn comment_ticket(
        &self,
        id: i64,
        note: &str,
        request_key: Option<&str>,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<Option<bool>, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        if ticket_in(conn, id, "").await?.is_none() {
            return Ok(None);
        }
        let added = sqlx::query(
            "INSERT INTO ticket_notes (ticket_id, at, author, kind, note, request_key) \
             VALUES ($1, $2, $3, 'comment', $4, $5) ON CONFLICT (ticket_id, request_key) DO NOTHING",
        )
        .bind(id)
        .bind(now)
        .bind(actor.reference.clone())
        .bind(note.to_owned())
        .bind(request_key.map(str::to_owned))
        .execute(&mut *conn)
        .await?
        .rows_affected()
            > 0;
        sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2 AND $3 = 1")
            .bind(now)
            .bind(id)
            .bind(i64::from(added))
            .execute(&mut *conn)
            .await?;
        tx.commit().await?;
        Ok(Some(added))
    }

    /// Assigns a ticket to a member of staff (checked by the caller); audited.
    pub async fn assign_ticket(
        &self,
        id: i64,
        staff_id: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<Option<Moved>, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let lock = crate::dialect::row_lock(self.backend());
        let Some(before) = ticket_in(conn, id, lock).await? else {
            return Ok(None);
        };
        if before.assignee.as_deref() == Some(staff_id) {
            return Ok(Some(Moved::Unchanged(before)));
        }
        let mut t = before.clone();
        t.assignee = Some(staff_id.to_owned());
        t.updated_at = now;
        sqlx::query("UPDATE tickets SET assignee = $1, updated_at = $2 WHERE id = $3")
            .bind(staff_id.to_owned())
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        add_note(conn, id, now, &actor.reference, "assign", Some(staff_id)).await?;
        let change = AuditChange {
            kind: "ticket",
            action: "assign",
            target: format!("ticket:{id}"),
            reason: None,
            before: Some(audit_body(&before)),
            after: Some(audit_body(&t)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(Some(Moved::Changed(t)))
    }

    /// Flags every ticket whose response or resolution target passed at `now` without
    /// it, once each, with a note on its timeline; returns the tickets flagged.
    pub async fn flag_ticket_breaches(&self, now: Micros) -> Result<Vec<TicketRow>, StoreError> {
        if !self
            .anything_due(&format!("tickets WHERE {BREACHED}"), now)
            .await?
        {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tickets WHERE {BREACHED} ORDER BY id LIMIT 1000"
        )))
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        let mut flagged = Vec::with_capacity(rows.len());
        let journeys = if rows.is_empty() {
            None
        } else {
            Some(
                self.journey_book(conn, &self.segment_settings().lang)
                    .await?,
            )
        };
        let mut runs = Vec::new();
        for r in &rows {
            let mut t = ticket_from_row(r)?;
            let response = t.status == TicketStatus::Open
                && t.response_breached_at.is_none()
                && t.respond_by.is_some_and(|by| by <= now);
            let resolution =
                t.resolution_breached_at.is_none() && t.resolve_by.is_some_and(|by| by <= now);
            for (breached, which) in [(response, "response"), (resolution, "resolution")] {
                if !breached {
                    continue;
                }
                if which == "response" {
                    t.response_breached_at = t.respond_by;
                } else {
                    t.resolution_breached_at = t.resolve_by;
                }
                let kind = format!("{which}_breached");
                add_note(conn, t.id, now, "sweep", &kind, None).await?;
                if let Some(book) = &journeys {
                    runs.extend(ticket_trigger_rows(
                        book,
                        t.member_id,
                        TicketMoment::Breached,
                        t.queue_id.as_deref(),
                        &format!("{}-{which}-{}", t.id, t.reopened),
                        now,
                    ));
                }
            }
            sqlx::query(
                "UPDATE tickets SET response_breached_at = $1, resolution_breached_at = $2 WHERE id = $3",
            )
            .bind(t.response_breached_at)
            .bind(t.resolution_breached_at)
            .bind(t.id)
            .execute(&mut *conn)
            .await?;
            flagged.push(t);
        }
        write_runs(conn, runs).await?;
        // Tickets, their notes and journey runs: nothing the member cache holds.
        self.commit_keeping_cache(tx).await?;
        Ok(flagged)
    }

    /// An identity of the member `id` stands for, to send events for them under.
    pub async fn member_handle(
        &self,
        id: MemberId,
    ) -> Result<Option<(String, String)>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let Some(m) = crate::survivor::survivor_id(&mut conn, id).await? else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT kind, value FROM identities WHERE member_id = $1 ORDER BY key LIMIT 1",
        )
        .bind(m)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| Ok((r.try_get("kind")?, r.try_get("value")?)))
            .transpose()
    }
}
