//! Tracked shares (issue 20; seeds 002 and 004 reward a share by its forwards, reads and
//! new buyers): `POST /v1/share-links` gives a member a link of their own for what they
//! share and records the share as their `share` event (so it feeds influence); the
//! public `GET /s/{token}` counts a click, and a reader the first time a browser opens
//! it (a `fw_reader` cookie), then sends the reader on to the shared URL with
//! `fw_share=<token>` added; a purchase whose `properties.share_token` names the link
//! counts its buyer. When a count reaches a milestone a `share_milestone` rule names,
//! the sharer's `share_milestone` event pays it — at once for clicks and readers, within
//! the server's background pass (about a second) for buyers.

use super::card::public_base;
use super::coupons::checked_key;
use super::{member_id, tickets::send_event};
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::fission_views::{
    PaidMilestoneView, ShareCountsView, ShareLinkInput, ShareLinkList, ShareLinkView,
};
use crate::params::{Params, limit, unknown};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::event::Channel;
use flywheel_core::marketing::share;
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::check_line;
use flywheel_store::{NewShareLink, ShareLinkRow};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/share-links", get(list_links).post(create_link))
        .route("/v1/share-links/{token}", get(get_link))
}

/// The public redirect: no key, the token is the credential and opens nothing else.
pub fn public_router() -> Router<AppState> {
    Router::new().route("/s/{token}", get(follow_share))
}

/// The cookie that tells one reader's browser from another's.
const READER_COOKIE: &str = "fw_reader";

fn view(row: ShareLinkRow, base: &str) -> ShareLinkView {
    ShareLinkView {
        link: format!("{base}/s/{}", row.token),
        token: row.token,
        member_id: row.member_id,
        url: row.url,
        title: row.title,
        channel: row.channel,
        created_at: to_rfc3339(row.created_at),
        counts: ShareCountsView {
            clicks: row.counts.clicks,
            readers: row.counts.readers,
            buyers: row.counts.buyers,
            new_buyers: row.counts.new_buyers,
        },
        last_click_at: row.last_click_at.map(to_rfc3339),
        milestones: row
            .milestones
            .into_iter()
            .map(|p| PaidMilestoneView {
                measure: p.milestone.measure.as_str().into(),
                at: p.milestone.at,
                event_id: p.event_id,
                paid_at: to_rfc3339(p.paid_at),
            })
            .collect(),
    }
}

fn not_found(token: &str) -> ApiError {
    ApiError::not_found(
        ErrorCode::ShareLinkNotFound,
        format!("no share link {token:?}"),
    )
    .field("token")
}

/// Make a tracked link for a member to share
///
/// 201 with the link to share (`link`); the same `idempotency_key` again answers 200 with
/// the same link. The share is recorded as the member's `share` event
/// (`share-link:<token>`), so it counts in their facts and influence.
#[utoipa::path(post, path = "/v1/share-links", tag = "marketing",
    request_body(content = ShareLinkInput),
    responses((status = 201, body = ShareLinkView, description = "A new link"),
        (status = 200, body = ShareLinkView, description = "The link made before under this key"),
        (status = 404, description = "member_not_found"),
        (status = 409, description = "member_erased or idempotency_key_reused"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn create_link(
    _caller: Allowed<need::WriteEvents>,
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<ShareLinkView>), ApiError> {
    let input: ShareLinkInput = typed(body)?;
    let member = member_id(&input.member_id.to_string()).map_err(|e| e.field("member_id"))?;
    share::check_url("url", &input.url)?;
    let title = input
        .title
        .as_deref()
        .map(|t| check_line("title", t, 200))
        .transpose()?;
    let channels = &state.policy.channels;
    let channel = match input.channel.as_deref() {
        // Shared on WeChat unless said otherwise, or the brand does not list it.
        None if channels.contains(&Channel::WECHAT) => Channel::WECHAT,
        None => state.policy.tracking.default_channel,
        Some(c) => Channel::find(channels, c).ok_or_else(|| {
            ApiError::new(ErrorCode::UnknownChannel, Channel::unknown(channels, c)).field("channel")
        })?,
    };
    let key = checked_key(&input.idempotency_key)?;
    let Some((kind, value)) = state.store.member_handle(member).await? else {
        // No identity to share under: no such member (404), or one erased (409).
        super::members::load(&state, member)
            .await
            .map_err(|e| e.field("member_id"))?;
        return Err(ApiError::new(
            ErrorCode::MemberErased,
            format!("member {member} has no identity left to share under"),
        )
        .field("member_id"));
    };
    let now = state.now();
    let (row, replayed) = state
        .store
        .create_share_link(
            &NewShareLink {
                member,
                key: &key,
                url: &input.url,
                title: title.as_deref(),
                channel: channel.as_str(),
            },
            now,
        )
        .await?;
    // Sent again on a replay: a link whose first answer was lost may not have its event
    // yet, and its fixed id makes a repeat a duplicate.
    send_event(
        &state,
        json!({"event_id": format!("share-link:{}", row.token), "type": "share",
            "occurred_at": to_rfc3339(row.created_at), "channel": row.channel,
            "identities": {kind: value},
            "properties": {"share_token": row.token, "url": row.url, "title": row.title}}),
    )
    .await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(view(row, &public_base(&state, &headers)))))
}

/// Tracked links, the newest first (or those that brought the most)
///
/// One member's (`member_id`, with those of members merged into them) or everyone's,
/// each with what it counted and the milestones it was paid.
#[utoipa::path(get, path = "/v1/share-links", tag = "marketing",
    params(("member_id" = Option<i64>, Query, description = "One member's links"),
           ("order" = Option<String>, Query, description = "newest (default) or top: most new buyers, then buyers, readers, clicks"),
           ("limit" = Option<u32>, Query, description = "1–500, default 100")),
    responses((status = 200, body = ShareLinkList), (status = 400, description = "invalid_query")),
    security(("bearer" = [])))]
pub async fn list_links(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(params): Params,
) -> Result<Json<ShareLinkList>, ApiError> {
    let (mut member, mut top, mut most) = (None, false, 100);
    for (k, v) in params {
        match k.as_str() {
            "order" => {
                top = match v.as_str() {
                    "newest" => false,
                    "top" => true,
                    _ => {
                        return Err(ApiError::new(
                            ErrorCode::InvalidQuery,
                            "order is newest or top",
                        )
                        .field("order"));
                    }
                }
            }
            "member_id" => {
                member = Some(member_id(&v).map_err(|e| {
                    ApiError::new(ErrorCode::InvalidQuery, e.message).field("member_id")
                })?)
            }
            "limit" => most = limit(&v, 500)?,
            other => return Err(unknown(other)),
        }
    }
    let base = public_base(&state, &headers);
    let rows = state
        .store
        .share_links(member, top, i64::from(most))
        .await?;
    Ok(Json(ShareLinkList {
        links: rows.into_iter().map(|r| view(r, &base)).collect(),
    }))
}

/// One tracked link
#[utoipa::path(get, path = "/v1/share-links/{token}", tag = "marketing",
    params(("token" = String, Path, description = "The link's token")),
    responses((status = 200, body = ShareLinkView), (status = 404, description = "share_link_not_found")),
    security(("bearer" = [])))]
pub async fn get_link(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Json<ShareLinkView>, ApiError> {
    let row = state
        .store
        .share_link(&token)
        .await?
        .ok_or_else(|| not_found(&token))?;
    Ok(Json(view(row, &public_base(&state, &headers))))
}

/// The reader's browser id from its cookie, if it sent a well-formed one.
fn reader_of(headers: &HeaderMap) -> Option<String> {
    crate::cockpit::session::cookie(headers, READER_COOKIE)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
}

/// Follow a shared link
///
/// Counts a click (and a reader, the first time this browser opens the link), pays the
/// sharer any milestone it reaches, and redirects to the shared URL with
/// `fw_share=<token>` added — the shop sends that token back as a purchase's
/// `properties.share_token` to count the buyer.
#[utoipa::path(get, path = "/s/{token}", tag = "marketing",
    params(("token" = String, Path, description = "The link's token")),
    responses((status = 302, description = "On to the shared URL"),
        (status = 404, description = "not_found: no link has this token")))]
pub async fn follow_share(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::not_found(ErrorCode::NotFound, "this link is not known");
    if !share::is_token(&token) {
        return Err(unknown());
    }
    let (reader, fresh) = match reader_of(&headers) {
        Some(r) => (r, false),
        None => (format!("{:032x}", rand::random::<u128>()), true),
    };
    let now = state.now();
    let url = state
        .store
        .count_share_click(&token, &reader, now)
        .await?
        .ok_or_else(unknown)?;
    if let Err(error) = state
        .store
        .pay_share_milestones(&state.policy, Some(&token), now)
        .await
    {
        // The background pass pays it later; the reader is not kept waiting.
        tracing::warn!(%token, %error, "paying a share link's milestones failed");
    }
    let mut response = (
        StatusCode::FOUND,
        [
            (header::LOCATION, share::landing_url(&url, &token)),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response();
    if fresh
        && let Ok(cookie) = HeaderValue::from_str(&format!(
            "{READER_COOKIE}={reader}; Path=/s; Max-Age=31536000; HttpOnly; SameSite=Lax"
        ))
    {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
