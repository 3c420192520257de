//! Benefits over real HTTP, on SQLite and PostgreSQL: the catalogue and its checks, tiers
//! that give them, uses refused with a reason outside scope or beyond the limit, and a
//! benefit taken off a tier staying with each holder until their term ends, with notice.

mod common;

use common::TestApp;
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn paid() -> Value {
    json!({"name": "Paid membership", "kind": "paid", "term": {"days": 365},
     "tiers": [
       {"id": "V1", "name": "V1", "rank": 1, "fee": "99.00", "max_points_share": 0.6},
       {"id": "V2", "name": "V2", "rank": 2, "fee": "199.00", "max_points_share": 0.6,
        "upgrade": {"measure": "spend", "threshold": "10000.00"}}],
     "retention": {"measure": "spend", "threshold": "3000.00"},
     "downgrade": {"policy": "one_down", "grace_days": 30}})
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

fn field(body: &Value) -> &str {
    body["error"]["field"].as_str().unwrap_or("")
}

async fn member(app: &TestApp, phone: &str) -> i64 {
    let reg = app
        .send(
            json!({"event_id": format!("reg-{phone}"), "type": "register",
            "occurred_at": to_rfc3339(app.now()), "channel": "app",
            "identities": {"phone": phone}, "properties": {}}),
        )
        .await;
    reg["member_id"].as_i64().unwrap()
}

async fn buy(app: &TestApp, member: i64, tier: &str, fee: &str, key: &str) -> Value {
    let (status, body) = app
        .post(
            "/v1/memberships",
            json!({"member_id": member, "programme": "paid", "tier": tier,
                   "payment": {"cash": fee}, "idempotency_key": key}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    body
}

/// The ids of a member's benefits now, with their `until`.
async fn held(app: &TestApp, member: i64) -> Vec<(String, Value)> {
    let (status, body) = app.get(&format!("/v1/members/{member}/benefits")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["benefits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["id"].as_str().unwrap().to_owned(), b["until"].clone()))
        .collect()
}

#[tokio::test]
async fn benefits_are_used_within_scope_and_limit_and_leave_a_tier_only_when_terms_end() {
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // The example body, as written; again changes nothing.
        let refill = json!({"id": "free-refill", "name": "Free refill",
            "description": "One free refill a day", "effective_from": "2026-01-01T00:00:00Z"});
        let (status, body) = app.post("/v1/benefits", refill.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, _) = app.post("/v1/benefits", refill).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = app
            .post(
                "/v1/benefits",
                json!({"id": "free-refill", "name": "Two refills",
                "effective_from": "2026-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "benefit_exists")
        );
        for (bad, named) in [
            (
                json!({"id": "x", "name": "X", "effective_from": "yesterday"}),
                "effective_from",
            ),
            (
                json!({"id": "x", "name": "X", "effective_from": "2026-01-01T00:00:00Z",
                    "scope": {"channels": ["moon"]}}),
                "scope.channels[0]",
            ),
            (
                json!({"id": "x", "name": "X", "effective_from": "2026-01-01T00:00:00Z",
                    "limit": {"uses": 0, "per": "month"}}),
                "limit.uses",
            ),
            (
                json!({"id": "X!", "name": "X", "effective_from": "2026-01-01T00:00:00Z"}),
                "id",
            ),
        ] {
            let (status, body) = app.post("/v1/benefits", bad).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            let fields: Vec<&str> = body["error"]["details"]
                .as_array()
                .map(|d| d.iter().filter_map(|x| x["field"].as_str()).collect())
                .unwrap_or_else(|| vec![field(&body)]);
            assert!(fields.contains(&named), "{named}: {body}");
        }
        let delivery = json!({"id": "free-delivery", "name": "Free delivery",
            "description": "Two free deliveries a month, online",
            "effective_from": "2026-01-01T00:00:00Z",
            "scope": {"channels": ["app", "mini_program"]}, "limit": {"uses": 2, "per": "month"}});
        let (status, body) = app.post("/v1/benefits", delivery).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        let (status, body) = app
            .put(
                "/v1/programmes/paid/tiers/V2/benefits",
                json!({"benefits": ["nope"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(field(&body), "benefits[0]");
        let (status, body) = app
            .put(
                "/v1/programmes/paid/tiers/V2/benefits",
                json!({"benefits": ["free-refill", "free-delivery"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["added"], json!(["free-delivery", "free-refill"]));

        let ann = member(&app, "13600000001").await;
        let bob = member(&app, "13600000002").await;
        let bought = buy(&app, ann, "V2", "199.00", "ann-v2").await;
        let expires =
            flywheel_core::time::parse_rfc3339(bought["expires_at"].as_str().unwrap()).unwrap();
        assert_eq!(
            held(&app, ann).await,
            vec![
                ("free-delivery".to_owned(), Value::Null),
                ("free-refill".to_owned(), Value::Null)
            ]
        );

        // Uses: within scope and limit, idempotent, refused with a reason otherwise.
        let use_it = |member: i64, benefit: &str, channel: &str, key: &str| {
            let app = &app;
            let path = format!("/v1/members/{member}/benefits/{benefit}/uses");
            let body = json!({"channel": channel, "idempotency_key": key});
            async move { app.post(&path, body).await }
        };
        let (status, first) = use_it(ann, "free-delivery", "app", "d-1").await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        assert_eq!(first["remaining"], 1);
        let (status, again) = use_it(ann, "free-delivery", "app", "d-1").await;
        assert_eq!(
            (status, again["replayed"].clone()),
            (StatusCode::OK, json!(true))
        );
        let (status, second) = use_it(ann, "free-delivery", "mini_program", "d-2").await;
        assert_eq!(
            (status, second["remaining"].clone()),
            (StatusCode::CREATED, json!(0))
        );
        let (status, body) = use_it(ann, "free-delivery", "app", "d-3").await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "benefit_limit_reached")
        );
        let (status, body) = use_it(ann, "free-delivery", "store", "d-4").await;
        assert_eq!(
            (status, code(&body), field(&body)),
            (StatusCode::CONFLICT, "benefit_out_of_scope", "channel")
        );
        let (status, body) = use_it(bob, "free-refill", "store", "r-1").await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "benefit_not_held")
        );
        let (status, body) = use_it(ann, "nothing", "store", "r-2").await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "benefit_not_found")
        );
        let (_, mine) = app.get(&format!("/v1/members/{ann}/benefits")).await;
        let d = &mine["benefits"][0];
        assert_eq!(
            (d["used"].clone(), d["limit"].clone()),
            (json!(2), json!(2)),
            "{mine}"
        );

        // Taken off V2: Ann keeps it to the end of her term and grace, and is told 30
        // days before; a new V2 member does not get it.
        let (status, body) = app
            .put(
                "/v1/programmes/paid/tiers/V2/benefits",
                json!({"benefits": ["free-delivery"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["removed"].clone(), body["notices"].clone()),
            (json!(["free-refill"]), json!(1))
        );
        let until = expires + 30 * DAY;
        assert_eq!(
            held(&app, ann).await,
            vec![
                ("free-delivery".to_owned(), Value::Null),
                ("free-refill".to_owned(), json!(to_rfc3339(until)))
            ]
        );
        let (status, notices) = app.get(&format!("/v1/notices?member_id={ann}")).await;
        assert_eq!(status, StatusCode::OK, "{notices}");
        let n = &notices["notices"][0];
        assert_eq!(n["kind"], "benefit_removed", "{notices}");
        assert_eq!(n["deliver_at"], json!(to_rfc3339(until - 30 * DAY)));
        let cat = member(&app, "13600000003").await;
        buy(&app, cat, "V2", "199.00", "cat-v2").await;
        assert_eq!(
            held(&app, cat).await,
            vec![("free-delivery".to_owned(), Value::Null)]
        );
        let (status, body) = use_it(cat, "free-refill", "store", "r-3").await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "benefit_not_held")
        );

        // Ann renews; once her first term and its grace are over the benefit is gone.
        buy(&app, ann, "V2", "199.00", "ann-v2-renew").await;
        app.advance(until - app.now() + DAY);
        assert_eq!(
            held(&app, ann).await,
            vec![("free-delivery".to_owned(), Value::Null)]
        );

        let (_, audit) = app.get("/v1/audit?kind=tier_benefits").await;
        assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");
    }
}
