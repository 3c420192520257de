//! Tickets (`/v1/tickets`): feedback and complaints answered against their queue's
//! targets. A `feedback` event opens one by itself; staff open one here (a complaint or
//! suggestion is sent in as the member's `feedback` event, so the member's facts and
//! stage see it exactly as they would from any channel), answer, resolve, reopen,
//! comment and assign. Resolving a complaint sends a `complaint_resolved` event first —
//! saying whether it came within target — so the member's open complaint closes and
//! their stage cap lifts at once; the event's id is fixed by the ticket, so a retry
//! never sends a second.

use super::member_id;
use crate::auth::{Allowed, Caller, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::params::Params;
use crate::service_views::{
    TicketAssignInput, TicketInput, TicketList, TicketNoteInput, TicketNoteView, TicketView,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::event::parse_event;
use flywheel_core::service::hours::as_hours;
use flywheel_core::service::{Move, TicketStatus};
use flywheel_core::time::{SECOND, to_rfc3339};
use flywheel_core::validation::{check_line, check_paragraph};
use flywheel_store::{EventResult, Moved, REOPENS, TicketNote, TicketQuery, TicketRow};
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tickets", get(list_tickets).post(open_ticket))
        .route("/v1/tickets/{id}", get(get_ticket))
        .route("/v1/tickets/{id}/respond", post(respond))
        .route("/v1/tickets/{id}/resolve", post(resolve))
        .route("/v1/tickets/{id}/reopen", post(reopen))
        .route("/v1/tickets/{id}/comments", post(comment))
        .route("/v1/tickets/{id}/assign", post(assign))
        .route("/v1/members/{id}/tickets", get(member_tickets))
}

pub(crate) fn ticket_view(t: TicketRow, notes: Option<Vec<TicketNote>>) -> TicketView {
    let minutes_as_hours = |m: Option<i64>| m.map(|m| as_hours(m * 60 * SECOND));
    TicketView {
        breached: t.breached(),
        response_breached: t.response_breached_at.is_some(),
        resolution_breached: t.resolution_breached_at.is_some(),
        id: t.id,
        member_id: t.member_id,
        queue: t.queue_id,
        kind: t.kind,
        category: t.category,
        status: t.status.as_str().to_owned(),
        text: t.text,
        channel: t.channel,
        source: t.source,
        opened_at: to_rfc3339(t.opened_at),
        respond_by: t.respond_by.map(to_rfc3339),
        resolve_by: t.resolve_by.map(to_rfc3339),
        responded_at: t.responded_at.map(to_rfc3339),
        resolved_at: t.resolved_at.map(to_rfc3339),
        response_hours: minutes_as_hours(t.response_minutes),
        resolution_hours: minutes_as_hours(t.resolution_minutes),
        assignee: t.assignee,
        reopened: t.reopened,
        notes: notes.map(|ns| {
            ns.into_iter()
                .map(|n| TicketNoteView {
                    at: to_rfc3339(n.at),
                    author: n.author,
                    kind: n.kind,
                    note: n.note,
                })
                .collect()
        }),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(ErrorCode::TicketNotFound, format!("no ticket {id:?}"))
}

fn ticket_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| not_found(raw))
}

fn member_missing(member: i64) -> ApiError {
    ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {member}"))
}

/// Sends `body` — an event Flywheel makes for a member, under an id of its own — in
/// and waits for it to be applied and, written behind, for the rows it derives to be
/// written; true when it was there before. A retry sends the same id at a later
/// instant, which ingest calls a reused id: the first was applied, so it counts as there.
pub(crate) async fn send_event(state: &AppState, body: Value) -> Result<bool, ApiError> {
    let now = state.now();
    let event =
        parse_event(&body, &state.policy.parse_context(now)).map_err(ApiError::invalid_event)?;
    let before = match state.event_queue().submit(event, now).await? {
        EventResult::Accepted(_) => false,
        EventResult::Duplicate(_) => true,
        EventResult::Rejected(r) if r.code == ErrorCode::EventIdReused => true,
        EventResult::Rejected(r) => {
            let mut e = ApiError::new(r.code, r.message);
            e.field = r.field;
            return Err(e);
        }
    };
    state.store.settle().await?;
    Ok(before)
}

/// The identity to send a member's events under.
async fn handle(state: &AppState, member: i64) -> Result<(String, String), ApiError> {
    state
        .store
        .member_handle(member)
        .await?
        .ok_or_else(|| member_missing(member))
}

/// List tickets
#[utoipa::path(get, path = "/v1/tickets", tag = "service",
    params(("queue" = Option<String>, Query, description = "A queue id"),
        ("status" = Option<String>, Query, description = "open, responded or resolved"),
        ("breached" = Option<bool>, Query, description = "true: only tickets past a target without its answer"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 100")),
    responses((status = 200, body = TicketList, description = "Newest first")),
    security(("bearer" = [])))]
pub async fn list_tickets(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<TicketList>, ApiError> {
    let mut q = TicketQuery {
        limit: 100,
        ..TicketQuery::default()
    };
    for (k, v) in params {
        let bad = |m: &str| ApiError::new(ErrorCode::InvalidQuery, m.to_owned()).field(k.clone());
        match k.as_str() {
            "queue" => q.queue = Some(v),
            "status" => {
                q.status = Some(
                    TicketStatus::parse(&v)
                        .ok_or_else(|| bad("status is open, responded or resolved"))?,
                )
            }
            "breached" => {
                q.breached = Some(match v.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(bad("breached is true or false")),
                })
            }
            "limit" => q.limit = i64::from(crate::params::limit(&v, 1000)?),
            other => return Err(crate::params::unknown(other)),
        }
    }
    let tickets = state
        .store
        .tickets(&q)
        .await?
        .into_iter()
        .map(|t| ticket_view(t, None))
        .collect();
    Ok(Json(TicketList { tickets }))
}

/// A member's tickets
#[utoipa::path(get, path = "/v1/members/{id}/tickets", tag = "service",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = TicketList, description = "Newest first, with those of members merged into this one"),
        (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_tickets(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TicketList>, ApiError> {
    let member = member_id(&id)?;
    let brief = state
        .store
        .member_brief(member)
        .await?
        .ok_or_else(|| member_missing(member))?;
    let q = TicketQuery {
        member_id: Some(brief.member_id),
        limit: 1000,
        ..TicketQuery::default()
    };
    let tickets = state
        .store
        .tickets(&q)
        .await?
        .into_iter()
        .map(|t| ticket_view(t, None))
        .collect();
    Ok(Json(TicketList { tickets }))
}

/// One ticket, with its timeline
#[utoipa::path(get, path = "/v1/tickets/{id}", tag = "service",
    params(("id" = i64, Path, description = "Ticket id")),
    responses((status = 200, body = TicketView), (status = 404, description = "ticket_not_found")),
    security(("bearer" = [])))]
pub async fn get_ticket(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TicketView>, ApiError> {
    let n = ticket_id(&id)?;
    let t = state.store.ticket(n).await?.ok_or_else(|| not_found(&id))?;
    let notes = state.store.ticket_notes(n).await?;
    Ok(Json(ticket_view(t, Some(notes))))
}

/// Open a ticket for a member
///
/// A complaint or suggestion is sent in as the member's `feedback` event (event id
/// `staff-ticket-<idempotency_key>`), which opens the ticket in the queue its category
/// routes to; a request opens directly. A retry with the same key answers 200 with the
/// same ticket.
#[utoipa::path(post, path = "/v1/tickets", tag = "service",
    request_body(content = TicketInput),
    responses((status = 201, body = TicketView, description = "Opened"),
        (status = 200, body = TicketView, description = "Opened before under this key"),
        (status = 404, description = "member_not_found"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn open_ticket(
    caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let input: TicketInput = typed(body)?;
    let key = check_line("idempotency_key", &input.idempotency_key, 100)?;
    if key.is_empty() {
        return Err(
            ApiError::new(ErrorCode::InvalidValue, "idempotency_key is empty")
                .field("idempotency_key"),
        );
    }
    let category = input
        .category
        .as_deref()
        .map(|c| check_line("category", c, 64))
        .transpose()?
        .filter(|c| !c.is_empty());
    let text = input
        .text
        .as_deref()
        .map(|t| check_paragraph("text", t, 4000))
        .transpose()?;
    let member = input.member_id;
    match input.kind.as_str() {
        "complaint" | "suggestion" => {
            let event_id = format!("staff-ticket-{key}");
            let source = format!("event:{event_id}");
            if let Some(t) = state.store.ticket_from(&source).await? {
                return Ok((StatusCode::OK, Json(ticket_view(t, None))));
            }
            let (kind, value) = handle(&state, member).await?;
            let mut properties = json!({"kind": input.kind, "text": text});
            if let Some(c) = &category {
                properties["category"] = json!(c);
            }
            send_event(
                &state,
                json!({"event_id": event_id, "type": "feedback",
                    "occurred_at": to_rfc3339(state.now()),
                    "channel": input.channel.as_deref().unwrap_or("call_center"),
                    "identities": {kind: value}, "properties": properties}),
            )
            .await?;
            let t = state
                .store
                .ticket_from(&source)
                .await?
                .ok_or_else(|| ApiError::internal("the feedback event opened no ticket"))?;
            Ok((StatusCode::CREATED, Json(ticket_view(t, None))))
        }
        "request" => {
            let brief = state
                .store
                .member_brief(member)
                .await?
                .ok_or_else(|| member_missing(member))?;
            let (t, fresh) = state
                .store
                .open_ticket(
                    &format!("staff:{key}"),
                    brief.member_id,
                    "request",
                    category.as_deref(),
                    text,
                    &caller.audit_actor(),
                    state.now(),
                )
                .await?;
            let status = if fresh {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(ticket_view(t, None))))
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidValue,
            "kind is complaint, suggestion or request",
        )
        .field("kind")),
    }
}

fn note_of(body: Value) -> Result<(Option<String>, Option<String>), ApiError> {
    let input: TicketNoteInput = typed(body)?;
    let note = input
        .note
        .as_deref()
        .map(|n| check_paragraph("note", n, 4000))
        .transpose()?
        .filter(|n| !n.trim().is_empty());
    let key = input
        .idempotency_key
        .as_deref()
        .map(|k| check_line("idempotency_key", k, 100))
        .transpose()?;
    Ok((note, key))
}

pub(crate) async fn make_move(
    state: &AppState,
    caller: &Caller,
    id: &str,
    step: Move,
    body: Value,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let n = ticket_id(id)?;
    let (note, _) = note_of(body)?;
    let t = state.store.ticket(n).await?.ok_or_else(|| not_found(id))?;
    let mut reopened_as = None;
    if step.apply(t.status).is_some() && t.kind == "complaint" && step != Move::Respond {
        let (kind, value) = handle(state, t.member_id).await?;
        let now = to_rfc3339(state.now());
        match step {
            // The member's complaint closes first, under an id the ticket fixes: a
            // retry after a failure between the two writes sends nothing new.
            Move::Resolve => {
                let within = t
                    .respond_by
                    .is_none_or(|by| t.responded_at.unwrap_or(state.now()) <= by)
                    && t.resolve_by.is_none_or(|by| state.now() <= by);
                send_event(
                    state,
                    json!({"event_id": format!("ticket-{n}-resolved-{}", t.reopened),
                        "type": "complaint_resolved", "occurred_at": now, "channel": "call_center",
                        "identities": {kind: value},
                        "properties": {"complaint_event_id": t.complaint_event_id,
                            "within_target": within, "ticket_id": n}}),
                )
                .await?;
            }
            Move::Reopen => {
                let event_id = format!("ticket-{n}-reopened-{}", t.reopened + 1);
                send_event(
                    state,
                    json!({"event_id": event_id, "type": "feedback", "occurred_at": now,
                        "channel": "call_center", "identities": {kind: value},
                        "properties": {"kind": "complaint", "category": t.category, REOPENS: n}}),
                )
                .await?;
                reopened_as = Some(event_id);
            }
            Move::Respond => {}
        }
    }
    let moved = state
        .store
        .move_ticket(
            n,
            step,
            note.as_deref(),
            reopened_as.as_deref(),
            &caller.audit_actor(),
            state.now(),
        )
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(match moved {
        Moved::Changed(t) => (StatusCode::OK, Json(ticket_view(t, None))),
        Moved::Unchanged(t) => (StatusCode::OK, Json(ticket_view(t, None))),
    })
}

/// Answer a ticket
///
/// The first answer stops the response clock; answering again changes nothing.
#[utoipa::path(post, path = "/v1/tickets/{id}/respond", tag = "service",
    params(("id" = i64, Path, description = "Ticket id")),
    request_body(content = TicketNoteInput),
    responses((status = 200, body = TicketView), (status = 404, description = "ticket_not_found")),
    security(("bearer" = [])))]
pub async fn respond(
    caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    make_move(&state, &caller, &id, Move::Respond, body).await
}

/// Resolve a ticket
///
/// A complaint's resolution closes the member's open complaint (a `complaint_resolved`
/// event, `within_target` when both targets were met), lifting the stage cap at once.
/// Resolving a resolved ticket changes nothing.
#[utoipa::path(post, path = "/v1/tickets/{id}/resolve", tag = "service",
    params(("id" = i64, Path, description = "Ticket id")),
    request_body(content = TicketNoteInput),
    responses((status = 200, body = TicketView), (status = 404, description = "ticket_not_found or member_not_found")),
    security(("bearer" = [])))]
pub async fn resolve(
    caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    make_move(&state, &caller, &id, Move::Resolve, body).await
}

/// Reopen a resolved ticket
///
/// A new resolution target counts from now; a complaint opens again for the member.
#[utoipa::path(post, path = "/v1/tickets/{id}/reopen", tag = "service",
    params(("id" = i64, Path, description = "Ticket id")),
    request_body(content = TicketNoteInput),
    responses((status = 200, body = TicketView), (status = 404, description = "ticket_not_found or member_not_found")),
    security(("bearer" = [])))]
pub async fn reopen(
    caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    make_move(&state, &caller, &id, Move::Reopen, body).await
}

/// Comment on a ticket
///
/// Added to its timeline; with an `idempotency_key`, a retry adds nothing.
#[utoipa::path(post, path = "/v1/tickets/{id}/comments", tag = "service",
    params(("id" = i64, Path, description = "Ticket id")),
    request_body(content = TicketNoteInput),
    responses((status = 201, body = TicketView, description = "Added"),
        (status = 200, body = TicketView, description = "Added before under this key"),
        (status = 404, description = "ticket_not_found"),
        (status = 422, description = "note is required")),
    security(("bearer" = [])))]
pub async fn comment(
    caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let n = ticket_id(&id)?;
    let (note, key) = note_of(body)?;
    let note = note
        .ok_or_else(|| ApiError::new(ErrorCode::MissingField, "note is required").field("note"))?;
    let added = state
        .store
        .comment_ticket(n, &note, key.as_deref(), &caller.audit_actor(), state.now())
        .await?
        .ok_or_else(|| not_found(&id))?;
    let t = state.store.ticket(n).await?.ok_or_else(|| not_found(&id))?;
    let notes = state.store.ticket_notes(n).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ticket_view(t, Some(notes)))))
}

/// Assign a ticket to a member of staff
#[utoipa::path(post, path = "/v1/tickets/{id}/assign", tag = "service",
    params(("id" = i64, Path, description = "Ticket id")),
    request_body(content = TicketAssignInput),
    responses((status = 200, body = TicketView),
        (status = 404, description = "ticket_not_found or staff_not_found")),
    security(("bearer" = [])))]
pub async fn assign(
    caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let n = ticket_id(&id)?;
    let input: TicketAssignInput = typed(body)?;
    let staff = state
        .store
        .staff_member(&input.staff_id)
        .await?
        .filter(|s| s.active)
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::StaffNotFound,
                format!("no active member of staff {:?}", input.staff_id),
            )
            .field("staff_id")
        })?;
    let moved = state
        .store
        .assign_ticket(n, &staff.id, &caller.audit_actor(), state.now())
        .await?
        .ok_or_else(|| not_found(&id))?;
    let t = match moved {
        Moved::Changed(t) | Moved::Unchanged(t) => t,
    };
    Ok((StatusCode::OK, Json(ticket_view(t, None))))
}
