//! Finance reports on points: period totals with liability and breakage, the trial
//! balance (always zero), and the settlement report per partner brand and day.

use super::points::{instant, programme};
use crate::auth::{Allowed, need};
use crate::error::ApiError;
use crate::params::Params;
use crate::report_views::{PointsReportView, SettlementRowView, SettlementView, TrialBalanceView};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::time::{self, to_rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/reports/points", get(report))
        .route("/v1/reports/points/trial-balance", get(trial_balance))
        .route("/v1/reports/points/settlement", get(settlement))
}

/// Points issued, redeemed, expired, clawed back, moved; outstanding, liability, breakage
#[utoipa::path(get, path = "/v1/reports/points", tag = "finance",
    params(("from" = Option<String>, Query, description = "RFC 3339; default: the start of time"),
           ("to" = Option<String>, Query, description = "RFC 3339, exclusive; default: now"),
           ("programme" = Option<String>, Query, description = "Default: the first programme")),
    responses((status = 200, body = PointsReportView), (status = 400, description = "invalid_query: a bad date, or from not before to"), (status = 422, description = "unknown_programme")),
    security(("bearer" = [])))]
pub async fn report(
    _caller: Allowed<need::ReadFinance>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<PointsReportView>, ApiError> {
    let now = state.now();
    let (mut from, mut to, mut given) = (0, now, None);
    for (k, v) in params {
        match k.as_str() {
            "from" => from = instant(&v, "from")?,
            "to" => to = instant(&v, "to")?,
            "programme" => given = Some(v),
            other => {
                return Err(crate::params::unknown(other));
            }
        }
    }
    if from >= to {
        return Err(ApiError::new(ErrorCode::InvalidQuery, "from must be before to").field("from"));
    }
    let programme = programme(&state, given)?;
    let r = state.store.points_report(&programme, from, to).await?;
    let points = &state.policy.points;
    let value = points.value_per_point;
    let liability = points.liability(r.outstanding).ok_or_else(|| {
        ApiError::internal(format!(
            "the liability of {} points at {value} does not fit",
            r.outstanding
        ))
    })?;
    let breakage_rate = flywheel_core::points::policy::breakage_rate(r.expired, r.redeemed);
    Ok(Json(PointsReportView {
        programme: r.programme,
        from: to_rfc3339(r.from),
        to: to_rfc3339(r.to),
        issued: r.issued,
        reversed_pending: r.reversed_pending,
        redeemed: r.redeemed,
        expired: r.expired,
        clawed_back: r.clawed_back,
        adjusted: r.adjusted,
        transferred: r.transferred,
        exchanged_out: r.exchanged_out,
        exchanged_in: r.exchanged_in,
        outstanding: r.outstanding,
        pending: r.pending,
        debt: r.debt,
        value_per_point: value.to_string(),
        liability: liability.to_string(),
        breakage: r.expired,
        breakage_rate,
    }))
}

/// Every brand and partner account, members' accounts summed, and a total that is 0
#[utoipa::path(get, path = "/v1/reports/points/trial-balance", tag = "finance",
    params(("verify" = Option<bool>, Query, description = "Also recompute every balance from the entries (slow on big ledgers)")),
    responses((status = 200, body = TrialBalanceView), (status = 400, description = "invalid_query")),
    security(("bearer" = [])))]
pub async fn trial_balance(
    _caller: Allowed<need::ReadFinance>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<TrialBalanceView>, ApiError> {
    let mut verify = false;
    for (k, v) in params {
        match (k.as_str(), v.as_str()) {
            ("verify", "true") => verify = true,
            ("verify", "false") => verify = false,
            (other, _) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("unexpected parameter {other}={v}"),
                )
                .field(other));
            }
        }
    }
    let tb = state.store.trial_balance(verify).await?;
    Ok(Json(tb.into()))
}

pub(crate) fn day(text: &str, field: &str) -> Result<String, ApiError> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.format("%Y-%m-%d").to_string())
        .map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                format!("{field} must be a date YYYY-MM-DD"),
            )
            .field(field)
        })
}

/// The query of a settlement report: `from` and `to` (YYYY-MM-DD, UTC; by default the
/// last 30 days to today) and optionally one `partner`.
pub(crate) fn settlement_period(
    params: Vec<(String, String)>,
    now: time::Micros,
) -> Result<(String, String, Option<String>), ApiError> {
    let date = |at| time::to_datetime(at).format("%Y-%m-%d").to_string();
    let (mut from, mut to, mut partner) = (date(now - time::days(30)), date(now), None);
    for (k, v) in params {
        match k.as_str() {
            "from" => from = day(&v, "from")?,
            "to" => to = day(&v, "to")?,
            "partner" => partner = Some(v),
            other => return Err(crate::params::unknown(other)),
        }
    }
    Ok((from, to, partner))
}

/// Exchanges per partner and UTC day: points out and in, on both sides, and the net
#[utoipa::path(get, path = "/v1/reports/points/settlement", tag = "finance",
    params(("partner" = Option<String>, Query, description = "One partner; default all"),
           ("from" = Option<String>, Query, description = "YYYY-MM-DD; default 30 days ago"),
           ("to" = Option<String>, Query, description = "YYYY-MM-DD inclusive; default today")),
    responses((status = 200, body = SettlementView), (status = 400, description = "invalid_query: a bad date")),
    security(("bearer" = [])))]
pub async fn settlement(
    _caller: Allowed<need::ReadFinance>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<SettlementView>, ApiError> {
    let (from, to, partner) = settlement_period(params, state.now())?;
    let rows = state
        .store
        .settlement(partner.as_deref(), &from, &to)
        .await?;
    Ok(Json(SettlementView {
        from,
        to,
        rows: rows.into_iter().map(SettlementRowView::from).collect(),
    }))
}
