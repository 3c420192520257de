//! Journeys as stored: the current definition, every version saved, the status
//! (draft → active → paused), and the book ingest and the runner read — the active
//! journeys compiled, cached until a journey is saved again (a stamp in `id_counters`,
//! as the segment book is).

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::engagement::journey::{Journey, Trigger, compile};
use flywheel_core::segment::Language;
use flywheel_core::time::Micros;
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use std::sync::Arc;

/// The statuses a journey can be in.
pub const JOURNEY_STATUSES: [&str; 3] = ["draft", "active", "paused"];

/// A journey as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct JourneyRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub version: i64,
    /// `{"trigger", "steps", "reentry", "goal"}` as the caller wrote them.
    pub definition: Value,
    /// When it last became active: only triggers from then on start it.
    pub active_since: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub updated_by: String,
}

/// A journey to save (checked by the caller).
#[derive(Clone, Debug, PartialEq)]
pub struct PutJourney {
    pub id: String,
    pub name: String,
    pub status: String,
    pub definition: Value,
}

/// What saving did.
#[derive(Clone, Debug, PartialEq)]
pub enum SavedJourney {
    Created(JourneyRow),
    /// Changed: a new version when the definition or name changed, the same version
    /// when only the status did.
    Updated(JourneyRow),
    Unchanged(JourneyRow),
    Exists,
}

const COLUMNS: &str =
    "id, name, status, version, definition, active_since, created_at, updated_at, updated_by";

fn journey_from_row(r: &AnyRow) -> Result<JourneyRow, StoreError> {
    let text: String = r.try_get("definition")?;
    Ok(JourneyRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        status: r.try_get("status")?,
        version: r.try_get("version")?,
        definition: serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        active_since: r.try_get("active_since")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

async fn journey_in(conn: &mut AnyConnection, id: &str) -> Result<Option<JourneyRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM journeys WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(journey_from_row).transpose()
}

fn audit_body(j: &JourneyRow) -> Value {
    json!({"name": j.name, "status": j.status, "version": j.version, "definition": j.definition})
}

/// Compiles a stored definition. Content is checked when a journey is saved; one
/// deleted since is found missing when its step runs.
pub fn compile_stored(definition: &Value, lang: &Language) -> Result<Journey, String> {
    let reentry = definition
        .get("reentry")
        .and_then(Value::as_str)
        .unwrap_or("once");
    let goal = definition.get("goal").and_then(Value::as_str);
    compile(
        definition.get("trigger").unwrap_or(&Value::Null),
        definition.get("steps").unwrap_or(&Value::Null),
        reentry,
        goal,
        lang,
        &|_| Some(String::new()),
    )
    .map_err(|e| e.message)
}

/// An active journey, compiled.
#[derive(Debug)]
pub(crate) struct Watched {
    pub id: String,
    pub version: i64,
    pub active_since: Micros,
    pub journey: Journey,
}

/// Every active journey, and which of them each kind of trigger starts.
#[derive(Debug, Default)]
pub(crate) struct JourneyBook {
    pub journeys: Vec<Watched>,
    /// Event type → journeys it starts.
    pub by_event: HashMap<String, Vec<usize>>,
    pub on_stage: Vec<usize>,
    pub on_tier: Vec<usize>,
    pub on_ticket: Vec<usize>,
    pub on_care: Vec<usize>,
    /// (segment, entered) → journeys.
    pub by_segment: HashMap<(String, bool), Vec<usize>>,
    pub lang: Option<Language>,
}

impl JourneyBook {
    /// The journeys `event_type` starts.
    pub fn for_event(&self, event_type: &str) -> impl Iterator<Item = &Watched> {
        self.by_event
            .get(event_type)
            .into_iter()
            .flatten()
            .map(|&i| &self.journeys[i])
    }

    pub fn for_segment(&self, segment: &str, entered: bool) -> impl Iterator<Item = &Watched> {
        self.by_segment
            .get(&(segment.to_owned(), entered))
            .into_iter()
            .flatten()
            .map(|&i| &self.journeys[i])
    }

    pub fn for_stage(&self) -> impl Iterator<Item = &Watched> {
        self.on_stage.iter().map(|&i| &self.journeys[i])
    }

    pub fn for_tier(&self) -> impl Iterator<Item = &Watched> {
        self.on_tier.iter().map(|&i| &self.journeys[i])
    }

    pub fn for_ticket(&self) -> impl Iterator<Item = &Watched> {
        self.on_ticket.iter().map(|&i| &self.journeys[i])
    }

    pub fn for_care(&self) -> impl Iterator<Item = &Watched> {
        self.on_care.iter().map(|&i| &self.journeys[i])
    }
}

/// The stamp every journey save advances (`sql::stamp`).
const STAMP: &str = "journeys";

impl Store {
    /// Every journey, by id.
    pub async fn journeys(&self) -> Result<Vec<JourneyRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM journeys ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(journey_from_row).collect()
    }

    pub async fn journey(&self, id: &str) -> Result<Option<JourneyRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        journey_in(&mut conn, id).await
    }

    /// Saves a journey (checked by the caller). With `create`, an id in use is
    /// [`SavedJourney::Exists`]. A changed definition or name is a new version; a
    /// journey becoming active starts counting triggers from `now`.
    pub async fn save_journey(
        &self,
        def: &PutJourney,
        create: bool,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<SavedJourney, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = journey_in(conn, &def.id).await?;
        let same_definition = before
            .as_ref()
            .is_some_and(|b| b.definition == def.definition && b.name == def.name);
        if let Some(b) = &before {
            if same_definition && b.status == def.status {
                return Ok(SavedJourney::Unchanged(b.clone()));
            }
            if create {
                return Ok(SavedJourney::Exists);
            }
        }
        let version = match &before {
            Some(b) if same_definition => b.version,
            Some(b) => b.version + 1,
            None => 1,
        };
        let active_since = match (&before, def.status.as_str()) {
            (Some(b), "active") if b.status == "active" => b.active_since,
            (_, "active") => Some(now),
            (Some(b), _) => b.active_since,
            (None, _) => None,
        };
        let row = JourneyRow {
            id: def.id.clone(),
            name: def.name.clone(),
            status: def.status.clone(),
            version,
            definition: def.definition.clone(),
            active_since,
            created_at: before.as_ref().map_or(now, |b| b.created_at),
            updated_at: now,
            updated_by: actor.reference.clone(),
        };
        let text = row.definition.to_string();
        sqlx::query("DELETE FROM journeys WHERE id = $1")
            .bind(row.id.clone())
            .execute(&mut *conn)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO journeys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )))
        .bind(row.id.clone())
        .bind(row.name.clone())
        .bind(row.status.clone())
        .bind(row.version)
        .bind(text.clone())
        .bind(row.active_since)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.updated_by.clone())
        .execute(&mut *conn)
        .await?;
        if !same_definition {
            sqlx::query(
                "INSERT INTO journey_versions (journey_id, version, definition, saved_at, saved_by) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(row.id.clone())
            .bind(row.version)
            .bind(text)
            .bind(now)
            .bind(actor.reference.clone())
            .execute(&mut *conn)
            .await?;
        }
        crate::sql::advance_stamp(conn, STAMP).await?;
        let change = AuditChange {
            kind: "journey",
            action: match &before {
                None => "create",
                Some(_) if same_definition => "status",
                Some(_) => "update",
            },
            target: format!("journey:{}", row.id),
            reason: None,
            before: before.as_ref().map(audit_body),
            after: Some(audit_body(&row)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(if before.is_some() {
            SavedJourney::Updated(row)
        } else {
            SavedJourney::Created(row)
        })
    }

    /// The active journeys, compiled under `lang`; cached until a journey is saved.
    pub(crate) async fn journey_book(
        &self,
        conn: &mut AnyConnection,
        lang: &Language,
    ) -> Result<Arc<JourneyBook>, StoreError> {
        let now_stamp = crate::sql::stamp(conn, STAMP).await?;
        if let Some((s, book)) = self.journey_cache().lock().expect("journey cache").as_ref()
            && *s == now_stamp
            && book.lang.as_ref() == Some(lang)
        {
            return Ok(book.clone());
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM journeys WHERE status = 'active' ORDER BY id"
        )))
        .fetch_all(&mut *conn)
        .await?;
        let mut book = JourneyBook {
            lang: Some(lang.clone()),
            ..JourneyBook::default()
        };
        for row in &rows {
            let j = journey_from_row(row)?;
            let journey = match compile_stored(&j.definition, lang) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(journey = %j.id, error = %e, "stored journey no longer compiles; skipped");
                    continue;
                }
            };
            let at = book.journeys.len();
            match &journey.trigger {
                Trigger::Event { event_type, .. } => book
                    .by_event
                    .entry(event_type.clone())
                    .or_default()
                    .push(at),
                Trigger::Stage { .. } => book.on_stage.push(at),
                Trigger::Tier { .. } => book.on_tier.push(at),
                Trigger::Ticket { .. } => book.on_ticket.push(at),
                Trigger::Care { .. } => book.on_care.push(at),
                Trigger::Segment { id, entered } => book
                    .by_segment
                    .entry((id.clone(), *entered))
                    .or_default()
                    .push(at),
            }
            book.journeys.push(Watched {
                id: j.id,
                version: j.version,
                active_since: j.active_since.unwrap_or(j.updated_at),
                journey,
            });
        }
        let book = Arc::new(book);
        *self.journey_cache().lock().expect("journey cache") = Some((now_stamp, book.clone()));
        Ok(book)
    }
}
