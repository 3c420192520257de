//! Scores: one member's scores, the super-user lists, the recompute on demand and the
//! CSV export of every member's scores.

use super::member_id;
use crate::auth::{Allowed, need};
use crate::error::ApiError;
use crate::params::{Params, limit, unknown};
use crate::score_views::{
    ClvView, InfluenceView, MemberScoresView, RecomputeView, ReferralTreeView, RfmView, ScoreView,
    SuperUserItem, SuperUserList, SuperUserScoreView, parts,
};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::scores::{ScoreInputs, super_user};
use flywheel_core::time::to_rfc3339;
use flywheel_store::ExportRow;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/members/{id}/scores", get(member_scores))
        .route("/v1/super-users", get(super_users))
        .route("/v1/scores/recompute", post(recompute))
        .route("/v1/scores/export", get(export))
}

/// One member's scores
///
/// Super user, influence and intimacy are live (they move with each event), each with its
/// parts and an explanation; RFM and lifetime value come from the last recompute
/// (`computed_at`; null before it).
#[utoipa::path(get, path = "/v1/members/{id}/scores", tag = "scores",
    params(("id" = i64, Path, description = "Member id (a merged-away id answers for the survivor)")),
    responses((status = 200, body = MemberScoresView), (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_scores(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<Json<MemberScoresView>, ApiError> {
    let id = member_id(&id)?;
    if let Some((name, _)) = params.first() {
        return Err(unknown(name));
    }
    Ok(Json(scores_of(&state, id).await?))
}

/// Member `id`'s scores with their parts and sentences (the member 360 shows the same).
pub(crate) async fn scores_of(state: &AppState, id: i64) -> Result<MemberScoresView, ApiError> {
    let now = state.now();
    let policy = &state.policy.scores;
    let s = state
        .store
        .member_scores(id, policy, now)
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}")))?;
    let stored = s.stored.as_ref();
    Ok(MemberScoresView {
        member_id: s.member_id,
        rfm: stored.and_then(|st| st.rfm.as_ref()).map(|r| RfmView {
            r: r.r,
            f: r.f,
            m: r.m,
            cell: r.cell.clone(),
            recency_days: r.recency_days,
            frequency: r.frequency,
            monetary: r.monetary.to_string(),
        }),
        super_user: SuperUserScoreView {
            score: s.super_user.score,
            parts: parts(&s.super_user),
            explanation: s.super_user.explanation.clone(),
            paid_member: s.paid_member,
        },
        influence: InfluenceView {
            score: s.influence.score,
            parts: parts(&s.influence),
            explanation: s.influence.explanation.clone(),
            referral_tree: ReferralTreeView::from(&s.referral_tree),
        },
        intimacy: ScoreView::from(&s.intimacy),
        clv: stored.map(|st| ClvView::of(st, s.clv_unfit.as_deref(), policy.horizon_days)),
        computed_at: stored.map(|st| to_rfc3339(st.computed_at)),
        as_of: to_rfc3339(now),
    })
}

/// The super users, or the members to invite
#[utoipa::path(get, path = "/v1/super-users", tag = "scores",
    params(("potential" = Option<bool>, Query, description = "true: members who are not paid members yet, best score first — whom to invite; false (default): the current super users (paid members)"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 50"),
        ("min_score" = Option<f64>, Query, description = "0-100, default 0")),
    responses((status = 200, body = SuperUserList, description = "Ordered by the last recompute's score; each explained from the member's facts now")),
    security(("bearer" = [])))]
pub async fn super_users(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<SuperUserList>, ApiError> {
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
    let items = rows
        .iter()
        .map(|row| {
            let inputs = ScoreInputs::from(&row.member.facts);
            let live = super_user::score(&inputs, &state.policy.scores, now);
            SuperUserItem {
                member_id: row.member.id,
                score: row.stored.super_user,
                score_now: live.score,
                parts: parts(&live),
                explanation: live.explanation,
                stage: row.member.stage.as_str().into(),
                rfm_cell: row.stored.rfm.as_ref().map(|r| r.cell.clone()),
            }
        })
        .collect();
    Ok(Json(SuperUserList {
        potential,
        computed_at: last.map(|(at, _)| to_rfc3339(at)),
        items,
    }))
}

/// Recompute every member's scores now (admin)
///
/// RFM and lifetime value need the whole population; the answer says how many members
/// were scored, whether lifetime value could be computed (and if not, why: too few
/// buyers, with the minimum), and the fitted models.
#[utoipa::path(post, path = "/v1/scores/recompute", tag = "scores",
    responses((status = 200, body = RecomputeView), (status = 403, description = "admin only")),
    security(("bearer" = [])))]
pub async fn recompute(
    _caller: Allowed<need::RecomputeScores>,
    State(state): State<AppState>,
) -> Result<Json<RecomputeView>, ApiError> {
    let now = state.now();
    let report = state
        .store
        .recompute_scores(&state.policy.scores, now, &|_| {})
        .await?;
    Ok(Json(RecomputeView::from(&report)))
}

const EXPORT_PAGE: u32 = 2_000;

#[utoipa::path(get, path = "/v1/scores/export", tag = "scores",
    responses((status = 200, content_type = "text/csv", body = String, description = "Streamed: one row per member of the last recompute with their identities (`kind:value` separated by `;`)")),
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
