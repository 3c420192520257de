//! The demo brand's service desk: three queues for the feedback the demo's people send
//! (product, in-store and app service, delivery), each with its targets and working
//! hours, and a small roster. Defined before the history is loaded, so every complaint
//! opens its ticket as it arrives and every resolution the call centre sent closes it —
//! some within target, many after — and today's sweep flags the open ones past theirs.
//! After the history come corporate orders as deals — deposits, deliveries, a deposit
//! given back — before and after the brand gathered service teams around deposits; a
//! regular of a store pays a deposit today and a team gathers around them; and today's
//! care list is counted.

use super::memberships::demo_actor;
use flywheel_core::event::parse_event;
use flywheel_core::service::queue::target_minutes;
use flywheel_core::service::{Queue, WorkingHours};
use flywheel_core::time::{DAY, Micros, to_rfc3339};
use flywheel_store::{AsOf, IngestMode, PutStaff, Store};
use serde_json::{Value, json};

/// (id, name, categories, team, respond hours, resolve hours, days, from, to).
type QueueDef = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
    f64,
    f64,
    &'static [&'static str],
    &'static str,
    &'static str,
);

const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri"];
const EVERY_DAY: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const QUEUES: [QueueDef; 3] = [
    (
        "product",
        "Product",
        &["taste", "packaging", "price"],
        "Product quality",
        8.0,
        40.0,
        WEEKDAYS,
        "09:00",
        "18:00",
    ),
    (
        "service",
        "Stores and app",
        &["service", "app", "*"],
        "Customer service",
        4.0,
        24.0,
        EVERY_DAY,
        "09:00",
        "21:00",
    ),
    (
        "delivery",
        "Delivery",
        &["delivery"],
        "Logistics",
        4.0,
        48.0,
        EVERY_DAY,
        "00:00",
        "24:00",
    ),
];

/// (id, name, roles, city).
const STAFF: [(&str, &str, &[&str], &str); 6] = [
    ("s-li", "Li Na", &["service"], "Shanghai"),
    (
        "s-wang",
        "Wang Lei",
        &["service", "after_sales"],
        "Shanghai",
    ),
    ("s-zhao", "Zhao Min", &["sales"], "Beijing"),
    ("s-chen", "Chen Jie", &["delivery"], "Hangzhou"),
    ("s-liu", "Liu Yang", &["city_manager"], "Shanghai"),
    ("s-sun", "Sun Qi", &["after_sales"], "Beijing"),
];

/// Defines the queues and the roster; returns how many queues.
pub async fn define(store: &Store, now: Micros) -> anyhow::Result<usize> {
    let actor = demo_actor();
    for (id, name, categories, team, respond, resolve, days, from, to) in QUEUES {
        let days: Vec<String> = days.iter().map(|d| d.to_string()).collect();
        let hours = WorkingHours::parse(&days, from, to, "Asia/Shanghai")
            .map_err(|e| anyhow::anyhow!("demo queue {id}: {}", e.message))?;
        let queue = Queue {
            id: id.into(),
            name: name.into(),
            categories: categories.iter().map(|c| c.to_string()).collect(),
            team: Some(team.into()),
            respond_minutes: target_minutes(respond).unwrap_or(60),
            resolve_minutes: target_minutes(resolve).unwrap_or(60),
            hours,
        };
        store.save_queue(&queue, &actor, now).await?;
    }
    for (id, name, roles, city) in STAFF {
        let staff = PutStaff {
            id: id.into(),
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            city: Some(city.into()),
            store: None,
            active: true,
        };
        store.save_staff(&staff, &actor, now).await?;
    }
    Ok(QUEUES.len())
}

/// Deals of the last 90 days, in days before the demo's last day: (small deposit, full
/// deposit, delivery, deposit given back). The first six began before the brand started
/// gathering teams around deposits; the rest after, and more of them reach delivery.
type DealDays = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);
const DEALS_BEFORE_TEAMS: [DealDays; 6] = [
    (Some(80), Some(70), Some(50), None),
    (Some(78), None, None, Some(72)),
    (Some(75), None, None, None),
    (Some(66), Some(60), None, None),
    (None, Some(58), Some(45), None),
    (Some(55), None, None, Some(50)),
];
const DEALS_WITH_TEAMS: [DealDays; 6] = [
    (Some(40), Some(36), Some(20), None),
    (Some(38), Some(33), Some(15), None),
    (Some(30), Some(26), None, None),
    (None, Some(28), Some(10), None),
    (Some(20), Some(15), Some(3), None),
    (Some(12), None, None, Some(9)),
];

/// The events of one demo deal, for the member known by `handle`.
fn deal_events(n: usize, deal: DealDays, handle: &(String, String), end: Micros) -> Vec<Value> {
    let (small, full, delivered, refunded) = deal;
    let order = format!("corporate-{n}");
    let steps = [
        (
            small,
            "deposit",
            json!({"stage": "small", "amount": "200.00"}),
        ),
        (
            full,
            "deposit",
            json!({"stage": "full", "amount": "2000.00"}),
        ),
        (delivered, "delivery", json!({})),
        (refunded, "deposit_refund", json!({"amount": "200.00"})),
    ];
    steps
        .into_iter()
        .enumerate()
        .filter_map(|(i, (days, kind, mut props))| {
            let days = days?;
            props["order_id"] = json!(order);
            Some(
                json!({"event_id": format!("demo-deal-{n}-{i}"), "type": kind,
                "occurred_at": to_rfc3339(end - days * DAY), "channel": "store",
                "identities": {handle.0.as_str(): handle.1}, "properties": props}),
            )
        })
        .collect()
}

async fn ingest_raw(
    store: &Store,
    config: &crate::config::Config,
    raw: &[Value],
    now: Micros,
) -> anyhow::Result<()> {
    let ctx = config.policy.parse_context(now);
    let events = raw
        .iter()
        .map(|r| parse_event(r, &ctx).map_err(|e| anyhow::anyhow!("demo deal: {e:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    store
        .ingest(
            &events,
            &config.policy.rules(),
            AsOf::At(now),
            IngestMode::SkipRejected,
        )
        .await?;
    Ok(())
}

/// Corporate orders as deals: six of the last 90 days' before the
/// deposit template existed, then the template (sales, two service people and
/// after-sales, until 30 days after the order is delivered), six deals after it, and a
/// deposit on `end` (the demo's last day, so the same seed builds the same rows) with
/// the team it gathers; Li Na owns these members. Returns the member of today's deposit.
pub async fn deposit_team(
    store: &Store,
    config: &crate::config::Config,
    end: Micros,
) -> anyhow::Result<Option<i64>> {
    // The first regular of a store pays today's deposit; the deals are the next
    // members' (any channel), by id.
    let wanted = DEALS_BEFORE_TEAMS.len() + DEALS_WITH_TEAMS.len();
    let (mut regular, mut others) = (None, Vec::new());
    for id in 1..2000 {
        if regular.is_some() && others.len() >= wanted {
            break;
        }
        let Some(m) = store.member(id).await? else {
            continue;
        };
        let Some(handle) = store.member_handle(m.id).await? else {
            continue;
        };
        if regular.is_none()
            && m.facts
                .home_store()
                .is_some_and(|s| s.starts_with("store-"))
        {
            regular = Some((m.id, handle));
        } else if others.len() < wanted {
            others.push((m.id, handle));
        }
    }
    let Some((member, handle)) = regular else {
        return Ok(None);
    };
    let deals = DEALS_BEFORE_TEAMS.iter().chain(&DEALS_WITH_TEAMS);
    let mut raw: Vec<Vec<Value>> = deals
        .zip(&others)
        .enumerate()
        .map(|(n, (deal, (_, handle)))| deal_events(n + 1, *deal, handle, end))
        .collect();
    let after = raw.split_off(DEALS_BEFORE_TEAMS.len().min(raw.len()));
    ingest_raw(store, config, &raw.concat(), end).await?;
    let definition = json!({"name": "Corporate order", "roles": {"sales": 1, "service": 2, "after_sales": 1},
        "trigger": {"event": "deposit"}, "close_after_days": 30, "close_on": "delivery"});
    store
        .save_team_template(
            "corporate-order",
            &definition,
            "deposit",
            &demo_actor(),
            end,
        )
        .await?;
    let mut after = after.concat();
    after.push(
        json!({"event_id": "demo-deposit-1", "type": "deposit", "occurred_at": to_rfc3339(end),
        "channel": "store", "identities": {handle.0.as_str(): handle.1},
        "properties": {"amount": "2000.00", "stage": "full", "order_id": "corporate-mooncakes",
                       "order": "corporate mooncake boxes"}}),
    );
    ingest_raw(store, config, &after, end).await?;
    store.run_service_teams(end).await?;
    // Li Na in Shanghai owns these relationships: her list is the owners' page's.
    for id in std::iter::once(member).chain(others.iter().map(|(id, _)| *id)) {
        store
            .set_member_owner(id, Some("s-li"), "corporate accounts", &demo_actor(), end)
            .await?;
    }
    Ok(Some(member))
}
