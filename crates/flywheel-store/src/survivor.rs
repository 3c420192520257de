//! Following merges: a merged member's row points at the member that absorbed it, which
//! may itself have merged since. Every read "about member N" follows that chain to the
//! member N stands for now, and this is the one place that walks it.

use crate::error::StoreError;
use flywheel_core::MemberId;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

/// Longer chains than this mean a cycle: merges only ever point at older members.
const LONGEST_CHAIN: usize = 64;

/// The row of the member `id` stands for now, read by `select` (a statement over
/// `members` taking the id as `$1` and returning `merged_into`, perhaps `FOR UPDATE`);
/// None when no member has that id.
pub(crate) async fn survivor_row(
    conn: &mut AnyConnection,
    select: &str,
    id: MemberId,
) -> Result<Option<AnyRow>, StoreError> {
    let mut id = id;
    for _ in 0..LONGEST_CHAIN {
        let Some(row) = sqlx::query(AssertSqlSafe(select.to_owned()))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        match row.try_get::<Option<MemberId>, _>("merged_into")? {
            Some(next) => id = next,
            None => return Ok(Some(row)),
        }
    }
    Err(StoreError::Corrupt(format!(
        "member {id}: merge chain too long"
    )))
}

/// The id of the member `id` stands for now; None when no member has that id.
pub(crate) async fn survivor_id(
    conn: &mut AnyConnection,
    id: MemberId,
) -> Result<Option<MemberId>, StoreError> {
    let select = "SELECT id, merged_into FROM members WHERE id = $1";
    match survivor_row(conn, select, id).await? {
        Some(row) => Ok(Some(row.try_get("id")?)),
        None => Ok(None),
    }
}
