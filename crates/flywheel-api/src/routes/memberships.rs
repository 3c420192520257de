//! Memberships: buying a paid tier (`POST /v1/memberships`) and cancelling the purchase
//! within its cooling-off period, setting a tier by hand, the tiers a member holds
//! now (`GET /v1/members/{id}/memberships`) and every change of them
//! (`GET /v1/members/{id}/tiers`).

use super::member_id;
use super::points::{idempotency_key, instant, positive};
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::membership_views::{
    MembershipView, MembershipsView, PaymentView, ProgressView, PurchaseView, RetentionView,
    TierChangeView, TierHistoryView,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use flywheel_core::membership::progress::{
    Keep, Progress, keep, kept_since, measured_since, progress,
};
use flywheel_core::membership::realtime::{ApiPurchase, purchase_event};
use flywheel_core::membership::{Membership, Programme};
use flywheel_core::time::{Micros, to_rfc3339};
use flywheel_core::validation::check_line;
use flywheel_core::{ErrorCode, Money};
use flywheel_store::{AsOf, IngestMode, ManualTier, MembershipRequest, PurchaseRow};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/memberships", post(buy))
        .route("/v1/memberships/{id}/cancel", post(cancel))
        .route("/v1/members/{id}/memberships", get(member_memberships))
        .route("/v1/members/{id}/memberships/{programme}", put(set_tier))
        .route("/v1/members/{id}/tiers", get(member_tiers))
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentBody {
    cash: Option<String>,
    points: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembershipBody {
    member_id: i64,
    programme: String,
    tier: String,
    #[serde(default)]
    payment: PaymentBody,
    idempotency_key: String,
}

fn purchase_view(p: PurchaseRow, replayed: bool) -> PurchaseView {
    PurchaseView {
        id: p.id,
        member_id: p.member_id,
        programme: p.programme,
        tier: p.tier,
        payment: PaymentView {
            cash: p.cash.to_string(),
            points: p.points,
        },
        term_start: to_rfc3339(p.term_start),
        expires_at: p.expires_at.map(to_rfc3339),
        status: p.status,
        created_at: to_rfc3339(p.created_at),
        replayed,
    }
}

/// Buy or renew a paid tier, or take a card
///
/// A card is free and is given only to members its eligibility admits (409
/// `not_eligible` naming the profile field otherwise); its term is the card's validity.
/// For a paid tier, the payment's cash and points must add up to the tier's fee (points at the
/// configured value per point), with no more of it in points than the tier allows. The
/// points are debited through the ledger in the same transaction as the membership
/// (409 `insufficient_points` when the member has too few). Buying the tier held now
/// renews it from the end of the current term; a higher tier starts a new term now.
#[utoipa::path(post, path = "/v1/memberships", tag = "memberships",
    request_body(content = crate::membership_views::MembershipInput),
    responses((status = 201, body = PurchaseView), (status = 200, description = "A retry: the stored purchase", body = PurchaseView),
        (status = 404, description = "member_not_found or programme_not_found"),
        (status = 409, description = "insufficient_points, not_eligible, idempotency_key_reused, member_erased"),
        (status = 422, description = "A payment that does not add up to the fee, a tier not sold, a lower tier while a higher one holds")),
    security(("bearer" = [])))]
pub async fn buy(
    caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<PurchaseView>), ApiError> {
    let b: MembershipBody = typed(body)?;
    let member = member_id(&b.member_id.to_string()).map_err(|e| e.field("member_id"))?;
    let cash = match b.payment.cash.as_deref() {
        None => Money::ZERO,
        Some(text) => Money::parse(text).map_err(|e| {
            ApiError::new(ErrorCode::InvalidAmount, format!("payment.cash {e}"))
                .field("payment.cash")
        })?,
    };
    if cash > state.policy.limits.max_order_amount {
        return Err(ApiError::new(
            ErrorCode::OutOfRange,
            format!(
                "payment.cash may be at most {}",
                state.policy.limits.max_order_amount
            ),
        )
        .field("payment.cash"));
    }
    let points = match b.payment.points {
        None | Some(0) => 0,
        Some(p) => positive(&state, p, "payment.points")?,
    };
    let req = MembershipRequest {
        member_id: member,
        programme: b.programme,
        tier: b.tier,
        cash,
        points,
        points_programme: state.policy.points.default_programme().to_owned(),
        idempotency_key: idempotency_key(b.idempotency_key)?,
        actor: caller.audit_actor(),
    };
    let (purchase, replayed) = state
        .store
        .buy_membership(&req, state.policy.points.value_per_point, state.now())
        .await?;
    // Also on a replay: a crash between the two leaves the event to the retry.
    record_purchase_event(&state, &purchase).await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(purchase_view(purchase, replayed))))
}

/// Writes a purchase into the member's history as a `membership_purchase` event, so
/// facts and the super-user score see it. A member with no identity left (erased) has
/// no history to write to.
async fn record_purchase_event(state: &AppState, p: &PurchaseRow) -> Result<(), ApiError> {
    let Some(member) = state.store.member(p.member_id).await? else {
        return Ok(());
    };
    let Some(identity) = member.identities.iter().next().cloned() else {
        return Ok(());
    };
    let event = purchase_event(ApiPurchase {
        purchase_id: &p.id,
        identity,
        programme: &p.programme,
        tier: &p.tier,
        cash: p.cash,
        points: p.points,
        currency: &state.policy.currency,
        at: p.created_at,
    });
    state
        .store
        .ingest(
            &[event],
            &state.policy.rules(),
            AsOf::At(state.now()),
            IngestMode::AllOrNothing,
        )
        .await?;
    Ok(())
}

/// Cancel a purchase within the programme's cooling-off period
///
/// The points part goes back to the lots it came from (points of lots that expired
/// meanwhile stay expired) and the membership to what it was before the purchase. Only
/// the member's latest purchase of the programme can be cancelled; cancelling again
/// answers the cancelled purchase.
#[utoipa::path(post, path = "/v1/memberships/{id}/cancel", tag = "memberships",
    params(("id" = String, Path, description = "Purchase id")),
    responses((status = 200, body = PurchaseView), (status = 404, description = "not_found"),
        (status = 409, description = "cooling_off_over, purchase_superseded, member_erased")),
    security(("bearer" = [])))]
pub async fn cancel(
    caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PurchaseView>, ApiError> {
    let purchase = state
        .store
        .cancel_membership(&id, &caller.audit_actor(), state.now())
        .await?;
    Ok(Json(purchase_view(purchase, false)))
}

/// The tiers a member holds now, with their terms and card number
///
/// Only memberships that hold at the time of the request: one past its term and grace
/// is not shown, whether or not the sweep has recorded its end yet.
#[utoipa::path(get, path = "/v1/members/{id}/memberships", tag = "memberships",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = MembershipsView), (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_memberships(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<MembershipsView>, ApiError> {
    Ok(Json(memberships_now(&state, member_id(&raw)?).await?))
}

/// The memberships `member` holds at `now` (within their term or grace), each with its
/// programme's definition, in programme order.
pub(crate) async fn held_now(
    state: &AppState,
    member: i64,
    now: Micros,
) -> Result<Vec<(Programme, Membership)>, ApiError> {
    let mut programmes: BTreeMap<String, Programme> = state
        .store
        .programmes()
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p.definition))
        .collect();
    let mut held = Vec::new();
    for m in state.store.memberships_of(member).await? {
        if let Some(programme) = programmes.remove(&m.programme)
            && m.active_at(&programme, now)
        {
            held.push((programme, m));
        }
    }
    Ok(held)
}

/// What `GET /v1/members/{id}/memberships` answers.
async fn memberships_now(state: &AppState, id: i64) -> Result<MembershipsView, ApiError> {
    let member = state.store.member(id).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::MemberNotFound, format!("no member {id}")).field("id")
    })?;
    let id = member.id;
    let now = state.now();
    let mut memberships = Vec::new();
    for (programme, m) in held_now(state, id, now).await? {
        let (progress, retention) = standing(state, &programme, &m, now).await?;
        memberships.push(MembershipView {
            status: if m.in_grace(&programme, now) {
                "grace"
            } else {
                "active"
            }
            .into(),
            grace_until: m
                .grace_until(&programme)
                .filter(|_| programme.downgrade.grace_days > 0)
                .map(to_rfc3339),
            programme: m.programme,
            tier: m.tier,
            since: to_rfc3339(m.since),
            expires_at: m.expires_at.map(to_rfc3339),
            source: m.source.as_str().into(),
            progress: progress.as_ref().map(ProgressView::from),
            retention: RetentionView::from(&retention),
        });
    }
    Ok(MembershipsView {
        member_id: id,
        card_no: state.store.card_of(id).await?,
        memberships,
    })
}

/// How far `m` is from the next tier, and what keeps it, at `now`. Measures are taken up
/// to and including `now`.
pub(crate) async fn standing(
    state: &AppState,
    programme: &Programme,
    m: &Membership,
    now: Micros,
) -> Result<(Option<Progress>, Keep), ApiError> {
    let since = measured_since(programme, m, now);
    let measured = state
        .store
        .member_measures(m.member_id, since, now + 1)
        .await?;
    let kept_from = kept_since(programme, m, now);
    let for_keeping = if kept_from == since {
        measured
    } else {
        state
            .store
            .member_measures(m.member_id, kept_from, now + 1)
            .await?
    };
    Ok((
        progress(programme, m, measured, now),
        keep(
            programme,
            m,
            for_keeping,
            state.policy.points.value_per_point,
        ),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualTierBody {
    tier: Option<String>,
    expires_at: Option<String>,
    reason: String,
}

/// Set or end a member's tier by hand (operator or admin; audited)
///
/// `tier` null ends the membership. The change is in the tier history with the rule
/// `manual` and the reason, and in the audit log with what it replaced. Answers the
/// member's memberships as they now are.
#[utoipa::path(put, path = "/v1/members/{id}/memberships/{programme}", tag = "memberships",
    params(("id" = i64, Path, description = "Member id"), ("programme" = String, Path, description = "Programme id")),
    request_body(content = crate::membership_views::ManualTierInput),
    responses((status = 200, body = MembershipsView),
        (status = 404, description = "member_not_found or programme_not_found"),
        (status = 409, description = "member_erased"),
        (status = 422, description = "A tier the programme does not have, an end date in the past or on an earned tier, a missing reason")),
    security(("bearer" = [])))]
pub async fn set_tier(
    caller: Allowed<need::ManageMemberships>,
    State(state): State<AppState>,
    Path((raw, programme)): Path<(String, String)>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<MembershipsView>, ApiError> {
    let id = member_id(&raw)?;
    let b: ManualTierBody = typed(body)?;
    let reason = check_line("reason", &b.reason, 500)
        .map_err(|e| ApiError::new(e.code, e.message).field("reason"))?;
    let expires_at = b
        .expires_at
        .as_deref()
        .map(|t| instant(t, "expires_at"))
        .transpose()?;
    let req = ManualTier {
        member_id: id,
        programme,
        tier: b.tier,
        expires_at,
        reason,
        actor: caller.audit_actor(),
    };
    state.store.set_tier_by_hand(&req, state.now()).await?;
    Ok(Json(memberships_now(&state, id).await?))
}

/// Every tier change of a member, with its rule and a sentence
#[utoipa::path(get, path = "/v1/members/{id}/tiers", tag = "memberships",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = TierHistoryView), (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_tiers(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<TierHistoryView>, ApiError> {
    let id = member_id(&raw)?;
    let member = state.store.member(id).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::MemberNotFound, format!("no member {id}")).field("id")
    })?;
    let changes = state
        .store
        .tier_changes(member.id)
        .await?
        .into_iter()
        .map(|c| TierChangeView {
            programme: c.programme,
            from: c.from_tier,
            to: c.to_tier,
            at: to_rfc3339(c.at),
            rule: c.rule,
            reason: c.reason,
        })
        .collect();
    Ok(Json(TierHistoryView {
        member_id: member.id,
        changes,
    }))
}
