//! Delivering the membership notices (`notices`: a benefit leaving a member's tier, told
//! ahead of time) through the outbox, on `[engagement] notice_channel`. A notice is a
//! service message: it needs no marketing opt-in and no cap stops it, but a withdrawal,
//! the suppression list and quiet hours still hold. Each notice records the message that
//! carried it in the same transaction, so it goes out once.

use super::ContentRow;
use super::outbox::{Origin, ToDecide, decide_and_queue};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::Policy;
use flywheel_core::time::Micros;
use sqlx::{AnyConnection, Row};

/// Notices handled per transaction.
const CHUNK: i64 = 200;

impl Store {
    /// Puts every notice due at `now` in the outbox; returns how many.
    pub async fn run_notices(
        &self,
        policy: &Policy,
        link_base: &str,
        now: Micros,
    ) -> Result<u64, StoreError> {
        let dnd = policy.engagement.rules().map_err(StoreError::Corrupt)?;
        let mut done = 0;
        loop {
            let mut tx = self.begin_write().await?;
            let conn: &mut AnyConnection = &mut tx;
            let rows = sqlx::query(
                "SELECT member_id, kind, reference, subject, body FROM notices \
                 WHERE deliver_at <= $1 AND message_id IS NULL \
                 ORDER BY deliver_at, member_id, kind, reference LIMIT $2",
            )
            .bind(now)
            .bind(CHUNK)
            .fetch_all(&mut *conn)
            .await?;
            if rows.is_empty() {
                return Ok(done);
            }
            for r in &rows {
                let member_id: i64 = r.try_get("member_id")?;
                let kind: String = r.try_get("kind")?;
                let reference: String = r.try_get("reference")?;
                let text = ContentRow {
                    id: format!("notice:{kind}"),
                    channel: policy.engagement.notice_channel.clone(),
                    name: kind.clone(),
                    subject: Some(r.try_get("subject")?),
                    body: r.try_get("body")?,
                    link: None,
                    version: 0,
                    created_at: now,
                    updated_at: now,
                    updated_by: "flywheel".into(),
                };
                // A member erased or gone gets nothing; the notice is marked done (0).
                let message = match self.member_now(conn, member_id).await? {
                    Some(member) => {
                        decide_and_queue(
                            conn,
                            &ToDecide {
                                origin: Origin::Notice,
                                member: &member,
                                content_id: &text.id,
                                channel: None,
                                dnd: &dnd,
                                programme: policy.points.default_programme(),
                                link_base,
                                now,
                                given: Some(&text),
                                service: true,
                            },
                        )
                        .await?
                        .1
                    }
                    None => None,
                };
                sqlx::query(
                    "UPDATE notices SET message_id = $1 WHERE member_id = $2 AND kind = $3 AND reference = $4",
                )
                .bind(message.unwrap_or(0))
                .bind(member_id)
                .bind(kind)
                .bind(reference)
                .execute(&mut *conn)
                .await?;
                done += 1;
            }
            tx.commit().await?;
        }
    }
}
