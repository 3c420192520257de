//! Reads see every acknowledged event. Where the engine writes behind, the rows an
//! acknowledged event derives may still wait in memory (`flywheel-store`'s `engine.rs`);
//! every request but the ingest routes themselves writes them first. Answering is then a
//! read of the tables as if written through — members, points, scores, timelines,
//! look-ups and aggregates alike. A flush is cheap when little waits, and needed at most
//! once however many reads arrive together.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

pub async fn settle(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let ingest = request.method() == Method::POST
        && matches!(request.uri().path(), "/v1/events" | "/v1/events/batch");
    if !ingest {
        state.store.settle().await?;
    }
    Ok(next.run(request).await)
}
