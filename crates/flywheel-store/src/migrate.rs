//! Migrations, embedded in the binary: one ordered list per backend, each applied once in
//! its own transaction and recorded in `flywheel_migrations`.

use crate::db::{Backend, Store};
use crate::dialect::migration_lock;
use crate::error::StoreError;
use sqlx::{Executor, Row};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// The same SQL on both databases: `migrations/common/<file>.sql`.
macro_rules! common {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/common/", $file, ".sql")),
            postgres: include_str!(concat!("../migrations/common/", $file, ".sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    // The first differs per backend (identity columns, a sequence for member ids).
    Migration {
        version: 1,
        name: "members_events_identities",
        sqlite: include_str!("../migrations/sqlite/0001_members_events_identities.sql"),
        postgres: include_str!("../migrations/postgres/0001_members_events_identities.sql"),
    },
    common!(2, "points", "0002_points"),
    common!(3, "scores", "0003_scores"),
    common!(4, "member_lookups", "0004_member_lookups"),
    common!(5, "identities_by_kind", "0005_identities_by_kind"),
    common!(6, "event_digests", "0006_event_digests"),
    common!(7, "audit", "0007_audit"),
    common!(8, "erasure", "0008_erasure"),
    common!(9, "clv_status", "0009_clv_status"),
    common!(10, "write_generation", "0010_write_generation"),
    // PostgreSQL only: member ids from a counter row, as SQLite has had from the start.
    Migration {
        version: 11,
        name: "member_id_counter",
        sqlite: "",
        postgres: include_str!("../migrations/postgres/0011_member_id_counter.sql"),
    },
    common!(12, "lot_points_repaired", "0012_lot_points_repaired"),
    common!(13, "ingest_queue", "0013_ingest_queue"),
    common!(14, "programmes", "0014_programmes"),
    Migration {
        version: 15,
        name: "memberships",
        sqlite: include_str!("../migrations/sqlite/0015_memberships.sql"),
        postgres: include_str!("../migrations/postgres/0015_memberships.sql"),
    },
    common!(16, "benefits", "0016_benefits"),
    common!(17, "partner_codes", "0017_partner_codes"),
    common!(18, "tags_segments", "0018_tags_segments"),
    Migration {
        version: 19,
        name: "segment_changes",
        sqlite: include_str!("../migrations/sqlite/0019_segment_changes.sql"),
        postgres: include_str!("../migrations/postgres/0019_segment_changes.sql"),
    },
    common!(20, "cockpit", "0020_cockpit"),
    common!(21, "kpi_targets", "0021_kpi_targets"),
    common!(22, "daily_stats", "0022_daily_stats"),
    common!(23, "content", "0023_content"),
    common!(24, "consent", "0024_consent"),
    Migration {
        version: 25,
        name: "journeys",
        sqlite: include_str!("../migrations/sqlite/0025_journeys.sql"),
        postgres: include_str!("../migrations/postgres/0025_journeys.sql"),
    },
    common!(26, "campaigns", "0026_campaigns"),
    common!(27, "notice_messages", "0027_notice_messages"),
    common!(28, "best_sellers", "0028_best_sellers"),
    Migration {
        version: 29,
        name: "service",
        sqlite: include_str!("../migrations/sqlite/0029_service.sql"),
        postgres: include_str!("../migrations/postgres/0029_service.sql"),
    },
    Migration {
        version: 30,
        name: "service_teams",
        sqlite: include_str!("../migrations/sqlite/0030_service_teams.sql"),
        postgres: include_str!("../migrations/postgres/0030_service_teams.sql"),
    },
    common!(31, "care", "0031_care"),
    common!(32, "owners", "0032_owners"),
    common!(33, "staff_gifts", "0033_staff_gifts"),
    common!(34, "deals", "0034_deals"),
    common!(35, "marketing", "0035_marketing"),
    common!(36, "flash_sales", "0036_flash_sales"),
    common!(37, "lotteries", "0037_lotteries"),
    common!(38, "fission", "0038_fission"),
    common!(39, "gift_coupons", "0039_gift_coupons"),
    common!(40, "badges", "0040_badges"),
    common!(41, "coupon_rewards", "0041_coupon_rewards"),
    common!(42, "referral_holds", "0042_referral_holds"),
    common!(43, "share_links", "0043_share_links"),
    Migration {
        version: 44,
        name: "tracking_rejected",
        sqlite: include_str!("../migrations/sqlite/0044_tracking_rejected.sql"),
        postgres: include_str!("../migrations/postgres/0044_tracking_rejected.sql"),
    },
    common!(45, "member_sources", "0045_member_sources"),
    common!(46, "wecom_contacts", "0046_wecom_contacts"),
    common!(47, "wecom_groups", "0047_wecom_groups"),
    common!(48, "activities", "0048_activities"),
    common!(49, "ideas", "0049_ideas"),
    common!(50, "points_lots_due", "0050_points_lots_due"),
    common!(51, "points_debt", "0051_points_debt"),
    // PostgreSQL only: SQLite's review index already ends in the id (its rowid).
    Migration {
        version: 52,
        name: "members_review_cursor",
        sqlite: "",
        postgres: include_str!("../migrations/postgres/0052_members_review_cursor.sql"),
    },
    common!(
        53,
        "points_debt_unconditional",
        "0053_points_debt_unconditional"
    ),
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
        migration_lock(&mut conn, self.backend(), true).await?;
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
                if !sql.is_empty() {
                    tx.execute(sql).await?;
                }
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
        migration_lock(&mut conn, self.backend(), false).await?;
        result
    }

    /// The newest applied migration version.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM flywheel_migrations")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>("v")?)
    }

    /// The database engine and its version: "SQLite 3.x.y" (the library this binary
    /// links) or "PostgreSQL 15.x".
    pub async fn engine_version(&self) -> Result<String, StoreError> {
        let query = crate::dialect::version_query(self.backend());
        Ok(sqlx::query_scalar(query).fetch_one(self.pool()).await?)
    }
}
