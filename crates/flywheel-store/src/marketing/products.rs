//! The product catalogue: one row per SKU, saved one at a time or a whole CSV at once
//! (all or nothing), each change in the audit log.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::marketing::Product;
use flywheel_core::money::Money;
use flywheel_core::time::Micros;
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductRow {
    pub product: Product,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub updated_by: String,
}

/// What a save did: products created and products changed (unchanged ones count in
/// neither).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SavedProducts {
    pub created: usize,
    pub updated: usize,
}

/// A page of the catalogue.
#[derive(Clone, Debug, Default)]
pub struct ProductQuery {
    pub category: Option<String>,
    pub sub_brand: Option<String>,
    /// SKUs after this one.
    pub after: Option<String>,
    pub limit: i64,
}

const COLUMNS: &str = "sku, name, sub_brand, category, price, service_after_days, active, created_at, updated_at, updated_by";

fn product_from_row(r: &AnyRow) -> Result<ProductRow, StoreError> {
    Ok(ProductRow {
        product: Product {
            sku: r.try_get("sku")?,
            name: r.try_get("name")?,
            sub_brand: r.try_get("sub_brand")?,
            category: r.try_get("category")?,
            price: r.try_get::<Option<i64>, _>("price")?.map(Money::from_minor),
            service_after_days: r
                .try_get::<Option<i64>, _>("service_after_days")?
                .map(|d| d as u32),
            active: r.try_get::<i64, _>("active")? != 0,
        },
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

fn audit_body(p: &Product) -> Value {
    json!({"sku": p.sku, "name": p.name, "sub_brand": p.sub_brand, "category": p.category,
        "price": p.price.map(|m| m.to_string()), "service_after_days": p.service_after_days,
        "active": p.active})
}

pub(crate) async fn products_in(
    conn: &mut AnyConnection,
    skus: &[String],
) -> Result<HashMap<String, Product>, StoreError> {
    let head = format!("SELECT {COLUMNS} FROM products WHERE sku");
    let rows = crate::sql::select_in(
        conn,
        &head,
        skus.iter().map(|s| crate::sql::Val::Text(s.clone())),
        "",
    )
    .await?;
    rows.iter()
        .map(|r| product_from_row(r).map(|p| (p.product.sku.clone(), p.product)))
        .collect()
}

impl Store {
    /// Saves products (one from the API, many from a CSV) in one transaction: each new
    /// or changed one written and audited, unchanged ones left as they were.
    pub async fn save_products(
        &self,
        products: &[Product],
        actor: &AuditActor,
        now: Micros,
    ) -> Result<SavedProducts, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let skus: Vec<String> = products.iter().map(|p| p.sku.clone()).collect();
        let before = products_in(conn, &skus).await?;
        let mut saved = SavedProducts::default();
        for p in products {
            let old = before.get(&p.sku);
            if old == Some(p) {
                continue;
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO products ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) \
                 ON CONFLICT (sku) DO UPDATE SET name = excluded.name, sub_brand = excluded.sub_brand, \
                 category = excluded.category, price = excluded.price, \
                 service_after_days = excluded.service_after_days, active = excluded.active, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by"
            )))
            .bind(p.sku.clone())
            .bind(p.name.clone())
            .bind(p.sub_brand.clone())
            .bind(p.category.clone())
            .bind(p.price.map(Money::minor))
            .bind(p.service_after_days.map(i64::from))
            .bind(i64::from(p.active))
            .bind(now)
            .bind(actor.reference.clone())
            .execute(&mut *conn)
            .await?;
            if old.is_some() {
                saved.updated += 1;
            } else {
                saved.created += 1;
            }
            let change = AuditChange {
                kind: "product",
                action: if old.is_some() { "update" } else { "create" },
                target: format!("product:{}", p.sku),
                reason: None,
                before: old.map(audit_body),
                after: Some(audit_body(p)),
            };
            audit::record(conn, now, actor, change).await?;
        }
        tx.commit().await?;
        Ok(saved)
    }

    pub async fn product(&self, sku: &str) -> Result<Option<ProductRow>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM products WHERE sku = $1"
        )))
        .bind(sku.to_owned())
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(product_from_row)
        .transpose()
    }

    /// A page of the catalogue by SKU.
    pub async fn products(&self, q: &ProductQuery) -> Result<Vec<ProductRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM products WHERE ($1 = '' OR category = $1) \
             AND ($2 = '' OR sub_brand = $2) AND ($3 = '' OR sku > $3) ORDER BY sku LIMIT $4"
        )))
        .bind(q.category.clone().unwrap_or_default())
        .bind(q.sub_brand.clone().unwrap_or_default())
        .bind(q.after.clone().unwrap_or_default())
        .bind(q.limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(product_from_row).collect()
    }
}
