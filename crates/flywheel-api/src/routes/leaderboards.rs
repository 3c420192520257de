//! `/v1/leaderboards`, `/v1/awards` and `/v1/members/{id}/honours` (比, seed 002):
//! leaderboards defined by admin and operator keys (audited) and ranked when read;
//! annual awards proposed from a leaderboard's top and confirmed or declined by staff;
//! a member's badges (awarded by segments) and confirmed awards; and the marketing
//! report, each campaign's participants, referrals, cost and influenced GMV.

use super::segments::{expression_error, language};
use super::{check_slug, member_id, required_id, same_id};
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::honours_views::{
    AwardDecisionInput, AwardList, AwardView, BadgeView, CampaignReport, CampaignReportRow,
    HonoursView, LeaderboardInput, LeaderboardList, LeaderboardView, ProposeAwardsInput,
    StandingView,
};
use crate::params::{Params, limit, unknown};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::marketing::honours::{TIE_RULE, standings};
use flywheel_core::marketing::{Leaderboard, Standing};
use flywheel_core::segment::check::compile_quantity;
use flywheel_core::segment::{Cond, compile};
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::check_line;
use flywheel_store::AwardRow;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/leaderboards",
            get(list_leaderboards).post(create_leaderboard),
        )
        .route(
            "/v1/leaderboards/{id}",
            get(get_leaderboard).put(put_leaderboard),
        )
        .route("/v1/leaderboards/{id}/awards", post(propose_awards))
        .route("/v1/awards", get(list_awards))
        .route("/v1/awards/{id}/decision", post(decide_award))
        .route("/v1/members/{id}/honours", get(member_honours))
        .route("/v1/marketing/report", get(marketing_report))
}

/// The board's score and filter, compiled; a field that does not check is named.
fn compiled(
    state: &AppState,
    board: &Leaderboard,
) -> Result<(Cond, flywheel_core::segment::expr::Quantity), ApiError> {
    let lang = language(state);
    let score =
        compile_quantity(&board.score, &lang).map_err(|e| expression_error(e).field("score"))?;
    let filter = match &board.filter {
        Some(f) => compile(f, &lang).map_err(|e| expression_error(e).field("filter"))?,
        None => Cond::Const(true),
    };
    Ok((filter, score))
}

/// The board's places `1..=places`, ties at the last place included, each with when
/// the member joined.
async fn ranked(
    state: &AppState,
    board: &Leaderboard,
    places: u32,
) -> Result<Vec<(Standing, i64)>, ApiError> {
    let (filter, score) = compiled(state, board)?;
    // Read past the last place so a tie across it is seen whole.
    let rows = state
        .store
        .rank_members(&filter, &score, state.now(), i64::from(places) * 2 + 20)
        .await?;
    let sorted: Vec<(i64, f64)> = rows.iter().map(|r| (r.member_id, r.score)).collect();
    Ok(standings(&sorted)
        .into_iter()
        .zip(rows.iter().map(|r| r.member_since))
        .take_while(|(s, _)| s.rank <= places)
        .collect())
}

pub(crate) async fn board_view(
    state: &AppState,
    board: Leaderboard,
) -> Result<LeaderboardView, ApiError> {
    let places = ranked(state, &board, board.size).await?;
    Ok(LeaderboardView {
        ties: TIE_RULE.to_owned(),
        as_of: to_rfc3339(state.now()),
        standings: places
            .into_iter()
            .map(|(s, since)| StandingView {
                rank: s.rank,
                member_id: s.member_id,
                score: s.score,
                tied_with: s.tied_with,
                member_since: to_rfc3339(since),
            })
            .collect(),
        id: board.id,
        name: board.name,
        score: board.score,
        filter: board.filter,
        size: board.size,
    })
}

fn award_view(a: AwardRow) -> AwardView {
    AwardView {
        id: a.id,
        leaderboard_id: a.leaderboard_id,
        title: a.title,
        member_id: a.member_id,
        rank: a.rank,
        score: a.score,
        status: a.status,
        proposed_at: to_rfc3339(a.proposed_at),
        decided_at: a.decided_at.map(to_rfc3339),
        decided_by: a.decided_by,
        note: a.note,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(
        ErrorCode::LeaderboardNotFound,
        format!("no leaderboard {id:?}"),
    )
}

/// Leaderboards, each ranked now
#[utoipa::path(get, path = "/v1/leaderboards", tag = "marketing",
    responses((status = 200, body = LeaderboardList)),
    security(("bearer" = [])))]
pub async fn list_leaderboards(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
) -> Result<Json<LeaderboardList>, ApiError> {
    let mut leaderboards = Vec::new();
    for row in state.store.leaderboards().await? {
        leaderboards.push(board_view(&state, row.board).await?);
    }
    Ok(Json(LeaderboardList { leaderboards }))
}

/// One leaderboard, ranked now
///
/// Members the filter selects, by score, highest first; members without a value are
/// left out. Ties share a rank and are listed longest-standing first (`ties` says so).
#[utoipa::path(get, path = "/v1/leaderboards/{id}", tag = "marketing",
    params(("id" = String, Path, description = "Leaderboard id")),
    responses((status = 200, body = LeaderboardView), (status = 404, description = "leaderboard_not_found")),
    security(("bearer" = [])))]
pub async fn get_leaderboard(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LeaderboardView>, ApiError> {
    let row = state
        .store
        .leaderboard(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(board_view(&state, row.board).await?))
}

async fn save(
    caller: &Allowed<need::ManageMarketing>,
    state: &AppState,
    id: &str,
    input: LeaderboardInput,
    replace: bool,
) -> Result<(StatusCode, Json<LeaderboardView>), ApiError> {
    check_slug(id, "a leaderboard id")?;
    let board = Leaderboard {
        id: id.to_owned(),
        name: input.name,
        score: input.score.trim().to_owned(),
        filter: input
            .filter
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty()),
        size: input.size.unwrap_or(10),
    };
    board.check()?;
    compiled(state, &board)?;
    let created = state
        .store
        .save_leaderboard(&board, replace, &caller.audit_actor(), state.now())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(board_view(state, board).await?)))
}

/// Define a leaderboard
///
/// Audited. `score` and `filter` are checked as the segment language checks them; an
/// error names the field with its line and column.
#[utoipa::path(post, path = "/v1/leaderboards", tag = "marketing",
    request_body(content = LeaderboardInput),
    responses((status = 201, body = LeaderboardView),
        (status = 409, description = "leaderboard_exists"),
        (status = 422, description = "invalid_expression (score or filter) or another field that does not check, named")),
    security(("bearer" = [])))]
pub async fn create_leaderboard(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<LeaderboardView>), ApiError> {
    let input: LeaderboardInput = typed(body)?;
    let id = required_id(input.id.as_ref())?;
    save(&caller, &state, &id, input, false).await
}

/// Create or change a leaderboard
#[utoipa::path(put, path = "/v1/leaderboards/{id}", tag = "marketing",
    params(("id" = String, Path, description = "Leaderboard id")),
    request_body(content = LeaderboardInput),
    responses((status = 201, body = LeaderboardView, description = "Created"),
        (status = 200, body = LeaderboardView, description = "Changed"),
        (status = 422, description = "invalid_expression (score or filter) or another field that does not check, named")),
    security(("bearer" = [])))]
pub async fn put_leaderboard(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<LeaderboardView>), ApiError> {
    let input: LeaderboardInput = typed(body)?;
    same_id(&id, input.id.as_ref())?;
    save(&caller, &state, &id, input, true).await
}

/// Propose awards from a leaderboard's top
///
/// The members ranked `top` or better now (ties included) are proposed `title`, for
/// staff to confirm or decline; proposing the same title again adds only members new
/// to the top. Audited. Answers the title's awards of this leaderboard.
#[utoipa::path(post, path = "/v1/leaderboards/{id}/awards", tag = "marketing",
    params(("id" = String, Path, description = "Leaderboard id")),
    request_body(content = ProposeAwardsInput),
    responses((status = 200, body = AwardList),
        (status = 404, description = "leaderboard_not_found"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn propose_awards(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<AwardList>, ApiError> {
    let input: ProposeAwardsInput = typed(body)?;
    let title = check_line("title", &input.title, 100)?;
    if title.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidValue, "title is empty").field("title"));
    }
    if !(1..=100).contains(&input.top) {
        return Err(ApiError::new(ErrorCode::OutOfRange, "top is 1 to 100").field("top"));
    }
    let row = state
        .store
        .leaderboard(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let top: Vec<Standing> = ranked(&state, &row.board, input.top)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let awards = state
        .store
        .propose_awards(&id, title.trim(), &top, &caller.audit_actor(), state.now())
        .await?;
    Ok(Json(AwardList {
        awards: awards.into_iter().map(award_view).collect(),
    }))
}

/// Awards, newest proposals first
#[utoipa::path(get, path = "/v1/awards", tag = "marketing",
    params(("status" = Option<String>, Query, description = "proposed, confirmed or declined"),
           ("member_id" = Option<i64>, Query, description = "One member's awards"),
           ("limit" = Option<u32>, Query, description = "1–500, default 100")),
    responses((status = 200, body = AwardList), (status = 400, description = "invalid_query")),
    security(("bearer" = [])))]
pub async fn list_awards(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<AwardList>, ApiError> {
    let (mut status, mut member, mut most) = (None, None, 100);
    for (k, v) in params {
        match k.as_str() {
            "status" => {
                if !["proposed", "confirmed", "declined"].contains(&v.as_str()) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidQuery,
                        "status is proposed, confirmed or declined",
                    )
                    .field("status"));
                }
                status = Some(v);
            }
            "member_id" => {
                member = Some(member_id(&v).map_err(|e| {
                    ApiError::new(ErrorCode::InvalidQuery, e.message).field("member_id")
                })?)
            }
            "limit" => most = limit(&v, 500)?,
            other => return Err(unknown(other)),
        }
    }
    let awards = state
        .store
        .awards(status.as_deref(), member, i64::from(most))
        .await?;
    Ok(Json(AwardList {
        awards: awards.into_iter().map(award_view).collect(),
    }))
}

/// Confirm or decline a proposed award
///
/// Audited. The same decision again answers the award as it is; the other decision is
/// refused (`already_decided`). A confirmed award shows on the member's card.
#[utoipa::path(post, path = "/v1/awards/{id}/decision", tag = "marketing",
    params(("id" = String, Path, description = "Award id")),
    request_body(content = AwardDecisionInput),
    responses((status = 200, body = AwardView),
        (status = 404, description = "award_not_found"),
        (status = 409, description = "already_decided"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn decide_award(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<AwardView>, ApiError> {
    let input: AwardDecisionInput = typed(body)?;
    let confirm = match input.decision.as_str() {
        "confirm" => true,
        "decline" => false,
        _ => {
            return Err(
                ApiError::new(ErrorCode::InvalidValue, "decision is confirm or decline")
                    .field("decision"),
            );
        }
    };
    let note = input
        .note
        .map(|n| check_line("note", &n, 500))
        .transpose()?;
    let award = state
        .store
        .decide_award(
            &id,
            confirm,
            note.as_deref(),
            &caller.audit_actor(),
            state.now(),
        )
        .await?;
    Ok(Json(award_view(award)))
}

/// A member's badges and confirmed awards
pub(crate) async fn honours_of(state: &AppState, member: i64) -> Result<HonoursView, ApiError> {
    let badges = state
        .store
        .member_badges(member)
        .await?
        .into_iter()
        .map(|b| BadgeView {
            badge: b.badge,
            segment_id: b.segment_id,
            awarded_at: to_rfc3339(b.awarded_at),
        })
        .collect();
    let awards = state
        .store
        .awards(Some("confirmed"), Some(member), 100)
        .await?
        .into_iter()
        .map(award_view)
        .collect();
    Ok(HonoursView {
        member_id: member,
        badges,
        awards,
    })
}

/// A member's honours: badges and confirmed awards
#[utoipa::path(get, path = "/v1/members/{id}/honours", tag = "marketing",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = HonoursView), (status = 404, description = "member_not_found"),
        (status = 400, description = "invalid_member_id")),
    security(("bearer" = [])))]
pub async fn member_honours(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<HonoursView>, ApiError> {
    let id = member_id(&raw)?;
    let member =
        state.store.member(id).await?.ok_or_else(|| {
            ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}"))
        })?;
    Ok(Json(honours_of(&state, member.id).await?))
}

/// The marketing report: each campaign's participants, referrals, cost and GMV
///
/// One row per coupon and per group-buy, help or bargain campaign. Cost is the points
/// its rewards credited at `points.value_per_point` plus the discounts its coupons
/// granted. GMV is, for a coupon, the orders its codes were redeemed on; for a fission
/// campaign, what its participants spent (net of refunds) from taking part until 30
/// days after. Read from the tables: it may lag ingest by one flush.
#[utoipa::path(get, path = "/v1/marketing/report", tag = "marketing",
    responses((status = 200, body = CampaignReport)),
    security(("bearer" = [])))]
pub async fn marketing_report(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
) -> Result<Json<CampaignReport>, ApiError> {
    Ok(Json(campaign_report(&state).await?))
}

/// The marketing report, for the API and the cockpit.
pub(crate) async fn campaign_report(state: &AppState) -> Result<CampaignReport, ApiError> {
    let points = &state.policy.points;
    let campaigns = state
        .store
        .campaign_figures()
        .await?
        .into_iter()
        .map(|f| {
            let points_cost = points.liability(f.points).unwrap_or_default();
            let cost = points_cost.checked_add(f.discounts).unwrap_or(points_cost);
            CampaignReportRow {
                gmv_per_cost: (cost.minor() > 0)
                    .then(|| f.gmv.minor() as f64 / cost.minor() as f64),
                kind: f.kind,
                id: f.id,
                name: f.name,
                participants: f.participants,
                new_members: f.new_members,
                referrals: f.referrals,
                referral_conversions: f.referral_conversions,
                points: f.points,
                points_cost: points_cost.to_string(),
                discounts: f.discounts.to_string(),
                cost: cost.to_string(),
                gmv: f.gmv.to_string(),
            }
        })
        .collect();
    Ok(CampaignReport {
        value_per_point: points.value_per_point.to_string(),
        influence_days: flywheel_store::INFLUENCE_DAYS,
        campaigns,
    })
}
