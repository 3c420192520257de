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
