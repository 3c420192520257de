//! The membership report over real HTTP, on SQLite and PostgreSQL, against a year of a
//! paid ladder moved by a movable clock: joins, a free upgrade by spend, a renewal paid
//! partly in points, a tier kept by spend, one lowered and one lapsed after grace.

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

async fn join(app: &TestApp, phone: &str, tier: &str, payment: Value) -> i64 {
    let now = to_rfc3339(app.now());
    let reg = app
        .send(
            json!({"event_id": format!("reg-{phone}"), "type": "register", "occurred_at": now,
                     "channel": "mini_program", "identities": {"phone": phone}, "properties": {}}),
        )
        .await;
    let member = reg["member_id"].as_i64().unwrap();
    if let Some(points) = payment["points"].as_i64() {
        let (status, body) = app
            .post(
                "/v1/points/adjustments",
                json!({"member_id": member, "points": points, "reason": "gift",
                       "idempotency_key": format!("gift-{phone}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    buy(app, member, tier, payment, &format!("join-{phone}")).await;
    member
}

async fn buy(app: &TestApp, member: i64, tier: &str, payment: Value, key: &str) {
    let (status, body) = app
        .post(
            "/v1/memberships",
            json!({"member_id": member, "programme": "paid", "tier": tier,
                   "payment": payment, "idempotency_key": key}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn spend(app: &TestApp, phone: &str, order: &str, amount: &str) {
    app.send(
        json!({"event_id": format!("buy-{order}"), "type": "purchase",
        "occurred_at": to_rfc3339(app.now()), "channel": "store",
        "identities": {"phone": phone},
        "properties": {"order_id": order, "amount": amount, "currency": "CNY"}}),
    )
    .await;
}

/// The report's row for one tier of the paid programme, and its total.
async fn report(app: &TestApp, from: i64, to: i64) -> (Value, Value, Value) {
    let (status, body) = app
        .get(&format!(
            "/v1/reports/memberships?from={}&to={}",
            to_rfc3339(from).replace('+', "%2B"),
            to_rfc3339(to).replace('+', "%2B")
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let paid = body["programmes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["programme"] == "paid")
        .unwrap()
        .clone();
    assert_eq!(paid["kind"], "paid");
    let tier = |id: &str| {
        paid["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tier"] == id)
            .unwrap()
            .clone()
    };
    (tier("V1"), tier("V2"), paid["total"].clone())
}

fn counts(t: &Value) -> [i64; 8] {
    [
        "members",
        "new",
        "renewed",
        "upgraded",
        "downgraded",
        "lapsed",
        "not_renewed",
        "purchases",
    ]
    .map(|k| t[k].as_i64().unwrap_or_else(|| panic!("{k} in {t}")))
}

#[tokio::test]
async fn the_report_counts_a_year_of_joins_upgrades_renewals_and_lapses() {
    for app in TestApp::all().await {
        let (status, body) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let start = app.now();
        // Ann keeps V1 by spend, Bob renews V1 paying part in points, Cat's V2 is
        // lowered, Dan is raised to V2 free by spend and keeps it, Eve lapses.
        let _ann = join(&app, "13900000001", "V1", json!({"cash": "99.00"})).await;
        let bob = join(
            &app,
            "13900000002",
            "V1",
            json!({"cash": "49.00", "points": 5000}),
        )
        .await;
        let _cat = join(&app, "13900000003", "V2", json!({"cash": "199.00"})).await;
        let _dan = join(&app, "13900000004", "V1", json!({"cash": "99.00"})).await;
        let _eve = join(&app, "13900000005", "V1", json!({"cash": "99.00"})).await;
        app.advance(DAY);
        spend(&app, "13900000001", "a1", "3200.00").await;
        spend(&app, "13900000004", "d1", "12000.00").await;

        let (v1, v2, total) = report(&app, start - DAY, app.now() + 1).await;
        assert_eq!(counts(&v1), [3, 4, 0, 0, 0, 0, 0, 4], "{v1}");
        assert_eq!(counts(&v2), [2, 1, 0, 1, 0, 0, 0, 1], "{v2}");
        assert_eq!(v1["revenue_cash"], "346.00");
        assert_eq!(v1["revenue_points"], 5000);
        assert_eq!(v2["revenue_cash"], "199.00");
        assert_eq!(total["revenue_cash"], "545.00");
        assert_eq!(total["members"], 5);
        assert_eq!(v1["renewal_rate"], Value::Null, "no term came up");

        // Bob renews a month before his term ends, 5,000 of the points again.
        app.advance(334 * DAY);
        let renewal_from = app.now();
        let (status, body) = app
            .post(
                "/v1/points/adjustments",
                json!({"member_id": bob, "points": 5000, "reason": "gift",
                       "idempotency_key": "gift-bob-2"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        buy(
            &app,
            bob,
            "V1",
            json!({"cash": "49.00", "points": 5000}),
            "bob-renew",
        )
        .await;
        // Past every term and grace (365 + 30 days from the start).
        app.advance(70 * DAY);
        app.store.sweep_memberships(app.now()).await.unwrap();

        let (v1, v2, total) = report(&app, renewal_from, app.now() + 1).await;
        // V1: Ann kept and Bob renewed; Eve lapsed; Cat lowered into V1 is no join.
        assert_eq!(counts(&v1), [3, 0, 2, 0, 0, 1, 1, 1], "{v1}");
        assert_eq!(v1["renewal_rate"].as_f64().unwrap(), 2.0 / 3.0);
        // V2: Dan kept it by spend; Cat lowered.
        assert_eq!(counts(&v2), [1, 0, 1, 0, 1, 0, 1, 0], "{v2}");
        assert_eq!(v2["renewal_rate"].as_f64().unwrap(), 0.5);
        assert_eq!(total["renewal_rate"].as_f64().unwrap(), 0.6);
        assert_eq!(v1["revenue_cash"], "49.00");
        assert_eq!(v1["revenue_points"], 5000);
        assert_eq!(total["members"], 4);

        // Members at a moment in the past come from the history.
        let (v1, v2, _) = report(&app, start, start + 2 * DAY).await;
        assert_eq!(
            (v1["members"].as_i64(), v2["members"].as_i64()),
            (Some(3), Some(2))
        );

        // Bad periods are named; only those who read statistics see it.
        let (status, body) = app
            .get("/v1/reports/memberships?from=2027-01-02T00:00:00Z&to=2027-01-01T00:00:00Z")
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], "from");
        let (status, body) = app.get("/v1/reports/memberships?form=x").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let staff = app.key(Role::Staff).await;
        let (status, _) = app
            .call("GET", "/v1/reports/memberships", Some(&staff), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}
