//! The ingest writer's member cache: the members, identity owners, orders and referrals
//! its transactions read or wrote, kept between transactions so the next group of
//! events touching the same people loads nothing from the database.
//!
//! It is trusted only while it mirrors the database exactly. Every write transaction
//! advances the write generation as it commits (`WriteTx` in `db.rs`); the cache
//! remembers the generation its own last commit made, and a transaction that finds the
//! counter anywhere else — a points command, a sweep, an erasure, another process —
//! empties it first and reads from the database. A transaction that relied on the
//! cache and finds, when it advances the counter, that someone else committed in the
//! meantime rolls back and runs again (`StoreError::Contended`). What a transaction
//! changes replaces the cached entries only after it commits, so a failed transaction
//! leaves the cache as it was. A merge re-points, in the database, rows the working set
//! never loaded (identities, orders, referrals, older merges of the merged member); the
//! cache re-points its copies of them the same way.
//!
//! Every entry is also in the database (the cache writes nothing back), so evicting
//! any of them at any time is safe.

use flywheel_core::Identity;
use flywheel_core::ingest::{MemberId, MemberState, Merge, OrderState, ReferralState, WorkingSet};
use std::collections::{BTreeSet, HashMap};

/// What a transaction's working set looked up, so that its answers (including "no such
/// identity", "no such order") can be kept.
#[derive(Debug, Default)]
pub(crate) struct Reached {
    /// Every identity the batch names.
    pub identities: Vec<Identity>,
    /// Every order the batch names.
    pub order_ids: Vec<String>,
    /// Members whose referrals as invitee the working set holds in full.
    pub complete_invitees: Vec<MemberId>,
    /// Members loaded into the working set (the others in it, the batch created).
    pub loaded: BTreeSet<MemberId>,
}

#[derive(Debug)]
pub(crate) struct MemberCache {
    /// The write generation the entries mirror; None: trust nothing.
    valid_at: Option<i64>,
    capacity: usize,
    /// Identity key → its owner, or None: no member holds it.
    owners: HashMap<String, Option<MemberId>>,
    /// Members with every identity of a unique kind (and some others).
    members: HashMap<MemberId, MemberState>,
    /// Order id → the order, or None: not seen.
    orders: HashMap<String, Option<OrderState>>,
    /// Invitee → every referral naming it.
    referrals: HashMap<MemberId, Vec<ReferralState>>,
}

impl MemberCache {
    /// A cache of up to `members` members, and up to four times as many identity
    /// owners and orders.
    pub fn with_capacity(members: usize) -> MemberCache {
        MemberCache {
            valid_at: None,
            capacity: members,
            owners: HashMap::new(),
            members: HashMap::new(),
            orders: HashMap::new(),
            referrals: HashMap::new(),
        }
    }

    pub fn set_capacity(&mut self, members: usize) {
        self.capacity = members;
        self.evict();
    }

    /// Whether the entries mirror the database at write generation `now`; when they do
    /// not, they are dropped.
    pub fn check(&mut self, now: i64) -> bool {
        let valid = self.capacity > 0 && self.valid_at == Some(now);
        if !valid {
            self.clear();
        }
        metrics::counter!("flywheel_member_cache_checks_total", "valid" => if valid { "yes" } else { "no" })
            .increment(1);
        valid
    }

    /// The database moved from write generation `from` to `to` by a commit that wrote
    /// only what the entries already hold (a flush of the engine's waiting plans).
    pub fn advance(&mut self, from: i64, to: i64) {
        if self.valid_at == Some(from) {
            self.valid_at = Some(to);
        }
    }

    /// Drops every entry and trusts nothing until the next install.
    pub fn clear(&mut self) {
        self.valid_at = None;
        self.owners.clear();
        self.members.clear();
        self.orders.clear();
        self.referrals.clear();
    }

    /// The owner of an identity key: None if not cached, Some(None) if nobody holds it.
    pub fn owner(&self, key: &str) -> Option<Option<MemberId>> {
        self.owners.get(key).copied()
    }

    pub fn member(&self, id: MemberId) -> Option<&MemberState> {
        self.members.get(&id)
    }

    /// An order: None if not cached, Some(None) if the store has no such order.
    pub fn order(&self, id: &str) -> Option<Option<&OrderState>> {
        self.orders.get(id).map(Option::as_ref)
    }

    /// Every referral naming `invitee`, if cached.
    pub fn referrals_of(&self, invitee: MemberId) -> Option<&[ReferralState]> {
        self.referrals.get(&invitee).map(Vec::as_slice)
    }

    /// Keeps what a committed transaction's working set ended with; the database is now
    /// at write generation `now`, which that commit made.
    pub fn install(&mut self, ws: WorkingSet, reached: &Reached, merges: &[Merge], now: i64) {
        if self.capacity == 0 {
            return;
        }
        // Each merged member → the member it stands for now, as the store re-pointed.
        let moved: HashMap<MemberId, MemberId> = merges
            .iter()
            .map(|m| (m.merged, ws.survivor(m.merged)))
            .collect();
        if !moved.is_empty() {
            self.follow_merges(&moved);
        }
        for identity in &reached.identities {
            self.owners
                .insert(identity.key(), ws.owners.get(identity).copied());
        }
        let WorkingSet {
            members,
            mut orders,
            referrals,
            ..
        } = ws;
        for id in &reached.order_ids {
            self.orders.insert(id.clone(), orders.remove(id));
        }
        let mut by_invitee: HashMap<MemberId, Vec<ReferralState>> = HashMap::new();
        for r in referrals.into_values() {
            by_invitee.entry(r.invitee_id).or_default().push(r);
        }
        let created = members.keys().filter(|id| !reached.loaded.contains(id));
        for &id in reached.complete_invitees.iter().chain(created) {
            self.referrals
                .insert(id, by_invitee.remove(&id).unwrap_or_default());
        }
        self.members.extend(members);
        // Both sides' referral lists changed hands; read them again when next needed.
        for (merged, survivor) in &moved {
            self.referrals.remove(merged);
            self.referrals.remove(survivor);
        }
        self.valid_at = Some(now);
        self.evict();
    }

    /// Re-points cached rows of merged members at their survivors, as the store's
    /// `repoint_merged` did to the rows themselves. A walk over the whole cache, paid
    /// only by groups with a merge.
    fn follow_merges(&mut self, moved: &HashMap<MemberId, MemberId>) {
        let follow = |id: &mut MemberId| {
            if let Some(&to) = moved.get(id) {
                *id = to;
            }
        };
        self.owners.values_mut().flatten().for_each(follow);
        for order in self.orders.values_mut().flatten() {
            follow(&mut order.member_id);
        }
        for r in self.referrals.values_mut().flatten() {
            follow(&mut r.inviter_id);
            follow(&mut r.invitee_id);
        }
        for m in self.members.values_mut() {
            if let Some(target) = m.merged_into.as_mut() {
                follow(target);
            }
        }
    }

    /// Brings each map back under its bound, dropping entries in the map's own
    /// (arbitrary) order: all of them are clean, so any will do.
    fn evict(&mut self) {
        let members = self.capacity;
        let keys = self.capacity.saturating_mul(4);
        shrink(&mut self.members, members);
        shrink(&mut self.referrals, members);
        shrink(&mut self.owners, keys);
        shrink(&mut self.orders, keys);
        metrics::gauge!("flywheel_member_cache_members").set(self.members.len() as f64);
    }
}

/// Drops entries of `map` until it holds at most nine tenths of `bound` (so that it
/// is not trimmed again after every transaction).
fn shrink<K: Clone + Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>, bound: usize) {
    if map.len() <= bound {
        return;
    }
    let target = bound / 10 * 9;
    let drop: Vec<K> = map.keys().take(map.len() - target).cloned().collect();
    for k in drop {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_core::Money;
    use flywheel_core::identity::IdentityKind;

    fn weibo(uid: &str) -> Identity {
        Identity {
            kind: IdentityKind::WeiboUid,
            value: uid.into(),
        }
    }

    /// What one committed group leaves: members 1 and 2, an identity, an order and a
    /// referral of member 2's, all cached.
    fn cache_with_member_2() -> MemberCache {
        let mut ws = WorkingSet::default();
        for id in [1, 2, 3] {
            ws.insert_loaded(MemberState::new(id, 0));
        }
        ws.owners.insert(weibo("two"), 2);
        ws.orders.insert(
            "o-2".into(),
            OrderState {
                order_id: "o-2".into(),
                member_id: 2,
                purchase_event_id: Some("e".into()),
                amount: Some(Money::from_minor(100)),
                refunded: Money::from_minor(0),
                occurred_at: Some(0),
            },
        );
        ws.referrals.insert(
            "r".into(),
            ReferralState {
                event_id: "r".into(),
                inviter_id: 2,
                invitee_id: 3,
                referred_at: 0,
                converted_at: None,
                status: "pending".into(),
            },
        );
        let reached = Reached {
            identities: vec![weibo("two")],
            order_ids: vec!["o-2".into()],
            complete_invitees: vec![1, 2, 3],
            loaded: [1, 2, 3].into(),
        };
        let mut cache = MemberCache::with_capacity(100);
        assert!(!cache.check(0));
        cache.install(ws, &reached, &[], 1);
        cache
    }

    #[test]
    fn a_merge_re_points_what_the_group_never_loaded() {
        let mut cache = cache_with_member_2();
        assert!(cache.check(1));
        // A later group merges 2 into 1, loading only the two members.
        let mut ws = WorkingSet::default();
        ws.insert_loaded(MemberState::new(1, 0));
        let mut gone = MemberState::new(2, 0);
        gone.merged_into = Some(1);
        ws.insert_loaded(gone);
        let merge = Merge {
            survivor: 1,
            merged: 2,
            at: 5,
            event_id: None,
            actor: "identity".into(),
            explanation: String::new(),
        };
        let reached = Reached {
            complete_invitees: vec![1, 2],
            loaded: [1, 2].into(),
            ..Reached::default()
        };
        cache.install(ws, &reached, &[merge], 2);
        assert!(cache.check(2));
        assert_eq!(cache.owner(&weibo("two").key()), Some(Some(1)));
        assert_eq!(cache.order("o-2").unwrap().unwrap().member_id, 1);
        assert_eq!(cache.referrals_of(3).unwrap()[0].inviter_id, 1);
        assert_eq!(
            cache.referrals_of(1),
            None,
            "both sides' lists are read again"
        );
        assert_eq!(cache.member(2).unwrap().merged_into, Some(1));
    }

    #[test]
    fn another_writer_empties_it_and_a_bound_trims_it() {
        let mut cache = cache_with_member_2();
        assert!(!cache.check(7), "someone else committed generation 2..7");
        assert_eq!(cache.member(1), None);
        let mut cache = cache_with_member_2();
        cache.set_capacity(2);
        assert!(cache.members.len() <= 2, "{}", cache.members.len());
        cache.set_capacity(0);
        assert!(!cache.check(1), "a cache of no members is never trusted");
    }
}
