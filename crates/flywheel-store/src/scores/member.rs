//! One member's scores: super user, influence and intimacy computed live from the
//! member's facts (so they move as events land), RFM and lifetime value from the last
//! recompute.

use super::{SCORE_COLUMNS, StoredScores, stored_from_row};
use crate::db::Store;
use crate::error::StoreError;
use crate::sql::{Val, select_in};
use flywheel_core::MemberId;
use flywheel_core::money::Money;
use flywheel_core::scores::{
    ReferralTree, Score, ScoreInputs, ScorePolicy, influence, intimacy, super_user,
};
use flywheel_core::time::Micros;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct MemberScores {
    /// The member asked about, after following merges.
    pub member_id: MemberId,
    pub super_user: Score,
    pub paid_member: bool,
    pub influence: Score,
    pub referral_tree: ReferralTree,
    pub intimacy: Score,
    /// The last recompute's row; `None` before the first recompute reached this member.
    pub stored: Option<StoredScores>,
    /// Why the last recompute computed no lifetime value, if it did not.
    pub clv_unfit: Option<String>,
}

/// Referrals that brought someone in: the invitee was not already a customer and this
/// was their first referral.
pub(crate) const INVITED: &str = "status IN ('pending', 'converted')";

impl Store {
    pub async fn member_scores(
        &self,
        id: MemberId,
        policy: &ScorePolicy,
        now: Micros,
    ) -> Result<Option<MemberScores>, StoreError> {
        let Some(member) = self.member(id).await? else {
            return Ok(None);
        };
        let mut conn = self.pool().acquire().await?;
        let tree = referral_tree(&mut conn, member.id).await?;
        let sql = format!("SELECT {SCORE_COLUMNS} FROM member_scores WHERE member_id = $1");
        let stored = sqlx::query(AssertSqlSafe(sql))
            .bind(member.id)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| stored_from_row(&r))
            .transpose()?;
        let clv_unfit = sqlx::query(
            "SELECT clv_status, clv_reason FROM score_runs ORDER BY started_at DESC LIMIT 1",
        )
        .fetch_optional(&mut *conn)
        .await?
        .and_then(|r| {
            let status: Option<String> = r.try_get("clv_status").ok()?;
            let reason: Option<String> = r.try_get("clv_reason").ok()?;
            (status.as_deref() == Some("insufficient_data")).then(|| reason.unwrap_or_default())
        });
        let m = ScoreInputs::from(&member.facts);
        Ok(Some(MemberScores {
            member_id: member.id,
            super_user: super_user::score(&m, policy, now),
            paid_member: m.paid_member,
            influence: influence::score(&m, member.profile.followers, &tree, policy),
            referral_tree: tree,
            intimacy: intimacy::score(&m, policy, now),
            stored,
            clv_unfit,
        }))
    }
}

/// Walks the referrals below `root` three levels deep, one query per level, then sums
/// what the invitees spent.
pub(crate) async fn referral_tree(
    conn: &mut AnyConnection,
    root: MemberId,
) -> Result<ReferralTree, StoreError> {
    let mut children: HashMap<MemberId, Vec<MemberId>> = HashMap::new();
    let mut level = vec![root];
    for _ in 0..3 {
        if level.is_empty() {
            break;
        }
        let head =
            format!("SELECT inviter_id, invitee_id FROM referrals WHERE {INVITED} AND inviter_id");
        let rows = select_in(conn, &head, level.iter().map(|m| Val::Int(*m)), "").await?;
        let mut next = Vec::new();
        for row in rows {
            let (inviter, invitee): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            if !children.contains_key(&invitee) && invitee != root {
                next.push(invitee);
            }
            children.entry(inviter).or_default().push(invitee);
        }
        next.sort_unstable();
        next.dedup();
        level = next;
    }
    let invitees: Vec<MemberId> = children.values().flatten().copied().collect();
    let spend = net_spend_of(conn, &invitees).await?;
    Ok(influence::referral_tree(
        root,
        |m| children.get(&m).map(Vec::as_slice).unwrap_or(&[]),
        |m| Money::from_minor(spend.get(&m).copied().unwrap_or(0)),
    ))
}

/// Net spend (orders less refunds) of each of `members` who bought anything.
pub(crate) async fn net_spend_of(
    conn: &mut AnyConnection,
    members: &[MemberId],
) -> Result<HashMap<MemberId, i64>, StoreError> {
    let rows = select_in(
        conn,
        "SELECT member_id, CAST(SUM(amount - refunded) AS BIGINT) AS net FROM orders \
         WHERE amount IS NOT NULL AND member_id",
        members.iter().map(|m| Val::Int(*m)),
        "GROUP BY member_id",
    )
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}
