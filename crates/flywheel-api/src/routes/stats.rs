//! `GET /v1/stats/stages`: members per stage and per lens.

use crate::auth::{Allowed, need};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::StageStats;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::{Lens, Stage};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/stats/stages", get(stages))
}

/// Members per relationship stage and per lens (merged-away ids not counted)
#[utoipa::path(get, path = "/v1/stats/stages", tag = "stats",
    responses((status = 200, body = StageStats)),
    security(("bearer" = [])))]
pub async fn stages(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
) -> Result<Json<StageStats>, ApiError> {
    let counts = state.store.stage_counts().await?;
    let mut stages: std::collections::BTreeMap<String, i64> = Stage::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    stages.extend(counts.stages);
    let mut lenses: std::collections::BTreeMap<String, i64> = Lens::ALL
        .iter()
        .map(|l| (l.as_str().to_owned(), 0))
        .collect();
    lenses.extend(counts.lenses);
    Ok(Json(StageStats {
        total: counts.total,
        stages,
        lenses,
        computed_at: flywheel_core::time::to_rfc3339(state.now()),
    }))
}
