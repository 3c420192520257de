//! `GET /v1/reports/memberships`: per programme and tier, members at the end of a
//! period, what moved in it, the renewal rate and the revenue.

use super::points::instant;
use crate::auth::{Allowed, need};
use crate::error::ApiError;
use crate::params::Params;
use crate::report_views::{MembershipReportView, ProgrammeFiguresView, TierFiguresView};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::membership::report::TierFigures;
use flywheel_core::time::{DAY, Micros, to_rfc3339};
use flywheel_core::{ErrorCode, Money};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/reports/memberships", get(report))
}

fn view(tier: String, name: String, f: &TierFigures) -> TierFiguresView {
    TierFiguresView {
        tier,
        name,
        members: f.members,
        new: f.new,
        renewed: f.renewed,
        upgraded: f.upgraded,
        downgraded: f.downgraded,
        lapsed: f.lapsed,
        cancelled: f.cancelled,
        not_renewed: f.not_renewed,
        renewal_rate: f.renewal_rate(),
        purchases: f.purchases,
        revenue_cash: Money::from_minor(f.cash).to_string(),
        revenue_points: f.points,
    }
}

/// Members per tier, new, renewed, upgraded, downgraded, lapsed, renewal rate, revenue
///
/// Movements are counted by when they happened: a term that ends is counted at the end
/// of its grace, a renewal bought early when it was bought. Members are those holding
/// each tier at `to`.
#[utoipa::path(get, path = "/v1/reports/memberships", tag = "memberships",
    params(("from" = Option<String>, Query, description = "RFC 3339; default: 30 days before `to`"),
           ("to" = Option<String>, Query, description = "RFC 3339, exclusive; default: now")),
    responses((status = 200, body = MembershipReportView),
              (status = 400, description = "invalid_query: a bad date, an unknown parameter, or from not before to")),
    security(("bearer" = [])))]
pub async fn report(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<MembershipReportView>, ApiError> {
    let (mut from, mut to) = (None, state.now());
    for (k, v) in params {
        match k.as_str() {
            "from" => from = Some(instant(&v, "from")?),
            "to" => to = instant(&v, "to")?,
            other => return Err(crate::params::unknown(other)),
        }
    }
    let from = from.unwrap_or(to - 30 * DAY);
    if from >= to {
        return Err(ApiError::new(ErrorCode::InvalidQuery, "from must be before to").field("from"));
    }
    Ok(Json(build(&state, from, to).await?))
}

/// The report for `[from, to)`, as the route answers it (the cockpit shows the same).
pub(crate) async fn build(
    state: &AppState,
    from: Micros,
    to: Micros,
) -> Result<MembershipReportView, ApiError> {
    let programmes = state
        .store
        .membership_report(from, to)
        .await?
        .into_iter()
        .map(|r| {
            let def = &r.programme.definition;
            let name_of = |id: &str| {
                def.tier(id)
                    .map_or_else(|| id.to_owned(), |t| t.name.clone())
            };
            ProgrammeFiguresView {
                programme: r.programme.id.clone(),
                name: def.name.clone(),
                kind: def.kind.as_str().into(),
                tiers: r
                    .figures
                    .tiers
                    .iter()
                    .map(|(id, f)| view(id.clone(), name_of(id), f))
                    .collect(),
                total: view("all".into(), def.name.clone(), &r.figures.total),
            }
        })
        .collect();
    Ok(MembershipReportView {
        from: to_rfc3339(from),
        to: to_rfc3339(to),
        programmes,
    })
}
