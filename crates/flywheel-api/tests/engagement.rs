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

async fn member_with(app: &TestApp, event_id: &str, identities: Value) -> i64 {
    app.send(
        json!({"event_id": event_id, "type": "visit", "occurred_at": to_rfc3339(app.now()),
        "channel": "app", "identities": identities, "properties": {}}),
    )
    .await["member_id"]
        .as_i64()
        .unwrap()
}

async fn consent_of(app: &TestApp, member: i64, channel: &str) -> Option<bool> {
    let (status, body) = app.get(&format!("/v1/members/{member}/consent")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["consents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == channel)
        .map(|c| c["granted"].as_bool().unwrap())
}

#[tokio::test]
async fn consent_is_recorded_with_its_source_and_a_withdrawal_survives_a_merge() {
    for app in TestApp::all().await {
        let a = member_with(&app, "v1", json!({"phone": "13800138001"})).await;
        let path = format!("/v1/members/{a}/consent");
        assert_eq!(consent_of(&app, a, "sms").await, None);
        // The example body, as written.
        let (status, body) = app
            .put(
                &path,
                json!({"channel": "sms", "granted": false, "source": "call_center"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["consents"][0]["source"], "call_center");
        assert_eq!(consent_of(&app, a, "sms").await, Some(false));
        // The same word again is not a second change.
        app.put(
            &path,
            json!({"channel": "sms", "granted": false, "source": "call_center"}),
        )
        .await;
        // Staff at the till may record it; finance and read-only keys may not.
        let staff = app.key(Role::Staff).await;
        let (status, body) = app
            .call(
                "PUT",
                &path,
                Some(&staff),
                Some(json!({"channel": "email", "granted": true, "source": "store"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for role in [Role::Finance, Role::ReadOnly, Role::Integrator] {
            let key = app.key(role).await;
            let (status, _) = app
                .call(
                    "PUT",
                    &path,
                    Some(&key),
                    Some(json!({"channel": "sms", "granted": true, "source": "app"})),
                )
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
        }
        // Bad input names its field and writes nothing.
        for (body, field) in [
            (
                json!({"channel": "fax", "granted": true, "source": "app"}),
                "channel",
            ),
            (
                json!({"channel": "sms", "granted": true, "source": "Call Center"}),
                "source",
            ),
            (
                json!({"channel": "sms", "granted": "yes", "source": "app"}),
                "granted",
            ),
        ] {
            let (status, answer) = app.put(&path, body).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
            assert_eq!(answer["error"]["field"], field, "{answer}");
        }
        assert_eq!(consent_of(&app, a, "sms").await, Some(false));
        let (status, none) = app
            .put(
                "/v1/members/999999/consent",
                json!({"channel": "sms", "granted": true, "source": "app"}),
            )
            .await;
        assert_eq!(
            (status, code(&none)),
            (StatusCode::NOT_FOUND, "member_not_found")
        );
        let (_, audit) = app.get("/v1/audit?kind=consent").await;
        assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");
        // The member's copy of their data (PIPL) says what they agreed to and where.
        let (_, export) = app.get(&format!("/v1/members/{a}/export")).await;
        let consents = export["consents"].as_array().unwrap();
        assert_eq!(consents.len(), 2, "{export}");
        assert_eq!(consents[1]["channel"], "sms");
        assert_eq!(consents[1]["source"], "call_center");
        assert_eq!(consents[1]["granted"], 0);

        // A merge by hand: b granted sms, a withdrew it; the survivor keeps the no.
        let b = member_with(&app, "v2", json!({"phone": "13800138002"})).await;
        app.put(
            &format!("/v1/members/{b}/consent"),
            json!({"channel": "sms", "granted": true, "source": "app"}),
        )
        .await;
        let (status, merged) = app
            .post(
                &format!("/v1/members/{b}/merge"),
                json!({"member_id": a, "reason": "same person"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{merged}");
        assert_eq!(consent_of(&app, b, "sms").await, Some(false));
        assert_eq!(
            consent_of(&app, b, "email").await,
            Some(true),
            "a's email grant moved"
        );
        assert_eq!(
            consent_of(&app, a, "sms").await,
            Some(false),
            "a's id answers for its survivor"
        );

        // A merge by an event naming both members' identities moves consent too.
        let c = member_with(&app, "v3", json!({"email": "c@example.com"})).await;
        app.put(
            &format!("/v1/members/{c}/consent"),
            json!({"channel": "push", "granted": false, "source": "app"}),
        )
        .await;
        let joined = member_with(
            &app,
            "v4",
            json!({"phone": "13800138002", "email": "c@example.com"}),
        )
        .await;
        let (_, doc) = app.get(&format!("/v1/members/{c}")).await;
        let survivor = doc["id"].as_i64().unwrap();
        let (_, other) = app.get(&format!("/v1/members/{b}")).await;
        assert_eq!(
            other["id"].as_i64(),
            Some(survivor),
            "the event merged b and c: {doc}"
        );
        assert_eq!(joined, survivor);
        assert_eq!(
            consent_of(&app, survivor, "push").await,
            Some(false),
            "{doc}"
        );
        assert_eq!(consent_of(&app, survivor, "sms").await, Some(false));

        // The member's own word in a profile_update: the event is the source; an older
        // event sent late does not overturn a newer word.
        let at = |offset: i64| to_rfc3339(app.now() + offset);
        let update = |id: &str, when: String, consent: Value| {
            json!({"event_id": id, "type": "profile_update", "occurred_at": when,
                "channel": "mini_program", "identities": {"phone": "13800138002"},
                "properties": {"consent": consent}})
        };
        app.send(update("u1", at(0), json!({"sms": true, "email": true})))
            .await;
        assert_eq!(consent_of(&app, survivor, "sms").await, Some(true));
        assert_eq!(consent_of(&app, survivor, "email").await, Some(true));
        app.send(update("u0", at(-3_600_000_000), json!({"email": false})))
            .await;
        assert_eq!(consent_of(&app, survivor, "email").await, Some(true));
        let (_, listed) = app.get(&format!("/v1/members/{survivor}/consent")).await;
        let sms = listed["consents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["channel"] == "sms")
            .unwrap()
            .clone();
        assert_eq!(
            (sms["source"].as_str(), sms["set_by"].as_str()),
            (Some("event:mini_program"), Some("event:u1")),
            "{sms}"
        );
        // A word that is not a channel's true or false is refused, naming the field.
        let (status, bad) = app
            .call(
                "POST",
                "/v1/events",
                Some(common::ADMIN),
                Some(update("u2", at(0), json!({"sms": "yes", "fax": true}))),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let text = bad.to_string();
        assert!(
            text.contains("properties.consent.sms") && text.contains("properties.consent.fax"),
            "{bad}"
        );
    }
}
