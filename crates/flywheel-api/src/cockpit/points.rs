//! `/points`: the earning rules in force, the rewards catalogue, and — for the roles
//! that read finance — the last 30 days' flows and the trial balance.

use super::page::{Chrome, PageError, render};
use super::session::Viewer;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use flywheel_core::auth::Permission;
use flywheel_core::time::{DAY, to_rfc3339};
use flywheel_store::{PointsReport, RewardRow, TrialBalance};

pub(super) struct RuleLine {
    pub id: String,
    pub name: String,
    pub trigger: String,
    pub programme: String,
    pub award: String,
    pub pending_days: u32,
}

#[derive(Template)]
#[template(path = "points.html")]
struct PointsPage {
    chrome: Chrome,
    version: i64,
    effective_from: String,
    rules: Vec<RuleLine>,
    rewards: Vec<RewardRow>,
    report: Option<PointsReport>,
    trial: Option<TrialBalance>,
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    viewer.caller.require(Permission::ReadPoints)?;
    let now = state.now();
    let book = state.store.rule_book().await?;
    let set = book.at(now);
    let rules = set
        .rules
        .iter()
        .map(|r| RuleLine {
            id: r.id.clone(),
            name: r.name.clone(),
            trigger: r.trigger.clone(),
            programme: r.programme.clone(),
            award: serde_json::to_string(&r.award).unwrap_or_default(),
            pending_days: r.pending_days,
        })
        .collect();
    let (report, trial) = if viewer.caller.role.allows(Permission::ReadFinance) {
        let programme = state.policy.points.default_programme().to_owned();
        (
            Some(
                state
                    .store
                    .points_report(&programme, now - 30 * DAY, now)
                    .await?,
            ),
            Some(state.store.trial_balance(false).await?),
        )
    } else {
        (None, None)
    };
    let page = PointsPage {
        chrome: Chrome::of(&viewer, "points"),
        version: set.version,
        effective_from: to_rfc3339(set.effective_from),
        rules,
        rewards: state.store.rewards().await?,
        report,
        trial,
    };
    Ok(render(&viewer, &page))
}
