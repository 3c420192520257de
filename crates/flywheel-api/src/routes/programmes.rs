//! Membership programmes: `GET /v1/programmes`, `GET/PUT /v1/programmes/{id}`. A `PUT`
//! stores the whole definition as the next version (admin only, audited); reading them
//! needs what reading members needs, since tills and shops show tiers.

use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::membership_views::{ProgrammeList, ProgrammeVersionView, ProgrammeView};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::membership::Programme;
use flywheel_core::time::to_rfc3339;
use flywheel_store::{ProgrammeVersion, PutProgramme};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/programmes", get(list_programmes))
        .route("/v1/programmes/{id}", get(get_programme).put(put_programme))
}

fn view(v: ProgrammeVersion) -> Result<ProgrammeView, ApiError> {
    Ok(ProgrammeView {
        id: v.id,
        version: v.version,
        updated_at: to_rfc3339(v.created_at),
        updated_by: v.created_by,
        definition: serde_json::to_value(&v.definition).map_err(ApiError::internal)?,
        versions: None,
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ProgrammeNotFound,
        format!("no membership programme {id:?}"),
    )
    .field("id")
}

/// Every membership programme, as its newest version defines it
#[utoipa::path(get, path = "/v1/programmes", tag = "memberships",
    responses((status = 200, body = ProgrammeList)),
    security(("bearer" = [])))]
pub async fn list_programmes(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
) -> Result<Json<ProgrammeList>, ApiError> {
    let programmes = state
        .store
        .programmes()
        .await?
        .into_iter()
        .map(view)
        .collect::<Result<_, _>>()?;
    Ok(Json(ProgrammeList { programmes }))
}

/// A membership programme, with its stored versions
#[utoipa::path(get, path = "/v1/programmes/{id}", tag = "memberships",
    params(("id" = String, Path, description = "Programme id")),
    responses((status = 200, body = ProgrammeView), (status = 404, description = "programme_not_found")),
    security(("bearer" = [])))]
pub async fn get_programme(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ProgrammeView>, ApiError> {
    let versions = state.store.programme_versions(&id).await?;
    let Some(newest) = versions.first().cloned() else {
        return Err(not_found(&id));
    };
    let mut answer = view(newest)?;
    answer.versions = Some(
        versions
            .into_iter()
            .map(|v| ProgrammeVersionView {
                version: v.version,
                stored_at: to_rfc3339(v.created_at),
                stored_by: v.created_by,
            })
            .collect(),
    );
    Ok(Json(answer))
}

/// Define a membership programme, or change it (a new version)
///
/// The whole definition: a paid ladder (fees, the share payable in points, upgrades
/// by qualifying spend, retention at the end of the term), tiers earned by spend or
/// points over a rolling window, or a card for an audience. Every problem is answered
/// at once (422, each naming its field). A programme keeps the kind it was created
/// with. Sending the newest version again stores nothing and answers that version.
#[utoipa::path(put, path = "/v1/programmes/{id}", tag = "memberships",
    params(("id" = String, Path, description = "Programme id: 1-40 lower-case letters, digits, '_' or '-'")),
    request_body(content = crate::membership_views::ProgrammeInput),
    responses((status = 200, body = ProgrammeView),
        (status = 422, description = "The definition is unsound (each field named), or it changes the programme's kind")),
    security(("bearer" = [])))]
pub async fn put_programme(
    caller: Allowed<need::ManageProgrammes>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<ProgrammeView>, ApiError> {
    let definition: Programme = typed(body)?;
    let errors = definition.validate(&id);
    if !errors.is_empty() {
        return Err(ApiError::invalid_event(errors));
    }
    let now = state.now();
    match state
        .store
        .put_programme(&id, &definition, &caller.audit_actor(), now)
        .await?
    {
        PutProgramme::Stored(_) => {}
        PutProgramme::KindChanged(kind) => {
            let was = serde_json::to_value(kind).map_err(ApiError::internal)?;
            return Err(ApiError::new(
                ErrorCode::InvalidValue,
                format!("programme {id:?} is {was}; its kind cannot change"),
            )
            .field("kind"));
        }
    }
    let stored = state
        .store
        .programme(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(view(stored)?))
}
