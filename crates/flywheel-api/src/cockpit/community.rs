//! The community pages (issue 22): `/community` lists the activities with their seats
//! and attendance, the WeCom customer groups and the co-creation board's counts;
//! `/community/activities/{id}` is one activity's report, its RSVPs and the door's
//! check-in by card code; `/community/ideas` is the board, with the form that moves an
//! idea along. Each reads and acts through the same functions as the JSON API. The
//! member 360 takes its "Community" card from [`member_community`].

use super::page::{Chrome, PageError, check_csrf, render};
use super::session::Viewer;
use crate::activity_views::{ActivityReportView, ActivityView, CheckInInput, RsvpView};
use crate::error::ApiError;
use crate::idea_views::{IdeaDecisionInput, IdeaView};
use crate::routes::{activities, ideas};
use crate::state::AppState;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use flywheel_core::auth::Permission;
use flywheel_core::idea::{STATUSES, may_move};
use flywheel_core::ingest::MemberId;
use flywheel_core::time::to_rfc3339;
use flywheel_store::{OwnerRow, StaffRow, WecomGroupRow};
use serde::Deserialize;

/// How many ideas the board page lists at once.
const IDEAS_SHOWN: i64 = 200;

#[derive(Template)]
#[template(path = "community.html")]
struct CommunityPage {
    chrome: Chrome,
    activities: Vec<ActivityView>,
    groups: Vec<WecomGroupRow>,
    counts: Vec<(&'static str, i64)>,
}

/// The time of a stored instant as the pages show it.
pub(super) fn at(t: &i64) -> String {
    super::page::when(&to_rfc3339(*t))
}

/// Ideas per status, in the board's order, with zeros.
async fn idea_counts(state: &AppState) -> Result<Vec<(&'static str, i64)>, ApiError> {
    let stored = state.store.idea_counts().await?;
    Ok(STATUSES
        .iter()
        .map(|s| {
            let n = stored.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
            (*s, n)
        })
        .collect())
}

pub(super) async fn page(
    viewer: Viewer,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    viewer.caller.require(Permission::ReadMembers)?;
    let mut rows = state.store.activities().await?;
    // The ones to come (soonest first), then the past (latest first).
    let now = state.now();
    rows.sort_by_key(|a| {
        if a.ends_at > now {
            (0, a.starts_at)
        } else {
            (1, -a.starts_at)
        }
    });
    let page = CommunityPage {
        chrome: Chrome::of(&viewer, "community"),
        activities: rows.into_iter().map(activities::view).collect(),
        groups: state.store.wecom_groups().await?,
        counts: idea_counts(&state).await?,
    };
    Ok(render(&viewer, &page))
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    chrome: Chrome,
    activity: ActivityView,
    report: ActivityReportView,
    rsvps: Vec<RsvpView>,
    flash: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct ActivityQuery {
    /// The member just checked in, and their streak.
    checked: Option<i64>,
    streak: Option<u32>,
    completed: Option<bool>,
    /// An error code the check-in was refused with.
    refused: Option<String>,
}

fn flash_of(q: &ActivityQuery) -> Option<String> {
    if let Some(m) = q.checked {
        let mut text = format!("Member {m} checked in");
        if let Some(days) = q.streak.filter(|d| *d > 0) {
            text.push_str(&format!(" — day {days} in a row"));
        }
        if q.completed == Some(true) {
            text.push_str(" — challenge complete");
        }
        return Some(text + ".");
    }
    q.refused.as_deref().map(|code| match code {
        "activity_full" => "Not checked in: every seat is taken.".to_owned(),
        "activity_closed" => {
            "Not checked in: the doors are closed (cancelled, or outside its hours).".to_owned()
        }
        "insufficient_points" => {
            "Not checked in: the member has too few points for the seat.".to_owned()
        }
        "member_not_found" => "Not checked in: no member has that card.".to_owned(),
        "invalid_value" => {
            "Not checked in: that is not a member card number (11 digits).".to_owned()
        }
        other => format!("Not checked in: {other}."),
    })
}

pub(super) async fn activity(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ActivityQuery>,
) -> Result<Response, PageError> {
    viewer.caller.require(Permission::ReadMembers)?;
    let row = activities::activity_row(&state, &id).await?;
    let report = activities::report_view(&state, &row).await?;
    let rsvps = state.store.activity_rsvps(&row.id).await?;
    let page = ActivityPage {
        chrome: Chrome::of(&viewer, "community"),
        activity: activities::view(row),
        report,
        rsvps: rsvps.into_iter().map(activities::rsvp_view).collect(),
        flash: flash_of(&q),
    };
    Ok(render(&viewer, &page))
}

#[derive(Deserialize)]
pub(super) struct CheckInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    card_code: String,
}

/// The door: checks in the member whose card is scanned or typed, as the API does.
pub(super) async fn check_in(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Result<Form<CheckInForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form?;
    check_csrf(&viewer, &form.csrf)?;
    viewer.caller.require(Permission::HandleTickets)?;
    let row = activities::activity_row(&state, &id).await?;
    let input = CheckInInput {
        card_code: Some(form.card_code),
        member_id: None,
    };
    let done = match activities::who(&input) {
        Ok(member) => {
            activities::do_check_in(&state, &row, member, viewer.caller.audit_actor()).await
        }
        Err(e) => Err(e),
    };
    // An activity id is a slug (checked when it was defined), safe in a path.
    let to = match done {
        Ok(v) => format!(
            "/community/activities/{}?checked={}&streak={}&completed={}",
            row.id, v.member_id, v.streak, v.completed
        ),
        Err(e) => format!(
            "/community/activities/{}?refused={}",
            row.id,
            e.code.as_str()
        ),
    };
    Ok(Redirect::to(&to).into_response())
}

#[derive(Template)]
#[template(path = "ideas.html")]
struct IdeasPage {
    chrome: Chrome,
    counts: Vec<(&'static str, i64)>,
    /// The status shown, or all.
    status: Option<&'static str>,
    ideas: Vec<IdeaView>,
    roster: Vec<StaffRow>,
    moved: Option<String>,
}

impl IdeasPage {
    /// Where an idea in `from` may go next.
    fn next_of(&self, from: &str) -> Vec<&'static str> {
        STATUSES
            .iter()
            .copied()
            .filter(|to| may_move(from, to))
            .collect()
    }
}

#[derive(Deserialize, Default)]
pub(super) struct IdeasQuery {
    status: Option<String>,
    moved: Option<String>,
}

pub(super) async fn ideas_page(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(q): Query<IdeasQuery>,
) -> Result<Response, PageError> {
    viewer.caller.require(Permission::ReadMembers)?;
    let status = q
        .status
        .as_deref()
        .and_then(|s| STATUSES.iter().copied().find(|k| *k == s));
    let rows = state.store.ideas(status, IDEAS_SHOWN).await?;
    let roster = if viewer.caller.role.allows(Permission::ManageService) {
        state
            .store
            .staff()
            .await?
            .into_iter()
            .filter(|s| s.active)
            .collect()
    } else {
        Vec::new()
    };
    let page = IdeasPage {
        chrome: Chrome::of(&viewer, "community"),
        counts: idea_counts(&state).await?,
        status,
        ideas: rows.into_iter().map(ideas::view).collect(),
        roster,
        moved: q.moved.filter(|m| m.starts_with("idea-")),
    };
    Ok(render(&viewer, &page))
}

#[derive(Deserialize)]
pub(super) struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    owner_staff_id: String,
    #[serde(default)]
    public_note: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    reward_points: String,
    #[serde(default)]
    badge: String,
    /// The board's filter to go back to.
    #[serde(default)]
    back: String,
}

fn given(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Moves an idea from the board, as `POST /v1/ideas/{id}/decision` does.
pub(super) async fn decide(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form?;
    check_csrf(&viewer, &form.csrf)?;
    viewer.caller.require(Permission::ManageService)?;
    let reward_points = match given(&form.reward_points) {
        None => None,
        Some(p) => Some(p.parse::<i64>().map_err(|_| {
            ApiError::new(
                flywheel_core::ErrorCode::InvalidValue,
                "reward_points is a whole number",
            )
            .field("reward_points")
        })?),
    };
    let input = IdeaDecisionInput {
        status: given(&form.status),
        reason: given(&form.reason),
        public_note: given(&form.public_note),
        owner_staff_id: given(&form.owner_staff_id),
        reward_points,
        badge: given(&form.badge),
    };
    let done = ideas::apply_decision(&state, &id, &input, viewer.caller.audit_actor()).await?;
    let back = STATUSES
        .iter()
        .find(|s| **s == form.back)
        .map_or_else(String::new, |s| format!("status={s}&"));
    Ok(Redirect::to(&format!("/community/ideas?{back}moved={}", done.idea.id)).into_response())
}

/// The member 360's "Community" card: their owner, WeCom assistants and groups, what
/// they took part in, their activities and their ideas.
pub(super) struct MemberCommunity {
    pub owner: Option<OwnerRow>,
    /// Group names (or ids when unnamed) the member is in now.
    pub groups: Vec<String>,
    pub activities: Vec<(String, String, String)>,
    pub ideas: Vec<(String, String)>,
}

pub(super) async fn member_community(
    state: &AppState,
    member: MemberId,
    group_ids: &[String],
) -> Result<MemberCommunity, ApiError> {
    let owner = state.store.member_owner(member).await?;
    let named = if group_ids.is_empty() {
        Vec::new()
    } else {
        state.store.wecom_groups().await?
    };
    let groups = group_ids
        .iter()
        .map(|id| {
            named
                .iter()
                .find(|g| &g.chat_id == id)
                .and_then(|g| g.name.clone())
                .unwrap_or_else(|| id.clone())
        })
        .collect();
    let activities = state
        .store
        .member_activities(member, i64::MIN / 2)
        .await?
        .into_iter()
        .map(|(a, r)| {
            let status = match (r.completed_at, r.attended_at) {
                (Some(_), _) => "completed".to_owned(),
                (None, Some(_)) => "came".to_owned(),
                _ => r.status,
            };
            (
                a.id,
                a.activity.name,
                format!("{} · {status}", at(&a.starts_at)),
            )
        })
        .collect();
    let ideas = state
        .store
        .member_ideas(member)
        .await?
        .into_iter()
        .map(|i| (i.text, i.status))
        .collect();
    Ok(MemberCommunity {
        owner,
        groups,
        activities,
        ideas,
    })
}
