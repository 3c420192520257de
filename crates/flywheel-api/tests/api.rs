//! The API over real HTTP, on SQLite and (when `FLYWHEEL_TEST_PG_URL` is set) on
//! PostgreSQL: the router served on port 0, driven with an HTTP client.

mod common;

use common::{ADMIN, TestApp};
use flywheel_core::auth::Role;
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `days` before the instant this test binary started: the same event built twice is
/// the same event (a resend), not one with another timestamp.
fn ago(days: i64) -> String {
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| chrono::Utc::now().timestamp_micros());
    to_rfc3339(start - days * DAY)
}

fn ev(
    id: &str,
    kind: &str,
    days_ago: i64,
    channel: &str,
    identities: Value,
    properties: Value,
) -> Value {
    json!({"event_id": id, "type": kind, "occurred_at": ago(days_ago), "channel": channel,
           "identities": identities, "properties": properties})
}

fn buy(id: &str, days_ago: i64, who: Value, amount: &str) -> Value {
    ev(
        id,
        "purchase",
        days_ago,
        "store",
        who,
        json!({"order_id": format!("O-{id}"), "amount": amount,
        "items": [{"sku": "ROAST-LATTE", "sub_brand": "roast_lab", "category": "espresso", "qty": 1, "price": amount}]}),
    )
}

#[tokio::test]
async fn every_v1_call_needs_a_key_and_a_role_that_allows_it() {
    for app in TestApp::all().await {
        let (status, body) = app.call("GET", "/v1/stats/stages", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            json!({"error": {"code": "unauthorized", "message": "send an API key as 'Authorization: Bearer KEY' (or as the user name of HTTP Basic, as tracking libraries send their write key)", "field": null}})
        );
        let (status, body) = app
            .call("GET", "/v1/stats/stages", Some("fw_nope"), None)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized"))
        );
        let integrator = app.key(Role::Integrator).await;
        let (status, _) = app
            .call(
                "POST",
                "/v1/events",
                Some(&integrator),
                Some(ev(
                    "a",
                    "like",
                    1,
                    "app",
                    json!({"app_user_id": "u1"}),
                    json!({}),
                )),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "integrators push events");
        let (status, body) = app
            .call("GET", "/v1/members/1", Some(&integrator), None)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden"))
        );
        let read_only = app.key(Role::ReadOnly).await;
        let (status, _) = app
            .call(
                "POST",
                "/v1/events",
                Some(&read_only),
                Some(ev(
                    "b",
                    "like",
                    1,
                    "app",
                    json!({"app_user_id": "u1"}),
                    json!({}),
                )),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = app.call("GET", "/health", None, None).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("ok"))
        );
        // The engine and its version, as the database itself reports it.
        let engine = body["database_version"].as_str().unwrap_or_default();
        let expected = match body["database"].as_str() {
            Some("sqlite") => "SQLite 3.",
            _ => "PostgreSQL ",
        };
        assert!(engine.starts_with(expected), "{engine}");
        assert!(
            engine[expected.len()..].starts_with(|c: char| c.is_ascii_digit()),
            "{engine}"
        );
    }
}

#[tokio::test]
async fn one_person_across_channels_becomes_one_member_and_old_ids_resolve() {
    for app in TestApp::all().await {
        let shop = app
            .send(buy(
                "s1",
                20,
                json!({"tmall_nick": "yantao", "phone": "13800138000"}),
                "59.00",
            ))
            .await;
        let mini = app
            .send(ev(
                "m1",
                "check_in",
                15,
                "mini_program",
                json!({"wechat_openid": "oYan", "phone": "+86 138-0013-8000"}),
                json!({}),
            ))
            .await;
        assert_eq!(
            mini["member_id"], shop["member_id"],
            "same phone on the shop and the mini-program"
        );
        let weibo = app
            .send(ev(
                "w1",
                "like",
                10,
                "weibo",
                json!({"weibo_uid": "sanshou"}),
                json!({}),
            ))
            .await;
        assert_ne!(weibo["member_id"], shop["member_id"]);
        let bound = app
            .send(ev(
                "w2",
                "follow",
                5,
                "weibo",
                json!({"weibo_uid": "sanshou", "phone": "+8613800138000"}),
                json!({}),
            ))
            .await;
        assert_eq!(bound["member_id"], shop["member_id"]);

        let (status, doc) = app
            .get(&format!("/v1/members/{}", weibo["member_id"]))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            doc["id"], shop["member_id"],
            "a merged-away id answers with the survivor"
        );
        assert_eq!(doc["merged_from"], json!([weibo["member_id"]]));
        assert_eq!(doc["facts"]["purchase_count"], 1);
        assert_eq!(doc["facts"]["total_spent"], "59.00");
        assert_eq!(doc["facts"]["likes"], 1);
        let kinds: Vec<&str> = doc["identities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["phone", "wechat_openid", "weibo_uid", "tmall_nick"]);

        let (status, found) = app
            .get("/v1/members/lookup?phone=%2B86%20138%200013%208000")
            .await;
        assert_eq!((status, &found["id"]), (StatusCode::OK, &shop["member_id"]));
        let (status, body) = app.get("/v1/members/lookup?email=nobody@example.com").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("member_not_found"))
        );
        let (status, body) = app.get("/v1/members/lookup?fax=123").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("unknown_identity_kind")
            )
        );

        let (_, page) = app
            .get(&format!(
                "/v1/members/{}/timeline?limit=3",
                shop["member_id"]
            ))
            .await;
        let ids: Vec<&str> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["w2", "w1", "m1"]);
        let (_, rest) = app
            .get(&format!(
                "/v1/members/{}/timeline?limit=3&cursor={}",
                shop["member_id"],
                page["next"].as_str().unwrap()
            ))
            .await;
        assert_eq!(rest["events"][0]["event_id"], "s1");
        assert_eq!(rest["next"], Value::Null);
    }
}

#[tokio::test]
async fn a_retried_event_changes_nothing_and_says_duplicate() {
    for app in TestApp::all().await {
        let e = buy("d1", 1, json!({"card_no": "C1"}), "10.00");
        let first = app.send(e.clone()).await;
        let again = app.send(e).await;
        assert_eq!(first["duplicate"], false);
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["member_id"], first["member_id"]);
        let (_, doc) = app
            .get(&format!("/v1/members/{}", first["member_id"]))
            .await;
        assert_eq!(doc["facts"]["purchase_count"], 1);
        // The same order under another event id is refused, not counted twice.
        let (status, body) = app
            .post(
                "/v1/events",
                ev(
                    "d2",
                    "purchase",
                    1,
                    "store",
                    json!({"card_no": "C1"}),
                    json!({"order_id": "O-d1", "amount": "10.00"}),
                ),
            )
            .await;
        assert_eq!(
            (
                status,
                body["error"]["code"].as_str(),
                body["error"]["field"].as_str()
            ),
            (
                StatusCode::CONFLICT,
                Some("order_exists"),
                Some("properties.order_id")
            )
        );
        // The same event_id with other content is refused, alone or in a batch, and the
        // first event's data stands.
        let changed = buy("d1", 1, json!({"card_no": "C2"}), "99.00");
        let (status, body) = app.post("/v1/events", changed.clone()).await;
        assert_eq!(
            (
                status,
                body["error"]["code"].as_str(),
                body["error"]["field"].as_str()
            ),
            (
                StatusCode::CONFLICT,
                Some("event_id_reused"),
                Some("event_id")
            ),
            "{body}"
        );
        let fresh = buy("d3", 1, json!({"card_no": "C3"}), "1.00");
        let (status, body) = app
            .post(
                "/v1/events/batch",
                json!({"events": [fresh.clone(), changed]}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "event_id_reused");
        assert_eq!(body["error"]["details"][0]["index"], 1, "{body}");
        let mut twice = fresh.clone();
        twice["properties"]["amount"] = json!("2.00");
        let (status, body) = app
            .post("/v1/events/batch", json!({"events": [fresh, twice]}))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("event_id_reused")),
            "{body}"
        );
        let (status, _) = app.get("/v1/members/lookup?card_no=C3").await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "nothing of the refused batches was written"
        );
        let (_, doc) = app
            .get(&format!("/v1/members/{}", first["member_id"]))
            .await;
        assert_eq!(doc["facts"]["total_spent"], "10.00", "{doc}");
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_writes_nothing() {
    for app in TestApp::all().await {
        let (status, body) = app.call("POST", "/v1/events", Some(ADMIN), None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_json"))
        );
        let resp = app
            .http
            .post(format!("{}/v1/events", app.base))
            .bearer_auth(ADMIN)
            .body("{\"event_id\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

        let (status, body) = app
            .post(
                "/v1/events",
                json!({"event_id": "x", "type": "review", "occurred_at": ago(1), "channel": "jd",
            "identities": {"jd_pin": "p1"}, "properties": {"rating": 9}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body,
            json!({"error": {"code": "out_of_range", "field": "properties.rating",
            "message": "properties.rating must be an integer from 1 to 5",
            "details": [{"field": "properties.rating", "code": "out_of_range", "message": "properties.rating must be an integer from 1 to 5"}]}})
        );

        let cases = [
            (
                json!({"type": "like", "occurred_at": ago(1), "channel": "app", "identities": {"app_user_id": "u"}}),
                "event_id",
                "missing_field",
            ),
            (
                json!({"event_id": "e", "type": "like", "occurred_at": "2026-01-01", "channel": "app", "identities": {"app_user_id": "u"}}),
                "occurred_at",
                "invalid_timestamp",
            ),
            (
                json!({"event_id": "e", "type": "like", "occurred_at": ago(-2), "channel": "app", "identities": {"app_user_id": "u"}}),
                "occurred_at",
                "occurred_at_in_future",
            ),
            (
                json!({"event_id": "e", "type": "like", "occurred_at": ago(1), "channel": "fax", "identities": {"app_user_id": "u"}}),
                "channel",
                "unknown_channel",
            ),
            (
                json!({"event_id": "e", "type": "like", "occurred_at": ago(1), "channel": "app", "identities": {"phone": "12"}}),
                "identities.phone",
                "invalid_identity",
            ),
            (
                json!({"event_id": "e", "type": "like", "occurred_at": ago(1), "channel": "app", "identities": {"email": "no-at"}}),
                "identities.email",
                "invalid_identity",
            ),
            (
                json!({"event_id": "e", "type": "purchase", "occurred_at": ago(1), "channel": "app", "identities": {"app_user_id": "u"}, "properties": {"order_id": "o", "amount": "-3"}}),
                "properties.amount",
                "negative_amount",
            ),
            (
                json!({"event_id": "e", "type": "purchase", "occurred_at": ago(1), "channel": "app", "identities": {"app_user_id": "u"}, "properties": {"order_id": "o", "amount": 3}}),
                "properties.amount",
                "invalid_amount",
            ),
            (
                json!({"event_id": "e", "type": "feedback", "occurred_at": ago(1), "channel": "app", "identities": {"app_user_id": "u"}, "properties": {"kind": "rant"}}),
                "properties.kind",
                "invalid_value",
            ),
            (
                json!({"event_id": "e", "type": "message", "occurred_at": ago(1), "channel": "app", "identities": {"app_user_id": "u"}, "properties": {}}),
                "properties.direction",
                "missing_field",
            ),
            (
                json!({"event_id": "e", "type": "Like!", "occurred_at": ago(1), "channel": "app", "identities": {"app_user_id": "u"}}),
                "type",
                "invalid_value",
            ),
            (json!([1, 2]), "event", "invalid_type"),
        ];
        for (event, field, code) in cases {
            let (status, body) = app.post("/v1/events", event.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{event}");
            assert_eq!(
                (
                    body["error"]["field"].as_str(),
                    body["error"]["code"].as_str()
                ),
                (Some(field), Some(code)),
                "{event} → {body}"
            );
        }
        let (_, stats) = app.get("/v1/stats/stages").await;
        assert_eq!(stats["total"], 0, "nothing was written");
        let big = "x".repeat(2 << 20);
        let resp = app
            .http
            .post(format!("{}/v1/events", app.base))
            .bearer_auth(ADMIN)
            .body(big)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let (status, body) = app.get("/v1/members/abc").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_member_id"))
        );
        let (status, body) = app.get("/v1/members/999999").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("member_not_found"))
        );
        let (status, body) = app.get("/v1/nothing-here").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
        let (status, body) = app.call("DELETE", "/v1/events", Some(ADMIN), None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
        );
    }
}

#[tokio::test]
async fn a_batch_is_all_or_nothing_with_every_problem_listed() {
    for app in TestApp::all().await {
        let good = |i: usize| {
            ev(
                &format!("b{i}"),
                "like",
                1,
                "app",
                json!({"app_user_id": format!("u{i}")}),
                json!({}),
            )
        };
        let mut events: Vec<Value> = (0..5).map(good).collect();
        events[1]["channel"] = json!("fax");
        events[3]["identities"] = json!({});
        events[3]["occurred_at"] = json!("never");
        let (status, body) = app
            .post("/v1/events/batch", json!({"events": events}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["code"], "invalid_events");
        let details: Vec<(u64, &str)> = body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["index"].as_u64().unwrap(), d["field"].as_str().unwrap()))
            .collect();
        assert_eq!(
            details,
            [(1, "channel"), (3, "occurred_at"), (3, "identities")]
        );
        let (_, stats) = app.get("/v1/stats/stages").await;
        assert_eq!(stats["total"], 0);

        let events: Vec<Value> = (0..5).map(good).collect();
        let (status, body) = app
            .post("/v1/events/batch", json!({"events": events}))
            .await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"accepted": 5, "duplicates": 0}))
        );
        let mut again: Vec<Value> = (3..7).map(good).collect();
        again.push(good(6));
        let (_, body) = app.post("/v1/events/batch", json!({"events": again})).await;
        assert_eq!(body, json!({"accepted": 2, "duplicates": 3}));

        let too_many: Vec<Value> = (0..10_001).map(|_| json!({})).collect();
        let (status, body) = app
            .post("/v1/events/batch", json!({"events": too_many}))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("too_many_events"))
        );
        let (status, body) = app.post("/v1/events/batch", json!({"evnts": []})).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("events"))
        );
    }
}

#[tokio::test]
async fn stages_move_up_jump_and_fall_and_each_move_names_its_rule() {
    for app in TestApp::all().await {
        let inviter = json!({"phone": "13800138000"});
        let first = app
            .send(ev("f", "follow", 60, "wechat", inviter.clone(), json!({})))
            .await;
        assert_eq!(
            (first["stage"].as_str(), first["lens"].as_str()),
            (Some("micro"), Some("shallow"))
        );
        for (i, d) in [50, 40, 30].into_iter().enumerate() {
            app.send(buy(&format!("p{i}"), d, inviter.clone(), "30.00"))
                .await;
        }
        let me = first["member_id"].clone();
        let (_, doc) = app.get(&format!("/v1/members/{me}")).await;
        assert_eq!(doc["stage"], "weak");
        // Weak jumps straight to super-strong when an invitee buys.
        app.send(ev(
            "r",
            "referral",
            20,
            "wechat",
            json!({"phone": "13900139000"}),
            json!({"referrer": inviter}),
        ))
        .await;
        let invitee = app
            .send(buy("q", 10, json!({"phone": "13900139000"}), "12.00"))
            .await;
        assert_ne!(invitee["member_id"], me);
        let (_, doc) = app.get(&format!("/v1/members/{me}")).await;
        assert_eq!(
            (doc["stage"].as_str(), doc["lens"].as_str()),
            (Some("super_strong"), Some("iron"))
        );
        assert_eq!(doc["facts"]["referrals_converted"], 1);

        // An unresolved complaint older than 14 days caps the member at weak.
        app.send(ev(
            "c",
            "feedback",
            16,
            "call_center",
            json!({"phone": "13800138000"}),
            json!({"kind": "complaint", "category": "service"}),
        ))
        .await;
        let (_, history) = app.get(&format!("/v1/members/{me}/stages")).await;
        let moves: Vec<(&str, &str, &str)> = history["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["from"].as_str().unwrap(),
                    t["to"].as_str().unwrap(),
                    t["rule"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            moves,
            [
                ("none", "micro", "micro"),
                ("micro", "weak", "weak"),
                ("weak", "super_strong", "super_strong"),
                ("super_strong", "weak", "cap:complaint_open_14d")
            ]
        );
        let last = history["transitions"].as_array().unwrap().last().unwrap();
        assert!(
            last["reason"]
                .as_str()
                .unwrap()
                .contains("oldest open complaint > 14 days ago (saw 16 days)"),
            "{last}"
        );
        assert_eq!(last["event_id"], "c");
        app.send(ev(
            "cr",
            "complaint_resolved",
            0,
            "call_center",
            json!({"phone": "13800138000"}),
            json!({"complaint_event_id": "c"}),
        ))
        .await;
        let (_, doc) = app.get(&format!("/v1/members/{me}")).await;
        assert_eq!(doc["stage"], "super_strong");

        let (_, stats) = app.get("/v1/stats/stages").await;
        assert_eq!(stats["total"], 2);
        assert_eq!(stats["stages"]["super_strong"], 1);
        assert_eq!(stats["stages"]["micro"], 1);
        assert_eq!(stats["stages"]["strong"], 0);
        assert_eq!(stats["lenses"]["iron"], 1);
        assert_eq!(stats["lenses"]["deep"], 1);
    }
}

#[tokio::test]
async fn a_refused_merge_waits_for_a_person_who_can_merge_or_dismiss_it() {
    for app in TestApp::all().await {
        let a = app
            .send(ev(
                "a",
                "follow",
                3,
                "app",
                json!({"phone": "13800138000", "app_user_id": "u1"}),
                json!({}),
            ))
            .await;
        let b = app
            .send(ev(
                "b",
                "follow",
                2,
                "app",
                json!({"phone": "13900139000", "wechat_openid": "o2"}),
                json!({}),
            ))
            .await;
        app.send(ev(
            "c",
            "like",
            1,
            "app",
            json!({"app_user_id": "u1", "wechat_openid": "o2"}),
            json!({}),
        ))
        .await;
        let (status, list) = app.get("/v1/identity-conflicts").await;
        assert_eq!(status, StatusCode::OK);
        let conflict = &list["conflicts"][0];
        assert_eq!(conflict["kind"], "phone");
        let mut members: Vec<i64> = conflict["member_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_i64().unwrap())
            .collect();
        members.sort();
        assert_eq!(
            members,
            [
                a["member_id"].as_i64().unwrap(),
                b["member_id"].as_i64().unwrap()
            ]
        );
        assert_eq!(conflict["status"], "open");
        assert!(
            conflict["explanation"]
                .as_str()
                .unwrap()
                .contains("may hold only one"),
            "{conflict}"
        );

        let staff = app.key(Role::Staff).await;
        let merge = json!({"member_id": b["member_id"], "reason": "confirmed at the till"});
        let (status, _) = app
            .call(
                "POST",
                &format!("/v1/members/{}/merge", a["member_id"]),
                Some(&staff),
                Some(merge.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = app
            .post(
                &format!("/v1/members/{}/merge", a["member_id"]),
                json!({"member_id": b["member_id"]}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
        );
        let (status, doc) = app
            .post(
                &format!("/v1/members/{}/merge", a["member_id"]),
                merge.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{doc}");
        assert_eq!(doc["identities"].as_array().unwrap().len(), 4);
        assert_eq!(doc["merged_from"], json!([b["member_id"]]));
        let (status, body) = app
            .post(&format!("/v1/members/{}/merge", a["member_id"]), merge)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("already_merged"))
        );
        let (_, list) = app.get("/v1/identity-conflicts?status=merged").await;
        assert_eq!(list["conflicts"][0]["resolved_by"], "env-admin");

        // Another conflict, dismissed: different people.
        app.send(ev(
            "d",
            "follow",
            3,
            "app",
            json!({"phone": "13700137000", "card_no": "K1"}),
            json!({}),
        ))
        .await;
        app.send(ev(
            "e",
            "like",
            1,
            "store",
            json!({"phone": "13600136000", "card_no": "K1"}),
            json!({}),
        ))
        .await;
        let (_, list) = app.get("/v1/identity-conflicts").await;
        let id = list["conflicts"][0]["id"].as_i64().unwrap();
        let (status, c) = app
            .post(
                &format!("/v1/identity-conflicts/{id}/dismiss"),
                json!({"reason": "two people share a card"}),
            )
            .await;
        assert_eq!(
            (status, c["status"].as_str()),
            (StatusCode::OK, Some("dismissed"))
        );
        let (status, _) = app
            .post(
                &format!("/v1/identity-conflicts/{id}/dismiss"),
                json!({"reason": "again"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_the_docs_work_offline() {
    let app = TestApp::sqlite().await;
    let (status, doc) = app.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    for p in [
        "/health",
        "/v1/events",
        "/v1/events/batch",
        "/v1/members/{id}",
        "/v1/members/lookup",
        "/v1/members/{id}/timeline",
        "/v1/members/{id}/stages",
        "/v1/identity-conflicts",
        "/v1/identity-conflicts/{id}/dismiss",
        "/v1/members/{id}/merge",
        "/v1/stats/stages",
    ] {
        assert!(
            paths.iter().any(|k| k.as_str() == p),
            "{p} missing from {paths:?}"
        );
    }
    let html = app
        .http
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    let page = html.text().await.unwrap();
    assert!(
        page.contains("swagger-ui") && !page.contains("https://"),
        "the docs page loads nothing from the internet"
    );
}

#[tokio::test]
async fn look_alike_identities_are_one_member_and_names_refuse_invisible_tricks() {
    for app in TestApp::all().await {
        let plain = app
            .send(ev(
                "la1",
                "like",
                1,
                "tmall",
                json!({"tmall_nick": "yantao"}),
                json!({}),
            ))
            .await;
        for (i, nick) in ["yan\u{200B}tao", "\u{202E}yantao", "ｙａｎｔａｏ"]
            .iter()
            .enumerate()
        {
            let again = app
                .send(ev(
                    &format!("la{}", i + 2),
                    "like",
                    1,
                    "tmall",
                    json!({"tmall_nick": nick}),
                    json!({}),
                ))
                .await;
            assert_eq!(again["member_id"], plain["member_id"], "{nick:?}");
        }
        let (status, body) = app
            .post(
                "/v1/events",
                ev(
                    "la9",
                    "register",
                    1,
                    "app",
                    json!({"app_user_id": "u-la"}),
                    json!({"name": "Li\u{202E}Wei"}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "properties.name");
        let (status, body) = app
            .post(
                "/v1/rewards",
                json!({"id": "mug", "name": "Mug\u{7}", "kind": "gift", "points_cost": 10}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("name"))
        );
    }
}
