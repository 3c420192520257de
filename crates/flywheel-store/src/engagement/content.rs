//! The content library: templates per channel, checked by the caller
//! (`flywheel_core::engagement::template`), versioned on each change and audited.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A template as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentRow {
    pub id: String,
    pub channel: String,
    pub name: String,
    pub subject: Option<String>,
    pub body: String,
    /// Where a click on the message's tracked link leads.
    pub link: Option<String>,
    pub version: i64,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub updated_by: String,
}

/// A template to save.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutContent {
    pub id: String,
    pub channel: String,
    pub name: String,
    pub subject: Option<String>,
    pub body: String,
    pub link: Option<String>,
}

/// What saving did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SavedContent {
    Created(ContentRow),
    Updated(ContentRow),
    /// The same text was stored already.
    Unchanged(ContentRow),
    /// `create` was asked and the id is taken.
    Exists,
}

const COLUMNS: &str =
    "id, channel, name, subject, body, link, version, created_at, updated_at, updated_by";

fn content_from_row(r: &AnyRow) -> Result<ContentRow, StoreError> {
    Ok(ContentRow {
        id: r.try_get("id")?,
        channel: r.try_get("channel")?,
        name: r.try_get("name")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        link: r.try_get("link")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

pub(crate) async fn content_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<ContentRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM content WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(content_from_row).transpose()
}

fn audit_body(c: &ContentRow) -> serde_json::Value {
    json!({"channel": c.channel, "name": c.name, "subject": c.subject, "body": c.body,
        "link": c.link, "version": c.version})
}

impl Store {
    /// Every template, by id.
    pub async fn contents(&self) -> Result<Vec<ContentRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM content ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(content_from_row).collect()
    }

    pub async fn content(&self, id: &str) -> Result<Option<ContentRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        content_in(&mut conn, id).await
    }

    /// Saves a template (checked by the caller). With `create`, an id in use is
    /// [`SavedContent::Exists`]; otherwise it is replaced and its version goes up.
    pub async fn save_content(
        &self,
        def: &PutContent,
        create: bool,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<SavedContent, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = content_in(conn, &def.id).await?;
        let version = match &before {
            Some(b)
                if b.channel == def.channel
                    && b.name == def.name
                    && b.subject == def.subject
                    && b.body == def.body
                    && b.link == def.link =>
            {
                return Ok(SavedContent::Unchanged(b.clone()));
            }
            Some(_) if create => return Ok(SavedContent::Exists),
            Some(b) => b.version + 1,
            None => 1,
        };
        let row = ContentRow {
            id: def.id.clone(),
            channel: def.channel.clone(),
            name: def.name.clone(),
            subject: def.subject.clone(),
            body: def.body.clone(),
            link: def.link.clone(),
            version,
            created_at: before.as_ref().map_or(now, |b| b.created_at),
            updated_at: now,
            updated_by: actor.reference.clone(),
        };
        sqlx::query("DELETE FROM content WHERE id = $1")
            .bind(row.id.clone())
            .execute(&mut *conn)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO content ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(row.id.clone())
        .bind(row.channel.clone())
        .bind(row.name.clone())
        .bind(row.subject.clone())
        .bind(row.body.clone())
        .bind(row.link.clone())
        .bind(row.version)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.updated_by.clone())
        .execute(&mut *conn)
        .await?;
        let change = AuditChange {
            kind: "content",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("content:{}", row.id),
            reason: None,
            before: before.as_ref().map(audit_body),
            after: Some(audit_body(&row)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(if before.is_some() {
            SavedContent::Updated(row)
        } else {
            SavedContent::Created(row)
        })
    }

    /// Deletes a template; false when there was none.
    pub async fn delete_content(
        &self,
        id: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let Some(before) = content_in(conn, id).await? else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM content WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *conn)
            .await?;
        let change = AuditChange {
            kind: "content",
            action: "delete",
            target: format!("content:{id}"),
            reason: None,
            before: Some(audit_body(&before)),
            after: None,
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(true)
    }
}
