//! Service queues (`/v1/queues`) and the staff roster (`/v1/staff`): which team owns a
//! category of feedback, how fast it must answer in its working hours, and who can be
//! assigned. Admin and operator keys change them; every change is audited.

use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::service_views::{
    QueueInput, QueueList, QueueView, StaffInput, StaffList, StaffView, WorkingHoursView,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::service::queue::target_minutes;
use flywheel_core::service::{Queue, WorkingHours};
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::check_line;
use flywheel_store::{PutStaff, QueueRow, SavedQueue, StaffRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/queues", get(list_queues))
        .route(
            "/v1/queues/{id}",
            put(put_queue).get(get_queue).delete(delete_queue),
        )
        .route("/v1/staff", get(list_staff).post(save_staff))
}

pub(crate) fn queue_view(row: QueueRow) -> QueueView {
    let q = row.queue;
    QueueView {
        working_hours: WorkingHoursView {
            days: q.hours.day_names().iter().map(|d| d.to_string()).collect(),
            from: q.hours.from_text(),
            to: q.hours.to_text(),
            time_zone: q.hours.tz.name().to_owned(),
        },
        respond_within_hours: f64::from(q.respond_minutes) / 60.0,
        resolve_within_hours: f64::from(q.resolve_minutes) / 60.0,
        id: q.id,
        name: q.name,
        categories: q.categories,
        team: q.team,
        created_at: to_rfc3339(row.created_at),
        updated_at: to_rfc3339(row.updated_at),
        updated_by: row.updated_by,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(ErrorCode::QueueNotFound, format!("no queue {id:?}"))
}

fn hours_error(field: &str, message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidValue, message).field(field)
}

/// The queue the input describes, checked field by field.
fn checked_queue(id: &str, input: QueueInput) -> Result<Queue, ApiError> {
    super::check_slug(id, "a queue id")?;
    let name = match &input.name {
        Some(n) => check_line("name", n, 100)?,
        None => id.to_owned(),
    };
    if input.categories.is_empty() || input.categories.len() > 50 {
        return Err(hours_error(
            "categories",
            "categories lists 1 to 50 categories (or \"*\" for any other)".into(),
        ));
    }
    let mut categories = Vec::new();
    for (i, c) in input.categories.iter().enumerate() {
        let c = check_line(&format!("categories[{i}]"), c, 64)?;
        if c.is_empty() {
            return Err(hours_error(
                &format!("categories[{i}]"),
                "a category is not empty".into(),
            ));
        }
        if !categories.contains(&c) {
            categories.push(c);
        }
    }
    let team = input
        .team
        .as_deref()
        .map(|t| check_line("team", t, 100))
        .transpose()?;
    let respond = target_minutes(input.respond_within_hours).ok_or_else(|| {
        hours_error(
            "respond_within_hours",
            "respond_within_hours is a number of hours above 0, up to a year".into(),
        )
    })?;
    let resolve = target_minutes(input.resolve_within_hours).ok_or_else(|| {
        hours_error(
            "resolve_within_hours",
            "resolve_within_hours is a number of hours above 0, up to a year".into(),
        )
    })?;
    if resolve < respond {
        return Err(hours_error(
            "resolve_within_hours",
            "resolve_within_hours is at least respond_within_hours".into(),
        ));
    }
    let hours = match &input.working_hours {
        None => WorkingHours::always(),
        Some(w) => WorkingHours::parse(&w.days, &w.from, &w.to, &w.time_zone)
            .map_err(|e| hours_error(e.field, e.message))?,
    };
    Ok(Queue {
        id: id.to_owned(),
        name,
        categories,
        team,
        respond_minutes: respond,
        resolve_minutes: resolve,
        hours,
    })
}

/// List the service queues
#[utoipa::path(get, path = "/v1/queues", tag = "service",
    responses((status = 200, body = QueueList)),
    security(("bearer" = [])))]
pub async fn list_queues(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
) -> Result<Json<QueueList>, ApiError> {
    let queues = state
        .store
        .queues()
        .await?
        .into_iter()
        .map(queue_view)
        .collect();
    Ok(Json(QueueList { queues }))
}

/// One queue
#[utoipa::path(get, path = "/v1/queues/{id}", tag = "service",
    params(("id" = String, Path, description = "Queue id")),
    responses((status = 200, body = QueueView), (status = 404, description = "queue_not_found")),
    security(("bearer" = [])))]
pub async fn get_queue(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<QueueView>, ApiError> {
    let row = state
        .store
        .queue(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(queue_view(row)))
}

/// Create or change a queue
///
/// Feedback whose category the queue lists opens its tickets here, with response and
/// resolution targets counted in the working hours. Tickets already open keep the
/// targets they opened with. Sending the same queue again answers 200.
#[utoipa::path(put, path = "/v1/queues/{id}", tag = "service",
    params(("id" = String, Path, description = "Queue id")),
    request_body(content = QueueInput),
    responses((status = 201, body = QueueView, description = "Created or changed"),
        (status = 200, body = QueueView, description = "Unchanged"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn put_queue(
    caller: Allowed<need::ManageService>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<QueueView>), ApiError> {
    let input: QueueInput = typed(body)?;
    super::same_id(&id, input.id.as_ref())?;
    let queue = checked_queue(&id, input)?;
    let saved = state
        .store
        .save_queue(&queue, &caller.audit_actor(), state.now())
        .await?;
    Ok(match saved {
        SavedQueue::Created(q) | SavedQueue::Updated(q) => {
            (StatusCode::CREATED, Json(queue_view(q)))
        }
        SavedQueue::Unchanged(q) => (StatusCode::OK, Json(queue_view(q))),
    })
}

/// Delete a queue
///
/// Its tickets keep their queue and targets; new feedback of its categories routes to
/// another queue (or none).
#[utoipa::path(delete, path = "/v1/queues/{id}", tag = "service",
    params(("id" = String, Path, description = "Queue id")),
    responses((status = 204), (status = 404, description = "queue_not_found")),
    security(("bearer" = [])))]
pub async fn delete_queue(
    caller: Allowed<need::ManageService>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store
        .delete_queue(&id, &caller.audit_actor(), state.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

pub(crate) fn staff_view(s: StaffRow) -> StaffView {
    StaffView {
        id: s.id,
        name: s.name,
        roles: s.roles,
        city: s.city,
        store: s.store,
        active: s.active,
        created_at: to_rfc3339(s.created_at),
        updated_at: to_rfc3339(s.updated_at),
    }
}

/// The staff roster
#[utoipa::path(get, path = "/v1/staff", tag = "service",
    responses((status = 200, body = StaffList)),
    security(("bearer" = [])))]
pub async fn list_staff(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
) -> Result<Json<StaffList>, ApiError> {
    let staff = state
        .store
        .staff()
        .await?
        .into_iter()
        .map(staff_view)
        .collect();
    Ok(Json(StaffList { staff }))
}

/// Add or change a member of staff
///
/// Saved whole under its id; the same body again answers 200.
#[utoipa::path(post, path = "/v1/staff", tag = "service",
    request_body(content = StaffInput),
    responses((status = 201, body = StaffView, description = "Added or changed"),
        (status = 200, body = StaffView, description = "Unchanged"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn save_staff(
    caller: Allowed<need::ManageService>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<StaffView>), ApiError> {
    let input: StaffInput = typed(body)?;
    super::check_slug(&input.id, "a staff id")?;
    let name = check_line("name", &input.name, 100)?;
    if name.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidValue, "name is empty").field("name"));
    }
    if input.roles.len() > 20 {
        return Err(
            ApiError::new(ErrorCode::InvalidValue, "roles lists up to 20 roles").field("roles"),
        );
    }
    let mut roles = Vec::new();
    for (i, r) in input.roles.iter().enumerate() {
        let field = format!("roles[{i}]");
        super::check_slug(r, "a role").map_err(|e| e.field(&field))?;
        if !roles.contains(r) {
            roles.push(r.clone());
        }
    }
    let optional = |field: &str, v: &Option<String>| -> Result<Option<String>, ApiError> {
        v.as_deref()
            .map(|s| check_line(field, s, 100))
            .transpose()
            .map(|s| s.filter(|s| !s.is_empty()))
            .map_err(ApiError::from)
    };
    let staff = PutStaff {
        id: input.id.clone(),
        name,
        roles,
        city: optional("city", &input.city)?,
        store: optional("store", &input.store)?,
        active: input.active.unwrap_or(true),
    };
    let (row, changed) = state
        .store
        .save_staff(&staff, &caller.audit_actor(), state.now())
        .await?;
    let status = if changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(staff_view(row))))
}
