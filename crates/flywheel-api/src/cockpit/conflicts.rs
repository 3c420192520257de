//! `/conflicts`: the identity conflicts resolution held for a person to decide, each
//! with both members side by side; merge them or dismiss the conflict (both audited,
//! through the same functions as the API).

use super::members::MemberLine;
use super::page::{Chrome, PageError, check_csrf, render};
use super::session::Viewer;
use crate::error::ApiError;
use crate::routes::identity;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use flywheel_core::ErrorCode;
use flywheel_core::auth::Permission;
use flywheel_core::time::to_rfc3339;
use serde::Deserialize;

pub(super) struct ConflictLine {
    pub id: i64,
    pub created_at: String,
    pub kind: String,
    pub values: String,
    pub explanation: String,
    pub members: Vec<MemberLine>,
}

#[derive(Template)]
#[template(path = "conflicts.html")]
struct ConflictsPage {
    chrome: Chrome,
    conflicts: Vec<ConflictLine>,
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    viewer.caller.require(Permission::ReadConflicts)?;
    let mut conflicts = Vec::new();
    for c in state.store.conflicts(Some("open"), 0, 100).await? {
        let mut members = Vec::new();
        for id in &c.member_ids {
            if let Some(m) = state.store.member(*id).await? {
                members.push(MemberLine::of(&m));
            }
        }
        conflicts.push(ConflictLine {
            id: c.id,
            created_at: to_rfc3339(c.created_at),
            kind: c.kind,
            values: c.values.join(", "),
            explanation: c.explanation,
            members,
        });
    }
    let page = ConflictsPage {
        chrome: Chrome::of(&viewer, "conflicts"),
        conflicts,
    };
    Ok(render(&viewer, &page))
}

#[derive(Deserialize)]
pub(super) struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    /// Merge: the member that survives and the one merged into it.
    survivor: Option<String>,
    other: Option<String>,
}

/// `POST /conflicts/{id}/dismiss`, or with `survivor` and `other`, merge the two.
pub(super) async fn dismiss(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form?;
    check_csrf(&viewer, &form.csrf)?;
    viewer.caller.require(Permission::ManageIdentities)?;
    let id: i64 =
        raw.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
            ApiError::new(ErrorCode::ConflictNotFound, format!("no conflict {raw}"))
        })?;
    let reason = flywheel_core::validation::check_paragraph("reason", &form.reason, 500)
        .map_err(ApiError::from)?;
    match (form.survivor.as_deref(), form.other.as_deref()) {
        (Some(a), Some(b)) => {
            let a = crate::routes::member_id(a)?;
            let b = crate::routes::member_id(b)?;
            identity::merge_members(&state, &viewer.caller, a, b, &reason).await?;
        }
        _ => {
            identity::dismiss_conflict(&state, &viewer.caller, id, &reason).await?;
        }
    }
    Ok(Redirect::to("/conflicts").into_response())
}
