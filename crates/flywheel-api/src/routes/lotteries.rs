//! `/v1/lotteries`: the daily points lottery (seed 000) — prize tables defined by admin
//! and operator keys (audited, versioned), draws paid in points within a daily limit,
//! each kept with its random number and table version so it can be checked again.

use super::{check_slug, member_id, required_id, same_id};
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::marketing_views::{
    DrawInput, DrawView, LotteryInput, LotteryList, LotteryView, PrizeView,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::marketing::{Lottery, Prize};
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::check_line;
use flywheel_store::{DrawRow, LotteryRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/lotteries", get(list_lotteries).post(create_lottery))
        .route("/v1/lotteries/{id}", get(get_lottery).put(put_lottery))
        .route("/v1/lotteries/{id}/draws", post(draw))
        .route("/v1/lotteries/{id}/draws/{draw}", get(get_draw))
}

fn lottery_view(r: LotteryRow) -> LotteryView {
    let l = r.lottery;
    LotteryView {
        prizes: l
            .prizes
            .into_iter()
            .map(|p| PrizeView {
                stock: p.stock.map(|_| {
                    r.stock
                        .iter()
                        .find(|(id, _)| *id == p.id)
                        .map_or(0, |(_, left)| *left)
                }),
                id: p.id,
                name: p.name,
                chance: p.chance,
                points: p.points,
            })
            .collect(),
        id: l.id,
        name: l.name,
        cost_points: l.cost_points,
        daily_limit: l.daily_limit,
        version: r.version,
        active: l.active,
        draws: r.draws,
    }
}

fn draw_view(d: DrawRow, table: &Lottery) -> DrawView {
    let reproduced = table
        .pick(d.number as u64)
        .map(|i| table.prizes[i].id.clone());
    DrawView {
        prize_name: d
            .prize_id
            .as_ref()
            .and_then(|id| table.prizes.iter().find(|p| &p.id == id))
            .map(|p| p.name.clone()),
        id: d.id,
        lottery_id: d.lottery_id,
        member_id: d.member_id,
        at: to_rfc3339(d.at),
        number: d.number,
        version: d.version,
        outcome: d.outcome,
        prize_id: d.prize_id,
        cost_points: d.cost_points,
        reproduced_prize_id: reproduced,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(ErrorCode::LotteryNotFound, format!("no lottery {id:?}"))
}

/// Lotteries
#[utoipa::path(get, path = "/v1/lotteries", tag = "marketing",
    responses((status = 200, body = LotteryList)),
    security(("bearer" = [])))]
pub async fn list_lotteries(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
) -> Result<Json<LotteryList>, ApiError> {
    let rows = state.store.lotteries().await?;
    Ok(Json(LotteryList {
        lotteries: rows.into_iter().map(lottery_view).collect(),
    }))
}

/// One lottery, with its prizes' stock left
#[utoipa::path(get, path = "/v1/lotteries/{id}", tag = "marketing",
    params(("id" = String, Path, description = "Lottery id")),
    responses((status = 200, body = LotteryView), (status = 404, description = "lottery_not_found")),
    security(("bearer" = [])))]
pub async fn get_lottery(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LotteryView>, ApiError> {
    let row = state
        .store
        .lottery(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(lottery_view(row)))
}

async fn save(
    caller: &Allowed<need::ManageMarketing>,
    state: &AppState,
    id: &str,
    input: LotteryInput,
    replace: bool,
) -> Result<(StatusCode, Json<LotteryView>), ApiError> {
    check_slug(id, "a lottery id")?;
    let lottery = Lottery {
        id: id.to_owned(),
        name: input.name,
        cost_points: input.cost_points,
        daily_limit: input.daily_limit.unwrap_or(1),
        prizes: input
            .prizes
            .into_iter()
            .map(|p| Prize {
                id: p.id,
                name: p.name,
                chance: p.chance,
                stock: p.stock,
                points: p.points,
            })
            .collect(),
        active: input.active.unwrap_or(true),
    };
    lottery.check()?;
    let created = state
        .store
        .save_lottery(&lottery, replace, &caller.audit_actor(), state.now())
        .await?;
    let row = state
        .store
        .lottery(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(lottery_view(row))))
}

/// Define a lottery
///
/// Audited; version 1 of its prize table.
#[utoipa::path(post, path = "/v1/lotteries", tag = "marketing",
    request_body(content = LotteryInput),
    responses((status = 201, body = LotteryView),
        (status = 409, description = "lottery_exists"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn create_lottery(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<LotteryView>), ApiError> {
    let input: LotteryInput = typed(body)?;
    let id = required_id(input.id.as_ref())?;
    save(&caller, &state, &id, input, false).await
}

/// Create or change a lottery
///
/// Audited. Each save is a new version of the prize table (earlier draws keep theirs);
/// the prizes' stock is set to what the table says is left.
#[utoipa::path(put, path = "/v1/lotteries/{id}", tag = "marketing",
    params(("id" = String, Path, description = "Lottery id")),
    request_body(content = LotteryInput),
    responses((status = 201, body = LotteryView, description = "Created"),
        (status = 200, body = LotteryView, description = "Changed: a new version"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn put_lottery(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<LotteryView>), ApiError> {
    let input: LotteryInput = typed(body)?;
    same_id(&id, input.id.as_ref())?;
    save(&caller, &state, &id, input, true).await
}

/// Draw
///
/// The cost is debited from the member's default points programme, the draw made
/// within their daily limit (UTC days), and a points prize credited — each once,
/// whatever the retries of the same `idempotency_key` (which answer 200 with the same
/// draw). A prize whose stock is gone wins nothing (`out_of_stock`); its chance is not
/// given to another prize.
#[utoipa::path(post, path = "/v1/lotteries/{id}/draws", tag = "marketing",
    params(("id" = String, Path, description = "Lottery id")),
    request_body(content = DrawInput),
    responses((status = 201, body = DrawView, description = "Drawn"),
        (status = 200, body = DrawView, description = "Drawn before under this key"),
        (status = 404, description = "lottery_not_found or member_not_found"),
        (status = 409, description = "limit_reached, insufficient_points, lottery_closed or member_erased"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn draw(
    _caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<DrawView>), ApiError> {
    let input: DrawInput = typed(body)?;
    let key = check_line("idempotency_key", &input.idempotency_key, 100)?;
    let member = member_id(&input.member_id.to_string()).map_err(|e| e.field("member_id"))?;
    let (draw, replayed) = state
        .store
        .draw_lottery(&id, member, &key, &state.policy.points, state.now())
        .await?;
    let (draw, table) = state
        .store
        .lottery_draw(&draw.id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(draw_view(draw, &table))))
}

/// One draw, worked out again
///
/// With the prize the stored number picks under the stored table version, computed now.
#[utoipa::path(get, path = "/v1/lotteries/{id}/draws/{draw}", tag = "marketing",
    params(("id" = String, Path, description = "Lottery id"),
        ("draw" = String, Path, description = "Draw id")),
    responses((status = 200, body = DrawView), (status = 404, description = "lottery_not_found")),
    security(("bearer" = [])))]
pub async fn get_draw(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path((id, draw)): Path<(String, String)>,
) -> Result<Json<DrawView>, ApiError> {
    let (draw, table) = state
        .store
        .lottery_draw(&draw)
        .await?
        .filter(|(d, _)| d.lottery_id == id)
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::LotteryNotFound,
                format!("lottery {id:?} has no such draw"),
            )
        })?;
    Ok(Json(draw_view(draw, &table)))
}
