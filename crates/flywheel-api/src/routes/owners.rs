//! Owners of relationships: `GET/PUT/DELETE /v1/members/{id}/owner` (set by hand,
//! audited; the daily care pass assigns by rule), `GET /v1/staff/{id}/members` (an
//! owner's members with what needs doing today) and `POST /v1/members/{id}/contacts`
//! (a contact logged as the member's outgoing `message` event, so intimacy sees it)
//! and `POST /v1/members/{id}/gifts` (points at a person's discretion, within their
//! monthly allowance).

use super::member_id;
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::params::Params;
use crate::service_views::{
    ContactInput, ContactView, GiftInput, GiftView, OwnedMemberView, OwnedMembersView, OwnerInput,
    OwnerView, WecomContactView, WecomContactsView,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::{check_line, check_paragraph};
use flywheel_store::{AdjustRequest, OwnerRow, Reserved};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/members/{id}/owner",
            get(get_owner).put(put_owner).delete(delete_owner),
        )
        .route("/v1/staff/{id}/members", get(owned_members))
        .route("/v1/members/{id}/wecom-contacts", get(wecom_contacts))
        .route("/v1/members/{id}/contacts", post(contact))
        .route("/v1/members/{id}/gifts", post(gift))
}

fn owner_view(o: OwnerRow) -> OwnerView {
    OwnerView {
        member_id: o.member_id,
        staff_id: o.staff_id,
        name: o.name,
        since: to_rfc3339(o.since),
        assigned_by: o.assigned_by,
        reason: o.reason,
    }
}

async fn survivor(state: &AppState, raw: &str) -> Result<i64, ApiError> {
    let member = member_id(raw)?;
    Ok(state
        .store
        .member_brief(member)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {member}"))
        })?
        .member_id)
}

fn staff_missing(id: &str) -> ApiError {
    ApiError::not_found(
        ErrorCode::StaffNotFound,
        format!("no active member of staff {id:?}"),
    )
    .field("staff_id")
}

fn checked_reason(reason: &str) -> Result<String, ApiError> {
    let r = check_line("reason", reason, 500)?;
    if r.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidValue, "reason is empty").field("reason"));
    }
    Ok(r)
}

/// The member's owner
#[utoipa::path(get, path = "/v1/members/{id}/owner", tag = "service",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = OwnerView),
        (status = 404, description = "member_not_found, or not_found: no owner yet")),
    security(("bearer" = [])))]
pub async fn get_owner(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OwnerView>, ApiError> {
    let member = survivor(&state, &id).await?;
    let owner = state.store.member_owner(member).await?.ok_or_else(|| {
        ApiError::not_found(ErrorCode::NotFound, format!("member {member} has no owner"))
    })?;
    Ok(Json(owner_view(owner)))
}

/// The member's WeCom links
///
/// Each shop assistant who added the member on WeCom (the WeCom callback's
/// `change_external_contact`), with when, the contact way's state, and the link's end.
#[utoipa::path(get, path = "/v1/members/{id}/wecom-contacts", tag = "service",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = WecomContactsView),
        (status = 400, description = "invalid_member_id"),
        (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn wecom_contacts(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WecomContactsView>, ApiError> {
    let member = survivor(&state, &id).await?;
    let contacts = state
        .store
        .wecom_contacts(member)
        .await?
        .into_iter()
        .map(|c| WecomContactView {
            staff_id: c.staff_id,
            external_id: c.external_id,
            added_at: to_rfc3339(c.added_at),
            state: c.state,
            ended_at: c.ended_at.map(to_rfc3339),
            ended_by: c.ended_by,
        })
        .collect();
    Ok(Json(WecomContactsView {
        member_id: member,
        contacts,
    }))
}

/// Give the member an owner by hand
///
/// Replaces the owner the rule or a person set before; audited with the reason.
#[utoipa::path(put, path = "/v1/members/{id}/owner", tag = "service",
    params(("id" = i64, Path, description = "Member id")),
    request_body(content = OwnerInput),
    responses((status = 200, body = OwnerView),
        (status = 404, description = "member_not_found or staff_not_found"),
        (status = 422, description = "staff_id or reason missing")),
    security(("bearer" = [])))]
pub async fn put_owner(
    caller: Allowed<need::ManageService>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<OwnerView>, ApiError> {
    let input: OwnerInput = typed(body)?;
    let reason = checked_reason(&input.reason)?;
    let staff_id = input.staff_id.ok_or_else(|| {
        ApiError::new(ErrorCode::MissingField, "staff_id is required").field("staff_id")
    })?;
    let member = survivor(&state, &id).await?;
    state
        .store
        .staff_member(&staff_id)
        .await?
        .filter(|s| s.active)
        .ok_or_else(|| staff_missing(&staff_id))?;
    state
        .store
        .set_member_owner(
            member,
            Some(&staff_id),
            &reason,
            &caller.audit_actor(),
            state.now(),
        )
        .await?;
    let owner = state
        .store
        .member_owner(member)
        .await?
        .ok_or_else(|| ApiError::internal("the owner went away"))?;
    Ok(Json(owner_view(owner)))
}

/// Remove the member's owner
#[utoipa::path(delete, path = "/v1/members/{id}/owner", tag = "service",
    params(("id" = i64, Path, description = "Member id")),
    request_body(content = OwnerInput),
    responses((status = 204), (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn delete_owner(
    caller: Allowed<need::ManageService>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<StatusCode, ApiError> {
    let input: OwnerInput = typed(body)?;
    let reason = checked_reason(&input.reason)?;
    let member = survivor(&state, &id).await?;
    state
        .store
        .set_member_owner(member, None, &reason, &caller.audit_actor(), state.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An owner's members and what needs doing today
///
/// Each member with today's care moments, open tickets, and — from the last score
/// recompute — a super user not talked to for 30 days or a prospect to invite into the
/// paid tier.
#[utoipa::path(get, path = "/v1/staff/{id}/members", tag = "service",
    params(("id" = String, Path, description = "Staff id"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 200")),
    responses((status = 200, body = OwnedMembersView), (status = 404, description = "staff_not_found")),
    security(("bearer" = [])))]
pub async fn owned_members(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<Json<OwnedMembersView>, ApiError> {
    let mut limit = 200;
    for (k, v) in params {
        match k.as_str() {
            "limit" => limit = i64::from(crate::params::limit(&v, 1000)?),
            other => return Err(crate::params::unknown(other)),
        }
    }
    state
        .store
        .staff_member(&id)
        .await?
        .ok_or_else(|| staff_missing(&id))?;
    let now = state.now();
    state.store.compute_care(now, &state.policy.care).await?;
    let members = state
        .store
        .owned_members(&id, now, limit)
        .await?
        .into_iter()
        .map(|m| OwnedMemberView {
            member_id: m.member_id,
            stage: m.stage,
            todo: m.todo,
        })
        .collect();
    Ok(Json(OwnedMembersView {
        staff_id: id,
        members,
    }))
}

/// Log a contact with the member
///
/// Sent in as the member's `message` event (direction out, event id
/// `contact-<idempotency_key>`, the staff id and note in its properties): their
/// intimacy's talk and their timeline see it; a retry logs nothing more.
#[utoipa::path(post, path = "/v1/members/{id}/contacts", tag = "service",
    params(("id" = i64, Path, description = "Member id")),
    request_body(content = ContactInput),
    responses((status = 200, body = ContactView),
        (status = 404, description = "member_not_found or staff_not_found"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn contact(
    _caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<ContactView>, ApiError> {
    let input: ContactInput = typed(body)?;
    Ok(Json(log_contact(&state, &id, input).await?))
}

/// Logs a contact as the member's outgoing `message` event: the API's and the cockpit's.
pub(crate) async fn log_contact(
    state: &AppState,
    member: &str,
    input: ContactInput,
) -> Result<ContactView, ApiError> {
    let key = check_line("idempotency_key", &input.idempotency_key, 100)?;
    if key.trim().is_empty() {
        return Err(
            ApiError::new(ErrorCode::InvalidValue, "idempotency_key is empty")
                .field("idempotency_key"),
        );
    }
    let note = input
        .note
        .as_deref()
        .map(|n| check_paragraph("note", n, 1000))
        .transpose()?;
    let member = survivor(state, member).await?;
    state
        .store
        .staff_member(&input.staff_id)
        .await?
        .ok_or_else(|| staff_missing(&input.staff_id))?;
    let (kind, value) = state.store.member_handle(member).await?.ok_or_else(|| {
        ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {member}"))
    })?;
    let now = state.now();
    let event_id = format!("contact-{key}");
    let raw = json!({"event_id": event_id, "type": "message", "occurred_at": to_rfc3339(now),
        "channel": input.channel.as_deref().unwrap_or("wechat"), "identities": {kind: value},
        "properties": {"direction": "out", "staff_id": input.staff_id, "text": note}});
    let duplicate = super::tickets::send_event(state, raw).await?;
    Ok(ContactView {
        event_id,
        duplicate,
    })
}

/// Give the member points at a member of staff's discretion
///
/// Within the giver's allowance for the UTC month (`[care] staff_allowance_points`,
/// 500 by default): the points are reserved against it first — two gifts at once never
/// pass it — then posted through the ledger as an adjustment (audited, with the
/// reason). A retry with the same key gives nothing more; past the allowance the answer
/// is 409 `allowance_exceeded`.
#[utoipa::path(post, path = "/v1/members/{id}/gifts", tag = "service",
    params(("id" = i64, Path, description = "Member id")),
    request_body(content = GiftInput),
    responses((status = 201, body = GiftView, description = "Given"),
        (status = 200, body = GiftView, description = "Given before under this key"),
        (status = 404, description = "member_not_found or staff_not_found"),
        (status = 409, description = "allowance_exceeded, or idempotency_key_reused: the key was used for another gift"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn gift(
    caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<GiftView>), ApiError> {
    let input: GiftInput = typed(body)?;
    let reason = checked_reason(&input.reason)?;
    let key = check_line("idempotency_key", &input.idempotency_key, 100)?;
    if key.trim().is_empty() {
        return Err(
            ApiError::new(ErrorCode::InvalidValue, "idempotency_key is empty")
                .field("idempotency_key"),
        );
    }
    let allowance = state.policy.care.staff_allowance_points;
    if input.points < 1 || input.points > allowance.max(1) {
        return Err(ApiError::new(
            ErrorCode::OutOfRange,
            format!("points is 1 to the monthly allowance of {allowance}"),
        )
        .field("points"));
    }
    let member = survivor(&state, &id).await?;
    state
        .store
        .staff_member(&input.staff_id)
        .await?
        .filter(|s| s.active)
        .ok_or_else(|| staff_missing(&input.staff_id))?;
    let reserved = state
        .store
        .reserve_gift(
            &key,
            &input.staff_id,
            member,
            input.points,
            allowance,
            &reason,
            state.now(),
        )
        .await?;
    let (used, fresh) = match reserved {
        Reserved::Fresh { used } => (used, true),
        Reserved::Again { used } => (used, false),
        Reserved::Conflict => {
            return Err(ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "idempotency_key was used for another gift",
            )
            .field("idempotency_key"));
        }
        Reserved::Over { used } => {
            return Err(ApiError::new(
                ErrorCode::AllowanceExceeded,
                format!(
                    "{} has given {used} of {allowance} points this month; {} more would pass it",
                    input.staff_id, input.points
                ),
            )
            .field("points"));
        }
    };
    let req = AdjustRequest {
        member_id: member,
        points: input.points,
        reason: format!("gift from {}: {reason}", input.staff_id),
        programme: state.policy.points.default_programme().to_owned(),
        idempotency_key: format!("gift-{key}"),
        actor: caller.audit_actor(),
    };
    let (ledger_key, replayed) = state
        .store
        .adjust_points(&req, &state.policy.points, state.now())
        .await?;
    let status = if fresh && !replayed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(GiftView {
            ledger_key,
            member_id: member,
            staff_id: input.staff_id,
            points: input.points,
            used_this_month: used,
            allowance,
            replayed: !fresh,
        }),
    ))
}
