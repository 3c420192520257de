//! Tags and segments over real HTTP, on SQLite and PostgreSQL: the scripted scenario of
//! issue 16 — segments over purchases, stages, tags and windows; an event moving a
//! member in at once; a window passing and the sweep taking them out; counts equal to an
//! independent count of the events sent; previews writing nothing; malformed
//! expressions answered 422 with a position; staff and imported tags in expressions and
//! exports; and who may do what.

mod common;

use common::TestApp;
use flywheel_core::auth::Role;
use flywheel_core::time::{DAY, to_rfc3339};
use flywheel_store::TagImportLine;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

async fn event(
    app: &TestApp,
    id: &str,
    kind: &str,
    days_ago: i64,
    phone: &str,
    props: Value,
) -> i64 {
    let body = app
        .send(json!({"event_id": id, "type": kind, "occurred_at": to_rfc3339(app.now() - days_ago * DAY),
                     "channel": "app", "identities": {"phone": phone}, "properties": props}))
        .await;
    body["member_id"].as_i64().unwrap()
}

async fn buy(app: &TestApp, id: &str, days_ago: i64, phone: &str, amount: &str) -> i64 {
    event(app, id, "purchase", days_ago, phone,
          json!({"order_id": format!("o-{id}"), "amount": amount, "items": [{"sku": "TEA-1", "category": "tea"}]}))
    .await
}

async fn members_of(app: &TestApp, id: &str) -> Vec<i64> {
    let (status, body) = app
        .get(&format!("/v1/segments/{id}/members?limit=1000"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut v: Vec<i64> = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_id"].as_i64().unwrap())
        .collect();
    v.sort_unstable();
    v
}

async fn define(app: &TestApp, id: &str, expression: &str) -> Value {
    let (status, body) = app
        .post(
            "/v1/segments",
            json!({"id": id, "name": id, "expression": expression}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body
}

#[tokio::test]
async fn the_segment_scenario_on_both_databases() {
    for app in TestApp::all().await {
        // Five buyers at various distances in time, one of them twice; a liker.
        let a = buy(&app, "p-a", 3, "13800000001", "88.00").await;
        let b = buy(&app, "p-b", 25, "13800000002", "12.00").await;
        let c = buy(&app, "p-c", 45, "13800000003", "30.00").await;
        buy(&app, "p-c2", 44, "13800000003", "30.00").await;
        let d = buy(&app, "p-d", 200, "13800000004", "500.00").await;
        let e = event(&app, "l-e", "like", 1, "13800000005", json!({})).await;

        let seg = define(&app, "recent_buyers", "purchases_within(30d) >= 1").await;
        assert_eq!(seg["status"], "ready", "{seg}");
        assert_eq!(seg["count"], 2);
        // Independently: the events sent with a purchase in the last 30 days.
        assert_eq!(members_of(&app, "recent_buyers").await, vec![a, b]);
        define(&app, "repeat", "purchase_count >= 2").await;
        assert_eq!(members_of(&app, "repeat").await, vec![c]);
        define(&app, "big_or_vip", r#"total_spent >= 100 or tag("vip")"#).await;
        assert_eq!(members_of(&app, "big_or_vip").await, vec![d]);
        define(&app, "engaged", "stage >= micro and not open_complaint").await;

        let (status, one) = app.get("/v1/segments/recent_buyers").await;
        assert_eq!(status, StatusCode::OK);
        for field in ["id", "name", "expression", "count", "status", "changed_at"] {
            assert!(one.get(field).is_some(), "{field} in {one}");
        }

        // An event brings a member in at once: the members, the member's segments and
        // the feed all show it in the answer's transaction.
        buy(&app, "p-e", 0, "13800000005", "5.00").await;
        assert_eq!(members_of(&app, "recent_buyers").await, vec![a, b, e]);
        let (_, mine) = app.get(&format!("/v1/members/{e}/segments")).await;
        let ids: Vec<&str> = mine["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"recent_buyers"), "{mine}");
        assert!(mine["segments"][0]["entered_at"].is_string());
        let (_, feed) = app.get("/v1/segments/recent_buyers/changes").await;
        assert_eq!(feed["changes"][0]["member_id"], e);
        assert_eq!(feed["changes"][0]["change"], "entered");
        assert_eq!(feed["changes"][0]["cause"], "event:p-e");

        // The window passes for b (25 days ago): after the sweep, b has left.
        app.advance(6 * DAY);
        app.store.sweep_segments(app.now()).await.unwrap();
        assert_eq!(members_of(&app, "recent_buyers").await, vec![a, e]);
        let (_, feed) = app.get("/v1/segments/recent_buyers/changes?limit=1").await;
        assert_eq!(feed["changes"][0]["member_id"], b);
        assert_eq!(feed["changes"][0]["change"], "left");
        assert_eq!(feed["changes"][0]["cause"], "clock");
        let next = feed["next"].as_str().unwrap().to_owned();
        let (_, page2) = app
            .get(&format!(
                "/v1/segments/recent_buyers/changes?limit=1&cursor={next}"
            ))
            .await;
        assert_ne!(page2["changes"][0], feed["changes"][0]);

        // Preview counts and writes nothing.
        let (_, before) = app.get("/v1/segments").await;
        let (status, p) = app
            .post(
                "/v1/segments/preview",
                json!({"expression": "purchase_count >= 1"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{p}");
        assert_eq!(p["count"], 5);
        assert_eq!(p["sample"].as_array().unwrap().len(), 5);
        let (_, after) = app.get("/v1/segments").await;
        assert_eq!(before, after);

        // Staff tag a member; an import tags another; both show in expressions and exports.
        let staff = app.key(Role::Staff).await;
        let (status, tagged) = app
            .call(
                "POST",
                &format!("/v1/members/{a}/tags"),
                Some(&staff),
                Some(json!({"tag": "vip", "note": "knows every blend"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{tagged}");
        assert_eq!(tagged["tags"][0]["source"], "staff");
        let lines = vec![TagImportLine {
            line: 2,
            identity_key: "phone:+8613800000003".into(),
            tag: "vip".into(),
        }];
        let (set, rejected) = app
            .store
            .import_tags(&lines, "fair.csv", app.now())
            .await
            .unwrap();
        assert_eq!((set, rejected.len()), (1, 0));
        assert_eq!(members_of(&app, "big_or_vip").await, vec![a, c, d]);
        let (_, tags) = app.get("/v1/tags").await;
        assert_eq!(tags["tags"][0]["tag"], "vip");
        assert_eq!(tags["tags"][0]["members"], 2);
        let csv = app
            .http
            .get(format!("{}/v1/segments/big_or_vip/export", app.base))
            .bearer_auth(common::ADMIN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            csv.starts_with("member_id,entered_at,identities\n"),
            "{csv}"
        );
        assert!(csv.contains("phone:+8613800000003"), "{csv}");
        assert_eq!(csv.lines().count(), 4);
        // Staff see the export with phones masked.
        let masked = app
            .http
            .get(format!("{}/v1/segments/big_or_vip/export", app.base))
            .bearer_auth(&staff)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!masked.contains("13800000003"), "{masked}");

        // Removing the tag moves the member out at once.
        let (status, _) = app
            .call(
                "DELETE",
                &format!("/v1/members/{a}/tags/vip"),
                Some(&staff),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(members_of(&app, "big_or_vip").await, vec![c, d]);
        let (status, body) = app
            .call(
                "DELETE",
                &format!("/v1/members/{a}/tags/vip"),
                Some(&staff),
                None,
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "tag_not_found")
        );

        // Staff tag but do not define segments; read-only keys only read.
        let (status, body) = app
            .call(
                "POST",
                "/v1/segments",
                Some(&staff),
                Some(json!({"id": "x", "name": "x", "expression": "likes >= 1"})),
            )
            .await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
        let ro = app.key(Role::ReadOnly).await;
        let (status, _) = app
            .call(
                "POST",
                &format!("/v1/members/{a}/tags"),
                Some(&ro),
                Some(json!({"tag": "x"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app
            .call("GET", "/v1/segments/recent_buyers/members", Some(&ro), None)
            .await;
        assert_eq!(status, StatusCode::OK);

        // Changing a definition answers 202 and refills; deleting a segment another reads
        // is refused.
        let (status, body) = app
            .put(
                "/v1/segments/repeat",
                json!({"name": "Repeat buyers", "expression": "purchase_count >= 1"}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["version"], 2);
        assert_eq!(members_of(&app, "repeat").await.len(), 5);
        define(
            &app,
            "repeat_vips",
            r#"in_segment("repeat") and tag("vip")"#,
        )
        .await;
        assert_eq!(members_of(&app, "repeat_vips").await, vec![c]);
        let (status, body) = app
            .call("DELETE", "/v1/segments/repeat", Some(common::ADMIN), None)
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "segment_in_use")
        );
        let (status, _) = app
            .call(
                "DELETE",
                "/v1/segments/repeat_vips",
                Some(common::ADMIN),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = app.get("/v1/segments/repeat_vips").await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "segment_not_found")
        );

        // The audit log has the definitions and the tags people changed.
        let (_, audit) = app.get("/v1/audit?kind=segment").await;
        assert!(audit["entries"].as_array().unwrap().len() >= 6, "{audit}");
        let (_, audit) = app.get("/v1/audit?kind=member_tag").await;
        assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");
    }
}

#[tokio::test]
async fn malformed_expressions_are_answered_with_where_and_why() {
    let app = TestApp::sqlite().await;
    let cases = [
        ("stage >= 5", 1, 10),
        ("purchase_count >= 1 and\n  (likes > 2", 2, 13),
        ("purchase_cuont >= 1", 1, 1),
        ("likes", 1, 6),
        ("purchases_within(400d) >= 1", 1, 18),
        ("likes >= 1 likes", 1, 12),
        ("tag(vip)", 1, 5),
        ("", 1, 1),
    ];
    for (expression, line, column) in cases {
        for path in ["/v1/segments/preview", "/v1/segments"] {
            let body = if path.ends_with("preview") {
                json!({"expression": expression})
            } else {
                json!({"id": "bad", "name": "bad", "expression": expression})
            };
            let (status, answer) = app.post(path, body).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{expression}: {answer}"
            );
            let e = &answer["error"];
            assert_eq!(e["code"], "invalid_expression", "{expression}: {answer}");
            assert_eq!(e["field"], "expression");
            assert_eq!(
                (e["line"].as_i64(), e["column"].as_i64()),
                (Some(line), Some(column)),
                "{expression}: {answer}"
            );
            assert!(
                e["message"].as_str().unwrap().contains("expected"),
                "{answer}"
            );
        }
    }
    let (_, answer) = app
        .post("/v1/segments/preview", json!({"expression": "stage >= 5"}))
        .await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("none, micro, weak, strong, super_strong"),
        "{answer}"
    );
    // Nothing was saved by any of them.
    let (_, list) = app.get("/v1/segments").await;
    assert!(list["segments"].as_array().unwrap().is_empty(), "{list}");
}

#[tokio::test]
async fn tags_and_segments_refuse_what_they_cannot_take() {
    let app = TestApp::sqlite().await;
    let m = event(&app, "v1", "visit", 0, "13800000009", json!({})).await;
    let cases: Vec<(&str, &str, Value, StatusCode, &str)> = vec![
        (
            "POST",
            "/v1/members/1x/tags",
            json!({"tag": "vip"}),
            StatusCode::BAD_REQUEST,
            "invalid_member_id",
        ),
        (
            "POST",
            "/v1/members/999/tags",
            json!({"tag": "vip"}),
            StatusCode::NOT_FOUND,
            "member_not_found",
        ),
        (
            "POST",
            "/v1/members/{m}/tags",
            json!({"tag": "has space"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_tag",
        ),
        (
            "POST",
            "/v1/members/{m}/tags",
            json!({"tag": "diet:vegan"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_tag",
        ),
        (
            "POST",
            "/v1/members/{m}/tags",
            json!({"tag": "vip", "colour": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_field",
        ),
        (
            "POST",
            "/v1/members/{m}/tags",
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
        ),
        (
            "POST",
            "/v1/segments",
            json!({"id": "Bad Id", "name": "x", "expression": "likes >= 1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            "POST",
            "/v1/segments",
            json!({"name": "x", "expression": "likes >= 1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
        ),
        (
            "POST",
            "/v1/segments",
            json!({"id": "t", "name": "x", "expression": "likes >= 1", "tag": "a:b:c"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_tag",
        ),
        (
            "POST",
            "/v1/segments",
            json!({"id": "t", "name": "x", "expression": r#"in_segment("nope")"#}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_expression",
        ),
        (
            "PUT",
            "/v1/segments/t",
            json!({"id": "u", "name": "x", "expression": "likes >= 1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            "PUT",
            "/v1/tags/dimensions/diet",
            json!({"name": "Diet", "multiple": "yes"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_type",
        ),
        (
            "PUT",
            "/v1/tags/dimensions/a:b",
            json!({"name": "Diet", "multiple": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            "PUT",
            "/v1/tags/dimensions/diet",
            json!({"name": "Diet", "multiple": true, "values": ["ok", "not ok"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
        ),
        (
            "GET",
            "/v1/segments/nope/members",
            Value::Null,
            StatusCode::NOT_FOUND,
            "segment_not_found",
        ),
        (
            "GET",
            "/v1/segments/nope/changes",
            Value::Null,
            StatusCode::NOT_FOUND,
            "segment_not_found",
        ),
        (
            "GET",
            "/v1/members/999/segments",
            Value::Null,
            StatusCode::NOT_FOUND,
            "member_not_found",
        ),
        (
            "DELETE",
            "/v1/members/{m}/tags/vip",
            Value::Null,
            StatusCode::NOT_FOUND,
            "tag_not_found",
        ),
        (
            "DELETE",
            "/v1/segments/nope",
            Value::Null,
            StatusCode::NOT_FOUND,
            "segment_not_found",
        ),
    ];
    for (method, path, body, status, want) in cases {
        let path = path.replace("{m}", &m.to_string());
        let body = (!body.is_null()).then_some(body);
        let (got, answer) = app.call(method, &path, Some(common::ADMIN), body).await;
        assert_eq!(
            (got, code(&answer)),
            (status, want),
            "{method} {path}: {answer}"
        );
    }
    define(&app, "s1", "likes >= 1").await;
    let (status, body) = app
        .post(
            "/v1/segments",
            json!({"id": "s1", "name": "other", "expression": "likes >= 2"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "segment_exists")
    );
    let (status, _) = app
        .post(
            "/v1/segments",
            json!({"id": "s1", "name": "s1", "expression": "likes >= 1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/v1/segments/s1/members?cursor=zzz").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_cursor")
    );
    let (status, body) = app.get("/v1/segments/s1/members?limit=0").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
    // A one-value dimension replaces its value.
    let (status, body) = app
        .put(
            "/v1/tags/dimensions/life_stage",
            json!({"name": "Life stage", "multiple": false, "values": ["student", "new_parent"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.post(
        &format!("/v1/members/{m}/tags"),
        json!({"tag": "life_stage:student"}),
    )
    .await;
    let (status, body) = app
        .post(
            &format!("/v1/members/{m}/tags"),
            json!({"tag": "life_stage:new_parent"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let tags: Vec<&str> = body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, vec!["life_stage:new_parent"]);
    let (status, _) = app
        .post(
            &format!("/v1/members/{m}/tags"),
            json!({"tag": "life_stage:new_parent"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn points_tiers_and_merges_move_segments_in_their_own_transactions() {
    for app in TestApp::all().await {
        let a = event(&app, "v-a", "visit", 1, "13800000021", json!({})).await;
        define(&app, "holders", "points_balance >= 100").await;
        define(&app, "v1s", r#"tier("paid") = "V1""#).await;
        let (status, body) = app
            .post(
                "/v1/points/adjustments",
                json!({"member_id": a, "points": 150, "reason": "goodwill",
                                                  "idempotency_key": "adj-1"}),
            )
            .await;
        assert!(status.is_success(), "{body}");
        assert_eq!(members_of(&app, "holders").await, vec![a]);
        let (_, feed) = app.get("/v1/segments/holders/changes").await;
        assert_eq!(feed["changes"][0]["cause"], "points");

        let (status, body) = app
            .put(
                "/v1/programmes/paid",
                json!({"name": "Paid", "kind": "paid", "term": {"days": 365},
                 "tiers": [{"id": "V1", "name": "V1", "rank": 1, "fee": "99.00"}]}),
            )
            .await;
        assert!(status.is_success(), "{body}");
        let (status, body) = app
            .post("/v1/memberships", json!({"member_id": a, "programme": "paid", "tier": "V1",
                                            "payment": {"cash": "99.00"}, "idempotency_key": "m-1"}))
            .await;
        assert!(status.is_success(), "{body}");
        assert_eq!(members_of(&app, "v1s").await, vec![a]);
        // The term ends a year on: the sweep past it takes the member out.
        app.advance(400 * DAY);
        app.store.sweep_segments(app.now()).await.unwrap();
        assert!(members_of(&app, "v1s").await.is_empty());

        // A member merged by hand leaves its segments; its tags go to the survivor.
        let b = event(&app, "v-b", "visit", 0, "13800000022", json!({})).await;
        app.post(&format!("/v1/members/{b}/tags"), json!({"tag": "vip"}))
            .await;
        define(&app, "vips", r#"tag("vip")"#).await;
        assert_eq!(members_of(&app, "vips").await, vec![b]);
        let (status, body) = app
            .post(
                &format!("/v1/members/{a}/merge"),
                json!({"member_id": b, "reason": "same person at the till"}),
            )
            .await;
        assert!(status.is_success(), "{body}");
        assert_eq!(members_of(&app, "vips").await, vec![a]);
    }
}

#[tokio::test]
async fn influencers_rank_by_reach_whatever_they_spend() {
    for app in TestApp::all().await {
        let kol = event(
            &app,
            "kol",
            "profile_update",
            1,
            "13800000031",
            json!({"followers": 1_200_000}),
        )
        .await;
        let fan = event(
            &app,
            "fan",
            "profile_update",
            1,
            "13800000032",
            json!({"followers": 300}),
        )
        .await;
        let buyer = buy(&app, "big", 1, "13800000033", "9000.00").await;
        // The fan's shares bring two people in; one buys.
        for (i, phone) in ["13800000034", "13800000035"].iter().enumerate() {
            app.send(json!({"event_id": format!("ref{i}"), "type": "referral", "occurred_at": to_rfc3339(app.now() - DAY),
                            "channel": "app", "identities": {"phone": phone},
                            "properties": {"referrer": {"phone": "13800000032"}}}))
                .await;
        }
        buy(&app, "ref-buy", 0, "13800000034", "10.00").await;
        let (status, body) = app.get("/v1/influencers").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ids: Vec<i64> = body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["member_id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![kol, fan]);
        let (_, body) = app.get("/v1/influencers?by=referrals").await;
        assert_eq!(body["members"][0]["member_id"], fan, "{body}");
        assert_eq!(body["members"][0]["referrals_converted"], 1, "{body}");
        assert!(
            !body["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["member_id"] == buyer)
        );
        let (status, body) = app.get("/v1/influencers?by=spend").await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_query")
        );
        // The built-in segment holds the one with a million followers.
        app.store.ensure_builtin_segments(app.now()).await.unwrap();
        app.store.fill_segments(app.now(), 100).await.unwrap();
        assert_eq!(members_of(&app, "influencers").await, vec![kol]);
    }
}
