//! The demo brand's service desk: three queues for the feedback the demo's people send
//! (product, in-store and app service, delivery), each with its targets and working
//! hours, and a small roster. Defined before the history is loaded, so every complaint
//! opens its ticket as it arrives and every resolution the call centre sent closes it —
//! some within target, many after — and today's sweep flags the open ones past theirs.
//! After the history, a regular of a store pays a deposit for a corporate tea order and
//! a team gathers around them, and today's care list is counted.

use super::memberships::demo_actor;
use flywheel_core::event::parse_event;
use flywheel_core::service::queue::target_minutes;
use flywheel_core::service::{Queue, WorkingHours};
use flywheel_core::time::{Micros, to_rfc3339};
use flywheel_store::{AsOf, IngestMode, PutStaff, Store};
use serde_json::json;

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

/// The deposit template: sales, two service people and after-sales, until 30 days after
/// the order is delivered; a deposit at `end` (the demo's last day, so the same seed
/// builds the same rows) and the team it gathers.
pub async fn deposit_team(
    store: &Store,
    config: &crate::config::Config,
    now: Micros,
) -> anyhow::Result<Option<i64>> {
    let definition = json!({"name": "Corporate order", "roles": {"sales": 1, "service": 2, "after_sales": 1},
        "trigger": {"event": "deposit"}, "close_after_days": 30, "close_on": "delivery"});
    store
        .save_team_template(
            "corporate-order",
            &definition,
            "deposit",
            &demo_actor(),
            now,
        )
        .await?;
    // The first member who buys at a store of ours.
    let mut chosen = None;
    for id in 1..500 {
        if let Some(m) = store.member(id).await?
            && m.facts
                .home_store()
                .is_some_and(|s| s.starts_with("store-"))
            && let Some(handle) = store.member_handle(m.id).await?
        {
            chosen = Some((m.id, handle));
            break;
        }
    }
    let Some((member, (kind, value))) = chosen else {
        return Ok(None);
    };
    let raw = json!({"event_id": "demo-deposit-1", "type": "deposit", "occurred_at": to_rfc3339(now),
        "channel": "store", "identities": {kind: value},
        "properties": {"amount": "2000.00", "order": "corporate mooncake boxes"}});
    let event = parse_event(&raw, &config.policy.parse_context(now))
        .map_err(|e| anyhow::anyhow!("demo deposit: {e:?}"))?;
    store
        .ingest(
            &[event],
            &config.policy.rules(),
            AsOf::At(now),
            IngestMode::SkipRejected,
        )
        .await?;
    store.run_service_teams(now).await?;
    Ok(Some(member))
}
