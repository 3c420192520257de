//! Identity resolution: which member an event's identities name, merging members the
//! identities prove to be one person, and refusing merges that would give one member two
//! values of a unique kind (two phones) — those become conflicts for a person to decide.

use super::{
    Changes, Conflict, MemberId, MemberState, Merge, NewIdentity, Rejection, Rules, WorkingSet,
};
use crate::ErrorCode;
use crate::identity::Identity;
use crate::time::{self, Micros};
use std::collections::BTreeSet;

/// Where an identity set was seen, for the records a resolution leaves.
pub(super) struct Seen<'a> {
    pub event_id: Option<&'a str>,
    pub as_of: Micros,
}

impl WorkingSet {
    /// Returns the member `identities` name, creating, merging and attaching as needed.
    pub(super) fn resolve(
        &mut self,
        identities: &[Identity],
        rules: &Rules<'_>,
        seen: &Seen<'_>,
        changes: &mut Changes,
    ) -> Result<MemberId, Rejection> {
        let owned: Vec<(&Identity, MemberId)> = identities
            .iter()
            .filter_map(|i| self.owners.get(i).map(|m| (i, self.survivor(*m))))
            .collect();
        let target = if owned.is_empty() {
            self.create_member(seen.as_of, changes)?
        } else {
            self.merge_owners(&owned, rules, seen, changes)
        };
        for identity in identities {
            if !self.owners.contains_key(identity) {
                self.attach(target, identity, rules, seen, changes);
            }
        }
        Ok(target)
    }

    fn create_member(&mut self, at: Micros, changes: &mut Changes) -> Result<MemberId, Rejection> {
        let id = self.fresh_ids.pop().ok_or_else(|| Rejection {
            code: ErrorCode::Internal,
            field: None,
            message: "the store reserved too few member ids for this batch".into(),
        })?;
        self.members.insert(id, MemberState::new(id, at));
        changes.dirty_members.insert(id);
        Ok(id)
    }

    /// Merges the distinct owners of an event's identities where allowed; returns the
    /// member the event belongs to.
    fn merge_owners(
        &mut self,
        owned: &[(&Identity, MemberId)],
        rules: &Rules<'_>,
        seen: &Seen<'_>,
        changes: &mut Changes,
    ) -> MemberId {
        // The anchor is the owner of the most trusted identity (then the oldest owner).
        let anchor = owned
            .iter()
            .min_by_key(|(i, m)| (rules.identity.rank(i.kind), self.members[m].age_key()))
            .map(|(_, m)| *m)
            .expect("owned is not empty");
        let mut others: Vec<MemberId> = owned
            .iter()
            .map(|(_, m)| *m)
            .filter(|m| *m != anchor)
            .collect();
        others.sort_by_key(|m| self.members[m].age_key());
        others.dedup();

        let mut group = vec![anchor];
        for other in others {
            match self.unique_clash(&group, other, rules) {
                None => group.push(other),
                Some((kind, values)) => {
                    let clash_with = group
                        .iter()
                        .copied()
                        .find(|g| self.members[g].value_of(kind).is_some())
                        .unwrap_or(anchor);
                    let named: Vec<String> = owned
                        .iter()
                        .map(|(i, m)| format!("{i} (member {m})"))
                        .collect();
                    changes.conflicts.push(Conflict::new(
                        seen,
                        kind,
                        vec![clash_with, other],
                        values.clone(),
                        format!(
                            "{} names {}; members {clash_with} and {other} hold different {kind} values ({}), \
                             and a member may hold only one, so they were not merged",
                            describe(seen),
                            named.join(" and "),
                            values.join(", ")
                        ),
                    ));
                }
            }
        }
        let survivor = *group
            .iter()
            .min_by_key(|m| self.members[m].age_key())
            .expect("group has the anchor");
        for merged in group.into_iter().filter(|m| *m != survivor) {
            let proof: Vec<String> = owned
                .iter()
                .filter(|(_, m)| *m == merged)
                .map(|(i, _)| i.to_string())
                .collect();
            let survivor_proof: Vec<String> = owned
                .iter()
                .filter(|(_, m)| *m == survivor)
                .map(|(i, _)| i.to_string())
                .collect();
            let explanation = format!(
                "{} names {} of member {survivor} and {} of member {merged}; member {survivor} (first seen {}) \
                 is older and survives",
                describe(seen),
                if survivor_proof.is_empty() {
                    "identities".into()
                } else {
                    survivor_proof.join(", ")
                },
                proof.join(", "),
                time::to_rfc3339(self.members[&survivor].age_key().0),
            );
            self.merge(survivor, merged, seen, "system", explanation, changes);
        }
        survivor
    }

    /// The first unique kind on which `other` disagrees with the group, with all values.
    fn unique_clash(
        &self,
        group: &[MemberId],
        other: MemberId,
        rules: &Rules<'_>,
    ) -> Option<(crate::identity::IdentityKind, Vec<String>)> {
        let other = &self.members[&other];
        for kind in &rules.identity.unique_kinds {
            let Some(theirs) = other.value_of(*kind) else {
                continue;
            };
            let ours: BTreeSet<&String> = group
                .iter()
                .filter_map(|g| self.members[g].value_of(*kind))
                .map(|i| &i.value)
                .collect();
            if !ours.is_empty() && !ours.contains(&theirs.value) {
                let mut values: Vec<String> = ours.into_iter().cloned().collect();
                values.push(theirs.value.clone());
                return Some((*kind, values));
            }
        }
        None
    }

    fn attach(
        &mut self,
        member: MemberId,
        identity: &Identity,
        rules: &Rules<'_>,
        seen: &Seen<'_>,
        changes: &mut Changes,
    ) {
        let m = self
            .members
            .get_mut(&member)
            .expect("target member is loaded");
        if rules.identity.is_unique(identity.kind)
            && let Some(existing) = m.value_of(identity.kind)
        {
            changes.conflicts.push(Conflict::new(
                seen,
                identity.kind,
                vec![member],
                vec![existing.value.clone(), identity.value.clone()],
                format!(
                    "{} names {identity} together with identities of member {member}, who already holds {existing}; \
                     a member may hold only one {}, so {identity} was not attached",
                    describe(seen),
                    identity.kind
                ),
            ));
            return;
        }
        m.identities.insert(identity.clone());
        self.owners.insert(identity.clone(), member);
        changes.new_identities.push(NewIdentity {
            identity: identity.clone(),
            member_id: member,
            event_id: seen.event_id.map(str::to_owned),
            at: seen.as_of,
        });
        changes.dirty_members.insert(member);
    }

    /// Folds `merged` into `survivor`: facts, profile, identities, orders and referrals.
    pub(super) fn merge(
        &mut self,
        survivor: MemberId,
        merged: MemberId,
        seen: &Seen<'_>,
        actor: &str,
        explanation: String,
        changes: &mut Changes,
    ) {
        let Some(mut gone) = self.members.remove(&merged) else {
            return;
        };
        let Some(keep) = self.members.get_mut(&survivor) else {
            self.members.insert(merged, gone);
            return;
        };
        keep.facts.absorb(&gone.facts);
        keep.profile.absorb(&gone.profile);
        for identity in &gone.identities {
            self.owners.insert(identity.clone(), survivor);
        }
        keep.identities.extend(std::mem::take(&mut gone.identities));
        keep.created_at = keep.created_at.min(gone.created_at);
        for order in self.orders.values_mut().filter(|o| o.member_id == merged) {
            order.member_id = survivor;
            changes.dirty_orders.insert(order.order_id.clone());
        }
        for r in self.referrals.values_mut() {
            if r.inviter_id == merged || r.invitee_id == merged {
                if r.inviter_id == merged {
                    r.inviter_id = survivor;
                }
                if r.invitee_id == merged {
                    r.invitee_id = survivor;
                }
                changes.dirty_referrals.insert(r.event_id.clone());
            }
        }
        gone.merged_into = Some(survivor);
        self.members.insert(merged, gone);
        changes.dirty_members.insert(survivor);
        changes.dirty_members.insert(merged);
        changes.merges.push(Merge {
            survivor,
            merged,
            at: seen.as_of,
            event_id: seen.event_id.map(str::to_owned),
            actor: actor.to_owned(),
            explanation,
        });
    }
}

impl Conflict {
    /// Member ids and values sorted, so the same disagreement always reads the same and
    /// the store can record it once.
    fn new(
        seen: &Seen<'_>,
        kind: crate::identity::IdentityKind,
        mut member_ids: Vec<MemberId>,
        mut values: Vec<String>,
        explanation: String,
    ) -> Conflict {
        member_ids.sort_unstable();
        member_ids.dedup();
        values.sort();
        values.dedup();
        Conflict {
            at: seen.as_of,
            event_id: seen.event_id.map(str::to_owned),
            kind,
            member_ids,
            values,
            explanation,
        }
    }
}

fn describe(seen: &Seen<'_>) -> String {
    match seen.event_id {
        Some(id) => format!("event {id:?}"),
        None => "a manual request".to_owned(),
    }
}
