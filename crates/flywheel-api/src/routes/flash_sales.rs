//! `/v1/flash-sales` (秒杀): sales defined by admin and operator keys (audited); claims
//! taken atomically — never oversold, whatever the number at once — and paid within the
//! sale's minutes, or lapsed with their unit back on sale.

use super::products::money_text;
use super::{check_slug, member_id, required_id, same_id};
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::marketing_views::{
    ClaimInput, ClaimView, FlashSaleInput, FlashSaleList, FlashSaleView, PayInput, PriceView,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::marketing::FlashSale;
use flywheel_core::money::Money;
use flywheel_core::time::{self, to_rfc3339};
use flywheel_core::validation::{FieldError, check_line};
use flywheel_store::{ClaimRow, FlashSaleRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/flash-sales", get(list_sales).post(create_sale))
        .route("/v1/flash-sales/{id}", get(get_sale).put(put_sale))
        .route("/v1/flash-sales/{id}/claims", post(claim))
        .route("/v1/flash-sales/{id}/claims/{claim}", get(get_claim))
        .route("/v1/flash-sales/{id}/claims/{claim}/pay", post(pay))
}

fn sale_view(r: FlashSaleRow, now: i64) -> FlashSaleView {
    let s = r.sale;
    FlashSaleView {
        open: s.open_at(now),
        price: PriceView {
            cash: s.price_cash.to_string(),
            points: s.price_points,
        },
        id: s.id,
        name: s.name,
        sku: s.sku,
        stock: s.stock,
        remaining: r.remaining,
        held: r.held,
        paid: r.paid,
        starts_at: to_rfc3339(s.starts_at),
        ends_at: to_rfc3339(s.ends_at),
        per_member_limit: s.per_member_limit,
        pay_within_minutes: s.pay_within_minutes,
    }
}

fn claim_view(c: ClaimRow) -> ClaimView {
    ClaimView {
        id: c.id,
        sale_id: c.sale_id,
        member_id: c.member_id,
        status: c.status,
        claimed_at: to_rfc3339(c.claimed_at),
        pay_by: to_rfc3339(c.pay_by),
        paid_at: c.paid_at.map(to_rfc3339),
        order_id: c.order_id,
    }
}

fn sale_of(state: &AppState, id: &str, b: FlashSaleInput) -> Result<FlashSale, FieldError> {
    let when = |field: &str, t: &str| {
        time::parse_rfc3339(t).ok_or_else(|| {
            FieldError::new(
                field,
                ErrorCode::InvalidTimestamp,
                format!("{field} must be an RFC 3339 timestamp with an offset"),
            )
        })
    };
    let sale = FlashSale {
        id: id.to_owned(),
        name: b.name,
        sku: b.sku,
        price_cash: b
            .price
            .cash
            .as_deref()
            .map(|c| money_text(state, "price.cash", c))
            .transpose()?
            .unwrap_or(Money::ZERO),
        price_points: b.price.points.unwrap_or(0),
        stock: b.stock,
        starts_at: when("starts_at", &b.starts_at)?,
        ends_at: when("ends_at", &b.ends_at)?,
        per_member_limit: b.per_member_limit.unwrap_or(1),
        pay_within_minutes: b.pay_within_minutes.unwrap_or(15),
    };
    sale.check()?;
    Ok(sale)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(
        ErrorCode::FlashSaleNotFound,
        format!("no flash sale {id:?}"),
    )
}

/// Flash sales
#[utoipa::path(get, path = "/v1/flash-sales", tag = "marketing",
    responses((status = 200, body = FlashSaleList)),
    security(("bearer" = [])))]
pub async fn list_sales(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
) -> Result<Json<FlashSaleList>, ApiError> {
    let now = state.now();
    let sales = state.store.flash_sales().await?;
    Ok(Json(FlashSaleList {
        flash_sales: sales.into_iter().map(|s| sale_view(s, now)).collect(),
    }))
}

/// One flash sale, with units left, held and paid
#[utoipa::path(get, path = "/v1/flash-sales/{id}", tag = "marketing",
    params(("id" = String, Path, description = "Flash sale id")),
    responses((status = 200, body = FlashSaleView), (status = 404, description = "flash_sale_not_found")),
    security(("bearer" = [])))]
pub async fn get_sale(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<FlashSaleView>, ApiError> {
    let row = state
        .store
        .flash_sale(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(sale_view(row, state.now())))
}

async fn save(
    caller: &Allowed<need::ManageMarketing>,
    state: &AppState,
    id: &str,
    input: FlashSaleInput,
    replace: bool,
) -> Result<(StatusCode, Json<FlashSaleView>), ApiError> {
    check_slug(id, "a flash sale id")?;
    let sale = sale_of(state, id, input)?;
    let now = state.now();
    let created = state
        .store
        .save_flash_sale(&sale, replace, &caller.audit_actor(), now)
        .await
        .map_err(|e| {
            let stock = matches!(&e, flywheel_store::MarketingError::Refused { code, .. } if *code == ErrorCode::OutOfRange);
            let e = ApiError::from(e);
            if stock { e.field("stock") } else { e }
        })?;
    let row = state
        .store
        .flash_sale(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(sale_view(row, now))))
}

/// Define a flash sale
///
/// Audited. `price` is `{"cash"?, "points"?}` (at least one above zero).
#[utoipa::path(post, path = "/v1/flash-sales", tag = "marketing",
    request_body(content = FlashSaleInput),
    responses((status = 201, body = FlashSaleView),
        (status = 409, description = "flash_sale_exists"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn create_sale(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<FlashSaleView>), ApiError> {
    let input: FlashSaleInput = typed(body)?;
    let id = required_id(input.id.as_ref())?;
    save(&caller, &state, &id, input, false).await
}

/// Create or change a flash sale
///
/// Audited. The stock counts the units already claimed: it cannot go below them.
#[utoipa::path(put, path = "/v1/flash-sales/{id}", tag = "marketing",
    params(("id" = String, Path, description = "Flash sale id")),
    request_body(content = FlashSaleInput),
    responses((status = 201, body = FlashSaleView, description = "Created"),
        (status = 200, body = FlashSaleView, description = "Changed"),
        (status = 422, description = "A field that does not check, named (a stock below the units claimed)")),
    security(("bearer" = [])))]
pub async fn put_sale(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<FlashSaleView>), ApiError> {
    let input: FlashSaleInput = typed(body)?;
    same_id(&id, input.id.as_ref())?;
    save(&caller, &state, &id, input, true).await
}

/// Claim a unit
///
/// Atomic: the unit is taken only while one is left, within the member's limit and the
/// sale's window; the claim holds it until `pay_by`. The same `idempotency_key` again
/// answers 200 with the same claim.
#[utoipa::path(post, path = "/v1/flash-sales/{id}/claims", tag = "marketing",
    params(("id" = String, Path, description = "Flash sale id")),
    request_body(content = ClaimInput),
    responses((status = 201, body = ClaimView, description = "Claimed"),
        (status = 200, body = ClaimView, description = "Claimed before under this key"),
        (status = 404, description = "flash_sale_not_found or member_not_found"),
        (status = 409, description = "sold_out, limit_reached, sale_not_open, member_erased or idempotency_key_reused"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn claim(
    _caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<ClaimView>), ApiError> {
    let input: ClaimInput = typed(body)?;
    let key = check_line("idempotency_key", &input.idempotency_key, 100)?;
    let member = member_id(&input.member_id.to_string()).map_err(|e| e.field("member_id"))?;
    let (claim, replayed) = state
        .store
        .claim_flash_sale(&id, member, &key, state.now())
        .await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(claim_view(claim))))
}

async fn claim_of(state: &AppState, sale: &str, claim: &str) -> Result<ClaimRow, ApiError> {
    state
        .store
        .flash_claim(claim)
        .await?
        .filter(|c| c.sale_id == sale)
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::FlashSaleNotFound,
                format!("flash sale {sale:?} has no claim {claim:?}"),
            )
        })
}

/// One claim
#[utoipa::path(get, path = "/v1/flash-sales/{id}/claims/{claim}", tag = "marketing",
    params(("id" = String, Path, description = "Flash sale id"),
        ("claim" = String, Path, description = "Claim id")),
    responses((status = 200, body = ClaimView), (status = 404, description = "flash_sale_not_found")),
    security(("bearer" = [])))]
pub async fn get_claim(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path((id, claim)): Path<(String, String)>,
) -> Result<Json<ClaimView>, ApiError> {
    Ok(Json(claim_view(claim_of(&state, &id, &claim).await?)))
}

/// Pay a claim
///
/// Before `pay_by`: a points price is debited from the member's default programme (once,
/// whatever the retries) and the claim is paid; paying it again answers the same. After,
/// 409 `claim_expired`: the unit went back on sale.
#[utoipa::path(post, path = "/v1/flash-sales/{id}/claims/{claim}/pay", tag = "marketing",
    params(("id" = String, Path, description = "Flash sale id"),
        ("claim" = String, Path, description = "Claim id")),
    request_body(content = PayInput),
    responses((status = 200, body = ClaimView, description = "Paid (now or before)"),
        (status = 404, description = "flash_sale_not_found"),
        (status = 409, description = "claim_expired, insufficient_points or member_erased"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn pay(
    _caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    Path((id, claim)): Path<(String, String)>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<ClaimView>, ApiError> {
    let input: PayInput = typed(body)?;
    let order = input
        .order_id
        .as_deref()
        .map(|o| check_line("order_id", o, 128))
        .transpose()?;
    claim_of(&state, &id, &claim).await?;
    let programme = state.policy.points.default_programme().to_owned();
    let paid = state
        .store
        .pay_flash_claim(&claim, order.as_deref(), &programme, state.now())
        .await?;
    Ok(Json(claim_view(paid)))
}
