//! Flash sales (migration 36): a claim takes one unit in the statement that moves the
//! sale's `remaining` only while it is above zero, in a transaction holding the member's
//! row (the per-member limit) — never oversold, whatever the number of claims at once or
//! of servers. Claims unpaid past `pay_by` lapse and give their unit back: in the
//! transaction of the sale's next claim, and by the engagement task's pass.
//!
//! Paying a claim with a points price debits the points first (a redemption keyed by
//! the claim, so a retry debits once), then marks the claim paid if it is still held;
//! if it lapsed meanwhile, the redemption is cancelled and the points go back.

use super::coupons::{MarketingError, refused, retrying};
use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use crate::points::RedeemRequest;
use crate::points::commands::{lock_member, new_id};
use flywheel_core::ErrorCode;
use flywheel_core::ingest::MemberId;
use flywheel_core::marketing::FlashSale;
use flywheel_core::time::Micros;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A sale as stored, with its units left and its claims by state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlashSaleRow {
    pub sale: FlashSale,
    pub remaining: i64,
    pub held: i64,
    pub paid: i64,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRow {
    pub id: String,
    pub sale_id: String,
    pub member_id: MemberId,
    /// held | paid | lapsed
    pub status: String,
    pub claimed_at: Micros,
    pub pay_by: Micros,
    pub paid_at: Option<Micros>,
    pub order_id: Option<String>,
}

const CLAIM_COLUMNS: &str =
    "id, sale_id, member_id, status, claimed_at, pay_by, paid_at, order_id, redemption_id";

fn claim_from_row(r: &AnyRow) -> Result<ClaimRow, StoreError> {
    Ok(ClaimRow {
        id: r.try_get("id")?,
        sale_id: r.try_get("sale_id")?,
        member_id: r.try_get("member_id")?,
        status: r.try_get("status")?,
        claimed_at: r.try_get("claimed_at")?,
        pay_by: r.try_get("pay_by")?,
        paid_at: r.try_get("paid_at")?,
        order_id: r.try_get("order_id")?,
    })
}

const SALE_COLUMNS: &str = "id, definition, remaining, created_at, updated_at, \
    (SELECT COUNT(*) FROM flash_claims c WHERE c.sale_id = flash_sales.id AND c.status = 'held') AS held, \
    (SELECT COUNT(*) FROM flash_claims c WHERE c.sale_id = flash_sales.id AND c.status = 'paid') AS paid";

fn sale_from_row(r: &AnyRow) -> Result<FlashSaleRow, StoreError> {
    let id: String = r.try_get("id")?;
    let sale = serde_json::from_str(&r.try_get::<String, _>("definition")?)
        .map_err(|_| StoreError::Corrupt(format!("flash sale {id}: definition")))?;
    Ok(FlashSaleRow {
        sale,
        remaining: r.try_get("remaining")?,
        held: r.try_get("held")?,
        paid: r.try_get("paid")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

async fn sale_in(conn: &mut AnyConnection, id: &str) -> Result<Option<FlashSaleRow>, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SALE_COLUMNS} FROM flash_sales WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(sale_from_row)
    .transpose()
}

async fn claim_in(conn: &mut AnyConnection, id: &str) -> Result<Option<ClaimRow>, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CLAIM_COLUMNS} FROM flash_claims WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(claim_from_row)
    .transpose()
}

/// Lapses a sale's claims unpaid past their time and puts their units back.
async fn lapse_due(
    conn: &mut AnyConnection,
    sale_id: &str,
    now: Micros,
) -> Result<u64, StoreError> {
    let lapsed = sqlx::query(
        "UPDATE flash_claims SET status = 'lapsed' WHERE sale_id = $1 AND status = 'held' AND pay_by <= $2",
    )
    .bind(sale_id.to_owned())
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if lapsed > 0 {
        sqlx::query("UPDATE flash_sales SET remaining = remaining + $2 WHERE id = $1")
            .bind(sale_id.to_owned())
            .bind(lapsed as i64)
            .execute(&mut *conn)
            .await?;
    }
    Ok(lapsed)
}

impl Store {
    /// Creates a sale (`replace` false: refused when the id is taken) or replaces it;
    /// a replaced sale's stock counts the units already claimed. Returns whether it
    /// was created.
    pub async fn save_flash_sale(
        &self,
        sale: &FlashSale,
        replace: bool,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<bool, MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = sale_in(conn, &sale.id).await?;
        if before.is_some() && !replace {
            return Err(refused(
                ErrorCode::FlashSaleExists,
                format!("a flash sale {:?} exists; change it with PUT", sale.id),
            ));
        }
        let taken = before.as_ref().map_or(0, |b| b.held + b.paid);
        if sale.stock < taken {
            return Err(MarketingError::Refused {
                code: ErrorCode::OutOfRange,
                message: format!("stock cannot go below the {taken} units already claimed"),
            });
        }
        let definition =
            serde_json::to_string(sale).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO flash_sales (id, definition, remaining, created_at, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, \
             remaining = excluded.remaining, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(sale.id.clone())
        .bind(definition)
        .bind(sale.stock - taken)
        .bind(now)
        .bind(actor.reference.clone())
        .execute(&mut *conn)
        .await?;
        let body = |s: &FlashSale| serde_json::to_value(s).unwrap_or_default();
        let change = AuditChange {
            kind: "flash_sale",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("flash_sale:{}", sale.id),
            reason: None,
            before: before.as_ref().map(|b| body(&b.sale)),
            after: Some(body(sale)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(before.is_none())
    }

    pub async fn flash_sale(&self, id: &str) -> Result<Option<FlashSaleRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        sale_in(&mut conn, id).await
    }

    pub async fn flash_sales(&self) -> Result<Vec<FlashSaleRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SALE_COLUMNS} FROM flash_sales ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(sale_from_row).collect()
    }

    pub async fn flash_claim(&self, id: &str) -> Result<Option<ClaimRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        claim_in(&mut conn, id).await
    }

    /// Claims one unit for a member, once per `key` (the same key answers with the same
    /// claim, `true`).
    pub async fn claim_flash_sale(
        &self,
        sale_id: &str,
        member: MemberId,
        key: &str,
        now: Micros,
    ) -> Result<(ClaimRow, bool), MarketingError> {
        retrying(|| self.claim_once(sale_id, member, key, now)).await
    }

    async fn claim_once(
        &self,
        sale_id: &str,
        member: MemberId,
        key: &str,
        now: Micros,
    ) -> Result<(ClaimRow, bool), MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let member = lock_member(conn, self.backend(), member)
            .await?
            .ok_or_else(|| refused(ErrorCode::MemberNotFound, format!("no member {member}")))?;
        let claim_key = format!("{sale_id}:{key}");
        if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CLAIM_COLUMNS} FROM flash_claims WHERE claim_key = $1"
        )))
        .bind(claim_key.clone())
        .fetch_optional(&mut *conn)
        .await?
        {
            let claim = claim_from_row(&row)?;
            if claim.member_id != member {
                return Err(refused(
                    ErrorCode::IdempotencyKeyReused,
                    "the idempotency_key was used for another member's claim",
                ));
            }
            return Ok((claim, true));
        }
        let sale = sale_in(conn, sale_id)
            .await?
            .ok_or_else(|| {
                refused(
                    ErrorCode::FlashSaleNotFound,
                    format!("no flash sale {sale_id:?}"),
                )
            })?
            .sale;
        if !sale.open_at(now) {
            return Err(refused(
                ErrorCode::SaleNotOpen,
                format!(
                    "the sale takes claims from {} to {}",
                    flywheel_core::time::to_rfc3339(sale.starts_at),
                    flywheel_core::time::to_rfc3339(sale.ends_at)
                ),
            ));
        }
        lapse_due(conn, sale_id, now).await?;
        let held: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM flash_claims WHERE sale_id = $1 AND member_id = $2 \
             AND status IN ('held', 'paid')",
        )
        .bind(sale_id.to_owned())
        .bind(member)
        .fetch_one(&mut *conn)
        .await?;
        if held >= i64::from(sale.per_member_limit) {
            return Err(refused(
                ErrorCode::LimitReached,
                format!(
                    "a member may claim at most {} of this sale",
                    sale.per_member_limit
                ),
            ));
        }
        let taken = sqlx::query(
            "UPDATE flash_sales SET remaining = remaining - 1 WHERE id = $1 AND remaining > 0",
        )
        .bind(sale_id.to_owned())
        .execute(&mut *conn)
        .await?;
        if taken.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::SoldOut,
                "every unit of the sale is claimed",
            ));
        }
        let claim = ClaimRow {
            id: new_id("fsc", &claim_key),
            sale_id: sale_id.to_owned(),
            member_id: member,
            status: "held".into(),
            claimed_at: now,
            pay_by: sale.pay_by(now),
            paid_at: None,
            order_id: None,
        };
        sqlx::query(
            "INSERT INTO flash_claims (id, sale_id, member_id, claim_key, status, claimed_at, pay_by) \
             VALUES ($1, $2, $3, $4, 'held', $5, $6)",
        )
        .bind(claim.id.clone())
        .bind(claim.sale_id.clone())
        .bind(member)
        .bind(claim_key)
        .bind(now)
        .bind(claim.pay_by)
        .execute(&mut *conn)
        .await?;
        tx.commit().await?;
        Ok((claim, false))
    }

    /// Pays a held claim (see the module's header); paying a paid claim again answers
    /// as the first time.
    pub async fn pay_flash_claim(
        &self,
        claim_id: &str,
        order_id: Option<&str>,
        points_programme: &str,
        now: Micros,
    ) -> Result<ClaimRow, MarketingError> {
        let mut conn = self.pool().acquire().await?;
        let claim = claim_in(&mut conn, claim_id)
            .await?
            .ok_or_else(|| refused(ErrorCode::FlashSaleNotFound, "no such claim"))?;
        drop(conn);
        if claim.status == "paid" {
            return Ok(claim);
        }
        let lapsed = || {
            refused(
                ErrorCode::ClaimExpired,
                "the claim was not paid in time; its unit went back on sale",
            )
        };
        if claim.status != "held" || now >= claim.pay_by {
            return Err(lapsed());
        }
        let sale = self
            .flash_sale(&claim.sale_id)
            .await?
            .ok_or_else(|| refused(ErrorCode::FlashSaleNotFound, "the claim's sale is gone"))?
            .sale;
        let redemption = if sale.price_points > 0 {
            let req = RedeemRequest {
                member_id: claim.member_id,
                reward_id: None,
                points: Some(sale.price_points),
                programme: points_programme.to_owned(),
                idempotency_key: format!("flash:{claim_id}"),
                actor: "flash_sale".into(),
            };
            Some(self.redeem(&req, now).await?.0.id)
        } else {
            None
        };
        let pay = sqlx::query(
            "UPDATE flash_claims SET status = 'paid', paid_at = $2, order_id = $3, redemption_id = $4 \
             WHERE id = $1 AND status = 'held' AND pay_by > $2",
        )
        .bind(claim_id.to_owned())
        .bind(now)
        .bind(order_id.map(str::to_owned))
        .bind(redemption.clone());
        let paid = self.write_alone(pay).await?;
        if paid.rows_affected() == 0 {
            if let Some(r) = redemption {
                self.cancel_redemption(&r, now).await?;
            }
            return match self.flash_claim(claim_id).await? {
                Some(c) if c.status == "paid" => Ok(c),
                _ => Err(lapsed()),
            };
        }
        self.flash_claim(claim_id)
            .await?
            .ok_or_else(|| refused(ErrorCode::FlashSaleNotFound, "no such claim"))
    }

    /// Lapses every sale's claims unpaid past their time; returns how many.
    pub async fn lapse_flash_claims(&self, now: Micros) -> Result<u64, StoreError> {
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT sale_id FROM flash_claims WHERE status = 'held' AND pay_by <= $1",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let mut lapsed = 0;
        for sale in due {
            let mut tx = self.begin_write().await?;
            lapsed += lapse_due(&mut tx, &sale, now).await?;
            tx.commit().await?;
        }
        Ok(lapsed)
    }
}
