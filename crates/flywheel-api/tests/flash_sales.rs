//! Flash sales over real HTTP, on SQLite and PostgreSQL (issue 20): a sale with 10 in
//! stock and 300 simultaneous claims sells exactly 10; a member claims within their
//! limit, once per key; a claim unpaid in time lapses and its unit goes back on sale;
//! a points price is debited once when the claim is paid.

mod common;

use common::{ADMIN, TestApp};
use flywheel_core::time::{DAY, MINUTE, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Registers `n` members at once; answers their ids.
async fn members(app: &TestApp, n: usize) -> Vec<i64> {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({"event_id": format!("fs-reg-{i}"), "type": "register",
            "occurred_at": to_rfc3339(app.now()), "channel": "app",
            "identities": {"phone": format!("139{:08}", 10_000_000 + i)}})
        })
        .collect();
    let (status, body) = app
        .post("/v1/events/batch", json!({"events": events}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ids = Vec::new();
    for i in 0..n {
        let (_, m) = app
            .get(&format!(
                "/v1/members/lookup?phone=139{:08}",
                10_000_000 + i
            ))
            .await;
        ids.push(m["id"].as_i64().unwrap());
    }
    ids
}

fn sale(app: &TestApp, id: &str, stock: i64, points: i64) -> Value {
    json!({"id": id, "name": "Mooncake box", "price": {"cash": "19.90", "points": points}, "stock": stock,
        "starts_at": to_rfc3339(app.now() - MINUTE), "ends_at": to_rfc3339(app.now() + DAY),
        "per_member_limit": 1, "pay_within_minutes": 15})
}

#[tokio::test]
async fn ten_in_stock_and_three_hundred_claims_at_once_sell_exactly_ten() {
    for app in TestApp::all().await {
        // As the issue writes it (its window long past, so it takes no claims).
        let (status, body) = app
            .post(
                "/v1/flash-sales",
                json!({"id": "mooncake", "name": "Mooncake box", "price": {"cash": "19.90", "points": 0}, "stock": 10,
                    "starts_at": "2026-09-01T10:00:00+08:00", "ends_at": "2026-09-01T12:00:00+08:00", "per_member_limit": 1,
                    "pay_within_minutes": 15}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(
            (body["remaining"].as_i64(), body["open"].as_bool()),
            (Some(10), Some(false))
        );
        let ids = members(&app, 300).await;
        let (status, body) = app
            .post(
                "/v1/flash-sales/mooncake/claims",
                json!({"member_id": ids[0], "idempotency_key": "c-1"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("sale_not_open")),
            "{body}"
        );
        let (status, body) = app.post("/v1/flash-sales", sale(&app, "rush", 10, 0)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let tasks: Vec<_> = ids
            .iter()
            .map(|&m| {
                let (http, base) = (flywheel_testkit::http(), app.addr());
                tokio::spawn(async move {
                    let r = http
                        .post(format!("http://{base}/v1/flash-sales/rush/claims"))
                        .bearer_auth(ADMIN)
                        .json(&json!({"member_id": m, "idempotency_key": format!("rush-{m}")}))
                        .send()
                        .await
                        .unwrap();
                    (r.status(), r.json::<Value>().await.unwrap())
                })
            })
            .collect();
        let mut won = Vec::new();
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                StatusCode::CREATED => won.push(body),
                StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "sold_out", "{body}"),
                other => panic!("{other}: {body}"),
            }
        }
        assert_eq!(won.len(), 10);
        let (_, rush) = app.get("/v1/flash-sales/rush").await;
        assert_eq!(
            (rush["remaining"].as_i64(), rush["held"].as_i64()),
            (Some(0), Some(10)),
            "{rush}"
        );
        // The same key again answers with the same claim; a second key hits the limit.
        let first = &won[0];
        let m = first["member_id"].as_i64().unwrap();
        let (status, again) = app
            .post(
                "/v1/flash-sales/rush/claims",
                json!({"member_id": m, "idempotency_key": format!("rush-{m}")}),
            )
            .await;
        assert_eq!(
            (status, again["id"].clone()),
            (StatusCode::OK, first["id"].clone())
        );
        // Paid, the claim stays; unpaid past 15 minutes, the others lapse and their units
        // go back on sale.
        let (status, paid) = app
            .post(
                &format!(
                    "/v1/flash-sales/rush/claims/{}/pay",
                    first["id"].as_str().unwrap()
                ),
                json!({"order_id": "FS-1"}),
            )
            .await;
        assert_eq!(
            (status, paid["status"].as_str()),
            (StatusCode::OK, Some("paid")),
            "{paid}"
        );
        let (status, body) = app
            .post(
                "/v1/flash-sales/rush/claims",
                json!({"member_id": m, "idempotency_key": "second"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("limit_reached")),
            "{body}"
        );
        app.advance(16 * MINUTE);
        let late = won[1]["id"].as_str().unwrap();
        let (status, body) = app
            .post(
                &format!("/v1/flash-sales/rush/claims/{late}/pay"),
                json!({}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("claim_expired")),
            "{body}"
        );
        let lapsed = app.store.lapse_flash_claims(app.now()).await.unwrap();
        assert_eq!(lapsed, 9);
        let (_, rush) = app.get("/v1/flash-sales/rush").await;
        assert_eq!(
            (
                rush["remaining"].as_i64(),
                rush["held"].as_i64(),
                rush["paid"].as_i64()
            ),
            (Some(9), Some(0), Some(1)),
            "{rush}"
        );
        let (status, _) = app
            .post(
                "/v1/flash-sales/rush/claims",
                json!({"member_id": ids[299], "idempotency_key": "after"}),
            )
            .await;
        assert!(status == StatusCode::CREATED || status == StatusCode::OK);
        let (_, claim) = app
            .get(&format!("/v1/flash-sales/rush/claims/{late}"))
            .await;
        assert_eq!(claim["status"], "lapsed", "{claim}");
    }
}

#[tokio::test]
async fn a_points_price_is_debited_once_when_the_claim_is_paid() {
    for app in TestApp::all().await {
        let m = members(&app, 1).await[0];
        let (status, body) = app
            .post("/v1/points/adjustments", json!({"member_id": m, "points": 150, "reason": "test", "idempotency_key": "fs-adj"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .post("/v1/flash-sales", sale(&app, "points", 5, 100))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (_, claim) = app
            .post(
                "/v1/flash-sales/points/claims",
                json!({"member_id": m, "idempotency_key": "p-1"}),
            )
            .await;
        let (_, before) = app.get(&format!("/v1/members/{m}/points")).await;
        let before = before["balance"].as_i64().unwrap();
        let path = format!(
            "/v1/flash-sales/points/claims/{}/pay",
            claim["id"].as_str().unwrap()
        );
        for _ in 0..2 {
            let (status, body) = app.post(&path, json!({"order_id": "FS-P"})).await;
            assert_eq!(
                (status, body["status"].as_str()),
                (StatusCode::OK, Some("paid")),
                "{body}"
            );
        }
        let (_, points) = app.get(&format!("/v1/members/{m}/points")).await;
        assert_eq!(points["balance"].as_i64(), Some(before - 100), "{points}");
        // Bad input is named.
        let mut bad = sale(&app, "bad", 0, 0);
        bad["stock"] = json!(0);
        let (status, body) = app.post("/v1/flash-sales", bad).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("stock")),
            "{body}"
        );
        let (status, body) = app
            .put("/v1/flash-sales/points", sale(&app, "points", 0, 100))
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("stock")),
            "{body}"
        );
        app.assert_books_balance().await;
    }
}
