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
    import_as_of(dir, db, file, crash, flush_rows, AS_OF)
}

fn import_as_of(
    dir: &Path,
    db: &str,
    file: &str,
    crash: Option<&str>,
    flush_rows: Option<usize>,
    as_of: &str,
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
        as_of,
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
    // The first part of a history, imported as of its last event: the rest of the
    // stream then follows it in time.
    let half_as_of: String =
        serde_json::from_str::<serde_json::Value>(half[699]).unwrap()["occurred_at"]
            .as_str()
            .unwrap()
            .to_owned();

    let reference = {
        let db = flywheel_testkit::databases_blocking().next().unwrap();
        let (ok, out) = import(dir.path(), &db.url, "s.jsonl", None);
        assert!(ok && out.contains("0 rejected"), "{out}");
        dump(dir.path(), &db.url)
    };
    assert!(reference.lines().count() > 5_000);

    // Where each crash leaves the import: how many of its events the second run finds
    // already there. The history is in time order, so each batch of 50 is one held
    // transaction in which every day is a savepoint (a group, after the clock's sweeps).
    // Crashing while the third day is written — inside the first batch — or before the
    // third batch commits loses that batch whole; after its commit, the second run finds
    // it there.
    let cases = [
        ("ingest.mid_write:3", Some(())),
        ("ingest.before_commit:3", Some(())),
        ("held.before_commit:3", Some(())),
        ("held.after_commit:3", Some(())),
        // The first checkpoint pass that finds something in the log, while an import
        // runs on top of the first 700 events (imported cleanly before).
        ("checkpoint.mid:1", None),
    ];
    let mut found: Vec<(&str, &str, u64)> = Vec::new();
    for (crash, expected_duplicates) in cases {
        for test_db in flywheel_testkit::databases_blocking() {
            let db = test_db.url.as_str();
            let checkpoint = crash.starts_with("checkpoint");
            if checkpoint {
                // PostgreSQL keeps its own log; Flywheel checkpoints SQLite only.
                if test_db.name() != "sqlite" {
                    continue;
                }
                let (ok, out) = import_as_of(dir.path(), db, "h.jsonl", None, None, &half_as_of);
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
                Some(_) => found.push((crash, test_db.name(), duplicates(&out))),
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
    for backend in found
        .iter()
        .map(|f| f.1)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let at = |crash: &str| {
            found
                .iter()
                .find(|f| f.0 == crash && f.1 == backend)
                .map_or(0, |f| f.2)
        };
        let (mid, before, after) = (
            at("ingest.mid_write:3"),
            at("held.before_commit:3"),
            at("held.after_commit:3"),
        );
        assert_eq!(
            (mid, at("ingest.before_commit:3")),
            (0, 0),
            "a crash inside the first batch loses it whole: {found:?}"
        );
        assert_eq!(
            before, 100,
            "two batches committed before the crash, the third is lost whole: {found:?}"
        );
        assert_eq!(after, 150, "a committed batch is kept: {found:?}");
    }

    // Written behind, at flush sizes from every batch to every few: the crash loses
    // plans held in memory, the next start replays the event log's unapplied tail, and
    // the tables are those of the run that never crashed.
    // Each leaves acknowledged events (in the event log) that the second run finds there.
    let behind = [
        // Acknowledged, rows in memory only.
        "ingest.after_commit:10",
        "ingest.mid_write:7",
        "flush.mid_write:2",
        "flush.before_commit:3",
        "flush.after_commit:2",
    ];
    for (flush_rows, crash) in [700, 5_000, 1, 3_000, 20_000].into_iter().zip(behind) {
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
            assert!(duplicates(&out) > 0, "{crash}: {out}");
            let after = dump(dir.path(), db);
            let what = format!(
                "{crash} written behind (flush at {flush_rows} rows) on {}",
                test_db.name()
            );
            assert_same_tables(&reference, &after, &what);
        }
    }
}
