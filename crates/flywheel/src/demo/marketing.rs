//! The demo brand's marketing tools, defined on the first day: its products in the
//! catalogue, four coupons — ten off fifty, 15% off tea (capped), a free egg tart, buy
//! three pastries get three — and a daily points lottery. After the history, last
//! month's buyers each get a ten-off code and a few of them use it at the till on the
//! last day, and a mooncake flash sale opens: its first claims come in, and one is paid.
//! The task centre's tasks are earning rules in force from the first day.

use super::catalog::PRODUCTS;
use super::memberships::demo_actor;
use flywheel_core::limits::Limits;
use flywheel_core::marketing::{Coupon, FlashSale, Lottery, Offer, Order, Prize, Product};
use flywheel_core::money::Money;
use flywheel_core::points::rules::{default_rules, validate};
use flywheel_core::points::{EarningRule, PointsPolicy};
use flywheel_core::time::{DAY, MINUTE, Micros};
use flywheel_store::{Redeemed, Store};

fn coupon(id: &str, name: &str, offer: Offer) -> Coupon {
    Coupon {
        id: id.into(),
        name: name.into(),
        offer,
        min_spend: None,
        categories: vec![],
        sub_brands: vec![],
        valid_days: Some(30),
        valid_from: None,
        valid_until: None,
        per_member_limit: Some(3),
        budget_count: Some(5000),
        budget_amount: None,
        active: true,
        gift_points: None,
    }
}

/// A product's display name from its SKU: "BAKE-EGG-TART" → "Egg Tart".
fn name_of(sku: &str) -> String {
    sku.split('-')
        .skip(1)
        .map(|w| {
            let lower = w.to_lowercase();
            let mut c = lower.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// The catalogue and the coupons; returns how many coupons.
/// The default earning rules plus the task centre's tasks (seed 000, seed 003): complete
/// the profile, follow the official account, write a first review, check in 7 days in
/// a row — in force from the first day, so the history earns them as it happened.
async fn define_tasks(store: &Store, first_day: Micros) -> anyhow::Result<()> {
    let tasks: Vec<EarningRule> = serde_json::from_value(serde_json::json!([
        {"id": "task-profile", "name": "Task: complete the profile", "trigger": "profile_update",
         "conditions": {"profile_complete": true}, "award": {"points": 30}, "limits": {"per_member": 1},
         "task": {"title": "Complete your profile", "description": "Your name, gender, birthday and city"}},
        {"id": "task-follow", "name": "Task: follow the official account", "trigger": "follow",
         "award": {"points": 20}, "limits": {"per_member": 1},
         "task": {"title": "Follow our official account"}},
        {"id": "task-first-review", "name": "Task: first review", "trigger": "review",
         "award": {"points": 30}, "limits": {"per_member": 1},
         "task": {"title": "Write your first review"}},
        {"id": "task-streak", "name": "Task: a week of check-ins", "trigger": "check_in",
         "conditions": {"streak_days": 7}, "award": {"points": 50},
         "task": {"title": "Check in 7 days in a row", "description": "Every full week pays again"}},
        {"id": "task-share-readers", "name": "Task: a share ten friends read", "trigger": "share_milestone",
         "conditions": {"milestone": {"measure": "readers", "at": 10}}, "award": {"points": 30},
         "limits": {"per_day": 3},
         "task": {"title": "Share something 10 friends read", "description": "Counted per link you share"}},
        {"id": "share-new-buyer", "name": "A share that brought a new buyer", "trigger": "share_milestone",
         "conditions": {"milestone": {"measure": "new_buyers", "at": 1}}, "award": {"points": 100}}
    ]))?;
    let mut rules = default_rules();
    rules.extend(tasks);
    let errors = validate(&rules, &PointsPolicy::default(), &Limits::default());
    anyhow::ensure!(errors.is_empty(), "demo rules: {errors:?}");
    store
        .put_rules(&rules, first_day, &demo_actor(), first_day)
        .await?;
    Ok(())
}

pub async fn define(store: &Store, first_day: Micros) -> anyhow::Result<usize> {
    define_tasks(store, first_day).await?;
    let products: Vec<Product> = PRODUCTS
        .iter()
        .map(|p| Product {
            sku: p.sku.into(),
            name: name_of(p.sku),
            sub_brand: Some(p.sub_brand.into()),
            category: Some(p.category.into()),
            price: Some(Money::from_minor(p.price)),
            service_after_days: None,
            active: true,
        })
        .collect();
    store
        .save_products(&products, &demo_actor(), first_day)
        .await?;
    let mut ten_off = coupon(
        "ten-off",
        "10 off 50",
        Offer::AmountOff {
            amount: Money::from_minor(1000),
        },
    );
    ten_off.min_spend = Some(Money::from_minor(5000));
    let mut tea = coupon(
        "tea-15",
        "15% off tea",
        Offer::PercentOff {
            percent: 15,
            max_off: Some(Money::from_minor(2000)),
        },
    );
    tea.categories = vec!["milk_tea".into(), "fruit_tea".into(), "pure_tea".into()];
    let tart = coupon(
        "free-egg-tart",
        "A free egg tart",
        Offer::FreeItem {
            sku: "BAKE-EGG-TART".into(),
        },
    );
    let mut pastry = coupon(
        "pastry-3-for-3",
        "Buy three pastries, get three",
        Offer::BuyNGetN { buy: 3, get: 3 },
    );
    pastry.categories = vec!["pastry".into()];
    let coupons = [ten_off, tea, tart, pastry];
    for c in &coupons {
        c.check()
            .map_err(|e| anyhow::anyhow!("demo coupon {}: {}", c.id, e.message))?;
        store.save_coupon(c, true, &demo_actor(), first_day).await?;
    }
    // Seed 000's daily points lottery: 10 points a draw, once a day.
    let prize =
        |id: &str, name: &str, chance: u64, stock: Option<i64>, points: Option<i64>| Prize {
            id: id.into(),
            name: name.into(),
            chance,
            stock,
            points,
        };
    let lottery = Lottery {
        id: "daily-draw".into(),
        name: "Daily points draw".into(),
        cost_points: 10,
        daily_limit: 1,
        prizes: vec![
            prize("tumbler", "A Home Brew tumbler", 50, Some(20), None),
            prize("fifty", "50 points", 1_000, None, Some(50)),
            prize("ten", "10 points back", 3_000, None, Some(10)),
        ],
        active: true,
    };
    lottery
        .check()
        .map_err(|e| anyhow::anyhow!("demo lottery: {}", e.message))?;
    store
        .save_lottery(&lottery, true, &demo_actor(), first_day)
        .await?;
    Ok(coupons.len())
}

/// Last month's buyers get a ten-off code each; the first five use theirs on an order
/// of 68.00 on the last day. Returns (codes issued, codes redeemed).
pub async fn issue(store: &Store, end: Micros) -> anyhow::Result<(usize, usize)> {
    let out = store
        .issue_coupon_to_segment("ten-off", "bought_last_month", "demo-ten-off", end)
        .await?;
    let mut redeemed = 0;
    let mut members: Vec<i64> = Vec::new();
    for code in store.coupon_codes_of("ten-off", "issued", 5).await? {
        members.push(code.member_id);
        let req = Redeemed {
            code: code.code.clone(),
            member_id: code.member_id,
            order_id: format!("demo-coupon-{}", code.member_id),
            order: Order {
                amount: Money::from_minor(6800),
                lines: vec![],
            },
        };
        store.redeem_coupon(&req, end).await?;
        redeemed += 1;
    }
    Ok((out.issued + out.already, redeemed))
}

/// A mooncake box at 99.00, 50 of them, from an hour before the last day ends for a
/// week; the members who used a ten-off code claim one each, and the first pays.
/// Returns the units claimed.
pub async fn flash_sale(
    store: &Store,
    config: &crate::config::Config,
    end: Micros,
) -> anyhow::Result<usize> {
    let sale = FlashSale {
        id: "mooncake-rush".into(),
        name: "Mooncake box rush".into(),
        sku: Some("BAKE-MOONCAKE-BOX".into()),
        price_cash: Money::from_minor(9900),
        price_points: 0,
        stock: 50,
        starts_at: end - 60 * MINUTE,
        ends_at: end + 7 * DAY,
        per_member_limit: 1,
        pay_within_minutes: 30,
    };
    sale.check()
        .map_err(|e| anyhow::anyhow!("demo flash sale: {}", e.message))?;
    store
        .save_flash_sale(&sale, true, &demo_actor(), end)
        .await?;
    let mut claimed = 0;
    for code in store.coupon_codes_of("ten-off", "redeemed", 5).await? {
        let key = format!("demo-{}", code.member_id);
        let (claim, _) = store
            .claim_flash_sale(&sale.id, code.member_id, &key, end - 30 * MINUTE)
            .await?;
        if claimed == 0 {
            store
                .pay_flash_claim(
                    &claim.id,
                    Some("demo-rush-1"),
                    config.policy.points.default_programme(),
                    end - 20 * MINUTE,
                )
                .await?;
        }
        claimed += 1;
    }
    Ok(claimed)
}
