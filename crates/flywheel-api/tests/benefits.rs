//! Benefits over real HTTP, on SQLite and PostgreSQL: the catalogue and its checks, tiers
//! that give them, uses refused with a reason outside scope or beyond the limit, and a
//! benefit taken off a tier staying with each holder until their term ends, with notice.

mod common;

use common::TestApp;
use flywheel_core::auth::Role;
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
        // When it is due it goes out through the outbox, once, as a service notice: no
        // opt-in needed, quiet hours still kept.
        let mut policy = flywheel_core::Policy::default();
        policy.engagement.quiet_start = "00:00".into();
        policy.engagement.quiet_end = "00:00".into();
        let due = until - 30 * DAY;
        let early = app
            .store
            .run_notices(&policy, &app.base, due - DAY)
            .await
            .unwrap();
        assert_eq!(early, 0);
        let sent = app
            .store
            .run_notices(&policy, &app.base, due)
            .await
            .unwrap();
        assert_eq!(sent, 1);
        assert_eq!(
            app.store
                .run_notices(&policy, &app.base, due + DAY)
                .await
                .unwrap(),
            0
        );
        let (_, outbox) = app.get(&format!("/v1/outbox?member_id={ann}")).await;
        let m = &outbox["messages"][0];
        assert_eq!(
            (
                m["kind"].as_str(),
                m["channel"].as_str(),
                m["status"].as_str()
            ),
            (Some("notice"), Some("wechat"), Some("queued")),
            "{outbox}"
        );
        assert_eq!(m["subject"], n["subject"], "{outbox}");
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

#[tokio::test]
async fn a_partner_benefit_hands_out_each_code_once_and_settles_per_partner() {
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let video = json!({"id": "video", "name": "Video-site membership",
            "effective_from": "2026-01-01T00:00:00Z",
            "limit": {"uses": 1, "per": "term"},
            "partner": {"id": "tencent-video", "name": "Tencent Video"}});
        let (status, body) = app.post("/v1/benefits", video).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["codes"], json!({"in_stock": 0, "issued": 0}));
        let (status, body) = app
            .put(
                "/v1/benefits/bad",
                json!({"name": "Bad", "effective_from": "2026-01-01T00:00:00Z",
                       "partner": {"id": "Not A Code", "name": ""}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let fields: Vec<&str> = body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["partner.id", "partner.name"], "{body}");
        let (status, body) = app
            .put(
                "/v1/programmes/paid/tiers/V1/benefits",
                json!({"benefits": ["video"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // Codes are checked one by one, and a load names the bad one.
        let (status, body) = app
            .post(
                "/v1/benefits/video/codes",
                json!({"codes": ["TV-0001", "TV 0002"]}),
            )
            .await;
        assert_eq!(
            (status, field(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "codes[1]")
        );
        let (status, body) = app
            .post("/v1/benefits/video/codes", json!({"codes": []}))
            .await;
        assert_eq!(
            (status, field(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "codes")
        );
        let (status, body) = app
            .post("/v1/benefits/nothing/codes", json!({"codes": ["X1"]}))
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "benefit_not_found")
        );
        app.post(
            "/v1/benefits",
            json!({"id": "refill", "name": "Refill", "effective_from": "2026-01-01T00:00:00Z"}),
        )
        .await;
        let (status, body) = app
            .post("/v1/benefits/refill/codes", json!({"codes": ["X1"]}))
            .await;
        assert_eq!(
            (status, field(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "id"),
            "{body}"
        );

        // A load retried with one more code adds only that one.
        let (status, body) = app
            .post(
                "/v1/benefits/video/codes",
                json!({"codes": ["TV-0001", "TV-0002", "TV-0003", "TV-0003"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["added"].as_u64(), body["in_stock"].as_i64()),
            (Some(3), Some(3))
        );
        let (_, body) = app
            .post(
                "/v1/benefits/video/codes",
                json!({"codes": ["TV-0001", "TV-0002", "TV-0003", "TV-0004"]}),
            )
            .await;
        assert_eq!(
            (
                body["added"].as_u64(),
                body["already_loaded"].as_u64(),
                body["in_stock"].as_i64()
            ),
            (Some(1), Some(3), Some(4)),
            "{body}"
        );

        // Five V1 members claim their code at once; there are four.
        let mut members = Vec::new();
        for i in 0..5 {
            let m = member(&app, &format!("+8613900007{i:03}")).await;
            buy(&app, m, "V1", "99.00", &format!("video-buy-{i}")).await;
            members.push(m);
        }
        let paths: Vec<String> = members
            .iter()
            .map(|m| format!("/v1/members/{m}/benefits/video/uses"))
            .collect();
        let claims = members.iter().zip(&paths).map(|(m, path)| {
            app.post(
                path,
                json!({"channel": "app", "idempotency_key": format!("video-{m}")}),
            )
        });
        let answers = futures_util::future::join_all(claims).await;
        let mut handed: Vec<String> = Vec::new();
        let mut refused = Vec::new();
        for (m, (status, body)) in members.iter().zip(&answers) {
            match *status {
                StatusCode::CREATED => {
                    assert_eq!(body["partner"], "tencent-video", "{body}");
                    handed.push(body["code"].as_str().unwrap().to_owned());
                }
                StatusCode::CONFLICT => {
                    assert_eq!(code(body), "benefit_out_of_codes", "{body}");
                    refused.push(*m);
                }
                other => panic!("{other}: {body}"),
            }
        }
        handed.sort();
        assert_eq!(handed, ["TV-0001", "TV-0002", "TV-0003", "TV-0004"]);
        assert_eq!(refused.len(), 1);

        // A retried claim answers the same code; a second claim in the term is refused by
        // the limit without taking a code; the refused member succeeds once more arrive.
        let first = members
            .iter()
            .find(|m| !refused.contains(m))
            .copied()
            .unwrap();
        let i = members.iter().position(|m| *m == first).unwrap();
        let (status, again) = app
            .post(
                &format!("/v1/members/{first}/benefits/video/uses"),
                json!({"channel": "app", "idempotency_key": format!("video-{first}")}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(
            (&again["code"], again["replayed"].as_bool()),
            (&answers[i].1["code"], Some(true))
        );
        let (status, body) = app
            .post(
                &format!("/v1/members/{first}/benefits/video/uses"),
                json!({"idempotency_key": format!("video-{first}-again")}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "benefit_limit_reached")
        );
        app.post("/v1/benefits/video/codes", json!({"codes": ["TV-0005"]}))
            .await;
        let late = refused[0];
        let (status, body) = app
            .post(
                &format!("/v1/members/{late}/benefits/video/uses"),
                json!({"idempotency_key": format!("video-{late}-later")}),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::CREATED, Some("TV-0005")),
            "{body}"
        );

        // The member's benefits show their code: whole to the till, the last four to a
        // read-only key.
        let path = format!("/v1/members/{late}/benefits");
        let (_, body) = app
            .call("GET", &path, Some(&app.key(Role::Staff).await), None)
            .await;
        assert_eq!(body["benefits"][0]["codes"], json!(["TV-0005"]), "{body}");
        assert_eq!(body["benefits"][0]["partner"], "Tencent Video");
        let (_, body) = app
            .call("GET", &path, Some(&app.key(Role::ReadOnly).await), None)
            .await;
        assert_eq!(body["benefits"][0]["codes"], json!(["****0005"]), "{body}");

        // The settlement counts five codes for the partner, none left.
        let finance = app.key(Role::Finance).await;
        let (status, body) = app
            .call(
                "GET",
                "/v1/reports/benefits/settlement?partner=tencent-video",
                Some(&finance),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["issued"], 5, "{body}");
        assert_eq!(
            body["rows"],
            json!([{"partner": "tencent-video", "partner_name": "Tencent Video",
                    "benefit": "video", "issued": 5, "in_stock": 0}])
        );
        let (status, body) = app
            .call(
                "GET",
                "/v1/reports/benefits/settlement?from=2000-01-01&to=2000-01-31",
                Some(&finance),
                None,
            )
            .await;
        assert_eq!(
            (status, body["issued"].as_i64()),
            (StatusCode::OK, Some(0)),
            "{body}"
        );
        let (status, body) = app
            .call(
                "GET",
                "/v1/reports/benefits/settlement?from=2030-01-02&to=2030-01-01",
                Some(&finance),
                None,
            )
            .await;
        assert_eq!((status, field(&body)), (StatusCode::BAD_REQUEST, "from"));
        let (_, body) = app.get("/v1/benefits/video").await;
        assert_eq!(body["codes"], json!({"in_stock": 0, "issued": 5}));

        // Loads are audited by their counts; the codes themselves stay out of the log.
        let (_, audit) = app.get("/v1/audit?kind=partner_codes").await;
        let entries = audit["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 3, "{audit}");
        assert!(!audit.to_string().contains("TV-000"), "{audit}");
    }
}
