//! The points commands that move points: transfer to another member, exchange with a
//! partner brand, adjust by hand (redemptions are in `redemptions.rs`), and the helpers
//! every command shares. Each is one transaction: lock the member rows, replay the first
//! answer if the idempotency key was seen, check limits, let the core build the posting,
//! write.

use super::ledger::{Lots, load_wallets, write_book};
use super::{PointsError, retrying};
use crate::audit::{AuditActor, AuditChange};
use crate::db::{Backend, Store};
use crate::dialect::row_lock;
use crate::error::StoreError;
use crate::segments::live::posting_members;
use crate::survivor::survivor_row;
use flywheel_core::MemberId;
use flywheel_core::points::commands::ExchangeRateError;
use flywheel_core::points::earn::periods;
use flywheel_core::points::{Book, Insufficient, PointsPolicy, commands};
use flywheel_core::time::Micros;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

impl From<Insufficient> for PointsError {
    fn from(e: Insufficient) -> Self {
        PointsError::InsufficientPoints {
            available: e.available,
            requested: e.requested,
        }
    }
}

/// Locks `id`'s row (following merges to the survivor); None if there is no such member.
/// A member whose personal data was erased holds no points and takes none.
pub(crate) async fn lock_member(
    conn: &mut AnyConnection,
    backend: Backend,
    id: MemberId,
) -> Result<Option<MemberId>, PointsError> {
    let select = format!(
        "SELECT id, merged_into, erased_at FROM members WHERE id = $1{}",
        row_lock(backend)
    );
    let Some(row) = survivor_row(conn, &select, id).await? else {
        return Ok(None);
    };
    let id: MemberId = row.try_get("id").map_err(StoreError::from)?;
    if row
        .try_get::<Option<i64>, _>("erased_at")
        .map_err(StoreError::from)?
        .is_some()
    {
        return Err(PointsError::Erased(id));
    }
    Ok(Some(id))
}

/// Locks two members in id order (so two transfers cannot wait on each other).
pub(super) async fn lock_pair(
    conn: &mut AnyConnection,
    backend: Backend,
    a: MemberId,
    b: MemberId,
) -> Result<(MemberId, MemberId), PointsError> {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let f = lock_member(conn, backend, first).await?;
    let s = lock_member(conn, backend, second).await?;
    let (Some(f), Some(s)) = (f, s) else {
        return Err(PointsError::NotFound("member"));
    };
    Ok(if a <= b { (f, s) } else { (s, f) })
}

pub(crate) fn check_replay(stored_request: &str, request: &str) -> Result<(), PointsError> {
    if stored_request == request {
        Ok(())
    } else {
        Err(PointsError::IdempotencyConflict)
    }
}

pub(crate) fn new_id(prefix: &str, key: &str) -> String {
    // Derived from the idempotency key: stable under retry, unguessable enough for an id.
    let digest = flywheel_core::auth::hash_key(key);
    format!("{prefix}_{}", &digest[..20])
}

#[derive(Clone, Debug, Serialize)]
pub struct TransferRequest {
    pub from_member_id: MemberId,
    pub to_member_id: MemberId,
    pub points: i64,
    pub programme: String,
    #[serde(skip)]
    pub idempotency_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransferRow {
    pub idempotency_key: String,
    pub from_member_id: MemberId,
    pub to_member_id: MemberId,
    pub programme: String,
    pub points: i64,
    pub at: Micros,
}

#[derive(Clone, Debug, Serialize)]
pub struct ExchangeRequest {
    pub member_id: MemberId,
    pub partner_id: String,
    /// `out` (our points to the partner) or `in`.
    pub direction: String,
    /// Our points.
    pub points: i64,
    #[serde(skip)]
    pub idempotency_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExchangeRow {
    pub idempotency_key: String,
    pub member_id: MemberId,
    pub partner_id: String,
    pub direction: String,
    pub points: i64,
    pub partner_points: i64,
    pub at: Micros,
}

#[derive(Clone, Debug, Serialize)]
pub struct AdjustRequest {
    pub member_id: MemberId,
    /// Positive credits, negative debits.
    pub points: i64,
    pub reason: String,
    pub programme: String,
    #[serde(skip)]
    pub idempotency_key: String,
    #[serde(skip)]
    pub actor: AuditActor,
}

/// A member's wallet in a fresh book, settled at `now` (settling postings included).
pub(crate) async fn book_for(
    conn: &mut AnyConnection,
    members: &[MemberId],
    programme: &str,
    now: Micros,
) -> Result<Book, StoreError> {
    let mut book = Book {
        wallets: load_wallets(conn, members.iter().copied(), Lots::All).await?,
        ..Book::default()
    };
    for m in members {
        book.wallet(*m, programme, now);
    }
    Ok(book)
}

impl Store {
    /// Moves points between members, within the sender's daily limit.
    pub async fn transfer_points(
        &self,
        req: &TransferRequest,
        policy: &PointsPolicy,
        now: Micros,
    ) -> Result<(TransferRow, bool), PointsError> {
        retrying(|| self.transfer_once(req, policy, now)).await
    }

    async fn transfer_once(
        &self,
        req: &TransferRequest,
        policy: &PointsPolicy,
        now: Micros,
    ) -> Result<(TransferRow, bool), PointsError> {
        let request = serde_json::to_string(req)?;
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let (from, to) =
            lock_pair(conn, self.backend(), req.from_member_id, req.to_member_id).await?;
        if let Some(row) = sqlx::query("SELECT request, from_member_id, to_member_id, programme, points, at FROM points_transfers WHERE idempotency_key = $1")
            .bind(req.idempotency_key.clone())
            .fetch_optional(&mut *conn)
            .await?
        {
            check_replay(&row.try_get::<String, _>("request")?, &request)?;
            return Ok((
                TransferRow {
                    idempotency_key: req.idempotency_key.clone(),
                    from_member_id: row.try_get("from_member_id")?,
                    to_member_id: row.try_get("to_member_id")?,
                    programme: row.try_get("programme")?,
                    points: row.try_get("points")?,
                    at: row.try_get("at")?,
                },
                true,
            ));
        }
        if from == to {
            return Err(PointsError::Invalid(
                "a member cannot transfer points to themselves".into(),
            ));
        }
        let [day, ..] = periods(now);
        let used: i64 = sqlx::query("SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) AS n FROM points_transfers WHERE from_member_id = $1 AND day = $2")
            .bind(from)
            .bind(day.clone())
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?;
        if used + req.points > policy.transfer_daily_limit {
            return Err(PointsError::LimitReached(format!(
                "a member may transfer at most {} points a day; {used} already sent today",
                policy.transfer_daily_limit
            )));
        }
        let mut book = book_for(conn, &[from, to], &req.programme, now).await?;
        let key = format!("transfer:{}", req.idempotency_key);
        let mut sender = book
            .wallets
            .remove(&(from, req.programme.clone()))
            .expect("settled above");
        let mut receiver = book
            .wallets
            .remove(&(to, req.programme.clone()))
            .expect("settled above");
        let posting = commands::transfer(&mut sender, &mut receiver, &key, req.points, now)?;
        book.wallets.insert((from, req.programme.clone()), sender);
        book.wallets.insert((to, req.programme.clone()), receiver);
        book.postings.push(posting);
        sqlx::query("INSERT INTO points_transfers (idempotency_key, request, from_member_id, to_member_id, programme, points, day, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(req.idempotency_key.clone())
            .bind(request)
            .bind(from)
            .bind(to)
            .bind(req.programme.clone())
            .bind(req.points)
            .bind(day)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        write_book(conn, &book, now).await?;
        self.refresh_segments_in(conn, &posting_members(&book), "points", now)
            .await?;
        tx.commit().await?;
        Ok((
            TransferRow {
                idempotency_key: req.idempotency_key.clone(),
                from_member_id: from,
                to_member_id: to,
                programme: req.programme.clone(),
                points: req.points,
                at: now,
            },
            false,
        ))
    }

    /// Exchanges points with a partner brand through its clearing account. The partner's
    /// points may be no more than `max_points` (the most one posting may carry).
    pub async fn exchange_points(
        &self,
        req: &ExchangeRequest,
        policy: &PointsPolicy,
        max_points: i64,
        now: Micros,
    ) -> Result<(ExchangeRow, bool), PointsError> {
        retrying(|| self.exchange_once(req, policy, max_points, now)).await
    }

    async fn exchange_once(
        &self,
        req: &ExchangeRequest,
        policy: &PointsPolicy,
        max_points: i64,
        now: Micros,
    ) -> Result<(ExchangeRow, bool), PointsError> {
        let request = serde_json::to_string(req)?;
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let member = lock_member(conn, self.backend(), req.member_id).await?;
        if let Some(row) = sqlx::query("SELECT request, member_id, partner_id, direction, points, partner_points, at FROM points_exchanges WHERE idempotency_key = $1")
            .bind(req.idempotency_key.clone())
            .fetch_optional(&mut *conn)
            .await?
        {
            check_replay(&row.try_get::<String, _>("request")?, &request)?;
            return Ok((exchange_from_row(&row, &req.idempotency_key)?, true));
        }
        let member = member.ok_or(PointsError::NotFound("member"))?;
        let partner = self
            .partner_in(conn, &req.partner_id)
            .await?
            .ok_or(PointsError::NotFound("partner"))?;
        let partner_points = commands::partner_points(
            req.points,
            partner.rate_ours,
            partner.rate_theirs,
            max_points,
        )
        .map_err(|e| match e {
            ExchangeRateError::Inexact { step } => PointsError::InexactExchange { step },
            ExchangeRateError::TooLarge { max } => PointsError::OutOfRange {
                field: "points",
                message: format!(
                    "at {}:{} these points are worth more than {max} of {}'s points \
                     (limits.max_points_per_posting)",
                    partner.rate_ours, partner.rate_theirs, partner.id
                ),
            },
        })?;
        if partner_points <= 0 {
            return Err(PointsError::InexactExchange {
                step: partner.rate_ours,
            });
        }
        let [day, ..] = periods(now);
        let used: i64 = sqlx::query("SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) AS n FROM points_exchanges WHERE member_id = $1 AND partner_id = $2 AND day = $3")
            .bind(member)
            .bind(partner.id.clone())
            .bind(day.clone())
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?;
        if used + req.points > partner.daily_limit {
            return Err(PointsError::LimitReached(format!(
                "a member may exchange at most {} points a day with {}; {used} already today",
                partner.daily_limit, partner.id
            )));
        }
        let programme = partner.programme.clone();
        let mut book = book_for(conn, &[member], &programme, now).await?;
        let key = format!("exchange:{}", req.idempotency_key);
        let wallet = book.wallet(member, &programme, now);
        let posting = match req.direction.as_str() {
            "out" => commands::exchange_out(wallet, &partner.id, &key, req.points, now)?,
            "in" => commands::exchange_in(wallet, &partner.id, &key, req.points, policy, now),
            other => {
                return Err(PointsError::Invalid(format!(
                    "direction {other:?} must be \"out\" or \"in\""
                )));
            }
        };
        book.postings.push(posting);
        sqlx::query("INSERT INTO points_exchanges (idempotency_key, request, member_id, partner_id, direction, points, partner_points, day, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(req.idempotency_key.clone())
            .bind(request)
            .bind(member)
            .bind(partner.id.clone())
            .bind(req.direction.clone())
            .bind(req.points)
            .bind(partner_points)
            .bind(day)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        write_book(conn, &book, now).await?;
        self.refresh_segments_in(conn, &posting_members(&book), "points", now)
            .await?;
        tx.commit().await?;
        Ok((
            ExchangeRow {
                idempotency_key: req.idempotency_key.clone(),
                member_id: member,
                partner_id: partner.id,
                direction: req.direction.clone(),
                points: req.points,
                partner_points,
                at: now,
            },
            false,
        ))
    }

    /// A manual adjustment, audited. Returns the ledger key it posted (`true` = replayed).
    pub async fn adjust_points(
        &self,
        req: &AdjustRequest,
        policy: &PointsPolicy,
        now: Micros,
    ) -> Result<(String, bool), PointsError> {
        retrying(|| self.adjust_once(req, policy, now)).await
    }

    async fn adjust_once(
        &self,
        req: &AdjustRequest,
        policy: &PointsPolicy,
        now: Micros,
    ) -> Result<(String, bool), PointsError> {
        let request = serde_json::to_string(req)?;
        let key = format!("adjust:{}", req.idempotency_key);
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let member = lock_member(conn, self.backend(), req.member_id).await?;
        if let Some(row) =
            sqlx::query("SELECT request FROM points_adjustments WHERE idempotency_key = $1")
                .bind(req.idempotency_key.clone())
                .fetch_optional(&mut *conn)
                .await?
        {
            check_replay(&row.try_get::<String, _>("request")?, &request)?;
            return Ok((key, true));
        }
        let member = member.ok_or(PointsError::NotFound("member"))?;
        let mut book = book_for(conn, &[member], &req.programme, now).await?;
        let wallet = book.wallet(member, &req.programme, now);
        let balance_before = wallet.available(now);
        let posting = commands::adjust(
            wallet,
            &key,
            req.points,
            &req.reason,
            &req.actor.reference,
            policy,
            now,
        )?;
        let balance_after = wallet.available(now);
        book.postings.push(posting);
        sqlx::query("INSERT INTO points_adjustments (idempotency_key, request, member_id, programme, points, reason, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(req.idempotency_key.clone())
            .bind(request.clone())
            .bind(member)
            .bind(req.programme.clone())
            .bind(req.points)
            .bind(req.reason.clone())
            .bind(req.actor.reference.clone())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        let balance = |b: i64| serde_json::json!({"programme": req.programme, "balance": b});
        let mut after = balance(balance_after);
        after["points"] = req.points.into();
        after["ledger_key"] = key.clone().into();
        let change = AuditChange {
            kind: "points_adjustment",
            action: "create",
            target: format!("member:{member}"),
            reason: Some(req.reason.clone()),
            before: Some(balance(balance_before)),
            after: Some(after),
        };
        crate::audit::record(conn, now, &req.actor, change).await?;
        write_book(conn, &book, now).await?;
        self.refresh_segments_in(conn, &posting_members(&book), "points", now)
            .await?;
        tx.commit().await?;
        Ok((key, false))
    }
}

fn exchange_from_row(row: &AnyRow, key: &str) -> Result<ExchangeRow, StoreError> {
    Ok(ExchangeRow {
        idempotency_key: key.to_owned(),
        member_id: row.try_get("member_id")?,
        partner_id: row.try_get("partner_id")?,
        direction: row.try_get("direction")?,
        points: row.try_get("points")?,
        partner_points: row.try_get("partner_points")?,
        at: row.try_get("at")?,
    })
}
