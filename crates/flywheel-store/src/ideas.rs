//! The co-creation board (migration 49; the rules are `flywheel_core::idea`). Each
//! suggestion is put on the board by the batch that ingests it, so no suggestion is
//! missed and a replay adds nothing; staff move ideas along the board (audited), and each
//! move is a notice to the member (`notices`, delivered through the outbox as a service
//! message). What an adoption gives — the participation, points and badge — is the
//! API's to send, keyed by the idea so it is given once.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use crate::plan::Writes;
use crate::points::PointsError;
use crate::sql::Val;
use flywheel_core::event::{Event, FeedbackKind, Payload};
use flywheel_core::idea;
use flywheel_core::ingest::{MemberId, WorkingSet};
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// An idea on the board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdeaRow {
    pub id: String,
    pub event_id: String,
    pub member_id: MemberId,
    pub text: String,
    pub category: Option<String>,
    /// Where it came from: `card` (the member card) or the event's channel.
    pub via: String,
    pub status: String,
    pub owner_staff_id: Option<String>,
    pub public_note: Option<String>,
    pub reason: Option<String>,
    pub reward_points: i64,
    pub badge: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub updated_by: String,
}

/// A person's change to an idea; None leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdeaChange {
    pub status: Option<String>,
    pub reason: Option<String>,
    pub public_note: Option<String>,
    pub owner_staff_id: Option<String>,
    /// What adopting it gives (kept with the idea; read when it is adopted).
    pub reward_points: Option<i64>,
    pub badge: Option<String>,
}

/// The board's id of the idea a suggestion event makes.
pub fn idea_id(event_id: &str) -> String {
    format!("idea-{}", &flywheel_core::auth::hash_key(event_id)[..16])
}

const COLUMNS: &str = "id, event_id, member_id, text, category, via, status, owner_staff_id, \
    public_note, reason, reward_points, badge, created_at, updated_at, updated_by";

fn from_row(r: &AnyRow) -> Result<IdeaRow, StoreError> {
    Ok(IdeaRow {
        id: r.try_get("id")?,
        event_id: r.try_get("event_id")?,
        member_id: r.try_get("member_id")?,
        text: r.try_get("text")?,
        category: r.try_get("category")?,
        via: r.try_get("via")?,
        status: r.try_get("status")?,
        owner_staff_id: r.try_get("owner_staff_id")?,
        public_note: r.try_get("public_note")?,
        reason: r.try_get("reason")?,
        reward_points: r.try_get("reward_points")?,
        badge: r.try_get("badge")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

/// Puts the batch's suggestions on the board, `received`.
pub(crate) fn plan_ideas(
    w: &mut Writes,
    ws: &WorkingSet,
    events: &[Event],
    accepted: &[(usize, MemberId)],
) {
    for &(i, member) in accepted {
        let e = &events[i];
        let Payload::Feedback {
            kind: FeedbackKind::Suggestion,
            category,
        } = &e.payload
        else {
            continue;
        };
        let text = e
            .properties
            .get("text")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let via = match e.properties.get("via").and_then(|v| v.as_str()) {
            Some("card") => "card".to_owned(),
            _ => e.channel.as_str().to_owned(),
        };
        w.statement(
            "INSERT INTO ideas (id, event_id, member_id, text, category, via, status, \
             reward_points, created_at, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, 'received', 0, $7, $7, 'flywheel') \
             ON CONFLICT (id) DO NOTHING",
            vec![
                idea_id(&e.event_id).into(),
                e.event_id.as_str().into(),
                Val::Int(ws.survivor(member)),
                text.into(),
                Val::OptText(category.clone()),
                via.into(),
                Val::Int(e.occurred_at),
            ],
        );
    }
}

async fn idea_in(conn: &mut AnyConnection, id: &str) -> Result<Option<IdeaRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM ideas WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

impl Store {
    /// The board: ideas of one status (or all), the newest first, up to `limit`.
    pub async fn ideas(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<IdeaRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM ideas WHERE ($1 = '' OR status = $1) \
             ORDER BY created_at DESC, id LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.unwrap_or("").to_owned())
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Ideas per status.
    pub async fn idea_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT status, count(*) AS n FROM ideas GROUP BY status")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    pub async fn idea(&self, id: &str) -> Result<Option<IdeaRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        idea_in(&mut conn, id).await
    }

    /// A member's ideas, the newest first.
    pub async fn member_ideas(&self, member: MemberId) -> Result<Vec<IdeaRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM ideas WHERE member_id = $1 ORDER BY created_at DESC LIMIT 100"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(member)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Applies a person's change to an idea (checked against the board's moves),
    /// audited; a move of status is a notice to the member. Answers the idea as it now
    /// stands and whether its status moved.
    pub async fn change_idea(
        &self,
        id: &str,
        change: &IdeaChange,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<(IdeaRow, bool), PointsError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = idea_in(conn, id)
            .await?
            .ok_or(PointsError::NotFound("idea"))?;
        let status = change
            .status
            .clone()
            .unwrap_or_else(|| before.status.clone());
        idea::check_move(&before.status, &status, change.reason.as_deref())
            .map_err(PointsError::Field)?;
        let given = matches!(before.status.as_str(), "adopted" | "shipped");
        if given
            && (change
                .reward_points
                .is_some_and(|p| p != before.reward_points)
                || change
                    .badge
                    .as_ref()
                    .is_some_and(|b| Some(b) != before.badge.as_ref()))
        {
            return Err(PointsError::Field(
                flywheel_core::validation::FieldError::new(
                    "reward_points",
                    flywheel_core::ErrorCode::InvalidTransition,
                    "what an adoption gives is fixed once the idea is adopted",
                ),
            ));
        }
        let moved = status != before.status;
        let mut after = before.clone();
        after.status = status;
        if change.reason.is_some() {
            after.reason = change.reason.clone();
        }
        if change.public_note.is_some() {
            after.public_note = change.public_note.clone();
        }
        if change.owner_staff_id.is_some() {
            after.owner_staff_id = change.owner_staff_id.clone();
        }
        if let Some(points) = change.reward_points {
            after.reward_points = points;
        }
        if change.badge.is_some() {
            after.badge = change.badge.clone();
        }
        if after == before {
            return Ok((before, false));
        }
        after.updated_at = now;
        after.updated_by = actor.reference.clone();
        sqlx::query(
            "UPDATE ideas SET status = $2, reason = $3, public_note = $4, owner_staff_id = $5, \
             reward_points = $6, badge = $7, updated_at = $8, updated_by = $9 WHERE id = $1",
        )
        .bind(id.to_owned())
        .bind(after.status.clone())
        .bind(after.reason.clone())
        .bind(after.public_note.clone())
        .bind(after.owner_staff_id.clone())
        .bind(after.reward_points)
        .bind(after.badge.clone())
        .bind(now)
        .bind(actor.reference.clone())
        .execute(&mut *conn)
        .await?;
        if moved {
            let (subject, body) = idea::notice(
                &after.status,
                &after.text,
                after.public_note.as_deref(),
                after.reason.as_deref(),
            );
            sqlx::query(
                "INSERT INTO notices (member_id, kind, reference, subject, body, deliver_at, created_at) \
                 VALUES ($1, 'idea', $2, $3, $4, $5, $5) ON CONFLICT (member_id, kind, reference) DO NOTHING",
            )
            .bind(after.member_id)
            .bind(format!("{id}:{}", after.status))
            .bind(subject)
            .bind(body)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        let view = |i: &IdeaRow| {
            json!({"status": i.status, "reason": i.reason, "public_note": i.public_note,
                "owner_staff_id": i.owner_staff_id, "reward_points": i.reward_points,
                "badge": i.badge})
        };
        let record = AuditChange {
            kind: "idea",
            action: "update",
            target: format!("idea:{id}"),
            reason: change.reason.clone(),
            before: Some(view(&before)),
            after: Some(view(&after)),
        };
        audit::record(conn, now, actor, record).await?;
        tx.commit().await?;
        Ok((after, moved))
    }

    /// Gives a member a badge for something other than a segment (an activity, an
    /// idea), once per `source`.
    pub async fn give_badge(
        &self,
        member: MemberId,
        source: &str,
        badge: &str,
        now: Micros,
    ) -> Result<(), StoreError> {
        self.write_alone(
            sqlx::query(
                "INSERT INTO member_badges (member_id, segment_id, badge, awarded_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (member_id, segment_id) DO NOTHING",
            )
            .bind(member)
            .bind(source.to_owned())
            .bind(badge.to_owned())
            .bind(now),
        )
        .await?;
        Ok(())
    }
}
