//! `flywheel dump --canonical`: every table's rows as JSON lines, in an order that does
//! not depend on how or when they were written, without the columns that record when a
//! row was written rather than what it says. Two databases that hold the same facts —
//! SQLite and PostgreSQL, a run that crashed and one that did not, write-through and
//! write-behind — dump to the same text.
//!
//! Meant for checks and tests: each table is read whole and sorted in memory.

use crate::db::Store;
use crate::dialect::tables_query;
use crate::error::StoreError;
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Column, Row};
use std::io::Write;

/// Tables left out: bookkeeping of the process (migrations, the unapplied tail of the
/// event log, keys, the audit log, id counters, the count of write transactions, the
/// cockpit's sessions and the server's own secrets), the score runs and the kept history
/// figures, which record the wall clock of each computation, the outbox, its attempts
/// and the campaigns' recipients, which record when the runner and the senders ran, the
/// best sellers, a cache the runner counts when it needs one, the day's care moments,
/// counted by the clock of whichever pass ran first, and the segments' feed of
/// entries and exits, which
/// records each transaction that evaluated a member (a member in and out again inside
/// one batch of an import leaves no change; sent one by one, it leaves two).
const SKIPPED: [&str; 20] = [
    "flywheel_migrations",
    "ingest_queue",
    "write_generation",
    "api_keys",
    "audit_log",
    "id_counters",
    "score_runs",
    "member_scores",
    "sqlite_sequence",
    "segment_changes",
    "cockpit_sessions",
    "server_secrets",
    "stats_snapshots",
    "outbox",
    "outbox_attempts",
    "campaign_members",
    "best_sellers",
    "best_sellers_state",
    "care_moments",
    "care_days",
];

/// Columns that say when or in which order a row was written, not what it holds (a
/// ticket's id is its place in the order a flush wrote the batch's rows; a coupon code
/// is random). A
/// segment's entry (and the tag a segment sets) is dated by the transaction that
/// evaluated its member — in a history replayed at its own time, the member's last event
/// of its batch — so, like the feed of entries and exits, it depends on batch sizes.
const VOLATILE: [(&str, &str); 46] = [
    ("events", "received_at"),
    ("members", "updated_at"),
    ("points_transactions", "posted_at"),
    ("stage_transitions", "id"),
    ("merges", "id"),
    ("identity_conflicts", "id"),
    ("points_rules", "created_at"),
    ("programmes", "created_at"),
    ("tier_changes", "id"),
    ("membership_purchases", "request"),
    ("rewards", "created_at"),
    ("rewards", "updated_at"),
    ("partners", "created_at"),
    ("redemptions", "created_at"),
    ("redemptions", "cancelled_at"),
    ("points_transfers", "request"),
    ("points_exchanges", "request"),
    ("benefits", "created_at"),
    ("benefits", "updated_at"),
    ("tier_benefits", "added_at"),
    ("partner_codes", "loaded_at"),
    ("notices", "created_at"),
    ("segments", "defined_at"),
    ("segments", "changed_at"),
    ("tag_dimensions", "created_at"),
    ("segment_members", "entered_at"),
    ("member_tags", "set_at"),
    ("member_badges", "awarded_at"),
    ("kpi_targets", "set_at"),
    ("content", "created_at"),
    ("content", "updated_at"),
    ("journeys", "created_at"),
    ("journeys", "updated_at"),
    ("journeys", "active_since"),
    ("journey_versions", "saved_at"),
    ("journey_runs", "id"),
    ("journey_runs", "updated_at"),
    ("campaigns", "created_at"),
    ("campaigns", "updated_at"),
    ("notices", "message_id"),
    ("tickets", "id"),
    ("ticket_notes", "id"),
    ("ticket_notes", "ticket_id"),
    ("service_teams", "id"),
    ("member_owners", "since"),
    ("coupon_codes", "code"),
];

/// A row as a JSON object, column by column; text that holds JSON (identities,
/// properties, facts, requests) is parsed, so its formatting does not matter.
pub(crate) fn row_json(row: &AnyRow) -> Value {
    let mut out = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let value = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
            v.map_or(Value::Null, Value::from)
        } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
            v.map_or(Value::Null, Value::from)
        } else if let Ok(v) = row.try_get::<Option<String>, _>(i) {
            match v {
                Some(text) if text.starts_with(['{', '[']) => {
                    serde_json::from_str(&text).unwrap_or(Value::String(text))
                }
                Some(text) => Value::String(text),
                None => Value::Null,
            }
        } else {
            Value::Null
        };
        out.insert(column.name().to_owned(), value);
    }
    Value::Object(out)
}

impl Store {
    /// Writes the canonical dump to `out`; returns how many rows it wrote.
    pub async fn dump_canonical(&self, out: &mut dyn Write) -> Result<u64, StoreError> {
        let tables: Vec<String> = sqlx::query(tables_query(self.backend()))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| r.try_get("t"))
            .collect::<Result<_, _>>()?;
        let mut rows_written = 0;
        for table in tables.iter().filter(|t| !SKIPPED.contains(&t.as_str())) {
            // Names come from the catalogue, not from a caller.
            let rows = sqlx::query(AssertSqlSafe(format!("SELECT * FROM \"{table}\"")))
                .fetch_all(self.pool())
                .await?;
            let mut lines: Vec<String> = rows
                .iter()
                .map(|row| {
                    let mut value = row_json(row);
                    if let Value::Object(map) = &mut value {
                        for (t, column) in VOLATILE {
                            if t == table {
                                map.remove(column);
                            }
                        }
                    }
                    serde_json::json!({"table": table, "row": value}).to_string()
                })
                .collect();
            lines.sort();
            for line in lines {
                writeln!(out, "{line}").map_err(|e| StoreError::Invalid(e.to_string()))?;
                rows_written += 1;
            }
        }
        Ok(rows_written)
    }
}
