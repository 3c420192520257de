//! The content library (`/v1/content`): message templates per channel, checked when
//! saved (an unknown `{{variable}}` is refused with where it stands), previewed for a
//! member, versioned and audited.

use super::member_id;
use crate::auth::{Allowed, Caller, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::engagement_views::{
    ContentInput, ContentList, ContentPreviewInput, ContentPreviewView, ContentView,
    PerformanceView,
};
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::engagement::{CHANNELS, is_channel, template};
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::{check_line, check_paragraph};
use flywheel_store::{ContentRow, Messages, PutContent, SavedContent};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/content", get(list_content).post(create_content))
        .route(
            "/v1/content/{id}",
            get(get_content).put(put_content).delete(delete_content),
        )
        .route("/v1/content/{id}/preview", post(preview))
        .route("/v1/content/{id}/performance", get(content_performance))
}

fn view(c: ContentRow) -> ContentView {
    let mut variables = template::variables(&c.body);
    if let Some(s) = &c.subject {
        for v in template::variables(s) {
            if !variables.contains(&v) {
                variables.push(v);
            }
        }
    }
    ContentView {
        variables,
        id: c.id,
        channel: c.channel,
        name: c.name,
        subject: c.subject,
        body: c.body,
        link: c.link,
        version: c.version,
        created_at: to_rfc3339(c.created_at),
        updated_at: to_rfc3339(c.updated_at),
        updated_by: c.updated_by,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(ErrorCode::ContentNotFound, format!("no content {id:?}"))
}

fn checked_template(field: &'static str, text: &str) -> Result<(), ApiError> {
    template::check(text).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidTemplate,
            format!("{field}: {}", e.message),
        )
        .field(field)
        .with("at", e.at)
    })
}

/// List the content library
#[utoipa::path(get, path = "/v1/content", tag = "engagement",
    responses((status = 200, body = ContentList)),
    security(("bearer" = [])))]
pub async fn list_content(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
) -> Result<Json<ContentList>, ApiError> {
    let content = state
        .store
        .contents()
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(Json(ContentList { content }))
}

/// One template
#[utoipa::path(get, path = "/v1/content/{id}", tag = "engagement",
    params(("id" = String, Path, description = "Content id")),
    responses((status = 200, body = ContentView), (status = 404, description = "content_not_found")),
    security(("bearer" = [])))]
pub async fn get_content(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ContentView>, ApiError> {
    let row = state
        .store
        .content(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(view(row)))
}

/// Save a template
///
/// A template that names a variable Flywheel does not know, or leaves `{{` open, is
/// refused (422 `invalid_template`, with the byte offset `at`). Sending the same
/// template again answers 200 and changes nothing.
#[utoipa::path(post, path = "/v1/content", tag = "engagement",
    request_body(content = ContentInput),
    responses((status = 201, body = ContentView, description = "Saved"),
        (status = 200, body = ContentView, description = "Stored before, unchanged"),
        (status = 409, description = "content_exists: the id holds another template"),
        (status = 422, description = "invalid_template, or an unsound field")),
    security(("bearer" = [])))]
pub async fn create_content(
    caller: Allowed<need::ManageEngagement>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<ContentView>), ApiError> {
    let input: ContentInput = typed(body)?;
    let id = super::required_id(input.id.as_ref())?;
    save(&state, &caller, &id, input, true).await
}

/// Change a template (or save it under this id)
#[utoipa::path(put, path = "/v1/content/{id}", tag = "engagement",
    params(("id" = String, Path, description = "Content id")),
    request_body(content = ContentInput),
    responses((status = 201, body = ContentView, description = "Saved (a new version)"),
        (status = 200, body = ContentView, description = "Unchanged"),
        (status = 422, description = "invalid_template, or an unsound field")),
    security(("bearer" = [])))]
pub async fn put_content(
    caller: Allowed<need::ManageEngagement>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<ContentView>), ApiError> {
    let input: ContentInput = typed(body)?;
    super::same_id(&id, input.id.as_ref())?;
    save(&state, &caller, &id, input, false).await
}

async fn save(
    state: &AppState,
    caller: &Caller,
    id: &str,
    input: ContentInput,
    create: bool,
) -> Result<(StatusCode, Json<ContentView>), ApiError> {
    super::check_slug(id, "a content id")?;
    if !is_channel(&input.channel) {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            format!("channel is one of {}", CHANNELS.join(", ")),
        )
        .field("channel"));
    }
    let name = match &input.name {
        Some(n) => check_line("name", n, 100)?,
        None => id.to_owned(),
    };
    let subject = match &input.subject {
        Some(s) => {
            let s = check_line("subject", s, 200)?;
            checked_template("subject", &s)?;
            Some(s)
        }
        None => None,
    };
    let body = check_paragraph("body", &input.body, 4000)?;
    if body.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidValue, "body is empty").field("body"));
    }
    checked_template("body", &body)?;
    let link = match &input.link {
        Some(l) => {
            let l = check_line("link", l, 1000)?;
            let sound = (l.starts_with("https://") || l.starts_with("http://"))
                && !l.contains(char::is_whitespace)
                && l.len() > "https://".len();
            if !sound {
                return Err(
                    ApiError::new(ErrorCode::InvalidValue, "link is an http(s) URL").field("link"),
                );
            }
            Some(l)
        }
        None => None,
    };
    let def = PutContent {
        id: id.to_owned(),
        channel: input.channel,
        name,
        subject,
        body,
        link,
    };
    let saved = state
        .store
        .save_content(&def, create, &caller.audit_actor(), state.now())
        .await?;
    match saved {
        SavedContent::Created(c) | SavedContent::Updated(c) => {
            Ok((StatusCode::CREATED, Json(view(c))))
        }
        SavedContent::Unchanged(c) => Ok((StatusCode::OK, Json(view(c)))),
        SavedContent::Exists => Err(ApiError::new(
            ErrorCode::ContentExists,
            format!("content {id:?} exists; change it with PUT"),
        )
        .field("id")),
    }
}

/// Delete a template
#[utoipa::path(delete, path = "/v1/content/{id}", tag = "engagement",
    params(("id" = String, Path, description = "Content id")),
    responses((status = 204), (status = 404, description = "content_not_found")),
    security(("bearer" = [])))]
pub async fn delete_content(
    caller: Allowed<need::ManageEngagement>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store
        .delete_content(&id, &caller.audit_actor(), state.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// A template as a member would receive it now
#[utoipa::path(post, path = "/v1/content/{id}/preview", tag = "engagement",
    params(("id" = String, Path, description = "Content id")),
    request_body(content = ContentPreviewInput),
    responses((status = 200, body = ContentPreviewView),
        (status = 404, description = "content_not_found or member_not_found")),
    security(("bearer" = [])))]
pub async fn preview(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<ContentPreviewView>, ApiError> {
    let input: ContentPreviewInput = typed(body)?;
    let member = member_id(&input.member_id.to_string()).map_err(|e| e.field("member_id"))?;
    let content = state
        .store
        .content(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let programme = state.policy.points.default_programme();
    let mut values = state
        .store
        .template_values(member, programme, state.now())
        .await?
        .ok_or_else(|| {
            ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {member}"))
        })?;
    if let Some(l) = &content.link {
        values.insert("link", l.clone());
    }
    Ok(Json(ContentPreviewView {
        content: content.id,
        member_id: member,
        channel: content.channel,
        subject: content.subject.map(|s| template::render(&s, &values)),
        body: template::render(&content.body, &values),
    }))
}

/// How a template's messages did
///
/// Decided, suppressed, delivered, opened, clicked, and how many members bought or rose
/// a stage within `days` of a delivery, across every journey that sent it.
#[utoipa::path(get, path = "/v1/content/{id}/performance", tag = "engagement",
    params(("id" = String, Path, description = "Content id"),
        ("days" = Option<u32>, Query, description = "1-90; 7 by default")),
    responses((status = 200, body = PerformanceView), (status = 400, description = "invalid_query"),
        (status = 404, description = "content_not_found")),
    security(("bearer" = [])))]
pub async fn content_performance(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<Json<PerformanceView>, ApiError> {
    let days = super::journeys::window_days(params)?;
    if state.store.content(&id).await?.is_none() {
        return Err(not_found(&id));
    }
    let p = state
        .store
        .message_performance(Messages::Content(&id), days)
        .await?;
    Ok(Json(PerformanceView::of(p, days)))
}
