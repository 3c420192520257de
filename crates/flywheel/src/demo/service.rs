//! The demo brand's service desk: three queues for the feedback the demo's people send
//! (product, in-store and app service, delivery), each with its targets and working
//! hours, and a small roster. Defined before the history is loaded, so every complaint
//! opens its ticket as it arrives and every resolution the call centre sent closes it —
//! some within target, many after — and today's sweep flags the open ones past theirs.

use super::memberships::demo_actor;
use flywheel_core::service::queue::target_minutes;
use flywheel_core::service::{Queue, WorkingHours};
use flywheel_core::time::Micros;
use flywheel_store::{PutStaff, Store};

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
