//! The demo's community (issue 22), made the way staff and members make it: through
//! the HTTP API of an in-process server on 127.0.0.1 whose clock is set to each step's
//! instant. The shop assistants name their WeCom customer groups (whose joins the
//! generated history carries); a winter salon with twelve seats fills, lines up two
//! more, loses one to a cancel and checks ten in by card code; a spring tasting that
//! costs points takes its first RSVPs; a 45-day check-in challenge has two members
//! through and others on their way; and the co-creation board's latest ideas are moved
//! along — under review, declined with a reason, adopted with points and a badge, shipped.

use super::catalog::DEMO_GROUPS;
use crate::config::Config;
use anyhow::Context;
use flywheel_core::membership::card::card_number;
use flywheel_core::segment::{Language, compile};
use flywheel_core::time::{DAY, HOUR, Micros, to_rfc3339};
use flywheel_store::Store;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// What the community holds when the demo is loaded.
#[derive(Default)]
pub struct Community {
    pub salon_confirmed: i64,
    pub salon_attended: i64,
    pub salon_no_shows: i64,
    pub challenge_completed: i64,
    /// Challengers not (yet) through.
    pub challenge_going: i64,
    pub ideas_moved: usize,
}

/// A client of the in-process server, its clock in hand.
struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
    clock: Arc<AtomicI64>,
}

impl Api {
    fn at(&self, t: Micros) -> &Api {
        self.clock.store(t, Ordering::SeqCst);
        self
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!("demo {path}: {status} {answer}");
        }
        Ok(answer)
    }
}

pub async fn seed(
    store: &Store,
    config: &Config,
    lang: &Language,
    end: Micros,
) -> anyhow::Result<Community> {
    let clock = Arc::new(AtomicI64::new(end));
    let key = format!("demo-{:x}", rand::random::<u128>());
    let mut state = flywheel_api::AppState::new(store.clone(), config.policy.clone(), Some(&key));
    let hands = clock.clone();
    state.clock = Arc::new(move || hands.load(Ordering::SeqCst));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(flywheel_api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let api = Api {
        http: reqwest::Client::new(),
        base,
        key,
        clock,
    };
    let done = play(store, &api, lang, end).await;
    let _ = stop.send(());
    server.await.context("the demo's API server")??;
    done
}

/// One thing a person does through the API, at its instant.
struct Step {
    at: Micros,
    method: &'static str,
    path: String,
    body: Option<Value>,
}

fn step(at: Micros, method: &'static str, path: impl Into<String>, body: Option<Value>) -> Step {
    Step {
        at,
        method,
        path: path.into(),
        body,
    }
}

async fn play(store: &Store, api: &Api, lang: &Language, end: Micros) -> anyhow::Result<Community> {
    let mut steps = Vec::new();
    // The groups the history's joins made (none in a brand without people).
    let groups = store.wecom_groups().await?;
    let made = DEMO_GROUPS
        .iter()
        .filter(|(chat, _)| groups.iter().any(|g| g.chat_id == *chat));
    for (chat, name) in made {
        let path = format!("/v1/wecom/groups/{chat}");
        steps.push(step(
            end - 30 * DAY,
            "PUT",
            path,
            Some(json!({"name": name})),
        ));
    }
    let buyers = store
        .select_members_by_sql(&compile("purchase_count >= 1", lang)?, end)
        .await?;
    if buyers.len() < 30 {
        run(api, steps).await?;
        return Ok(Community::default());
    }
    // Members taken in a fixed order from the buyers, none twice.
    let mut order = (0..buyers.len()).map(|i| buyers[(i * 7919) % buyers.len()]);
    let mut used = Vec::new();
    let mut next = || {
        let m = order.find(|m| !used.contains(m)).unwrap_or(buyers[0]);
        used.push(m);
        m
    };

    // The winter salon, eight days ago: twelve seats, fourteen RSVPs, one cancel; ten
    // come and are checked in at the door by their card, two do not show.
    let salon_at = end - 8 * DAY + 14 * HOUR;
    steps.push(step(
        end - 30 * DAY,
        "PUT",
        "/v1/activities/winter-salon",
        Some(json!({"name": "Winter tea salon", "kind": "salon",
            "description": "Brewing aged white tea with our tea master; tasting and questions.",
            "starts_at": to_rfc3339(salon_at), "ends_at": to_rfc3339(salon_at + 3 * HOUR),
            "place": "Flagship store, Hangzhou", "capacity": 12, "cost_cash": "88",
            "eligibility": "purchase_count >= 1"})),
    ));
    let guests: Vec<i64> = (0..14).map(|_| next()).collect();
    let challengers: Vec<i64> = (0..5).map(|_| next()).collect();
    for (n, m) in guests.iter().enumerate() {
        let at = end - 25 * DAY + n as i64 * 7 * HOUR;
        let body = json!({"member_id": m});
        steps.push(step(
            at,
            "POST",
            "/v1/activities/winter-salon/rsvps",
            Some(body),
        ));
    }
    let cancelled = guests[3];
    let path = format!("/v1/activities/winter-salon/rsvps/{cancelled}");
    steps.push(step(end - 12 * DAY, "DELETE", path, None));
    let seated = guests.iter().filter(|m| **m != cancelled).take(12);
    for (n, m) in seated.take(10).enumerate() {
        let at = salon_at - 20 * 60_000_000 + n as i64 * 90_000_000;
        let body = json!({"card_code": card_number(*m)});
        steps.push(step(
            at,
            "POST",
            "/v1/activities/winter-salon/check-ins",
            Some(body),
        ));
    }

    // The spring tasting, in five days, for 100 points: the first RSVPs come in.
    let tasting_at = end + 5 * DAY + 13 * HOUR;
    steps.push(step(
        end - 4 * DAY,
        "PUT",
        "/v1/activities/spring-tasting",
        Some(
            json!({"name": "Spring first-flush tasting", "kind": "masterclass",
            "starts_at": to_rfc3339(tasting_at), "ends_at": to_rfc3339(tasting_at + 2 * HOUR),
            "place": "Flagship store, Hangzhou", "capacity": 8, "cost_points": 100,
            "eligibility": "stage >= weak"}),
        ),
    ));
    let keen = store
        .select_members_by_sql(
            &compile("stage >= weak and points_balance >= 300", lang)?,
            end,
        )
        .await?;
    for (n, m) in keen
        .iter()
        .filter(|m| !used.contains(m))
        .take(5)
        .enumerate()
    {
        let body = json!({"member_id": m});
        let at = end - 3 * DAY + n as i64 * HOUR;
        steps.push(step(
            at,
            "POST",
            "/v1/activities/spring-tasting/rsvps",
            Some(body),
        ));
    }

    // Seed 002's challenge: 45 days of tea in a row, begun 47 days ago. Two finish, two
    // are on their way, one broke the chain on day 12 and began again.
    let begun = end - 47 * DAY;
    steps.push(step(
        begun - DAY,
        "PUT",
        "/v1/activities/tea-45",
        Some(json!({"name": "45 days of tea", "kind": "challenge",
            "description": "Brew a cup every day and check in; 45 days in a row wins.",
            "starts_at": to_rfc3339(begun), "ends_at": to_rfc3339(end + 20 * DAY),
            "link": "https://tea.example.com/challenge",
            "challenge": {"days": 45, "reward_points": 450, "badge": "45-day steeper"}})),
    ));
    let c = &challengers;
    let runs = [
        (c[0], 0..45),
        (c[1], 1..46),
        (c[2], 20..47),
        (c[3], 30..47),
        (c[4], 0..12),
        (c[4], 25..35),
    ];
    for (member, days) in runs {
        for d in days {
            let body = json!({"member_id": member});
            let at = begun + d * DAY + 8 * HOUR;
            steps.push(step(
                at,
                "POST",
                "/v1/activities/tea-45/check-ins",
                Some(body),
            ));
        }
    }

    // The board: ideas from before the last ten days, moved along by the product team.
    let received = store.ideas(Some("received"), 40).await?;
    let mut ideas = received
        .iter()
        .filter(|i| i.created_at < end - 10 * DAY)
        .map(|i| i.id.clone());
    let moves: [&[Value]; 5] = [
        &[json!({"status": "under_review", "owner_staff_id": "s-zhao",
            "public_note": "Our tea master is trying it this month."})],
        &[json!({"status": "under_review", "owner_staff_id": "s-li"})],
        &[json!({"status": "declined", "owner_staff_id": "s-li",
            "reason": "We tried it, but the tea lost its aroma within a week."})],
        &[
            json!({"status": "under_review", "owner_staff_id": "s-zhao"}),
            json!({"status": "adopted", "reward_points": 300, "badge": "Co-creator",
                "public_note": "Coming in the spring range — thank you!"}),
        ],
        &[
            json!({"status": "under_review", "owner_staff_id": "s-zhao"}),
            json!({"status": "adopted", "reward_points": 300, "badge": "Co-creator"}),
            json!({"status": "shipped", "public_note": "In the shops from this week."}),
        ],
    ];
    let mut moved = 0;
    for moves in moves {
        let Some(id) = ideas.next() else { break };
        for (n, body) in moves.iter().enumerate() {
            let at = end - (8 - 2 * n as i64) * DAY;
            let path = format!("/v1/ideas/{id}/decision");
            steps.push(step(at, "POST", path, Some(body.clone())));
        }
        moved += 1;
    }

    run(api, steps).await?;
    let salon = api
        .call("GET", "/v1/activities/winter-salon/report", None)
        .await?;
    let challenge = api
        .call("GET", "/v1/activities/tea-45/report", None)
        .await?;
    let count = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0);
    Ok(Community {
        salon_confirmed: count(&salon, "confirmed"),
        salon_attended: count(&salon, "attended"),
        salon_no_shows: count(&salon, "no_shows"),
        challenge_completed: count(&challenge, "completed"),
        challenge_going: count(&challenge, "confirmed") - count(&challenge, "completed"),
        ideas_moved: moved,
    })
}

/// The steps in the order they happened (the server's clock only moves forward).
async fn run(api: &Api, mut steps: Vec<Step>) -> anyhow::Result<()> {
    steps.sort_by_key(|s| s.at);
    for s in steps {
        api.at(s.at).call(s.method, &s.path, s.body).await?;
    }
    Ok(())
}
