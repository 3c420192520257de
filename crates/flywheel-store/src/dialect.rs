//! The statements that differ between SQLite and PostgreSQL: reserving member ids,
//! row locks, and locks on identities that may not exist yet.

use crate::db::Backend;
use crate::sql::{Val, select_in};
use sqlx::{AnyConnection, Row};

/// Reserves `n` fresh member ids.
pub(crate) async fn reserve_member_ids(
    conn: &mut AnyConnection,
    backend: Backend,
    n: usize,
) -> Result<Vec<i64>, sqlx::Error> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let n = n as i64;
    match backend {
        // One writer at a time: a counter row is enough, and ids stay dense.
        Backend::Sqlite => {
            let row = sqlx::query("UPDATE id_counters SET next_value = next_value + $1 WHERE name = 'members' RETURNING next_value")
                .bind(n)
                .fetch_one(&mut *conn)
                .await?;
            let end: i64 = row.try_get("next_value")?;
            Ok((end - n..end).collect())
        }
        // nextval never waits for other transactions; concurrent batches get disjoint ids.
        Backend::Postgres => {
            let rows =
                sqlx::query("SELECT nextval('member_ids') AS id FROM generate_series(1, $1)")
                    .bind(n)
                    .fetch_all(&mut *conn)
                    .await?;
            rows.iter().map(|r| r.try_get::<i64, _>("id")).collect()
        }
    }
}

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
    let tail = match backend {
        Backend::Sqlite => "ORDER BY id",
        Backend::Postgres => "ORDER BY id FOR UPDATE",
    };
    select_in(
        conn,
        crate::rows::MEMBER_SELECT,
        ids.into_iter().map(Val::Int),
        tail,
    )
    .await
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
