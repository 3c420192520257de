//! `/journeys`: every journey with its trigger, status and version, how many members
//! are on it, have finished or were not admitted, and what its messages came to over
//! seven days after delivery; then the latest messages in the outbox, suppressed ones
//! with the reason.

use super::page::{Chrome, PageError, render};
use super::session::Viewer;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use flywheel_core::auth::Permission;
use flywheel_core::time::to_datetime;
use flywheel_store::{Messages, OutboxQuery, Performance};
use serde_json::Value;

pub(super) struct JourneyLine {
    pub id: String,
    pub name: String,
    pub status: String,
    pub version: i64,
    /// The trigger in words.
    pub trigger: String,
    pub steps: usize,
    pub under_way: i64,
    pub done: i64,
    pub skipped: i64,
    pub performance: Performance,
}

pub(super) struct MessageLine {
    pub id: i64,
    pub member_id: i64,
    pub journey: String,
    pub content: String,
    pub channel: String,
    pub status: String,
    pub reason: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "journeys.html")]
struct JourneysPage {
    chrome: Chrome,
    journeys: Vec<JourneyLine>,
    messages: Vec<MessageLine>,
}

/// "purchase when purchases_within(365d) == 3", "stage none → any", "enters buyers".
fn trigger_words(t: &Value) -> String {
    if let Some(e) = t["event"].as_str() {
        return match t["when"].as_str() {
            Some(w) => format!("{e} when {w}"),
            None => e.to_owned(),
        };
    }
    if t["stage"].is_object() {
        let end = |k: &str| t["stage"][k].as_str().unwrap_or("any").to_owned();
        return format!("stage {} → {}", end("from"), end("to"));
    }
    let on = if t["on"] == "exit" {
        "leaves"
    } else {
        "enters"
    };
    format!("{on} {}", t["segment"].as_str().unwrap_or("?"))
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    viewer.caller.require(Permission::ReadStats)?;
    let counts = state.store.journey_run_counts().await?;
    let count = |id: &str, statuses: &[&str]| -> i64 {
        statuses
            .iter()
            .filter_map(|s| counts.get(&(id.to_owned(), (*s).to_owned())))
            .sum()
    };
    let mut journeys = Vec::new();
    for j in state.store.journeys().await? {
        let performance = state
            .store
            .message_performance(Messages::Journey(&j.id), 7)
            .await?;
        journeys.push(JourneyLine {
            trigger: trigger_words(&j.definition["trigger"]),
            steps: j.definition["steps"].as_array().map_or(0, Vec::len),
            under_way: count(&j.id, &["triggered", "active"]),
            done: count(&j.id, &["done", "exited"]),
            skipped: count(&j.id, &["skipped"]),
            performance,
            id: j.id,
            name: j.name,
            status: j.status,
            version: j.version,
        });
    }
    let messages = state
        .store
        .outbox(&OutboxQuery {
            limit: 50,
            ..OutboxQuery::default()
        })
        .await?
        .into_iter()
        .map(|m| MessageLine {
            id: m.id,
            member_id: m.member_id,
            journey: m.journey_id.unwrap_or_default(),
            content: m.content_id.unwrap_or_else(|| m.kind.clone()),
            channel: m.channel,
            status: m.status,
            reason: m.reason.unwrap_or_default(),
            at: to_datetime(m.send_at)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string(),
        })
        .collect();
    let page = JourneysPage {
        chrome: Chrome::of(&viewer, "journeys"),
        journeys,
        messages,
    };
    Ok(render(&viewer, &page))
}
