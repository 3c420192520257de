//! `GET /v1/audit`: who changed what, when, why, and the value before and after.

use crate::auth::{Allowed, need};
use crate::error::ApiError;
use crate::params::{Params, limit, unknown};
use crate::routes::points::instant;
use crate::state::AppState;
use crate::views::{AuditActorView, AuditEntryView, AuditPage};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::time::to_rfc3339;
use flywheel_store::{AUDIT_KINDS, AuditQuery};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/audit", get(audit))
}

/// The audit log of changes people made, newest first (admin)
///
/// Earning rules, rewards, partners, points adjustments, manual merges, identity
/// conflict decisions, API keys and member erasures — each with who (key id and name),
/// when, why, and the value before and after.
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(("actor" = Option<String>, Query, description = "`key:<id>`, `env-admin`, `cli`, or a key's name"),
           ("kind" = Option<String>, Query, description = "points_rules, programme, membership, benefit, tier_benefits, partner_codes, reward, partner, points_adjustment, member_merge, identity_conflict, api_key or member_erasure"),
           ("from" = Option<String>, Query, description = "RFC 3339, inclusive"),
           ("to" = Option<String>, Query, description = "RFC 3339, exclusive"),
           ("before" = Option<i64>, Query, description = "`next` from the previous page"),
           ("limit" = Option<u32>, Query, description = "1–500, default 100")),
    responses((status = 200, body = AuditPage)),
    security(("bearer" = [])))]
pub async fn audit(
    _caller: Allowed<need::ReadAudit>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<AuditPage>, ApiError> {
    let mut q = AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    };
    for (k, v) in params {
        match k.as_str() {
            "actor" => q.actor = Some(v),
            "kind" if AUDIT_KINDS.contains(&v.as_str()) => q.kind = Some(v),
            "kind" => {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("kind must be one of {}", AUDIT_KINDS.join(", ")),
                )
                .field("kind"));
            }
            "from" => q.from = Some(instant(&v, "from").map_err(as_query)?),
            "to" => q.to = Some(instant(&v, "to").map_err(as_query)?),
            "before" => {
                q.before_id = Some(v.parse().map_err(|_| {
                    ApiError::new(
                        ErrorCode::InvalidCursor,
                        "before must be the `next` of a previous page",
                    )
                    .field("before")
                })?)
            }
            "limit" => q.limit = limit(&v, 500)?,
            other => return Err(unknown(other)),
        }
    }
    let page = q.limit as usize;
    q.limit += 1;
    let mut rows = state.store.audit(&q).await?;
    let more = rows.len() > page;
    rows.truncate(page);
    let next = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let entries = rows
        .into_iter()
        .map(|r| AuditEntryView {
            id: r.id,
            at: to_rfc3339(r.at),
            actor: AuditActorView {
                reference: r.actor,
                key_id: r.actor_key_id,
                name: r.actor_name,
            },
            kind: r.kind,
            action: r.action,
            target: r.target,
            reason: r.reason,
            before: r.before,
            after: r.after,
        })
        .collect();
    Ok(Json(AuditPage { entries, next }))
}

/// A bad timestamp in a query string is a query problem (400), not a body one.
fn as_query(e: ApiError) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, e.message).field(e.field.unwrap_or_default())
}
