//! The tracking protocol (issue 21) over real HTTP: a write key as the Basic user name,
//! a gzip-compressed batch of identify, track, page and alias calls becomes one member
//! with its identities, purchases, review, stage and points; a replay changes nothing;
//! a call that cannot map is a dead letter (or, strict, a 400 naming the field).

mod common;

use common::TestApp;
use flywheel_core::auth::Role;
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write;

fn gzip(body: &Value) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body.to_string().as_bytes()).unwrap();
    enc.finish().unwrap()
}

/// Posts `body` as the libraries do: Basic auth with the write key, gzip optional.
async fn send(
    app: &TestApp,
    key: &str,
    path: &str,
    body: &Value,
    compress: bool,
) -> (StatusCode, Value) {
    let mut req = app
        .http
        .post(format!("{}{path}", app.base))
        .basic_auth(key, Some(""))
        .header("content-type", "application/json");
    req = if compress {
        req.header("content-encoding", "gzip").body(gzip(body))
    } else {
        req.body(body.to_string())
    };
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn order(n: u32, at: i64) -> Value {
    json!({"type": "track", "event": "Order Completed", "userId": "u-1", "messageId": format!("order-{n}"),
        "timestamp": to_rfc3339(at),
        "properties": {"order_id": format!("P-{n}"), "total": 120 + n, "currency": "CNY",
            "products": [{"product_id": "TEA-1", "name": "Oolong", "price": 60, "quantity": 2,
                          "category": "tea", "brand": "Leaf"}]}})
}

async fn member_by(app: &TestApp, kind: &str, value: &str) -> Value {
    let (status, doc) = app.get(&format!("/v1/members/lookup?{kind}={value}")).await;
    assert_eq!(status, StatusCode::OK, "{kind}={value}: {doc}");
    doc
}

#[tokio::test]
async fn the_libraries_calls_make_one_member_and_a_replay_changes_nothing() {
    for app in TestApp::all().await {
        let key = app.key(Role::Integrator).await;
        let now = app.now();
        // The app's anonymous visitor is seen first, then signs up and buys.
        let (status, body) = send(
            &app,
            &key,
            "/v1/page",
            &json!({"anonymousId": "anon-app-1", "name": "Home", "messageId": "page-0",
                    "timestamp": to_rfc3339(now - 5 * DAY)}),
            false,
        )
        .await;
        assert_eq!((status, &body), (StatusCode::OK, &json!({"success": true})));
        let visitor = member_by(&app, "anonymous_id", "anon-app-1").await["id"].clone();
        let batch = json!({
            "sentAt": to_rfc3339(now),
            "context": {"library": {"name": "analytics-python", "version": "2.3.4"}},
            "batch": [
                {"type": "identify", "userId": "u-1", "messageId": "id-1",
                 "timestamp": to_rfc3339(now - 4 * DAY),
                 "traits": {"name": "Lin Wei", "phone": "13800138111", "address": {"city": "Hangzhou"}}},
                order(1, now - 3 * DAY),
                order(2, now - 2 * DAY),
                order(3, now - DAY),
                {"type": "track", "event": "Product Reviewed", "userId": "u-1", "messageId": "rev-1",
                 "timestamp": to_rfc3339(now - DAY / 2),
                 "properties": {"product_id": "TEA-1", "rating": 5}},
                {"type": "alias", "previousId": "anon-app-1", "userId": "u-1", "messageId": "alias-1",
                 "timestamp": to_rfc3339(now - DAY / 4)},
                {"type": "track", "userId": "u-1", "messageId": "bad-1"},
                {"type": "track", "event": "Order Completed", "userId": "u-1", "messageId": "bad-2",
                 "properties": {"total": 10}}
            ]
        });
        let (status, body) = send(&app, &key, "/v1/batch", &batch, true).await;
        assert_eq!((status, &body), (StatusCode::OK, &json!({"success": true})));

        let doc = member_by(&app, "external_id", "u-1").await;
        let id = doc["id"].as_i64().unwrap();
        assert_eq!(member_by(&app, "phone", "13800138111").await["id"], id);
        assert_eq!(
            member_by(&app, "anonymous_id", "anon-app-1").await["id"],
            id,
            "the alias merged the visitor {visitor} into the user"
        );
        let facts = &doc["facts"];
        assert_eq!(facts["purchase_count"], 3, "{doc}");
        assert_eq!(facts["reviews"], 1, "{doc}");
        assert_eq!(doc["stage"], "weak", "{doc}");
        assert_eq!(doc["profile"]["city"], "Hangzhou", "{doc}");
        let (_, points) = app.get(&format!("/v1/members/{id}/points")).await;
        let balance = points["balance"].as_i64().unwrap_or_default()
            + points["pending"].as_i64().unwrap_or_default();
        assert!(balance >= 363, "the orders earned points: {points}");

        // The library retries the whole batch: nothing changes, no dead letter doubles.
        let (_, before) = app.get(&format!("/v1/members/{id}")).await;
        let (_, dead_before) = app.get("/v1/tracking/rejected").await;
        let (status, _) = send(&app, &key, "/v1/batch", &batch, false).await;
        assert_eq!(status, StatusCode::OK);
        let (_, after) = app.get(&format!("/v1/members/{id}")).await;
        assert_eq!(before["facts"], after["facts"]);
        let (_, points_after) = app.get(&format!("/v1/members/{id}/points")).await;
        assert_eq!(
            (&points["balance"], &points["pending"], &points["lots"]),
            (
                &points_after["balance"],
                &points_after["pending"],
                &points_after["lots"]
            )
        );
        let (_, dead) = app.get("/v1/tracking/rejected").await;
        assert_eq!(dead, dead_before);
        let calls = dead["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 2, "{dead}");
        let by_id = |m: &str| {
            calls
                .iter()
                .find(|c| c["message_id"] == m)
                .cloned()
                .unwrap_or_else(|| panic!("{m} in {dead}"))
        };
        let no_event = by_id("bad-1");
        assert_eq!(
            (&no_event["code"], &no_event["field"]),
            (&json!("missing_field"), &json!("event"))
        );
        assert_eq!(no_event["call"]["messageId"], "bad-1");
        let no_order = by_id("bad-2");
        assert_eq!(no_order["field"], "properties.order_id", "{no_order}");

        // Strict: the same mistake answers 400 naming the field, and keeps nothing.
        let (status, body) = send(
            &app,
            &key,
            "/v1/track?strict=1",
            &json!({"userId": "u-1", "messageId": "bad-3"}),
            false,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            (&body["error"]["code"], &body["error"]["field"]),
            (&json!("call_rejected"), &json!("event"))
        );
        let (_, dead) = app.get("/v1/tracking/rejected").await;
        assert_eq!(dead["calls"].as_array().unwrap().len(), 2);

        // Paging the dead letters by cursor.
        let (_, first) = app.get("/v1/tracking/rejected?limit=1").await;
        let cursor = first["next_cursor"].as_i64().expect("a next page");
        let (_, second) = app
            .get(&format!("/v1/tracking/rejected?limit=1&cursor={cursor}"))
            .await;
        assert_ne!(first["calls"][0]["id"], second["calls"][0]["id"]);

        // The protocol's limits, a key that is not one, and the mapping shown.
        let huge = json!({"userId": "u-1", "event": "Big", "messageId": "big",
                          "properties": {"blob": "x".repeat(40 * 1024)}});
        let (status, _) = send(&app, &key, "/v1/track", &huge, false).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let (status, _) = send(&app, &key, "/v1/batch", &json!({"batch": [huge]}), true).await;
        assert_eq!(status, StatusCode::OK);
        let (_, dead) = app.get("/v1/tracking/rejected?limit=1").await;
        assert_eq!(dead["calls"][0]["code"], "payload_too_large", "{dead}");
        let (status, _) = send(&app, "not-a-key", "/v1/batch", &batch, false).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // A dead letter's call is masked for a role that does not see contact details.
        let (status, _) = send(
            &app,
            &key,
            "/v1/identify",
            &json!({"userId": "u-2", "messageId": "bad-4", "timestamp": "last week",
                    "traits": {"phone": "13800138222"}}),
            false,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (_, seen) = app
            .call("GET", "/v1/tracking/rejected?limit=1", Some(&key), None)
            .await;
        let phone = seen["calls"][0]["call"]["traits"]["phone"]
            .as_str()
            .unwrap();
        assert_ne!(phone, "13800138222", "{seen}");
        assert_eq!(seen["calls"][0]["field"], "timestamp", "{seen}");
        let (status, mapping) = app.get("/v1/tracking/mapping").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(mapping["events"]["Order Completed"]["type"], "purchase");
        assert_eq!(mapping["user_id_kind"], "external_id");
    }
}
