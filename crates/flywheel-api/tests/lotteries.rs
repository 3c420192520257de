//! The points lottery over real HTTP, on SQLite and PostgreSQL (issue 20): many draws at
//! once never win more of a prize than its stock; each draw is worked out again from its
//! stored number and table version; the cost is debited and a points prize credited once
//! per draw; past the daily limit a draw is refused and its points given back.

mod common;

use common::{ADMIN, TestApp};
use flywheel_core::time::to_rfc3339;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn draws_never_overdraw_a_prize_and_each_is_reproducible() {
    for app in TestApp::all().await {
        let m = app
            .send(json!({"event_id": "lot-reg", "type": "register", "occurred_at": to_rfc3339(app.now()),
                "channel": "app", "identities": {"phone": "13900000777"}}))
            .await["member_id"]
            .as_i64()
            .unwrap();
        let (status, body) = app
            .post("/v1/points/adjustments", json!({"member_id": m, "points": 1000, "reason": "test", "idempotency_key": "lot-adj"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .post(
                "/v1/lotteries",
                json!({"id": "daily", "name": "Daily draw", "cost_points": 10, "daily_limit": 30,
                "prizes": [{"id": "cup", "name": "A cup", "chance": 5000, "stock": 3},
                           {"id": "fifty", "name": "50 points", "chance": 3000, "points": 50}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["version"], 1);
        let (status, body) = app
            .post("/v1/lotteries", json!({"id": "bad", "name": "Bad", "cost_points": 10,
                "prizes": [{"id": "a", "name": "A", "chance": 6000}, {"id": "b", "name": "B", "chance": 6000}]}))
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("prizes")),
            "{body}"
        );
        let (_, before) = app.get(&format!("/v1/members/{m}/points")).await;
        let before = before["balance"].as_i64().unwrap();

        let tasks: Vec<_> = (0..30)
            .map(|i| {
                let (http, base) = (flywheel_testkit::http(), app.addr());
                tokio::spawn(async move {
                    let r = http
                        .post(format!("http://{base}/v1/lotteries/daily/draws"))
                        .bearer_auth(ADMIN)
                        .json(&json!({"member_id": m, "idempotency_key": format!("d-{i}")}))
                        .send()
                        .await
                        .unwrap();
                    (r.status(), r.json::<Value>().await.unwrap())
                })
            })
            .collect();
        let mut draws = Vec::new();
        for t in tasks {
            let (status, body) = t.await.unwrap();
            assert_eq!(status, StatusCode::CREATED, "{body}");
            draws.push(body);
        }
        let count = |prize: &str, outcome: &str| {
            draws
                .iter()
                .filter(|d| d["prize_id"] == prize && d["outcome"] == outcome)
                .count() as i64
        };
        let cups_picked = count("cup", "won") + count("cup", "out_of_stock");
        assert_eq!(count("cup", "won"), cups_picked.min(3), "{draws:?}");
        let (_, lottery) = app.get("/v1/lotteries/daily").await;
        assert_eq!(
            lottery["prizes"][0]["stock"].as_i64(),
            Some(3 - count("cup", "won")),
            "{lottery}"
        );
        for d in &draws {
            assert_eq!(d["reproduced_prize_id"], d["prize_id"], "{d}");
            let n = d["number"].as_i64().unwrap() % 10_000;
            let expected = if n < 5000 {
                json!("cup")
            } else if n < 8000 {
                json!("fifty")
            } else {
                Value::Null
            };
            assert_eq!(d["prize_id"], expected, "{d}");
        }
        let (_, after) = app.get(&format!("/v1/members/{m}/points")).await;
        assert_eq!(
            after["balance"].as_i64(),
            Some(before - 300 + 50 * count("fifty", "won")),
            "{after}"
        );
        // A retry answers the same draw and moves no points.
        let (status, again) = app
            .post(
                "/v1/lotteries/daily/draws",
                json!({"member_id": m, "idempotency_key": "d-0"}),
            )
            .await;
        assert_eq!(
            (status, again["id"].clone()),
            (
                StatusCode::OK,
                draws.iter().find(|d| d["id"] == again["id"]).unwrap()["id"].clone()
            )
        );
        // The 31st draw of the day is refused and costs nothing.
        let (status, body) = app
            .post(
                "/v1/lotteries/daily/draws",
                json!({"member_id": m, "idempotency_key": "d-31"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("limit_reached")),
            "{body}"
        );
        let (_, same) = app.get(&format!("/v1/members/{m}/points")).await;
        assert_eq!(same["balance"], after["balance"], "{same}");
        // A draw for nobody is refused as the points it would cost are (schemathesis
        // found it answered 500).
        let (status, body) = app
            .post(
                "/v1/lotteries/daily/draws",
                json!({"member_id": 987_654, "idempotency_key": "nobody"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("member_not_found")),
            "{body}"
        );
        // A new table is a new version; an old draw is still worked out under its own.
        let (status, body) = app
            .put(
                "/v1/lotteries/daily",
                json!({"name": "Daily draw", "cost_points": 10, "daily_limit": 30,
                "prizes": [{"id": "fifty", "name": "50 points", "chance": 9000, "points": 50}]}),
            )
            .await;
        assert_eq!(
            (status, body["version"].as_i64()),
            (StatusCode::OK, Some(2)),
            "{body}"
        );
        let first = &draws[0];
        let (_, old) = app
            .get(&format!(
                "/v1/lotteries/daily/draws/{}",
                first["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            (old["version"].as_i64(), old["reproduced_prize_id"].clone()),
            (Some(1), first["prize_id"].clone()),
            "{old}"
        );
        app.assert_books_balance().await;
    }
}
