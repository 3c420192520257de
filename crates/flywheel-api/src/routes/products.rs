//! `/v1/products`: the catalogue coupons and sales are scoped to — one product at a time
//! (`PUT /v1/products/{sku}`) or a whole CSV (`POST /v1/products/import`, all or nothing,
//! every bad row named), each change audited.

use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, read, typed};
use crate::error::ApiError;
use crate::marketing_views::{ProductImportView, ProductInput, ProductList, ProductView};
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::marketing::Product;
use flywheel_core::money::Money;
use flywheel_core::time::to_rfc3339;
use flywheel_core::validation::FieldError;
use flywheel_store::{ProductQuery, ProductRow};
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/products", get(list_products))
        .route("/v1/products/import", post(import_products))
        .route("/v1/products/{sku}", get(get_product).put(put_product))
}

/// The largest CSV an import takes: a catalogue of some tens of thousands of SKUs.
const CSV_LIMIT: usize = 8 << 20;

/// The most rows one import takes.
const MAX_ROWS: usize = 50_000;

pub(crate) fn product_view(r: ProductRow) -> ProductView {
    let p = r.product;
    ProductView {
        sku: p.sku,
        name: p.name,
        sub_brand: p.sub_brand,
        category: p.category,
        price: p.price.map(|m| m.to_string()),
        service_after_days: p.service_after_days,
        active: p.active,
        created_at: to_rfc3339(r.created_at),
        updated_at: to_rfc3339(r.updated_at),
        updated_by: r.updated_by,
    }
}

fn not_found(sku: &str) -> ApiError {
    ApiError::not_found(
        ErrorCode::ProductNotFound,
        format!("no product with SKU {sku:?}"),
    )
}

/// A money field of a body: a decimal string within the brand's largest amount.
pub(crate) fn money_text(state: &AppState, field: &str, text: &str) -> Result<Money, FieldError> {
    let m = Money::parse(text)
        .map_err(|e| FieldError::new(field, ErrorCode::InvalidAmount, format!("{field} {e}")))?;
    if m > state.policy.limits.max_order_amount {
        return Err(FieldError::new(
            field,
            ErrorCode::OutOfRange,
            format!(
                "{field} may be at most {}",
                state.policy.limits.max_order_amount
            ),
        ));
    }
    Ok(m)
}

fn product_of(state: &AppState, sku: &str, b: ProductInput) -> Result<Product, FieldError> {
    let p = Product {
        sku: sku.to_owned(),
        name: b.name,
        sub_brand: b.sub_brand.filter(|s| !s.trim().is_empty()),
        category: b.category.filter(|s| !s.trim().is_empty()),
        price: b
            .price
            .as_deref()
            .map(|t| money_text(state, "price", t))
            .transpose()?,
        service_after_days: b.service_after_days,
        active: b.active.unwrap_or(true),
    };
    p.check()?;
    Ok(p)
}

/// The product catalogue
#[utoipa::path(get, path = "/v1/products", tag = "marketing",
    params(("category" = Option<String>, Query, description = "Only this category"),
        ("sub_brand" = Option<String>, Query, description = "Only this sub-brand"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 200"),
        ("cursor" = Option<String>, Query, description = "A previous page's next")),
    responses((status = 200, body = ProductList)),
    security(("bearer" = [])))]
pub async fn list_products(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<ProductList>, ApiError> {
    let mut q = ProductQuery {
        limit: 200,
        ..ProductQuery::default()
    };
    for (k, v) in params {
        match k.as_str() {
            "category" => q.category = Some(v),
            "sub_brand" => q.sub_brand = Some(v),
            "cursor" => q.after = Some(v),
            "limit" => q.limit = i64::from(crate::params::limit(&v, 1000)?),
            other => return Err(crate::params::unknown(other)),
        }
    }
    let rows = state.store.products(&q).await?;
    let next = (rows.len() as i64 == q.limit)
        .then(|| rows.last().map(|r| r.product.sku.clone()))
        .flatten();
    Ok(Json(ProductList {
        products: rows.into_iter().map(product_view).collect(),
        next,
    }))
}

/// One product
#[utoipa::path(get, path = "/v1/products/{sku}", tag = "marketing",
    params(("sku" = String, Path, description = "The SKU")),
    responses((status = 200, body = ProductView), (status = 404, description = "product_not_found")),
    security(("bearer" = [])))]
pub async fn get_product(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Json<ProductView>, ApiError> {
    let row = state
        .store
        .product(&sku)
        .await?
        .ok_or_else(|| not_found(&sku))?;
    Ok(Json(product_view(row)))
}

/// Create or change a product
///
/// Audited. The SKU is the path's: one line of up to 64 characters, as purchases'
/// items name it.
#[utoipa::path(put, path = "/v1/products/{sku}", tag = "marketing",
    params(("sku" = String, Path, description = "The SKU")),
    request_body(content = ProductInput),
    responses((status = 201, body = ProductView, description = "Created"),
        (status = 200, body = ProductView, description = "Changed, or already as sent"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn put_product(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    Path(sku): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<ProductView>), ApiError> {
    let input: ProductInput = typed(body)?;
    let product = product_of(&state, &sku, input)?;
    let saved = state
        .store
        .save_products(&[product], &caller.audit_actor(), state.now())
        .await?;
    let row = state
        .store
        .product(&sku)
        .await?
        .ok_or_else(|| not_found(&sku))?;
    let status = if saved.created > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(product_view(row))))
}

/// The columns an import reads; `sku` and `name` are required.
const COLUMNS: [&str; 7] = [
    "sku",
    "name",
    "sub_brand",
    "category",
    "price",
    "service_after_days",
    "active",
];

fn csv_error(line: u64, field: &str, code: ErrorCode, message: impl Into<String>) -> Value {
    json!({"line": line, "field": field, "code": code, "message": message.into()})
}

/// Reads the CSV into products, or every problem with its line.
fn read_csv(state: &AppState, bytes: &[u8]) -> Result<Vec<Product>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidValue,
                format!("the CSV header does not read: {e}"),
            )
            .field("header")
        })?
        .clone();
    let header: Vec<&str> = headers.iter().collect();
    for h in &header {
        if !COLUMNS.contains(h) {
            return Err(ApiError::new(
                ErrorCode::UnknownField,
                format!("column {h:?} is not one of {}", COLUMNS.join(", ")),
            )
            .field("header"));
        }
    }
    for required in ["sku", "name"] {
        if !header.contains(&required) {
            return Err(ApiError::new(
                ErrorCode::MissingField,
                format!("the CSV needs a {required} column"),
            )
            .field("header"));
        }
    }
    let mut products = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(csv_error(
                    line,
                    "row",
                    ErrorCode::InvalidValue,
                    e.to_string(),
                ));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if products.len() + problems.len() >= MAX_ROWS {
            return Err(ApiError::new(
                ErrorCode::OutOfRange,
                format!("an import takes at most {MAX_ROWS} rows"),
            )
            .field("body"));
        }
        let cell = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .and_then(|i| record.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let days = match cell("service_after_days").map(|d| d.parse::<u32>()) {
            Some(Err(_)) => {
                problems.push(csv_error(
                    line,
                    "service_after_days",
                    ErrorCode::InvalidValue,
                    "service_after_days is a whole number of days",
                ));
                continue;
            }
            other => other.map(Result::unwrap_or_default),
        };
        let active = match cell("active").as_deref() {
            None | Some("true") | Some("1") | Some("yes") => true,
            Some("false") | Some("0") | Some("no") => false,
            Some(_) => {
                problems.push(csv_error(
                    line,
                    "active",
                    ErrorCode::InvalidValue,
                    "active is true or false",
                ));
                continue;
            }
        };
        let input = ProductInput {
            name: cell("name").unwrap_or_default(),
            sub_brand: cell("sub_brand"),
            category: cell("category"),
            price: cell("price"),
            service_after_days: days,
            active: Some(active),
        };
        let sku = cell("sku").unwrap_or_default();
        match product_of(state, &sku, input) {
            Ok(p) if !seen.insert(p.sku.clone()) => problems.push(csv_error(
                line,
                "sku",
                ErrorCode::Duplicate,
                format!("SKU {:?} comes twice", p.sku),
            )),
            Ok(p) => products.push(p),
            Err(e) => problems.push(csv_error(line, &e.field, e.code, e.message)),
        }
    }
    if let Some(first) = problems.first().cloned() {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            format!(
                "{} rows do not check (the first on line {}); nothing was imported",
                problems.len(),
                first["line"]
            ),
        )
        .field("body")
        .details(Value::Array(problems)));
    }
    Ok(products)
}

/// Import products from CSV
///
/// A header row names the columns: `sku` and `name`, and any of `sub_brand`,
/// `category`, `price`, `service_after_days`, `active`. All or nothing: a row that does
/// not check stops the import, and `error.details` lists every such row as `{line,
/// field, code, message}`. Products already as sent are left alone; each new or changed
/// one is audited.
#[utoipa::path(post, path = "/v1/products/import", tag = "marketing",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ProductImportView),
        (status = 413, description = "The CSV is larger than 8 MiB"),
        (status = 422, description = "Rows that do not check, each named in details; nothing imported")),
    security(("bearer" = [])))]
pub async fn import_products(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<ProductImportView>, ApiError> {
    let bytes = read(&state, request, CSV_LIMIT).await?;
    let products = read_csv(&state, &bytes)?;
    if products.is_empty() {
        return Err(ApiError::new(ErrorCode::MissingField, "the CSV has no rows").field("body"));
    }
    let saved = state
        .store
        .save_products(&products, &caller.audit_actor(), state.now())
        .await?;
    Ok(Json(ProductImportView {
        created: saved.created,
        updated: saved.updated,
        unchanged: products.len() - saved.created - saved.updated,
    }))
}
