//! Engagement over real HTTP, on SQLite and PostgreSQL (issue 18): the content library —
//! templates checked when saved (an unknown variable refused with where it stands),
//! versioned, previewed for a member with their points and nickname, audited, and
//! written only by the roles that may.

mod common;

use common::TestApp;
use flywheel_core::auth::Role;
use flywheel_core::time::to_rfc3339;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn the_content_library_checks_versions_and_previews_templates() {
    for app in TestApp::all().await {
        // The example body, as written.
        let example = json!({"id": "welcome-weak", "channel": "webhook", "subject": "Welcome",
            "body": "Hi {{nickname}}, you have {{points.balance}} points."});
        let (status, saved) = app.post("/v1/content", example.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{saved}");
        assert_eq!(saved["version"], 1);
        assert_eq!(saved["variables"], json!(["nickname", "points.balance"]));
        // The same again changes nothing; another body under the id is refused on POST.
        let (status, again) = app.post("/v1/content", example.clone()).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["version"], 1);
        let mut other = example.clone();
        other["body"] = json!("Hello {{name}}");
        let (status, refused) = app.post("/v1/content", other.clone()).await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::CONFLICT, "content_exists")
        );
        // PUT makes a new version.
        other.as_object_mut().unwrap().remove("id");
        let (status, changed) = app.put("/v1/content/welcome-weak", other).await;
        assert_eq!(status, StatusCode::CREATED, "{changed}");
        assert_eq!(changed["version"], 2);
        let (_, back) = app.put("/v1/content/welcome-weak", example.clone()).await;
        assert_eq!(back["version"], 3);

        // An unknown variable is refused at save time, naming the field and where.
        let (status, bad) = app
            .post(
                "/v1/content",
                json!({"id": "oops", "channel": "sms", "body": "Hi {{nick}}!"}),
            )
            .await;
        assert_eq!(
            (status, code(&bad)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_template"),
            "{bad}"
        );
        assert_eq!(bad["error"]["field"], "body");
        assert_eq!(bad["error"]["at"], 3);
        let (status, bad) = app
            .post(
                "/v1/content",
                json!({"id": "oops", "channel": "sms", "subject": "{{points.balance", "body": "x"}),
            )
            .await;
        assert_eq!(
            (status, bad["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("subject"))
        );
        let (status, bad) = app
            .post(
                "/v1/content",
                json!({"id": "oops", "channel": "fax", "body": "x"}),
            )
            .await;
        assert_eq!(
            (status, bad["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("channel"))
        );
        let (status, bad) = app
            .post(
                "/v1/content",
                json!({"id": "oops", "channel": "sms", "body": "x", "link": "javascript:alert(1)"}),
            )
            .await;
        assert_eq!(
            (status, bad["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("link"))
        );
        let (status, bad) = app
            .post(
                "/v1/content",
                json!({"id": "Oops!", "channel": "sms", "body": "x"}),
            )
            .await;
        assert_eq!(
            (status, bad["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("id"))
        );
        let (_, list) = app.get("/v1/content").await;
        assert_eq!(
            list["content"].as_array().unwrap().len(),
            1,
            "nothing refused was kept: {list}"
        );

        // Preview for a member who bought once and set a nickname: their points and name.
        let member = app
            .send(
                json!({"event_id": "p1", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
                "channel": "app", "identities": {"phone": "13800138000"},
                "properties": {"order_id": "o1", "amount": "120.00"}}),
            )
            .await["member_id"]
            .as_i64()
            .unwrap();
        app.send(json!({"event_id": "n1", "type": "profile_update", "occurred_at": to_rfc3339(app.now()),
            "channel": "app", "identities": {"phone": "13800138000"}, "properties": {"nickname": "Yan"}}))
            .await;
        let (_, points) = app.get(&format!("/v1/members/{member}/points")).await;
        let balance = points["balance"].as_i64().unwrap();
        let (status, shown) = app
            .post(
                "/v1/content/welcome-weak/preview",
                json!({"member_id": member}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{shown}");
        assert_eq!(shown["body"], format!("Hi Yan, you have {balance} points."));
        assert_eq!(shown["subject"], "Welcome");
        let (status, none) = app
            .post(
                "/v1/content/welcome-weak/preview",
                json!({"member_id": 999_999}),
            )
            .await;
        assert_eq!(
            (status, code(&none)),
            (StatusCode::NOT_FOUND, "member_not_found")
        );
        let (status, none) = app
            .post("/v1/content/nope/preview", json!({"member_id": member}))
            .await;
        assert_eq!(
            (status, code(&none)),
            (StatusCode::NOT_FOUND, "content_not_found")
        );

        // Staff may not write; every change is in the audit log.
        let staff = app.key(Role::Staff).await;
        let (status, _) = app
            .call(
                "POST",
                "/v1/content",
                Some(&staff),
                Some(json!({"id": "s", "channel": "sms", "body": "x"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app
            .call("DELETE", "/v1/content/welcome-weak", Some(&staff), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app
            .call(
                "DELETE",
                "/v1/content/welcome-weak",
                Some(common::ADMIN),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, gone) = app.get("/v1/content/welcome-weak").await;
        assert_eq!(
            (status, code(&gone)),
            (StatusCode::NOT_FOUND, "content_not_found")
        );
        let (_, audit) = app.get("/v1/audit?kind=content").await;
        let actions: Vec<&str> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions.iter().filter(|a| **a == "update").count(),
            2,
            "{audit}"
        );
        assert!(
            actions.contains(&"create") && actions.contains(&"delete"),
            "{audit}"
        );
    }
}
