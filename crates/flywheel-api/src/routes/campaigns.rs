//! Campaigns on a calendar (`/v1/campaigns`): a send of content to a saved segment at a
//! date and time, once or again every so often, split between A/B variants with a
//! holdout group; and their results per group (`/v1/campaigns/{id}/results`).

use crate::auth::{Allowed, Caller, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::engagement_views::{
    CampaignInput, CampaignList, CampaignResultsView, CampaignView, VariantResultView,
};
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::engagement::campaign::compile_campaign;
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::check_line;
use flywheel_store::{CAMPAIGN_STATUSES, CampaignRow, PutCampaign, SavedCampaign};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/campaigns", get(list_campaigns).post(create_campaign))
        .route("/v1/campaigns/{id}", get(get_campaign).put(put_campaign))
        .route("/v1/campaigns/{id}/results", get(results))
}

fn view(c: CampaignRow) -> CampaignView {
    CampaignView {
        id: c.id,
        name: c.name,
        status: c.status,
        version: c.version,
        definition: c.definition,
        occurrences_sent: c.occurrence,
        next_at: c.next_at.map(to_rfc3339),
        created_at: to_rfc3339(c.created_at),
        updated_at: to_rfc3339(c.updated_at),
        updated_by: c.updated_by,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(ErrorCode::CampaignNotFound, format!("no campaign {id:?}"))
}

/// List campaigns
#[utoipa::path(get, path = "/v1/campaigns", tag = "engagement",
    responses((status = 200, body = CampaignList)),
    security(("bearer" = [])))]
pub async fn list_campaigns(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
) -> Result<Json<CampaignList>, ApiError> {
    let campaigns = state
        .store
        .campaigns()
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(Json(CampaignList { campaigns }))
}

/// One campaign
#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "engagement",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = CampaignView), (status = 404, description = "campaign_not_found")),
    security(("bearer" = [])))]
pub async fn get_campaign(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    let c = state
        .store
        .campaign(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(view(c)))
}

/// Save a campaign
///
/// Checked field by field; content must be in the library. Sending the same campaign
/// again answers 200 and changes nothing.
#[utoipa::path(post, path = "/v1/campaigns", tag = "engagement",
    request_body(content = CampaignInput),
    responses((status = 201, body = CampaignView, description = "Saved"),
        (status = 200, body = CampaignView, description = "Stored before, unchanged"),
        (status = 404, description = "content_not_found or segment_not_found"),
        (status = 409, description = "campaign_exists: the id holds another campaign"),
        (status = 422, description = "An unsound field, named")),
    security(("bearer" = [])))]
pub async fn create_campaign(
    caller: Allowed<need::ManageEngagement>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<CampaignView>), ApiError> {
    let input: CampaignInput = typed(body)?;
    let id = super::required_id(input.id.as_ref())?;
    save(&state, &caller, &id, input, true).await
}

/// Change a campaign (or save it under this id)
///
/// A changed definition is a new version whose schedule starts again at `send_at`;
/// changing only `status` pauses or resumes it.
#[utoipa::path(put, path = "/v1/campaigns/{id}", tag = "engagement",
    params(("id" = String, Path, description = "Campaign id")),
    request_body(content = CampaignInput),
    responses((status = 201, body = CampaignView, description = "Saved"),
        (status = 200, body = CampaignView, description = "Unchanged"),
        (status = 404, description = "content_not_found or segment_not_found"),
        (status = 422, description = "An unsound field, named")),
    security(("bearer" = [])))]
pub async fn put_campaign(
    caller: Allowed<need::ManageEngagement>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<CampaignView>), ApiError> {
    let input: CampaignInput = typed(body)?;
    super::same_id(&id, input.id.as_ref())?;
    save(&state, &caller, &id, input, false).await
}

async fn save(
    state: &AppState,
    caller: &Caller,
    id: &str,
    input: CampaignInput,
    create: bool,
) -> Result<(StatusCode, Json<CampaignView>), ApiError> {
    super::check_slug(id, "a campaign id")?;
    let name = match &input.name {
        Some(n) => check_line("name", n, 100)?,
        None => id.to_owned(),
    };
    let status = input.status.clone().unwrap_or_else(|| "draft".to_owned());
    if !CAMPAIGN_STATUSES.contains(&status.as_str()) {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            format!("status is one of {}", CAMPAIGN_STATUSES.join(", ")),
        )
        .field("status"));
    }
    let mut definition = Map::new();
    definition.insert("segment".into(), input.segment.clone().into());
    definition.insert("send_at".into(), input.send_at.clone().into());
    for (k, v) in [
        ("every", input.every.clone()),
        ("until", input.until.clone()),
        ("content", input.content.clone()),
    ] {
        if let Some(v) = v {
            definition.insert(k.into(), v.into());
        }
    }
    if let Some(v) = input.variants.clone() {
        definition.insert("variants".into(), v);
    }
    if let Some(h) = input.holdout {
        definition.insert("holdout".into(), h.into());
    }
    let library: BTreeSet<String> = state
        .store
        .contents()
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    compile_campaign(&definition, &|c| library.contains(c))?;
    let segments: BTreeSet<String> = state
        .store
        .segments()
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    if !segments.contains(&input.segment) {
        return Err(ApiError::not_found(
            ErrorCode::SegmentNotFound,
            format!("no segment {:?}", input.segment),
        )
        .field("segment"));
    }
    let def = PutCampaign {
        id: id.to_owned(),
        name,
        status,
        definition: Value::Object(definition),
    };
    let saved = state
        .store
        .save_campaign(&def, create, &caller.audit_actor(), state.now())
        .await?;
    match saved {
        SavedCampaign::Created(c) | SavedCampaign::Updated(c) => {
            Ok((StatusCode::CREATED, Json(view(c))))
        }
        SavedCampaign::Unchanged(c) => Ok((StatusCode::OK, Json(view(c)))),
        SavedCampaign::Exists => Err(ApiError::new(
            ErrorCode::CampaignExists,
            format!("campaign {id:?} exists; change it with PUT"),
        )
        .field("id")),
    }
}

/// A campaign's results per group
///
/// Each variant and the holdout: members, suppressed, delivered, opened, clicked, and
/// how many bought or rose a stage within `days` of their occurrence — the holdout's
/// figures are what happened without the message.
#[utoipa::path(get, path = "/v1/campaigns/{id}/results", tag = "engagement",
    params(("id" = String, Path, description = "Campaign id"),
        ("days" = Option<u32>, Query, description = "1-90; 7 by default")),
    responses((status = 200, body = CampaignResultsView), (status = 400, description = "invalid_query"),
        (status = 404, description = "campaign_not_found")),
    security(("bearer" = [])))]
pub async fn results(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<Json<CampaignResultsView>, ApiError> {
    let days = super::journeys::window_days(params)?;
    if state.store.campaign(&id).await?.is_none() {
        return Err(not_found(&id));
    }
    let groups = state
        .store
        .campaign_results(&id, days)
        .await?
        .into_iter()
        .map(|g| {
            let rate = |n: i64| (g.members > 0).then(|| n as f64 / g.members as f64);
            VariantResultView {
                conversion_rate: rate(g.converted),
                rise_rate: rate(g.rose),
                variant: g.variant,
                members: g.members,
                suppressed: g.suppressed,
                delivered: g.delivered,
                opened: g.opened,
                clicked: g.clicked,
                converted: g.converted,
                rose: g.rose,
            }
        })
        .collect();
    Ok(Json(CampaignResultsView {
        campaign: id,
        days,
        groups,
    }))
}
