//! Service over real HTTP, on SQLite and PostgreSQL (issue 19), with a clock the test
//! moves: a complaint about delivery lands in the delivery queue with its targets, once
//! however often the event is retried; the clock passes the response target and the
//! sweep flags the ticket breached; resolving it closes the member's complaint at once;
//! a queue's working hours carry a Friday-evening complaint's target to Monday; staff
//! open, comment on, assign and reopen tickets, and a retry never writes twice; a
//! complaint answered in time, then a purchase, makes a complainer won back.

mod common;

use common::TestApp;
use flywheel_core::time::{DAY, SECOND, parse_rfc3339, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

const HOUR: i64 = 3600 * SECOND;

fn complaint(app: &TestApp, id: &str, phone: &str, category: &str, at: i64) -> Value {
    let _ = app;
    json!({"event_id": id, "type": "feedback", "occurred_at": to_rfc3339(at), "channel": "app",
        "identities": {"phone": phone},
        "properties": {"kind": "complaint", "category": category, "text": "The parcel came late"}})
}

async fn queues(app: &TestApp) {
    // As the issue writes it: round the clock in Shanghai.
    let (status, body) = app
        .put(
            "/v1/queues/delivery",
            json!({"name": "Delivery", "categories": ["delivery"], "respond_within_hours": 4,
                "resolve_within_hours": 48,
                "working_hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                    "from": "00:00", "to": "24:00", "time_zone": "Asia/Shanghai"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["working_hours"]["time_zone"], "Asia/Shanghai");
    let (status, body) = app
        .put(
            "/v1/queues/product",
            json!({"name": "Product", "categories": ["product", "quality"], "team": "Product QA",
                "respond_within_hours": 4, "resolve_within_hours": 16,
                "working_hours": {"days": ["mon", "tue", "wed", "thu", "fri"],
                    "from": "09:00", "to": "18:00", "time_zone": "Asia/Shanghai"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .put(
            "/v1/queues/general",
            json!({"categories": ["*"], "respond_within_hours": 8, "resolve_within_hours": 72}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_delivery_complaint_is_routed_breached_and_resolved_with_the_member_at_once() {
    for app in TestApp::all().await {
        queues(&app).await;
        let opened = app.now();
        let event = complaint(&app, "c1", "13900139001", "delivery", opened);
        let member = app.send(event.clone()).await["member_id"].as_i64().unwrap();
        // Retried: still one ticket.
        let again = app.send(event).await;
        assert_eq!(again["duplicate"], true);
        let (status, list) = app.get(&format!("/v1/members/{member}/tickets")).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let tickets = list["tickets"].as_array().unwrap();
        assert_eq!(tickets.len(), 1, "{list}");
        let t = &tickets[0];
        assert_eq!(
            (
                t["queue"].as_str(),
                t["kind"].as_str(),
                t["status"].as_str()
            ),
            (Some("delivery"), Some("complaint"), Some("open"))
        );
        assert_eq!(t["text"], "The parcel came late");
        let at = |v: &Value| parse_rfc3339(v.as_str().unwrap()).unwrap();
        assert_eq!(at(&t["respond_by"]), opened + 4 * HOUR);
        assert_eq!(at(&t["resolve_by"]), opened + 48 * HOUR);
        let id = t["id"].as_i64().unwrap();
        let (_, doc) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(doc["facts"]["open_complaints"], 1, "{doc}");

        // Past the response target with no answer: the sweep flags it, once.
        app.advance(4 * HOUR + SECOND);
        let flagged = app.store.flag_ticket_breaches(app.now()).await.unwrap();
        assert_eq!(flagged.iter().map(|t| t.id).collect::<Vec<_>>(), vec![id]);
        assert!(
            app.store
                .flag_ticket_breaches(app.now())
                .await
                .unwrap()
                .is_empty()
        );
        let (_, breached) = app.get("/v1/tickets?breached=true&queue=delivery").await;
        assert_eq!(
            breached["tickets"].as_array().unwrap().len(),
            1,
            "{breached}"
        );
        assert_eq!(breached["tickets"][0]["response_breached"], true);
        let (_, fine) = app.get("/v1/tickets?breached=false").await;
        assert!(fine["tickets"].as_array().unwrap().is_empty(), "{fine}");

        // Answered, then resolved: the complaint closes on the member at once.
        let (status, body) = app
            .post(
                &format!("/v1/tickets/{id}/respond"),
                json!({"note": "Called; a new parcel goes out today"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "responded");
        assert!(body["response_hours"].as_f64().unwrap() >= 4.0, "{body}");
        let (status, body) = app
            .post(
                &format!("/v1/tickets/{id}/resolve"),
                json!({"note": "Delivered"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "resolved");
        let (_, doc) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(doc["facts"]["open_complaints"], 0, "{doc}");
        assert_eq!(doc["facts"]["complaints_resolved"], 1);
        assert_eq!(
            doc["facts"]["complaints_resolved_in_time"], 0,
            "breached: not in time"
        );
        // Resolving again changes nothing and sends nothing.
        let (status, body) = app
            .post(&format!("/v1/tickets/{id}/resolve"), json!({}))
            .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("resolved"))
        );
        let (_, doc) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(doc["facts"]["complaints_resolved"], 1);
        let (_, full) = app.get(&format!("/v1/tickets/{id}")).await;
        let kinds: Vec<&str> = full["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            vec!["response_breached", "respond", "resolve"],
            "{full}"
        );

        // Reopened: a complaint again, with a new resolution target from now.
        let (status, body) = app
            .post(
                &format!("/v1/tickets/{id}/reopen"),
                json!({"note": "Box was damaged"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["status"].as_str(), body["reopened"].as_i64()),
            (Some("responded"), Some(1))
        );
        assert_eq!(body["resolution_breached"], false);
        let (_, doc) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(doc["facts"]["open_complaints"], 1, "{doc}");
        app.post(&format!("/v1/tickets/{id}/resolve"), json!({}))
            .await;
        let (_, doc) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(doc["facts"]["open_complaints"], 0, "{doc}");
        assert_eq!(doc["facts"]["complaints_resolved"], 2);
        // The report: one delivery ticket this month, answered and resolved, breached.
        let (status, report) = app.get("/v1/service/report?days=30").await;
        assert_eq!(status, StatusCode::OK, "{report}");
        let delivery = report["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["queue"] == "delivery")
            .unwrap_or_else(|| panic!("{report}"));
        assert_eq!(
            (
                delivery["opened"].as_i64(),
                delivery["resolved"].as_i64(),
                delivery["breached"].as_i64(),
                delivery["breach_rate"].as_f64(),
                delivery["open_now"].as_i64()
            ),
            (Some(1), Some(1), Some(1), Some(1.0), Some(0)),
            "{report}"
        );
        assert!(delivery["median_response_hours"].as_f64().unwrap() >= 4.0);
        assert_eq!(delivery["complaints_resolved"], 1, "{report}");
        assert_eq!(delivery["repurchase_rate"].as_f64(), Some(0.0));
        // The member reviews and buys after the resolution: satisfaction and conversion.
        app.advance(SECOND);
        app.send(
            json!({"event_id": "rv1", "type": "review", "occurred_at": to_rfc3339(app.now()),
            "channel": "app", "identities": {"phone": "13900139001"}, "properties": {"rating": 4}}),
        )
        .await;
        app.send(json!({"event_id": "buy-after", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
            "channel": "app", "identities": {"phone": "13900139001"},
            "properties": {"order_id": "after-1", "amount": "20.00"}}))
            .await;
        let (_, report) = app.get("/v1/service/report").await;
        let delivery = &report["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["queue"] == "delivery")
            .cloned()
            .unwrap();
        assert_eq!(
            (
                delivery["bought_after"].as_i64(),
                delivery["repurchase_rate"].as_f64(),
                delivery["reviewed_after"].as_i64(),
                delivery["mean_rating_after"].as_f64()
            ),
            (Some(1), Some(1.0), Some(1), Some(4.0)),
            "{report}"
        );
        // The ticket only: one, whatever the reopening sent in.
        let (_, list) = app.get(&format!("/v1/members/{member}/tickets")).await;
        assert_eq!(list["tickets"].as_array().unwrap().len(), 1, "{list}");
    }
}

#[tokio::test]
async fn working_hours_carry_a_friday_evening_complaint_to_monday() {
    for app in TestApp::all().await {
        queues(&app).await;
        // A Friday, 17:50 in Shanghai (09:50 UTC), after today.
        let mut friday = parse_rfc3339("2027-01-08T09:50:00Z").unwrap();
        while friday <= app.now() {
            friday += 7 * DAY;
        }
        app.advance(friday - app.now());
        let member = app
            .send(complaint(&app, "q1", "13900139002", "quality", friday))
            .await["member_id"]
            .as_i64()
            .unwrap();
        let (_, list) = app.get(&format!("/v1/members/{member}/tickets")).await;
        let t = &list["tickets"][0];
        assert_eq!(t["queue"], "product");
        let at = |v: &Value| parse_rfc3339(v.as_str().unwrap()).unwrap();
        // Ten minutes on Friday, three hours fifty on Monday from nine.
        assert_eq!(at(&t["respond_by"]), friday + 3 * DAY - 5 * HOUR);
        // A category no queue lists goes to the catch-all.
        let other = app
            .send(complaint(&app, "q2", "13900139002", "parking", friday))
            .await;
        assert_eq!(other["member_id"].as_i64(), Some(member));
        let (_, list) = app.get("/v1/tickets?queue=general").await;
        assert_eq!(list["tickets"].as_array().unwrap().len(), 1, "{list}");
        // Over the weekend the product team's ticket is not breached; the round-the-clock
        // catch-all's is.
        app.advance(2 * DAY);
        let flagged = app.store.flag_ticket_breaches(app.now()).await.unwrap();
        let queues: Vec<Option<&str>> = flagged.iter().map(|t| t.queue_id.as_deref()).collect();
        assert_eq!(queues, vec![Some("general")]);
    }
}

#[tokio::test]
async fn staff_open_comment_assign_and_retries_change_nothing() {
    for app in TestApp::all().await {
        queues(&app).await;
        let member = app
            .send(
                json!({"event_id": "v1", "type": "visit", "occurred_at": to_rfc3339(app.now()),
                "channel": "store", "identities": {"phone": "13900139003"}}),
            )
            .await["member_id"]
            .as_i64()
            .unwrap();
        let body = json!({"member_id": member, "kind": "complaint", "category": "delivery",
            "text": "Rang the hotline: order missing", "idempotency_key": "call-17"});
        let (status, first) = app.post("/v1/tickets", body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        assert_eq!(
            (first["queue"].as_str(), first["channel"].as_str()),
            (Some("delivery"), Some("call_center"))
        );
        let (status, second) = app.post("/v1/tickets", body).await;
        assert_eq!(
            (status, second["id"].clone()),
            (StatusCode::OK, first["id"].clone())
        );
        let (_, doc) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(doc["facts"]["complaints"], 1, "one feedback event: {doc}");
        let id = first["id"].as_i64().unwrap();

        let (status, request) = app
            .post(
                "/v1/tickets",
                json!({"member_id": member, "kind": "request", "category": "installation",
                    "idempotency_key": "install-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{request}");
        assert_eq!(request["queue"], "general");

        for expected in [StatusCode::CREATED, StatusCode::OK] {
            let (status, body) = app
                .post(
                    &format!("/v1/tickets/{id}/comments"),
                    json!({"note": "Courier says it was left at the gate", "idempotency_key": "n1"}),
                )
                .await;
            assert_eq!(status, expected, "{body}");
            assert_eq!(body["notes"].as_array().unwrap().len(), 1, "{body}");
        }
        let (status, body) = app
            .post(
                &format!("/v1/tickets/{id}/assign"),
                json!({"staff_id": "s-li"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("staff_not_found"))
        );
        let (status, body) = app
            .post(
                "/v1/staff",
                json!({"id": "s-li", "name": "Li Na", "roles": ["service"], "city": "Shanghai"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .post(
                &format!("/v1/tickets/{id}/assign"),
                json!({"staff_id": "s-li"}),
            )
            .await;
        assert_eq!(
            (status, body["assignee"].as_str()),
            (StatusCode::OK, Some("s-li"))
        );

        // Answered in time and resolved: a complaint resolved within target; a purchase
        // after it makes the member a complainer won back.
        app.post(
            &format!("/v1/tickets/{id}/resolve"),
            json!({"note": "Refound it"}),
        )
        .await;
        let (_, doc) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(doc["facts"]["complaints_resolved_in_time"], 1, "{doc}");
        assert_eq!(doc["facts"]["complainer_won_back"], false);
        app.advance(HOUR);
        app.send(
            json!({"event_id": "p1", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
            "channel": "store", "identities": {"phone": "13900139003"},
            "properties": {"order_id": "after", "amount": "50.00"}}),
        )
        .await;
        let (_, doc) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(doc["facts"]["complainer_won_back"], true, "{doc}");
        let (status, preview) = app
            .post(
                "/v1/segments/preview",
                json!({"expression": "complainer_won_back"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        assert_eq!(preview["count"], 1, "{preview}");
        let (_, scores) = app.get(&format!("/v1/members/{member}/scores")).await;
        assert!(
            scores
                .to_string()
                .contains("1 within target, counted twice"),
            "{scores}"
        );
        // The member's copy of their data holds the tickets; erasing them blanks what
        // they said and the notes about it, and keeps when it was answered.
        let (_, export) = app.get(&format!("/v1/members/{member}/export")).await;
        assert_eq!(export["tickets"].as_array().unwrap().len(), 2, "{export}");
        let (status, body) = app
            .call(
                "DELETE",
                &format!("/v1/members/{member}"),
                Some(common::ADMIN),
                Some(json!({"reason": "PIPL request"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, t) = app.get(&format!("/v1/tickets/{id}")).await;
        assert_eq!(t["text"], Value::Null, "{t}");
        assert!(
            t["notes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["note"].is_null()),
            "{t}"
        );
        assert!(t["resolved_at"].is_string());
    }
}

#[tokio::test]
async fn queues_and_tickets_are_checked_field_by_field() {
    for app in TestApp::all().await {
        let bad = |body: Value, field: &str| {
            let app = &app;
            let field = field.to_owned();
            async move {
                let (status, answer) = app.put("/v1/queues/q", body).await;
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
                assert_eq!(answer["error"]["field"], field.as_str(), "{answer}");
            }
        };
        let hours = |tz: &str, from: &str| json!({"days": ["mon"], "from": from, "to": "18:00", "time_zone": tz});
        bad(
            json!({"categories": ["a"], "respond_within_hours": 4, "resolve_within_hours": 8,
                "working_hours": hours("Mars/Olympus", "09:00")}),
            "working_hours.time_zone",
        )
        .await;
        bad(
            json!({"categories": ["a"], "respond_within_hours": 4, "resolve_within_hours": 8,
                "working_hours": hours("UTC", "19:00")}),
            "working_hours.to",
        )
        .await;
        bad(
            json!({"categories": ["a"], "respond_within_hours": 0, "resolve_within_hours": 8}),
            "respond_within_hours",
        )
        .await;
        bad(
            json!({"categories": ["a"], "respond_within_hours": 9, "resolve_within_hours": 8}),
            "resolve_within_hours",
        )
        .await;
        bad(
            json!({"categories": [], "respond_within_hours": 1, "resolve_within_hours": 8}),
            "categories",
        )
        .await;
        let (status, body) = app.get("/v1/tickets/999").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("ticket_not_found"))
        );
        let (status, body) = app
            .post(
                "/v1/tickets",
                json!({"member_id": 999, "kind": "complaint", "idempotency_key": "k"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("member_not_found"))
        );
        let (status, body) = app
            .post(
                "/v1/tickets",
                json!({"member_id": 1, "kind": "praise", "idempotency_key": "k"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("kind"))
        );
        let (status, body) = app.get("/v1/tickets?status=closed").await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("status"))
        );
        // Staff keys handle tickets; they do not define queues.
        let staff = app.key(flywheel_core::auth::Role::Staff).await;
        let (status, _) = app
            .call(
                "PUT",
                "/v1/queues/x",
                Some(&staff),
                Some(json!({"categories": ["a"], "respond_within_hours": 1, "resolve_within_hours": 2})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn a_breach_starts_a_journey_and_a_journey_opens_a_request() {
    for app in TestApp::all().await {
        queues(&app).await;
        let mut policy = flywheel_core::Policy::default();
        policy.engagement.quiet_start = "00:00".into();
        policy.engagement.quiet_end = "00:00".into();
        app.post(
            "/v1/content",
            json!({"id": "sorry", "channel": "webhook", "body": "Sorry we are late, {{nickname}}"}),
        )
        .await;
        // A breached delivery ticket: an apology, and a call-back request for the team.
        let (status, body) = app
            .post(
                "/v1/journeys",
                json!({"id": "late-apology", "status": "active",
                    "trigger": {"ticket": {"on": "breached", "queue": "delivery"}},
                    "steps": [{"send": {"content": "sorry"}},
                              {"ticket": {"category": "callback", "text": "Call back after a late answer"}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .post(
                "/v1/journeys",
                json!({"id": "bad", "trigger": {"ticket": {"on": "closed"}}, "steps": [{"wait": "1d"}]}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("trigger.ticket.on"))
        );
        let member = app
            .send(complaint(
                &app,
                "late",
                "13900139004",
                "delivery",
                app.now(),
            ))
            .await["member_id"]
            .as_i64()
            .unwrap();
        app.advance(5 * HOUR);
        app.store.flag_ticket_breaches(app.now()).await.unwrap();
        app.store.flag_ticket_breaches(app.now()).await.unwrap();
        app.store
            .run_journeys(&policy, &app.base, app.now(), 100)
            .await
            .unwrap();
        let (_, outbox) = app.get(&format!("/v1/outbox?member_id={member}")).await;
        let messages = outbox["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 1, "{outbox}");
        assert_eq!(messages[0]["content"], "sorry");
        let (_, list) = app.get(&format!("/v1/members/{member}/tickets")).await;
        let kinds: Vec<(&str, Option<&str>)> = list["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["kind"].as_str().unwrap(), t["queue"].as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("request", Some("general")),
                ("complaint", Some("delivery"))
            ],
            "{list}"
        );
        // Walking again opens nothing more.
        app.store
            .run_journeys(&policy, &app.base, app.now(), 100)
            .await
            .unwrap();
        let (_, list) = app.get(&format!("/v1/members/{member}/tickets")).await;
        assert_eq!(list["tickets"].as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn a_resolution_sent_as_an_event_closes_the_ticket_in_the_same_batch_or_later() {
    for app in TestApp::all().await {
        queues(&app).await;
        let t0 = app.now();
        let resolved = |id: &str, complaint: &str, at: i64| {
            json!({"event_id": id, "type": "complaint_resolved", "occurred_at": to_rfc3339(at),
                "channel": "call_center", "identities": {"phone": "13900139005"},
                "properties": {"complaint_event_id": complaint}})
        };
        // Opened and resolved in one import, an hour apart: within target.
        let (status, body) = app
            .post(
                "/v1/events/batch",
                json!({"events": [complaint(&app, "b1", "13900139005", "delivery", t0 - 2 * HOUR),
                                  resolved("r1", "b1", t0 - HOUR)]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Opened now, resolved by the call centre's system two days later: late.
        let member = app
            .send(complaint(&app, "b2", "13900139005", "delivery", t0))
            .await["member_id"]
            .as_i64()
            .unwrap();
        app.advance(2 * DAY);
        app.send(resolved("r2", "b2", app.now())).await;
        let (_, list) = app.get(&format!("/v1/members/{member}/tickets")).await;
        let tickets = list["tickets"].as_array().unwrap();
        assert_eq!(tickets.len(), 2, "{list}");
        let by_source = |s: &str| {
            tickets
                .iter()
                .find(|t| t["source"] == s)
                .unwrap_or_else(|| panic!("{list}"))
        };
        let first = by_source("event:b1");
        assert_eq!(
            (first["status"].as_str(), first["breached"].as_bool()),
            (Some("resolved"), Some(false)),
            "{first}"
        );
        assert_eq!(first["resolution_hours"].as_f64(), Some(1.0));
        let second = by_source("event:b2");
        assert_eq!(
            (
                second["status"].as_str(),
                second["response_breached"].as_bool()
            ),
            (Some("resolved"), Some(true)),
            "{second}"
        );
        let (_, full) = app.get(&format!("/v1/tickets/{}", second["id"])).await;
        assert_eq!(full["notes"][0]["author"], "event:r2", "{full}");
    }
}

#[tokio::test]
async fn a_deposit_gathers_a_complete_team_from_the_roster_until_delivery_and_30_days() {
    for app in TestApp::all().await {
        for (id, name, role, city) in [
            ("s-sales", "Zhou Ping", "sales", "Shanghai"),
            ("s-sales-bj", "Qian Bo", "sales", "Beijing"),
            ("s-svc1", "Li Na", "service", "Shanghai"),
            ("s-svc2", "Wang Fang", "service", "Shanghai"),
            ("s-svc3", "Guo Jin", "service", "Shanghai"),
            ("s-del", "Chen Jie", "delivery", "Shanghai"),
            ("s-cm", "Liu Yang", "city_manager", "Shanghai"),
            ("s-as1", "Sun Qi", "after_sales", "Shanghai"),
            ("s-as2", "Ma Lin", "after_sales", "Hangzhou"),
        ] {
            let (status, body) = app
                .post(
                    "/v1/staff",
                    json!({"id": id, "name": name, "roles": [role], "city": city}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        // As the issue writes it, then closing 30 days after delivery.
        let (status, body) = app
            .put(
                "/v1/service-teams/templates/deposit",
                json!({"roles": {"sales": 1, "service": 2, "delivery": 1, "city_manager": 1, "after_sales": 2},
                    "trigger": {"event": "deposit"}, "close_after_days": 30}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .put(
                "/v1/service-teams/templates/deposit",
                json!({"roles": {"sales": 1, "service": 2, "delivery": 1, "city_manager": 1, "after_sales": 2},
                    "trigger": {"event": "deposit"}, "close_after_days": 30, "close_on": "delivery"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .put(
                "/v1/service-teams/templates/bad",
                json!({"roles": {"sales": 11}, "trigger": {"event": "deposit"}, "close_after_days": 30}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("roles.sales"))
        );
        let deposit = json!({"event_id": "dep1", "type": "deposit", "occurred_at": to_rfc3339(app.now()),
            "channel": "store", "identities": {"phone": "13900139006"},
            "properties": {"amount": "5000.00", "city": "Shanghai"}});
        app.send(
            json!({"event_id": "reg6", "type": "register", "occurred_at": to_rfc3339(app.now()),
            "channel": "store", "identities": {"phone": "13900139006"},
            "properties": {"city": "Shanghai", "name": "Zhang Wei"}}),
        )
        .await;
        let member = app.send(deposit.clone()).await["member_id"]
            .as_i64()
            .unwrap();
        app.send(deposit).await;
        let (status, body) = app.get(&format!("/v1/members/{member}/service-team")).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("forming")),
            "{body}"
        );
        let report = app.store.run_service_teams(app.now()).await.unwrap();
        assert_eq!(report.formed, 1, "one team, however often the deposit came");
        let (_, team) = app.get(&format!("/v1/members/{member}/service-team")).await;
        let people = team["team"].as_array().unwrap();
        assert_eq!(people.len(), 7, "{team}");
        assert!(team["missing"].as_array().unwrap().is_empty(), "{team}");
        let staff: Vec<&str> = people
            .iter()
            .map(|p| p["staff_id"].as_str().unwrap())
            .collect();
        assert!(
            staff.contains(&"s-sales"),
            "Shanghai's sales person first: {team}"
        );
        assert!(!staff.contains(&"s-sales-bj"), "{team}");
        assert!(
            staff.contains(&"s-as2"),
            "after-sales needs a second person: {team}"
        );
        assert_eq!(
            team["closes_at"],
            Value::Null,
            "open until delivery + 30 days"
        );
        // A note the team shares; retried, added once.
        for expected in [StatusCode::CREATED, StatusCode::OK] {
            let (status, body) = app
                .post(
                    &format!("/v1/members/{member}/service-team/notes"),
                    json!({"note": "Prefers calls after 6pm", "idempotency_key": "n1"}),
                )
                .await;
            assert_eq!(status, expected, "{body}");
            assert_eq!(body["notes"].as_array().unwrap().len(), 1);
        }
        // Delivered: the team stays 30 days more, then closes.
        app.send(
            json!({"event_id": "deliv1", "type": "delivery", "occurred_at": to_rfc3339(app.now()),
            "channel": "store", "identities": {"phone": "13900139006"}, "properties": {}}),
        )
        .await;
        let (_, team) = app.get(&format!("/v1/members/{member}/service-team")).await;
        let closes = parse_rfc3339(team["closes_at"].as_str().unwrap()).unwrap();
        assert!(closes > app.now() + 29 * DAY, "{team}");
        app.advance(31 * DAY);
        let report = app.store.run_service_teams(app.now()).await.unwrap();
        assert_eq!(report.closed, 1);
        let (_, team) = app.get(&format!("/v1/members/{member}/service-team")).await;
        assert_eq!(team["status"], "closed", "{team}");
        let (status, body) = app.get("/v1/members/999/service-team").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
}

#[tokio::test]
async fn a_member_whose_repurchase_cycle_has_passed_is_on_their_stores_care_list() {
    for app in TestApp::all().await {
        app.post(
            "/v1/content",
            json!({"id": "restock", "channel": "webhook", "body": "Time for more tea?"}),
        )
        .await;
        let (status, body) = app
            .post(
                "/v1/journeys",
                json!({"id": "restock", "status": "active", "reentry": "always",
                    "trigger": {"care": "repurchase"}, "steps": [{"send": {"content": "restock"}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let buy = |id: &str, phone: &str, store: &str, days_ago: i64| {
            json!({"event_id": id, "type": "purchase", "occurred_at": to_rfc3339(app.now() - days_ago * DAY),
                "channel": "store", "identities": {"phone": phone},
                "properties": {"order_id": id, "amount": "14.00", "store": store,
                    "items": [{"sku": "LEAF-PUER", "category": "tea"}]}})
        };
        // Every 14 days at the Shanghai store, the last 15 days ago: due.
        let mut regular = 0;
        for (id, days) in [("t1", 43), ("t2", 29), ("t3", 15)] {
            regular = app.send(buy(id, "13900139007", "SH-01", days)).await["member_id"]
                .as_i64()
                .unwrap();
        }
        // Twice only, in Beijing: no cycle yet.
        for (id, days) in [("b1", 30), ("b2", 16)] {
            app.send(buy(id, "13900139008", "BJ-01", days)).await;
        }
        let (status, list) = app.get("/v1/care/today?store=SH-01").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{list}");
        assert_eq!(
            (items[0]["member_id"].as_i64(), items[0]["kind"].as_str()),
            (Some(regular), Some("repurchase"))
        );
        let reason = items[0]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("Buys LEAF-PUER every 14 days (median of 2 gaps)"),
            "{reason}"
        );
        let (_, other) = app.get("/v1/care/today?store=BJ-01").await;
        assert!(other["items"].as_array().unwrap().is_empty(), "{other}");
        // Counted once a day; the journey the moment starts sends once.
        assert_eq!(
            app.store
                .compute_care(app.now(), &Default::default())
                .await
                .unwrap(),
            None
        );
        let mut policy = flywheel_core::Policy::default();
        policy.engagement.quiet_start = "00:00".into();
        policy.engagement.quiet_end = "00:00".into();
        app.store
            .run_journeys(&policy, &app.base, app.now(), 100)
            .await
            .unwrap();
        let (_, outbox) = app.get(&format!("/v1/outbox?member_id={regular}")).await;
        assert_eq!(outbox["messages"].as_array().unwrap().len(), 1, "{outbox}");
        let (status, body) = app.get("/v1/care/today?days=3").await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("days"))
        );
    }
}

#[tokio::test]
async fn owners_come_by_rule_or_by_hand_and_see_what_needs_doing_today() {
    let by_home_store = |mut s: flywheel_api::AppState| {
        let mut policy = (*s.policy).clone();
        policy.care.assign_owners = "home_store".into();
        s.policy = std::sync::Arc::new(policy);
        s
    };
    for app in TestApp::all_with(by_home_store).await {
        for (id, store, load) in [
            ("s-a", "SH-01", 0),
            ("s-b", "SH-01", 0),
            ("s-c", "BJ-01", 0),
        ] {
            let _ = load;
            let (status, body) = app
                .post(
                    "/v1/staff",
                    json!({"id": id, "name": id, "roles": ["sales"], "city": "Shanghai", "store": store}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let buy = |id: &str, phone: &str, days_ago: i64| {
            json!({"event_id": id, "type": "purchase", "occurred_at": to_rfc3339(app.now() - days_ago * DAY),
                "channel": "store", "identities": {"phone": phone},
                "properties": {"order_id": id, "amount": "14.00", "store": "SH-01",
                    "items": [{"sku": "LEAF-PUER", "category": "tea"}]}})
        };
        let mut members = Vec::new();
        for (n, phone) in ["13900139011", "13900139012"].iter().enumerate() {
            let mut m = 0;
            for (k, days) in [43, 29, 15].iter().enumerate() {
                m = app.send(buy(&format!("o{n}-{k}"), phone, *days)).await["member_id"]
                    .as_i64()
                    .unwrap();
            }
            members.push(m);
        }
        // The day's pass gives each a Shanghai store owner, balanced by load.
        let (status, list) = app.get("/v1/staff/s-a/members").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let mut owners = Vec::new();
        for m in &members {
            let (status, owner) = app.get(&format!("/v1/members/{m}/owner")).await;
            assert_eq!(status, StatusCode::OK, "{owner}");
            assert_eq!(owner["assigned_by"], "rule:home_store");
            owners.push(owner["staff_id"].as_str().unwrap().to_owned());
        }
        owners.sort();
        assert_eq!(owners, vec!["s-a", "s-b"], "one each");
        let (_, a) = app.get("/v1/staff/s-a/members").await;
        let mine = a["members"].as_array().unwrap();
        assert_eq!(mine.len(), 1, "{a}");
        assert!(
            mine[0]["todo"][0]
                .as_str()
                .unwrap()
                .starts_with("Buys LEAF-PUER every 14 days"),
            "{a}"
        );
        // By hand, with a reason, audited.
        let m = members[0];
        let (status, body) = app
            .put(
                &format!("/v1/members/{m}/owner"),
                json!({"staff_id": "s-c", "reason": "moved to Beijing"}),
            )
            .await;
        assert_eq!(
            (status, body["assigned_by"].as_str()),
            (StatusCode::OK, Some("env-admin")),
            "{body}"
        );
        let (_, audit) = app.get("/v1/audit?kind=member_owner").await;
        assert_eq!(audit["entries"].as_array().unwrap().len(), 1, "{audit}");
        let (status, body) = app
            .put(
                &format!("/v1/members/{m}/owner"),
                json!({"staff_id": "nobody", "reason": "x"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("staff_not_found"))
        );
        // A contact is the member's outgoing message: once, however often retried.
        for duplicate in [false, true] {
            let (status, body) = app
                .post(
                    &format!("/v1/members/{m}/contacts"),
                    json!({"staff_id": "s-c", "note": "Asked about the new oolong", "idempotency_key": "c-1"}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["duplicate"], duplicate);
        }
        let (_, doc) = app.get(&format!("/v1/members/{m}")).await;
        assert_eq!(doc["facts"]["messages_out"], 1, "{doc}");
    }
}

#[tokio::test]
async fn staff_give_points_within_their_monthly_allowance_even_all_at_once() {
    for app in TestApp::all().await {
        let staff_key = app.key(flywheel_core::auth::Role::Staff).await;
        for id in ["s-gift", "s-rush"] {
            app.post(
                "/v1/staff",
                json!({"id": id, "name": id, "roles": ["sales"]}),
            )
            .await;
        }
        let member = app
            .send(
                json!({"event_id": "g-visit", "type": "visit", "occurred_at": to_rfc3339(app.now()),
                "channel": "store", "identities": {"phone": "13900139020"}}),
            )
            .await["member_id"]
            .as_i64()
            .unwrap();
        let give = |staff: &str, points: i64, key: &str| json!({"staff_id": staff, "points": points, "reason": "sorry for the wait", "idempotency_key": key});
        let path = format!("/v1/members/{member}/gifts");
        let (status, body) = app
            .call(
                "POST",
                &path,
                Some(&staff_key),
                Some(give("s-gift", 300, "g1")),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(
            (body["used_this_month"].as_i64(), body["allowance"].as_i64()),
            (Some(300), Some(500))
        );
        let (status, body) = app
            .call(
                "POST",
                &path,
                Some(&staff_key),
                Some(give("s-gift", 300, "g1")),
            )
            .await;
        assert_eq!(
            (status, body["replayed"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{body}"
        );
        let (status, body) = app
            .call(
                "POST",
                &path,
                Some(&staff_key),
                Some(give("s-gift", 250, "g2")),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("allowance_exceeded")),
            "{body}"
        );
        // Ten gifts of 100 at once from one person: five fit, five are refused.
        let calls = (0..10).map(|i| {
            let (app, key, path) = (&app, staff_key.clone(), path.clone());
            async move {
                app.call(
                    "POST",
                    &path,
                    Some(&key),
                    Some(give("s-rush", 100, &format!("r{i}"))),
                )
                .await
                .0
            }
        });
        let statuses = futures_util::future::join_all(calls).await;
        let given = statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count();
        assert_eq!((given, refused), (5, 5), "{statuses:?}");
        let (_, points) = app.get(&format!("/v1/members/{member}/points")).await;
        assert_eq!(points["balance"], 800, "{points}");
        let (_, audit) = app.get("/v1/audit?kind=points_adjustment").await;
        assert_eq!(audit["entries"].as_array().unwrap().len(), 6, "{audit}");
    }
}

/// A deal's step for the member with `phone`, `days` after `t0`.
fn deal_step(id: &str, phone: &str, kind: &str, props: Value, at: i64) -> Value {
    json!({"event_id": id, "type": kind, "occurred_at": to_rfc3339(at), "channel": "store",
        "identities": {"phone": phone}, "properties": props})
}

#[tokio::test]
async fn deposits_make_a_funnel_with_and_without_a_service_team() {
    for app in TestApp::all().await {
        let (status, body) = app
            .post(
                "/v1/staff",
                json!({"id": "s-sh", "name": "Li Na", "roles": ["service"], "city": "Shanghai"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // Teams for Shanghai's deals only: Beijing's go without.
        let (status, body) = app
            .put(
                "/v1/service-teams/templates/deposit",
                json!({"roles": {"service": 1}, "trigger": {"event": "deposit", "when": "city == \"Shanghai\""},
                    "close_after_days": 30, "close_on": "delivery"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let t0 = app.now() - 25 * DAY;
        let people = [
            ("a", "13900139101", "Shanghai"),
            ("b", "13900139102", "Shanghai"),
            ("c", "13900139103", "Beijing"),
            ("d", "13900139104", "Beijing"),
        ];
        for (name, phone, city) in people {
            app.send(deal_step(
                &format!("reg-{name}"),
                phone,
                "register",
                json!({"city": city}),
                t0 - DAY,
            ))
            .await;
        }
        let small = json!({"stage": "small", "amount": "500.00"});
        let full = json!({"stage": "full", "amount": "20000.00"});
        let steps = [
            // Shanghai: small → full → delivered after 20 days; small, then given back.
            ("a1", "13900139101", "deposit", small.clone(), 0),
            ("a2", "13900139101", "deposit", full.clone(), 2),
            ("a3", "13900139101", "delivery", json!({}), 20),
            ("b1", "13900139102", "deposit", small.clone(), 0),
            (
                "b2",
                "13900139102",
                "deposit_refund",
                json!({"amount": "500.00"}),
                3,
            ),
            // Beijing: small → full, waiting; two deals of one member told apart by
            // their order ids, one straight to the full deposit and delivered in 10 days.
            ("c1", "13900139103", "deposit", small.clone(), 1),
            ("c2", "13900139103", "deposit", full.clone(), 4),
            (
                "d1",
                "13900139104",
                "deposit",
                json!({"order_id": "car-1", "amount": "20000.00"}),
                1,
            ),
            (
                "d2",
                "13900139104",
                "delivery",
                json!({"order_id": "car-1"}),
                11,
            ),
            (
                "d3",
                "13900139104",
                "deposit",
                json!({"order_id": "car-2", "stage": "small", "amount": "500.00"}),
                5,
            ),
        ];
        // Sent newest first: history out of order comes to the same deals.
        for (id, phone, kind, props, day) in steps.iter().rev() {
            app.send(deal_step(id, phone, kind, props.clone(), t0 + day * DAY))
                .await;
        }
        // Retried, and a second small deposit days later: no new deal, no later step.
        app.send(deal_step("a1", "13900139101", "deposit", small.clone(), t0))
            .await;
        app.send(deal_step(
            "a4",
            "13900139101",
            "deposit",
            small.clone(),
            t0 + 6 * DAY,
        ))
        .await;
        let (status, body) = app
            .post(
                "/v1/events",
                deal_step(
                    "bad",
                    "13900139101",
                    "deposit",
                    json!({"stage": "huge"}),
                    t0,
                ),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("properties.stage")),
            "{body}"
        );
        let formed = app.store.run_service_teams(app.now()).await.unwrap();
        assert!(formed.formed >= 2 && formed.skipped >= 3, "{formed:?}");

        let (status, report) = app.get("/v1/service/report?days=30").await;
        assert_eq!(status, StatusCode::OK, "{report}");
        let d = &report["deposits"];
        let counts = |f: &Value| {
            ["deals", "small", "full", "delivered", "lost"].map(|k| f[k].as_i64().unwrap_or(-1))
        };
        assert_eq!(counts(&d["all"]), [5, 4, 3, 2, 1], "{d}");
        assert_eq!(counts(&d["with_team"]), [2, 2, 1, 1, 1], "{d}");
        assert_eq!(counts(&d["without_team"]), [3, 2, 2, 1, 0], "{d}");
        let w = &d["with_team"];
        assert_eq!(w["small_to_full"], 0.5, "{d}");
        assert_eq!(w["full_to_delivery"], 1.0, "{d}");
        assert_eq!(w["deposit_to_delivery"], 0.5, "{d}");
        assert_eq!(w["median_days_to_delivery"], 20.0, "{d}");
        let wo = &d["without_team"];
        assert_eq!(wo["small_to_full"], 0.5, "{d}");
        assert_eq!(wo["full_to_delivery"], 0.5, "{d}");
        assert_eq!(wo["median_days_to_delivery"], 10.0, "{d}");
        // A deposit and its delivery in one batch: the team formed on the deposit
        // still closes 30 days after the delivery.
        let member = app
            .send(deal_step(
                "reg-e",
                "13900139105",
                "register",
                json!({"city": "Shanghai"}),
                t0,
            ))
            .await["member_id"]
            .as_i64()
            .unwrap();
        let (status, body) = app
            .post(
                "/v1/events/batch",
                json!({"events": [
                    deal_step("e1", "13900139105", "deposit", full.clone(), t0 + DAY),
                    deal_step("e2", "13900139105", "delivery", json!({}), t0 + 2 * DAY),
                ]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        app.store.run_service_teams(app.now()).await.unwrap();
        let (_, team) = app.get(&format!("/v1/members/{member}/service-team")).await;
        assert_eq!(
            team["closes_at"].as_str().map(parse_rfc3339),
            Some(Some(t0 + 32 * DAY)),
            "{team}"
        );
        // Deals begun before the period are not in it.
        let (_, report) = app.get("/v1/service/report?days=7").await;
        assert_eq!(report["deposits"]["all"]["deals"], 0, "{report}");
        assert_eq!(report["deposits"]["all"]["small_to_full"], Value::Null);
    }
}
