//! The membership sweep: memberships whose term and grace are over are kept by the
//! retention measure, lowered, or lapsed (`flywheel_core::membership::lifecycle`), each
//! change recorded at the moment it happened (the end of the grace), not when the sweep
//! got to it. Reads never wait for this: they judge by the clock.

use super::programmes::latest;
use super::purchases::{
    MEMBERSHIP_SELECT, TierChange, membership_from_row, membership_of, remove_membership,
    save_membership,
};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::MemberId;
use flywheel_core::membership::lifecycle::{TermMeasures, end_of_term};
use flywheel_core::membership::{Membership, Programme, ProgrammeKind};
use flywheel_core::time::{DAY, Micros};
use sqlx::{AnyConnection, Row};

/// Memberships looked at in one pass; the sweep runs every minute.
const PASS: i64 = 500;

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipSweepReport {
    /// Kept for another term by the retention measure.
    pub retained: u64,
    /// Lowered to another tier.
    pub lowered: u64,
    /// Ended.
    pub lapsed: u64,
}

/// Spend and points earned by `member` in `[from, to)`.
pub(super) async fn measures(
    conn: &mut AnyConnection,
    member: MemberId,
    from: Micros,
    to: Micros,
) -> Result<TermMeasures, StoreError> {
    let spend: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount - refunded), 0) AS BIGINT) AS spend FROM orders \
         WHERE member_id = $1 AND amount IS NOT NULL AND occurred_at >= $2 AND occurred_at < $3",
    )
    .bind(member)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *conn)
    .await?
    .try_get("spend")?;
    let points: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS earned FROM points_entries \
         WHERE member_id = $1 AND kind = 'earn' AND account_type IN ('wallet', 'pending') \
         AND at >= $2 AND at < $3",
    )
    .bind(member)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *conn)
    .await?
    .try_get("earned")?;
    Ok(TermMeasures { spend, points })
}

impl Store {
    /// Spend (net of refunds) and points earned by `member` in `[from, to)`: what
    /// raises, keeps and qualifies for tiers.
    pub async fn member_measures(
        &self,
        member: MemberId,
        from: Micros,
        to: Micros,
    ) -> Result<TermMeasures, StoreError> {
        let mut conn = self.pool().acquire().await?;
        measures(&mut conn, member, from, to).await
    }

    /// Ends the terms (and graces) that are over at `now`. A membership several terms
    /// behind is carried through each in turn, every term judged by its own measures.
    pub async fn sweep_memberships(
        &self,
        now: Micros,
    ) -> Result<MembershipSweepReport, StoreError> {
        let mut report = MembershipSweepReport::default();
        // Per programme, so that memberships still in their grace are not even read.
        for programme in self.programmes().await? {
            let grace = i64::from(programme.definition.downgrade.grace_days) * DAY;
            let sql = format!(
                "{MEMBERSHIP_SELECT} WHERE programme = $1 AND expires_at IS NOT NULL AND expires_at <= $2 \
                 ORDER BY expires_at, member_id LIMIT {PASS}"
            );
            loop {
                // Inside held writes (`held.rs`), read where the terms their earlier days
                // started are seen.
                let mut conn = self.read_conn().await?;
                let due: Vec<Membership> = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(programme.id.clone())
                    .bind(now - grace)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(membership_from_row)
                    .collect::<Result<_, _>>()?;
                drop(conn);
                let full = due.len() as i64 == PASS;
                let before = report.clone();
                for m in due {
                    self.end_terms(&programme.id, m.member_id, now, &mut report)
                        .await?;
                }
                // A full pass may have left more due: take them now, not at the next
                // sweep (a day late, in a replayed history) — unless this pass changed
                // nothing, when another would not either.
                if !full || report == before {
                    break;
                }
            }
        }
        Ok(report)
    }

    async fn end_terms(
        &self,
        programme_id: &str,
        member: MemberId,
        now: Micros,
        report: &mut MembershipSweepReport,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let Some(programme) = latest(conn, programme_id).await? else {
            return Ok(());
        };
        let programme: Programme = programme.definition;
        // Read again inside the transaction: a purchase may have renewed it meanwhile.
        let Some(mut m) = membership_of(conn, member, programme_id).await? else {
            return Ok(());
        };
        let mut changed = false;
        while let Some(grace_end) = m.grace_until(&programme).filter(|end| *end <= now) {
            let ended = m.expires_at.unwrap_or(m.term_start);
            // A paid term is judged by what was done in it; an earned tier by the
            // programme's window up to its end.
            let from = match programme.kind {
                ProgrammeKind::Earned => ended - i64::from(programme.window_days()) * DAY,
                // The last of the terms renewed in a row: it alone keeps the tier.
                _ => m.term_at(&programme, ended - 1).0,
            };
            let got = measures(conn, member, from, ended).await?;
            let outcome = end_of_term(&programme, &m, got);
            let to = outcome.next.as_ref().map(|n| n.tier.clone());
            self.record_tier_change(
                conn,
                TierChange {
                    member,
                    programme: programme_id,
                    from: Some(&m.tier),
                    to: to.as_deref(),
                    at: grace_end,
                    rule: outcome.rule,
                    reason: outcome.reason,
                    actor: "sweep",
                    reference: None,
                },
            )
            .await?;
            changed = true;
            match outcome.next {
                Some(next) => {
                    if next.tier == m.tier {
                        report.retained += 1;
                    } else {
                        report.lowered += 1;
                    }
                    m = next;
                }
                None => {
                    report.lapsed += 1;
                    remove_membership(conn, member, programme_id).await?;
                    self.refresh_segments_in(conn, &[member], "tier", now)
                        .await?;
                    // Memberships and segments: nothing the member cache holds.
                    self.commit_keeping_cache(tx).await?;
                    return Ok(());
                }
            }
        }
        if changed {
            save_membership(conn, &m).await?;
            self.refresh_segments_in(conn, &[member], "tier", now)
                .await?;
            self.commit_keeping_cache(tx).await?;
        }
        Ok(())
    }
}
