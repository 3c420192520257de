//! Hardening over real HTTP, on SQLite and PostgreSQL: the audit log, contact details
//! masked by role on every GET route, a member's export and erasure, per-key rate
//! limits, bodies refused before they are read, slow clients cut off, and `/metrics`.

mod common;

use common::{ADMIN, TestApp};
use flywheel_api::{AppState, HttpLimits};
use flywheel_core::auth::Role;
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn event(id: &str, kind: &str, at: i64, who: Value, properties: Value) -> Value {
    json!({"event_id": id, "type": kind, "occurred_at": to_rfc3339(at), "channel": "store",
           "identities": who, "properties": properties})
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_rule_change_and_an_adjustment_are_in_the_audit_log_with_before_and_after() {
    for app in TestApp::all().await {
        let (status, body) = app
            .put(
                "/v1/points/rules",
                json!({"rules": [{"id": "like", "trigger": "like", "award": {"points": 2}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let member = app
            .send(event(
                "au-1",
                "like",
                app.now(),
                json!({"card_no": "AU1"}),
                json!({}),
            ))
            .await["member_id"]
            .clone();
        let (status, body) = app
            .post(
                "/v1/points/adjustments",
                json!({"member_id": member, "points": 30, "reason": "goodwill for a late order",
                       "idempotency_key": "au-adj"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        let (status, rules) = app.get("/v1/audit?kind=points_rules").await;
        assert_eq!(status, StatusCode::OK, "{rules}");
        let entry = &rules["entries"][0];
        assert_eq!(entry["actor"]["ref"], "env-admin", "{entry}");
        assert_eq!(entry["actor"]["name"], "FLYWHEEL_ADMIN_KEY");
        assert_eq!(entry["action"], "create");
        assert_eq!(
            entry["before"]["version"], 0,
            "the built-in rules were in force"
        );
        assert!(
            entry["before"]["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == "purchase")
        );
        assert_eq!(entry["after"]["version"], 1);
        assert_eq!(entry["after"]["rules"][0]["award"]["points"], 2);

        let (_, adjustments) = app.get("/v1/audit?kind=points_adjustment").await;
        let entry = &adjustments["entries"][0];
        assert_eq!(entry["target"], format!("member:{member}"));
        assert_eq!(entry["reason"], "goodwill for a late order");
        assert_eq!(entry["before"]["balance"], 2, "{entry}");
        assert_eq!(entry["after"]["balance"], 32, "{entry}");
        assert_eq!(entry["after"]["points"], 30);

        // Filters, paging, and who may read it.
        let (_, mine) = app.get("/v1/audit?actor=env-admin&limit=1").await;
        assert_eq!(mine["entries"].as_array().unwrap().len(), 1);
        let next = mine["next"].as_i64().expect("a second page");
        let (_, older) = app
            .get(&format!("/v1/audit?actor=env-admin&before={next}"))
            .await;
        assert_eq!(older["entries"][0]["kind"], "points_rules", "{older}");
        let (_, later) = app
            .get(&format!(
                "/v1/audit?from={}",
                to_rfc3339(app.now() + DAY).replace('+', "%2B")
            ))
            .await;
        assert_eq!(later["entries"], json!([]), "{later}");
        let (status, body) = app.get("/v1/audit?kind=everything").await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "invalid_query")
        );
        let operator = app.key(Role::Operator).await;
        let (status, _) = app.call("GET", "/v1/audit", Some(&operator), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

/// Phones and e-mails this test puts into the database, in the spellings a leak would
/// take.
const SECRETS: [&str; 7] = [
    "+8613800138000",
    "13800138000",
    "+8613900139000",
    "13900139000",
    "13700137000",
    "li.wei@example.com",
    "+8613600136000",
];

/// Members whose contact details appear in every kind of record a GET route shows:
/// identities, a referrer, a custom property, an identity conflict, an error message.
async fn people_with_contact_details(app: &TestApp) -> (Value, Value) {
    let now = app.now() - 30 * DAY;
    let ann = app
        .send(event(
            "pd-1",
            "register",
            now,
            json!({"phone": "13800138000", "email": "Li.Wei@example.com", "wechat_openid": "oAnn"}),
            json!({"name": "Li Wei"}),
        ))
        .await;
    for (i, day) in [1, 2, 3].iter().enumerate() {
        app.send(event(
            &format!("pd-buy-{i}"),
            "purchase",
            now + day * DAY,
            json!({"phone": "13800138000"}),
            json!({"order_id": format!("PD-{i}"), "amount": "30.00"}),
        ))
        .await;
    }
    let bo = app
        .send(event(
            "pd-2",
            "referral",
            now + 4 * DAY,
            json!({"phone": "13900139000"}),
            json!({"referrer": {"phone": "13800138000"}}),
        ))
        .await;
    app.send(event(
        "pd-3",
        "callback_requested",
        now + 5 * DAY,
        json!({"card_no": "PD-C"}),
        json!({"contact": "13700137000"}),
    ))
    .await;
    // Bo's phone beside Ann's WeChat: one member would hold two phones, so a conflict.
    app.send(event(
        "pd-4",
        "check_in",
        now + 6 * DAY,
        json!({"phone": "13900139000", "wechat_openid": "oAnn"}),
        json!({}),
    ))
    .await;
    let (status, conflicts) = app.get("/v1/identity-conflicts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        conflicts["conflicts"].as_array().unwrap().len(),
        1,
        "{conflicts}"
    );
    (ann["member_id"].clone(), bo["member_id"].clone())
}

#[tokio::test]
async fn a_staff_key_walking_every_get_route_sees_no_unmasked_phone_or_email() {
    for app in TestApp::all().await {
        let (ann, _) = people_with_contact_details(&app).await;
        let (status, _) = app
            .post(
                "/v1/rewards",
                json!({"id": "mug", "name": "Mug", "kind": "gift", "points_cost": 5}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, redemption) = app
            .post(
                "/v1/redemptions",
                json!({"member_id": ann, "reward_id": "mug", "idempotency_key": "pd-r"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{redemption}");
        let (status, _) = app.post("/v1/scores/recompute", json!({})).await;
        assert_eq!(status, StatusCode::OK);

        // An admin sees them whole (so the walk below can fail).
        let (_, doc) = app.get(&format!("/v1/members/{ann}")).await;
        assert!(doc.to_string().contains("+8613800138000"), "{doc}");

        let staff = app.key(Role::Staff).await;
        let (_, spec) = app.call("GET", "/openapi.json", None, None).await;
        let mut walked = Vec::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            if item.get("get").is_none() {
                continue;
            }
            let url = match path.as_str() {
                "/v1/members/lookup" => "/v1/members/lookup?phone=13800138000".to_owned(),
                "/v1/rewards/{id}" => "/v1/rewards/mug".to_owned(),
                "/v1/redemptions/{id}" => {
                    format!("/v1/redemptions/{}", redemption["id"].as_str().unwrap())
                }
                p => p.replace("{id}", &ann.to_string()),
            };
            let response = app
                .http
                .get(format!("{}{url}", app.base))
                .bearer_auth(&staff)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            for secret in SECRETS {
                assert!(
                    !text.contains(secret),
                    "GET {url} ({status}) shows {secret} to a staff key: {text}"
                );
            }
            walked.push((url, status, text));
        }
        let ok: Vec<&String> = walked
            .iter()
            .filter(|(_, s, _)| *s == StatusCode::OK)
            .map(|(u, _, _)| u)
            .collect();
        assert!(
            ok.len() >= 12,
            "too few routes answered a staff key: {ok:?}"
        );
        let everything: String = walked.iter().map(|(_, _, t)| t.as_str()).collect();
        for masked in ["+86138****8000", "l***@example.com", "+86139****9000"] {
            assert!(everything.contains(masked), "{masked} shown nowhere");
        }
    }
}

#[tokio::test]
async fn a_member_is_exported_then_erased_leaving_no_phone_anywhere() {
    for app in TestApp::all().await {
        let (ann, bo) = people_with_contact_details(&app).await;
        let (status, _) = app
            .post(
                "/v1/points/adjustments",
                json!({"member_id": ann, "points": 40, "reason": "called from 13800138000 about a lost card",
                       "idempotency_key": "pd-adj"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, export) = app.get(&format!("/v1/members/{ann}/export")).await;
        assert_eq!(status, StatusCode::OK, "{export}");
        let events: Vec<&str> = export["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        for id in ["pd-1", "pd-buy-0", "pd-buy-2"] {
            assert!(events.contains(&id), "{id} missing from {events:?}");
        }
        assert!(
            export["member"]["identities"]
                .to_string()
                .contains("+8613800138000")
        );
        assert_eq!(export["points"]["adjustments"][0]["points"], 40, "{export}");
        assert!(!export["points"]["ledger"].as_array().unwrap().is_empty());
        let staff = app.key(Role::Staff).await;
        let (status, _) = app
            .call(
                "GET",
                &format!("/v1/members/{ann}/export"),
                Some(&staff),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let in_files = |secret: &str| -> bool {
            let Some(file) = app.sqlite_file() else {
                return false;
            };
            [file.clone(), file.with_extension("db-wal")]
                .iter()
                .any(|path| {
                    let bytes = std::fs::read(path).unwrap_or_default();
                    bytes.windows(secret.len()).any(|w| w == secret.as_bytes())
                })
        };
        if app.sqlite_file().is_some() {
            assert!(
                in_files("+8613800138000"),
                "the check below could never fail"
            );
        }
        let (status, body) = app
            .call(
                "DELETE",
                &format!("/v1/members/{ann}"),
                Some(ADMIN),
                Some(json!({})),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
        );
        let (status, erased) = app
            .call(
                "DELETE",
                &format!("/v1/members/{ann}"),
                Some(ADMIN),
                Some(json!({"reason": "PIPL request 2026-118, by phone"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{erased}");
        assert_eq!(erased["identities_erased"], 3);
        assert!(
            erased["points_forfeited"].as_i64().unwrap() >= 40,
            "{erased}"
        );
        let (_, again) = app
            .call(
                "DELETE",
                &format!("/v1/members/{ann}"),
                Some(ADMIN),
                Some(json!({"reason": "retry"})),
            )
            .await;
        assert_eq!(again["already_erased"], true, "{again}");

        // Nothing of theirs is left, in any table...
        for secret in [
            "+8613800138000",
            "13800138000",
            "li.wei@example.com",
            "oAnn",
            "Li Wei",
        ] {
            let found = app.store.locate_text(secret).await.unwrap();
            assert!(found.is_empty(), "{secret} is still in {found:?}");
        }
        // ...nor in the SQLite files' bytes.
        for secret in ["+8613800138000", "li.wei@example.com", "oAnn"] {
            assert!(
                !in_files(secret),
                "{secret} is still in the database's files"
            );
        }
        // The anonymous row stays: the books balance and the counts hold.
        let (_, doc) = app.get(&format!("/v1/members/{ann}")).await;
        assert_eq!(doc["identities"], json!([]), "{doc}");
        assert!(doc["erased_at"].is_string());
        assert_eq!(doc["facts"]["purchase_count"], 3);
        let (_, tb) = app
            .get("/v1/reports/points/trial-balance?verify=true")
            .await;
        assert_eq!(
            (tb["total"].clone(), tb["mismatched_accounts"].clone()),
            (json!(0), json!([])),
            "{tb}"
        );
        let (_, points) = app.get(&format!("/v1/members/{ann}/points")).await;
        assert_eq!(
            (points["balance"].clone(), points["pending"].clone()),
            (json!(0), json!(0))
        );
        // It can never be reached again: the same phone makes a new member.
        let fresh = app
            .send(event(
                "pd-5",
                "like",
                app.now(),
                json!({"phone": "13800138000"}),
                json!({}),
            ))
            .await;
        assert_ne!(fresh["member_id"], ann);
        let (status, body) = app
            .post(
                &format!("/v1/members/{bo}/merge"),
                json!({"member_id": ann, "reason": "same person"}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "member_erased")
        );
        let (status, body) = app
            .post(
                "/v1/points/adjustments",
                json!({"member_id": ann, "points": 5, "reason": "x", "idempotency_key": "pd-adj2"}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "member_erased")
        );
        let (_, log) = app.get("/v1/audit?kind=member_erasure").await;
        assert_eq!(
            log["entries"][0]["reason"],
            "PIPL request 2026-118, by phone"
        );
        assert_eq!(
            log["entries"][0]["before"]["identities_by_kind"]["phone"],
            1
        );
    }
}

#[tokio::test]
async fn a_burst_from_one_staff_key_is_answered_429_with_retry_after() {
    for app in TestApp::all().await {
        let staff = app.key(Role::Staff).await;
        let integrator = app.key(Role::Integrator).await;
        let fire = |key: String, path: &'static str, n: usize| {
            let (http, base) = (app.http.clone(), app.base.clone());
            async move {
                let calls = (0..n).map(|_| {
                    let (http, base, key) = (http.clone(), base.clone(), key.clone());
                    async move {
                        let r = http
                            .get(format!("{base}{path}"))
                            .bearer_auth(key)
                            .send()
                            .await
                            .unwrap();
                        let retry = r
                            .headers()
                            .get("retry-after")
                            .map(|v| v.to_str().unwrap().to_owned());
                        (r.status(), retry)
                    }
                });
                futures_util::future::join_all(calls).await
            }
        };
        let answers = fire(staff, "/v1/rewards", 80).await;
        let limited: Vec<_> = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
            .collect();
        assert!(
            !limited.is_empty(),
            "80 at once from one staff key were all answered"
        );
        assert!(
            limited
                .iter()
                .all(|(_, r)| r.as_deref().is_some_and(|s| s.parse::<u64>().unwrap() >= 1))
        );
        let served = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        assert!(served >= 40, "the burst of 40 was not served: {served}");
        // Integrations are not limited by default.
        let answers = fire(integrator, "/v1/rewards", 150).await;
        assert!(
            answers
                .iter()
                .all(|(s, _)| *s != StatusCode::TOO_MANY_REQUESTS),
            "an integrator was limited"
        );
    }
}

/// Sends `head` (and `body`) on a raw connection; returns what came back before the
/// server answered or closed, within `wait`.
async fn raw(addr: &str, head: &str, body: &[u8], wait: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(wait, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_key_that_may_not_post_gets_403_before_its_body_is_read_and_sizes_are_enforced() {
    let app = TestApp::sqlite().await;
    let reader = app.key(Role::ReadOnly).await;
    let integrator = app.key(Role::Integrator).await;
    // 64 MB announced, 1 KB sent: the answer comes without waiting for the rest.
    for (key, status) in [(&reader, "403"), (&integrator, "413")] {
        let head = format!(
            "POST /v1/events/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Length: 67108864\r\n\r\n"
        );
        let (answer, took) = raw(&app.addr(), &head, &[b' '; 1024], Duration::from_secs(10)).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer}"
        );
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    // One event over the per-event limit inside a small-enough batch: 413 naming it.
    let big = json!({"event_id": "big", "type": "like", "occurred_at": to_rfc3339(app.now()),
                     "channel": "app", "identities": {"card_no": "B"},
                     "properties": {"blob": "x".repeat(1_100_000)}});
    let (status, body) = app
        .call(
            "POST",
            "/v1/events/batch",
            Some(&integrator),
            Some(json!({"events": [big.clone()]})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("events[0]")),
        "{body}"
    );
    let (status, body) = app
        .call("POST", "/v1/events", Some(&integrator), Some(big))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
}

#[tokio::test]
async fn slow_and_idle_clients_are_cut_off() {
    let quick = |state: AppState| {
        state.with_limits(HttpLimits {
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            ..HttpLimits::default()
        })
    };
    let db = flywheel_testkit::TestDb::sqlite();
    let app = TestApp::spawn_with(db.open().await, db, quick).await;
    // Headers that never end: the connection is closed.
    let (answer, took) = raw(
        &app.addr(),
        "GET /health HTTP/1.1\r\nHost: x\r\n",
        b"",
        Duration::from_secs(10),
    )
    .await;
    assert!(took < Duration::from_secs(5), "held for {took:?}: {answer}");
    // A body that never comes: 408.
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\nContent-Length: 100\r\n\r\n"
    );
    let (answer, took) = raw(&app.addr(), &head, b"{", Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // An idle keep-alive connection: closed after the header timeout.
    let mut stream = tokio::net::TcpStream::connect(app.addr()).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut all)).await;
    assert!(closed.is_ok(), "an idle connection stayed open");
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn metrics_count_requests_and_ingest_and_can_require_a_key() {
    for app in TestApp::all().await {
        app.send(event(
            "m-1",
            "like",
            app.now(),
            json!({"card_no": "M1"}),
            json!({}),
        ))
        .await;
        let (status, text) = app.call("GET", "/metrics", None, None).await;
        assert_eq!(status, StatusCode::OK);
        let text = text.as_str().unwrap().to_owned();
        for wanted in [
            "flywheel_http_requests_total{method=\"POST\",route=\"/v1/events\",status=\"200\"}",
            "flywheel_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/events\",le=\"0.005\"}",
            "flywheel_ingest_events_total{result=\"accepted\"}",
            "flywheel_ingest_groups_total",
            "flywheel_ingest_queue_depth",
            "flywheel_members{stage=\"micro\"}",
            "flywheel_db_connections{pool=",
            // How long each source file held the writer, ingest's groups among them.
            "flywheel_write_held_seconds_count{by=\"ingest/mod.rs\"}",
        ] {
            assert!(text.contains(wanted), "{wanted} missing:\n{text}");
        }
        // On SQLite, the page-cache layer is in and its commits skipped truncates. (The
        // recorder is the process's: after the SQLite server, PostgreSQL's shows it too.)
        if app.sqlite_file().is_some() {
            let skipped = text
                .lines()
                .find_map(|l| l.strip_prefix("flywheel_sqlite_cache_truncates_skipped_total "));
            assert!(skipped.is_some_and(|n| n.parse::<f64>().unwrap() > 0.0));
        }
        // Every sample line is `name{labels} value` with a number.
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
        }
    }
    let locked = |mut state: AppState| {
        state.metrics_require_key = true;
        state
    };
    for app in TestApp::all_with(locked).await {
        let (status, _) = app.call("GET", "/metrics", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let staff = app.key(Role::Staff).await;
        let (status, _) = app.call("GET", "/metrics", Some(&staff), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app.call("GET", "/metrics", Some(ADMIN), None).await;
        assert_eq!(status, StatusCode::OK);
    }
}

/// Events naming a member's phone keep arriving while the member is erased: whatever
/// committed before is scrubbed with the rest, whatever comes after makes a new member,
/// and nothing of the phone ends up on the erased row.
#[tokio::test]
async fn events_racing_an_erasure_never_bring_the_phone_back_to_the_erased_member() {
    for app in TestApp::all().await {
        let phone = json!({"phone": "13500135000"});
        let first = app
            .send(event("race-0", "like", app.now(), phone.clone(), json!({})))
            .await;
        let member = first["member_id"].as_i64().unwrap();
        let senders: Vec<_> = (0..4)
            .map(|client| {
                let (http, base, phone) = (app.http.clone(), app.base.clone(), phone.clone());
                let at = app.now();
                tokio::spawn(async move {
                    for i in 0..40 {
                        let e = event(
                            &format!("race-{client}-{i}"),
                            "like",
                            at,
                            phone.clone(),
                            json!({}),
                        );
                        let r = http
                            .post(format!("{base}/v1/events"))
                            .bearer_auth(ADMIN)
                            .json(&e)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), StatusCode::OK);
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (status, erased) = app
            .call(
                "DELETE",
                &format!("/v1/members/{member}"),
                Some(ADMIN),
                Some(json!({"reason": "asked at the counter"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{erased}");
        for s in senders {
            s.await.unwrap();
        }
        let (_, export) = app.get(&format!("/v1/members/{member}/export")).await;
        assert_eq!(export["member"]["identities"], json!([]), "{export}");
        for e in export["events"].as_array().unwrap() {
            assert_eq!(e["identities"], json!({}), "{e}");
        }
        let (status, now) = app.get("/v1/members/lookup?phone=13500135000").await;
        if status == StatusCode::OK {
            assert_ne!(
                now["id"], member,
                "the phone came back to the erased member"
            );
        }
    }
}
