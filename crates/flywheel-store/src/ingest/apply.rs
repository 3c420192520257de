//! Applying a batch: each event never seen before goes through the core's processor,
//! at the clock the batch is applied at, onto the working set loaded for it.

use super::{AsOf, EventResult};
use crate::engagement::journeys::JourneyBook;
use crate::engagement::triggers::AfterEvent;
use flywheel_core::event::Event;
use flywheel_core::ingest::{Changes, MemberId, Rules, WorkingSet};
use flywheel_core::time::Micros;

/// What applying a batch's fresh events made.
pub(super) struct Applied {
    pub changes: Changes,
    /// The accepted events' positions and the members they landed on, in order.
    pub accepted: Vec<(usize, MemberId)>,
    /// The clock each accepted event was applied at.
    pub clocks: Vec<Micros>,
    /// The last clock an event was applied at: the batch's rows carry it.
    pub clock: Micros,
    /// Members as each event of a type a journey watches left them.
    pub after_watched: Vec<AfterEvent>,
}

/// Applies `events[i]` for each `i` in `fresh`, recording each one's answer in `results`.
pub(super) fn apply_fresh(
    ws: &mut WorkingSet,
    events: &[Event],
    fresh: &[usize],
    rules: &Rules<'_>,
    as_of: AsOf,
    results: &mut [Option<EventResult>],
    watched: &JourneyBook,
) -> Applied {
    let mut changes = Changes::default();
    let mut clock = match as_of {
        AsOf::At(t) => t,
        AsOf::EventTime(not_before) => not_before,
    };
    let mut accepted: Vec<(usize, MemberId)> = Vec::with_capacity(fresh.len());
    let mut clocks: Vec<Micros> = Vec::with_capacity(fresh.len());
    let mut after_watched = Vec::new();
    for &i in fresh {
        let event = &events[i];
        if let AsOf::EventTime(_) = as_of {
            clock = clock.max(event.occurred_at);
        }
        match ws.apply(event, rules, clock, &mut changes) {
            Ok(outcome) => {
                // A journey's condition is read as this event left the member, not as
                // the batch does: the third purchase of five in one import is the third.
                if watched.by_event.contains_key(&event.type_name)
                    && let Some(m) = ws.member(outcome.member_id)
                {
                    after_watched.push(AfterEvent {
                        event_id: event.event_id.clone(),
                        event_type: event.type_name.clone(),
                        member: m.clone(),
                        at: clock,
                    });
                }
                accepted.push((i, outcome.member_id));
                clocks.push(clock);
                results[i] = Some(EventResult::Accepted(outcome));
            }
            Err(rejection) => results[i] = Some(EventResult::Rejected(rejection)),
        }
    }
    Applied {
        changes,
        accepted,
        clocks,
        clock,
        after_watched,
    }
}
