//! Campaigns as stored, the pass that sends each occurrence, and the results per
//! variant against the holdout.
//!
//! An occurrence goes out in chunks, each one write transaction: the members of the
//! segment not yet recorded for it are assigned a group (`Campaign::assign`), each
//! outside the holdout gets a message decided as every message is (consent, the list,
//! caps, quiet hours), and each is recorded with its group and message in
//! `campaign_members` in the same transaction. A pass stopped anywhere goes on where it
//! stopped; nobody is sent an occurrence twice.

use super::outbox::{Origin, ToDecide, decide_and_queue};
use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::Policy;
use flywheel_core::engagement::campaign::{Campaign, HOLDOUT, compile_campaign};
use flywheel_core::time::{Micros, days};
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// The statuses a campaign can be in.
pub const CAMPAIGN_STATUSES: [&str; 4] = ["draft", "scheduled", "paused", "done"];

/// A campaign as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub version: i64,
    /// As the caller wrote it.
    pub definition: Value,
    /// The occurrence going out next (0 first).
    pub occurrence: i64,
    /// When it goes out; None once the last has.
    pub next_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub updated_by: String,
}

/// A campaign to save (checked by the caller).
#[derive(Clone, Debug, PartialEq)]
pub struct PutCampaign {
    pub id: String,
    pub name: String,
    pub status: String,
    pub definition: Value,
}

/// What saving did.
#[derive(Clone, Debug, PartialEq)]
pub enum SavedCampaign {
    Created(CampaignRow),
    Updated(CampaignRow),
    Unchanged(CampaignRow),
    Exists,
}

/// One group's results.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VariantResult {
    /// A variant id, or `holdout`.
    pub variant: String,
    pub members: i64,
    pub suppressed: i64,
    pub delivered: i64,
    pub opened: i64,
    pub clicked: i64,
    /// Members who bought within the window after their occurrence went out.
    pub converted: i64,
    /// Members whose stage rose within the window.
    pub rose: i64,
}

/// What a pass sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignReport {
    pub members: u64,
    pub messages: u64,
    pub held_out: u64,
}

const COLUMNS: &str = "id, name, status, version, definition, occurrence, next_at, created_at, updated_at, updated_by";

/// Members handled per transaction.
const CHUNK: i64 = 200;

fn campaign_from_row(r: &AnyRow) -> Result<CampaignRow, StoreError> {
    let text: String = r.try_get("definition")?;
    Ok(CampaignRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        status: r.try_get("status")?,
        version: r.try_get("version")?,
        definition: serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        occurrence: r.try_get("occurrence")?,
        next_at: r.try_get("next_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

async fn campaign_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<CampaignRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM campaigns WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(campaign_from_row).transpose()
}

/// Compiles a stored definition; content is checked when a campaign is saved.
pub fn compile_stored_campaign(definition: &Value) -> Result<Campaign, String> {
    let map = definition
        .as_object()
        .ok_or_else(|| "a campaign definition is an object".to_owned())?;
    compile_campaign(map, &|_| true).map_err(|e| e.message)
}

fn audit_body(c: &CampaignRow) -> Value {
    json!({"name": c.name, "status": c.status, "version": c.version, "definition": c.definition})
}

impl Store {
    pub async fn campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM campaigns ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(campaign_from_row).collect()
    }

    pub async fn campaign(&self, id: &str) -> Result<Option<CampaignRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        campaign_in(&mut conn, id).await
    }

    /// Saves a campaign (checked by the caller). A changed definition is a new version
    /// and starts its schedule again from `send_at`, keeping the occurrences already
    /// sent; a changed status keeps both.
    pub async fn save_campaign(
        &self,
        def: &PutCampaign,
        create: bool,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<SavedCampaign, StoreError> {
        let campaign = compile_stored_campaign(&def.definition).map_err(StoreError::Corrupt)?;
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = campaign_in(conn, &def.id).await?;
        let same = before
            .as_ref()
            .is_some_and(|b| b.definition == def.definition && b.name == def.name);
        if let Some(b) = &before {
            if same && b.status == def.status {
                return Ok(SavedCampaign::Unchanged(b.clone()));
            }
            if create {
                return Ok(SavedCampaign::Exists);
            }
        }
        let (version, occurrence, next_at) = match &before {
            Some(b) if same => (b.version, b.occurrence, b.next_at),
            Some(b) => (b.version + 1, b.occurrence, Some(campaign.send_at)),
            None => (1, 0, Some(campaign.send_at)),
        };
        let row = CampaignRow {
            id: def.id.clone(),
            name: def.name.clone(),
            status: def.status.clone(),
            version,
            definition: def.definition.clone(),
            occurrence,
            next_at,
            created_at: before.as_ref().map_or(now, |b| b.created_at),
            updated_at: now,
            updated_by: actor.reference.clone(),
        };
        sqlx::query("DELETE FROM campaigns WHERE id = $1")
            .bind(row.id.clone())
            .execute(&mut *conn)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO campaigns ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(row.id.clone())
        .bind(row.name.clone())
        .bind(row.status.clone())
        .bind(row.version)
        .bind(row.definition.to_string())
        .bind(row.occurrence)
        .bind(row.next_at)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.updated_by.clone())
        .execute(&mut *conn)
        .await?;
        let change = AuditChange {
            kind: "campaign",
            action: match &before {
                None => "create",
                Some(_) if same => "status",
                Some(_) => "update",
            },
            target: format!("campaign:{}", row.id),
            reason: None,
            before: before.as_ref().map(audit_body),
            after: Some(audit_body(&row)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(if before.is_some() {
            SavedCampaign::Updated(row)
        } else {
            SavedCampaign::Created(row)
        })
    }

    /// Sends every scheduled occurrence due at `now`.
    pub async fn run_campaigns(
        &self,
        policy: &Policy,
        link_base: &str,
        now: Micros,
    ) -> Result<CampaignReport, StoreError> {
        let dnd = policy.engagement.rules().map_err(StoreError::Corrupt)?;
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM campaigns WHERE status = 'scheduled' AND next_at <= $1 ORDER BY next_at, id",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        if !due.is_empty() {
            self.refresh_best_sellers(now).await?;
        }
        let mut report = CampaignReport::default();
        for id in due {
            loop {
                let mut tx = self.begin_write().await?;
                let conn: &mut AnyConnection = &mut tx;
                let lock = crate::dialect::row_lock(self.backend());
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM campaigns WHERE id = $1 AND status = 'scheduled' AND next_at <= $2{lock}"
                )))
                .bind(id.clone())
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = row else { break };
                let c = campaign_from_row(&row)?;
                let Ok(campaign) = compile_stored_campaign(&c.definition) else {
                    sqlx::query("UPDATE campaigns SET status = 'paused' WHERE id = $1")
                        .bind(c.id.clone())
                        .execute(&mut *conn)
                        .await?;
                    tx.commit().await?;
                    break;
                };
                let at = c.next_at.unwrap_or(now);
                let members: Vec<i64> = sqlx::query_scalar(
                    "SELECT s.member_id FROM segment_members s WHERE s.segment_id = $1 \
                     AND NOT EXISTS (SELECT 1 FROM campaign_members m WHERE m.campaign_id = $2 \
                     AND m.occurrence = $3 AND m.member_id = s.member_id) \
                     ORDER BY s.member_id LIMIT $4",
                )
                .bind(campaign.segment.clone())
                .bind(c.id.clone())
                .bind(c.occurrence)
                .bind(CHUNK)
                .fetch_all(&mut *conn)
                .await?;
                if members.is_empty() {
                    // This occurrence is out: schedule the next, or end.
                    let next = campaign.next_after(at, now);
                    sqlx::query(
                        "UPDATE campaigns SET occurrence = occurrence + 1, next_at = $1, \
                         status = CASE WHEN $1 IS NULL THEN 'done' ELSE status END WHERE id = $2",
                    )
                    .bind(next)
                    .bind(c.id.clone())
                    .execute(&mut *conn)
                    .await?;
                    tx.commit().await?;
                    break;
                }
                for member_id in members {
                    let group = campaign.assign(&c.id, member_id);
                    let (variant, message) = match (group, self.member_now(conn, member_id).await?)
                    {
                        (Some(i), Some(member)) => {
                            let v = &campaign.variants[i];
                            let (_, message) = decide_and_queue(
                                conn,
                                &ToDecide {
                                    origin: Origin::Campaign { id: &c.id },
                                    member: &member,
                                    content_id: &v.content,
                                    channel: None,
                                    dnd: &dnd,
                                    programme: policy.points.default_programme(),
                                    link_base,
                                    now,
                                    given: None,
                                    service: false,
                                },
                            )
                            .await?;
                            report.messages += 1;
                            (v.id.clone(), message)
                        }
                        (Some(i), None) => (campaign.variants[i].id.clone(), None),
                        (None, _) => {
                            report.held_out += 1;
                            (HOLDOUT.to_owned(), None)
                        }
                    };
                    sqlx::query(
                        "INSERT INTO campaign_members (campaign_id, occurrence, member_id, variant, message_id, at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(c.id.clone())
                    .bind(c.occurrence)
                    .bind(member_id)
                    .bind(variant)
                    .bind(message)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    report.members += 1;
                }
                tx.commit().await?;
            }
        }
        Ok(report)
    }

    /// Each group's results over every occurrence: variants and the holdout, with
    /// purchases and rises counted within `window_days` of each member's occurrence.
    pub async fn campaign_results(
        &self,
        id: &str,
        window_days: u32,
    ) -> Result<Vec<VariantResult>, StoreError> {
        let (to, from) = (
            super::performance::stage_rank("t.to_stage"),
            super::performance::stage_rank("t.from_stage"),
        );
        let sql = format!(
            "SELECT cm.variant AS variant, COUNT(*) AS members, \
             COALESCE(SUM(CASE WHEN o.status = 'suppressed' THEN 1 ELSE 0 END), 0) AS suppressed, \
             COALESCE(SUM(CASE WHEN o.status = 'delivered' THEN 1 ELSE 0 END), 0) AS delivered, \
             COALESCE(SUM(CASE WHEN o.opened_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS opened, \
             COALESCE(SUM(CASE WHEN o.clicked_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS clicked, \
             COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM events e WHERE e.member_id = cm.member_id \
                 AND e.type = 'purchase' AND e.occurred_at > cm.at AND e.occurred_at <= cm.at + $2) \
                 THEN 1 ELSE 0 END), 0) AS converted, \
             COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM stage_transitions t WHERE t.member_id = cm.member_id \
                 AND t.at > cm.at AND t.at <= cm.at + $2 AND {to} > {from}) THEN 1 ELSE 0 END), 0) AS rose \
             FROM campaign_members cm LEFT JOIN outbox o ON o.id = cm.message_id \
             WHERE cm.campaign_id = $1 GROUP BY cm.variant ORDER BY cm.variant"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .bind(days(window_days))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(VariantResult {
                    variant: r.try_get("variant")?,
                    members: r.try_get("members")?,
                    suppressed: r.try_get("suppressed")?,
                    delivered: r.try_get("delivered")?,
                    opened: r.try_get("opened")?,
                    clicked: r.try_get("clicked")?,
                    converted: r.try_get("converted")?,
                    rose: r.try_get("rose")?,
                })
            })
            .collect()
    }
}
