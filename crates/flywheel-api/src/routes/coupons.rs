//! `/v1/coupons`: coupon definitions (audited), codes issued to a member or a segment,
//! and `POST /v1/coupons/redeem` at the till or in a shop — exactly once per code, with a
//! clear refusal otherwise; `GET /v1/members/{id}/coupons` lists a member's codes.

use super::products::money_text;
use super::{an_identity, check_slug, member_id, required_id, same_id};
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::marketing_views::{
    CodeList, CodeView, CouponGiftInput, CouponInput, CouponList, CouponView, IssueAnswer,
    IssueInput, RedeemCouponInput, SegmentIssueView,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::marketing::coupon::{gift_referral, on_first_purchase};
use flywheel_core::marketing::{Coupon, Offer, Order, OrderLine};
use flywheel_core::time::{self, to_rfc3339};
use flywheel_core::validation::{FieldError, check_line};
use flywheel_store::{CodeRow, CouponRow, MarketingError, Redeemed};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/coupons", get(list_coupons).post(create_coupon))
        .route("/v1/coupons/redeem", post(redeem))
        .route("/v1/coupons/{id}", get(get_coupon).put(put_coupon))
        .route("/v1/coupons/{id}/issue", post(issue))
        .route("/v1/coupons/{id}/gift", post(gift))
        .route("/v1/members/{id}/coupons", get(member_coupons))
}

impl From<MarketingError> for ApiError {
    fn from(e: MarketingError) -> ApiError {
        match e {
            MarketingError::Store(s) => s.into(),
            MarketingError::Refused { code, message } => ApiError::new(code, message),
            MarketingError::Points(p) => p.into(),
        }
    }
}

fn money(m: Option<flywheel_core::money::Money>) -> Option<String> {
    m.map(|m| m.to_string())
}

pub(crate) fn coupon_view(r: CouponRow) -> CouponView {
    let c = r.coupon;
    let (mut amount, mut percent, mut max_off, mut sku, mut buy, mut get) =
        (None, None, None, None, None, None);
    match &c.offer {
        Offer::AmountOff { amount: a } => amount = Some(a.to_string()),
        Offer::PercentOff {
            percent: p,
            max_off: m,
        } => {
            percent = Some(*p);
            max_off = money(*m);
        }
        Offer::FreeItem { sku: s } => sku = Some(s.clone()),
        Offer::BuyNGetN { buy: b, get: g } => {
            buy = Some(*b);
            get = Some(*g);
        }
    }
    CouponView {
        kind: c.offer.kind().to_owned(),
        id: c.id,
        name: c.name,
        amount,
        percent,
        max_off,
        sku,
        buy,
        get,
        min_spend: money(c.min_spend),
        categories: c.categories,
        sub_brands: c.sub_brands,
        valid_days: c.valid_days,
        valid_from: c.valid_from.map(to_rfc3339),
        valid_until: c.valid_until.map(to_rfc3339),
        per_member_limit: c.per_member_limit,
        budget_count: c.budget_count,
        budget_amount: money(c.budget_amount),
        active: c.active,
        gift_points: c.gift_points,
        issued: r.issued,
        redeemed: r.redeemed,
        granted: r.granted.to_string(),
        created_at: to_rfc3339(r.created_at),
        updated_at: to_rfc3339(r.updated_at),
    }
}

pub(crate) fn code_view(c: CodeRow) -> CodeView {
    CodeView {
        code: c.code,
        coupon_id: c.coupon_id,
        member_id: c.member_id,
        source: c.source,
        status: c.status,
        issued_at: to_rfc3339(c.issued_at),
        expires_at: to_rfc3339(c.expires_at),
        order_id: c.order_id,
        discount: money(c.discount),
        redeemed_at: c.redeemed_at.map(to_rfc3339),
        gift_from: c.gift_from,
    }
}

fn needs(field: &str, kind: &str) -> FieldError {
    FieldError::new(
        field,
        ErrorCode::MissingField,
        format!("a {kind} coupon needs {field}"),
    )
}

/// The body as a definition, every field checked and named.
fn coupon_of(state: &AppState, id: &str, b: CouponInput) -> Result<Coupon, FieldError> {
    let m = |field: &str, t: &Option<String>| {
        t.as_deref()
            .map(|t| money_text(state, field, t))
            .transpose()
    };
    let when = |field: &str, t: &Option<String>| {
        t.as_deref()
            .map(|t| {
                time::parse_rfc3339(t).ok_or_else(|| {
                    FieldError::new(
                        field,
                        ErrorCode::InvalidTimestamp,
                        format!("{field} must be an RFC 3339 timestamp with an offset"),
                    )
                })
            })
            .transpose()
    };
    let offer = match b.kind.as_str() {
        "amount_off" => Offer::AmountOff {
            amount: m("amount", &b.amount)?.ok_or_else(|| needs("amount", &b.kind))?,
        },
        "percent_off" => Offer::PercentOff {
            percent: b.percent.ok_or_else(|| needs("percent", &b.kind))?,
            max_off: m("max_off", &b.max_off)?,
        },
        "free_item" => Offer::FreeItem {
            sku: b.sku.clone().ok_or_else(|| needs("sku", &b.kind))?,
        },
        "buy_n_get_n" => Offer::BuyNGetN {
            buy: b.buy.ok_or_else(|| needs("buy", &b.kind))?,
            get: b.get.ok_or_else(|| needs("get", &b.kind))?,
        },
        _ => {
            return Err(FieldError::new(
                "kind",
                ErrorCode::InvalidValue,
                "kind is amount_off, percent_off, free_item or buy_n_get_n",
            ));
        }
    };
    // Fields of another kind would be silently ignored: refuse them instead.
    let foreign = [
        ("amount", b.amount.is_some(), "amount_off"),
        ("percent", b.percent.is_some(), "percent_off"),
        ("max_off", b.max_off.is_some(), "percent_off"),
        ("sku", b.sku.is_some(), "free_item"),
        ("buy", b.buy.is_some(), "buy_n_get_n"),
        ("get", b.get.is_some(), "buy_n_get_n"),
    ];
    for (field, present, kind) in foreign {
        if present && kind != b.kind {
            return Err(FieldError::new(
                field,
                ErrorCode::InvalidValue,
                format!("{field} belongs to a {kind} coupon, not a {}", b.kind),
            ));
        }
    }
    let coupon = Coupon {
        id: id.to_owned(),
        name: b.name,
        offer,
        min_spend: m("min_spend", &b.min_spend)?,
        categories: b.categories.unwrap_or_default(),
        sub_brands: b.sub_brands.unwrap_or_default(),
        valid_days: b.valid_days,
        valid_from: when("valid_from", &b.valid_from)?,
        valid_until: when("valid_until", &b.valid_until)?,
        per_member_limit: b.per_member_limit,
        budget_count: b.budget_count,
        budget_amount: m("budget_amount", &b.budget_amount)?,
        active: b.active.unwrap_or(true),
        gift_points: b.gift_points,
    };
    coupon.check()?;
    Ok(coupon)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(ErrorCode::CouponNotFound, format!("no coupon {id:?}"))
}

/// Coupon definitions
#[utoipa::path(get, path = "/v1/coupons", tag = "marketing",
    responses((status = 200, body = CouponList)),
    security(("bearer" = [])))]
pub async fn list_coupons(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
) -> Result<Json<CouponList>, ApiError> {
    let coupons = state.store.coupons().await?;
    Ok(Json(CouponList {
        coupons: coupons.into_iter().map(coupon_view).collect(),
    }))
}

/// One coupon, with its codes issued and redeemed and the discount granted
#[utoipa::path(get, path = "/v1/coupons/{id}", tag = "marketing",
    params(("id" = String, Path, description = "Coupon id")),
    responses((status = 200, body = CouponView), (status = 404, description = "coupon_not_found")),
    security(("bearer" = [])))]
pub async fn get_coupon(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CouponView>, ApiError> {
    let row = state
        .store
        .coupon(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(coupon_view(row)))
}

async fn save(
    caller: &Allowed<need::ManageMarketing>,
    state: &AppState,
    id: &str,
    input: CouponInput,
    replace: bool,
) -> Result<(StatusCode, Json<CouponView>), ApiError> {
    check_slug(id, "a coupon id")?;
    let coupon = coupon_of(state, id, input)?;
    let created = state
        .store
        .save_coupon(&coupon, replace, &caller.audit_actor(), state.now())
        .await?;
    let row = state.store.coupon(id).await?.ok_or_else(|| not_found(id))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(coupon_view(row))))
}

/// Define a coupon
///
/// Audited. `kind` is amount_off (`amount`), percent_off (`percent`, `max_off`?),
/// free_item (`sku`) or buy_n_get_n (`buy`, `get`); codes end after `valid_days` or at
/// `valid_until`, whichever comes first.
#[utoipa::path(post, path = "/v1/coupons", tag = "marketing",
    request_body(content = CouponInput),
    responses((status = 201, body = CouponView),
        (status = 409, description = "coupon_exists"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn create_coupon(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<CouponView>), ApiError> {
    let input: CouponInput = typed(body)?;
    let id = required_id(input.id.as_ref())?;
    save(&caller, &state, &id, input, false).await
}

/// Create or change a coupon
///
/// Audited. Codes already issued keep their expiry; the budgets apply from now on.
#[utoipa::path(put, path = "/v1/coupons/{id}", tag = "marketing",
    params(("id" = String, Path, description = "Coupon id")),
    request_body(content = CouponInput),
    responses((status = 201, body = CouponView, description = "Created"),
        (status = 200, body = CouponView, description = "Changed"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn put_coupon(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<CouponView>), ApiError> {
    let input: CouponInput = typed(body)?;
    same_id(&id, input.id.as_ref())?;
    save(&caller, &state, &id, input, true).await
}

pub(crate) fn checked_key(key: &str) -> Result<String, ApiError> {
    let key = check_line("idempotency_key", key, 100)?;
    if key.trim().is_empty() {
        return Err(
            ApiError::new(ErrorCode::InvalidValue, "idempotency_key is empty")
                .field("idempotency_key"),
        );
    }
    Ok(key)
}

/// Issue codes of a coupon
///
/// To one member (`member_id`: 201 with the code; the same `idempotency_key` again
/// answers 200 with the same code) or to every member of a segment (`segment`: 200 with
/// counts; each member keyed `<idempotency_key>:<member>`, so a repeat issues only to
/// members who joined since). Each code respects the coupon's per-member limit and its
/// budget of codes.
#[utoipa::path(post, path = "/v1/coupons/{id}/issue", tag = "marketing",
    params(("id" = String, Path, description = "Coupon id")),
    request_body(content = IssueInput),
    responses((status = 201, body = IssueAnswer, description = "A code issued to the member"),
        (status = 200, body = IssueAnswer, description = "The member's code issued before under this key, or a segment's counts"),
        (status = 404, description = "coupon_not_found, member_not_found or segment_not_found"),
        (status = 409, description = "coupon_unavailable, coupon_budget_spent, limit_reached, member_erased or idempotency_key_reused"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn issue(
    _caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<IssueAnswer>), ApiError> {
    let input: IssueInput = typed(body)?;
    let key = checked_key(&input.idempotency_key)?;
    let now = state.now();
    match (input.member_id, input.segment) {
        (Some(member), None) => {
            let member = member_id(&member.to_string()).map_err(|e| e.field("member_id"))?;
            let (code, replayed) = state
                .store
                .issue_coupon(&id, member, &key, "api", now)
                .await?;
            let status = if replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Ok((status, Json(IssueAnswer::Code(code_view(code)))))
        }
        (None, Some(segment)) => {
            if state.store.segment(&segment).await?.is_none() {
                return Err(ApiError::not_found(
                    ErrorCode::SegmentNotFound,
                    format!("no segment {segment:?}"),
                )
                .field("segment"));
            }
            if state.store.coupon(&id).await?.is_none() {
                return Err(not_found(&id));
            }
            let out = state
                .store
                .issue_coupon_to_segment(&id, &segment, &key, now)
                .await?;
            Ok((
                StatusCode::OK,
                Json(IssueAnswer::Segment(SegmentIssueView {
                    segment,
                    issued: out.issued,
                    already: out.already,
                    refused: serde_json::to_value(out.refused).unwrap_or_default(),
                    budget_spent: out.budget_spent,
                })),
            ))
        }
        _ => Err(
            ApiError::new(ErrorCode::InvalidValue, "name either member_id or segment")
                .field("member_id"),
        ),
    }
}

/// Gift a code to a friend (give-one-get-one, 送)
///
/// Issues a code the giver sends on (201; the same `idempotency_key` again answers 200
/// with the same code). It counts against the giver's per-member limit and the coupon's
/// budget, and any member but the giver may redeem it. Redeemed on the friend's first
/// purchase, it credits the coupon's `gift_points` to both, and the friend becomes the
/// giver's referral (converted by the purchase, as any referral is).
#[utoipa::path(post, path = "/v1/coupons/{id}/gift", tag = "marketing",
    params(("id" = String, Path, description = "Coupon id")),
    request_body(content = CouponGiftInput),
    responses((status = 201, body = CodeView, description = "A code to send on"),
        (status = 200, body = CodeView, description = "Gifted before under this key"),
        (status = 404, description = "coupon_not_found or member_not_found"),
        (status = 409, description = "coupon_unavailable, coupon_budget_spent, limit_reached, member_erased or idempotency_key_reused"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn gift(
    _caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<CodeView>), ApiError> {
    let input: CouponGiftInput = typed(body)?;
    let key = checked_key(&input.idempotency_key)?;
    let giver =
        member_id(&input.from_member_id.to_string()).map_err(|e| e.field("from_member_id"))?;
    let (code, replayed) = state
        .store
        .gift_coupon(&id, giver, &key, state.now())
        .await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(code_view(code))))
}

/// What a gifted code's redemption does besides the discount: the friend becomes the
/// giver's referral (as of the gift) and, on the friend's first purchase, both earn the
/// coupon's `gift_points`. Run on every answer, retries included: the referral's event
/// id and the rewards' keys come from the code, so nothing is written twice.
pub(crate) async fn after_gift_redeemed(state: &AppState, code: &CodeRow) -> Result<(), ApiError> {
    let Some(giver) = code.gift_from.filter(|_| code.status == "redeemed") else {
        return Ok(());
    };
    let gifted_at = code.issued_at;
    let Some(friend) = state.store.member(code.member_id).await? else {
        return Ok(());
    };
    let first = on_first_purchase(
        friend.facts.orders,
        friend.facts.first_purchase_at,
        gifted_at,
    );
    let points = state
        .store
        .coupon(&code.coupon_id)
        .await?
        .and_then(|c| c.coupon.gift_points);
    if let (true, Some(points)) = (first, points) {
        state
            .store
            .reward_gift(code, points, &state.policy.points, state.now())
            .await?;
    }
    if let (Some(friend_id), Some(giver_id)) = (
        friend.identities.iter().next().cloned(),
        an_identity(state, giver).await?,
    ) {
        let event = gift_referral(&code.code, gifted_at, friend_id, giver_id);
        state.event_queue().submit(event, state.now()).await?;
    }
    Ok(())
}

/// Redeem a code on an order
///
/// Exactly once: the code is the member's, unused and unexpired, and the order spends
/// at least the minimum on what the coupon covers (lines' category, sub-brand and price
/// come from the catalogue when `items` leave them out). The answer carries the
/// discount. The same code on the same order again answers as the first time; on
/// another order it is refused with `coupon_used`. A refund event covering the whole
/// order gives the code back while it is still valid.
#[utoipa::path(post, path = "/v1/coupons/redeem", tag = "marketing",
    request_body(content = RedeemCouponInput),
    responses((status = 200, body = CodeView, description = "Redeemed (now, or before on this order)"),
        (status = 404, description = "coupon_not_found or member_not_found"),
        (status = 409, description = "coupon_used, coupon_expired, coupon_not_yours, below_min_spend, coupon_not_applicable, coupon_budget_spent or member_erased"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn redeem(
    _caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<CodeView>, ApiError> {
    let input: RedeemCouponInput = typed(body)?;
    let code = check_line("code", &input.code, 64)?;
    let order_id = check_line("order_id", &input.order_id, 128)?;
    let member = member_id(&input.member_id.to_string()).map_err(|e| e.field("member_id"))?;
    let amount = money_text(&state, "amount", &input.amount)?;
    let items = input.items.unwrap_or_default();
    if items.len() > 500 {
        return Err(
            ApiError::new(ErrorCode::OutOfRange, "an order has at most 500 items").field("items"),
        );
    }
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let field = |name: &str| format!("items[{i}].{name}");
        let text =
            |name: &str, v: Option<String>| v.map(|v| check_line(&field(name), &v, 64)).transpose();
        if !(1..=10_000).contains(&item.qty) {
            return Err(
                ApiError::new(ErrorCode::OutOfRange, "qty is 1 to 10,000").field(field("qty"))
            );
        }
        lines.push(OrderLine {
            sku: check_line(&field("sku"), &item.sku, 64)?,
            category: text("category", item.category)?,
            sub_brand: text("sub_brand", item.sub_brand)?,
            qty: item.qty,
            price: item
                .price
                .as_deref()
                .map(|p| money_text(&state, &field("price"), p))
                .transpose()?,
        });
    }
    let req = Redeemed {
        code,
        member_id: member,
        order_id,
        order: Order { amount, lines },
    };
    let (code, _) = state.store.redeem_coupon(&req, state.now()).await?;
    after_gift_redeemed(&state, &code).await?;
    Ok(Json(code_view(code)))
}

/// A member's coupon codes
///
/// Theirs and those of members merged into them, newest first.
#[utoipa::path(get, path = "/v1/members/{id}/coupons", tag = "marketing",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = CodeList), (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_coupons(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CodeList>, ApiError> {
    let member = member_id(&id)?;
    let brief = state.store.member_brief(member).await?.ok_or_else(|| {
        ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {member}"))
    })?;
    let codes = state.store.member_coupons(brief.member_id).await?;
    Ok(Json(CodeList {
        coupons: codes.into_iter().map(code_view).collect(),
    }))
}
