//! `/segments`: every segment with its count; a builder whose count updates as the
//! expression is typed (htmx posts it to `/segments/preview`, which answers a fragment:
//! the count, or the error with its line and column and a caret under the spot); save
//! (operator and admin) and export as CSV.

use super::page::{Chrome, PageError, check_csrf, html_response, render};
use super::session::Viewer;
use crate::error::ApiError;
use crate::routes::segments;
use crate::segment_views::SegmentInput;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use flywheel_core::auth::Permission;
use flywheel_core::privacy::mask_text;
use serde::Deserialize;

#[derive(Clone)]
pub(super) struct SegmentLine {
    pub id: String,
    pub name: String,
    pub expression: String,
    pub count: i64,
    pub builtin: bool,
    pub tag: Option<String>,
    pub badge: Option<String>,
}

#[derive(Template)]
#[template(path = "segments.html")]
struct SegmentsPage {
    chrome: Chrome,
    segments: Vec<SegmentLine>,
    /// The segment loaded into the builder (`?edit=id`), if any.
    editing: Option<SegmentLine>,
}

#[derive(Deserialize)]
pub(super) struct EditQuery {
    edit: Option<String>,
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(q): Query<EditQuery>,
) -> Result<Response, PageError> {
    let counts = state.store.segment_counts().await?;
    let segments = state
        .store
        .segments()
        .await?
        .into_iter()
        .map(|s| SegmentLine {
            count: counts.get(&s.id).copied().unwrap_or(0),
            id: s.id,
            name: s.name,
            expression: s.expression,
            builtin: s.builtin,
            tag: s.tag,
            badge: s.badge,
        })
        .collect();
    let segments: Vec<SegmentLine> = segments;
    let editing = q
        .edit
        .and_then(|id| segments.iter().find(|s| s.id == id))
        .cloned();
    let page = SegmentsPage {
        chrome: Chrome::of(&viewer, "segments"),
        segments,
        editing,
    };
    Ok(render(&viewer, &page))
}

#[derive(Template)]
#[template(path = "segment_preview.html")]
struct PreviewFragment {
    count: Option<i64>,
    error: Option<String>,
    /// The expression's line the error is on, and spaces up to its column.
    error_line: String,
    caret_pad: String,
}

#[derive(Deserialize)]
pub(super) struct PreviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    expression: String,
}

/// The live count as an HTML fragment; writes nothing.
pub(super) async fn preview(
    viewer: Viewer,
    State(state): State<AppState>,
    form: Result<Form<PreviewForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form?;
    check_csrf(&viewer, &form.csrf)?;
    let mut fragment = PreviewFragment {
        count: None,
        error: None,
        error_line: String::new(),
        caret_pad: String::new(),
    };
    if !form.expression.trim().is_empty() {
        match segments::checked(&state, &form.expression) {
            Ok(cond) => {
                let p = state.store.preview_segment(&cond, state.now(), 0).await?;
                fragment.count = Some(p.count);
            }
            Err(e) => {
                let line = e
                    .extra
                    .as_ref()
                    .and_then(|x| x.get("line")?.as_u64())
                    .unwrap_or(1);
                let column = e
                    .extra
                    .as_ref()
                    .and_then(|x| x.get("column")?.as_u64())
                    .unwrap_or(1);
                fragment.error_line = form
                    .expression
                    .lines()
                    .nth(usize::try_from(line.saturating_sub(1)).unwrap_or(0))
                    .unwrap_or("")
                    .to_owned();
                fragment.caret_pad =
                    " ".repeat(usize::try_from(column.saturating_sub(1)).unwrap_or(0));
                fragment.error = Some(e.message);
            }
        }
    }
    let html = fragment.render().map_err(ApiError::internal)?;
    let html = if viewer.caller.role.sees_personal_data() {
        html
    } else {
        mask_text(&html).into_owned()
    };
    Ok(html_response(StatusCode::OK, html))
}

#[derive(Deserialize)]
pub(super) struct SaveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    expression: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    badge: String,
}

/// Saves a segment (new or changed) from the builder.
pub(super) async fn save(
    viewer: Viewer,
    State(state): State<AppState>,
    form: Result<Form<SaveForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form?;
    check_csrf(&viewer, &form.csrf)?;
    viewer.caller.require(Permission::ManageSegments)?;
    let id = form.id.trim().to_owned();
    let input = SegmentInput {
        id: Some(id.clone()),
        name: form.name,
        expression: form.expression,
        tag: Some(form.tag.trim().to_owned()).filter(|t| !t.is_empty()),
        badge: Some(form.badge.trim().to_owned()).filter(|b| !b.is_empty()),
    };
    let _saved = segments::save(&state, &viewer.caller, &id, input, false).await?;
    Ok(Redirect::to("/segments").into_response())
}

/// The segment's members as CSV, masked for roles that do not see contact details.
pub(super) async fn export(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let response = segments::export_csv(&state, &id).await?;
    Ok(if viewer.caller.role.sees_personal_data() {
        response
    } else {
        crate::privacy::mask_response(response).await
    })
}
