//! Customer groups (issue 22): `GET /v1/wecom/groups` lists the WeCom group chats the
//! callback has seen, with how many customers are in each now, and `PUT
//! /v1/wecom/groups/{chat_id}` gives one a name (WeCom's pushes carry none); audited.
//! A member's own groups are in their facts (`groups`) and the segment language
//! (`in_group`, `groups_count`).

use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::service_views::{WecomGroupInput, WecomGroupView, WecomGroupsView};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::check_line;
use flywheel_store::WecomGroupRow;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/wecom/groups", get(list_groups))
        .route("/v1/wecom/groups/{chat_id}", put(name_group))
}

fn view(g: WecomGroupRow) -> WecomGroupView {
    WecomGroupView {
        chat_id: g.chat_id,
        name: g.name,
        created_at: to_rfc3339(g.created_at),
        dismissed_at: g.dismissed_at.map(to_rfc3339),
        members: g.members,
    }
}

/// WeCom customer groups
///
/// Every group chat the WeCom callback has seen (up to 1,000), the largest first, with
/// the customers in it now.
#[utoipa::path(get, path = "/v1/wecom/groups", tag = "service",
    responses((status = 200, body = WecomGroupsView)),
    security(("bearer" = [])))]
pub async fn list_groups(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
) -> Result<Json<WecomGroupsView>, ApiError> {
    let groups = state.store.wecom_groups().await?;
    Ok(Json(WecomGroupsView {
        groups: groups.into_iter().map(view).collect(),
    }))
}

/// Name a WeCom customer group
///
/// Staff's name for the group, shown wherever it is listed; audited.
#[utoipa::path(put, path = "/v1/wecom/groups/{chat_id}", tag = "service",
    params(("chat_id" = String, Path, description = "The group's WeCom chat id")),
    request_body(content = WecomGroupInput),
    responses((status = 200, body = WecomGroupView),
        (status = 404, description = "not_found: the callback has not seen this group"),
        (status = 422, description = "name missing, empty, or longer than 100 characters")),
    security(("bearer" = [])))]
pub async fn name_group(
    caller: Allowed<need::ManageService>,
    State(state): State<AppState>,
    Path(chat_id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<WecomGroupView>, ApiError> {
    let input: WecomGroupInput = typed(body)?;
    let name = check_line("name", &input.name, 100)?;
    if name.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidValue, "name is empty").field("name"));
    }
    let missing = || ApiError::not_found(ErrorCode::NotFound, format!("no group {chat_id:?}"));
    if !state
        .store
        .name_wecom_group(&chat_id, name.trim(), &caller.audit_actor(), state.now())
        .await?
    {
        return Err(missing());
    }
    let group = state
        .store
        .wecom_groups()
        .await?
        .into_iter()
        .find(|g| g.chat_id == chat_id)
        .ok_or_else(missing)?;
    Ok(Json(view(group)))
}
