//! The demo's fission campaigns and honours (issue 20): a tea group-buy with one full
//! group and one that ran out of time, a help request that unlocked its points, a
//! mooncake bargain halfway to its floor — each join written into the members'
//! histories as a referral, as the API does — two leaderboards, a badge segment,
//! this year's super-user awards proposed for staff to confirm, and a farmed ring: four
//! "friends" of one member on one phone, the last two held for review; and two members'
//! daily check-ins — a full week, which pays the streak task, and five days so far.

use super::memberships::demo_actor;
use flywheel_core::marketing::fission::join_events;
use flywheel_core::marketing::honours::standings;
use flywheel_core::marketing::{FissionCampaign, Leaderboard, Mechanic};
use flywheel_core::money::Money;
use flywheel_core::segment::check::compile_quantity;
use flywheel_core::segment::{Cond, Language, compile};
use flywheel_core::time::{DAY, HOUR, Micros};
use flywheel_store::{AsOf, IngestMode, PutSegment, Store};

fn campaigns(first_day: Micros, end: Micros) -> Vec<FissionCampaign> {
    let campaign = |id: &str, name: &str, hours: u32, mechanic: Mechanic| FissionCampaign {
        id: id.into(),
        name: name.into(),
        sku: None,
        mechanic,
        hours,
        starts_at: first_day,
        ends_at: end + 30 * DAY,
    };
    vec![
        campaign(
            "trio-tea",
            "Three friends, three teas",
            48,
            Mechanic::GroupBuy {
                size: 3,
                group_price: Money::from_minor(3900),
                list_price: Money::from_minor(5400),
            },
        ),
        campaign(
            "help-tumbler",
            "Five helps for 200 points",
            72,
            Mechanic::Help {
                target: 5,
                new_member_weight: 2,
                reward_points: Some(200),
                reward_coupon: None,
            },
        ),
        campaign(
            "cut-mooncake",
            "Bargain a mooncake box down to 9.90",
            72,
            Mechanic::Bargain {
                price: Money::from_minor(12_800),
                floor: Money::from_minor(990),
                helpers: 6,
            },
        ),
    ]
}

/// Defines the campaigns and leaderboards (on the first day, so their rows are the
/// same on every run); with members, plays rounds in the last days and proposes the
/// awards. Returns (rounds, joins).
pub async fn seed(
    store: &Store,
    config: &crate::config::Config,
    lang: Language,
    first_day: Micros,
    end: Micros,
) -> anyhow::Result<(usize, usize)> {
    let actor = demo_actor();
    for c in campaigns(first_day, end) {
        c.check()
            .map_err(|e| anyhow::anyhow!("demo campaign {}: {}", c.id, e.message))?;
        store
            .save_fission_campaign(&c, true, &actor, first_day)
            .await?;
    }
    let boards = [
        Leaderboard {
            id: "top-referrers".into(),
            name: "Top referrers".into(),
            score: "referrals_made".into(),
            filter: Some("referrals_made >= 1".into()),
            size: 10,
        },
        Leaderboard {
            id: "most-active".into(),
            name: "Most active strong members this month".into(),
            score: "interactions_within(30d)".into(),
            filter: Some("stage >= strong and interactions_within(30d) >= 1".into()),
            size: 10,
        },
    ];
    for b in &boards {
        b.check()
            .map_err(|e| anyhow::anyhow!("demo leaderboard {}: {}", b.id, e.message))?;
        store.save_leaderboard(b, true, &actor, first_day).await?;
    }
    let members = store.select_members_by_sql(&Cond::Const(true), end).await?;
    if members.len() < 16 {
        return Ok((0, 0));
    }
    let m = |i: usize| members[i * members.len() / 16];
    // (campaign, leader, joiners, when the round opened)
    let plays = [
        ("trio-tea", m(0), vec![m(1), m(2)], end - 2 * DAY),
        ("trio-tea", m(3), vec![m(4)], end - 3 * DAY),
        (
            "help-tumbler",
            m(5),
            (6..11).map(m).collect(),
            end - 2 * DAY,
        ),
        ("cut-mooncake", m(11), (12..15).map(m).collect(), end - DAY),
    ];
    let (mut rounds, mut joins) = (0, 0);
    for (campaign, leader, joiners, opened) in plays {
        let (round, _) = store
            .open_fission_round(
                campaign,
                leader,
                &format!("demo-{campaign}-{leader}"),
                opened,
            )
            .await?;
        rounds += 1;
        for (n, friend) in joiners.into_iter().enumerate() {
            let at = opened + (n as i64 + 1) * HOUR;
            let first_seen = store
                .member(friend)
                .await?
                .and_then(|f| f.facts.first_seen_at);
            let joined = store
                .join_fission_round(&round.id, friend, first_seen, &config.policy.points, at)
                .await?;
            joins += 1;
            let identity = |s: Option<flywheel_core::ingest::MemberState>| {
                s.and_then(|s| s.identities.iter().next().cloned())
            };
            if let (Some(j), Some(l)) = (
                identity(store.member(friend).await?),
                identity(store.member(leader).await?),
            ) {
                let events = join_events(
                    &joined.round.kind,
                    &round.id,
                    campaign,
                    joined.join.at,
                    friend,
                    j,
                    l,
                );
                store
                    .ingest(
                        &events,
                        &config.policy.rules(),
                        AsOf::At(at),
                        IngestMode::SkipRejected,
                    )
                    .await?;
            }
        }
    }
    farm(store, config, m(15), end).await?;
    check_in_runs(store, config, &[(m(14), 7), (m(13), 5)], end).await?;
    share_link(store, config, m(10), m(1), end).await?;
    // The lonely group's deadline passes: it fails, charging nothing.
    store
        .close_due_fission_rounds(&config.policy.points, end)
        .await?;
    // Members who brought friends carry a badge; it fills now for those already in.
    let expression = "referrals_made >= 2";
    let def = PutSegment {
        id: "ambassadors".into(),
        name: "Brought two friends or more".into(),
        expression: expression.into(),
        tag: None,
        badge: Some("Ambassador".into()),
    };
    store
        .save_segment(
            &def,
            &compile(expression, &lang)?,
            false,
            false,
            &actor,
            end,
        )
        .await?;
    store.fill_segments(end, u32::MAX).await?;
    // This year's most active strong members, proposed for staff to confirm.
    let board = &boards[1];
    let filter = match &board.filter {
        Some(f) => compile(f, &lang)?,
        None => Cond::Const(true),
    };
    let score = compile_quantity(&board.score, &lang)?;
    let ranked = store.rank_members(&filter, &score, end, 10).await?;
    let sorted: Vec<(i64, f64)> = ranked.iter().map(|r| (r.member_id, r.score)).collect();
    let top: Vec<_> = standings(&sorted)
        .into_iter()
        .filter(|s| s.rank <= 3)
        .collect();
    store
        .propose_awards(&board.id, "Super user of the year", &top, &actor, end)
        .await?;
    Ok((rounds, joins))
}

/// Parses the demo's own events and ingests them as of `end`.
async fn send(
    store: &Store,
    config: &crate::config::Config,
    raws: &[serde_json::Value],
    end: Micros,
) -> anyhow::Result<()> {
    let ctx = config.policy.parse_context(end);
    let events = raws
        .iter()
        .map(|raw| {
            flywheel_core::parse_event(raw, &ctx)
                .map_err(|e| anyhow::anyhow!("demo event {raw}: {e:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    store
        .ingest(
            &events,
            &config.policy.rules(),
            AsOf::At(end),
            IngestMode::SkipRejected,
        )
        .await?;
    Ok(())
}

/// Each member checks in on the last `days` days up to `end`.
async fn check_in_runs(
    store: &Store,
    config: &crate::config::Config,
    runs: &[(i64, i64)],
    end: Micros,
) -> anyhow::Result<()> {
    let mut raws = Vec::new();
    for &(member, days) in runs {
        let Some(who) = store
            .member(member)
            .await?
            .and_then(|m| m.identities.iter().next().cloned())
        else {
            continue;
        };
        for d in (0..days).rev() {
            let raw = serde_json::json!({"event_id": format!("demo-check-in-{member}-{d}"),
                "type": "check_in", "occurred_at": flywheel_core::time::to_rfc3339(end - d * DAY - HOUR),
                "channel": "mini_program", "identities": {who.kind.as_str(): who.value}});
            raws.push(raw);
        }
    }
    send(store, config, &raws, end).await
}

/// Four new accounts referred by `farmer` from one device, each buying once: the first
/// two convert and pay; the third and fourth are held as farmed, for staff to decide.
async fn farm(
    store: &Store,
    config: &crate::config::Config,
    farmer: i64,
    end: Micros,
) -> anyhow::Result<()> {
    let Some(inviter) = store
        .member(farmer)
        .await?
        .and_then(|m| m.identities.iter().next().cloned())
    else {
        return Ok(());
    };
    let mut raws = Vec::new();
    for n in 0..4i64 {
        let at = end - DAY + n * HOUR;
        let phone = format!("1700000{n:04}");
        let referrer = serde_json::json!({inviter.kind.as_str(): inviter.value});
        for raw in [
            serde_json::json!({"event_id": format!("demo-farm-referral-{n}"), "type": "referral",
                "occurred_at": flywheel_core::time::to_rfc3339(at), "channel": "mini_program",
                "identities": {"phone": phone},
                "properties": {"referrer": referrer, "device_id": "demo-farm-device"}}),
            serde_json::json!({"event_id": format!("demo-farm-buy-{n}"), "type": "purchase",
                "occurred_at": flywheel_core::time::to_rfc3339(at + 10 * 60 * 1_000_000), "channel": "mini_program",
                "identities": {"phone": phone},
                "properties": {"order_id": format!("DEMO-FARM-{n}"), "amount": "9.90", "currency": "CNY"}}),
        ] {
            raws.push(raw);
        }
    }
    send(store, config, &raws, end).await
}

/// `sharer` shares a product page: eleven browsers read it (one three times), a regular
/// (`regular`) buys through it, and so does a newcomer, on their first order. The link
/// reaches 10 readers and a new buyer, and both milestones pay.
async fn share_link(
    store: &Store,
    config: &crate::config::Config,
    sharer: i64,
    regular: i64,
    end: Micros,
) -> anyhow::Result<()> {
    let identity = |s: Option<flywheel_core::ingest::MemberState>| {
        s.and_then(|s| s.identities.iter().next().cloned())
    };
    let (Some(who), Some(buyer)) = (
        identity(store.member(sharer).await?),
        identity(store.member(regular).await?),
    ) else {
        return Ok(());
    };
    let shared_at = end - 3 * DAY;
    let (link, _) = store
        .create_share_link(
            &flywheel_store::NewShareLink {
                member: sharer,
                key: &format!("demo-share-{sharer}"),
                url: "https://shop.example/tea/spring-oolong",
                title: Some("Spring oolong, first picking"),
                channel: "wechat",
            },
            shared_at,
        )
        .await
        .map_err(|e| anyhow::anyhow!("demo share link: {e}"))?;
    let token = link.token;
    let at = |n: i64| flywheel_core::time::to_rfc3339(shared_at + n * HOUR);
    let newcomer = "17000010001";
    let raws = [
        serde_json::json!({"event_id": format!("share-link:{token}"), "type": "share",
            "occurred_at": at(0), "channel": "wechat",
            "identities": {who.kind.as_str(): who.value},
            "properties": {"share_token": token, "url": link.url, "title": link.title}}),
        serde_json::json!({"event_id": "demo-share-buy-regular", "type": "purchase",
            "occurred_at": at(20), "channel": "mini_program",
            "identities": {buyer.kind.as_str(): buyer.value},
            "properties": {"order_id": "DEMO-SHARE-1", "amount": "36.00", "currency": "CNY",
                "share_token": token}}),
        serde_json::json!({"event_id": "demo-share-buy-newcomer", "type": "purchase",
            "occurred_at": at(30), "channel": "mini_program",
            "identities": {"phone": newcomer},
            "properties": {"order_id": "DEMO-SHARE-2", "amount": "36.00", "currency": "CNY",
                "share_token": token}}),
    ];
    send(store, config, &raws[..1], end).await?;
    for n in 0..13i64 {
        let reader = format!("{:032x}", n.min(10));
        store
            .count_share_click(&token, &reader, shared_at + HOUR + n * 10 * 60 * 1_000_000)
            .await?;
    }
    send(store, config, &raws[1..], end).await?;
    store
        .pay_share_milestones(&config.policy, None, end)
        .await?;
    Ok(())
}
