//! `/members`: search by phone, card number, e-mail, nickname or member id, and filters
//! by stage, tier, tag or segment (written as a segment expression, so the list is what
//! that segment would hold now). `/members/{id}`: the member 360 with the actions the
//! role may take — add a tag, adjust points, merge another member in.

use super::page::{Chrome, PageError, check_csrf, render};
use super::session::Viewer;
use crate::error::ApiError;
use crate::membership_views::CardView;
use crate::points_views::PointsView;
use crate::routes::{card, identity, members, points, scores, segments, tags};
use crate::score_views::MemberScoresView;
use crate::segment_views::MemberTagView;
use crate::state::AppState;
use crate::views::{MemberDoc, StageHistory};
use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use flywheel_core::ErrorCode;
use flywheel_core::auth::Permission;
use flywheel_core::identity::IdentityKind;
use flywheel_core::ingest::{MemberId, MemberState};
use flywheel_core::time::to_rfc3339;
use serde::Deserialize;

/// A member in a list: enough to recognise them.
pub(super) struct MemberLine {
    pub id: MemberId,
    pub name: String,
    pub stage: &'static str,
    pub lens: &'static str,
    pub contact: String,
    pub purchases: u32,
    pub spent: String,
}

impl MemberLine {
    pub fn of(m: &MemberState) -> MemberLine {
        let contact = m
            .identities
            .iter()
            .filter(|i| matches!(i.kind, IdentityKind::Phone | IdentityKind::Email))
            .map(|i| i.value.clone())
            .collect::<Vec<_>>()
            .join(", ");
        MemberLine {
            id: m.id,
            name: display_name(m),
            stage: m.stage.as_str(),
            lens: m.lens.as_str(),
            contact,
            purchases: m.facts.orders.saturating_sub(m.facts.refunded_orders),
            spent: flywheel_core::Money::from_minor(m.facts.gross_spent - m.facts.refunded)
                .to_string(),
        }
    }
}

/// The name people know the member by: the name, else a nickname, else `#id`.
pub(super) fn display_name(m: &MemberState) -> String {
    m.profile
        .name
        .clone()
        .or_else(|| m.profile.nicknames.values().next().cloned())
        .unwrap_or_else(|| format!("#{}", m.id))
}

#[derive(Deserialize, Default)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    stage: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    segment: String,
    /// `programme:tier`.
    #[serde(default)]
    tier: String,
    /// Any segment expression, for what the simple filters cannot say.
    #[serde(default)]
    expression: String,
}

#[derive(Template)]
#[template(path = "members.html")]
struct SearchPage {
    chrome: Chrome,
    q: SearchQuery,
    stages: Vec<&'static str>,
    segment_ids: Vec<(String, String)>,
    tiers: Vec<(String, String)>,
    searched: bool,
    /// How many match the filters (the whole audience, not just the lines shown).
    total: Option<i64>,
    results: Vec<MemberLine>,
    error: Option<String>,
}

/// The members `q` names exactly: by member id, phone, e-mail or card number; else
/// those whose name or a nickname contains it.
pub(super) async fn find(state: &AppState, q: &str) -> Result<Vec<MemberState>, ApiError> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(Vec::new());
    }
    let mut found: Vec<MemberId> = Vec::new();
    let kinds: &[IdentityKind] = if q.contains('@') {
        &[IdentityKind::Email]
    } else {
        &[IdentityKind::Phone, IdentityKind::CardNo]
    };
    for kind in kinds {
        if let Ok(identity) = state.policy.identity.normalise(*kind, q)
            && let Some(id) = state.store.lookup(&identity).await?
        {
            found.push(id);
        }
    }
    if let Some(id) = state.store.member_by_card(q).await? {
        found.push(id);
    }
    if let Ok(id) = q.trim_start_matches('#').parse::<MemberId>()
        && id > 0
        && q.len() <= 12
    {
        found.push(id);
    }
    let mut out: Vec<MemberState> = Vec::new();
    for id in found {
        if let Some(m) = state.store.member(id).await?
            && !out.iter().any(|o| o.id == m.id)
        {
            out.push(m);
        }
    }
    if out.is_empty() && !q.contains('@') {
        let needle = q.to_lowercase();
        for id in state.store.members_with_profile_text(q, 200).await? {
            if let Some(m) = state.store.member(id).await? {
                let named = m.profile.name.iter().chain(m.profile.nicknames.values());
                if named
                    .into_iter()
                    .any(|n| n.to_lowercase().contains(&needle))
                {
                    out.push(m);
                }
            }
            if out.len() >= 50 {
                break;
            }
        }
    }
    Ok(out)
}

/// The filters as one segment expression (empty when there are none).
fn filter_expression(q: &SearchQuery) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut parts = Vec::new();
    if !q.stage.is_empty() {
        parts.push(format!("stage = {}", q.stage));
    }
    if let Some((programme, tier)) = q.tier.split_once(':') {
        parts.push(format!("tier({}) = {}", quote(programme), quote(tier)));
    }
    if !q.tag.trim().is_empty() {
        parts.push(format!("tag({})", quote(q.tag.trim())));
    }
    if !q.segment.is_empty() {
        parts.push(format!("in_segment({})", quote(&q.segment)));
    }
    if !q.expression.trim().is_empty() {
        parts.push(format!("({})", q.expression.trim()));
    }
    parts.join(" and ")
}

pub(super) async fn search(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let mut results = Vec::new();
    let mut total = None;
    let mut error = None;
    let expression = filter_expression(&q);
    if !q.q.trim().is_empty() {
        results = find(&state, &q.q)
            .await?
            .iter()
            .map(MemberLine::of)
            .collect();
    } else if !expression.is_empty() {
        match segments::checked(&state, &expression) {
            Ok(cond) => {
                let preview = state.store.preview_segment(&cond, state.now(), 50).await?;
                total = Some(preview.count);
                for id in preview.sample {
                    if let Some(m) = state.store.member(id).await? {
                        results.push(MemberLine::of(&m));
                    }
                }
            }
            Err(e) => error = Some(e.message),
        }
    }
    let programmes = state.store.programmes().await?;
    let tiers = programmes
        .iter()
        .flat_map(|p| {
            p.definition.tiers.iter().map(move |t| {
                (
                    format!("{}:{}", p.id, t.id),
                    format!("{} · {}", p.definition.name, t.name),
                )
            })
        })
        .collect();
    let segment_ids = state
        .store
        .segments()
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let page = SearchPage {
        chrome: Chrome::of(&viewer, "members"),
        searched: !q.q.trim().is_empty() || !expression.is_empty(),
        q,
        stages: flywheel_core::Stage::ALL
            .iter()
            .map(|s| s.as_str())
            .collect(),
        segment_ids,
        tiers,
        total,
        results,
        error,
    };
    Ok(render(&viewer, &page))
}

/// One line of the points ledger, as shown.
pub(super) struct LedgerLine {
    pub at: String,
    pub kind: String,
    pub account: String,
    pub amount: i64,
    pub reason: String,
}

/// One event on the timeline, as shown.
pub(super) struct TimelineLine {
    pub at: String,
    pub type_name: String,
    pub channel: String,
    pub summary: String,
}

/// A journey the member is on or went through.
pub(super) struct RunLine {
    pub journey: String,
    pub status: String,
    /// When the next step runs, or why it ended.
    pub note: String,
}

/// A message decided for the member.
pub(super) struct MessageLine {
    pub at: String,
    pub channel: String,
    pub what: String,
    pub status: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "member.html")]
struct MemberPage {
    chrome: Chrome,
    name: String,
    doc: MemberDoc,
    /// The profile's fields that are set, as text.
    profile: Vec<(String, String)>,
    history: StageHistory,
    scores: MemberScoresView,
    points: Option<PointsView>,
    ledger: Vec<LedgerLine>,
    card: CardView,
    tags: Vec<MemberTagView>,
    segments: Vec<(String, String)>,
    timeline: Vec<TimelineLine>,
    next_events: Option<String>,
    runs: Vec<RunLine>,
    messages: Vec<MessageLine>,
    tickets: Vec<super::service::TicketLine>,
    community: super::community::MemberCommunity,
    /// A fresh idempotency key for the adjustment form: a double submit posts once.
    adjust_key: String,
    flash: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct MemberQuery {
    events: Option<String>,
    done: Option<String>,
}

pub(super) async fn member_360(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<MemberQuery>,
) -> Result<Response, PageError> {
    let id = crate::routes::member_id(&raw)?;
    let m = members::load(&state, id).await?;
    if m.id != id {
        // A merged-away id: show the survivor under its own address.
        return Ok(Redirect::to(&format!("/members/{}", m.id)).into_response());
    }
    let doc = members::document(&state, &m).await?;
    let history = members::stage_history(&state, &m).await?;
    let scores = scores::scores_of(&state, m.id).await?;
    let can_points = viewer.caller.role.allows(Permission::ReadPoints);
    let (points, ledger) = if can_points {
        let programme = state.policy.points.default_programme().to_owned();
        let p = points::points_of(&state, m.id, programme).await?;
        let ledger = state
            .store
            .member_ledger(m.id, 20, None)
            .await?
            .into_iter()
            .map(|e| LedgerLine {
                at: to_rfc3339(e.at),
                kind: e.kind,
                account: e.account,
                amount: e.amount,
                reason: e.reason,
            })
            .collect();
        (Some(p), ledger)
    } else {
        (None, Vec::new())
    };
    let card = card::card(&state, m.id, viewer.caller.hands_out_codes()).await?;
    let community = super::community::member_community(&state, m.id, &doc.facts.groups).await?;
    let tags = tags::tags_view(&state, m.id).await?.tags;
    let segment_names: std::collections::HashMap<String, String> = state
        .store
        .segments()
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let segments = match state.store.member_segments(m.id, 0).await? {
        Some((_, held, _)) => held
            .into_iter()
            .map(|s| {
                let name = segment_names
                    .get(&s.segment_id)
                    .cloned()
                    .unwrap_or_default();
                (s.segment_id, name)
            })
            .collect(),
        None => Vec::new(),
    };
    let cursor = q
        .events
        .as_deref()
        .map(members::decode_cursor)
        .transpose()?;
    let (events, next) = state.store.timeline(m.id, cursor.as_ref(), 25).await?;
    let timeline = events
        .into_iter()
        .map(|e| TimelineLine {
            at: to_rfc3339(e.occurred_at),
            summary: summarise(&e.properties),
            type_name: e.type_name,
            channel: e.channel,
        })
        .collect();
    let runs = state
        .store
        .member_journeys(m.id)
        .await?
        .into_iter()
        .take(20)
        .map(|r| RunLine {
            note: match (r.next_at, r.reason) {
                (Some(t), _) => format!(
                    "step {} at {}",
                    r.step,
                    crate::cockpit::page::when(&to_rfc3339(t))
                ),
                (None, Some(why)) => why,
                (None, None) => String::new(),
            },
            journey: r.journey_id,
            status: r.status,
        })
        .collect();
    let tickets = state
        .store
        .tickets(&flywheel_store::TicketQuery {
            member_id: Some(m.id),
            limit: 20,
            ..Default::default()
        })
        .await?
        .iter()
        .map(super::service::line)
        .collect();
    let messages = state
        .store
        .outbox(&flywheel_store::OutboxQuery {
            member_id: Some(m.id),
            limit: 10,
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|o| MessageLine {
            at: to_rfc3339(o.send_at),
            channel: o.channel,
            what: o
                .journey_id
                .map(|j| format!("journey {j}"))
                .or(o.campaign_id.map(|c| format!("campaign {c}")))
                .unwrap_or_default(),
            status: o.status,
            reason: o.reason.unwrap_or_default(),
        })
        .collect();
    let page = MemberPage {
        chrome: Chrome::of(&viewer, "members"),
        runs,
        tickets,
        community,
        messages,
        name: display_name(&m),
        profile: profile_lines(&doc.profile),
        doc,
        history,
        scores,
        points,
        ledger,
        card,
        tags,
        segments,
        timeline,
        next_events: next.map(|c| members::encode_cursor(&c)),
        adjust_key: super::session::random_hex(),
        flash: q.done.map(|d| match d.as_str() {
            "tag" => "Tag added.".to_owned(),
            "points" => "Points adjusted.".to_owned(),
            "merge" => "Members merged.".to_owned(),
            _ => "Done.".to_owned(),
        }),
    };
    Ok(render(&viewer, &page))
}

/// The profile's set fields as (name, text): strings unquoted, nicknames per channel.
fn profile_lines(profile: &serde_json::Value) -> Vec<(String, String)> {
    let Some(map) = profile.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in map {
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => out.push((k.clone(), s.clone())),
            serde_json::Value::Object(o) => {
                for (channel, nick) in o {
                    let text = nick
                        .as_str()
                        .map_or_else(|| nick.to_string(), str::to_owned);
                    out.push((format!("{k} ({channel})"), text));
                }
            }
            other => out.push((k.clone(), other.to_string())),
        }
    }
    out
}

/// A short line from an event's properties: amount, order, category, kind, text.
fn summarise(props: &serde_json::Value) -> String {
    let Some(map) = props.as_object() else {
        return String::new();
    };
    [
        "amount",
        "order_id",
        "category",
        "kind",
        "sku",
        "text",
        "content_id",
    ]
    .iter()
    .filter_map(|k| {
        let v = map.get(*k)?;
        let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        Some(format!(
            "{k}: {}",
            text.chars().take(60).collect::<String>()
        ))
    })
    .collect::<Vec<_>>()
    .join(" · ")
}

#[derive(Deserialize)]
pub(super) struct TagForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    note: String,
}

pub(super) async fn add_tag(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    form: Result<Form<TagForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form?;
    check_csrf(&viewer, &form.csrf)?;
    viewer.caller.require(Permission::TagMembers)?;
    let id = crate::routes::member_id(&raw)?;
    let note = Some(form.note.trim()).filter(|n| !n.is_empty());
    tags::tag_member(&state, &viewer.caller, id, form.tag.trim(), note).await?;
    Ok(Redirect::to(&format!("/members/{id}?done=tag")).into_response())
}

#[derive(Deserialize)]
pub(super) struct AdjustForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    points: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    idempotency_key: String,
}

pub(super) async fn adjust_points(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    form: Result<Form<AdjustForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form?;
    check_csrf(&viewer, &form.csrf)?;
    viewer.caller.require(Permission::AdjustPoints)?;
    let id = crate::routes::member_id(&raw)?;
    let amount: i64 = form.points.trim().parse().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidValue,
            "points must be a whole number, negative to debit",
        )
        .field("points")
    })?;
    let body = points::AdjustBody {
        member_id: id,
        points: amount,
        reason: form.reason,
        idempotency_key: form.idempotency_key,
        programme: None,
    };
    points::adjust_points(&state, &viewer.caller, body).await?;
    Ok(Redirect::to(&format!("/members/{id}?done=points")).into_response())
}

#[derive(Deserialize)]
pub(super) struct MergeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    other: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn merge(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    form: Result<Form<MergeForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form?;
    check_csrf(&viewer, &form.csrf)?;
    viewer.caller.require(Permission::ManageIdentities)?;
    let survivor = crate::routes::member_id(&raw)?;
    let other = crate::routes::member_id(form.other.trim()).map_err(|e| e.field("other"))?;
    let reason = flywheel_core::validation::check_paragraph("reason", &form.reason, 500)
        .map_err(ApiError::from)?;
    let merged = identity::merge_members(&state, &viewer.caller, survivor, other, &reason).await?;
    Ok(Redirect::to(&format!("/members/{}?done=merge", merged.id)).into_response())
}
