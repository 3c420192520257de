//! Points for a batch the processor has applied: which events earn, merged members'
//! points moved to their survivors, refunds reconciled, converted referrals paid — and
//! what of the ledger the store must load for that. The store loads a [`Book`] as these
//! functions say, calls [`earn_batch`], and writes the book back, in the batch's
//! transaction.

use super::{Changes, Conversion, MadeBy, MemberId, WorkingSet};
use crate::event::{Event, Payload};
use crate::limits::Limits;
use crate::points::earn::periods;
use crate::points::rules::REFERRAL_CONVERTED;
use crate::points::{Book, Earning, PointsPolicy, RuleBook, Trigger};
use crate::stage::Stage;
use crate::time::Micros;
use std::collections::BTreeSet;

/// One accepted event, the member it landed on and the instant it was applied at.
#[derive(Clone, Copy, Debug)]
pub struct Accepted<'a> {
    pub event: &'a Event,
    pub member_id: MemberId,
    pub as_of: Micros,
}

/// What the processor made of a batch.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    pub ws: &'a WorkingSet,
    pub changes: &'a Changes,
    pub accepted: &'a [Accepted<'a>],
}

impl Batch<'_> {
    /// Nothing in the batch can touch points.
    pub fn earns_nothing(&self) -> bool {
        self.accepted.is_empty() && self.changes.merges.is_empty()
    }

    /// The orders whose points the batch can earn or reverse.
    pub fn orders(&self) -> BTreeSet<&str> {
        self.accepted
            .iter()
            .filter_map(|a| match &a.event.payload {
                Payload::Purchase(p) => Some(p.order_id.as_str()),
                Payload::Refund { order_id, .. } => Some(order_id.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The latest instant the batch applies anything at: lots due by then are the only
    /// ones earning can touch.
    pub fn horizon(&self, or: Micros) -> Micros {
        self.accepted
            .iter()
            .map(|a| a.as_of)
            .chain(self.changes.conversions.iter().map(|c| c.at))
            .chain(self.changes.merges.iter().map(|m| m.at))
            .max()
            .unwrap_or(or)
    }

    /// The limit periods (`2026-11-23`, `2026-11`, `all`) the batch's awards fall in.
    pub fn usage_periods(&self) -> BTreeSet<String> {
        self.accepted
            .iter()
            .map(|a| a.event.occurred_at)
            .chain(self.changes.conversions.iter().map(|c| c.at))
            .flat_map(periods)
            .collect()
    }

    /// The members (under every id they have in the batch) whose points the batch spends
    /// or moves, whose wallets must be loaded whole: both sides of each merge, and the
    /// owners of every order a refund touches — refunds in the batch, and purchases
    /// whose refund arrived first. `book` holds the orders' points already loaded.
    pub fn members_spending_or_moving(&self, book: &Book) -> BTreeSet<MemberId> {
        let ws = self.ws;
        let mut members: BTreeSet<MemberId> = BTreeSet::new();
        for m in &self.changes.merges {
            members.extend([m.survivor, m.merged, ws.survivor(m.survivor)]);
        }
        let mut refunded: BTreeSet<&str> = BTreeSet::new();
        for a in self.accepted {
            let refunded_order = match &a.event.payload {
                Payload::Refund { order_id, .. } => Some(order_id.as_str()),
                Payload::Purchase(p)
                    if ws
                        .orders
                        .get(&p.order_id)
                        .is_some_and(|o| o.refunded.minor() > 0) =>
                {
                    Some(p.order_id.as_str())
                }
                _ => None,
            };
            let Some(order_id) = refunded_order else {
                continue;
            };
            refunded.insert(order_id);
            members.extend([a.member_id, ws.survivor(a.member_id)]);
            if let Some(o) = ws.orders.get(order_id) {
                members.extend([o.member_id, ws.survivor(o.member_id)]);
            }
        }
        for ((order_id, _), points) in &book.orders {
            if refunded.contains(order_id.as_str()) {
                members.extend([points.member_id, ws.survivor(points.member_id)]);
            }
        }
        members
    }
}

/// Runs the points of a batch on `book`, in the order things happened, as batches of
/// one event would: before each accepted event, the merges its identities caused move
/// the merged members' points; the event earns by the rules in force when it happened (a
/// refund reverses what its order earned instead; a purchase whose refund came first is
/// reconciled at once); then each referral it converted pays its inviter.
pub fn earn_batch(
    book: &mut Book,
    rules: &RuleBook,
    policy: &PointsPolicy,
    limits: &Limits,
    batch: &Batch<'_>,
) {
    let Batch {
        changes, accepted, ..
    } = *batch;
    let mut done = MadeBy::default();
    for a in accepted {
        let made = changes.made_by.get(&a.event.event_id).copied();
        let merges_end = made.map_or(done.merges, |m| m.merges);
        for m in &changes.merges[done.merges..merges_end] {
            book.merge(m.survivor, m.merged, m.at);
        }
        done.merges = merges_end;
        earn_event(book, rules, policy, limits, changes, a);
        let conversions_end = made.map_or(done.conversions, |m| m.conversions);
        for c in &changes.conversions[done.conversions..conversions_end] {
            pay_conversion(book, rules, policy, limits, c);
        }
        done.conversions = conversions_end;
    }
    // Nothing is made outside an event today; whatever is, counts after the last one.
    for m in &changes.merges[done.merges..] {
        book.merge(m.survivor, m.merged, m.at);
    }
    for c in &changes.conversions[done.conversions..] {
        pay_conversion(book, rules, policy, limits, c);
    }
}

/// One accepted event's points, on the member it landed on (its survivor at that moment:
/// a later merge in the batch moves them on, as it would have from the store).
fn earn_event(
    book: &mut Book,
    rules: &RuleBook,
    policy: &PointsPolicy,
    limits: &Limits,
    changes: &Changes,
    a: &Accepted<'_>,
) {
    let e = a.event;
    let member = a.member_id;
    let stage = changes
        .stages_before
        .get(&e.event_id)
        .copied()
        .unwrap_or(Stage::None);
    // The order as this event left it: a later refund in the same batch is that
    // refund's to reconcile.
    let order_after = changes.orders_after.get(&e.event_id);
    let (amount, items, order_id) = match &e.payload {
        Payload::Purchase(p) => (
            Some(p.amount),
            p.items.as_slice(),
            Some(p.order_id.as_str()),
        ),
        Payload::Refund { order_id, .. } => {
            if let Some(order) = order_after
                && let Some(amount) = order.amount
            {
                book.reconcile_refund(&e.event_id, order_id, amount, order.refunded, a.as_of);
            }
            return;
        }
        _ => (None, &[][..], None),
    };
    let earning = Earning {
        source_key: format!("event:{}", e.event_id),
        source_type: "event",
        source_id: &e.event_id,
        member_id: member,
        trigger: Trigger {
            kind: &e.type_name,
            occurred_at: e.occurred_at,
            channel: Some(e.channel),
            stage,
            amount,
            items,
        },
        order_id,
    };
    book.earn(rules.at(e.occurred_at), policy, limits, &earning, a.as_of);
    if let Some(order_id) = order_id
        && let Some(order) = order_after
        && order.refunded.minor() > 0
        && let Some(amount) = order.amount
    {
        book.reconcile_refund(&e.event_id, order_id, amount, order.refunded, a.as_of);
    }
}

/// A converted referral pays its inviter (as the inviter stood when it converted).
fn pay_conversion(
    book: &mut Book,
    rules: &RuleBook,
    policy: &PointsPolicy,
    limits: &Limits,
    c: &Conversion,
) {
    let earning = Earning {
        source_key: format!("referral:{}", c.referral_event_id),
        source_type: "referral",
        source_id: &c.referral_event_id,
        member_id: c.inviter_id,
        trigger: Trigger {
            kind: REFERRAL_CONVERTED,
            occurred_at: c.at,
            channel: None,
            stage: c.inviter_stage_before,
            amount: None,
            items: &[],
        },
        order_id: None,
    };
    book.earn(rules.at(c.at), policy, limits, &earning, c.at);
}
