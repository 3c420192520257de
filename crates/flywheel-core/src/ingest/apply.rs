//! Applying one event: checks that need state, resolution, facts and profile, orders and
//! refunds, referrals and their conversion, then the stage of every member it touched.

use super::resolve::Seen;
use super::{
    Changes, Conversion, MadeBy, MemberId, OrderAt, OrderState, Outcome, ReferralState, Rejection,
    Rules, WorkingSet,
};
use crate::ErrorCode;
use crate::event::{Event, Payload, Purchase};
use crate::money::Money;
use crate::time::Micros;

impl WorkingSet {
    /// Applies `event`, evaluated at `as_of`. A rejected event changes nothing.
    pub fn apply(
        &mut self,
        event: &Event,
        rules: &Rules<'_>,
        as_of: Micros,
        changes: &mut Changes,
    ) -> Result<Outcome, Rejection> {
        self.check(event)?;
        let seen = Seen {
            event_id: Some(&event.event_id),
            as_of,
        };
        let member = self.resolve(&event.identities, rules, &seen, changes)?;
        if let Some(m) = self.members.get(&member) {
            changes
                .stages_before
                .insert(event.event_id.clone(), m.stage);
        }
        let keep_after = rules.stages.keep_after(as_of);
        let conversions_before = changes.conversions.len();
        let mut touched = vec![member];
        {
            let m = self
                .members
                .get_mut(&member)
                .expect("resolved member is loaded");
            m.facts.record(event, keep_after);
            if let Payload::Register(change) | Payload::ProfileUpdate(change) = &event.payload {
                m.profile
                    .apply(change, event.channel.as_str(), event.occurred_at);
            }
        }
        match &event.payload {
            Payload::Purchase(p) => self.purchase(member, p, event, keep_after, changes),
            Payload::Refund { order_id, amount } => {
                if let Some(owner) =
                    self.refund(member, order_id, *amount, event.occurred_at, changes)
                {
                    touched.push(owner);
                }
                if let Some(order) = self.orders.get(order_id) {
                    changes.orders_after.insert(
                        event.event_id.clone(),
                        OrderAt {
                            amount: order.amount,
                            refunded: order.refunded,
                        },
                    );
                }
            }
            Payload::Referral { referrer } => {
                let inviter = self.resolve(referrer, rules, &seen, changes)?;
                touched.push(inviter);
                self.refer(inviter, member, event, keep_after, changes);
            }
            _ => {}
        }
        touched.extend(
            changes.conversions[conversions_before..]
                .iter()
                .map(|c| c.inviter_id),
        );
        let mut done = Vec::new();
        for id in touched {
            let id = self.survivor(id);
            if !done.contains(&id) {
                self.evaluate(id, rules.stages, as_of, Some(&event.event_id), changes);
                done.push(id);
            }
        }
        changes.made_by.insert(
            event.event_id.clone(),
            MadeBy {
                merges: changes.merges.len(),
                conversions: changes.conversions.len(),
            },
        );
        let m = self.member(member).expect("resolved member is loaded");
        Ok(Outcome {
            member_id: m.id,
            stage: m.stage,
            lens: m.lens,
        })
    }

    /// State-dependent checks, made before anything changes.
    fn check(&self, event: &Event) -> Result<(), Rejection> {
        if let Payload::Purchase(p) = &event.payload
            && let Some(existing) = self
                .orders
                .get(&p.order_id)
                .and_then(|o| o.purchase_event_id.as_ref())
        {
            return Err(Rejection {
                code: ErrorCode::OrderExists,
                field: Some("properties.order_id".into()),
                message: format!(
                    "order {:?} was already recorded by event {existing:?}; resend that event_id to retry",
                    p.order_id
                ),
            });
        }
        Ok(())
    }

    fn purchase(
        &mut self,
        member: MemberId,
        p: &Purchase,
        event: &Event,
        keep_after: Micros,
        changes: &mut Changes,
    ) {
        let order = self
            .orders
            .entry(p.order_id.clone())
            .or_insert_with(|| OrderState {
                order_id: p.order_id.clone(),
                member_id: member,
                purchase_event_id: None,
                amount: None,
                refunded: Money::ZERO,
                occurred_at: None,
            });
        // A refund that arrived first is capped at the order amount now that it is known.
        let already_refunded = if order.refunded > p.amount {
            p.amount
        } else {
            order.refunded
        };
        order.refunded = already_refunded;
        order.purchase_event_id = Some(event.event_id.clone());
        order.amount = Some(p.amount);
        order.occurred_at = Some(event.occurred_at);
        order.member_id = member;
        changes.dirty_orders.insert(p.order_id.clone());
        changes.orders_after.insert(
            event.event_id.clone(),
            OrderAt {
                amount: order.amount,
                refunded: order.refunded,
            },
        );
        let m = self
            .members
            .get_mut(&member)
            .expect("resolved member is loaded");
        m.facts
            .record_purchase(p, event.occurred_at, already_refunded, keep_after);
        self.convert_referrals_of(member, keep_after, changes);
    }

    /// Returns the order's owner when it is not the event's member.
    fn refund(
        &mut self,
        member: MemberId,
        order_id: &str,
        amount: Money,
        at: Micros,
        changes: &mut Changes,
    ) -> Option<MemberId> {
        changes.dirty_orders.insert(order_id.to_owned());
        let Some(order) = self.orders.get_mut(order_id) else {
            // The purchase has not arrived yet: remember the refund for when it does.
            self.orders.insert(
                order_id.to_owned(),
                OrderState {
                    order_id: order_id.to_owned(),
                    member_id: member,
                    purchase_event_id: None,
                    amount: None,
                    refunded: amount,
                    occurred_at: Some(at),
                },
            );
            return None;
        };
        let Some(total) = order.amount else {
            order.refunded += amount;
            return None;
        };
        let room = total.saturating_sub(order.refunded);
        let delta = if amount > room { room } else { amount };
        let was_full = order.refunded.minor() > 0 && order.refunded >= total;
        order.refunded += delta;
        let now_full = order.refunded.minor() > 0 && order.refunded >= total;
        let (order_member, order_id) = (order.member_id, order.order_id.clone());
        let owner = self.survivor(order_member);
        if let Some(m) = self.members.get_mut(&owner) {
            m.facts.record_refund(&order_id, delta, was_full, now_full);
        }
        (owner != member).then_some(owner)
    }

    fn refer(
        &mut self,
        inviter: MemberId,
        invitee: MemberId,
        event: &Event,
        keep_after: Micros,
        changes: &mut Changes,
    ) {
        let (inviter, invitee) = (self.survivor(inviter), self.survivor(invitee));
        if inviter == invitee {
            return; // the referrer turned out to be the invitee: nobody was brought in
        }
        // A referral that closes a loop — the invitee brought the inviter in, directly or
        // up a chain this batch holds — is kept, refused: it counts for nobody and never
        // converts (seed 002's rings of accounts referring each other).
        let status = if self.invited_up_the_chain(inviter, invitee) {
            "refused_cycle"
        } else if self.referrals.values().any(|r| r.invitee_id == invitee) {
            // Only the first referral of an invitee can convert.
            "superseded"
        } else {
            "pending"
        };
        if status != "refused_cycle"
            && let Some(m) = self.members.get_mut(&inviter)
        {
            m.facts.referrals_made += 1;
        }
        self.referrals.insert(
            event.event_id.clone(),
            ReferralState {
                event_id: event.event_id.clone(),
                inviter_id: inviter,
                invitee_id: invitee,
                referred_at: event.occurred_at,
                converted_at: None,
                status: status.into(),
            },
        );
        changes.new_referrals.push(event.event_id.clone());
        self.convert_referrals_of(invitee, keep_after, changes);
    }

    /// Whether `ancestor` brought `member` in: walks `member`'s inviters up the referrals
    /// this batch holds (each member's as invitee), stopping at a loop.
    fn invited_up_the_chain(&self, member: MemberId, ancestor: MemberId) -> bool {
        let mut seen = std::collections::BTreeSet::new();
        let mut at = member;
        while seen.insert(at) {
            let Some(r) = self
                .referrals
                .values()
                .find(|r| r.invitee_id == at && (r.status == "pending" || r.status == "converted"))
            else {
                return false;
            };
            let up = self.survivor(r.inviter_id);
            if up == ancestor {
                return true;
            }
            at = up;
        }
        false
    }

    /// Converts the invitee's pending referral if their first purchase came at or after it.
    fn convert_referrals_of(
        &mut self,
        invitee: MemberId,
        keep_after: Micros,
        changes: &mut Changes,
    ) {
        let Some(first_purchase) = self
            .members
            .get(&invitee)
            .and_then(|m| m.facts.first_purchase_at)
        else {
            return;
        };
        let pending: Vec<String> = self
            .referrals
            .values()
            .filter(|r| r.invitee_id == invitee && r.status == "pending")
            .map(|r| r.event_id.clone())
            .collect();
        for id in pending {
            let r = self.referrals.get_mut(&id).expect("listed above");
            changes.dirty_referrals.insert(id.clone());
            if first_purchase < r.referred_at {
                r.status = "already_customer".into();
                continue;
            }
            r.status = "converted".into();
            r.converted_at = Some(first_purchase);
            let inviter_id = r.inviter_id;
            let inviter = self.survivor(inviter_id);
            let Some(m) = self.members.get_mut(&inviter) else {
                continue;
            };
            let stage_before = m.stage;
            m.facts
                .record_converted_referral(first_purchase, keep_after);
            changes.dirty_members.insert(inviter);
            changes.conversions.push(Conversion {
                referral_event_id: id,
                inviter_id: inviter,
                invitee_id: invitee,
                at: first_purchase,
                inviter_stage_before: stage_before,
            });
        }
    }

    /// Merges `merged` into `survivor` at a person's request. Unique-kind clashes are
    /// allowed here: a person has decided these are one member.
    pub fn merge_manually(
        &mut self,
        survivor: MemberId,
        merged: MemberId,
        request: &ManualMerge<'_>,
        rules: &Rules<'_>,
        as_of: Micros,
        changes: &mut Changes,
    ) {
        let seen = Seen {
            event_id: None,
            as_of,
        };
        let explanation = format!("merged by {}: {}", request.actor, request.reason);
        self.merge(survivor, merged, &seen, request.actor, explanation, changes);
        self.evaluate(survivor, rules.stages, as_of, None, changes);
    }
}

/// Who asked for a manual merge, and why.
#[derive(Clone, Copy, Debug)]
pub struct ManualMerge<'a> {
    pub actor: &'a str,
    pub reason: &'a str,
}
