//! The cockpit's pages over real HTTP on SQLite and PostgreSQL: sign-in with a key and
//! the session cookie, CSRF refusals, every page's status for each role, masking for
//! the staff role, no buttons for read-only, signed card links, the community pages
//! (the door's check-in, the board's moves), and the stats endpoints
//! the overview draws from. The browser tests (tests/browser) drive the same pages in
//! Chromium.

mod common;

use common::{ADMIN, TestApp};
use flywheel_core::auth::Role;
use flywheel_core::time::{DAY, to_rfc3339};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

/// A person at a browser: a client that does not follow redirects, and the session's
/// cookie and CSRF token once signed in.
struct Person {
    http: reqwest::Client,
    base: String,
    session: Option<String>,
    csrf: String,
}

fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let value: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{k}={value}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<(String, String)> {
    resp.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let text = v.to_str().ok()?;
        let value = text.strip_prefix(&format!("{name}="))?;
        Some((value.split(';').next()?.to_owned(), text.to_owned()))
    })
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

impl Person {
    fn new(app: &TestApp) -> Person {
        Person {
            http: flywheel_testkit::http_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            session: None,
            csrf: String::new(),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String, Option<String>) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(s) = &self.session {
            req = req.header(COOKIE, format!("fw_session={s}"));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let location = resp
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (status, resp.text().await.unwrap(), location)
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_encode(fields));
        if let Some(s) = &self.session {
            req = req.header(COOKIE, format!("fw_session={s}"));
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// Signs in with `key`; the answer's status and the session cookie's attributes.
    async fn sign_in(&mut self, key: &str) -> (StatusCode, String) {
        let resp = self
            .http
            .get(format!("{}/login", self.base))
            .send()
            .await
            .unwrap();
        let (login_token, _) = cookie_value(&resp, "fw_login").expect("login cookie");
        let html = resp.text().await.unwrap();
        let csrf = hidden(&html, "csrf");
        assert_eq!(csrf, login_token, "the form and the cookie carry one token");
        let resp = self
            .http
            .post(format!("{}/login", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(COOKIE, format!("fw_login={login_token}"))
            .body(form_encode(&[
                ("key", key),
                ("csrf", &csrf),
                ("next", "/members"),
            ]))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let attributes = match cookie_value(&resp, "fw_session") {
            Some((value, attributes)) => {
                self.session = Some(value);
                attributes
            }
            None => String::new(),
        };
        if self.session.is_some() {
            let (_, page, _) = self.get("/members").await;
            self.csrf = hidden(&page, "csrf");
        }
        (status, attributes)
    }
}

async fn register(app: &TestApp, phone: &str, email: &str) -> i64 {
    let body = app
        .send(
            json!({"event_id": format!("reg-{phone}"), "type": "register",
            "occurred_at": to_rfc3339(app.now()), "channel": "mini_program",
            "identities": {"phone": phone, "email": email},
            "properties": {"name": "Chen Jing", "city": "Hangzhou"}}),
        )
        .await;
    body["member_id"].as_i64().unwrap()
}

#[tokio::test]
async fn signing_in_opens_a_strict_httponly_session_and_signing_out_ends_it() {
    for app in TestApp::all().await {
        let mut person = Person::new(&app);
        let (status, _, location) = person.get("/").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(location.as_deref(), Some("/login?next=/"));

        // A form without the sign-in cookie's token is refused, and so is a wrong key.
        let resp = person
            .http
            .post(format!("{}/login", app.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_encode(&[("key", ADMIN), ("csrf", "forged")]))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(cookie_value(&resp, "fw_session").is_none());
        let (status, _) = person.sign_in("fw_wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(person.session.is_none());

        let (status, attributes) = person.sign_in(ADMIN).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(attributes.contains(attribute), "{attributes}");
        }
        let (status, page, _) = person.get("/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("id=\"kpi-members\""));

        let csrf = person.csrf.clone();
        let (status, _) = person.post("/logout", &[("csrf", "forged")]).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "sign-out needs the token too"
        );
        let (status, _) = person.post("/logout", &[("csrf", &csrf)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (status, _, location) = person.get("/").await;
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "the old cookie opens nothing"
        );
        assert!(location.unwrap().starts_with("/login"));
    }
}

#[tokio::test]
async fn integrator_keys_cannot_sign_in_and_a_revoked_key_ends_its_sessions() {
    let app = TestApp::sqlite().await;
    let mut integrator = Person::new(&app);
    let (status, _) = integrator.sign_in(&app.key(Role::Integrator).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(integrator.session.is_none());

    let staff_key = app.key(Role::Staff).await;
    let mut staff = Person::new(&app);
    staff.sign_in(&staff_key).await;
    assert_eq!(staff.get("/till").await.0, StatusCode::OK);
    let keys = app.store.list_keys().await.unwrap();
    let id = keys.iter().find(|k| k.role == Role::Staff).unwrap().id;
    app.store
        .revoke_key(id, app.now(), &flywheel_store::AuditActor::cli())
        .await
        .unwrap();
    // The server remembers verified keys briefly; the revocation holds after that.
    tokio::time::sleep(flywheel_api::KEY_CACHE_TTL + std::time::Duration::from_millis(200)).await;
    let (status, _, location) = staff.get("/till").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().starts_with("/login"));
}

#[tokio::test]
async fn every_page_answers_for_every_role_with_masking_and_buttons_by_role() {
    for app in TestApp::all().await {
        let member = register(&app, "13900001111", "chen.jing@example.com").await;
        let pages = [
            "/".to_owned(),
            "/members".to_owned(),
            "/members?q=13900001111".to_owned(),
            "/members?stage=micro".to_owned(),
            format!("/members/{member}"),
            "/till?q=13900001111".to_owned(),
            "/conflicts".to_owned(),
            "/segments".to_owned(),
            "/points".to_owned(),
            "/memberships".to_owned(),
            "/value".to_owned(),
            "/community".to_owned(),
            "/community/ideas".to_owned(),
            "/community/ideas?status=received".to_owned(),
        ];
        for role in [
            Role::Admin,
            Role::Operator,
            Role::Staff,
            Role::Finance,
            Role::ReadOnly,
        ] {
            let mut person = Person::new(&app);
            let key = if role == Role::Admin {
                ADMIN.to_owned()
            } else {
                app.key(role).await
            };
            person.sign_in(&key).await;
            for page in &pages {
                let (status, html, location) = person.get(page).await;
                let expected = match (role, page.as_str()) {
                    // Staff start at the till: the programme's figures are not theirs.
                    (Role::Staff, "/") => StatusCode::SEE_OTHER,
                    // Finance reads members and points, not identity conflicts.
                    (Role::Finance, "/conflicts") => StatusCode::FORBIDDEN,
                    // The programme's figures are not the till's.
                    (Role::Staff, "/memberships" | "/value") => StatusCode::FORBIDDEN,
                    _ => StatusCode::OK,
                };
                assert_eq!(status, expected, "{role} {page}: {location:?} {html}");
                if status != StatusCode::OK {
                    continue;
                }
                assert!(html.contains("text/css") || html.contains("cockpit.css"));
                let sees = role.sees_personal_data();
                if page.contains("/members/") || page.contains("?q=") {
                    assert_eq!(html.contains("13900001111"), sees, "{role} {page}");
                    if !page.starts_with("/till") {
                        // The till shows no e-mail to anyone.
                        assert_eq!(
                            html.contains("chen.jing@example.com"),
                            sees,
                            "{role} {page}"
                        );
                    }
                    if !sees {
                        assert!(html.contains("139****1111"), "{role} {page}");
                    }
                }
            }
            let (_, html, _) = person.get(&format!("/members/{member}")).await;
            let has = |s: &str| html.contains(s);
            assert_eq!(
                has("name=\"idempotency_key\""),
                role.allows(flywheel_core::auth::Permission::AdjustPoints),
                "{role}"
            );
            assert_eq!(
                has("/tags\""),
                role.allows(flywheel_core::auth::Permission::TagMembers),
                "{role}"
            );
            assert_eq!(
                has("/merge\""),
                role.allows(flywheel_core::auth::Permission::ManageIdentities),
                "{role}"
            );
            if role == Role::ReadOnly {
                assert!(
                    !has("class=\"action\""),
                    "read-only sees no button that changes anything"
                );
            }
        }
    }
}

#[tokio::test]
async fn forms_change_things_only_with_the_sessions_csrf_token_and_are_audited() {
    for app in TestApp::all().await {
        let member = register(&app, "13900002222", "wu.lei@example.com").await;
        let mut person = Person::new(&app);
        person.sign_in(ADMIN).await;
        let tags_path = format!("/members/{member}/tags");

        let (status, html) = person
            .post(&tags_path, &[("csrf", "forged"), ("tag", "vip")])
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(html.contains("csrf_mismatch"), "{html}");
        let (_, tags) = app.get(&format!("/v1/members/{member}/tags")).await;
        assert_eq!(tags["tags"], json!([]), "nothing written");

        let csrf = person.csrf.clone();
        let (status, _) = person
            .post(
                &tags_path,
                &[
                    ("csrf", &csrf),
                    ("tag", "vip"),
                    ("note", "regular at the bar"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, tags) = app.get(&format!("/v1/members/{member}/tags")).await;
        assert_eq!(tags["tags"][0]["tag"], "vip");

        // Adjusting points: the reason is required, and a resent form posts once.
        let (_, before) = app.get(&format!("/v1/members/{member}/points")).await;
        let before = before["balance"].as_i64().unwrap();
        let points_path = format!("/members/{member}/points");
        let (status, html) = person
            .post(
                &points_path,
                &[
                    ("csrf", &csrf),
                    ("points", "50"),
                    ("reason", ""),
                    ("idempotency_key", "form-1"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
        for _ in 0..2 {
            let (status, _) = person
                .post(
                    &points_path,
                    &[
                        ("csrf", &csrf),
                        ("points", "50"),
                        ("reason", "goodwill"),
                        ("idempotency_key", "form-1"),
                    ],
                )
                .await;
            assert_eq!(status, StatusCode::SEE_OTHER);
        }
        let (_, points) = app.get(&format!("/v1/members/{member}/points")).await;
        assert_eq!(points["balance"], before + 50, "{points}");
        let (_, audit) = app.get("/v1/audit?kind=points_adjustment").await;
        assert_eq!(audit["entries"].as_array().unwrap().len(), 1, "{audit}");
        app.assert_books_balance().await;
    }
}

#[tokio::test]
async fn card_links_open_one_card_until_they_expire_and_tampered_ones_open_nothing() {
    for app in TestApp::all().await {
        let member = register(&app, "13900003333", "he.min@example.com").await;
        let (status, link) = app
            .get(&format!("/v1/members/{member}/card-link?valid_days=2"))
            .await;
        assert_eq!(status, StatusCode::OK, "{link}");
        let url = link["url"].as_str().unwrap();
        let path = &url[url.find("/card/").unwrap()..];
        assert!(url.starts_with(&app.base), "{url}");

        let anyone = Person::new(&app);
        let (status, html, _) = anyone.get(path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("<svg"), "QR code and barcode");
        assert!(html.contains("139****3333") || !html.contains("13900003333"));
        assert!(!html.contains("he.min@example.com"));

        let mut tampered = path.to_owned();
        let last = tampered.pop().unwrap();
        tampered.push(if last == '0' { '1' } else { '0' });
        let other_member = path.replacen(&format!("/card/{member}-"), "/card/1-", 1);
        for bad in [tampered.as_str(), other_member.as_str(), "/card/garbage"] {
            if bad == path {
                continue;
            }
            let (status, html, _) = anyone.get(bad).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{bad}");
            assert!(html.contains("invalid_card_link"));
        }

        app.advance(3 * DAY);
        let (status, _, _) = anyone.get(path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "expired");

        let (status, body) = app
            .get(&format!("/v1/members/{member}/card-link?valid_days=0"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, _) = app.get("/v1/members/999999/card-link").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn the_stats_the_overview_draws_agree_with_each_other() {
    for app in TestApp::all().await {
        let member = register(&app, "13900004444", "li.na@example.com").await;
        app.send(
            json!({"event_id": "buy-1", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
            "channel": "mini_program", "identities": {"phone": "13900004444"},
            "properties": {"order_id": "o-1", "amount": "88.00", "currency": "CNY"}}),
        )
        .await;
        let (status, overview) = app.get("/v1/stats/overview").await;
        assert_eq!(status, StatusCode::OK, "{overview}");
        let (_, stages) = app.get("/v1/stats/stages").await;
        assert_eq!(overview["members"], stages["total"]);
        assert_eq!(overview["active_30d"], 1);
        assert_eq!(overview["new_this_month"], 1);

        let (status, flows) = app.get("/v1/stats/stage-flows?months=3").await;
        assert_eq!(status, StatusCode::OK, "{flows}");
        let months = flows["months"].as_array().unwrap();
        assert_eq!(months.len(), 3);
        let this_month: &Value = &months[2];
        let changes: i64 = this_month["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["members"].as_i64().unwrap())
            .sum();
        let (_, history) = app.get(&format!("/v1/members/{member}/stages")).await;
        assert_eq!(
            changes,
            history["transitions"].as_array().unwrap().len() as i64
        );
        assert_eq!(
            this_month["up"].as_i64().unwrap() + this_month["down"].as_i64().unwrap(),
            changes
        );

        for bad in ["months=0", "months=37", "months=x", "weeks=2"] {
            let (status, body) = app.get(&format!("/v1/stats/stage-flows?{bad}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }
        // A cohort: Li Na first bought 40 days ago, and bought again just now; Wang Fang
        // joined through her referral and bought, which converts the referral.
        let first = app.now() - 40 * DAY;
        app.send(
            json!({"event_id": "buy-0", "type": "purchase", "occurred_at": to_rfc3339(first),
            "channel": "mini_program", "identities": {"phone": "13900004444"},
            "properties": {"order_id": "o-0", "amount": "20.00", "currency": "CNY"}}),
        )
        .await;
        app.send(
            json!({"event_id": "ref-1", "type": "referral", "occurred_at": to_rfc3339(app.now()),
            "channel": "wechat", "identities": {"phone": "13900005555"},
            "properties": {"referrer": {"phone": "13900004444"}}}),
        )
        .await;
        app.send(
            json!({"event_id": "buy-2", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
            "channel": "mini_program", "identities": {"phone": "13900005555"},
            "properties": {"order_id": "o-2", "amount": "15.00", "currency": "CNY"}}),
        )
        .await;
        let (status, cohorts) = app.get("/v1/stats/cohorts?months=3").await;
        assert_eq!(status, StatusCode::OK, "{cohorts}");
        let list = cohorts["cohorts"].as_array().unwrap();
        assert_eq!(list.len(), 3);
        let label = flywheel_core::time::month_label(first);
        let index = list
            .iter()
            .position(|c| c["month"] == label.as_str())
            .unwrap();
        let hers = &list[index];
        assert_eq!(hers["members"], 1, "{cohorts}");
        let retention = hers["retention"].as_array().unwrap();
        assert_eq!(retention.len(), 3 - index);
        assert_eq!(retention[0]["buyers"], 1);
        assert_eq!(
            retention.last().unwrap()["buyers"],
            1,
            "she bought again this month"
        );
        assert_eq!(retention.last().unwrap()["share"], 1.0);
        // Wang Fang's cohort is this month's.
        assert_eq!(
            list[2]["members"],
            if index == 2 { 2 } else { 1 },
            "{cohorts}"
        );
        let (status, referrals) = app.get("/v1/stats/referrals?months=2").await;
        assert_eq!(status, StatusCode::OK, "{referrals}");
        assert_eq!(referrals["months"][1]["made"], 1, "{referrals}");
        assert_eq!(referrals["months"][1]["converted"], 1, "{referrals}");

        let (status, rfm) = app.get("/v1/stats/rfm").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(rfm["cells"].as_array().unwrap().len(), 25);
        let (status, points) = app.get("/v1/stats/points?months=2").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(points["months"].as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn contribution_counts_revenue_repeat_buyers_and_the_multiple_by_group() {
    for app in TestApp::all().await {
        // Ma Li buys the same latte four times (30.00 each); Qian Yu buys once (20.00);
        // Sun Bo only registers.
        let ma = register(&app, "13900006666", "ma.li@example.com").await;
        for i in 0..4 {
            app.send(json!({"event_id": format!("ma-{i}"), "type": "purchase",
                "occurred_at": to_rfc3339(app.now() - (10 - i) * DAY), "channel": "store",
                "identities": {"phone": "13900006666"},
                "properties": {"order_id": format!("ma-o{i}"), "amount": "30.00", "currency": "CNY",
                    "items": [{"sku": "ROAST-LATTE", "category": "espresso", "qty": 1}]}}))
                .await;
        }
        register(&app, "13900007777", "qian.yu@example.com").await;
        app.send(
            json!({"event_id": "qian-1", "type": "purchase", "occurred_at": to_rfc3339(app.now()),
            "channel": "store", "identities": {"phone": "13900007777"},
            "properties": {"order_id": "qian-o1", "amount": "20.00", "currency": "CNY"}}),
        )
        .await;
        register(&app, "13900008888", "sun.bo@example.com").await;

        let (status, c) = app.get("/v1/stats/contribution").await;
        assert_eq!(status, StatusCode::OK, "{c}");
        let (_, ma_doc) = app.get(&format!("/v1/members/{ma}")).await;
        let ma_stage = ma_doc["stage"].as_str().unwrap();
        let stages = c["by_stage"].as_array().unwrap();
        let members: i64 = stages.iter().map(|g| g["members"].as_i64().unwrap()).sum();
        assert_eq!(members, 3);
        let revenue_share: f64 = stages
            .iter()
            .map(|g| g["revenue_share"].as_f64().unwrap())
            .sum();
        assert!((revenue_share - 1.0).abs() < 1e-9, "{c}");
        let hers = stages.iter().find(|g| g["key"] == ma_stage).unwrap();
        // Four purchases put her alone in a higher stage than the two others: 120.00
        // against 20.00 spread over two.
        assert_eq!(hers["members"], 1, "{c}");
        assert_eq!(hers["revenue"], "120.00", "{c}");
        assert_eq!(hers["repurchase_rate"], 1.0);
        assert_eq!(hers["sku_repurchase_rate"], 1.0);
        assert_eq!(hers["multiple"], 12.0, "{c}");
        // The top fifth of the two buyers (one of them) brings 120 of 140.
        let top = c["top_fifth_revenue_share"].as_f64().unwrap();
        assert!((top - 120.0 / 140.0).abs() < 1e-9, "{c}");
        let curve = c["concentration"].as_array().unwrap();
        assert_eq!(curve.len(), 20);
        assert_eq!(curve[19]["revenue"], 1.0);

        // Ma Li came in through the latte and came back; Qian Yu's first purchase named
        // no items, and she has not come back; both bought at the store.
        let (status, e) = app.get("/v1/stats/entries").await;
        assert_eq!(status, StatusCode::OK, "{e}");
        assert_eq!(
            e["products"],
            json!([{"key": "ROAST-LATTE", "members": 1, "came_back": 1, "came_back_rate": 1.0},
                   {"key": "unknown", "members": 1, "came_back": 0, "came_back_rate": 0.0}])
        );
        assert_eq!(
            e["channels"],
            json!([{"key": "store", "members": 2, "came_back": 1, "came_back_rate": 0.5}])
        );

        // All three registered in Hangzhou, with no gender or birthday given.
        let (status, p) = app.get("/v1/stats/personas").await;
        assert_eq!(status, StatusCode::OK, "{p}");
        assert_eq!(p["members"], 3);
        assert_eq!(p["cities"][0]["value"], "Hangzhou");
        assert_eq!(p["cities"][0]["share"], 1.0);
        assert_eq!(p["genders"][0]["value"], "unknown");
        assert_eq!(p["summary"], "3 members: in Hangzhou (100%).", "{p}");
        let (status, p) = app
            .get(&format!("/v1/stats/personas?stage={ma_stage}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{p}");
        assert_eq!(p["members"], 1);
        for (bad, code) in [
            ("stage=bogus", StatusCode::BAD_REQUEST),
            ("stage=weak&segment=x", StatusCode::BAD_REQUEST),
            ("segment=nope", StatusCode::NOT_FOUND),
            ("city=x", StatusCode::BAD_REQUEST),
        ] {
            let (status, body) = app.get(&format!("/v1/stats/personas?{bad}")).await;
            assert_eq!(status, code, "{bad}: {body}");
        }

        // Points cost against sales: this month's sales are the 20.00 and the latte
        // bought within it; cost is the points issued at 0.01 a point.
        let (status, cost) = app.get("/v1/stats/points-cost?months=2").await;
        assert_eq!(status, StatusCode::OK, "{cost}");
        let (_, points) = app.get("/v1/stats/points?months=2").await;
        for (m, p) in cost["months"]
            .as_array()
            .unwrap()
            .iter()
            .zip(points["months"].as_array().unwrap())
        {
            assert_eq!(m["points_issued"], p["issued"], "{cost}");
            let issued = p["issued"].as_i64().unwrap();
            assert_eq!(m["cost"], format!("{}.{:02}", issued / 100, issued % 100));
        }
        let sales: f64 = cost["months"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["sales"].as_str().unwrap().parse::<f64>().unwrap())
            .sum();
        assert!((sales - 140.0).abs() < 1e-9, "{cost}");
    }
}

#[tokio::test]
async fn kpi_targets_are_set_by_operators_audited_and_read_against_the_month() {
    for app in TestApp::all().await {
        register(&app, "13900009991", "a@example.com").await;
        register(&app, "13900009992", "b@example.com").await;
        let month = flywheel_core::time::month_label(app.now());
        let path = format!("/v1/kpis/new_members/{month}");
        let staff = app.key(Role::Staff).await;
        let (status, _) = app
            .call(
                "PUT",
                &path,
                Some(&staff),
                Some(json!({"phase": "recruiting", "target": 4})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let operator = app.key(Role::Operator).await;
        let (status, body) = app
            .call(
                "PUT",
                &path,
                Some(&operator),
                Some(json!({"phase": "recruiting", "target": 4})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let k = &body["kpis"][0];
        assert_eq!(k["metric"], "new_members", "{body}");
        assert_eq!(k["phase"], "recruiting");
        assert_eq!(
            (k["target"].as_i64(), k["actual"].as_i64()),
            (Some(4), Some(2))
        );
        assert_eq!(k["variance"], -2);
        assert_eq!(k["attainment"], 0.5);
        assert_eq!(k["baseline"], 0.0);
        let (_, audit) = app.get("/v1/audit?kind=kpi_target").await;
        assert_eq!(audit["entries"].as_array().unwrap().len(), 1, "{audit}");
        let (_, again) = app.get(&format!("/v1/kpis?month={month}")).await;
        assert_eq!(again["kpis"][0], body["kpis"][0]);
        assert_eq!(again["kpis"].as_array().unwrap().len(), 6);
        for (bad_path, bad_body) in [
            (
                format!("/v1/kpis/members/{month}"),
                json!({"phase": "x", "target": 1}),
            ),
            (
                "/v1/kpis/sales/2026-13".to_owned(),
                json!({"phase": "x", "target": 1}),
            ),
            (path.clone(), json!({"phase": "x", "target": -1})),
            (path.clone(), json!({"phase": "", "target": 1})),
            (path.clone(), json!({"target": 1})),
        ] {
            let (status, body) = app.put(&bad_path, bad_body.clone()).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{bad_path} {bad_body}: {body}"
            );
        }
        let (status, _) = app.get("/v1/kpis?month=soon").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // The value page's form sets one too, with the session's token only.
        let mut person = Person::new(&app);
        person.sign_in(ADMIN).await;
        let csrf = person.csrf.clone();
        let form = [
            ("metric", "sales"),
            ("month", month.as_str()),
            ("phase", "conversion"),
            ("target", "100000"),
        ];
        let (status, _) = person
            .post(
                "/value/kpis",
                &[&[("csrf", "forged")][..], &form[..]].concat(),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = person
            .post(
                "/value/kpis",
                &[&[("csrf", csrf.as_str())][..], &form[..]].concat(),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, page, _) = person.get("/value").await;
        assert!(page.contains("conversion"), "the target shows on the page");
        let (_, audit) = app.get("/v1/audit?kind=kpi_target").await;
        assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");
    }
}

#[tokio::test]
async fn a_saved_segment_loads_into_the_builder_and_saves_back() {
    let app = TestApp::sqlite().await;
    let (status, body) = app
        .post(
            "/v1/segments",
            json!({"id": "buyers", "name": "Buyers", "expression": "purchase_count >= 1"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let mut person = Person::new(&app);
    person.sign_in(ADMIN).await;
    let (status, html, _) = person.get("/segments?edit=buyers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(">purchase_count &#62;= 1</textarea>"),
        "{html}"
    );
    assert!(html.contains("value=\"Buyers\""));
    let csrf = person.csrf.clone();
    let (status, _) = person
        .post(
            "/segments",
            &[
                ("csrf", &csrf),
                ("id", "buyers"),
                ("name", "Buyers twice"),
                ("expression", "purchase_count >= 2"),
                ("tag", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, segment) = app.get("/v1/segments/buyers").await;
    assert_eq!(segment["expression"], "purchase_count >= 2", "{segment}");
    assert_eq!(segment["name"], "Buyers twice");
    // A bad expression is refused with its position, and nothing is saved.
    let (status, html) = person
        .post(
            "/segments",
            &[
                ("csrf", &csrf),
                ("id", "buyers"),
                ("name", "x"),
                ("expression", "stage >= 5"),
                ("tag", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("invalid_expression"), "{html}");
    let (_, segment) = app.get("/v1/segments/buyers").await;
    assert_eq!(segment["expression"], "purchase_count >= 2");
}

#[tokio::test]
async fn card_links_name_the_public_address_when_one_is_configured() {
    let db = flywheel_testkit::TestDb::sqlite();
    let app = TestApp::spawn_with(db.open().await, db, |mut state| {
        state.public_url = Some("https://loyalty.example.com/".into());
        state
    })
    .await;
    let member = register(&app, "13900001212", "c@example.com").await;
    let (status, link) = app.get(&format!("/v1/members/{member}/card-link")).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://loyalty.example.com/card/"),
        "{url}"
    );
    // The same token opens the card here.
    let path = &url["https://loyalty.example.com".len()..];
    let (status, _, _) = Person::new(&app).get(path).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_community_pages_check_members_in_at_the_door_and_move_ideas() {
    for app in TestApp::all().await {
        let member = register(&app, "13900004444", "lu.yan@example.com").await;
        let salon = json!({"name": "Tea salon", "kind": "salon", "capacity": 5,
            "starts_at": to_rfc3339(app.now() + 3_600_000_000),
            "ends_at": to_rfc3339(app.now() + 3 * 3_600_000_000), "place": "Flagship store"});
        assert_eq!(
            app.put("/v1/activities/salon", salon).await.0,
            StatusCode::CREATED
        );
        let (_, idea) = app
            .post(
                "/v1/ideas",
                json!({"member_id": member, "text": "Oolong in a can",
                "idempotency_key": "k1"}),
            )
            .await;
        let idea = idea["id"].as_str().unwrap().to_owned();

        let mut admin = Person::new(&app);
        admin.sign_in(ADMIN).await;
        let (_, html, _) = admin.get("/community").await;
        assert!(html.contains("Tea salon") && html.contains("/community/activities/salon"));
        assert!(html.contains("id=\"count-received\">1<"), "{html}");

        // The door: a card code checks the member in; a wrong one is refused, named.
        let card = flywheel_core::membership::card::card_number(member);
        let door = "/community/activities/salon/check-ins";
        let csrf = admin.csrf.clone();
        let (status, _) = admin
            .post(door, &[("csrf", &csrf), ("card_code", &card)])
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (status, _) = admin
            .post(door, &[("csrf", "forged"), ("card_code", &card)])
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, report) = app.get("/v1/activities/salon/report").await;
        assert_eq!(report["attended"], 1, "{report}");
        let (_, html, _) = admin
            .get("/community/activities/salon?refused=invalid_value")
            .await;
        assert!(html.contains("not a member card number"), "{html}");
        assert!(html.contains(&format!("id=\"rsvp-{member}\"")), "{html}");

        // The board: under review, then adopted with points — the member is credited.
        let decide = format!("/community/ideas/{idea}/decision");
        for (to, points) in [("under_review", ""), ("adopted", "25")] {
            let form = [
                ("csrf", csrf.as_str()),
                ("status", to),
                ("reward_points", points),
                ("public_note", "Thank you"),
                ("back", "received"),
            ];
            let (status, body) = admin.post(&decide, &form).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{to}: {body}");
        }
        let (_, now) = app.get(&format!("/v1/ideas/{idea}")).await;
        assert_eq!(
            (&now["status"], &now["reward_points"]),
            (&json!("adopted"), &json!(25))
        );
        let (_, m) = app.get(&format!("/v1/members/{member}")).await;
        assert_eq!(m["facts"]["participations"]["co_creation"], 1, "{m}");
        let (_, html, _) = admin.get("/community/ideas?status=adopted").await;
        assert!(
            html.contains("Oolong in a can") && html.contains("Thank you"),
            "{html}"
        );
        let (_, html, _) = admin.get(&format!("/members/{member}")).await;
        assert!(
            html.contains("co_creation ×1") && html.contains("Tea salon"),
            "{html}"
        );
        // A move the board does not allow is refused; staff may not move ideas at all.
        let (status, _) = admin
            .post(&decide, &[("csrf", &csrf), ("status", "received")])
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let mut staff = Person::new(&app);
        staff.sign_in(&app.key(Role::Staff).await).await;
        let (_, html, _) = staff.get("/community/ideas").await;
        assert!(!html.contains("class=\"decide\""));
        let staff_csrf = staff.csrf.clone();
        let (status, _) = staff
            .post(&decide, &[("csrf", &staff_csrf), ("status", "shipped")])
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        app.assert_books_balance().await;
    }
}
