//! The demo brand's rewards catalogue and partner brand, so points have somewhere to go:
//! a coupon, a gift with limited stock, a privilege, a points-plus-cash offer, and an
//! airline whose miles exchange at 100 of ours to 30 of theirs.

use flywheel_core::Money;
use flywheel_core::time::Micros;
use flywheel_store::{PartnerRow, RewardRow, Store};

pub async fn seed(store: &Store, now: Micros) -> anyhow::Result<()> {
    let reward = |id: &str,
                  name: &str,
                  kind: &str,
                  points: i64,
                  cash: Option<i64>,
                  stock: Option<i64>,
                  limit: Option<i64>| RewardRow {
        id: id.into(),
        name: name.into(),
        kind: kind.into(),
        programme: flywheel_core::points::DEFAULT_PROGRAMME.into(),
        points_cost: points,
        cash_cost: cash,
        stock,
        per_member_limit: limit,
        valid_from: None,
        valid_until: None,
        active: true,
        created_at: now,
        updated_at: now,
        coupon_id: None,
    };
    let catalogue = [
        reward(
            "coupon-10",
            "10.00 off any order",
            "coupon",
            500,
            None,
            None,
            None,
        ),
        reward(
            "tea-tin",
            "Limited-edition tea tin",
            "gift",
            1200,
            None,
            Some(200),
            Some(1),
        ),
        reward(
            "tasting",
            "Seat at a tea-master tasting",
            "privilege",
            3000,
            None,
            Some(40),
            Some(1),
        ),
        reward(
            "gift-box",
            "Festival gift box (99.00 as 50 points + 49.00)",
            "gift",
            50,
            Some(Money::parse("49.00")?.minor()),
            Some(500),
            None,
        ),
    ];
    let demo = super::memberships::demo_actor();
    for r in &catalogue {
        store.save_reward(r, false, &demo).await?;
    }
    store
        .create_partner(
            &PartnerRow {
                id: "sky-miles".into(),
                name: "Sky Miles airline".into(),
                programme: flywheel_core::points::DEFAULT_PROGRAMME.into(),
                rate_ours: 100,
                rate_theirs: 30,
                daily_limit: 5000,
                created_at: now,
            },
            &demo,
        )
        .await?;
    Ok(())
}
