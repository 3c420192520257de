//! The points catalogue: versions of the earning rules, the rewards catalogue and the
//! partner brands. The rule book is cached per store and reloaded only when a newer
//! version has been stored (by this process or another).

use super::PointsError;
use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::dialect::{lock_table, row_lock};
use crate::error::StoreError;
use flywheel_core::points::{EarningRule, RuleBook, RuleSet};
use flywheel_core::time::Micros;
use flywheel_core::time::to_rfc3339;
use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::sync::Arc;

#[derive(Clone, Debug, Serialize)]
pub struct RuleVersion {
    pub version: i64,
    pub effective_from: Option<Micros>,
    pub created_at: Option<Micros>,
    pub created_by: Option<String>,
    pub rules: Vec<EarningRule>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RewardRow {
    pub id: String,
    pub name: String,
    /// `coupon`, `gift` or `privilege`.
    pub kind: String,
    pub programme: String,
    pub points_cost: i64,
    /// Cash part in minor units (points + cash: 50 points and 49.00).
    pub cash_cost: Option<i64>,
    /// None: unlimited.
    pub stock: Option<i64>,
    pub per_member_limit: Option<i64>,
    pub valid_from: Option<Micros>,
    pub valid_until: Option<Micros>,
    pub active: bool,
    pub created_at: Micros,
    pub updated_at: Micros,
    /// A coupon reward's coupon: redeeming the reward issues a code of it.
    pub coupon_id: Option<String>,
}

impl RewardRow {
    pub(crate) fn check_available(&self, now: Micros) -> Result<(), PointsError> {
        if !self.active {
            return Err(PointsError::RewardUnavailable(format!(
                "reward {} is not active",
                self.id
            )));
        }
        if self.valid_from.is_some_and(|f| now < f) || self.valid_until.is_some_and(|u| now >= u) {
            return Err(PointsError::RewardUnavailable(format!(
                "reward {} cannot be redeemed at this date",
                self.id
            )));
        }
        Ok(())
    }
}

const REWARD_SELECT: &str = "SELECT id, name, kind, programme, points_cost, cash_cost, stock, per_member_limit, valid_from, valid_until, active, created_at, updated_at, coupon_id FROM rewards";

fn reward_from_row(row: &AnyRow) -> Result<RewardRow, StoreError> {
    Ok(RewardRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        programme: row.try_get("programme")?,
        points_cost: row.try_get("points_cost")?,
        cash_cost: row.try_get("cash_cost")?,
        stock: row.try_get("stock")?,
        per_member_limit: row.try_get("per_member_limit")?,
        valid_from: row.try_get("valid_from")?,
        valid_until: row.try_get("valid_until")?,
        active: row.try_get::<i64, _>("active")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        coupon_id: row.try_get("coupon_id")?,
    })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartnerRow {
    pub id: String,
    pub name: String,
    pub programme: String,
    /// `rate_ours` of our points are worth `rate_theirs` of the partner's.
    pub rate_ours: i64,
    pub rate_theirs: i64,
    /// Most of our points one member may exchange with this partner per UTC day.
    pub daily_limit: i64,
    pub created_at: Micros,
}

fn partner_from_row(row: &AnyRow) -> Result<PartnerRow, StoreError> {
    Ok(PartnerRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        programme: row.try_get("programme")?,
        rate_ours: row.try_get("rate_ours")?,
        rate_theirs: row.try_get("rate_theirs")?,
        daily_limit: row.try_get("daily_limit")?,
        created_at: row.try_get("created_at")?,
    })
}

const PARTNER_SELECT: &str =
    "SELECT id, name, programme, rate_ours, rate_theirs, daily_limit, created_at FROM partners";

impl Store {
    /// Every version of the earning rules (cached until a newer one is stored).
    pub async fn rule_book(&self) -> Result<Arc<RuleBook>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        self.rule_book_on(&mut conn).await
    }

    /// [`Store::rule_book`] read on `conn` (a group's own transaction).
    pub(crate) async fn rule_book_on(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<Arc<RuleBook>, StoreError> {
        let latest: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM points_rules")
            .fetch_one(&mut *conn)
            .await?
            .try_get("v")?;
        if let Some((v, book)) = self.rule_cache().lock().expect("rule cache").as_ref()
            && *v == latest
        {
            return Ok(book.clone());
        }
        let mut sets = Vec::new();
        for row in
            sqlx::query("SELECT version, effective_from, rules FROM points_rules ORDER BY version")
                .fetch_all(&mut *conn)
                .await?
        {
            let text: String = row.try_get("rules")?;
            sets.push(RuleSet {
                version: row.try_get("version")?,
                effective_from: row.try_get("effective_from")?,
                rules: serde_json::from_str(&text)?,
            });
        }
        let book = Arc::new(RuleBook::new(sets));
        *self.rule_cache().lock().expect("rule cache") = Some((latest, book.clone()));
        Ok(book)
    }

    /// The stored versions with who stored them, newest first (version 0 = defaults).
    pub async fn rule_versions(&self) -> Result<Vec<RuleVersion>, StoreError> {
        let mut out = Vec::new();
        for row in sqlx::query("SELECT version, effective_from, rules, created_at, created_by FROM points_rules ORDER BY version DESC")
            .fetch_all(self.pool())
            .await?
        {
            let text: String = row.try_get("rules")?;
            out.push(RuleVersion {
                version: row.try_get("version")?,
                effective_from: Some(row.try_get("effective_from")?),
                created_at: Some(row.try_get("created_at")?),
                created_by: Some(row.try_get("created_by")?),
                rules: serde_json::from_str(&text)?,
            });
        }
        out.push(RuleVersion {
            version: 0,
            effective_from: None,
            created_at: None,
            created_by: None,
            rules: flywheel_core::points::rules::default_rules(),
        });
        Ok(out)
    }

    /// How many times each rule has credited `member`, and when it last did: what the
    /// task centre marks tasks done by.
    pub async fn rule_credits(
        &self,
        member: i64,
    ) -> Result<std::collections::BTreeMap<String, (i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.rule_id AS rule_id, COUNT(DISTINCT e.txn_key) AS n, MAX(t.at) AS last \
             FROM points_entries e JOIN points_transactions t ON t.key = e.txn_key \
             WHERE e.member_id = $1 AND e.kind = 'earn' AND t.rule_id IS NOT NULL GROUP BY t.rule_id",
        )
        .bind(member)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("rule_id")?, (r.try_get("n")?, r.try_get("last")?))))
            .collect()
    }

    /// Stores a new version of the rules, in force for events from `effective_from`.
    pub async fn put_rules(
        &self,
        rules: &[EarningRule],
        effective_from: Micros,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        lock_table(conn, self.backend(), "points_rules").await?;
        let previous = sqlx::query(
            "SELECT version, effective_from, rules FROM points_rules ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&mut *conn)
        .await?;
        let (version, before) = match previous {
            Some(row) => {
                let v: i64 = row.try_get("version")?;
                let text: String = row.try_get("rules")?;
                let rules: serde_json::Value = serde_json::from_str(&text)?;
                let from: i64 = row.try_get("effective_from")?;
                (
                    v + 1,
                    json!({"version": v, "effective_from": to_rfc3339(from), "rules": rules}),
                )
            }
            None => (
                1,
                json!({"version": 0, "rules": flywheel_core::points::rules::default_rules()}),
            ),
        };
        let text = serde_json::to_string(rules)?;
        sqlx::query("INSERT INTO points_rules (version, effective_from, rules, created_at, created_by) VALUES ($1, $2, $3, $4, $5)")
            .bind(version)
            .bind(effective_from)
            .bind(text.clone())
            .bind(now)
            .bind(actor.reference.clone())
            .execute(&mut *conn)
            .await?;
        let after = json!({"version": version, "effective_from": to_rfc3339(effective_from), "rules": rules});
        let change = AuditChange {
            kind: "points_rules",
            action: "create",
            target: format!("points_rules:{version}"),
            reason: None,
            before: Some(before),
            after: Some(after),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Creates a reward, or replaces it when `replace` (stock, price, validity…); audited.
    /// False when `replace` is off and the id is taken.
    pub async fn save_reward(
        &self,
        r: &RewardRow,
        replace: bool,
        actor: &AuditActor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = self.reward_for_update(conn, &r.id).await?;
        if before.is_some() && !replace {
            return Ok(false);
        }
        let tail = if replace {
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, programme = excluded.programme, \
             points_cost = excluded.points_cost, cash_cost = excluded.cash_cost, stock = excluded.stock, \
             per_member_limit = excluded.per_member_limit, valid_from = excluded.valid_from, \
             valid_until = excluded.valid_until, active = excluded.active, updated_at = excluded.updated_at, \
             coupon_id = excluded.coupon_id"
        } else {
            "ON CONFLICT (id) DO NOTHING"
        };
        let sql = format!(
            "INSERT INTO rewards (id, name, kind, programme, points_cost, cash_cost, stock, per_member_limit, valid_from, valid_until, active, created_at, updated_at, coupon_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) {tail}"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(r.id.clone())
            .bind(r.name.clone())
            .bind(r.kind.clone())
            .bind(r.programme.clone())
            .bind(r.points_cost)
            .bind(r.cash_cost)
            .bind(r.stock)
            .bind(r.per_member_limit)
            .bind(r.valid_from)
            .bind(r.valid_until)
            .bind(i64::from(r.active))
            .bind(r.created_at)
            .bind(r.updated_at)
            .bind(r.coupon_id.clone())
            .execute(&mut *conn)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let change = AuditChange {
            kind: "reward",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("reward:{}", r.id),
            reason: None,
            before: before.map(serde_json::to_value).transpose()?,
            after: Some(serde_json::to_value(r)?),
        };
        audit::record(conn, r.updated_at, actor, change).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn rewards(&self) -> Result<Vec<RewardRow>, StoreError> {
        let sql = format!("{REWARD_SELECT} ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(reward_from_row)
            .collect()
    }

    pub async fn reward(&self, id: &str) -> Result<Option<RewardRow>, StoreError> {
        let sql = format!("{REWARD_SELECT} WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_optional(self.pool())
            .await?
            .map(|r| reward_from_row(&r))
            .transpose()
    }

    /// The reward, locked until the transaction ends on PostgreSQL.
    pub(crate) async fn reward_for_update(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<RewardRow>, StoreError> {
        let sql = format!("{REWARD_SELECT} WHERE id = $1{}", row_lock(self.backend()));
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| reward_from_row(&r))
            .transpose()
    }

    /// Creates a partner, audited; false if the id is taken.
    pub async fn create_partner(
        &self,
        p: &PartnerRow,
        actor: &AuditActor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let done = sqlx::query(
            "INSERT INTO partners (id, name, programme, rate_ours, rate_theirs, daily_limit, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(p.id.clone())
        .bind(p.name.clone())
        .bind(p.programme.clone())
        .bind(p.rate_ours)
        .bind(p.rate_theirs)
        .bind(p.daily_limit)
        .bind(p.created_at)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let change = AuditChange {
            kind: "partner",
            action: "create",
            target: format!("partner:{}", p.id),
            reason: None,
            before: None,
            after: Some(serde_json::to_value(p)?),
        };
        audit::record(conn, p.created_at, actor, change).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn partners(&self) -> Result<Vec<PartnerRow>, StoreError> {
        let sql = format!("{PARTNER_SELECT} ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(partner_from_row)
            .collect()
    }

    pub async fn partner(&self, id: &str) -> Result<Option<PartnerRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        self.partner_in(&mut conn, id).await
    }

    pub(crate) async fn partner_in(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<PartnerRow>, StoreError> {
        let sql = format!("{PARTNER_SELECT} WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| partner_from_row(&r))
            .transpose()
    }
}
