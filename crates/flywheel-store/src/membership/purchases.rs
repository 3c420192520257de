//! Buying a paid tier: the points part debited through the ledger and the membership
//! written in one transaction, under the member's row lock, idempotent by key. Also the
//! reads of a member's memberships and tier history.

use super::cards::ensure_card;
use super::programmes::latest;
use crate::error::StoreError;
use crate::points::commands::{book_for, check_replay, lock_member, new_id};
use crate::points::ledger::write_book;
use crate::points::redemptions::lots_moved_by;
use crate::points::{PointsError, retrying};
use crate::{AuditActor, Store};
use flywheel_core::ErrorCode;
use flywheel_core::membership::{
    Membership, Payment, ProgrammeKind, Source, check_payment, purchase,
};
use flywheel_core::points::commands::{pay_membership_fee, refund_membership_fee};
use flywheel_core::time::{DAY, Micros, to_rfc3339};
use flywheel_core::validation::FieldError;
use flywheel_core::{MemberId, Money};
use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// `POST /v1/memberships`, as the store takes it.
#[derive(Clone, Debug, Serialize)]
pub struct MembershipRequest {
    pub member_id: MemberId,
    pub programme: String,
    pub tier: String,
    pub cash: Money,
    pub points: i64,
    /// The points programme the points come from.
    pub points_programme: String,
    pub idempotency_key: String,
    #[serde(skip)]
    pub actor: AuditActor,
}

/// A stored purchase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseRow {
    pub id: String,
    pub member_id: MemberId,
    pub programme: String,
    pub tier: String,
    pub cash: Money,
    pub points: i64,
    pub term_start: Micros,
    pub expires_at: Option<Micros>,
    pub status: String,
    pub created_at: Micros,
}

/// One tier change, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierChangeRow {
    pub programme: String,
    pub from_tier: Option<String>,
    pub to_tier: Option<String>,
    pub at: Micros,
    pub rule: String,
    pub reason: String,
    pub actor: String,
}

const PURCHASE_SELECT: &str = "SELECT id, request, member_id, txn_key, previous, programme, tier, cash, points, term_start, expires_at, status, created_at FROM membership_purchases";

fn purchase_from_row(row: &AnyRow) -> Result<PurchaseRow, StoreError> {
    Ok(PurchaseRow {
        id: row.try_get("id")?,
        member_id: row.try_get("member_id")?,
        programme: row.try_get("programme")?,
        tier: row.try_get("tier")?,
        cash: Money::from_minor(row.try_get("cash")?),
        points: row.try_get("points")?,
        term_start: row.try_get("term_start")?,
        expires_at: row.try_get("expires_at")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) fn membership_from_row(row: &AnyRow) -> Result<Membership, StoreError> {
    let source: String = row.try_get("source")?;
    Ok(Membership {
        member_id: row.try_get("member_id")?,
        programme: row.try_get("programme")?,
        tier: row.try_get("tier")?,
        since: row.try_get("since")?,
        term_start: row.try_get("term_start")?,
        expires_at: row.try_get("expires_at")?,
        source: Source::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("membership source {source:?}")))?,
    })
}

/// A membership as the `previous` column keeps it.
pub(crate) fn membership_json(m: &Membership) -> String {
    json!({"tier": m.tier, "since": m.since, "term_start": m.term_start,
           "expires_at": m.expires_at, "source": m.source.as_str()})
    .to_string()
}

fn membership_from_json(
    member: MemberId,
    programme: &str,
    text: &str,
) -> Result<Membership, StoreError> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    let corrupt = || StoreError::Corrupt(format!("previous membership {text:?}"));
    Ok(Membership {
        member_id: member,
        programme: programme.to_owned(),
        tier: v["tier"].as_str().ok_or_else(corrupt)?.to_owned(),
        since: v["since"].as_i64().ok_or_else(corrupt)?,
        term_start: v["term_start"].as_i64().ok_or_else(corrupt)?,
        expires_at: v["expires_at"].as_i64(),
        source: v["source"]
            .as_str()
            .and_then(Source::parse)
            .ok_or_else(corrupt)?,
    })
}

pub(crate) const MEMBERSHIP_SELECT: &str =
    "SELECT member_id, programme, tier, since, term_start, expires_at, source FROM memberships";

pub(crate) async fn membership_of(
    conn: &mut AnyConnection,
    member: MemberId,
    programme: &str,
) -> Result<Option<Membership>, StoreError> {
    let sql = format!("{MEMBERSHIP_SELECT} WHERE member_id = $1 AND programme = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(member)
        .bind(programme.to_owned())
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(membership_from_row)
        .transpose()
}

/// Writes a member's membership of a programme (insert or replace).
pub(crate) async fn save_membership(
    conn: &mut AnyConnection,
    m: &Membership,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO memberships (member_id, programme, tier, since, term_start, expires_at, source) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (member_id, programme) DO UPDATE SET \
         tier = excluded.tier, since = excluded.since, term_start = excluded.term_start, \
         expires_at = excluded.expires_at, source = excluded.source",
    )
    .bind(m.member_id)
    .bind(m.programme.clone())
    .bind(m.tier.clone())
    .bind(m.since)
    .bind(m.term_start)
    .bind(m.expires_at)
    .bind(m.source.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Ends a member's membership of a programme (a lapse, a cancellation, a change by hand).
pub(crate) async fn remove_membership(
    conn: &mut AnyConnection,
    member: MemberId,
    programme: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM memberships WHERE member_id = $1 AND programme = $2")
        .bind(member)
        .bind(programme.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A tier change to record.
pub(crate) struct TierChange<'a> {
    pub member: MemberId,
    pub programme: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub at: Micros,
    pub rule: &'a str,
    pub reason: String,
    pub actor: &'a str,
    pub reference: Option<&'a str>,
}

impl Store {
    /// Records a tier change made outside ingest (a purchase, the sweep, staff) and
    /// starts the journeys it triggers.
    pub(crate) async fn record_tier_change(
        &self,
        conn: &mut AnyConnection,
        c: TierChange<'_>,
    ) -> Result<(), StoreError> {
        let journeys = self
            .journey_book(conn, &self.segment_settings().lang)
            .await?;
        let runs = crate::engagement::triggers::tier_trigger_rows(
            &journeys,
            c.member,
            c.programme,
            c.from,
            c.to,
            c.at,
        );
        record_change(conn, c).await?;
        crate::engagement::triggers::write_runs(conn, runs).await
    }
}

async fn record_change(conn: &mut AnyConnection, c: TierChange<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tier_changes (member_id, programme, from_tier, to_tier, at, rule, reason, actor, reference) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(c.member)
    .bind(c.programme.to_owned())
    .bind(c.from.map(str::to_owned))
    .bind(c.to.map(str::to_owned))
    .bind(c.at)
    .bind(c.rule.to_owned())
    .bind(c.reason)
    .bind(c.actor.to_owned())
    .bind(c.reference.map(str::to_owned))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn purchase_by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<AnyRow>, sqlx::Error> {
    let sql = format!("{PURCHASE_SELECT} WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_owned())
        .fetch_optional(&mut *conn)
        .await
}

fn refuse(field: &str, code: ErrorCode, message: String) -> PointsError {
    PointsError::Field(FieldError::new(field, code, message))
}

/// The profile of `member` (a survivor), read inside the caller's transaction.
async fn member_profile(
    conn: &mut AnyConnection,
    member: MemberId,
) -> Result<flywheel_core::profile::Profile, StoreError> {
    let select = format!("{} = $1", crate::rows::MEMBER_SELECT);
    let row = sqlx::query(sqlx::AssertSqlSafe(select))
        .bind(member)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(row) => crate::rows::member_from_row(&row)?.profile,
        None => Default::default(),
    })
}

impl Store {
    /// Buys (or renews) a paid tier, or takes a card: checks the payment against the fee, debits the
    /// points part, and starts the term — now, or where the current term of the same
    /// tier ends, for a renewal bought early. True in the answer when the key was seen
    /// before (the stored purchase is answered, nothing is written).
    pub async fn buy_membership(
        &self,
        req: &MembershipRequest,
        value_per_point: Money,
        now: Micros,
    ) -> Result<(PurchaseRow, bool), PointsError> {
        retrying(|| self.buy_once(req, value_per_point, now)).await
    }

    async fn buy_once(
        &self,
        req: &MembershipRequest,
        value_per_point: Money,
        now: Micros,
    ) -> Result<(PurchaseRow, bool), PointsError> {
        let request = serde_json::to_string(req)?;
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let member = lock_member(conn, self.backend(), req.member_id).await?;
        let sql = format!("{PURCHASE_SELECT} WHERE idempotency_key = $1");
        if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(req.idempotency_key.clone())
            .fetch_optional(&mut *conn)
            .await?
        {
            check_replay(&row.try_get::<String, _>("request")?, &request)?;
            return Ok((purchase_from_row(&row)?, true));
        }
        let member = member.ok_or(PointsError::NotFound("member"))?;
        let programme = latest(conn, &req.programme)
            .await?
            .ok_or(PointsError::NotFound("programme"))?
            .definition;
        let current = membership_of(conn, member, &req.programme)
            .await?
            .filter(|m| m.active_at(&programme, now));
        let decided = purchase(
            &req.programme,
            &programme,
            member,
            current.as_ref(),
            &req.tier,
            now,
        )
        .map_err(PointsError::Field)?;
        let tier = programme
            .tier(&req.tier)
            .expect("purchase checked the tier");
        if programme.kind == ProgrammeKind::Card
            && let Some(rule) = &programme.eligibility
        {
            let profile = member_profile(conn, member).await?;
            rule.admits(&profile).map_err(|why| {
                PointsError::Field(FieldError::new("member_id", ErrorCode::NotEligible, why))
            })?;
        }
        let payment = Payment {
            cash: req.cash,
            points: req.points,
        };
        if tier.fee.is_none() && programme.kind == ProgrammeKind::Card {
            // A free card: nothing to pay.
            if req.cash.minor() != 0 || req.points != 0 {
                return Err(PointsError::Field(FieldError::new(
                    "payment",
                    ErrorCode::InvalidValue,
                    format!("the {} card is free: pay nothing for it", req.tier),
                )));
            }
        } else {
            check_payment(tier, payment, value_per_point).map_err(PointsError::Field)?;
        }
        let (term_start, expires_at) = (decided.term_start, decided.membership.expires_at);
        let id = new_id("mbr", &req.idempotency_key);
        let txn_key = (req.points > 0).then(|| format!("membership:{}", req.idempotency_key));
        if let Some(key) = &txn_key {
            let mut book = book_for(conn, &[member], &req.points_programme, now).await?;
            let wallet = book.wallet(member, &req.points_programme, now);
            let posting = pay_membership_fee(wallet, key, &id, req.points, now)?;
            book.postings.push(posting);
            write_book(conn, &book, now).await?;
        }
        sqlx::query(
            "INSERT INTO membership_purchases (id, idempotency_key, request, member_id, programme, tier, cash, points, \
             term_start, expires_at, txn_key, status, created_at, actor, previous) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'completed', $12, $13, $14)",
        )
        .bind(id.clone())
        .bind(req.idempotency_key.clone())
        .bind(request)
        .bind(member)
        .bind(req.programme.clone())
        .bind(req.tier.clone())
        .bind(req.cash.minor())
        .bind(req.points)
        .bind(term_start)
        .bind(expires_at)
        .bind(txn_key)
        .bind(now)
        .bind(req.actor.reference.clone())
        .bind(current.as_ref().map(membership_json))
        .execute(&mut *conn)
        .await?;
        let membership = decided.membership;
        save_membership(conn, &membership).await?;
        let paid = match (req.cash.minor(), req.points) {
            (0, 0) => "nothing (a free card)".to_owned(),
            (_, 0) => format!("{} cash", req.cash),
            (0, p) => format!("{p} points"),
            (_, p) => format!("{} cash and {p} points", req.cash),
        };
        let until = expires_at.map(to_rfc3339).unwrap_or_default();
        self.record_tier_change(
            conn,
            TierChange {
                member,
                programme: &req.programme,
                from: current.as_ref().map(|m| m.tier.as_str()),
                to: Some(&req.tier),
                at: now,
                rule: decided.rule,
                reason: format!("{} {} for {paid}, until {until}", decided.verb, req.tier),
                actor: &req.actor.reference,
                reference: Some(&id),
            },
        )
        .await?;
        ensure_card(conn, member, now).await?;
        self.refresh_segments_in(conn, &[member], "tier", now)
            .await?;
        tx.commit().await?;
        Ok((
            PurchaseRow {
                id,
                member_id: member,
                programme: req.programme.clone(),
                tier: req.tier.clone(),
                cash: req.cash,
                points: req.points,
                term_start,
                expires_at,
                status: "completed".into(),
                created_at: now,
            },
            false,
        ))
    }

    /// Cancels a purchase within its programme's cooling-off period: the points part goes
    /// back to the lots it came from, and the membership to what it was before (or away).
    /// Only the member's latest purchase of the programme can be cancelled; cancelling
    /// twice answers the cancelled purchase and changes nothing.
    pub async fn cancel_membership(
        &self,
        id: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<PurchaseRow, PointsError> {
        retrying(|| self.cancel_membership_once(id, actor, now)).await
    }

    async fn cancel_membership_once(
        &self,
        id: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<PurchaseRow, PointsError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let first = purchase_by_id(conn, id)
            .await?
            .ok_or(PointsError::NotFound("purchase"))?;
        let member = lock_member(conn, self.backend(), first.try_get("member_id")?)
            .await?
            .ok_or(PointsError::NotFound("member"))?;
        // Read again under the member's lock: a concurrent cancel may have won.
        let row = purchase_by_id(conn, id)
            .await?
            .ok_or(PointsError::NotFound("purchase"))?;
        let p = purchase_from_row(&row)?;
        if p.status == "cancelled" {
            return Ok(p);
        }
        let programme = latest(conn, &p.programme)
            .await?
            .ok_or(PointsError::NotFound("programme"))?
            .definition;
        let closes = p.created_at + i64::from(programme.cooling_off_days) * DAY;
        if now > closes {
            return Err(refuse(
                "id",
                ErrorCode::CoolingOffOver,
                format!(
                    "purchase {id} could be cancelled until {}",
                    to_rfc3339(closes)
                ),
            ));
        }
        let newest: String = sqlx::query(
            "SELECT id FROM membership_purchases WHERE member_id = $1 AND programme = $2 \
             AND status = 'completed' ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(p.member_id)
        .bind(p.programme.clone())
        .fetch_one(&mut *conn)
        .await?
        .try_get("id")?;
        if newest != p.id {
            return Err(refuse(
                "id",
                ErrorCode::PurchaseSuperseded,
                format!("purchase {newest} came after {id}; cancel it first"),
            ));
        }
        let txn_key: Option<String> = row.try_get("txn_key")?;
        let points_programme: Option<String> = match &txn_key {
            Some(key) => sqlx::query("SELECT programme FROM points_transactions WHERE key = $1")
                .bind(key.clone())
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get("programme"))
                .transpose()?,
            None => None,
        };
        if let (Some(key), Some(points_programme)) = (&txn_key, points_programme) {
            let (moves, lots) = lots_moved_by(conn, key).await?;
            let mut book = book_for(conn, &[member], &points_programme, now).await?;
            let wallet = book.wallet(member, &points_programme, now);
            let back = format!("cancel:{key}");
            let posting = refund_membership_fee(wallet, &back, &p.id, &moves, &lots, now);
            book.postings.push(posting);
            write_book(conn, &book, now).await?;
        }
        let previous: Option<String> = row.try_get("previous")?;
        let restored = previous
            .map(|text| membership_from_json(member, &p.programme, &text))
            .transpose()?;
        match &restored {
            Some(m) => save_membership(conn, m).await?,
            None => remove_membership(conn, member, &p.programme).await?,
        }
        let returned = if p.points > 0 {
            format!("; {} points returned", p.points)
        } else {
            String::new()
        };
        self.record_tier_change(
            conn,
            TierChange {
                member,
                programme: &p.programme,
                from: Some(&p.tier),
                to: restored.as_ref().map(|m| m.tier.as_str()),
                at: now,
                rule: "cancellation",
                reason: format!(
                    "purchase of {} cancelled within the cooling-off period{returned}",
                    p.tier
                ),
                actor: &actor.reference,
                reference: Some(&p.id),
            },
        )
        .await?;
        sqlx::query(
            "UPDATE membership_purchases SET status = 'cancelled', cancelled_at = $2 WHERE id = $1",
        )
        .bind(p.id.clone())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        self.refresh_segments_in(conn, &[member], "tier", now)
            .await?;
        tx.commit().await?;
        Ok(PurchaseRow {
            status: "cancelled".into(),
            ..p
        })
    }

    /// A member's memberships as stored (active or not; the caller judges by the
    /// programme), by programme.
    pub async fn memberships_of(&self, member: MemberId) -> Result<Vec<Membership>, StoreError> {
        let sql = format!("{MEMBERSHIP_SELECT} WHERE member_id = $1 ORDER BY programme");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(member)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(membership_from_row)
            .collect()
    }

    /// A member's tier changes, oldest first.
    pub async fn tier_changes(&self, member: MemberId) -> Result<Vec<TierChangeRow>, StoreError> {
        sqlx::query(
            "SELECT programme, from_tier, to_tier, at, rule, reason, actor FROM tier_changes \
             WHERE member_id = $1 ORDER BY at, id",
        )
        .bind(member)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(TierChangeRow {
                programme: row.try_get("programme")?,
                from_tier: row.try_get("from_tier")?,
                to_tier: row.try_get("to_tier")?,
                at: row.try_get("at")?,
                rule: row.try_get("rule")?,
                reason: row.try_get("reason")?,
                actor: row.try_get("actor")?,
            })
        })
        .collect()
    }
}
