//! `/marketing`: the coupons — what each takes off, codes issued and redeemed against
//! its budget, the discount granted — the flash sales with their units left, held and
//! paid, and the lotteries with their prizes' chances and stock. The figures are `GET
//! /v1/coupons`', `GET /v1/flash-sales`' and `GET /v1/lotteries`'.

use super::page::{Chrome, PageError, render};
use super::session::Viewer;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use flywheel_core::auth::Permission;
use flywheel_core::marketing::Offer;
use flywheel_core::time::to_datetime;
use flywheel_store::{CouponRow, FlashSaleRow, LotteryRow};

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

#[derive(Template)]
#[template(path = "marketing.html")]
struct MarketingPage {
    chrome: Chrome,
    coupons: Vec<CouponLine>,
    sales: Vec<SaleLine>,
    lotteries: Vec<LotteryLine>,
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
    let page = MarketingPage {
        chrome: Chrome::of(&viewer, "marketing"),
        coupons,
        sales,
        lotteries,
    };
    Ok(render(&viewer, &page))
}
