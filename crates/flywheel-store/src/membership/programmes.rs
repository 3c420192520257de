//! Programme definitions, versioned: a change stores the whole new definition as the
//! next version, audited with the version it replaced.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::dialect::lock_table;
use crate::error::StoreError;
use flywheel_core::membership::{Catalogue, Programme, ProgrammeKind};
use flywheel_core::time::{Micros, to_rfc3339};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::sync::Arc;

/// One stored version of a programme.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgrammeVersion {
    pub id: String,
    pub version: i64,
    pub definition: Programme,
    pub created_at: Micros,
    pub created_by: String,
}

/// What storing a definition came to.
#[derive(Clone, Debug, PartialEq)]
pub enum PutProgramme {
    /// Stored as this version (1 for a new programme).
    Stored(i64),
    /// Refused: a programme keeps the kind it was created with (members hold its tiers
    /// on the terms of that kind).
    KindChanged(ProgrammeKind),
}

fn version_from_row(row: &AnyRow) -> Result<ProgrammeVersion, StoreError> {
    let text: String = row.try_get("definition")?;
    Ok(ProgrammeVersion {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        definition: serde_json::from_str(&text)?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
    })
}

const LATEST: &str = "SELECT p.id, p.version, p.definition, p.created_at, p.created_by FROM programmes p \
     WHERE p.version = (SELECT MAX(q.version) FROM programmes q WHERE q.id = p.id)";

impl Store {
    /// Every programme as its newest version defines it, by id.
    pub async fn programmes(&self) -> Result<Vec<ProgrammeVersion>, StoreError> {
        let sql = format!("{LATEST} ORDER BY p.id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(version_from_row)
            .collect()
    }

    /// Every programme's newest definition, for ingest: kept in memory while no version
    /// is added (one small query tells).
    pub async fn catalogue(&self) -> Result<Arc<Catalogue>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        self.catalogue_on(&mut conn).await
    }

    /// [`Store::catalogue`] read on `conn`: inside a write transaction, so a writer
    /// holding locks never waits for a second connection from the pool (on PostgreSQL
    /// the pool writers share: enough writers waiting on one member's lock would hold
    /// every connection).
    pub(crate) async fn catalogue_on(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<Arc<Catalogue>, StoreError> {
        let stamp: i64 =
            sqlx::query("SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) AS v FROM programmes")
                .fetch_one(&mut *conn)
                .await?
                .try_get("v")?;
        if let Some((v, catalogue)) = self
            .catalogue_cache()
            .lock()
            .expect("catalogue cache")
            .as_ref()
            && *v == stamp
        {
            return Ok(catalogue.clone());
        }
        let sql = format!("{LATEST} ORDER BY p.id");
        let versions = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(version_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let catalogue = Arc::new(Catalogue {
            programmes: versions.into_iter().map(|p| (p.id, p.definition)).collect(),
        });
        *self.catalogue_cache().lock().expect("catalogue cache") = Some((stamp, catalogue.clone()));
        Ok(catalogue)
    }

    /// The newest version of one programme.
    pub async fn programme(&self, id: &str) -> Result<Option<ProgrammeVersion>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        latest(&mut conn, id).await
    }

    /// Every stored version of one programme, newest first.
    pub async fn programme_versions(&self, id: &str) -> Result<Vec<ProgrammeVersion>, StoreError> {
        sqlx::query(
            "SELECT id, version, definition, created_at, created_by FROM programmes \
             WHERE id = $1 ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(version_from_row)
        .collect()
    }

    /// Stores `definition` as the programme's next version (checked beforehand by
    /// `Programme::validate`); audited. A definition equal to the newest version stores
    /// nothing and answers that version, so a retried request does not add versions.
    pub async fn put_programme(
        &self,
        id: &str,
        definition: &Programme,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<PutProgramme, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        lock_table(conn, self.backend(), "programmes").await?;
        let before = latest(conn, id).await?;
        if let Some(b) = &before {
            if b.definition.kind != definition.kind {
                return Ok(PutProgramme::KindChanged(b.definition.kind));
            }
            if &b.definition == definition {
                return Ok(PutProgramme::Stored(b.version));
            }
        }
        let version = before.as_ref().map_or(1, |b| b.version + 1);
        sqlx::query(
            "INSERT INTO programmes (id, version, definition, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(version)
        .bind(serde_json::to_string(definition)?)
        .bind(now)
        .bind(actor.reference.clone())
        .execute(&mut *conn)
        .await?;
        let change = AuditChange {
            kind: "programme",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("programme:{id}"),
            reason: None,
            before: before.map(|b| {
                json!({"version": b.version, "created_at": to_rfc3339(b.created_at), "definition": b.definition})
            }),
            after: Some(json!({"version": version, "definition": definition})),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(PutProgramme::Stored(version))
    }
}

pub(crate) async fn latest(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<ProgrammeVersion>, StoreError> {
    sqlx::query(
        "SELECT id, version, definition, created_at, created_by FROM programmes \
         WHERE id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(version_from_row)
    .transpose()
}
