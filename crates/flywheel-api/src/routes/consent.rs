//! Consent per member per channel: `GET` and `PUT /v1/members/{id}/consent`. Each change
//! is audited with its source; the outbox will read it before every message.

use super::member_id;
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::engagement_views::{ConsentInput, ConsentView, ConsentsView};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::engagement::{CHANNELS, is_channel};
use flywheel_core::time::to_rfc3339;
use flywheel_store::ConsentRow;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/members/{id}/consent",
        get(member_consent).put(set_consent),
    )
}

fn view(member_id: i64, rows: Vec<ConsentRow>) -> ConsentsView {
    ConsentsView {
        member_id,
        consents: rows
            .into_iter()
            .map(|c| ConsentView {
                channel: c.channel,
                granted: c.granted,
                source: c.source,
                at: to_rfc3339(c.at),
                set_by: c.set_by,
            })
            .collect(),
    }
}

fn no_member(id: i64) -> ApiError {
    ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}"))
}

/// A member's consent per channel
#[utoipa::path(get, path = "/v1/members/{id}/consent", tag = "engagement",
    params(("id" = String, Path, description = "Member id")),
    responses((status = 200, body = ConsentsView), (status = 400, description = "invalid_member_id"),
        (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_consent(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<ConsentsView>, ApiError> {
    let id = member_id(&raw)?;
    let (survivor, rows) = state
        .store
        .consents(id)
        .await?
        .ok_or_else(|| no_member(id))?;
    Ok(Json(view(survivor, rows)))
}

/// Record a grant or withdrawal of consent on one channel
///
/// Audited with its source. Recording the same word from the same source again changes
/// nothing.
#[utoipa::path(put, path = "/v1/members/{id}/consent", tag = "engagement",
    params(("id" = String, Path, description = "Member id")),
    request_body(content = ConsentInput),
    responses((status = 200, body = ConsentsView, description = "The member's consents after the change"),
        (status = 400, description = "invalid_member_id"),
        (status = 404, description = "member_not_found"),
        (status = 422, description = "An unknown channel or an unsound source, named")),
    security(("bearer" = [])))]
pub async fn set_consent(
    caller: Allowed<need::SetConsent>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<ConsentsView>, ApiError> {
    let id = member_id(&raw)?;
    let input: ConsentInput = typed(body)?;
    if !is_channel(&input.channel) {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            format!("channel is one of {}", CHANNELS.join(", ")),
        )
        .field("channel"));
    }
    let source = input.source.trim();
    let sound = !source.is_empty()
        && source.len() <= 40
        && source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !sound {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            "source is 1-40 lower-case letters, digits or '_' (call_center, app, store…)",
        )
        .field("source"));
    }
    let (survivor, rows) = state
        .store
        .set_consent(
            id,
            &input.channel,
            input.granted,
            source,
            &caller.audit_actor(),
            state.now(),
        )
        .await?
        .ok_or_else(|| no_member(id))?;
    Ok(Json(view(survivor, rows)))
}
