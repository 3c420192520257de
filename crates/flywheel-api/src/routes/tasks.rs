//! `GET /v1/members/{id}/tasks` — the task centre (seed 000's 任务中心; seed 003's
//! 完善个人信息、关注公众号): every earning rule in force that carries a `task` is a task
//! members see, with what it pays, whether it is done (a once-only rule that has paid)
//! and, for a check-in streak or a profile to complete, how far along they are. The
//! rules themselves do the paying (`conditions.streak_days`, `conditions.profile_complete`,
//! `conditions.milestone`, `limits.per_member`), so a task is done exactly when its
//! points arrive.

use super::member_id;
use crate::auth::{Allowed, need};
use crate::error::ApiError;
use crate::points_views::{TaskList, TaskProgressView, TaskView};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::ingest::MemberState;
use flywheel_core::marketing::ShareCounts;
use flywheel_core::points::EarningRule;
use flywheel_core::profile::TASK_FIELDS;
use flywheel_core::time::{day_number, to_rfc3339};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/members/{id}/tasks", get(member_tasks))
}

fn reward(rule: &EarningRule) -> String {
    let p = rule.award.points;
    let points = if p == 1 {
        "1 point".to_owned()
    } else {
        format!("{p} points")
    };
    match rule.award.per {
        Some(per) => format!("{points} per {per}"),
        None => points,
    }
}

/// The member's progress on a streak, profile or share-milestone task, if the rule is
/// one; `best` is the most each measure reached on any one of their links.
fn progress(
    rule: &EarningRule,
    member: &MemberState,
    best: &ShareCounts,
    today: i64,
) -> Option<TaskProgressView> {
    if let Some(m) = rule.conditions.milestone {
        let reached = best.get(m.measure).min(u64::from(m.at));
        return Some(TaskProgressView {
            current: u32::try_from(reached).unwrap_or(m.at),
            target: m.at,
            unit: format!(
                "{} on your best share",
                m.measure.as_str().replace('_', " ")
            ),
        });
    }
    if let Some(target) = rule.conditions.streak_days {
        let f = &member.facts;
        // A streak whose last day is before yesterday is broken.
        let alive = f.last_check_in_day.is_some_and(|d| d >= today - 1);
        let current = if alive { f.check_in_streak % target } else { 0 };
        return Some(TaskProgressView {
            current,
            target,
            unit: "days in a row".into(),
        });
    }
    rule.conditions.profile_complete.then(|| TaskProgressView {
        current: u32::from(member.profile.task_fields_filled()),
        target: TASK_FIELDS.len() as u32,
        unit: "profile fields".into(),
    })
}

/// The task list of `member`, as the API and the card page show it.
pub(crate) async fn tasks_of(state: &AppState, member: &MemberState) -> Result<TaskList, ApiError> {
    let now = state.now();
    let book = state.store.rule_book().await?;
    let credits = state.store.rule_credits(member.id).await?;
    let best = if book
        .at(now)
        .rules
        .iter()
        .any(|r| r.task.is_some() && r.conditions.milestone.is_some())
    {
        state.store.best_share_counts(member.id).await?
    } else {
        ShareCounts::default()
    };
    let tasks = book
        .at(now)
        .rules
        .iter()
        .filter(|r| r.active)
        .filter_map(|r| r.task.as_ref().map(|t| (r, t)))
        .map(|(rule, task)| {
            let (times, last) = credits.get(&rule.id).copied().unwrap_or((0, 0));
            let once = rule.limits.per_member == Some(1);
            TaskView {
                rule_id: rule.id.clone(),
                title: task.title.clone(),
                description: task.description.clone(),
                trigger: rule.trigger.clone(),
                reward: reward(rule),
                once,
                status: if once && times > 0 { "done" } else { "open" }.into(),
                times_done: times,
                last_done_at: (times > 0).then(|| to_rfc3339(last)),
                progress: progress(rule, member, &best, day_number(now)),
            }
        })
        .collect();
    Ok(TaskList {
        member_id: member.id,
        tasks,
    })
}

/// A member's tasks: what each pays, whether it is done, and progress
///
/// The earning rules in force that carry a `task`, in their order. A once-only task
/// (`limits.per_member: 1`) is `done` once it has paid; a streak shows the days in a
/// row so far (0 when broken), a profile task the fields filled, a share milestone the
/// most its measure reached on one of the member's links.
#[utoipa::path(get, path = "/v1/members/{id}/tasks", tag = "points",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = TaskList), (status = 404, description = "member_not_found"),
        (status = 400, description = "invalid_member_id")),
    security(("bearer" = [])))]
pub async fn member_tasks(
    _caller: Allowed<need::ReadPoints>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<TaskList>, ApiError> {
    let id = member_id(&raw)?;
    let member =
        state.store.member(id).await?.ok_or_else(|| {
            ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}"))
        })?;
    Ok(Json(tasks_of(&state, &member).await?))
}
