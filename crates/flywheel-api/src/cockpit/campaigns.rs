//! `/campaigns`: every campaign with its segment, schedule and status, and each group's
//! results — the variants against the holdout — over seven days after each occurrence.

use super::page::{Chrome, PageError, render};
use super::session::Viewer;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use flywheel_core::auth::Permission;
use flywheel_core::time::to_datetime;
use flywheel_store::VariantResult;

pub(super) struct CampaignLine {
    pub id: String,
    pub name: String,
    pub status: String,
    pub segment: String,
    pub schedule: String,
    pub next: String,
    pub sent: i64,
    pub groups: Vec<VariantResult>,
}

#[derive(Template)]
#[template(path = "campaigns.html")]
struct CampaignsPage {
    chrome: Chrome,
    campaigns: Vec<CampaignLine>,
}

/// A share as a percent with one decimal, or a dash.
pub(super) fn percent(n: &i64, of: &i64) -> String {
    if *of == 0 {
        "–".to_owned()
    } else {
        format!("{:.1}%", *n as f64 * 100.0 / *of as f64)
    }
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    viewer.caller.require(Permission::ReadStats)?;
    let mut campaigns = Vec::new();
    for c in state.store.campaigns().await? {
        let d = &c.definition;
        let first = super::page::when(d["send_at"].as_str().unwrap_or(""));
        let schedule = match d["every"].as_str() {
            Some(e) => format!("from {first} every {e}"),
            None => format!("once, {first}"),
        };
        campaigns.push(CampaignLine {
            segment: d["segment"].as_str().unwrap_or("").to_owned(),
            schedule,
            next: c.next_at.map_or_else(
                || "–".to_owned(),
                |t| to_datetime(t).format("%Y-%m-%d %H:%M UTC").to_string(),
            ),
            sent: c.occurrence,
            groups: state.store.campaign_results(&c.id, 7).await?,
            id: c.id,
            name: c.name,
            status: c.status,
        });
    }
    let page = CampaignsPage {
        chrome: Chrome::of(&viewer, "campaigns"),
        campaigns,
    };
    Ok(render(&viewer, &page))
}
