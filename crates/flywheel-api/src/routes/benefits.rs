//! Benefits: the catalogue (`/v1/benefits`, admin to change), which tiers give which
//! (`/v1/programmes/{id}/tiers/{tier}/benefits`), a member's benefits now and uses
//! recorded at the till or the shop, and the notices changes send (`/v1/notices`).

use super::member_id;
use super::points::idempotency_key;
use crate::auth::{Allowed, need};
use crate::benefit_views::{
    BenefitList, BenefitView, CodeStockView, HeldBenefitView, MemberBenefitsView, NoticeList,
    NoticeView, TierBenefitsView, UseView,
};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::params::{Params, limit, unknown};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::event::Channel;
use flywheel_core::membership::benefit::Benefit;
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::check_line;
use flywheel_store::{BenefitRow, SavedBenefit, UseRequest};
use serde::Deserialize;
use serde_json::Value;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/benefits", get(list_benefits).post(create_benefit))
        .route("/v1/benefits/{id}", get(get_benefit).put(put_benefit))
        .route(
            "/v1/programmes/{id}/tiers/{tier}/benefits",
            get(get_tier_benefits).put(put_tier_benefits),
        )
        .route("/v1/members/{id}/benefits", get(member_benefits))
        .route(
            "/v1/members/{id}/benefits/{benefit}/uses",
            post(use_benefit),
        )
        .route("/v1/notices", get(notices))
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(ErrorCode::BenefitNotFound, format!("no benefit {id:?}")).field("id")
}

async fn view(state: &AppState, b: BenefitRow) -> Result<BenefitView, ApiError> {
    let mut tiers = Vec::new();
    for p in state.store.programmes().await? {
        for t in &p.definition.tiers {
            if state
                .store
                .tier_benefits(&p.id, &t.id)
                .await?
                .contains(&b.id)
            {
                tiers.push(format!("{}/{}", p.id, t.id));
            }
        }
    }
    let codes = match &b.definition.partner {
        Some(_) => {
            let stock = state.store.partner_code_stock(&b.id).await?;
            Some(CodeStockView {
                in_stock: stock.in_stock,
                issued: stock.issued,
            })
        }
        None => None,
    };
    Ok(BenefitView {
        id: b.id,
        definition: serde_json::to_value(&b.definition).map_err(ApiError::internal)?,
        tiers,
        codes,
        created_at: to_rfc3339(b.created_at),
        updated_at: to_rfc3339(b.updated_at),
    })
}

/// Parses and checks a definition; `POST` takes its id in the body.
fn definition(mut body: Value, id_in_body: bool) -> Result<(Option<String>, Benefit), ApiError> {
    let id = match body.as_object_mut().and_then(|o| o.remove("id")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if id_in_body => Some(s),
        Some(Value::String(_)) => {
            return Err(ApiError::new(
                ErrorCode::UnknownField,
                "the id is the path's; leave it out of the body",
            )
            .field("id"));
        }
        Some(_) => {
            return Err(ApiError::new(ErrorCode::InvalidType, "id must be a string").field("id"));
        }
    };
    Ok((id, typed(body)?))
}

/// Every benefit
#[utoipa::path(get, path = "/v1/benefits", tag = "memberships",
    responses((status = 200, body = BenefitList)),
    security(("bearer" = [])))]
pub async fn list_benefits(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
) -> Result<Json<BenefitList>, ApiError> {
    let mut benefits = Vec::new();
    for b in state.store.benefits().await? {
        benefits.push(view(&state, b).await?);
    }
    Ok(Json(BenefitList { benefits }))
}

/// Define a benefit
///
/// A name, a description, the dates it can be used in, where it applies (channels,
/// categories) and how often (a limit per day, month or term). Sending the same
/// definition again answers 200 and stores nothing; another definition under an
/// existing id is refused (change it with `PUT`).
#[utoipa::path(post, path = "/v1/benefits", tag = "memberships",
    request_body(content = crate::benefit_views::BenefitInput),
    responses((status = 201, body = BenefitView), (status = 200, body = BenefitView, description = "Stored before, unchanged"),
        (status = 409, description = "benefit_exists"), (status = 422, description = "Each unsound field named")),
    security(("bearer" = [])))]
pub async fn create_benefit(
    caller: Allowed<need::ManageProgrammes>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<BenefitView>), ApiError> {
    let (id, def) = definition(body, true)?;
    let id =
        id.ok_or_else(|| ApiError::new(ErrorCode::MissingField, "id is required").field("id"))?;
    store(&state, &caller, &id, def, true).await
}

/// Change a benefit (or define it under this id)
#[utoipa::path(put, path = "/v1/benefits/{id}", tag = "memberships",
    params(("id" = String, Path, description = "Benefit id")),
    request_body(content = crate::benefit_views::BenefitInput),
    responses((status = 200, body = BenefitView), (status = 201, body = BenefitView),
        (status = 422, description = "Each unsound field named")),
    security(("bearer" = [])))]
pub async fn put_benefit(
    caller: Allowed<need::ManageProgrammes>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<BenefitView>), ApiError> {
    let (_, def) = definition(body, false)?;
    store(&state, &caller, &id, def, false).await
}

async fn store(
    state: &AppState,
    caller: &Allowed<need::ManageProgrammes>,
    id: &str,
    def: Benefit,
    create: bool,
) -> Result<(StatusCode, Json<BenefitView>), ApiError> {
    let errors = def.validate(id, &state.policy.channels);
    if !errors.is_empty() {
        return Err(ApiError::invalid_event(errors));
    }
    let status = match state
        .store
        .save_benefit(id, &def, create, &caller.audit_actor(), state.now())
        .await?
    {
        SavedBenefit::Created => StatusCode::CREATED,
        SavedBenefit::Updated | SavedBenefit::Unchanged => StatusCode::OK,
        SavedBenefit::Exists => {
            return Err(ApiError::new(
                ErrorCode::BenefitExists,
                format!("benefit {id:?} exists with another definition; change it with PUT"),
            )
            .field("id"));
        }
    };
    let stored = state
        .store
        .benefit(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok((status, Json(view(state, stored).await?)))
}

/// A benefit, with the tiers that give it
#[utoipa::path(get, path = "/v1/benefits/{id}", tag = "memberships",
    params(("id" = String, Path, description = "Benefit id")),
    responses((status = 200, body = BenefitView), (status = 404, description = "benefit_not_found")),
    security(("bearer" = [])))]
pub async fn get_benefit(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BenefitView>, ApiError> {
    let b = state
        .store
        .benefit(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(view(&state, b).await?))
}

async fn tier_view(
    state: &AppState,
    programme: String,
    tier: String,
) -> Result<TierBenefitsView, ApiError> {
    let def = state.store.programme(&programme).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::ProgrammeNotFound,
            format!("no membership programme {programme:?}"),
        )
        .field("id")
    })?;
    if def.definition.tier(&tier).is_none() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("programme {programme:?} has no tier {tier:?}"),
        )
        .field("tier"));
    }
    Ok(TierBenefitsView {
        benefits: state.store.tier_benefits(&programme, &tier).await?,
        programme,
        tier,
        added: Vec::new(),
        removed: Vec::new(),
        notices: 0,
    })
}

/// The benefits a tier gives
#[utoipa::path(get, path = "/v1/programmes/{id}/tiers/{tier}/benefits", tag = "memberships",
    params(("id" = String, Path, description = "Programme id"), ("tier" = String, Path, description = "Tier id")),
    responses((status = 200, body = TierBenefitsView), (status = 404, description = "programme_not_found, or no such tier")),
    security(("bearer" = [])))]
pub async fn get_tier_benefits(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path((programme, tier)): Path<(String, String)>,
) -> Result<Json<TierBenefitsView>, ApiError> {
    Ok(Json(tier_view(&state, programme, tier).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierBenefitsBody {
    benefits: Vec<String>,
}

/// Set the benefits a tier gives
///
/// The whole list. A benefit added is given to holders at once and announced to each
/// before their renewal; a benefit removed stays with each holder until their term (and
/// grace) ends, and each gets a notice the programme's `notice_days` before (default
/// 30). Audited.
#[utoipa::path(put, path = "/v1/programmes/{id}/tiers/{tier}/benefits", tag = "memberships",
    params(("id" = String, Path, description = "Programme id"), ("tier" = String, Path, description = "Tier id")),
    request_body(content = crate::benefit_views::TierBenefitsInput),
    responses((status = 200, body = TierBenefitsView),
        (status = 404, description = "programme_not_found"),
        (status = 422, description = "An unknown tier or benefit, named")),
    security(("bearer" = [])))]
pub async fn put_tier_benefits(
    caller: Allowed<need::ManageProgrammes>,
    State(state): State<AppState>,
    Path((programme, tier)): Path<(String, String)>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<TierBenefitsView>, ApiError> {
    let b: TierBenefitsBody = typed(body)?;
    if b.benefits.len() > 100 {
        return Err(
            ApiError::new(ErrorCode::OutOfRange, "at most 100 benefits a tier").field("benefits"),
        );
    }
    let notice_days = state
        .store
        .programme(&programme)
        .await?
        .map_or(30, |p| p.definition.notice_days);
    let change = state
        .store
        .set_tier_benefits(
            &programme,
            &tier,
            &b.benefits,
            notice_days,
            &caller.audit_actor(),
            state.now(),
        )
        .await
        .map_err(|e| match e {
            flywheel_store::PointsError::Field(f) if f.code == ErrorCode::BenefitNotFound => {
                ApiError::new(ErrorCode::InvalidValue, f.message).field(f.field)
            }
            other => other.into(),
        })?;
    let mut answer = tier_view(&state, programme, tier).await?;
    answer.added = change.added;
    answer.removed = change.removed;
    answer.notices = change.notices;
    Ok(Json(answer))
}

/// The benefits a member holds now
///
/// Through every tier and card they hold now (within its term or grace), including
/// benefits that have left a tier and stay with them until their term ends (`until`),
/// each with its uses in the current period of its limit.
#[utoipa::path(get, path = "/v1/members/{id}/benefits", tag = "memberships",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = MemberBenefitsView), (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_benefits(
    caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<MemberBenefitsView>, ApiError> {
    let id = member_id(&raw)?;
    let member = state
        .store
        .member(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::MemberNotFound, format!("no member {id}")))?;
    let benefits = state
        .store
        .member_benefits(member.id, state.now())
        .await?
        .into_iter()
        .map(|h| HeldBenefitView::new(h, caller.hands_out_codes()))
        .collect();
    Ok(Json(MemberBenefitsView {
        member_id: member.id,
        benefits,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UseBody {
    channel: Option<String>,
    category: Option<String>,
    idempotency_key: String,
}

/// Record a use of a benefit, where it happens
///
/// Refused with a reason when none of the member's tiers gives it now (409
/// `benefit_not_held`), outside its dates (`benefit_not_in_effect`), outside its scope
/// (`benefit_out_of_scope`, naming `channel` or `category`), or beyond its limit
/// (`benefit_limit_reached`). Two tills using the last one at once: one is refused.
/// A partner benefit hands out one of the partner's codes with the use (`code`), each
/// code to one use only; with none left in stock, 409 `benefit_out_of_codes`.
#[utoipa::path(post, path = "/v1/members/{id}/benefits/{benefit}/uses", tag = "memberships",
    params(("id" = i64, Path, description = "Member id"), ("benefit" = String, Path, description = "Benefit id")),
    request_body(content = crate::benefit_views::UseInput),
    responses((status = 201, body = UseView), (status = 200, body = UseView, description = "The key was seen before"),
        (status = 404, description = "member_not_found, benefit_not_found"),
        (status = 409, description = "benefit_not_held, benefit_not_in_effect, benefit_out_of_scope, benefit_limit_reached, benefit_out_of_codes, idempotency_key_reused")),
    security(("bearer" = [])))]
pub async fn use_benefit(
    caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    Path((raw, benefit)): Path<(String, String)>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<UseView>), ApiError> {
    let member = member_id(&raw)?;
    let b: UseBody = typed(body)?;
    if let Some(c) = &b.channel
        && Channel::find(&state.policy.channels, c).is_none()
    {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            format!("must be one of {}", Channel::names(&state.policy.channels)),
        )
        .field("channel"));
    }
    let category = b
        .category
        .map(|c| check_line("category", &c, 64))
        .transpose()?;
    let req = UseRequest {
        member_id: member,
        benefit,
        channel: b.channel,
        category,
        idempotency_key: idempotency_key(b.idempotency_key)?,
        actor: caller.audit_actor(),
    };
    let (row, replayed) = state.store.use_benefit(&req, state.now()).await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(UseView {
            id: row.id,
            member_id: row.member_id,
            benefit: row.benefit,
            programme: row.programme,
            tier: row.tier,
            channel: row.channel,
            category: row.category,
            at: to_rfc3339(row.at),
            remaining: row.remaining,
            partner: row.partner,
            code: row.code,
            replayed,
        }),
    ))
}

/// Notices to members, the latest due first
///
/// What changes to tiers' benefits told holders: a benefit leaving their tier at the
/// end of their term, one joining it. The engagement channels deliver them when due.
#[utoipa::path(get, path = "/v1/notices", tag = "memberships",
    params(("member_id" = Option<i64>, Query, description = "One member's notices"),
           ("limit" = Option<u32>, Query, description = "1–500, default 100")),
    responses((status = 200, body = NoticeList)),
    security(("bearer" = [])))]
pub async fn notices(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<NoticeList>, ApiError> {
    let (mut member, mut most) = (None, 100);
    for (k, v) in params {
        match k.as_str() {
            "member_id" => {
                member = Some(member_id(&v).map_err(|e| {
                    ApiError::new(ErrorCode::InvalidQuery, e.message).field("member_id")
                })?)
            }
            "limit" => most = limit(&v, 500)?,
            other => return Err(unknown(other)),
        }
    }
    let notices = state
        .store
        .notices(member, i64::from(most))
        .await?
        .into_iter()
        .map(|n| NoticeView {
            member_id: n.member_id,
            kind: n.kind,
            subject: n.subject,
            body: n.body,
            deliver_at: to_rfc3339(n.deliver_at),
            created_at: to_rfc3339(n.created_at),
        })
        .collect();
    Ok(Json(NoticeList { notices }))
}
