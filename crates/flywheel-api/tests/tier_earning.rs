//! Earning rules that look at membership tiers (issue 15, item 5), over real HTTP on
//! SQLite and PostgreSQL: a tier multiplier ("V2 earns ×1.5 on purchases") and a rule
//! only for a tier, checked when stored, shown by simulate, and applied by ingest with
//! the tier held just before each event.

mod common;

use common::TestApp;
use flywheel_core::time::to_rfc3339;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn paid() -> Value {
    json!({"name": "Paid membership", "kind": "paid", "term": {"days": 365},
     "tiers": [
       {"id": "V1", "name": "V1", "rank": 1, "fee": "99.00"},
       {"id": "V2", "name": "V2", "rank": 2, "fee": "199.00",
        "upgrade": {"measure": "spend", "threshold": "1000.00"}}]})
}

fn rules(multiplier_tier: &str, condition_tier: &str) -> Value {
    json!({"rules": [
        {"id": "purchase", "trigger": "purchase", "award": {"points": 1, "per": "1.00"},
         "tier_multipliers": {multiplier_tier: 1.5}},
        {"id": "vip-check-in", "trigger": "check_in", "award": {"points": 50},
         "conditions": {"tiers": [condition_tier]}}]})
}

fn purchase(id: &str, phone: &str, amount: &str, at: i64) -> Value {
    json!({"event_id": id, "type": "purchase", "occurred_at": to_rfc3339(at),
           "channel": "store", "identities": {"phone": phone},
           "properties": {"order_id": id, "amount": amount, "currency": "CNY"}})
}

fn line<'a>(sim: &'a Value, rule: &str) -> &'a Value {
    sim["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rule_id"] == rule)
        .unwrap_or_else(|| panic!("no line for {rule}: {sim}"))
}

async fn balance(app: &TestApp, member: i64) -> i64 {
    let (status, body) = app.get(&format!("/v1/members/{member}/points")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["balance"].as_i64().unwrap()
}

#[tokio::test]
async fn tiers_condition_and_multiply_earning_in_simulate_and_in_ingest() {
    for app in TestApp::all().await {
        // Rules may only name tiers that exist, written as programme:tier.
        let (status, body) = app
            .put("/v1/points/rules", rules("paid:V2", "paid:V2"))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "no programme yet: {body}"
        );
        let (status, body) = app.put("/v1/programmes/paid", paid()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = app
            .put("/v1/points/rules", rules("paid:V9", "paid:V2"))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            body["error"]["field"], "rules[0].tier_multipliers.paid:V9",
            "{body}"
        );
        let (status, body) = app.put("/v1/points/rules", rules("paid:V2", "V2")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            body["error"]["field"], "rules[1].conditions.tiers[0]",
            "{body}"
        );
        let (status, body) = app
            .put("/v1/points/rules", rules("paid:V2", "paid:V2"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, stored) = app.get("/v1/points/rules").await;
        assert_eq!(
            stored["rules"][0]["tier_multipliers"],
            json!({"paid:V2": 1.5}),
            "{stored}"
        );

        // Gu holds V2; Hu holds nothing; Ivy holds V1 and is raised by her purchase.
        let mut ids = Vec::new();
        for (phone, tier) in [
            ("13600000001", Some(("V2", "199.00"))),
            ("13600000002", None),
            ("13600000003", Some(("V1", "99.00"))),
        ] {
            let reg = app
                .send(
                    json!({"event_id": format!("reg-{phone}"), "type": "register",
                    "occurred_at": to_rfc3339(app.now()), "channel": "mini_program",
                    "identities": {"phone": phone}, "properties": {}}),
                )
                .await;
            let member = reg["member_id"].as_i64().unwrap();
            if let Some((tier, fee)) = tier {
                let (status, body) = app
                    .post(
                        "/v1/memberships",
                        json!({"member_id": member, "programme": "paid", "tier": tier,
                               "payment": {"cash": fee}, "idempotency_key": format!("m-{phone}")}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
            }
            ids.push(member);
        }
        let [gu, hu, ivy] = ids[..] else {
            unreachable!()
        };

        let later = app.now() + 1_000_000;
        let (status, sim) = app
            .post(
                "/v1/points/rules/simulate",
                json!({"event": purchase("sim-gu", "13600000001", "100.00", later)}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{sim}");
        assert_eq!(sim["tiers"], json!(["paid:V2"]));
        let p = line(&sim, "purchase");
        assert_eq!(p["points"], 150, "{sim}");
        assert!(
            p["explanation"]
                .as_str()
                .unwrap()
                .contains("×1.5 for paid:V2"),
            "{sim}"
        );
        let check_in = |phone: &str, id: &str| {
            json!({"event": {"event_id": id, "type": "check_in", "occurred_at": to_rfc3339(later),
                             "channel": "app", "identities": {"phone": phone}}})
        };
        let (_, sim) = app
            .post(
                "/v1/points/rules/simulate",
                check_in("13600000001", "ci-gu"),
            )
            .await;
        assert_eq!(line(&sim, "vip-check-in")["points"], 50, "{sim}");
        let (_, sim) = app
            .post(
                "/v1/points/rules/simulate",
                check_in("13600000002", "ci-hu"),
            )
            .await;
        assert_eq!(sim["tiers"], json!([]));
        let vip = line(&sim, "vip-check-in");
        assert_eq!(vip["fires"], false, "{sim}");
        assert_eq!(
            vip["explanation"], "the member holds none of the tiers the rule names",
            "{sim}"
        );

        // Ingest earns the same, by the tier held just before each event.
        app.send(purchase("o-gu", "13600000001", "100.00", later))
            .await;
        app.send(purchase("o-hu", "13600000002", "100.00", later))
            .await;
        app.send(purchase("o-ivy-1", "13600000003", "1000.00", later))
            .await;
        app.send(purchase("o-ivy-2", "13600000003", "100.00", later + 1))
            .await;
        // Points earned by an event are available from when it happened.
        app.advance(2_000_000);
        assert_eq!(balance(&app, gu).await, 150);
        assert_eq!(balance(&app, hu).await, 100);
        assert_eq!(
            balance(&app, ivy).await,
            1000 + 150,
            "the purchase that raised her earned at V1; the next at V2"
        );
        app.send(check_in("13600000001", "ci-gu")["event"].clone())
            .await;
        app.send(check_in("13600000002", "ci-hu")["event"].clone())
            .await;
        assert_eq!(balance(&app, gu).await, 200);
        assert_eq!(balance(&app, hu).await, 100);
        app.assert_books_balance().await;
    }
}
