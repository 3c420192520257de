//! The tracking protocol's dead letters (issue 21): calls to `/v1/batch`, `/v1/track`…
//! that could not become events are kept here with the reason and the call as it came,
//! newest first by an id that only grows (the list's cursor); a library's retry of a
//! refused call is kept once.

use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::time::Micros;
use serde_json::Value;
use sqlx::Row;

/// A call refused, as it is kept.
#[derive(Clone, Debug, PartialEq)]
pub struct RejectedCall {
    pub id: i64,
    pub received_at: Micros,
    pub call_type: Option<String>,
    pub message_id: Option<String>,
    /// The stable error code (`missing_field`, `invalid_value`…).
    pub code: String,
    pub field: Option<String>,
    pub reason: String,
    pub call: Value,
    /// The write key it came with.
    pub key_id: Option<i64>,
}

impl Store {
    /// Keeps refused calls (their `id`s are assigned here), in one transaction; a call
    /// whose `message_id` is kept already is not kept twice.
    pub async fn reject_calls(&self, calls: &[RejectedCall]) -> Result<(), StoreError> {
        if calls.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for c in calls {
            // A retried call (same messageId) is kept once.
            sqlx::query(
                "INSERT INTO tracking_rejected (received_at, call_type, message_id, code, field, \
                 reason, call, key_id) SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
                 WHERE $3 IS NULL OR NOT EXISTS \
                 (SELECT 1 FROM tracking_rejected WHERE message_id = $3)",
            )
            .bind(c.received_at)
            .bind(c.call_type.clone())
            .bind(c.message_id.clone())
            .bind(c.code.clone())
            .bind(c.field.clone())
            .bind(c.reason.clone())
            .bind(c.call.to_string())
            .bind(c.key_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Refused calls, newest first, older than the `before` id when given.
    pub async fn rejected_calls(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<RejectedCall>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, received_at, call_type, message_id, code, field, reason, call, key_id \
             FROM tracking_rejected WHERE $1 IS NULL OR id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let call: String = r.try_get("call")?;
                Ok(RejectedCall {
                    id: r.try_get("id")?,
                    received_at: r.try_get("received_at")?,
                    call_type: r.try_get("call_type")?,
                    message_id: r.try_get("message_id")?,
                    code: r.try_get("code")?,
                    field: r.try_get("field")?,
                    reason: r.try_get("reason")?,
                    call: serde_json::from_str(&call).unwrap_or(Value::String(call)),
                    key_id: r.try_get("key_id")?,
                })
            })
            .collect()
    }
}
