//! Leaderboards and honours over real HTTP, on SQLite and PostgreSQL (issue 20): a
//! leaderboard orders its members as the test computes independently, ties sharing a
//! rank; awards proposed from its top are confirmed or declined once; a segment's badge
//! is awarded in real time, kept when the member leaves the segment, and shown on the
//! member card.

mod common;

use common::TestApp;
use flywheel_core::time::{SECOND, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn decide(app: &TestApp, id: &Value, decision: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/v1/awards/{}/decision", id.as_str().unwrap()),
        json!({"decision": decision, "note": "checked by the team"}),
    )
    .await
}

#[tokio::test]
async fn a_leaderboard_ranks_as_computed_independently_and_awards_are_decided_once() {
    for app in TestApp::all().await {
        // Positive reviews per member, and one member with no review at all.
        let reviews = [3, 5, 5, 1, 0, 2, 5];
        let mut members = Vec::new();
        for (i, n) in reviews.iter().enumerate() {
            let phone = format!("1390000400{i}");
            let m = app
                .send(json!({"event_id": format!("reg-{i}"), "type": "register", "occurred_at": to_rfc3339(app.now()),
                    "channel": "app", "identities": {"phone": phone}}))
                .await["member_id"]
                .as_i64()
                .unwrap();
            app.advance(SECOND);
            for r in 0..*n {
                app.send(json!({"event_id": format!("rev-{i}-{r}"), "type": "review", "occurred_at": to_rfc3339(app.now()),
                    "channel": "app", "identities": {"phone": phone}, "properties": {"rating": 5}}))
                    .await;
            }
            members.push((m, *n as i64));
        }
        let (status, body) = app
            .post(
                "/v1/leaderboards",
                json!({"id": "reviewers", "name": "Most helpful reviewers",
                "score": "positive_reviews", "filter": "reviews >= 1", "size": 4}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // Independently: reviewers only, most reviews first, ties by who joined first
        // (registration order here), competition ranks.
        let mut expected: Vec<(i64, i64)> =
            members.iter().copied().filter(|(_, n)| *n >= 1).collect();
        expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut ranks = Vec::new();
        for (i, (m, n)) in expected.iter().enumerate() {
            let rank = if i > 0 && expected[i - 1].1 == *n {
                ranks.last().map(|(_, r, _)| *r).unwrap()
            } else {
                i as u64 + 1
            };
            ranks.push((*m, rank, *n));
        }
        let wanted: Vec<(i64, u64, i64)> = ranks.into_iter().filter(|(_, r, _)| *r <= 4).collect();
        let got: Vec<(i64, u64, i64)> = body["standings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["member_id"].as_i64().unwrap(),
                    s["rank"].as_u64().unwrap(),
                    s["score"].as_f64().unwrap() as i64,
                )
            })
            .collect();
        assert_eq!(got, wanted, "{body}");
        assert_eq!(body["standings"][0]["tied_with"], 2, "{body}");
        assert!(body["ties"].as_str().unwrap().contains("share a rank"));
        // A score that is text, or a filter that does not parse, is named.
        let (status, bad) = app
            .post(
                "/v1/leaderboards",
                json!({"id": "bad", "name": "Bad", "score": "city"}),
            )
            .await;
        assert_eq!(
            (status, bad["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("score")),
            "{bad}"
        );
        let (status, bad) = app
            .post(
                "/v1/leaderboards",
                json!({"id": "bad", "name": "Bad", "score": "reviews", "filter": "reviews >>"}),
            )
            .await;
        assert_eq!(
            (status, bad["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("filter")),
            "{bad}"
        );

        // Awards for the top place: the three tied at 5 reviews.
        let (status, awards) = app
            .post(
                "/v1/leaderboards/reviewers/awards",
                json!({"title": "Reviewer of the year", "top": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{awards}");
        let awards = awards["awards"].as_array().unwrap().clone();
        assert_eq!(awards.len(), 3, "{awards:?}");
        assert!(
            awards
                .iter()
                .all(|a| a["status"] == "proposed" && a["rank"] == 1)
        );
        let (_, again) = app
            .post(
                "/v1/leaderboards/reviewers/awards",
                json!({"title": "Reviewer of the year", "top": 1}),
            )
            .await;
        assert_eq!(again["awards"].as_array().unwrap().len(), 3);
        let (status, a) = decide(&app, &awards[0]["id"], "confirm").await;
        assert_eq!(
            (status, &a["status"]),
            (StatusCode::OK, &json!("confirmed")),
            "{a}"
        );
        let (status, a) = decide(&app, &awards[1]["id"], "decline").await;
        assert_eq!((status, &a["status"]), (StatusCode::OK, &json!("declined")));
        let (status, a) = decide(&app, &awards[1]["id"], "confirm").await;
        assert_eq!(
            (status, a["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("already_decided"))
        );
        // Defining the board, proposing and deciding are each in the audit log.
        for kind in ["leaderboard", "award"] {
            let (_, audit) = app.get(&format!("/v1/audit?kind={kind}")).await;
            assert!(
                !audit["entries"].as_array().unwrap().is_empty(),
                "{kind}: {audit}"
            );
        }
        let (_, proposed) = app.get("/v1/awards?status=proposed").await;
        assert_eq!(proposed["awards"].as_array().unwrap().len(), 1);
        let winner = awards[0]["member_id"].as_i64().unwrap();
        let (_, card) = app.get(&format!("/v1/members/{winner}/card")).await;
        assert_eq!(
            card["honours"]["awards"][0]["title"], "Reviewer of the year",
            "{card}"
        );
    }
}

#[tokio::test]
async fn a_segment_badge_is_awarded_in_real_time_and_kept_on_leaving() {
    for app in TestApp::all().await {
        let m = app
            .send(json!({"event_id": "reg-b", "type": "register", "occurred_at": to_rfc3339(app.now()),
                "channel": "app", "identities": {"phone": "13900005000"}}))
            .await["member_id"]
            .as_i64()
            .unwrap();
        let (status, body) = app
            .post(
                "/v1/segments",
                json!({"id": "century", "name": "Holds 100 points",
                "expression": "points_balance >= 100", "badge": "Century"}),
            )
            .await;
        assert!(status.is_success(), "{body}");
        assert_eq!(body["badge"], "Century");
        let adjust = |points: i64, key: &str| {
            app.post(
                "/v1/points/adjustments",
                json!({"member_id": m, "points": points, "reason": "test", "idempotency_key": key}),
            )
        };
        let (_, honours) = app.get(&format!("/v1/members/{m}/honours")).await;
        assert!(
            honours["badges"].as_array().unwrap().is_empty(),
            "{honours}"
        );
        let (status, body) = adjust(150, "b-1").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (_, honours) = app.get(&format!("/v1/members/{m}/honours")).await;
        assert_eq!(honours["badges"][0]["badge"], "Century", "{honours}");
        // Spending below 100 leaves the segment; the badge stays, once.
        let (_, points) = app.get(&format!("/v1/members/{m}/points")).await;
        let balance = points["balance"].as_i64().unwrap();
        let (status, _) = adjust(50 - balance, "b-2").await;
        assert_eq!(status, StatusCode::CREATED);
        let (_, segs) = app.get(&format!("/v1/members/{m}/segments")).await;
        assert!(
            segs["segments"].as_array().unwrap().is_empty(),
            "left the segment: {segs}"
        );
        adjust(200, "b-3").await;
        let (_, card) = app.get(&format!("/v1/members/{m}/card")).await;
        let badges = card["honours"]["badges"].as_array().unwrap();
        assert_eq!(badges.len(), 1, "{card}");
        assert_eq!(badges[0]["segment_id"], "century");
    }
}
