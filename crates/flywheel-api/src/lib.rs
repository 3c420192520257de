//! Flywheel's HTTP API: an axum [`router`] over an [`AppState`], the server that runs it
//! ([`serve`]), bearer-key auth with per-role permissions and rate limits, masking of
//! contact details by role, the error-code table, metrics, and the OpenAPI document with
//! browsable docs.
//!
//! Layout: `routes/` has one module per resource, each with its own `router()`;
//! `views.rs`, `points_views.rs` and the other `*_views.rs` the bodies; `error.rs` the error answers;
//! `auth.rs` keys, permissions and the `/v1` guard; `privacy.rs` the masking of answers;
//! `limits.rs` body sizes, timeouts and rate limits; `body.rs`/`params.rs` request
//! parsing with our error codes; `metrics.rs` `/metrics`; `server.rs` connections and
//! graceful shutdown; `cockpit/` the server-rendered pages (templates in `templates/`,
//! static files in `assets/`).

mod activity_views;
mod auth;
mod benefit_views;
mod body;
mod cockpit;
mod docs;
mod engagement_views;
mod error;
mod fission_views;
mod honours_views;
mod idea_views;
mod limits;
mod marketing_views;
mod membership_views;
pub mod metrics;
mod params;
mod points_views;
mod privacy;
mod report_views;
mod routes;
mod score_views;
mod segment_views;
mod server;
mod service_views;
mod settle;
mod state;
mod stats_views;
mod tracking_views;
mod views;
pub mod wechat;

pub use auth::Caller;
pub use docs::ApiDoc;
pub use error::{ApiError, status_of};
pub use limits::{HttpLimits, Rate};
pub use routes::events::MAX_BATCH;
pub use server::{SHUTDOWN_GRACE, serve};
pub use state::{AppState, Clock, KEY_CACHE_TTL, system_clock};
pub use wechat::WechatSettings;

use axum::Router;
use axum::http::Uri;
use axum::middleware;
use axum::response::IntoResponse;
use flywheel_core::ErrorCode;

/// The whole API.
pub fn router(state: AppState) -> Router {
    // Every /v1 route is behind the guard: a key, its rate, and masking by role.
    let v1 = Router::new()
        .merge(routes::events::router())
        .merge(routes::protocol::router())
        .merge(routes::content::router())
        .merge(routes::consent::router())
        .merge(routes::journeys::router())
        .merge(routes::suppressions::router())
        .merge(routes::campaigns::router())
        .merge(routes::queues::router())
        .merge(routes::tickets::router())
        .merge(routes::service_report::router())
        .merge(routes::service_teams::router())
        .merge(routes::care::router())
        .merge(routes::owners::router())
        .merge(routes::groups::router())
        .merge(routes::activities::router())
        .merge(routes::ideas::router())
        .merge(routes::products::router())
        .merge(routes::coupons::router())
        .merge(routes::flash_sales::router())
        .merge(routes::lotteries::router())
        .merge(routes::fission::router())
        .merge(routes::leaderboards::router())
        .merge(routes::referrals::router())
        .merge(routes::share_links::router())
        .merge(routes::tasks::router())
        .merge(routes::members::router())
        .merge(routes::identity::router())
        .merge(routes::stats::router())
        .merge(routes::kpis::router())
        .merge(routes::points::router())
        .merge(routes::rewards::router())
        .merge(routes::finance::router())
        .merge(routes::scores::router())
        .merge(routes::audit::router())
        .merge(routes::privacy::router())
        .merge(routes::programmes::router())
        .merge(routes::memberships::router())
        .merge(routes::card::router())
        .merge(routes::membership_report::router())
        .merge(routes::benefits::router())
        .merge(routes::partner_codes::router())
        .merge(routes::segments::router())
        .merge(routes::tags::router())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            settle::settle,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::guard));
    Router::new()
        .merge(cockpit::router())
        .merge(routes::health::router())
        .merge(routes::tracking::router())
        .merge(routes::share_links::public_router())
        .merge(routes::wechat::router())
        .merge(metrics::router())
        .merge(v1)
        .merge(docs::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(metrics::track))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
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
