//! Bodies of the marketing API (issue 20): the product catalogue and coupons.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A product of the catalogue; the SKU is the path's.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    pub name: String,
    pub sub_brand: Option<String>,
    pub category: Option<String>,
    /// The list price, a decimal string ("128.00").
    pub price: Option<String>,
    /// A service falls due this many days after a purchase (1-3650).
    pub service_after_days: Option<u32>,
    /// false takes it off coupons' and sales' scope; true by default.
    pub active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct ProductView {
    pub sku: String,
    pub name: String,
    pub sub_brand: Option<String>,
    pub category: Option<String>,
    pub price: Option<String>,
    pub service_after_days: Option<u32>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct ProductList {
    pub products: Vec<ProductView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next: Option<String>,
}

/// What a CSV import did: new products, changed ones, and rows already as sent.
#[derive(Serialize, ToSchema)]
pub struct ProductImportView {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// A coupon definition. `kind` decides which of `amount`, `percent`/`max_off`, `sku`,
/// `buy`/`get` it needs.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponInput {
    /// Required on POST; the path's on PUT.
    pub id: Option<String>,
    pub name: String,
    /// amount_off | percent_off | free_item | buy_n_get_n
    pub kind: String,
    /// amount_off: the amount taken off ("10.00").
    pub amount: Option<String>,
    /// percent_off: 1-100, with an optional cap `max_off`.
    pub percent: Option<u32>,
    pub max_off: Option<String>,
    /// free_item: the SKU given free (one unit).
    pub sku: Option<String>,
    /// buy_n_get_n: for every `buy + get` units covered, the cheapest `get` are free.
    pub buy: Option<u32>,
    pub get: Option<u32>,
    /// The least the order must spend on what the coupon covers.
    pub min_spend: Option<String>,
    /// Only lines of these categories and sub-brands are covered (all when empty).
    pub categories: Option<Vec<String>>,
    pub sub_brands: Option<Vec<String>>,
    /// A code lasts this many days from its issue; and/or the coupon's window
    /// (RFC 3339). One of `valid_days` and `valid_until` is required.
    pub valid_days: Option<u32>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    /// Codes one member may hold.
    pub per_member_limit: Option<u32>,
    /// Codes issued in all, and discount granted in all ("5000.00").
    pub budget_count: Option<i64>,
    pub budget_amount: Option<String>,
    /// false stops issuing (codes already issued still redeem); true by default.
    pub active: Option<bool>,
    /// Give-one-get-one: points the giver and the friend each earn when a gifted code
    /// is redeemed on the friend's first purchase (1-1,000,000).
    pub gift_points: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CouponView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub amount: Option<String>,
    pub percent: Option<u32>,
    pub max_off: Option<String>,
    pub sku: Option<String>,
    pub buy: Option<u32>,
    pub get: Option<u32>,
    pub min_spend: Option<String>,
    pub categories: Vec<String>,
    pub sub_brands: Vec<String>,
    pub valid_days: Option<u32>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub per_member_limit: Option<u32>,
    pub budget_count: Option<i64>,
    pub budget_amount: Option<String>,
    pub active: bool,
    pub gift_points: Option<i64>,
    /// Codes issued, codes redeemed now, and the discount granted on them.
    pub issued: i64,
    pub redeemed: i64,
    pub granted: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct CouponList {
    pub coupons: Vec<CouponView>,
}

/// To one member, or to every member of a segment (keyed `<idempotency_key>:<member>`).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueInput {
    pub member_id: Option<i64>,
    pub segment: Option<String>,
    /// The same key again issues nothing more (1-100 characters).
    pub idempotency_key: String,
}

/// An issued code.
#[derive(Serialize, ToSchema)]
pub struct CodeView {
    pub code: String,
    pub coupon_id: String,
    pub member_id: i64,
    /// api | segment | gift | fission:<campaign>
    pub source: String,
    /// issued | redeemed | gifted (sent to a friend, who has not redeemed it yet; its
    /// `member_id` is the giver's until then)
    pub status: String,
    pub issued_at: String,
    pub expires_at: String,
    pub order_id: Option<String>,
    /// Taken off the order; null for a code a purchase event named (the shop took it off).
    pub discount: Option<String>,
    pub redeemed_at: Option<String>,
    /// The member who gifted the code.
    pub gift_from: Option<i64>,
}

/// A code a member sends to a friend.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponGiftInput {
    /// The giver.
    pub from_member_id: i64,
    /// The same key again gifts nothing more (1-100 characters).
    pub idempotency_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct SegmentIssueView {
    pub segment: String,
    pub issued: usize,
    /// Issued before under the same key.
    pub already: usize,
    /// Members refused, by the refusal's code (limit_reached, member_erased).
    #[schema(value_type = Object)]
    pub refused: serde_json::Value,
    /// The budget ran out before every member had a code.
    pub budget_spent: bool,
}

/// What an issue answers: the code for one member, or the counts for a segment.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum IssueAnswer {
    Code(CodeView),
    Segment(SegmentIssueView),
}

#[derive(Serialize, ToSchema)]
pub struct CodeList {
    pub coupons: Vec<CodeView>,
}

/// One line of the order a code is redeemed on.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineInput {
    pub sku: String,
    /// From the catalogue when absent.
    pub category: Option<String>,
    pub sub_brand: Option<String>,
    pub qty: u32,
    /// The unit price; from the catalogue when absent.
    pub price: Option<String>,
}

/// A code redeemed at the till or in a shop, on an order.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemCouponInput {
    pub code: String,
    pub member_id: i64,
    pub order_id: String,
    /// The order's total before the coupon ("80.00").
    pub amount: String,
    /// Needed by coupons scoped to categories, free items and buy N get N.
    pub items: Option<Vec<OrderLineInput>>,
}

/// A price in cash and/or points.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    /// A decimal string ("19.90"); 0 when absent.
    pub cash: Option<String>,
    /// 0 when absent.
    pub points: Option<i64>,
}

/// A flash sale: an item at a price, a stock, a window and a per-member limit.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlashSaleInput {
    /// Required on POST; the path's on PUT.
    pub id: Option<String>,
    pub name: String,
    /// The product on sale.
    pub sku: Option<String>,
    pub price: PriceInput,
    /// Units for sale (1-1,000,000).
    pub stock: i64,
    /// RFC 3339 with an offset: when claims open and close.
    pub starts_at: String,
    pub ends_at: String,
    /// Units one member may claim (held or paid); 1 by default.
    pub per_member_limit: Option<u32>,
    /// A claim lapses, its unit back on sale, if not paid within this (15 by default).
    pub pay_within_minutes: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct PriceView {
    pub cash: String,
    pub points: i64,
}

#[derive(Serialize, ToSchema)]
pub struct FlashSaleView {
    pub id: String,
    pub name: String,
    pub sku: Option<String>,
    pub price: PriceView,
    pub stock: i64,
    /// Units not claimed; claims held and awaiting payment, and paid.
    pub remaining: i64,
    pub held: i64,
    pub paid: i64,
    pub starts_at: String,
    pub ends_at: String,
    pub per_member_limit: u32,
    pub pay_within_minutes: u32,
    /// Taking claims now.
    pub open: bool,
}

#[derive(Serialize, ToSchema)]
pub struct FlashSaleList {
    pub flash_sales: Vec<FlashSaleView>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimInput {
    pub member_id: i64,
    /// The same key again claims nothing more (1-100 characters).
    pub idempotency_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct ClaimView {
    pub id: String,
    pub sale_id: String,
    pub member_id: i64,
    /// held | paid | lapsed
    pub status: String,
    pub claimed_at: String,
    /// Unpaid by then, the claim lapses.
    pub pay_by: String,
    pub paid_at: Option<String>,
    pub order_id: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayInput {
    /// The shop's order for the claimed unit.
    pub order_id: Option<String>,
}

/// A prize of a lottery.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrizeInput {
    pub id: String,
    pub name: String,
    /// The chance in basis points (250 = 2.5%); the prizes' chances add up to at most
    /// 10,000, and what they leave is the chance of winning nothing.
    pub chance: u64,
    /// Left to win; unlimited when absent. Saving the lottery sets it.
    pub stock: Option<i64>,
    /// Points the prize credits.
    pub points: Option<i64>,
}

/// A points lottery: a cost per draw, a daily limit per member, prizes.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LotteryInput {
    /// Required on POST; the path's on PUT.
    pub id: Option<String>,
    pub name: String,
    pub cost_points: i64,
    /// Draws per member per UTC day; 1 by default.
    pub daily_limit: Option<u32>,
    pub prizes: Vec<PrizeInput>,
    /// true by default.
    pub active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct PrizeView {
    pub id: String,
    pub name: String,
    pub chance: u64,
    pub stock: Option<i64>,
    pub points: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct LotteryView {
    pub id: String,
    pub name: String,
    pub cost_points: i64,
    pub daily_limit: u32,
    /// Each save is a new version of the prize table; a draw names the one it used.
    pub version: i64,
    /// For prizes with a stock, what is left now.
    pub prizes: Vec<PrizeView>,
    pub active: bool,
    pub draws: i64,
}

#[derive(Serialize, ToSchema)]
pub struct LotteryList {
    pub lotteries: Vec<LotteryView>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawInput {
    pub member_id: i64,
    /// The same key again draws nothing more (1-100 characters).
    pub idempotency_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct DrawView {
    pub id: String,
    pub lottery_id: String,
    pub member_id: i64,
    pub at: String,
    /// The random number drawn, and the prize table version it was drawn under: the
    /// number modulo 10,000 walks the prizes' chances in order.
    pub number: i64,
    pub version: i64,
    /// won | nothing | out_of_stock (the prize it picked had none left)
    pub outcome: String,
    pub prize_id: Option<String>,
    pub prize_name: Option<String>,
    pub cost_points: i64,
    /// The prize the stored number picks under the stored table, worked out again now:
    /// always `prize_id`.
    pub reproduced_prize_id: Option<String>,
}
