//! What a member does from their own card page (issue 22): RSVP to an activity, check
//! in to a challenge for the day, send an idea to the co-creation board. Each is a form
//! posted to the card's signed link — the link is the member's authority here, as it is
//! for reading the card — and goes through the same function as the API, then back to
//! the card with a note of what happened (post, redirect, get: a reload sends nothing
//! twice).

use super::page::PageError;
use crate::error::ApiError;
use crate::routes::{activities, ideas};
use crate::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use flywheel_core::ErrorCode;
use flywheel_core::ingest::MemberId;
use flywheel_core::time::Micros;
use flywheel_store::{ActivityRow, DOORS_OPEN_BEFORE, RsvpRow};
use serde::Deserialize;

/// How many upcoming activities the card lists.
const ACTIVITIES_SHOWN: usize = 8;

/// An activity as the member sees it on their card.
pub(super) struct CardActivity {
    pub id: String,
    pub name: String,
    /// When it starts, as the card shows it.
    pub starts: String,
    pub where_: Option<String>,
    pub description: Option<String>,
    /// "Free", "120 points", "¥ 80.00 at the door", or both.
    pub cost: String,
    /// "3 seats left" when the activity has a capacity.
    pub seats_left: Option<String>,
    pub full: bool,
    pub challenge_days: Option<u32>,
    pub rsvp: Option<RsvpRow>,
    /// The member may check in now (a challenge under way, not yet completed).
    pub can_check_in: bool,
}

fn cost_of(a: &ActivityRow) -> String {
    let mut parts = Vec::new();
    if a.activity.cost_points > 0 {
        parts.push(format!("{} points", a.activity.cost_points));
    }
    if let Some(cash) = &a.activity.cost_cash {
        parts.push(format!("{cash} at the door"));
    }
    if parts.is_empty() {
        "Free".into()
    } else {
        parts.join(" + ")
    }
}

/// The open activities not yet over that the member has an RSVP for or may join, the
/// soonest first.
pub(super) async fn activities_for(
    state: &AppState,
    member: MemberId,
    now: Micros,
) -> Result<Vec<CardActivity>, ApiError> {
    let language = state.policy.language();
    let mut out = Vec::new();
    let mut rows = state.store.activities().await?;
    rows.retain(|a| a.ends_at > now);
    rows.sort_by_key(|a| a.starts_at);
    for a in rows {
        if out.len() == ACTIVITIES_SHOWN {
            break;
        }
        let rsvp = state
            .store
            .rsvp_of(&a.id, member)
            .await?
            .filter(|r| r.status != "cancelled");
        if a.activity.status != "open" && rsvp.is_none() {
            continue;
        }
        if rsvp.is_none()
            && let Some(rule) = &a.activity.eligibility
        {
            let Ok(cond) = flywheel_core::segment::compile(rule, &language) else {
                continue;
            };
            if !state.store.member_matches(&cond, member, now).await? {
                continue;
            }
        }
        let seated = rsvp.as_ref().is_none_or(|r| r.status == "confirmed");
        let can_check_in = a.activity.challenge.is_some()
            && a.activity.status == "open"
            && now >= a.starts_at - DOORS_OPEN_BEFORE
            && seated
            && rsvp.as_ref().is_none_or(|r| r.completed_at.is_none());
        let left = a
            .activity
            .capacity
            .map(|c| (i64::from(c) - a.confirmed).max(0));
        out.push(CardActivity {
            cost: cost_of(&a),
            seats_left: left.map(|n| match n {
                1 => "1 seat left".to_owned(),
                n => format!("{n} seats left"),
            }),
            full: left == Some(0),
            challenge_days: a.activity.challenge.as_ref().map(|c| c.days),
            where_: a.activity.place.clone().or(a.activity.link.clone()),
            description: a.activity.description.clone(),
            name: a.activity.name.clone(),
            id: a.id,
            starts: super::page::when(&flywheel_core::time::to_rfc3339(a.starts_at)),
            rsvp,
            can_check_in,
        });
    }
    Ok(out)
}

/// What the card says after an action: a note of ours, or an error code's plain words.
pub(super) fn note_text(note: &str) -> Option<&'static str> {
    Some(match note {
        "rsvp-confirmed" => "You have a seat. See you there!",
        "rsvp-waitlisted" => "It is full for now: you are in line, and get the next free seat.",
        "checked-in" => "Checked in for today.",
        "completed" => "Challenge complete — well done! Your reward is on its way.",
        "idea-sent" => "Thank you! Your idea is on our board; you will hear how it goes.",
        "not_eligible" => "This one is for a different group of members.",
        "activity_full" => "It is full.",
        "activity_closed" => "This is closed now.",
        "insufficient_points" => "You do not have enough points for this one.",
        "invalid_value" | "missing_field" | "too_long" => {
            "Please write your idea (up to 4,000 characters)."
        }
        _ => return None,
    })
}

fn back(token: &str, note: &str) -> Response {
    Redirect::to(&format!("/card/{token}?note={note}#card-note")).into_response()
}

/// The card again with an error's code, or the error itself when the card could not
/// have caused it.
fn back_with(token: &str, e: ApiError) -> Result<Response, PageError> {
    let code = e.code.as_str();
    if note_text(code).is_some() {
        Ok(back(token, code))
    } else {
        Err(e.into())
    }
}

async fn activity(state: &AppState, id: &str) -> Result<ActivityRow, PageError> {
    Ok(activities::activity_row(state, id).await?)
}

/// `POST /card/{token}/activities/{id}/rsvp`
pub(super) async fn rsvp(
    State(state): State<AppState>,
    Path((token, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let member = super::card_link::verify(&state, &token).await?;
    let a = activity(&state, &id).await?;
    match activities::make_rsvp(&state, &a, member, "card").await {
        Ok(r) if r.status == "waitlisted" => Ok(back(&token, "rsvp-waitlisted")),
        Ok(_) => Ok(back(&token, "rsvp-confirmed")),
        Err(e) => back_with(&token, e),
    }
}

/// `POST /card/{token}/activities/{id}/check-in`: a challenge's check-in for the day.
/// (At an activity with a place, staff check members in at the door by their card.)
pub(super) async fn check_in(
    State(state): State<AppState>,
    Path((token, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let member = super::card_link::verify(&state, &token).await?;
    let a = activity(&state, &id).await?;
    if a.activity.challenge.is_none() {
        return back_with(
            &token,
            ApiError::new(
                ErrorCode::ActivityClosed,
                "check in at the door with your card code",
            ),
        );
    }
    let actor = flywheel_store::AuditActor {
        reference: format!("member:{member}"),
        key_id: None,
        name: "member card".into(),
    };
    match activities::do_check_in(&state, &a, member, actor).await {
        Ok(done) if done.completed => Ok(back(&token, "completed")),
        Ok(_) => Ok(back(&token, "checked-in")),
        Err(e) => back_with(&token, e),
    }
}

#[derive(Deserialize)]
pub(super) struct IdeaForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    category: String,
    /// Rendered into the form, so sending the same form twice files one idea.
    #[serde(default)]
    key: String,
}

/// `POST /card/{token}/ideas`
pub(super) async fn send_idea(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form: Result<Form<IdeaForm>, FormRejection>,
) -> Result<Response, PageError> {
    let member = super::card_link::verify(&state, &token).await?;
    let Form(form) = form?;
    let category = Some(form.category.trim()).filter(|c| !c.is_empty());
    // The page renders a short hex key; anything else (a hand-made post) gets a fresh one.
    let rendered = form.key.trim();
    let key = if (1..=32).contains(&rendered.len())
        && rendered.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        format!("card-{member}-{rendered}")
    } else {
        format!("card-{member}-{:x}", state.now())
    };
    match ideas::suggest(&state, member, &form.text, category, &key, "card").await {
        Ok(_) => Ok(back(&token, "idea-sent")),
        Err(e) => back_with(&token, e),
    }
}
