//! `/v1/referrals` (anti-abuse, issue 20): every referral with where it stands, and the
//! review of those held as farmed — the inviter's third invitee in a month on one
//! device, one payment account or one block of phone numbers converts into `held`
//! instead of paying (`flywheel_core::ingest::farming`). Staff release or refuse it; the
//! decision goes to the engine as a `referral_review` event in the inviter's history, so
//! a release counts and pays exactly as a conversion would, and is audited here.

use super::{member_id, tickets::send_event};
use crate::auth::{Allowed, Caller, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::fission_views::{ReferralList, ReferralReviewInput, ReferralView};
use crate::params::{Params, limit, unknown};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::ingest::ReferralState;
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::check_line;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/referrals", get(list_referrals))
        .route("/v1/referrals/{event_id}", get(get_referral))
        .route("/v1/referrals/{event_id}/review", post(review))
}

const STATUSES: [&str; 7] = [
    "pending",
    "converted",
    "already_customer",
    "superseded",
    "refused_cycle",
    "held",
    "refused_farming",
];

fn view(r: ReferralState) -> ReferralView {
    ReferralView {
        event_id: r.event_id,
        inviter_id: r.inviter_id,
        invitee_id: r.invitee_id,
        referred_at: to_rfc3339(r.referred_at),
        converted_at: r.converted_at.map(to_rfc3339),
        status: r.status,
        hold_reason: r.hold_reason,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(ErrorCode::ReferralNotFound, format!("no referral {id:?}")).field("event_id")
}

/// Referrals, the most recently referred first
///
/// `?status=held` lists those waiting for review, each with why it was held.
#[utoipa::path(get, path = "/v1/referrals", tag = "marketing",
    params(("status" = Option<String>, Query, description = "pending, converted, already_customer, superseded, refused_cycle, held or refused_farming"),
           ("inviter_id" = Option<i64>, Query, description = "One inviter's referrals"),
           ("limit" = Option<u32>, Query, description = "1–500, default 100")),
    responses((status = 200, body = ReferralList), (status = 400, description = "invalid_query")),
    security(("bearer" = [])))]
pub async fn list_referrals(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<ReferralList>, ApiError> {
    let (mut status, mut inviter, mut most) = (None, None, 100);
    for (k, v) in params {
        match k.as_str() {
            "status" => {
                if !STATUSES.contains(&v.as_str()) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidQuery,
                        format!("status is one of {}", STATUSES.join(", ")),
                    )
                    .field("status"));
                }
                status = Some(v);
            }
            "inviter_id" => {
                inviter = Some(member_id(&v).map_err(|e| {
                    ApiError::new(ErrorCode::InvalidQuery, e.message).field("inviter_id")
                })?)
            }
            "limit" => most = limit(&v, 500)?,
            other => return Err(unknown(other)),
        }
    }
    let rows = state
        .store
        .referrals(status.as_deref(), inviter, i64::from(most))
        .await?;
    Ok(Json(ReferralList {
        referrals: rows.into_iter().map(view).collect(),
    }))
}

/// One referral
#[utoipa::path(get, path = "/v1/referrals/{event_id}", tag = "marketing",
    params(("event_id" = String, Path, description = "The referral event's id")),
    responses((status = 200, body = ReferralView), (status = 404, description = "referral_not_found")),
    security(("bearer" = [])))]
pub async fn get_referral(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(event_id): Path<String>,
) -> Result<Json<ReferralView>, ApiError> {
    let r = state
        .store
        .referral(&event_id)
        .await?
        .ok_or_else(|| not_found(&event_id))?;
    Ok(Json(view(r)))
}

/// Release or refuse a referral held as farmed
///
/// Audited. `release` converts it now: the inviter's converted referrals count it and
/// the `referral_converted` rules pay it. `refuse` closes it for good
/// (`refused_farming`). The same decision again answers the referral as it stands; the
/// other decision, or a referral never held, is refused (`already_decided`).
#[utoipa::path(post, path = "/v1/referrals/{event_id}/review", tag = "marketing",
    params(("event_id" = String, Path, description = "The referral event's id")),
    request_body(content = ReferralReviewInput),
    responses((status = 200, body = ReferralView),
        (status = 404, description = "referral_not_found"),
        (status = 409, description = "already_decided, or member_erased (the inviter's history is gone)"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn review(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    Path(event_id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<ReferralView>, ApiError> {
    let input: ReferralReviewInput = typed(body)?;
    let reason = input
        .reason
        .map(|r| check_line("reason", &r, 500))
        .transpose()?;
    let after = review_referral(&state, &caller, &event_id, &input.decision, reason).await?;
    Ok(Json(view(after)))
}

/// Sends a person's decision on a held referral to the engine and audits it; answers
/// the referral as it then stands. Shared by the API and the cockpit.
pub(crate) async fn review_referral(
    state: &AppState,
    caller: &Caller,
    event_id: &str,
    decision: &str,
    reason: Option<String>,
) -> Result<ReferralState, ApiError> {
    let decided = match decision {
        "release" => "converted",
        "refuse" => "refused_farming",
        _ => {
            return Err(
                ApiError::new(ErrorCode::InvalidValue, "decision is release or refuse")
                    .field("decision"),
            );
        }
    };
    let before = state
        .store
        .referral(event_id)
        .await?
        .ok_or_else(|| not_found(event_id))?;
    if before.status != "held" {
        if before.hold_reason.is_some() && before.status == decided {
            return Ok(before);
        }
        return Err(ApiError::new(
            ErrorCode::AlreadyDecided,
            format!(
                "referral {event_id:?} is {}, not held for review",
                before.status
            ),
        )
        .field("decision"));
    }
    let Some((kind, value)) = state.store.member_handle(before.inviter_id).await? else {
        return Err(ApiError::new(
            ErrorCode::MemberErased,
            format!(
                "the inviter, member {}, has no identity left to record the decision under",
                before.inviter_id
            ),
        ));
    };
    let actor = caller.audit_actor();
    send_event(
        state,
        json!({"event_id": review_event_id(event_id), "type": "referral_review",
            "occurred_at": to_rfc3339(state.now()), "channel": "other",
            "identities": {kind: value},
            "properties": {"referral_event_id": event_id, "decision": decision,
                "reason": reason, "by": actor.reference}}),
    )
    .await?;
    let after = state
        .store
        .referral(event_id)
        .await?
        .ok_or_else(|| not_found(event_id))?;
    if after.status != decided {
        // A concurrent review decided the other way first.
        return Err(ApiError::new(
            ErrorCode::AlreadyDecided,
            format!(
                "referral {event_id:?} was decided meanwhile: it is {}",
                after.status
            ),
        )
        .field("decision"));
    }
    if after.status != before.status {
        state
            .store
            .audit_referral_review(&before, &after, reason.as_deref(), &actor, state.now())
            .await?;
    }
    Ok(after)
}

/// The review's event id: fixed by the referral, so a retry sends nothing new. Event
/// ids hold 200 characters; a long referral id is hashed to fit.
fn review_event_id(referral: &str) -> String {
    let plain = format!("referral-review:{referral}");
    if plain.len() <= 200 {
        return plain;
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(referral.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("referral-review:sha256:{hex}")
}
