//! Journeys (`/v1/journeys`), a member's place in them
//! (`GET /v1/members/{id}/journeys`) and the outbox they fill (`GET /v1/outbox`).
//! Definitions are checked here (every error names its field); the runner in the store
//! walks members through them.

use super::member_id;
use crate::auth::{Allowed, Caller, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::engagement_views::{
    JourneyInput, JourneyList, JourneyView, MemberJourneyView, MemberJourneysView,
    OutboxMessageView, OutboxView, PerformanceView,
};
use crate::error::ApiError;
use crate::params::{Params, limit, unknown};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::engagement::journey::compile;
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::check_line;
use flywheel_store::{
    JOURNEY_STATUSES, JourneyRow, Messages, OutboxQuery, OutboxRow, PutJourney, RunRow,
    SavedJourney,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/journeys", get(list_journeys).post(create_journey))
        .route("/v1/journeys/{id}", get(get_journey).put(put_journey))
        .route("/v1/journeys/{id}/performance", get(journey_performance))
        .route("/v1/members/{id}/journeys", get(member_journeys))
        .route("/v1/outbox", get(outbox))
}

fn view(j: JourneyRow) -> JourneyView {
    let d = &j.definition;
    JourneyView {
        reentry: d["reentry"].as_str().unwrap_or("once").to_owned(),
        trigger: d["trigger"].clone(),
        steps: d["steps"].clone(),
        goal: d["goal"].as_str().map(str::to_owned),
        id: j.id,
        name: j.name,
        status: j.status,
        version: j.version,
        active_since: j.active_since.map(to_rfc3339),
        created_at: to_rfc3339(j.created_at),
        updated_at: to_rfc3339(j.updated_at),
        updated_by: j.updated_by,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(ErrorCode::JourneyNotFound, format!("no journey {id:?}"))
}

/// List journeys
#[utoipa::path(get, path = "/v1/journeys", tag = "engagement",
    responses((status = 200, body = JourneyList)),
    security(("bearer" = [])))]
pub async fn list_journeys(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
) -> Result<Json<JourneyList>, ApiError> {
    let journeys = state
        .store
        .journeys()
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(Json(JourneyList { journeys }))
}

/// One journey
#[utoipa::path(get, path = "/v1/journeys/{id}", tag = "engagement",
    params(("id" = String, Path, description = "Journey id")),
    responses((status = 200, body = JourneyView), (status = 404, description = "journey_not_found")),
    security(("bearer" = [])))]
pub async fn get_journey(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JourneyView>, ApiError> {
    let row = state
        .store
        .journey(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(view(row)))
}

/// Save a journey
///
/// The trigger, steps, re-entry policy and goal are checked; an error names the field
/// (`steps[1].send.content`). Content named by a send step must be in the library, and
/// a coupon step's coupon must exist.
/// Sending the same journey again answers 200 and changes nothing.
#[utoipa::path(post, path = "/v1/journeys", tag = "engagement",
    request_body(content = JourneyInput),
    responses((status = 201, body = JourneyView, description = "Saved"),
        (status = 200, body = JourneyView, description = "Stored before, unchanged"),
        (status = 404, description = "content_not_found: a send step names content not in the library; coupon_not_found: a coupon step names no coupon"),
        (status = 409, description = "journey_exists: the id holds another journey"),
        (status = 422, description = "invalid_expression, or an unsound field")),
    security(("bearer" = [])))]
pub async fn create_journey(
    caller: Allowed<need::ManageEngagement>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<JourneyView>), ApiError> {
    let input: JourneyInput = typed(body)?;
    let id = super::required_id(input.id.as_ref())?;
    save(&state, &caller, &id, input, true).await
}

/// Change a journey (or save it under this id)
///
/// A changed definition is a new version: members already on the journey finish the
/// version they entered. Changing only `status` keeps the version (pause, resume).
#[utoipa::path(put, path = "/v1/journeys/{id}", tag = "engagement",
    params(("id" = String, Path, description = "Journey id")),
    request_body(content = JourneyInput),
    responses((status = 201, body = JourneyView, description = "Saved"),
        (status = 200, body = JourneyView, description = "Unchanged"),
        (status = 404, description = "content_not_found: a send step names content not in the library; coupon_not_found: a coupon step names no coupon"),
        (status = 422, description = "invalid_expression, or an unsound field")),
    security(("bearer" = [])))]
pub async fn put_journey(
    caller: Allowed<need::ManageEngagement>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<JourneyView>), ApiError> {
    let input: JourneyInput = typed(body)?;
    super::same_id(&id, input.id.as_ref())?;
    save(&state, &caller, &id, input, false).await
}

async fn save(
    state: &AppState,
    caller: &Caller,
    id: &str,
    input: JourneyInput,
    create: bool,
) -> Result<(StatusCode, Json<JourneyView>), ApiError> {
    super::check_slug(id, "a journey id")?;
    let name = match &input.name {
        Some(n) => check_line("name", n, 100)?,
        None => id.to_owned(),
    };
    let status = input.status.clone().unwrap_or_else(|| "draft".to_owned());
    if !JOURNEY_STATUSES.contains(&status.as_str()) {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            format!("status is one of {}", JOURNEY_STATUSES.join(", ")),
        )
        .field("status"));
    }
    let reentry = input.reentry.clone().unwrap_or_else(|| "once".to_owned());
    let channels: BTreeMap<String, String> = state
        .store
        .contents()
        .await?
        .into_iter()
        .map(|c| (c.id, c.channel))
        .collect();
    let lang = state.policy.language();
    let journey = compile(
        &input.trigger,
        &input.steps,
        &reentry,
        input.goal.as_deref(),
        &lang,
        &|c| channels.get(c).cloned(),
    )?;
    // A coupon step names a coupon that exists (it may run out or be switched off
    // later; the run then stops with the reason).
    for op in &journey.program {
        if let flywheel_core::engagement::journey::Op::Coupon(coupon) = op
            && state.store.coupon(coupon).await?.is_none()
        {
            return Err(ApiError::new(
                ErrorCode::CouponNotFound,
                format!("a coupon step names {coupon:?}, which is not a coupon"),
            )
            .field("steps"));
        }
    }
    let mut definition =
        json!({"trigger": input.trigger, "steps": input.steps, "reentry": reentry});
    if let Some(g) = &input.goal {
        definition["goal"] = Value::String(g.clone());
    }
    let def = PutJourney {
        id: id.to_owned(),
        name,
        status,
        definition,
    };
    let saved = state
        .store
        .save_journey(&def, create, &caller.audit_actor(), state.now())
        .await?;
    match saved {
        SavedJourney::Created(j) | SavedJourney::Updated(j) => {
            Ok((StatusCode::CREATED, Json(view(j))))
        }
        SavedJourney::Unchanged(j) => Ok((StatusCode::OK, Json(view(j)))),
        SavedJourney::Exists => Err(ApiError::new(
            ErrorCode::JourneyExists,
            format!("journey {id:?} exists; change it with PUT"),
        )
        .field("id")),
    }
}

fn run_view(r: RunRow) -> MemberJourneyView {
    MemberJourneyView {
        journey: r.journey_id,
        version: r.version,
        step: r.step,
        status: r.status,
        reason: r.reason,
        cause: r.cause,
        triggered_at: to_rfc3339(r.triggered_at),
        entered_at: r.entered_at.map(to_rfc3339),
        next_at: r.next_at.map(to_rfc3339),
    }
}

/// A member's journeys
///
/// Every journey a trigger started for the member, newest first: where they are, and
/// why a finished one ended.
#[utoipa::path(get, path = "/v1/members/{id}/journeys", tag = "engagement",
    params(("id" = String, Path, description = "Member id")),
    responses((status = 200, body = MemberJourneysView), (status = 400, description = "invalid_member_id"),
        (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_journeys(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<MemberJourneysView>, ApiError> {
    let id = member_id(&raw)?;
    let brief =
        state.store.member_brief(id).await?.ok_or_else(|| {
            ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}"))
        })?;
    let mut runs = state.store.member_journeys(brief.member_id).await?;
    if brief.member_id != id {
        runs.extend(state.store.member_journeys(id).await?);
    }
    Ok(Json(MemberJourneysView {
        member_id: brief.member_id,
        journeys: runs.into_iter().map(run_view).collect(),
    }))
}

fn message_view(m: OutboxRow) -> OutboxMessageView {
    OutboxMessageView {
        id: m.id,
        member_id: m.member_id,
        journey: m.journey_id,
        campaign: m.campaign_id,
        content: m.content_id,
        content_version: m.content_version,
        kind: m.kind,
        channel: m.channel,
        status: m.status,
        reason: m.reason,
        subject: m.subject,
        body: m.body,
        created_at: to_rfc3339(m.created_at),
        send_at: to_rfc3339(m.send_at),
        attempts: m.attempts,
        done_at: m.done_at.map(to_rfc3339),
        answer: m.answer,
        opened_at: m.opened_at.map(to_rfc3339),
        clicked_at: m.clicked_at.map(to_rfc3339),
    }
}

const MESSAGE_STATUSES: [&str; 6] = [
    "queued",
    "waiting",
    "sending",
    "delivered",
    "failed",
    "suppressed",
];

/// The outbox
///
/// Messages newest first, suppressed ones with the reason: `?member_id=`, `?journey=`,
/// `?status=`, `?limit=` (1-1000, 100 by default).
#[utoipa::path(get, path = "/v1/outbox", tag = "engagement",
    params(("member_id" = Option<i64>, Query, description = "One member's messages"),
        ("journey" = Option<String>, Query, description = "One journey's messages"),
        ("status" = Option<String>, Query, description = "queued, waiting, sending, delivered, failed or suppressed"),
        ("limit" = Option<u32>, Query, description = "1-1000; 100 by default")),
    responses((status = 200, body = OutboxView), (status = 400, description = "invalid_query or invalid_member_id")),
    security(("bearer" = [])))]
pub async fn outbox(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<OutboxView>, ApiError> {
    let mut q = OutboxQuery {
        limit: 100,
        ..OutboxQuery::default()
    };
    for (k, v) in params {
        match k.as_str() {
            "member_id" => q.member_id = Some(member_id(&v).map_err(|e| e.field("member_id"))?),
            "journey" => q.journey_id = Some(v),
            "status" if MESSAGE_STATUSES.contains(&v.as_str()) => q.status = Some(v),
            "status" => {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("status is one of {}", MESSAGE_STATUSES.join(", ")),
                )
                .field("status"));
            }
            "limit" => q.limit = i64::from(limit(&v, 1000)?),
            other => return Err(unknown(other)),
        }
    }
    let messages = state
        .store
        .outbox(&q)
        .await?
        .into_iter()
        .map(message_view)
        .collect();
    Ok(Json(OutboxView { messages }))
}

/// `?days=` (1-90, 7 by default): the window after delivery a purchase or a rise counts in.
pub(crate) fn window_days(params: Vec<(String, String)>) -> Result<u32, ApiError> {
    let mut days = 7;
    for (k, v) in params {
        match k.as_str() {
            "days" => {
                days = v
                    .parse::<u32>()
                    .ok()
                    .filter(|d| (1..=90).contains(d))
                    .ok_or_else(|| {
                        ApiError::new(ErrorCode::InvalidQuery, "days is a number from 1 to 90")
                            .field("days")
                    })?
            }
            other => return Err(unknown(other)),
        }
    }
    Ok(days)
}

/// How a journey's messages did
///
/// Decided, suppressed, delivered, opened, clicked, and how many members bought or rose
/// a stage within `days` of a delivery.
#[utoipa::path(get, path = "/v1/journeys/{id}/performance", tag = "engagement",
    params(("id" = String, Path, description = "Journey id"),
        ("days" = Option<u32>, Query, description = "1-90; 7 by default")),
    responses((status = 200, body = PerformanceView), (status = 400, description = "invalid_query"),
        (status = 404, description = "journey_not_found")),
    security(("bearer" = [])))]
pub async fn journey_performance(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<Json<PerformanceView>, ApiError> {
    let days = window_days(params)?;
    if state.store.journey(&id).await?.is_none() {
        return Err(not_found(&id));
    }
    let p = state
        .store
        .message_performance(Messages::Journey(&id), days)
        .await?;
    Ok(Json(PerformanceView::of(p, days)))
}
