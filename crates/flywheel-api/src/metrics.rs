//! `GET /metrics` in Prometheus' text format, through the `metrics` facade: every part of
//! Flywheel records with `metrics::counter!`/`histogram!`/`gauge!`, and this module
//! installs the process-wide recorder and renders it.
//!
//! Recorded here: requests by route, method and status, and their latency. Recorded
//! where the work happens: ingest groups, events and commit times (store), checkpoint
//! times (store), sweep and recompute durations and background failures (the binary).
//! Sampled when scraped: the event queue's depth, the database pools, members by stage.

use crate::auth::identify;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flywheel_core::Stage;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Latency buckets, in seconds: from a cached read to a recompute.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// The process-wide recorder (installed on first use; one per process, so several test
/// servers in one process share it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be set (a test binary embedding two crates that
        // both want one); then this one renders nothing but still answers.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

/// Counts every request by its route template (never the raw path, so ids do not make
/// a series each) and times it.
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("flywheel_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("flywheel_http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

/// Members per stage, counted at most every 15 s: a count over a million members is
/// cheap through the stage index, but not free at every scrape.
async fn sample_stages(state: &AppState) {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    {
        let Ok(mut last) = LAST.lock() else { return };
        if last.is_some_and(|at| at.elapsed() < Duration::from_secs(15)) {
            return;
        }
        *last = Some(Instant::now());
    }
    match state.store.stage_counts().await {
        Ok(counts) => {
            for stage in Stage::ALL {
                let n = counts.stages.get(stage.as_str()).copied().unwrap_or(0);
                metrics::gauge!("flywheel_members", "stage" => stage.as_str()).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count members by stage"),
    }
}

/// Prometheus text
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format: requests, ingest, queue, checkpoints, pools, SQLite cache truncates skipped, sweeps, recomputes, members by stage", content_type = "text/plain", body = String),
              (status = 401, description = "Only when `server.metrics_require_key` is set")))]
pub async fn render(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    if state.metrics_require_key {
        let caller = identify(&state, req.headers()).await?;
        caller.require(flywheel_core::auth::Permission::ReadStats)?;
    }
    sample_stages(&state).await;
    if let Some(queue) = state.started_event_queue() {
        metrics::gauge!("flywheel_ingest_queue_depth").set(queue.depth() as f64);
    }
    for pool in state.store.pool_stats() {
        metrics::gauge!("flywheel_db_connections", "pool" => pool.name, "state" => "idle")
            .set(f64::from(pool.idle));
        metrics::gauge!("flywheel_db_connections", "pool" => pool.name, "state" => "busy")
            .set(f64::from(pool.size - pool.idle));
        metrics::gauge!("flywheel_db_connections_max", "pool" => pool.name)
            .set(f64::from(pool.max));
    }
    if let Some(skipped) = state.store.sqlite_truncates_skipped() {
        metrics::counter!("flywheel_sqlite_cache_truncates_skipped_total").absolute(skipped);
    }
    let text = handle().render();
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response())
}
