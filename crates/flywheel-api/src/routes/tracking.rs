//! The tracked links in messages: `GET /l/{token}` records a `content_click` for the
//! message's member and sends the browser on to the content's link; `GET /o/{token}` (an
//! e-mail's 1×1 image) records a `content_open`. No key: the token, random and kept with
//! the message, is the credential, and it opens nothing but that redirect. Each becomes an
//! ordinary event of the member (through the same queue as `POST /v1/events`), so the
//! timeline, facts (`content_clicks`) and segments see it; a reload within the same second
//! is one event.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flywheel_core::time::{SECOND, to_rfc3339};
use flywheel_core::{ErrorCode, parse_event};
use flywheel_store::Tracked;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/l/{token}", get(follow_link))
        .route("/o/{token}", get(opened))
}

/// A transparent 1×1 GIF.
const PIXEL: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn unknown_link() -> ApiError {
    ApiError::not_found(ErrorCode::NotFound, "this link is not known")
}

/// Sends the click or open in as the member's event; a failure is logged, never shown
/// to the person who clicked.
async fn record(state: &AppState, t: &Tracked, click: bool) {
    let Some((kind, value)) = &t.identity else {
        return;
    };
    let now = state.now();
    let m = &t.message;
    let type_name = if click {
        "content_click"
    } else {
        "content_open"
    };
    let channel = if m.channel == "wechat" {
        "wechat"
    } else {
        "web"
    };
    let body = json!({
        "event_id": format!("{type_name}-{}-{}", m.id, now.div_euclid(SECOND)),
        "type": type_name,
        "occurred_at": to_rfc3339(now),
        "channel": channel,
        "identities": {kind: value},
        "properties": {"message_id": m.id, "content_id": m.content_id, "journey": m.journey_id,
            "message_channel": m.channel},
    });
    let result = match parse_event(&body, &state.policy.parse_context(now)) {
        Ok(event) => state
            .event_queue()
            .submit(event, now)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e
            .iter()
            .map(|f| f.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")),
    };
    if let Err(error) = result {
        tracing::warn!(message = m.id, %error, "recording a tracked {type_name} failed");
    }
}

/// Follow a message's tracked link
///
/// Records a `content_click` for the message's member and redirects to the content's
/// link.
#[utoipa::path(get, path = "/l/{token}", tag = "engagement",
    params(("token" = String, Path, description = "The message's link token")),
    responses((status = 302, description = "On to the content's link"),
        (status = 404, description = "not_found: no message has this token, or it has no link")))]
pub async fn follow_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let tracked = state
        .store
        .track_message(&token, true, state.now())
        .await?
        .ok_or_else(unknown_link)?;
    let Some(link) = tracked.link.clone() else {
        return Err(unknown_link());
    };
    record(&state, &tracked, true).await;
    Ok((StatusCode::FOUND, [(header::LOCATION, link)]).into_response())
}

/// A message's open image
///
/// Records a `content_open` for the message's member; answers a transparent 1×1 GIF.
#[utoipa::path(get, path = "/o/{token}", tag = "engagement",
    params(("token" = String, Path, description = "The message's link token")),
    responses((status = 200, description = "A 1x1 GIF", content_type = "image/gif"),
        (status = 404, description = "not_found: no message has this token")))]
pub async fn opened(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let tracked = state
        .store
        .track_message(&token, false, state.now())
        .await?
        .ok_or_else(unknown_link)?;
    record(&state, &tracked, false).await;
    Ok((
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PIXEL.as_slice(),
    )
        .into_response())
}
