//! Points over real HTTP, on SQLite and PostgreSQL: the default rules and their limits,
//! pending purchase points, refunds and debt, referrals worth 100 and 500, expiry,
//! redemption with stock and idempotent retries, cancellation, transfers, partner
//! exchange at 100:30, adjustments, and books that always balance.

mod common;

use common::TestApp;
use flywheel_core::auth::Role;
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn event(id: &str, kind: &str, at: i64, who: Value, properties: Value) -> Value {
    json!({"event_id": id, "type": kind, "occurred_at": to_rfc3339(at), "channel": "mini_program",
           "identities": who, "properties": properties})
}

fn purchase(id: &str, at: i64, who: Value, order: &str, amount: &str) -> Value {
    event(
        id,
        "purchase",
        at,
        who,
        json!({"order_id": order, "amount": amount, "currency": "CNY"}),
    )
}

async fn points(app: &TestApp, member: &Value) -> Value {
    let (status, body) = app.get(&format!("/v1/members/{member}/points")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn an_order_refunded_in_full_inside_its_window_leaves_nothing_due() {
    for app in TestApp::all().await {
        let now = app.now();
        let (ann, bo) = (
            json!({"phone": "13800138000"}),
            json!({"phone": "13800138009"}),
        );
        app.send(purchase("ann-buy", now, ann.clone(), "O-A", "50.00"))
            .await;
        // Bo's order is refunded in full inside the window: his pending lot is empty.
        app.send(purchase("bo-buy", now, bo.clone(), "O-B", "60.00"))
            .await;
        app.send(event(
            "bo-ref",
            "refund",
            now,
            bo.clone(),
            json!({"order_id": "O-B", "amount": "60.00"}),
        ))
        .await;
        app.advance(7 * DAY + 1);
        let (_, swept) = app.post("/v1/points/sweep", json!({})).await;
        assert_eq!(
            (swept["members"].clone(), swept["matured"].clone()),
            (json!(1), json!(1)),
            "only Ann's lot matures; Bo's has nothing to: {swept}"
        );
        let (_, again) = app.post("/v1/points/sweep", json!({})).await;
        assert_eq!(again["members"], 0, "nothing is due twice: {again}");

        // A pass takes 500 due lots' members; 260 members with two lots each are 520
        // lots, fewer members than a pass takes: the sweep still matures every one.
        let later = app.now();
        let events: Vec<Value> = (0..520)
            .map(|i| {
                purchase(
                    &format!("many-{i}"),
                    later,
                    json!({"phone": format!("1390000{:04}", i / 2)}),
                    &format!("O-M{i}"),
                    "20.00",
                )
            })
            .collect();
        let (status, body) = app
            .post("/v1/events/batch", json!({"events": events}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        app.advance(7 * DAY + 1);
        let (_, swept) = app.post("/v1/points/sweep", json!({})).await;
        assert_eq!(
            (swept["members"].clone(), swept["matured"].clone()),
            (json!(260), json!(520)),
            "{swept}"
        );
    }
}

#[tokio::test]
async fn default_rules_limits_pending_points_and_refunds() {
    for app in TestApp::all().await {
        let now = app.now();
        let ann = json!({"phone": "13800138000"});
        let reg = app
            .send(event(
                "reg-1",
                "register",
                now,
                ann.clone(),
                json!({"name": "Ann"}),
            ))
            .await;
        let member = reg["member_id"].clone();
        app.send(event("reg-2", "register", now, ann.clone(), json!({})))
            .await;
        for i in 0..22 {
            app.send(event(
                &format!("like-{i}"),
                "like",
                now,
                ann.clone(),
                json!({}),
            ))
            .await;
        }
        let p = points(&app, &member).await;
        assert_eq!(p["balance"], 70, "register once (50) + 20 likes a day: {p}");

        app.send(purchase("buy-1", now, ann.clone(), "O-1", "128.90"))
            .await;
        let retry = app
            .send(purchase("buy-1", now, ann.clone(), "O-1", "128.90"))
            .await;
        assert_eq!(retry["duplicate"], true);
        let p = points(&app, &member).await;
        assert_eq!(
            (p["balance"].clone(), p["pending"].clone()),
            (json!(70), json!(128)),
            "{p}"
        );
        assert_eq!(
            p["lots"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| l["status"] == "pending")
                .count(),
            1
        );

        // A partial refund inside the return window takes its points from the pending lot.
        app.send(event(
            "ref-1",
            "refund",
            now,
            ann.clone(),
            json!({"order_id": "O-1", "amount": "30.00"}),
        ))
        .await;
        let p = points(&app, &member).await;
        assert_eq!(
            p["pending"], 98,
            "30.00 refunded reverses 30 pending points: {p}"
        );

        // Seven days on, the pending points are available, with or without a sweep.
        app.advance(7 * DAY + 1);
        let p = points(&app, &member).await;
        assert_eq!(
            (p["balance"].clone(), p["pending"].clone()),
            (json!(168), json!(0)),
            "{p}"
        );
        let (_, swept) = app.post("/v1/points/sweep", json!({})).await;
        assert_eq!(swept["matured"], 1, "{swept}");

        // Spend most of it, then refund the rest of the order: the balance is short, so
        // the shortfall becomes debt, repaid by the next earning.
        let (status, r) = app
            .post(
                "/v1/redemptions",
                json!({"member_id": member, "points": 160, "idempotency_key": "spend-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        let later = app.now();
        app.send(event(
            "ref-2",
            "refund",
            later,
            ann.clone(),
            json!({"order_id": "O-1", "amount": "98.90"}),
        ))
        .await;
        let p = points(&app, &member).await;
        assert_eq!(
            (p["balance"].clone(), p["debt"].clone()),
            (json!(0), json!(90)),
            "98 to claw back, 8 held: {p}"
        );
        app.send(event(
            "rev-1",
            "review",
            later,
            ann.clone(),
            json!({"rating": 5}),
        ))
        .await;
        let p = points(&app, &member).await;
        assert_eq!(
            (p["balance"].clone(), p["debt"].clone()),
            (json!(0), json!(70)),
            "{p}"
        );

        let (_, ledger) = app
            .get(&format!("/v1/members/{member}/points/ledger?limit=500"))
            .await;
        let entries = ledger["entries"].as_array().unwrap();
        assert!(
            entries
                .iter()
                .any(|e| e["kind"] == "refund" && e["account"] == "debt")
        );
        assert!(
            entries
                .iter()
                .all(|e| !e["reason"].as_str().unwrap().is_empty()
                    && e["source"]["type"].is_string())
        );

        let (_, report) = app.get("/v1/reports/points").await;
        assert_eq!(report["issued"], 50 + 20 + 98 + 20, "{report}");
        assert_eq!(report["reversed_pending"], 30, "{report}");
        assert_eq!(report["clawed_back"], 98, "{report}");
        assert_eq!(report["redeemed"], 160, "{report}");
        assert_eq!(report["debt"], 70, "{report}");
        app.assert_books_balance().await;

        // Balances at any instant, read from the daily totals and the entries at the
        // period's end, are the member's own ledger summed up to it.
        let end = app.now() + 1;
        let mut to = now - DAY + 5;
        while to <= end {
            let mut expected = [0_i64; 3];
            for e in entries {
                let at = flywheel_core::time::parse_rfc3339(e["at"].as_str().unwrap()).unwrap();
                if at < to {
                    let i = ["wallet", "pending", "debt"]
                        .iter()
                        .position(|a| e["account"] == *a)
                        .unwrap();
                    expected[i] += e["amount"].as_i64().unwrap();
                }
            }
            let query = format!(
                "/v1/reports/points?from={}&to={}",
                urlencode(&to_rfc3339(now - 30 * DAY)),
                urlencode(&to_rfc3339(to))
            );
            let (status, report) = app.get(&query).await;
            assert_eq!(status, StatusCode::OK, "{report}");
            assert_eq!(
                (
                    report["outstanding"].clone(),
                    report["pending"].clone(),
                    report["debt"].clone()
                ),
                (json!(expected[0]), json!(expected[1]), json!(-expected[2])),
                "at {to}: {report}"
            );
            to += 7 * 3600 * 1_000_000 + 13;
        }
    }
}

fn urlencode(text: &str) -> String {
    text.replace(':', "%3A").replace('+', "%2B")
}

#[tokio::test]
async fn points_follow_a_merge_and_a_later_refund_finds_them() {
    for app in TestApp::all().await {
        let now = app.now() - 10 * DAY;
        // The older member has a phone; a newer Weibo member buys, then binds the phone.
        let old = app
            .send(event(
                "m-old",
                "register",
                now,
                json!({"phone": "13400000000"}),
                json!({}),
            ))
            .await;
        app.send(purchase(
            "m-buy",
            now + DAY,
            json!({"weibo_uid": "w-1"}),
            "MO-1",
            "80.00",
        ))
        .await;
        app.send(event(
            "m-bind",
            "profile_update",
            now + 2 * DAY,
            json!({"weibo_uid": "w-1", "phone": "13400000000"}),
            json!({"nickname": "W"}),
        ))
        .await;
        let p = points(&app, &old["member_id"]).await;
        assert_eq!(
            (p["balance"].clone(), p["pending"].clone()),
            (json!(130), json!(0)),
            "{p}"
        );
        app.advance(DAY);
        app.send(event(
            "m-refund",
            "refund",
            app.now(),
            json!({"weibo_uid": "w-1"}),
            json!({"order_id": "MO-1", "amount": "80.00"}),
        ))
        .await;
        let p = points(&app, &old["member_id"]).await;
        assert_eq!(
            (p["balance"].clone(), p["debt"].clone()),
            (json!(50), json!(0)),
            "{p}"
        );
        app.assert_books_balance().await;
    }
}

#[tokio::test]
async fn a_referral_is_worth_100_and_500_from_a_super_user() {
    for app in TestApp::all().await {
        let now = app.now();
        // Bo is an ordinary member; Cy buys often and co-creates: super-strong.
        let bo = app
            .send(event(
                "bo",
                "register",
                now - 30 * DAY,
                json!({"phone": "13900000001"}),
                json!({}),
            ))
            .await;
        let cy = app
            .send(event(
                "cy",
                "register",
                now - 300 * DAY,
                json!({"phone": "13900000002"}),
                json!({}),
            ))
            .await;
        for i in 0..12 {
            let at = now - (200 - i * 15) * DAY;
            app.send(purchase(
                &format!("cy-{i}"),
                at,
                json!({"phone": "13900000002"}),
                &format!("CY{i}"),
                "300.00",
            ))
            .await;
            app.send(event(
                &format!("cy-share-{i}"),
                "share",
                at,
                json!({"phone": "13900000002"}),
                json!({}),
            ))
            .await;
            app.send(event(
                &format!("cy-review-{i}"),
                "review",
                at,
                json!({"phone": "13900000002"}),
                json!({"rating": 5}),
            ))
            .await;
        }
        app.send(event(
            "cy-co",
            "participation",
            now - 2 * DAY,
            json!({"phone": "13900000002"}),
            json!({"kind": "co_creation"}),
        ))
        .await;
        let (_, doc) = app.get(&format!("/v1/members/{}", cy["member_id"])).await;
        assert_eq!(doc["stage"], "super_strong", "{doc}");
        for (inviter, friend) in [
            ("13900000001", "13700000001"),
            ("13900000002", "13700000002"),
        ] {
            let who = json!({"phone": friend});
            app.send(event(
                &format!("inv-{friend}"),
                "referral",
                now - DAY,
                who.clone(),
                json!({"referrer": {"phone": inviter}}),
            ))
            .await;
            app.send(purchase(
                &format!("first-{friend}"),
                now,
                who,
                &format!("F{friend}"),
                "10.00",
            ))
            .await;
        }
        let ledger = |m: &Value| format!("/v1/members/{m}/points/ledger?limit=500");
        let referral_points = |l: &Value| -> i64 {
            l["entries"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["rule_id"] == "referral_converted" && e["account"] == "wallet")
                .map(|e| e["amount"].as_i64().unwrap())
                .sum()
        };
        let (_, l) = app.get(&ledger(&bo["member_id"])).await;
        assert_eq!(referral_points(&l), 100, "{l}");
        let (_, l) = app.get(&ledger(&cy["member_id"])).await;
        assert_eq!(referral_points(&l), 500, "{l}");
        app.assert_books_balance().await;
    }
}

#[tokio::test]
async fn old_lots_expire_and_spending_takes_the_earliest_first() {
    for app in TestApp::all().await {
        let now = app.now();
        let who = json!({"card_no": "EXP-1"});
        let year = 365 * DAY;
        // Earned three years ago: expired at the end of last year at the latest.
        let old = app
            .send(event(
                "old",
                "register",
                now - 3 * year,
                who.clone(),
                json!({}),
            ))
            .await;
        let member = old["member_id"].clone();
        let p = points(&app, &member).await;
        assert_eq!(
            p["balance"], 0,
            "expired points never count, swept or not: {p}"
        );
        let (_, swept) = app.post("/v1/points/sweep", json!({})).await;
        assert_eq!(swept["expired"], 1, "{swept}");
        app.send(event(
            "recent",
            "review",
            now - DAY,
            who.clone(),
            json!({"rating": 4}),
        ))
        .await;
        app.send(event("recent-2", "comment", now, who.clone(), json!({})))
            .await;
        let (status, r) = app
            .post(
                "/v1/redemptions",
                json!({"member_id": member, "points": 25, "idempotency_key": "e-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        let p = points(&app, &member).await;
        assert_eq!(p["balance"], 5, "{p}");
        assert_eq!(
            p["next_expiry"]["points"], 5,
            "the review lot went first: {p}"
        );
        let (_, report) = app.get("/v1/reports/points").await;
        assert_eq!(report["expired"], 50, "{report}");
        assert_eq!(report["outstanding"], 5, "{report}");
        app.assert_books_balance().await;
    }
}

#[tokio::test]
async fn simultaneous_redemptions_never_overspend_points_or_stock() {
    for app in TestApp::all().await {
        let now = app.now();
        let who = json!({"phone": "13600000000"});
        let m = app
            .send(event("r", "register", now, who.clone(), json!({})))
            .await;
        let member = m["member_id"].clone();
        let (status, _) = app
            .post("/v1/points/adjustments", json!({"member_id": member, "points": 950, "reason": "welcome gift", "idempotency_key": "adj-1"}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, reward) = app
            .post("/v1/rewards", json!({"id": "mug", "name": "Tea mug", "kind": "gift", "points_cost": 100, "stock": 7}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{reward}");
        // 1,000 points and 7 mugs; 30 clients ask at once.
        let mut tasks = Vec::new();
        for i in 0..30 {
            let (base, http) = (app.base.clone(), app.http.clone());
            let body = json!({"member_id": member, "reward_id": "mug", "idempotency_key": format!("mug-{i}")});
            tasks.push(tokio::spawn(async move {
                let r = http
                    .post(format!("{base}/v1/redemptions"))
                    .bearer_auth(common::ADMIN)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                (status, r.json::<Value>().await.unwrap())
            }));
        }
        let mut done = 0;
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                StatusCode::CREATED => done += 1,
                StatusCode::CONFLICT => assert!(
                    ["out_of_stock", "insufficient_points"].contains(&code(&body)),
                    "{body}"
                ),
                other => panic!("{other}: {body}"),
            }
        }
        assert_eq!(done, 7);
        let p = points(&app, &member).await;
        assert_eq!(p["balance"], 300);
        let (_, mug) = app.get("/v1/rewards/mug").await;
        assert_eq!(mug["stock"], 0);

        // A retry returns the first answer and changes nothing.
        let again = json!({"member_id": member, "points": 100, "idempotency_key": "plain-1"});
        let (s1, first) = app.post("/v1/redemptions", again.clone()).await;
        let (s2, second) = app.post("/v1/redemptions", again).await;
        assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK));
        assert_eq!(first["id"], second["id"]);
        assert_eq!(second["replayed"], true);
        assert_eq!(points(&app, &member).await["balance"], 200);
        let (status, body) = app
            .post(
                "/v1/redemptions",
                json!({"member_id": member, "points": 5, "idempotency_key": "plain-1"}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "idempotency_key_reused")
        );
        let (status, body) = app
            .post(
                "/v1/redemptions",
                json!({"member_id": member, "points": 500, "idempotency_key": "too-much"}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "insufficient_points")
        );
        assert_eq!(body["error"]["details"]["available"], 200);

        // Cancelling returns the points and the stock; twice is once.
        let (status, c) = app
            .post(
                &format!("/v1/redemptions/{}/cancel", first["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_eq!(
            (status, c["status"].as_str()),
            (StatusCode::OK, Some("cancelled"))
        );
        app.post(
            &format!("/v1/redemptions/{}/cancel", first["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
        assert_eq!(points(&app, &member).await["balance"], 300);

        // Per-member limits and validity dates are enforced too.
        let (status, _) = app
            .post("/v1/rewards", json!({"id": "vip", "name": "VIP lounge", "kind": "privilege", "points_cost": 10, "per_member_limit": 1}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _) = app
            .post(
                "/v1/redemptions",
                json!({"member_id": member, "reward_id": "vip", "idempotency_key": "vip-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = app
            .post(
                "/v1/redemptions",
                json!({"member_id": member, "reward_id": "vip", "idempotency_key": "vip-2"}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "limit_reached")
        );
        let (status, _) = app
            .post("/v1/rewards", json!({"id": "cny", "name": "New Year box", "kind": "gift", "points_cost": 10,
                                        "valid_from": "2099-01-20T00:00:00Z", "cash_cost": "49.00"}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = app
            .post(
                "/v1/redemptions",
                json!({"member_id": member, "reward_id": "cny", "idempotency_key": "cny-1"}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "reward_unavailable")
        );
        let (status, body) = app
            .post(
                "/v1/redemptions",
                json!({"member_id": member, "reward_id": "nope", "idempotency_key": "n-1"}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "reward_not_found")
        );
        app.assert_books_balance().await;
    }
}

#[tokio::test]
async fn transfers_exchanges_and_adjustments_keep_the_books_at_zero() {
    for app in TestApp::all().await {
        let now = app.now();
        let a = app
            .send(event(
                "a",
                "register",
                now,
                json!({"phone": "13500000001"}),
                json!({}),
            ))
            .await["member_id"]
            .clone();
        let b = app
            .send(event(
                "b",
                "register",
                now,
                json!({"phone": "13500000002"}),
                json!({}),
            ))
            .await["member_id"]
            .clone();
        app.post("/v1/points/adjustments", json!({"member_id": a, "points": 450, "reason": "service recovery", "idempotency_key": "adj-a"})).await;

        let t = json!({"from_member_id": a, "to_member_id": b, "points": 200, "idempotency_key": "tr-1"});
        let (status, body) = app.post("/v1/points/transfers", t.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app.post("/v1/points/transfers", t).await;
        assert_eq!(
            (status, body["replayed"].clone()),
            (StatusCode::OK, json!(true))
        );
        assert_eq!(points(&app, &a).await["balance"], 300);
        assert_eq!(points(&app, &b).await["balance"], 250);
        let (status, body) = app
            .post("/v1/points/transfers", json!({"from_member_id": a, "to_member_id": b, "points": 9801, "idempotency_key": "tr-2"}))
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "limit_reached"),
            "10,000 a day: {body}"
        );

        let (status, partner) = app
            .post("/v1/partners", json!({"id": "airline", "name": "Sky Miles", "rate_ours": 100, "rate_theirs": 30, "daily_limit": 1000}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{partner}");
        let (status, x) = app
            .post("/v1/points/exchanges", json!({"member_id": a, "partner_id": "airline", "direction": "out", "points": 100, "idempotency_key": "x-1"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{x}");
        assert_eq!(x["partner_points"], 30);
        let (status, x) = app
            .post("/v1/points/exchanges", json!({"member_id": b, "partner_id": "airline", "direction": "in", "points": 200, "idempotency_key": "x-2"}))
            .await;
        assert_eq!(
            (status, x["partner_points"].clone()),
            (StatusCode::CREATED, json!(60))
        );
        let (status, body) = app
            .post("/v1/points/exchanges", json!({"member_id": a, "partner_id": "airline", "direction": "out", "points": 15, "idempotency_key": "x-3"}))
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "inexact_exchange")
        );
        assert_eq!(points(&app, &a).await["balance"], 200);
        assert_eq!(points(&app, &b).await["balance"], 450);

        let (_, s) = app
            .get("/v1/reports/points/settlement?partner=airline")
            .await;
        let row = &s["rows"][0];
        assert_eq!(
            (row["points_out"].clone(), row["partner_points_out"].clone()),
            (json!(100), json!(30)),
            "{s}"
        );
        assert_eq!(
            (row["points_in"].clone(), row["net_points"].clone()),
            (json!(200), json!(-100)),
            "{s}"
        );
        let (_, tb) = app.get("/v1/reports/points/trial-balance").await;
        let clearing = tb["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["account_type"] == "clearing")
            .unwrap();
        assert_eq!(clearing["balance"], -100, "{tb}");

        // Adjustments: admin or finance only, with a reason.
        let staff = app.key(Role::Staff).await;
        let (status, _) = app
            .call(
                "POST",
                "/v1/points/adjustments",
                Some(&staff),
                Some(
                    json!({"member_id": a, "points": 5, "reason": "x", "idempotency_key": "adj-s"}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = app
            .post(
                "/v1/points/adjustments",
                json!({"member_id": a, "points": 5, "reason": " ", "idempotency_key": "adj-r"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
        );
        let (status, body) = app
            .post("/v1/points/transfers", json!({"from_member_id": a, "to_member_id": b, "points": "ten", "idempotency_key": "t"}))
            .await;
        assert_eq!(
            (status, code(&body), body["error"]["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_type",
                Some("points")
            )
        );
        app.assert_books_balance().await;
    }
}

#[tokio::test]
async fn rules_are_versioned_validated_and_simulated_without_writing() {
    for app in TestApp::all().await {
        let (status, rules) = app.get("/v1/points/rules").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(rules["version"], 0);
        let mut set = rules["rules"].clone();
        // Double points on Singles' Day for strong and super-strong members' purchases.
        set.as_array_mut().unwrap().push(json!({
            "id": "singles-day", "trigger": "purchase", "award": {"points": 1, "per": "1.00"},
            "windows": [{"name": "Singles' Day", "from": "2026-11-11T00:00:00Z", "until": "2026-11-12T00:00:00Z", "factor": 2}],
            "conditions": {"from": "2026-11-11T00:00:00Z", "until": "2026-11-12T00:00:00Z"},
            "budget": 100000
        }));
        let (status, stored) = app
            .put(
                "/v1/points/rules",
                json!({"rules": set, "effective_from": "2026-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{stored}");
        assert_eq!(stored["version"], 1);
        let (_, sim) = app
            .post("/v1/points/rules/simulate", json!({"event": purchase("sim-1", flywheel_core::time::parse_rfc3339("2026-11-11T10:00:00Z").unwrap(), json!({"phone": "13300000000"}), "S1", "99.90")}))
            .await;
        assert_eq!(
            sim["total"],
            99 + 199,
            "99.90 × 2 = 199.8, rounded down: {sim}"
        );
        let (status, _) = app.get("/v1/members/lookup?phone=13300000000").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "a simulation writes nothing");

        let (status, bad) = app
            .put(
                "/v1/points/rules",
                json!({"rules": [{"id": "x", "trigger": "like", "award": {"points": 0}}]}),
            )
            .await;
        assert_eq!(
            (status, bad["error"]["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("rules[0].award.points")
            ),
            "{bad}"
        );
        let (status, bad) = app
            .put("/v1/points/rules", json!({"rules": [{"id": "x", "trigger": "like", "award": {"points": 1}, "bonus": 2}]}))
            .await;
        assert_eq!(
            (status, code(&bad)),
            (StatusCode::UNPROCESSABLE_ENTITY, "unknown_field"),
            "{bad}"
        );
        let (_, rules) = app.get("/v1/points/rules").await;
        assert_eq!(rules["version"], 1);
    }
}

/// The hostile inputs that once wrapped the ledger: amounts, awards, adjustments and
/// exchange rates beyond the limits are refused by field, nothing is written, and the
/// books stay readable and balanced.
#[tokio::test]
async fn amounts_and_points_beyond_the_limits_are_refused_and_the_books_stay_whole() {
    for app in TestApp::all().await {
        let now = app.now();
        let integrator = app.key(Role::Integrator).await;
        let who = json!({"card_no": "BIG-1"});
        let huge = purchase("big-1", now, who.clone(), "BIG-O1", "999999999999999.99");
        let (status, body) = app
            .call(
                "POST",
                "/v1/events/batch",
                Some(&integrator),
                Some(json!({"events": [huge.clone(), huge]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(code(&body), "invalid_events");
        assert_eq!(
            body["error"]["details"][0]["code"], "out_of_range",
            "{body}"
        );
        assert_eq!(body["error"]["details"][0]["field"], "properties.amount");

        let (status, body) = app
            .put(
                "/v1/points/rules",
                json!({"rules": [{"id": "greedy", "trigger": "purchase", "award": {"points": 1_000_000_000, "per": "0.01"}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "rules[0].award.points", "{body}");

        let member = app
            .send(purchase("big-2", now, who, "BIG-O2", "10000000.00"))
            .await["member_id"]
            .clone();
        let p = points(&app, &member).await;
        assert_eq!(p["pending"], 1_000_000_000_i64 / 100, "{p}");
        let (status, body) = app
            .post(
                "/v1/points/adjustments",
                json!({"member_id": member, "points": 1_000_000_000_000_i64, "reason": "fat finger", "idempotency_key": "big-adj"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            (code(&body), body["error"]["field"].as_str()),
            ("out_of_range", Some("points"))
        );
        let (status, body) = app
            .post(
                "/v1/partners",
                json!({"id": "tiny", "name": "Tiny", "rate_ours": 1, "rate_theirs": 1_000_000_000_000_i64, "daily_limit": 1000}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "rate_theirs", "{body}");
        let (status, _) = app
            .post(
                "/v1/partners",
                json!({"id": "tiny", "name": "Tiny", "rate_ours": 1, "rate_theirs": 100_000_000, "daily_limit": 1000}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _) = app
            .post(
                "/v1/points/adjustments",
                json!({"member_id": member, "points": 50, "reason": "goodwill", "idempotency_key": "small-adj"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = app
            .post(
                "/v1/points/exchanges",
                json!({"member_id": member, "partner_id": "tiny", "direction": "out", "points": 2, "idempotency_key": "x-big"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            (code(&body), body["error"]["field"].as_str()),
            ("out_of_range", Some("points"))
        );
        app.assert_books_balance().await;
    }
}

/// The member's task `rule_id` as the task list shows it.
async fn task(app: &TestApp, member: i64, rule_id: &str) -> Value {
    let (status, list) = app.get(&format!("/v1/members/{member}/tasks")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["rule_id"] == rule_id)
        .cloned()
        .unwrap_or_else(|| panic!("no task {rule_id}: {list}"))
}

#[tokio::test]
async fn the_task_centre_pays_once_only_and_streak_tasks_and_shows_progress() {
    for app in TestApp::all().await {
        let (_, rules) = app.get("/v1/points/rules").await;
        let mut set = rules["rules"].clone();
        let tasks = json!([
            {"id": "task-profile", "trigger": "profile_update", "conditions": {"profile_complete": true},
             "award": {"points": 30}, "limits": {"per_member": 1},
             "task": {"title": "Complete your profile", "description": "Name, gender, birthday and city"}},
            {"id": "task-follow", "trigger": "follow", "award": {"points": 20}, "limits": {"per_member": 1},
             "task": {"title": "Follow the official account"}},
            {"id": "task-streak", "trigger": "check_in", "conditions": {"streak_days": 7},
             "award": {"points": 50}, "task": {"title": "Check in 7 days in a row"}}
        ]);
        set.as_array_mut()
            .unwrap()
            .extend(tasks.as_array().unwrap().iter().cloned());
        let (status, body) = app
            .put(
                "/v1/points/rules",
                json!({"rules": set, "effective_from": "2026-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let now = app.now();
        let who = json!({"phone": "13900020000"});
        let member = app
            .send(event(
                "tc-reg",
                "register",
                now - 10 * DAY,
                who.clone(),
                json!({"name": "Lin"}),
            ))
            .await["member_id"]
            .as_i64()
            .unwrap();
        let profile = task(&app, member, "task-profile").await;
        assert_eq!(
            (
                &profile["status"],
                &profile["progress"]["current"],
                &profile["progress"]["target"]
            ),
            (&json!("open"), &json!(1), &json!(4)),
            "{profile}"
        );
        app.send(event(
            "tc-p1",
            "profile_update",
            now - 9 * DAY,
            who.clone(),
            json!({"gender": "female", "birthday": "1990-05-01"}),
        ))
        .await;
        assert_eq!(task(&app, member, "task-profile").await["times_done"], 0);
        app.send(event(
            "tc-p2",
            "profile_update",
            now - 8 * DAY,
            who.clone(),
            json!({"city": "Hangzhou"}),
        ))
        .await;
        app.send(event(
            "tc-p3",
            "profile_update",
            now - 7 * DAY,
            who.clone(),
            json!({"city": "Shanghai"}),
        ))
        .await;
        let profile = task(&app, member, "task-profile").await;
        assert_eq!(
            (&profile["status"], &profile["times_done"]),
            (&json!("done"), &json!(1)),
            "{profile}"
        );
        app.send(event(
            "tc-follow",
            "follow",
            now - 7 * DAY,
            who.clone(),
            json!({}),
        ))
        .await;
        assert_eq!(task(&app, member, "task-follow").await["status"], "done");

        // Six days in a row, a gap, then seven: the seventh pays, once.
        app.send(event(
            "tc-c0",
            "check_in",
            now - 9 * DAY,
            who.clone(),
            json!({}),
        ))
        .await;
        for d in (0..7).rev() {
            if d == 0 {
                let streak = task(&app, member, "task-streak").await;
                assert_eq!(
                    (&streak["progress"]["current"], &streak["times_done"]),
                    (&json!(6), &json!(0)),
                    "{streak}"
                );
            }
            app.send(event(
                &format!("tc-c{}", 10 + d),
                "check_in",
                now - d * DAY,
                who.clone(),
                json!({}),
            ))
            .await;
        }
        let streak = task(&app, member, "task-streak").await;
        assert_eq!(
            (
                &streak["times_done"],
                &streak["progress"]["current"],
                &streak["status"]
            ),
            (&json!(1), &json!(0), &json!("open")),
            "a streak task repeats every 7 days: {streak}"
        );
        let (_, ledger) = app
            .get(&format!("/v1/members/{member}/points/ledger?limit=500"))
            .await;
        let paid: Vec<(&str, i64)> = ledger["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| {
                let rule = e["rule_id"].as_str()?;
                rule.starts_with("task-")
                    .then(|| (rule, e["amount"].as_i64().unwrap()))
            })
            .collect();
        let mut paid = paid;
        paid.sort();
        assert_eq!(
            paid,
            [
                ("task-follow", 20),
                ("task-profile", 30),
                ("task-streak", 50)
            ]
        );
        // The member card lists the tasks.
        let (_, card) = app.get(&format!("/v1/members/{member}/card")).await;
        assert_eq!(card["tasks"].as_array().unwrap().len(), 3, "{card}");

        // A streak belongs to check-ins; a profile condition to profile events.
        let mut bad = set.clone();
        bad.as_array_mut().unwrap().push(
            json!({"id": "x", "trigger": "purchase", "award": {"points": 1},
            "conditions": {"streak_days": 7}}),
        );
        let (status, body) = app.put("/v1/points/rules", json!({"rules": bad})).await;
        let n = bad.as_array().unwrap().len() - 1;
        assert_eq!(
            (status, body["error"]["field"].as_str().map(str::to_owned)),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(format!("rules[{n}].conditions.streak_days"))
            ),
            "{body}"
        );
    }
}
