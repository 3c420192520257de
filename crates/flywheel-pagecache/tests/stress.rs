//! SQLite through the layer under a workload that grows, splits, shrinks back and
//! re-reads its pages: random inserts, updates and deletes of rows small and large
//! (overflow pages), transactions committed or rolled back, savepoints rolled back,
//! caches big and small, and a second connection reading between commits. The tables
//! must equal a model kept beside them, the database must pass its integrity check, and
//! the layer must have spared SQLite some of its scans — or the test proves nothing.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{Connection, Row, SqliteConnection};
use std::collections::BTreeMap;

/// Each row's key, then its value's length and checksum, and its number.
type Model = BTreeMap<String, (usize, u64, i64)>;

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

async fn run(cache_pages: i64, seed: u64) {
    assert!(
        flywheel_pagecache::install(),
        "the layer goes in before any connection opens"
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let mut writer = SqliteConnection::connect(&url).await.unwrap();
    // The cache size is this test's own number.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "PRAGMA journal_mode = WAL; PRAGMA cache_size = {cache_pages};
         CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB NOT NULL, n INTEGER NOT NULL);
         CREATE INDEX t_n ON t (n);"
    )))
    .execute(&mut writer)
    .await
    .unwrap();
    let mut reader = SqliteConnection::connect(&url).await.unwrap();

    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::new();
    for round in 0..400 {
        let mut work = model.clone();
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut writer)
            .await
            .unwrap();
        let savepoint = rng.random_range(0..5) == 0;
        let mut kept = work.clone();
        for op in 0..rng.random_range(0..80) + 1 {
            if savepoint && op == 10 {
                sqlx::raw_sql("SAVEPOINT s")
                    .execute(&mut writer)
                    .await
                    .unwrap();
                kept = work.clone();
            }
            apply(&mut writer, &mut work, &mut rng).await;
        }
        if savepoint {
            // Opened at the tenth operation, if the transaction reached it.
            let opened = sqlx::raw_sql("ROLLBACK TO s").execute(&mut writer).await;
            if opened.is_ok() {
                work = kept;
                // Write again after the rollback, so the pages it dropped are made anew.
                apply(&mut writer, &mut work, &mut rng).await;
            }
        }
        if rng.random_range(0..3) == 0 {
            sqlx::raw_sql("ROLLBACK")
                .execute(&mut writer)
                .await
                .unwrap();
        } else {
            sqlx::raw_sql("COMMIT").execute(&mut writer).await.unwrap();
            model = work;
        }
        if round % 25 == 0 {
            assert_eq!(read(&mut reader).await, model, "the reader, round {round}");
        }
    }
    assert_eq!(read(&mut writer).await, model, "the writer");
    assert_eq!(read(&mut reader).await, model, "the reader");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut writer)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    assert!(
        flywheel_pagecache::truncates_skipped().is_some_and(|n| n > 0),
        "commits went through the layer"
    );
}

/// One random insert, update or delete, in the database and in the model.
async fn apply(conn: &mut SqliteConnection, model: &mut Model, rng: &mut StdRng) {
    let size = match rng.random_range(0..10) {
        0 => 4_000 + rng.random_range(0..9_000),
        _ => 20 + rng.random_range(0..600),
    } as usize;
    let value: Vec<u8> = (0..size).map(|_| rng.random::<u8>()).collect();
    let n = rng.random_range(0..1_000_000i64);
    if model.is_empty() || rng.random_range(0..3) > 0 {
        let key = format!("{:016x}", rng.random::<u64>());
        sqlx::query("INSERT OR REPLACE INTO t (k, v, n) VALUES (?, ?, ?)")
            .bind(&key)
            .bind(&value)
            .bind(n)
            .execute(&mut *conn)
            .await
            .unwrap();
        model.insert(key, (value.len(), checksum(&value), n));
        return;
    }
    let key = model
        .keys()
        .nth(rng.random_range(0..model.len()))
        .unwrap()
        .clone();
    if rng.random_range(0..2) == 0 {
        sqlx::query("DELETE FROM t WHERE k = ?")
            .bind(&key)
            .execute(&mut *conn)
            .await
            .unwrap();
        model.remove(&key);
    } else {
        sqlx::query("UPDATE t SET v = ?, n = ? WHERE k = ?")
            .bind(&value)
            .bind(n)
            .bind(&key)
            .execute(&mut *conn)
            .await
            .unwrap();
        model.insert(key, (value.len(), checksum(&value), n));
    }
}

async fn read(conn: &mut SqliteConnection) -> Model {
    sqlx::query("SELECT k, v, n FROM t ORDER BY k")
        .fetch_all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let value: Vec<u8> = r.get(1);
            (r.get(0), (value.len(), checksum(&value), r.get(2)))
        })
        .collect()
}

#[tokio::test]
async fn a_small_cache_that_evicts_pages_keeps_the_tables_whole() {
    run(20, 0x51ce_0a11).await;
}

#[tokio::test]
async fn a_large_cache_that_keeps_every_page_keeps_the_tables_whole() {
    run(-64 * 1024, 0x0b16_cafe).await;
}
