//! `/value`: what the relationships are worth (seeds 002, 003, 004, 001) — super users
//! against everyone else, and the same figures by stage, by lens and by tier, with the
//! concentration of revenue in the top buyers (`GET /v1/stats/contribution`); the
//! persona of a stage or a segment (`/v1/stats/personas`); and points cost against
//! sales by month (`/v1/stats/points-cost`).

use super::page::{Chart, Chrome, PageError, render};
use super::session::Viewer;
use crate::routes::kpis;
use crate::routes::stats;
use crate::state::AppState;
use crate::stats_views::{
    ContributionView, EntriesView, GroupView, KpiMonth, PersonaView, PointsCost,
};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use flywheel_core::auth::Permission;
use flywheel_store::PersonaGroup;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "value.html")]
struct ValuePage {
    chrome: Chrome,
    c: ContributionView,
    /// The headline, from the figures: the super users' share and multiple.
    summary: String,
    curve_chart: String,
    /// The groups a persona can be drawn for: (value, label), and the one shown.
    groups: Vec<(String, String)>,
    chosen: String,
    persona: PersonaView,
    cost: PointsCost,
    cost_chart: String,
    kpis: KpiMonth,
    metrics: Vec<&'static str>,
    entries: EntriesView,
}

#[derive(Deserialize)]
pub(super) struct ValueQuery {
    /// `stage:<stage>` or `segment:<id>`; default the super users' stage.
    persona: Option<String>,
}

/// "Super users are 2.7% of members and bring 21.1% of revenue; each spends 9.7 times
/// what everyone else does."
fn headline(super_users: Option<&GroupView>) -> String {
    let Some(s) = super_users.filter(|s| s.members > 0) else {
        return "No member has reached the super-strong stage yet.".to_owned();
    };
    let mut text = format!(
        "Super users are {:.1}% of members and bring {:.1}% of revenue",
        s.member_share * 100.0,
        s.revenue_share * 100.0
    );
    if let Some(m) = s.multiple {
        text.push_str(&format!(
            "; each spends {m:.1} times what everyone else does on average"
        ));
        if m >= 5.0 {
            text.push_str(" (seed 002's bar: at least 5)");
        }
    }
    text.push('.');
    text
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(q): Query<ValueQuery>,
) -> Result<Response, PageError> {
    viewer.caller.require(Permission::ReadStats)?;
    let c = stats::contribution_of(&state).await?;
    let mut groups: Vec<(String, String)> = vec![("all".into(), "every member".into())];
    groups.extend(
        flywheel_core::Stage::ALL
            .iter()
            .map(|s| (format!("stage:{s}"), format!("stage {s}"))),
    );
    let segments = state.store.segments().await?;
    groups.extend(
        segments
            .iter()
            .map(|s| (format!("segment:{}", s.id), format!("segment {}", s.name))),
    );
    let chosen = q
        .persona
        .filter(|p| groups.iter().any(|(v, _)| v == p))
        .unwrap_or_else(|| "stage:super_strong".to_owned());
    let group = match chosen.split_once(':') {
        Some(("stage", s)) => PersonaGroup::Stage(s.to_owned()),
        Some(("segment", s)) => PersonaGroup::Segment(s.to_owned()),
        _ => PersonaGroup::All,
    };
    let persona = stats::persona_of(&state, &group).await?;
    let cost = stats::points_cost_of(&state, 12).await?;
    let mut entries = stats::entries_of(&state).await?;
    entries.products.truncate(15);
    entries.channels.truncate(15);
    let kpis = kpis::kpi_month(&state, &flywheel_core::time::month_label(state.now())).await?;
    let cost_chart = Chart::bar(cost.months.iter().map(|m| &m.month))
        .series(
            "points cost, % of sales",
            cost.months
                .iter()
                .map(|m| (m.cost_share * 1000.0).round() / 10.0),
        )
        .json();
    let summary = headline(c.super_users.iter().find(|g| g.key == "super_users"));
    let curve_chart = Chart::line(
        c.concentration
            .iter()
            .map(|p| format!("{:.0}%", p.buyers * 100.0)),
    )
    .series(
        "share of revenue",
        c.concentration
            .iter()
            .map(|p| (p.revenue * 1000.0).round() / 10.0),
    )
    .json();
    let page = ValuePage {
        chrome: Chrome::of(&viewer, "value"),
        c,
        summary,
        curve_chart,
        groups,
        chosen,
        persona,
        cost,
        cost_chart,
        kpis,
        metrics: flywheel_core::kpi::Metric::ALL
            .iter()
            .map(|m| m.as_str())
            .collect(),
        entries,
    };
    Ok(render(&viewer, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(member_share: f64, revenue_share: f64, multiple: Option<f64>) -> GroupView {
        GroupView {
            key: "super_users".into(),
            members: 17,
            member_share,
            buyers: 17,
            revenue: "0.00".into(),
            revenue_share,
            spend_per_head: "0.00".into(),
            repurchase_rate: 1.0,
            sku_repurchase_rate: 0.5,
            share_rate: 0.0,
            referral_rate: 0.0,
            multiple,
            lifetime_value: "0.00".into(),
        }
    }

    #[test]
    fn the_headline_says_the_share_and_the_multiple() {
        assert_eq!(
            headline(Some(&group(0.027, 0.211, Some(9.72)))),
            "Super users are 2.7% of members and bring 21.1% of revenue; each spends 9.7 times what everyone else does on average (seed 002's bar: at least 5)."
        );
        assert_eq!(
            headline(Some(&group(0.1, 0.2, Some(2.25)))),
            "Super users are 10.0% of members and bring 20.0% of revenue; each spends 2.2 times what everyone else does on average."
        );
        assert!(headline(None).starts_with("No member"));
    }
}

#[derive(Deserialize)]
pub(super) struct TargetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    metric: String,
    #[serde(default)]
    month: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    target: String,
}

/// `POST /value/kpis`: sets a month's target from the value page.
pub(super) async fn set_target(
    viewer: Viewer,
    State(state): State<AppState>,
    form: Result<axum::Form<TargetForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let axum::Form(form) = form?;
    super::page::check_csrf(&viewer, &form.csrf)?;
    viewer.caller.require(Permission::SetTargets)?;
    let target: i64 = form.target.trim().parse().map_err(|_| {
        crate::error::ApiError::new(
            flywheel_core::ErrorCode::InvalidValue,
            "target must be a whole number (sales in minor units)",
        )
        .field("target")
    })?;
    kpis::save_target(
        &state,
        &viewer.caller,
        &form.metric,
        form.month.trim(),
        &form.phase,
        target,
    )
    .await?;
    Ok(axum::response::IntoResponse::into_response(
        axum::response::Redirect::to("/value#kpis"),
    ))
}
