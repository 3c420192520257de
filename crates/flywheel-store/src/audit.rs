//! The audit log: every change a person makes — earning rules, rewards, partners, points
//! adjustments, manual merges, conflict decisions, API keys, erasures — with who made it
//! (key id and name), when, what kind of thing changed, why, and its value before and
//! after. Each record is written in the same transaction as the change it describes.

use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::time::Micros;
use serde_json::Value;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditActor {
    /// `key:<id>`, `env-admin` or `cli`: how ledger lines and records name the actor.
    pub reference: String,
    /// The API key's id, if a stored key made the change.
    pub key_id: Option<i64>,
    /// The key's label, or who ran the command.
    pub name: String,
}

impl AuditActor {
    /// Someone at the command line (`flywheel keys …`), named by their OS user.
    pub fn cli() -> AuditActor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown user".into());
        AuditActor {
            reference: "cli".into(),
            key_id: None,
            name: format!("command line ({user})"),
        }
    }

    /// Flywheel itself (the built-in segments it saves on a new database).
    pub fn system() -> AuditActor {
        AuditActor {
            reference: "system".into(),
            key_id: None,
            name: "Flywheel (built-in)".into(),
        }
    }
}

/// One change, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditChange {
    /// `points_rules`, `programme`, `membership`, `reward`, `partner`, `points_adjustment`,
    /// `member_merge`, `identity_conflict`, `api_key`, `member_erasure`.
    pub kind: &'static str,
    /// `create`, `update`, `merge`, `dismiss`, `revoke`, `erase`.
    pub action: &'static str,
    /// What changed: `reward:mug`, `member:42`, `api_key:3`…
    pub target: String,
    pub reason: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The kinds of change the log records, for the API to check a filter against.
pub const AUDIT_KINDS: [&str; 38] = [
    "points_rules",
    "programme",
    "membership",
    "benefit",
    "tier_benefits",
    "partner_codes",
    "reward",
    "partner",
    "points_adjustment",
    "member_merge",
    "identity_conflict",
    "api_key",
    "member_erasure",
    "segment",
    "member_tag",
    "tag_dimension",
    "kpi_target",
    "content",
    "consent",
    "journey",
    "suppression",
    "campaign",
    "service_queue",
    "product",
    "coupon",
    "flash_sale",
    "lottery",
    "fission_campaign",
    "leaderboard",
    "award",
    "referral",
    "ticket",
    "staff",
    "service_team_template",
    "member_owner",
    "wecom_group",
    "activity",
    "idea",
];

/// A stored record.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRow {
    pub id: i64,
    pub at: Micros,
    pub actor: String,
    pub actor_key_id: Option<i64>,
    pub actor_name: String,
    pub kind: String,
    pub action: String,
    pub target: String,
    pub reason: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Which records to read: newest first, optionally filtered.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// `key:<id>`, `env-admin`, `cli`, or a key's name.
    pub actor: Option<String>,
    pub kind: Option<String>,
    /// From this instant, inclusive.
    pub from: Option<Micros>,
    /// Up to this instant, exclusive.
    pub to: Option<Micros>,
    /// Only records older than this id (the previous page's `next`).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// Writes `change` in the transaction on `conn`.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    at: Micros,
    actor: &AuditActor,
    change: AuditChange,
) -> Result<(), StoreError> {
    let json = |v: Option<Value>| v.map(|v| v.to_string());
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, details, actor_key_id, actor_name, kind, reason, before_value, after_value) \
         VALUES ($1, $2, $3, $4, '{}', $5, $6, $7, $8, $9, $10)",
    )
    .bind(at)
    .bind(actor.reference.clone())
    .bind(change.action)
    .bind(change.target)
    .bind(actor.key_id)
    .bind(actor.name.clone())
    .bind(change.kind)
    .bind(change.reason)
    .bind(json(change.before))
    .bind(json(change.after))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Audit records, newest first.
    pub async fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let mut conditions = vec!["1 = 1".to_owned()];
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if q.actor.is_some() {
            let (a, b) = (next(), next());
            conditions.push(format!("(actor = {a} OR actor_name = {b})"));
        }
        if q.kind.is_some() {
            conditions.push(format!("kind = {}", next()));
        }
        if q.from.is_some() {
            conditions.push(format!("at >= {}", next()));
        }
        if q.to.is_some() {
            conditions.push(format!("at < {}", next()));
        }
        if q.before_id.is_some() {
            conditions.push(format!("id < {}", next()));
        }
        let limit = next();
        let sql = format!(
            "SELECT id, at, actor, actor_key_id, actor_name, kind, action, target, reason, before_value, after_value \
             FROM audit_log WHERE {} ORDER BY id DESC LIMIT {limit}",
            conditions.join(" AND ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(actor) = &q.actor {
            query = query.bind(actor.clone()).bind(actor.clone());
        }
        if let Some(kind) = &q.kind {
            query = query.bind(kind.clone());
        }
        if let Some(from) = q.from {
            query = query.bind(from);
        }
        if let Some(to) = q.to {
            query = query.bind(to);
        }
        if let Some(id) = q.before_id {
            query = query.bind(id);
        }
        let rows = query
            .bind(i64::from(q.limit))
            .fetch_all(self.pool())
            .await?;
        let parse = |text: Option<String>| -> Result<Option<Value>, StoreError> {
            text.map(|t| serde_json::from_str(&t).map_err(StoreError::from))
                .transpose()
        };
        rows.iter()
            .map(|r| {
                let actor: String = r.try_get("actor")?;
                Ok(AuditRow {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor_key_id: r.try_get("actor_key_id")?,
                    actor_name: r
                        .try_get::<Option<String>, _>("actor_name")?
                        .unwrap_or_else(|| actor.clone()),
                    actor,
                    kind: r.try_get::<Option<String>, _>("kind")?.unwrap_or_default(),
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    reason: r.try_get("reason")?,
                    before: parse(r.try_get("before_value")?)?,
                    after: parse(r.try_get("after_value")?)?,
                })
            })
            .collect()
    }
}
