//! Membership programmes over real HTTP, on SQLite and PostgreSQL: the example
//! definitions accepted as written, versions, every fault named by its field, who may
//! define and read them, and the audit log.

mod common;

use common::TestApp;
use flywheel_core::auth::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn paid() -> Value {
    json!({"name": "Paid membership", "kind": "paid", "term": {"days": 365},
     "tiers": [
       {"id": "V1", "name": "V1", "rank": 1, "fee": "99.00", "max_points_share": 0.6},
       {"id": "V2", "name": "V2", "rank": 2, "fee": "199.00", "max_points_share": 0.6,
        "upgrade": {"measure": "spend", "threshold": "10000.00"}},
       {"id": "V3", "name": "V3", "rank": 3, "fee": "299.00", "max_points_share": 0.6,
        "upgrade": {"measure": "spend", "threshold": "30000.00"}}],
     "retention": {"measure": "spend", "threshold": "3000.00"},
     "downgrade": {"policy": "one_down", "grace_days": 30}})
}

fn club() -> Value {
    json!({"name": "Club", "kind": "earned", "window_days": 365,
     "tiers": [{"id": "silver", "name": "Silver", "rank": 1, "qualify": {"measure": "spend", "threshold": "1000.00"}},
               {"id": "gold", "name": "Gold", "rank": 2, "qualify": {"measure": "spend", "threshold": "5000.00"}}],
     "downgrade": {"policy": "recompute", "grace_days": 0}})
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

fn field(body: &Value) -> &str {
    body["error"]["field"].as_str().unwrap_or("")
}

#[tokio::test]
async fn programmes_are_defined_versioned_and_checked() {
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["version"], 1, "{body}");
        assert_eq!(
            body["definition"]["tiers"][1]["upgrade"]["threshold"],
            "10000.00"
        );
        assert_eq!(
            body["definition"]["cooling_off_days"], 7,
            "defaults filled in"
        );

        // The same definition again (a retry) stores nothing.
        let (status, again) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["version"], 1, "{again}");

        // A change is the next version; the list shows the newest of each programme.
        let mut changed = paid();
        changed["retention"]["threshold"] = json!("2500.00");
        let (status, body) = app.put("/v1/programmes/paid", changed).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["version"], 2, "{body}");
        let (status, body) = app.put("/v1/programmes/club", club()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, list) = app.get("/v1/programmes").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let ids: Vec<(&str, i64)> = list["programmes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].as_str().unwrap(), p["version"].as_i64().unwrap()))
            .collect();
        assert_eq!(ids, vec![("club", 1), ("paid", 2)]);
        let (status, one) = app.get("/v1/programmes/paid").await;
        assert_eq!(status, StatusCode::OK, "{one}");
        assert_eq!(one["definition"]["retention"]["threshold"], "2500.00");
        assert_eq!(one["versions"].as_array().unwrap().len(), 2, "{one}");
        assert_eq!(one["versions"][0]["version"], 2, "{one}");

        // A programme keeps its kind.
        let (status, body) = app.put("/v1/programmes/paid", club()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!((code(&body), field(&body)), ("invalid_value", "kind"));

        // Every fault at once, each by its field.
        let mut bad = paid();
        bad["tiers"][1]["fee"] = json!("1.999");
        bad["tiers"][2]["rank"] = json!(2);
        bad["downgrade"]["grace_days"] = json!(99_999);
        let (status, body) = app.put("/v1/programmes/paid", bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let fields: Vec<&str> = body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            vec!["tiers[1].fee", "tiers[2].rank", "downgrade.grace_days"],
            "{body}"
        );
        let mut unknown = club();
        unknown["tiers"][0]["colour"] = json!("silver");
        let (status, body) = app.put("/v1/programmes/club", unknown).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            (code(&body), field(&body)),
            ("unknown_field", "tiers[0].colour")
        );
        let (status, body) = app.put("/v1/programmes/Not%20an%20id", club()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(field(&body), "id", "{body}");
        let (_, one) = app.get("/v1/programmes/paid").await;
        assert_eq!(one["version"], 2, "refused changes store nothing");

        let (status, body) = app.get("/v1/programmes/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(code(&body), "programme_not_found");

        // Only an admin defines programmes; the till reads them.
        let operator = app.key(Role::Operator).await;
        let (status, body) = app
            .call("PUT", "/v1/programmes/club", Some(&operator), Some(club()))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let staff = app.key(Role::Staff).await;
        let (status, body) = app
            .call("GET", "/v1/programmes/club", Some(&staff), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let integrator = app.key(Role::Integrator).await;
        let (status, _) = app
            .call("GET", "/v1/programmes", Some(&integrator), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Each stored version is in the audit log, with what it replaced.
        let (status, log) = app.get("/v1/audit?kind=programme").await;
        assert_eq!(status, StatusCode::OK, "{log}");
        let entries = log["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 3, "{log}");
        let update = entries
            .iter()
            .find(|e| e["action"] == "update")
            .expect("the change to paid");
        assert_eq!(update["target"], "programme:paid");
        assert_eq!(update["before"]["version"], 1, "{update}");
        assert_eq!(
            update["after"]["definition"]["retention"]["threshold"],
            "2500.00"
        );
    }
}

async fn member_with_points(app: &TestApp, phone: &str, points: i64) -> i64 {
    let now = flywheel_core::time::to_rfc3339(app.now());
    let reg = app
        .send(
            json!({"event_id": format!("reg-{phone}"), "type": "register", "occurred_at": now,
                     "channel": "mini_program", "identities": {"phone": phone}, "properties": {}}),
        )
        .await;
    let member = reg["member_id"].as_i64().unwrap();
    if points > 0 {
        let (status, body) = app
            .post(
                "/v1/points/adjustments",
                json!({"member_id": member, "points": points, "reason": "gift",
                       "idempotency_key": format!("gift-{phone}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    member
}

async fn balance(app: &TestApp, member: i64) -> i64 {
    let (status, body) = app.get(&format!("/v1/members/{member}/points")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["balance"].as_i64().unwrap()
}

#[tokio::test]
async fn a_paid_tier_is_bought_with_cash_and_points_renewed_and_lapses_after_grace() {
    use flywheel_core::time::DAY;
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ann = member_with_points(&app, "13800138000", 6_000).await;
        let start = balance(&app, ann).await; // the gift, and what registering earned
        let buy = json!({"member_id": ann, "programme": "paid", "tier": "V1",
                         "payment": {"cash": "49.00", "points": 5000}, "idempotency_key": "m-1"});
        let (status, bought) = app.post("/v1/memberships", buy.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{bought}");
        assert_eq!(bought["payment"], json!({"cash": "49.00", "points": 5000}));
        assert_eq!(
            balance(&app, ann).await,
            start - 5_000,
            "5,000 points paid 50.00 of 99.00"
        );
        app.assert_books_balance().await;
        // The value page counts her under the tier she holds, and only there.
        let (status, c) = app.get("/v1/stats/contribution").await;
        assert_eq!(status, StatusCode::OK, "{c}");
        let tiers: Vec<(&str, i64)> = c["by_tier"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["key"].as_str().unwrap(), g["members"].as_i64().unwrap()))
            .collect();
        assert_eq!(tiers, [("paid:V1", 1)], "{c}");

        // A retry pays nothing again; the same key for another request is refused.
        let (status, again) = app.post("/v1/memberships", buy).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(
            (again["id"].clone(), again["replayed"].clone()),
            (bought["id"].clone(), json!(true))
        );
        assert_eq!(balance(&app, ann).await, start - 5_000);
        let (status, body) = app
            .post(
                "/v1/memberships",
                json!({"member_id": ann, "programme": "paid", "tier": "V1",
                   "payment": {"cash": "99.00"}, "idempotency_key": "m-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(code(&body), "idempotency_key_reused");

        let (status, held) = app.get(&format!("/v1/members/{ann}/memberships")).await;
        assert_eq!(status, StatusCode::OK, "{held}");
        let m = &held["memberships"][0];
        assert_eq!(
            (m["programme"].as_str(), m["tier"].as_str()),
            (Some("paid"), Some("V1")),
            "{held}"
        );
        assert_eq!(
            (m["source"].as_str(), m["status"].as_str()),
            (Some("paid"), Some("active"))
        );
        let card = held["card_no"].as_str().expect("a card number on joining");
        assert!(
            flywheel_core::membership::card::is_card_number(card),
            "{card}"
        );
        let (status, found) = app.get(&format!("/v1/members/lookup?card_no={card}")).await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["id"], ann, "the till finds the member by card");

        // Too few points, and payments that do not fit the fee, are refused and change nothing.
        let bob = member_with_points(&app, "13900139000", 100).await;
        let bobs = balance(&app, bob).await;
        let (status, body) = app
            .post(
                "/v1/memberships",
                json!({"member_id": bob, "programme": "paid", "tier": "V1",
                   "payment": {"cash": "49.00", "points": 5000}, "idempotency_key": "m-2"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(code(&body), "insufficient_points");
        for (payment, field_name) in [
            (json!({"cash": "40.00", "points": 50}), "payment"),
            (json!({"cash": "9.00", "points": 9000}), "payment.points"),
            (json!({"cash": "9.9.9"}), "payment.cash"),
        ] {
            let (status, body) = app
                .post(
                    "/v1/memberships",
                    json!({"member_id": bob, "programme": "paid", "tier": "V1",
                       "payment": payment, "idempotency_key": "m-3"}),
                )
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(field(&body), field_name, "{body}");
        }
        let (status, body) = app
            .post(
                "/v1/memberships",
                json!({"member_id": bob, "programme": "paid", "tier": "V9",
                   "payment": {"cash": "99.00"}, "idempotency_key": "m-4"}),
            )
            .await;
        assert_eq!(
            (status, field(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "tier"),
            "{body}"
        );
        let (status, body) = app
            .post(
                "/v1/memberships",
                json!({"member_id": bob, "programme": "nope", "tier": "V1",
                   "payment": {"cash": "99.00"}, "idempotency_key": "m-5"}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "programme_not_found"),
            "{body}"
        );
        assert_eq!(balance(&app, bob).await, bobs);
        let (_, none) = app.get(&format!("/v1/members/{bob}/memberships")).await;
        assert_eq!(none["memberships"], json!([]), "{none}");
        assert_eq!(none["card_no"], Value::Null);

        // Renewing early starts the next term where this one ends.
        let first_end = m["expires_at"].as_str().unwrap().to_owned();
        app.advance(300 * DAY);
        let (status, renewed) = app
            .post(
                "/v1/memberships",
                json!({"member_id": ann, "programme": "paid", "tier": "V1",
                   "payment": {"cash": "99.00"}, "idempotency_key": "m-6"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{renewed}");
        assert_eq!(renewed["term_start"].as_str(), Some(first_end.as_str()));
        // A lower tier cannot be bought while a higher one holds; a higher one can.
        let (status, up) = app
            .post(
                "/v1/memberships",
                json!({"member_id": ann, "programme": "paid", "tier": "V2",
                   "payment": {"cash": "199.00"}, "idempotency_key": "m-7"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{up}");
        let (status, body) = app
            .post(
                "/v1/memberships",
                json!({"member_id": ann, "programme": "paid", "tier": "V1",
                   "payment": {"cash": "99.00"}, "idempotency_key": "m-8"}),
            )
            .await;
        assert_eq!(
            (status, field(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "tier"),
            "{body}"
        );

        // Past the term, within 30 days of grace: still held, in grace. After: gone.
        app.advance(366 * DAY);
        let (_, held) = app.get(&format!("/v1/members/{ann}/memberships")).await;
        assert_eq!(held["memberships"][0]["status"], "grace", "{held}");
        app.advance(30 * DAY);
        let (_, held) = app.get(&format!("/v1/members/{ann}/memberships")).await;
        assert_eq!(held["memberships"], json!([]), "{held}");

        let (status, history) = app.get(&format!("/v1/members/{ann}/tiers")).await;
        assert_eq!(status, StatusCode::OK, "{history}");
        let steps: Vec<(Value, Value, Value)> = history["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["from"].clone(), c["to"].clone(), c["rule"].clone()))
            .collect();
        assert_eq!(
            steps,
            vec![
                (Value::Null, json!("V1"), json!("purchase")),
                (json!("V1"), json!("V1"), json!("renewal")),
                (json!("V1"), json!("V2"), json!("purchase")),
            ]
        );
        assert!(
            history["changes"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("49.00 cash and 5000 points"),
            "{history}"
        );
        app.assert_books_balance().await;
    }
}

#[tokio::test]
async fn the_sweep_keeps_lowers_and_lapses_terms_each_by_its_own_spend() {
    use flywheel_core::time::{DAY, to_rfc3339};
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // A second ladder kept by points earned in the term (a purchase earns a point a yuan).
        let stars = json!({"name": "Stars", "kind": "paid",
            "tiers": [{"id": "S1", "name": "Star", "rank": 1, "fee": "10.00"}],
            "retention": {"measure": "points", "threshold": 3000},
            "downgrade": {"policy": "one_down", "grace_days": 30}});
        let (status, body) = app.put("/v1/programmes/stars", stars).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut members = Vec::new();
        for (phone, tier, fee, spend) in [
            ("13800000001", "V2", "199.00", Some("3500.00")),
            ("13800000002", "V2", "199.00", Some("100.00")),
            ("13800000003", "V1", "99.00", None),
        ] {
            let m = member_with_points(&app, phone, 0).await;
            let (status, body) = app
                .post(
                    "/v1/memberships",
                    json!({"member_id": m, "programme": "paid", "tier": tier,
                       "payment": {"cash": fee}, "idempotency_key": format!("buy-{phone}")}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            if tier == "V2" {
                let (status, body) = app
                    .post("/v1/memberships", json!({"member_id": m, "programme": "stars", "tier": "S1",
                           "payment": {"cash": "10.00"}, "idempotency_key": format!("star-{phone}")}))
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
            }
            if let Some(amount) = spend {
                app.send(json!({"event_id": format!("spend-{phone}"), "type": "purchase",
                    "occurred_at": to_rfc3339(app.now()), "channel": "store",
                    "identities": {"phone": phone},
                    "properties": {"order_id": format!("o-{phone}"), "amount": amount, "currency": "CNY"}}))
                    .await;
            }
            members.push(m);
        }
        let [ann, bob, cat] = members[..] else {
            unreachable!()
        };
        let held = |m: i64| {
            let app = &app;
            async move {
                let (_, body) = app.get(&format!("/v1/members/{m}/memberships")).await;
                body["memberships"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["tier"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            }
        };
        // Within the grace nothing is decided.
        app.advance(380 * DAY);
        let report = app.store.sweep_memberships(app.now()).await.unwrap();
        assert_eq!(report, flywheel_store::MembershipSweepReport::default());
        app.advance(20 * DAY);
        let report = app.store.sweep_memberships(app.now()).await.unwrap();
        assert_eq!(
            (report.retained, report.lowered, report.lapsed),
            (2, 1, 2),
            "{report:?}"
        );
        assert_eq!(
            held(ann).await,
            vec!["V2", "S1"],
            "3,500.00 spent keeps V2, 3,500 points S1"
        );
        assert_eq!(
            held(bob).await,
            vec!["V1"],
            "100.00 spent: one tier down, and S1 lapses"
        );
        assert_eq!(
            held(cat).await,
            Vec::<String>::new(),
            "the lowest tier lapses"
        );
        let again = app.store.sweep_memberships(app.now()).await.unwrap();
        assert_eq!(
            again,
            flywheel_store::MembershipSweepReport::default(),
            "nothing twice"
        );

        // A sweep two terms late judges each term by its own spend: Ann spent nothing in
        // her second term (V2 → V1) nor in the third (V1 lapses).
        app.advance(800 * DAY);
        let report = app.store.sweep_memberships(app.now()).await.unwrap();
        assert_eq!((report.lowered, report.lapsed), (1, 3), "{report:?}");
        let (_, history) = app.get(&format!("/v1/members/{ann}/tiers")).await;
        let paid_changes: Vec<&Value> = history["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["programme"] == "paid")
            .collect();
        let steps: Vec<(Value, Value)> = paid_changes
            .iter()
            .map(|c| (c["to"].clone(), c["rule"].clone()))
            .collect();
        assert_eq!(
            steps,
            vec![
                (json!("V2"), json!("purchase")),
                (json!("V2"), json!("retention")),
                (json!("V1"), json!("downgrade")),
                (Value::Null, json!("lapse")),
            ],
            "{history}"
        );
        let lapse = paid_changes[3];
        assert!(
            lapse["reason"]
                .as_str()
                .unwrap()
                .contains("less than the 3000.00"),
            "{lapse}"
        );
        let (_, cats) = app.get(&format!("/v1/members/{cat}/tiers")).await;
        assert_eq!(cats["changes"][1]["rule"], "lapse", "{cats}");
    }
}

#[tokio::test]
async fn a_tier_renewed_ahead_is_raised_and_kept_by_each_terms_own_spend() {
    use flywheel_core::time::{DAY, to_rfc3339};
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let spend = |phone: &'static str, n: u32, amount: &'static str| {
            let app = &app;
            async move {
                app.send(json!({"event_id": format!("spend-{phone}-{n}"), "type": "purchase",
                    "occurred_at": to_rfc3339(app.now()), "channel": "store",
                    "identities": {"phone": phone},
                    "properties": {"order_id": format!("o-{phone}-{n}"), "amount": amount, "currency": "CNY"}}))
                    .await;
            }
        };
        let buy = |m: i64, key: &'static str| {
            let app = &app;
            async move {
                let (status, body) = app
                    .post(
                        "/v1/memberships",
                        json!({"member_id": m, "programme": "paid", "tier": "V1",
                               "payment": {"cash": "99.00"}, "idempotency_key": key}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
            }
        };
        // Both spend 6,000.00 in their first term and renew V1 before it ends.
        let (dee, eve) = ("13800000011", "13800000012");
        let dee_id = member_with_points(&app, dee, 0).await;
        let eve_id = member_with_points(&app, eve, 0).await;
        buy(dee_id, "dee-1").await;
        buy(eve_id, "eve-1").await;
        spend(dee, 1, "6000.00").await;
        spend(eve, 1, "6000.00").await;
        app.advance(350 * DAY);
        buy(dee_id, "dee-2").await;
        buy(eve_id, "eve-2").await;

        // In her second term Dee spends 5,000.00: 11,000.00 since she joined, but the
        // 10,000.00 that raises V1 to V2 counts within one term.
        app.advance(50 * DAY);
        spend(dee, 2, "5000.00").await;
        assert_eq!(
            holding(&app, dee_id, "paid").await,
            Some(("V1".into(), "paid".into()))
        );
        let (_, body) = app.get(&format!("/v1/members/{dee_id}/memberships")).await;
        let progress = &body["memberships"][0]["progress"];
        assert_eq!(progress["current"], "5000.00", "{body}");
        assert_eq!(progress["needed"], "5000.00", "{body}");

        // At the end of the second term each is judged by that term alone: Dee's
        // 5,000.00 keeps V1; Eve spent nothing in it, and V1 (the floor) lapses once the
        // 30 days of grace after day 730 are over.
        app.advance(380 * DAY);
        let report = app.store.sweep_memberships(app.now()).await.unwrap();
        assert_eq!((report.retained, report.lapsed), (1, 1), "{report:?}");
        assert_eq!(
            holding(&app, dee_id, "paid").await.map(|h| h.0),
            Some("V1".into())
        );
        assert_eq!(holding(&app, eve_id, "paid").await, None);
        let (_, history) = app.get(&format!("/v1/members/{eve_id}/tiers")).await;
        let last = history["changes"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert!(
            last["reason"]
                .as_str()
                .unwrap()
                .contains("0.00 in the term ending"),
            "{last}"
        );
    }
}

#[tokio::test]
async fn a_purchase_is_cancelled_within_its_cooling_off_period_points_and_tier_restored() {
    use flywheel_core::time::DAY;
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ann = member_with_points(&app, "13700137000", 6_000).await;
        let start = balance(&app, ann).await;
        let buy = |tier: &str, cash: &str, points: i64, key: &str| {
            json!({"member_id": ann, "programme": "paid", "tier": tier,
                   "payment": {"cash": cash, "points": points}, "idempotency_key": key})
        };
        let (status, v1) = app
            .post("/v1/memberships", buy("V1", "99.00", 0, "c-1"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v1}");
        app.advance(DAY);
        let (status, v2) = app
            .post("/v1/memberships", buy("V2", "149.00", 5000, "c-2"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v2}");
        assert_eq!(balance(&app, ann).await, start - 5_000);

        // The earlier purchase cannot go while the later one holds.
        let cancel = |id: &Value| format!("/v1/memberships/{}/cancel", id.as_str().unwrap());
        let (status, body) = app.post(&cancel(&v1["id"]), json!({})).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "purchase_superseded"),
            "{body}"
        );

        let (status, done) = app.post(&cancel(&v2["id"]), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(done["status"], "cancelled");
        assert_eq!(balance(&app, ann).await, start, "the 5,000 points are back");
        app.assert_books_balance().await;
        let (_, held) = app.get(&format!("/v1/members/{ann}/memberships")).await;
        assert_eq!(held["memberships"][0]["tier"], "V1", "back to V1: {held}");
        let (status, again) = app.post(&cancel(&v2["id"]), json!({})).await;
        assert_eq!(
            (status, again["status"].as_str()),
            (StatusCode::OK, Some("cancelled"))
        );
        assert_eq!(
            balance(&app, ann).await,
            start,
            "cancelling twice returns nothing twice"
        );

        // Past the 7 days of cooling-off, V1 stays bought.
        app.advance(7 * DAY);
        let (status, body) = app.post(&cancel(&v1["id"]), json!({})).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "cooling_off_over"),
            "{body}"
        );
        let (status, body) = app.post("/v1/memberships/mbr_nope/cancel", json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

        let (_, history) = app.get(&format!("/v1/members/{ann}/tiers")).await;
        let last = history["changes"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(
            (last["from"].as_str(), last["to"].as_str()),
            (Some("V2"), Some("V1")),
            "{history}"
        );
        assert_eq!(last["rule"], "cancellation");
        assert!(
            last["reason"]
                .as_str()
                .unwrap()
                .contains("5000 points returned"),
            "{last}"
        );
    }
}

#[tokio::test]
async fn an_operator_sets_and_ends_a_tier_by_hand_with_a_reason_in_the_audit_log() {
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ann = member_with_points(&app, "13600136000", 0).await;
        let path = format!("/v1/members/{ann}/memberships/paid");
        let operator = app.key(Role::Operator).await;
        let staff = app.key(Role::Staff).await;
        let set = json!({"tier": "V2", "reason": "service recovery after a lost order"});
        let (status, _) = app
            .call("PUT", &path, Some(&staff), Some(set.clone()))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, held) = app
            .call("PUT", &path, Some(&operator), Some(set.clone()))
            .await;
        assert_eq!(status, StatusCode::OK, "{held}");
        let m = &held["memberships"][0];
        assert_eq!(
            (m["tier"].as_str(), m["source"].as_str()),
            (Some("V2"), Some("manual")),
            "{held}"
        );
        assert!(
            m["expires_at"].is_string(),
            "a paid tier gets a term: {held}"
        );
        assert!(held["card_no"].is_string(), "{held}");
        // The same again changes nothing.
        let (status, _) = app.call("PUT", &path, Some(&operator), Some(set)).await;
        assert_eq!(status, StatusCode::OK);

        for (body, field_name) in [
            (json!({"tier": "V9", "reason": "x"}), "tier"),
            (
                json!({"tier": "V1", "expires_at": "2001-01-01T00:00:00Z", "reason": "x"}),
                "expires_at",
            ),
            (json!({"tier": "V1"}), "reason"),
            (json!({"tier": "V1", "reason": ""}), "reason"),
        ] {
            let (status, answer) = app.call("PUT", &path, Some(&operator), Some(body)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
            assert_eq!(field(&answer), field_name, "{answer}");
        }
        let (status, body) = app
            .call(
                "PUT",
                &format!("/v1/members/{ann}/memberships/nope"),
                Some(&operator),
                Some(json!({"tier": "V1", "reason": "x"})),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "programme_not_found"),
            "{body}"
        );

        let (status, held) = app
            .call(
                "PUT",
                &path,
                Some(&operator),
                Some(json!({"tier": null, "reason": "joined by mistake"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{held}");
        assert_eq!(held["memberships"], json!([]), "{held}");

        let (_, history) = app.get(&format!("/v1/members/{ann}/tiers")).await;
        let steps: Vec<(Value, Value, Value)> = history["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["to"].clone(), c["rule"].clone(), c["reason"].clone()))
            .collect();
        assert_eq!(
            steps,
            vec![
                (
                    json!("V2"),
                    json!("manual"),
                    json!("service recovery after a lost order")
                ),
                (Value::Null, json!("manual"), json!("joined by mistake")),
            ]
        );
        let (_, log) = app.get("/v1/audit?kind=membership").await;
        let entries = log["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{log}");
        let removal = entries.iter().find(|e| e["action"] == "remove").unwrap();
        assert_eq!(removal["before"]["tier"], "V2", "{removal}");
        assert_eq!(removal["reason"], "joined by mistake");
        assert_eq!(removal["target"], format!("member:{ann}/programme:paid"));
    }
}

/// The changes of one programme in a member's history, as (to, rule).
async fn steps(app: &TestApp, member: i64, programme: &str) -> Vec<(Value, Value)> {
    let (status, history) = app.get(&format!("/v1/members/{member}/tiers")).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["programme"] == programme)
        .map(|c| (c["to"].clone(), c["rule"].clone()))
        .collect()
}

/// The tier a member holds now in one programme, with its source.
async fn holding(app: &TestApp, member: i64, programme: &str) -> Option<(String, String)> {
    let (status, body) = app.get(&format!("/v1/members/{member}/memberships")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["programme"] == programme)
        .map(|m| {
            (
                m["tier"].as_str().unwrap().to_owned(),
                m["source"].as_str().unwrap().to_owned(),
            )
        })
}

/// What a failed assertion about a member prints: the tiers, memberships and points the
/// API shows, and the clock.
async fn story(app: &TestApp, member: i64) -> String {
    let (_, tiers) = app.get(&format!("/v1/members/{member}/tiers")).await;
    let (_, held) = app.get(&format!("/v1/members/{member}/memberships")).await;
    let (_, points) = app.get(&format!("/v1/members/{member}/points")).await;
    format!(
        "member {member} at {}:\ntiers {tiers}\nmemberships {held}\npoints {points}",
        flywheel_core::time::to_rfc3339(app.now())
    )
}

#[tokio::test]
async fn spend_raises_tiers_at_once_and_spending_points_lowers_none() {
    use flywheel_core::time::to_rfc3339;
    for app in TestApp::all().await {
        for (id, def) in [("paid", paid()), ("club", club())] {
            let (status, body) = app.put(&format!("/v1/programmes/{id}"), def).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let ann = member_with_points(&app, "13700000001", 6_000).await;
        let (status, body) = app
            .post(
                "/v1/memberships",
                json!({"member_id": ann, "programme": "paid", "tier": "V1",
                       "payment": {"cash": "99.00"}, "idempotency_key": "ann-v1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let expires = body["expires_at"].clone();
        let (_, member) = app.get(&format!("/v1/members/{ann}")).await;
        assert_eq!(
            member["facts"]["custom"]["membership_purchase"], 1,
            "the purchase is in her history: {member}"
        );
        let buy = |order: &str, amount: &str| {
            json!({"event_id": format!("buy-{order}"), "type": "purchase",
                   "occurred_at": to_rfc3339(app.now()), "channel": "store",
                   "identities": {"phone": "13700000001"},
                   "properties": {"order_id": order, "amount": amount, "currency": "CNY"}})
        };
        app.send(buy("a1", "1500.00")).await;
        assert_eq!(
            holding(&app, ann, "paid").await,
            Some(("V1".into(), "paid".into()))
        );
        assert_eq!(
            holding(&app, ann, "club").await,
            Some(("silver".into(), "earned".into())),
            "1,000.00 in the window reaches silver"
        );
        app.send(buy("a2", "9000.00")).await;
        assert_eq!(
            holding(&app, ann, "paid").await,
            Some(("V2".into(), "upgrade".into())),
            "10,500.00 in the term raises V1 to V2 with the same event"
        );
        let (_, held) = app.get(&format!("/v1/members/{ann}/memberships")).await;
        let paid_now = held["memberships"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["programme"] == "paid")
            .unwrap()
            .clone();
        assert_eq!(paid_now["expires_at"], expires, "free until the term ends");
        assert_eq!(
            steps(&app, ann, "paid").await,
            vec![
                (json!("V1"), json!("purchase")),
                (json!("V2"), json!("upgrade"))
            ]
        );
        let (_, history) = app.get(&format!("/v1/members/{ann}/tiers")).await;
        let upgrade = history["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["rule"] == "upgrade")
            .unwrap()
            .clone();
        assert!(
            upgrade["reason"]
                .as_str()
                .unwrap()
                .contains("10500.00 spent in the term"),
            "{upgrade}"
        );
        assert_eq!(
            steps(&app, ann, "club").await,
            vec![
                (json!("silver"), json!("qualify")),
                (json!("gold"), json!("qualify"))
            ]
        );

        // Spending points and a refund lower nothing at once: tiers qualify on spend,
        // never on the balance, and only the end of a term lowers them.
        let (status, body) = app
            .post(
                "/v1/points/adjustments",
                json!({"member_id": ann, "points": -5000, "reason": "spent at the till",
                       "idempotency_key": "ann-spend"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let refund = json!({"event_id": "refund-a2", "type": "refund",
            "occurred_at": to_rfc3339(app.now()), "channel": "store",
            "identities": {"phone": "13700000001"},
            "properties": {"order_id": "a2", "amount": "4500.00", "currency": "CNY"}});
        app.send(refund).await;
        assert_eq!(
            holding(&app, ann, "club").await,
            Some(("gold".into(), "earned".into()))
        );
        assert_eq!(
            holding(&app, ann, "paid").await,
            Some(("V2".into(), "upgrade".into()))
        );
        app.assert_books_balance().await;
    }
}

#[tokio::test]
async fn a_till_sells_a_tier_by_event_its_term_from_when_it_happened() {
    use flywheel_core::time::{DAY, to_rfc3339};
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let today = app.now();
        let sale = |id: &str, phone: &str, ago: i64, props: Value| {
            json!({"event_id": id, "type": "membership_purchase",
                   "occurred_at": to_rfc3339(today - ago * DAY), "channel": "store",
                   "identities": {"phone": phone}, "properties": props})
        };
        // Bought today, part paid in points: the points leave the wallet in the same
        // transaction.
        let bob = member_with_points(&app, "13700000002", 3_000).await;
        let before = balance(&app, bob).await;
        app.send(sale(
            "till-1",
            "13700000002",
            0,
            json!({"programme": "paid", "tier": "V1", "order_id": "t-1", "amount": "79.00",
                   "currency": "CNY", "points": 2000}),
        ))
        .await;
        assert_eq!(
            holding(&app, bob, "paid").await,
            Some(("V1".into(), "paid".into())),
            "{}",
            story(&app, bob).await
        );
        assert_eq!(
            balance(&app, bob).await,
            before - 2_000,
            "{}",
            story(&app, bob).await
        );
        // The same event again changes nothing.
        app.send(sale(
            "till-1",
            "13700000002",
            0,
            json!({"programme": "paid", "tier": "V1", "order_id": "t-1", "amount": "79.00",
                   "currency": "CNY", "points": 2000}),
        ))
        .await;
        assert_eq!(
            balance(&app, bob).await,
            before - 2_000,
            "{}",
            story(&app, bob).await
        );
        assert_eq!(
            steps(&app, bob, "paid").await.len(),
            1,
            "{}",
            story(&app, bob).await
        );

        // Bought 400 days ago and never renewed: not active, whether or not the sweep
        // has run, and the sweep records why it ended.
        let cat = member_with_points(&app, "13700000003", 0).await;
        app.send(sale(
            "till-2",
            "13700000003",
            400,
            json!({"programme": "paid", "tier": "V1", "order_id": "t-2", "amount": "99.00",
                   "currency": "CNY"}),
        ))
        .await;
        assert_eq!(
            holding(&app, cat, "paid").await,
            None,
            "{}",
            story(&app, cat).await
        );
        app.store.sweep_memberships(app.now()).await.unwrap();
        assert_eq!(
            steps(&app, cat, "paid").await,
            vec![
                (json!("V1"), json!("purchase")),
                (Value::Null, json!("lapse"))
            ],
            "{}",
            story(&app, cat).await
        );
        let (_, history) = app.get(&format!("/v1/members/{cat}/tiers")).await;
        let lapse = &history["changes"][1];
        assert!(
            lapse["reason"]
                .as_str()
                .unwrap()
                .contains("less than the 3000.00 that keeps V1"),
            "{lapse}"
        );
        let joined = &history["changes"][0];
        assert_eq!(
            joined["at"].as_str().unwrap(),
            to_rfc3339(today - 400 * DAY),
            "{joined}"
        );

        // Too few points, or a programme that does not exist: the event is kept as a
        // fact, the tier is not given, and the history says why.
        let dan = member_with_points(&app, "13700000004", 0).await;
        app.send(sale(
            "till-3",
            "13700000004",
            0,
            json!({"programme": "paid", "tier": "V1", "order_id": "t-3", "amount": "49.00",
                   "currency": "CNY", "points": 5000}),
        ))
        .await;
        app.send(sale(
            "till-4",
            "13700000004",
            0,
            json!({"programme": "gym", "tier": "V1", "order_id": "t-4", "amount": "49.00",
                   "currency": "CNY"}),
        ))
        .await;
        assert_eq!(
            holding(&app, dan, "paid").await,
            None,
            "{}",
            story(&app, dan).await
        );
        let (_, history) = app.get(&format!("/v1/members/{dan}/tiers")).await;
        let reasons: Vec<&str> = history["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["rule"], "refused", "{c}");
                c["reason"].as_str().unwrap()
            })
            .collect();
        assert_eq!(reasons.len(), 2, "{history}");
        assert!(reasons[0].contains("the member had"), "{}", reasons[0]);
        assert!(
            reasons[1].contains("no programme \"gym\""),
            "{}",
            reasons[1]
        );

        // A sale naming a programme must say what it sold.
        let (status, body) = app
            .post(
                "/v1/events",
                sale(
                    "till-5",
                    "13700000004",
                    0,
                    json!({"programme": "paid", "amount": "49.00", "points": -1}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let fields: Vec<&str> = body["error"]["details"]
            .as_array()
            .map(|d| d.iter().filter_map(|x| x["field"].as_str()).collect())
            .unwrap_or_else(|| vec![field(&body)]);
        assert!(fields.contains(&"properties.tier"), "{body}");
        app.assert_books_balance().await;
    }
}

/// One programme's entry in a member's memberships.
async fn membership(app: &TestApp, member: i64, programme: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/members/{member}/memberships")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["programme"] == programme)
        .cloned()
        .unwrap_or_else(|| panic!("no {programme} membership: {body}"))
}

#[tokio::test]
async fn memberships_say_how_far_the_next_tier_is_and_what_keeps_the_one_held() {
    use flywheel_core::time::to_rfc3339;
    for app in TestApp::all().await {
        for (id, def) in [("paid", paid()), ("club", club())] {
            let (status, body) = app.put(&format!("/v1/programmes/{id}"), def).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let bea = member_with_points(&app, "13700000002", 0).await;
        let (status, body) = app
            .post(
                "/v1/memberships",
                json!({"member_id": bea, "programme": "paid", "tier": "V1",
                       "payment": {"cash": "99.00"}, "idempotency_key": "bea-v1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let expires = body["expires_at"].as_str().unwrap().to_owned();
        let day = &expires[..10];
        let buy = json!({"event_id": "buy-b1", "type": "purchase",
               "occurred_at": to_rfc3339(app.now()), "channel": "store",
               "identities": {"phone": "13700000002"},
               "properties": {"order_id": "b1", "amount": "1500.00", "currency": "CNY"}});
        app.send(buy).await;

        let v1 = membership(&app, bea, "paid").await;
        assert_eq!(
            v1["progress"],
            json!({"tier": "V2", "measure": "spend", "current": "1500.00", "needed": "8500.00",
                   "threshold": "10000.00", "by": expires,
                   "sentence": format!("spend 8,500.00 more by {day} to reach V2")}),
            "the membership fee is not spend; the order is"
        );
        assert_eq!(
            v1["retention"],
            json!({"measure": "spend", "current": "1500.00", "needed": "1500.00",
                   "threshold": "3000.00", "met": false, "by": expires,
                   "renewal_fee": "99.00", "renewal_max_points": 5940,
                   "sentence": format!("spending 1,500.00 more before {day} keeps V1, or renewing for 99.00 (up to 5,940 points of it)")})
        );

        let silver = membership(&app, bea, "club").await;
        assert_eq!(silver["tier"], "silver");
        assert_eq!(
            silver["progress"],
            json!({"tier": "gold", "measure": "spend", "current": "1500.00", "needed": "3500.00",
                   "threshold": "5000.00", "by": null,
                   "sentence": "spend 3,500.00 more (counted over the last 365 days) to reach Gold"})
        );
        let kept_on = silver["expires_at"].as_str().unwrap()[..10].to_owned();
        assert_eq!(silver["retention"]["met"], true, "{silver}");
        assert_eq!(
            silver["retention"]["sentence"],
            format!(
                "silver will be kept on {kept_on}: 1,500.00 already reaches the 1,000.00 that keeps it"
            )
        );
        assert_eq!(silver["retention"]["renewal_fee"], Value::Null);

        // At the top of a ladder there is nothing further to reach.
        let big = json!({"event_id": "buy-b2", "type": "purchase",
               "occurred_at": to_rfc3339(app.now()), "channel": "store",
               "identities": {"phone": "13700000002"},
               "properties": {"order_id": "b2", "amount": "40000.00", "currency": "CNY"}});
        app.send(big).await;
        let v3 = membership(&app, bea, "paid").await;
        assert_eq!(v3["tier"], "V3", "{v3}");
        assert_eq!(v3["progress"], Value::Null);
        assert_eq!(v3["retention"]["met"], true);
        assert_eq!(
            v3["retention"]["sentence"],
            format!(
                "V3 will be kept on {day}: 41,500.00 already reaches the 3,000.00 that keeps it"
            )
        );
        assert_eq!(membership(&app, bea, "club").await["progress"], Value::Null);
    }
}

#[tokio::test]
async fn the_member_card_shows_tiers_benefits_points_and_the_way_up() {
    use flywheel_core::time::to_rfc3339;
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = app
            .post(
                "/v1/benefits",
                json!({"id": "free-delivery", "name": "Free delivery",
                       "description": "Two free deliveries a month",
                       "effective_from": "2020-01-01T00:00:00Z",
                       "limit": {"uses": 2, "per": "month"}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .put(
                "/v1/programmes/paid/tiers/V1/benefits",
                json!({"benefits": ["free-delivery"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let cai = member_with_points(&app, "13700000003", 2_000).await;
        let (status, card) = app.get(&format!("/v1/members/{cai}/card")).await;
        assert_eq!(status, StatusCode::OK, "{card}");
        assert_eq!(card["card_no"], Value::Null, "no card before joining");
        assert_eq!(card["tiers"], json!([]));

        let now = to_rfc3339(app.now());
        app.send(
            json!({"event_id": "nick-cai", "type": "profile_update", "occurred_at": now,
            "channel": "mini_program", "identities": {"phone": "13700000003"},
            "properties": {"nickname": "Little Cai"}}),
        )
        .await;
        let (status, body) = app
            .post(
                "/v1/memberships",
                json!({"member_id": cai, "programme": "paid", "tier": "V1",
                       "payment": {"cash": "79.00", "points": 2000}, "idempotency_key": "cai-v1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let day = body["expires_at"].as_str().unwrap()[..10].to_owned();
        // After the purchase: only what is spent within the term counts.
        let now = to_rfc3339(app.now());
        app.send(
            json!({"event_id": "buy-c1", "type": "purchase", "occurred_at": now,
            "channel": "store", "identities": {"phone": "13700000003"},
            "properties": {"order_id": "c1", "amount": "7660.00", "currency": "CNY"}}),
        )
        .await;

        let (status, card) = app.get(&format!("/v1/members/{cai}/card")).await;
        assert_eq!(status, StatusCode::OK, "{card}");
        let (_, held) = app.get(&format!("/v1/members/{cai}/memberships")).await;
        assert_eq!(card["card_no"], held["card_no"]);
        assert!(card["card_no"].is_string(), "{card}");
        assert_eq!(card["nickname"], "Little Cai");
        assert_eq!(card["phone"], "+86137****0003", "masked even for an admin");
        assert_eq!(
            card["tiers"],
            json!([{"programme": "paid", "programme_name": "Paid membership", "kind": "paid",
                    "tier": "V1", "tier_name": "V1", "expires_at": held["memberships"][0]["expires_at"],
                    "status": "active",
                    "progress": format!("spend 2,340.00 more by {day} to reach V2"),
                    "retention": format!("V1 will be kept on {day}: 7,660.00 already reaches the 3,000.00 that keeps it")}])
        );
        assert_eq!(card["benefits"].as_array().unwrap().len(), 1, "{card}");
        assert_eq!(card["benefits"][0]["id"], "free-delivery");
        assert_eq!(card["benefits"][0]["used"], 0);
        assert_eq!(card["benefits"][0]["limit"], 2);
        let (_, points) = app.get(&format!("/v1/members/{cai}/points")).await;
        assert_eq!(card["points"]["balance"], points["balance"]);
        assert_eq!(card["points"]["pending"], points["pending"]);
        assert_eq!(card["points"]["next_expiry"], points["next_expiry"]);
        assert!(
            card["points"]["balance"].as_i64().unwrap()
                + card["points"]["pending"].as_i64().unwrap()
                > 0,
            "the purchase earned points: {card}"
        );

        // The card number finds the member wherever the member shows the card.
        let card_no = card["card_no"].as_str().unwrap();
        let (status, found) = app
            .get(&format!("/v1/members/lookup?card_no={card_no}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["id"], cai, "{found}");

        let (status, body) = app.get("/v1/members/999999/card").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(code(&body), "member_not_found");
        let (status, body) = app.get("/v1/members/x/card").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(code(&body), "invalid_member_id");
    }
}

#[tokio::test]
async fn one_sweep_ends_every_term_that_is_over_however_many() {
    use flywheel_core::time::{DAY, to_rfc3339};
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/club", club()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // More members reach silver than one pass of the sweep reads (500).
        let buyers = 520;
        let events: Vec<Value> = (0..buyers)
            .map(|i| {
                json!({"event_id": format!("buy-{i}"), "type": "purchase",
                       "occurred_at": to_rfc3339(app.now()), "channel": "store",
                       "identities": {"phone": format!("1390000{i:04}")},
                       "properties": {"order_id": format!("o-{i}"), "amount": "1500.00",
                                      "currency": "CNY"}})
            })
            .collect();
        let (status, body) = app
            .post("/v1/events/batch", json!({"events": events.clone()}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["accepted"], buyers, "{body}");
        // Sent again, the first purchase answers as a duplicate, naming its member.
        let first = app.send(events[0].clone()).await["member_id"]
            .as_i64()
            .unwrap();
        assert_eq!(
            holding(&app, first, "club").await,
            Some(("silver".into(), "earned".into()))
        );
        // A year on, every silver's term is over, in one sweep: the purchase on its
        // first day is inside the window that judges it, so each is kept a term more.
        app.advance(400 * DAY);
        let report = app.store.sweep_memberships(app.now()).await.unwrap();
        assert_eq!(report.retained, buyers, "{report:?}");
        let again = app.store.sweep_memberships(app.now()).await.unwrap();
        assert_eq!(again, flywheel_store::MembershipSweepReport::default());
        // A second year without a purchase: every one lapses, again in one sweep.
        app.advance(400 * DAY);
        let report = app.store.sweep_memberships(app.now()).await.unwrap();
        assert_eq!(report.lapsed, buyers, "{report:?}");
        assert_eq!(holding(&app, first, "club").await, None);
        let again = app.store.sweep_memberships(app.now()).await.unwrap();
        assert_eq!(again, flywheel_store::MembershipSweepReport::default());
    }
}
