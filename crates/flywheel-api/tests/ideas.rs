//! The co-creation board (issue 22) over real HTTP, on both databases: a suggestion
//! from any channel lands on the board; staff move it along (a decline needs a reason,
//! a move the board does not allow is refused); adopting it makes the member's
//! `co_creation` participation — turning a strong member into a super-strong one — with
//! its points and badge, once; each move is a notice to the member.

mod common;

use common::TestApp;
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn an_adopted_idea_credits_its_member_and_makes_a_strong_member_super_strong() {
    for app in TestApp::all().await {
        let phone = "13900005555";
        for n in 0..5 {
            app.send(json!({"event_id": format!("p-{n}"), "type": "purchase",
                "occurred_at": to_rfc3339(app.now() - (10 + n) * DAY), "channel": "store",
                "identities": {"phone": phone},
                "properties": {"order_id": format!("o-{n}"), "amount": "60.00", "currency": "CNY"}}))
                .await;
        }
        // A suggestion sent as an event from the app lands on the board.
        let body = app
            .send(json!({"event_id": "fb-1", "type": "feedback", "occurred_at": to_rfc3339(app.now() - DAY),
                "channel": "app", "identities": {"phone": phone},
                "properties": {"kind": "suggestion", "text": "A travel tin that fits a jacket pocket", "category": "packaging"}}))
            .await;
        let member = body["member_id"].as_i64().unwrap();
        let (_, m) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(m["stage"], "strong", "{m}");
        let (_, board) = app.get("/v1/ideas?status=received").await;
        assert_eq!(board["counts"]["received"], 1, "{board}");
        let idea = board["ideas"][0].clone();
        assert_eq!(
            (&idea["via"], &idea["category"]),
            (&json!("app"), &json!("packaging"))
        );
        let id = idea["id"].as_str().unwrap().to_owned();

        // And one from the API, retried: one idea.
        let sent = json!({"member_id": member, "text": "Oolong in cold-brew bags", "idempotency_key": "k1"});
        let (status, second) = app.post("/v1/ideas", sent.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        assert_eq!(app.post("/v1/ideas", sent).await.1["id"], second["id"]);
        let (_, board) = app.get("/v1/ideas").await;
        assert_eq!(board["ideas"].as_array().unwrap().len(), 2);

        let decide = |body: serde_json::Value| {
            let path = format!("/v1/ideas/{id}/decision");
            let app = &app;
            async move { app.post(&path, body).await }
        };
        // Declining needs a reason; shipping before adopting is not a move the board has.
        let (status, e) = decide(json!({"status": "declined"})).await;
        assert_eq!(
            (status, &e["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("reason")),
            "{e}"
        );
        let (status, e) = decide(json!({"status": "shipped"})).await;
        assert_eq!(
            (status, &e["error"]["code"]),
            (StatusCode::CONFLICT, &json!("invalid_transition")),
            "{e}"
        );
        let (status, reviewed) =
            decide(json!({"status": "under_review", "public_note": "Our designers love it"})).await;
        assert_eq!(
            (status, &reviewed["moved"]),
            (StatusCode::OK, &json!(true)),
            "{reviewed}"
        );

        let (status, adopted) =
            decide(json!({"status": "adopted", "reward_points": 500, "badge": "Co-creator"})).await;
        assert_eq!(status, StatusCode::OK, "{adopted}");
        assert!(adopted["reward_ledger_key"].is_string(), "{adopted}");
        let (_, m) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(m["stage"], "super_strong", "{m}");
        assert_eq!(m["facts"]["participations"]["co_creation"], 1);
        // Again, and on to shipped: nothing more is given; what it gives is now fixed.
        let (status, again) = decide(json!({"status": "adopted"})).await;
        assert_eq!((status, &again["moved"]), (StatusCode::OK, &json!(false)));
        let (status, e) = decide(json!({"reward_points": 900})).await;
        assert_eq!(
            (status, &e["error"]["code"]),
            (StatusCode::CONFLICT, &json!("invalid_transition"))
        );
        let (status, shipped) = decide(json!({"status": "shipped"})).await;
        assert_eq!(
            (status, &shipped["idea"]["status"]),
            (StatusCode::OK, &json!("shipped"))
        );
        let (_, m) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(m["facts"]["participations"]["co_creation"], 1);
        let (_, ledger) = app
            .get(&format!("/v1/members/{member}/points/ledger"))
            .await;
        let credits = ledger["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["reason"] == "an idea adopted on the co-creation board"
                    && e["account"] == "wallet"
            })
            .count();
        assert_eq!(credits, 1, "{ledger}");
        let (_, honours) = app.get(&format!("/v1/members/{member}/honours")).await;
        assert!(honours.to_string().contains("Co-creator"), "{honours}");

        // The member is told of each move (three), through the outbox.
        let mut policy = flywheel_core::Policy::default();
        policy.engagement.quiet_start = "00:00".into();
        policy.engagement.quiet_end = "00:00".into();
        let sent = app
            .store
            .run_notices(&policy, &app.base, app.now())
            .await
            .unwrap();
        assert_eq!(sent, 3);
        let (_, outbox) = app.get(&format!("/v1/outbox?member_id={member}")).await;
        let subjects: Vec<&str> = outbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["subject"].as_str().unwrap_or(""))
            .collect();
        assert!(subjects.contains(&"Your idea was adopted"), "{outbox}");
        assert!(subjects.contains(&"Your idea has shipped"), "{outbox}");
        let (_, e) = app.get("/v1/ideas/idea-nothing").await;
        assert_eq!(e["error"]["code"], "idea_not_found");
        let (_, audit) = app.get("/v1/audit?kind=idea").await;
        assert_eq!(
            audit["entries"].as_array().map(Vec::len),
            Some(3),
            "{audit}"
        );
        app.assert_books_balance().await;
    }
}
