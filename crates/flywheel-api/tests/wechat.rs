//! The official account's callback (issue 22) over real HTTP, on both databases: the URL
//! check echoes its challenge; a QR subscribe makes a follower with the scene as their
//! source; a push in safe mode is decrypted; a retried push changes nothing; a bad
//! signature is refused with 401 and writes nothing; a push that cannot become an event
//! is kept as a dead letter. (scripts/protocol-tests signs and encrypts the same pushes
//! with wechatpy, an independent implementation.)

mod common;

use common::TestApp;
use flywheel_api::wechat::crypto::{MessageCrypt, signature};
use flywheel_api::wechat::{AccountSettings, WechatSettings};
use reqwest::StatusCode;
use serde_json::Value;

const TOKEN: &str = "brand-token";
const KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
const APP_ID: &str = "wx5823bf96d3bd56c7";
const CORP_ID: &str = "ww0a1b2c3d4e5f6789";

fn with_account(mut state: flywheel_api::AppState) -> flywheel_api::AppState {
    state.wechat = std::sync::Arc::new(WechatSettings {
        official_account: Some(AccountSettings {
            token: TOKEN.into(),
            encoding_aes_key: Some(KEY.into()),
            id: APP_ID.into(),
        }),
        work: Some(AccountSettings {
            token: TOKEN.into(),
            encoding_aes_key: Some(KEY.into()),
            id: CORP_ID.into(),
        }),
    });
    state
}

fn signed_query(timestamp: &str, nonce: &str) -> String {
    format!(
        "timestamp={timestamp}&nonce={nonce}&signature={}",
        signature(&[TOKEN, timestamp, nonce])
    )
}

async fn post(app: &TestApp, query: &str, body: String) -> (StatusCode, String) {
    post_to(app, "official-account", query, body).await
}

async fn post_to(app: &TestApp, account: &str, query: &str, body: String) -> (StatusCode, String) {
    let resp = app
        .http
        .post(format!("{}/wechat/{account}/callback?{query}", app.base))
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

fn subscribe(openid: &str, at: i64, scene: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_brand]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>\
         <EventKey><![CDATA[qrscene_{scene}]]></EventKey></xml>",
        at / 1_000_000
    )
}

#[tokio::test]
async fn official_account_pushes_become_followers_and_bad_signatures_write_nothing() {
    for app in TestApp::all_with(with_account).await {
        let now = app.now();
        // The platform's URL check.
        let (status, echo) = app
            .get(&format!(
                "/wechat/official-account/callback?{}&echostr=challenge-42",
                signed_query("1764979200", "n1")
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(echo, Value::String("challenge-42".into()));

        // A plain-mode subscribe from the QR code on the tin.
        let (status, body) = post(
            &app,
            &format!("{}&openid=oFan1", signed_query("1764979200", "n2")),
            subscribe("oFan1", now, "tin-2026"),
        )
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "success"));
        let (_, fan) = app.get("/v1/members/lookup?wechat_openid=oFan1").await;
        assert_eq!(fan["facts"]["follows"], 1, "{fan}");
        assert_eq!(fan["source"]["kind"], "qr");
        assert_eq!(fan["source"]["name"], "tin-2026");

        // The same push again (WeChat retries) changes nothing.
        let (status, _) = post(
            &app,
            &signed_query("1764979201", "n3"),
            subscribe("oFan1", now, "tin-2026"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (_, again) = app.get("/v1/members/lookup?wechat_openid=oFan1").await;
        assert_eq!(again["facts"], fan["facts"]);

        // Safe mode: the message encrypted for the app id, signed over the ciphertext.
        let crypt = MessageCrypt::new(KEY, APP_ID).unwrap();
        let inner = format!(
            "<xml><FromUserName><![CDATA[oFan1]]></FromUserName><CreateTime>{}</CreateTime>\
             <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[何时有品鉴会？]]></Content>\
             <MsgId>72001</MsgId><UnionId><![CDATA[uFan1]]></UnionId></xml>",
            now / 1_000_000
        );
        let sealed = crypt.encrypt(&inner, [3; 16]);
        let msg_signature = signature(&[TOKEN, "1764979300", "n4", &sealed]);
        let query = format!(
            "{}&encrypt_type=aes&msg_signature={msg_signature}",
            signed_query("1764979300", "n4")
        );
        let outer = format!(
            "<xml><ToUserName>gh_brand</ToUserName><Encrypt><![CDATA[{sealed}]]></Encrypt></xml>"
        );
        let (status, body) = post(&app, &query, outer.clone()).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "success"));
        let (_, fan) = app.get("/v1/members/lookup?wechat_unionid=uFan1").await;
        assert_eq!(fan["facts"]["messages_in"], 1, "{fan}");

        // Tampered: a signature not made with the token, or a ciphertext changed after
        // signing. Refused with 401; nobody new, nothing counted.
        let forged =
            "timestamp=1764979400&nonce=n5&signature=0123456789abcdef0123456789abcdef01234567";
        let (status, body) = post(&app, forged, subscribe("oIntruder", now, "x")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["code"], "signature_invalid");
        let other = crypt.encrypt(&inner.replace("72001", "72002"), [4; 16]);
        let swapped = outer.replace(&sealed, &other);
        let (status, _) = post(&app, &query, swapped).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = app.get("/v1/members/lookup?wechat_openid=oIntruder").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, fan_after) = app.get("/v1/members/lookup?wechat_unionid=uFan1").await;
        assert_eq!(fan_after["facts"], fan["facts"]);

        // Not XML: 400. A push that cannot be an event: kept as a dead letter.
        let (status, body) = post(&app, &signed_query("1764979500", "n6"), "{}".into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, _) = post(
            &app,
            &signed_query("1764979501", "n7"),
            "<xml><MsgType>event</MsgType><Event>subscribe</Event><CreateTime>1</CreateTime></xml>"
                .into(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (_, dead) = app.get("/v1/tracking/rejected").await;
        let kept: Vec<&Value> = dead["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["call_type"] == "wechat_official_account")
            .collect();
        assert_eq!(kept.len(), 1, "{dead}");
        assert_eq!(kept[0]["field"], "FromUserName");
    }
}

/// A WeCom push as the platform sends it: the message encrypted for the corp, signed
/// over the ciphertext.
async fn work_push(app: &TestApp, inner: &str, nonce: &str) -> (StatusCode, String) {
    let sealed = MessageCrypt::new(KEY, CORP_ID)
        .unwrap()
        .encrypt(inner, [9; 16]);
    let query = format!(
        "msg_signature={}&timestamp=1764979600&nonce={nonce}",
        signature(&[TOKEN, "1764979600", nonce, &sealed])
    );
    let body = format!(
        "<xml><ToUserName>{CORP_ID}</ToUserName><Encrypt><![CDATA[{sealed}]]></Encrypt><AgentID>1</AgentID></xml>"
    );
    post_to(app, "work", &query, body).await
}

fn contact(change: &str, staff: &str, external: &str, at: i64, extra: &str) -> String {
    format!(
        "<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>sys</FromUserName><CreateTime>{}</CreateTime>\
         <MsgType>event</MsgType><Event>change_external_contact</Event><ChangeType>{change}</ChangeType>\
         <UserID>{staff}</UserID><ExternalUserID>{external}</ExternalUserID>{extra}</xml>",
        at / 1_000_000
    )
}

#[tokio::test]
async fn a_wecom_add_binds_the_customer_to_the_member_and_makes_the_assistant_owner() {
    use flywheel_core::time::DAY;
    for app in TestApp::all_with(with_account).await {
        let now = app.now();
        // The URL check's echostr is encrypted; the answer is its plaintext.
        let echo = MessageCrypt::new(KEY, CORP_ID)
            .unwrap()
            .encrypt("echo-7342651", [1; 16]);
        let (status, plain) = app
            .get(&format!(
                "/wechat/work/callback?msg_signature={}&timestamp=1764979600&nonce=e1&echostr={}",
                signature(&[TOKEN, "1764979600", "e1", &echo]),
                urlencode(&echo)
            ))
            .await;
        assert_eq!(
            (status, plain),
            (StatusCode::OK, Value::String("echo-7342651".into()))
        );

        // A follower of the official account, known by union id.
        let (status, _) = app
            .post(
                "/v1/events",
                serde_json::json!({"event_id": "oa-1", "type": "follow", "occurred_at": flywheel_core::time::to_rfc3339(now - 2 * DAY),
                                   "channel": "wechat", "identities": {"wechat_openid": "oFan9", "wechat_unionid": "uFan9"}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        // A shop assistant adds them on WeCom: the same person (same union id).
        let add = contact(
            "add_external_contact",
            "ZhangWei",
            "wmFan9",
            now - DAY,
            "<UnionId>uFan9</UnionId><State>store-sh-01</State>",
        );
        assert_eq!(
            work_push(&app, &add, "w1").await,
            (StatusCode::OK, "success".into())
        );
        let (_, fan) = app.get("/v1/members/lookup?wechat_unionid=uFan9").await;
        let kinds: Vec<&str> = fan["identities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["kind"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"wecom_external_id"), "{fan}");
        let id = fan["id"].as_i64().unwrap();
        let (status, owner) = app.get(&format!("/v1/members/{id}/owner")).await;
        assert_eq!(status, StatusCode::OK, "{owner}");
        assert_eq!(owner["staff_id"], "zhangwei");
        assert_eq!(owner["assigned_by"], "wecom:add_external_contact");

        // A second assistant adds them too: a second link, the owner stays.
        let add2 = contact("add_external_contact", "LiNa", "wmFan9", now - DAY / 2, "");
        assert_eq!(work_push(&app, &add2, "w2").await.0, StatusCode::OK);
        let (_, owner) = app.get(&format!("/v1/members/{id}/owner")).await;
        assert_eq!(owner["staff_id"], "zhangwei");
        // The customer removes the first assistant: that link ends, by the customer.
        let gone = contact("del_follow_user", "ZhangWei", "wmFan9", now - DAY / 4, "");
        assert_eq!(work_push(&app, &gone, "w3").await.0, StatusCode::OK);
        // The same push again changes nothing.
        assert_eq!(work_push(&app, &gone, "w4").await.0, StatusCode::OK);
        let (_, links) = app.get(&format!("/v1/members/{id}/wecom-contacts")).await;
        let links = links["contacts"].as_array().unwrap().clone();
        assert_eq!(links.len(), 2, "{links:?}");
        let zhang = links.iter().find(|l| l["staff_id"] == "zhangwei").unwrap();
        assert_eq!(zhang["ended_by"], "customer");
        assert_eq!(zhang["state"], "store-sh-01");
        let li = links.iter().find(|l| l["staff_id"] == "lina").unwrap();
        assert_eq!(li["ended_at"], Value::Null);
        let (_, fan) = app.get(&format!("/v1/members/{id}")).await;
        // The facts keep the assistant still linked: a line of talk in intimacy.
        assert_eq!(
            fan["facts"]["wecom_assistants"],
            serde_json::json!(["lina"]),
            "{fan}"
        );

        // Signed with another token: refused, nothing written.
        let sealed = MessageCrypt::new(KEY, CORP_ID).unwrap().encrypt(
            &contact("add_external_contact", "Intruder", "wmX", now, ""),
            [2; 16],
        );
        let query = format!(
            "msg_signature={}&timestamp=1&nonce=x",
            signature(&["not-the-token", "1", "x", &sealed])
        );
        let body = format!("<xml><Encrypt>{sealed}</Encrypt></xml>");
        assert_eq!(
            post_to(&app, "work", &query, body).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (status, _) = app.get("/v1/members/lookup?wecom_external_id=wmX").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

fn chat(change: &str, detail: &str, chat_id: &str, at: i64, items: &[&str]) -> String {
    let items: String = items
        .iter()
        .map(|i| format!("<Item><![CDATA[{i}]]></Item>"))
        .collect();
    format!(
        "<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>sys</FromUserName><CreateTime>{}</CreateTime>\
         <MsgType>event</MsgType><Event>change_external_chat</Event><ChatId>{chat_id}</ChatId>\
         <ChangeType>{change}</ChangeType><UpdateDetail>{detail}</UpdateDetail><JoinScene>3</JoinScene>\
         <QuitScene>0</QuitScene><MemChangeCnt>{}</MemChangeCnt><MemChangeList>{items}</MemChangeList></xml>",
        at / 1_000_000,
        items.matches("<Item>").count()
    )
}

#[tokio::test]
async fn wecom_group_joins_and_leaves_show_in_facts_segments_intimacy_and_the_group_list() {
    use flywheel_core::time::DAY;
    for app in TestApp::all_with(with_account).await {
        let now = app.now();
        let add = contact(
            "add_external_contact",
            "ZhaoLei",
            "wmGroupFan00001",
            now - 3 * DAY,
            "<UnionId>uGroupFan1</UnionId>",
        );
        assert_eq!(work_push(&app, &add, "g0").await.0, StatusCode::OK);
        let (_, fan) = app
            .get("/v1/members/lookup?wechat_unionid=uGroupFan1")
            .await;
        let id = fan["id"].as_i64().unwrap();
        let before = fan["scores"]["intimacy"]["parts"].clone();

        // The assistant makes a group and brings the customer and a colleague in: the
        // colleague's id is not a customer's and is skipped.
        let made = chat("create", "", "wrTeaLovers", now - 2 * DAY, &[]);
        assert_eq!(
            work_push(&app, &made, "g1").await,
            (StatusCode::OK, "success".into())
        );
        let join = chat(
            "update",
            "add_member",
            "wrTeaLovers",
            now - 2 * DAY,
            &["wmGroupFan00001", "wmGroupFan00002", "zhaolei"],
        );
        assert_eq!(work_push(&app, &join, "g2").await.0, StatusCode::OK);
        // WeChat retries: nothing doubles.
        assert_eq!(work_push(&app, &join, "g3").await.0, StatusCode::OK);
        let (_, fan) = app.get(&format!("/v1/members/{id}")).await;
        assert_eq!(
            fan["facts"]["groups"],
            serde_json::json!(["wrTeaLovers"]),
            "{fan}"
        );
        let (status, _) = app
            .get("/v1/members/lookup?wecom_external_id=zhaolei")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, groups) = app.get("/v1/wecom/groups").await;
        assert_eq!(groups["groups"][0]["chat_id"], "wrTeaLovers", "{groups}");
        assert_eq!(groups["groups"][0]["members"], 2);

        // The group counts in intimacy's togetherness, and the assistant in talk.
        let (_, scores) = app.get(&format!("/v1/members/{id}/scores")).await;
        let parts = scores["intimacy"]["parts"]
            .as_array()
            .unwrap_or_else(|| panic!("{scores}"))
            .clone();
        let together = parts.iter().find(|p| p["name"] == "togetherness").unwrap();
        assert!(
            together.to_string().contains("in 1 customer group"),
            "{together} (before: {before})"
        );
        assert!(together["points"].as_f64().unwrap() > 0.0);
        let talk = parts.iter().find(|p| p["name"] == "talk").unwrap();
        assert!(
            talk.to_string().contains("1 shop assistant on WeCom"),
            "{talk}"
        );

        // And in the segment language.
        let (status, preview) = app
            .post(
                "/v1/segments/preview",
                serde_json::json!({"expression": "in_group(\"wrTeaLovers\") and groups_count = 1"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        assert_eq!(preview["count"], 2, "{preview}");

        // Staff name the group; audited.
        let (status, named) = app
            .put(
                "/v1/wecom/groups/wrTeaLovers",
                serde_json::json!({"name": "Shanghai tea lovers"}),
            )
            .await;
        assert_eq!(
            (status, &named["name"]),
            (StatusCode::OK, &serde_json::json!("Shanghai tea lovers"))
        );
        let (status, _) = app
            .put(
                "/v1/wecom/groups/wrNobody",
                serde_json::json!({"name": "x"}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // One leaves; then the group is dismissed and the other leaves with it.
        let leave = chat(
            "update",
            "del_member",
            "wrTeaLovers",
            now - DAY,
            &["wmGroupFan00002"],
        );
        assert_eq!(work_push(&app, &leave, "g4").await.0, StatusCode::OK);
        let (_, groups) = app.get("/v1/wecom/groups").await;
        assert_eq!(groups["groups"][0]["members"], 1, "{groups}");
        let gone = chat("dismiss", "", "wrTeaLovers", now - DAY / 2, &[]);
        assert_eq!(work_push(&app, &gone, "g5").await.0, StatusCode::OK);
        assert_eq!(work_push(&app, &gone, "g6").await.0, StatusCode::OK);
        let (_, fan) = app.get(&format!("/v1/members/{id}")).await;
        assert_eq!(fan["facts"]["groups"], serde_json::json!([]), "{fan}");
        let (_, groups) = app.get("/v1/wecom/groups").await;
        let g = &groups["groups"][0];
        assert_eq!(
            (&g["members"], g["dismissed_at"].is_string()),
            (&serde_json::json!(0), true),
            "{groups}"
        );
        let (_, preview) = app
            .post(
                "/v1/segments/preview",
                serde_json::json!({"expression": "in_group(\"wrTeaLovers\")"}),
            )
            .await;
        assert_eq!(preview["count"], 0, "{preview}");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn an_account_not_configured_has_no_callback() {
    let app = TestApp::sqlite().await;
    let (status, body) = app
        .get(&format!(
            "/wechat/official-account/callback?{}",
            signed_query("1", "n")
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
