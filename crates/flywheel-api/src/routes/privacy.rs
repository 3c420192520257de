//! A member's rights under PIPL: `GET /v1/members/{id}/export` (a copy of everything
//! Flywheel holds about them) and `DELETE /v1/members/{id}` (erasure). Both admin only.

use super::member_id;
use super::members::{document, load};
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{ErasureView, MemberExportView, PointsExportView};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::check_paragraph;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/members/{id}/export", get(export))
}

/// The erasure route shares its path with `GET /v1/members/{id}`.
pub fn erase_route() -> axum::routing::MethodRouter<AppState> {
    axum::routing::delete(erase)
}

/// Everything Flywheel holds about a member, as one document (PIPL; admin)
///
/// The member's document (identities, profile, facts), every event, the stage history,
/// merges and identity conflicts, orders, referrals, the points accounts, lots and ledger,
/// redemptions, transfers, exchanges and adjustments, paid memberships, and the last
/// computed scores. A merged-away id answers for the survivor.
#[utoipa::path(get, path = "/v1/members/{id}/export", tag = "privacy",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = MemberExportView), (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn export(
    _caller: Allowed<need::ExportMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MemberExportView>, ApiError> {
    let m = load(&state, member_id(&id)?).await?;
    let doc = document(&state, &m).await?;
    let data =
        state.store.member_export(m.id).await?.ok_or_else(|| {
            ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}"))
        })?;
    let memberships = data
        .events
        .iter()
        .filter(|e| e["type"] == "membership_purchase")
        .cloned()
        .collect();
    Ok(Json(MemberExportView {
        exported_at: to_rfc3339(state.now()),
        member: doc,
        events: data.events,
        memberships,
        stage_history: data.stage_history,
        merges: data.merges,
        identity_conflicts: data.identity_conflicts,
        orders: data.orders,
        referrals: data.referrals,
        points: PointsExportView {
            accounts: data.points_accounts,
            lots: data.points_lots,
            ledger: data.points_ledger,
            redemptions: data.redemptions,
            transfers: data.transfers,
            exchanges: data.exchanges,
            adjustments: data.adjustments,
        },
        consents: data.consents,
        tickets: data.tickets,
        coupons: data.coupons,
        share_links: data.share_links,
        scores: data.scores,
    }))
}

/// Erase a member's personal data (PIPL; admin; audited)
///
/// Body: `{"reason": "…"}` (required). Identities and profile are erased, personal fields
/// are scrubbed from the member's events (and from records that quoted them), the
/// member's points are forfeited to expiry, and the member stays as an anonymous row so
/// the books balance and aggregates stay right. Its identities can never reach it again:
/// a new event with the same phone makes a new member. Erasing again answers the first
/// erasure (`already_erased: true`).
#[utoipa::path(delete, path = "/v1/members/{id}", tag = "privacy",
    params(("id" = i64, Path, description = "Member id (a merged-away id erases the survivor)")),
    request_body(content = crate::views::ReasonInput),
    responses((status = 200, body = ErasureView), (status = 404, description = "member_not_found"),
              (status = 422, description = "reason is missing or invalid")),
    security(("bearer" = [])))]
pub async fn erase(
    caller: Allowed<need::EraseMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<ErasureView>, ApiError> {
    let id = member_id(&id)?;
    let reason = match body.get("reason") {
        Some(serde_json::Value::String(r)) => check_paragraph("reason", r, 500)?,
        Some(_) => {
            return Err(
                ApiError::new(ErrorCode::InvalidType, "reason must be a string").field("reason"),
            );
        }
        None => {
            return Err(ApiError::new(
                ErrorCode::MissingField,
                "reason is required: say why, for the audit log",
            )
            .field("reason"));
        }
    };
    if let Some(extra) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "reason"))
    {
        return Err(ApiError::new(
            ErrorCode::UnknownField,
            format!("{extra} is not a field of an erasure (only reason)"),
        )
        .field(extra.clone()));
    }
    let erased = state
        .store
        .erase_member(id, &caller.audit_actor(), &reason, state.now())
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}")))?;
    Ok(Json(ErasureView {
        member_id: erased.member_id,
        erased_at: to_rfc3339(erased.erased_at),
        already_erased: erased.already_erased,
        identities_erased: erased.identities,
        events_scrubbed: erased.events,
        points_forfeited: erased.points_forfeited,
    }))
}
