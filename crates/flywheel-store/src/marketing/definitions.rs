//! Marketing definitions kept whole as JSON in a table of `(id, definition, created_at,
//! updated_at, updated_by)` — fission campaigns and leaderboards — written and audited
//! the same way: the caller reads what was there (to refuse or compare), this writes the
//! new definition and the audit record in the caller's transaction.

use crate::audit::{self, AuditActor, AuditChange};
use crate::error::StoreError;
use flywheel_core::time::Micros;
use serde::Serialize;
use sqlx::AnyConnection;

/// Where a definition lives: its table and its audit kind (also the target's prefix).
pub(super) struct DefinitionTable {
    pub table: &'static str,
    pub audit_kind: &'static str,
}

pub(super) const FISSION_CAMPAIGNS: DefinitionTable = DefinitionTable {
    table: "fission_campaigns",
    audit_kind: "fission_campaign",
};

pub(super) const LEADERBOARDS: DefinitionTable = DefinitionTable {
    table: "leaderboards",
    audit_kind: "leaderboard",
};

/// Writes `after` under `id` (created, or replacing `before`) and audits the change.
pub(super) async fn write_definition<T: Serialize>(
    conn: &mut AnyConnection,
    at: &DefinitionTable,
    id: &str,
    before: Option<&T>,
    after: &T,
    actor: &AuditActor,
    now: Micros,
) -> Result<(), StoreError> {
    let definition =
        serde_json::to_string(after).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {} (id, definition, created_at, updated_at, updated_by) \
         VALUES ($1, $2, $3, $3, $4) ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        at.table
    )))
    .bind(id.to_owned())
    .bind(definition)
    .bind(now)
    .bind(actor.reference.clone())
    .execute(&mut *conn)
    .await?;
    let body = |v: &T| serde_json::to_value(v).unwrap_or_default();
    let change = AuditChange {
        kind: at.audit_kind,
        action: if before.is_some() { "update" } else { "create" },
        target: format!("{}:{id}", at.audit_kind),
        reason: None,
        before: before.map(body),
        after: Some(body(after)),
    };
    audit::record(conn, now, actor, change).await
}
