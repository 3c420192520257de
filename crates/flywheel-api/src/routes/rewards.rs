//! Spending points: the rewards catalogue, redemptions (atomic with stock, idempotent,
//! cancellable), partner brands and points exchange with them.

use super::member_id;
use super::points::{idempotency_key, positive, programme};
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::points_views::{ExchangeView, PartnerView, RedemptionView, RewardView};
use crate::report_views::{PartnerList, RewardList};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::Money;
use flywheel_core::points::policy::is_code;
use flywheel_core::time;
use flywheel_core::validation::check_line;
use flywheel_store::{ExchangeRequest, PartnerRow, RedeemRequest, RewardRow};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/rewards", get(list_rewards).post(create_reward))
        .route("/v1/rewards/{id}", get(get_reward).put(put_reward))
        .route("/v1/redemptions", post(redeem))
        .route("/v1/redemptions/{id}", get(get_redemption))
        .route("/v1/redemptions/{id}/cancel", post(cancel))
        .route("/v1/partners", get(list_partners).post(create_partner))
        .route("/v1/points/exchanges", post(exchange))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RewardBody {
    id: Option<String>,
    name: String,
    kind: String,
    points_cost: i64,
    cash_cost: Option<String>,
    stock: Option<i64>,
    per_member_limit: Option<i64>,
    valid_from: Option<String>,
    valid_until: Option<String>,
    active: Option<bool>,
    programme: Option<String>,
    /// kind coupon: the coupon a redemption issues a code of (`/v1/coupons`).
    coupon_id: Option<String>,
}

/// A coupon reward's coupon must exist and only a coupon reward names one.
async fn check_coupon(state: &AppState, row: &RewardRow) -> Result<(), ApiError> {
    let Some(coupon) = &row.coupon_id else {
        return Ok(());
    };
    if row.kind != "coupon" {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            "coupon_id is for rewards of kind coupon",
        )
        .field("coupon_id"));
    }
    if state.store.coupon(coupon).await?.is_none() {
        return Err(ApiError::not_found(
            ErrorCode::CouponNotFound,
            format!("no coupon {coupon:?}"),
        )
        .field("coupon_id"));
    }
    Ok(())
}

fn reward_row(
    state: &AppState,
    id: String,
    b: RewardBody,
    created_at: i64,
) -> Result<RewardRow, ApiError> {
    if !is_code(&id) {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            "id must be 1-40 lower-case letters, digits, '_' or '-'",
        )
        .field("id"));
    }
    let name = check_line("name", &b.name, 200)?;
    if !["coupon", "gift", "privilege"].contains(&b.kind.as_str()) {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            "kind must be coupon, gift or privilege",
        )
        .field("kind"));
    }
    let points_cost = positive(state, b.points_cost, "points_cost")?;
    let cash_cost = b
        .cash_cost
        .map(|c| {
            Money::parse(&c).map(Money::minor).map_err(|e| {
                ApiError::new(ErrorCode::InvalidAmount, format!("cash_cost {e}")).field("cash_cost")
            })
        })
        .transpose()?;
    if b.stock.is_some_and(|s| s < 0) {
        return Err(ApiError::new(
            ErrorCode::OutOfRange,
            "stock must not be negative (leave it out for unlimited)",
        )
        .field("stock"));
    }
    if b.per_member_limit.is_some_and(|l| l < 1) {
        return Err(
            ApiError::new(ErrorCode::OutOfRange, "per_member_limit must be at least 1")
                .field("per_member_limit"),
        );
    }
    let when = |t: Option<String>, field: &str| {
        t.map(|t| {
            time::parse_rfc3339(&t).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidTimestamp,
                    format!("{field} must be an RFC 3339 timestamp"),
                )
                .field(field)
            })
        })
        .transpose()
    };
    let valid_from = when(b.valid_from, "valid_from")?;
    let valid_until = when(b.valid_until, "valid_until")?;
    if let (Some(f), Some(u)) = (valid_from, valid_until)
        && f >= u
    {
        return Err(ApiError::new(
            ErrorCode::OutOfRange,
            "valid_until must be after valid_from",
        )
        .field("valid_until"));
    }
    let now = state.now();
    Ok(RewardRow {
        id,
        name,
        kind: b.kind,
        programme: programme(state, b.programme)?,
        points_cost,
        cash_cost,
        stock: b.stock,
        per_member_limit: b.per_member_limit,
        valid_from,
        valid_until,
        active: b.active.unwrap_or(true),
        created_at: if created_at > 0 { created_at } else { now },
        updated_at: now,
        coupon_id: b.coupon_id,
    })
}

/// The rewards catalogue
#[utoipa::path(get, path = "/v1/rewards", tag = "rewards",
    responses((status = 200, body = RewardList)), security(("bearer" = [])))]
pub async fn list_rewards(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
) -> Result<Json<RewardList>, ApiError> {
    let rewards: Vec<RewardView> = state
        .store
        .rewards()
        .await?
        .into_iter()
        .map(RewardView::from)
        .collect();
    Ok(Json(RewardList { rewards }))
}

/// Add a reward: coupon, gift or privilege, with points cost, optional cash part, stock,
/// per-member limit and validity
#[utoipa::path(post, path = "/v1/rewards", tag = "rewards",
    request_body(content = RewardBody),
    responses((status = 201, body = RewardView), (status = 409, description = "reward_exists"),
        (status = 404, description = "coupon_not_found: coupon_id names no coupon"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn create_reward(
    caller: Allowed<need::ManagePoints>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<RewardView>), ApiError> {
    let b: RewardBody = typed(body)?;
    let id = super::required_id(b.id.as_ref())?;
    let row = reward_row(&state, id, b, 0)?;
    check_coupon(&state, &row).await?;
    if !state
        .store
        .save_reward(&row, false, &caller.audit_actor())
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::RewardExists,
            format!(
                "reward {} exists; PUT /v1/rewards/{} changes it",
                row.id, row.id
            ),
        )
        .field("id"));
    }
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// A reward
#[utoipa::path(get, path = "/v1/rewards/{id}", tag = "rewards",
    params(("id" = String, Path, description = "Reward id")),
    responses((status = 200, body = RewardView), (status = 404, description = "reward_not_found")),
    security(("bearer" = [])))]
pub async fn get_reward(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RewardView>, ApiError> {
    let r = state
        .store
        .reward(&id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::RewardNotFound, format!("no reward {id}")))?;
    Ok(Json(r.into()))
}

/// Create or replace a reward (stock, price, validity, switching it off)
#[utoipa::path(put, path = "/v1/rewards/{id}", tag = "rewards",
    request_body(content = RewardBody),
    params(("id" = String, Path, description = "Reward id")),
    responses((status = 200, body = RewardView),
        (status = 404, description = "coupon_not_found: coupon_id names no coupon"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn put_reward(
    caller: Allowed<need::ManagePoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<RewardView>, ApiError> {
    let b: RewardBody = typed(body)?;
    if b.id.as_ref().is_some_and(|given| *given != id) {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            "id in the body must match the path",
        )
        .field("id"));
    }
    let created = state
        .store
        .reward(&id)
        .await?
        .map(|r| r.created_at)
        .unwrap_or(0);
    let row = reward_row(&state, id, b, created)?;
    check_coupon(&state, &row).await?;
    state
        .store
        .save_reward(&row, true, &caller.audit_actor())
        .await?;
    Ok(Json(row.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedeemBody {
    member_id: i64,
    reward_id: Option<String>,
    points: Option<i64>,
    idempotency_key: String,
    programme: Option<String>,
}

/// Redeem a reward, or debit plain points
///
/// Atomic with the reward's stock. The same `idempotency_key` again answers with the first
/// redemption (200, `replayed: true`) and changes nothing.
#[utoipa::path(post, path = "/v1/redemptions", tag = "rewards",
    request_body(content = RedeemBody),
    responses((status = 201, body = RedemptionView), (status = 200, body = RedemptionView, description = "Replayed idempotency key: the first answer, `replayed: true`"),
              (status = 409, description = "insufficient_points, out_of_stock, reward_unavailable, limit_reached, idempotency_key_reused, member_erased; for a coupon reward coupon_unavailable or coupon_budget_spent (the redemption is cancelled, its points back)"),
              (status = 404, description = "member_not_found, reward_not_found, or a coupon reward's coupon_not_found")),
    security(("bearer" = [])))]
pub async fn redeem(
    caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<RedemptionView>), ApiError> {
    let b: RedeemBody = typed(body)?;
    let points = match (&b.reward_id, b.points) {
        (Some(_), None) => None,
        (None, Some(p)) => Some(positive(&state, p, "points")?),
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidValue,
                "give reward_id or points, not both",
            )
            .field("points"));
        }
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::MissingField,
                "reward_id (or points, for a plain debit) is required",
            )
            .field("reward_id"));
        }
    };
    let req = RedeemRequest {
        member_id: b.member_id,
        reward_id: b.reward_id,
        points,
        programme: programme(&state, b.programme)?,
        idempotency_key: idempotency_key(b.idempotency_key)?,
        actor: caller.actor.clone(),
    };
    let (row, replayed) = state.store.redeem(&req, state.now()).await?;
    let code = issue_reward_coupon(&state, &row).await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut view = RedemptionView::of(row, replayed);
    view.coupon = code.map(crate::routes::coupons::code_view);
    Ok((status, Json(view)))
}

/// A redemption
#[utoipa::path(get, path = "/v1/redemptions/{id}", tag = "rewards",
    params(("id" = String, Path, description = "Redemption id")),
    responses((status = 200, body = RedemptionView), (status = 404, description = "redemption_not_found")),
    security(("bearer" = [])))]
pub async fn get_redemption(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RedemptionView>, ApiError> {
    let r = state.store.redemption(&id).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::RedemptionNotFound, format!("no redemption {id}"))
    })?;
    Ok(Json(RedemptionView::of(r, false)))
}

/// Cancel a redemption: points back to their lots (expired ones stay expired), stock back
#[utoipa::path(post, path = "/v1/redemptions/{id}/cancel", tag = "rewards",
    params(("id" = String, Path, description = "Redemption id")),
    responses((status = 200, body = RedemptionView), (status = 404, description = "redemption_not_found"),
              (status = 409, description = "member_erased: the member's personal data was erased")),
    security(("bearer" = [])))]
pub async fn cancel(
    _caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RedemptionView>, ApiError> {
    let r = state.store.cancel_redemption(&id, state.now()).await?;
    Ok(Json(RedemptionView::of(r, false)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartnerBody {
    id: String,
    name: String,
    rate_ours: i64,
    rate_theirs: i64,
    daily_limit: i64,
    programme: Option<String>,
}

/// Partner brands (异业联盟) and their exchange rates
#[utoipa::path(get, path = "/v1/partners", tag = "partners",
    responses((status = 200, body = PartnerList)), security(("bearer" = [])))]
pub async fn list_partners(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
) -> Result<Json<PartnerList>, ApiError> {
    let partners: Vec<PartnerView> = state
        .store
        .partners()
        .await?
        .into_iter()
        .map(PartnerView::from)
        .collect();
    Ok(Json(PartnerList { partners }))
}

/// Add a partner brand: `rate_ours` of our points are worth `rate_theirs` of theirs
#[utoipa::path(post, path = "/v1/partners", tag = "partners",
    request_body(content = PartnerBody),
    responses((status = 201, body = PartnerView), (status = 409, description = "partner_exists")),
    security(("bearer" = [])))]
pub async fn create_partner(
    caller: Allowed<need::ManagePoints>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<PartnerView>), ApiError> {
    let b: PartnerBody = typed(body)?;
    if !is_code(&b.id) {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            "id must be 1-40 lower-case letters, digits, '_' or '-'",
        )
        .field("id"));
    }
    let name = check_line("name", &b.name, 200)?;
    let row = PartnerRow {
        id: b.id,
        name,
        programme: programme(&state, b.programme)?,
        rate_ours: positive(&state, b.rate_ours, "rate_ours")?,
        rate_theirs: positive(&state, b.rate_theirs, "rate_theirs")?,
        daily_limit: positive(&state, b.daily_limit, "daily_limit")?,
        created_at: state.now(),
    };
    if !state
        .store
        .create_partner(&row, &caller.audit_actor())
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::PartnerExists,
            format!("partner {} exists", row.id),
        )
        .field("id"));
    }
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExchangeBody {
    member_id: i64,
    partner_id: String,
    direction: String,
    points: i64,
    idempotency_key: String,
}

/// Exchange points with a partner brand, through its clearing account
///
/// `points` are ours; the answer says what they are worth in the partner's points.
/// `out` sends our points to the partner, `in` brings them back from it.
#[utoipa::path(post, path = "/v1/points/exchanges", tag = "partners",
    request_body(content = ExchangeBody),
    responses((status = 201, body = ExchangeView), (status = 200, body = ExchangeView, description = "Replayed idempotency key: the first answer, `replayed: true`"),
              (status = 404, description = "member_not_found or partner_not_found"),
              (status = 409, description = "insufficient_points, limit_reached, idempotency_key_reused, member_erased"), (status = 422, description = "inexact_exchange")),
    security(("bearer" = [])))]
pub async fn exchange(
    _caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<ExchangeView>), ApiError> {
    let b: ExchangeBody = typed(body)?;
    if b.direction != "out" && b.direction != "in" {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            "direction must be \"out\" or \"in\"",
        )
        .field("direction"));
    }
    member_id(&b.member_id.to_string()).map_err(|e| e.field("member_id"))?;
    let req = ExchangeRequest {
        member_id: b.member_id,
        partner_id: b.partner_id,
        direction: b.direction,
        points: positive(&state, b.points, "points")?,
        idempotency_key: idempotency_key(b.idempotency_key)?,
    };
    let (row, replayed) = state
        .store
        .exchange_points(
            &req,
            &state.policy.points,
            state.policy.limits.max_points_per_posting,
            state.now(),
        )
        .await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(ExchangeView::of(row, replayed))))
}

/// A coupon reward's code, issued once per redemption (keyed by it, so a retried
/// redemption answers the same code). A coupon that can issue no more — budget spent,
/// switched off, the member at its limit — cancels the redemption, giving the points
/// back, and answers why.
async fn issue_reward_coupon(
    state: &AppState,
    r: &flywheel_store::RedemptionRow,
) -> Result<Option<flywheel_store::CodeRow>, ApiError> {
    if r.status != "completed" {
        return Ok(None);
    }
    let Some(reward_id) = &r.reward_id else {
        return Ok(None);
    };
    let Some(coupon) = state
        .store
        .reward(reward_id)
        .await?
        .and_then(|w| w.coupon_id)
    else {
        return Ok(None);
    };
    let key = format!("reward:{}", r.id);
    let source = format!("reward:{reward_id}");
    match state
        .store
        .issue_coupon(&coupon, r.member_id, &key, &source, state.now())
        .await
    {
        Ok((code, _)) => Ok(Some(code)),
        Err(flywheel_store::MarketingError::Refused { code, message }) => {
            state.store.cancel_redemption(&r.id, state.now()).await?;
            Err(ApiError::new(
                code,
                format!("the reward's coupon issued no code ({message}); the points are back"),
            )
            .field("reward_id"))
        }
        Err(e) => Err(e.into()),
    }
}
