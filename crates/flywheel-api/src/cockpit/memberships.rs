//! `/memberships`: each programme's tiers over the last 30 days — members, new, renewed,
//! upgraded, downgraded, lapsed, the renewal rate and revenue (the membership report's
//! figures) — and the benefit catalogue with the tiers that give each.

use super::page::{Chrome, PageError, render};
use super::session::Viewer;
use crate::report_views::MembershipReportView;
use crate::routes::membership_report;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use flywheel_core::auth::Permission;
use flywheel_core::time::DAY;

pub(super) struct BenefitLine {
    pub id: String,
    pub name: String,
    pub description: String,
    pub from: String,
    pub to: Option<String>,
    pub partner: bool,
    /// "Programme · tier" for each tier that gives it.
    pub tiers: Vec<String>,
}

#[derive(Template)]
#[template(path = "memberships.html")]
struct MembershipsPage {
    chrome: Chrome,
    report: MembershipReportView,
    benefits: Vec<BenefitLine>,
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    viewer.caller.require(Permission::ReadStats)?;
    let now = state.now();
    let report = membership_report::build(&state, now - 30 * DAY, now).await?;
    let mut given: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for p in state.store.programmes().await? {
        for t in &p.definition.tiers {
            for b in state.store.tier_benefits(&p.id, &t.id).await? {
                given
                    .entry(b)
                    .or_default()
                    .push(format!("{} · {}", p.definition.name, t.name));
            }
        }
    }
    let benefits = state
        .store
        .benefits()
        .await?
        .into_iter()
        .map(|b| BenefitLine {
            tiers: given.remove(&b.id).unwrap_or_default(),
            id: b.id,
            name: b.definition.name,
            description: b.definition.description,
            from: b.definition.effective_from,
            to: b.definition.effective_to,
            partner: b.definition.partner.is_some(),
        })
        .collect();
    let page = MembershipsPage {
        chrome: Chrome::of(&viewer, "memberships"),
        report,
        benefits,
    };
    Ok(render(&viewer, &page))
}
