//! Journeys' messages leave through the outbox exactly as decided, across a crash: the
//! process is killed (`FLYWHEEL_CRASH_AT=journey.decided`, an abort as a SIGKILL would
//! leave it) right after a step's decision committed and before any sender saw it; the
//! next `flywheel engage` delivers it to a webhook receiver on 127.0.0.1 — signed, once,
//! under its outbox id — and a provider's 503 is retried after the backoff, under the same
//! id. Each database in turn. A sender killed after the receiver took a message and
//! before it recorded so sends it again once its claim runs out — under the same id, so
//! the receiver can tell — and records it delivered; and e-mail goes over SMTP to a
//! local sink.

mod common;

use common::{flywheel, run};
use flywheel_core::time::parse_rfc3339;
use flywheel_store::{AuditActor, PutContent, PutJourney};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const SECRET: &str = "a-webhook-secret-of-some-length";

/// What the receiver was sent: (message id header, signature header, body).
type Received = Arc<Mutex<Vec<(String, String, String)>>>;

/// A webhook receiver: answers 503 to the first request when `fail_first`, 200 to the
/// rest.
fn receiver(fail_first: bool) -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: Received = Arc::default();
    let seen = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut id, mut signature, mut length) = (String::new(), String::new(), 0);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap_or((&line, ""));
                let value = value.trim().to_owned();
                match name.to_ascii_lowercase().as_str() {
                    "x-flywheel-message-id" => id = value,
                    "x-flywheel-signature" => signature = value,
                    "content-length" => length = value.parse().unwrap_or(0),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let first = {
                let mut all = seen.lock().unwrap();
                all.push((id, signature, String::from_utf8(body).unwrap()));
                all.len() == 1
            };
            let status = if first && fail_first {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            );
        }
    });
    (url, got)
}

/// When the one purchase happens and is imported.
const AS_OF: &str = "2026-11-02T10:00:00Z";

/// Sets up, in `dir` and `test_db`, a brand whose journey thanks every buyer by webhook
/// to `url` (quiet hours off), and imports a purchase by each of `buyers` members at
/// [`AS_OF`] with the binary.
async fn brand_thanking_buyers(
    test_db: &flywheel_testkit::TestDb,
    dir: &std::path::Path,
    url: &str,
    buyers: usize,
) {
    std::fs::write(
        dir.join("flywheel.toml"),
        format!(
            "[engagement]\nquiet_start = \"00:00\"\nquiet_end = \"00:00\"\n\n\
             [channels.webhook]\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let store = test_db.open().await;
    let t0 = parse_rfc3339("2026-11-01T00:00:00Z").unwrap();
    let actor = AuditActor::cli();
    let content = PutContent {
        id: "thanks".into(),
        channel: "webhook".into(),
        name: "Thanks".into(),
        subject: None,
        body: "Thank you, member {{member_id}}".into(),
        link: None,
    };
    store
        .save_content(&content, true, &actor, t0)
        .await
        .unwrap();
    let journey = PutJourney {
        id: "thank-buyers".into(),
        name: "Thank buyers".into(),
        status: "active".into(),
        definition: json!({"trigger": {"event": "purchase"}, "reentry": "once",
            "steps": [{"send": {"content": "thanks"}}]}),
    };
    store
        .save_journey(&journey, true, &actor, t0)
        .await
        .unwrap();
    store.close().await;
    let lines: String = (1..=buyers)
        .map(|n| {
            let event = json!({"event_id": format!("e{n}"), "type": "purchase", "occurred_at": AS_OF,
                "channel": "app", "identities": {"phone": format!("1380013{n:04}")},
                "properties": {"order_id": format!("o{n}"), "amount": "88.00"}});
            format!("{event}\n")
        })
        .collect();
    std::fs::write(dir.join("e.jsonl"), lines).unwrap();
    let (ok, out, err) =
        run(flywheel(dir).args(["import", "e.jsonl", "--as-of", AS_OF, "--db", &test_db.url]));
    assert!(ok, "{out}{err}");
}

#[tokio::test]
async fn a_decided_message_survives_a_crash_and_is_delivered_once_signed() {
    for test_db in flywheel_testkit::databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (url, received) = receiver(true);
        let db = test_db.url.as_str();
        let as_of = AS_OF;
        brand_thanking_buyers(&test_db, dir.path(), &url, 1).await;

        // Killed right after the step's decision committed: nothing was sent.
        let (ok, out, err) = run(flywheel(dir.path())
            .env("FLYWHEEL_CRASH_AT", "journey.decided")
            .args([
                "--config",
                "flywheel.toml",
                "engage",
                "--as-of",
                as_of,
                "--db",
                db,
            ]));
        assert!(
            !ok && err.contains("aborting at"),
            "{}: {out}{err}",
            test_db.name()
        );
        assert!(received.lock().unwrap().is_empty());

        // Started again: the message is attempted once (the receiver answers 503), and
        // the journey is not walked again.
        let (ok, out, err) = run(flywheel(dir.path()).args([
            "--config",
            "flywheel.toml",
            "engage",
            "--as-of",
            as_of,
            "--db",
            db,
        ]));
        assert!(ok, "{out}{err}");
        assert!(
            out.contains("0 admitted") && out.contains("0 delivered of 1 attempted"),
            "{out}"
        );
        // Too early for the retry: nothing is attempted.
        let (ok, out, _) = run(flywheel(dir.path()).args([
            "--config",
            "flywheel.toml",
            "engage",
            "--as-of",
            "2026-11-02T10:00:30Z",
            "--db",
            db,
        ]));
        assert!(ok && out.contains("0 delivered of 0 attempted"), "{out}");
        // After the backoff (a minute), delivered.
        let (ok, out, err) = run(flywheel(dir.path()).args([
            "--config",
            "flywheel.toml",
            "engage",
            "--as-of",
            "2026-11-02T10:02:00Z",
            "--db",
            db,
        ]));
        assert!(
            ok && out.contains("1 delivered of 1 attempted"),
            "{out}{err}"
        );
        let (ok, out, _) = run(flywheel(dir.path()).args([
            "--config",
            "flywheel.toml",
            "engage",
            "--as-of",
            "2026-11-03T10:00:00Z",
            "--db",
            db,
        ]));
        assert!(ok && out.contains("0 delivered of 0 attempted"), "{out}");

        let got = received.lock().unwrap().clone();
        assert_eq!(got.len(), 2, "one failed attempt, one delivery: {got:?}");
        assert_eq!(got[0].0, got[1].0, "both attempts carry the message's id");
        for (id, signature, body) in &got {
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(body.as_bytes());
            let want: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(signature, &format!("sha256={want}"), "{body}");
            let sent: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(sent["id"].to_string(), *id);
            assert_eq!(sent["journey"], "thank-buyers");
            assert!(
                sent["body"]
                    .as_str()
                    .unwrap()
                    .starts_with("Thank you, member ")
            );
        }
        let store = test_db.open().await;
        let rows = store
            .outbox(&flywheel_store::OutboxQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].status.as_str(), rows[0].attempts),
            ("delivered", 2)
        );
        assert!(
            rows[0]
                .answer
                .as_deref()
                .unwrap_or("")
                .starts_with("HTTP 200")
        );
        store.close().await;
    }
}

/// What the SMTP sink was sent: (recipients, the message as transmitted).
type Mails = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// An SMTP sink on 127.0.0.1: accepts every message and keeps it.
fn smtp_sink() -> (u16, Mails) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Mails = Arc::default();
    let kept = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut out) = stream else { continue };
            let mut reader = BufReader::new(out.try_clone().unwrap());
            let _ = write!(out, "220 sink ESMTP\r\n");
            let mut rcpt = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let verb = line.to_ascii_uppercase();
                if verb.starts_with("EHLO") || verb.starts_with("HELO") {
                    let _ = write!(out, "250 sink\r\n");
                } else if verb.starts_with("RCPT TO:") {
                    rcpt.push(line[8..].trim().to_owned());
                    let _ = write!(out, "250 OK\r\n");
                } else if verb.starts_with("DATA") {
                    let _ = write!(out, "354 go on\r\n");
                    let mut data = String::new();
                    loop {
                        let mut l = String::new();
                        if reader.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                            break;
                        }
                        data.push_str(&l);
                    }
                    kept.lock().unwrap().push((std::mem::take(&mut rcpt), data));
                    let _ = write!(out, "250 queued\r\n");
                } else if verb.starts_with("QUIT") {
                    let _ = write!(out, "221 bye\r\n");
                    break;
                } else {
                    let _ = write!(out, "250 OK\r\n");
                }
            }
        }
    });
    (port, got)
}

#[tokio::test]
async fn e_mail_goes_over_smtp_to_the_members_address_and_nobody_without_one() {
    let test_db = flywheel_testkit::TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (port, mails) = smtp_sink();
    std::fs::write(
        dir.path().join("flywheel.toml"),
        format!(
            "[engagement]\nquiet_start = \"00:00\"\nquiet_end = \"00:00\"\n\n\
             [channels.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
             from = \"Tea House <news@tea.example>\"\n"
        ),
    )
    .unwrap();
    let db = test_db.url.as_str();
    let store = test_db.open().await;
    let t0 = parse_rfc3339("2026-11-01T00:00:00Z").unwrap();
    let actor = AuditActor::cli();
    let content = PutContent {
        id: "hello-mail".into(),
        channel: "email".into(),
        name: "Hello".into(),
        subject: Some("Welcome, {{nickname}}".into()),
        body: "Your member number is {{member_id}}.".into(),
        link: None,
    };
    store
        .save_content(&content, true, &actor, t0)
        .await
        .unwrap();
    let journey = PutJourney {
        id: "hello".into(),
        name: "Hello".into(),
        status: "active".into(),
        definition: json!({"trigger": {"event": "register"}, "steps": [{"send": {"content": "hello-mail"}}]}),
    };
    store
        .save_journey(&journey, true, &actor, t0)
        .await
        .unwrap();
    store.close().await;
    // Both opt in to e-mail when they register; only one gives an address.
    let lines = [
        json!({"event_id": "r1", "type": "register", "occurred_at": "2026-11-02T10:00:00Z",
            "channel": "app", "identities": {"email": "Lin@Example.com"},
            "properties": {"nickname": "Lin", "consent": {"email": true}}}),
        json!({"event_id": "r2", "type": "register", "occurred_at": "2026-11-02T10:00:00Z",
            "channel": "app", "identities": {"phone": "13800138000"},
            "properties": {"nickname": "Wu", "consent": {"email": true}}}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join("e.jsonl"), text).unwrap();
    let as_of = "2026-11-02T10:00:00Z";
    let (ok, out, err) =
        run(flywheel(dir.path()).args(["import", "e.jsonl", "--as-of", as_of, "--db", db]));
    assert!(ok, "{out}{err}");
    let (ok, out, err) = run(flywheel(dir.path()).args([
        "--config",
        "flywheel.toml",
        "engage",
        "--as-of",
        as_of,
        "--db",
        db,
    ]));
    assert!(
        ok && out.contains("1 delivered of 1 attempted"),
        "{out}{err}"
    );
    let got = mails.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, vec!["<lin@example.com>".to_owned()]);
    assert!(got[0].1.contains("Subject: Welcome, Lin"), "{}", got[0].1);
    assert!(
        got[0].1.contains("From: \"Tea House\" <news@tea.example>"),
        "{}",
        got[0].1
    );
    assert!(got[0].1.contains("Your member number is "), "{}", got[0].1);
    let store = test_db.open().await;
    let rows = store
        .outbox(&flywheel_store::OutboxQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let statuses: Vec<(&str, Option<&str>)> = rows
        .iter()
        .map(|r| (r.status.as_str(), r.reason.as_deref()))
        .collect();
    assert!(statuses.contains(&("delivered", None)), "{statuses:?}");
    assert!(
        statuses.contains(&("suppressed", Some("no_address"))),
        "{statuses:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn a_sender_killed_before_recording_repeats_the_message_under_its_id() {
    for test_db in flywheel_testkit::databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (url, received) = receiver(false);
        let db = test_db.url.as_str();
        let as_of = AS_OF;
        brand_thanking_buyers(&test_db, dir.path(), &url, 1).await;
        let engage = |at: &str, crash: Option<&str>| {
            let mut cmd = flywheel(dir.path());
            if let Some(point) = crash {
                cmd.env("FLYWHEEL_CRASH_AT", point);
            }
            cmd.args([
                "--config",
                "flywheel.toml",
                "engage",
                "--as-of",
                at,
                "--db",
                db,
            ]);
            run(&mut cmd)
        };
        // The receiver took the message; the sender died before recording it.
        let (ok, _, err) = engage(as_of, Some("outbox.before_record"));
        assert!(
            !ok && err.contains("aborting at"),
            "{}: {err}",
            test_db.name()
        );
        assert_eq!(received.lock().unwrap().len(), 1);
        // Its claim holds for a minute: nobody sends it meanwhile.
        let (ok, out, _) = engage("2026-11-02T10:00:30Z", None);
        assert!(ok && out.contains("0 delivered of 0 attempted"), "{out}");
        // Then it goes again, under the same id, and is recorded delivered.
        let (ok, out, err) = engage("2026-11-02T10:02:00Z", None);
        assert!(
            ok && out.contains("1 delivered of 1 attempted"),
            "{out}{err}"
        );
        let got = received.lock().unwrap().clone();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, got[1].0, "one message id for both");
        let (ok, out, _) = engage("2026-11-03T10:00:00Z", None);
        assert!(ok && out.contains("0 delivered of 0 attempted"), "{out}");
        let store = test_db.open().await;
        let rows = store
            .outbox(&flywheel_store::OutboxQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].status.as_str(), rows[0].attempts),
            ("delivered", 2)
        );
        store.close().await;
    }
}

/// The count before `label` in a line of `flywheel engage`'s report.
fn reported(out: &str, label: &str) -> u64 {
    let at = out
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {out}"));
    out[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before {label:?} in {out}"))
}

#[tokio::test]
async fn two_runners_at_once_walk_and_send_each_members_journey_once() {
    const BUYERS: usize = 150;
    for test_db in flywheel_testkit::databases().await {
        let dir = tempfile::tempdir().unwrap();
        let (url, received) = receiver(false);
        let db = test_db.url.as_str();
        brand_thanking_buyers(&test_db, dir.path(), &url, BUYERS).await;
        let engage = || {
            flywheel(dir.path())
                .args([
                    "--config",
                    "flywheel.toml",
                    "engage",
                    "--as-of",
                    AS_OF,
                    "--db",
                    db,
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        // Two processes over the same due runs and messages: on PostgreSQL each claims
        // rows the other has not locked (SKIP LOCKED); on SQLite the one writer takes
        // turns. Either way no run is admitted twice and no message claimed twice.
        let (a, b) = (engage(), engage());
        let outputs: Vec<String> = [a, b]
            .into_iter()
            .map(|child| {
                let out = child.wait_with_output().unwrap();
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(out.status.success(), "{}: {text}", test_db.name());
                text
            })
            .collect();
        let admitted: u64 = outputs.iter().map(|o| reported(o, "admitted")).sum();
        let queued: u64 = outputs.iter().map(|o| reported(o, "queued")).sum();
        assert_eq!(
            (admitted, queued),
            (BUYERS as u64, BUYERS as u64),
            "{}: {outputs:?}",
            test_db.name()
        );
        // Whatever the two left (each sends a hundred a pass), one more pass drains.
        let (ok, out, err) = run(flywheel(dir.path()).args([
            "--config",
            "flywheel.toml",
            "engage",
            "--as-of",
            AS_OF,
            "--db",
            db,
        ]));
        assert!(ok && out.contains("0 admitted"), "{out}{err}");
        let got = received.lock().unwrap().clone();
        let ids: std::collections::BTreeSet<&String> = got.iter().map(|(id, _, _)| id).collect();
        let bodies: std::collections::BTreeSet<&String> =
            got.iter().map(|(_, _, body)| body).collect();
        assert_eq!(
            (got.len(), ids.len(), bodies.len()),
            (BUYERS, BUYERS, BUYERS),
            "{}: every message once, to a different member",
            test_db.name()
        );
        let store = test_db.open().await;
        let rows = store
            .outbox(&flywheel_store::OutboxQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), BUYERS);
        assert!(
            rows.iter()
                .all(|r| r.status == "delivered" && r.attempts == 1)
        );
        store.close().await;
    }
}
