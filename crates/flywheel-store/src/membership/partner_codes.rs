//! Partner codes: the codes a partner supplies for a benefit (a video-site membership
//! bundled with the paid tier), loaded in bulk, each handed out by exactly one use, and
//! the settlement that counts what each partner is owed for.

use super::benefits::benefit_in;
use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use crate::points::PointsError;
use flywheel_core::membership::benefit::Benefit;
use flywheel_core::time::Micros;
use flywheel_core::validation::FieldError;
use flywheel_core::{ErrorCode, MemberId};
use serde_json::json;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet};

/// Most codes one load may carry.
pub const MAX_CODES_PER_LOAD: usize = 2_000;

/// Codes of one benefit: waiting to be handed out, and handed out so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeStock {
    pub in_stock: i64,
    pub issued: i64,
}

/// What loading codes came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadedCodes {
    pub added: u64,
    /// Codes in the load that were loaded before (a retried load adds nothing).
    pub already_loaded: u64,
    pub stock: CodeStock,
}

/// Codes handed out for one partner's benefit in a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeSettlementRow {
    pub partner: String,
    pub partner_name: String,
    pub benefit: String,
    pub issued: i64,
    /// Still in stock now.
    pub in_stock: i64,
}

pub(crate) async fn stock_in(
    conn: &mut AnyConnection,
    benefit: &str,
) -> Result<CodeStock, StoreError> {
    let row = sqlx::query(
        "SELECT COALESCE(SUM(CASE WHEN use_id IS NULL THEN 1 ELSE 0 END), 0) AS in_stock, \
         COALESCE(SUM(CASE WHEN use_id IS NULL THEN 0 ELSE 1 END), 0) AS issued \
         FROM partner_codes WHERE benefit = $1",
    )
    .bind(benefit.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    Ok(CodeStock {
        in_stock: row.try_get("in_stock")?,
        issued: row.try_get("issued")?,
    })
}

/// Takes the oldest code in stock for the use `use_id`; none when the stock is empty.
/// Two uses racing for the same code: the second finds it taken (its update matches no
/// row once the first commits) and takes the next, so no code is handed out twice.
pub(crate) async fn take_code(
    conn: &mut AnyConnection,
    benefit: &str,
    use_id: &str,
    member: MemberId,
    now: Micros,
) -> Result<Option<String>, StoreError> {
    loop {
        let Some(row) = sqlx::query(
            "SELECT code FROM partner_codes WHERE benefit = $1 AND use_id IS NULL \
             ORDER BY loaded_at, code LIMIT 1",
        )
        .bind(benefit.to_owned())
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let code: String = row.try_get("code")?;
        let taken = sqlx::query(
            "UPDATE partner_codes SET use_id = $1, member_id = $2, issued_at = $3 \
             WHERE benefit = $4 AND code = $5 AND use_id IS NULL",
        )
        .bind(use_id.to_owned())
        .bind(member)
        .bind(now)
        .bind(benefit.to_owned())
        .bind(code.clone())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if taken == 1 {
            return Ok(Some(code));
        }
    }
}

/// The codes a member was handed for a benefit since `since`, oldest first.
pub(crate) async fn codes_of(
    conn: &mut AnyConnection,
    member: MemberId,
    benefit: &str,
    since: Micros,
) -> Result<Vec<String>, StoreError> {
    sqlx::query(
        "SELECT code FROM benefit_uses WHERE member_id = $1 AND benefit = $2 AND at >= $3 \
         AND code IS NOT NULL ORDER BY at, id",
    )
    .bind(member)
    .bind(benefit.to_owned())
    .bind(since)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok(r.try_get("code")?))
    .collect()
}

fn partner_of(benefit: &Benefit, id: &str) -> Result<(), PointsError> {
    match benefit.partner {
        Some(_) => Ok(()),
        None => Err(PointsError::Field(FieldError::new(
            "id",
            ErrorCode::InvalidValue,
            format!("benefit {id:?} has no partner; codes are loaded only for partner benefits"),
        ))),
    }
}

impl Store {
    /// Adds a partner's codes to a benefit's stock. A code loaded before is skipped, so
    /// a retried load adds nothing. Audited with the counts (never the codes).
    pub async fn load_partner_codes(
        &self,
        benefit: &str,
        codes: &[String],
        actor: &AuditActor,
        now: Micros,
    ) -> Result<LoadedCodes, PointsError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let row = benefit_in(conn, benefit)
            .await?
            .ok_or(PointsError::NotFound("benefit"))?;
        partner_of(&row.definition, benefit)?;
        let distinct: BTreeSet<&String> = codes.iter().collect();
        let mut added = 0;
        for code in &distinct {
            added += sqlx::query(
                "INSERT INTO partner_codes (benefit, code, loaded_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (benefit, code) DO NOTHING",
            )
            .bind(benefit.to_owned())
            .bind((*code).clone())
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        }
        let already_loaded = distinct.len() as u64 - added;
        let stock = stock_in(conn, benefit).await?;
        if added > 0 {
            let change = AuditChange {
                kind: "partner_codes",
                action: "load",
                target: format!("benefit:{benefit}"),
                reason: None,
                before: None,
                after: Some(json!({
                    "added": added,
                    "already_loaded": already_loaded,
                    "in_stock": stock.in_stock,
                })),
            };
            audit::record(conn, now, actor, change).await?;
        }
        tx.commit().await?;
        Ok(LoadedCodes {
            added,
            already_loaded,
            stock,
        })
    }

    /// A benefit's codes in stock and handed out.
    pub async fn partner_code_stock(&self, benefit: &str) -> Result<CodeStock, StoreError> {
        let mut conn = self.pool().acquire().await?;
        stock_in(&mut conn, benefit).await
    }

    /// Codes handed out in `[from, to)` per partner and benefit, with what each benefit
    /// has left in stock: what the brand settles with each partner. `partner` keeps one.
    pub async fn code_settlement(
        &self,
        partner: Option<&str>,
        from: Micros,
        to: Micros,
    ) -> Result<Vec<CodeSettlementRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let mut issued: BTreeMap<(String, String), i64> = BTreeMap::new();
        for r in sqlx::query(
            "SELECT partner, benefit, COUNT(*) AS n FROM benefit_uses \
             WHERE partner IS NOT NULL AND at >= $1 AND at < $2 AND ($3 = '' OR partner = $3) \
             GROUP BY partner, benefit",
        )
        .bind(from)
        .bind(to)
        .bind(partner.unwrap_or("").to_owned())
        .fetch_all(&mut *conn)
        .await?
        {
            issued.insert(
                (r.try_get("partner")?, r.try_get("benefit")?),
                r.try_get("n")?,
            );
        }
        // Every partner benefit appears, also with nothing handed out in the period, so
        // a stock running low shows.
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for b in self.benefits().await? {
            let Some(p) = &b.definition.partner else {
                continue;
            };
            if partner.is_some_and(|want| want != p.id) {
                continue;
            }
            seen.insert((p.id.clone(), b.id.clone()));
            out.push(CodeSettlementRow {
                partner: p.id.clone(),
                partner_name: p.name.clone(),
                benefit: b.id.clone(),
                issued: issued
                    .get(&(p.id.clone(), b.id.clone()))
                    .copied()
                    .unwrap_or(0),
                in_stock: stock_in(&mut conn, &b.id).await?.in_stock,
            });
        }
        // Codes a benefit handed out under a partner it no longer names still count.
        for ((p, b), n) in issued {
            if !seen.contains(&(p.clone(), b.clone())) {
                out.push(CodeSettlementRow {
                    partner_name: p.clone(),
                    partner: p,
                    in_stock: stock_in(&mut conn, &b).await?.in_stock,
                    benefit: b,
                    issued: n,
                });
            }
        }
        out.sort_by(|a, b| (&a.partner, &a.benefit).cmp(&(&b.partner, &b.benefit)));
        Ok(out)
    }
}
