//! The cockpit's sign-in sessions and the server's own secrets.
//!
//! A session row holds hashes only: the cookie's token is hashed before it is stored or
//! looked up, so a copy of the database opens no session. The key's hash is kept so the
//! caller is re-identified on every page (a revoked key ends its sessions at once).

use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::time::Micros;
use sqlx::Row;

/// A live session: whose key opened it and the CSRF token its forms carry.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub key_hash: String,
    pub csrf: String,
    pub expires_at: Micros,
}

impl Store {
    /// Records a new session (and forgets every session that has ended).
    pub async fn open_session(
        &self,
        token_hash: &str,
        key_hash: &str,
        csrf: &str,
        now: Micros,
        expires_at: Micros,
    ) -> Result<(), StoreError> {
        // Sessions only: nothing the member cache holds.
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM cockpit_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO cockpit_sessions (token_hash, key_hash, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash.to_owned())
        .bind(key_hash.to_owned())
        .bind(csrf.to_owned())
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        self.commit_keeping_cache(tx).await?;
        Ok(())
    }

    /// The session whose token hashes to `token_hash`, if it has not ended.
    pub async fn session(
        &self,
        token_hash: &str,
        now: Micros,
    ) -> Result<Option<SessionRow>, StoreError> {
        let row = sqlx::query(
            "SELECT key_hash, csrf, expires_at FROM cockpit_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash.to_owned())
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => Some(SessionRow {
                key_hash: r.try_get("key_hash")?,
                csrf: r.try_get("csrf")?,
                expires_at: r.try_get("expires_at")?,
            }),
            None => None,
        })
    }

    /// Ends a session (signing out); true if there was one.
    pub async fn close_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        let done = self
            .write_alone(
                sqlx::query("DELETE FROM cockpit_sessions WHERE token_hash = $1")
                    .bind(token_hash.to_owned()),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The secret named `name`, made from `fresh` and kept the first time it is asked
    /// for. Two servers starting at once on one database agree: the first insert wins
    /// and both read it back.
    pub async fn server_secret(
        &self,
        name: &str,
        fresh: &str,
        now: Micros,
    ) -> Result<String, StoreError> {
        let keep = sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_owned())
        .bind(fresh.to_owned())
        .bind(now);
        self.write_alone(keep).await?;
        let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name.to_owned())
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("value")?)
    }
}
