//! API keys, stored as SHA-256 hashes with a short prefix for listings.

use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::auth::Role;
use flywheel_core::time::Micros;
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
    pub async fn create_key(
        &self,
        hash: &str,
        prefix: &str,
        role: Role,
        label: &str,
        now: Micros,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO api_keys (key_hash, prefix, role, label, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(hash.to_owned())
        .bind(prefix.to_owned())
        .bind(role.as_str())
        .bind(label.to_owned())
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("id")?)
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

    /// Revokes a key; false if there was no live key with that id.
    pub async fn revoke_key(&self, id: i64, now: Micros) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }
}
