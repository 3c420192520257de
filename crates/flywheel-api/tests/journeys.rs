//! Journeys and the outbox over real HTTP, on SQLite and PostgreSQL (issue 18), with a
//! clock the test moves: a journey on the third purchase starts once however often the
//! event is retried, its two-day wait fires once after a restart, quiet hours hold a
//! message until they end, a channel without consent gets nothing and says why, a
//! frequency cap stops the fourth message of a day, and a member's progress and messages
//! read back through the API.

mod common;

use common::TestApp;
use flywheel_core::Policy;
use flywheel_core::time::{DAY, SECOND, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

const HOUR: i64 = 3600 * SECOND;

/// The brand's policy with quiet hours off and the default caps.
fn loud() -> Policy {
    let mut p = Policy::default();
    p.engagement.quiet_start = "00:00".into();
    p.engagement.quiet_end = "00:00".into();
    p
}

async fn purchase(app: &TestApp, event_id: &str, phone: &str, order: &str) -> Value {
    app.send(
        json!({"event_id": event_id, "type": "purchase", "occurred_at": to_rfc3339(app.now()),
        "channel": "app", "identities": {"phone": phone},
        "properties": {"order_id": order, "amount": "30.00"}}),
    )
    .await
}

async fn messages(app: &TestApp, member: i64) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v1/outbox?member_id={member}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["messages"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_third_purchase_starts_one_journey_whose_wait_survives_a_restart() {
    for app in TestApp::all().await {
        let (status, body) = app
            .post(
                "/v1/content",
                json!({"id": "welcome-weak", "channel": "webhook", "subject": "Welcome",
                    "body": "Hi {{nickname}}, you have {{points.balance}} points."}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // The issue's example, as written.
        let (status, journey) = app
            .post(
                "/v1/journeys",
                json!({"id": "third-purchase", "name": "Welcome to weak", "status": "active", "reentry": "once",
                    "trigger": {"event": "purchase", "when": "purchases_within(365d) == 3"},
                    "steps": [{"wait": "2d"}, {"send": {"content": "welcome-weak"}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{journey}");
        assert_eq!(
            (journey["version"].as_i64(), journey["status"].as_str()),
            (Some(1), Some("active"))
        );

        // Two purchases start nothing; the third does, and sending it again (a retry)
        // and a fourth purchase change nothing.
        let member = purchase(&app, "p1", "13800138001", "o1").await["member_id"]
            .as_i64()
            .unwrap();
        purchase(&app, "p2", "13800138001", "o2").await;
        app.store
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        let (_, runs) = app.get(&format!("/v1/members/{member}/journeys")).await;
        assert_eq!(runs["journeys"], json!([]), "{runs}");
        let third = json!({"event_id": "p3", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
            "channel": "app", "identities": {"phone": "13800138001"},
            "properties": {"order_id": "o3", "amount": "30.00"}});
        for _ in 0..3 {
            app.send(third.clone()).await;
        }
        let report = app
            .store
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        assert_eq!(report.admitted, 1, "{report:?}");
        app.send(third.clone()).await;
        purchase(&app, "p4", "13800138001", "o4").await;
        app.store
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        let (_, runs) = app.get(&format!("/v1/members/{member}/journeys")).await;
        let list = runs["journeys"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{runs}");
        assert_eq!(list[0]["journey"], "third-purchase");
        assert_eq!(list[0]["status"], "active");
        assert_eq!(list[0]["step"], 1, "waiting after the wait step: {runs}");
        assert_eq!(list[0]["cause"], "event:p3");
        assert!(messages(&app, member).await.is_empty());

        // Two days on, a process started afresh sends the message, once.
        app.advance(2 * DAY + 60 * SECOND);
        let restarted = app.reopen().await;
        let report = restarted
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        assert_eq!(report.messages, 1, "{report:?}");
        restarted
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        app.store
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        let sent = messages(&app, member).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0]["status"], "queued");
        assert_eq!(sent[0]["channel"], "webhook");
        assert_eq!(sent[0]["journey"], "third-purchase");
        assert!(
            sent[0]["body"].as_str().unwrap().starts_with("Hi "),
            "rendered for the member: {sent:?}"
        );
        let (_, runs) = app.get(&format!("/v1/members/{member}/journeys")).await;
        assert_eq!(runs["journeys"][0]["status"], "done", "{runs}");
        assert_eq!(runs["journeys"][0]["next_at"], Value::Null);

        // A member on a fourth purchase never matches `== 3`; a fresh member's third
        // purchase starts their own run.
        for (i, e) in ["q1", "q2", "q3"].iter().enumerate() {
            purchase(&app, e, "13800138002", &format!("qo{i}")).await;
        }
        let report = app
            .store
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        assert_eq!(report.admitted, 1);
    }
}

#[tokio::test]
async fn do_not_disturb_holds_suppresses_and_caps_with_reasons() {
    for app in TestApp::all().await {
        for (id, channel) in [("hello-sms", "sms"), ("hello-hook", "webhook")] {
            let (status, body) = app
                .post(
                    "/v1/content",
                    json!({"id": id, "channel": channel, "body": "Hello {{member_id}}"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        // Four sends in a row on a visit: SMS (no consent recorded), then three webhooks.
        let (status, body) = app
            .post(
                "/v1/journeys",
                json!({"id": "chatty", "status": "active", "reentry": "always",
                    "trigger": {"event": "visit"},
                    "steps": [{"send": {"content": "hello-sms"}},
                              {"send": {"content": "hello-hook"}}, {"send": {"content": "hello-hook"}},
                              {"send": {"content": "hello-hook"}}, {"send": {"content": "hello-hook"}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let visit = |id: &str| {
            json!({"event_id": id, "type": "visit", "occurred_at": to_rfc3339(app.now()),
                "channel": "app", "identities": {"phone": "13900139000"}, "properties": {}})
        };
        let member = app.send(visit("v1")).await["member_id"].as_i64().unwrap();
        let mut policy = loud();
        policy.engagement.per_channel_per_day = 0;
        policy.engagement.per_channel_per_week = 0;
        policy.engagement.all_channels_per_day = 3;
        app.store
            .run_journeys(&policy, &app.base, app.now(), 100)
            .await
            .unwrap();
        let sent = messages(&app, member).await;
        let by_status: Vec<(String, String)> = sent
            .iter()
            .rev()
            .map(|m| {
                (
                    m["status"].as_str().unwrap().to_owned(),
                    m["reason"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert_eq!(
            by_status,
            vec![
                ("suppressed".to_owned(), "no_consent".to_owned()),
                ("queued".to_owned(), String::new()),
                ("queued".to_owned(), String::new()),
                ("queued".to_owned(), String::new()),
                ("suppressed".to_owned(), "frequency_cap_all_day".to_owned()),
            ],
            "SMS needs a grant; the fourth message of the day is capped: {sent:?}"
        );

        // A grant lets SMS through; quiet hours around now hold it until they end.
        let (status, body) = app
            .put(
                &format!("/v1/members/{member}/consent"),
                json!({"channel": "sms", "granted": true, "source": "app"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let offset = 8 * 60;
        let local = (app.now() / (60 * SECOND) + offset).rem_euclid(24 * 60);
        let hhmm = |m: i64| {
            format!(
                "{:02}:{:02}",
                m.rem_euclid(1440) / 60,
                m.rem_euclid(1440) % 60
            )
        };
        let mut quiet = policy.clone();
        quiet.engagement.quiet_start = hhmm(local - 60);
        quiet.engagement.quiet_end = hhmm(local + 60);
        app.advance(DAY);
        app.send(visit("v2")).await;
        app.store
            .run_journeys(&quiet, &app.base, app.now(), 100)
            .await
            .unwrap();
        let sent = messages(&app, member).await;
        let sms = sent
            .iter()
            .find(|m| m["channel"] == "sms" && m["status"] != "suppressed")
            .unwrap_or_else(|| panic!("an SMS after the grant: {sent:?}"));
        assert_eq!(sms["status"], "waiting", "{sms}");
        assert_eq!(sms["reason"], "quiet_hours");
        let send_at = flywheel_core::time::parse_rfc3339(sms["send_at"].as_str().unwrap()).unwrap();
        let wait = send_at - app.now();
        assert!(
            wait > 0 && wait <= HOUR + 60 * SECOND,
            "held until the quiet hours end, within the hour: {sms}"
        );
        // Nothing is claimed before then; at the end of quiet hours it is.
        let claimed = app
            .store
            .claim_messages(app.now(), 60 * SECOND, 100)
            .await
            .unwrap();
        assert!(
            claimed.iter().all(|c| c.message.channel != "sms"),
            "{claimed:?}"
        );
        let claimed = app
            .store
            .claim_messages(send_at, 60 * SECOND, 100)
            .await
            .unwrap();
        assert!(
            claimed.iter().any(|c| c.message.channel == "sms"),
            "{claimed:?}"
        );

        // Withdrawn consent beats the grant, and a paused journey starts nobody.
        app.put(
            &format!("/v1/members/{member}/consent"),
            json!({"channel": "sms", "granted": false, "source": "call_center"}),
        )
        .await;
        app.advance(DAY);
        app.send(visit("v3")).await;
        app.store
            .run_journeys(&policy, &app.base, app.now(), 100)
            .await
            .unwrap();
        let latest = messages(&app, member).await;
        let withdrawn = latest
            .iter()
            .find(|m| m["channel"] == "sms" && m["reason"] == "consent_withdrawn");
        assert!(withdrawn.is_some(), "{latest:?}");
        // On the suppression list for every channel: the webhook messages stop too,
        // each kept with the reason; off the list, they go again.
        let (status, listed) = app
            .put(
                &format!("/v1/members/{member}/suppressions/*"),
                json!({"reason": "asked on the complaint call never to be contacted"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{listed}");
        let (status, _) = app
            .put(
                &format!("/v1/members/{member}/suppressions/*"),
                json!({"reason": "again"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, list) = app
            .get(&format!("/v1/suppressions?member_id={member}"))
            .await;
        assert_eq!(list["suppressions"].as_array().unwrap().len(), 1, "{list}");
        app.advance(DAY);
        app.send(visit("v3b")).await;
        app.store
            .run_journeys(&policy, &app.base, app.now(), 100)
            .await
            .unwrap();
        let latest = messages(&app, member).await;
        let hooks: Vec<&Value> = latest
            .iter()
            .take(5)
            .filter(|m| m["channel"] == "webhook")
            .collect();
        assert!(
            hooks.len() == 4 && hooks.iter().all(|m| m["reason"] == "suppression_list"),
            "{latest:?}"
        );
        let (status, _) = app
            .call(
                "DELETE",
                &format!("/v1/members/{member}/suppressions/*"),
                Some(common::ADMIN),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = app
            .call(
                "DELETE",
                &format!("/v1/members/{member}/suppressions/*"),
                Some(common::ADMIN),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, bad) = app
            .put(
                &format!("/v1/members/{member}/suppressions/fax"),
                json!({"reason": "x"}),
            )
            .await;
        assert_eq!(
            (status, bad["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("channel"))
        );
        let (_, audit) = app.get("/v1/audit?kind=suppression").await;
        assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");

        let mut paused = app.get("/v1/journeys/chatty").await.1;
        paused["status"] = json!("paused");
        for k in [
            "version",
            "active_since",
            "created_at",
            "updated_at",
            "updated_by",
        ] {
            paused.as_object_mut().unwrap().remove(k);
        }
        let (status, body) = app.put("/v1/journeys/chatty", paused).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(
            body["version"], 1,
            "a status change keeps the version: {body}"
        );
        let before = messages(&app, member).await.len();
        app.advance(DAY);
        app.send(visit("v4")).await;
        app.store
            .run_journeys(&policy, &app.base, app.now(), 100)
            .await
            .unwrap();
        assert_eq!(messages(&app, member).await.len(), before);
    }
}

#[tokio::test]
async fn journeys_are_checked_field_by_field() {
    let app = TestApp::sqlite().await;
    let cases = [
        (
            json!({"id": "j", "trigger": {"event": "purchase"}, "steps": [{"send": {"content": "nope"}}]}),
            StatusCode::NOT_FOUND,
            "content_not_found",
            "steps[0].send.content",
        ),
        (
            json!({"id": "j", "trigger": {"event": "purchase", "when": "purchases_within(3"}, "steps": [{"wait": "1d"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_expression",
            "trigger.when",
        ),
        (
            json!({"id": "j", "trigger": {"stage": {"to": "super"}}, "steps": [{"wait": "2x"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "trigger.stage.to",
        ),
        (
            json!({"id": "j", "trigger": {"segment": "vip"}, "steps": [{"wait": "2x"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "steps[0].wait",
        ),
        (
            json!({"id": "j", "trigger": {"segment": "vip"}, "reentry": "twice", "steps": [{"wait": "2d"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "reentry",
        ),
        (
            json!({"id": "j", "status": "running", "trigger": {"segment": "vip"}, "steps": [{"wait": "2d"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "status",
        ),
        (
            json!({"id": "J!", "trigger": {"segment": "vip"}, "steps": [{"wait": "2d"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "id",
        ),
    ];
    for (body, status, code, field) in cases {
        let (got, answer) = app.post("/v1/journeys", body.clone()).await;
        assert_eq!(got, status, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    assert_eq!(app.get("/v1/journeys").await.1["journeys"], json!([]));
    let (status, _) = app.get("/v1/journeys/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Operators and admins write journeys; analysts read them; staff do not write.
    let staff = app.key(flywheel_core::auth::Role::Staff).await;
    let (status, _) = app
        .call(
            "POST",
            "/v1/journeys",
            Some(&staff),
            Some(json!({"id": "j", "trigger": {"segment": "vip"}, "steps": [{"wait": "2d"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.get("/v1/outbox?status=lost").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("status"))
    );
}

#[tokio::test]
async fn a_click_on_a_tracked_link_comes_back_as_the_members_content_click() {
    for app in TestApp::all().await {
        let (status, body) = app
            .post(
                "/v1/content",
                json!({"id": "new-menu", "channel": "wechat", "body": "Our autumn menu: {{link}}",
                    "link": "https://shop.example.com/autumn"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        app.post(
            "/v1/journeys",
            json!({"id": "menu", "status": "active", "trigger": {"event": "register"},
                "steps": [{"send": {"content": "new-menu"}}]}),
        )
        .await;
        let member = app
            .send(json!({"event_id": "r1", "type": "register", "occurred_at": to_rfc3339(app.now()),
                "channel": "mini_program", "identities": {"phone": "13700137000"}, "properties": {}}))
            .await["member_id"]
            .as_i64()
            .unwrap();
        app.store
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        let sent = messages(&app, member).await;
        let body = sent[0]["body"].as_str().unwrap();
        let link = body
            .strip_prefix("Our autumn menu: ")
            .unwrap_or_else(|| panic!("{body}"));
        assert!(link.starts_with(&format!("{}/l/", app.base)), "{link}");
        assert!(
            !body.contains("shop.example.com"),
            "the link is tracked: {body}"
        );

        // Followed: on to the content's link, and a content_click on the timeline.
        let browser = flywheel_testkit::http_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = browser.get(link).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert_eq!(
            resp.headers()["location"].to_str().unwrap(),
            "https://shop.example.com/autumn"
        );
        let (_, timeline) = app.get(&format!("/v1/members/{member}/timeline")).await;
        let click = timeline["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "content_click")
            .unwrap_or_else(|| panic!("{timeline}"));
        assert_eq!(click["properties"]["content_id"], "new-menu", "{click}");
        let (_, shown) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(shown["facts"]["content_clicks"], 1, "{shown}");
        let sent = messages(&app, member).await;
        assert!(sent[0]["clicked_at"].is_string(), "{sent:?}");
        assert_eq!(sent[0]["opened_at"], Value::Null);

        // The open image answers a GIF and records an open; a made-up token, nothing.
        let open = link.replace("/l/", "/o/");
        let resp = browser.get(&open).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "image/gif");
        assert!(messages(&app, member).await[0]["opened_at"].is_string());
        let forged = format!("{}/l/{}", app.base, "0".repeat(32));
        assert_eq!(
            browser.get(&forged).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );

        // Delivered, then three purchases two days later: a conversion, and the stage
        // rose (to weak, on the third).
        let claimed = app
            .store
            .claim_messages(app.now(), 60 * SECOND, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        app.store
            .record_delivery(
                &claimed[0],
                &flywheel_store::Delivery::Delivered("ok".into()),
                app.now(),
            )
            .await
            .unwrap();
        app.advance(2 * DAY);
        for i in 0..3 {
            purchase(
                &app,
                &format!("buy-after-{i}"),
                "13700137000",
                &format!("ba{i}"),
            )
            .await;
        }
        let (status, perf) = app.get("/v1/content/new-menu/performance?days=7").await;
        assert_eq!(status, StatusCode::OK, "{perf}");
        let counts: Vec<i64> = [
            "messages",
            "delivered",
            "opened",
            "clicked",
            "converted",
            "rose",
        ]
        .iter()
        .map(|k| perf[k].as_i64().unwrap())
        .collect();
        let (_, stages) = app.get(&format!("/v1/members/{member}/stages")).await;
        assert_eq!(counts, vec![1, 1, 1, 1, 1, 1], "{perf} {stages}");
        assert_eq!(perf["conversion_rate"], 1.0);
        let (_, by_journey) = app.get("/v1/journeys/menu/performance").await;
        assert_eq!(by_journey["converted"], 1, "{by_journey}");
        // Outside a one-day window, neither is the message's doing.
        let (_, narrow) = app.get("/v1/journeys/menu/performance?days=1").await;
        assert_eq!(
            (narrow["converted"].as_i64(), narrow["rose"].as_i64()),
            (Some(0), Some(0)),
            "{narrow}"
        );
        let (status, bad) = app.get("/v1/journeys/menu/performance?days=0").await;
        assert_eq!(
            (status, bad["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("days"))
        );
        let (status, _) = app.get("/v1/journeys/nope/performance").await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Open and click rates are facts the segment language reads: in SQL (a preview)
        // and in memory (a saved segment the member's next event evaluates).
        for (expression, count) in [
            ("click_rate >= 1", 1),
            ("click_rate(\"wechat\") > 0.5 and open_rate >= 1", 1),
            ("open_rate(\"email\") > 0", 0),
            ("not open_rate(\"email\") > 0", 1),
        ] {
            let (status, preview) = app
                .post("/v1/segments/preview", json!({"expression": expression}))
                .await;
            assert_eq!(status, StatusCode::OK, "{expression}: {preview}");
            assert_eq!(preview["count"], count, "{expression}: {preview}");
        }
        let (status, bad) = app
            .post(
                "/v1/segments/preview",
                json!({"expression": "open_rate(\"fax\") > 0"}),
            )
            .await;
        assert_eq!(
            (status, bad["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_expression"))
        );
        app.post(
            "/v1/segments",
            json!({"id": "clickers", "name": "Clickers", "expression": "click_rate >= 0.5"}),
        )
        .await;
        purchase(&app, "after-rates", "13700137000", "ar1").await;
        let (_, segs) = app.get(&format!("/v1/members/{member}/segments")).await;
        assert!(segs.to_string().contains("clickers"), "{segs}");
    }
}

#[tokio::test]
async fn segment_and_stage_triggers_run_tags_points_branches_and_goals() {
    for app in TestApp::all().await {
        app.post(
            "/v1/content",
            json!({"id": "thanks", "channel": "push", "body": "Thanks, you now have {{points.balance}} points"}),
        )
        .await;
        app.post(
            "/v1/content",
            json!({"id": "nudge", "channel": "push", "body": "We miss you"}),
        )
        .await;
        let (status, body) = app
            .post(
                "/v1/segments",
                json!({"id": "buyers", "name": "Buyers", "expression": "purchases_within(365d) >= 1"}),
            )
            .await;
        assert!(status.is_success(), "{body}");
        // On entering the segment: a tag, points through the ledger, a coupon, then a
        // branch on the tag just set.
        let (status, body) = app
            .post(
                "/v1/coupons",
                json!({"id": "welcome-5", "name": "5 off", "kind": "amount_off",
                "amount": "5.00", "valid_days": 30}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .post(
                "/v1/journeys",
                json!({"id": "no-coupon", "trigger": {"segment": "buyers", "on": "enter"},
                    "steps": [{"coupon": {"id": "nope"}}]}),
            )
            .await;
        assert_eq!(
            (
                status,
                body["error"]["code"].as_str(),
                body["error"]["field"].as_str()
            ),
            (
                StatusCode::NOT_FOUND,
                Some("coupon_not_found"),
                Some("steps")
            ),
            "{body}"
        );
        let (status, body) = app
            .post(
                "/v1/journeys",
                json!({"id": "welcome-buyer", "status": "active",
                    "trigger": {"segment": "buyers", "on": "enter"},
                    "steps": [{"tag": "welcomed"}, {"points": {"amount": 50, "rule": "welcome"}},
                              {"coupon": {"id": "welcome-5"}},
                              {"if": "tag(\"welcomed\")", "then": [{"send": {"content": "thanks"}}],
                               "else": [{"send": {"content": "nudge"}}]}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // On any stage change out of none: wait a day, then nudge, unless the goal (a
        // vip tag) is met by then.
        let (status, body) = app
            .post(
                "/v1/journeys",
                json!({"id": "first-steps", "status": "active", "goal": "tag(\"vip\")",
                    "trigger": {"stage": {"from": "none"}},
                    "steps": [{"wait": "1d"}, {"send": {"content": "nudge"}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        let member = purchase(&app, "b1", "13600136000", "bo1").await["member_id"]
            .as_i64()
            .unwrap();
        let report = app
            .store
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        assert_eq!(report.admitted, 2, "{report:?}");
        let (_, runs) = app.get(&format!("/v1/members/{member}/journeys")).await;
        let status_of = |id: &str| {
            runs["journeys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["journey"] == id)
                .map(|r| (r["status"].clone(), r["cause"].clone()))
                .unwrap_or_else(|| panic!("{id}: {runs}"))
        };
        assert_eq!(status_of("welcome-buyer").0, "done");
        assert!(
            status_of("welcome-buyer")
                .1
                .as_str()
                .unwrap()
                .starts_with("segment:buyers:enter:")
        );
        assert_eq!(status_of("first-steps").0, "active");
        assert!(
            status_of("first-steps")
                .1
                .as_str()
                .unwrap()
                .starts_with("stage:")
        );
        let (_, tags) = app.get(&format!("/v1/members/{member}/tags")).await;
        assert!(tags.to_string().contains("welcomed"), "{tags}");
        let (_, points) = app.get(&format!("/v1/members/{member}/points")).await;
        let balance = points["balance"].as_i64().unwrap();
        assert!(balance >= 50, "{points}");
        let sent = messages(&app, member).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0]["content"], "thanks", "the branch saw the tag");
        assert_eq!(
            sent[0]["body"],
            format!("Thanks, you now have {balance} points"),
            "rendered after the grant"
        );
        // Walking again grants nothing more (one ledger posting per step).
        app.store
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        let (_, again) = app.get(&format!("/v1/members/{member}/points")).await;
        assert_eq!(again["balance"].as_i64(), Some(balance));
        // …and issued one coupon code, once.
        let (_, codes) = app.get(&format!("/v1/members/{member}/coupons")).await;
        let codes = codes["coupons"].as_array().unwrap();
        assert_eq!(codes.len(), 1, "{codes:?}");
        assert_eq!(
            (&codes[0]["coupon_id"], &codes[0]["source"]),
            (&json!("welcome-5"), &json!("journey:welcome-buyer"))
        );

        // The goal is met before the wait ends: the member leaves without the nudge.
        let (status, body) = app
            .post(&format!("/v1/members/{member}/tags"), json!({"tag": "vip"}))
            .await;
        assert!(status.is_success(), "{body}");
        app.advance(DAY + 60 * SECOND);
        app.store
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        let (_, runs) = app.get(&format!("/v1/members/{member}/journeys")).await;
        let first = runs["journeys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["journey"] == "first-steps")
            .unwrap();
        assert_eq!(
            (first["status"].as_str(), first["reason"].as_str()),
            (Some("done"), Some("goal")),
            "{runs}"
        );
        assert_eq!(messages(&app, member).await.len(), 1);
    }
}

#[tokio::test]
async fn a_campaign_goes_out_once_per_occurrence_split_between_variants_and_a_holdout() {
    for app in TestApp::all().await {
        for id in ["autumn-a", "autumn-b"] {
            let (status, body) = app
                .post(
                    "/v1/content",
                    json!({"id": id, "channel": "webhook", "body": format!("{id}: mooncakes for {{{{nickname}}}}")}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        app.post(
            "/v1/segments",
            json!({"id": "buyers", "name": "Buyers", "expression": "purchases_within(365d) >= 1"}),
        )
        .await;
        let events: Vec<Value> = (0..60)
            .map(|i| {
                json!({"event_id": format!("c{i}"), "type": "purchase", "occurred_at": to_rfc3339(app.now()),
                    "channel": "app", "identities": {"phone": format!("1350000{i:04}")},
                    "properties": {"order_id": format!("co{i}"), "amount": "25.00"}})
            })
            .collect();
        let (status, body) = app
            .post("/v1/events/batch", json!({"events": events}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // Errors name their field; an unknown segment or content is a 404.
        let send_at = to_rfc3339(app.now() + HOUR);
        let (status, bad) = app
            .post(
                "/v1/campaigns",
                json!({"id": "autumn", "segment": "nobody", "send_at": send_at, "content": "autumn-a"}),
            )
            .await;
        assert_eq!(
            (status, bad["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("segment_not_found"))
        );
        let (status, bad) = app
            .post(
                "/v1/campaigns",
                json!({"id": "autumn", "segment": "buyers", "send_at": send_at,
                    "variants": [{"id": "a", "content": "autumn-x"}]}),
            )
            .await;
        assert_eq!(
            (status, bad["error"]["field"].as_str()),
            (StatusCode::NOT_FOUND, Some("variants[0].content"))
        );
        let (status, campaign) = app
            .post(
                "/v1/campaigns",
                json!({"id": "autumn", "name": "Mid-Autumn", "status": "scheduled", "segment": "buyers",
                    "send_at": send_at, "every": "7d", "holdout": 20,
                    "variants": [{"id": "a", "content": "autumn-a"}, {"id": "b", "content": "autumn-b"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{campaign}");

        // Not before its time; at its time, every member of the segment once.
        let report = app
            .store
            .run_campaigns(&loud(), &app.base, app.now())
            .await
            .unwrap();
        assert_eq!(report.members, 0);
        app.advance(HOUR + 60 * SECOND);
        let report = app
            .store
            .run_campaigns(&loud(), &app.base, app.now())
            .await
            .unwrap();
        assert_eq!(report.members, 60, "{report:?}");
        assert!(report.held_out > 0 && report.messages > 30, "{report:?}");
        assert_eq!(report.messages + report.held_out, 60);
        let again = app
            .store
            .run_campaigns(&loud(), &app.base, app.now())
            .await
            .unwrap();
        assert_eq!(again.members, 0, "an occurrence goes out once");
        let (_, results) = app.get("/v1/campaigns/autumn/results").await;
        let groups = results["groups"].as_array().unwrap();
        let names: Vec<&str> = groups
            .iter()
            .map(|g| g["variant"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["a", "b", "holdout"], "{results}");
        let members: i64 = groups.iter().map(|g| g["members"].as_i64().unwrap()).sum();
        assert_eq!(members, 60);
        let holdout = &groups[2];
        assert_eq!(
            holdout["members"].as_u64(),
            Some(report.held_out),
            "{results}"
        );
        let (_, sent) = app.get("/v1/outbox?limit=1000").await;
        let bodies: Vec<&str> = sent["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["body"].as_str())
            .filter(|b| b.contains("mooncakes"))
            .collect();
        assert_eq!(bodies.len() as u64, report.messages);

        // A week on, the next occurrence: the same members in the same groups.
        app.advance(7 * DAY);
        let second = app
            .store
            .run_campaigns(&loud(), &app.base, app.now())
            .await
            .unwrap();
        assert_eq!((second.members, second.held_out), (60, report.held_out));
        let (_, shown) = app.get("/v1/campaigns/autumn").await;
        assert_eq!(shown["occurrences_sent"], 2, "{shown}");
        let (_, results) = app.get("/v1/campaigns/autumn/results").await;
        assert_eq!(
            results["groups"][2]["members"].as_u64(),
            Some(2 * report.held_out)
        );
        let (status, _) = app.get("/v1/campaigns/nope/results").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_tier_change_starts_a_journey_by_ingest_and_by_hand() {
    for app in TestApp::all().await {
        let (status, body) = app
            .put(
                "/v1/programmes/club",
                json!({"name": "Club", "kind": "earned", "window_days": 365,
                    "tiers": [{"id": "silver", "name": "Silver", "rank": 1, "qualify": {"measure": "spend", "threshold": "1000.00"}},
                              {"id": "gold", "name": "Gold", "rank": 2, "qualify": {"measure": "spend", "threshold": "5000.00"}}],
                    "downgrade": {"policy": "recompute", "grace_days": 0}}),
            )
            .await;
        assert!(status.is_success(), "{body}");
        app.post(
            "/v1/content",
            json!({"id": "welcome-tier", "channel": "webhook", "body": "Welcome to {{tier}}"}),
        )
        .await;
        let (status, body) = app
            .post(
                "/v1/journeys",
                json!({"id": "new-tier", "status": "active", "reentry": "always",
                    "trigger": {"tier": {"programme": "club", "from": null}},
                    "steps": [{"send": {"content": "welcome-tier"}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, bad) = app
            .post(
                "/v1/journeys",
                json!({"id": "odd", "trigger": {"tier": {"from": "gold", "to": "gold"}},
                    "steps": [{"wait": "1d"}]}),
            )
            .await;
        assert_eq!(
            (status, bad["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("trigger.tier"))
        );
        // Spending past the threshold earns silver at ingest: the journey starts.
        let member = app
            .send(
                json!({"event_id": "big", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
                "channel": "store", "identities": {"phone": "13300133000"},
                "properties": {"order_id": "big1", "amount": "1200.00"}}),
            )
            .await["member_id"]
            .as_i64()
            .unwrap();
        app.store
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        let sent = messages(&app, member).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0]["body"], "Welcome to silver", "{sent:?}");
        // Staff raising the member to gold by hand is a change too.
        let (status, body) = app
            .put(
                &format!("/v1/members/{member}/memberships/club"),
                json!({"tier": "gold", "reason": "founding customer"}),
            )
            .await;
        assert!(status.is_success(), "{body}");
        app.advance(60 * SECOND);
        app.store
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        let (_, runs) = app.get(&format!("/v1/members/{member}/journeys")).await;
        let causes: Vec<&str> = runs["journeys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["cause"].as_str().unwrap())
            .collect();
        assert_eq!(causes.len(), 2, "{runs}");
        assert!(causes.iter().all(|c| c.starts_with("tier:club:")), "{runs}");
        assert_eq!(messages(&app, member).await.len(), 2);
    }
}

#[tokio::test]
async fn dates_relative_to_a_members_data_start_journeys_as_the_clock_reaches_them() {
    for app in TestApp::all().await {
        for (id, body) in [
            ("pram-service", "Your pram's first service is due in a week"),
            ("renew", "Your membership ends in a week"),
        ] {
            app.post(
                "/v1/content",
                json!({"id": id, "channel": "webhook", "body": body}),
            )
            .await;
        }
        // A pram needs a service 30 days after it is bought; the reminder goes 7 days
        // before. A paid membership is reminded of a week before it ends.
        for (id, expression) in [
            ("pram-service-due", r#"days_since_category("pram") >= 23d"#),
            ("renewal-due", r#"days_until_expiry("paid") <= 7d"#),
        ] {
            let (status, body) = app
                .post(
                    "/v1/segments",
                    json!({"id": id, "name": id, "expression": expression}),
                )
                .await;
            assert!(status.is_success(), "{body}");
            let (status, body) = app
                .post(
                    "/v1/journeys",
                    json!({"id": id, "status": "active", "trigger": {"segment": id},
                        "steps": [{"send": {"content": if id == "renewal-due" { "renew" } else { "pram-service" }}}]}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (status, body) = app
            .put(
                "/v1/programmes/paid",
                json!({"name": "Paid", "kind": "paid", "term": {"days": 365},
                 "tiers": [{"id": "V1", "name": "V1", "rank": 1, "fee": "99.00"}]}),
            )
            .await;
        assert!(status.is_success(), "{body}");
        let member = app
            .send(
                json!({"event_id": "pram", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
                "channel": "store", "identities": {"phone": "13200132000"},
                "properties": {"order_id": "pram1", "amount": "2999.00",
                    "items": [{"sku": "PRAM-1", "category": "pram", "qty": 1}]}}),
            )
            .await["member_id"]
            .as_i64()
            .unwrap();
        let (status, body) = app
            .post("/v1/memberships", json!({"member_id": member, "programme": "paid", "tier": "V1",
                                            "payment": {"cash": "99.00"}, "idempotency_key": "m-pram"}))
            .await;
        assert!(status.is_success(), "{body}");
        let pass = |app: &TestApp| {
            let (store, base, now) = (app.store.clone(), app.base.clone(), app.now());
            async move {
                store.sweep_segments(now).await.unwrap();
                store.run_journeys(&loud(), &base, now, 100).await.unwrap();
            }
        };
        let contents = |sent: &[Value]| -> Vec<String> {
            sent.iter()
                .map(|m| m["content"].as_str().unwrap().to_owned())
                .collect()
        };
        pass(&app).await;
        app.advance(22 * DAY);
        pass(&app).await;
        assert!(messages(&app, member).await.is_empty());
        app.advance(DAY + 60 * SECOND);
        pass(&app).await;
        assert_eq!(
            contents(&messages(&app, member).await),
            vec!["pram-service"]
        );
        // A week before the year ends, the renewal reminder; the pram's goes once.
        app.advance(335 * DAY);
        pass(&app).await;
        assert_eq!(
            contents(&messages(&app, member).await),
            vec!["renew", "pram-service"]
        );
        app.advance(3 * DAY);
        pass(&app).await;
        assert_eq!(messages(&app, member).await.len(), 2);
    }
}

#[tokio::test]
async fn a_template_recommends_the_best_seller_of_the_favourite_category_not_yet_bought() {
    for app in TestApp::all().await {
        let (status, body) = app
            .post(
                "/v1/content",
                json!({"id": "try-this", "channel": "webhook",
                    "body": "Fans of {{recommended.category}} love {{recommended.sku}}"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .post(
                "/v1/journeys",
                json!({"id": "recommend", "status": "active", "reentry": "always",
                    "trigger": {"event": "visit"},
                    "steps": [{"send": {"content": "try-this"}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // Other members make PUER tea's best seller, then OOLONG; TART leads cake.
        let mut n = 0;
        let mut buy = |phone: &str, items: Value| {
            n += 1;
            json!({"event_id": format!("buy{n}"), "type": "purchase",
                "occurred_at": to_rfc3339(app.now() - DAY), "channel": "store",
                "identities": {"phone": phone},
                "properties": {"order_id": format!("rec{n}"), "amount": "40.00", "items": items}})
        };
        let mut events = Vec::new();
        for (phone, sku, category) in [
            ("13100131001", "PUER", "tea"),
            ("13100131002", "PUER", "tea"),
            ("13100131003", "PUER", "tea"),
            ("13100131001", "OOLONG", "tea"),
            ("13100131002", "OOLONG", "tea"),
            ("13100131003", "TART", "cake"),
        ] {
            events.push(buy(
                phone,
                json!([{"sku": sku, "category": category}, {"sku": "BAG"}]),
            ));
        }
        // The tea drinker has PUER already: OOLONG is theirs.
        events.push(buy(
            "13100131009",
            json!([{"sku": "PUER", "category": "tea", "qty": 2}]),
        ));
        events.push(buy(
            "13100131009",
            json!([{"sku": "PUER", "category": "tea"}]),
        ));
        events.push(buy(
            "13100131009",
            json!([{"sku": "TART", "category": "cake"}]),
        ));
        for e in events {
            app.send(e).await;
        }
        let visit = |id: &str, phone: &str| {
            json!({"event_id": id, "type": "visit", "occurred_at": to_rfc3339(app.now()),
                "channel": "app", "identities": {"phone": phone}})
        };
        let drinker = app.send(visit("v1", "13100131009")).await["member_id"]
            .as_i64()
            .unwrap();
        let stranger = app.send(visit("v2", "13100131999")).await["member_id"]
            .as_i64()
            .unwrap();
        let (status, preview) = app
            .post(
                "/v1/content/try-this/preview",
                json!({"member_id": drinker}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        assert_eq!(preview["body"], "Fans of tea love OOLONG");
        app.store
            .run_journeys(&loud(), &app.base, app.now(), 100)
            .await
            .unwrap();
        let sent = messages(&app, drinker).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0]["body"], "Fans of tea love OOLONG");
        assert_eq!(sent[0]["status"], "queued");
        // Nothing bought, nothing to recommend: kept, with the reason, not sent blank.
        let none = messages(&app, stranger).await;
        assert_eq!(
            (none[0]["status"].as_str(), none[0]["reason"].as_str()),
            (Some("suppressed"), Some("no_recommendation")),
            "{none:?}"
        );
    }
}
