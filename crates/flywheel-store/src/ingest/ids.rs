//! Member ids for the members a batch creates: reserved from a counter row written in the
//! batch's transaction, the unused given back before it commits. The same SQL on both
//! databases (PostgreSQL's sequence was replaced in migration 11).

use sqlx::{AnyConnection, Row};

/// Reserves `n` fresh member ids, in ascending order: an upper bound on what a batch
/// may create. The counter row is part of the batch's transaction (on PostgreSQL its row
/// lock makes batches that create members take turns until they commit), so a batch
/// that rolls back or never commits hands out nothing, and [`give_back_member_ids`]
/// returns what one that commits left unused: a stream's members get the same ids
/// however it is cut into batches and wherever a crash interrupts it.
pub(crate) async fn reserve_member_ids(
    conn: &mut AnyConnection,
    n: usize,
) -> Result<Vec<i64>, sqlx::Error> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let n = n as i64;
    let row = sqlx::query("UPDATE id_counters SET next_value = next_value + $1 WHERE name = 'members' RETURNING next_value")
        .bind(n)
        .fetch_one(&mut *conn)
        .await?;
    let end: i64 = row.try_get("next_value")?;
    Ok((end - n..end).collect())
}

/// Gives back the ids a batch reserved and did not use: the highest it got, since new
/// members take them lowest first.
pub(crate) async fn give_back_member_ids(
    conn: &mut AnyConnection,
    unused: &[i64],
) -> Result<(), sqlx::Error> {
    let (Some(&first), Some(&last)) = (unused.iter().min(), unused.iter().max()) else {
        return Ok(());
    };
    debug_assert_eq!(
        last - first + 1,
        unused.len() as i64,
        "unused ids are a range"
    );
    sqlx::query(
        "UPDATE id_counters SET next_value = $1 WHERE name = 'members' AND next_value = $2",
    )
    .bind(first)
    .bind(last + 1)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
