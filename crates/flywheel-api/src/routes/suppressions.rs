//! The global suppression list: `GET /v1/suppressions`, and `PUT` / `DELETE
//! /v1/members/{id}/suppressions/{channel}` (`*` for every channel). Nothing is sent to a
//! member on a listed channel whatever their consent; the outbox keeps each message it
//! stopped, with the reason `suppression_list`.

use super::member_id;
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::engagement_views::{SuppressionInput, SuppressionList, SuppressionView};
use crate::error::ApiError;
use crate::params::{Params, limit, unknown};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::engagement::{CHANNELS, is_channel};
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::check_line;
use flywheel_store::SuppressionRow;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/suppressions", get(list)).route(
        "/v1/members/{id}/suppressions/{channel}",
        put(suppress).delete(unsuppress),
    )
}

fn view(r: SuppressionRow) -> SuppressionView {
    SuppressionView {
        member_id: r.member_id,
        channel: r.channel,
        reason: r.reason,
        at: to_rfc3339(r.at),
        set_by: r.set_by,
    }
}

fn no_member(id: i64) -> ApiError {
    ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}"))
}

fn checked_channel(channel: &str) -> Result<(), ApiError> {
    if channel == "*" || is_channel(channel) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidValue,
            format!("channel is * or one of {}", CHANNELS.join(", ")),
        )
        .field("channel"))
    }
}

/// The suppression list
///
/// Newest first: `?member_id=` for one member's entries, `?limit=` (1-1000, 100).
#[utoipa::path(get, path = "/v1/suppressions", tag = "engagement",
    params(("member_id" = Option<i64>, Query, description = "One member's entries"),
        ("limit" = Option<u32>, Query, description = "1-1000; 100 by default")),
    responses((status = 200, body = SuppressionList), (status = 400, description = "invalid_query or invalid_member_id")),
    security(("bearer" = [])))]
pub async fn list(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<SuppressionList>, ApiError> {
    let (mut member, mut most) = (None, 100);
    for (k, v) in params {
        match k.as_str() {
            "member_id" => member = Some(member_id(&v).map_err(|e| e.field("member_id"))?),
            "limit" => most = i64::from(limit(&v, 1000)?),
            other => return Err(unknown(other)),
        }
    }
    let suppressions = state
        .store
        .suppressions(member, most)
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(Json(SuppressionList { suppressions }))
}

/// Put a member on the suppression list for a channel
///
/// `*` stops every channel. Audited. Listing a member again answers the entry on record.
#[utoipa::path(put, path = "/v1/members/{id}/suppressions/{channel}", tag = "engagement",
    params(("id" = String, Path, description = "Member id"),
        ("channel" = String, Path, description = "sms, email, wechat, push, webhook or *")),
    request_body(content = SuppressionInput),
    responses((status = 201, body = SuppressionView, description = "Listed"),
        (status = 200, body = SuppressionView, description = "Listed before"),
        (status = 400, description = "invalid_member_id"),
        (status = 404, description = "member_not_found"),
        (status = 422, description = "An unknown channel or an unsound reason, named")),
    security(("bearer" = [])))]
pub async fn suppress(
    caller: Allowed<need::SetConsent>,
    State(state): State<AppState>,
    Path((raw, channel)): Path<(String, String)>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<SuppressionView>), ApiError> {
    let id = member_id(&raw)?;
    checked_channel(&channel)?;
    let input: SuppressionInput = typed(body)?;
    let reason = check_line("reason", &input.reason, 200)?;
    if reason.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidValue, "reason is empty").field("reason"));
    }
    let (row, created) = state
        .store
        .suppress(id, &channel, &reason, &caller.audit_actor(), state.now())
        .await?
        .ok_or_else(|| no_member(id))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(row))))
}

/// Take a member off the suppression list for a channel
#[utoipa::path(delete, path = "/v1/members/{id}/suppressions/{channel}", tag = "engagement",
    params(("id" = String, Path, description = "Member id"),
        ("channel" = String, Path, description = "sms, email, wechat, push, webhook or *")),
    responses((status = 204, description = "Taken off"),
        (status = 400, description = "invalid_member_id"),
        (status = 404, description = "member_not_found, or not_found: not on the list for that channel"),
        (status = 422, description = "An unknown channel")),
    security(("bearer" = [])))]
pub async fn unsuppress(
    caller: Allowed<need::SetConsent>,
    State(state): State<AppState>,
    Path((raw, channel)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = member_id(&raw)?;
    checked_channel(&channel)?;
    match state
        .store
        .unsuppress(id, &channel, &caller.audit_actor(), state.now())
        .await?
    {
        None => Err(no_member(id)),
        Some(true) => Ok(StatusCode::NO_CONTENT),
        Some(false) => Err(ApiError::not_found(
            ErrorCode::NotFound,
            format!("member {id} is not on the list for {channel}"),
        )),
    }
}
