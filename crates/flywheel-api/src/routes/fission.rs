//! `/v1/fission-campaigns` and `/v1/fission-rounds` (裂变, seed 002): group-buys, help
//! requests and bargains. Campaigns are defined by admin and operator keys (audited); a
//! member opens a round and friends join it through its link. Each join is written into
//! both members' histories as a referral of the joiner by the leader (and, for help and
//! bargain rounds, the leader's share), so it feeds the influence score and the
//! referral tree.

use super::products::money_text;
use super::{an_identity, check_slug, member_id, required_id, same_id};
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::fission_views::{
    FissionCampaignInput, FissionCampaignList, FissionCampaignView, GroupOrderView, JoinAnswer,
    JoinInput, JoinView, OpenRoundInput, RoundList, RoundView,
};
use crate::params::{Params, limit, unknown};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::marketing::fission::join_events;
use flywheel_core::marketing::{FissionCampaign, Mechanic};
use flywheel_core::money::Money;
use flywheel_core::time::{self, to_rfc3339};
use flywheel_core::validation::{FieldError, check_line};
use flywheel_store::{FissionCampaignRow, JoinRow, RoundRow};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/fission-campaigns",
            get(list_campaigns).post(create_campaign),
        )
        .route(
            "/v1/fission-campaigns/{id}",
            get(get_campaign).put(put_campaign),
        )
        .route(
            "/v1/fission-campaigns/{id}/rounds",
            get(list_rounds).post(open_round),
        )
        .route("/v1/fission-rounds/{round}", get(get_round))
        .route("/v1/fission-rounds/{round}/joins", post(join_round))
}

fn campaign_view(r: FissionCampaignRow, now: i64) -> FissionCampaignView {
    let c = r.campaign;
    let mut v = FissionCampaignView {
        open: c.open_at(now),
        kind: c.mechanic.kind().to_owned(),
        id: c.id,
        name: c.name,
        sku: c.sku,
        hours: c.hours,
        starts_at: to_rfc3339(c.starts_at),
        ends_at: to_rfc3339(c.ends_at),
        size: None,
        group_price: None,
        list_price: None,
        target: None,
        new_member_weight: None,
        reward_points: None,
        reward_coupon: None,
        price: None,
        floor: None,
        helpers: None,
        rounds: r.rounds,
        completed: r.completed,
        joins: r.joins,
    };
    match c.mechanic {
        Mechanic::GroupBuy {
            size,
            group_price,
            list_price,
        } => {
            v.size = Some(size);
            v.group_price = Some(group_price.to_string());
            v.list_price = Some(list_price.to_string());
        }
        Mechanic::Help {
            target,
            new_member_weight,
            reward_points,
            reward_coupon,
        } => {
            v.target = Some(target);
            v.new_member_weight = Some(new_member_weight);
            v.reward_points = reward_points;
            v.reward_coupon = reward_coupon;
        }
        Mechanic::Bargain {
            price,
            floor,
            helpers,
        } => {
            v.price = Some(price.to_string());
            v.floor = Some(floor.to_string());
            v.helpers = Some(helpers);
        }
    }
    v
}

fn join_view(j: JoinRow) -> JoinView {
    JoinView {
        member_id: j.member_id,
        at: to_rfc3339(j.at),
        new_member: j.new_member,
        weight: j.weight,
        cut: j.cut.to_string(),
        number: j.number,
    }
}

/// The orders of a group-buy's leader and members, as the round's status makes them.
fn group_orders(round: &RoundRow, joins: &[JoinRow]) -> Vec<GroupOrderView> {
    if round.kind != "group_buy" {
        return Vec::new();
    }
    let (status, charged) = match round.status.as_str() {
        "filled" => ("confirmed", round.price),
        "open" => ("pending", Money::ZERO),
        _ => ("cancelled", Money::ZERO),
    };
    std::iter::once(round.leader_id)
        .chain(joins.iter().map(|j| j.member_id))
        .map(|member| GroupOrderView {
            member_id: member,
            order_id: format!("{}:{member}", round.id),
            status: status.to_owned(),
            charged: charged.to_string(),
        })
        .collect()
}

fn goal(campaign: Option<&FissionCampaign>) -> u32 {
    match campaign.map(|c| &c.mechanic) {
        Some(Mechanic::GroupBuy { size, .. }) => *size,
        Some(Mechanic::Help { target, .. }) => *target,
        Some(Mechanic::Bargain { helpers, .. }) => *helpers,
        None => 0,
    }
}

fn round_view(
    mut round: RoundRow,
    joins: Vec<JoinRow>,
    campaign: Option<&FissionCampaign>,
    now: i64,
) -> RoundView {
    // A round past its deadline is closed whether or not the pass has written it yet.
    if round.status == "open" && round.deadline <= now {
        round.status = if round.kind == "group_buy" {
            "failed"
        } else {
            "expired"
        }
        .to_owned();
        round.closed_at = Some(round.deadline);
    }
    RoundView {
        orders: group_orders(&round, &joins),
        goal: goal(campaign),
        join_path: format!("/v1/fission-rounds/{}/joins", round.id),
        id: round.id,
        campaign_id: round.campaign_id,
        kind: round.kind,
        leader_id: round.leader_id,
        status: round.status,
        opened_at: to_rfc3339(round.opened_at),
        deadline: to_rfc3339(round.deadline),
        closed_at: round.closed_at.map(to_rfc3339),
        joined: round.joined,
        progress: round.progress,
        price: round.price.to_string(),
        rewarded_at: round.rewarded_at.map(to_rfc3339),
        joins: joins.into_iter().map(join_view).collect(),
    }
}

/// Refuses a field that belongs to another kind of campaign.
fn not_for(kind: &str, field: &str, present: bool) -> Result<(), FieldError> {
    if present {
        return Err(FieldError::new(
            field,
            ErrorCode::InvalidValue,
            format!("{field} is not a field of a {kind} campaign"),
        ));
    }
    Ok(())
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, FieldError> {
    value.ok_or_else(|| FieldError::missing(field))
}

fn campaign_of(
    state: &AppState,
    id: &str,
    b: FissionCampaignInput,
) -> Result<FissionCampaign, FieldError> {
    let when = |field: &str, t: &str| {
        time::parse_rfc3339(t).ok_or_else(|| {
            FieldError::new(
                field,
                ErrorCode::InvalidTimestamp,
                format!("{field} must be an RFC 3339 timestamp with an offset"),
            )
        })
    };
    let money =
        |field: &str, v: Option<&String>| v.map(|t| money_text(state, field, t)).transpose();
    let group_fields = b.size.is_some() || b.group_price.is_some() || b.list_price.is_some();
    let help_fields = b.target.is_some()
        || b.new_member_weight.is_some()
        || b.reward_points.is_some()
        || b.reward_coupon.is_some();
    let bargain_fields = b.price.is_some() || b.floor.is_some() || b.helpers.is_some();
    let kind = b.kind.as_str();
    let mechanic = match kind {
        "group_buy" => {
            not_for(kind, "target", help_fields)?;
            not_for(kind, "price", bargain_fields)?;
            let group_price =
                required(money("group_price", b.group_price.as_ref())?, "group_price")?;
            Mechanic::GroupBuy {
                size: required(b.size, "size")?,
                group_price,
                list_price: money("list_price", b.list_price.as_ref())?.unwrap_or(group_price),
            }
        }
        "help" => {
            not_for(kind, "size", group_fields)?;
            not_for(kind, "price", bargain_fields)?;
            Mechanic::Help {
                target: required(b.target, "target")?,
                new_member_weight: b.new_member_weight.unwrap_or(1),
                reward_points: b.reward_points,
                reward_coupon: b.reward_coupon.clone(),
            }
        }
        "bargain" => {
            not_for(kind, "size", group_fields)?;
            not_for(kind, "target", help_fields)?;
            Mechanic::Bargain {
                price: required(money("price", b.price.as_ref())?, "price")?,
                floor: required(money("floor", b.floor.as_ref())?, "floor")?,
                helpers: required(b.helpers, "helpers")?,
            }
        }
        _ => {
            return Err(FieldError::new(
                "kind",
                ErrorCode::InvalidValue,
                "kind is group_buy, help or bargain",
            ));
        }
    };
    let campaign = FissionCampaign {
        id: id.to_owned(),
        name: b.name,
        sku: b.sku,
        mechanic,
        hours: b.hours.unwrap_or(24),
        starts_at: when("starts_at", &b.starts_at)?,
        ends_at: when("ends_at", &b.ends_at)?,
    };
    campaign.check()?;
    Ok(campaign)
}

fn not_found(what: &str) -> ApiError {
    ApiError::not_found(ErrorCode::FissionNotFound, format!("no fission {what}"))
}

/// Fission campaigns
#[utoipa::path(get, path = "/v1/fission-campaigns", tag = "marketing",
    responses((status = 200, body = FissionCampaignList)),
    security(("bearer" = [])))]
pub async fn list_campaigns(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
) -> Result<Json<FissionCampaignList>, ApiError> {
    let now = state.now();
    let rows = state.store.fission_campaigns().await?;
    Ok(Json(FissionCampaignList {
        campaigns: rows.into_iter().map(|r| campaign_view(r, now)).collect(),
    }))
}

/// One fission campaign, with its rounds counted
#[utoipa::path(get, path = "/v1/fission-campaigns/{id}", tag = "marketing",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = FissionCampaignView), (status = 404, description = "fission_not_found")),
    security(("bearer" = [])))]
pub async fn get_campaign(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<FissionCampaignView>, ApiError> {
    let row = state
        .store
        .fission_campaign(&id)
        .await?
        .ok_or_else(|| not_found(&format!("campaign {id:?}")))?;
    Ok(Json(campaign_view(row, state.now())))
}

async fn save(
    caller: &Allowed<need::ManageMarketing>,
    state: &AppState,
    id: &str,
    input: FissionCampaignInput,
    replace: bool,
) -> Result<(StatusCode, Json<FissionCampaignView>), ApiError> {
    check_slug(id, "a campaign id")?;
    let campaign = campaign_of(state, id, input)?;
    let now = state.now();
    let created = state
        .store
        .save_fission_campaign(&campaign, replace, &caller.audit_actor(), now)
        .await?;
    let row = state
        .store
        .fission_campaign(id)
        .await?
        .ok_or_else(|| not_found(&format!("campaign {id:?}")))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(campaign_view(row, now))))
}

/// Define a fission campaign
///
/// A group-buy (`size`, `group_price`), a help request (`target`, a reward) or a
/// bargain (`price`, `floor`, `helpers`). Audited.
#[utoipa::path(post, path = "/v1/fission-campaigns", tag = "marketing",
    request_body(content = FissionCampaignInput),
    responses((status = 201, body = FissionCampaignView),
        (status = 409, description = "fission_campaign_exists"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn create_campaign(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<FissionCampaignView>), ApiError> {
    let input: FissionCampaignInput = typed(body)?;
    let id = required_id(input.id.as_ref())?;
    save(&caller, &state, &id, input, false).await
}

/// Create or change a fission campaign
///
/// Audited. Rounds already open keep their deadline; a change of size, target or
/// price applies to joins from now on. The kind cannot change once rounds exist.
#[utoipa::path(put, path = "/v1/fission-campaigns/{id}", tag = "marketing",
    params(("id" = String, Path, description = "Campaign id")),
    request_body(content = FissionCampaignInput),
    responses((status = 201, body = FissionCampaignView, description = "Created"),
        (status = 200, body = FissionCampaignView, description = "Changed"),
        (status = 422, description = "A field that does not check, named; or a change of kind")),
    security(("bearer" = [])))]
pub async fn put_campaign(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<FissionCampaignView>), ApiError> {
    let input: FissionCampaignInput = typed(body)?;
    same_id(&id, input.id.as_ref())?;
    save(&caller, &state, &id, input, true).await
}

/// A campaign's rounds
#[utoipa::path(get, path = "/v1/fission-campaigns/{id}/rounds", tag = "marketing",
    params(("id" = String, Path, description = "Campaign id"),
        ("status" = Option<String>, Query, description = "open, filled, unlocked, failed or expired"),
        ("limit" = Option<u32>, Query, description = "1–500, default 100")),
    responses((status = 200, body = RoundList), (status = 404, description = "fission_not_found"),
        (status = 400, description = "invalid_query")),
    security(("bearer" = [])))]
pub async fn list_rounds(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<Json<RoundList>, ApiError> {
    let (mut status, mut most) = (None, 100);
    for (k, v) in params {
        match k.as_str() {
            "status" => {
                if !["open", "filled", "unlocked", "failed", "expired"].contains(&v.as_str()) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidQuery,
                        "status is open, filled, unlocked, failed or expired",
                    )
                    .field("status"));
                }
                status = Some(v);
            }
            "limit" => most = limit(&v, 500)?,
            other => return Err(unknown(other)),
        }
    }
    let campaign = state
        .store
        .fission_campaign(&id)
        .await?
        .ok_or_else(|| not_found(&format!("campaign {id:?}")))?;
    let rounds = state
        .store
        .fission_rounds(&id, status.as_deref(), i64::from(most))
        .await?;
    let ids: Vec<String> = rounds.iter().map(|r| r.id.clone()).collect();
    let mut joins = state.store.fission_joins_of(&ids).await?;
    let now = state.now();
    let views = rounds
        .into_iter()
        .map(|r| {
            let of_round = joins.remove(&r.id).unwrap_or_default();
            round_view(r, of_round, Some(&campaign.campaign), now)
        })
        .collect();
    Ok(Json(RoundList { rounds: views }))
}

async fn round_answer(state: &AppState, round: &str) -> Result<RoundView, ApiError> {
    let (round, joins) = state
        .store
        .fission_round(round)
        .await?
        .ok_or_else(|| not_found(&format!("round {round:?}")))?;
    let campaign = state.store.fission_campaign(&round.campaign_id).await?;
    Ok(round_view(
        round,
        joins,
        campaign.as_ref().map(|c| &c.campaign),
        state.now(),
    ))
}

/// Open a round
///
/// The member leads a group, asks friends for help or starts a bargain; friends join
/// through the round's `join_path`. The same `idempotency_key` answers the same round
/// (200), and so does a key of a leader whose round of the campaign is still open.
#[utoipa::path(post, path = "/v1/fission-campaigns/{id}/rounds", tag = "marketing",
    params(("id" = String, Path, description = "Campaign id")),
    request_body(content = OpenRoundInput),
    responses((status = 201, body = RoundView, description = "Opened"),
        (status = 200, body = RoundView, description = "The leader's round opened before"),
        (status = 404, description = "fission_not_found or member_not_found"),
        (status = 409, description = "campaign_not_open, member_erased or idempotency_key_reused"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn open_round(
    _caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<RoundView>), ApiError> {
    let input: OpenRoundInput = typed(body)?;
    let key = check_line("idempotency_key", &input.idempotency_key, 100)?;
    let leader = member_id(&input.member_id.to_string()).map_err(|e| e.field("member_id"))?;
    let (round, replayed) = state
        .store
        .open_fission_round(&id, leader, &key, state.now())
        .await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(round_answer(&state, &round.id).await?)))
}

/// One round, with its joins and, for a group-buy, its orders
#[utoipa::path(get, path = "/v1/fission-rounds/{round}", tag = "marketing",
    params(("round" = String, Path, description = "Round id")),
    responses((status = 200, body = RoundView), (status = 404, description = "fission_not_found")),
    security(("bearer" = [])))]
pub async fn get_round(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(round): Path<String>,
) -> Result<Json<RoundView>, ApiError> {
    Ok(Json(round_answer(&state, &round).await?))
}

/// Writes the join into both members' histories (a referral, and the leader's share for
/// help and bargain rounds). Their event ids come from the round and the joiner, so a
/// retried join writes nothing twice; a member erased since has no history to write.
async fn record_join(state: &AppState, round: &RoundRow, join: &JoinRow) -> Result<(), ApiError> {
    let (Some(joiner), Some(leader)) = (
        an_identity(state, join.member_id).await?,
        an_identity(state, round.leader_id).await?,
    ) else {
        return Ok(());
    };
    let events = join_events(
        &round.kind,
        &round.id,
        &round.campaign_id,
        join.at,
        join.member_id,
        joiner,
        leader,
    );
    for event in events {
        state.event_queue().submit(event, state.now()).await?;
    }
    Ok(())
}

/// Join or help a round
///
/// Joins a group-buy, helps a help request or takes a bargain's cut, for the member
/// named. A member joins one round of a campaign; joining it again answers the same
/// join (200). The leader cannot join their own round. A group that fills confirms
/// every member's order at the group price; a help round that reaches its target
/// rewards its leader once. The join is a referral of the member by the leader.
#[utoipa::path(post, path = "/v1/fission-rounds/{round}/joins", tag = "marketing",
    params(("round" = String, Path, description = "Round id")),
    request_body(content = JoinInput),
    responses((status = 201, body = JoinAnswer, description = "Joined"),
        (status = 200, body = JoinAnswer, description = "Joined before"),
        (status = 404, description = "fission_not_found or member_not_found"),
        (status = 409, description = "round_closed, already_joined, self_referral or member_erased"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn join_round(
    _caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    Path(round): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<JoinAnswer>), ApiError> {
    let input: JoinInput = typed(body)?;
    let member = member_id(&input.member_id.to_string()).map_err(|e| e.field("member_id"))?;
    let first_seen_at = state
        .store
        .member(member)
        .await?
        .and_then(|m| m.facts.first_seen_at);
    let joined = state
        .store
        .join_fission_round(
            &round,
            member,
            first_seen_at,
            &state.policy.points,
            state.now(),
        )
        .await?;
    record_join(&state, &joined.round, &joined.join).await?;
    let status = if joined.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(JoinAnswer {
            join: join_view(joined.join),
            round: round_answer(&state, &joined.round.id).await?,
        }),
    ))
}
