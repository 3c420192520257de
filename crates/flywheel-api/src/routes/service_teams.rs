//! Service teams: templates (`/v1/service-teams/templates`, admin and operator,
//! audited) and a member's team (`/v1/members/{id}/service-team`) with the notes its
//! people share.

use super::member_id;
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::service_views::{
    ServiceTeamView, TeamNoteInput, TeamNoteView, TeamPlaceView, TeamTemplateInput,
    TeamTemplateList, TeamTemplateView,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::service::team::compile_template;
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::{check_line, check_paragraph};
use flywheel_store::{TeamRow, TemplateRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/service-teams/templates", get(list_templates))
        .route(
            "/v1/service-teams/templates/{id}",
            get(get_template).put(put_template),
        )
        .route("/v1/members/{id}/service-team", get(member_team))
        .route("/v1/members/{id}/service-team/notes", post(add_note))
}

fn template_view(t: TemplateRow) -> TeamTemplateView {
    TeamTemplateView {
        id: t.id,
        definition: t.definition,
        created_at: to_rfc3339(t.created_at),
        updated_at: to_rfc3339(t.updated_at),
        updated_by: t.updated_by,
    }
}

fn team_view(t: TeamRow) -> ServiceTeamView {
    ServiceTeamView {
        id: t.id,
        template: t.template_id,
        member_id: t.member_id,
        status: t.status,
        team: t
            .team
            .into_iter()
            .map(|p| TeamPlaceView {
                staff_id: p.staff_id,
                name: p.name,
                role: p.role,
            })
            .collect(),
        missing: t.missing,
        opened_at: t.opened_at.map(to_rfc3339),
        closes_at: t.closes_at.map(to_rfc3339),
        closed_at: t.closed_at.map(to_rfc3339),
        notes: t
            .notes
            .into_iter()
            .map(|n| TeamNoteView {
                at: to_rfc3339(n.at),
                author: n.author,
                note: n.note,
            })
            .collect(),
    }
}

fn template_missing(id: &str) -> ApiError {
    ApiError::not_found(
        ErrorCode::NotFound,
        format!("no service-team template {id:?}"),
    )
}

/// The team around the member the path names (or the member it merged into).
async fn team_of(state: &AppState, raw: &str) -> Result<TeamRow, ApiError> {
    let member = member_id(raw)?;
    let brief = state.store.member_brief(member).await?.ok_or_else(|| {
        ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {member}"))
    })?;
    let team = state
        .store
        .member_team(brief.member_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::NotFound,
                format!("no service team around member {member}"),
            )
        })?;
    Ok(team)
}

/// List the service-team templates
#[utoipa::path(get, path = "/v1/service-teams/templates", tag = "service",
    responses((status = 200, body = TeamTemplateList)),
    security(("bearer" = [])))]
pub async fn list_templates(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
) -> Result<Json<TeamTemplateList>, ApiError> {
    let templates = state
        .store
        .team_templates()
        .await?
        .into_iter()
        .map(template_view)
        .collect();
    Ok(Json(TeamTemplateList { templates }))
}

/// One template
#[utoipa::path(get, path = "/v1/service-teams/templates/{id}", tag = "service",
    params(("id" = String, Path, description = "Template id")),
    responses((status = 200, body = TeamTemplateView), (status = 404, description = "not_found")),
    security(("bearer" = [])))]
pub async fn get_template(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TeamTemplateView>, ApiError> {
    let t = state
        .store
        .team_template(&id)
        .await?
        .ok_or_else(|| template_missing(&id))?;
    Ok(Json(template_view(t)))
}

/// Create or change a service-team template
///
/// From then on, each event of the trigger's type records a team to form around its
/// member; the team forms within a second from the roster — people of each role in the
/// event's store, then the member's city, then anywhere, the least loaded first — and
/// closes `close_after_days` after the `close_on` event (or after it opened). The same
/// body again answers 200.
#[utoipa::path(put, path = "/v1/service-teams/templates/{id}", tag = "service",
    params(("id" = String, Path, description = "Template id")),
    request_body(content = TeamTemplateInput),
    responses((status = 201, body = TeamTemplateView, description = "Saved"),
        (status = 200, body = TeamTemplateView, description = "Unchanged"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn put_template(
    caller: Allowed<need::ManageService>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<TeamTemplateView>), ApiError> {
    let input: TeamTemplateInput = typed(body.clone())?;
    super::same_id(&id, input.id.as_ref())?;
    super::check_slug(&id, "a template id")?;
    if let Some(n) = &input.name {
        check_line("name", n, 100)?;
    }
    let mut definition = body;
    if let Some(map) = definition.as_object_mut() {
        map.remove("id");
    }
    let template = compile_template(&id, &definition, &state.policy.language())?;
    let (row, changed) = state
        .store
        .save_team_template(
            &id,
            &definition,
            &template.trigger_event,
            &caller.audit_actor(),
            state.now(),
        )
        .await?;
    let status = if changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(template_view(row))))
}

/// The member's service team
///
/// Their open team (else the one forming, else the last closed), with its people and
/// notes.
#[utoipa::path(get, path = "/v1/members/{id}/service-team", tag = "service",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = ServiceTeamView),
        (status = 404, description = "member_not_found, or not_found: no team around the member")),
    security(("bearer" = [])))]
pub async fn member_team(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ServiceTeamView>, ApiError> {
    let team = team_of(&state, &id).await?;
    Ok(Json(team_view(team)))
}

/// Add a note to the member's service team
#[utoipa::path(post, path = "/v1/members/{id}/service-team/notes", tag = "service",
    params(("id" = i64, Path, description = "Member id")),
    request_body(content = TeamNoteInput),
    responses((status = 201, body = ServiceTeamView, description = "Added"),
        (status = 200, body = ServiceTeamView, description = "Added before under this key"),
        (status = 404, description = "member_not_found, or not_found: no team around the member")),
    security(("bearer" = [])))]
pub async fn add_note(
    caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<ServiceTeamView>), ApiError> {
    let input: TeamNoteInput = typed(body)?;
    let note = check_paragraph("note", &input.note, 4000)?;
    if note.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidValue, "note is empty").field("note"));
    }
    let key = input
        .idempotency_key
        .as_deref()
        .map(|k| check_line("idempotency_key", k, 100))
        .transpose()?;
    let team = team_of(&state, &id).await?;
    let added = state
        .store
        .note_team(
            team.id,
            &note,
            key.as_deref(),
            &caller.audit_actor().reference,
            state.now(),
        )
        .await?;
    let team = team_of(&state, &id).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(team_view(team))))
}
