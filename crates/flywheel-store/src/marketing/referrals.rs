//! Referrals as staff review them (anti-abuse, issue 20): the referrals held as farmed
//! (`flywheel_core::ingest::farming`) with why, and the audit record of a person's
//! decision. The decision itself is a `referral_review` event the engine applies, so it
//! pays (or refuses) exactly as a conversion would.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use crate::rows::{REFERRAL_SELECT, referral_from_row};
use flywheel_core::ingest::{MemberId, ReferralState};
use flywheel_core::time::Micros;
use serde_json::json;

impl Store {
    pub async fn referral(&self, event_id: &str) -> Result<Option<ReferralState>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{REFERRAL_SELECT} event_id = $1"
        )))
        .bind(event_id.to_owned())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(referral_from_row).transpose()
    }

    /// Referrals of one status (all when None), optionally of one inviter, the most
    /// recently referred first.
    pub async fn referrals(
        &self,
        status: Option<&str>,
        inviter: Option<MemberId>,
        limit: i64,
    ) -> Result<Vec<ReferralState>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{REFERRAL_SELECT} ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR inviter_id = $2) ORDER BY referred_at DESC, event_id LIMIT $3"
        )))
        .bind(status.map(str::to_owned))
        .bind(inviter)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(referral_from_row).collect()
    }

    /// The audit record of a decision on a held referral, written once the engine has
    /// applied it: `before` as it was held, `after` as it stands now.
    pub async fn audit_referral_review(
        &self,
        before: &ReferralState,
        after: &ReferralState,
        reason: Option<&str>,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<(), StoreError> {
        let view = |r: &ReferralState| {
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
