//! Segments (`/v1/segments`): saved audiences in the segment language, kept current as
//! each event lands; their members, entries and exits, CSV exports with identities; the
//! live builder's preview; a member's segments.

use super::member_id;
use crate::auth::{Allowed, Caller, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::params::{Params, limit, unknown};
use crate::segment_views::{
    ChangeView, ChangesPage, InfluencerList, InfluencerView, MemberSegmentView, MemberSegmentsView,
    PreviewInput, PreviewView, SegmentInput, SegmentList, SegmentMemberView, SegmentMembersPage,
    SegmentView,
};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::segment::tags::parse_tag;
use flywheel_core::segment::{Cond, ExprError, Language, compile};
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::check_line;
use flywheel_store::{ChangeRow, PutSegment, SavedSegment, SegmentCursor, SegmentRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/segments", get(list_segments).post(create_segment))
        .route("/v1/segments/preview", post(preview))
        .route(
            "/v1/segments/{id}",
            get(get_segment).put(put_segment).delete(delete_segment),
        )
        .route("/v1/segments/{id}/members", get(segment_members))
        .route("/v1/segments/{id}/changes", get(segment_changes))
        .route("/v1/segments/{id}/export", get(export))
        .route("/v1/members/{id}/segments", get(member_segments))
        .route("/v1/influencers", get(influencers))
}

pub(crate) fn language(state: &AppState) -> Language {
    state.policy.language()
}

/// Compiles an expression, or answers 422 `invalid_expression` with where and why.
pub(crate) fn checked(state: &AppState, expression: &str) -> Result<Cond, ApiError> {
    compile(expression, &language(state)).map_err(expression_error)
}

pub(crate) fn expression_error(e: ExprError) -> ApiError {
    ApiError::new(ErrorCode::InvalidExpression, e.to_string())
        .field("expression")
        .with("line", e.line)
        .with("column", e.column)
        .with("expected", e.expected)
        .with("found", e.found)
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(ErrorCode::SegmentNotFound, format!("no segment {id:?}")).field("id")
}

async fn view(state: &AppState, s: SegmentRow) -> Result<SegmentView, ApiError> {
    let count = state.store.segment_count(&s.id).await?;
    view_counted(state, s, count).await
}

/// [`view`] with the count already known (a list counts every segment in one query).
async fn view_counted(
    state: &AppState,
    s: SegmentRow,
    count: i64,
) -> Result<SegmentView, ApiError> {
    let changed_at = state
        .store
        .segment_changed_at(&s.id)
        .await?
        .unwrap_or(s.defined_at);
    let progress = state.store.segment_fill_progress(s.fill_after).await?;
    Ok(SegmentView {
        count,
        progress,
        changed_at: to_rfc3339(changed_at),
        defined_at: to_rfc3339(s.defined_at),
        id: s.id,
        name: s.name,
        expression: s.expression,
        tag: s.tag,
        badge: s.badge,
        builtin: s.builtin,
        version: s.version,
        status: s.status,
        defined_by: s.defined_by,
    })
}

/// 202 while the segment is filling, 200 once it is ready.
fn status_of(s: &SegmentRow) -> StatusCode {
    if s.status == "ready" {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    }
}

async fn find(state: &AppState, id: &str) -> Result<SegmentRow, ApiError> {
    // An id no segment could have is not looked up.
    super::check_slug(id, "a segment id").map_err(|_| not_found(id))?;
    state.store.segment(id).await?.ok_or_else(|| not_found(id))
}

/// Every segment, with its count
#[utoipa::path(get, path = "/v1/segments", tag = "segments",
    responses((status = 200, body = SegmentList)),
    security(("bearer" = [])))]
pub async fn list_segments(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
) -> Result<Json<SegmentList>, ApiError> {
    let counts = state.store.segment_counts().await?;
    let mut segments = Vec::new();
    for s in state.store.segments().await? {
        let count = counts.get(&s.id).copied().unwrap_or(0);
        segments.push(view_counted(&state, s, count).await?);
    }
    Ok(Json(SegmentList { segments }))
}

/// Save a segment
///
/// The expression is checked (422 `invalid_expression` with the line and column where it
/// stops making sense). A new segment answers 202 and is `filling` while a background
/// pass evaluates every member; events that land meanwhile already move the members
/// they touch. Sending the same definition again answers 200 and changes nothing.
#[utoipa::path(post, path = "/v1/segments", tag = "segments",
    request_body(content = SegmentInput),
    responses((status = 202, body = SegmentView, description = "Saved; filling"),
        (status = 200, body = SegmentView, description = "Stored before, unchanged"),
        (status = 409, description = "segment_exists, or the expression makes segments read themselves"),
        (status = 422, description = "invalid_expression (with line and column), invalid_tag, or an unsound field")),
    security(("bearer" = [])))]
pub async fn create_segment(
    caller: Allowed<need::ManageSegments>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<SegmentView>), ApiError> {
    let input: SegmentInput = typed(body)?;
    let id = super::required_id(input.id.as_ref())?;
    save(&state, &caller, &id, input, true).await
}

/// Change a segment (or save it under this id)
#[utoipa::path(put, path = "/v1/segments/{id}", tag = "segments",
    params(("id" = String, Path, description = "Segment id")),
    request_body(content = SegmentInput),
    responses((status = 202, body = SegmentView, description = "Saved; filling"),
        (status = 200, body = SegmentView, description = "Unchanged"),
        (status = 409, description = "The expression makes segments read themselves"),
        (status = 422, description = "invalid_expression (with line and column), invalid_tag, or an unsound field")),
    security(("bearer" = [])))]
pub async fn put_segment(
    caller: Allowed<need::ManageSegments>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<SegmentView>), ApiError> {
    let input: SegmentInput = typed(body)?;
    super::same_id(&id, input.id.as_ref())?;
    save(&state, &caller, &id, input, false).await
}

pub(crate) async fn save(
    state: &AppState,
    caller: &Caller,
    id: &str,
    input: SegmentInput,
    create: bool,
) -> Result<(StatusCode, Json<SegmentView>), ApiError> {
    super::check_slug(id, "a segment id")?;
    let name = check_line("name", &input.name, 100)?;
    let cond = checked(state, &input.expression)?;
    if let Some(tag) = &input.tag
        && let Err(why) = parse_tag(tag)
    {
        return Err(ApiError::new(ErrorCode::InvalidTag, why).field("tag"));
    }
    let badge = match &input.badge {
        Some(b) => {
            let b = check_line("badge", b, 60)?;
            if b.trim().is_empty() {
                return Err(ApiError::new(ErrorCode::InvalidValue, "badge is empty").field("badge"));
            }
            Some(b.trim().to_owned())
        }
        None => None,
    };
    let def = PutSegment {
        id: id.to_owned(),
        name,
        expression: input.expression.trim().to_owned(),
        tag: input.tag,
        badge,
    };
    let saved = state
        .store
        .save_segment(
            &def,
            &cond,
            create,
            false,
            &caller.audit_actor(),
            state.now(),
        )
        .await?;
    let (status, row) = match saved {
        SavedSegment::Created(s) | SavedSegment::Updated(s) => (StatusCode::ACCEPTED, s),
        SavedSegment::Unchanged(s) => (StatusCode::OK, s),
        SavedSegment::Exists => {
            return Err(ApiError::new(
                ErrorCode::SegmentExists,
                format!("segment {id:?} exists with another definition; change it with PUT"),
            )
            .field("id"));
        }
        SavedSegment::UnknownSegment(s) => {
            return Err(ApiError::new(
                ErrorCode::InvalidExpression,
                format!("in_segment({s:?}) names a segment that does not exist"),
            )
            .field("expression"));
        }
        SavedSegment::Cycle(s) => {
            return Err(ApiError::new(
                ErrorCode::SegmentInUse,
                format!("the expression would make segments read themselves (through {s:?})"),
            )
            .field("expression"));
        }
    };
    // A small brand's segment fills at once; a large one's continues in the background.
    state.store.fill_segments_at_once(state.now()).await?;
    let row = state.store.segment(&row.id).await?.unwrap_or(row);
    Ok((status, Json(view(state, row).await?)))
}

/// A segment: its definition, count, and whether it is ready
///
/// Answers 202 while a background pass fills it (`status: filling`, `progress`), 200
/// once ready.
#[utoipa::path(get, path = "/v1/segments/{id}", tag = "segments",
    params(("id" = String, Path, description = "Segment id")),
    responses((status = 200, body = SegmentView), (status = 202, body = SegmentView, description = "Filling"),
        (status = 404, description = "segment_not_found")),
    security(("bearer" = [])))]
pub async fn get_segment(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SegmentView>), ApiError> {
    let s = find(&state, &id).await?;
    let status = status_of(&s);
    Ok((status, Json(view(&state, s).await?)))
}

/// Delete a segment, with its members and history
#[utoipa::path(delete, path = "/v1/segments/{id}", tag = "segments",
    params(("id" = String, Path, description = "Segment id")),
    responses((status = 204), (status = 404, description = "segment_not_found"),
        (status = 409, description = "segment_in_use: another segment reads it")),
    security(("bearer" = [])))]
pub async fn delete_segment(
    caller: Allowed<need::ManageSegments>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    super::check_slug(&id, "a segment id").map_err(|_| not_found(&id))?;
    match state
        .store
        .delete_segment(&id, &caller.audit_actor(), state.now())
        .await?
    {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(not_found(&id)),
        Err(reader) => Err(ApiError::new(
            ErrorCode::SegmentInUse,
            format!("segment {reader:?} reads {id:?}; change it first"),
        )
        .field("id")),
    }
}

/// `cursor` and `limit` (1-1000, default 100).
fn page_params(params: &[(String, String)]) -> Result<(Option<SegmentCursor>, i64), ApiError> {
    let (mut cursor, mut max) = (None, 100);
    for (k, v) in params {
        match k.as_str() {
            "cursor" => {
                cursor = Some(SegmentCursor::decode(v).ok_or_else(|| {
                    ApiError::new(ErrorCode::InvalidCursor, "cursor is not one a page gave")
                        .field("cursor")
                })?)
            }
            "limit" => max = limit(v, 1000)?,
            other => return Err(unknown(other)),
        }
    }
    Ok((cursor, i64::from(max)))
}

/// A segment's members, newest entries first
///
/// 202 while the segment is filling (the members found so far).
#[utoipa::path(get, path = "/v1/segments/{id}/members", tag = "segments",
    params(("id" = String, Path, description = "Segment id"),
        ("cursor" = Option<String>, Query, description = "The `next` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 100")),
    responses((status = 200, body = SegmentMembersPage), (status = 202, body = SegmentMembersPage, description = "Filling"),
        (status = 400, description = "invalid_cursor or invalid_query"), (status = 404, description = "segment_not_found")),
    security(("bearer" = [])))]
pub async fn segment_members(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<(StatusCode, Json<SegmentMembersPage>), ApiError> {
    let (cursor, max) = page_params(&params)?;
    let s = find(&state, &id).await?;
    let rows = state.store.segment_members(&id, cursor, max).await?;
    let next = (rows.len() as i64 == max)
        .then(|| rows.last())
        .flatten()
        .map(|r| {
            SegmentCursor {
                at: r.entered_at,
                member_id: r.member_id,
            }
            .encode()
        });
    Ok((
        status_of(&s),
        Json(SegmentMembersPage {
            members: rows
                .into_iter()
                .map(|r| SegmentMemberView {
                    member_id: r.member_id,
                    entered_at: to_rfc3339(r.entered_at),
                })
                .collect(),
            next,
            status: s.status,
        }),
    ))
}

fn change_view(c: ChangeRow) -> ChangeView {
    ChangeView {
        segment_id: c.segment_id,
        member_id: c.member_id,
        at: to_rfc3339(c.at),
        change: if c.entered { "entered" } else { "left" }.into(),
        cause: c.cause,
        version: c.version,
    }
}

/// Who entered and left a segment, and why, newest first
///
/// The feed journeys trigger on: each entry and exit with its cause — the event that
/// caused it (`event:<id>`), the clock (`clock`: a window passed), a tag, an import, a
/// merge, or a new definition (`fill`).
#[utoipa::path(get, path = "/v1/segments/{id}/changes", tag = "segments",
    params(("id" = String, Path, description = "Segment id"),
        ("cursor" = Option<String>, Query, description = "The `next` of the previous page"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 100")),
    responses((status = 200, body = ChangesPage),
        (status = 400, description = "invalid_cursor or invalid_query"), (status = 404, description = "segment_not_found")),
    security(("bearer" = [])))]
pub async fn segment_changes(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<Json<ChangesPage>, ApiError> {
    let (cursor, max) = page_params(&params)?;
    find(&state, &id).await?;
    let rows = state.store.segment_changes(&id, cursor, max).await?;
    let next = (rows.len() as i64 == max)
        .then(|| rows.last())
        .flatten()
        .map(|r| {
            SegmentCursor {
                at: r.at,
                member_id: r.seq,
            }
            .encode()
        });
    Ok(Json(ChangesPage {
        changes: rows.into_iter().map(change_view).collect(),
        next,
    }))
}

const EXPORT_PAGE: i64 = 2_000;

/// A segment's members as CSV, with their identities
///
/// `member_id,entered_at,identities` (`kind:value` separated by `;`), newest entries
/// first; contact details masked for roles that must not see them.
#[utoipa::path(get, path = "/v1/segments/{id}/export", tag = "segments",
    params(("id" = String, Path, description = "Segment id")),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 202, content_type = "text/csv", body = String, description = "Filling: the members found so far"),
        (status = 404, description = "segment_not_found")),
    security(("bearer" = [])))]
pub async fn export(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<Response, ApiError> {
    if let Some((name, _)) = params.first() {
        return Err(unknown(name));
    }
    export_csv(&state, &id).await
}

/// Segment `id`'s members as a CSV download (the cockpit's export link comes here too).
pub(crate) async fn export_csv(state: &AppState, id: &str) -> Result<Response, ApiError> {
    let id = id.to_owned();
    let s = find(state, &id).await?;
    let status = status_of(&s);
    let store = state.store.clone();
    let seg = id.clone();
    let pages =
        futures_util::stream::unfold(Some(None), move |cursor: Option<Option<SegmentCursor>>| {
            let (store, seg) = (store.clone(), seg.clone());
            async move {
                let cursor = cursor?;
                let rows = match store.segment_members(&seg, cursor, EXPORT_PAGE).await {
                    Ok(rows) if rows.is_empty() => return None,
                    Ok(rows) => rows,
                    Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
                };
                let ids: Vec<i64> = rows.iter().map(|r| r.member_id).collect();
                let identities = match store.identities_of(&ids).await {
                    Ok(i) => i,
                    Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
                };
                let mut text = String::with_capacity(rows.len() * 80);
                for r in &rows {
                    let keys = identities
                        .get(&r.member_id)
                        .map(|k| k.join(";"))
                        .unwrap_or_default();
                    let keys = if keys.contains([',', '"', '\n']) {
                        format!("\"{}\"", keys.replace('"', "\"\""))
                    } else {
                        keys
                    };
                    text.push_str(&format!(
                        "{},{},{}\n",
                        r.member_id,
                        to_rfc3339(r.entered_at),
                        keys
                    ));
                }
                let next = (rows.len() as i64 == EXPORT_PAGE).then(|| {
                    rows.last().map(|r| SegmentCursor {
                        at: r.entered_at,
                        member_id: r.member_id,
                    })
                });
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(text)), next))
            }
        });
    let head =
        futures_util::stream::once(async { Ok(Bytes::from("member_id,entered_at,identities\n")) });
    let body = Body::from_stream(futures_util::StreamExt::chain(head, pages));
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"segment-{id}.csv\""),
        )
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Count an expression's members now, writing nothing
///
/// For a live builder: the count and up to 20 members (newest first), computed in SQL
/// over the members table. Nothing is saved.
#[utoipa::path(post, path = "/v1/segments/preview", tag = "segments",
    request_body(content = PreviewInput),
    responses((status = 200, body = PreviewView),
        (status = 422, description = "invalid_expression, with line and column")),
    security(("bearer" = [])))]
pub async fn preview(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<PreviewView>, ApiError> {
    let input: PreviewInput = typed(body)?;
    let cond = checked(&state, &input.expression)?;
    let p = state.store.preview_segment(&cond, state.now(), 20).await?;
    Ok(Json(PreviewView {
        count: p.count,
        sample: p.sample,
    }))
}

/// The segments a member is in, with the latest entries and exits
#[utoipa::path(get, path = "/v1/members/{id}/segments", tag = "segments",
    params(("id" = String, Path, description = "Member id (a merged member's id answers for its survivor)")),
    responses((status = 200, body = MemberSegmentsView), (status = 400, description = "invalid_member_id"),
        (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_segments(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<MemberSegmentsView>, ApiError> {
    let id = member_id(&raw)?;
    let (survivor, segments, changes) =
        state.store.member_segments(id, 50).await?.ok_or_else(|| {
            ApiError::new(ErrorCode::MemberNotFound, format!("no member {id}")).field("id")
        })?;
    Ok(Json(MemberSegmentsView {
        member_id: survivor,
        segments: segments
            .into_iter()
            .map(|s| MemberSegmentView {
                id: s.segment_id,
                entered_at: to_rfc3339(s.entered_at),
            })
            .collect(),
        changes: changes.into_iter().map(change_view).collect(),
    }))
}

/// Members with the widest reach, whatever they spend
///
/// Seed 004: a customer with a million followers who buys little is worth more than a
/// steady buyer. `by=followers` ranks by audience; `by=referrals` by the readers and
/// buyers their shares brought in (converted referrals, then referrals, then shares).
/// The built-in segment `influencers` holds those above either bar.
#[utoipa::path(get, path = "/v1/influencers", tag = "segments",
    params(("by" = Option<String>, Query, description = "followers (default) or referrals"),
        ("limit" = Option<u32>, Query, description = "1-500, default 50")),
    responses((status = 200, body = InfluencerList), (status = 400, description = "invalid_query")),
    security(("bearer" = [])))]
pub async fn influencers(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<InfluencerList>, ApiError> {
    let (mut by, mut max) = (flywheel_store::Reach::Followers, 50);
    for (k, v) in &params {
        match k.as_str() {
            "by" => {
                by = match v.as_str() {
                    "followers" => flywheel_store::Reach::Followers,
                    "referrals" => flywheel_store::Reach::Referrals,
                    _ => {
                        return Err(ApiError::new(
                            ErrorCode::InvalidQuery,
                            "by must be followers or referrals",
                        )
                        .field("by"));
                    }
                }
            }
            "limit" => max = limit(v, 500)?,
            other => return Err(unknown(other)),
        }
    }
    let rows = state.store.influencers(by, i64::from(max)).await?;
    Ok(Json(InfluencerList {
        by: match by {
            flywheel_store::Reach::Followers => "followers",
            flywheel_store::Reach::Referrals => "referrals",
        }
        .into(),
        members: rows
            .into_iter()
            .map(|r| InfluencerView {
                member_id: r.member_id,
                followers: r.followers,
                shares: r.shares,
                referrals_made: r.referrals_made,
                referrals_converted: r.referrals_converted,
                total_spent: flywheel_core::Money::from_minor(r.total_spent).to_string(),
            })
            .collect(),
    }))
}
