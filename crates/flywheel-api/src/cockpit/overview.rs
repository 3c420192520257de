//! `/`: the overview — KPI tiles, the 5CR funnel beside the lens, stage flows by month,
//! members per tier, the RFM grid, cohort retention, points and referrals by month. Each block is drawn from the
//! function behind its `/v1/stats/*` endpoint and links to it, with its numbers in a
//! table one click away.

use super::page::{Chart, Chrome, PageError, render};
use super::session::Viewer;
use crate::routes::{membership_report, stats};
use crate::state::AppState;
use crate::stats_views::{OverviewStats, PointsMonths, ReferralMonths, RfmGrid, StageFlows};
use crate::views::StageStats;
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use flywheel_core::auth::Permission;
use flywheel_core::time::DAY;
use flywheel_core::{Lens, Stage};

/// One tier's members, for the table and the chart.
pub(super) struct TierRow {
    pub programme: String,
    pub tier: String,
    pub members: i64,
    pub renewal_rate: String,
}

/// A cohort's month, size, and (share as a percentage, shade 0–4) per month after.
pub(super) struct CohortRow {
    pub month: String,
    pub members: i64,
    pub cells: Vec<(String, u8)>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    tiles: OverviewStats,
    stages: Vec<(&'static str, i64)>,
    lenses: Vec<(&'static str, i64)>,
    flows: StageFlows,
    tiers: Vec<TierRow>,
    rfm: RfmGrid,
    /// rfm.cells as 5 rows (r = 5 first) of 5 (f = 1 first), with a shade 0–4.
    rfm_rows: Vec<(i64, Vec<(i64, u8)>)>,
    points: PointsMonths,
    cohorts: Vec<CohortRow>,
    cohorts_at: String,
    referrals: ReferralMonths,
    referrals_chart: String,
    funnel_chart: String,
    flows_chart: String,
    tiers_chart: String,
    points_chart: String,
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    if !viewer.caller.role.allows(Permission::ReadStats) {
        // Staff see members, not the programme's figures: their start page is the till.
        return Ok(Redirect::to("/till").into_response());
    }
    let stage_stats = stats::stage_stats(&state).await?;
    let now = state.now();
    let report = membership_report::build(&state, now - 30 * DAY, now).await?;
    let tiles = stats::overview_of(&state, &stage_stats, &report).await?;
    let flows = stats::stage_flows_of(&state, 12).await?;
    let rfm = stats::rfm_grid(&state).await?;
    let points = stats::points_months(&state, 12).await?;
    let cohort_stats = stats::cohorts_of(&state, 12).await?;
    let referrals = stats::referral_months(&state, 12).await?;
    let cohorts = cohort_stats
        .cohorts
        .iter()
        .filter(|c| c.members > 0)
        .map(|c| {
            let cells = c
                .retention
                .iter()
                .map(|p| {
                    let shade = (p.share * 4.0).ceil().clamp(0.0, 4.0) as u8;
                    (format!("{:.0}%", p.share * 100.0), shade)
                })
                .collect();
            CohortRow {
                month: c.month.clone(),
                members: c.members,
                cells,
            }
        })
        .collect();
    let referrals_chart = Chart::bar(referrals.months.iter().map(|m| &m.month))
        .series("referred", referrals.months.iter().map(|m| m.made))
        .series("converted", referrals.months.iter().map(|m| m.converted))
        .json();

    let stages = ordered(&stage_stats, Stage::ALL.map(|s| s.as_str()), |s| &s.stages);
    let lenses = ordered(&stage_stats, Lens::ALL.map(|l| l.as_str()), |s| &s.lenses);
    let tiers: Vec<TierRow> = report
        .programmes
        .iter()
        .flat_map(|p| {
            p.tiers.iter().map(move |t| TierRow {
                programme: p.name.clone(),
                tier: t.name.clone(),
                members: t.members,
                renewal_rate: t
                    .renewal_rate
                    .map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0)),
            })
        })
        .collect();
    let max_cell = rfm
        .cells
        .iter()
        .map(|c| c.members)
        .max()
        .unwrap_or(0)
        .max(1);
    let rfm_rows = (1..=5)
        .rev()
        .map(|r| {
            let cells = rfm
                .cells
                .iter()
                .filter(|c| c.r == r)
                .map(|c| {
                    let shade =
                        u8::try_from((c.members * 4 + max_cell - 1) / max_cell).unwrap_or(4);
                    (c.members, shade.min(4))
                })
                .collect();
            (r, cells)
        })
        .collect();

    let funnel_chart = Chart::bar(stages.iter().map(|(s, _)| *s))
        .series("members", stages.iter().map(|(_, n)| *n))
        .horizontal()
        .json();
    let flows_chart = Chart::bar(flows.months.iter().map(|m| &m.month))
        .series("up", flows.months.iter().map(|m| m.up))
        .series("down", flows.months.iter().map(|m| -m.down))
        .series("jumped", flows.months.iter().map(|m| m.jumped))
        .json();
    let tiers_chart = Chart::bar(
        tiers
            .iter()
            .map(|t| format!("{} · {}", t.programme, t.tier)),
    )
    .series("members", tiers.iter().map(|t| t.members))
    .json();
    let points_chart = Chart::bar(points.months.iter().map(|m| &m.month))
        .series("issued", points.months.iter().map(|m| m.issued))
        .series("redeemed", points.months.iter().map(|m| m.redeemed))
        .series("expired", points.months.iter().map(|m| m.expired))
        .json();

    let page = OverviewPage {
        chrome: Chrome::of(&viewer, "overview"),
        tiles,
        stages,
        lenses,
        flows,
        tiers,
        rfm,
        rfm_rows,
        points,
        cohorts,
        cohorts_at: cohort_stats.computed_at,
        referrals,
        referrals_chart,
        funnel_chart,
        flows_chart,
        tiers_chart,
        points_chart,
    };
    Ok(render(&viewer, &page))
}

/// Counts in the order of `names` (the funnel's order), zero where none.
fn ordered<const N: usize>(
    stats: &StageStats,
    names: [&'static str; N],
    map: impl Fn(&StageStats) -> &std::collections::BTreeMap<String, i64>,
) -> Vec<(&'static str, i64)> {
    names
        .into_iter()
        .map(|n| (n, map(stats).get(n).copied().unwrap_or(0)))
        .collect()
}
