//! The ingest processor: applies a batch of parsed events to the members they touch.
//!
//! The store loads a [`WorkingSet`] — every member, order and pending referral the
//! batch can reach, with the identities resolution reads — then [`WorkingSet::apply`] runs each event through identity
//! resolution (`resolve.rs`), the member's facts and profile, orders and referrals
//! (`apply.rs`) and the stage policy, recording what must be written in [`Changes`].
//! The store writes `Changes` in the same transaction it loaded in. Nothing here does
//! I/O, so the whole pipeline is unit-tested without a database.

mod apply;
pub mod farming;
pub mod footprint;
pub mod points;
mod resolve;

pub use apply::ManualMerge;

use crate::facts::MemberFacts;
use crate::identity::{Identity, IdentityKind, IdentityRules};
use crate::money::Money;
use crate::profile::Profile;
use crate::stage::{Lens, Stage, StagePolicy};
use crate::time::Micros;
use std::collections::{BTreeSet, HashMap};

pub type MemberId = i64;

/// One member as loaded for (or created by) a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberState {
    pub id: MemberId,
    pub created_at: Micros,
    pub merged_into: Option<MemberId>,
    pub stage: Stage,
    pub lens: Lens,
    pub stage_since: Micros,
    pub next_review_at: Option<Micros>,
    pub profile: Profile,
    pub facts: MemberFacts,
    /// The member's identities the store loaded: all of them, or for ingest only those
    /// resolution reads (the ones the batch names and those of unique kinds).
    pub identities: BTreeSet<Identity>,
    /// When the member's personal data was erased; the row stays, anonymous.
    pub erased_at: Option<Micros>,
}

impl MemberState {
    pub fn new(id: MemberId, created_at: Micros) -> MemberState {
        MemberState {
            id,
            created_at,
            merged_into: None,
            stage: Stage::None,
            lens: Lens::None,
            stage_since: created_at,
            next_review_at: None,
            profile: Profile::default(),
            facts: MemberFacts::default(),
            identities: BTreeSet::new(),
            erased_at: None,
        }
    }

    /// Age order for "the oldest member survives": first seen, then id.
    pub fn age_key(&self) -> (Micros, MemberId) {
        (
            self.facts
                .first_seen_at
                .unwrap_or(self.created_at)
                .min(self.created_at),
            self.id,
        )
    }

    pub fn value_of(&self, kind: IdentityKind) -> Option<&Identity> {
        self.identities.iter().find(|i| i.kind == kind)
    }
}

/// An order, tracked so refunds find their purchase whatever order they arrive in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderState {
    pub order_id: String,
    pub member_id: MemberId,
    /// None while only a refund has been seen.
    pub purchase_event_id: Option<String>,
    pub amount: Option<Money>,
    pub refunded: Money,
    pub occurred_at: Option<Micros>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferralState {
    pub event_id: String,
    pub inviter_id: MemberId,
    pub invitee_id: MemberId,
    pub referred_at: Micros,
    pub converted_at: Option<Micros>,
    /// `pending`; `converted`; `already_customer` (the invitee had bought before);
    /// `superseded` (an earlier referral named the invitee); `refused_cycle` (it closed a
    /// loop); `held` for review as farmed (`farming.rs`), then `converted` on release or
    /// `refused_farming`.
    pub status: String,
    /// The invitee's device, payment and phone-block signals, hashed (`farming.rs`).
    pub fingerprint: BTreeSet<String>,
    /// Why the referral was held for review.
    pub hold_reason: Option<String>,
}

/// A stage change and the rule that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub member_id: MemberId,
    pub from: Stage,
    pub to: Stage,
    pub from_lens: Lens,
    pub to_lens: Lens,
    pub at: Micros,
    pub rule: String,
    pub reason: String,
    pub event_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merge {
    pub survivor: MemberId,
    pub merged: MemberId,
    pub at: Micros,
    pub event_id: Option<String>,
    pub actor: String,
    pub explanation: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub at: Micros,
    pub event_id: Option<String>,
    pub kind: IdentityKind,
    pub member_ids: Vec<MemberId>,
    pub values: Vec<String>,
    pub explanation: String,
}

/// A referral that converted, with the inviter's stage just before (points multipliers need it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversion {
    pub referral_event_id: String,
    pub inviter_id: MemberId,
    pub invitee_id: MemberId,
    pub at: Micros,
    pub inviter_stage_before: Stage,
}

/// A new identity and who it was first attached to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIdentity {
    pub identity: Identity,
    pub member_id: MemberId,
    pub event_id: Option<String>,
    pub at: Micros,
}

/// Everything a batch changed, for the store to write.
#[derive(Debug, Default)]
pub struct Changes {
    /// Members to upsert (created or changed).
    pub dirty_members: BTreeSet<MemberId>,
    pub new_identities: Vec<NewIdentity>,
    pub transitions: Vec<Transition>,
    /// In the order they happened: the store re-points rows in that order.
    pub merges: Vec<Merge>,
    pub conflicts: Vec<Conflict>,
    pub dirty_orders: BTreeSet<String>,
    pub new_referrals: Vec<String>,
    pub dirty_referrals: BTreeSet<String>,
    pub conversions: Vec<Conversion>,
    /// Each accepted event's member stage just before it (for points rules by stage).
    pub stages_before: HashMap<String, Stage>,
    /// Each accepted purchase's and refund's order just after it, by event id: points
    /// reconcile a refund against what had been refunded by then, not by the end of the
    /// batch, so the ledger comes out the same however a stream is cut into batches.
    pub orders_after: HashMap<String, OrderAt>,
    /// For each accepted event, how many merges and conversions the batch had made by
    /// the end of it: points replay them in step with the events, as one-event batches
    /// would.
    pub made_by: HashMap<String, MadeBy>,
    /// Each accepted purchase by a member whose referral stands (pending or converted),
    /// by event id: what a `referred_purchase` rule pays the inviter on.
    pub referred_purchases: HashMap<String, ReferredPurchase>,
    /// Each accepted event's member's task progress just after it (task rules' streak
    /// and profile conditions look at it).
    pub progress_after: HashMap<String, crate::points::Progress>,
}

/// A purchase by an invitee: who brought them in, when, and the inviter's stage then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferredPurchase {
    pub referral_event_id: String,
    pub inviter_id: MemberId,
    pub referred_at: Micros,
    pub inviter_stage: Stage,
}

/// Counts of [`Changes::merges`] and [`Changes::conversions`] at the end of an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MadeBy {
    pub merges: usize,
    pub conversions: usize,
}

/// An order's amount (once its purchase is known) and what was refunded of it, at one
/// event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderAt {
    pub amount: Option<Money>,
    pub refunded: Money,
}

/// An event the processor refused (state-dependent checks the parser cannot make).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub code: crate::ErrorCode,
    pub field: Option<String>,
    pub message: String,
}

/// The member an accepted event landed on, and where that member now stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub member_id: MemberId,
    pub stage: Stage,
    pub lens: Lens,
}

/// Policy the processor applies.
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    pub identity: &'a IdentityRules,
    pub stages: &'a StagePolicy,
    /// Not used by the processor itself; the store runs the earning rules with it.
    pub points: &'a crate::points::PointsPolicy,
    /// The largest order amount and points posting; the store's earning reads it.
    pub limits: &'a crate::limits::Limits,
}

/// What a batch can reach, loaded by the store.
#[derive(Debug, Default)]
pub struct WorkingSet {
    pub members: HashMap<MemberId, MemberState>,
    /// Owner of each known identity (a survivor, or a member merged in this batch).
    pub owners: HashMap<Identity, MemberId>,
    pub orders: HashMap<String, OrderState>,
    /// Referrals whose invitee is in the set, by referral event id.
    pub referrals: HashMap<String, ReferralState>,
    /// Ids reserved by the store for members this batch creates; taken from the end.
    pub fresh_ids: Vec<MemberId>,
}

impl WorkingSet {
    /// Follows merges to the member that now stands for `id`.
    pub fn survivor(&self, mut id: MemberId) -> MemberId {
        while let Some(next) = self.members.get(&id).and_then(|m| m.merged_into) {
            id = next;
        }
        id
    }

    pub fn member(&self, id: MemberId) -> Option<&MemberState> {
        self.members.get(&self.survivor(id))
    }

    /// Adds a member loaded from the store, indexing its identities.
    pub fn insert_loaded(&mut self, member: MemberState) {
        for identity in &member.identities {
            self.owners.insert(identity.clone(), member.id);
        }
        self.members.insert(member.id, member);
    }

    /// Re-evaluates a member's stage at `as_of`, recording a transition if it moved.
    pub fn evaluate(
        &mut self,
        id: MemberId,
        policy: &StagePolicy,
        as_of: Micros,
        event_id: Option<&str>,
        changes: &mut Changes,
    ) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        m.facts.prune(policy.keep_after(as_of));
        let decision = policy.evaluate(&m.facts, as_of);
        if decision.stage != m.stage {
            changes.transitions.push(Transition {
                member_id: id,
                from: m.stage,
                to: decision.stage,
                from_lens: m.lens,
                to_lens: decision.lens,
                at: as_of,
                rule: decision.rule,
                reason: decision.reason,
                event_id: event_id.map(str::to_owned),
            });
            m.stage = decision.stage;
            m.stage_since = as_of;
        }
        m.lens = decision.lens;
        m.next_review_at = policy.next_review_at(&m.facts, as_of);
        changes.dirty_members.insert(id);
    }
}

#[cfg(test)]
mod tests;
