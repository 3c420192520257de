//! `GET /v1/care/today`: a store's to-do list of members to reach out to today, each
//! with the reason in a sentence (birthdays, anniversaries, services due, repurchase
//! cycles come round). The day's moments are counted by the sweep; asking before it has
//! run counts them first.

use crate::auth::{Allowed, need};
use crate::error::ApiError;
use crate::params::Params;
use crate::service_views::{CareItemView, CareList};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::time::to_datetime;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/care/today", get(today))
}

/// Today's care list
#[utoipa::path(get, path = "/v1/care/today", tag = "service",
    params(("store" = Option<String>, Query, description = "A store: its members by where they buy most; every store when absent"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 200")),
    responses((status = 200, body = CareList)),
    security(("bearer" = [])))]
pub async fn today(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<CareList>, ApiError> {
    let (mut store, mut limit) = (None, 200);
    for (k, v) in params {
        match k.as_str() {
            "store" => store = Some(v),
            "limit" => limit = i64::from(crate::params::limit(&v, 1000)?),
            other => return Err(crate::params::unknown(other)),
        }
    }
    let now = state.now();
    state.store.compute_care(now, &state.policy.care).await?;
    let items = state
        .store
        .care_list(now, store.as_deref(), limit)
        .await?
        .into_iter()
        .map(|c| CareItemView {
            member_id: c.member_id,
            kind: c.kind,
            subject: c.subject,
            store: c.store,
            reason: c.reason,
        })
        .collect();
    Ok(Json(CareList {
        day: to_datetime(now).format("%Y-%m-%d").to_string(),
        items,
    }))
}
