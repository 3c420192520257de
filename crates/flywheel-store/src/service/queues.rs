//! Service queues (migration 29): saved whole and audited; ingest routes feedback with
//! them through the service book (`book.rs`).

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::service::{Queue, WorkingHours};
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A queue as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueRow {
    pub queue: Queue,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub updated_by: String,
}

pub(super) const COLUMNS: &str = "id, name, categories, team, respond_minutes, resolve_minutes, working_days, \
     work_from, work_to, time_zone, created_at, updated_at, updated_by";

pub(super) fn queue_from_row(r: &AnyRow) -> Result<QueueRow, StoreError> {
    let id: String = r.try_get("id")?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("queue {id}: {what}"));
    let categories: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("categories")?)
        .map_err(|_| corrupt("categories"))?;
    let days: Vec<String> = r
        .try_get::<String, _>("working_days")?
        .split(',')
        .map(str::to_owned)
        .collect();
    let hours = WorkingHours::parse(
        &days,
        &r.try_get::<String, _>("work_from")?,
        &r.try_get::<String, _>("work_to")?,
        &r.try_get::<String, _>("time_zone")?,
    )
    .map_err(|e| corrupt(&e.message))?;
    let minutes = |column: &str| -> Result<u32, StoreError> {
        u32::try_from(r.try_get::<i64, _>(column)?).map_err(|_| corrupt(column))
    };
    Ok(QueueRow {
        queue: Queue {
            name: r.try_get("name")?,
            categories,
            team: r.try_get("team")?,
            respond_minutes: minutes("respond_minutes")?,
            resolve_minutes: minutes("resolve_minutes")?,
            hours,
            id,
        },
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

fn audit_body(q: &Queue) -> serde_json::Value {
    json!({"name": q.name, "categories": q.categories, "team": q.team,
        "respond_minutes": q.respond_minutes, "resolve_minutes": q.resolve_minutes,
        "working_hours": {"days": q.hours.day_names(), "from": q.hours.from_text(),
            "to": q.hours.to_text(), "time_zone": q.hours.tz.name()}})
}

async fn queue_in(conn: &mut AnyConnection, id: &str) -> Result<Option<QueueRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM service_queues WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(queue_from_row).transpose()
}

/// What saving a queue did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SavedQueue {
    Created(QueueRow),
    Updated(QueueRow),
    Unchanged(QueueRow),
}

impl Store {
    /// Every queue, by id.
    pub async fn queues(&self) -> Result<Vec<QueueRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM service_queues ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(queue_from_row).collect()
    }

    pub async fn queue(&self, id: &str) -> Result<Option<QueueRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        queue_in(&mut conn, id).await
    }

    /// Saves a queue (checked by the caller) whole. Tickets already open keep the
    /// targets they opened with.
    pub async fn save_queue(
        &self,
        queue: &Queue,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<SavedQueue, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = queue_in(conn, &queue.id).await?;
        if let Some(b) = &before
            && b.queue == *queue
        {
            return Ok(SavedQueue::Unchanged(b.clone()));
        }
        sqlx::query("DELETE FROM service_queues WHERE id = $1")
            .bind(queue.id.clone())
            .execute(&mut *conn)
            .await?;
        let row = QueueRow {
            queue: queue.clone(),
            created_at: before.as_ref().map_or(now, |b| b.created_at),
            updated_at: now,
            updated_by: actor.reference.clone(),
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO service_queues ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        )))
        .bind(queue.id.clone())
        .bind(queue.name.clone())
        .bind(serde_json::to_string(&queue.categories).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(queue.team.clone())
        .bind(i64::from(queue.respond_minutes))
        .bind(i64::from(queue.resolve_minutes))
        .bind(queue.hours.day_names().join(","))
        .bind(queue.hours.from_text())
        .bind(queue.hours.to_text())
        .bind(queue.hours.tz.name().to_owned())
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.updated_by.clone())
        .execute(&mut *conn)
        .await?;
        crate::sql::advance_stamp(conn, super::book::STAMP).await?;
        let change = AuditChange {
            kind: "service_queue",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("queue:{}", queue.id),
            reason: None,
            before: before.as_ref().map(|b| audit_body(&b.queue)),
            after: Some(audit_body(queue)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(if before.is_some() {
            SavedQueue::Updated(row)
        } else {
            SavedQueue::Created(row)
        })
    }

    /// Deletes a queue; false when there was none. Its tickets keep their queue id and
    /// targets; new feedback of its categories routes elsewhere.
    pub async fn delete_queue(
        &self,
        id: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let Some(before) = queue_in(conn, id).await? else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM service_queues WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *conn)
            .await?;
        crate::sql::advance_stamp(conn, super::book::STAMP).await?;
        let change = AuditChange {
            kind: "service_queue",
            action: "delete",
            target: format!("queue:{id}"),
            reason: None,
            before: Some(audit_body(&before.queue)),
            after: None,
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(true)
    }
}
