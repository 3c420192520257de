//! Fission campaigns over real HTTP, on SQLite and PostgreSQL (issue 20): a group-buy of
//! three fills with exactly two friends out of many joining at once and confirms every
//! order at the group price; another fails at its deadline and charges nothing; a help
//! request unlocks its reward at the target with each helper counted once and new
//! members weighed more; a bargain reaches its floor at its last helper; and every join
//! is a referral of the leader, which a friend's purchase converts. Referrals that look
//! farmed — the inviter's third invitee in a month on one device or payment account —
//! are held for staff to release or refuse, and rebates pay an inviter on the friend's
//! orders for a while, capped, clawed back on refund.

mod common;

use common::{ADMIN, TestApp};
use flywheel_core::time::{HOUR, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn member(app: &TestApp, phone: &str, at: i64) -> i64 {
    app.send(json!({"event_id": format!("reg-{phone}"), "type": "register", "occurred_at": to_rfc3339(at),
        "channel": "mini_program", "identities": {"phone": phone}}))
        .await["member_id"]
        .as_i64()
        .unwrap()
}

async fn join(app: &TestApp, round: &str, member: i64) -> (StatusCode, Value) {
    app.post(
        &format!("/v1/fission-rounds/{round}/joins"),
        json!({"member_id": member}),
    )
    .await
}

/// Many friends join one round at once; answers their statuses.
async fn join_at_once(app: &TestApp, round: &str, members: &[i64]) -> Vec<(StatusCode, Value)> {
    let tasks: Vec<_> = members
        .iter()
        .map(|&m| {
            let (http, url) = (
                flywheel_testkit::http(),
                format!("http://{}/v1/fission-rounds/{round}/joins", app.addr()),
            );
            tokio::spawn(async move {
                let r = http
                    .post(url)
                    .bearer_auth(ADMIN)
                    .json(&json!({"member_id": m}))
                    .send()
                    .await
                    .unwrap();
                (r.status(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn group_buys_fill_or_fail_and_every_join_is_a_referral_of_the_leader() {
    for app in TestApp::all().await {
        let start = app.now();
        let leader = member(&app, "13900001000", start).await;
        let mut friends = Vec::new();
        for i in 0..8 {
            friends.push(member(&app, &format!("139000011{i:02}"), start).await);
        }
        let window = json!({"starts_at": to_rfc3339(start - HOUR), "ends_at": to_rfc3339(start + 100 * HOUR)});
        let mut trio = json!({"id": "trio", "name": "Three for 99", "kind": "group_buy", "size": 3,
            "group_price": "99.00", "list_price": "129.00", "hours": 24});
        trio.as_object_mut()
            .unwrap()
            .extend(window.as_object().unwrap().clone());
        let (status, body) = app.post("/v1/fission-campaigns", trio.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["kind"], "group_buy");
        // A field of another kind is refused by name.
        let mut bad = trio.clone();
        bad["id"] = json!("bad");
        bad["target"] = json!(3);
        let (status, body) = app.post("/v1/fission-campaigns", bad).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("target")),
            "{body}"
        );

        let (status, round) = app
            .post(
                "/v1/fission-campaigns/trio/rounds",
                json!({"member_id": leader, "idempotency_key": "open-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{round}");
        let id = round["id"].as_str().unwrap().to_owned();
        assert_eq!(round["goal"], 3);
        // The same key, or a second open while the round is open, answers the round.
        let (status, again) = app
            .post(
                "/v1/fission-campaigns/trio/rounds",
                json!({"member_id": leader, "idempotency_key": "open-2"}),
            )
            .await;
        assert_eq!((status, &again["id"]), (StatusCode::OK, &round["id"]));
        let (status, body) = join(&app, &id, leader).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("self_referral"))
        );

        // Eight friends at once: exactly two get in.
        let answers = join_at_once(&app, &id, &friends).await;
        let joined: Vec<i64> = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .map(|(_, b)| b["join"]["member_id"].as_i64().unwrap())
            .collect();
        assert_eq!(joined.len(), 2, "{answers:?}");
        for (s, b) in &answers {
            if *s != StatusCode::CREATED {
                assert_eq!(
                    (*s, b["error"]["code"].as_str()),
                    (StatusCode::CONFLICT, Some("round_closed")),
                    "{b}"
                );
            }
        }
        let (_, full) = app.get(&format!("/v1/fission-rounds/{id}")).await;
        assert_eq!(full["status"], "filled", "{full}");
        assert_eq!(full["joined"], 2);
        let orders = full["orders"].as_array().unwrap();
        assert_eq!(orders.len(), 3);
        assert!(
            orders
                .iter()
                .all(|o| o["status"] == "confirmed" && o["charged"] == "99.00"),
            "{full}"
        );
        // Joining again answers the same join.
        let (status, body) = join(&app, &id, joined[0]).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // The joins are the leader's referrals; a friend's purchase converts one.
        let (_, l) = app.get(&format!("/v1/members/{leader}")).await;
        assert_eq!(l["facts"]["referrals_made"], 2, "{l}");
        app.send(json!({"event_id": "gb-buy", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
            "channel": "mini_program", "identities": {"phone": format!("139000011{:02}", friends.iter().position(|f| *f == joined[0]).unwrap())},
            "properties": {"order_id": format!("{id}:{}", joined[0]), "amount": "99.00", "currency": "CNY"}}))
            .await;
        let (_, l) = app.get(&format!("/v1/members/{leader}")).await;
        assert_eq!(l["facts"]["referrals_converted"], 1, "{l}");

        // A second group, of a friend left out, fails at its deadline: nothing charged.
        let lonely = friends
            .iter()
            .copied()
            .find(|f| !joined.contains(f))
            .unwrap();
        let (status, round2) = app
            .post(
                "/v1/fission-campaigns/trio/rounds",
                json!({"member_id": lonely, "idempotency_key": "open-3"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{round2}");
        let id2 = round2["id"].as_str().unwrap().to_owned();
        let other = friends
            .iter()
            .copied()
            .find(|f| !joined.contains(f) && *f != lonely)
            .unwrap();
        let (status, _) = join(&app, &id2, other).await;
        assert_eq!(status, StatusCode::CREATED);
        app.advance(25 * HOUR);
        let last = friends
            .iter()
            .copied()
            .rfind(|f| !joined.contains(f) && *f != lonely && *f != other)
            .unwrap();
        let (status, body) = join(&app, &id2, last).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("round_closed")),
            "{body}"
        );
        let (_, failed) = app.get(&format!("/v1/fission-rounds/{id2}")).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        assert!(
            failed["orders"]
                .as_array()
                .unwrap()
                .iter()
                .all(|o| o["status"] == "cancelled" && o["charged"] == "0.00"),
            "{failed}"
        );
        let (_, campaign) = app.get("/v1/fission-campaigns/trio").await;
        assert_eq!(
            (
                &campaign["rounds"],
                &campaign["completed"],
                &campaign["joins"]
            ),
            (&json!(2), &json!(1), &json!(3)),
            "{campaign}"
        );
        let (_, failed_list) = app
            .get("/v1/fission-campaigns/trio/rounds?status=failed")
            .await;
        assert_eq!(failed_list["rounds"].as_array().unwrap().len(), 1);
        assert_eq!(
            failed_list["rounds"][0]["joins"], failed["joins"],
            "{failed_list}"
        );
        let (_, all) = app.get("/v1/fission-campaigns/trio/rounds").await;
        let joined_total: usize = all["rounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["joins"].as_array().unwrap().len())
            .sum();
        assert_eq!(joined_total, 3, "{all}");
        let (_, audit) = app.get("/v1/audit?kind=fission_campaign").await;
        assert_eq!(
            audit["entries"][0]["target"], "fission_campaign:trio",
            "{audit}"
        );
        // The report: two leaders and three friends took part, three referrals, one
        // converted by a purchase of 99.00 after joining; no reward, so no cost.
        let (_, report) = app.get("/v1/marketing/report").await;
        let row = report["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "trio")
            .unwrap()
            .clone();
        assert_eq!(
            (
                &row["kind"],
                &row["participants"],
                &row["new_members"],
                &row["referrals"]
            ),
            (&json!("group_buy"), &json!(5), &json!(0), &json!(3)),
            "{row}"
        );
        assert_eq!(
            (
                &row["referral_conversions"],
                &row["gmv"],
                &row["cost"],
                &row["gmv_per_cost"]
            ),
            (&json!(1), &json!("99.00"), &json!("0.00"), &Value::Null),
            "{row}"
        );
    }
}

#[tokio::test]
async fn help_unlocks_at_its_target_and_bargains_reach_their_floor() {
    for app in TestApp::all().await {
        let start = app.now();
        let asker = member(&app, "13900002000", start - 10 * HOUR).await;
        let old_friend = member(&app, "13900002001", start - 10 * HOUR).await;
        let (status, body) = app
            .post(
                "/v1/fission-campaigns",
                json!({"id": "help-me", "name": "Help me win 300 points", "kind": "help", "target": 4,
                "new_member_weight": 2, "reward_points": 300, "hours": 48,
                "starts_at": to_rfc3339(start - HOUR), "ends_at": to_rfc3339(start + 100 * HOUR)}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (_, round) = app
            .post(
                "/v1/fission-campaigns/help-me/rounds",
                json!({"member_id": asker, "idempotency_key": "h-1"}),
            )
            .await;
        let id = round["id"].as_str().unwrap().to_owned();
        // The same friend helping five times at once counts once.
        let answers = join_at_once(&app, &id, &[old_friend; 5]).await;
        assert_eq!(
            answers
                .iter()
                .filter(|(s, _)| *s == StatusCode::CREATED)
                .count(),
            1,
            "{answers:?}"
        );
        assert!(answers.iter().all(|(s, _)| s.is_success()), "{answers:?}");
        let (_, r) = app.get(&format!("/v1/fission-rounds/{id}")).await;
        assert_eq!((&r["progress"], &r["status"]), (&json!(1), &json!("open")));
        // A member new since the round opened weighs 2: 1 + 2 = 3, then one more.
        app.advance(HOUR);
        let newcomer = member(&app, "13900002002", app.now()).await;
        let (status, body) = join(&app, &id, newcomer).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(
            (&body["join"]["weight"], &body["join"]["new_member"]),
            (&json!(2), &json!(true))
        );
        let third = member(&app, "13900002003", start - 10 * HOUR).await;
        let (status, body) = join(&app, &id, third).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["round"]["status"], "unlocked", "{body}");
        assert!(body["round"]["rewarded_at"].is_string(), "{body}");
        // The reward is one adjustment of 300 (a share may earn by the rules too).
        let (_, ledger) = app
            .get(&format!("/v1/members/{asker}/points/ledger?limit=500"))
            .await;
        let rewards: Vec<i64> = ledger["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["account"] == "wallet" && e["reason"].as_str().unwrap().contains("help campaign")
            })
            .map(|e| e["amount"].as_i64().unwrap())
            .collect();
        assert_eq!(rewards, [300], "{ledger}");
        // Each help was the asker's share and referral.
        let (_, a) = app.get(&format!("/v1/members/{asker}")).await;
        assert_eq!(
            (&a["facts"]["shares"], &a["facts"]["referrals_made"]),
            (&json!(3), &json!(3)),
            "{a}"
        );
        // One help per friend per campaign: a helper of this round cannot help another.
        let (_, round2) = app
            .post(
                "/v1/fission-campaigns/help-me/rounds",
                json!({"member_id": third, "idempotency_key": "h-2"}),
            )
            .await;
        let (status, body) = join(&app, round2["id"].as_str().unwrap(), old_friend).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("already_joined")),
            "{body}"
        );

        // A bargain from 99.00 to 9.90 in three cuts.
        let (status, body) = app
            .post(
                "/v1/fission-campaigns",
                json!({"id": "cut", "name": "Cut the price", "kind": "bargain", "price": "99.00",
                "floor": "9.90", "helpers": 3,
                "starts_at": to_rfc3339(start - HOUR), "ends_at": to_rfc3339(start + 100 * HOUR)}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (_, b) = app
            .post(
                "/v1/fission-campaigns/cut/rounds",
                json!({"member_id": asker, "idempotency_key": "b-1"}),
            )
            .await;
        let bid = b["id"].as_str().unwrap().to_owned();
        let mut cuts = 0i64;
        for (i, helper) in [old_friend, newcomer, third].into_iter().enumerate() {
            let (status, body) = join(&app, &bid, helper).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let cut = (body["join"]["cut"]
                .as_str()
                .unwrap()
                .parse::<f64>()
                .unwrap()
                * 100.0)
                .round() as i64;
            assert!(cut >= 1, "{body}");
            cuts += cut;
            let done = i == 2;
            assert_eq!(body["round"]["status"] == "unlocked", done, "{body}");
        }
        assert_eq!(cuts, 9_900 - 990);
        let (_, r) = app.get(&format!("/v1/fission-rounds/{bid}")).await;
        assert_eq!(r["price"], "9.90", "{r}");
        app.assert_books_balance().await;
    }
}

#[tokio::test]
async fn a_referral_ring_is_refused_and_pays_nobody() {
    for app in TestApp::all().await {
        let at = app.now();
        let refer = |n: u32, invitee: &str, inviter: &str| {
            app.send(json!({"event_id": format!("ring-{n}"), "type": "referral", "occurred_at": to_rfc3339(at + i64::from(n)),
                "channel": "mini_program", "identities": {"phone": invitee},
                "properties": {"referrer": {"phone": inviter}}}))
        };
        // A brought B, B brought C, C brought D — each its own request — and then D
        // claims to have brought A: a ring of accounts referring each other.
        refer(0, "13900006002", "13900006001").await;
        refer(1, "13900006003", "13900006002").await;
        refer(2, "13900006004", "13900006003").await;
        let ring = refer(3, "13900006001", "13900006004").await;
        assert_eq!(ring["duplicate"], false, "{ring}");
        let first = member(&app, "13900006001", at).await;
        let d = member(&app, "13900006004", at).await;
        let (_, dm) = app.get(&format!("/v1/members/{d}")).await;
        assert_eq!(dm["facts"]["referrals_made"], 0, "D brought nobody: {dm}");
        // A's first purchase converts nothing and pays D nothing.
        app.send(
            json!({"event_id": "ring-buy", "type": "purchase", "occurred_at": to_rfc3339(at + 10),
            "channel": "mini_program", "identities": {"phone": "13900006001"},
            "properties": {"order_id": "RING-1", "amount": "50.00", "currency": "CNY"}}),
        )
        .await;
        let (_, dm) = app.get(&format!("/v1/members/{d}")).await;
        assert_eq!(dm["facts"]["referrals_converted"], 0, "{dm}");
        let (_, export) = app.get(&format!("/v1/members/{first}/export")).await;
        let statuses: Vec<&str> = export["referrals"]
            .as_array()
            .map(|r| r.iter().filter_map(|x| x["status"].as_str()).collect())
            .unwrap_or_default();
        assert!(statuses.contains(&"refused_cycle"), "{export}");
    }
}

/// The inviter's wallet entries the `referral_converted` rule paid.
async fn referral_payments(app: &TestApp, inviter: i64) -> usize {
    let (_, ledger) = app
        .get(&format!("/v1/members/{inviter}/points/ledger?limit=500"))
        .await;
    ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["account"] == "wallet" && e["rule_id"] == "referral_converted")
        .count()
}

async fn converted(app: &TestApp, inviter: i64) -> i64 {
    let (_, m) = app.get(&format!("/v1/members/{inviter}")).await;
    m["facts"]["referrals_converted"].as_i64().unwrap()
}

/// Refers `invitee` by `inviter` from `device`, then has the invitee buy, paying from
/// `payment`.
async fn refer_and_buy(
    app: &TestApp,
    n: u32,
    inviter: &str,
    invitee: &str,
    device: &str,
    payment: &str,
) {
    let at = app.now();
    let refer = app
        .send(
            json!({"event_id": format!("farm-ref-{n}"), "type": "referral",
        "occurred_at": to_rfc3339(at), "channel": "mini_program", "identities": {"phone": invitee},
        "properties": {"referrer": {"phone": inviter}, "device_id": device}}),
        )
        .await;
    assert_eq!(refer["duplicate"], false, "{refer}");
    let buy = app.send(json!({"event_id": format!("farm-buy-{n}"), "type": "purchase",
        "occurred_at": to_rfc3339(at + 1), "channel": "mini_program", "identities": {"phone": invitee},
        "properties": {"order_id": format!("FARM-{n}"), "amount": "30.00", "currency": "CNY",
            "payment_account": payment}}))
    .await;
    assert_eq!(buy["duplicate"], false, "{buy}");
}

#[tokio::test]
async fn farmed_referrals_are_held_for_review_and_paid_or_refused_by_staff() {
    for app in TestApp::all().await {
        let start = app.now();
        let farmer = member(&app, "13900008000", start).await;
        // Four "friends" on one device, each on a phone of its own block and paying from
        // its own account: the first two convert and pay; from the third, they are held.
        let phones = ["13811110001", "13722220002", "13633330003", "13544440004"];
        for (n, phone) in phones.iter().enumerate() {
            app.advance(HOUR);
            refer_and_buy(
                &app,
                n as u32,
                "13900008000",
                phone,
                "farm-device-1",
                &format!("pay-{n}"),
            )
            .await;
        }
        assert_eq!(converted(&app, farmer).await, 2);
        assert_eq!(referral_payments(&app, farmer).await, 2);
        let (status, held) = app.get("/v1/referrals?status=held").await;
        assert_eq!(status, StatusCode::OK, "{held}");
        let held = held["referrals"].as_array().unwrap().clone();
        let ids: Vec<&str> = held
            .iter()
            .map(|r| r["event_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["farm-ref-3", "farm-ref-2"]);
        let reason = held[1]["hold_reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!(
                "3 invitees of member {farmer} within 30 days share one device"
            )),
            "{reason}"
        );
        assert!(
            reason.ends_with("referrals farm-ref-0, farm-ref-1"),
            "{reason}"
        );
        assert!(held[1]["converted_at"].is_string(), "{}", held[1]);
        // The device id itself is not kept on the referral.
        let (_, export) = app.get(&format!("/v1/members/{farmer}/export")).await;
        assert!(!export.to_string().contains("farm-device-1\"}"), "{export}");

        // A friend on another device converts as usual.
        app.advance(HOUR);
        refer_and_buy(&app, 9, "13900008000", "13455550005", "own-device", "pay-9").await;
        assert_eq!(converted(&app, farmer).await, 3);

        // Staff release one: it counts and pays now, once, audited.
        let (status, body) = app
            .post(
                "/v1/referrals/farm-ref-2/review",
                json!({"decision": "release", "reason": "a real friend, checked by phone"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "converted", "{body}");
        assert!(body["hold_reason"].is_string(), "{body}");
        assert_eq!(converted(&app, farmer).await, 4);
        assert_eq!(referral_payments(&app, farmer).await, 4);
        let (status, again) = app
            .post(
                "/v1/referrals/farm-ref-2/review",
                json!({"decision": "release"}),
            )
            .await;
        assert_eq!(
            (status, &again["status"]),
            (StatusCode::OK, &json!("converted"))
        );
        assert_eq!(referral_payments(&app, farmer).await, 4);
        let (status, other_way) = app
            .post(
                "/v1/referrals/farm-ref-2/review",
                json!({"decision": "refuse"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{other_way}");
        assert_eq!(other_way["error"]["code"], "already_decided");
        // And refuse the other: it never pays.
        let (status, body) = app
            .post(
                "/v1/referrals/farm-ref-3/review",
                json!({"decision": "refuse", "reason": "same device"}),
            )
            .await;
        assert_eq!(
            (status, &body["status"]),
            (StatusCode::OK, &json!("refused_farming")),
            "{body}"
        );
        assert_eq!(converted(&app, farmer).await, 4);
        assert_eq!(referral_payments(&app, farmer).await, 4);
        let (_, audit) = app.get("/v1/audit?kind=referral").await;
        let actions: Vec<&str> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["refuse", "release"], "{audit}");
        // The decision is in the inviter's history, and moved none of their facts.
        let (_, timeline) = app.get(&format!("/v1/members/{farmer}/timeline")).await;
        assert!(
            timeline.to_string().contains("referral_review"),
            "{timeline}"
        );

        // A referral never held, one unknown, and a decision that is neither.
        let (status, _) = app
            .post(
                "/v1/referrals/farm-ref-0/review",
                json!({"decision": "refuse"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = app
            .post("/v1/referrals/nope/review", json!({"decision": "refuse"}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = app
            .post(
                "/v1/referrals/farm-ref-0/review",
                json!({"decision": "maybe"}),
            )
            .await;
        assert_eq!(
            (status, &body["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("decision")),
            "{body}"
        );

        // A payment account shared by another inviter's invitees holds the third too,
        // though each came on a device of its own.
        let other = member(&app, "13900009000", app.now()).await;
        for n in 0..3u32 {
            app.advance(HOUR);
            let phone = format!("13{n}6666000{n}");
            refer_and_buy(
                &app,
                20 + n,
                "13900009000",
                &phone,
                &format!("dev-{n}"),
                "one-wallet",
            )
            .await;
        }
        assert_eq!(converted(&app, other).await, 2);
        let (_, r) = app.get("/v1/referrals/farm-ref-22").await;
        assert_eq!(r["status"], "held", "{r}");
        assert!(
            r["hold_reason"]
                .as_str()
                .unwrap()
                .contains("share one payment account"),
            "{r}"
        );
        app.assert_books_balance().await;
    }
}

/// The inviter's `rebate` rule entries, summed (pending ones became available in their
/// 7 days: these orders are in the past).
async fn rebates(app: &TestApp, inviter: i64) -> i64 {
    let (_, ledger) = app
        .get(&format!("/v1/members/{inviter}/points/ledger?limit=500"))
        .await;
    ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["rule_id"] == "rebate" && e["account"] != "debt")
        .map(|e| e["amount"].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn rebates_pay_the_inviter_on_referred_purchases_capped_pending_and_clawed_back() {
    for app in TestApp::all().await {
        let (_, rules) = app.get("/v1/points/rules").await;
        let mut set = rules["rules"].clone();
        // 5 points per 1.00 the friend spends in the 30 days after the referral, at most
        // 600 a month, pending for the 7-day return window.
        set.as_array_mut().unwrap().push(json!({
            "id": "rebate", "name": "5% back on friends' orders", "trigger": "referred_purchase",
            "conditions": {"days_after_referral": 30}, "award": {"points": 5, "per": "1.00"},
            "pending_days": 7, "limits": {"points_per_month": 600}
        }));
        let (status, body) = app
            .put(
                "/v1/points/rules",
                json!({"rules": set, "effective_from": "2026-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let at = |day: u32| format!("2026-03-{day:02}T10:00:00Z");
        let send = |id: &str, kind: &str, when: String, who: &str, props: Value| {
            app.send(json!({"event_id": id, "type": kind, "occurred_at": when,
                "channel": "mini_program", "identities": {"phone": who}, "properties": props}))
        };
        let inviter = send("rb-k", "register", at(1), "13900010000", json!({})).await["member_id"]
            .as_i64()
            .unwrap();
        let referral = send(
            "rb-ref",
            "referral",
            at(1),
            "13900010001",
            json!({"referrer": {"phone": "13900010000"}}),
        )
        .await;
        assert_eq!(referral["duplicate"], false, "{referral}");
        let order = |n: u32, amount: &str| json!({"order_id": format!("RB-{n}"), "amount": amount, "currency": "CNY"});
        send(
            "rb-buy-1",
            "purchase",
            at(2),
            "13900010001",
            order(1, "100.00"),
        )
        .await;
        assert_eq!(rebates(&app, inviter).await, 500);
        // The month's cap leaves 100 of the next order's 200.
        send(
            "rb-buy-2",
            "purchase",
            at(3),
            "13900010001",
            order(2, "40.00"),
        )
        .await;
        assert_eq!(rebates(&app, inviter).await, 600);
        // A refund of the first order takes its rebate back.
        send(
            "rb-refund-1",
            "refund",
            at(4),
            "13900010001",
            json!({"order_id": "RB-1", "amount": "100.00"}),
        )
        .await;
        assert_eq!(rebates(&app, inviter).await, 100);
        // After the 30 days, the friend's orders pay nothing more; nor does the
        // inviter's own purchase.
        send(
            "rb-buy-3",
            "purchase",
            "2026-04-05T10:00:00Z".into(),
            "13900010001",
            order(3, "80.00"),
        )
        .await;
        send(
            "rb-buy-4",
            "purchase",
            at(5),
            "13900010000",
            order(4, "80.00"),
        )
        .await;
        assert_eq!(rebates(&app, inviter).await, 100);
        // A friend's order today: its rebate waits out the return window.
        let now = to_rfc3339(app.now());
        send(
            "rb-ref-2",
            "referral",
            now.clone(),
            "13900010002",
            json!({"referrer": {"phone": "13900010000"}}),
        )
        .await;
        send(
            "rb-buy-5",
            "purchase",
            now,
            "13900010002",
            order(5, "10.00"),
        )
        .await;
        let (_, points) = app.get(&format!("/v1/members/{inviter}/points")).await;
        assert_eq!(points["pending"], 50, "{points}");
        app.assert_books_balance().await;
    }
}
