//! How messages did: per content or per journey, how many were decided, suppressed,
//! delivered and failed, how many were opened and clicked (their tracked links), how
//! many members bought within N days of a delivery (converted), and how many moved up
//! the relationship ladder within N days (rose) — seed 004's aim is relationships that
//! rise step by step, not only sales.

use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::Stage;
use flywheel_core::time::{Micros, days};
use sqlx::Row;

/// Which messages to count.
#[derive(Clone, Copy, Debug)]
pub enum Messages<'a> {
    Content(&'a str),
    Journey(&'a str),
}

/// What a set of messages came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Performance {
    pub messages: i64,
    pub suppressed: i64,
    pub waiting: i64,
    pub delivered: i64,
    pub failed: i64,
    pub opened: i64,
    pub clicked: i64,
    /// Delivered messages whose member bought within the window after delivery.
    pub converted: i64,
    /// Delivered messages whose member's stage rose within the window after delivery.
    pub rose: i64,
}

/// A stage's rung on the ladder (`Stage as i64`), in SQL.
pub(crate) fn stage_rank(column: &str) -> String {
    let arms: Vec<String> = Stage::ALL
        .iter()
        .map(|s| format!("WHEN '{}' THEN {}", s.as_str(), *s as i64))
        .collect();
    format!("(CASE {column} {} ELSE 0 END)", arms.join(" "))
}

impl Store {
    /// Counts `which` messages, with conversions and rises within `window_days` of
    /// delivery.
    pub async fn message_performance(
        &self,
        which: Messages<'_>,
        window_days: u32,
    ) -> Result<Performance, StoreError> {
        let (column, id) = match which {
            Messages::Content(id) => ("content_id", id),
            Messages::Journey(id) => ("journey_id", id),
        };
        let window: Micros = days(window_days);
        let (to, from) = (stage_rank("t.to_stage"), stage_rank("t.from_stage"));
        let sql = format!(
            "SELECT COUNT(*) AS messages, \
             COALESCE(SUM(CASE WHEN o.status = 'suppressed' THEN 1 ELSE 0 END), 0) AS suppressed, \
             COALESCE(SUM(CASE WHEN o.status IN ('queued', 'waiting', 'sending') THEN 1 ELSE 0 END), 0) AS waiting, \
             COALESCE(SUM(CASE WHEN o.status = 'delivered' THEN 1 ELSE 0 END), 0) AS delivered, \
             COALESCE(SUM(CASE WHEN o.status = 'failed' THEN 1 ELSE 0 END), 0) AS failed, \
             COALESCE(SUM(CASE WHEN o.opened_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS opened, \
             COALESCE(SUM(CASE WHEN o.clicked_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS clicked, \
             COALESCE(SUM(CASE WHEN o.status = 'delivered' AND EXISTS (SELECT 1 FROM events e \
                 WHERE e.member_id = o.member_id AND e.type = 'purchase' \
                 AND e.occurred_at > o.done_at AND e.occurred_at <= o.done_at + $2) THEN 1 ELSE 0 END), 0) AS converted, \
             COALESCE(SUM(CASE WHEN o.status = 'delivered' AND EXISTS (SELECT 1 FROM stage_transitions t \
                 WHERE t.member_id = o.member_id AND t.at > o.done_at AND t.at <= o.done_at + $2 \
                 AND {to} > {from}) THEN 1 ELSE 0 END), 0) AS rose \
             FROM outbox o WHERE o.kind = 'message' AND o.{column} = $1"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .bind(window)
            .fetch_one(self.pool())
            .await?;
        Ok(Performance {
            messages: r.try_get("messages")?,
            suppressed: r.try_get("suppressed")?,
            waiting: r.try_get("waiting")?,
            delivered: r.try_get("delivered")?,
            failed: r.try_get("failed")?,
            opened: r.try_get("opened")?,
            clicked: r.try_get("clicked")?,
            converted: r.try_get("converted")?,
            rose: r.try_get("rose")?,
        })
    }
}
