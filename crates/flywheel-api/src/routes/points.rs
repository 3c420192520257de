//! Points: earning rules (read, replace, simulate), a member's points and ledger,
//! transfers, manual adjustments and the sweep. Finance reports are in `finance.rs`.

use super::member_id;
use crate::auth::{Allowed, Caller, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::params::{Params, limit};
use crate::points_views::{
    AdjustmentView, ExpiryView, LedgerEntryView, LedgerView, LotView, PointsView, SourceView,
    TransferView,
};
use crate::report_views::{
    PointsSweepView, PutRulesInput, RuleVersionView, RulesView, SimulateInput, SimulatedLine,
    SimulationView, StoredRulesView, rfc3339_opt,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::points::rules::{self, EarningRule};
use flywheel_core::points::{Earning, Trigger};
use flywheel_core::time::{self, Micros, to_rfc3339};
use flywheel_core::validation::{FieldError, check_paragraph};
use flywheel_core::{Money, Payload};
use flywheel_store::{AdjustRequest, LedgerCursor, TransferRequest};
use serde::Deserialize;
use serde_json::Value;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/points/rules", get(get_rules).put(put_rules))
        .route("/v1/points/rules/simulate", post(simulate))
        .route("/v1/members/{id}/points", get(member_points))
        .route("/v1/members/{id}/points/ledger", get(member_ledger))
        .route("/v1/points/transfers", post(transfer))
        .route("/v1/points/adjustments", post(adjust))
        .route("/v1/points/sweep", post(sweep))
}

/// The programme a request names, or the default; 422 if unknown.
pub(crate) fn programme(state: &AppState, given: Option<String>) -> Result<String, ApiError> {
    let p = &state.policy.points;
    match given {
        None => Ok(p.default_programme().to_owned()),
        Some(name) if p.knows(&name) => Ok(name),
        Some(name) => Err(ApiError::new(
            ErrorCode::UnknownProgramme,
            format!(
                "{name:?} is not a programme; known: {}",
                p.programmes.join(", ")
            ),
        )
        .field("programme")),
    }
}

/// Whole points from 1 to the most one posting may carry (`limits.max_points_per_posting`).
pub(crate) fn positive(state: &AppState, points: i64, field: &str) -> Result<i64, ApiError> {
    let max = state.policy.limits.max_points_per_posting;
    if state.policy.limits.points_in_range(points) {
        Ok(points)
    } else {
        Err(ApiError::new(
            ErrorCode::OutOfRange,
            format!("{field} must be a whole number of points from 1 to {max}"),
        )
        .field(field))
    }
}

/// An idempotency key: 1–200 printable characters.
pub(crate) fn idempotency_key(key: String) -> Result<String, ApiError> {
    if key.is_empty() || key.len() > 200 || key.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            "idempotency_key must be 1-200 printable characters",
        )
        .field("idempotency_key"));
    }
    Ok(key)
}

pub(crate) fn instant(text: &str, field: &str) -> Result<Micros, ApiError> {
    time::parse_rfc3339(text).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidTimestamp,
            format!("{field} must be an RFC 3339 timestamp with an offset"),
        )
        .field(field)
    })
}

/// The earning rules in force now, and every stored version
#[utoipa::path(get, path = "/v1/points/rules", tag = "points",
    responses((status = 200, body = RulesView)),
    security(("bearer" = [])))]
pub async fn get_rules(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
) -> Result<Json<RulesView>, ApiError> {
    let book = state.store.rule_book().await?;
    let now = state.now();
    let current = book.at(now);
    let versions = state
        .store
        .rule_versions()
        .await?
        .into_iter()
        .map(|v| RuleVersionView {
            version: v.version,
            effective_from: rfc3339_opt(v.effective_from),
            created_at: rfc3339_opt(v.created_at),
            created_by: v.created_by,
            rules: v.rules.len(),
        })
        .collect();
    let scheduled_versions: Vec<i64> = book
        .versions
        .iter()
        .filter(|v| v.effective_from > now)
        .map(|v| v.version)
        .collect();
    Ok(Json(RulesView {
        version: current.version,
        effective_from: (current.version > 0).then(|| to_rfc3339(current.effective_from)),
        rules: serde_json::to_value(&current.rules).map_err(ApiError::internal)?,
        scheduled_versions,
        versions,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutRules {
    rules: Vec<EarningRule>,
    effective_from: Option<String>,
}

/// Replace the earning rules (a new version)
///
/// The whole rule set, in force for events from `effective_from` (default: now). Earlier
/// versions stay stored and keep judging the events they were in force for.
#[utoipa::path(put, path = "/v1/points/rules", tag = "points",
    request_body(content = PutRulesInput),
    responses((status = 200, body = StoredRulesView), (status = 422, description = "A rule is invalid; every problem is in `details`")),
    security(("bearer" = [])))]
pub async fn put_rules(
    caller: Allowed<need::ManagePoints>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<StoredRulesView>, ApiError> {
    let req: PutRules = typed(body)?;
    let now = state.now();
    let effective_from = match &req.effective_from {
        Some(t) => instant(t, "effective_from")?,
        None => now,
    };
    let mut errors = rules::validate(&req.rules, &state.policy.points, &state.policy.limits);
    errors.extend(rules::unknown_channels(&req.rules, &state.policy.channels));
    errors.extend(unknown_tiers(&state, &req.rules).await?);
    if !errors.is_empty() {
        return Err(ApiError::invalid_event(errors));
    }
    let version = state
        .store
        .put_rules(&req.rules, effective_from, &caller.audit_actor(), now)
        .await?;
    Ok(Json(StoredRulesView {
        version,
        effective_from: to_rfc3339(effective_from),
        rules: serde_json::to_value(&req.rules).map_err(ApiError::internal)?,
    }))
}

/// Tier references in `rules` that name no tier of a defined programme.
async fn unknown_tiers(
    state: &AppState,
    rules: &[EarningRule],
) -> Result<Vec<FieldError>, ApiError> {
    let programmes = state.store.programmes().await?;
    let known = |text: &str| {
        rules::tier_ref(text).is_some_and(|(programme, tier)| {
            programmes
                .iter()
                .any(|p| p.id == programme && p.definition.tier(tier).is_some())
        })
    };
    let mut errors = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let named = r
            .conditions
            .tiers
            .iter()
            .enumerate()
            .map(|(j, t)| (format!("rules[{i}].conditions.tiers[{j}]"), t))
            .chain(
                r.tier_multipliers
                    .keys()
                    .map(|t| (format!("rules[{i}].tier_multipliers.{t}"), t)),
            );
        for (field, t) in named {
            if rules::tier_ref(t).is_some() && !known(t) {
                errors.push(FieldError::new(
                    field,
                    ErrorCode::InvalidValue,
                    format!("{t:?} is not a tier of a defined programme"),
                ));
            }
        }
    }
    Ok(errors)
}

/// The tiers `member` holds at `at` as earning rules name them (`"programme:tier"`), as
/// ingest's tier pass judges them.
async fn tiers_held_at(state: &AppState, member: i64, at: Micros) -> Result<Vec<String>, ApiError> {
    let programmes = state.store.programmes().await?;
    Ok(state
        .store
        .memberships_of(member)
        .await?
        .into_iter()
        .filter(|m| {
            m.since <= at
                && programmes
                    .iter()
                    .find(|p| p.id == m.programme)
                    .is_some_and(|p| m.active_at(&p.definition, at))
        })
        .map(|m| format!("{}:{}", m.programme, m.tier))
        .collect())
}

/// Which rules an event would fire, and for how many points (writes nothing)
///
/// Body: `{"event": {…an event as for POST /v1/events…}}`. The member is found by the
/// event's identities, so their stage, the tiers they hold when it happened, today's
/// limits and budgets are taken into account.
#[utoipa::path(post, path = "/v1/points/rules/simulate", tag = "points",
    request_body(content = SimulateInput),
    responses((status = 200, body = SimulationView), (status = 422, description = "The event is invalid (fields under `event.`)")),
    security(("bearer" = [])))]
pub async fn simulate(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<SimulationView>, ApiError> {
    let Value::Object(mut obj) = body else {
        return Err(
            ApiError::new(ErrorCode::InvalidType, "the body must be an object").field("body"),
        );
    };
    let raw = obj.remove("event").ok_or_else(|| {
        ApiError::new(ErrorCode::MissingField, "event is required").field("event")
    })?;
    if let Some(extra) = obj.keys().next() {
        return Err(
            ApiError::new(ErrorCode::UnknownField, format!("unknown field {extra}"))
                .field(extra.clone()),
        );
    }
    let now = state.now();
    let event =
        flywheel_core::parse_event(&raw, &state.policy.parse_context(now)).map_err(|errors| {
            let errors = errors
                .into_iter()
                .map(|mut e| {
                    e.field = format!("event.{}", e.field);
                    e
                })
                .collect();
            ApiError::invalid_event(errors)
        })?;
    let mut member = None;
    for identity in &event.identities {
        if let Some(id) = state.store.lookup(identity).await? {
            member = state.store.member_brief(id).await?;
            break;
        }
    }
    let stage = member
        .as_ref()
        .map(|m| m.stage)
        .unwrap_or(flywheel_core::Stage::None);
    let book = state
        .store
        .simulation_book(member.as_ref().map(|m| m.member_id), event.occurred_at)
        .await?;
    let (amount, items, order_id): (Option<Money>, &[flywheel_core::event::Item], Option<&str>) =
        match &event.payload {
            Payload::Purchase(p) => (Some(p.amount), &p.items, Some(&p.order_id)),
            _ => (None, &[], None),
        };
    let tiers = match &member {
        Some(m) => tiers_held_at(&state, m.member_id, event.occurred_at).await?,
        None => Vec::new(),
    };
    let earning = Earning {
        source_key: format!("event:{}", event.event_id),
        source_type: "event",
        source_id: &event.event_id,
        member_id: member.as_ref().map(|m| m.member_id).unwrap_or(0),
        trigger: Trigger {
            kind: &event.type_name,
            occurred_at: event.occurred_at,
            channel: Some(event.channel),
            stage,
            amount,
            items,
            tiers: &tiers,
            referred_at: None,
            progress: Default::default(),
            milestone: match &event.payload {
                flywheel_core::event::Payload::ShareMilestone(m) => Some(*m),
                _ => None,
            },
        },
        order_id,
    };
    let rule_book = state.store.rule_book().await?;
    let set = rule_book.at(event.occurred_at);
    let lines: Vec<SimulatedLine> = set
        .rules
        .iter()
        .filter(|r| r.trigger == event.type_name)
        .map(|r| {
            let l = book.preview(r, &earning, &state.policy.limits);
            SimulatedLine {
                fires: l.points > 0,
                rule_id: l.rule_id,
                programme: l.programme,
                points: l.points,
                quoted: l.quoted,
                pending_until: rfc3339_opt(l.pending_until),
                explanation: l.explanation,
                limited_by: l.limited_by,
            }
        })
        .collect();
    Ok(Json(SimulationView {
        member_id: member.as_ref().map(|m| m.member_id),
        stage: stage.as_str().into(),
        tiers: tiers.clone(),
        rule_version: set.version,
        total: lines.iter().map(|l| l.points).sum(),
        lines,
    }))
}

/// A member's points: balance, pending, debt, lots and what expires next
#[utoipa::path(get, path = "/v1/members/{id}/points", tag = "points",
    params(("id" = i64, Path, description = "Member id"),
           ("programme" = Option<String>, Query, description = "Default: the first programme")),
    responses((status = 200, body = PointsView), (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_points(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<Json<PointsView>, ApiError> {
    let id = member_id(&id)?;
    let mut given = None;
    for (k, v) in params {
        match k.as_str() {
            "programme" => given = Some(v),
            other => {
                return Err(crate::params::unknown(other));
            }
        }
    }
    let programme = programme(&state, given)?;
    Ok(Json(points_of(&state, id, programme).await?))
}

/// Member `id`'s balance, pending points, lots and next expiry in `programme` (the
/// member 360 shows the same).
pub(crate) async fn points_of(
    state: &AppState,
    id: i64,
    programme: String,
) -> Result<PointsView, ApiError> {
    let now = state.now();
    let (member, s) = state
        .store
        .member_points(id, &programme, now)
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}")))?;
    Ok(PointsView {
        member_id: member,
        programme,
        balance: s.balance,
        pending: s.pending,
        debt: s.debt,
        lots: s
            .lots
            .iter()
            .map(|l| LotView {
                points: l.points,
                expires_at: l.expires_at.map(to_rfc3339),
                available_at: to_rfc3339(l.available_at),
                status: if l.pending { "pending" } else { "available" },
            })
            .collect(),
        next_expiry: s.next_expiry.map(|(points, at)| ExpiryView {
            points,
            expires_at: to_rfc3339(at),
        }),
        as_of: to_rfc3339(now),
    })
}

fn encode_cursor(c: &LedgerCursor) -> String {
    format!("{}~{}", c.at, c.key)
}

fn decode_cursor(raw: &str) -> Result<LedgerCursor, ApiError> {
    raw.split_once('~')
        .and_then(|(at, key)| {
            Some(LedgerCursor {
                at: at.parse().ok()?,
                key: key.to_owned(),
            })
        })
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidCursor,
                "before must be a `next` value from a previous page",
            )
            .field("before")
        })
}

/// A member's points ledger, newest first, each line with its reason and source
#[utoipa::path(get, path = "/v1/members/{id}/points/ledger", tag = "points",
    params(("id" = i64, Path, description = "Member id"),
           ("limit" = Option<u32>, Query, description = "1–500, default 100"),
           ("before" = Option<String>, Query, description = "`next` from the previous page")),
    responses((status = 200, body = LedgerView), (status = 404, description = "member_not_found")),
    security(("bearer" = [])))]
pub async fn member_ledger(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params,
) -> Result<Json<LedgerView>, ApiError> {
    let id = member_id(&id)?;
    let (mut n, mut before) = (100u32, None);
    for (k, v) in params {
        match k.as_str() {
            "limit" => n = limit(&v, 500)?,
            "before" => before = Some(decode_cursor(&v)?),
            other => {
                return Err(crate::params::unknown(other));
            }
        }
    }
    let brief =
        state.store.member_brief(id).await?.ok_or_else(|| {
            ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}"))
        })?;
    let rows = state
        .store
        .member_ledger(brief.member_id, i64::from(n) + 1, before.as_ref())
        .await?;
    let more = rows.len() > n as usize;
    let rows: Vec<_> = rows.into_iter().take(n as usize).collect();
    let next = if more {
        rows.last().map(|r| {
            encode_cursor(&LedgerCursor {
                at: r.at,
                key: r.key.clone(),
            })
        })
    } else {
        None
    };
    Ok(Json(LedgerView {
        member_id: brief.member_id,
        entries: rows
            .into_iter()
            .map(|e| LedgerEntryView {
                key: e.key,
                at: to_rfc3339(e.at),
                kind: e.kind,
                account: e.account,
                programme: e.programme,
                amount: e.amount,
                reason: e.reason,
                source: SourceView {
                    kind: e.source_type,
                    id: e.source_id,
                },
                rule_id: e.rule_id,
                actor: e.actor,
            })
            .collect(),
        next,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransferBody {
    from_member_id: i64,
    to_member_id: i64,
    points: i64,
    idempotency_key: String,
    programme: Option<String>,
}

/// Transfer points between members
///
/// Within the sender's daily limit; the receiver's points keep the sender's expiry dates.
#[utoipa::path(post, path = "/v1/points/transfers", tag = "points",
    request_body(content = TransferBody),
    responses((status = 201, body = TransferView), (status = 200, body = TransferView, description = "Replayed idempotency key: the first answer, `replayed: true`"),
              (status = 404, description = "member_not_found"),
              (status = 409, description = "insufficient_points, limit_reached, idempotency_key_reused or member_erased")),
    security(("bearer" = [])))]
pub async fn transfer(
    _caller: Allowed<need::SpendPoints>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<TransferView>), ApiError> {
    let b: TransferBody = typed(body)?;
    let req = TransferRequest {
        from_member_id: b.from_member_id,
        to_member_id: b.to_member_id,
        points: positive(&state, b.points, "points")?,
        programme: programme(&state, b.programme)?,
        idempotency_key: idempotency_key(b.idempotency_key)?,
    };
    let (row, replayed) = state
        .store
        .transfer_points(&req, &state.policy.points, state.now())
        .await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(TransferView::of(row, replayed))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdjustBody {
    pub member_id: i64,
    pub points: i64,
    pub reason: String,
    pub idempotency_key: String,
    pub programme: Option<String>,
}

/// Credit or debit a member's points by hand (admin or finance; audited)
#[utoipa::path(post, path = "/v1/points/adjustments", tag = "points",
    request_body(content = AdjustBody),
    responses((status = 201, body = AdjustmentView), (status = 200, body = AdjustmentView, description = "Replayed idempotency key: the first answer, `replayed: true`"),
              (status = 404, description = "member_not_found"), (status = 409, description = "insufficient_points, member_erased or idempotency_key_reused")),
    security(("bearer" = [])))]
pub async fn adjust(
    caller: Allowed<need::AdjustPoints>,
    State(state): State<AppState>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<AdjustmentView>), ApiError> {
    let b: AdjustBody = typed(body)?;
    let (member_id, points) = (b.member_id, b.points);
    let (key, replayed, reason) = adjust_points(&state, &caller, b).await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(AdjustmentView {
            ledger_key: key,
            member_id,
            points,
            reason,
            replayed,
        }),
    ))
}

/// Posts a manual adjustment as `caller` asked (the cockpit's form comes here too):
/// the ledger key, whether it was a replay of the same idempotency key, the reason.
pub(crate) async fn adjust_points(
    state: &AppState,
    caller: &Caller,
    b: AdjustBody,
) -> Result<(String, bool, String), ApiError> {
    let reason = check_paragraph("reason", &b.reason, 500)?;
    if b.points == 0 {
        return Err(ApiError::new(ErrorCode::OutOfRange, "points must not be 0").field("points"));
    }
    positive(state, b.points.abs(), "points")?;
    let req = AdjustRequest {
        member_id: b.member_id,
        points: b.points,
        reason: reason.clone(),
        programme: programme(state, b.programme)?,
        idempotency_key: idempotency_key(b.idempotency_key)?,
        actor: caller.audit_actor(),
    };
    let (key, replayed) = state
        .store
        .adjust_points(&req, &state.policy.points, state.now())
        .await?;
    Ok((key, replayed, reason))
}

/// Post maturity and expiry that are due now (the server also does this every sweep interval)
#[utoipa::path(post, path = "/v1/points/sweep", tag = "points",
    responses((status = 200, body = PointsSweepView)),
    security(("bearer" = [])))]
pub async fn sweep(
    _caller: Allowed<need::ManagePoints>,
    State(state): State<AppState>,
) -> Result<Json<PointsSweepView>, ApiError> {
    let r = state.store.sweep_points(state.now()).await?;
    Ok(Json(PointsSweepView {
        members: r.members,
        matured: r.matured,
        expired: r.expired,
    }))
}
