//! Horizontal cards (a student card beside the black card, seed 003) over real HTTP on
//! SQLite and PostgreSQL: only members the card's eligibility admits may take one, it is
//! free, it lasts its validity and then lapses.

mod common;

use common::TestApp;
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn student_card() -> Value {
    json!({"name": "Student card", "kind": "card", "term": {"days": 365},
           "tiers": [{"id": "student", "name": "Student", "rank": 1}],
           "eligibility": {"field": "occupation", "equals": "student"}})
}

async fn register(app: &TestApp, phone: &str, properties: Value) -> i64 {
    let reg = app
        .send(
            json!({"event_id": format!("reg-{phone}"), "type": "register",
            "occurred_at": to_rfc3339(app.now()), "channel": "mini_program",
            "identities": {"phone": phone}, "properties": properties}),
        )
        .await;
    reg["member_id"].as_i64().unwrap()
}

async fn take(
    app: &TestApp,
    member: i64,
    key: &str,
    payment: Option<Value>,
) -> (StatusCode, Value) {
    let mut body = json!({"member_id": member, "programme": "students", "tier": "student",
                          "idempotency_key": key});
    if let Some(p) = payment {
        body["payment"] = p;
    }
    app.post("/v1/memberships", body).await
}

#[tokio::test]
async fn only_eligible_members_take_a_card_which_lasts_its_validity() {
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/students", student_card()).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let jo = register(&app, "13500000001", json!({})).await;
        let (status, body) = take(&app, jo, "jo-1", None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "not_eligible");
        assert_eq!(body["error"]["field"], "member_id");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("has no occupation"),
            "{body}"
        );
        let (_, held) = app.get(&format!("/v1/members/{jo}/memberships")).await;
        assert_eq!(held["memberships"], json!([]), "nothing written");

        let kim = register(&app, "13500000002", json!({"occupation": "Student"})).await;
        let (status, body) = take(&app, kim, "kim-paid", Some(json!({"cash": "10.00"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "payment");
        let (status, body) = take(&app, kim, "kim-1", None).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["payment"], json!({"cash": "0.00", "points": 0}));
        let (status, again) = take(&app, kim, "kim-1", None).await;
        assert_eq!(status, StatusCode::OK, "a retry: {again}");
        assert_eq!(again["id"], body["id"]);

        let (_, held) = app.get(&format!("/v1/members/{kim}/memberships")).await;
        let card = &held["memberships"][0];
        assert_eq!(card["tier"], "student", "{held}");
        assert_eq!(card["source"], "card");
        assert!(held["card_no"].is_string(), "a card number on joining");
        let until = &body["expires_at"].as_str().unwrap()[..10];
        assert_eq!(
            card["retention"]["sentence"],
            format!("the card is valid until {until}")
        );
        assert_eq!(card["progress"], Value::Null);

        // A member who stops being a student keeps the card until it ends.
        app.send(json!({"event_id": "kim-job", "type": "profile_update",
            "occurred_at": to_rfc3339(app.now()), "channel": "mini_program",
            "identities": {"phone": "13500000002"}, "properties": {"occupation": "engineer"}}))
            .await;
        app.advance(366 * DAY);
        let (_, held) = app.get(&format!("/v1/members/{kim}/memberships")).await;
        assert_eq!(held["memberships"], json!([]), "past its validity: {held}");
        app.store.sweep_memberships(app.now()).await.unwrap();
        let (_, history) = app.get(&format!("/v1/members/{kim}/tiers")).await;
        let rules: Vec<&str> = history["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["rule"].as_str().unwrap())
            .collect();
        assert_eq!(rules, ["purchase", "lapse"], "{history}");
        assert!(
            history["changes"][0]["reason"]
                .as_str()
                .unwrap()
                .starts_with("joined student for nothing (a free card), until"),
            "{history}"
        );
        // Taken again, now not a student: refused.
        let (status, body) = take(&app, kim, "kim-2", None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("\"engineer\""),
            "{body}"
        );
    }
}
