//! `/marketing`: the coupons — what each takes off, codes issued and redeemed against
//! its budget, the discount granted — the flash sales with their units left, held and
//! paid, the lotteries with their prizes' chances and stock, the fission campaigns
//! (group-buy, help, bargain) with their rounds, and the leaderboards' top places. The
//! figures are those of `GET /v1/coupons`, `/v1/flash-sales`, `/v1/lotteries`,
//! `/v1/fission-campaigns`, `/v1/leaderboards` and `/v1/share-links?order=top` (the
//! shared links that brought the most), and the members each source brought
//! (`/v1/stats/sources`: campaigns, QR codes, referrals). Referrals held as farmed are listed
//! with why, for staff to release or refuse (`POST /marketing/referrals/{id}/review`,
//! through the same function as `POST /v1/referrals/{id}/review`).

use super::page::{Chrome, PageError, check_csrf, render};
use super::session::Viewer;
use crate::error::ApiError;
use crate::honours_views::{CampaignReport, LeaderboardView};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use flywheel_core::auth::Permission;
use flywheel_core::ingest::ReferralState;
use flywheel_core::marketing::{Mechanic, Offer};
use flywheel_core::time::to_datetime;
use flywheel_store::{CouponRow, FissionCampaignRow, FlashSaleRow, LotteryRow};
use serde::Deserialize;

pub(super) struct CouponLine {
    pub id: String,
    pub name: String,
    /// What it takes off, in words.
    pub offer: String,
    pub issued: i64,
    pub budget: String,
    pub redeemed: i64,
    pub granted: String,
}

pub(super) struct SaleLine {
    pub id: String,
    pub name: String,
    pub price: String,
    pub stock: i64,
    pub remaining: i64,
    pub held: i64,
    pub paid: i64,
    pub window: String,
}

fn offer_words(r: &CouponRow) -> String {
    let c = &r.coupon;
    let mut words = match &c.offer {
        Offer::AmountOff { amount } => format!("{amount} off"),
        Offer::PercentOff { percent, max_off } => match max_off {
            Some(m) => format!("{percent}% off, at most {m}"),
            None => format!("{percent}% off"),
        },
        Offer::FreeItem { sku } => format!("one {sku} free"),
        Offer::BuyNGetN { buy, get } => format!("buy {buy} get {get}"),
    };
    if let Some(min) = c.min_spend {
        words.push_str(&format!(" on {min} or more"));
    }
    let scope: Vec<&str> = c
        .categories
        .iter()
        .chain(&c.sub_brands)
        .map(String::as_str)
        .collect();
    if !scope.is_empty() {
        words.push_str(&format!(" ({})", scope.join(", ")));
    }
    words
}

fn coupon_line(r: CouponRow) -> CouponLine {
    CouponLine {
        offer: offer_words(&r),
        budget: r
            .coupon
            .budget_count
            .map_or_else(|| "–".to_owned(), |b| b.to_string()),
        id: r.coupon.id,
        name: r.coupon.name,
        issued: r.issued,
        redeemed: r.redeemed,
        granted: r.granted.to_string(),
    }
}

fn sale_line(r: FlashSaleRow) -> SaleLine {
    let s = r.sale;
    let stamp = |at: i64| to_datetime(at).format("%Y-%m-%d %H:%M UTC").to_string();
    let price = match (s.price_cash.minor(), s.price_points) {
        (_, 0) => s.price_cash.to_string(),
        (0, p) => format!("{p} points"),
        (_, p) => format!("{} + {p} points", s.price_cash),
    };
    SaleLine {
        window: format!("{} – {}", stamp(s.starts_at), stamp(s.ends_at)),
        id: s.id,
        name: s.name,
        price,
        stock: s.stock,
        remaining: r.remaining,
        held: r.held,
        paid: r.paid,
    }
}

pub(super) struct LotteryLine {
    pub id: String,
    pub name: String,
    pub cost: i64,
    pub daily_limit: u32,
    /// Each prize with its chance and, if stocked, what is left.
    pub prizes: String,
    pub version: i64,
    pub draws: i64,
}

fn lottery_line(r: LotteryRow) -> LotteryLine {
    let l = r.lottery;
    let prizes = l
        .prizes
        .iter()
        .map(|p| {
            let chance = format!("{:.2}%", p.chance as f64 / 100.0);
            match r.stock.iter().find(|(id, _)| *id == p.id) {
                Some((_, left)) => format!("{} ({chance}, {left} left)", p.name),
                None => format!("{} ({chance})", p.name),
            }
        })
        .collect::<Vec<_>>()
        .join(" · ");
    LotteryLine {
        id: l.id,
        name: l.name,
        cost: l.cost_points,
        daily_limit: l.daily_limit,
        prizes,
        version: r.version,
        draws: r.draws,
    }
}

pub(super) struct FissionLine {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    /// The terms, in words.
    pub terms: String,
    pub rounds: i64,
    pub completed: i64,
    pub joins: i64,
}

fn fission_line(r: FissionCampaignRow) -> FissionLine {
    let c = r.campaign;
    let (kind, terms) = match &c.mechanic {
        Mechanic::GroupBuy {
            size,
            group_price,
            list_price,
        } => (
            "Group-buy",
            format!("{size} together pay {group_price} each (list {list_price})"),
        ),
        Mechanic::Help {
            target,
            new_member_weight,
            reward_points,
            reward_coupon,
        } => {
            let mut reward = Vec::new();
            if let Some(p) = reward_points {
                reward.push(format!("{p} points"));
            }
            if let Some(c) = reward_coupon {
                reward.push(format!("coupon {c}"));
            }
            let weight = if *new_member_weight > 1 {
                format!(", a new member counts {new_member_weight}")
            } else {
                String::new()
            };
            (
                "Help",
                format!("{target} helps unlock {}{weight}", reward.join(" and ")),
            )
        }
        Mechanic::Bargain {
            price,
            floor,
            helpers,
        } => (
            "Bargain",
            format!("{price} down to {floor} in {helpers} cuts"),
        ),
    };
    FissionLine {
        terms: format!("{terms}; {} hours a round", c.hours),
        id: c.id,
        name: c.name,
        kind,
        rounds: r.rounds,
        completed: r.completed,
        joins: r.joins,
    }
}

pub(super) struct HeldLine {
    pub event_id: String,
    pub inviter_id: i64,
    pub invitee_id: i64,
    pub referred_at: String,
    pub reason: String,
}

fn held_line(r: ReferralState) -> HeldLine {
    HeldLine {
        referred_at: to_datetime(r.referred_at)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        event_id: r.event_id,
        inviter_id: r.inviter_id,
        invitee_id: r.invitee_id,
        reason: r.hold_reason.unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "marketing.html")]
struct MarketingPage {
    chrome: Chrome,
    coupons: Vec<CouponLine>,
    sales: Vec<SaleLine>,
    lotteries: Vec<LotteryLine>,
    fission: Vec<FissionLine>,
    leaderboards: Vec<LeaderboardView>,
    /// Referrals held as farmed, oldest first.
    held: Vec<HeldLine>,
    /// The shared links that brought the most.
    shares: Vec<flywheel_store::ShareLinkRow>,
    /// Each campaign's results, when the viewer may read reports.
    report: Option<CampaignReport>,
    /// Members by what brought them, likewise.
    sources: Option<crate::stats_views::SourceReport>,
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    viewer.caller.require(Permission::ReadPoints)?;
    let coupons = state
        .store
        .coupons()
        .await?
        .into_iter()
        .map(coupon_line)
        .collect();
    let sales = state
        .store
        .flash_sales()
        .await?
        .into_iter()
        .map(sale_line)
        .collect();
    let lotteries = state
        .store
        .lotteries()
        .await?
        .into_iter()
        .map(lottery_line)
        .collect();
    let fission = state
        .store
        .fission_campaigns()
        .await?
        .into_iter()
        .map(fission_line)
        .collect();
    let mut leaderboards = Vec::new();
    for row in state.store.leaderboards().await? {
        leaderboards.push(crate::routes::leaderboards::board_view(&state, row.board).await?);
    }
    let mut held: Vec<HeldLine> = state
        .store
        .referrals(Some("held"), None, 200)
        .await?
        .into_iter()
        .map(held_line)
        .collect();
    held.reverse();
    let shares = state.store.share_links(None, true, 10).await?;
    let (report, sources) = if viewer.caller.role.allows(Permission::ReadStats) {
        (
            Some(crate::routes::leaderboards::campaign_report(&state).await?),
            Some(crate::routes::stats::source_report(&state).await?),
        )
    } else {
        (None, None)
    };
    let page = MarketingPage {
        report,
        chrome: Chrome::of(&viewer, "marketing"),
        coupons,
        sales,
        lotteries,
        fission,
        leaderboards,
        held,
        shares,
        sources,
    };
    Ok(render(&viewer, &page))
}

#[derive(Deserialize)]
pub(super) struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

/// `POST /marketing/referrals/{event_id}/review`: release or refuse a held referral.
pub(super) async fn review(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(event_id): Path<String>,
    form: Result<Form<ReviewForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form?;
    check_csrf(&viewer, &form.csrf)?;
    viewer.caller.require(Permission::ManageMarketing)?;
    let reason = flywheel_core::validation::check_line("reason", &form.reason, 500)
        .map_err(ApiError::from)?;
    let reason = (!reason.is_empty()).then_some(reason);
    crate::routes::referrals::review_referral(
        &state,
        &viewer.caller,
        &event_id,
        &form.decision,
        reason,
    )
    .await?;
    Ok(Redirect::to("/marketing#held-referrals").into_response())
}
