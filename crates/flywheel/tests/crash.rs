//! Crashes at chosen moments (`FLYWHEEL_CRASH_AT`; the points are listed in the store's
//! `crash.rs`): an import that aborts anywhere and is run again leaves exactly the tables
//! of an import that never crashed, on every database — nothing committed is lost,
//! nothing is applied twice, nothing half-written survives.

mod common;

use common::{export_demo_stream, flywheel, run};
use std::path::Path;

const AS_OF: &str = "2026-10-02T00:00:00Z";

/// Imports `file` at [`AS_OF`] in batches of 50, aborting at `crash` if given; returns
/// whether it succeeded and what it printed. Written behind when `flush_rows` is given.
fn import(dir: &Path, db: &str, file: &str, crash: Option<&str>) -> (bool, String) {
    import_with(dir, db, file, crash, None)
}

fn import_with(
    dir: &Path,
    db: &str,
    file: &str,
    crash: Option<&str>,
    flush_rows: Option<usize>,
) -> (bool, String) {
    let mut cmd = flywheel(dir);
    if let Some(rows) = flush_rows {
        cmd.env("FLYWHEEL_WRITE_BEHIND", "1")
            .env("FLYWHEEL_FLUSH_ROWS", rows.to_string());
    }
    cmd.args([
        "import",
        file,
        "--as-of",
        AS_OF,
        "--batch-size",
        "50",
        "--db",
        db,
    ]);
    if let Some(point) = crash {
        cmd.env("FLYWHEEL_CRASH_AT", point);
    }
    let (ok, out, err) = run(&mut cmd);
    (ok, out + &err)
}

fn dump(dir: &Path, db: &str) -> String {
    let (ok, dump, err) = run(flywheel(dir).args(["dump", "--canonical", "--db", db]));
    assert!(ok, "{err}");
    dump
}

/// Panics with the first differing line unless `after` is the `reference` dump.
fn assert_same_tables(reference: &str, after: &str, what: &str) {
    if let Some((a, b)) = reference.lines().zip(after.lines()).find(|(a, b)| a != b) {
        panic!("after {what} the tables differ from a run that never crashed:\n{a}\n{b}");
    }
    assert_eq!(reference.lines().count(), after.lines().count(), "{what}");
}

/// The number printed before " duplicates" in an import's summary.
fn duplicates(summary: &str) -> u64 {
    let before = summary
        .split(" duplicates")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok());
    before.unwrap_or_else(|| panic!("no duplicate count in {summary}"))
}

#[test]
fn an_import_that_crashes_anywhere_and_runs_again_leaves_the_tables_of_one_that_did_not() {
    let dir = tempfile::tempdir().unwrap();
    export_demo_stream(dir.path());
    let stream = std::fs::read_to_string(dir.path().join("s.jsonl")).unwrap();
    let half: Vec<&str> = stream.lines().take(700).collect();
    std::fs::write(dir.path().join("h.jsonl"), half.join("\n") + "\n").unwrap();

    let reference = {
        let db = flywheel_testkit::databases_blocking().next().unwrap();
        let (ok, out) = import(dir.path(), &db.url, "s.jsonl", None);
        assert!(ok && out.contains("0 rejected"), "{out}");
        dump(dir.path(), &db.url)
    };
    assert!(reference.lines().count() > 5_000);

    // Where each crash leaves the import: how many of its events the second run finds
    // already there (batches of 50; the third batch is where each ingest point fires).
    let cases = [
        ("ingest.mid_write:3", Some(100)),
        ("ingest.before_commit:3", Some(100)),
        // Committed, but nobody was told: the second run finds it there.
        ("ingest.after_commit:3", Some(150)),
        // The first checkpoint pass that finds something in the log, while an import
        // runs on top of the first 700 events (imported cleanly before).
        ("checkpoint.mid:1", None),
    ];
    for (crash, expected_duplicates) in cases {
        for test_db in flywheel_testkit::databases_blocking() {
            let db = test_db.url.as_str();
            let checkpoint = crash.starts_with("checkpoint");
            if checkpoint {
                // PostgreSQL keeps its own log; Flywheel checkpoints SQLite only.
                if test_db.name() != "sqlite" {
                    continue;
                }
                let (ok, out) = import(dir.path(), db, "h.jsonl", None);
                assert!(ok, "{out}");
            }
            let (ok, out) = import(dir.path(), db, "s.jsonl", Some(crash));
            assert!(
                !ok && out.contains("FLYWHEEL_CRASH_AT: aborting at"),
                "{crash} on {}: {out}",
                test_db.name()
            );
            let (ok, out) = import(dir.path(), db, "s.jsonl", None);
            assert!(ok && out.contains("0 rejected"), "{out}");
            match expected_duplicates {
                Some(n) => assert_eq!(duplicates(&out), n, "{crash}: {out}"),
                None => assert!(duplicates(&out) >= 700, "{crash}: {out}"),
            }
            let after = dump(dir.path(), db);
            assert_same_tables(
                &reference,
                &after,
                &format!("{crash} on {}", test_db.name()),
            );
        }
    }

    // Written behind, at flush sizes from every batch to every few: the crash loses
    // plans held in memory, the next start replays the event log's unapplied tail, and
    // the tables are those of the run that never crashed.
    let behind = [
        // Acknowledged (in the event log), rows in memory only.
        ("ingest.after_commit:10", 500),
        ("ingest.mid_write:7", 300),
        ("flush.mid_write:2", 0),
        ("flush.before_commit:3", 0),
        ("flush.after_commit:2", 0),
    ];
    for (flush_rows, (crash, expected_duplicates)) in
        [700, 5_000, 1, 3_000, 20_000].into_iter().zip(behind)
    {
        for test_db in flywheel_testkit::databases_blocking() {
            let db = test_db.url.as_str();
            let (ok, out) = import_with(dir.path(), db, "s.jsonl", Some(crash), Some(flush_rows));
            assert!(
                !ok && out.contains("FLYWHEEL_CRASH_AT: aborting at"),
                "{crash} written behind on {}: {out}",
                test_db.name()
            );
            let (ok, out) = import_with(dir.path(), db, "s.jsonl", None, Some(flush_rows));
            assert!(ok && out.contains("0 rejected"), "{out}");
            if expected_duplicates > 0 {
                assert_eq!(duplicates(&out), expected_duplicates, "{crash}: {out}");
            } else {
                assert!(duplicates(&out) >= 50, "{crash}: {out}");
            }
            let after = dump(dir.path(), db);
            let what = format!(
                "{crash} written behind (flush at {flush_rows} rows) on {}",
                test_db.name()
            );
            assert_same_tables(&reference, &after, &what);
        }
    }
}
