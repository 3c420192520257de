//! Applying one event: checks that need state, resolution, facts and profile, orders and
//! refunds, referrals and their conversion, then the stage of every member it touched.

use super::farming;
use super::resolve::Seen;
use super::{
    Changes, Conversion, MadeBy, MemberId, OrderAt, OrderState, Outcome, ReferralState,
    ReferredPurchase, Rejection, Rules, WorkingSet,
};
use crate::ErrorCode;
use crate::event::{Event, Payload, Purchase};
use crate::money::Money;
use crate::time::Micros;
use std::collections::BTreeSet;

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
            // A person's decision about the member, or what their share's readers did, is
            // not something the member did.
            if !matches!(
                event.payload,
                Payload::ReferralReview { .. } | Payload::ShareMilestone(_)
            ) {
                m.facts.record(event, keep_after);
            }
            if let Payload::Register(change) | Payload::ProfileUpdate(change) = &event.payload {
                m.profile
                    .apply(change, event.channel.as_str(), event.occurred_at);
            }
            changes.progress_after.insert(
                event.event_id.clone(),
                crate::points::Progress {
                    check_in_streak: m.facts.check_in_streak,
                    profile_fields: m.profile.task_fields_filled(),
                },
            );
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
            Payload::ReferralReview {
                referral_event_id,
                release,
            } => self.review_referral(
                referral_event_id,
                *release,
                event.occurred_at,
                keep_after,
                changes,
            ),
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
        if let Payload::ReferralReview {
            referral_event_id, ..
        } = &event.payload
        {
            let status = self
                .referrals
                .get(referral_event_id)
                .map(|r| r.status.as_str());
            if status != Some("held") {
                return Err(Rejection {
                    code: ErrorCode::AlreadyDecided,
                    field: Some("properties.referral_event_id".into()),
                    message: match status {
                        None => format!("no referral {referral_event_id:?} is held for review"),
                        Some(s) => {
                            format!("referral {referral_event_id:?} is {s}, not held for review")
                        }
                    },
                });
            }
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
        let signals = farming::signals(&event.properties, std::iter::empty());
        self.convert_referrals_of(member, &signals, keep_after, changes);
        self.note_referred_purchase(member, event, changes);
    }

    /// Notes who brought the buyer in, if a referral of theirs stands and came before
    /// the purchase, and its inviter is loaded (the store loads inviters when a rule
    /// pays on referred purchases).
    fn note_referred_purchase(&self, member: MemberId, event: &Event, changes: &mut Changes) {
        let Some(r) = self
            .referrals
            .values()
            .filter(|r| self.survivor(r.invitee_id) == member)
            .filter(|r| r.status == "pending" || r.status == "converted")
            .filter(|r| r.referred_at <= event.occurred_at)
            .min_by_key(|r| (r.referred_at, r.event_id.as_str()))
        else {
            return;
        };
        let inviter = self.survivor(r.inviter_id);
        let Some(m) = self.members.get(&inviter).filter(|_| inviter != member) else {
            return;
        };
        changes.referred_purchases.insert(
            event.event_id.clone(),
            ReferredPurchase {
                referral_event_id: r.event_id.clone(),
                inviter_id: inviter,
                referred_at: r.referred_at,
                inviter_stage: m.stage,
            },
        );
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
        let phones = self
            .members
            .get(&invitee)
            .into_iter()
            .flat_map(|m| m.identities.iter());
        let fingerprint = farming::signals(&event.properties, phones);
        self.referrals.insert(
            event.event_id.clone(),
            ReferralState {
                event_id: event.event_id.clone(),
                inviter_id: inviter,
                invitee_id: invitee,
                referred_at: event.occurred_at,
                converted_at: None,
                status: status.into(),
                fingerprint,
                hold_reason: None,
            },
        );
        changes.new_referrals.push(event.event_id.clone());
        self.convert_referrals_of(invitee, &BTreeSet::new(), keep_after, changes);
    }

    /// A person's decision on a held referral (`check` made sure it is held): released,
    /// it converts now — the inviter's facts count it and the conversion pays as any
    /// does; refused, it never will.
    fn review_referral(
        &mut self,
        id: &str,
        release: bool,
        at: Micros,
        keep_after: Micros,
        changes: &mut Changes,
    ) {
        let Some(r) = self.referrals.get_mut(id) else {
            return;
        };
        changes.dirty_referrals.insert(id.to_owned());
        if !release {
            r.status = "refused_farming".into();
            return;
        }
        r.status = "converted".into();
        let (inviter, invitee) = (r.inviter_id, r.invitee_id);
        self.convert(id.to_owned(), inviter, invitee, at, keep_after, changes);
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

    /// Converts the invitee's pending referral if their first purchase came at or after
    /// it — or holds it for review when it looks farmed (`farming.rs`). `signals` are
    /// those of the purchase converting it, if one is.
    fn convert_referrals_of(
        &mut self,
        invitee: MemberId,
        signals: &BTreeSet<String>,
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
            r.converted_at = Some(first_purchase);
            r.fingerprint.extend(signals.iter().cloned());
            let inviter_id = r.inviter_id;
            let inviter = self.survivor(inviter_id);
            let r = &self.referrals[&id];
            let others = self
                .referrals
                .values()
                .filter(|o| self.survivor(o.inviter_id) == inviter);
            if let Some(reason) = farming::hold_reason(r, inviter, others) {
                let r = self.referrals.get_mut(&id).expect("listed above");
                r.status = "held".into();
                r.hold_reason = Some(reason);
                continue;
            }
            let r = self.referrals.get_mut(&id).expect("listed above");
            r.status = "converted".into();
            self.convert(id, inviter, invitee, first_purchase, keep_after, changes);
        }
    }

    /// Counts a converted referral on its inviter and queues its payment.
    fn convert(
        &mut self,
        referral_event_id: String,
        inviter: MemberId,
        invitee: MemberId,
        at: Micros,
        keep_after: Micros,
        changes: &mut Changes,
    ) {
        let inviter = self.survivor(inviter);
        let Some(m) = self.members.get_mut(&inviter) else {
            return;
        };
        let stage_before = m.stage;
        m.facts.record_converted_referral(at, keep_after);
        changes.dirty_members.insert(inviter);
        changes.conversions.push(Conversion {
            referral_event_id,
            inviter_id: inviter,
            invitee_id: self.survivor(invitee),
            at,
            inviter_stage_before: stage_before,
        });
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
