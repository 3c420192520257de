//! KPIs per stage of the programme (seed 001): targets set per metric and month
//! (audited), and each month's actual against its target and the brand's own baseline
//! (the three months before).

use crate::auth::{Allowed, Caller, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use crate::stats_views::{KpiMonth, KpiTargetInput, KpiView};
use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{Datelike, TimeZone, Utc};
use flywheel_core::ErrorCode;
use flywheel_core::kpi::{BASELINE_MONTHS, Metric, Reading, parse_month};
use flywheel_core::time::{from_datetime, month_label, month_start};
use flywheel_core::validation::check_line;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/kpis", get(month))
        .route("/v1/kpis/{metric}/{month}", put(set_target))
}

fn metric_of(raw: &str) -> Result<Metric, ApiError> {
    Metric::parse(raw).ok_or_else(|| {
        let all: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
        ApiError::new(
            ErrorCode::InvalidValue,
            format!("{raw:?} is not a KPI metric ({})", all.join(", ")),
        )
        .field("metric")
    })
}

fn month_of(raw: &str, field: &str) -> Result<(i32, u32), ApiError> {
    parse_month(raw).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidValue,
            format!("{raw:?} is not a month like 2026-11"),
        )
        .field(field.to_owned())
    })
}

/// Set a metric's target for a month (operator or admin; audited)
#[utoipa::path(put, path = "/v1/kpis/{metric}/{month}", tag = "stats",
    params(("metric" = String, Path, description = "new_members, active_members, referrals, referral_conversions, sales or stage_ups"),
           ("month" = String, Path, description = "2026-11")),
    request_body(content = KpiTargetInput),
    responses((status = 200, body = KpiMonth, description = "The month's KPIs with the target set"),
              (status = 422, description = "invalid_value (metric, month or target), missing_field, too_long")),
    security(("bearer" = [])))]
pub async fn set_target(
    caller: Allowed<need::SetTargets>,
    State(state): State<AppState>,
    Path((metric, month)): Path<(String, String)>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<KpiMonth>, ApiError> {
    let input: KpiTargetInput = typed(body)?;
    save_target(&state, &caller, &metric, &month, &input.phase, input.target).await?;
    Ok(Json(kpi_month(&state, &month).await?))
}

/// Checks and sets a target as `caller` asked, audited (the cockpit's form comes here).
pub(crate) async fn save_target(
    state: &AppState,
    caller: &Caller,
    metric: &str,
    month: &str,
    phase: &str,
    target: i64,
) -> Result<(), ApiError> {
    let metric = metric_of(metric)?;
    month_of(month, "month")?;
    let phase = check_line("phase", phase, 40)?;
    if target < 0 {
        return Err(
            ApiError::new(ErrorCode::OutOfRange, "target must not be negative").field("target"),
        );
    }
    let row = flywheel_store::TargetRow {
        metric: metric.as_str().to_owned(),
        month: month.to_owned(),
        phase,
        target,
    };
    state
        .store
        .set_kpi_target(&row, &caller.audit_actor(), state.now())
        .await?;
    Ok(())
}

/// A month's KPIs: actual against target and the three months before
#[utoipa::path(get, path = "/v1/kpis", tag = "stats",
    params(("month" = Option<String>, Query, description = "2026-11; default: this month (counted so far)")),
    responses((status = 200, body = KpiMonth),
              (status = 400, description = "invalid_query: an unknown parameter or a bad month")),
    security(("bearer" = [])))]
pub async fn month(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<KpiMonth>, ApiError> {
    let mut month = month_label(state.now());
    for (k, v) in params {
        match k.as_str() {
            "month" => {
                parse_month(&v).ok_or_else(|| {
                    ApiError::new(ErrorCode::InvalidQuery, "month must look like 2026-11")
                        .field("month")
                })?;
                month = v;
            }
            other => return Err(crate::params::unknown(other)),
        }
    }
    Ok(Json(kpi_month(&state, &month).await?))
}

/// The start of month `(year, month)`, UTC.
fn start_of(year: i32, month: u32) -> i64 {
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .map_or(0, from_datetime)
}

/// `month`'s KPIs (the cockpit shows the same).
pub(crate) async fn kpi_month(state: &AppState, month: &str) -> Result<KpiMonth, ApiError> {
    let (year, m) = month_of(month, "month")?;
    let start = start_of(year, m);
    // The baseline months and the month itself: BASELINE_MONTHS + 1 periods.
    let mut bounds = vec![start];
    for _ in 0..BASELINE_MONTHS {
        let earlier = month_start(bounds[0] - 1);
        bounds.insert(0, earlier);
    }
    let next = {
        let d = flywheel_core::time::to_datetime(start);
        let (y, mm) = if d.month() == 12 {
            (d.year() + 1, 1)
        } else {
            (d.year(), d.month() + 1)
        };
        start_of(y, mm)
    };
    bounds.push(next.min(state.now().max(start)));
    let targets = state.store.kpi_targets(month).await?;
    let mut kpis = Vec::new();
    for metric in Metric::ALL {
        let figures = state.store.metric_by_period(metric, &bounds).await?;
        let (history, actual) = figures.split_at(figures.len() - 1);
        let target = targets.iter().find(|t| t.metric == metric.as_str());
        let reading = Reading {
            actual: actual[0],
            target: target.map(|t| t.target),
            baseline: history.iter().sum::<i64>() as f64 / history.len().max(1) as f64,
        };
        kpis.push(KpiView {
            metric: metric.as_str().to_owned(),
            phase: target.map(|t| t.phase.clone()),
            target: reading.target,
            actual: reading.actual,
            baseline: reading.baseline,
            variance: reading.variance(),
            attainment: reading.attainment(),
            against_baseline: reading.against_baseline(),
        });
    }
    kpis.sort_by_key(|k| k.target.is_none());
    Ok(KpiMonth {
        month: month.to_owned(),
        kpis,
    })
}
