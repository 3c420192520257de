//! Redemptions: a reward (atomically with its stock and per-member limit) or plain
//! points, idempotent by key, and cancellation that returns the points to their lots.

use super::commands::{book_for, check_replay, lock_member, new_id};
use super::ledger::{load_lots, write_book};
use super::{PointsError, retrying};
use crate::db::Store;
use crate::error::StoreError;
use crate::segments::live::posting_members;
use flywheel_core::MemberId;
use flywheel_core::points::{Lot, LotMove, commands};
use flywheel_core::time::Micros;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Clone, Debug, Serialize)]
pub struct RedeemRequest {
    pub member_id: MemberId,
    pub reward_id: Option<String>,
    /// For a plain debit without a reward.
    pub points: Option<i64>,
    pub programme: String,
    #[serde(skip)]
    pub idempotency_key: String,
    #[serde(skip)]
    pub actor: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RedemptionRow {
    pub id: String,
    pub idempotency_key: String,
    pub member_id: MemberId,
    pub reward_id: Option<String>,
    pub programme: String,
    pub points: i64,
    /// Cash part in minor units.
    pub cash: Option<i64>,
    pub status: String,
    pub created_at: Micros,
    pub cancelled_at: Option<Micros>,
}

const REDEMPTION_SELECT: &str = "SELECT id, idempotency_key, request, member_id, reward_id, programme, points, cash, status, txn_key, created_at, cancelled_at FROM redemptions";

fn redemption_from_row(row: &AnyRow) -> Result<RedemptionRow, StoreError> {
    Ok(RedemptionRow {
        id: row.try_get("id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        member_id: row.try_get("member_id")?,
        reward_id: row.try_get("reward_id")?,
        programme: row.try_get("programme")?,
        points: row.try_get("points")?,
        cash: row.try_get("cash")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        cancelled_at: row.try_get("cancelled_at")?,
    })
}

impl Store {
    /// Redeems a reward (atomically with its stock) or debits plain points. The same
    /// idempotency key again answers with the first redemption (`true` = replayed).
    pub async fn redeem(
        &self,
        req: &RedeemRequest,
        now: Micros,
    ) -> Result<(RedemptionRow, bool), PointsError> {
        retrying(|| self.redeem_once(req, now)).await
    }

    async fn redeem_once(
        &self,
        req: &RedeemRequest,
        now: Micros,
    ) -> Result<(RedemptionRow, bool), PointsError> {
        let request = serde_json::to_string(req)?;
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let member = lock_member(conn, self.backend(), req.member_id).await?;
        let sql = format!("{REDEMPTION_SELECT} WHERE idempotency_key = $1");
        if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(req.idempotency_key.clone())
            .fetch_optional(&mut *conn)
            .await?
        {
            check_replay(&row.try_get::<String, _>("request")?, &request)?;
            return Ok((redemption_from_row(&row)?, true));
        }
        let member = member.ok_or(PointsError::NotFound("member"))?;
        let (points, cash, programme, stocked) = match &req.reward_id {
            Some(reward_id) => {
                let reward = self
                    .reward_for_update(conn, reward_id)
                    .await?
                    .ok_or(PointsError::NotFound("reward"))?;
                reward.check_available(now)?;
                if let Some(limit) = reward.per_member_limit {
                    let row = sqlx::query(
                        "SELECT COUNT(*) AS n FROM redemptions WHERE member_id = $1 AND reward_id = $2 AND status = 'completed'",
                    )
                    .bind(member)
                    .bind(reward_id.clone())
                    .fetch_one(&mut *conn)
                    .await?;
                    if row.try_get::<i64, _>("n")? >= limit {
                        return Err(PointsError::LimitReached(format!(
                            "a member may redeem this reward at most {limit} times"
                        )));
                    }
                }
                (
                    reward.points_cost,
                    reward.cash_cost,
                    reward.programme.clone(),
                    reward.stock.is_some(),
                )
            }
            None => (req.points.unwrap_or(0), None, req.programme.clone(), false),
        };
        let id = new_id("rdm", &req.idempotency_key);
        let key = format!("redeem:{}", req.idempotency_key);
        let mut book = book_for(conn, &[member], &programme, now).await?;
        let wallet = book.wallet(member, &programme, now);
        let posting = commands::redeem(wallet, &key, &id, points, now)?;
        book.postings.push(posting);
        if stocked {
            let done = sqlx::query(
                "UPDATE rewards SET stock = stock - 1, updated_at = $2 WHERE id = $1 AND stock > 0",
            )
            .bind(req.reward_id.clone())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() == 0 {
                return Err(PointsError::OutOfStock);
            }
        }
        sqlx::query(
            "INSERT INTO redemptions (id, idempotency_key, request, member_id, reward_id, programme, points, cash, status, txn_key, created_at, actor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'completed', $9, $10, $11)",
        )
        .bind(id.clone())
        .bind(req.idempotency_key.clone())
        .bind(request)
        .bind(member)
        .bind(req.reward_id.clone())
        .bind(programme.clone())
        .bind(points)
        .bind(cash)
        .bind(key)
        .bind(now)
        .bind(req.actor.clone())
        .execute(&mut *conn)
        .await?;
        write_book(conn, &book, now).await?;
        self.refresh_segments_in(conn, &posting_members(&book), "points", now)
            .await?;
        tx.commit().await?;
        Ok((
            RedemptionRow {
                id,
                idempotency_key: req.idempotency_key.clone(),
                member_id: member,
                reward_id: req.reward_id.clone(),
                programme,
                points,
                cash,
                status: "completed".into(),
                created_at: now,
                cancelled_at: None,
            },
            false,
        ))
    }

    pub async fn redemption(&self, id: &str) -> Result<Option<RedemptionRow>, StoreError> {
        let sql = format!("{REDEMPTION_SELECT} WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_optional(self.pool())
            .await?
            .map(|r| redemption_from_row(&r))
            .transpose()
    }

    /// Cancels a redemption: its points go back to the lots they came from (those past
    /// expiry stay expired) and its stock back on the shelf. Cancelling twice is a no-op.
    pub async fn cancel_redemption(
        &self,
        id: &str,
        now: Micros,
    ) -> Result<RedemptionRow, PointsError> {
        retrying(|| self.cancel_once(id, now)).await
    }

    async fn cancel_once(&self, id: &str, now: Micros) -> Result<RedemptionRow, PointsError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let sql = format!("{REDEMPTION_SELECT} WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id.to_owned())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(PointsError::NotFound("redemption"))?;
        let r = redemption_from_row(&row)?;
        let member = lock_member(conn, self.backend(), r.member_id)
            .await?
            .ok_or(PointsError::NotFound("member"))?;
        // Read again under the member's lock: a concurrent cancel may have won.
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_one(&mut *conn)
            .await?;
        let r = redemption_from_row(&row)?;
        if r.status == "cancelled" {
            return Ok(r);
        }
        let txn_key: String = row.try_get("txn_key")?;
        let (moves, lots) = lots_moved_by(conn, &txn_key).await?;
        let mut book = book_for(conn, &[member], &r.programme, now).await?;
        let wallet = book.wallet(member, &r.programme, now);
        let key = format!("cancel:{}", r.id);
        let posting = commands::cancel_redemption(wallet, &key, &r.id, &moves, &lots, now);
        book.postings.push(posting);
        if let Some(reward_id) = &r.reward_id {
            sqlx::query("UPDATE rewards SET stock = stock + 1, updated_at = $2 WHERE id = $1 AND stock IS NOT NULL")
                .bind(reward_id.clone())
                .bind(now)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query("UPDATE redemptions SET status = 'cancelled', cancel_txn_key = $2, cancelled_at = $3 WHERE id = $1")
            .bind(r.id.clone())
            .bind(key)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        write_book(conn, &book, now).await?;
        self.refresh_segments_in(conn, &posting_members(&book), "points", now)
            .await?;
        tx.commit().await?;
        Ok(RedemptionRow {
            status: "cancelled".into(),
            cancelled_at: Some(now),
            ..r
        })
    }
}

/// The lot moves a posting made, and those lots as they are now: what a cancellation
/// needs to put points back where they came from.
pub(crate) async fn lots_moved_by(
    conn: &mut AnyConnection,
    txn_key: &str,
) -> Result<(Vec<LotMove>, Vec<Lot>), StoreError> {
    let moves: Vec<LotMove> = sqlx::query(
        "SELECT lot_id, points FROM points_lot_moves WHERE txn_key = $1 ORDER BY lot_id",
    )
    .bind(txn_key.to_owned())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|m| {
        Ok(LotMove {
            lot_id: m.try_get("lot_id")?,
            points: m.try_get("points")?,
        })
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let lot_ids: Vec<String> = moves.iter().map(|m| m.lot_id.clone()).collect();
    let lots = load_lots(conn, lot_ids).await?;
    Ok((moves, lots))
}
