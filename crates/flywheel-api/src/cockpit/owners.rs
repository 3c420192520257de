//! `/service/owners`: one member of staff's relationships — the members they own, each
//! with what needs doing today (care moments, open tickets, a super user not talked to,
//! a prospect for the paid tier) — and a button to log that they got in touch, which
//! sends the member's outgoing `message` as `POST /v1/members/{id}/contacts` does.

use super::page::{Chrome, PageError, check_csrf, render};
use super::session::Viewer;
use crate::routes::owners::log_contact;
use crate::service_views::ContactInput;
use crate::state::AppState;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use flywheel_core::auth::Permission;
use flywheel_store::{OwnedMember, StaffRow};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "owners.html")]
struct OwnersPage {
    chrome: Chrome,
    roster: Vec<StaffRow>,
    /// The member of staff shown, if one was chosen and is on the roster.
    chosen: Option<StaffRow>,
    members: Vec<OwnedMember>,
    /// Each form's idempotency key starts with this: a form sent twice logs once.
    form_key: String,
    done: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct Chosen {
    staff: Option<String>,
    /// The member whose contact was just logged.
    done: Option<i64>,
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(q): Query<Chosen>,
) -> Result<Response, PageError> {
    viewer.caller.require(Permission::ReadMembers)?;
    let roster: Vec<StaffRow> = state
        .store
        .staff()
        .await?
        .into_iter()
        .filter(|s| s.active)
        .collect();
    let chosen = q
        .staff
        .and_then(|id| roster.iter().find(|s| s.id == id).cloned());
    let now = state.now();
    let members = match &chosen {
        Some(s) => {
            state.store.compute_care(now, &state.policy.care).await?;
            state.store.owned_members(&s.id, now, 200).await?
        }
        None => Vec::new(),
    };
    let page = OwnersPage {
        chrome: Chrome::of(&viewer, "service"),
        roster,
        chosen,
        members,
        form_key: format!("cockpit-{now}"),
        done: q.done,
    };
    Ok(render(&viewer, &page))
}

#[derive(Deserialize)]
pub(super) struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    key: String,
}

/// Logs a contact from the page, as the API does.
pub(super) async fn contact(
    viewer: Viewer,
    State(state): State<AppState>,
    Path((staff, member)): Path<(String, String)>,
    form: Result<Form<ContactForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form?;
    check_csrf(&viewer, &form.csrf)?;
    viewer.caller.require(Permission::HandleTickets)?;
    let note = form.note.trim();
    let input = ContactInput {
        idempotency_key: format!("{}-{staff}-{member}", form.key),
        staff_id: staff.clone(),
        channel: None,
        note: (!note.is_empty()).then(|| note.to_owned()),
    };
    log_contact(&state, &member, input).await?;
    let done = member.parse::<i64>().unwrap_or_default();
    // A staff id is a slug (checked when the roster took it), safe in a query string.
    Ok(Redirect::to(&format!("/service/owners?staff={staff}&done={done}")).into_response())
}
