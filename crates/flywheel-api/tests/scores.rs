//! Scores over real HTTP, on SQLite and PostgreSQL: crafted members whose super-user,
//! influence and intimacy scores come out in the right order with readable reasons;
//! the recompute (admin only), the super-user lists and the CSV export; and RFM on the
//! CDNOW transaction log, imported as purchase events, checked member by member against
//! a direct computation of the definition.

mod common;

use common::TestApp;
use flywheel_core::auth::Role;
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;

fn event(id: &str, kind: &str, at: i64, who: Value, properties: Value) -> Value {
    json!({"event_id": id, "type": kind, "occurred_at": to_rfc3339(at), "channel": "app",
           "identities": who, "properties": properties})
}

fn buy(id: &str, at: i64, who: &Value, amount: &str, category: &str) -> Value {
    event(
        id,
        "purchase",
        at,
        who.clone(),
        json!({"order_id": id, "amount": amount,
        "items": [{"sku": format!("sku-{category}"), "category": category, "qty": 1}]}),
    )
}

async fn batch(app: &TestApp, events: Vec<Value>) {
    for chunk in events.chunks(5000) {
        let (status, body) = app.post("/v1/events/batch", json!({"events": chunk})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

async fn member_of(app: &TestApp, who: &str) -> i64 {
    let (status, body) = app
        .get(&format!("/v1/members/lookup?external_id={who}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_i64().unwrap()
}

async fn scores(app: &TestApp, member: i64) -> Value {
    let (status, body) = app.get(&format!("/v1/members/{member}/scores")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Four people with histories a store manager would rank without a formula.
fn crafted(now: i64) -> Vec<Value> {
    let ago = |days: i64| now - days * DAY;
    let (star, hopeful, regular, quiet) = (
        json!({"external_id": "star"}),
        json!({"external_id": "hopeful"}),
        json!({"external_id": "regular"}),
        json!({"external_id": "quiet"}),
    );
    let mut e = Vec::new();
    // Star and hopeful: loyal buyers across the range who talk, share and bring friends;
    // only the star paid for membership.
    for (name, who) in [("star", &star), ("hopeful", &hopeful)] {
        for (i, category) in ["tea", "coffee", "ware", "tea", "coffee", "tea", "tea"]
            .iter()
            .enumerate()
        {
            e.push(buy(
                &format!("{name}-o{i}"),
                ago(200 - 28 * i as i64),
                who,
                "88.00",
                category,
            ));
        }
        for i in 0..4 {
            e.push(event(
                &format!("{name}-s{i}"),
                "feedback",
                ago(50 + i),
                who.clone(),
                json!({"kind": "suggestion"}),
            ));
            e.push(event(
                &format!("{name}-sh{i}"),
                "share",
                ago(40 + i),
                who.clone(),
                json!({}),
            ));
            e.push(event(
                &format!("{name}-mi{i}"),
                "message",
                ago(10 + i),
                who.clone(),
                json!({"direction": "in"}),
            ));
            e.push(event(
                &format!("{name}-mo{i}"),
                "message",
                ago(10 + i),
                who.clone(),
                json!({"direction": "out"}),
            ));
        }
        e.push(event(
            &format!("{name}-t"),
            "participation",
            ago(30),
            who.clone(),
            json!({"kind": "tasting"}),
        ));
        let friend = json!({"external_id": format!("{name}-friend")});
        e.push(event(
            &format!("{name}-ref"),
            "referral",
            ago(100),
            friend.clone(),
            json!({"referrer": who}),
        ));
        e.push(buy(
            &format!("{name}-friend-o"),
            ago(99),
            &friend,
            "120.00",
            "tea",
        ));
    }
    e.push(event(
        "star-m",
        "membership_purchase",
        ago(150),
        star.clone(),
        json!({}),
    ));
    e.push(event(
        "star-f",
        "profile_update",
        ago(150),
        star.clone(),
        json!({"followers": 25000}),
    ));
    // Regular: buys tea now and then, says nothing.
    for i in 0..3 {
        e.push(buy(
            &format!("regular-o{i}"),
            ago(120 - 40 * i),
            &regular,
            "30.00",
            "tea",
        ));
    }
    // Quiet: one purchase long ago.
    e.push(buy("quiet-o", ago(600), &quiet, "15.00", "tea"));
    e
}

#[tokio::test]
async fn crafted_members_rank_in_the_right_order_with_reasons() {
    for app in TestApp::all().await {
        let now = app.now();
        batch(&app, crafted(now)).await;
        let ids = [
            member_of(&app, "star").await,
            member_of(&app, "hopeful").await,
            member_of(&app, "regular").await,
            member_of(&app, "quiet").await,
        ];

        // Before any recompute: live scores, no RFM or lifetime value yet.
        let s = scores(&app, ids[1]).await;
        assert_eq!(
            (s["rfm"].clone(), s["clv"].clone(), s["computed_at"].clone()),
            (Value::Null, Value::Null, Value::Null)
        );
        let explanation = s["super_user"]["explanation"].as_str().unwrap();
        assert!(
            explanation.contains("came back to buy 6 times"),
            "{explanation}"
        );
        assert!(
            explanation.contains("Missing: not a paid member"),
            "{explanation}"
        );

        // The recompute is for admins, and says what it did.
        let staff = app.key(Role::Staff).await;
        let (status, body) = app
            .call("POST", "/v1/scores/recompute", Some(&staff), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, report) = app.post("/v1/scores/recompute", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["members"], 6, "{report}");
        assert_eq!(report["rfm_members"], 6, "{report}");
        // Six members are far too few to fit lifetime value, and the answer says so.
        assert!(report["elapsed_ms"].is_u64(), "{report}");
        assert_eq!(report["model"], Value::Null, "{report}");
        assert_eq!(report["clv"]["status"], "insufficient_data", "{report}");
        assert_eq!(report["clv"]["min_customers"], 50, "{report}");
        assert!(
            report["clv"]["reason"]
                .as_str()
                .unwrap()
                .contains("6 members have bought; lifetime value needs at least 50"),
            "{report}"
        );

        let all: Vec<Value> = all_scores(&app, &ids).await;
        let score = |i: usize, what: &str| all[i][what]["score"].as_f64().unwrap();
        let order: Vec<f64> = (0..4).map(|i| score(i, "super_user")).collect();
        assert!(
            order.windows(2).all(|w| w[0] > w[1]),
            "super user: {order:?}"
        );
        // Membership is not closeness: the star and the hopeful are equally intimate.
        let order: Vec<f64> = (0..4).map(|i| score(i, "intimacy")).collect();
        assert!(
            order[0] == order[1] && order[1] > order[2] && order[2] > order[3],
            "intimacy: {order:?}"
        );
        // Influence: the star has an audience on top of what the hopeful has.
        assert!(
            score(0, "influence") > score(1, "influence")
                && score(1, "influence") > score(2, "influence")
        );
        let tree = &all[0]["influence"]["referral_tree"];
        assert_eq!(
            tree,
            &json!({"by_depth": [1, 0, 0], "net_spend": "120.00"}),
            "{}",
            all[0]
        );
        assert!(
            all[0]["influence"]["explanation"]
                .as_str()
                .unwrap()
                .contains("has 25000 followers")
        );
        // Intimacy explains itself in plain words.
        let intimacy = all[0]["intimacy"]["explanation"].as_str().unwrap();
        assert!(intimacy.contains("4 messages in, 4 out"), "{intimacy}");
        // RFM and lifetime value now present, with the documented cells.
        let rfm = &all[3]["rfm"];
        assert_eq!(
            (rfm["frequency"].clone(), rfm["monetary"].clone()),
            (json!(1), json!("15.00")),
            "{rfm}"
        );
        assert_eq!(rfm["r"], 1, "{rfm}");
        assert_eq!(rfm["cell"], "lost", "{rfm}");
        // The star ties the hopeful on every measure, so both have w = 4 of n = 6:
        // 1 + floor(20 / 6) = 4 on R, F and M — a loyal customer, by the table.
        let star = &all[0]["rfm"];
        assert_eq!(
            (star["r"].clone(), star["f"].clone(), star["m"].clone()),
            (json!(4), json!(4), json!(4)),
            "{star}"
        );
        assert_eq!(star["cell"], "loyal", "{star}");
        let clv = &all[0]["clv"];
        assert_eq!(clv["status"], "insufficient_data", "{clv}");
        assert!(
            clv["reason"].as_str().unwrap().contains("at least 50"),
            "{clv}"
        );
        assert_eq!(clv["p_alive"], Value::Null, "{clv}");
        assert!(all[0]["computed_at"].is_string());

        // Whom to invite: the hopeful (not paid) before the regular; the star is already in.
        let (status, list) = app.get("/v1/super-users?potential=true&limit=2").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let members: Vec<i64> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["member_id"].as_i64().unwrap())
            .collect();
        assert_eq!(members[0], ids[1], "{list}");
        assert!(!members.contains(&ids[0]), "{list}");
        assert!(
            list["items"][0]["explanation"]
                .as_str()
                .unwrap()
                .starts_with("Super user"),
            "{list}"
        );
        let (_, current) = app.get("/v1/super-users?potential=false").await;
        let members: Vec<i64> = current["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["member_id"].as_i64().unwrap())
            .collect();
        assert_eq!(members, vec![ids[0]], "{current}");
        let (status, bad) = app.get("/v1/super-users?potential=maybe").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(bad["error"]["field"], "potential", "{bad}");

        // The export: a header and one row per member, with identities.
        let resp = app
            .http
            .get(format!("{}/v1/scores/export", app.base))
            .bearer_auth(common::ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let csv = resp.text().await.unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert!(
            lines[0].starts_with("member_id,identities,computed_at,recency_days")
                && lines[0].ends_with("expected_value_90d"),
            "{}",
            lines[0]
        );
        assert_eq!(lines.len(), 7, "{csv}");
        let star_line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{},", ids[0])))
            .unwrap();
        assert!(
            star_line.contains("external_id:star") && star_line.contains(",loyal,"),
            "{star_line}"
        );
    }
}

async fn all_scores(app: &TestApp, ids: &[i64]) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        out.push(scores(app, *id).await);
    }
    out
}

/// `1 + floor(5 × w / n)`, counting w directly, member by member: O(n²) on purpose.
fn reference_scores(values: &[i64]) -> Vec<i64> {
    let n = values.len() as i64;
    values
        .iter()
        .map(|v| 1 + 5 * values.iter().filter(|x| *x < v).count() as i64 / n)
        .collect()
}

#[tokio::test]
async fn rfm_on_cdnow_matches_the_definition_member_by_member() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/cdnow/CDNOW_sample.txt"
    ))
    .unwrap();
    // master id, sample id, date, CDs, dollars
    let rows: Vec<(String, String, String)> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].to_string(), f[2].to_string(), f[4].to_string())
        })
        .collect();
    let events: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, (who, date, dollars))| {
            let day = chrono::NaiveDate::parse_from_str(date, "%Y%m%d").unwrap();
            let at = day
                .and_hms_opt(12, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_micros();
            let amount = format!("{:.2}", dollars.parse::<f64>().unwrap());
            event(
                &format!("cdnow-{i}"),
                "purchase",
                at,
                json!({"external_id": format!("cdnow-{who}")}),
                json!({"order_id": format!("cdnow-{i}"), "amount": amount, "currency": "CNY"}),
            )
        })
        .collect();
    // The independent computation, straight from the file.
    let mut by_customer: HashMap<&str, (i64, i64, i64)> = HashMap::new(); // last day, orders, cents
    for (who, date, dollars) in &rows {
        let day = chrono::NaiveDate::parse_from_str(date, "%Y%m%d")
            .unwrap()
            .signed_duration_since(chrono::NaiveDate::default())
            .num_days();
        let cents = (dollars.parse::<f64>().unwrap() * 100.0).round() as i64;
        let e = by_customer.entry(who).or_insert((i64::MIN, 0, 0));
        *e = (e.0.max(day), e.1 + 1, e.2 + cents);
    }
    let customers: Vec<&str> = by_customer.keys().copied().collect();
    let today = chrono::Utc::now().timestamp_micros().div_euclid(DAY);
    let recency: Vec<i64> = customers
        .iter()
        .map(|c| -(today - by_customer[c].0))
        .collect();
    let frequency: Vec<i64> = customers.iter().map(|c| by_customer[c].1).collect();
    let monetary: Vec<i64> = customers.iter().map(|c| by_customer[c].2).collect();
    let (r, f, m) = (
        reference_scores(&recency),
        reference_scores(&frequency),
        reference_scores(&monetary),
    );

    for app in TestApp::all().await {
        batch(&app, events.clone()).await;
        let (status, report) = app.post("/v1/scores/recompute", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["rfm_members"], 2357, "{report}");
        // 2,357 buyers are plenty: lifetime value is fitted (on those whose orders
        // have a value) and given to them.
        assert_eq!(report["clv"]["status"], "fitted", "{report}");
        assert!(report["clv_members"].as_u64().unwrap() > 2300, "{report}");
        assert!(report["model"]["bgnbd"]["r"].is_f64(), "{report}");
        // Read every member's scores back through the export, keyed by identity.
        let csv = app
            .http
            .get(format!("{}/v1/scores/export", app.base))
            .bearer_auth(common::ADMIN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let mut exported: HashMap<String, Vec<String>> = HashMap::new();
        for line in lines {
            let f: Vec<String> = line.split(',').map(str::to_string).collect();
            exported.insert(
                f[col("identities")]
                    .trim_start_matches("external_id:cdnow-")
                    .to_string(),
                f,
            );
        }
        assert_eq!(exported.len(), 2357);
        // A buyer's own scores carry the fitted lifetime value: one whose orders had a
        // value (the export's expected value is filled), the first by identity, so the
        // pick does not change from run to run.
        let mut keys: Vec<&String> = exported.keys().collect();
        keys.sort();
        let valued = keys
            .into_iter()
            .map(|k| &exported[k])
            .find(|row| !row[col("expected_value_90d")].is_empty())
            .expect("a buyer with a lifetime value");
        let some = &valued[col("member_id")];
        let (_, s) = app.get(&format!("/v1/members/{some}/scores")).await;
        assert_eq!(s["clv"]["status"], "fitted", "{s}");
        // (CDNOW's customers were last seen in 1998: most are long gone by now.)
        let alive = s["clv"]["p_alive"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&alive), "{s}");
        assert!(
            s["clv"]["expected_purchases"].is_f64() && s["clv"]["expected_value"].is_string(),
            "{s}"
        );
        assert_eq!(s["clv"]["horizon_days"], 90, "{s}");
        let mut checked = 0;
        for (i, c) in customers.iter().enumerate() {
            let row = &exported[*c];
            let got = |name: &str| row[col(name)].parse::<i64>().unwrap();
            assert_eq!(
                (got("r"), got("f"), got("m")),
                (r[i], f[i], m[i]),
                "customer {c}: {row:?}"
            );
            assert_eq!(got("frequency"), by_customer[c].1, "customer {c}");
            assert_eq!(
                got("recency_days"),
                today - by_customer[c].0,
                "customer {c}"
            );
            checked += 1;
        }
        assert_eq!(checked, 2357);
        // The RFM grid the overview draws, kept by the run, counts the same scores.
        let (status, grid) = app.get("/v1/stats/rfm").await;
        assert_eq!(status, StatusCode::OK, "{grid}");
        for cell in grid["cells"].as_array().unwrap() {
            let (cr, cf) = (cell["r"].as_i64().unwrap(), cell["f"].as_i64().unwrap());
            let expected = (0..customers.len())
                .filter(|&i| r[i] == cr && f[i] == cf)
                .count();
            assert_eq!(
                cell["members"], expected as u64,
                "cell r={cr} f={cf}: {grid}"
            );
        }
        assert_eq!(grid["scored"], 2357, "{grid}");
        // The cells use every score band: with 2,357 buyers, no quintile is empty.
        for name in ["r", "f", "m"] {
            let mut seen: Vec<i64> = exported
                .values()
                .map(|row| row[col(name)].parse().unwrap())
                .collect();
            seen.sort_unstable();
            seen.dedup();
            assert!(seen.len() >= 4, "{name}: {seen:?}");
        }
    }
}
