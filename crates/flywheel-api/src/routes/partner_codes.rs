//! Partners' codes for benefits: loading the codes a partner supplies
//! (`POST /v1/benefits/{id}/codes`, admin) and the settlement of the codes handed out,
//! per partner (`GET /v1/reports/benefits/settlement`, finance).

use super::finance::settlement_period;
use crate::auth::{Allowed, need};
use crate::benefit_views::{
    CodeSettlementRowView, CodeSettlementView, CodesInput, CodesLoadedView,
};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::membership::benefit::check_code;
use flywheel_core::time::{self, DAY};
use flywheel_store::MAX_CODES_PER_LOAD;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/benefits/{id}/codes", post(load_codes))
        .route("/v1/reports/benefits/settlement", get(settlement))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodesBody {
    codes: Vec<String>,
}

/// Load codes a partner supplied for a benefit
///
/// Each use of the benefit then hands out one code, the oldest loaded first, and no
/// code twice. A code loaded before is skipped (`already_loaded`), so a retried load
/// adds nothing. Only for a benefit with a `partner`.
#[utoipa::path(post, path = "/v1/benefits/{id}/codes", tag = "memberships",
    params(("id" = String, Path, description = "Benefit id")),
    request_body(content = CodesInput),
    responses((status = 200, body = CodesLoadedView),
        (status = 404, description = "benefit_not_found"),
        (status = 422, description = "A bad code, named (codes[i]); too many codes; a benefit without a partner")),
    security(("bearer" = [])))]
pub async fn load_codes(
    caller: Allowed<need::ManageProgrammes>,
    State(state): State<AppState>,
    Path(benefit): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<CodesLoadedView>, ApiError> {
    let b: CodesBody = typed(body)?;
    if b.codes.is_empty() || b.codes.len() > MAX_CODES_PER_LOAD {
        return Err(ApiError::new(
            ErrorCode::OutOfRange,
            format!("a load carries 1 to {MAX_CODES_PER_LOAD} codes"),
        )
        .field("codes"));
    }
    for (i, code) in b.codes.iter().enumerate() {
        check_code(code).map_err(|message| {
            ApiError::new(ErrorCode::InvalidValue, message).field(format!("codes[{i}]"))
        })?;
    }
    let loaded = state
        .store
        .load_partner_codes(&benefit, &b.codes, &caller.audit_actor(), state.now())
        .await?;
    Ok(Json(CodesLoadedView {
        benefit,
        added: loaded.added,
        already_loaded: loaded.already_loaded,
        in_stock: loaded.stock.in_stock,
        issued: loaded.stock.issued,
    }))
}

/// Partners' codes handed out per partner and benefit: what each partner is settled for
///
/// Every partner benefit is listed, with nothing handed out too, and what it has left
/// in stock, so a stock running low shows before a till is refused.
#[utoipa::path(get, path = "/v1/reports/benefits/settlement", tag = "finance",
    params(("partner" = Option<String>, Query, description = "One partner; default all"),
           ("from" = Option<String>, Query, description = "YYYY-MM-DD; default 30 days ago"),
           ("to" = Option<String>, Query, description = "YYYY-MM-DD inclusive; default today")),
    responses((status = 200, body = CodeSettlementView), (status = 400, description = "invalid_query: a bad date, or from after to")),
    security(("bearer" = [])))]
pub async fn settlement(
    _caller: Allowed<need::ReadFinance>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<CodeSettlementView>, ApiError> {
    let (from, to, partner) = settlement_period(params, state.now())?;
    if from > to {
        return Err(
            ApiError::new(ErrorCode::InvalidQuery, "from must not come after to").field("from"),
        );
    }
    let start = |d: &str| {
        time::parse_rfc3339(&format!("{d}T00:00:00Z"))
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "not a date").field("from"))
    };
    let rows = state
        .store
        .code_settlement(partner.as_deref(), start(&from)?, start(&to)? + DAY)
        .await?;
    let issued = rows.iter().map(|r| r.issued).sum();
    Ok(Json(CodeSettlementView {
        from,
        to,
        issued,
        rows: rows
            .into_iter()
            .map(|r| CodeSettlementRowView {
                partner: r.partner,
                partner_name: r.partner_name,
                benefit: r.benefit,
                issued: r.issued,
                in_stock: r.in_stock,
            })
            .collect(),
    }))
}
