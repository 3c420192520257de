//! What the relationships are worth: members, revenue, repeat buyers (any repeat, and
//! the same SKU bought more than three times — seed 000's two definitions), sharers,
//! referrers and summed lifetime value, grouped by stage, by lens, by tier held and by
//! super user or not; and every buyer's revenue, for the concentration curve. One pass
//! over the members table reads each member's facts once (in SQL) and adds them to
//! every grouping, so a figure is the same whichever way it is cut; tiers held, which
//! need the memberships, take a pass per programme.

use crate::db::{Backend, Store};
use crate::dialect::{json_any_count_above, json_int};
use crate::error::StoreError;
use flywheel_core::time::{DAY, Micros};
use futures_util::TryStreamExt;
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
    backend: Backend,
}

impl Facts {
    fn int(&self, key: &str) -> String {
        json_int(self.backend, "m.facts", key)
    }

    /// Bought some product more than three times.
    fn sku_loyal(&self) -> String {
        json_any_count_above(self.backend, "m.facts", "skus", 3)
    }

    /// One member's figures, each 0 or 1 except revenue and lifetime value, to be summed
    /// by [`GroupFigures::add`].
    fn member_columns(&self) -> String {
        let orders = format!("({} - {})", self.int("orders"), self.int("refunded_orders"));
        let revenue = format!("({} - {})", self.int("gross_spent"), self.int("refunded"));
        format!(
            "CAST(CASE WHEN {orders} > 0 THEN 1 ELSE 0 END AS BIGINT) AS buyers, \
             CAST({revenue} AS BIGINT) AS revenue, \
             CAST(CASE WHEN {orders} >= 2 THEN 1 ELSE 0 END AS BIGINT) AS repeaters, \
             CAST(CASE WHEN {} THEN 1 ELSE 0 END AS BIGINT) AS sku_loyal, \
             CAST(CASE WHEN {} > 0 THEN 1 ELSE 0 END AS BIGINT) AS sharers, \
             CAST(CASE WHEN {} > 0 THEN 1 ELSE 0 END AS BIGINT) AS referrers, \
             CAST(CASE WHEN {} > 0 THEN 1 ELSE 0 END AS BIGINT) AS converters, \
             CAST(COALESCE(s.expected_value, 0) AS BIGINT) AS clv",
            self.sku_loyal(),
            self.int("shares"),
            self.int("referrals_made"),
            self.int("referrals_converted"),
        )
    }
}

impl GroupFigures {
    /// Counts in another's figures: one member's (a row of [`Facts::member_columns`]).
    fn add(&mut self, member: &GroupFigures) {
        self.members += member.members;
        self.buyers += member.buyers;
        self.revenue += member.revenue;
        self.repeaters += member.repeaters;
        self.sku_loyal += member.sku_loyal;
        self.sharers += member.sharers;
        self.referrers += member.referrers;
        self.converters += member.converters;
        self.clv += member.clv;
    }
}

/// One member's row of [`Facts::member_columns`] (its key left empty).
fn member_figures(r: &sqlx::any::AnyRow) -> Result<GroupFigures, StoreError> {
    Ok(GroupFigures {
        key: String::new(),
        members: 1,
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

/// Groups summed per key, in the order of their keys.
#[derive(Default)]
struct Grouping(std::collections::BTreeMap<String, GroupFigures>);

impl Grouping {
    fn add(&mut self, key: &str, member: &GroupFigures) {
        match self.0.get_mut(key) {
            Some(group) => group.add(member),
            None => {
                let mut group = GroupFigures {
                    key: key.to_owned(),
                    ..GroupFigures::default()
                };
                group.add(member);
                self.0.insert(key.to_owned(), group);
            }
        }
    }

    fn into_vec(self) -> Vec<GroupFigures> {
        self.0.into_values().collect()
    }
}

const LIVE: &str = "m.merged_into IS NULL AND m.erased_at IS NULL";

impl Store {
    /// The members' figures by stage, lens, tier held at `now`, and super users or not.
    pub async fn contribution(&self, now: Micros) -> Result<Contribution, StoreError> {
        let facts = Facts {
            backend: self.backend(),
        };
        let cols = facts.member_columns();
        let mut conn = self.pool().acquire().await?;
        let sql = format!(
            "SELECT m.stage AS stage, m.lens AS lens, {cols} FROM members m \
             LEFT JOIN member_scores s ON s.member_id = m.id WHERE {LIVE}"
        );
        let (mut by_stage, mut by_lens, mut super_users) = (
            Grouping::default(),
            Grouping::default(),
            Grouping::default(),
        );
        let mut out = Contribution::default();
        // Streamed: a member's row is added and let go, whatever the count of members.
        let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(&mut *conn);
        while let Some(r) = rows.try_next().await? {
            let member = member_figures(&r)?;
            let stage: String = r.try_get("stage")?;
            let lens: String = r.try_get("lens")?;
            by_stage.add(&stage, &member);
            by_lens.add(&lens, &member);
            let kind = if stage == "super_strong" {
                "super_users"
            } else {
                "everyone_else"
            };
            super_users.add(kind, &member);
            if member.revenue > 0 {
                out.revenues.push(member.revenue);
            }
        }
        drop(rows);
        out.by_stage = by_stage.into_vec();
        out.by_lens = by_lens.into_vec();
        out.super_users = super_users.into_vec();
        out.revenues.sort_unstable_by(|a, b| b.cmp(a));
        // Tiers held now: a membership whose term (with its programme's grace) has not
        // ended.
        for programme in self.programmes().await? {
            let grace = i64::from(programme.definition.downgrade.grace_days) * DAY;
            let sql = format!(
                "SELECT ms.tier AS tier, {cols} FROM memberships ms \
                 JOIN members m ON m.id = ms.member_id \
                 LEFT JOIN member_scores s ON s.member_id = m.id \
                 WHERE {LIVE} AND ms.programme = $1 AND (ms.expires_at IS NULL OR ms.expires_at + $2 > $3)"
            );
            let mut by_tier = Grouping::default();
            let mut rows = sqlx::query(AssertSqlSafe(sql))
                .bind(programme.id.clone())
                .bind(grace)
                .bind(now)
                .fetch(&mut *conn);
            while let Some(r) = rows.try_next().await? {
                let tier: String = r.try_get("tier")?;
                by_tier.add(&tier, &member_figures(&r)?);
            }
            out.by_tier
                .extend(by_tier.into_vec().into_iter().map(|mut g| {
                    g.key = format!("{}:{}", programme.id, g.key);
                    g
                }));
        }
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
        // Each id's first kept order, its event, and how many kept orders the id has.
        // The first instants and counts are grouped once, then joined back (through the
        // orders_member index): asking for each order's member's first instant again
        // read every order of the member once per order.
        let rows = sqlx::query(
            "SELECT o.member_id AS id, o.occurred_at AS at, e.channel AS channel, e.properties AS props, k.n AS n \
             FROM (SELECT member_id, MIN(occurred_at) AS first_at, CAST(COUNT(*) AS BIGINT) AS n \
                   FROM orders WHERE refunded = 0 GROUP BY member_id) k \
             JOIN orders o ON o.member_id = k.member_id AND o.refunded = 0 AND o.occurred_at = k.first_at \
             JOIN events e ON e.event_id = o.purchase_event_id",
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
