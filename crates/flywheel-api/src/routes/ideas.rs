//! The co-creation board (issue 22): `GET /v1/ideas` (the board, by status), `GET
//! /v1/ideas/{id}`, `POST /v1/ideas` (a member's suggestion sent in, as a `feedback`
//! event: every suggestion lands on the board the same way) and `POST
//! /v1/ideas/{id}/decision` — a person moves an idea along the board, names its owner
//! and the note the member reads (audited; the member is told). Adopting an idea
//! credits its member: a `co_creation` participation, which counts toward
//! `super_strong`, plus the points and badge the adoption names — each once.

use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::idea_views::{IdeaDecisionInput, IdeaDecisionView, IdeaInput, IdeaView, IdeasView};
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::idea::{CO_CREATION, STATUSES};
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::{check_line, check_paragraph};
use flywheel_store::{AdjustRequest, AuditActor, IdeaChange, IdeaRow, idea_id};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/ideas", get(list_ideas).post(send_idea))
        .route("/v1/ideas/{id}", get(get_idea))
        .route("/v1/ideas/{id}/decision", post(decide))
}

pub(crate) fn view(i: IdeaRow) -> IdeaView {
    IdeaView {
        id: i.id,
        event_id: i.event_id,
        member_id: i.member_id,
        text: i.text,
        category: i.category,
        via: i.via,
        status: i.status,
        owner_staff_id: i.owner_staff_id,
        public_note: i.public_note,
        reason: i.reason,
        reward_points: i.reward_points,
        badge: i.badge,
        created_at: to_rfc3339(i.created_at),
        updated_at: to_rfc3339(i.updated_at),
        updated_by: i.updated_by,
    }
}

async fn idea_row(state: &AppState, id: &str) -> Result<IdeaRow, ApiError> {
    state
        .store
        .idea(id)
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::IdeaNotFound, format!("no idea {id:?}")))
}

/// The co-creation board
///
/// Ideas (up to `limit`, default 200, at most 1,000), the newest first, of one
/// `status` or all, with the count of each status on the whole board.
#[utoipa::path(get, path = "/v1/ideas", tag = "ideas",
    params(("status" = Option<String>, Query, description = "received, under_review, adopted, shipped or declined"),
           ("limit" = Option<u32>, Query, description = "1–1000, default 200")),
    responses((status = 200, body = IdeasView),
        (status = 400, description = "invalid_query: an unknown status or parameter")),
    security(("bearer" = [])))]
pub async fn list_ideas(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Params(pairs): Params,
) -> Result<Json<IdeasView>, ApiError> {
    let mut status = None;
    let mut limit = 200;
    for (k, v) in pairs {
        match k.as_str() {
            "status" if STATUSES.contains(&v.as_str()) => status = Some(v),
            "limit" => match v.parse::<i64>() {
                Ok(n) if (1..=1000).contains(&n) => limit = n,
                _ => {
                    return Err(
                        ApiError::new(ErrorCode::InvalidQuery, "limit is 1 to 1000").field("limit")
                    );
                }
            },
            "status" => {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("status is one of {}", STATUSES.join(", ")),
                )
                .field("status"));
            }
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("unknown parameter {other:?}"),
                )
                .field(other));
            }
        }
    }
    let ideas = state.store.ideas(status.as_deref(), limit).await?;
    Ok(Json(IdeasView {
        counts: state.store.idea_counts().await?.into_iter().collect(),
        ideas: ideas.into_iter().map(view).collect(),
    }))
}

/// An idea
#[utoipa::path(get, path = "/v1/ideas/{id}", tag = "ideas",
    params(("id" = String, Path, description = "Idea id")),
    responses((status = 200, body = IdeaView), (status = 404, description = "idea_not_found")),
    security(("bearer" = [])))]
pub async fn get_idea(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IdeaView>, ApiError> {
    Ok(Json(view(idea_row(&state, &id).await?)))
}

/// Sends a member's suggestion as their `feedback` event (kind suggestion); the ingest
/// puts it on the board. The API's and the member card's (`via` card). Answers the idea.
pub(crate) async fn suggest(
    state: &AppState,
    member: i64,
    text: &str,
    category: Option<&str>,
    key: &str,
    via: &str,
) -> Result<IdeaRow, ApiError> {
    let text = check_paragraph("text", text, 4000)?;
    if text.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidValue, "text is empty").field("text"));
    }
    let key = check_line("idempotency_key", key, 100)?;
    if key.trim().is_empty() {
        return Err(
            ApiError::new(ErrorCode::InvalidValue, "idempotency_key is empty")
                .field("idempotency_key"),
        );
    }
    let (kind, value) = state.store.member_handle(member).await?.ok_or_else(|| {
        ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {member}"))
            .field("member_id")
    })?;
    let event_id = format!("idea-{key}");
    let channel = if via == "card" { "web" } else { "app" };
    let channel = flywheel_core::Channel::find(&state.policy.channels, channel)
        .or_else(|| state.policy.channels.first().copied())
        .map_or_else(|| channel.to_owned(), |c| c.as_str().to_owned());
    let mut props = json!({"kind": "suggestion", "text": text.trim(), "via": via});
    if let Some(c) = category {
        props["category"] = json!(c);
    }
    let raw = json!({"event_id": event_id, "type": "feedback",
        "occurred_at": to_rfc3339(state.now()), "channel": channel,
        "identities": {kind: value}, "properties": props});
    super::tickets::send_event(state, raw).await?;
    idea_row(state, &idea_id(&event_id)).await
}

/// Send in a member's idea
///
/// As the member's `feedback` event of kind suggestion (which every channel may send
/// too): it lands on the board `received`. Retrying with the same key adds nothing.
#[utoipa::path(post, path = "/v1/ideas", tag = "ideas",
    request_body(content = IdeaInput),
    responses((status = 201, body = IdeaView),
        (status = 404, description = "member_not_found"),
        (status = 409, description = "event_id_reused: the key was used for other words"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn send_idea(
    _caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<IdeaView>), ApiError> {
    let input: IdeaInput = typed(body)?;
    let idea = suggest(
        &state,
        input.member_id,
        &input.text,
        input.category.as_deref(),
        &input.idempotency_key,
        "api",
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(idea))))
}

/// Decide on an idea
///
/// Moves it along the board, names its owner, the note the member reads, and what its
/// adoption gives; audited, and a move is told to the member through the outbox. On
/// adoption the member gets a `co_creation` participation (toward `super_strong`), the
/// `reward_points` (an adjustment) and the `badge` — each once, whatever is retried.
#[utoipa::path(post, path = "/v1/ideas/{id}/decision", tag = "ideas",
    params(("id" = String, Path, description = "Idea id")),
    request_body(content = IdeaDecisionInput),
    responses((status = 200, body = IdeaDecisionView),
        (status = 404, description = "idea_not_found or staff_not_found"),
        (status = 409, description = "invalid_transition: the board does not allow the move"),
        (status = 422, description = "A field that does not check, named (a decline without a reason)")),
    security(("bearer" = [])))]
pub async fn decide(
    caller: Allowed<need::ManageService>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<IdeaDecisionView>, ApiError> {
    let input: IdeaDecisionInput = typed(body)?;
    Ok(Json(
        apply_decision(&state, &id, &input, caller.audit_actor()).await?,
    ))
}

/// A person's decision on an idea, checked, applied and credited: the API's and the
/// cockpit board's.
pub(crate) async fn apply_decision(
    state: &AppState,
    id: &str,
    input: &IdeaDecisionInput,
    actor: AuditActor,
) -> Result<IdeaDecisionView, ApiError> {
    let line = |field: &str, v: &Option<String>, max: usize| -> Result<Option<String>, ApiError> {
        Ok(v.as_deref()
            .map(|t| check_paragraph(field, t, max))
            .transpose()?)
    };
    if let Some(p) = input.reward_points
        && !(0..=100_000).contains(&p)
    {
        return Err(
            ApiError::new(ErrorCode::OutOfRange, "reward_points is 0 to 100,000")
                .field("reward_points"),
        );
    }
    if let Some(staff) = &input.owner_staff_id
        && state
            .store
            .staff_member(staff)
            .await?
            .filter(|s| s.active)
            .is_none()
    {
        return Err(ApiError::not_found(
            ErrorCode::StaffNotFound,
            format!("no active member of staff {staff:?}"),
        )
        .field("owner_staff_id"));
    }
    let change = IdeaChange {
        status: input.status.clone(),
        reason: line("reason", &input.reason, 1000)?,
        public_note: line("public_note", &input.public_note, 1000)?,
        owner_staff_id: input.owner_staff_id.clone(),
        reward_points: input.reward_points,
        badge: input
            .badge
            .as_deref()
            .map(|b| check_line("badge", b, 64))
            .transpose()?,
    };
    let (idea, moved) = state
        .store
        .change_idea(id, &change, &actor, state.now())
        .await?;
    let (participation_event_id, reward_ledger_key) =
        if matches!(idea.status.as_str(), "adopted" | "shipped") {
            credit(state, &idea, actor).await?
        } else {
            (None, None)
        };
    Ok(IdeaDecisionView {
        idea: view(idea),
        moved,
        participation_event_id,
        reward_ledger_key,
    })
}

/// An adopted idea's credit to its member, each part keyed by the idea so a retry (or
/// the move on to shipped) gives nothing twice.
async fn credit(
    state: &AppState,
    idea: &IdeaRow,
    actor: AuditActor,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let now = state.now();
    let member = idea.member_id;
    let (kind, value) = state.store.member_handle(member).await?.ok_or_else(|| {
        ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {member}"))
    })?;
    let event_id = format!("{}:adopted", idea.id);
    let channel = state
        .policy
        .channels
        .first()
        .map_or("app".to_owned(), |c| c.as_str().to_owned());
    let raw = json!({"event_id": event_id, "type": "participation",
        "occurred_at": to_rfc3339(now), "channel": channel,
        "identities": {kind: value},
        "properties": {"kind": CO_CREATION, "idea_id": idea.id}});
    super::tickets::send_event(state, raw).await?;
    let mut ledger = None;
    if idea.reward_points > 0 {
        let req = AdjustRequest {
            member_id: member,
            points: idea.reward_points,
            reason: "an idea adopted on the co-creation board".into(),
            programme: state.policy.points.default_programme().to_owned(),
            idempotency_key: format!("{}:reward", idea.id),
            actor,
        };
        ledger = Some(
            state
                .store
                .adjust_points(&req, &state.policy.points, now)
                .await?
                .0,
        );
    }
    if let Some(badge) = &idea.badge {
        state
            .store
            .give_badge(member, &format!("idea:{}", idea.id), badge, now)
            .await?;
    }
    Ok((Some(event_id), ledger))
}
