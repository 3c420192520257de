//! The global suppression list: members nothing may be sent to on a channel (`*`: on
//! any), whatever their consent says — a complaint that ended with "never contact me
//! again", a number a carrier reported as reassigned. Every change is audited; an entry
//! follows a merged member to its survivor.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use crate::survivor::survivor_id;
use flywheel_core::ingest::MemberId;
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::{AnyConnection, Row};

/// One entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuppressionRow {
    pub member_id: MemberId,
    /// A channel, or `*` for every channel.
    pub channel: String,
    pub reason: String,
    pub at: Micros,
    pub set_by: String,
}

pub(crate) const MOVE_SUPPRESSIONS: &str = "INSERT INTO suppressions (member_id, channel, reason, at, set_by) \
     SELECT $1, channel, reason, at, set_by FROM suppressions WHERE member_id = $2 \
     ON CONFLICT (member_id, channel) DO NOTHING";
pub(crate) const DROP_SUPPRESSIONS: &str = "DELETE FROM suppressions WHERE member_id = $1";

/// Moves a merged member's entries to its survivor now (a merge by hand).
pub(crate) async fn move_suppressions(
    conn: &mut AnyConnection,
    survivor: MemberId,
    merged: MemberId,
) -> Result<(), StoreError> {
    sqlx::query(MOVE_SUPPRESSIONS)
        .bind(survivor)
        .bind(merged)
        .execute(&mut *conn)
        .await?;
    sqlx::query(DROP_SUPPRESSIONS)
        .bind(merged)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<SuppressionRow, StoreError> {
    Ok(SuppressionRow {
        member_id: r.try_get("member_id")?,
        channel: r.try_get("channel")?,
        reason: r.try_get("reason")?,
        at: r.try_get("at")?,
        set_by: r.try_get("set_by")?,
    })
}

impl Store {
    /// The list, newest first; one member's entries with `member`.
    pub async fn suppressions(
        &self,
        member: Option<MemberId>,
        limit: i64,
    ) -> Result<Vec<SuppressionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT member_id, channel, reason, at, set_by FROM suppressions \
             WHERE ($1 < 0 OR member_id = $1) ORDER BY at DESC, member_id, channel LIMIT $2",
        )
        .bind(member.unwrap_or(-1))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Puts a member (the survivor of a merged id) on the list for `channel`; None when
    /// there is no such member, else the entry and whether it is new.
    pub async fn suppress(
        &self,
        member: MemberId,
        channel: &str,
        reason: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<Option<(SuppressionRow, bool)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let Some(id) = survivor_id(conn, member).await? else {
            return Ok(None);
        };
        let before = sqlx::query(
            "SELECT member_id, channel, reason, at, set_by FROM suppressions WHERE member_id = $1 AND channel = $2",
        )
        .bind(id)
        .bind(channel.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(b) = before {
            return Ok(Some((from_row(&b)?, false)));
        }
        let row = SuppressionRow {
            member_id: id,
            channel: channel.to_owned(),
            reason: reason.to_owned(),
            at: now,
            set_by: actor.reference.clone(),
        };
        sqlx::query(
            "INSERT INTO suppressions (member_id, channel, reason, at, set_by) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(row.channel.clone())
        .bind(row.reason.clone())
        .bind(now)
        .bind(row.set_by.clone())
        .execute(&mut *conn)
        .await?;
        let change = AuditChange {
            kind: "suppression",
            action: "create",
            target: format!("member:{id}"),
            reason: Some(reason.to_owned()),
            before: None,
            after: Some(json!({"channel": channel, "reason": reason})),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(Some((row, true)))
    }

    /// Takes a member off the list for `channel`; None when there is no such member,
    /// else whether an entry was there.
    pub async fn unsuppress(
        &self,
        member: MemberId,
        channel: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<Option<bool>, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let Some(id) = survivor_id(conn, member).await? else {
            return Ok(None);
        };
        let gone = sqlx::query("DELETE FROM suppressions WHERE member_id = $1 AND channel = $2")
            .bind(id)
            .bind(channel.to_owned())
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if gone > 0 {
            let change = AuditChange {
                kind: "suppression",
                action: "delete",
                target: format!("member:{id}"),
                reason: None,
                before: Some(json!({"channel": channel})),
                after: None,
            };
            audit::record(conn, now, actor, change).await?;
        }
        tx.commit().await?;
        Ok(Some(gone > 0))
    }
}
