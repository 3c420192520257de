//! The product catalogue and coupons over real HTTP, on SQLite and PostgreSQL (issue
//! 20): products saved one at a time and from a CSV (all or nothing, bad rows named); a
//! coupon defined as the issue writes it, issued once per key within its limits, and
//! redeemed exactly once — a code redeemed twice in parallel succeeds once — refused
//! with a clear code when expired, used, below its minimum or not the member's; a
//! purchase naming a code uses it, and a refund of the order gives it back.

mod common;

use common::{ADMIN, TestApp};
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn member(app: &TestApp, phone: &str) -> i64 {
    app.send(
        json!({"event_id": format!("reg-{phone}"), "type": "register",
        "occurred_at": to_rfc3339(app.now()), "channel": "app", "identities": {"phone": phone}}),
    )
    .await["member_id"]
        .as_i64()
        .unwrap()
}

async fn import(app: &TestApp, csv: &str) -> (StatusCode, Value) {
    let r = flywheel_testkit::http()
        .post(format!("http://{}/v1/products/import", app.addr()))
        .bearer_auth(ADMIN)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test]
async fn products_are_saved_one_at_a_time_or_from_a_csv_all_or_nothing() {
    for app in TestApp::all().await {
        let (status, body) = app
            .put(
                "/v1/products/LEAF-PUER",
                json!({"name": "Pu'er cake", "category": "tea", "sub_brand": "Leaf", "price": "128.00"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["price"], "128.00");
        let (status, _) = app
            .put(
                "/v1/products/LEAF-PUER",
                json!({"name": "Pu'er cake", "category": "tea", "sub_brand": "Leaf", "price": "128.00"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = app
            .put("/v1/products/X", json!({"name": "X", "price": "1.234"}))
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("price")),
            "{body}"
        );
        // A bad row stops the import and is named by its line; nothing is written.
        let (status, body) = import(
            &app,
            "sku,name,category,price,service_after_days\nPRAM-1,City pram,pram,1999.00,30\nBAD,,tea,1.00,\nCUP,Cup,ware,abc,\n",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let details = body["error"]["details"].as_array().unwrap();
        assert_eq!(details.len(), 2, "{body}");
        assert_eq!(
            (details[0]["line"].as_u64(), details[0]["field"].as_str()),
            (Some(3), Some("name"))
        );
        assert_eq!(
            (details[1]["line"].as_u64(), details[1]["field"].as_str()),
            (Some(4), Some("price"))
        );
        let (status, _) = app.get("/v1/products/PRAM-1").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = import(&app, "sku,name,colour\nA,B,red\n").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_field")),
            "{body}"
        );
        let (status, body) = import(
            &app,
            "sku,name,category,price,service_after_days\nPRAM-1,City pram,pram,1999.00,30\nLEAF-PUER,Pu'er cake,tea,128.00,\nCAKE,Mooncake,food,18.00,\n",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // LEAF-PUER lost its sub-brand: a change.
        assert_eq!(
            (
                body["created"].as_u64(),
                body["updated"].as_u64(),
                body["unchanged"].as_u64()
            ),
            (Some(2), Some(1), Some(0)),
            "{body}"
        );
        let (_, pram) = app.get("/v1/products/PRAM-1").await;
        assert_eq!(pram["service_after_days"], 30, "{pram}");
        let (_, list) = app.get("/v1/products?category=tea").await;
        assert_eq!(list["products"].as_array().unwrap().len(), 1, "{list}");
        let (_, page) = app.get("/v1/products?limit=2").await;
        let next = page["next"].as_str().unwrap().to_owned();
        let (_, rest) = app
            .get(&format!("/v1/products?limit=2&cursor={next}"))
            .await;
        assert_eq!(rest["products"][0]["sku"], "PRAM-1", "{rest}");
        let (_, audit) = app.get("/v1/audit?kind=product").await;
        // Created, then three from the import; the PUT that changed nothing wrote none.
        assert_eq!(audit["entries"].as_array().unwrap().len(), 4, "{audit}");
        // Staff may read the catalogue, not change it.
        let staff = app.key(flywheel_core::auth::Role::Staff).await;
        let (status, _) = app
            .call("GET", "/v1/products/CAKE", Some(&staff), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app
            .call(
                "PUT",
                "/v1/products/CAKE",
                Some(&staff),
                Some(json!({"name": "x"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn a_coupon_is_issued_within_its_limits_and_redeemed_exactly_once() {
    for app in TestApp::all().await {
        // As the issue writes it.
        let (status, body) = app
            .post(
                "/v1/coupons",
                json!({"id": "ten-off", "name": "10 off 50", "kind": "amount_off", "amount": "10.00", "min_spend": "50.00",
                    "valid_days": 30, "per_member_limit": 5, "budget_count": 1000}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .post("/v1/coupons", json!({"id": "ten-off", "name": "again", "kind": "amount_off", "amount": "1.00", "valid_days": 1}))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("coupon_exists"))
        );
        for (body, field) in [
            (
                json!({"id": "a", "name": "A", "kind": "amount_off", "valid_days": 3}),
                "amount",
            ),
            (
                json!({"id": "a", "name": "A", "kind": "percent_off", "percent": 120, "valid_days": 3}),
                "percent",
            ),
            (
                json!({"id": "a", "name": "A", "kind": "amount_off", "amount": "1.00"}),
                "valid_days",
            ),
            (
                json!({"id": "a", "name": "A", "kind": "amount_off", "amount": "1.00", "percent": 5, "valid_days": 3}),
                "percent",
            ),
            (
                json!({"id": "a", "name": "A", "kind": "half_off", "valid_days": 3}),
                "kind",
            ),
            (
                json!({"id": "A!", "name": "A", "kind": "amount_off", "amount": "1.00", "valid_days": 3}),
                "id",
            ),
        ] {
            let (status, answer) = app.post("/v1/coupons", body.clone()).await;
            assert_eq!(
                (status, answer["error"]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{body} → {answer}"
            );
        }
        let m = member(&app, "13900000001").await;
        let other = member(&app, "13900000002").await;
        let (status, issued) = app
            .post(
                "/v1/coupons/ten-off/issue",
                json!({"member_id": m, "idempotency_key": "i-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
        let code = issued["code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 14, "{code}");
        assert!(issued["expires_at"].is_string());
        let (status, again) = app
            .post(
                "/v1/coupons/ten-off/issue",
                json!({"member_id": m, "idempotency_key": "i-1"}),
            )
            .await;
        assert_eq!(
            (status, again["code"].as_str()),
            (StatusCode::OK, Some(code.as_str()))
        );
        let (status, body) = app
            .post(
                "/v1/coupons/ten-off/issue",
                json!({"member_id": other, "idempotency_key": "i-1"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("idempotency_key_reused"))
        );
        for i in 2..=5 {
            let (status, _) = app
                .post(
                    "/v1/coupons/ten-off/issue",
                    json!({"member_id": m, "idempotency_key": format!("i-{i}")}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let (status, body) = app
            .post(
                "/v1/coupons/ten-off/issue",
                json!({"member_id": m, "idempotency_key": "i-6"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("limit_reached")),
            "{body}"
        );

        let redeem = |code: &str, member: i64, order: &str, amount: &str| json!({"code": code, "member_id": member, "order_id": order, "amount": amount});
        let (status, body) = app
            .post("/v1/coupons/redeem", redeem(&code, m, "O-8", "49.00"))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("below_min_spend")),
            "{body}"
        );
        let (status, body) = app
            .post("/v1/coupons/redeem", redeem(&code, other, "O-9", "80.00"))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("coupon_not_yours")),
            "{body}"
        );
        let (status, body) = app
            .post(
                "/v1/coupons/redeem",
                redeem("NOPE-NOPE-NOPE", m, "O-9", "80.00"),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("coupon_not_found")),
            "{body}"
        );
        // As the issue writes it; typed in lower case at the till.
        let (status, body) = app
            .post(
                "/v1/coupons/redeem",
                redeem(&code.to_lowercase(), m, "O-9", "80.00"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["status"].as_str(), body["discount"].as_str()),
            (Some("redeemed"), Some("10.00"))
        );
        let (status, body) = app
            .post("/v1/coupons/redeem", redeem(&code, m, "O-9", "80.00"))
            .await;
        assert_eq!(
            (status, body["discount"].as_str()),
            (StatusCode::OK, Some("10.00")),
            "a retry answers as the first"
        );
        let (status, body) = app
            .post("/v1/coupons/redeem", redeem(&code, m, "O-10", "80.00"))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("coupon_used")),
            "{body}"
        );
        let (_, coupon) = app.get("/v1/coupons/ten-off").await;
        assert_eq!(
            (
                coupon["issued"].as_i64(),
                coupon["redeemed"].as_i64(),
                coupon["granted"].as_str()
            ),
            (Some(5), Some(1), Some("10.00")),
            "{coupon}"
        );

        // A code redeemed on many orders at once: exactly one wins.
        let (_, second) = app
            .post(
                "/v1/coupons/ten-off/issue",
                json!({"member_id": other, "idempotency_key": "o-1"}),
            )
            .await;
        let second = second["code"].as_str().unwrap().to_owned();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (http, base, body) = (
                    flywheel_testkit::http(),
                    app.addr(),
                    redeem(&second, other, &format!("P-{i}"), "60.00"),
                );
                tokio::spawn(async move {
                    let r = http
                        .post(format!("http://{base}/v1/coupons/redeem"))
                        .bearer_auth(ADMIN)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    (r.status(), r.json::<Value>().await.unwrap())
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                StatusCode::OK => won += 1,
                StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "coupon_used", "{body}"),
                other => panic!("{other}: {body}"),
            }
        }
        assert_eq!(won, 1);
        let (_, coupon) = app.get("/v1/coupons/ten-off").await;
        assert_eq!(coupon["granted"], "20.00", "{coupon}");

        // Past its 30 days, a code is refused.
        app.advance(31 * DAY);
        let (status, body) = app
            .post(
                "/v1/coupons/redeem",
                redeem(issued["code"].as_str().unwrap(), m, "O-11", "80.00"),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("coupon_used"))
        );
        let (_, codes) = app.get(&format!("/v1/members/{m}/coupons")).await;
        assert_eq!(codes["coupons"].as_array().unwrap().len(), 5, "{codes}");
        let (_, again) = app
            .post(
                "/v1/coupons/redeem",
                redeem(
                    codes["coupons"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|c| c["status"] == "issued")
                        .and_then(|c| c["code"].as_str())
                        .unwrap(),
                    m,
                    "O-12",
                    "80.00",
                ),
            )
            .await;
        assert_eq!(again["error"]["code"], "coupon_expired", "{body} {again}");
    }
}

#[tokio::test]
async fn scoped_coupons_judge_what_they_cover_and_a_refund_gives_a_code_back() {
    for app in TestApp::all().await {
        let (status, body) = import(
            &app,
            "sku,name,category,price\nPUER,Pu'er,tea,100.00\nLATTE,Latte,coffee,20.00\nCAKE,Mooncake,food,18.00\n",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for body in [
            json!({"id": "tea-15", "name": "15% off tea", "kind": "percent_off", "percent": 15, "max_off": "20.00",
                "categories": ["tea"], "min_spend": "150.00", "valid_days": 7}),
            json!({"id": "b3g3", "name": "Buy 3 get 3", "kind": "buy_n_get_n", "buy": 3, "get": 3, "valid_days": 7}),
            json!({"id": "cake", "name": "A free mooncake", "kind": "free_item", "sku": "CAKE", "valid_days": 7, "budget_count": 2}),
        ] {
            let (status, answer) = app.post("/v1/coupons", body).await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
        }
        let m = member(&app, "13900000011").await;
        let code = |coupon: &'static str, key: &'static str| {
            let app = &app;
            async move {
                let (status, body) = app
                    .post(
                        &format!("/v1/coupons/{coupon}/issue"),
                        json!({"member_id": m, "idempotency_key": key}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
                body["code"].as_str().unwrap().to_owned()
            }
        };
        let tea = code("tea-15", "t1").await;
        // Items' categories and prices come from the catalogue.
        let (status, body) = app
            .post(
                "/v1/coupons/redeem",
                json!({"code": tea, "member_id": m, "order_id": "T-1", "amount": "140.00",
                "items": [{"sku": "PUER", "qty": 1}, {"sku": "LATTE", "qty": 2}]}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("below_min_spend")),
            "the coffee does not count towards the tea's minimum: {body}"
        );
        let (status, body) = app
            .post(
                "/v1/coupons/redeem",
                json!({"code": tea, "member_id": m, "order_id": "T-1", "amount": "240.00",
                "items": [{"sku": "PUER", "qty": 2}, {"sku": "LATTE", "qty": 2}]}),
            )
            .await;
        assert_eq!(
            (status, body["discount"].as_str()),
            (StatusCode::OK, Some("20.00")),
            "15% of 200, capped: {body}"
        );
        let b3 = code("b3g3", "b1").await;
        let (_, body) = app
            .post(
                "/v1/coupons/redeem",
                json!({"code": b3, "member_id": m, "order_id": "B-1", "amount": "300.00",
                "items": [{"sku": "PUER", "qty": 3}, {"sku": "LATTE", "qty": 3}]}),
            )
            .await;
        assert_eq!(
            body["discount"], "60.00",
            "the three cheapest of six are free: {body}"
        );
        let cake = code("cake", "c1").await;
        let (_, body) = app
            .post(
                "/v1/coupons/redeem",
                json!({"code": cake, "member_id": m, "order_id": "C-1", "amount": "20.00",
                "items": [{"sku": "LATTE", "qty": 1}]}),
            )
            .await;
        assert_eq!(body["error"]["code"], "coupon_not_applicable", "{body}");
        // The free-item coupon's budget is two codes.
        code("cake", "c2").await;
        let (status, body) = app
            .post(
                "/v1/coupons/cake/issue",
                json!({"member_id": m, "idempotency_key": "c3"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("coupon_budget_spent")),
            "{body}"
        );

        // A purchase event naming the code uses it; a refund of the whole order gives it back.
        let purchase = json!({"event_id": "buy-c1", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
            "channel": "mini_program", "identities": {"phone": "13900000011"},
            "properties": {"order_id": "C-2", "amount": "18.00", "coupons": [cake.to_lowercase()],
                "items": [{"sku": "CAKE", "qty": 1, "price": "18.00"}]}});
        app.send(purchase).await;
        let (_, held) = app.get(&format!("/v1/members/{m}/coupons")).await;
        let used = held["coupons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == cake.as_str())
            .unwrap()
            .clone();
        assert_eq!(
            (used["status"].as_str(), used["order_id"].as_str()),
            (Some("redeemed"), Some("C-2")),
            "{held}"
        );
        let (status, body) = app
            .post("/v1/events", json!({"event_id": "bad-coupons", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
                "channel": "app", "identities": {"phone": "13900000011"},
                "properties": {"order_id": "C-3", "amount": "1.00", "coupons": "ABC"}}))
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("properties.coupons")),
            "{body}"
        );
        app.send(
            json!({"event_id": "refund-t1", "type": "refund", "occurred_at": to_rfc3339(app.now()),
            "channel": "mini_program", "identities": {"phone": "13900000011"},
            "properties": {"order_id": "T-1", "amount": "240.00"}}),
        )
        .await;
        let (_, back) = app.get(&format!("/v1/members/{m}/coupons")).await;
        let tea_code = back["coupons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == tea.as_str())
            .unwrap()
            .clone();
        assert_eq!(
            (tea_code["status"].as_str(), tea_code["order_id"].clone()),
            (Some("issued"), Value::Null),
            "{back}"
        );
        let (_, coupon) = app.get("/v1/coupons/tea-15").await;
        assert_eq!(coupon["granted"], "0.00", "{coupon}");
        // Given back, it redeems again.
        let (status, body) = app
            .post(
                "/v1/coupons/redeem",
                json!({"code": tea, "member_id": m, "order_id": "T-2", "amount": "200.00",
                "items": [{"sku": "PUER", "qty": 2}]}),
            )
            .await;
        assert_eq!(
            (status, body["discount"].as_str()),
            (StatusCode::OK, Some("20.00")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_segment_gets_one_code_each_until_the_budget_runs_out() {
    for app in TestApp::all().await {
        for i in 0..4 {
            member(&app, &format!("1390000010{i}")).await;
        }
        let (status, body) = app
            .post(
                "/v1/segments",
                json!({"id": "everyone", "name": "Everyone", "expression": "events >= 1"}),
            )
            .await;
        assert!(status.is_success(), "{body}");
        app.post(
            "/v1/coupons",
            json!({"id": "welcome", "name": "Welcome", "kind": "amount_off", "amount": "5.00",
            "valid_days": 14, "budget_count": 3}),
        )
        .await;
        let (status, body) = app
            .post(
                "/v1/coupons/welcome/issue",
                json!({"segment": "everyone", "idempotency_key": "w1"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["issued"].as_u64(), body["budget_spent"].as_bool()),
            (Some(3), Some(true)),
            "{body}"
        );
        let (_, body) = app
            .post(
                "/v1/coupons/welcome/issue",
                json!({"segment": "everyone", "idempotency_key": "w1"}),
            )
            .await;
        assert_eq!(
            (body["issued"].as_u64(), body["already"].as_u64()),
            (Some(0), Some(3)),
            "{body}"
        );
        let (status, body) = app
            .post(
                "/v1/coupons/welcome/issue",
                json!({"segment": "nobody", "idempotency_key": "w2"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("segment_not_found")),
            "{body}"
        );
        let (status, body) = app
            .post(
                "/v1/coupons/welcome/issue",
                json!({"idempotency_key": "w3"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
}

/// The gift rewards in a member's ledger.
async fn gift_rewards(app: &TestApp, member: i64) -> Vec<i64> {
    let (_, ledger) = app
        .get(&format!("/v1/members/{member}/points/ledger?limit=500"))
        .await;
    ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["account"] == "wallet" && e["reason"].as_str().unwrap().starts_with("gift coupon")
        })
        .map(|e| e["amount"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_gift_redeemed_on_a_friends_first_purchase_rewards_both_and_extends_the_referral_tree() {
    for app in TestApp::all().await {
        let giver = member(&app, "13900003000").await;
        let friend = member(&app, "13900003001").await;
        let regular = member(&app, "13900003002").await;
        app.send(
            json!({"event_id": "reg-buy", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
            "channel": "app", "identities": {"phone": "13900003002"},
            "properties": {"order_id": "R-0", "amount": "30.00", "currency": "CNY"}}),
        )
        .await;
        let (status, body) = app
            .post(
                "/v1/coupons",
                json!({"id": "gift-ten", "name": "10 off, from a friend", "kind": "amount_off",
                "amount": "10.00", "valid_days": 30, "per_member_limit": 5, "gift_points": 100}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["gift_points"], 100);
        let gift = |key: &str| {
            app.post(
                "/v1/coupons/gift-ten/gift",
                json!({"from_member_id": giver, "idempotency_key": key}),
            )
        };
        let (status, code) = gift("g-1").await;
        assert_eq!(status, StatusCode::CREATED, "{code}");
        assert_eq!(
            (&code["status"], &code["gift_from"]),
            (&json!("gifted"), &json!(giver))
        );
        let (status, again) = gift("g-1").await;
        assert_eq!((status, &again["code"]), (StatusCode::OK, &code["code"]));
        let redeem = |m: i64, code: &Value, order: &str| {
            app.post(
                "/v1/coupons/redeem",
                json!({"code": code["code"], "member_id": m, "order_id": order, "amount": "80.00"}),
            )
        };
        // The giver cannot use their own gift.
        let (status, body) = redeem(giver, &code, "G-0").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("self_referral")),
            "{body}"
        );
        // The friend redeems it on a first purchase: both earn, once.
        let (status, body) = redeem(friend, &code, "F-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (&body["status"], &body["member_id"], &body["discount"]),
            (&json!("redeemed"), &json!(friend), &json!("10.00"))
        );
        let (status, _) = redeem(friend, &code, "F-1").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(gift_rewards(&app, giver).await, [100]);
        assert_eq!(gift_rewards(&app, friend).await, [100]);
        // The friend is the giver's referral; their purchase converts it.
        app.send(
            json!({"event_id": "f-buy", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
            "channel": "app", "identities": {"phone": "13900003001"},
            "properties": {"order_id": "F-1", "amount": "70.00", "currency": "CNY"}}),
        )
        .await;
        let (_, g) = app.get(&format!("/v1/members/{giver}")).await;
        assert_eq!(
            (
                &g["facts"]["referrals_made"],
                &g["facts"]["referrals_converted"]
            ),
            (&json!(1), &json!(1)),
            "{g}"
        );
        // A gift redeemed by someone who has bought before rewards nobody.
        let (_, second) = gift("g-2").await;
        let (status, body) = redeem(regular, &second, "R-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(gift_rewards(&app, regular).await.is_empty());
        assert_eq!(gift_rewards(&app, giver).await, [100]);
        // The report: two redeemers, two referrals, one converted; 200 points and 20.00
        // of discounts; the two orders of 80.00 the codes were redeemed on are the GMV.
        let (_, report) = app.get("/v1/marketing/report").await;
        let row = report["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "gift-ten")
            .unwrap()
            .clone();
        assert_eq!(
            (
                &row["participants"],
                &row["referrals"],
                &row["referral_conversions"],
                &row["points"]
            ),
            (&json!(2), &json!(2), &json!(1), &json!(200)),
            "{row}"
        );
        assert_eq!(
            (&row["discounts"], &row["gmv"]),
            (&json!("20.00"), &json!("160.00")),
            "{row}"
        );
        let cost = row["cost"].as_str().unwrap().parse::<f64>().unwrap();
        assert!(cost >= 20.0, "{row}");
        assert!(row["gmv_per_cost"].as_f64().unwrap() > 0.0, "{row}");
        app.assert_books_balance().await;
    }
}

#[tokio::test]
async fn a_coupon_reward_issues_a_code_per_redemption_or_gives_the_points_back() {
    for app in TestApp::all().await {
        let m = member(&app, "13900007000").await;
        let (status, body) = app
            .post("/v1/points/adjustments", json!({"member_id": m, "points": 500, "reason": "test", "idempotency_key": "cr-adj"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .post(
                "/v1/coupons",
                json!({"id": "five-off", "name": "5 off", "kind": "amount_off",
                "amount": "5.00", "valid_days": 30, "budget_count": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let reward = |id: &str, kind: &str, coupon: &str| json!({"id": id, "name": "A coupon for points", "kind": kind, "points_cost": 100, "coupon_id": coupon});
        let (status, body) = app
            .post("/v1/rewards", reward("bad", "gift", "five-off"))
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("coupon_id")),
            "{body}"
        );
        let (status, body) = app
            .post("/v1/rewards", reward("bad", "coupon", "nope"))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("coupon_not_found")),
            "{body}"
        );
        let (status, body) = app
            .post("/v1/rewards", reward("five-for-100", "coupon", "five-off"))
            .await;
        assert_eq!(
            (status, &body["coupon_id"]),
            (StatusCode::CREATED, &json!("five-off")),
            "{body}"
        );
        let redeem = |key: &str| {
            app.post(
                "/v1/redemptions",
                json!({"member_id": m, "reward_id": "five-for-100", "idempotency_key": key}),
            )
        };
        let (status, first) = redeem("cr-1").await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        let code = first["coupon"]["code"].as_str().unwrap().to_owned();
        assert_eq!(first["coupon"]["source"], "reward:five-for-100");
        let (status, again) = redeem("cr-1").await;
        assert_eq!(
            (status, again["coupon"]["code"].as_str()),
            (StatusCode::OK, Some(code.as_str()))
        );
        let (_, before) = app.get(&format!("/v1/members/{m}/points")).await;
        // The coupon's one code is gone: the next redemption is refused, points back.
        let (status, body) = redeem("cr-2").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("coupon_budget_spent")),
            "{body}"
        );
        let (_, after) = app.get(&format!("/v1/members/{m}/points")).await;
        assert_eq!(after["balance"], before["balance"], "{after}");
        let (_, codes) = app.get(&format!("/v1/members/{m}/coupons")).await;
        assert_eq!(codes["coupons"].as_array().unwrap().len(), 1, "{codes}");
        app.assert_books_balance().await;
    }
}
