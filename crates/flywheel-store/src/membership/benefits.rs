//! Benefits: the catalogue, which tiers give which, members' benefits now, and uses
//! recorded where they happen. A benefit taken off a tier stays with each holder until
//! their term ends (`benefit_keeps`), and every holder gets a notice before it goes; one
//! added is given at once and announced before each holder's renewal.

use super::partner_codes::{codes_of, take_code};
use super::programmes::latest;
use super::purchases::{MEMBERSHIP_SELECT, membership_from_row};
use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use crate::points::commands::{check_replay, lock_member, new_id};
use crate::points::{PointsError, retrying};
use flywheel_core::membership::benefit::{Benefit, check_use, period_of};
use flywheel_core::membership::{Membership, Programme};
use flywheel_core::time::{DAY, Micros, to_rfc3339};
use flywheel_core::validation::FieldError;
use flywheel_core::{ErrorCode, MemberId};
use serde::Serialize;
use serde_json::json;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet};

/// A stored benefit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenefitRow {
    pub id: String,
    pub definition: Benefit,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// What storing a benefit came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavedBenefit {
    Created,
    Updated,
    /// The same definition was stored already (a retried request).
    Unchanged,
    /// `POST` of an id that exists with another definition.
    Exists,
}

/// A benefit a member holds now, through which tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldBenefit {
    pub benefit: BenefitRow,
    pub programme: String,
    pub tier: String,
    /// Set when the benefit has left the tier and stays with the member until then.
    pub until: Option<Micros>,
    /// Uses counted in the current period of its limit, and when that period ends.
    pub used: u32,
    pub period_ends: Option<Micros>,
    /// A partner benefit: the codes handed to the member in the current period of its
    /// limit (or its term), oldest first.
    pub codes: Vec<String>,
}

/// `POST /v1/members/{id}/benefits/{benefit}/uses`, as the store takes it.
#[derive(Clone, Debug, Serialize)]
pub struct UseRequest {
    pub member_id: MemberId,
    pub benefit: String,
    pub channel: Option<String>,
    pub category: Option<String>,
    pub idempotency_key: String,
    #[serde(skip)]
    pub actor: AuditActor,
}

/// A recorded use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UseRow {
    pub id: String,
    pub member_id: MemberId,
    pub benefit: String,
    pub programme: String,
    pub tier: String,
    pub channel: Option<String>,
    pub category: Option<String>,
    pub at: Micros,
    /// Uses left in the period after this one (None: no limit).
    pub remaining: Option<u32>,
    /// A partner benefit: the partner and the code this use handed out.
    pub partner: Option<String>,
    pub code: Option<String>,
}

/// A notice to a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeRow {
    pub member_id: MemberId,
    pub kind: String,
    pub reference: String,
    pub subject: String,
    pub body: String,
    pub deliver_at: Micros,
    pub created_at: Micros,
}

/// What changed in a tier's benefits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TierBenefitsChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Notices written to holders.
    pub notices: u64,
}

fn benefit_from_row(row: &sqlx::any::AnyRow) -> Result<BenefitRow, StoreError> {
    let text: String = row.try_get("definition")?;
    Ok(BenefitRow {
        id: row.try_get("id")?,
        definition: serde_json::from_str(&text)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) async fn benefit_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<BenefitRow>, StoreError> {
    sqlx::query("SELECT id, definition, created_at, updated_at FROM benefits WHERE id = $1")
        .bind(id.to_owned())
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(benefit_from_row)
        .transpose()
}

/// The memberships a member holds at `now` (by the programmes' own terms and grace).
async fn held_now(
    conn: &mut AnyConnection,
    member: MemberId,
    now: Micros,
) -> Result<Vec<(Membership, Programme)>, StoreError> {
    let sql = format!("{MEMBERSHIP_SELECT} WHERE member_id = $1 ORDER BY programme");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(member)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let m = membership_from_row(&row)?;
        if let Some(p) = latest(conn, &m.programme).await?
            && m.active_at(&p.definition, now)
        {
            out.push((m, p.definition));
        }
    }
    Ok(out)
}

/// The benefits a member holds at `now`, each once (through the first tier giving it).
async fn benefits_held(
    conn: &mut AnyConnection,
    member: MemberId,
    now: Micros,
) -> Result<Vec<(HeldBenefit, Membership)>, StoreError> {
    let mut out: Vec<(HeldBenefit, Membership)> = Vec::new();
    let mut seen = BTreeSet::new();
    for (m, programme) in held_now(conn, member, now).await? {
        // A benefit's uses per term count in the term `now` falls in.
        let term = m.term_at(&programme, now);
        let mut given: BTreeMap<String, Option<Micros>> = BTreeMap::new();
        for row in
            sqlx::query("SELECT benefit FROM tier_benefits WHERE programme = $1 AND tier = $2")
                .bind(m.programme.clone())
                .bind(m.tier.clone())
                .fetch_all(&mut *conn)
                .await?
        {
            given.insert(row.try_get("benefit")?, None);
        }
        for row in sqlx::query(
            "SELECT benefit, until FROM benefit_keeps WHERE member_id = $1 AND programme = $2 \
             AND tier = $3 AND until > $4",
        )
        .bind(member)
        .bind(m.programme.clone())
        .bind(m.tier.clone())
        .bind(now)
        .fetch_all(&mut *conn)
        .await?
        {
            given
                .entry(row.try_get("benefit")?)
                .or_insert(Some(row.try_get("until")?));
        }
        for (id, until) in given {
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(benefit) = benefit_in(conn, &id).await? else {
                continue;
            };
            let (used, period_start, period_ends) = match &benefit.definition.limit {
                Some(limit) => {
                    let (from, to) = period_of(limit.per, now, term);
                    let used = uses_between(conn, member, &id, from, to).await?;
                    (used, from, Some(to).filter(|t| *t != Micros::MAX))
                }
                None => (0, term.0, None),
            };
            let codes = match &benefit.definition.partner {
                Some(_) => codes_of(conn, member, &id, period_start).await?,
                None => Vec::new(),
            };
            out.push((
                HeldBenefit {
                    benefit,
                    programme: m.programme.clone(),
                    tier: m.tier.clone(),
                    until,
                    used,
                    period_ends,
                    codes,
                },
                m.clone(),
            ));
        }
    }
    Ok(out)
}

async fn uses_between(
    conn: &mut AnyConnection,
    member: MemberId,
    benefit: &str,
    from: Micros,
    to: Micros,
) -> Result<u32, StoreError> {
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM benefit_uses WHERE member_id = $1 AND benefit = $2 AND at >= $3 AND at < $4",
    )
    .bind(member)
    .bind(benefit.to_owned())
    .bind(from)
    .bind(to)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn refuse(field: &str, code: ErrorCode, message: String) -> PointsError {
    PointsError::Field(FieldError::new(field, code, message))
}

impl Store {
    /// Every benefit, by id.
    pub async fn benefits(&self) -> Result<Vec<BenefitRow>, StoreError> {
        sqlx::query("SELECT id, definition, created_at, updated_at FROM benefits ORDER BY id")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(benefit_from_row)
            .collect()
    }

    pub async fn benefit(&self, id: &str) -> Result<Option<BenefitRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        benefit_in(&mut conn, id).await
    }

    /// Stores a benefit: `create` refuses an id that exists with another definition.
    /// Audited; storing the same definition again changes nothing.
    pub async fn save_benefit(
        &self,
        id: &str,
        definition: &Benefit,
        create: bool,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<SavedBenefit, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = benefit_in(conn, id).await?;
        let outcome = match &before {
            Some(b) if &b.definition == definition => return Ok(SavedBenefit::Unchanged),
            Some(_) if create => return Ok(SavedBenefit::Exists),
            Some(_) => SavedBenefit::Updated,
            None => SavedBenefit::Created,
        };
        sqlx::query(
            "INSERT INTO benefits (id, definition, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at",
        )
        .bind(id.to_owned())
        .bind(serde_json::to_string(definition)?)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        let change = AuditChange {
            kind: "benefit",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("benefit:{id}"),
            reason: None,
            before: before.map(|b| json!(b.definition)),
            after: Some(json!(definition)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// The benefits a tier gives now, by id.
    pub async fn tier_benefits(
        &self,
        programme: &str,
        tier: &str,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query(
            "SELECT benefit FROM tier_benefits WHERE programme = $1 AND tier = $2 ORDER BY benefit",
        )
        .bind(programme.to_owned())
        .bind(tier.to_owned())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| Ok(r.try_get("benefit")?))
        .collect()
    }

    /// Sets the benefits a tier gives. One added is given at once and announced to the
    /// holders `notice_days` before their term ends; one removed stays with each holder
    /// until their term (and grace) ends, with a notice `notice_days` before. Audited.
    pub async fn set_tier_benefits(
        &self,
        programme_id: &str,
        tier: &str,
        benefits: &[String],
        notice_days: u32,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<TierBenefitsChange, PointsError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let programme = latest(conn, programme_id)
            .await?
            .ok_or(PointsError::NotFound("programme"))?
            .definition;
        if programme.tier(tier).is_none() {
            return Err(refuse(
                "tier",
                ErrorCode::InvalidValue,
                format!("programme {programme_id:?} has no tier {tier:?}"),
            ));
        }
        let mut names = BTreeMap::new();
        for (i, id) in benefits.iter().enumerate() {
            let b = benefit_in(conn, id).await?.ok_or_else(|| {
                refuse(
                    &format!("benefits[{i}]"),
                    ErrorCode::BenefitNotFound,
                    format!("there is no benefit {id:?}"),
                )
            })?;
            names.insert(id.clone(), b.definition.name);
        }
        let before: BTreeSet<String> =
            sqlx::query("SELECT benefit FROM tier_benefits WHERE programme = $1 AND tier = $2")
                .bind(programme_id.to_owned())
                .bind(tier.to_owned())
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| r.try_get("benefit"))
                .collect::<Result<_, _>>()?;
        let after: BTreeSet<String> = benefits.iter().cloned().collect();
        let mut change = TierBenefitsChange {
            added: after.difference(&before).cloned().collect(),
            removed: before.difference(&after).cloned().collect(),
            notices: 0,
        };
        if change.added.is_empty() && change.removed.is_empty() {
            return Ok(change);
        }
        for id in &change.removed {
            let name = benefit_in(conn, id)
                .await?
                .map_or_else(|| id.clone(), |b| b.definition.name);
            names.insert(id.clone(), name);
        }
        let grace = i64::from(programme.downgrade.grace_days) * DAY;
        let notice = i64::from(notice_days) * DAY;
        // Holders now: their term (and grace) not over, or no term at all.
        let holders: Vec<(MemberId, Option<Micros>)> = sqlx::query(
            "SELECT member_id, expires_at FROM memberships WHERE programme = $1 AND tier = $2 \
             AND (expires_at IS NULL OR expires_at > $3) ORDER BY member_id",
        )
        .bind(programme_id.to_owned())
        .bind(tier.to_owned())
        .bind(now - grace)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("member_id")?, r.try_get("expires_at")?)))
        .collect::<Result<_, StoreError>>()?;
        for id in &change.added {
            sqlx::query(
                "INSERT INTO tier_benefits (programme, tier, benefit, added_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(programme_id.to_owned())
            .bind(tier.to_owned())
            .bind(id.clone())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            for (member, expires) in &holders {
                let deliver = expires.map_or(now, |end| (end - notice).max(now));
                let subject = format!("{tier} now includes {}", names[id]);
                let body = match expires {
                    Some(end) => format!(
                        "{} is part of your {tier} membership from today, and stays with it when you renew before {}.",
                        names[id],
                        to_rfc3339(*end)
                    ),
                    None => format!(
                        "{} is part of your {tier} membership from today.",
                        names[id]
                    ),
                };
                let notice = NoticeRow {
                    member_id: *member,
                    kind: "benefit_added".into(),
                    reference: format!("{programme_id}/{tier}/{id}/added/{now}"),
                    subject,
                    body,
                    deliver_at: deliver,
                    created_at: now,
                };
                change.notices += write_notice(conn, &notice).await?;
            }
        }
        for id in &change.removed {
            sqlx::query(
                "DELETE FROM tier_benefits WHERE programme = $1 AND tier = $2 AND benefit = $3",
            )
            .bind(programme_id.to_owned())
            .bind(tier.to_owned())
            .bind(id.clone())
            .execute(&mut *conn)
            .await?;
            for (member, expires) in &holders {
                // Kept to the end of the term and its grace; with no term, `notice_days`
                // from now, so nobody loses a benefit without notice.
                let until = expires.map_or(now + notice, |end| end + grace);
                sqlx::query(
                    "INSERT INTO benefit_keeps (member_id, programme, tier, benefit, until) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (member_id, programme, tier, benefit) DO UPDATE SET until = excluded.until",
                )
                .bind(*member)
                .bind(programme_id.to_owned())
                .bind(tier.to_owned())
                .bind(id.clone())
                .bind(until)
                .execute(&mut *conn)
                .await?;
                let deliver = (until - notice).max(now);
                let subject = format!("{} leaves {tier} on {}", names[id], to_rfc3339(until));
                let body = format!(
                    "{} stays with your {tier} membership until {}; after that it is no longer part of {tier}.",
                    names[id],
                    to_rfc3339(until)
                );
                let notice = NoticeRow {
                    member_id: *member,
                    kind: "benefit_removed".into(),
                    reference: format!("{programme_id}/{tier}/{id}/removed/{now}"),
                    subject,
                    body,
                    deliver_at: deliver,
                    created_at: now,
                };
                change.notices += write_notice(conn, &notice).await?;
            }
        }
        let audit_change = AuditChange {
            kind: "tier_benefits",
            action: "update",
            target: format!("programme:{programme_id}/tier:{tier}"),
            reason: None,
            before: Some(json!({"benefits": before})),
            after: Some(json!({"benefits": after, "notices": change.notices})),
        };
        audit::record(conn, now, actor, audit_change).await?;
        tx.commit().await?;
        Ok(change)
    }

    /// The benefits a member holds at `now`.
    pub async fn member_benefits(
        &self,
        member: MemberId,
        now: Micros,
    ) -> Result<Vec<HeldBenefit>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        Ok(benefits_held(&mut conn, member, now)
            .await?
            .into_iter()
            .map(|(h, _)| h)
            .filter(|h| h.benefit.definition.in_effect(now))
            .collect())
    }

    /// Records a use of a benefit, after checking the member holds it and the use fits
    /// its dates, scope and limit — under the member's lock, so two tills cannot both
    /// take the last use. Idempotent by key (true in the answer: seen before).
    pub async fn use_benefit(
        &self,
        req: &UseRequest,
        now: Micros,
    ) -> Result<(UseRow, bool), PointsError> {
        retrying(|| self.use_benefit_once(req, now)).await
    }

    async fn use_benefit_once(
        &self,
        req: &UseRequest,
        now: Micros,
    ) -> Result<(UseRow, bool), PointsError> {
        let request = serde_json::to_string(req)?;
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let member = lock_member(conn, self.backend(), req.member_id).await?;
        if let Some(row) = sqlx::query(
            "SELECT id, request, member_id, benefit, programme, tier, channel, category, at, partner, code \
             FROM benefit_uses WHERE idempotency_key = $1",
        )
        .bind(req.idempotency_key.clone())
        .fetch_optional(&mut *conn)
        .await?
        {
            check_replay(&row.try_get::<String, _>("request")?, &request)?;
            return Ok((
                UseRow {
                    id: row.try_get("id")?,
                    member_id: row.try_get("member_id")?,
                    benefit: row.try_get("benefit")?,
                    programme: row.try_get("programme")?,
                    tier: row.try_get("tier")?,
                    channel: row.try_get("channel")?,
                    category: row.try_get("category")?,
                    at: row.try_get("at")?,
                    remaining: None,
                    partner: row.try_get("partner")?,
                    code: row.try_get("code")?,
                },
                true,
            ));
        }
        let member = member.ok_or(PointsError::NotFound("member"))?;
        let benefit = benefit_in(conn, &req.benefit)
            .await?
            .ok_or(PointsError::NotFound("benefit"))?;
        let held = benefits_held(conn, member, now).await?;
        let Some((h, m)) = held.into_iter().find(|(h, _)| h.benefit.id == req.benefit) else {
            return Err(refuse(
                "benefit",
                ErrorCode::BenefitNotHeld,
                format!(
                    "none of the tiers member {member} holds now gives {}",
                    benefit.definition.name
                ),
            ));
        };
        check_use(
            &benefit.definition,
            req.channel.as_deref(),
            req.category.as_deref(),
            now,
            h.used,
        )
        .map_err(|r| refuse(r.field, r.code, r.message))?;
        let id = new_id("use", &req.idempotency_key);
        let partner = benefit.definition.partner.as_ref().map(|p| p.id.clone());
        let code = match partner {
            Some(_) => Some(
                take_code(conn, &req.benefit, &id, member, now)
                    .await?
                    .ok_or_else(|| {
                        refuse(
                            "benefit",
                            ErrorCode::BenefitOutOfCodes,
                            format!(
                                "every code the partner supplied for {} has been handed out",
                                benefit.definition.name
                            ),
                        )
                    })?,
            ),
            None => None,
        };
        sqlx::query(
            "INSERT INTO benefit_uses (id, idempotency_key, request, member_id, benefit, programme, tier, channel, category, at, actor, partner, code) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(id.clone())
        .bind(req.idempotency_key.clone())
        .bind(request)
        .bind(member)
        .bind(req.benefit.clone())
        .bind(m.programme.clone())
        .bind(m.tier.clone())
        .bind(req.channel.clone())
        .bind(req.category.clone())
        .bind(now)
        .bind(req.actor.reference.clone())
        .bind(partner.clone())
        .bind(code.clone())
        .execute(&mut *conn)
        .await?;
        tx.commit().await?;
        let remaining = benefit
            .definition
            .limit
            .as_ref()
            .map(|l| l.uses.saturating_sub(h.used + 1));
        Ok((
            UseRow {
                id,
                member_id: member,
                benefit: req.benefit.clone(),
                programme: m.programme,
                tier: m.tier,
                channel: req.channel.clone(),
                category: req.category.clone(),
                at: now,
                remaining,
                partner,
                code,
            },
            false,
        ))
    }

    /// Notices, newest due first: one member's, or everyone's.
    pub async fn notices(
        &self,
        member: Option<MemberId>,
        limit: i64,
    ) -> Result<Vec<NoticeRow>, StoreError> {
        let rows = match member {
            Some(m) => {
                sqlx::query(
                    "SELECT member_id, kind, reference, subject, body, deliver_at, created_at FROM notices \
                     WHERE member_id = $1 ORDER BY deliver_at DESC, kind, reference LIMIT $2",
                )
                .bind(m)
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT member_id, kind, reference, subject, body, deliver_at, created_at FROM notices \
                     ORDER BY deliver_at DESC, member_id, kind, reference LIMIT $1",
                )
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(NoticeRow {
                    member_id: r.try_get("member_id")?,
                    kind: r.try_get("kind")?,
                    reference: r.try_get("reference")?,
                    subject: r.try_get("subject")?,
                    body: r.try_get("body")?,
                    deliver_at: r.try_get("deliver_at")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}

/// Writes a notice unless one about the same thing exists; 1 if written.
async fn write_notice(conn: &mut AnyConnection, n: &NoticeRow) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO notices (member_id, kind, reference, subject, body, deliver_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (member_id, kind, reference) DO NOTHING",
    )
    .bind(n.member_id)
    .bind(n.kind.clone())
    .bind(n.reference.clone())
    .bind(n.subject.clone())
    .bind(n.body.clone())
    .bind(n.deliver_at)
    .bind(n.created_at)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}
