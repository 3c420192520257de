//! `GET /health`: no key needed; 503 when the database does not answer.

use crate::error::ApiError;
use crate::state::AppState;
use crate::views::Health;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

#[utoipa::path(get, path = "/health", tag = "health", responses(
    (status = 200, description = "The server and its database answer", body = Health),
    (status = 503, description = "The database does not answer"),
))]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let unavailable = |e: flywheel_store::StoreError| {
        tracing::warn!(error = %e, "health check failed");
        ApiError::new(ErrorCode::Unavailable, "the database does not answer")
    };
    state.store.ping().await.map_err(unavailable)?;
    let schema_version = state.store.schema_version().await.map_err(unavailable)?;
    let database_version = state.store.engine_version().await.map_err(unavailable)?;
    Ok(Json(Health {
        status: "ok".into(),
        database: state.store.backend().name().into(),
        database_version,
        schema_version,
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}
