//! Member reads: the document, look-up by identity, timeline, stage history.

use super::member_id;
use crate::auth::{Allowed, need};
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use crate::views::{MemberDoc, StageHistory, Timeline, TimelineEvent, TransitionView};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::IdentityKind;
use flywheel_core::time::to_rfc3339;
use flywheel_store::TimelineCursor;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/members/lookup", get(lookup))
        .route(
            "/v1/members/{id}",
            get(member).merge(super::privacy::erase_route()),
        )
        .route("/v1/members/{id}/timeline", get(timeline))
        .route("/v1/members/{id}/stages", get(stages))
}

/// Loads the member `id` stands for now, or 404.
pub(crate) async fn load(
    state: &AppState,
    id: i64,
) -> Result<flywheel_core::ingest::MemberState, ApiError> {
    state
        .store
        .member(id)
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}")))
}

pub(crate) async fn document(
    state: &AppState,
    m: &flywheel_core::ingest::MemberState,
) -> Result<MemberDoc, ApiError> {
    let merged_from = state
        .store
        .merges_into(m.id)
        .await?
        .into_iter()
        .map(|r| r.merged_id)
        .collect();
    Ok(MemberDoc::of(
        m,
        merged_from,
        state.now(),
        state.policy.stages.window_days,
    ))
}

/// A member
///
/// An id that was merged away answers with the survivor's document.
#[utoipa::path(get, path = "/v1/members/{id}", tag = "members",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = MemberDoc), (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MemberDoc>, ApiError> {
    let m = load(&state, member_id(&id)?).await?;
    Ok(Json(document(&state, &m).await?))
}

/// Find a member by identity
///
/// Exactly one query parameter naming an identity kind, e.g. `?phone=13800138000`;
/// the value is normalised as on ingest.
#[utoipa::path(get, path = "/v1/members/lookup", tag = "members",
    params(("phone" = Option<String>, Query, description = "or email, wechat_unionid, wechat_openid, weibo_uid, douyin_id, tmall_nick, jd_pin, app_user_id, card_no, external_id, wecom_external_id, anonymous_id")),
    responses((status = 200, body = MemberDoc), (status = 404, description = "member_not_found"), (status = 422, description = "Unknown kind or invalid value")),
    security(("bearer" = [])))]
pub async fn lookup(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<MemberDoc>, ApiError> {
    let [(kind, value)] = params.as_slice() else {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "name exactly one identity, e.g. ?phone=13800138000",
        ));
    };
    let Ok(parsed_kind) = kind.parse::<IdentityKind>() else {
        return Err(ApiError::new(
            ErrorCode::UnknownIdentityKind,
            format!("{kind} is not an identity kind"),
        )
        .field(kind.clone()));
    };
    let identity = state
        .policy
        .identity
        .normalise(parsed_kind, value)
        .map_err(|e| {
            ApiError::new(ErrorCode::InvalidIdentity, format!("{kind} {e}")).field(kind.clone())
        })?;
    // A card number is a card the brand recorded as an identity, or else the card
    // Flywheel gave the member on joining a programme.
    let mut found = state.store.lookup(&identity).await?;
    if found.is_none() && parsed_kind == IdentityKind::CardNo {
        found = state.store.member_by_card(&identity.value).await?;
    }
    let id = found.ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::MemberNotFound,
            format!("no member holds {identity}"),
        )
    })?;
    let m = load(&state, id).await?;
    Ok(Json(document(&state, &m).await?))
}

/// A member's events, newest first
#[utoipa::path(get, path = "/v1/members/{id}/timeline", tag = "members",
    params(("id" = i64, Path), ("limit" = Option<u32>, Query, description = "1–500, default 50"),
           ("cursor" = Option<String>, Query, description = "`next` from the previous page")),
    responses((status = 200, body = Timeline), (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn timeline(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<Json<Timeline>, ApiError> {
    let m = load(&state, member_id(&id)?).await?;
    let mut limit = 50;
    let mut cursor = None;
    for (k, v) in &params {
        match k.as_str() {
            "limit" => limit = crate::params::limit(v, 500)?,
            "cursor" => cursor = Some(decode_cursor(v)?),
            other => {
                return Err(crate::params::unknown(other));
            }
        }
    }
    let (events, next) = state.store.timeline(m.id, cursor.as_ref(), limit).await?;
    Ok(Json(Timeline {
        member_id: m.id,
        events: events
            .into_iter()
            .map(|e| TimelineEvent {
                event_id: e.event_id,
                type_name: e.type_name,
                channel: e.channel,
                occurred_at: to_rfc3339(e.occurred_at),
                received_at: to_rfc3339(e.received_at),
                identities: e.identities,
                properties: e.properties,
            })
            .collect(),
        next: next.map(|c| encode_cursor(&c)),
    }))
}

/// Every stage change of a member, with the rule that caused it
#[utoipa::path(get, path = "/v1/members/{id}/stages", tag = "members",
    params(("id" = i64, Path)),
    responses((status = 200, body = StageHistory), (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn stages(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StageHistory>, ApiError> {
    let m = load(&state, member_id(&id)?).await?;
    Ok(Json(stage_history(&state, &m).await?))
}

/// Every stage change of `m` with its rule and sentence (the member 360 shows the same).
pub(crate) async fn stage_history(
    state: &AppState,
    m: &flywheel_core::ingest::MemberState,
) -> Result<StageHistory, ApiError> {
    let transitions = state
        .store
        .transitions(m.id)
        .await?
        .into_iter()
        .map(|t| TransitionView {
            from: t.from,
            to: t.to,
            at: to_rfc3339(t.at),
            rule: t.rule,
            reason: t.reason,
            from_lens: t.from_lens,
            to_lens: t.to_lens,
            event_id: t.event_id,
            origin_member_id: t.origin_member_id,
        })
        .collect();
    Ok(StageHistory {
        member_id: m.id,
        stage: m.stage.as_str().into(),
        lens: m.lens.as_str().into(),
        transitions,
    })
}

/// Cursors are opaque to clients: hex of `micros:event_id`.
pub(crate) fn encode_cursor(c: &TimelineCursor) -> String {
    format!("{}:{}", c.occurred_at, c.event_id)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn decode_cursor(text: &str) -> Result<TimelineCursor, ApiError> {
    let bad = || {
        ApiError::new(
            ErrorCode::InvalidCursor,
            "cursor must be the `next` value of a previous page",
        )
        .field("cursor")
    };
    if !text.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    let decoded = String::from_utf8(bytes.ok_or_else(bad)?).map_err(|_| bad())?;
    let (micros, event_id) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(TimelineCursor {
        occurred_at: micros.parse().map_err(|_| bad())?,
        event_id: event_id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = TimelineCursor {
            occurred_at: 1_700_000_000_000_000,
            event_id: "evt:1/ü".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)).unwrap(), c);
        for bad in ["zz", "abc", "41"] {
            assert_eq!(
                decode_cursor(bad).unwrap_err().code,
                ErrorCode::InvalidCursor
            );
        }
    }
}
