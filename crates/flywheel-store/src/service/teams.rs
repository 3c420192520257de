//! Service teams (migration 30). A template's trigger event, at ingest, records a team
//! to form (one per template, member and event, whatever the retries); the engagement
//! task forms it from the roster — nearest and least loaded first — and closes it when
//! its days have run (counted from the `close_on` event when the template names one).
//! Staff share notes on the team; the member's timeline is theirs to read.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use crate::plan::Writes;
use crate::segments::live::{ExtrasFor, extras_for};
use crate::sql::Val;
use flywheel_core::Event;
use flywheel_core::ingest::{MemberId, WorkingSet};
use flywheel_core::segment::MemberView;
use flywheel_core::service::team::{Candidate, choose};
use flywheel_core::time::{DAY, Micros};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A template as stored: its definition as the caller sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateRow {
    pub id: String,
    pub definition: Value,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub updated_by: String,
}

pub(super) const TEMPLATE_COLUMNS: &str =
    "id, definition, trigger_event, created_at, updated_at, updated_by";

pub(super) fn template_from_row(r: &AnyRow) -> Result<TemplateRow, StoreError> {
    let id: String = r.try_get("id")?;
    let definition = serde_json::from_str(&r.try_get::<String, _>("definition")?)
        .map_err(|_| StoreError::Corrupt(format!("team template {id}: definition")))?;
    Ok(TemplateRow {
        definition,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
        id,
    })
}

async fn template_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<TemplateRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TEMPLATE_COLUMNS} FROM service_team_templates WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(template_from_row).transpose()
}

/// One person on a member's team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamPlace {
    pub staff_id: String,
    pub name: String,
    pub role: String,
}

/// A note staff left on a team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamNote {
    pub at: Micros,
    pub author: String,
    pub note: String,
}

/// A member's service team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamRow {
    pub id: i64,
    pub template_id: String,
    pub member_id: MemberId,
    /// forming | open | closed | skipped (the template's condition did not hold)
    pub status: String,
    pub triggered_at: Micros,
    pub opened_at: Option<Micros>,
    pub closes_at: Option<Micros>,
    pub closed_at: Option<Micros>,
    /// Roles no one on the roster could fill.
    pub missing: Vec<String>,
    pub team: Vec<TeamPlace>,
    pub notes: Vec<TeamNote>,
}

const TEAM_INSERT: &str =
    "INSERT INTO service_teams (template_id, member_id, cause, status, triggered_at)";
const TEAM_INSERT_TAIL: &str = "ON CONFLICT (template_id, member_id, cause) DO NOTHING";

/// Plans a team to form for each accepted event a template starts one on, and sets the
/// closing day of open teams an event of a template's `close_on` type counts from.
pub(crate) fn plan_event_teams(
    w: &mut Writes,
    book: &super::book::ServiceBook,
    ws: &WorkingSet,
    events: &[Event],
    accepted: &[(usize, MemberId)],
) {
    if book.templates.is_empty() {
        return;
    }
    let mut rows = Vec::new();
    let mut closings = Vec::new();
    for &(i, member) in accepted {
        let e = &events[i];
        let member = ws.survivor(member);
        for t in book.starting(&e.type_name) {
            rows.push(vec![
                t.id.as_str().into(),
                Val::Int(member),
                format!("event:{}", e.event_id).into(),
                "forming".into(),
                Val::Int(e.occurred_at),
            ]);
        }
        for t in book.closing(&e.type_name) {
            closings.push(vec![
                Val::Int(e.occurred_at + i64::from(t.close_after_days) * DAY),
                t.id.as_str().into(),
                Val::Int(member),
                Val::Int(e.occurred_at),
            ]);
        }
    }
    w.rows(TEAM_INSERT, rows, TEAM_INSERT_TAIL);
    // After the inserts, so a deposit and its delivery in one batch close the team; only
    // teams begun by then, so an old delivery does not close a later deal's team.
    for args in closings {
        w.statement(
            "UPDATE service_teams SET closes_at = $1 WHERE template_id = $2 AND member_id = $3 \
             AND status IN ('forming', 'open') AND triggered_at <= $4",
            args,
        );
    }
}

/// What a pass of [`Store::run_service_teams`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TeamsReport {
    pub formed: usize,
    pub skipped: usize,
    pub closed: usize,
}

async fn team_in(conn: &mut AnyConnection, id: i64) -> Result<TeamRow, StoreError> {
    let r = sqlx::query(
        "SELECT id, template_id, member_id, status, triggered_at, opened_at, closes_at, closed_at, missing \
         FROM service_teams WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let missing: Option<String> = r.try_get("missing")?;
    let places = sqlx::query(
        "SELECT t.staff_id, s.name, t.role FROM service_team_staff t \
         LEFT JOIN staff s ON s.id = t.staff_id WHERE t.team_id = $1 ORDER BY t.role, t.staff_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let notes = sqlx::query(
        "SELECT at, author, note FROM service_team_notes WHERE team_id = $1 ORDER BY at, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(TeamRow {
        id,
        template_id: r.try_get("template_id")?,
        member_id: r.try_get("member_id")?,
        status: r.try_get("status")?,
        triggered_at: r.try_get("triggered_at")?,
        opened_at: r.try_get("opened_at")?,
        closes_at: r.try_get("closes_at")?,
        closed_at: r.try_get("closed_at")?,
        missing: missing
            .filter(|m| !m.is_empty())
            .map(|m| m.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        team: places
            .iter()
            .map(|p| {
                let staff_id: String = p.try_get("staff_id")?;
                Ok(TeamPlace {
                    name: p
                        .try_get::<Option<String>, _>("name")?
                        .unwrap_or_else(|| staff_id.clone()),
                    role: p.try_get("role")?,
                    staff_id,
                })
            })
            .collect::<Result<_, StoreError>>()?,
        notes: notes
            .iter()
            .map(|n| {
                Ok(TeamNote {
                    at: n.try_get("at")?,
                    author: n.try_get("author")?,
                    note: n.try_get("note")?,
                })
            })
            .collect::<Result<_, StoreError>>()?,
    })
}

impl Store {
    /// Every template, by id.
    pub async fn team_templates(&self) -> Result<Vec<TemplateRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TEMPLATE_COLUMNS} FROM service_team_templates ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(template_from_row).collect()
    }

    pub async fn team_template(&self, id: &str) -> Result<Option<TemplateRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        template_in(&mut conn, id).await
    }

    /// Saves a template (checked by the caller) whole; false when it was stored as is.
    pub async fn save_team_template(
        &self,
        id: &str,
        definition: &Value,
        trigger_event: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<(TemplateRow, bool), StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = template_in(conn, id).await?;
        if let Some(b) = &before
            && b.definition == *definition
        {
            return Ok((b.clone(), false));
        }
        sqlx::query("DELETE FROM service_team_templates WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *conn)
            .await?;
        let row = TemplateRow {
            id: id.to_owned(),
            definition: definition.clone(),
            created_at: before.as_ref().map_or(now, |b| b.created_at),
            updated_at: now,
            updated_by: actor.reference.clone(),
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO service_team_templates ({TEMPLATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        )))
        .bind(row.id.clone())
        .bind(definition.to_string())
        .bind(trigger_event.to_owned())
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.updated_by.clone())
        .execute(&mut *conn)
        .await?;
        crate::sql::advance_stamp(conn, super::book::STAMP).await?;
        let change = AuditChange {
            kind: "service_team_template",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("service_team_template:{id}"),
            reason: None,
            before: before.map(|b| b.definition),
            after: Some(definition.clone()),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok((row, true))
    }

    /// Forms the teams waiting to form (from the roster as it stands) and closes those
    /// whose days have run, each in its own short transaction.
    pub async fn run_service_teams(&self, now: Micros) -> Result<TeamsReport, StoreError> {
        let mut report = TeamsReport::default();
        let waiting: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM service_teams WHERE status = 'forming' AND triggered_at <= $1 ORDER BY id LIMIT 200",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        for id in waiting {
            match self.form_team(id, now).await? {
                Some(true) => report.formed += 1,
                Some(false) => report.skipped += 1,
                None => {}
            }
        }
        // A team due is closed by the writer: an update through the pool would wait on
        // SQLite's lock, then make the writer wait, and pass the write generation by.
        let due = "status = 'open' AND closes_at <= $1";
        if self
            .anything_due(&format!("service_teams WHERE {due}"), now)
            .await?
        {
            let mut tx = self.begin_write().await?;
            report.closed = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE service_teams SET status = 'closed', closed_at = $1 WHERE {due}"
            )))
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected() as usize;
            // Teams only: nothing the member cache holds.
            self.commit_keeping_cache(tx).await?;
        }
        Ok(report)
    }

    /// Forms one team; Some(false) when the template's condition does not hold, None
    /// when another process formed it first. It writes teams and their staff only,
    /// nothing the member cache holds.
    async fn form_team(&self, id: i64, now: Micros) -> Result<Option<bool>, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let lock = crate::dialect::row_lock(self.backend());
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT template_id, member_id, cause FROM service_teams WHERE id = $1 AND status = 'forming'{lock}"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let template_id: String = row.try_get("template_id")?;
        let cause: String = row.try_get("cause")?;
        let book = self.service_book(conn).await?;
        let Some(template) = book.templates.iter().find(|t| t.id == template_id) else {
            sqlx::query("UPDATE service_teams SET status = 'skipped', missing = 'template deleted' WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            self.commit_keeping_cache(tx).await?;
            return Ok(Some(false));
        };
        let Some(member) = self.member_now(conn, row.try_get("member_id")?).await? else {
            sqlx::query("UPDATE service_teams SET status = 'skipped', missing = 'member gone' WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            self.commit_keeping_cache(tx).await?;
            return Ok(Some(false));
        };
        if let Some(cond) = &template.when {
            let catalogue = self.catalogue_on(conn).await?;
            let settings = self.segment_settings();
            let ctx = ExtrasFor {
                backend: self.backend(),
                catalogue: &catalogue,
                points_programme: &settings.points_programme,
                now,
            };
            let extras = extras_for(conn, &ctx, &[cond], &[member.id]).await?;
            let none = Default::default();
            let view = MemberView {
                created_at: member.created_at,
                stage: member.stage,
                lens: member.lens,
                facts: &member.facts,
                profile: &member.profile,
                extras: extras.get(&member.id).unwrap_or(&none),
            };
            if !cond.holds(&view, now, &settings.lang) {
                sqlx::query("UPDATE service_teams SET status = 'skipped' WHERE id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                self.commit_keeping_cache(tx).await?;
                return Ok(Some(false));
            }
        }
        // The store the deposit was paid at, if the event says.
        let store: Option<String> = match cause.strip_prefix("event:") {
            Some(event_id) => {
                sqlx::query_scalar::<_, String>("SELECT properties FROM events WHERE event_id = $1")
                    .bind(event_id.to_owned())
                    .fetch_optional(&mut *conn)
                    .await?
                    .and_then(|p| serde_json::from_str::<Value>(&p).ok())
                    .and_then(|p| p.get("store").and_then(|s| s.as_str()).map(str::to_owned))
            }
            None => None,
        };
        let roster = sqlx::query(
            "SELECT s.id, s.roles, s.city, s.store, \
             (SELECT COUNT(*) FROM service_team_staff ts JOIN service_teams t ON t.id = ts.team_id \
              WHERE ts.staff_id = s.id AND t.status = 'open') AS load \
             FROM staff s WHERE s.active = 1 ORDER BY s.id",
        )
        .fetch_all(&mut *conn)
        .await?;
        let candidates: Vec<Candidate> = roster
            .iter()
            .map(|r| {
                let roles: Vec<String> =
                    serde_json::from_str(&r.try_get::<String, _>("roles")?).unwrap_or_default();
                Ok(Candidate {
                    id: r.try_get("id")?,
                    roles,
                    city: r.try_get("city")?,
                    store: r.try_get("store")?,
                    load: u32::try_from(r.try_get::<i64, _>("load")?).unwrap_or(u32::MAX),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let formed = choose(
            &template.roles,
            &candidates,
            member.profile.city.as_deref(),
            store.as_deref(),
        );
        for (staff, role) in &formed.team {
            sqlx::query(
                "INSERT INTO service_team_staff (team_id, staff_id, role) VALUES ($1, $2, $3) \
                 ON CONFLICT (team_id, staff_id, role) DO NOTHING",
            )
            .bind(id)
            .bind(staff.clone())
            .bind(role.clone())
            .execute(&mut *conn)
            .await?;
        }
        // Without a closing event the days count from today; with one, from that event
        // (already set if it came first).
        let closes_at = match &template.close_on {
            None => Some(now + i64::from(template.close_after_days) * DAY),
            Some(_) => None,
        };
        sqlx::query(
            "UPDATE service_teams SET status = 'open', opened_at = $1, \
             closes_at = COALESCE(closes_at, $2), missing = $3 WHERE id = $4",
        )
        .bind(now)
        .bind(closes_at)
        .bind(formed.missing.join(","))
        .bind(id)
        .execute(&mut *conn)
        .await?;
        self.commit_keeping_cache(tx).await?;
        Ok(Some(true))
    }

    /// The member's latest team (theirs or a merged member's), open ones first.
    pub async fn member_team(&self, member: MemberId) -> Result<Option<TeamRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM service_teams WHERE (member_id = $1 OR member_id IN \
             (SELECT id FROM members WHERE merged_into = $1)) AND status IN ('open', 'forming', 'closed') \
             ORDER BY CASE status WHEN 'open' THEN 0 WHEN 'forming' THEN 1 ELSE 2 END, triggered_at DESC, id DESC LIMIT 1",
        )
        .bind(member)
        .fetch_optional(&mut *conn)
        .await?;
        match id {
            Some(id) => Ok(Some(team_in(&mut conn, id).await?)),
            None => Ok(None),
        }
    }

    /// Adds a note to a team; a retry under the same key adds nothing.
    pub async fn note_team(
        &self,
        team: i64,
        note: &str,
        request_key: Option<&str>,
        author: &str,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let added = self
            .write_alone(
                sqlx::query(
                    "INSERT INTO service_team_notes (team_id, at, author, note, request_key) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (team_id, request_key) DO NOTHING",
                )
                .bind(team)
                .bind(now)
                .bind(author.to_owned())
                .bind(note.to_owned())
                .bind(request_key.map(str::to_owned)),
            )
            .await?
            .rows_affected()
            > 0;
        Ok(added)
    }
}
