//! The points lottery (migration 37). A draw:
//! 1. debits its cost as a redemption keyed by the draw's key (once, whatever the
//!    retries);
//! 2. in one transaction holding the member's row, checks the daily limit, draws a
//!    random number, picks the prize under the current table version and takes one of
//!    its stock in the statement that lowers it only while any is left (none left: the
//!    draw wins nothing), and records the draw with its number and version;
//! 3. credits a points prize as an adjustment keyed by the draw.
//!
//! A draw refused at step 2 cancels the redemption of step 1, so its points go back.

use super::coupons::{MarketingError, refused, retrying};
use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use crate::points::commands::{lock_member, new_id};
use crate::points::{AdjustRequest, RedeemRequest};
use flywheel_core::ErrorCode;
use flywheel_core::ingest::MemberId;
use flywheel_core::marketing::Lottery;
use flywheel_core::points::PointsPolicy;
use flywheel_core::time::{DAY, Micros};
use rand::Rng;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LotteryRow {
    pub lottery: Lottery,
    pub version: i64,
    /// Stock left per prize id (prizes with a stock only).
    pub stock: Vec<(String, i64)>,
    pub draws: i64,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrawRow {
    pub id: String,
    pub lottery_id: String,
    pub member_id: MemberId,
    pub number: i64,
    pub version: i64,
    pub prize_id: Option<String>,
    /// won | nothing | out_of_stock
    pub outcome: String,
    pub cost_points: i64,
    pub at: Micros,
}

const DRAW_COLUMNS: &str =
    "id, lottery_id, member_id, number, version, prize_id, outcome, cost_points, at";

fn draw_from_row(r: &AnyRow) -> Result<DrawRow, StoreError> {
    Ok(DrawRow {
        id: r.try_get("id")?,
        lottery_id: r.try_get("lottery_id")?,
        member_id: r.try_get("member_id")?,
        number: r.try_get("number")?,
        version: r.try_get("version")?,
        prize_id: r.try_get("prize_id")?,
        outcome: r.try_get("outcome")?,
        cost_points: r.try_get("cost_points")?,
        at: r.try_get("at")?,
    })
}

fn parse(id: &str, text: &str) -> Result<Lottery, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(format!("lottery {id}: definition")))
}

async fn lottery_in(conn: &mut AnyConnection, id: &str) -> Result<Option<LotteryRow>, StoreError> {
    let Some(r) = sqlx::query(
        "SELECT id, definition, version, created_at, updated_at, \
         (SELECT COUNT(*) FROM lottery_draws d WHERE d.lottery_id = lotteries.id) AS draws \
         FROM lotteries WHERE id = $1",
    )
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let stock = sqlx::query(
        "SELECT prize_id, remaining FROM lottery_stock WHERE lottery_id = $1 ORDER BY prize_id",
    )
    .bind(id.to_owned())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|s| Ok((s.try_get("prize_id")?, s.try_get("remaining")?)))
    .collect::<Result<_, StoreError>>()?;
    Ok(Some(LotteryRow {
        lottery: parse(id, &r.try_get::<String, _>("definition")?)?,
        version: r.try_get("version")?,
        stock,
        draws: r.try_get("draws")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    }))
}

async fn draw_by_key(conn: &mut AnyConnection, key: &str) -> Result<Option<DrawRow>, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DRAW_COLUMNS} FROM lottery_draws WHERE draw_key = $1"
    )))
    .bind(key.to_owned())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(draw_from_row)
    .transpose()
}

impl Store {
    /// Creates or replaces a lottery: a new version of its prize table, and its prizes'
    /// stock set to what the table says is left. Returns whether it was created.
    pub async fn save_lottery(
        &self,
        lottery: &Lottery,
        replace: bool,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<bool, MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = lottery_in(conn, &lottery.id).await?;
        if before.is_some() && !replace {
            return Err(refused(
                ErrorCode::LotteryExists,
                format!("a lottery {:?} exists; change it with PUT", lottery.id),
            ));
        }
        let version = before.as_ref().map_or(1, |b| b.version + 1);
        let definition =
            serde_json::to_string(lottery).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO lotteries (id, definition, version, created_at, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, \
             version = excluded.version, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(lottery.id.clone())
        .bind(definition.clone())
        .bind(version)
        .bind(now)
        .bind(actor.reference.clone())
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO lottery_versions (lottery_id, version, definition, saved_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(lottery.id.clone())
        .bind(version)
        .bind(definition)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM lottery_stock WHERE lottery_id = $1")
            .bind(lottery.id.clone())
            .execute(&mut *conn)
            .await?;
        for p in &lottery.prizes {
            if let Some(stock) = p.stock {
                sqlx::query(
                    "INSERT INTO lottery_stock (lottery_id, prize_id, remaining) VALUES ($1, $2, $3)",
                )
                .bind(lottery.id.clone())
                .bind(p.id.clone())
                .bind(stock)
                .execute(&mut *conn)
                .await?;
            }
        }
        let body = |l: &Lottery| serde_json::to_value(l).unwrap_or_default();
        let change = AuditChange {
            kind: "lottery",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("lottery:{}", lottery.id),
            reason: None,
            before: before.as_ref().map(|b| body(&b.lottery)),
            after: Some(body(lottery)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(before.is_none())
    }

    pub async fn lottery(&self, id: &str) -> Result<Option<LotteryRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        lottery_in(&mut conn, id).await
    }

    pub async fn lotteries(&self) -> Result<Vec<LotteryRow>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM lotteries ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        let mut conn = self.pool().acquire().await?;
        let mut out = Vec::new();
        for id in ids {
            out.extend(lottery_in(&mut conn, &id).await?);
        }
        Ok(out)
    }

    /// A draw, with the prize table it was drawn under.
    pub async fn lottery_draw(&self, id: &str) -> Result<Option<(DrawRow, Lottery)>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let Some(draw) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DRAW_COLUMNS} FROM lottery_draws WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(draw_from_row)
        .transpose()?
        else {
            return Ok(None);
        };
        let text: String = sqlx::query_scalar(
            "SELECT definition FROM lottery_versions WHERE lottery_id = $1 AND version = $2",
        )
        .bind(draw.lottery_id.clone())
        .bind(draw.version)
        .fetch_one(&mut *conn)
        .await?;
        let table = parse(&draw.lottery_id, &text)?;
        Ok(Some((draw, table)))
    }

    /// Draws once for a member, once per `key` (the same key answers with the same draw,
    /// `true`). See the module's header.
    pub async fn draw_lottery(
        &self,
        lottery_id: &str,
        member: MemberId,
        key: &str,
        policy: &PointsPolicy,
        now: Micros,
    ) -> Result<(DrawRow, bool), MarketingError> {
        let draw_key = format!("{lottery_id}:{key}");
        let row = self.lottery(lottery_id).await?.ok_or_else(|| {
            refused(
                ErrorCode::LotteryNotFound,
                format!("no lottery {lottery_id:?}"),
            )
        })?;
        let programme = policy.default_programme().to_owned();
        let mut conn = self.pool().acquire().await?;
        let earlier = draw_by_key(&mut conn, &draw_key).await?;
        drop(conn);
        if let Some(draw) = earlier {
            self.credit_prize(&draw, policy, now).await?;
            return Ok((draw, true));
        }
        if !row.lottery.active {
            return Err(refused(
                ErrorCode::LotteryClosed,
                "the lottery is switched off",
            ));
        }
        let cost = row.lottery.cost_points;
        let redemption = if cost > 0 {
            let req = RedeemRequest {
                member_id: member,
                reward_id: None,
                points: Some(cost),
                programme,
                idempotency_key: format!("lottery:{draw_key}"),
                actor: "lottery".into(),
            };
            Some(self.redeem(&req, now).await?.0.id)
        } else {
            None
        };
        let drawn = retrying(|| self.draw_once(lottery_id, member, &draw_key, now)).await;
        let (draw, replayed) = match drawn {
            Ok(d) => d,
            Err(e) => {
                if let Some(r) = redemption {
                    self.cancel_redemption(&r, now).await?;
                }
                return Err(e);
            }
        };
        self.credit_prize(&draw, policy, now).await?;
        Ok((draw, replayed))
    }

    async fn draw_once(
        &self,
        lottery_id: &str,
        member: MemberId,
        draw_key: &str,
        now: Micros,
    ) -> Result<(DrawRow, bool), MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let member = lock_member(conn, self.backend(), member)
            .await?
            .ok_or_else(|| refused(ErrorCode::MemberNotFound, format!("no member {member}")))?;
        if let Some(draw) = draw_by_key(conn, draw_key).await? {
            return Ok((draw, true));
        }
        let row = lottery_in(conn, lottery_id)
            .await?
            .ok_or_else(|| refused(ErrorCode::LotteryNotFound, "the lottery is gone"))?;
        let day = now.div_euclid(DAY);
        let today: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM lottery_draws WHERE lottery_id = $1 AND member_id = $2 AND day = $3",
        )
        .bind(lottery_id.to_owned())
        .bind(member)
        .bind(day)
        .fetch_one(&mut *conn)
        .await?;
        if today >= i64::from(row.lottery.daily_limit) {
            return Err(refused(
                ErrorCode::LimitReached,
                format!("a member may draw {} times a day", row.lottery.daily_limit),
            ));
        }
        // 63 bits, so the number is stored as it was drawn.
        let number = (rand::rng().random::<u64>() >> 1) as i64;
        let picked = row
            .lottery
            .pick(number as u64)
            .map(|i| &row.lottery.prizes[i]);
        let outcome = match picked {
            None => "nothing",
            Some(p) if p.stock.is_none() => "won",
            Some(p) => {
                let taken = sqlx::query(
                    "UPDATE lottery_stock SET remaining = remaining - 1 \
                     WHERE lottery_id = $1 AND prize_id = $2 AND remaining > 0",
                )
                .bind(lottery_id.to_owned())
                .bind(p.id.clone())
                .execute(&mut *conn)
                .await?;
                if taken.rows_affected() == 1 {
                    "won"
                } else {
                    "out_of_stock"
                }
            }
        };
        let draw = DrawRow {
            id: new_id("drw", draw_key),
            lottery_id: lottery_id.to_owned(),
            member_id: member,
            number,
            version: row.version,
            prize_id: picked.map(|p| p.id.clone()),
            outcome: outcome.into(),
            cost_points: row.lottery.cost_points,
            at: now,
        };
        sqlx::query(
            "INSERT INTO lottery_draws (id, lottery_id, member_id, draw_key, day, number, version, prize_id, outcome, cost_points, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(draw.id.clone())
        .bind(draw.lottery_id.clone())
        .bind(member)
        .bind(draw_key.to_owned())
        .bind(day)
        .bind(number)
        .bind(draw.version)
        .bind(draw.prize_id.clone())
        .bind(draw.outcome.clone())
        .bind(draw.cost_points)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        tx.commit().await?;
        Ok((draw, false))
    }

    /// Credits a won points prize of the table the draw was drawn under, once (an
    /// adjustment keyed by the draw).
    async fn credit_prize(
        &self,
        draw: &DrawRow,
        policy: &PointsPolicy,
        now: Micros,
    ) -> Result<(), MarketingError> {
        if draw.outcome != "won" {
            return Ok(());
        }
        let Some((_, table)) = self.lottery_draw(&draw.id).await? else {
            return Ok(());
        };
        let points = table
            .prizes
            .iter()
            .find(|p| Some(&p.id) == draw.prize_id.as_ref())
            .and_then(|p| p.points);
        if let Some(points) = points {
            let req = AdjustRequest {
                member_id: draw.member_id,
                points,
                reason: format!(
                    "lottery {} prize {}",
                    draw.lottery_id,
                    draw.prize_id.as_deref().unwrap_or("")
                ),
                programme: policy.default_programme().to_owned(),
                idempotency_key: format!("lottery-prize:{}", draw.id),
                actor: AuditActor {
                    reference: "lottery".into(),
                    key_id: None,
                    name: "Flywheel's lottery (a prize won)".into(),
                },
            };
            self.adjust_points(&req, policy, now).await?;
        }
        Ok(())
    }
}
