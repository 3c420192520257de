//! The tracking protocol apps already speak (issue 21): Segment's HTTP tracking API —
//! `POST /v1/batch`, `/v1/identify`, `/v1/track`, `/v1/page`, `/v1/screen`, `/v1/alias`,
//! `/v1/group` — which Segment's and RudderStack's libraries call as `<host>/v1/batch`
//! with the write key as the HTTP Basic user name. A key that may post events is a write
//! key. Bodies may be gzip-compressed; a call holds at most 32 KB and a batch 500 KB, as
//! the protocol states.
//!
//! Each call becomes a native event (`flywheel_core::tracking`) and goes through the same
//! parser and engine as `POST /v1/events`; `messageId` is the event id, so a library's
//! retry is a duplicate. A call that cannot become an event is never dropped silently:
//! it is kept with the reason in the dead-letter list (`GET /v1/tracking/rejected`) and
//! counted in `/metrics` (`flywheel_tracking_calls_total{outcome="rejected"}`), and the
//! answer is still `{"success": true}` — the libraries would otherwise retry a call that
//! can never succeed. `?strict=1` (or the header `X-Flywheel-Strict: 1`) answers 400
//! `call_rejected` naming the field instead, and writes nothing.

use crate::auth::{Allowed, need};
use crate::body;
use crate::error::ApiError;
use crate::params::{Params, limit, unknown};
use crate::state::AppState;
use crate::tracking_views::{
    RejectedCallList, RejectedCallView, TrackMappingView, TrackingAnswer, TrackingBatchInput,
    TrackingCallInput, TrackingMappingView,
};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::event::Event;
use flywheel_core::time::{parse_rfc3339, to_rfc3339};
use flywheel_core::tracking::{self, CallType, MAX_BATCH_BYTES, MAX_CALL_BYTES};
use flywheel_core::{ErrorCode, parse_event};
use flywheel_store::{AsOf, EventResult, IngestMode, RejectedCall};
use serde_json::{Map, Value, json};
use std::io::Read;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/batch", post(batch))
        .route("/v1/identify", post(identify))
        .route("/v1/track", post(track))
        .route("/v1/page", post(page))
        .route("/v1/screen", post(screen))
        .route("/v1/alias", post(alias))
        .route("/v1/group", post(group))
        .route("/v1/tracking/mapping", get(mapping))
        .route("/v1/tracking/rejected", get(rejected))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than {limit} bytes, the protocol's limit"),
    )
}

/// A protocol body of at most `LIMIT` bytes once decompressed: gzip when the request
/// says `Content-Encoding: gzip`.
pub struct ProtocolBody<const LIMIT: usize>(Value);

impl<const LIMIT: usize> FromRequest<AppState> for ProtocolBody<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let gzip = req
            .headers()
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        let bytes = body::read(state, req, LIMIT).await?;
        let bytes = if gzip { gunzip(&bytes, LIMIT)? } else { bytes };
        body::parse(&bytes).map(ProtocolBody)
    }
}

/// Inflates a gzip body, refusing one that grows past `limit` (a small body may inflate
/// a thousandfold).
fn gunzip(bytes: &[u8], limit: usize) -> Result<Bytes, ApiError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::new(
                ErrorCode::MalformedJson,
                format!("the body says gzip but does not inflate: {e}"),
            )
        })?;
    if out.len() > limit {
        return Err(too_large(limit));
    }
    Ok(Bytes::from(out))
}

fn strict(headers: &HeaderMap, params: Vec<(String, String)>) -> Result<bool, ApiError> {
    let mut on = headers
        .get("x-flywheel-strict")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches!(v.trim(), "1" | "true"));
    for (k, v) in params {
        match k.as_str() {
            "strict" => {
                on = match v.as_str() {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => {
                        return Err(ApiError::new(ErrorCode::InvalidQuery, "strict is 1 or 0")
                            .field("strict"));
                    }
                }
            }
            other => return Err(unknown(other)),
        }
    }
    Ok(on)
}

/// A call refused: where it was, why, and the call itself.
struct Refusal {
    index: usize,
    code: ErrorCode,
    field: Option<String>,
    message: String,
}

fn instant(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_str).and_then(parse_rfc3339)
}

/// Turns the calls into events and applies them; see the module header.
async fn accept(
    state: &AppState,
    key_id: Option<i64>,
    calls: Vec<Value>,
    default_type: Option<CallType>,
    sent_at: Option<i64>,
    strict: bool,
) -> Result<Json<TrackingAnswer>, ApiError> {
    let now = state.now();
    let ctx = state.policy.parse_context(now);
    let (mapping, channels) = (&state.policy.tracking, &state.policy.channels);
    let mut events: Vec<(usize, Event)> = Vec::with_capacity(calls.len());
    let mut refused = Vec::new();
    for (index, call) in calls.iter().enumerate() {
        let size = call.to_string().len();
        if size > MAX_CALL_BYTES {
            refused.push(Refusal {
                index,
                code: ErrorCode::PayloadTooLarge,
                field: None,
                message: format!("the call is {size} bytes; the protocol allows {MAX_CALL_BYTES}"),
            });
            continue;
        }
        // A call's own sentAt (the single endpoints) wins over the batch's.
        let sent = instant(call.get("sentAt")).or(sent_at);
        let body = match tracking::to_event(call, default_type, sent, now, channels, mapping) {
            Ok(b) => b,
            Err(e) => {
                refused.push(Refusal {
                    index,
                    code: e.code,
                    field: Some(e.field),
                    message: e.message,
                });
                continue;
            }
        };
        match parse_event(&body, &ctx) {
            Ok(event) => events.push((index, event)),
            Err(errors) => {
                let first = &errors[0];
                let message = errors
                    .iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                refused.push(Refusal {
                    index,
                    code: first.code,
                    field: Some(first.field.clone()),
                    message: format!("as a {} event: {message}", body["type"]),
                });
            }
        }
    }
    if strict && !refused.is_empty() {
        return Err(strict_error(&refused));
    }
    let batch: Vec<Event> = events.iter().map(|(_, e)| e.clone()).collect();
    let mode = if strict {
        IngestMode::AllOrNothing
    } else {
        IngestMode::SkipRejected
    };
    let results = if batch.is_empty() {
        Vec::new()
    } else {
        state
            .store
            .ingest(&batch, &state.policy.rules(), AsOf::At(now), mode)
            .await?
    };
    let (mut accepted, mut duplicates) = (0u64, 0u64);
    let mut engine_refused = Vec::new();
    for ((index, _), result) in events.iter().zip(&results) {
        match result {
            EventResult::Accepted(_) => accepted += 1,
            EventResult::Duplicate(_) => duplicates += 1,
            EventResult::Rejected(r) if r.code == ErrorCode::BatchRejected => {}
            EventResult::Rejected(r) => engine_refused.push(Refusal {
                index: *index,
                code: r.code,
                field: r.field.clone(),
                message: r.message.clone(),
            }),
        }
    }
    if strict && !engine_refused.is_empty() {
        return Err(strict_error(&engine_refused));
    }
    refused.extend(engine_refused);
    let rows: Vec<RejectedCall> = refused
        .iter()
        .map(|r| {
            let call = &calls[r.index];
            RejectedCall {
                id: 0,
                received_at: now,
                call_type: call
                    .get("type")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| default_type.map(|t| t.as_str().to_owned())),
                message_id: call
                    .get("messageId")
                    .and_then(Value::as_str)
                    .map(|m| m.chars().take(200).collect()),
                code: r.code.as_str().to_owned(),
                field: r.field.clone(),
                reason: r.message.clone(),
                call: call.clone(),
                key_id,
            }
        })
        .collect();
    state.store.reject_calls(&rows).await?;
    let count = |outcome: &'static str, n: u64| {
        if n > 0 {
            metrics::counter!("flywheel_tracking_calls_total", "outcome" => outcome).increment(n);
        }
    };
    count("accepted", accepted);
    count("duplicate", duplicates);
    count("rejected", rows.len() as u64);
    Ok(Json(TrackingAnswer { success: true }))
}

fn strict_error(refused: &[Refusal]) -> ApiError {
    let first = &refused[0];
    let details: Vec<Value> = refused
        .iter()
        .map(|r| json!({"index": r.index, "field": r.field, "code": r.code, "message": r.message}))
        .collect();
    let mut e = ApiError::new(
        ErrorCode::CallRejected,
        format!(
            "{} call(s) could not become events; nothing was written. First: {}",
            refused.len(),
            first.message
        ),
    )
    .details(Value::Array(details));
    e.field = first.field.clone();
    e
}

/// Send a batch of calls (what the libraries call)
///
/// `{"batch": [calls…], "context"?, "sentAt"?}`; each call says its `type`. A
/// top-level `context` applies to calls without their own. Answers `{"success": true}`
/// once every call is applied, a duplicate, or kept in the dead-letter list.
#[utoipa::path(post, path = "/v1/batch", tag = "tracking",
    request_body(content = TrackingBatchInput),
    params(("strict" = Option<String>, Query, description = "1: refuse (400 call_rejected) instead of keeping a bad call as a dead letter")),
    responses((status = 200, body = TrackingAnswer),
        (status = 400, description = "malformed_json, invalid_query, or call_rejected (strict)"),
        (status = 413, description = "The batch is over 500 KB"),
        (status = 422, description = "The body is not a batch: batch is missing or not an array")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn batch(
    caller: Allowed<need::WriteEvents>,
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(params): Params,
    ProtocolBody(body): ProtocolBody<MAX_BATCH_BYTES>,
) -> Result<Json<TrackingAnswer>, ApiError> {
    let strict = strict(&headers, params)?;
    let Some(top) = body.as_object() else {
        return Err(
            ApiError::new(ErrorCode::InvalidType, "the body must be a JSON object").field("body"),
        );
    };
    let calls = match top.get("batch") {
        Some(Value::Array(calls)) => calls.clone(),
        None | Some(Value::Null) => {
            return Err(ApiError::new(ErrorCode::MissingField, "batch is required").field("batch"));
        }
        Some(_) => {
            return Err(
                ApiError::new(ErrorCode::InvalidType, "batch must be an array of calls")
                    .field("batch"),
            );
        }
    };
    let shared: Option<&Map<String, Value>> = top.get("context").and_then(Value::as_object);
    let calls = calls
        .into_iter()
        .map(|mut call| {
            if let (Some(ctx), Some(obj)) = (shared, call.as_object_mut())
                && !obj.get("context").is_some_and(Value::is_object)
            {
                obj.insert("context".into(), Value::Object(ctx.clone()));
            }
            call
        })
        .collect();
    let sent_at = instant(top.get("sentAt"));
    accept(&state, caller.key_id, calls, None, sent_at, strict).await
}

async fn one(
    caller: Allowed<need::WriteEvents>,
    state: AppState,
    headers: HeaderMap,
    params: Vec<(String, String)>,
    call: Value,
    kind: CallType,
) -> Result<Json<TrackingAnswer>, ApiError> {
    let strict = strict(&headers, params)?;
    if !call.is_object() {
        return Err(
            ApiError::new(ErrorCode::InvalidType, "the body must be a JSON object").field("body"),
        );
    }
    accept(&state, caller.key_id, vec![call], Some(kind), None, strict).await
}

macro_rules! single_call {
    ($name:ident, $path:literal, $kind:expr, $summary:literal) => {
        #[doc = $summary]
        ///
        /// One call of the protocol (its `type` may be left out). Answers
        /// `{"success": true}` once it is applied, a duplicate, or a dead letter.
        #[utoipa::path(post, path = $path, tag = "tracking",
            request_body(content = TrackingCallInput),
            params(("strict" = Option<String>, Query, description = "1: refuse (400 call_rejected) instead of keeping a bad call as a dead letter")),
            responses((status = 200, body = TrackingAnswer),
                (status = 400, description = "malformed_json, invalid_query, or call_rejected (strict)"),
                (status = 413, description = "The call is over 32 KB"),
                (status = 422, description = "The body is not a JSON object")),
            security(("bearer" = []), ("basic" = [])))]
        pub async fn $name(
            caller: Allowed<need::WriteEvents>,
            State(state): State<AppState>,
            headers: HeaderMap,
            Params(params): Params,
            ProtocolBody(call): ProtocolBody<MAX_CALL_BYTES>,
        ) -> Result<Json<TrackingAnswer>, ApiError> {
            one(caller, state, headers, params, call, $kind).await
        }
    };
}

single_call!(
    identify,
    "/v1/identify",
    CallType::Identify,
    "Identify a user (traits → profile and identities)"
);
single_call!(
    track,
    "/v1/track",
    CallType::Track,
    "Track an action (its name → an event type)"
);
single_call!(page, "/v1/page", CallType::Page, "A page view (→ visit)");
single_call!(
    screen,
    "/v1/screen",
    CallType::Screen,
    "A screen view (→ visit)"
);
single_call!(
    alias,
    "/v1/alias",
    CallType::Alias,
    "Alias an anonymous id to a user id"
);
single_call!(
    group,
    "/v1/group",
    CallType::Group,
    "Associate a user with a group"
);

/// How calls become events
///
/// The mapping in force (the built-in one with the config file's `[tracking]` laid
/// over it): `userId`'s identity kind, the default channel, and each `track` name's
/// event type and property renames. Names not listed become custom events in
/// snake_case.
#[utoipa::path(get, path = "/v1/tracking/mapping", tag = "tracking",
    responses((status = 200, body = TrackingMappingView)),
    security(("bearer" = []), ("basic" = [])))]
pub async fn mapping(
    _caller: Allowed<need::WriteEvents>,
    State(state): State<AppState>,
) -> Json<TrackingMappingView> {
    let m = &state.policy.tracking;
    Json(TrackingMappingView {
        user_id_kind: m.user_id_kind.as_str().into(),
        anonymous_id_kind: "anonymous_id".into(),
        default_channel: m.default_channel.as_str().into(),
        events: m
            .events
            .iter()
            .map(|(name, t)| {
                (
                    name.clone(),
                    TrackMappingView {
                        type_name: t.type_name.clone(),
                        properties: t.properties.clone(),
                    },
                )
            })
            .collect(),
        calls: [
            (
                "identify",
                "profile_update (or identify, with no profile trait)",
            ),
            ("track", "the event its name maps to, else a custom event"),
            ("page", "visit"),
            ("screen", "visit"),
            ("alias", "alias (previousId as anonymous_id, with userId)"),
            ("group", "group"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    })
}

/// Calls that could not become events (dead letters)
///
/// The newest first, each with the error code, the field, the reason and the call as
/// it came. `cursor` is the `next_cursor` of the page before.
#[utoipa::path(get, path = "/v1/tracking/rejected", tag = "tracking",
    params(("cursor" = Option<i64>, Query, description = "From next_cursor: older calls than that page's"),
           ("limit" = Option<u32>, Query, description = "1–500, default 100")),
    responses((status = 200, body = RejectedCallList), (status = 400, description = "invalid_query")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn rejected(
    _caller: Allowed<need::WriteEvents>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<RejectedCallList>, ApiError> {
    let (mut cursor, mut most) = (None, 100);
    for (k, v) in params {
        match k.as_str() {
            "cursor" => {
                cursor = Some(v.parse::<i64>().ok().filter(|c| *c > 0).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidQuery,
                        "cursor is a next_cursor answered before",
                    )
                    .field("cursor")
                })?)
            }
            "limit" => most = limit(&v, 500)?,
            other => return Err(unknown(other)),
        }
    }
    let rows = state.store.rejected_calls(cursor, i64::from(most)).await?;
    let next_cursor = (rows.len() == most as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(RejectedCallList {
        calls: rows
            .into_iter()
            .map(|r| RejectedCallView {
                id: r.id,
                received_at: to_rfc3339(r.received_at),
                call_type: r.call_type,
                message_id: r.message_id,
                code: r.code,
                field: r.field,
                reason: r.reason,
                call: r.call,
            })
            .collect(),
        next_cursor,
    }))
}
