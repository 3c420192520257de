//! Channels and sources are the brand's (issue 21, item 5): a configured channel list
//! takes a channel the built-in one lacks and refuses one it dropped, in events, in
//! tracking calls and in the segment language; each member's first event records what
//! brought them (a `source` property, or a tracking call's `context.campaign`), shown on
//! the member and counted by source in members, first purchases and stages.

mod common;

use common::TestApp;
use flywheel_core::Channel;
use flywheel_core::auth::Role;
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A brand that sells in its stores, its app and on Vipshop and Bilibili, and nowhere else.
fn brand_channels(mut state: flywheel_api::AppState) -> flywheel_api::AppState {
    let mut policy = (*state.policy).clone();
    policy.channels = ["store", "app", "vipshop", "bilibili"]
        .iter()
        .map(|c| Channel::new(c).unwrap())
        .collect();
    policy.segments.owned_channels = vec![Channel::STORE, Channel::APP];
    policy.validate().unwrap();
    state.policy = std::sync::Arc::new(policy);
    state
}

fn event(id: &str, kind: &str, at: i64, channel: &str, phone: &str, props: Value) -> Value {
    json!({"event_id": id, "type": kind, "occurred_at": to_rfc3339(at), "channel": channel,
           "identities": {"phone": phone}, "properties": props})
}

async fn track(app: &TestApp, key: &str, call: Value) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(format!("{}/v1/track?strict=1", app.base))
        .basic_auth(key, Some(""))
        .json(&call)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn member(app: &TestApp, kind: &str, value: &str) -> Value {
    let (status, doc) = app.get(&format!("/v1/members/lookup?{kind}={value}")).await;
    assert_eq!(status, StatusCode::OK, "{kind}={value}: {doc}");
    doc
}

#[tokio::test]
async fn the_brands_channel_list_is_the_one_events_calls_and_segments_speak() {
    for app in TestApp::all_with(brand_channels).await {
        let now = app.now();
        let (status, body) = app
            .post(
                "/v1/events",
                event("v-1", "visit", now, "vipshop", "13700000001", json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = app
            .post(
                "/v1/events",
                event("t-1", "visit", now, "tmall", "13700000001", json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "unknown_channel");
        assert_eq!(body["error"]["field"], "channel");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("store, app, vipshop, bilibili"),
            "{message}"
        );

        // A tracking call's context names the channel when the brand lists it.
        let key = app.key(Role::Integrator).await;
        let (status, body) = track(
            &app,
            &key,
            json!({"userId": "u-bili", "event": "Video Played", "messageId": "bili-1",
                   "context": {"channel": "bilibili"}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let fan = member(&app, "external_id", "u-bili").await;
        assert_eq!(fan["facts"]["channels"], json!({"bilibili": 1}));

        // The segment language knows the list, and platforms are the ones not owned.
        let (status, body) = app
            .post(
                "/v1/segments/preview",
                json!({"expression": "channel(\"vipshop\") >= 1 and platform_channel_events >= 1"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["count"], 1, "{body}");
        let (status, body) = app
            .post(
                "/v1/segments/preview",
                json!({"expression": "channel(\"tmall\") >= 1"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.to_string().contains("vipshop"), "{body}");
    }
}

#[tokio::test]
async fn the_first_event_says_what_brought_a_member_and_the_report_counts_by_source() {
    for app in TestApp::all().await {
        let now = app.now();
        let key = app.key(Role::Integrator).await;
        let packaging =
            json!({"source": {"kind": "qr", "name": "tin-2026", "medium": "packaging"}});
        // Two came from the QR code on the tin; one of them buys three times.
        for (n, phone) in ["13700000011", "13700000012"].iter().enumerate() {
            let (status, body) = app
                .post(
                    "/v1/events",
                    event(
                        &format!("scan-{n}"),
                        "follow",
                        now - 10 * DAY,
                        "wechat",
                        phone,
                        packaging.clone(),
                    ),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        for n in 0..3 {
            let props = json!({"order_id": format!("tin-order-{n}"), "amount": "88.00",
                               "source": "autumn-sale"});
            let (status, body) = app
                .post(
                    "/v1/events",
                    event(
                        &format!("buy-{n}"),
                        "purchase",
                        now - (5 - n) * DAY,
                        "store",
                        "13700000011",
                        props,
                    ),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let buyer = member(&app, "phone", "13700000011").await;
        assert_eq!(
            buyer["source"],
            json!({"kind": "qr", "name": "tin-2026", "medium": "packaging", "platform": null,
                   "at": to_rfc3339(now - 10 * DAY)}),
            "a later event's source does not take the credit"
        );

        // An app visitor from a Bilibili video (the UTM fields in context.campaign).
        let (status, body) = track(
            &app,
            &key,
            json!({"type": "page", "anonymousId": "anon-utm", "messageId": "utm-page",
                   "timestamp": to_rfc3339(now - DAY),
                   "context": {"campaign": {"name": "spring-tea", "source": "bilibili", "medium": "video"}}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let visitor = member(&app, "anonymous_id", "anon-utm").await;
        assert_eq!(visitor["source"]["kind"], "campaign");
        assert_eq!(visitor["source"]["name"], "spring-tea");
        assert_eq!(visitor["source"]["platform"], "bilibili");

        // Someone who named no source.
        let (status, _) = app
            .post(
                "/v1/events",
                event("walk-in", "visit", now, "store", "13700000013", json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);

        // A malformed source is refused, naming the field, and writes nothing.
        let (status, body) = app
            .post(
                "/v1/events",
                event(
                    "bad-src",
                    "visit",
                    now,
                    "store",
                    "13700000014",
                    json!({"source": {"kind": "billboard", "name": "x"}}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "properties.source.kind");
        let (status, _) = app.get("/v1/members/lookup?phone=13700000014").await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (status, report) = app.get("/v1/stats/sources").await;
        assert_eq!(status, StatusCode::OK, "{report}");
        let rows = report["sources"].as_array().unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["tin-2026", "spring-tea"], "{report}");
        let tin = &rows[0];
        assert_eq!(
            (&tin["kind"], &tin["members"], &tin["buyers"]),
            (&json!("qr"), &json!(2), &json!(1))
        );
        assert_eq!(tin["buyer_share"], 0.5);
        // Each of the two is counted at the stage it has reached, every stage listed.
        let other = member(&app, "phone", "13700000012").await;
        let mut expected: serde_json::Map<String, Value> =
            ["none", "micro", "weak", "strong", "super_strong"]
                .iter()
                .map(|s| (s.to_string(), json!(0)))
                .collect();
        for m in [&buyer, &other] {
            let stage = m["stage"].as_str().unwrap().to_owned();
            let n = expected[&stage].as_i64().unwrap();
            expected.insert(stage, json!(n + 1));
        }
        assert_eq!(tin["stages"], Value::Object(expected));
        assert_ne!(buyer["stage"], other["stage"], "the buyer went further");
        assert_eq!(report["unattributed"]["members"], 1, "{report}");
        assert_eq!(report["unattributed"]["kind"], Value::Null);

        // A reader without stats permission is refused the report.
        let staff = app.key(Role::Staff).await;
        let (status, _) = app
            .call("GET", "/v1/stats/sources", Some(&staff), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}
