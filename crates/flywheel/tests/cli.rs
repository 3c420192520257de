//! The `flywheel` binary as a user runs it: import files, the demo, keys, healthcheck,
//! and a server killed with SIGKILL that must keep every event it acknowledged.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{export_demo_stream, flywheel, run};

fn event(id: &str, days_ago: i64, kind: &str, identities: Value, properties: Value) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::days(days_ago);
    json!({"event_id": id, "type": kind, "occurred_at": at.to_rfc3339(), "channel": "store",
           "identities": identities, "properties": properties})
}

#[test]
fn import_reports_accepted_duplicates_and_every_rejected_line_by_number() {
    let dir = tempfile::tempdir().unwrap();
    let who = json!({"phone": "13800138000"});
    let e2 = event(
        "e2",
        8,
        "purchase",
        who.clone(),
        json!({"order_id": "O1", "amount": "20.00"}),
    )
    .to_string();
    let lines = [
        event("e1", 9, "register", who.clone(), json!({"name": "Li Wei"})).to_string(),
        e2.clone(),
        String::new(),
        "{not json".to_string(),
        event("e3", 7, "review", who.clone(), json!({"rating": 0})).to_string(),
        e2,
        event(
            "e4",
            6,
            "purchase",
            who.clone(),
            json!({"order_id": "O1", "amount": "5.00"}),
        )
        .to_string(),
        event("e5", 5, "like", who.clone(), json!({})).to_string(),
        event("e1", 9, "register", who, json!({"name": "Somebody Else"})).to_string(),
    ];
    std::fs::write(dir.path().join("events.jsonl"), lines.join("\n")).unwrap();
    let (ok, out, err) =
        run(flywheel(dir.path()).args(["import", "events.jsonl", "--db", "sqlite://t.db"]));
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("3 accepted, 1 duplicates, 4 rejected"),
        "{out}"
    );
    assert!(out.contains("line 4: not valid JSON"), "{out}");
    assert!(
        out.contains("line 9: event_id:") && out.contains("(event_id_reused)"),
        "{out}"
    );
    assert!(out.contains("line 5: properties.rating: properties.rating must be an integer from 1 to 5 (out_of_range)"), "{out}");
    assert!(
        out.contains("line 7: properties.order_id:") && out.contains("(order_exists)"),
        "{out}"
    );
    // Importing again changes nothing.
    let (_, out, _) =
        run(flywheel(dir.path()).args(["import", "events.jsonl", "--db", "sqlite://t.db"]));
    assert!(
        out.contains("0 accepted, 4 duplicates, 4 rejected"),
        "{out}"
    );
}

#[test]
fn tags_import_from_csv_with_every_refused_line_named() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        event(
            "r1",
            3,
            "register",
            json!({"phone": "13800138001"}),
            json!({}),
        )
        .to_string(),
        event(
            "r2",
            2,
            "register",
            json!({"email": "li@example.com"}),
            json!({}),
        )
        .to_string(),
    ];
    std::fs::write(dir.path().join("events.jsonl"), lines.join("\n")).unwrap();
    let (ok, out, err) =
        run(flywheel(dir.path()).args(["import", "events.jsonl", "--db", "sqlite://t.db"]));
    assert!(ok, "{out}{err}");
    let csv = "kind,value,tag\n\
               phone,138 0013 8001,vip\n\
               email,LI@example.com,vip\n\
               email,nobody@example.com,vip\n\
               fax,123,vip\n\
               phone,13800138001,diet:vegan\n\
               phone,13800138001,has space\n";
    std::fs::write(dir.path().join("fair.csv"), csv).unwrap();
    let (ok, out, err) =
        run(flywheel(dir.path()).args(["import", "--tags", "fair.csv", "--db", "sqlite://t.db"]));
    assert!(ok, "{out}{err}");
    assert!(out.contains("2 tags set, 4 lines rejected"), "{out}");
    assert!(
        out.contains("line 4: no member has the identity email:nobody@example.com"),
        "{out}"
    );
    assert!(
        out.contains("line 5: \"fax\" is not an identity kind"),
        "{out}"
    );
    assert!(
        out.contains("line 6: \"diet\" is not a tag dimension"),
        "{out}"
    );
    assert!(out.contains("line 7: a tag is"), "{out}");
    // Sent again, nothing more is set.
    let (ok, out, _) =
        run(flywheel(dir.path()).args(["import", "--tags", "fair.csv", "--db", "sqlite://t.db"]));
    assert!(ok && out.contains("0 tags set"), "{out}");
    let (ok, _, err) = run(flywheel(dir.path()).args([
        "import",
        "--tags",
        "events.jsonl",
        "--db",
        "sqlite://t.db",
    ]));
    assert!(!ok && err.contains("kind, value and tag"), "{err}");
    // The imported tags are in expressions: counted, saved as a segment, listed.
    let db = ["--db", "sqlite://t.db"];
    let vip = r#"tag("vip")"#;
    let (ok, out, err) = run(flywheel(dir.path())
        .args(["segments", "count", vip])
        .args(db));
    assert!(ok && out.starts_with("2 members in "), "{out}{err}");
    let (ok, out, err) = run(flywheel(dir.path())
        .args(["segments", "define", "vips", vip])
        .args(db));
    assert!(ok && out.starts_with("vips: 2 members"), "{out}{err}");
    let (ok, out, _) = run(flywheel(dir.path()).args(["segments", "list"]).args(db));
    assert!(ok && out.contains("vips\t2\tready"), "{out}");
    let (ok, _, err) = run(flywheel(dir.path())
        .args(["segments", "count", "stage >= 5"])
        .args(db));
    assert!(!ok && err.contains("line 1, column 10"), "{err}");
}

#[test]
fn strict_import_stops_at_the_first_bad_line_and_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let who = json!({"card_no": "C1"});
    let lines = [
        event("a", 3, "like", who.clone(), json!({})).to_string(),
        event("b", 3, "like", who.clone(), json!({})).to_string(),
        event("c", 3, "visit", who.clone(), json!({}))
            .to_string()
            .replace("store", "fax"),
        event("d", 3, "like", who, json!({})).to_string(),
    ];
    std::fs::write(dir.path().join("e.jsonl"), lines.join("\n")).unwrap();
    let (ok, out, _) =
        run(flywheel(dir.path()).args(["import", "e.jsonl", "--strict", "--db", "sqlite://t.db"]));
    assert!(!ok);
    assert!(
        out.contains("2 accepted, 0 duplicates, 1 rejected") && out.contains("line 3: channel"),
        "{out}"
    );
    let (ok, out, _) =
        run(flywheel(dir.path()).args(["import", "e.jsonl", "--db", "sqlite://t.db"]));
    assert!(ok);
    assert!(
        out.contains("1 accepted, 2 duplicates, 1 rejected"),
        "{out}"
    );
}

#[test]
fn csv_files_import_with_one_column_per_identity_and_property() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "event_id,type,occurred_at,channel,identities.phone,identities.card_no,properties.order_id,properties.amount,properties.rating\n\
               c1,purchase,2026-01-05T10:00:00+08:00,store,13800138000,C9,O1,18.50,\n\
               c2,review,2026-01-06T10:00:00+08:00,store,,C9,,,5\n\
               c3,review,2026-01-06T10:00:00+08:00,store,,C9,,,6\n";
    std::fs::write(dir.path().join("e.csv"), csv).unwrap();
    let (ok, out, err) =
        run(flywheel(dir.path()).args(["import", "e.csv", "--db", "sqlite://t.db"]));
    assert!(ok, "{err}");
    assert!(
        out.contains("2 accepted, 0 duplicates, 1 rejected")
            && out.contains("line 4: properties.rating"),
        "{out}"
    );
}

/// `flywheel scores recompute` on an imported file: every member scored, buyers ranked,
/// the model fitted, and the rows there for the API to read.
#[test]
fn scores_recompute_scores_every_member_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for person in 0..30 {
        let who = json!({"external_id": format!("p{person}")});
        lines.push(
            event(
                &format!("r{person}"),
                400,
                "register",
                who.clone(),
                json!({}),
            )
            .to_string(),
        );
        // Two in three buy, some of them often.
        for order in 0..(person % 3) * (1 + person % 5) {
            let id = format!("o{person}-{order}");
            let days_ago = 300 - (order as i64) * 20 - person as i64;
            let props = json!({"order_id": id, "amount": format!("{}.00", 10 + person)});
            lines.push(event(&id, days_ago, "purchase", who.clone(), props).to_string());
        }
    }
    std::fs::write(dir.path().join("e.jsonl"), lines.join("\n")).unwrap();
    let db = ["--db", "sqlite://s.db"];
    let (ok, _, err) = run(flywheel(dir.path()).args(["import", "e.jsonl"]).args(db));
    assert!(ok, "{err}");
    let (ok, out, err) = run(flywheel(dir.path()).args(["scores", "recompute"]).args(db));
    assert!(ok, "{err}");
    // Twenty buyers are too few for lifetime value by default, and the answer says so.
    assert!(
        out.contains("scored 30 members in") && out.contains("20 with RFM, 0 with lifetime value"),
        "{out}"
    );
    assert!(
        out.contains(
            "lifetime value not computed: 20 members have bought; lifetime value needs at least 50"
        ),
        "{out}"
    );
    assert!(!out.contains("BG/NBD"), "{out}");
    // With the minimum lowered, the same members are enough.
    std::fs::write(
        dir.path().join("low.toml"),
        "[scores]\nclv_min_customers = 10\n",
    )
    .unwrap();
    let (ok, out, err) = run(flywheel(dir.path())
        .args(["--config", "low.toml", "scores", "recompute"])
        .args(db));
    assert!(ok, "{err}");
    assert!(out.contains("20 with RFM, 20 with lifetime value"), "{out}");
    assert!(out.contains("BG/NBD (days) r = "), "{out}");
}

#[test]
fn the_demo_is_the_same_for_the_same_seed_and_loads_through_the_real_ingest() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.jsonl", "b.jsonl"] {
        let (ok, _, err) = run(flywheel(dir.path()).args([
            "demo",
            "--members",
            "80",
            "--seed",
            "5",
            "--end",
            "2026-11-01",
            "--export",
            name,
        ]));
        assert!(ok, "{err}");
    }
    let a = std::fs::read(dir.path().join("a.jsonl")).unwrap();
    assert_eq!(a, std::fs::read(dir.path().join("b.jsonl")).unwrap());
    let (ok, _, err) = run(flywheel(dir.path()).args([
        "demo",
        "--members",
        "80",
        "--seed",
        "5",
        "--no-serve",
        "--db",
        "sqlite://demo.db",
    ]));
    assert!(ok, "{err}");
    assert!(err.contains("demo brand ready: 80 people became"), "{err}");
    let (ok, _, err) = run(flywheel(dir.path()).args([
        "demo",
        "--members",
        "80",
        "--no-serve",
        "--db",
        "sqlite://demo.db",
    ]));
    assert!(ok && err.contains("already holds a brand"), "{err}");
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path, db: &str, admin: &str) -> Server {
        Server::start_with_config(dir, db, admin, None)
    }

    /// A server reading `config` (a TOML file in `dir`) besides.
    fn start_with_config(dir: &Path, db: &str, admin: &str, config: Option<&str>) -> Server {
        Server::start_with(dir, db, admin, config, None)
    }

    fn start_with(
        dir: &Path,
        db: &str,
        admin: &str,
        config: Option<&str>,
        crash: Option<&str>,
    ) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let mut command = flywheel(dir);
        if let Some(config) = config {
            command.env("FLYWHEEL_CONFIG", dir.join(config));
        }
        if let Some(crash) = crash {
            command.env("FLYWHEEL_CRASH_AT", crash);
        }
        let child = command
            .args(["serve", "--db", db, "--listen", &listen])
            .env("FLYWHEEL_ADMIN_KEY", admin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://{listen}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (ok, _, _) = run(flywheel(dir).args(["healthcheck", "--url", &base]));
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "server did not become healthy");
            std::thread::sleep(Duration::from_millis(100));
        }
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Eight clients post single events and one posts batches, as fast as they can, until
/// the server stops answering; `stop` is called once `after` events have been
/// acknowledged. Returns each acknowledged event with the exact body sent.
async fn load_until_stopped(
    base: &str,
    key: &str,
    after: usize,
    stop: impl FnOnce(),
) -> Vec<(String, Value)> {
    let http = flywheel_testkit::http();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Value)>();
    for client in 0..8 {
        let (http, tx, base, key) = (http.clone(), tx.clone(), base.to_owned(), key.to_owned());
        tokio::spawn(async move {
            for i in 0.. {
                let id = format!("k{client}-{i}");
                let body = event(
                    &id,
                    1,
                    "purchase",
                    json!({"card_no": format!("K{}", i % 50)}),
                    json!({"order_id": format!("O{id}"), "amount": "9.90"}),
                );
                match http
                    .post(format!("{base}/v1/events"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let _ = tx.send((id, body));
                    }
                    _ => break,
                }
            }
        });
    }
    // And one client posting batches of ten, all or nothing.
    let (http2, tx2, base2, key2) = (http.clone(), tx.clone(), base.to_owned(), key.to_owned());
    tokio::spawn(async move {
        for b in 0.. {
            let sent: Vec<(String, Value)> = (0..10)
                .map(|i| {
                    let id = format!("b{b}-{i}");
                    let body = event(
                        &id,
                        2,
                        "purchase",
                        json!({"phone": format!("+86139{:08}", (b * 10 + i) % 70)}),
                        json!({"order_id": format!("O{id}"), "amount": "25.00"}),
                    );
                    (id, body)
                })
                .collect();
            let events: Vec<&Value> = sent.iter().map(|(_, body)| body).collect();
            match http2
                .post(format!("{base2}/v1/events/batch"))
                .bearer_auth(&key2)
                .json(&json!({ "events": events }))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    for one in sent {
                        let _ = tx2.send(one);
                    }
                }
                _ => break,
            }
        }
    });
    drop(tx);
    let mut stop = Some(stop);
    let mut acked = Vec::new();
    while let Some(sent) = rx.recv().await {
        acked.push(sent);
        if acked.len() >= after
            && let Some(stop) = stop.take()
        {
            stop();
        }
    }
    acked
}

/// Sends every acknowledged event again; returns the ids the server did not already hold.
async fn not_kept(base: &str, key: &str, acked: &[(String, Value)]) -> Vec<String> {
    let http = flywheel_testkit::http();
    let mut missing = Vec::new();
    for (id, body) in acked {
        let r: Value = http
            .post(format!("{base}/v1/events"))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["duplicate"] != true {
            missing.push(format!("{id}: {r}"));
        }
    }
    missing
}

/// How a server under load is stopped.
#[derive(Clone, Copy)]
enum Stop {
    /// `kill` with this signal once 300 events were acknowledged; whether it must exit 0.
    Signal(&'static str, bool),
    /// The server aborts by itself at this crash point (`FLYWHEEL_CRASH_AT`).
    CrashAt(&'static str),
}

/// Puts a server on each test database under a load of single events and batches,
/// stops it as `stop` says, checks how it exited, restarts it, and checks that every
/// acknowledged event is there and the books balance. With `flush_rows`, the server
/// writes behind the event log, flushing at that many rows (and restarts so).
fn every_acknowledged_event_survives(stop: Stop, flush_rows: Option<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let admin = "stop-test-admin-key-0123456789";
    let config = flush_rows.map(|rows| {
        let toml = format!("[server]\nwrite_behind = true\nflush_rows = {rows}\n");
        std::fs::write(dir.path().join("behind.toml"), toml).unwrap();
        "behind.toml"
    });
    for test_db in flywheel_testkit::databases_blocking() {
        let db = test_db.url.clone();
        let (ok, key, err) = run(flywheel(dir.path()).args([
            "keys",
            "create",
            "--role",
            "integrator",
            "--label",
            "pos",
            "--db",
            &db,
        ]));
        assert!(ok, "{err}");
        let key = key.trim().to_owned();
        let crash = match stop {
            Stop::Signal(..) => None,
            Stop::CrashAt(point) => Some(point),
        };
        let mut server = Server::start_with(dir.path(), &db, admin, config, crash);
        let pid = server.child.id().to_string();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let base = server.base.clone();
        let acked = rt.block_on(load_until_stopped(&base, &key, 300, || {
            if let Stop::Signal(signal, _) = stop {
                let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
                assert!(sent.success());
            }
        }));
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(50));
        };
        match stop {
            Stop::Signal(signal, true) => {
                assert!(status.success(), "exit status after {signal}: {status}");
                assert!(acked.len() >= 300, "{} acknowledged", acked.len());
            }
            Stop::Signal(..) => assert!(acked.len() >= 300, "{} acknowledged", acked.len()),
            Stop::CrashAt(point) => assert!(!status.success(), "{point}: {status}"),
        }
        if let Stop::Signal(..) = stop {
            assert!(
                acked.iter().any(|(id, _)| id.starts_with('b')),
                "no batch was acknowledged"
            );
        }
        let server = Server::start_with_config(dir.path(), &db, admin, config);
        let missing = rt.block_on(not_kept(&server.base, admin, &acked));
        assert!(
            missing.is_empty(),
            "{} acknowledged events lost on {db}: {missing:?}",
            missing.len()
        );
        let books: Value = rt.block_on(async {
            flywheel_testkit::http()
                .get(format!(
                    "{}/v1/reports/points/trial-balance?verify=true",
                    server.base
                ))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        assert_eq!(books["total"], 0, "{books}");
        assert_eq!(books["mismatched_accounts"], json!([]), "{books}");
        assert_eq!(books["mismatched_days"], json!([]), "{books}");
        assert!(
            books["member_accounts"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        );
    }
}

#[test]
fn a_server_killed_with_sigkill_keeps_every_event_it_acknowledged() {
    every_acknowledged_event_survives(Stop::Signal("-KILL", false), None);
}

/// Written behind: a SIGKILL loses the rows waiting in memory and nothing else — the
/// restart replays the event log — and a crash in the middle of a flush or between a
/// flush and forgetting its plans loses nothing either.
#[test]
fn a_server_writing_behind_keeps_every_event_it_acknowledged_through_kills_and_crashes() {
    every_acknowledged_event_survives(Stop::Signal("-KILL", false), Some(2_000));
    every_acknowledged_event_survives(Stop::CrashAt("flush.mid_write:3"), Some(300));
    every_acknowledged_event_survives(Stop::CrashAt("flush.after_commit:3"), Some(300));
    every_acknowledged_event_survives(Stop::CrashAt("ingest.after_commit:60"), Some(100_000));
}

/// The server aborts by itself between writing a group and committing it, and between
/// committing one and answering: what it answered for is there, the books balance.
#[test]
fn a_server_aborting_around_a_commit_keeps_every_event_it_acknowledged() {
    every_acknowledged_event_survives(Stop::CrashAt("ingest.before_commit:40"), None);
    every_acknowledged_event_survives(Stop::CrashAt("ingest.after_commit:60"), None);
}

/// SIGTERM during a load: the server stops accepting, answers what is in flight, exits
/// 0, and every event it acknowledged is there after a restart.
#[test]
fn sigterm_during_a_load_exits_cleanly_and_keeps_every_acknowledged_event() {
    every_acknowledged_event_survives(Stop::Signal("-TERM", true), None);
}

#[test]
fn healthcheck_fails_when_nothing_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (ok, _, _) = run(flywheel(dir.path()).args([
        "healthcheck",
        "--url",
        &format!("http://127.0.0.1:{port}"),
    ]));
    assert!(!ok);
}

#[test]
fn a_fresh_install_prints_one_admin_key_that_works_and_a_restart_prints_none() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    // Reads the server's stderr up to the "serving" line; returns the key it printed, if any.
    let start = || {
        let mut child = flywheel(dir.path())
            .args(["serve", "--db", "sqlite://fresh.db", "--listen", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut key = None;
        for line in BufReader::new(child.stderr.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(k) = line.trim().strip_prefix("fw_") {
                key = Some(format!("fw_{k}"));
            }
            if line.starts_with("Flywheel is serving") {
                break;
            }
        }
        (child, key)
    };
    let (mut first, key) = start();
    let key = key.expect("a fresh install prints an admin key");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        flywheel_testkit::http()
            .get(format!("http://{listen}/v1/stats/stages"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, reqwest::StatusCode::OK);
    first.kill().unwrap();
    first.wait().unwrap();
    let (mut second, again) = start();
    assert_eq!(again, None, "a restart prints no new key");
    second.kill().unwrap();
    second.wait().unwrap();
}

/// Many redemptions at once through two server processes on one database: neither the
/// balance nor the stock is ever overspent.
#[test]
fn two_servers_never_overspend_one_balance_or_one_stock() {
    let dir = tempfile::tempdir().unwrap();
    let admin = "race-test-admin-key-0123456789";
    for test_db in flywheel_testkit::databases_blocking() {
        let db = test_db.url.clone();
        let a = Server::start(dir.path(), &db, admin);
        let b = Server::start(dir.path(), &db, admin);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let http = flywheel_testkit::http();
            let post = |base: &str, path: &str, body: Value| {
                http.post(format!("{base}{path}"))
                    .bearer_auth(admin)
                    .json(&body)
                    .send()
            };
            let r = post(
                &a.base,
                "/v1/events",
                event("race-m", 1, "register", json!({"phone": "13812345678"}), json!({})),
            )
            .await
            .unwrap();
            let member = r.json::<Value>().await.unwrap()["member_id"].clone();
            let r = post(&a.base, "/v1/points/adjustments", json!({"member_id": member, "points": 950, "reason": "race test", "idempotency_key": "race-adj"}))
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let r = post(&b.base, "/v1/rewards", json!({"id": "cup", "name": "Cup", "kind": "gift", "points_cost": 100, "stock": 7}))
                .await
                .unwrap();
            assert_eq!(r.status(), 201);

            // Two rounds, each fired at once over both servers: 40 redemptions of a reward
            // with 7 in stock (the stock is the limit), then 20 debits of 50 against the
            // 300 points left (the balance is the limit). Each round has one right answer.
            let race = |round: &'static str, bodies: Vec<Value>| {
                let tasks: Vec<_> = bodies
                    .into_iter()
                    .enumerate()
                    .map(|(i, body)| {
                        let base = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
                        let http = http.clone();
                        tokio::spawn(async move {
                            let r = http
                                .post(format!("{base}/v1/redemptions"))
                                .bearer_auth(admin)
                                .json(&body)
                                .send()
                                .await
                                .unwrap();
                            (r.status().as_u16(), r.json::<Value>().await.unwrap())
                        })
                    })
                    .collect();
                async move {
                    let mut won = 0;
                    for t in tasks {
                        let (status, body) = t.await.unwrap();
                        match status {
                            201 => won += 1,
                            409 => {
                                let code = body["error"]["code"].as_str().unwrap();
                                assert!(code == "out_of_stock" || code == "insufficient_points", "{round}: {body}");
                            }
                            other => panic!("{round}: {other}: {body}"),
                        }
                    }
                    won
                }
            };
            let cups = race(
                "cups",
                (0..40)
                    .map(|i| json!({"member_id": member, "reward_id": "cup", "idempotency_key": format!("cup-{i}")}))
                    .collect(),
            )
            .await;
            assert_eq!(cups, 7, "{db}");
            let debits = race(
                "debits",
                (0..20)
                    .map(|i| json!({"member_id": member, "points": 50, "idempotency_key": format!("debit-{i}")}))
                    .collect(),
            )
            .await;
            assert_eq!(debits, 6, "{db}");
            let get = |base: String, path: String| {
                let http = http.clone();
                async move {
                    http.get(format!("{base}{path}"))
                        .bearer_auth(admin)
                        .send()
                        .await
                        .unwrap()
                        .json::<Value>()
                        .await
                        .unwrap()
                }
            };
            let p = get(b.base.clone(), format!("/v1/members/{member}/points")).await;
            assert_eq!(p["balance"], 0, "{p}");
            let cup = get(a.base.clone(), "/v1/rewards/cup".into()).await;
            assert_eq!(cup["stock"], 0, "{cup}");
            let tb = get(a.base.clone(), "/v1/reports/points/trial-balance?verify=true".into()).await;
            assert_eq!((tb["total"].clone(), tb["entries_total"].clone()), (json!(0), json!(0)), "{tb}");
            assert_eq!(tb["mismatched_accounts"], json!([]), "{tb}");
            assert_eq!(tb["mismatched_days"], json!([]), "{tb}");
        });
    }
}

/// Coupons, flash sales and the lottery through two server processes on one database:
/// 40 issues at once of a coupon with a budget of 7 codes issue exactly 7, one code
/// redeemed on 20 orders at once is redeemed once, 40 claims at once of a sale of 7 units
/// sell 7, 40 draws of a prize with 5 in stock win 5, 11 friends joining a group of
/// four at once get 3 in, and a shared link's milestone reached by 30 reads at once pays
/// once.
#[test]
fn two_servers_never_pass_a_budget_redeem_a_code_twice_or_oversell_a_stock() {
    let dir = tempfile::tempdir().unwrap();
    let admin = "coupon-race-admin-key-0123456789";
    for test_db in flywheel_testkit::databases_blocking() {
        let db = test_db.url.clone();
        let a = Server::start(dir.path(), &db, admin);
        let b = Server::start(dir.path(), &db, admin);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let http = flywheel_testkit::http();
            let post = |base: &str, path: &str, body: Value| {
                http.post(format!("{base}{path}"))
                    .bearer_auth(admin)
                    .json(&body)
                    .send()
            };
            let r = post(
                &a.base,
                "/v1/events",
                event("coupon-m", 1, "register", json!({"phone": "13812345679"}), json!({})),
            )
            .await
            .unwrap();
            let member = r.json::<Value>().await.unwrap()["member_id"].clone();
            let r = post(&b.base, "/v1/coupons", json!({"id": "race", "name": "Race", "kind": "amount_off",
                "amount": "5.00", "valid_days": 7, "budget_count": 7}))
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            // Fires every body at once, alternating servers; answers (status, code) pairs.
            let race = |path: &str, bodies: Vec<Value>| {
                let tasks: Vec<_> = bodies
                    .into_iter()
                    .enumerate()
                    .map(|(i, body)| {
                        let base = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
                        let (http, url) = (http.clone(), format!("{base}{path}"));
                        tokio::spawn(async move {
                            let r = http
                                .post(url)
                                .bearer_auth(admin)
                                .json(&body)
                                .send()
                                .await
                                .unwrap();
                            (r.status().as_u16(), r.json::<Value>().await.unwrap())
                        })
                    })
                    .collect();
                async move {
                    let mut answers = Vec::new();
                    for t in tasks {
                        answers.push(t.await.unwrap());
                    }
                    answers
                }
            };
            let issued = race(
                "/v1/coupons/race/issue",
                (0..40)
                    .map(|i| json!({"member_id": member, "idempotency_key": format!("k-{i}")}))
                    .collect(),
            )
            .await;
            let codes: Vec<String> = issued
                .iter()
                .filter(|(s, _)| *s == 201)
                .map(|(_, b)| b["code"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(codes.len(), 7, "{db}: {issued:?}");
            for (status, body) in &issued {
                assert!(
                    *status == 201 || (*status == 409 && body["error"]["code"] == "coupon_budget_spent"),
                    "{db}: {status} {body}"
                );
            }
            let redeemed = race(
                "/v1/coupons/redeem",
                (0..20)
                    .map(|i| json!({"code": codes[0], "member_id": member, "order_id": format!("R-{i}"), "amount": "30.00"}))
                    .collect(),
            )
            .await;
            let won = redeemed.iter().filter(|(s, _)| *s == 200).count();
            assert_eq!(won, 1, "{db}: {redeemed:?}");
            for (status, body) in &redeemed {
                assert!(
                    *status == 200 || (*status == 409 && body["error"]["code"] == "coupon_used"),
                    "{db}: {status} {body}"
                );
            }
            let coupon = http
                .get(format!("{}/v1/coupons/race", a.base))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            assert_eq!(
                (coupon["issued"].clone(), coupon["redeemed"].clone(), coupon["granted"].clone()),
                (json!(7), json!(1), json!("5.00")),
                "{db}: {coupon}"
            );
            // A flash sale of 7 units, 40 claims at once over both servers: 7 sold.
            let now = chrono::Utc::now();
            let r = post(&a.base, "/v1/flash-sales", json!({"id": "race", "name": "Race", "price": {"cash": "1.00"},
                "stock": 7, "starts_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
                "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339(), "per_member_limit": 100}))
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let claims = race(
                "/v1/flash-sales/race/claims",
                (0..40)
                    .map(|i| json!({"member_id": member, "idempotency_key": format!("f-{i}")}))
                    .collect(),
            )
            .await;
            let sold = claims.iter().filter(|(s, _)| *s == 201).count();
            assert_eq!(sold, 7, "{db}: {claims:?}");
            for (status, body) in &claims {
                assert!(
                    *status == 201 || (*status == 409 && body["error"]["code"] == "sold_out"),
                    "{db}: {status} {body}"
                );
            }
            // A lottery whose one prize always wins, 5 in stock: 40 draws win 5.
            let r = post(&b.base, "/v1/lotteries", json!({"id": "race", "name": "Race", "cost_points": 0,
                "daily_limit": 100, "prizes": [{"id": "cup", "name": "Cup", "chance": 10000, "stock": 5}]}))
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let draws = race(
                "/v1/lotteries/race/draws",
                (0..40)
                    .map(|i| json!({"member_id": member, "idempotency_key": format!("l-{i}")}))
                    .collect(),
            )
            .await;
            let won = draws.iter().filter(|(_, d)| d["outcome"] == "won").count();
            let empty = draws.iter().filter(|(_, d)| d["outcome"] == "out_of_stock").count();
            assert_eq!((won, empty), (5, 35), "{db}: {draws:?}");
            // A group-buy of 4: a leader and 11 friends joining at once get 3 in.
            let mut friends = Vec::new();
            for i in 0..12i64 {
                let r = post(
                    &a.base,
                    "/v1/events",
                    event(&format!("gb-{i}"), 2 + i, "register", json!({"phone": format!("139100000{i:02}")}), json!({})),
                )
                .await
                .unwrap();
                friends.push(r.json::<Value>().await.unwrap()["member_id"].clone());
            }
            let r = post(&b.base, "/v1/fission-campaigns", json!({"id": "race", "name": "Race", "kind": "group_buy",
                "size": 4, "group_price": "9.90", "starts_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
                "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339()}))
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let round = post(&a.base, "/v1/fission-campaigns/race/rounds",
                json!({"member_id": friends[0], "idempotency_key": "gb-open"}))
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            let path = format!("/v1/fission-rounds/{}/joins", round["id"].as_str().unwrap());
            let joins = race(&path, friends[1..].iter().map(|m| json!({"member_id": m})).collect()).await;
            let joined = joins.iter().filter(|(s, _)| *s == 201).count();
            assert_eq!(joined, 3, "{db}: {joins:?}");
            for (status, body) in &joins {
                assert!(
                    *status == 201 || (*status == 409 && body["error"]["code"] == "round_closed"),
                    "{db}: {status} {body}"
                );
            }
            // A shared link read 30 times at once over both servers: its milestone of 5
            // clicks pays once.
            let rules = http
                .get(format!("{}/v1/points/rules", a.base))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            let mut set = rules["rules"].clone();
            set.as_array_mut().unwrap().push(json!({"id": "race-clicks", "trigger": "share_milestone",
                "conditions": {"milestone": {"measure": "clicks", "at": 5}}, "award": {"points": 7}}));
            let r = http
                .put(format!("{}/v1/points/rules", b.base))
                .bearer_auth(admin)
                .json(&json!({"rules": set, "effective_from": "2026-01-01T00:00:00Z"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let link = post(&a.base, "/v1/share-links", json!({"member_id": member,
                "url": "https://shop.example/race", "idempotency_key": "race-share"}))
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            let token = link["token"].as_str().unwrap().to_owned();
            let browser = flywheel_testkit::http_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let visits: Vec<_> = (0..30)
                .map(|i| {
                    let base = if i % 2 == 0 { &a.base } else { &b.base };
                    browser.get(format!("{base}/s/{token}")).send()
                })
                .collect();
            for r in futures_util::future::join_all(visits).await {
                assert_eq!(r.unwrap().status(), 302);
            }
            let ledger = http
                .get(format!("{}/v1/members/{member}/points/ledger?limit=500", b.base))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            let paid: Vec<&Value> = ledger["entries"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["rule_id"] == "race-clicks")
                .collect();
            assert_eq!(paid.len(), 1, "{db}: {ledger}");
            assert_eq!(paid[0]["amount"], 7, "{db}: {ledger}");
        });
    }
}

/// Two servers on one database, each keeping members in memory, take turns with the
/// same members: each sees what the other wrote (a commit by the other process moves the
/// write generation on, which empties the cache it made stale), so no event is lost.
#[test]
fn two_servers_with_member_caches_see_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let admin = "cache-test-admin-key-0123456789";
    std::fs::write(
        dir.path().join("cache.toml"),
        "[server]\ncache_members = 1000\n",
    )
    .unwrap();
    for test_db in flywheel_testkit::databases_blocking() {
        let db = test_db.url.clone();
        let a = Server::start_with_config(dir.path(), &db, admin, Some("cache.toml"));
        let b = Server::start_with_config(dir.path(), &db, admin, Some("cache.toml"));
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let http = flywheel_testkit::http();
            // Three members, twelve purchases each, sent one after another to the two
            // servers in turn: every purchase lands on a member the other server wrote last.
            let mut members = BTreeSet::new();
            for i in 0..36 {
                let base = if i % 2 == 0 { &a.base } else { &b.base };
                let phone = format!("1380013800{}", i % 3);
                let body = event(
                    &format!("turn-{i}"),
                    1,
                    "purchase",
                    json!({"phone": phone}),
                    json!({"order_id": format!("T-{i}"), "amount": "10.00"}),
                );
                let r = http
                    .post(format!("{base}/v1/events"))
                    .bearer_auth(admin)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let answer: Value = r.json().await.unwrap();
                assert!(answer["member_id"].is_i64(), "{answer}");
                members.insert(answer["member_id"].as_i64().unwrap());
            }
            assert_eq!(members.len(), 3, "{members:?}");
            for (member, base) in members.iter().zip([&a.base, &b.base, &a.base]) {
                let m: Value = http
                    .get(format!("{base}/v1/members/{member}"))
                    .bearer_auth(admin)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(m["facts"]["purchase_count"], 12, "{m}");
                assert_eq!(m["facts"]["total_spent"], "120.00", "{m}");
            }
        });
    }
}

/// The README's tour, run as written (by bash and curl) against a demo server: each
/// answer says what the text says it does, whatever day the test runs.
#[test]
fn the_readme_tour_answers_as_the_text_says() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let tour = &readme[readme.find("## A short tour").unwrap()..];
    let tour = &tour[..tour[3..].find("\n## ").unwrap() + 3];
    // Logical commands: a line that starts one, with the indented lines that continue it.
    let mut commands: Vec<String> = Vec::new();
    let mut in_sh = false;
    for line in tour.lines() {
        match line {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            _ if !in_sh || line.starts_with('#') || line.is_empty() => {}
            _ if line.starts_with(' ') => {
                commands.last_mut().unwrap().push_str(&format!("\n{line}"))
            }
            _ => commands.push(line.to_owned()),
        }
    }
    let curls: Vec<&String> = commands.iter().filter(|c| c.starts_with("curl")).collect();
    assert!(curls.len() >= 25, "{commands:?}");
    assert!(
        !curls.iter().any(|c| c.contains("\"occurred_at\": \"20")),
        "the tour's events carry fixed dates"
    );

    let dir = tempfile::tempdir().unwrap();
    let key = "demo-admin-key-please-change";
    let (ok, _, err) = run(flywheel(dir.path()).args([
        "demo",
        "--members",
        "200",
        "--no-serve",
        "--db",
        "sqlite://tour.db",
    ]));
    assert!(ok, "{err}");
    let server = Server::start(dir.path(), "sqlite://tour.db", key);
    let host = server.base.trim_start_matches("http://").to_owned();
    // The set-up lines (the key, the tour's dates) run once, as a reader types them
    // once: re-running `date` before each command could move a timestamp by a second
    // and turn the resent event into a different one.
    let setup: String = commands
        .iter()
        .filter(|c| !["curl", "awk", "cargo"].iter().any(|p| c.starts_with(p)))
        .map(|c| format!("{c}\n"))
        .collect();
    let names: Vec<&str> = setup
        .split_whitespace()
        .filter_map(|word| word.split_once('=').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
        .collect();
    let (ok, setup, err) = run(Command::new("bash").current_dir(dir.path()).args([
        "-c",
        &format!("set -a\n{setup}declare -px {}", names.join(" ")),
    ]));
    assert!(ok, "{err}");
    let mut id = String::new();
    let mut answers: Vec<(String, Value)> = Vec::new();
    for command in &commands {
        if command.starts_with("curl") {
            let command = command
                .replace("localhost:8080", &host)
                .replace("/ID/", &format!("/{id}/"))
                .replace("/ID ", &format!("/{id} "))
                .replace(": ID,", &format!(": {id},"));
            let (ok, out, err) = run(Command::new("bash")
                .current_dir(dir.path())
                .args(["-c", &format!("{setup}\n{command}")]));
            assert!(ok, "{command}: {err}");
            let answer: Value = serde_json::from_str(&out).unwrap_or(Value::String(out));
            if command.contains("members/lookup") {
                id = answer["id"].to_string();
            }
            answers.push((command, answer));
        }
    }
    let answer = |needle: &str| -> &Value {
        &answers
            .iter()
            .find(|(c, _)| c.contains(needle))
            .unwrap_or_else(|| panic!("no tour command with {needle}"))
            .1
    };
    let (one, two, three) = (answer("tour-1"), answer("tour-2"), answer("tour-3"));
    assert_eq!(one["member_id"], two["member_id"], "{one} {two}");
    assert_ne!(one["member_id"], three["member_id"], "{three}");
    let found = answer("members/lookup");
    assert_eq!(found["merged_from"], json!([three["member_id"]]), "{found}");
    let resent = answers
        .iter()
        .filter(|(c, _)| c.contains("tour-3"))
        .nth(1)
        .unwrap();
    assert_eq!(resent.1["duplicate"], true, "{}", resent.1);
    let bad = answer("tour-5");
    assert_eq!(
        bad["error"]["details"].as_array().unwrap().len(),
        4,
        "{bad}"
    );
    let points = answers
        .iter()
        .find(|(c, _)| c.contains("/points ") || c.ends_with("/points"))
        .map(|(_, a)| a)
        .unwrap();
    assert_eq!(
        (points["pending"].clone(), points["balance"].clone()),
        (json!(59), json!(6)),
        "{points}"
    );
    assert_eq!(answer("tour-r1")["points"], 5);
    assert_eq!(answer("tour-x1")["error"]["code"], "insufficient_points");
    assert_eq!(answer("trial-balance")["total"], 0);
    assert_eq!(answer("tour-m1")["tier"], "V1", "{}", answer("tour-m1"));
    let held = &answers
        .iter()
        .find(|(c, _)| c.contains("/members/") && c.contains("/memberships"))
        .unwrap()
        .1;
    assert!(
        held["memberships"][0]["progress"]["sentence"]
            .as_str()
            .is_some_and(|s| s.starts_with("spend 5,000.00 more by ")),
        "{held}"
    );
    assert_eq!(answer("tour-b1")["remaining"], 1, "{}", answer("tour-b1"));
    let card = answer("/card");
    assert_eq!(card["tiers"][0]["tier"], "V1", "{card}");
    assert!(card["phone"].as_str().unwrap().contains("****"), "{card}");
    assert_eq!(
        answer("notices?")["notices"][0]["kind"],
        "benefit_removed",
        "{}",
        answer("notices?")
    );
    assert!(answer("reports/memberships")["programmes"].is_array());
    let segments = answer("/v1/segments ");
    assert!(
        segments["segments"].as_array().unwrap().len() >= 8,
        "{segments}"
    );
    assert!(
        answer("segments/preview")["count"].as_i64().is_some(),
        "{}",
        answer("segments/preview")
    );
    let tagged = answer("/tags -d");
    assert_eq!(tagged["tags"][0]["tag"], "diet:vegetarian", "{tagged}");
    let defined = answer("tour-veg\", \"name");
    assert!(defined["count"].as_i64().unwrap() >= 1, "{defined}");
    let mine = answer("with when and why he entered");
    let ids: Vec<&str> = mine["segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"tour-veg") && ids.contains(&"bought_last_month"),
        "{mine}"
    );
    assert_eq!(answer("tour-veg/changes")["changes"][0]["cause"], "fill");
    assert!(answer("/v1/tags ")["dimensions"].as_array().unwrap().len() >= 3);
    let bad = &answers
        .iter()
        .rev()
        .find(|(c, _)| c.contains("segments/preview"))
        .unwrap()
        .1;
    assert_eq!(
        (
            bad["error"]["line"].as_i64(),
            bad["error"]["column"].as_i64()
        ),
        (Some(1), Some(10)),
        "{bad}"
    );
    assert!(answer("scores/recompute")["members"].as_u64().unwrap() >= 200);
    let overview = answer("stats/overview");
    assert!(overview["members"].as_i64().unwrap() >= 200, "{overview}");
    assert_eq!(
        answer("stage-flows?months=12")["months"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    let link = answer("card-link");
    assert!(link["url"].as_str().unwrap().contains("/card/"), "{link}");
}

/// The same stream imported at the same instant gives the same canonical dump on every
/// database: what the engine decides does not depend on the backend. With the demo's
/// programmes defined, that includes the tiers its purchases and spend move.
#[test]
fn the_demo_stream_dumps_the_same_on_every_database_whatever_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    export_demo_stream(dir.path());
    let as_of = "2026-10-02T00:00:00Z";
    // The member cache as by default (on SQLite: on), off, so small in members that it
    // evicts after every batch, and small in bytes; batches
    // of 100, 1 and 1,000 events: the tables come out the same. (Batch boundaries
    // matter to member ids unless a batch gives back the ids it reserved and left
    // unused.) A batch is one transaction however many days it spans, each day's
    // group and the clock's sweeps before it a savepoint inside; batches of one event
    // hold no day across another, so the others must match them.
    let runs = [
        ("cache as by default", "", "100"),
        ("cache off", "[server]\ncache_members = 0\n", "100"),
        ("cache of 20", "[server]\ncache_members = 20\n", "1"),
        ("cache of 1 MiB", "[server]\ncache_mib = 1\n", "1000"),
    ];
    let mut dumps: Vec<(String, String)> = Vec::new();
    for (test_db, (cache, config, batch)) in runs.into_iter().flat_map(|c| {
        flywheel_testkit::databases_blocking()
            .map(move |db| (db, c))
            .collect::<Vec<_>>()
    }) {
        let db = test_db.url.clone();
        std::fs::write(dir.path().join("cache.toml"), config).unwrap();
        // The demo brand without its people: its programmes, so the stream's purchases
        // and spend move tiers as the import goes.
        let (ok, _, err) = run(flywheel(dir.path()).args([
            "demo",
            "--members",
            "0",
            "--end",
            "2026-10-01",
            "--no-serve",
            "--db",
            &db,
        ]));
        assert!(ok, "{err}");
        let (ok, out, err) = run(flywheel(dir.path()).args([
            "import",
            "s.jsonl",
            "--as-of",
            as_of,
            "--batch-size",
            batch,
            "--config",
            "cache.toml",
            "--db",
            &db,
        ]));
        assert!(ok && out.contains("0 rejected"), "{out}{err}");
        let (ok, dump, err) = run(flywheel(dir.path()).args(["dump", "--canonical", "--db", &db]));
        assert!(ok, "{err}");
        assert!(dump.lines().count() > 5_000, "{}", dump.lines().count());
        assert!(dump.contains("\"table\":\"points_entries\""));
        for rule in ["purchase", "qualify"] {
            assert!(
                dump.contains(&format!("\"rule\":\"{rule}\"")),
                "the stream moves tiers by {rule}"
            );
        }
        // A lot never holds more than was credited to it (points joining a live lot
        // raise both).
        for line in dump
            .lines()
            .filter(|l| l.contains("\"table\":\"points_lots\""))
        {
            let lot: Value = serde_json::from_str(line).unwrap();
            let (points, left) = (&lot["row"]["points"], &lot["row"]["remaining"]);
            assert!(points.as_i64() >= left.as_i64(), "{line}");
        }
        let (_, again, _) = run(flywheel(dir.path()).args(["dump", "--canonical", "--db", &db]));
        assert!(again == dump, "two dumps of one database differ");
        dumps.push((
            format!("{} with the {cache}, batches of {batch}", test_db.name()),
            dump,
        ));
    }
    for (name, dump) in &dumps[1..] {
        let first = &dumps[0].1;
        if let Some((a, b)) = first.lines().zip(dump.lines()).find(|(a, b)| a != b) {
            panic!("{} and {name} differ:\n{a}\n{b}", dumps[0].0);
        }
        assert_eq!(first.lines().count(), dump.lines().count(), "{name}");
    }
}

/// Imported history is judged at its own time: a file in time order dates each stage
/// change when it happened — a silence crossing its limit included, at the instant it
/// crossed — whereas a file out of order is judged at the present from the first line
/// that breaks the order (and the summary says so); `--sort` replays it as if in order.
#[test]
fn imported_history_in_time_order_dates_stage_changes_when_they_happened() {
    let dir = tempfile::tempdir().unwrap();
    let who = json!({"phone": "13800138111"});
    let lines = [
        event(
            "h1",
            400,
            "register",
            who.clone(),
            json!({"name": "Zhao Min"}),
        ),
        event(
            "h2",
            399,
            "purchase",
            who.clone(),
            json!({"order_id": "H1", "amount": "30.00"}),
        ),
        event("h3", 10, "like", who, json!({})),
    ];
    let in_order: Vec<String> = lines.iter().map(Value::to_string).collect();
    let reversed: Vec<String> = in_order.iter().rev().cloned().collect();
    std::fs::write(dir.path().join("in-order.jsonl"), in_order.join("\n")).unwrap();
    std::fs::write(dir.path().join("reversed.jsonl"), reversed.join("\n")).unwrap();
    let as_of = chrono::Utc::now().to_rfc3339();
    let import = |file: &str, db: &str, sort: bool| {
        let mut args = vec!["import", file, "--as-of", &as_of, "--db", db];
        if sort {
            args.push("--sort");
        }
        let (ok, out, err) = run(flywheel(dir.path()).args(&args));
        assert!(ok, "{out}{err}");
        out
    };
    let transitions = |db: &str| -> Vec<Value> {
        let (ok, dump, err) = run(flywheel(dir.path()).args(["dump", "--canonical", "--db", db]));
        assert!(ok, "{err}");
        dump.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["table"] == "stage_transitions")
            .map(|v| v["row"].clone())
            .collect()
    };
    let dump = |db: &str| run(flywheel(dir.path()).args(["dump", "--canonical", "--db", db])).1;

    let out = import("in-order.jsonl", "sqlite://a.db", false);
    assert!(out.contains("history in time order"), "{out}");
    let history = transitions("sqlite://a.db");
    // A year without a purchase or an interaction drops the member to none: dated when
    // the year ran out, not when the import ran.
    let silence = history
        .iter()
        .find(|t| t["rule"] == "cap:silent_365d")
        .unwrap_or_else(|| panic!("no silence cap in {history:?}"));
    let bought =
        flywheel_core::time::parse_rfc3339(lines[1]["occurred_at"].as_str().unwrap()).unwrap();
    let crossed = silence["at"].as_i64().unwrap();
    let limit = bought + 365 * flywheel_core::time::DAY;
    assert!(
        crossed > limit && crossed - limit < flywheel_core::time::DAY,
        "the silence is dated when it crossed 365 days: {crossed} vs {limit}"
    );
    let first = &history[0];
    assert_eq!(first["event_id"], "h1");
    let registered =
        flywheel_core::time::parse_rfc3339(lines[0]["occurred_at"].as_str().unwrap()).unwrap();
    assert_eq!(first["at"].as_i64().unwrap(), registered);

    let out = import("reversed.jsonl", "sqlite://b.db", false);
    assert!(
        out.contains("line 2 is earlier than a line before it"),
        "{out}"
    );
    // Its first line was in order (and judged at its time); the older lines after it
    // were judged at the present, so no change is dated back in the history.
    let liked =
        flywheel_core::time::parse_rfc3339(lines[2]["occurred_at"].as_str().unwrap()).unwrap();
    let dated = transitions("sqlite://b.db");
    assert!(
        dated.iter().all(|t| t["at"].as_i64().unwrap() >= liked),
        "out of order: judged at the present: {dated:?}"
    );

    let out = import("reversed.jsonl", "sqlite://c.db", true);
    assert!(out.contains("history in time order"), "{out}");
    assert_eq!(
        dump("sqlite://c.db"),
        dump("sqlite://a.db"),
        "--sort replays it in order"
    );
}
