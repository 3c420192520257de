//! Recording the triggers that start journeys, in the transaction (or the written-behind
//! plan) of what caused them: an event, a stage change, a segment entry or exit. Each
//! becomes a `journey_runs` row keyed by (journey, member, cause) and inserted with
//! `ON CONFLICT DO NOTHING`, so a retried event, a replayed log or a second sweep never
//! starts a journey twice. The runner (`runner.rs`) admits the row under the journey's
//! re-entry policy.

use super::journeys::{JourneyBook, Watched};
use crate::error::StoreError;
use crate::plan::Writes;
use crate::segments::live::{ExtrasFor, extras_for};
use crate::sql::Val;
use flywheel_core::engagement::journey::Trigger;
use flywheel_core::ingest::{MemberId, MemberState, Transition};
use flywheel_core::segment::{Cond, MemberView};
use flywheel_core::time::Micros;
use sqlx::AnyConnection;

const RUN: &str = "INSERT INTO journey_runs (journey_id, version, member_id, cause, triggered_at, \
     status, pc, entered_at, next_at, lease_until, reason, updated_at)";
const RUN_TAIL: &str = "ON CONFLICT (journey_id, member_id, cause) DO NOTHING";

fn run_row(j: &Watched, member: MemberId, cause: String, at: Micros) -> Vec<Val> {
    vec![
        j.id.as_str().into(),
        Val::Int(j.version),
        Val::Int(member),
        cause.into(),
        Val::Int(at),
        "triggered".into(),
        Val::Int(0),
        Val::OptInt(None),
        Val::Int(at),
        Val::OptInt(None),
        Val::OptText(None),
        Val::Int(at),
    ]
}

/// Plans a run for each stage journey a transition starts.
pub(crate) fn plan_stage_triggers(w: &mut Writes, book: &JourneyBook, transitions: &[Transition]) {
    if book.on_stage.is_empty() {
        return;
    }
    let mut rows = Vec::new();
    for t in transitions {
        for j in book.for_stage() {
            if t.at >= j.active_since && j.journey.trigger.matches_stage(t.from, t.to) {
                let cause = format!(
                    "stage:{}:{}:{}>{}",
                    t.at,
                    t.member_id,
                    t.from.as_str(),
                    t.to.as_str()
                );
                rows.push(run_row(j, t.member_id, cause, t.at));
            }
        }
    }
    w.rows(RUN, rows, RUN_TAIL);
}

/// The runs a tier change starts, for [`plan_runs`].
pub(crate) fn tier_trigger_rows(
    book: &JourneyBook,
    member: MemberId,
    programme: &str,
    from: Option<&str>,
    to: Option<&str>,
    at: Micros,
) -> Vec<Vec<Val>> {
    book.for_tier()
        .filter(|j| at >= j.active_since && j.journey.trigger.matches_tier(programme, from, to))
        .map(|j| {
            let cause = format!(
                "tier:{programme}:{at}:{}>{}",
                from.unwrap_or("none"),
                to.unwrap_or("none")
            );
            run_row(j, member, cause, at)
        })
        .collect()
}

/// Writes the runs a tier change made outside ingest starts, now.
pub(crate) async fn write_runs(
    conn: &mut AnyConnection,
    rows: Vec<Vec<Val>>,
) -> Result<(), StoreError> {
    let mut w = Writes::default();
    plan_runs(&mut w, rows);
    Ok(w.run(conn).await?)
}

/// The runs a ticket of `member` in `queue` reaching `moment` starts, for
/// [`plan_runs`]; `ticket` names the ticket in the cause (its id, or its source while
/// it has none).
pub(crate) fn ticket_trigger_rows(
    book: &JourneyBook,
    member: MemberId,
    moment: flywheel_core::engagement::journey::TicketMoment,
    queue: Option<&str>,
    ticket: &str,
    at: Micros,
) -> Vec<Vec<Val>> {
    book.for_ticket()
        .filter(|j| at >= j.active_since && j.journey.trigger.matches_ticket(moment, queue))
        .map(|j| {
            let cause = format!("ticket:{ticket}:{}", moment.as_str());
            run_row(j, member, cause, at)
        })
        .collect()
}

/// The runs a care moment of `kind` starts (`key` tells one day's moment from the
/// next), for [`plan_runs`].
pub(crate) fn care_trigger_rows(
    book: &JourneyBook,
    member: MemberId,
    kind: &str,
    key: &str,
    at: Micros,
) -> Vec<Vec<Val>> {
    book.for_care()
        .filter(|j| at >= j.active_since && j.journey.trigger.matches_care(kind))
        .map(|j| run_row(j, member, format!("care:{kind}:{key}"), at))
        .collect()
}

/// The runs a segment entry (or exit) starts, for [`plan_runs`].
pub(crate) fn segment_trigger_rows(
    book: &JourneyBook,
    segment: &str,
    member: MemberId,
    entered: bool,
    at: Micros,
) -> impl Iterator<Item = Vec<Val>> {
    book.for_segment(segment, entered)
        .filter(move |j| at >= j.active_since)
        .map(move |j| {
            let cause = format!(
                "segment:{segment}:{}:{at}",
                if entered { "enter" } else { "exit" }
            );
            run_row(j, member, cause, at)
        })
}

/// Plans runs made by [`segment_trigger_rows`].
pub(crate) fn plan_runs(w: &mut Writes, rows: Vec<Vec<Val>>) {
    w.rows(RUN, rows, RUN_TAIL);
}

/// A member just after an event of a watched type, as the event left it.
pub(crate) struct AfterEvent {
    pub event_id: String,
    pub event_type: String,
    pub member: MemberState,
    pub at: Micros,
}

/// Plans a run for each event journey whose condition held for the member just after
/// the event. What the condition reads beyond the member's own row (tags, points,
/// tiers, scores, segments) is read as the database has it.
pub(crate) async fn plan_event_triggers(
    conn: &mut AnyConnection,
    book: &JourneyBook,
    ctx: &ExtrasFor<'_>,
    after: &[AfterEvent],
    w: &mut Writes,
) -> Result<(), StoreError> {
    if after.is_empty() {
        return Ok(());
    }
    let conds: Vec<&Cond> = after
        .iter()
        .flat_map(|a| book.for_event(&a.event_type))
        .filter_map(|j| match &j.journey.trigger {
            Trigger::Event { when, .. } => when.as_ref(),
            _ => None,
        })
        .collect();
    let ids: Vec<MemberId> = after.iter().map(|a| a.member.id).collect();
    let extras = extras_for(conn, ctx, &conds, &ids).await?;
    let lang = book
        .lang
        .clone()
        .unwrap_or_else(|| flywheel_core::segment::Language::new(365));
    let mut rows = Vec::new();
    for a in after {
        let m = &a.member;
        let none = Default::default();
        let view = MemberView {
            created_at: m.created_at,
            stage: m.stage,
            lens: m.lens,
            facts: &m.facts,
            profile: &m.profile,
            extras: extras.get(&m.id).unwrap_or(&none),
        };
        for j in book.for_event(&a.event_type) {
            if a.at < j.active_since {
                continue;
            }
            let holds = match &j.journey.trigger {
                Trigger::Event { when: Some(c), .. } => c.holds(&view, a.at, &lang),
                _ => true,
            };
            if holds {
                rows.push(run_row(j, m.id, format!("event:{}", a.event_id), a.at));
            }
        }
    }
    w.rows(RUN, rows, RUN_TAIL);
    Ok(())
}
