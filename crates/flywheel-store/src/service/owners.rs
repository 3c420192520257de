//! Owners of relationships (migration 32; seed 002's long-term Fellow, seed 003's shop
//! assistants each holding their members): one member of staff per member, set by hand
//! (audited) or by the daily care pass's rule, and each owner's list of members with
//! what needs doing today.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::ingest::{MemberId, MemberState};
use flywheel_core::service::care::CarePolicy;
use flywheel_core::time::{DAY, Micros};
use serde_json::json;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;

/// A member's owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRow {
    pub member_id: MemberId,
    pub staff_id: String,
    pub name: String,
    pub since: Micros,
    /// `rule:home_store`, `rule:city`, or the person who set it (`key:<id>`).
    pub assigned_by: String,
    pub reason: Option<String>,
}

/// One of an owner's members, with today's reasons to reach out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedMember {
    pub member_id: MemberId,
    pub stage: String,
    pub todo: Vec<String>,
}

async fn owner_in(
    conn: &mut AnyConnection,
    member: MemberId,
) -> Result<Option<OwnerRow>, StoreError> {
    let row = sqlx::query(
        "SELECT o.member_id, o.staff_id, s.name, o.since, o.assigned_by, o.reason \
         FROM member_owners o LEFT JOIN staff s ON s.id = o.staff_id WHERE o.member_id = $1",
    )
    .bind(member)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        let staff_id: String = r.try_get("staff_id")?;
        Ok(OwnerRow {
            member_id: r.try_get("member_id")?,
            name: r
                .try_get::<Option<String>, _>("name")?
                .unwrap_or_else(|| staff_id.clone()),
            staff_id,
            since: r.try_get("since")?,
            assigned_by: r.try_get("assigned_by")?,
            reason: r.try_get("reason")?,
        })
    })
    .transpose()
}

/// Staff who may own relationships, with how many they own, for the rule.
pub(crate) struct OwnerRule {
    by: String,
    candidates: Vec<(String, Option<String>, Option<String>)>,
    load: BTreeMap<String, i64>,
}

impl OwnerRule {
    pub(crate) async fn load(
        conn: &mut AnyConnection,
        policy: &CarePolicy,
    ) -> Result<Option<OwnerRule>, StoreError> {
        if policy.assign_owners == "none" {
            return Ok(None);
        }
        let rows =
            sqlx::query("SELECT id, roles, city, store FROM staff WHERE active = 1 ORDER BY id")
                .fetch_all(&mut *conn)
                .await?;
        let mut candidates = Vec::new();
        for r in &rows {
            let roles: Vec<String> =
                serde_json::from_str(&r.try_get::<String, _>("roles")?).unwrap_or_default();
            if roles.iter().any(|role| policy.owner_roles.contains(role)) {
                candidates.push((r.try_get("id")?, r.try_get("city")?, r.try_get("store")?));
            }
        }
        let load =
            sqlx::query("SELECT staff_id, COUNT(*) AS n FROM member_owners GROUP BY staff_id")
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("staff_id")?, r.try_get("n")?)))
                .collect::<Result<_, StoreError>>()?;
        Ok(Some(OwnerRule {
            by: policy.assign_owners.clone(),
            candidates,
            load,
        }))
    }

    /// Gives `member` an owner if it has none and the rule finds one.
    pub(crate) async fn assign(
        &mut self,
        conn: &mut AnyConnection,
        member: &MemberState,
        now: Micros,
    ) -> Result<(), StoreError> {
        let store = member.facts.home_store();
        let city = member.profile.city.as_deref();
        let near = |c: &(String, Option<String>, Option<String>)| -> Option<(u8, &'static str)> {
            if self.by == "home_store" && store.is_some() && c.2.as_deref() == store {
                Some((0, "rule:home_store"))
            } else if city.is_some() && c.1.as_deref() == city {
                Some((1, "rule:city"))
            } else {
                None
            }
        };
        let pick = self
            .candidates
            .iter()
            .filter_map(|c| {
                near(c).map(|(rank, why)| {
                    (
                        rank,
                        self.load.get(&c.0).copied().unwrap_or(0),
                        c.0.clone(),
                        why,
                    )
                })
            })
            .min();
        let Some((_, _, staff, why)) = pick else {
            return Ok(());
        };
        let added = sqlx::query(
            "INSERT INTO member_owners (member_id, staff_id, since, assigned_by, reason) \
             VALUES ($1, $2, $3, $4, NULL) ON CONFLICT (member_id) DO NOTHING",
        )
        .bind(member.id)
        .bind(staff.clone())
        .bind(now)
        .bind(why.to_owned())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if added > 0 {
            *self.load.entry(staff).or_default() += 1;
        }
        Ok(())
    }
}

impl Store {
    pub async fn member_owner(&self, member: MemberId) -> Result<Option<OwnerRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        owner_in(&mut conn, member).await
    }

    /// Sets (or, with None, removes) a member's owner by hand; audited. False when it
    /// already stood so.
    pub async fn set_member_owner(
        &self,
        member: MemberId,
        staff_id: Option<&str>,
        reason: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = owner_in(conn, member).await?;
        if before.as_ref().map(|o| o.staff_id.as_str()) == staff_id {
            return Ok(false);
        }
        sqlx::query("DELETE FROM member_owners WHERE member_id = $1")
            .bind(member)
            .execute(&mut *conn)
            .await?;
        if let Some(staff) = staff_id {
            sqlx::query(
                "INSERT INTO member_owners (member_id, staff_id, since, assigned_by, reason) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(member)
            .bind(staff.to_owned())
            .bind(now)
            .bind(actor.reference.clone())
            .bind(reason.to_owned())
            .execute(&mut *conn)
            .await?;
        }
        let change = AuditChange {
            kind: "member_owner",
            action: if staff_id.is_some() { "set" } else { "remove" },
            target: format!("member:{member}"),
            reason: Some(reason.to_owned()),
            before: before.map(|o| json!({"staff_id": o.staff_id})),
            after: staff_id.map(|s| json!({"staff_id": s})),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// An owner's members (up to `limit`), each with what needs doing today: care
    /// moments, open tickets, a super user not talked to for 30 days, a prospect to
    /// invite into the paid tier.
    pub async fn owned_members(
        &self,
        staff_id: &str,
        now: Micros,
        limit: i64,
    ) -> Result<Vec<OwnedMember>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let ids: Vec<MemberId> = sqlx::query_scalar(
            "SELECT member_id FROM member_owners WHERE staff_id = $1 ORDER BY member_id LIMIT $2",
        )
        .bind(staff_id.to_owned())
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let day = now.div_euclid(DAY);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(m) = self.member(id).await? else {
                continue;
            };
            let mut todo: Vec<String> = sqlx::query_scalar(
                "SELECT reason FROM care_moments WHERE day = $1 AND member_id = $2 ORDER BY kind, subject",
            )
            .bind(day)
            .bind(m.id)
            .fetch_all(&mut *conn)
            .await?;
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM tickets WHERE member_id = $1 AND status <> 'resolved'",
            )
            .bind(m.id)
            .fetch_one(&mut *conn)
            .await?;
            if open > 0 {
                todo.push(format!(
                    "{open} open ticket{}",
                    if open == 1 { "" } else { "s" }
                ));
            }
            let scores = sqlx::query(
                "SELECT super_user, paid_member FROM member_scores WHERE member_id = $1",
            )
            .bind(m.id)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(s) = scores {
                let score: f64 = s.try_get("super_user")?;
                let paid: i64 = s.try_get("paid_member")?;
                let silent = m.facts.last_talk_at.is_none_or(|t| now - t > 30 * DAY);
                if paid != 0 && silent {
                    todo.push("A super user not talked to for 30 days: time for a date".into());
                } else if paid == 0 && score >= 50.0 {
                    todo.push(format!(
                        "A prospect for the paid tier (super-user score {score:.0}): invite them"
                    ));
                }
            }
            out.push(OwnedMember {
                member_id: m.id,
                stage: m.stage.as_str().to_owned(),
                todo,
            });
        }
        Ok(out)
    }
}
