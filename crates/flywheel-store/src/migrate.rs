//! Migrations, embedded in the binary: one ordered list per backend, each applied once in
//! its own transaction and recorded in `flywheel_migrations`.

use crate::db::{Backend, Store};
use crate::error::StoreError;
use sqlx::{Executor, Row};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// Files under `common/` are the same SQL on both databases.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "members_events_identities",
        sqlite: include_str!("../migrations/sqlite/0001_members_events_identities.sql"),
        postgres: include_str!("../migrations/postgres/0001_members_events_identities.sql"),
    },
    Migration {
        version: 2,
        name: "points",
        sqlite: include_str!("../migrations/common/0002_points.sql"),
        postgres: include_str!("../migrations/common/0002_points.sql"),
    },
    Migration {
        version: 3,
        name: "scores",
        sqlite: include_str!("../migrations/common/0003_scores.sql"),
        postgres: include_str!("../migrations/common/0003_scores.sql"),
    },
    Migration {
        version: 4,
        name: "member_lookups",
        sqlite: include_str!("../migrations/common/0004_member_lookups.sql"),
        postgres: include_str!("../migrations/common/0004_member_lookups.sql"),
    },
    Migration {
        version: 5,
        name: "identities_by_kind",
        sqlite: include_str!("../migrations/common/0005_identities_by_kind.sql"),
        postgres: include_str!("../migrations/common/0005_identities_by_kind.sql"),
    },
    Migration {
        version: 6,
        name: "event_digests",
        sqlite: include_str!("../migrations/common/0006_event_digests.sql"),
        postgres: include_str!("../migrations/common/0006_event_digests.sql"),
    },
    Migration {
        version: 7,
        name: "audit",
        sqlite: include_str!("../migrations/common/0007_audit.sql"),
        postgres: include_str!("../migrations/common/0007_audit.sql"),
    },
    Migration {
        version: 8,
        name: "erasure",
        sqlite: include_str!("../migrations/common/0008_erasure.sql"),
        postgres: include_str!("../migrations/common/0008_erasure.sql"),
    },
    Migration {
        version: 9,
        name: "clv_status",
        sqlite: include_str!("../migrations/common/0009_clv_status.sql"),
        postgres: include_str!("../migrations/common/0009_clv_status.sql"),
    },
];

impl Store {
    /// Applies pending migrations; returns how many ran. Safe to call from several
    /// processes at once on PostgreSQL (an advisory lock serialises them).
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.pool().acquire().await?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS flywheel_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
        if self.backend() == Backend::Postgres {
            conn.execute("SELECT pg_advisory_lock(7244173)").await?;
        }
        let result = async {
            let mut ran = 0;
            for m in MIGRATIONS {
                let done = sqlx::query("SELECT version FROM flywheel_migrations WHERE version = $1")
                    .bind(m.version)
                    .fetch_optional(&mut *conn)
                    .await?;
                if done.is_some() {
                    continue;
                }
                let sql = match self.backend() {
                    Backend::Sqlite => m.sqlite,
                    Backend::Postgres => m.postgres,
                };
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                tx.execute(sql).await?;
                sqlx::query("INSERT INTO flywheel_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                    .bind(m.version)
                    .bind(m.name)
                    .bind(chrono::Utc::now().timestamp_micros())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                tracing::info!(version = m.version, name = m.name, "applied migration");
                ran += 1;
            }
            Ok::<usize, StoreError>(ran)
        }
        .await;
        if self.backend() == Backend::Postgres {
            conn.execute("SELECT pg_advisory_unlock(7244173)").await?;
        }
        result
    }

    /// The newest applied migration version.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM flywheel_migrations")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>("v")?)
    }
}
