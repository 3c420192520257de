//! `/service`: each queue's last 30 days — tickets opened, still open, median working
//! hours to an answer and to a resolution, breach rate — the deposit funnel of the
//! last 90 days' deals with and without a service team, the tickets past a target that
//! are still open, with buttons to answer and resolve them, today's care list (of one
//! store, or all) and the latest tickets. The figures are `GET /v1/service/report`'s;
//! the buttons do what `POST /v1/tickets/{id}/respond` and `/resolve` do.

use super::page::{Chrome, PageError, check_csrf, render};
use super::session::Viewer;
use crate::routes::tickets::make_move;
use crate::state::AppState;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use flywheel_core::auth::Permission;
use flywheel_core::service::Move;
use flywheel_core::service::deposit::Funnel;
use flywheel_core::time::{DAY, to_datetime};
use flywheel_store::{QueueFigures, TicketQuery, TicketRow};
use serde::Deserialize;
use serde_json::json;

pub(super) struct TicketLine {
    pub id: i64,
    pub member_id: i64,
    pub queue: String,
    pub kind: String,
    pub category: String,
    pub status: String,
    pub opened: String,
    pub due: String,
    pub breached: bool,
    pub open: bool,
}

pub(super) fn line(t: &TicketRow) -> TicketLine {
    let stamp = |at: i64| to_datetime(at).format("%Y-%m-%d %H:%M UTC").to_string();
    let due = match t.status.as_str() {
        "open" => t.respond_by,
        "responded" => t.resolve_by,
        _ => None,
    };
    TicketLine {
        id: t.id,
        member_id: t.member_id,
        queue: t.queue_id.clone().unwrap_or_else(|| "–".into()),
        kind: t.kind.clone(),
        category: t.category.clone().unwrap_or_else(|| "–".into()),
        status: t.status.as_str().to_owned(),
        opened: stamp(t.opened_at),
        due: due.map_or_else(|| "–".to_owned(), stamp),
        breached: t.breached(),
        open: t.status.as_str() != "resolved",
    }
}

/// Deals take weeks from a deposit to delivery: the funnel looks back further than the
/// queues do.
const DEPOSIT_DAYS: i64 = 90;

#[derive(Template)]
#[template(path = "service.html")]
struct ServicePage {
    chrome: Chrome,
    queues: Vec<QueueFigures>,
    /// Deals begun in the last 90 days: every one, with a service team, without.
    deposits: Vec<(&'static str, &'static str, Funnel)>,
    any_deals: bool,
    care: Vec<flywheel_store::CareRow>,
    store: String,
    breached: Vec<TicketLine>,
    latest: Vec<TicketLine>,
    done: Option<String>,
}

/// Hours with one decimal, or a dash.
pub(super) fn hours(h: &Option<f64>) -> String {
    h.map_or_else(|| "–".to_owned(), |h| format!("{h:.1} h"))
}

/// A share as a percent, or a dash.
pub(super) fn share(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0))
}

/// [`share`] of a field the template holds by reference.
pub(super) fn share_of(r: &Option<f64>) -> String {
    share(*r)
}

#[derive(Deserialize)]
pub(super) struct Done {
    done: Option<String>,
    /// The store whose care list to show; every store when absent.
    store: Option<String>,
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<Done>,
) -> Result<Response, PageError> {
    viewer.caller.require(Permission::ReadMembers)?;
    let now = state.now();
    let queues = state.store.service_figures(now - 30 * DAY, now + 1).await?;
    let funnels = state
        .store
        .deposit_funnels(now - DEPOSIT_DAYS * DAY, now + 1)
        .await?;
    let deposits = vec![
        ("all", "Every deal", funnels.all),
        ("with-team", "With a service team", funnels.with_team),
        ("without-team", "Without a team", funnels.without_team),
    ];
    let breached = state
        .store
        .tickets(&TicketQuery {
            breached: Some(true),
            limit: 200,
            ..TicketQuery::default()
        })
        .await?
        .iter()
        .filter(|t| t.status.as_str() != "resolved")
        .map(line)
        .collect();
    let latest = state
        .store
        .tickets(&TicketQuery {
            limit: 50,
            ..TicketQuery::default()
        })
        .await?
        .iter()
        .map(line)
        .collect();
    state.store.compute_care(now, &state.policy.care).await?;
    let store = q.store.filter(|s| !s.trim().is_empty() && s.len() <= 100);
    let care = state.store.care_list(now, store.as_deref(), 100).await?;
    let page = ServicePage {
        chrome: Chrome::of(&viewer, "service"),
        queues,
        any_deals: deposits[0].2.deals > 0,
        deposits,
        care,
        store: store.unwrap_or_default(),
        breached,
        latest,
        done: q.done.filter(|d| d.len() < 40),
    };
    Ok(render(&viewer, &page))
}

#[derive(Deserialize)]
pub(super) struct MoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

/// Answers or resolves a ticket from the page, as the API does.
pub(super) async fn move_ticket(
    viewer: Viewer,
    State(state): State<AppState>,
    Path((id, step)): Path<(String, String)>,
    form: Result<Form<MoveForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form?;
    check_csrf(&viewer, &form.csrf)?;
    viewer.caller.require(Permission::HandleTickets)?;
    let step = match step.as_str() {
        "respond" => Move::Respond,
        "resolve" => Move::Resolve,
        _ => {
            return Err(crate::error::ApiError::not_found(
                flywheel_core::ErrorCode::NotFound,
                "a ticket is answered or resolved here",
            )
            .into());
        }
    };
    let note = form.note.trim();
    let body = if note.is_empty() {
        json!({})
    } else {
        json!({"note": note})
    };
    make_move(&state, &viewer.caller, &id, step, body)
        .await
        .map(drop)?;
    Ok(Redirect::to(&format!("/service?done={}", step.as_str())).into_response())
}
