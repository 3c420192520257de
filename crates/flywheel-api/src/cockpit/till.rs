//! `/till?q=PHONE_OR_CARD`: what the clerk at the till needs in one glance (seed 003):
//! who the member is, tier, points available, benefits usable now, purchases and total
//! spent, the last three purchases, an open complaint, and — when the member is among
//! the potential super users and holds no paid tier — a prompt to invite them (点单提醒);
//! and the coupon codes ready to use, each redeemed on the order at hand with one form,
//! as `POST /v1/coupons/redeem` does. Every read is by key: an identity, the member,
//! their segments, their orders, their codes.

use super::members::display_name;
use super::page::{Chrome, PageError, render};
use super::session::Viewer;
use crate::benefit_views::HeldBenefitView;
use crate::membership_views::CardTierView;
use crate::routes::card;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use flywheel_core::Money;
use flywheel_core::identity::IdentityKind;
use flywheel_core::ingest::MemberState;
use flywheel_core::time::to_rfc3339;
use serde::Deserialize;

/// The built-in segment whose members the till prompts to invite.
const INVITE_SEGMENT: &str = "potential_super_users";

pub(super) struct Glance {
    pub member_id: i64,
    pub name: String,
    pub card_no: Option<String>,
    pub tiers: Vec<CardTierView>,
    pub points: i64,
    pub pending: i64,
    pub benefits: Vec<HeldBenefitView>,
    pub purchases: u32,
    pub spent: String,
    pub last_purchases: Vec<(String, String, bool)>,
    pub open_complaint: bool,
    pub invite: bool,
    /// Codes unused and unexpired: (code, coupon name, expires).
    pub coupons: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "till.html")]
struct TillPage {
    chrome: Chrome,
    q: String,
    searched: bool,
    glance: Option<Glance>,
    /// The code just redeemed and what it took off.
    redeemed: Option<(String, String)>,
}

#[derive(Deserialize)]
pub(super) struct TillQuery {
    #[serde(default)]
    q: String,
    /// The member by id, as a form on the page sends the clerk back to them (the search
    /// as typed may be masked on the page).
    member: Option<i64>,
    redeemed: Option<String>,
    discount: Option<String>,
}

/// The member a phone or card number names, if any.
async fn find(state: &AppState, q: &str) -> Result<Option<MemberState>, PageError> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(None);
    }
    for kind in [IdentityKind::Phone, IdentityKind::CardNo] {
        if let Ok(identity) = state.policy.identity.normalise(kind, q)
            && let Some(id) = state.store.lookup(&identity).await?
        {
            return Ok(state.store.member(id).await?);
        }
    }
    match state.store.member_by_card(q).await? {
        Some(id) => Ok(state.store.member(id).await?),
        None => Ok(None),
    }
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(q): Query<TillQuery>,
) -> Result<Response, PageError> {
    let found = match q.member {
        Some(id) if id > 0 => state.store.member(id).await?,
        _ => find(&state, &q.q).await?,
    };
    let glance = match found {
        Some(m) => Some(glance(&state, &viewer, &m).await?),
        None => None,
    };
    let page = TillPage {
        chrome: Chrome::of(&viewer, "till"),
        searched: !q.q.trim().is_empty() || q.member.is_some(),
        q: q.q,
        glance,
        redeemed: q
            .redeemed
            .zip(q.discount)
            .filter(|(c, d)| c.len() <= 64 && d.len() <= 20),
    };
    Ok(render(&viewer, &page))
}

async fn glance(state: &AppState, viewer: &Viewer, m: &MemberState) -> Result<Glance, PageError> {
    let card = card::card(state, m.id, viewer.caller.hands_out_codes()).await?;
    let in_invite_segment = state
        .store
        .member_segments(m.id, 0)
        .await?
        .is_some_and(|(_, held, _)| held.iter().any(|s| s.segment_id == INVITE_SEGMENT));
    let holds_paid = card.tiers.iter().any(|t| t.kind == "paid");
    let last_purchases = state
        .store
        .recent_orders(m.id, 3)
        .await?
        .into_iter()
        .map(|o| {
            (
                o.occurred_at.map(to_rfc3339).unwrap_or_default(),
                o.amount
                    .map(|a| Money::from_minor(a).to_string())
                    .unwrap_or_default(),
                o.refunded,
            )
        })
        .collect();
    let now = state.now();
    let mut coupons = Vec::new();
    for c in state.store.member_coupons(m.id).await? {
        if c.status == "issued" && c.expires_at > now {
            let name = state
                .store
                .coupon(&c.coupon_id)
                .await?
                .map_or_else(|| c.coupon_id.clone(), |r| r.coupon.name);
            coupons.push((c.code, name, to_rfc3339(c.expires_at)));
        }
    }
    Ok(Glance {
        coupons,
        member_id: m.id,
        name: card.nickname.clone().unwrap_or_else(|| display_name(m)),
        card_no: card.card_no,
        tiers: card.tiers,
        points: card.points.balance,
        pending: card.points.pending,
        benefits: card.benefits,
        purchases: m.facts.orders.saturating_sub(m.facts.refunded_orders),
        spent: Money::from_minor(m.facts.gross_spent - m.facts.refunded).to_string(),
        last_purchases,
        open_complaint: !m.facts.open_complaints.is_empty(),
        invite: in_invite_segment && !holds_paid,
    })
}

#[derive(Deserialize)]
pub(super) struct RedeemForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    order_id: String,
    #[serde(default)]
    amount: String,
}

/// Redeems a code on the order at the till, as `POST /v1/coupons/redeem` does (without
/// items: a coupon scoped to categories, a free item or buy N get N needs the shop's
/// order lines, so it is redeemed through the API).
pub(super) async fn redeem(
    viewer: Viewer,
    State(state): State<AppState>,
    axum::extract::Path((member, code)): axum::extract::Path<(String, String)>,
    form: Result<axum::extract::Form<RedeemForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    use axum::response::IntoResponse;
    let axum::extract::Form(form) = form?;
    super::page::check_csrf(&viewer, &form.csrf)?;
    viewer
        .caller
        .require(flywheel_core::auth::Permission::SpendPoints)?;
    let member = crate::routes::member_id(&member)?;
    let order_id = flywheel_core::validation::check_line("order_id", &form.order_id, 128)
        .map_err(crate::error::ApiError::from)?;
    let amount = crate::routes::products::money_text(&state, "amount", form.amount.trim())
        .map_err(crate::error::ApiError::from)?;
    let req = flywheel_store::Redeemed {
        code,
        member_id: member,
        order_id,
        order: flywheel_core::marketing::Order {
            amount,
            lines: Vec::new(),
        },
    };
    let (row, _) = state
        .store
        .redeem_coupon(&req, state.now())
        .await
        .map_err(crate::error::ApiError::from)?;
    crate::routes::coupons::after_gift_redeemed(&state, &row).await?;
    let discount = row.discount.unwrap_or_default().to_string();
    Ok(axum::response::Redirect::to(&format!(
        "/till?member={}&redeemed={}&discount={discount}",
        row.member_id, row.code
    ))
    .into_response())
}
