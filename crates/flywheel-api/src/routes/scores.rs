//! Scores: one member's scores, the super-user lists, the recompute on demand and the
//! CSV export of every member's scores.

use super::member_id;
use crate::auth::{Allowed, need};
use crate::error::ApiError;
use crate::params::{Params, limit, unknown};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::scores::{Score, ScoreInputs, super_user};
use flywheel_core::time::to_rfc3339;
use flywheel_store::{ExportRow, StoredScores};
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/members/{id}/scores", get(member_scores))
        .route("/v1/super-users", get(super_users))
        .route("/v1/scores/recompute", post(recompute))
        .route("/v1/scores/export", get(export))
}

fn score_json(s: &Score) -> Value {
    json!({"score": s.score, "parts": s.parts, "explanation": s.explanation})
}

fn rfm_json(s: &StoredScores) -> Value {
    match &s.rfm {
        Some(r) => json!({
            "r": r.r, "f": r.f, "m": r.m, "cell": r.cell,
            "recency_days": r.recency_days, "frequency": r.frequency,
            "monetary": r.monetary.to_string(),
        }),
        None => Value::Null,
    }
}

fn clv_json(s: &StoredScores, horizon_days: u32) -> Value {
    match &s.clv {
        Some(c) => json!({
            "p_alive": c.p_alive,
            format!("expected_purchases_{horizon_days}d"): c.expected_purchases,
            format!("expected_value_{horizon_days}d"): c.expected_value.to_string(),
            "horizon_days": horizon_days,
        }),
        None => Value::Null,
    }
}

#[utoipa::path(get, path = "/v1/members/{id}/scores", tag = "scores",
    params(("id" = i64, Path, description = "Member id (a merged-away id answers for the survivor)")),
    responses((status = 200, description = "`{member_id, rfm, super_user, influence, intimacy, clv, computed_at, as_of}`: super user, influence and intimacy are live, each with its parts and an explanation; RFM and lifetime value come from the last recompute (`computed_at`; null before it)"),
        (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_scores(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<Json<Value>, ApiError> {
    let id = member_id(&id)?;
    if let Some((name, _)) = params.first() {
        return Err(unknown(name));
    }
    let now = state.now();
    let policy = &state.policy.scores;
    let s = state
        .store
        .member_scores(id, policy, now)
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}")))?;
    let stored = s.stored.as_ref();
    let mut influence = score_json(&s.influence);
    influence["referral_tree"] = json!(s.referral_tree);
    let mut super_user = score_json(&s.super_user);
    super_user["paid_member"] = json!(s.paid_member);
    Ok(Json(json!({
        "member_id": s.member_id,
        "rfm": stored.map(rfm_json).unwrap_or(Value::Null),
        "super_user": super_user,
        "influence": influence,
        "intimacy": score_json(&s.intimacy),
        "clv": stored.map(|st| clv_json(st, policy.horizon_days)).unwrap_or(Value::Null),
        "computed_at": stored.map(|st| to_rfc3339(st.computed_at)),
        "as_of": to_rfc3339(now),
    })))
}

#[utoipa::path(get, path = "/v1/super-users", tag = "scores",
    params(("potential" = Option<bool>, Query, description = "true: members who are not paid members yet, best score first — whom to invite; false (default): the current super users (paid members)"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 50"),
        ("min_score" = Option<f64>, Query, description = "0-100, default 0")),
    responses((status = 200, description = "`{potential, computed_at, items: [{member_id, score, explanation, parts, stage, rfm_cell}]}` ordered by the last recompute's score; each explained from the member's facts now")),
    security(("bearer" = [])))]
pub async fn super_users(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<Value>, ApiError> {
    let (mut potential, mut max, mut min_score) = (false, 50, 0.0);
    for (k, v) in params {
        match k.as_str() {
            "potential" => {
                potential = match v.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return Err(ApiError::new(
                            ErrorCode::InvalidQuery,
                            "potential must be true or false",
                        )
                        .field("potential"));
                    }
                }
            }
            "limit" => max = limit(&v, 1000)?,
            "min_score" => {
                min_score = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.0..=100.0).contains(s))
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidQuery,
                            "min_score must be a number from 0 to 100",
                        )
                        .field("min_score")
                    })?
            }
            other => return Err(unknown(other)),
        }
    }
    let now = state.now();
    let rows = state.store.super_users(!potential, min_score, max).await?;
    let last = state.store.last_score_run().await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|row| {
            let inputs = ScoreInputs::from(&row.member.facts);
            let live = super_user::score(&inputs, &state.policy.scores, now);
            json!({
                "member_id": row.member.id,
                "score": row.stored.super_user,
                "score_now": live.score,
                "explanation": live.explanation,
                "parts": live.parts,
                "stage": row.member.stage.as_str(),
                "rfm_cell": row.stored.rfm.as_ref().map(|r| r.cell.clone()),
            })
        })
        .collect();
    Ok(Json(json!({
        "potential": potential,
        "computed_at": last.map(|(at, _)| to_rfc3339(at)),
        "items": items,
    })))
}

#[utoipa::path(post, path = "/v1/scores/recompute", tag = "scores",
    responses((status = 200, description = "Done: `{computed_at, members, rfm_members, clv_members, model, elapsed_ms}`"),
        (status = 403, description = "admin only")),
    security(("bearer" = [])))]
pub async fn recompute(
    _caller: Allowed<need::RecomputeScores>,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let now = state.now();
    let report = state
        .store
        .recompute_scores(&state.policy.scores, now, &|_| {})
        .await?;
    let mut body = json!(report);
    body["computed_at"] = json!(to_rfc3339(report.computed_at));
    Ok(Json(body))
}

const EXPORT_PAGE: u32 = 2_000;

#[utoipa::path(get, path = "/v1/scores/export", tag = "scores",
    responses((status = 200, description = "text/csv, streamed: one row per member of the last recompute with their identities (`kind:value` separated by `;`)")),
    security(("bearer" = [])))]
pub async fn export(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Response, ApiError> {
    if let Some((name, _)) = params.first() {
        return Err(unknown(name));
    }
    let h = state.policy.scores.horizon_days;
    let header = format!(
        "member_id,identities,computed_at,recency_days,frequency,monetary,r,f,m,cell,\
         super_user,paid_member,influence,intimacy,p_alive,expected_purchases_{h}d,expected_value_{h}d\n"
    );
    // Pages are read as the client reads: memory stays flat whatever the member count.
    let store = state.store.clone();
    let pages = futures_util::stream::unfold(Some(0i64), move |after| {
        let store = store.clone();
        async move {
            let after = after?;
            match store.score_export_page(after, EXPORT_PAGE).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let next = rows.last().map(|r| r.stored.member_id);
                    let mut text = String::with_capacity(rows.len() * 160);
                    for r in &rows {
                        export_line(&mut text, r);
                    }
                    Some((Ok::<Bytes, std::io::Error>(Bytes::from(text)), next))
                }
                Err(e) => {
                    tracing::error!(error = %e, "score export failed part way");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        }
    });
    let head = futures_util::stream::once(async move { Ok(Bytes::from(header)) });
    let body = Body::from_stream(futures_util::StreamExt::chain(head, pages));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"scores.csv\"",
        )
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn export_line(out: &mut String, row: &ExportRow) {
    use std::fmt::Write;
    let s = &row.stored;
    let identities: Vec<String> = row.identities.iter().map(|i| i.key()).collect();
    let identities = identities.join(";");
    let quoted = if identities.contains([',', '"', '\n']) {
        format!("\"{}\"", identities.replace('"', "\"\""))
    } else {
        identities
    };
    let opt = |v: Option<String>| v.unwrap_or_default();
    let rfm = s.rfm.as_ref();
    let clv = s.clv.as_ref();
    let _ = writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        s.member_id,
        quoted,
        to_rfc3339(s.computed_at),
        opt(rfm.map(|r| r.recency_days.to_string())),
        opt(rfm.map(|r| r.frequency.to_string())),
        opt(rfm.map(|r| r.monetary.to_string())),
        opt(rfm.map(|r| r.r.to_string())),
        opt(rfm.map(|r| r.f.to_string())),
        opt(rfm.map(|r| r.m.to_string())),
        opt(rfm.map(|r| r.cell.clone())),
        s.super_user,
        s.paid_member,
        s.influence,
        s.intimacy,
        opt(clv.map(|c| format!("{:.6}", c.p_alive))),
        opt(clv.map(|c| format!("{:.6}", c.expected_purchases))),
        opt(clv.map(|c| c.expected_value.to_string())),
    );
}
