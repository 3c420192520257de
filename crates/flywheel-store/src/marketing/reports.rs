//! Per-campaign figures for the marketing report (issue 20, item 12): for each coupon and
//! each fission campaign, who took part, the new members and referrals it brought, what
//! it cost (points credited, discounts granted) and the GMV it influenced — for a
//! coupon, the orders its codes were redeemed on; for a fission campaign, the net orders
//! its participants placed from the moment they took part until 30 days after.
//! Read from the tables, so the figures may lag ingest by one flush.

use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::money::Money;
use flywheel_core::time::DAY;
use sqlx::Row;

/// How long after taking part a participant's orders count as influenced.
pub const INFLUENCE_DAYS: i64 = 30;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignFigures {
    /// coupon | group_buy | help | bargain
    pub kind: String,
    pub id: String,
    pub name: String,
    pub participants: i64,
    pub new_members: i64,
    pub referrals: i64,
    pub referral_conversions: i64,
    /// Points credited to members by the campaign's rewards.
    pub points: i64,
    /// Discounts granted on its coupons.
    pub discounts: Money,
    /// A coupon's: the orders its codes were redeemed on. A fission campaign's: net
    /// orders of participants from taking part until INFLUENCE_DAYS after.
    pub gmv: Money,
}

/// `(member, from)` pairs of a campaign's participants, as SQL; the GMV and the counts
/// read from it.
fn influenced_gmv(participants: &str) -> String {
    format!(
        "SELECT CAST(COALESCE(SUM(COALESCE(o.amount, 0) - o.refunded), 0) AS BIGINT) FROM orders o \
         JOIN ({participants}) p ON o.member_id = p.member_id \
         WHERE o.occurred_at >= p.since AND o.occurred_at < p.since + {}",
        INFLUENCE_DAYS * DAY
    )
}

const FISSION_PARTICIPANTS: &str = "SELECT leader_id AS member_id, MIN(opened_at) AS since \
     FROM fission_rounds WHERE campaign_id = $1 GROUP BY leader_id \
     UNION ALL SELECT member_id, at AS since FROM fission_joins WHERE campaign_id = $1";

impl Store {
    /// One row per coupon and per fission campaign, coupons first, each by id.
    pub async fn campaign_figures(&self) -> Result<Vec<CampaignFigures>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let mut out = Vec::new();
        for coupon in self.coupons().await? {
            let (id, name, granted) = (coupon.coupon.id, coupon.coupon.name, coupon.granted);
            let row = sqlx::query(
                "SELECT \
                 (SELECT COUNT(DISTINCT member_id) FROM coupon_codes WHERE coupon_id = $1 AND status = 'redeemed') AS participants, \
                 (SELECT COUNT(*) FROM coupon_codes c JOIN members m ON m.id = c.member_id \
                    WHERE c.coupon_id = $1 AND c.status = 'redeemed' AND c.gift_from IS NOT NULL \
                    AND m.created_at >= c.issued_at) AS new_members, \
                 (SELECT COUNT(*) FROM coupon_codes WHERE coupon_id = $1 AND status = 'redeemed' \
                    AND gift_from IS NOT NULL) AS referrals, \
                 (SELECT COUNT(*) FROM referrals r JOIN coupon_codes c ON r.event_id = 'gift-referral:' || c.code \
                    WHERE c.coupon_id = $1 AND r.status = 'converted') AS conversions, \
                 (SELECT CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) FROM points_entries e JOIN coupon_codes c \
                    ON e.txn_key IN ('adjust:gift-reward:' || c.code || ':giver', 'adjust:gift-reward:' || c.code || ':friend') \
                    WHERE c.coupon_id = $1 AND e.member_id IS NOT NULL) AS points, \
                 (SELECT CAST(COALESCE(SUM(order_amount), 0) AS BIGINT) FROM coupon_codes \
                    WHERE coupon_id = $1 AND status = 'redeemed') AS gmv",
            )
            .bind(id.clone())
            .fetch_one(&mut *conn)
            .await?;
            out.push(CampaignFigures {
                kind: "coupon".into(),
                id,
                name,
                participants: row.try_get("participants")?,
                new_members: row.try_get("new_members")?,
                referrals: row.try_get("referrals")?,
                referral_conversions: row.try_get("conversions")?,
                points: row.try_get("points")?,
                discounts: granted,
                gmv: Money::from_minor(row.try_get("gmv")?),
            });
        }
        let campaigns = self.fission_campaigns().await?;
        for c in campaigns {
            let id = c.campaign.id.clone();
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT \
                 (SELECT COUNT(DISTINCT member_id) FROM ({FISSION_PARTICIPANTS}) t) AS participants, \
                 (SELECT CAST(COALESCE(SUM(new_member), 0) AS BIGINT) FROM fission_joins WHERE campaign_id = $1) AS new_members, \
                 (SELECT COUNT(*) FROM fission_joins WHERE campaign_id = $1) AS referrals, \
                 (SELECT COUNT(*) FROM referrals r JOIN fission_joins j \
                    ON r.event_id = 'fission-referral:' || j.round_id || ':' || CAST(j.member_id AS TEXT) \
                    WHERE j.campaign_id = $1 AND r.status = 'converted') AS conversions, \
                 (SELECT CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) FROM points_entries e JOIN fission_rounds f \
                    ON e.txn_key = 'adjust:fission-reward:' || f.id \
                    WHERE f.campaign_id = $1 AND e.member_id IS NOT NULL) AS points, \
                 (SELECT CAST(COALESCE(SUM(discount), 0) AS BIGINT) FROM coupon_codes WHERE source = 'fission:' || $1 \
                    AND status = 'redeemed') AS discounts, \
                 ({}) AS gmv",
                influenced_gmv(FISSION_PARTICIPANTS)
            )))
            .bind(id.clone())
            .fetch_one(&mut *conn)
            .await?;
            out.push(CampaignFigures {
                kind: c.campaign.mechanic.kind().into(),
                id,
                name: c.campaign.name,
                participants: row.try_get("participants")?,
                new_members: row.try_get("new_members")?,
                referrals: row.try_get("referrals")?,
                referral_conversions: row.try_get("conversions")?,
                points: row.try_get("points")?,
                discounts: Money::from_minor(row.try_get("discounts")?),
                gmv: Money::from_minor(row.try_get("gmv")?),
            });
        }
        Ok(out)
    }
}
