//! `POST /v1/events` (one event, applied before the answer) and `POST /v1/events/batch`
//! (up to 10,000, all or nothing).
//!
//! Both bodies are read only after the key is known to be allowed to post events, within
//! the configured limits: one event (alone or inside a batch) at most
//! `limits.event_body_bytes`, a whole batch at most `limits.batch_body_bytes`. A batch is
//! parsed on a blocking thread, at most `limits.concurrent_batches` at a time, so large
//! batches neither stall the async workers nor pile up in memory.

use crate::auth::{Allowed, need};
use crate::body;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{BatchAnswer, ErrorBody, EventAnswer, EventInput};
use axum::extract::{FromRequest, Request, State};
use axum::routing::post;
use axum::{Json, Router};
use flywheel_core::event::Event;
use flywheel_core::{ErrorCode, Policy, parse_event};
use flywheel_store::{AsOf, EventResult, IngestMode};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;

pub const MAX_BATCH: usize = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", post(post_event))
        .route("/v1/events/batch", post(post_batch))
}

/// One event's body, at most `limits.event_body_bytes`.
pub struct EventBody(Value);

impl FromRequest<AppState> for EventBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.limits.event_body_bytes;
        let bytes = body::read(state, req, limit).await?;
        body::parse(&bytes).map(EventBody)
    }
}

/// A batch's body, read once a parsing slot is free; the slot is held until the answer.
pub struct BatchBody {
    bytes: axum::body::Bytes,
    _slot: OwnedSemaphorePermit,
}

impl FromRequest<AppState> for BatchBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let slot = state
            .batch_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let limit = state.limits.batch_body_bytes;
        let bytes = body::read(state, req, limit).await?;
        Ok(BatchBody { bytes, _slot: slot })
    }
}

/// Push one event
///
/// Applied before the answer: a read that follows sees it. Sending the same `event_id`
/// again changes nothing and answers `"duplicate": true`; the same `event_id` with other
/// content is refused (409 `event_id_reused`). Events arriving together are committed
/// together (group commit), each answered with its own result.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body(content = EventInput),
    responses(
        (status = 200, description = "Applied (or a duplicate)", body = EventAnswer),
        (status = 409, description = "order_exists (the order was recorded by another event) or event_id_reused"),
        (status = 413, description = "The event is larger than limits.event_body_bytes"),
        (status = 422, description = "Invalid event: error.field names the first problem, error.details lists all"),
    ),
    security(("bearer" = [])))]
pub async fn post_event(
    _caller: Allowed<need::WriteEvents>,
    State(state): State<AppState>,
    EventBody(body): EventBody,
) -> Result<Json<EventAnswer>, ApiError> {
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
    request_body(content = crate::views::BatchInput),
    responses(
        (status = 200, description = "All applied", body = BatchAnswer),
        (status = 409, description = "A state conflict (order_exists, event_id_reused); nothing written", body = ErrorBody),
        (status = 413, description = "The batch is larger than limits.batch_body_bytes, or one event larger than limits.event_body_bytes"),
        (status = 422, description = "Invalid events (details per index) or too many; nothing written", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn post_batch(
    _caller: Allowed<need::WriteEvents>,
    State(state): State<AppState>,
    batch: BatchBody,
) -> Result<Json<BatchAnswer>, ApiError> {
    let now = state.now();
    let (policy, per_event) = (state.policy.clone(), state.limits.event_body_bytes);
    let events =
        tokio::task::spawn_blocking(move || parse_batch(&batch.bytes, &policy, per_event, now))
            .await
            .map_err(ApiError::internal)??;
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

/// Parses a batch body: `{"events": [...]}` with at most [`MAX_BATCH`] events, each at
/// most `per_event` bytes as sent, every problem listed by index.
fn parse_batch(
    bytes: &[u8],
    policy: &Arc<Policy>,
    per_event: usize,
    now: i64,
) -> Result<Vec<Event>, ApiError> {
    body::parse_shape(bytes)?;
    // The events are kept as their raw text first, so each one's size is judged as sent.
    let top: std::collections::BTreeMap<String, &RawValue> = serde_json::from_slice(bytes)
        .map_err(|_| {
            ApiError::new(ErrorCode::InvalidType, "the body must be a JSON object").field("body")
        })?;
    let events = top.get("events").ok_or_else(|| {
        ApiError::new(ErrorCode::MissingField, "events is required").field("events")
    })?;
    if let Some(extra) = top.keys().find(|k| *k != "events") {
        return Err(ApiError::new(
            ErrorCode::UnknownField,
            format!("{extra} is not a field of a batch (only events)"),
        )
        .field(extra.clone()));
    }
    let raw: Vec<&RawValue> = serde_json::from_str(events.get()).map_err(|_| {
        ApiError::new(ErrorCode::InvalidType, "events must be an array of events").field("events")
    })?;
    if raw.len() > MAX_BATCH {
        return Err(ApiError::new(
            ErrorCode::TooManyEvents,
            format!(
                "a batch holds at most {MAX_BATCH} events; this one has {}",
                raw.len()
            ),
        )
        .field("events"));
    }
    if let Some(index) = raw.iter().position(|r| r.get().len() > per_event) {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("events[{index}] is larger than {per_event} bytes, the limit for one event"),
        )
        .field(format!("events[{index}]")));
    }
    let ctx = policy.parse_context(now);
    let mut events = Vec::with_capacity(raw.len());
    let mut problems = Vec::new();
    let mut bad = 0;
    for (index, text) in raw.iter().enumerate() {
        let value: Value = serde_json::from_str(text.get()).map_err(ApiError::internal)?;
        match parse_event(&value, &ctx) {
            Ok(e) => events.push(e),
            Err(errors) => {
                bad += 1;
                for e in errors {
                    problems.push(
                        json!({"index": index, "field": e.field, "code": e.code, "message": e.message}),
                    );
                }
            }
        }
    }
    if bad > 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidEvents,
            format!(
                "{bad} of {} events are invalid; nothing was written",
                raw.len()
            ),
        )
        .field("events")
        .details(Value::Array(problems)));
    }
    Ok(events)
}
