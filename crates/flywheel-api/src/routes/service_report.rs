//! `GET /v1/service/report`: tickets per queue over a period, the median working hours
//! to an answer and to a resolution, the breach rate, and what resolved complaints came
//! to: purchases after (conversion) and the ratings of reviews after (satisfaction);
//! and the deposit funnel of deals begun in the period, with and without a service team.

use crate::auth::{Allowed, need};
use crate::error::ApiError;
use crate::params::Params;
use crate::service_views::{DepositFunnelsView, FunnelView, QueueFiguresView, ServiceReportView};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::service::deposit::Funnel;
use flywheel_core::time::{DAY, to_rfc3339};
use flywheel_store::{DepositFunnels, QueueFigures};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/service/report", get(report))
}

pub(crate) fn figures_view(f: QueueFigures) -> QueueFiguresView {
    QueueFiguresView {
        breach_rate: f.breach_rate(),
        repurchase_rate: f.repurchase_rate(),
        complaints_resolved: f.complaints_resolved,
        bought_after: f.bought_after,
        reviewed_after: f.reviewed_after,
        mean_rating_after: f.mean_rating_after,
        queue: f.queue,
        opened: f.opened,
        open_now: f.open_now,
        breached_now: f.breached_now,
        responded: f.responded,
        resolved: f.resolved,
        breached: f.breached,
        median_response_hours: f.median_response_hours,
        median_resolution_hours: f.median_resolution_hours,
    }
}

fn funnel_view(f: Funnel) -> FunnelView {
    FunnelView {
        deals: f.deals,
        small: f.small,
        full: f.full,
        delivered: f.delivered,
        lost: f.lost,
        small_to_full: f.small_to_full,
        full_to_delivery: f.full_to_delivery,
        deposit_to_delivery: f.deposit_to_delivery,
        median_days_to_delivery: f.median_days_to_delivery,
    }
}

pub(crate) fn funnels_view(f: DepositFunnels) -> DepositFunnelsView {
    DepositFunnelsView {
        all: funnel_view(f.all),
        with_team: funnel_view(f.with_team),
        without_team: funnel_view(f.without_team),
    }
}

/// Service figures per queue and the deposit funnel
#[utoipa::path(get, path = "/v1/service/report", tag = "service",
    params(("days" = Option<u32>, Query, description = "The period: the last 1-366 days, 30 by default")),
    responses((status = 200, body = ServiceReportView)),
    security(("bearer" = [])))]
pub async fn report(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<ServiceReportView>, ApiError> {
    let mut days = 30;
    for (k, v) in params {
        match k.as_str() {
            "days" => {
                days = v
                    .parse::<i64>()
                    .ok()
                    .filter(|d| (1..=366).contains(d))
                    .ok_or_else(|| {
                        ApiError::new(ErrorCode::InvalidQuery, "days is 1 to 366").field("days")
                    })?
            }
            other => return Err(crate::params::unknown(other)),
        }
    }
    let to = state.now();
    let from = to - days * DAY;
    let queues = state
        .store
        .service_figures(from, to + 1)
        .await?
        .into_iter()
        .map(figures_view)
        .collect();
    let deposits = funnels_view(state.store.deposit_funnels(from, to + 1).await?);
    Ok(Json(ServiceReportView {
        from: to_rfc3339(from),
        to: to_rfc3339(to),
        queues,
        deposits,
    }))
}
