//! `POST /v1/events` (one event, applied before the answer) and `POST /v1/events/batch`
//! (up to 10,000, all or nothing).

use crate::auth::Caller;
use crate::body::{BATCH, JsonValue, ONE_EVENT};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{BatchAnswer, EventAnswer};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::auth::Permission;
use flywheel_core::parse_event;
use flywheel_store::{AsOf, EventResult, IngestMode};
use serde_json::{Value, json};

pub const MAX_BATCH: usize = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", post(post_event))
        .route("/v1/events/batch", post(post_batch))
}

/// Push one event
///
/// Applied before the answer: a read that follows sees it. Sending the same `event_id`
/// again changes nothing and answers `"duplicate": true`. Events arriving together are
/// committed together (group commit), each answered with its own result.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body(content = Object, description = "An event: event_id, type, occurred_at, channel, identities, properties"),
    responses(
        (status = 200, description = "Applied (or a duplicate)", body = EventAnswer),
        (status = 400, description = "Malformed JSON"),
        (status = 409, description = "order_exists: the order was recorded by another event"),
        (status = 422, description = "Invalid event: error.field names the first problem, error.details lists all"),
    ),
    security(("bearer" = [])))]
pub async fn post_event(
    caller: Caller,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<ONE_EVENT>,
) -> Result<Json<EventAnswer>, ApiError> {
    caller.require(Permission::WriteEvents)?;
    let now = state.now();
    let event =
        parse_event(&body, &state.policy.parse_context(now)).map_err(ApiError::invalid_event)?;
    let result = state.event_queue().submit(event, now).await?;
    let answer = |o: flywheel_core::ingest::Outcome, duplicate| EventAnswer {
        member_id: o.member_id,
        stage: o.stage.as_str().into(),
        lens: o.lens.as_str().into(),
        duplicate,
    };
    match result {
        EventResult::Accepted(o) => Ok(Json(answer(o, false))),
        EventResult::Duplicate(o) => Ok(Json(answer(o, true))),
        EventResult::Rejected(r) => {
            let mut e = ApiError::new(r.code, r.message);
            e.field = r.field;
            Err(e)
        }
    }
}

/// Push a batch of events
///
/// Up to 10,000 events, applied atomically: if any is invalid, nothing is written and
/// `error.details` lists `{index, field, code, message}` for every problem.
#[utoipa::path(post, path = "/v1/events/batch", tag = "events",
    request_body(content = Object, description = r#"{"events": [event, …]}"#),
    responses(
        (status = 200, description = "All applied", body = BatchAnswer),
        (status = 409, description = "A state conflict (order_exists); nothing written"),
        (status = 413, description = "Body too large"),
        (status = 422, description = "Invalid events (details per index) or too many; nothing written"),
    ),
    security(("bearer" = [])))]
pub async fn post_batch(
    caller: Caller,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<BATCH>,
) -> Result<Json<BatchAnswer>, ApiError> {
    caller.require(Permission::WriteEvents)?;
    let list = match body.get("events") {
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(
                ApiError::new(ErrorCode::InvalidType, "events must be an array of events")
                    .field("events"),
            );
        }
        None => {
            return Err(
                ApiError::new(ErrorCode::MissingField, "events is required").field("events")
            );
        }
    };
    if list.len() > MAX_BATCH {
        return Err(ApiError::new(
            ErrorCode::TooManyEvents,
            format!(
                "a batch holds at most {MAX_BATCH} events; this one has {}",
                list.len()
            ),
        )
        .field("events"));
    }
    let now = state.now();
    let ctx = state.policy.parse_context(now);
    let mut events = Vec::with_capacity(list.len());
    let mut problems = Vec::new();
    let mut bad = 0;
    for (index, raw) in list.iter().enumerate() {
        match parse_event(raw, &ctx) {
            Ok(e) => events.push(e),
            Err(errors) => {
                bad += 1;
                for e in errors {
                    problems.push(json!({"index": index, "field": e.field, "code": e.code, "message": e.message}));
                }
            }
        }
    }
    if bad > 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidEvents,
            format!(
                "{bad} of {} events are invalid; nothing was written",
                list.len()
            ),
        )
        .field("events")
        .details(Value::Array(problems)));
    }
    let results = state
        .store
        .ingest(
            &events,
            &state.policy.rules(),
            AsOf::At(now),
            IngestMode::AllOrNothing,
        )
        .await?;
    let refused: Vec<(usize, &flywheel_core::ingest::Rejection)> = results
        .iter()
        .enumerate()
        .filter_map(|(index, r)| match r {
            EventResult::Rejected(r) if r.code != ErrorCode::BatchRejected => Some((index, r)),
            _ => None,
        })
        .collect();
    if let Some((_, first)) = refused.first() {
        let details: Vec<Value> = refused
            .iter()
            .map(|(index, r)| {
                json!({"index": index, "field": r.field, "code": r.code, "message": r.message})
            })
            .collect();
        return Err(ApiError::new(
            first.code,
            format!("{} events were refused; nothing was written", refused.len()),
        )
        .field("events")
        .details(Value::Array(details)));
    }
    Ok(Json(BatchAnswer {
        accepted: results
            .iter()
            .filter(|r| matches!(r, EventResult::Accepted(_)))
            .count(),
        duplicates: results
            .iter()
            .filter(|r| matches!(r, EventResult::Duplicate(_)))
            .count(),
    }))
}
