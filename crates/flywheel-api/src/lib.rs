//! Flywheel's HTTP API: an axum [`router`] over an [`AppState`], bearer-key auth, the
//! error-code table, and the OpenAPI document with browsable docs.
//!
//! Layout: `routes/` has one module per resource, each with its own `router()`;
//! `views.rs` and `points_views.rs` the response bodies; `error.rs` the codes and statuses; `auth.rs` the
//! key check; `body.rs`/`params.rs` request parsing with our error codes.

mod auth;
mod body;
mod docs;
mod error;
mod params;
mod points_views;
mod routes;
mod state;
mod views;

pub use docs::ApiDoc;
pub use error::{ApiError, status_of};
pub use routes::events::MAX_BATCH;
pub use state::{AppState, Clock, KEY_CACHE_TTL, system_clock};

use axum::Router;
use axum::http::Uri;
use axum::response::IntoResponse;
use flywheel_core::ErrorCode;

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::health::router())
        .merge(routes::events::router())
        .merge(routes::members::router())
        .merge(routes::identity::router())
        .merge(routes::stats::router())
        .merge(routes::points::router())
        .merge(routes::rewards::router())
        .merge(routes::finance::router())
        .merge(routes::scores::router())
        .merge(docs::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then finishes the requests
/// in flight. Tests bind port 0 and pass a future they control.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no route {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method",
    )
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    ApiError::internal("a handler panicked").into_response()
}
