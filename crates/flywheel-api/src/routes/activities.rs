//! Activities (issue 22): `PUT /v1/activities/{id}` defines one (audited); RSVPs from
//! the API or the member card take a seat or a place in line (eligibility checked as a
//! segment expression, a points cost paid with the seat); `POST …/check-ins` takes the
//! member's card code at the door and sends a `participation` event of the activity's
//! kind — once — and, for a challenge, records the day and rewards a completed run of
//! days; `POST …/invitations` invites a saved segment through a campaign; the report
//! counts invitations, RSVPs, attendance, no-shows, new members and the attendees'
//! stage movement 30 days on.

use crate::activity_views::{
    ActivitiesView, ActivityDefinition, ActivityInput, ActivityReportView, ActivityView,
    CancelledView, ChallengeInput, CheckInInput, CheckInView, InvitationInput, InvitationView,
    RsvpInput, RsvpView, RsvpsView, StageMoveView,
};
use crate::auth::{Allowed, need};
use crate::body::{JsonValue, SMALL, typed};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use flywheel_core::activity::{Activity, Challenge};
use flywheel_core::membership::card::is_card_number;
use flywheel_core::time::{DAY, parse_rfc3339, to_rfc3339};
use flywheel_core::{Channel, ErrorCode};
use flywheel_store::{ActivityRow, AdjustRequest, PutCampaign, RsvpRow};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/activities", get(list_activities))
        .route("/v1/activities/{id}", get(get_activity).put(put_activity))
        .route("/v1/activities/{id}/report", get(report))
        .route("/v1/activities/{id}/invitations", post(invite))
        .route("/v1/activities/{id}/rsvps", get(list_rsvps).post(rsvp))
        .route("/v1/activities/{id}/rsvps/{member_id}", delete(cancel_rsvp))
        .route("/v1/activities/{id}/check-ins", post(check_in))
}

fn definition_of(a: &Activity) -> ActivityDefinition {
    ActivityDefinition {
        name: a.name.clone(),
        kind: a.kind.clone(),
        description: a.description.clone(),
        starts_at: a.starts_at.clone(),
        ends_at: a.ends_at.clone(),
        place: a.place.clone(),
        link: a.link.clone(),
        capacity: a.capacity,
        cost_points: a.cost_points,
        cost_cash: a.cost_cash.clone(),
        eligibility: a.eligibility.clone(),
        challenge: a.challenge.as_ref().map(|c| ChallengeInput {
            days: c.days,
            reward_points: c.reward_points,
            badge: c.badge.clone(),
        }),
        status: a.status.clone(),
    }
}

pub(crate) fn view(a: ActivityRow) -> ActivityView {
    ActivityView {
        seats_left: a
            .activity
            .capacity
            .map(|c| (i64::from(c) - a.confirmed).max(0)),
        activity: definition_of(&a.activity),
        id: a.id,
        confirmed: a.confirmed,
        waitlisted: a.waitlisted,
        attended: a.attended,
        updated_at: to_rfc3339(a.updated_at),
        updated_by: a.updated_by,
    }
}

pub(crate) fn rsvp_view(r: RsvpRow) -> RsvpView {
    RsvpView {
        activity_id: r.activity_id,
        member_id: r.member_id,
        status: r.status,
        via: r.via,
        rsvp_at: to_rfc3339(r.rsvp_at),
        position: r.position,
        points_paid: r.points_paid,
        attended_at: r.attended_at.map(to_rfc3339),
        completed_at: r.completed_at.map(to_rfc3339),
    }
}

fn check_id(id: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidValue,
            "an activity id is 1 to 64 lower-case letters, digits, '-' and '_'",
        )
        .field("id"))
    }
}

pub(crate) async fn activity_row(state: &AppState, id: &str) -> Result<ActivityRow, ApiError> {
    state.store.activity(id).await?.ok_or_else(|| {
        ApiError::not_found(ErrorCode::ActivityNotFound, format!("no activity {id:?}"))
    })
}

/// Define an activity
///
/// Creates the activity or replaces its definition (RSVPs and check-ins stay);
/// audited. `status: cancelled` stops RSVPs and check-ins.
#[utoipa::path(put, path = "/v1/activities/{id}", tag = "activities",
    params(("id" = String, Path, description = "Lower-case letters, digits, '-' and '_'")),
    request_body(content = ActivityInput),
    responses((status = 201, body = ActivityView, description = "Created"),
        (status = 200, body = ActivityView, description = "Replaced, or unchanged"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn put_activity(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<ActivityView>), ApiError> {
    check_id(&id)?;
    let input: ActivityInput = typed(body)?;
    let mut activity = Activity {
        name: input.name,
        kind: input.kind,
        description: input.description,
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        place: input.place,
        link: input.link,
        capacity: input.capacity,
        cost_points: input.cost_points,
        cost_cash: input.cost_cash,
        eligibility: input.eligibility,
        challenge: input.challenge.map(|c| Challenge {
            days: c.days,
            reward_points: c.reward_points,
            badge: c.badge,
        }),
        status: input.status.unwrap_or_else(|| "open".into()),
    };
    let window = activity.check(&state.policy.language())?;
    let created = state
        .store
        .save_activity(&id, &activity, window, &caller.audit_actor(), state.now())
        .await?;
    let row = activity_row(&state, &id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(row))))
}

/// Activities
///
/// Every activity (up to 1,000), the soonest first, with RSVPs counted.
#[utoipa::path(get, path = "/v1/activities", tag = "activities",
    responses((status = 200, body = ActivitiesView)),
    security(("bearer" = [])))]
pub async fn list_activities(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
) -> Result<Json<ActivitiesView>, ApiError> {
    let rows = state.store.activities().await?;
    Ok(Json(ActivitiesView {
        activities: rows.into_iter().map(view).collect(),
    }))
}

/// An activity
#[utoipa::path(get, path = "/v1/activities/{id}", tag = "activities",
    params(("id" = String, Path, description = "Activity id")),
    responses((status = 200, body = ActivityView),
        (status = 404, description = "activity_not_found")),
    security(("bearer" = [])))]
pub async fn get_activity(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ActivityView>, ApiError> {
    Ok(Json(view(activity_row(&state, &id).await?)))
}

/// The invitation campaign's id for an activity.
pub(crate) fn campaign_id(activity: &str) -> String {
    format!("activity-{activity}")
}

/// An activity's report
///
/// Invited (the invitation campaign's members), RSVPs by status, attended, no-shows
/// (confirmed, never checked in, the activity over), challenges completed, new members
/// (created after the activity was announced) and the attendees' stage then against
/// now — final 30 days after the end.
#[utoipa::path(get, path = "/v1/activities/{id}/report", tag = "activities",
    params(("id" = String, Path, description = "Activity id")),
    responses((status = 200, body = ActivityReportView),
        (status = 404, description = "activity_not_found")),
    security(("bearer" = [])))]
pub async fn report(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ActivityReportView>, ApiError> {
    let a = activity_row(&state, &id).await?;
    Ok(Json(report_view(&state, &a).await?))
}

pub(crate) async fn report_view(
    state: &AppState,
    a: &ActivityRow,
) -> Result<ActivityReportView, ApiError> {
    let r = state.store.activity_report(a, state.now()).await?;
    let invited = state
        .store
        .campaign_results(&campaign_id(&a.id), 30)
        .await?
        .iter()
        .map(|v| v.members)
        .sum();
    Ok(ActivityReportView {
        activity_id: a.id.clone(),
        invited,
        confirmed: r.confirmed,
        waitlisted: r.waitlisted,
        cancelled: r.cancelled,
        attended: r.attended,
        no_shows: r.no_shows,
        completed: r.completed,
        new_members: r.new_members,
        moved_up: r.moved_up,
        moved_down: r.moved_down,
        movement: r
            .movement
            .into_iter()
            .map(|(from, to, members)| StageMoveView { from, to, members })
            .collect(),
        movement_final_at: to_rfc3339(a.ends_at + flywheel_store::MOVEMENT_DAYS * DAY),
        movement_final: r.movement_final,
    })
}

/// Invite a segment
///
/// Saves the campaign `activity-<id>`: the content sent to the saved segment's members
/// through the outbox at `send_at`, with consent, caps and quiet hours as any campaign.
/// Inviting again replaces it.
#[utoipa::path(post, path = "/v1/activities/{id}/invitations", tag = "activities",
    params(("id" = String, Path, description = "Activity id")),
    request_body(content = InvitationInput),
    responses((status = 201, body = InvitationView),
        (status = 404, description = "activity_not_found, segment_not_found or content_not_found"),
        (status = 409, description = "activity_closed: cancelled or over"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn invite(
    caller: Allowed<need::ManageMarketing>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<(StatusCode, Json<InvitationView>), ApiError> {
    let input: InvitationInput = typed(body)?;
    let a = activity_row(&state, &id).await?;
    let now = state.now();
    if a.activity.status != "open" || now >= a.ends_at {
        return Err(ApiError::new(
            ErrorCode::ActivityClosed,
            format!("{} is cancelled or over", a.activity.name),
        ));
    }
    let send_at = match &input.send_at {
        Some(t) => parse_rfc3339(t).ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidValue, "send_at is an RFC 3339 instant")
                .field("send_at")
        })?,
        None => now,
    };
    if state.store.segment(&input.segment).await?.is_none() {
        return Err(ApiError::not_found(
            ErrorCode::SegmentNotFound,
            format!("no segment {:?}", input.segment),
        )
        .field("segment"));
    }
    if !state
        .store
        .contents()
        .await?
        .iter()
        .any(|c| c.id == input.content)
    {
        return Err(ApiError::not_found(
            ErrorCode::ContentNotFound,
            format!("no content {:?}", input.content),
        )
        .field("content"));
    }
    let campaign = campaign_id(&a.id);
    let def = PutCampaign {
        id: campaign.clone(),
        name: format!("Invitation: {}", a.activity.name),
        status: "scheduled".into(),
        definition: json!({"segment": input.segment, "send_at": to_rfc3339(send_at),
            "content": input.content}),
    };
    state
        .store
        .save_campaign(&def, false, &caller.audit_actor(), now)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationView {
            activity_id: a.id,
            campaign_id: campaign,
            send_at: to_rfc3339(send_at),
        }),
    ))
}

/// RSVPs
///
/// Every RSVP to the activity in the order they came, with places in line.
#[utoipa::path(get, path = "/v1/activities/{id}/rsvps", tag = "activities",
    params(("id" = String, Path, description = "Activity id")),
    responses((status = 200, body = RsvpsView),
        (status = 404, description = "activity_not_found")),
    security(("bearer" = [])))]
pub async fn list_rsvps(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RsvpsView>, ApiError> {
    let a = activity_row(&state, &id).await?;
    let rows = state.store.activity_rsvps(&a.id).await?;
    Ok(Json(RsvpsView {
        activity_id: a.id,
        rsvps: rows.into_iter().map(rsvp_view).collect(),
    }))
}

/// RSVPs `member` through `via` (api | card): eligibility first, then a seat or a
/// place in line. The API's and the member card's.
pub(crate) async fn make_rsvp(
    state: &AppState,
    a: &ActivityRow,
    member: i64,
    via: &str,
) -> Result<RsvpRow, ApiError> {
    let now = state.now();
    if let Some(rule) = &a.activity.eligibility {
        let cond = flywheel_core::segment::compile(rule, &state.policy.language())
            .map_err(|e| ApiError::internal(format!("the stored eligibility: {e}")))?;
        let survivor = state
            .store
            .member_brief(member)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {member}"))
                    .field("member_id")
            })?
            .member_id;
        if !state.store.member_matches(&cond, survivor, now).await? {
            return Err(ApiError::new(
                ErrorCode::NotEligible,
                format!("{} is for members where {rule}", a.activity.name),
            )
            .field("member_id"));
        }
    }
    Ok(state
        .store
        .rsvp(
            &a.id,
            member,
            via,
            state.policy.points.default_programme(),
            now,
        )
        .await?)
}

/// RSVP
///
/// A seat when one is free (its points cost paid from the member's wallet), else a
/// place in line. Asking again answers the RSVP as it stands.
#[utoipa::path(post, path = "/v1/activities/{id}/rsvps", tag = "activities",
    params(("id" = String, Path, description = "Activity id")),
    request_body(content = RsvpInput),
    responses((status = 200, body = RsvpView),
        (status = 404, description = "activity_not_found or member_not_found"),
        (status = 409, description = "not_eligible, activity_closed, insufficient_points, member_erased"),
        (status = 422, description = "A field that does not check, named")),
    security(("bearer" = [])))]
pub async fn rsvp(
    _caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<RsvpView>, ApiError> {
    let input: RsvpInput = typed(body)?;
    let a = activity_row(&state, &id).await?;
    Ok(Json(rsvp_view(
        make_rsvp(&state, &a, input.member_id, "api").await?,
    )))
}

/// Cancel an RSVP
///
/// Points paid come back if the activity has not started; the seat goes to the first
/// in line who can pay for it. Cancelling again changes nothing.
#[utoipa::path(delete, path = "/v1/activities/{id}/rsvps/{member_id}", tag = "activities",
    params(("id" = String, Path, description = "Activity id"),
           ("member_id" = i64, Path, description = "Member id")),
    responses((status = 200, body = CancelledView),
        (status = 400, description = "invalid_member_id"),
        (status = 404, description = "activity_not_found: no such activity, or no RSVP; member_not_found"),
        (status = 409, description = "activity_closed: the member has checked in")),
    security(("bearer" = [])))]
pub async fn cancel_rsvp(
    _caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    Path((id, member)): Path<(String, String)>,
) -> Result<Json<CancelledView>, ApiError> {
    let member = super::member_id(&member)?;
    let a = activity_row(&state, &id).await?;
    let seated = state
        .store
        .cancel_rsvp(
            &a.id,
            member,
            state.policy.points.default_programme(),
            state.now(),
        )
        .await?;
    Ok(Json(CancelledView {
        activity_id: a.id,
        member_id: member,
        seated,
    }))
}

/// The member a check-in names: by card code (its check digit verified) or id.
pub(crate) fn who(input: &CheckInInput) -> Result<i64, ApiError> {
    match (&input.card_code, input.member_id) {
        (Some(code), None) => {
            let code = code.trim();
            if !is_card_number(code) {
                return Err(ApiError::new(
                    ErrorCode::InvalidValue,
                    "card_code is not a member card number (11 digits with a check digit)",
                )
                .field("card_code"));
            }
            code[..code.len() - 1].parse::<i64>().map_err(|_| {
                ApiError::new(ErrorCode::InvalidValue, "card_code is out of range")
                    .field("card_code")
            })
        }
        (None, Some(id)) => Ok(id),
        _ => Err(ApiError::new(
            ErrorCode::MissingField,
            "give card_code (from the member card) or member_id, one of the two",
        )
        .field("card_code")),
    }
}

/// The brand's channel for an activity's events: the store for one with a place, the
/// web for an online one, when the brand lists them.
fn channel_for(state: &AppState, a: &Activity) -> String {
    let wanted = if a.place.is_some() { "store" } else { "web" };
    let list = &state.policy.channels;
    Channel::find(list, wanted)
        .or_else(|| list.first().copied())
        .map_or_else(|| wanted.to_owned(), |c| c.as_str().to_owned())
}

/// Checks a member in (the API's and the member card's): the store's record, then the
/// participation event (once: keyed by activity and member) and a completed
/// challenge's points (once: keyed likewise).
pub(crate) async fn do_check_in(
    state: &AppState,
    a: &ActivityRow,
    member: i64,
    actor: flywheel_store::AuditActor,
) -> Result<CheckInView, ApiError> {
    let now = state.now();
    let done = state
        .store
        .check_in(&a.id, member, state.policy.points.default_programme(), now)
        .await?;
    let member = done.member_id;
    let (kind, value) = state.store.member_handle(member).await?.ok_or_else(|| {
        ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {member}"))
    })?;
    // A challenge counts as a participation when completed; anything else at the door.
    let event_id = format!("activity:{}:{member}", a.id);
    let participates = match &a.activity.challenge {
        None => true,
        Some(_) => done.completed,
    };
    if participates {
        let raw = json!({"event_id": event_id, "type": "participation",
            "occurred_at": to_rfc3339(now), "channel": channel_for(state, &a.activity),
            "identities": {kind.clone(): value.clone()},
            "properties": {"kind": a.activity.kind, "activity_id": a.id}});
        super::tickets::send_event(state, raw).await?;
    }
    let mut reward_ledger_key = None;
    if let Some(challenge) = &a.activity.challenge {
        // Each day's check-in is the member's check_in too (facts' streak).
        let day = flywheel_core::activity::check_in_day(now);
        let raw = json!({"event_id": format!("activity:{}:{member}:day:{day}", a.id),
            "type": "check_in", "occurred_at": to_rfc3339(now),
            "channel": channel_for(state, &a.activity), "identities": {kind: value},
            "properties": {"activity_id": a.id}});
        super::tickets::send_event(state, raw).await?;
        if done.completed && challenge.reward_points > 0 {
            let req = AdjustRequest {
                member_id: member,
                points: challenge.reward_points,
                reason: format!(
                    "completed {}: {} days in a row",
                    a.activity.name, challenge.days
                ),
                programme: state.policy.points.default_programme().to_owned(),
                idempotency_key: format!("activity:{}:{member}:reward", a.id),
                actor,
            };
            let (key, _) = state
                .store
                .adjust_points(&req, &state.policy.points, now)
                .await?;
            reward_ledger_key = Some(key);
        }
    }
    Ok(CheckInView {
        activity_id: a.id.clone(),
        member_id: member,
        event_id,
        first: done.first,
        streak: done.streak,
        completed: done.completed,
        reward_ledger_key,
    })
}

/// Check a member in
///
/// At the door by the code on their member card (or their id): from two hours before
/// the start to the end; a member without an RSVP takes a free seat. The first check-in
/// sends a `participation` event of the activity's kind. A challenge is checked in once
/// a day; when the days in a row reach its target the member completes it — a
/// participation, its points and its badge, once.
#[utoipa::path(post, path = "/v1/activities/{id}/check-ins", tag = "activities",
    params(("id" = String, Path, description = "Activity id")),
    request_body(content = CheckInInput),
    responses((status = 200, body = CheckInView),
        (status = 404, description = "activity_not_found or member_not_found"),
        (status = 409, description = "activity_closed (cancelled, or outside its hours), activity_full, insufficient_points, member_erased"),
        (status = 422, description = "card_code not a card number, or neither card_code nor member_id")),
    security(("bearer" = [])))]
pub async fn check_in(
    caller: Allowed<need::HandleTickets>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonValue(body): JsonValue<SMALL>,
) -> Result<Json<CheckInView>, ApiError> {
    let input: CheckInInput = typed(body)?;
    let member = who(&input)?;
    let a = activity_row(&state, &id).await?;
    Ok(Json(
        do_check_in(&state, &a, member, caller.audit_actor()).await?,
    ))
}
