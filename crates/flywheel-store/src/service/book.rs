//! The service book: the queues feedback is routed with and the team templates events
//! start teams from, compiled once and cached until either changes (the `service`
//! stamp), so ingest reads one counter per batch to know its copy is current.

use super::queues::{COLUMNS, queue_from_row};
use super::teams::{TEMPLATE_COLUMNS, template_from_row};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::service::Queue;
use flywheel_core::service::team::TeamTemplate;
use sqlx::AnyConnection;
use std::sync::{Arc, Mutex};

/// The stamp every queue or template change advances.
pub(crate) const STAMP: &str = "service";

#[derive(Debug, Default)]
pub(crate) struct ServiceBook {
    pub queues: Vec<Queue>,
    pub templates: Vec<TeamTemplate>,
}

impl ServiceBook {
    /// The templates an event of `event_type` starts a team from.
    pub fn starting(&self, event_type: &str) -> impl Iterator<Item = &TeamTemplate> {
        self.templates
            .iter()
            .filter(move |t| t.trigger_event == event_type)
    }

    /// The templates whose closing days an event of `event_type` starts counting.
    pub fn closing(&self, event_type: &str) -> impl Iterator<Item = &TeamTemplate> {
        self.templates
            .iter()
            .filter(move |t| t.close_on.as_deref() == Some(event_type))
    }
}

/// The compiled book and the stamp it was read at.
pub(crate) type ServiceCache = Mutex<Option<(i64, Arc<ServiceBook>)>>;

impl Store {
    pub(crate) async fn service_book(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<Arc<ServiceBook>, StoreError> {
        let now_stamp = crate::sql::stamp(conn, STAMP).await?;
        if let Some((s, book)) = self.service_cache().lock().expect("service cache").as_ref()
            && *s == now_stamp
        {
            return Ok(book.clone());
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM service_queues ORDER BY id"
        )))
        .fetch_all(&mut *conn)
        .await?;
        let queues = rows
            .iter()
            .map(|r| queue_from_row(r).map(|q| q.queue))
            .collect::<Result<_, _>>()?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TEMPLATE_COLUMNS} FROM service_team_templates ORDER BY id"
        )))
        .fetch_all(&mut *conn)
        .await?;
        let lang = self.segment_settings().lang;
        let mut templates = Vec::new();
        for r in &rows {
            let row = template_from_row(r)?;
            match flywheel_core::service::team::compile_template(&row.id, &row.definition, &lang) {
                Ok(t) => templates.push(t),
                Err(e) => {
                    tracing::warn!(template = %row.id, error = %e.message, "stored team template no longer compiles; skipped")
                }
            }
        }
        let book = Arc::new(ServiceBook { queues, templates });
        *self.service_cache().lock().expect("service cache") = Some((now_stamp, book.clone()));
        Ok(book)
    }
}
