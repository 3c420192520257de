//! Referrals as staff review them (anti-abuse, issue 20): the referrals held as farmed
//! (`flywheel_core::ingest::farming`) with why, and the audit record of a person's
//! decision. The decision itself is a `referral_review` event the engine applies, so it
//! pays (or refuses) exactly as a conversion would.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::ingest::MemberId;
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferralRow {
    pub event_id: String,
    pub inviter_id: MemberId,
    pub invitee_id: MemberId,
    pub referred_at: Micros,
    pub converted_at: Option<Micros>,
    /// pending | converted | already_customer | superseded | refused_cycle | held |
    /// refused_farming
    pub status: String,
    pub hold_reason: Option<String>,
}

const COLUMNS: &str =
    "event_id, inviter_id, invitee_id, referred_at, converted_at, status, hold_reason";

fn from_row(r: &AnyRow) -> Result<ReferralRow, StoreError> {
    Ok(ReferralRow {
        event_id: r.try_get("event_id")?,
        inviter_id: r.try_get("inviter_id")?,
        invitee_id: r.try_get("invitee_id")?,
        referred_at: r.try_get("referred_at")?,
        converted_at: r.try_get("converted_at")?,
        status: r.try_get("status")?,
        hold_reason: r.try_get("hold_reason")?,
    })
}

impl Store {
    pub async fn referral(&self, event_id: &str) -> Result<Option<ReferralRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM referrals WHERE event_id = $1"
        )))
        .bind(event_id.to_owned())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Referrals of one status (all when None), optionally of one inviter, the most
    /// recently referred first.
    pub async fn referrals(
        &self,
        status: Option<&str>,
        inviter: Option<MemberId>,
        limit: i64,
    ) -> Result<Vec<ReferralRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM referrals WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR inviter_id = $2) ORDER BY referred_at DESC, event_id LIMIT $3"
        )))
        .bind(status.map(str::to_owned))
        .bind(inviter)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The audit record of a decision on a held referral, written once the engine has
    /// applied it: `before` as it was held, `after` as it stands now.
    pub async fn audit_referral_review(
        &self,
        before: &ReferralRow,
        after: &ReferralRow,
        reason: Option<&str>,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<(), StoreError> {
        let view = |r: &ReferralRow| {
            json!({"status": r.status, "inviter_id": r.inviter_id, "invitee_id": r.invitee_id,
                   "hold_reason": r.hold_reason})
        };
        let mut tx = self.begin_write().await?;
        let change = AuditChange {
            kind: "referral",
            action: if after.status == "converted" {
                "release"
            } else {
                "refuse"
            },
            target: format!("referral:{}", after.event_id),
            reason: reason.map(str::to_owned),
            before: Some(view(before)),
            after: Some(view(after)),
        };
        audit::record(&mut tx, now, actor, change).await?;
        tx.commit().await?;
        Ok(())
    }
}
