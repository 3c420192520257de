//! Tags: dimensions designed in advance (`PUT /v1/tags/dimensions/{id}`), tags in use
//! with their counts (`GET /v1/tags`), and a member's tags, set and removed by staff.
//! Each change moves the member's segments in the same transaction and is audited.

use super::member_id;
use crate::auth::{Allowed, Caller, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::segment_views::{
    DimensionInput, DimensionView, MemberTagView, MemberTagsView, TagCountView, TagInput, TagsView,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::segment::tags::{Dimension, MAX_TAG_LEN, parse_tag};
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::{check_line, check_paragraph};
use flywheel_store::{DimensionRow, SetTag};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tags", get(list_tags))
        .route("/v1/tags/dimensions/{id}", put(put_dimension))
        .route("/v1/members/{id}/tags", get(member_tags).post(add_tag))
        .route("/v1/members/{id}/tags/{tag}", delete(remove_tag))
}

fn dimension_view(d: DimensionRow) -> DimensionView {
    DimensionView {
        id: d.dimension.id,
        name: d.dimension.name,
        multiple: d.dimension.multiple,
        values: d.dimension.values,
        created_at: to_rfc3339(d.created_at),
    }
}

fn no_member(id: i64) -> ApiError {
    ApiError::new(ErrorCode::MemberNotFound, format!("no member {id}")).field("id")
}

/// Tags in use with how many members carry each, and the dimensions
#[utoipa::path(get, path = "/v1/tags", tag = "segments",
    responses((status = 200, body = TagsView)),
    security(("bearer" = [])))]
pub async fn list_tags(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
) -> Result<Json<TagsView>, ApiError> {
    let tags = state
        .store
        .tag_counts()
        .await?
        .into_iter()
        .map(|t| TagCountView {
            tag: t.tag,
            dimension: t.dimension,
            members: t.members,
        })
        .collect();
    let dimensions = state
        .store
        .tag_dimensions()
        .await?
        .into_iter()
        .map(dimension_view)
        .collect();
    Ok(Json(TagsView { tags, dimensions }))
}

/// Define a dimension of tags
///
/// `diet` with values `vegetarian`, `vegan`…; one value per member or many. Tags of the
/// dimension are written `diet:vegetarian`.
#[utoipa::path(put, path = "/v1/tags/dimensions/{id}", tag = "segments",
    params(("id" = String, Path, description = "Dimension id: letters, digits, '_', '-' or '.'")),
    request_body(content = DimensionInput),
    responses((status = 200, body = DimensionView), (status = 422, description = "An unsound field, named")),
    security(("bearer" = [])))]
pub async fn put_dimension(
    caller: Allowed<need::ManageSegments>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<DimensionView>, ApiError> {
    let input: DimensionInput = typed(body)?;
    if id.contains(':') || parse_tag(&id).is_err() || id.len() > 32 {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            "a dimension id is 1-32 letters, digits, '_', '-' or '.'",
        )
        .field("id"));
    }
    let name = check_line("name", &input.name, 100)?;
    let values = input.values.unwrap_or_default();
    if values.len() > 200 {
        return Err(ApiError::new(ErrorCode::OutOfRange, "at most 200 values").field("values"));
    }
    for (i, v) in values.iter().enumerate() {
        let whole = format!("{id}:{v}");
        if v.contains(':') || parse_tag(&whole).is_err() {
            return Err(ApiError::new(
                ErrorCode::InvalidValue,
                format!("values[{i}]: a value is letters, digits, '_', '-' or '.', and {id}:value at most {MAX_TAG_LEN} bytes"),
            )
            .field(format!("values[{i}]")));
        }
    }
    let d = Dimension {
        id: id.clone(),
        name,
        multiple: input.multiple,
        values,
    };
    state
        .store
        .save_tag_dimension(&d, &caller.audit_actor(), state.now())
        .await?;
    let saved = state
        .store
        .tag_dimensions()
        .await?
        .into_iter()
        .find(|x| x.dimension.id == id)
        .ok_or_else(|| ApiError::internal("dimension vanished"))?;
    Ok(Json(dimension_view(saved)))
}

/// A member's tags, with who or what set each
#[utoipa::path(get, path = "/v1/members/{id}/tags", tag = "segments",
    params(("id" = String, Path, description = "Member id")),
    responses((status = 200, body = MemberTagsView), (status = 400, description = "invalid_member_id"),
        (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_tags(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<MemberTagsView>, ApiError> {
    let id = member_id(&raw)?;
    Ok(Json(tags_view(&state, id).await?))
}

pub(crate) async fn tags_view(state: &AppState, id: i64) -> Result<MemberTagsView, ApiError> {
    let (member_id, tags) = state
        .store
        .member_tags(id)
        .await?
        .ok_or_else(|| no_member(id))?;
    Ok(MemberTagsView {
        member_id,
        tags: tags
            .into_iter()
            .map(|t| MemberTagView {
                tag: t.tag,
                source: t.source,
                set_by: t.set_by,
                note: t.note,
                set_at: to_rfc3339(t.set_at),
            })
            .collect(),
    })
}

/// Tag a member
///
/// A plain tag (`vip`) or one of a dimension (`diet:vegetarian`); in a one-value
/// dimension the new value replaces the old. The member's segments move at once.
/// Answers 201 when set, 200 when the member carried it already.
#[utoipa::path(post, path = "/v1/members/{id}/tags", tag = "segments",
    params(("id" = String, Path, description = "Member id")),
    request_body(content = TagInput),
    responses((status = 201, body = MemberTagsView), (status = 200, body = MemberTagsView, description = "Carried already"),
        (status = 400, description = "invalid_member_id"), (status = 404, description = "member_not_found"),
        (status = 422, description = "invalid_tag, or an unsound field")),
    security(("bearer" = [])))]
pub async fn add_tag(
    caller: Allowed<need::TagMembers>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<MemberTagsView>), ApiError> {
    let id = member_id(&raw)?;
    let input: TagInput = typed(body)?;
    let status = tag_member(&state, &caller, id, &input.tag, input.note.as_deref()).await?;
    Ok((status, Json(tags_view(&state, id).await?)))
}

/// Sets `tag` on member `id` by hand (the cockpit's form comes here too): 201 when set,
/// 200 when the member already carried it.
pub(crate) async fn tag_member(
    state: &AppState,
    caller: &Caller,
    id: i64,
    tag: &str,
    note: Option<&str>,
) -> Result<StatusCode, ApiError> {
    let note = note.map(|n| check_paragraph("note", n, 500)).transpose()?;
    match state
        .store
        .set_member_tag(
            id,
            tag,
            note.as_deref(),
            "staff",
            &caller.audit_actor(),
            state.now(),
        )
        .await?
    {
        SetTag::Set { .. } => Ok(StatusCode::CREATED),
        SetTag::Unchanged { .. } => Ok(StatusCode::OK),
        SetTag::NoMember => Err(no_member(id)),
        SetTag::Invalid(why) => Err(ApiError::new(ErrorCode::InvalidTag, why).field("tag")),
    }
}

/// Remove a tag from a member
#[utoipa::path(delete, path = "/v1/members/{id}/tags/{tag}", tag = "segments",
    params(("id" = String, Path, description = "Member id"), ("tag" = String, Path, description = "The tag")),
    responses((status = 204), (status = 400, description = "invalid_member_id"),
        (status = 404, description = "member_not_found, or tag_not_found")),
    security(("bearer" = [])))]
pub async fn remove_tag(
    caller: Allowed<need::TagMembers>,
    State(state): State<AppState>,
    Path((raw, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = member_id(&raw)?;
    // A malformed tag cannot be carried (and never reaches the database).
    if parse_tag(&tag).is_err() {
        return Err(ApiError::new(
            ErrorCode::TagNotFound,
            format!("member {id} does not carry {tag:?}"),
        )
        .field("tag"));
    }
    match state
        .store
        .remove_member_tag(id, &tag, &caller.audit_actor(), state.now())
        .await?
    {
        Some(true) => Ok(StatusCode::NO_CONTENT),
        Some(false) => Err(ApiError::new(
            ErrorCode::TagNotFound,
            format!("member {id} does not carry {tag:?}"),
        )
        .field("tag")),
        None => Err(no_member(id)),
    }
}
