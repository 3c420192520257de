//! Staff's discretionary points (migration 33): a gift first reserves its points against
//! the giver's allowance for the UTC month, under its request key, in a transaction that
//! holds the giver's roster row — so two gifts at once never take anyone past the cap —
//! and the ledger then posts them under a key derived from the same request, so a retry
//! after a failure between the two posts nothing twice.

use crate::db::Store;
use crate::error::StoreError;
use chrono::Datelike;
use flywheel_core::ingest::MemberId;
use flywheel_core::time::{Micros, to_datetime};
use sqlx::{AnyConnection, Row};

/// What reserving a gift came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reserved {
    /// Reserved now; the giver has used this much of the month's allowance with it.
    Fresh { used: i64 },
    /// The key was reserved before for this gift: post it (again).
    Again { used: i64 },
    /// The key was used for another gift.
    Conflict,
    /// It would take the giver past the allowance.
    Over { used: i64 },
}

/// The month of `at` as YYYYMM.
fn month_of(at: Micros) -> i64 {
    let d = to_datetime(at);
    i64::from(d.year()) * 100 + i64::from(d.month())
}

/// Points `staff` gave in `month`.
async fn used_in(conn: &mut AnyConnection, staff: &str, month: i64) -> Result<i64, StoreError> {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM staff_gifts WHERE staff_id = $1 AND month = $2",
    )
    .bind(staff.to_owned())
    .bind(month)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n.unwrap_or(0))
}

impl Store {
    /// Reserves `points` from `staff`'s allowance of `cap` for the month, under `key`.
    #[allow(clippy::too_many_arguments)]
    pub async fn reserve_gift(
        &self,
        key: &str,
        staff: &str,
        member: MemberId,
        points: i64,
        cap: i64,
        reason: &str,
        now: Micros,
    ) -> Result<Reserved, StoreError> {
        let month = month_of(now);
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let lock = crate::dialect::row_lock(self.backend());
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM staff WHERE id = $1{lock}"
        )))
        .bind(staff.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = sqlx::query(
            "SELECT staff_id, member_id, points, month FROM staff_gifts WHERE request_key = $1",
        )
        .bind(key.to_owned())
        .fetch_optional(&mut *conn)
        .await?
        {
            let same = r.try_get::<String, _>("staff_id")? == staff
                && r.try_get::<i64, _>("member_id")? == member
                && r.try_get::<i64, _>("points")? == points;
            let then: i64 = r.try_get("month")?;
            let used = used_in(conn, staff, then).await?;
            return Ok(if same {
                Reserved::Again { used }
            } else {
                Reserved::Conflict
            });
        }
        let before = used_in(conn, staff, month).await?;
        if before + points > cap {
            return Ok(Reserved::Over { used: before });
        }
        sqlx::query(
            "INSERT INTO staff_gifts (request_key, staff_id, member_id, points, month, at, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.to_owned())
        .bind(staff.to_owned())
        .bind(member)
        .bind(points)
        .bind(month)
        .bind(now)
        .bind(reason.to_owned())
        .execute(&mut *conn)
        .await?;
        tx.commit().await?;
        Ok(Reserved::Fresh {
            used: before + points,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::month_of;
    use flywheel_core::time::parse_rfc3339;

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(
            month_of(parse_rfc3339("2026-12-31T23:59:59Z").unwrap()),
            202612
        );
        assert_eq!(
            month_of(parse_rfc3339("2027-01-01T00:00:00Z").unwrap()),
            202701
        );
    }
}
