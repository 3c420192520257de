//! Tracked shares (issue 20, item 10): a member's link counts clicks, distinct readers,
//! buyers and new buyers; `share_milestone` rules pay the sharer once per milestone,
//! however many visits race past it; the task centre shows the progress.

mod common;

use common::TestApp;
use flywheel_core::Policy;
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn event(id: &str, kind: &str, at: i64, who: Value, properties: Value) -> Value {
    json!({"event_id": id, "type": kind, "occurred_at": to_rfc3339(at), "channel": "mini_program",
           "identities": who, "properties": properties})
}

fn purchase(id: &str, at: i64, who: Value, order: &str, token: Option<&str>) -> Value {
    let mut props = json!({"order_id": order, "amount": "88.00", "currency": "CNY"});
    if let Some(t) = token {
        props["share_token"] = json!(t);
    }
    event(id, "purchase", at, who, props)
}

/// A client that shows redirects instead of following them, as a test of `/s/` needs.
fn browser() -> reqwest::Client {
    flywheel_testkit::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Opens a link as a browser holding `cookie` (or none); answers the status, where it
/// sends the browser and the reader cookie it set.
async fn visit(
    app: &TestApp,
    token: &str,
    cookie: Option<&str>,
) -> (StatusCode, Option<String>, Option<String>) {
    let mut req = browser().get(format!("{}/s/{token}", app.base));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let cookie = header("set-cookie").map(|c| c.split(';').next().unwrap().to_owned());
    (resp.status(), header("location"), cookie)
}

/// The points `member` was paid by each `share-` rule, sorted.
async fn share_points(app: &TestApp, member: i64) -> Vec<(String, i64)> {
    let (_, ledger) = app
        .get(&format!("/v1/members/{member}/points/ledger?limit=500"))
        .await;
    let mut paid: Vec<(String, i64)> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let rule = e["rule_id"].as_str()?;
            rule.starts_with("share-")
                .then(|| (rule.to_owned(), e["amount"].as_i64().unwrap()))
        })
        .collect();
    paid.sort();
    paid
}

async fn counts(app: &TestApp, token: &str) -> Value {
    let (status, link) = app.get(&format!("/v1/share-links/{token}")).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    link["counts"].clone()
}

async fn member_of(app: &TestApp, id: &str, phone: &str) -> i64 {
    app.send(event(
        id,
        "register",
        app.now() - 20 * DAY,
        json!({"phone": phone}),
        json!({}),
    ))
    .await["member_id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_tracked_link_counts_readers_and_buyers_and_pays_each_milestone_once() {
    for app in TestApp::all().await {
        let (_, rules) = app.get("/v1/points/rules").await;
        let mut set = rules["rules"].clone();
        set.as_array_mut().unwrap().extend([
            json!({"id": "share-readers-3", "trigger": "share_milestone",
                   "conditions": {"milestone": {"measure": "readers", "at": 3}},
                   "award": {"points": 30},
                   "task": {"title": "Get 3 friends to read something you shared"}}),
            json!({"id": "share-clicks-5", "trigger": "share_milestone",
                   "conditions": {"milestone": {"measure": "clicks", "at": 5}},
                   "award": {"points": 5}}),
            json!({"id": "share-new-buyer", "trigger": "share_milestone",
                   "conditions": {"milestone": {"measure": "new_buyers", "at": 1}},
                   "award": {"points": 100}}),
        ]);
        let (status, body) = app
            .put(
                "/v1/points/rules",
                json!({"rules": set, "effective_from": "2026-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let sharer = member_of(&app, "sh-a", "13900030001").await;
        let newcomer = member_of(&app, "sh-b", "13900030002").await;
        member_of(&app, "sh-c", "13900030003").await;
        app.send(purchase(
            "sh-c-old",
            app.now() - 10 * DAY,
            json!({"phone": "13900030003"}),
            "SH-C-OLD",
            None,
        ))
        .await;

        // A link, once per key; the share is the member's event.
        let input = json!({"member_id": sharer, "url": "https://shop.example/p/7?from=app#top",
                           "title": "Spring tea", "idempotency_key": "share-1"});
        let (status, link) = app.post("/v1/share-links", input.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{link}");
        let token = link["token"].as_str().unwrap().to_owned();
        assert!(
            link["link"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/s/{token}"))
        );
        assert_eq!(link["channel"], "wechat");
        let (status, again) = app.post("/v1/share-links", input.clone()).await;
        assert_eq!((status, &again["token"]), (StatusCode::OK, &link["token"]));
        let mut other = input.clone();
        other["url"] = json!("https://shop.example/p/8");
        let (status, body) = app.post("/v1/share-links", other).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("idempotency_key_reused"))
        );
        let mut bad = input.clone();
        bad["url"] = json!("javascript:alert(1)");
        bad["idempotency_key"] = json!("share-bad");
        let (status, body) = app.post("/v1/share-links", bad).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("url")),
            "{body}"
        );
        let mut nobody = input.clone();
        nobody["member_id"] = json!(999_999);
        nobody["idempotency_key"] = json!("share-nobody");
        let (status, body) = app.post("/v1/share-links", nobody).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("member_not_found"))
        );
        let (_, member) = app.get(&format!("/v1/members/{sharer}/timeline")).await;
        assert!(
            member.to_string().contains(&format!("share-link:{token}")),
            "the share is in the sharer's timeline: {member}"
        );

        // Three browsers read it; the first comes back twice (clicks, not readers).
        let (status, location, first) = visit(&app, &token, None).await;
        assert_eq!(status, StatusCode::FOUND);
        assert_eq!(
            location.as_deref(),
            Some(format!("https://shop.example/p/7?from=app&fw_share={token}#top").as_str())
        );
        let first = first.expect("a new reader gets a cookie");
        for _ in 0..2 {
            let (status, _, set) = visit(&app, &token, Some(&first)).await;
            assert_eq!((status, set), (StatusCode::FOUND, None));
        }
        assert_eq!(
            counts(&app, &token).await,
            json!({"clicks": 3, "readers": 1, "buyers": 0, "new_buyers": 0})
        );
        assert_eq!(share_points(&app, sharer).await, vec![]);
        // Many new readers at once: each milestone still pays once.
        let racing: Vec<_> = (0..12).map(|_| visit(&app, &token, None)).collect();
        for (status, _, _) in futures_util::future::join_all(racing).await {
            assert_eq!(status, StatusCode::FOUND);
        }
        assert_eq!(
            counts(&app, &token).await,
            json!({"clicks": 15, "readers": 13, "buyers": 0, "new_buyers": 0})
        );
        assert_eq!(
            share_points(&app, sharer).await,
            vec![
                ("share-clicks-5".to_owned(), 5),
                ("share-readers-3".to_owned(), 30)
            ]
        );

        // Buyers: the newcomer's first order counts as a new buyer, the regular's as a
        // buyer, the sharer's own not at all, and a second order by the same buyer once.
        let now = app.now();
        app.send(purchase(
            "sh-b-1",
            now - DAY,
            json!({"phone": "13900030002"}),
            "SH-B-1",
            Some(&token),
        ))
        .await;
        app.send(purchase(
            "sh-b-2",
            now - DAY / 2,
            json!({"phone": "13900030002"}),
            "SH-B-2",
            Some(&token),
        ))
        .await;
        app.send(purchase(
            "sh-c-1",
            now - DAY,
            json!({"phone": "13900030003"}),
            "SH-C-1",
            Some(&token),
        ))
        .await;
        app.send(purchase(
            "sh-a-1",
            now - DAY,
            json!({"phone": "13900030001"}),
            "SH-A-1",
            Some(&token),
        ))
        .await;
        assert_eq!(
            counts(&app, &token).await,
            json!({"clicks": 15, "readers": 13, "buyers": 2, "new_buyers": 1})
        );
        // The background pass pays what purchases reached; a second pass pays nothing.
        let policy = Policy::default();
        let pass = app
            .store
            .pay_share_milestones(&policy, None, app.now())
            .await
            .unwrap();
        assert_eq!((pass.links, pass.paid), (1, 1));
        let pass = app
            .store
            .pay_share_milestones(&policy, None, app.now())
            .await
            .unwrap();
        assert_eq!((pass.links, pass.paid), (0, 0));
        assert_eq!(
            share_points(&app, sharer).await,
            vec![
                ("share-clicks-5".to_owned(), 5),
                ("share-new-buyer".to_owned(), 100),
                ("share-readers-3".to_owned(), 30)
            ]
        );
        assert_eq!(share_points(&app, newcomer).await, vec![]);
        let (_, link) = app.get(&format!("/v1/share-links/{token}")).await;
        let paid: Vec<String> = link["milestones"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| format!("{} {}", m["at"], m["measure"].as_str().unwrap()))
            .collect();
        assert_eq!(paid.len(), 3, "{link}");
        for m in ["3 readers", "5 clicks", "1 new_buyers"] {
            assert!(paid.contains(&m.to_owned()), "{m} in {paid:?}");
        }

        // The task shows the best link's progress, and that it paid.
        let (_, tasks) = app.get(&format!("/v1/members/{sharer}/tasks")).await;
        let task = tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["rule_id"] == "share-readers-3")
            .cloned()
            .unwrap_or_else(|| panic!("{tasks}"));
        assert_eq!(
            (
                &task["times_done"],
                &task["progress"]["current"],
                &task["progress"]["target"]
            ),
            (&json!(1), &json!(3), &json!(3)),
            "{task}"
        );

        // The member's export holds the link and its counts.
        let (_, export) = app.get(&format!("/v1/members/{sharer}/export")).await;
        assert_eq!(
            export["share_links"][0]["token"],
            token.as_str(),
            "{export}"
        );
        assert_eq!(export["share_links"][0]["readers"], 13, "{export}");

        // Lists, and what is not there.
        let (_, list) = app
            .get(&format!("/v1/share-links?member_id={sharer}"))
            .await;
        assert_eq!(list["links"].as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list["links"][0]["milestones"], link["milestones"], "{list}");
        let (status, body) = app.get("/v1/share-links/NoSuchToken1").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("share_link_not_found"))
        );
        for token in ["NoSuchToken1", "bad"] {
            assert_eq!(visit(&app, token, None).await.0, StatusCode::NOT_FOUND);
        }
        // A milestone rule names its milestone.
        set.as_array_mut().unwrap().push(
            json!({"id": "share-bare", "trigger": "share_milestone", "award": {"points": 1}}),
        );
        let (status, body) = app.put("/v1/points/rules", json!({"rules": set})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["field"]
                .as_str()
                .is_some_and(|f| f.ends_with(".conditions.milestone")),
            "{body}"
        );
        app.assert_books_balance().await;
    }
}
