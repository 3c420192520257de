//! What the relationships are worth: members, revenue, repeat buyers (any repeat, and
//! the same SKU bought more than three times — seed 000's two definitions), sharers,
//! referrers and summed lifetime value, grouped by stage, by lens, by tier held and by
//! super user or not; and every buyer's revenue, for the concentration curve. One pass
//! per grouping over the members table (their facts read in SQL), so a figure is the
//! same whichever way it is cut.

use crate::db::{Backend, Store};
use crate::error::StoreError;
use flywheel_core::time::{DAY, Micros};
use sqlx::{AssertSqlSafe, Row};

/// One group's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupFigures {
    pub key: String,
    pub members: i64,
    /// Members with at least one kept order.
    pub buyers: i64,
    /// Kept spend (gross less refunds), minor units.
    pub revenue: i64,
    /// Members with two kept orders or more.
    pub repeaters: i64,
    /// Members who bought one SKU more than three times.
    pub sku_loyal: i64,
    pub sharers: i64,
    pub referrers: i64,
    /// Members whose referral brought a buyer.
    pub converters: i64,
    /// Expected value over the score horizon, summed (last recompute), minor units.
    pub clv: i64,
}

/// The members' figures cut four ways.
#[derive(Clone, Debug, Default)]
pub struct Contribution {
    pub by_stage: Vec<GroupFigures>,
    pub by_lens: Vec<GroupFigures>,
    /// Keys `programme:tier`, members holding it now (within term or grace).
    pub by_tier: Vec<GroupFigures>,
    /// Keys `super_users` (the super-strong stage) and `everyone_else`.
    pub super_users: Vec<GroupFigures>,
    /// Every buyer's revenue, largest first.
    pub revenues: Vec<i64>,
}

/// The facts behind the figures, as SQL over `m` (the members row, facts as JSON).
struct Facts {
    pg: bool,
}

impl Facts {
    fn int(&self, key: &str) -> String {
        if self.pg {
            format!("COALESCE((m.facts::jsonb->>'{key}')::bigint, 0)")
        } else {
            format!("COALESCE(json_extract(m.facts, '$.{key}'), 0)")
        }
    }

    fn sku_loyal(&self) -> &'static str {
        if self.pg {
            "EXISTS (SELECT 1 FROM jsonb_each_text(COALESCE(m.facts::jsonb->'skus', '{}'::jsonb)) e WHERE (e.value)::bigint > 3)"
        } else {
            "EXISTS (SELECT 1 FROM json_each(m.facts, '$.skus') e WHERE e.value > 3)"
        }
    }

    /// The figures' columns, summed over the rows grouped.
    fn columns(&self) -> String {
        let orders = format!("({} - {})", self.int("orders"), self.int("refunded_orders"));
        let revenue = format!("({} - {})", self.int("gross_spent"), self.int("refunded"));
        format!(
            "CAST(COUNT(*) AS BIGINT) AS members, \
             CAST(SUM(CASE WHEN {orders} > 0 THEN 1 ELSE 0 END) AS BIGINT) AS buyers, \
             CAST(COALESCE(SUM({revenue}), 0) AS BIGINT) AS revenue, \
             CAST(SUM(CASE WHEN {orders} >= 2 THEN 1 ELSE 0 END) AS BIGINT) AS repeaters, \
             CAST(SUM(CASE WHEN {} THEN 1 ELSE 0 END) AS BIGINT) AS sku_loyal, \
             CAST(SUM(CASE WHEN {} > 0 THEN 1 ELSE 0 END) AS BIGINT) AS sharers, \
             CAST(SUM(CASE WHEN {} > 0 THEN 1 ELSE 0 END) AS BIGINT) AS referrers, \
             CAST(SUM(CASE WHEN {} > 0 THEN 1 ELSE 0 END) AS BIGINT) AS converters, \
             CAST(COALESCE(SUM(s.expected_value), 0) AS BIGINT) AS clv",
            self.sku_loyal(),
            self.int("shares"),
            self.int("referrals_made"),
            self.int("referrals_converted"),
        )
    }
}

fn figures(r: &sqlx::any::AnyRow) -> Result<GroupFigures, StoreError> {
    Ok(GroupFigures {
        key: r.try_get("k")?,
        members: r.try_get("members")?,
        buyers: r.try_get("buyers")?,
        revenue: r.try_get("revenue")?,
        repeaters: r.try_get("repeaters")?,
        sku_loyal: r.try_get("sku_loyal")?,
        sharers: r.try_get("sharers")?,
        referrers: r.try_get("referrers")?,
        converters: r.try_get("converters")?,
        clv: r.try_get("clv")?,
    })
}

const LIVE: &str = "m.merged_into IS NULL AND m.erased_at IS NULL";

impl Store {
    /// The members' figures by stage, lens, tier held at `now`, and super users or not.
    pub async fn contribution(&self, now: Micros) -> Result<Contribution, StoreError> {
        let facts = Facts {
            pg: self.backend() == Backend::Postgres,
        };
        let cols = facts.columns();
        let mut conn = self.pool().acquire().await?;
        let grouped = |key: &str| {
            format!(
                "SELECT {key} AS k, {cols} FROM members m \
                 LEFT JOIN member_scores s ON s.member_id = m.id WHERE {LIVE} GROUP BY {key}"
            )
        };
        let mut out = Contribution::default();
        for (key, slot) in [
            ("m.stage", &mut out.by_stage),
            ("m.lens", &mut out.by_lens),
            (
                "CASE WHEN m.stage = 'super_strong' THEN 'super_users' ELSE 'everyone_else' END",
                &mut out.super_users,
            ),
        ] {
            let sql = grouped(key);
            for r in sqlx::query(AssertSqlSafe(sql))
                .fetch_all(&mut *conn)
                .await?
            {
                slot.push(figures(&r)?);
            }
        }
        // Tiers held now: a membership whose term (with its programme's grace) has not
        // ended.
        for programme in self.programmes().await? {
            let grace = i64::from(programme.definition.downgrade.grace_days) * DAY;
            let sql = format!(
                "SELECT ms.tier AS k, {cols} FROM memberships ms \
                 JOIN members m ON m.id = ms.member_id \
                 LEFT JOIN member_scores s ON s.member_id = m.id \
                 WHERE {LIVE} AND ms.programme = $1 AND (ms.expires_at IS NULL OR ms.expires_at + $2 > $3) \
                 GROUP BY ms.tier"
            );
            for r in sqlx::query(AssertSqlSafe(sql))
                .bind(programme.id.clone())
                .bind(grace)
                .bind(now)
                .fetch_all(&mut *conn)
                .await?
            {
                let mut f = figures(&r)?;
                f.key = format!("{}:{}", programme.id, f.key);
                out.by_tier.push(f);
            }
        }
        let revenue = format!("({} - {})", facts.int("gross_spent"), facts.int("refunded"));
        let sql = format!(
            "SELECT CAST({revenue} AS BIGINT) AS r FROM members m WHERE {LIVE} AND {revenue} > 0 ORDER BY 1 DESC"
        );
        out.revenues = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("r"))
            .collect::<Result<_, _>>()?;
        Ok(out)
    }
}

/// What brought members in: the product and channel of each member's first kept
/// purchase, with how many of those members bought again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entries {
    /// By the first item's SKU (else its category, else `unknown`): (key, members, came back).
    pub products: Vec<(String, i64, i64)>,
    /// By the channel of the first purchase.
    pub channels: Vec<(String, i64, i64)>,
}

impl Store {
    /// Entry products and channels over every buyer; a merged member's orders count with
    /// its survivor's.
    pub async fn entries(&self) -> Result<Entries, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let survivor: std::collections::HashMap<i64, i64> =
            sqlx::query("SELECT id, merged_into FROM members WHERE merged_into IS NOT NULL")
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("merged_into")?)))
                .collect::<Result<_, StoreError>>()?;
        // Each id's first kept order (through the orders_member index), its event, and
        // how many kept orders the id has.
        let rows = sqlx::query(
            "SELECT o.member_id AS id, o.occurred_at AS at, e.channel AS channel, e.properties AS props, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM orders c WHERE c.member_id = o.member_id AND c.refunded = 0) AS n \
             FROM orders o JOIN events e ON e.event_id = o.purchase_event_id \
             WHERE o.refunded = 0 AND o.occurred_at = (SELECT MIN(f.occurred_at) FROM orders f \
                 WHERE f.member_id = o.member_id AND f.refunded = 0)",
        )
        .fetch_all(&mut *conn)
        .await?;
        // Per survivor: the earliest first order among its ids, and all their orders.
        let mut first: std::collections::HashMap<i64, (i64, String, String, i64)> =
            std::collections::HashMap::new();
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            // Follow merges to the member that holds the orders now.
            let mut owner = id;
            for _ in 0..16 {
                match survivor.get(&owner) {
                    Some(&next) => owner = next,
                    None => break,
                }
            }
            let at: i64 = r.try_get("at")?;
            let n: i64 = r.try_get("n")?;
            let props: String = r.try_get("props")?;
            let product = serde_json::from_str::<serde_json::Value>(&props)
                .ok()
                .and_then(|p| {
                    let item = p.get("items")?.get(0)?.clone();
                    item.get("sku")
                        .or_else(|| item.get("category"))
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "unknown".to_owned());
            let channel: String = r.try_get("channel")?;
            let entry = first
                .entry(owner)
                .or_insert((at, product.clone(), channel.clone(), 0));
            if at < entry.0 {
                (entry.0, entry.1, entry.2) = (at, product, channel);
            }
            entry.3 += n;
        }
        let mut products: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
        let mut channels: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
        for (_, product, channel, orders) in first.into_values() {
            let again = i64::from(orders >= 2);
            let p = products.entry(product).or_default();
            *p = (p.0 + 1, p.1 + again);
            let c = channels.entry(channel).or_default();
            *c = (c.0 + 1, c.1 + again);
        }
        let ranked = |m: std::collections::BTreeMap<String, (i64, i64)>| {
            let mut v: Vec<(String, i64, i64)> =
                m.into_iter().map(|(k, (a, b))| (k, a, b)).collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        Ok(Entries {
            products: ranked(products),
            channels: ranked(channels),
        })
    }
}
