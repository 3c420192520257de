//! The staff roster (migration 29): who can be assigned a ticket (and, later, a place in
//! a member's service team), with their roles, city and store. Saved whole; audited.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A member of staff as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffRow {
    pub id: String,
    pub name: String,
    /// sales, service, delivery, city_manager, after_sales…
    pub roles: Vec<String>,
    pub city: Option<String>,
    pub store: Option<String>,
    pub active: bool,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// A member of staff to save.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutStaff {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub city: Option<String>,
    pub store: Option<String>,
    pub active: bool,
}

const COLUMNS: &str = "id, name, roles, city, store, active, created_at, updated_at";

fn staff_from_row(r: &AnyRow) -> Result<StaffRow, StoreError> {
    let id: String = r.try_get("id")?;
    let roles: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("roles")?)
        .map_err(|_| StoreError::Corrupt(format!("staff {id}: roles")))?;
    Ok(StaffRow {
        name: r.try_get("name")?,
        roles,
        city: r.try_get("city")?,
        store: r.try_get("store")?,
        active: r.try_get::<i64, _>("active")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        id,
    })
}

async fn staff_in(conn: &mut AnyConnection, id: &str) -> Result<Option<StaffRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM staff WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(staff_from_row).transpose()
}

fn audit_body(s: &PutStaff) -> serde_json::Value {
    json!({"name": s.name, "roles": s.roles, "city": s.city, "store": s.store, "active": s.active})
}

fn as_put(s: &StaffRow) -> PutStaff {
    PutStaff {
        id: s.id.clone(),
        name: s.name.clone(),
        roles: s.roles.clone(),
        city: s.city.clone(),
        store: s.store.clone(),
        active: s.active,
    }
}

impl Store {
    /// The roster, by id.
    pub async fn staff(&self) -> Result<Vec<StaffRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM staff ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(staff_from_row).collect()
    }

    pub async fn staff_member(&self, id: &str) -> Result<Option<StaffRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        staff_in(&mut conn, id).await
    }

    /// Saves a member of staff whole; the bool says whether anything changed.
    pub async fn save_staff(
        &self,
        s: &PutStaff,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<(StaffRow, bool), StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = staff_in(conn, &s.id).await?;
        if let Some(b) = &before
            && as_put(b) == *s
        {
            return Ok((b.clone(), false));
        }
        sqlx::query("DELETE FROM staff WHERE id = $1")
            .bind(s.id.clone())
            .execute(&mut *conn)
            .await?;
        let row = StaffRow {
            id: s.id.clone(),
            name: s.name.clone(),
            roles: s.roles.clone(),
            city: s.city.clone(),
            store: s.store.clone(),
            active: s.active,
            created_at: before.as_ref().map_or(now, |b| b.created_at),
            updated_at: now,
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO staff ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )))
        .bind(row.id.clone())
        .bind(row.name.clone())
        .bind(serde_json::to_string(&row.roles).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(row.city.clone())
        .bind(row.store.clone())
        .bind(i64::from(row.active))
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(&mut *conn)
        .await?;
        let change = AuditChange {
            kind: "staff",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("staff:{}", s.id),
            reason: None,
            before: before.as_ref().map(|b| audit_body(&as_put(b))),
            after: Some(audit_body(s)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok((row, true))
    }
}
