//! Best sellers per category (migration 28), counted for `{{recommended.sku}}`.
//!
//! Items live only in the purchase events' properties, so the count reads the recent
//! orders still standing and their events (one scan of the orders, one key lookup per
//! order), an order counting once per SKU. That is too much work for every message, so
//! the table is a cache the runner refreshes at most once a day — and only while some
//! content names a recommendation. The choice per member is the core's
//! (`engagement::recommend`).

use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::engagement::recommend::{BestSellers, favourite_categories};
use flywheel_core::time::{DAY, Micros};
use futures_util::TryStreamExt;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet};

/// Orders of the last this many days count.
pub const WINDOW_DAYS: i64 = 90;
/// Best sellers kept per category: enough for a member who owns the top few.
const KEEP_PER_CATEGORY: usize = 20;
/// Favourite categories read per member, in order.
const FAVOURITES_READ: usize = 5;

impl Store {
    /// Recounts best sellers if some content names a recommendation and the last count
    /// is a day old (or was never made). True when it recounted.
    pub async fn refresh_best_sellers(&self, now: Micros) -> Result<bool, StoreError> {
        let counted: Option<i64> =
            sqlx::query_scalar("SELECT computed_at FROM best_sellers_state WHERE id = 1")
                .fetch_optional(self.pool())
                .await?;
        if counted.is_some_and(|t| t <= now && now - t < DAY) {
            return Ok(false);
        }
        let wanted: Option<String> = sqlx::query_scalar(
            "SELECT id FROM content WHERE body LIKE '%recommended.%' \
             OR subject LIKE '%recommended.%' LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        if wanted.is_none() {
            return Ok(false);
        }
        self.count_best_sellers(now).await?;
        Ok(true)
    }

    /// Counts best sellers over the orders of the last [`WINDOW_DAYS`] before `now`
    /// (not refunded in full) and replaces the table; returns the rows kept.
    pub async fn count_best_sellers(&self, now: Micros) -> Result<usize, StoreError> {
        let mut orders: BTreeMap<(String, String), i64> = BTreeMap::new();
        {
            let mut conn = self.pool().acquire().await?;
            // Streamed: a busy quarter is hundreds of thousands of orders.
            let mut rows = sqlx::query(
                "SELECT e.properties FROM orders o JOIN events e ON e.event_id = o.purchase_event_id \
                 WHERE o.occurred_at > $1 AND o.occurred_at <= $2 \
                 AND (o.amount IS NULL OR o.refunded < o.amount)",
            )
            .bind(now - WINDOW_DAYS * DAY)
            .bind(now)
            .fetch(&mut *conn);
            while let Some(row) = rows.try_next().await? {
                let properties: String = row.try_get(0)?;
                for pair in items_of(&properties) {
                    *orders.entry(pair).or_default() += 1;
                }
            }
        }
        let mut by_category: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
        for ((category, sku), n) in orders {
            by_category.entry(category).or_default().push((n, sku));
        }
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        // The state row first: a second process counting at once waits here, then
        // replaces this count whole rather than interleaving with it.
        sqlx::query(
            "INSERT INTO best_sellers_state (id, computed_at, window_days) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET computed_at = excluded.computed_at, \
             window_days = excluded.window_days",
        )
        .bind(now)
        .bind(WINDOW_DAYS)
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM best_sellers")
            .execute(&mut *conn)
            .await?;
        let mut kept = 0;
        for (category, mut skus) in by_category {
            skus.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            for (n, sku) in skus.into_iter().take(KEEP_PER_CATEGORY) {
                sqlx::query("INSERT INTO best_sellers (category, sku, orders) VALUES ($1, $2, $3)")
                    .bind(category.clone())
                    .bind(sku)
                    .bind(n)
                    .execute(&mut *conn)
                    .await?;
                kept += 1;
            }
        }
        tx.commit().await?;
        Ok(kept)
    }
}

/// The distinct (category, SKU) pairs of a purchase's items; items without a category
/// cannot be recommended from one and are skipped.
fn items_of(properties: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let Ok(value) = serde_json::from_str::<serde_json::Value>(properties) else {
        return out;
    };
    let Some(items) = value.get("items").and_then(|i| i.as_array()) else {
        return out;
    };
    for item in items {
        let text = |key: &str| {
            item.get(key)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        if let (Some(category), Some(sku)) = (text("category"), text("sku")) {
            out.insert((category, sku));
        }
    }
    out
}

/// The counted best sellers of the member's favourite categories.
pub(crate) async fn best_sellers_for(
    conn: &mut AnyConnection,
    categories: &BTreeMap<String, u32>,
) -> Result<BestSellers, StoreError> {
    let favourites: Vec<&str> = favourite_categories(categories)
        .into_iter()
        .take(FAVOURITES_READ)
        .collect();
    let mut best = BestSellers::default();
    if favourites.is_empty() {
        return Ok(best);
    }
    let places: Vec<String> = (1..=favourites.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT category, sku FROM best_sellers WHERE category IN ({}) \
         ORDER BY category, orders DESC, sku",
        places.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for f in &favourites {
        query = query.bind(f.to_string());
    }
    for row in query.fetch_all(&mut *conn).await? {
        let category: String = row.try_get(0)?;
        let sku: String = row.try_get(1)?;
        best.by_category.entry(category).or_default().push(sku);
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::items_of;

    #[test]
    fn an_order_counts_once_per_sku_and_items_without_a_category_are_skipped() {
        let pairs = items_of(
            r#"{"order_id": "o", "items": [{"sku": "PUER", "category": "tea", "qty": 2},
                {"sku": "PUER", "category": "tea"}, {"sku": "MUG"}, {"sku": " TART ", "category": "cake"}]}"#,
        );
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(c, s)| (c.as_str(), s.as_str()))
            .collect();
        assert_eq!(pairs, vec![("cake", "TART"), ("tea", "PUER")]);
        assert!(items_of("not json").is_empty());
    }
}
