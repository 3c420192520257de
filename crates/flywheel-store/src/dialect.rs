//! Everything that differs between SQLite and PostgreSQL once connected: row and table
//! locks, locks on identities that may not exist yet, the catalogue, how many writers
//! run at once, the write-ahead log, the engine's lease, reading JSON columns. The rest
//! of the store speaks one SQL (the segment compiler, `segments/sql.rs`, writes both its
//! own dialects); how each backend is connected and tuned is in `db.rs`.
//!
//! On SQLite one writer runs at a time (one writer connection, `BEGIN IMMEDIATE`), so
//! every lock below is a no-op there: holding the write transaction is the lock.

use crate::db::Backend;
use crate::error::StoreError;
use crate::sql::{Val, select_in};
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};

/// Locks identity keys for the rest of the transaction, so two batches naming the same
/// new identity cannot both create a member for it. A no-op on SQLite (one writer).
///
/// Keys are hashed into [`IDENTITY_LOCK_BUCKETS`] advisory locks rather than one lock
/// each: PostgreSQL keeps advisory locks in a shared table sized for a few thousand
/// (`max_locks_per_transaction` × connections), which a batch of thousands of events
/// would fill. Two keys sharing a bucket only make their batches take turns.
pub(crate) async fn lock_identity_keys(
    conn: &mut AnyConnection,
    backend: Backend,
    keys: &[String],
) -> Result<(), sqlx::Error> {
    if backend != Backend::Postgres || keys.is_empty() {
        return Ok(());
    }
    let mut buckets: Vec<u64> = keys
        .iter()
        .map(|k| fnv1a(k.as_bytes()) as u64 % IDENTITY_LOCK_BUCKETS)
        .collect();
    buckets.sort_unstable();
    buckets.dedup();
    // Taken in ascending order so two batches can never wait on each other in a cycle.
    // The two-integer form (first half 18007, "FW") keeps these apart from the
    // migrations' single-key lock.
    let list: Vec<String> = buckets.iter().map(u64::to_string).collect();
    sqlx::query(
        "SELECT count(pg_advisory_xact_lock(18007, b)) AS n FROM \
         (SELECT unnest(string_to_array($1, ','))::int AS b ORDER BY 1) AS buckets",
    )
    .bind(list.join(","))
    .fetch_one(&mut *conn)
    .await?;
    Ok(())
}

/// How many advisory locks identity keys are spread over.
const IDENTITY_LOCK_BUCKETS: u64 = 1024;

/// Loads member rows, locking them on PostgreSQL until the transaction ends.
pub(crate) async fn select_members_for_update(
    conn: &mut AnyConnection,
    backend: Backend,
    ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let tail = format!("ORDER BY id{}", row_lock(backend));
    select_in(
        conn,
        crate::rows::MEMBER_SELECT,
        ids.into_iter().map(Val::Int),
        &tail,
    )
    .await
}

/// Appended to a `SELECT` to lock its rows until the transaction ends.
pub(crate) fn row_lock(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    }
}

/// Appended to a `SELECT` to lock its rows, leaving out rows another transaction holds
/// (a sweep passes over them; their holder is bringing them up to date).
pub(crate) fn row_lock_skipping_held(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
    }
}

/// Locks the members of `ids` that no other transaction holds; answers those, in id order.
pub(crate) async fn lock_free_members(
    conn: &mut AnyConnection,
    backend: Backend,
    ids: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    if backend == Backend::Sqlite {
        return Ok(ids.to_vec());
    }
    let tail = format!("ORDER BY id{}", row_lock_skipping_held(backend));
    let rows = select_in(
        conn,
        "SELECT id FROM members WHERE id",
        ids.iter().map(|i| Val::Int(*i)),
        &tail,
    )
    .await?;
    rows.iter().map(|r| r.try_get::<i64, _>("id")).collect()
}

/// Keeps other writers of `table` out until the transaction ends (readers go on).
pub(crate) async fn lock_table(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &'static str,
) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        let sql = format!("LOCK TABLE {table} IN EXCLUSIVE MODE");
        sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Takes (or gives back) the session lock that lets one process at a time migrate.
pub(crate) async fn migration_lock(
    conn: &mut AnyConnection,
    backend: Backend,
    take: bool,
) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        let sql = if take {
            "SELECT pg_advisory_lock(7244173)"
        } else {
            "SELECT pg_advisory_unlock(7244173)"
        };
        sqlx::query(sql).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The schema's tables, by name: `t`.
pub(crate) fn tables_query(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT name AS t FROM sqlite_master WHERE type = 'table' ORDER BY name",
        Backend::Postgres => {
            "SELECT table_name::text AS t FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
    }
}

/// Every text column of the schema's tables: `t` (table), `c` (column).
pub(crate) fn text_columns_query(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND upper(p.type) = 'TEXT' ORDER BY 1, 2"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() AND data_type = 'text' ORDER BY 1, 2"
        }
    }
}

/// How many write transactions are worth running at once: one on SQLite (it has one
/// writer anyway); on PostgreSQL, groups touching different members commit in parallel.
pub(crate) fn parallel_writers(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 4,
    }
}

/// Empties SQLite's write-ahead log, so old page images leave the files; None where
/// there is no such log to empty. `Some(false)`: a reader held it, nothing was cut.
pub(crate) async fn truncate_write_ahead_log(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<Option<bool>, sqlx::Error> {
    if backend != Backend::Sqlite {
        return Ok(None);
    }
    let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut *conn)
        .await?;
    Ok(Some(row.try_get::<i64, _>(0)? == 0))
}

/// The statement that starts a write transaction.
pub(crate) fn begin_write(backend: Backend) -> &'static str {
    match backend {
        // Take the write lock up front, so a read-then-write never fails half way.
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    }
}

/// FNV-1a, 64-bit: a stable hash for advisory-lock keys.
fn fnv1a(bytes: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// A whole number kept under `key` of the JSON text in `column`, 0 when it is missing.
/// (`key` is one of ours, never a caller's: it goes into the SQL as it is.)
pub(crate) fn json_int(backend: Backend, column: &str, key: &str) -> String {
    match backend {
        Backend::Sqlite => format!("COALESCE(json_extract({column}, '$.{key}'), 0)"),
        Backend::Postgres => format!("COALESCE(({column}::jsonb->>'{key}')::bigint, 0)"),
    }
}

/// A whole number kept under `key` of the JSON text in `column`, NULL when missing.
pub(crate) fn json_int_or_null(backend: Backend, column: &str, key: &str) -> String {
    match backend {
        Backend::Sqlite => format!("json_extract({column}, '$.{key}')"),
        Backend::Postgres => format!("({column}::jsonb->>'{key}')::bigint"),
    }
}

/// The text kept under `key` of the JSON text in `column`, NULL when missing or empty.
pub(crate) fn json_text(backend: Backend, column: &str, key: &str) -> String {
    match backend {
        Backend::Sqlite => format!("NULLIF(json_extract({column}, '$.{key}'), '')"),
        Backend::Postgres => format!("NULLIF({column}::jsonb->>'{key}', '')"),
    }
}

/// Whether any count in the object under `key` of the JSON text in `column` is above
/// `above` (the facts' `skus`: how often each was bought).
pub(crate) fn json_any_count_above(
    backend: Backend,
    column: &str,
    key: &str,
    above: i64,
) -> String {
    match backend {
        Backend::Sqlite => format!(
            "EXISTS (SELECT 1 FROM json_each({column}, '$.{key}') e WHERE e.value > {above})"
        ),
        Backend::Postgres => format!(
            "EXISTS (SELECT 1 FROM jsonb_each_text(COALESCE({column}::jsonb->'{key}', '{{}}'::jsonb)) e \
             WHERE (e.value)::bigint > {above})"
        ),
    }
}

/// The type a value is cast to for floating-point arithmetic.
pub(crate) fn float_type(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "REAL",
        Backend::Postgres => "DOUBLE PRECISION",
    }
}

/// The query that names the database engine's version: the SQLite library linked into
/// this binary (bundled by `libsqlite3-sys`, not the system's), or the PostgreSQL server.
pub(crate) fn version_query(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
        Backend::Postgres => "SELECT 'PostgreSQL ' || current_setting('server_version')",
    }
}

/// The engine's lease (`engine.rs`), held for as long as this value lives: an exclusive
/// lock on `<database>-engine.lock` on SQLite, a session advisory lock on PostgreSQL
/// (the connection is kept out of the pool for it). Both end with the process.
pub(crate) enum Lease {
    File(#[allow(dead_code)] std::fs::File),
    Postgres(#[allow(dead_code)] AnyConnection),
    /// An in-memory SQLite database lives and dies with this process.
    InMemory,
}

/// The PostgreSQL advisory lock key of the lease ("flywheel" in ASCII, folded).
const LEASE_KEY: i64 = 0x666c_7977_6865_656c;

/// Takes the engine's lease if no other process holds it; None when one does.
pub(crate) async fn try_engine_lease(
    pool: &sqlx::AnyPool,
    backend: Backend,
    sqlite_path: Option<&str>,
) -> Result<Option<Lease>, StoreError> {
    match backend {
        Backend::Sqlite => {
            let Some(path) = sqlite_path else {
                return Ok(Some(Lease::InMemory));
            };
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(format!("{path}-engine.lock"))
                .map_err(|e| StoreError::Invalid(format!("the engine lease file: {e}")))?;
            match file.try_lock() {
                Ok(()) => Ok(Some(Lease::File(file))),
                Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                Err(std::fs::TryLockError::Error(e)) => {
                    Err(StoreError::Invalid(format!("the engine lease file: {e}")))
                }
            }
        }
        Backend::Postgres => {
            let mut conn = pool.acquire().await?.detach();
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(LEASE_KEY)
                .fetch_one(&mut conn)
                .await?;
            if !got {
                conn.close().await?;
                return Ok(None);
            }
            Ok(Some(Lease::Postgres(conn)))
        }
    }
}
