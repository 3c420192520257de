//! API keys, stored as SHA-256 hashes with a short prefix for listings.

use crate::audit::{AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::auth::Role;
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::Row;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: i64,
    pub prefix: String,
    pub role: Role,
    pub label: String,
    pub created_at: Micros,
    pub revoked_at: Option<Micros>,
}

fn key_from_row(r: &sqlx::any::AnyRow) -> Result<ApiKeyRow, StoreError> {
    let role: String = r.try_get("role")?;
    Ok(ApiKeyRow {
        id: r.try_get("id")?,
        prefix: r.try_get("prefix")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("api key role {role:?}")))?,
        label: r.try_get("label")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    /// Stores a new key (by its hash), audited; returns its id.
    pub async fn create_key(
        &self,
        hash: &str,
        prefix: &str,
        role: Role,
        label: &str,
        now: Micros,
        actor: &AuditActor,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO api_keys (key_hash, prefix, role, label, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(hash.to_owned())
        .bind(prefix.to_owned())
        .bind(role.as_str())
        .bind(label.to_owned())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        let change = AuditChange {
            kind: "api_key",
            action: "create",
            target: format!("api_key:{id}"),
            reason: None,
            before: None,
            after: Some(json!({"id": id, "prefix": prefix, "role": role.as_str(), "label": label})),
        };
        crate::audit::record(&mut tx, now, actor, change).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The live (unrevoked) key with this hash.
    pub async fn find_key(&self, hash: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, prefix, role, label, created_at, revoked_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash.to_owned())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, prefix, role, label, created_at, revoked_at FROM api_keys ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key, audited; false if there was no live key with that id.
    pub async fn revoke_key(
        &self,
        id: i64,
        now: Micros,
        actor: &AuditActor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let key = sqlx::query(
            "SELECT id, prefix, role, label, created_at, revoked_at FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(key) = key.as_ref().map(key_from_row).transpose()? else {
            return Ok(false);
        };
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let view = |revoked: Option<Micros>| {
            json!({"id": id, "prefix": key.prefix, "role": key.role.as_str(), "label": key.label,
                   "revoked_at": revoked.map(flywheel_core::time::to_rfc3339)})
        };
        let change = AuditChange {
            kind: "api_key",
            action: "revoke",
            target: format!("api_key:{id}"),
            reason: None,
            before: Some(view(None)),
            after: Some(view(Some(now))),
        };
        crate::audit::record(&mut tx, now, actor, change).await?;
        tx.commit().await?;
        Ok(true)
    }
}
