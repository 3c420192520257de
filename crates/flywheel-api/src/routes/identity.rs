//! Identity decisions made by people: the conflicts identity resolution refused to
//! settle, merging two members by hand, and dismissing a conflict (not the same person).

use super::member_id;
use super::members::{document, load};
use crate::auth::{Allowed, Caller, need};
use crate::body::{JsonValue, SMALL};
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use crate::views::{ConflictList, ConflictView, MemberDoc};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::time::to_rfc3339;
use flywheel_store::ConflictRow;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/identity-conflicts", get(conflicts))
        .route("/v1/identity-conflicts/{id}/dismiss", post(dismiss))
        .route("/v1/members/{id}/merge", post(merge))
}

fn view(c: ConflictRow) -> ConflictView {
    ConflictView {
        id: c.id,
        created_at: to_rfc3339(c.created_at),
        event_id: c.event_id,
        kind: c.kind,
        member_ids: c.member_ids,
        values: c.values,
        explanation: c.explanation,
        status: c.status,
        resolved_at: c.resolved_at.map(to_rfc3339),
        resolved_by: c.resolved_by,
    }
}

/// Identity conflicts: merges refused because one member would hold two values of a unique kind
#[utoipa::path(get, path = "/v1/identity-conflicts", tag = "identity",
    params(("status" = Option<String>, Query, description = "open (default), merged, dismissed or all"),
           ("after" = Option<i64>, Query, description = "`next` from the previous page"),
           ("limit" = Option<u32>, Query, description = "1–500, default 100")),
    responses((status = 200, body = ConflictList)),
    security(("bearer" = [])))]
pub async fn conflicts(
    _caller: Allowed<need::ReadConflicts>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<ConflictList>, ApiError> {
    let (mut status, mut after, mut limit) = (Some("open".to_owned()), 0_i64, 100_u32);
    for (k, v) in params {
        match k.as_str() {
            "status" => {
                status = match v.as_str() {
                    "all" => None,
                    "open" | "merged" | "dismissed" => Some(v),
                    _ => {
                        return Err(ApiError::new(
                            ErrorCode::InvalidQuery,
                            "status must be open, merged, dismissed or all",
                        )
                        .field("status"));
                    }
                }
            }
            "after" => {
                after = v.parse().map_err(|_| {
                    ApiError::new(ErrorCode::InvalidQuery, "after must be a number").field("after")
                })?
            }
            "limit" => limit = crate::params::limit(&v, 500)?,
            other => {
                return Err(crate::params::unknown(other));
            }
        }
    }
    let rows = state
        .store
        .conflicts(status.as_deref(), after, limit + 1)
        .await?;
    let more = rows.len() > limit as usize;
    let conflicts: Vec<ConflictView> = rows.into_iter().take(limit as usize).map(view).collect();
    let next = if more {
        conflicts.last().map(|c| c.id)
    } else {
        None
    };
    Ok(Json(ConflictList { conflicts, next }))
}

fn reason_of(body: &serde_json::Value) -> Result<String, ApiError> {
    match body.get("reason") {
        Some(serde_json::Value::String(r)) => Ok(flywheel_core::validation::check_paragraph(
            "reason", r, 500,
        )?),
        Some(_) => {
            Err(ApiError::new(ErrorCode::InvalidType, "reason must be a string").field("reason"))
        }
        None => Err(ApiError::new(
            ErrorCode::MissingField,
            "reason is required: say why, for the audit log",
        )
        .field("reason")),
    }
}

/// `POST /v1/members/{id}/merge`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct MergeInput {
    /// The member to merge in.
    #[schema(minimum = 1)]
    member_id: i64,
    /// Why, for the audit log: "same person, confirmed at the till".
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// Merge another member into this one (manual, audited)
///
/// Body: `{"member_id": OTHER, "reason": "…"}`. The member in the path survives; the
/// other's identities, events, facts and history move to it, and open conflicts between
/// the two are closed as merged. Unique-kind clashes are allowed: a person decided.
#[utoipa::path(post, path = "/v1/members/{id}/merge", tag = "identity",
    params(("id" = i64, Path, description = "The member that survives")),
    request_body(content = MergeInput),
    responses((status = 200, body = MemberDoc), (status = 404, description = "member_not_found"),
              (status = 409, description = "already_merged: both ids are one member"), (status = 422, description = "missing reason or member_id")),
    security(("bearer" = [])))]
pub async fn merge(
    caller: Allowed<need::ManageIdentities>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<MemberDoc>, ApiError> {
    let survivor = member_id(&id)?;
    let other = match body.get("member_id") {
        Some(v) => v.as_i64().filter(|v| *v > 0).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidType,
                "member_id must be a member id (a positive integer)",
            )
            .field("member_id")
        })?,
        None => {
            return Err(ApiError::new(
                ErrorCode::MissingField,
                "member_id is required: the member to merge in",
            )
            .field("member_id"));
        }
    };
    let reason = reason_of(&body)?;
    let merged = merge_members(&state, &caller, survivor, other, &reason).await?;
    Ok(Json(document(&state, &merged).await?))
}

/// Merges `other` into `survivor` as `caller` asked, audited; the cockpit's merge
/// button comes here too.
pub(crate) async fn merge_members(
    state: &AppState,
    caller: &Caller,
    survivor: i64,
    other: i64,
    reason: &str,
) -> Result<flywheel_core::ingest::MemberState, ApiError> {
    let (a, b) = (load(state, survivor).await?, load(state, other).await?);
    if let Some(erased) = [&a, &b].into_iter().find(|m| m.erased_at.is_some()) {
        return Err(ApiError::new(
            ErrorCode::MemberErased,
            format!(
                "member {}'s personal data was erased; it cannot be merged",
                erased.id
            ),
        ));
    }
    if a.id == b.id {
        return Err(ApiError::new(
            ErrorCode::AlreadyMerged,
            format!(
                "members {survivor} and {other} are already one member ({})",
                a.id
            ),
        ));
    }
    state
        .store
        .merge_members(
            a.id,
            b.id,
            &caller.audit_actor(),
            reason,
            &state.policy.rules(),
            state.now(),
        )
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::AlreadyMerged,
                "the members changed while merging; look them up again",
            )
        })
}

/// Dismiss an identity conflict: the members are different people
#[utoipa::path(post, path = "/v1/identity-conflicts/{id}/dismiss", tag = "identity",
    params(("id" = i64, Path)),
    request_body(content = crate::views::ReasonInput),
    responses((status = 200, body = ConflictView), (status = 404, description = "conflict_not_found"), (status = 409, description = "conflict_closed")),
    security(("bearer" = [])))]
pub async fn dismiss(
    caller: Allowed<need::ManageIdentities>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<ConflictView>, ApiError> {
    let id: i64 = id.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::not_found(ErrorCode::ConflictNotFound, format!("no conflict {id}"))
    })?;
    let reason = reason_of(&body)?;
    Ok(Json(view(
        dismiss_conflict(&state, &caller, id, &reason).await?,
    )))
}

/// Closes conflict `id` as two different people, audited.
pub(crate) async fn dismiss_conflict(
    state: &AppState,
    caller: &Caller,
    id: i64,
    reason: &str,
) -> Result<ConflictRow, ApiError> {
    match state
        .store
        .dismiss_conflict(id, &caller.audit_actor(), reason, state.now())
        .await?
    {
        None => Err(ApiError::not_found(
            ErrorCode::ConflictNotFound,
            format!("no conflict {id}"),
        )),
        Some((row, false)) => Err(ApiError::new(
            ErrorCode::ConflictClosed,
            format!("conflict {id} is already {}", row.status),
        )),
        Some((row, true)) => Ok(row),
    }
}
