//! Points for a batch the processor has applied: which events earn, merged members'
//! points moved to their survivors, refunds reconciled, converted referrals paid — and
//! what of the ledger the store must load for that. The store loads a [`Book`] as these
//! functions say, calls [`earn_batch`], and writes the book back, in the batch's
//! transaction.

use super::{Changes, Conversion, MadeBy, MemberId, WorkingSet};
use crate::event::{Event, Payload};
use crate::limits::Limits;
use crate::membership::TierPass;
use crate::membership::realtime::named_purchase;
use crate::points::earn::periods;
use crate::points::rules::{REFERRAL_CONVERTED, REFERRED_PURCHASE};
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
        // A membership bought partly with points spends them.
        for a in self.accepted {
            if named_purchase(a.event).is_some_and(|p| p.points > 0 && p.purchase_id.is_none()) {
                members.extend([a.member_id, ws.survivor(a.member_id)]);
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
///
/// With `tiers`, each event's effect on tiers follows its points and conversions
/// (`membership::realtime`): a purchase's points part comes from the wallet as it stands
/// then, and a measure counts what was earned up to then.
pub fn earn_batch(
    book: &mut Book,
    rules: &RuleBook,
    policy: &PointsPolicy,
    limits: &Limits,
    batch: &Batch<'_>,
    mut tiers: Option<&mut TierPass<'_>>,
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
        // The tiers held just before the event, as the stage is.
        let held = |member: MemberId, at: Micros| {
            tiers
                .as_deref()
                .map(|t| t.held_at(member, at))
                .unwrap_or_default()
        };
        earn_event(book, rules, policy, limits, changes, a, &held);
        let conversions_end = made.map_or(done.conversions, |m| m.conversions);
        for c in &changes.conversions[done.conversions..conversions_end] {
            pay_conversion(book, rules, policy, limits, c, &held(c.inviter_id, c.at));
        }
        done.conversions = conversions_end;
        if let Some(t) = tiers.as_deref_mut() {
            t.after_event(book, a, batch.ws, changes);
        }
    }
    // Nothing is made outside an event today; whatever is, counts after the last one.
    for m in &changes.merges[done.merges..] {
        book.merge(m.survivor, m.merged, m.at);
    }
    for c in &changes.conversions[done.conversions..] {
        let inviter_tiers = tiers
            .as_deref()
            .map(|t| t.held_at(c.inviter_id, c.at))
            .unwrap_or_default();
        pay_conversion(book, rules, policy, limits, c, &inviter_tiers);
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
    held: &dyn Fn(MemberId, Micros) -> Vec<String>,
) {
    let e = a.event;
    let tiers = &held(a.member_id, e.occurred_at);
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
            tiers,
            referred_at: None,
            progress: changes
                .progress_after
                .get(&e.event_id)
                .copied()
                .unwrap_or_default(),
            milestone: match &e.payload {
                Payload::ShareMilestone(m) => Some(*m),
                _ => None,
            },
        },
        order_id,
    };
    book.earn(rules.at(e.occurred_at), policy, limits, &earning, a.as_of);
    // A referred member's purchase may pay their inviter a rebate, kept with the order
    // so that a refund takes it back as it does the buyer's points.
    if let Some(rp) = changes.referred_purchases.get(&e.event_id) {
        let inviter_tiers = held(rp.inviter_id, e.occurred_at);
        let rebate = Earning {
            source_key: format!("rebate:{}", e.event_id),
            source_type: "rebate",
            source_id: &e.event_id,
            member_id: rp.inviter_id,
            trigger: Trigger {
                kind: REFERRED_PURCHASE,
                occurred_at: e.occurred_at,
                channel: Some(e.channel),
                stage: rp.inviter_stage,
                amount,
                items,
                tiers: &inviter_tiers,
                referred_at: Some(rp.referred_at),
                progress: Default::default(),
                milestone: None,
            },
            order_id,
        };
        book.earn(rules.at(e.occurred_at), policy, limits, &rebate, a.as_of);
    }
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
    tiers: &[String],
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
            tiers,
            referred_at: None,
            progress: Default::default(),
            milestone: None,
        },
        order_id: None,
    };
    book.earn(rules.at(c.at), policy, limits, &earning, c.at);
}

#[cfg(test)]
mod tests {
    //! A batch's points are those of its events sent one batch each: what makes the
    //! tables independent of where batches end (and of a crash that cut one short).

    use super::*;
    use crate::event::{ParseContext, parse_event};
    use crate::identity::IdentityRules;
    use crate::ingest::Rules;
    use crate::stage::StagePolicy;
    use crate::time::{DAY, parse_rfc3339};
    use serde_json::{Value, json};

    fn event(n: i64, kind: &str, identities: Value, properties: Value) -> Event {
        let at = parse_rfc3339("2026-03-01T00:00:00Z").unwrap() + n * DAY;
        let raw = json!({"event_id": format!("e{n}"), "type": kind, "channel": "store",
            "occurred_at": crate::time::to_rfc3339(at), "identities": identities,
            "properties": properties});
        let ctx = ParseContext {
            identity: &IdentityRules::default(),
            channels: &crate::channel::Channel::BUILT_IN,
            currency: "CNY",
            max_amount: Limits::default().max_order_amount,
            now: at,
        };
        parse_event(&raw, &ctx).expect("test events are valid")
    }

    /// Applies `batches` in turn, carrying members and wallets over as the store would;
    /// returns every posting's key and lines, sorted, and each wallet's points.
    fn run(batches: &[&[Event]]) -> (Vec<String>, Vec<String>) {
        let (identity, stages) = (IdentityRules::default(), StagePolicy::default());
        let (policy, limits) = (PointsPolicy::default(), Limits::default());
        let rules = Rules {
            identity: &identity,
            stages: &stages,
            points: &policy,
            limits: &limits,
        };
        let rule_book = RuleBook::new(Vec::new());
        let now = parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
        let mut ws = WorkingSet {
            fresh_ids: (1..=50).rev().collect(),
            ..WorkingSet::default()
        };
        let mut book = Book::default();
        for batch in batches {
            let mut changes = Changes::default();
            let mut landed = Vec::new();
            for e in batch.iter() {
                let outcome = ws.apply(e, &rules, now, &mut changes).unwrap();
                landed.push((e, outcome.member_id));
            }
            let accepted: Vec<Accepted<'_>> = landed
                .iter()
                .map(|&(event, member_id)| Accepted {
                    event,
                    member_id,
                    as_of: now,
                })
                .collect();
            let batch = Batch {
                ws: &ws,
                changes: &changes,
                accepted: &accepted,
            };
            earn_batch(&mut book, &rule_book, &policy, &limits, &batch, None);
        }
        let mut postings: Vec<String> = book
            .postings
            .iter()
            .map(|p| format!("{} {:?}", p.key, p.entries))
            .collect();
        postings.sort();
        let wallets = book
            .wallets
            .values()
            .map(|w| {
                let left: i64 = w.lots.iter().map(|l| l.remaining).sum();
                format!("{} left {left} debt {}", w.member_id, w.debt)
            })
            .collect();
        (postings, wallets)
    }

    #[test]
    fn a_batch_earns_what_its_events_earn_one_batch_each() {
        let card = json!({"card_no": "C1"});
        let phone = json!({"phone": "13800138000"});
        let both = json!({"card_no": "C1", "phone": "13800138000"});
        let stream = [
            event(
                0,
                "purchase",
                card.clone(),
                json!({"order_id": "o1", "amount": "100.00"}),
            ),
            event(
                1,
                "purchase",
                phone.clone(),
                json!({"order_id": "o2", "amount": "80.00"}),
            ),
            event(2, "check_in", phone.clone(), json!({})),
            // Names both: the phone's member merges into the card's (older) one.
            event(
                3,
                "purchase",
                both,
                json!({"order_id": "o3", "amount": "20.00"}),
            ),
            // Two partial refunds of one order, then one of an order the merge moved.
            event(
                4,
                "refund",
                card.clone(),
                json!({"order_id": "o1", "amount": "30.00"}),
            ),
            event(
                5,
                "refund",
                card.clone(),
                json!({"order_id": "o1", "amount": "30.00"}),
            ),
            event(
                6,
                "refund",
                phone,
                json!({"order_id": "o2", "amount": "80.00"}),
            ),
            event(7, "check_in", card, json!({})),
        ];
        let one_each: Vec<&[Event]> = stream.chunks(1).collect();
        let (postings, wallets) = run(&one_each);
        assert!(postings.iter().any(|p| p.starts_with("refund:event:e5:o1")));
        assert!(postings.iter().any(|p| p.starts_with("merge:")));
        for size in [2, 3, 8] {
            let batches: Vec<&[Event]> = stream.chunks(size).collect();
            assert_eq!(
                run(&batches),
                (postings.clone(), wallets.clone()),
                "batches of {size}"
            );
        }
    }
}
