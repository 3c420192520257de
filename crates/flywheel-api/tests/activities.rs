//! Activities (issue 22) over real HTTP, on both databases: a salon with two seats takes
//! two RSVPs and puts the third in line; eligibility is a segment expression; checking
//! in by the member card's code makes one participation however often it is scanned; a
//! cancelled seat goes to the first in line; a points cost is paid with the seat and
//! given back on a cancel; a three-day challenge completes on the third day in a row
//! with its points and badge, once; the report counts it all; the books stay at zero.
//! Members do the same from their card page: join, check in to a challenge, send ideas.

mod common;

use common::TestApp;
use flywheel_core::membership::card::card_number;
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn buyer(app: &TestApp, n: u32) -> i64 {
    let at = to_rfc3339(app.now() - 5 * DAY);
    let body = app
        .send(
            json!({"event_id": format!("buy-{n}"), "type": "purchase", "occurred_at": at,
            "channel": "store", "identities": {"phone": format!("1390000{n:04}")},
            "properties": {"order_id": format!("o-{n}"), "amount": "120.00", "currency": "CNY"}}),
        )
        .await;
    body["member_id"].as_i64().unwrap()
}

fn salon(app: &TestApp) -> Value {
    json!({"name": "Winter tea salon", "kind": "salon",
        "starts_at": to_rfc3339(app.now() + DAY), "ends_at": to_rfc3339(app.now() + DAY + 3 * 3_600_000_000),
        "place": "Flagship store", "capacity": 2, "cost_cash": "88",
        "eligibility": "purchase_count >= 1"})
}

#[tokio::test]
async fn a_salon_seats_two_lines_up_the_third_and_checks_in_by_card_code() {
    for app in TestApp::all().await {
        let (status, created) = app.put("/v1/activities/winter-salon", salon(&app)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["seats_left"], 2);
        assert_eq!(created["cost_cash"], "88.00");
        // The same definition again changes nothing; a mistake names its field.
        let (status, _) = app.put("/v1/activities/winter-salon", salon(&app)).await;
        assert_eq!(status, StatusCode::OK);
        let mut bad = salon(&app);
        bad["eligibility"] = json!("purchase_count >=");
        let (status, e) = app.put("/v1/activities/bad", bad).await;
        assert_eq!(
            (status, &e["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("eligibility")),
            "{e}"
        );

        let (a, b, c) = (
            buyer(&app, 1).await,
            buyer(&app, 2).await,
            buyer(&app, 3).await,
        );
        let browser = app
            .send(
                json!({"event_id": "v-1", "type": "visit", "occurred_at": to_rfc3339(app.now()),
                "channel": "web", "identities": {"email": "just-looking@example.com"}}),
            )
            .await["member_id"]
            .as_i64()
            .unwrap();
        let rsvp = |m: i64| json!({"member_id": m});
        let (status, e) = app
            .post("/v1/activities/winter-salon/rsvps", rsvp(browser))
            .await;
        assert_eq!(
            (status, &e["error"]["code"]),
            (StatusCode::CONFLICT, &json!("not_eligible")),
            "{e}"
        );
        let (_, ra) = app.post("/v1/activities/winter-salon/rsvps", rsvp(a)).await;
        let (_, rb) = app.post("/v1/activities/winter-salon/rsvps", rsvp(b)).await;
        let (_, rc) = app.post("/v1/activities/winter-salon/rsvps", rsvp(c)).await;
        assert_eq!(
            (&ra["status"], &rb["status"], &rc["status"], &rc["position"]),
            (
                &json!("confirmed"),
                &json!("confirmed"),
                &json!("waitlisted"),
                &json!(1)
            ),
            "{ra} {rb} {rc}"
        );
        // Asking again answers the RSVP as it stands.
        let (_, again) = app.post("/v1/activities/winter-salon/rsvps", rsvp(a)).await;
        assert_eq!(again["status"], "confirmed");

        // The door opens two hours before the start.
        let code = |m: i64| json!({"card_code": card_number(m)});
        let (status, e) = app
            .post("/v1/activities/winter-salon/check-ins", code(a))
            .await;
        assert_eq!(
            (status, &e["error"]["code"]),
            (StatusCode::CONFLICT, &json!("activity_closed")),
            "{e}"
        );
        app.advance(DAY - 3_600_000_000);
        let (status, done) = app
            .post("/v1/activities/winter-salon/check-ins", code(a))
            .await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(
            (done["member_id"].as_i64(), &done["first"]),
            (Some(a), &json!(true))
        );
        // Scanned twice: still one participation.
        let (_, twice) = app
            .post("/v1/activities/winter-salon/check-ins", code(a))
            .await;
        assert_eq!(twice["first"], false);
        let (_, member) = app.get(&format!("/v1/members/{a}")).await;
        assert_eq!(
            member["facts"]["participations"],
            json!({"salon": 1}),
            "{member}"
        );
        // A mistyped card code is caught by its check digit.
        let mut wrong = card_number(a);
        wrong.replace_range(10..11, if wrong.ends_with('0') { "1" } else { "0" });
        let (status, e) = app
            .post(
                "/v1/activities/winter-salon/check-ins",
                json!({"card_code": wrong}),
            )
            .await;
        assert_eq!(
            (status, &e["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("card_code"))
        );
        // Full: a walk-in without a seat is turned away.
        let (status, e) = app
            .post("/v1/activities/winter-salon/check-ins", code(browser))
            .await;
        assert_eq!(
            (status, &e["error"]["code"]),
            (StatusCode::CONFLICT, &json!("activity_full")),
            "{e}"
        );

        // B cancels: C takes the seat.
        let (status, cancelled) = app
            .call(
                "DELETE",
                &format!("/v1/activities/winter-salon/rsvps/{b}"),
                Some(common::ADMIN),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{cancelled}");
        assert_eq!(cancelled["seated"], json!([c]));
        let (_, list) = app.get("/v1/activities/winter-salon/rsvps").await;
        let statuses: Vec<(i64, &str)> = list["rsvps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["member_id"].as_i64().unwrap(),
                    r["status"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            statuses,
            vec![(a, "confirmed"), (b, "cancelled"), (c, "confirmed")]
        );

        // After the end: C never came — a no-show.
        app.advance(5 * 3_600_000_000);
        let (_, report) = app.get("/v1/activities/winter-salon/report").await;
        assert_eq!(
            (
                &report["confirmed"],
                &report["attended"],
                &report["no_shows"],
                &report["cancelled"]
            ),
            (&json!(2), &json!(1), &json!(1), &json!(1)),
            "{report}"
        );
        assert_eq!(report["movement_final"], false);
        let (status, e) = app.post("/v1/activities/winter-salon/rsvps", rsvp(b)).await;
        assert_eq!(
            (status, &e["error"]["code"]),
            (StatusCode::CONFLICT, &json!("activity_closed"))
        );
        let (status, _) = app.get("/v1/activities/nowhere/report").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

async fn balance(app: &TestApp, m: i64) -> i64 {
    let (_, points) = app.get(&format!("/v1/members/{m}/points")).await;
    points["balance"]
        .as_i64()
        .unwrap_or_else(|| panic!("{points}"))
}

#[tokio::test]
async fn a_seat_costs_points_given_back_on_cancel_and_a_challenge_rewards_once() {
    for app in TestApp::all().await {
        let m = buyer(&app, 7).await;
        let poor = buyer(&app, 8).await;
        let (status, _) = app
            .post("/v1/points/adjustments", json!({"member_id": m, "points": 300, "reason": "welcome", "idempotency_key": "w-7"}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let before = balance(&app, m).await;
        let class = json!({"name": "Masterclass: whisking matcha", "kind": "masterclass",
            "starts_at": to_rfc3339(app.now() + 2 * DAY), "ends_at": to_rfc3339(app.now() + 2 * DAY + 7_200_000_000),
            "link": "https://live.example.com/matcha", "capacity": 5, "cost_points": 200});
        assert_eq!(
            app.put("/v1/activities/matcha", class).await.0,
            StatusCode::CREATED
        );
        let (_, paid) = app
            .post("/v1/activities/matcha/rsvps", json!({"member_id": m}))
            .await;
        assert_eq!(
            (&paid["status"], &paid["points_paid"]),
            (&json!("confirmed"), &json!(200)),
            "{paid}"
        );
        assert_eq!(balance(&app, m).await, before - 200);
        let (status, e) = app
            .post("/v1/activities/matcha/rsvps", json!({"member_id": poor}))
            .await;
        assert_eq!(
            (status, &e["error"]["code"]),
            (StatusCode::CONFLICT, &json!("insufficient_points")),
            "{e}"
        );
        let (status, _) = app
            .call(
                "DELETE",
                &format!("/v1/activities/matcha/rsvps/{m}"),
                Some(common::ADMIN),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(balance(&app, m).await, before, "the fee came back");
        app.assert_books_balance().await;

        // A three-day challenge: check in on three days in a row.
        let challenge = json!({"name": "Three days of tea", "kind": "challenge",
            "starts_at": to_rfc3339(app.now() - 3_600_000_000), "ends_at": to_rfc3339(app.now() + 10 * DAY),
            "link": "https://app.example.com/challenge",
            "challenge": {"days": 3, "reward_points": 50, "badge": "Three-day steeper"}});
        assert_eq!(
            app.put("/v1/activities/tea-3", challenge).await.0,
            StatusCode::CREATED
        );
        assert_eq!(
            app.post("/v1/activities/tea-3/rsvps", json!({"member_id": m}))
                .await
                .0,
            StatusCode::OK
        );
        let before = balance(&app, m).await;
        let mut last = Value::Null;
        for day in 0..3 {
            let (status, done) = app
                .post("/v1/activities/tea-3/check-ins", json!({"member_id": m}))
                .await;
            assert_eq!(status, StatusCode::OK, "{done}");
            assert_eq!(done["streak"], day + 1, "{done}");
            // Twice on a day counts once.
            let (_, again) = app
                .post("/v1/activities/tea-3/check-ins", json!({"member_id": m}))
                .await;
            assert_eq!(again["streak"], day + 1);
            last = done;
            app.advance(DAY);
        }
        assert_eq!(last["completed"], true, "{last}");
        let key = last["reward_ledger_key"].as_str().unwrap().to_owned();
        assert!(balance(&app, m).await >= before + 50);
        // A fourth day rewards nothing more: the reward is in the ledger once.
        let (_, more) = app
            .post("/v1/activities/tea-3/check-ins", json!({"member_id": m}))
            .await;
        assert_eq!(
            (more["streak"].as_i64(), &more["completed"]),
            (Some(4), &json!(true))
        );
        assert_eq!(more["reward_ledger_key"], json!(key));
        let (_, ledger) = app.get(&format!("/v1/members/{m}/points/ledger")).await;
        let rewards: Vec<&Value> = ledger["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("{ledger}"))
            .iter()
            .filter(|t| t.to_string().contains("completed Three days of tea"))
            .collect();
        assert_eq!(rewards.len(), 1, "{ledger}");
        let (_, member) = app.get(&format!("/v1/members/{m}")).await;
        assert_eq!(
            member["facts"]["participations"]["challenge"], 1,
            "{member}"
        );
        assert_eq!(member["facts"]["check_ins"], 4);
        let (_, badges) = app.get(&format!("/v1/members/{m}/honours")).await;
        assert!(badges.to_string().contains("Three-day steeper"), "{badges}");
        let (_, report) = app.get("/v1/activities/tea-3/report").await;
        assert_eq!(report["completed"], 1, "{report}");
        app.assert_books_balance().await;
    }
}

#[tokio::test]
async fn concurrent_rsvps_never_take_more_seats_than_there_are() {
    for app in TestApp::all().await {
        let mut members = Vec::new();
        for n in 0..12 {
            members.push(buyer(&app, 100 + n).await);
        }
        let mut meetup = salon(&app);
        meetup["capacity"] = json!(3);
        meetup["kind"] = json!("meetup");
        assert_eq!(
            app.put("/v1/activities/fan-meetup", meetup).await.0,
            StatusCode::CREATED
        );
        let answers = futures_util::future::join_all(
            members
                .iter()
                .map(|m| app.post("/v1/activities/fan-meetup/rsvps", json!({"member_id": m}))),
        )
        .await;
        let confirmed = answers
            .iter()
            .filter(|(s, r)| *s == StatusCode::OK && r["status"] == "confirmed")
            .count();
        let waiting = answers
            .iter()
            .filter(|(_, r)| r["status"] == "waitlisted")
            .count();
        assert_eq!((confirmed, waiting), (3, 9), "{answers:?}");
        let (_, a) = app.get("/v1/activities/fan-meetup").await;
        assert_eq!(
            (&a["confirmed"], &a["seats_left"]),
            (&json!(3), &json!(0)),
            "{a}"
        );
    }
}

/// The member's own card link, as a path.
async fn card_path(app: &TestApp, member: i64) -> String {
    let (status, link) = app
        .get(&format!("/v1/members/{member}/card-link?valid_days=30"))
        .await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let url = link["url"].as_str().unwrap();
    url[url.find("/card/").unwrap()..].to_owned()
}

/// Posts a form from the card page as a phone's browser would (no redirects followed):
/// the status and where it sends the member next.
async fn post_form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let value: String = v
                .bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
                    b' ' => "+".into(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={value}")
        })
        .collect();
    let resp = flywheel_testkit::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
        .send()
        .await
        .unwrap();
    let to = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (resp.status(), to)
}

async fn page(app: &TestApp, path: &str) -> String {
    let resp = reqwest::get(format!("{}{path}", app.base)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.text().await.unwrap()
}

#[tokio::test]
async fn members_rsvp_check_in_and_send_ideas_from_their_card() {
    for app in TestApp::all().await {
        let mut one_seat = salon(&app);
        one_seat["capacity"] = json!(1);
        app.put("/v1/activities/winter-salon", one_seat).await;
        let challenge = json!({"name": "Two days of tea", "kind": "challenge",
            "starts_at": to_rfc3339(app.now()), "ends_at": to_rfc3339(app.now() + 10 * DAY),
            "link": "https://app.example.com/challenge", "challenge": {"days": 2, "reward_points": 20}});
        app.put("/v1/activities/tea-2", challenge).await;
        let (a, b) = (buyer(&app, 1).await, buyer(&app, 2).await);
        let (card_a, card_b) = (card_path(&app, a).await, card_path(&app, b).await);

        let html = page(&app, &card_a).await;
        assert!(
            html.contains("Winter tea salon") && html.contains("1 seat left"),
            "{html}"
        );
        assert!(
            html.contains("Check in today"),
            "the challenge is under way"
        );
        // A member the salon is not for does not see it, and cannot join by posting.
        let stranger = app
            .send(json!({"event_id": "visit-1", "type": "page_view", "occurred_at": to_rfc3339(app.now()),
                "channel": "web", "identities": {"phone": "13900009999"}, "properties": {"url": "https://example.com/"}}))
            .await["member_id"]
            .as_i64()
            .unwrap();
        let card_s = card_path(&app, stranger).await;
        assert!(!page(&app, &card_s).await.contains("Winter tea salon"));
        let (status, to) =
            post_form(&app, &format!("{card_s}/activities/winter-salon/rsvp"), &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(to.contains("note=not_eligible"), "{to}");

        // The last seat, then the line; the page says which.
        let (_, to) = post_form(&app, &format!("{card_a}/activities/winter-salon/rsvp"), &[]).await;
        assert!(to.contains("note=rsvp-confirmed"), "{to}");
        let (_, to) = post_form(&app, &format!("{card_b}/activities/winter-salon/rsvp"), &[]).await;
        assert!(to.contains("note=rsvp-waitlisted"), "{to}");
        let html = page(&app, &format!("{card_b}?note=rsvp-waitlisted")).await;
        assert!(
            html.contains("you are in line") && html.contains("number 1"),
            "{html}"
        );
        let (_, rsvps) = app.get("/v1/activities/winter-salon/rsvps").await;
        assert_eq!(rsvps["rsvps"][0]["via"], "card", "{rsvps}");
        assert!(page(&app, &card_a).await.contains("you are going"));

        // The challenge: a check-in today, another tomorrow completes it, once.
        let (_, to) = post_form(&app, &format!("{card_a}/activities/tea-2/check-in"), &[]).await;
        assert!(to.contains("note=checked-in"), "{to}");
        app.advance(DAY);
        let (_, to) = post_form(&app, &format!("{card_a}/activities/tea-2/check-in"), &[]).await;
        assert!(to.contains("note=completed"), "{to}");
        let html = page(&app, &card_a).await;
        assert!(
            html.contains("completed") && !html.contains("Check in today"),
            "{html}"
        );
        // The salon has a place: members are checked in at its door, not from the card.
        let (_, to) = post_form(
            &app,
            &format!("{card_a}/activities/winter-salon/check-in"),
            &[],
        )
        .await;
        assert!(to.contains("note=activity_closed"), "{to}");

        // An idea: sending the same form twice files it once; the card shows its status.
        let idea = [("text", "A refill pouch for the tin"), ("key", "f00d")];
        for _ in 0..2 {
            let (status, to) = post_form(&app, &format!("{card_a}/ideas"), &idea).await;
            assert_eq!(status, StatusCode::SEE_OTHER);
            assert!(to.contains("note=idea-sent"), "{to}");
        }
        let (_, board) = app.get("/v1/ideas").await;
        assert_eq!(board["ideas"].as_array().unwrap().len(), 1, "{board}");
        assert_eq!(
            (&board["ideas"][0]["via"], &board["ideas"][0]["member_id"]),
            (&json!("card"), &json!(a))
        );
        let html = page(&app, &card_a).await;
        assert!(
            html.contains("A refill pouch for the tin") && html.contains("received"),
            "{html}"
        );
        let (_, to) = post_form(&app, &format!("{card_a}/ideas"), &[("text", "  ")]).await;
        assert!(to.contains("note=invalid_value"), "{to}");

        // A tampered link does nothing.
        let mut tampered = card_a.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == '0' { '1' } else { '0' });
        let (status, _) = post_form(&app, &format!("{tampered}/ideas"), &idea).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        app.assert_books_balance().await;
    }
}
