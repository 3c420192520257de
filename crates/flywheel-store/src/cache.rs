//! The ingest writer's member cache: the members, identity owners, orders and referrals
//! its transactions read or wrote, and what earning needs of the members' points (their
//! wallets' views and their rule usage of the current periods), kept between
//! transactions so the next group of events touching the same people loads nothing from
//! the database. It also hands the next group the definitions the last one ran under
//! (`ingest/definitions.rs`).
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
//! any of them at any time is safe. The cache is bounded twice: in members, and in bytes
//! as [`Footprint`] estimates them, so that a brand whose members hold long histories
//! cannot grow the process past what the bound in members suggests.

use crate::ingest::Definitions;
use flywheel_core::Identity;
use flywheel_core::ingest::footprint::{Footprint, HASH_ENTRY};
use flywheel_core::ingest::{MemberId, MemberState, Merge, OrderState, ReferralState, WorkingSet};
use flywheel_core::points::{Book, EarningView, PeriodUsage};
use flywheel_core::segment::Language;
use flywheel_core::time::Micros;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

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

/// What a transaction's earning holds in full once it has run (`points/ingest.rs`).
#[derive(Debug, Default)]
pub(crate) struct PointsReached {
    /// Members every wallet of whom the book holds, loaded whole.
    pub whole_wallets: BTreeSet<MemberId>,
    /// Members whose wallets came from the cache's views: what the book holds of them,
    /// with the order lots the views left out.
    pub cached_wallets: BTreeSet<MemberId>,
    /// Members whose rule usage the book holds in full for some periods.
    pub usage: Option<UsageReached>,
}

#[derive(Debug)]
pub(crate) struct UsageReached {
    pub members: BTreeSet<MemberId>,
    pub periods: BTreeSet<String>,
}

#[derive(Debug)]
pub(crate) struct MemberCache {
    /// The write generation the entries mirror; None: trust nothing.
    valid_at: Option<i64>,
    capacity: usize,
    /// The bound in bytes, over all four maps.
    budget: usize,
    /// Identity key → its owner, or None: no member holds it.
    owners: Weighed<String, Option<MemberId>>,
    /// Members with every identity of a unique kind (and some others).
    members: Weighed<MemberId, MemberState>,
    /// Order id → the order, or None: not seen.
    orders: Weighed<String, Option<OrderState>>,
    /// Invitee → every referral naming it.
    referrals: Weighed<MemberId, Vec<ReferralState>>,
    /// Member → the view of each of its wallets (none: it has no points).
    wallets: Weighed<MemberId, Vec<EarningView>>,
    /// Member → its rule usage in the periods last loaded.
    usage: Weighed<MemberId, PeriodUsage>,
    /// The definitions the last group ran under, while only this writer's groups and
    /// flushes have committed since (`ingest/definitions.rs`).
    definitions: Option<Definitions>,
}

/// A hash map that keeps the estimated bytes of its entries.
#[derive(Debug)]
struct Weighed<K, V> {
    map: HashMap<K, V>,
    bytes: usize,
}

impl<K: Footprint + Eq + Hash + Clone, V: Footprint> Weighed<K, V> {
    fn new() -> Self {
        Weighed {
            map: HashMap::new(),
            bytes: 0,
        }
    }

    fn cost(key: &K, value: &V) -> usize {
        key.footprint() + value.footprint() + HASH_ENTRY
    }

    fn insert(&mut self, key: K, value: V) {
        let added = Self::cost(&key, &value);
        if let Some(old) = self.map.get(&key) {
            self.bytes -= Self::cost(&key, old);
        }
        self.map.insert(key, value);
        self.bytes += added;
    }

    fn remove(&mut self, key: &K) {
        if let Some(old) = self.map.remove(key) {
            self.bytes -= Self::cost(key, &old);
        }
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// Values to change in place: only in ways that keep their size (member ids).
    fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.map.values_mut()
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }

    /// Drops entries, in the map's own (arbitrary) order, until at most `len` remain.
    fn shrink_to(&mut self, len: usize) {
        if self.map.len() <= len {
            return;
        }
        let drop: Vec<K> = self
            .map
            .keys()
            .take(self.map.len() - len)
            .cloned()
            .collect();
        for k in drop {
            self.remove(&k);
        }
    }
}

impl MemberCache {
    /// A cache of up to `members` members, up to four times as many identity owners and
    /// orders, and about `budget` bytes of the resident set in all.
    pub fn with_bounds(members: usize, budget: usize) -> MemberCache {
        MemberCache {
            valid_at: None,
            capacity: members,
            budget,
            owners: Weighed::new(),
            members: Weighed::new(),
            orders: Weighed::new(),
            referrals: Weighed::new(),
            wallets: Weighed::new(),
            usage: Weighed::new(),
            definitions: None,
        }
    }

    pub fn set_bounds(&mut self, members: usize, budget: usize) {
        self.capacity = members;
        self.budget = budget;
        if !self.on() {
            self.clear();
        }
        self.evict();
    }

    fn on(&self) -> bool {
        self.capacity > 0 && self.budget > 0
    }

    /// The estimated bytes the entries hold.
    pub fn bytes(&self) -> usize {
        self.owners.bytes
            + self.members.bytes
            + self.orders.bytes
            + self.referrals.bytes
            + self.wallets.bytes
            + self.usage.bytes
    }

    /// What the entries add to the process's resident set, from the estimate: measured
    /// at 1.52 times it with the cache unbounded (38,209 members: 100.2 MB estimated, peak
    /// RSS up 152.5 MB against the same import without the cache) and at 1.69 times it
    /// while evicting (the `--quick` import; bench/PROFILE.md), so 1.75 is taken. The
    /// difference is the maps' spare room and the allocator's pages of replaced entries.
    fn resident(&self) -> usize {
        self.bytes().saturating_mul(7) / 4
    }

    /// Whether the entries mirror the database at write generation `now`; when they do
    /// not, they are dropped.
    pub fn check(&mut self, now: i64) -> bool {
        let valid = self.on() && self.valid_at == Some(now);
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

    /// The database moved from write generation `from` to `to` by a commit that wrote
    /// none of what the entries hold but the rows of the members `rewritten` (a sweep),
    /// which are dropped: the rest still mirror the database.
    pub fn advance_dropping(&mut self, from: i64, to: i64, rewritten: &[MemberId]) {
        if self.valid_at == Some(from) {
            for id in rewritten {
                self.members.remove(id);
            }
            self.valid_at = Some(to);
            self.definitions = None;
        }
    }

    /// The database moved from write generation `from` to `to` by the points sweep's
    /// commit, which settled by `now` the lots due of `members` — `book` holds what it
    /// read and settled — and wrote nothing else the entries hold: those members' views
    /// are brought up to date (`EarningView::settled`).
    pub fn advance_settled(
        &mut self,
        from: i64,
        to: i64,
        book: &Book,
        members: &[MemberId],
        now: Micros,
    ) {
        if self.valid_at != Some(from) {
            return;
        }
        self.definitions = None;
        for &m in members {
            let Some(views) = self.wallets.get(&m) else {
                continue;
            };
            let listed = |p: &str| views.iter().any(|v| v.programme == p);
            if book.wallets_of(m).any(|w| !listed(&w.programme)) {
                // A programme the view did not know of: it never mirrored this member.
                self.wallets.remove(&m);
                continue;
            }
            let settled: Vec<EarningView> = views
                .iter()
                .map(|v| match book.wallets.get(&(m, v.programme.clone())) {
                    Some(w) => v.settled(w, now),
                    None => v.clone(),
                })
                .collect();
            self.wallets.insert(m, settled);
        }
        self.valid_at = Some(to);
        self.evict();
    }

    /// Drops every entry and trusts nothing until the next install.
    pub fn clear(&mut self) {
        self.valid_at = None;
        self.owners.clear();
        self.members.clear();
        self.orders.clear();
        self.referrals.clear();
        self.wallets.clear();
        self.usage.clear();
        self.definitions = None;
    }

    /// The owner of an identity key: None if not cached, Some(None) if nobody holds it.
    pub fn owner(&self, key: &str) -> Option<Option<MemberId>> {
        self.owners.map.get(key).copied()
    }

    pub fn member(&self, id: MemberId) -> Option<&MemberState> {
        self.members.get(&id)
    }

    /// An order: None if not cached, Some(None) if the store has no such order.
    pub fn order(&self, id: &str) -> Option<Option<&OrderState>> {
        self.orders.map.get(id).map(Option::as_ref)
    }

    /// The views of every wallet of `member`, if cached (empty: it has no points).
    pub fn wallets_of(&self, member: MemberId) -> Option<&[EarningView]> {
        self.wallets.get(&member).map(Vec::as_slice)
    }

    /// `member`'s rule usage in the periods it says, if cached.
    pub fn usage_of(&self, member: MemberId) -> Option<&PeriodUsage> {
        self.usage.get(&member)
    }

    /// The definitions the last group ran under, if it ran under `lang`.
    pub fn definitions(&self, lang: &Language) -> Option<&Definitions> {
        self.definitions.as_ref().filter(|d| &d.lang == lang)
    }

    /// Every referral naming `invitee`, if cached.
    pub fn referrals_of(&self, invitee: MemberId) -> Option<&[ReferralState]> {
        self.referrals.get(&invitee).map(Vec::as_slice)
    }

    /// Keeps what a committed transaction ended with: its working set, what its
    /// earning's book holds in full (`points`, when it earned) and the definitions it
    /// ran under; the database is now at write generation `now`, which that commit made.
    pub fn install(
        &mut self,
        ws: WorkingSet,
        reached: &Reached,
        merges: &[Merge],
        now: i64,
        points: Option<(&Book, &PointsReached)>,
        definitions: Definitions,
    ) {
        if !self.on() {
            return;
        }
        self.keep_rows(ws, reached, merges, now);
        self.definitions = Some(definitions);
        if let Some((book, points)) = points {
            self.keep_points(book, points, merges);
        }
        self.evict();
    }

    /// The rows part of [`install`](Self::install).
    fn keep_rows(&mut self, ws: WorkingSet, reached: &Reached, merges: &[Merge], now: i64) {
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
        for (id, member) in members {
            self.members.insert(id, member);
        }
        // Both sides' referral lists changed hands; read them again when next needed.
        for (merged, survivor) in &moved {
            self.referrals.remove(merged);
            self.referrals.remove(survivor);
        }
        self.valid_at = Some(now);
    }

    /// The points part of [`install`](Self::install): the views of the wallets and the
    /// usage `reached` says the book holds in full. Any other member whose points the
    /// book changed is dropped, and so is everyone a merge touched (their points changed
    /// hands).
    fn keep_points(&mut self, book: &Book, reached: &PointsReached, merges: &[Merge]) {
        let mut merged: BTreeSet<MemberId> = BTreeSet::new();
        for m in merges {
            merged.extend([m.survivor, m.merged, book.survivor(m.survivor)]);
        }
        merged.extend(book.redirect.keys().copied());
        let known = |m: &MemberId| {
            !merged.contains(m)
                && (reached.whole_wallets.contains(m) || reached.cached_wallets.contains(m))
        };
        let changed_wallets = book.wallets.keys().map(|(m, _)| *m);
        for m in changed_wallets.chain(merged.iter().copied()) {
            if !known(&m) {
                self.wallets.remove(&m);
            }
        }
        for &m in reached.whole_wallets.difference(&merged) {
            let views = book.wallets_of(m).map(EarningView::of).collect();
            self.wallets.insert(m, views);
        }
        for &m in reached.cached_wallets.difference(&merged) {
            let Some(before) = self.wallets.get(&m) else {
                continue;
            };
            // A programme the book has no wallet of kept its view as it was.
            let mut views: Vec<EarningView> = before
                .iter()
                .map(|b| match book.wallets.get(&(m, b.programme.clone())) {
                    Some(w) => EarningView::after(w, b),
                    None => b.clone(),
                })
                .collect();
            views.extend(
                book.wallets_of(m)
                    .filter(|w| !before.iter().any(|b| b.programme == w.programme))
                    .map(EarningView::of),
            );
            self.wallets.insert(m, views);
        }
        let usage_complete = |m: &MemberId| {
            !merged.contains(m)
                && reached
                    .usage
                    .as_ref()
                    .is_some_and(|u| u.members.contains(m))
        };
        let changed_usage = book.usage.keys().map(|k| k.member_id);
        for m in changed_usage.chain(merged.iter().copied()) {
            if !usage_complete(&m) {
                self.usage.remove(&m);
            }
        }
        if let Some(u) = &reached.usage {
            let mut by_member: HashMap<MemberId, Vec<_>> = HashMap::new();
            for row in &book.usage {
                by_member.entry(row.0.member_id).or_default().push(row);
            }
            for m in u.members.iter().filter(|m| usage_complete(m)) {
                let rows = by_member.remove(m).unwrap_or_default();
                self.usage
                    .insert(*m, PeriodUsage::of(rows.into_iter(), &u.periods));
            }
        }
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

    /// Brings each map back under its bounds, dropping entries in the map's own
    /// (arbitrary) order: all of them are clean, so any will do. A map over its bound in
    /// entries, or all of them when over the budget in bytes, keep nine tenths of what
    /// the bound allows, so that they are not trimmed again after every transaction.
    fn evict(&mut self) {
        let members = self.capacity;
        let keys = self.capacity.saturating_mul(4);
        // The share of each map to keep so that the whole fits nine tenths of the budget.
        let bytes = self.resident();
        let keep = |len: usize| -> usize {
            if bytes <= self.budget {
                len
            } else {
                (len as f64 * 0.9 * self.budget as f64 / bytes as f64) as usize
            }
        };
        let trim = |len: usize, bound: usize| -> usize {
            let fits = if len > bound { bound / 10 * 9 } else { len };
            fits.min(keep(len))
        };
        let (m, r, o, k) = (
            trim(self.members.len(), members),
            trim(self.referrals.len(), members),
            trim(self.owners.len(), keys),
            trim(self.orders.len(), keys),
        );
        let (w, u) = (
            trim(self.wallets.len(), members),
            trim(self.usage.len(), members),
        );
        self.members.shrink_to(m);
        self.referrals.shrink_to(r);
        self.owners.shrink_to(o);
        self.orders.shrink_to(k);
        self.wallets.shrink_to(w);
        self.usage.shrink_to(u);
        metrics::gauge!("flywheel_member_cache_members").set(self.members.len() as f64);
        metrics::gauge!("flywheel_member_cache_bytes").set(self.bytes() as f64);
        tracing::trace!(
            members = self.members.len(),
            bytes = self.bytes(),
            "member cache"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_core::Money;
    use flywheel_core::identity::IdentityKind;
    use flywheel_core::points::{Lot, Usage, UsageKey, Wallet};

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
                fingerprint: Default::default(),
                hold_reason: None,
            },
        );
        let reached = Reached {
            identities: vec![weibo("two")],
            order_ids: vec!["o-2".into()],
            complete_invitees: vec![1, 2, 3],
            loaded: [1, 2, 3].into(),
        };
        let mut cache = MemberCache::with_bounds(100, 1 << 20);
        assert!(!cache.check(0));
        cache.keep_rows(ws, &reached, &[], 1);
        cache
    }

    /// Member 2 merged into member 1 by identity.
    fn merge_2_into_1() -> Merge {
        Merge {
            survivor: 1,
            merged: 2,
            at: 5,
            event_id: None,
            actor: "identity".into(),
            explanation: String::new(),
        }
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
        let merge = merge_2_into_1();
        let reached = Reached {
            complete_invitees: vec![1, 2],
            loaded: [1, 2].into(),
            ..Reached::default()
        };
        cache.keep_rows(ws, &reached, &[merge], 2);
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
        cache.set_bounds(2, 1 << 20);
        assert!(cache.members.len() <= 2, "{}", cache.members.len());
        cache.set_bounds(0, 1 << 20);
        assert!(!cache.check(1), "a cache of no members is never trusted");
        let mut cache = cache_with_member_2();
        assert!(cache.check(1));
        cache.set_bounds(0, 1 << 20);
        cache.set_bounds(100, 1 << 20);
        assert!(!cache.check(1), "turning it off forgets what it held");
    }

    #[test]
    fn a_sweep_that_rewrote_some_members_keeps_the_rest_trusted() {
        let mut cache = cache_with_member_2();
        cache.advance_dropping(1, 2, &[2]);
        assert!(cache.check(2), "the sweep's commit made generation 2");
        assert_eq!(
            cache.member(2),
            None,
            "the member the sweep wrote is read again"
        );
        assert!(cache.member(1).is_some() && cache.member(3).is_some());
        assert_eq!(cache.owner(&weibo("two").key()), Some(Some(2)));
        // Someone else committed in between: the sweep cannot vouch for the cache.
        cache.advance_dropping(5, 6, &[]);
        assert!(!cache.check(6));
    }

    fn lot(id: &str, member: MemberId, order: Option<&str>) -> Lot {
        Lot {
            id: id.into(),
            member_id: member,
            programme: "main".into(),
            earned_at: 0,
            available_at: 10,
            expires_at: Some(100),
            points: 5,
            remaining: 5,
            pending: true,
            order_id: order.map(str::to_owned),
        }
    }

    #[test]
    fn points_are_kept_only_for_members_whose_book_was_whole() {
        let mut cache = cache_with_member_2();
        let mut book = Book::default();
        for (member, lots) in [
            (1, vec![lot("l1", 1, Some("o1"))]),
            (2, vec![lot("l2", 2, None)]),
        ] {
            let mut w = Wallet::new(member, "main");
            w.lots = lots;
            book.wallets.insert((member, "main".into()), w);
        }
        book.usage.insert(
            UsageKey {
                member_id: 1,
                rule_id: "r".into(),
                period: "all".into(),
            },
            Usage {
                count: 1,
                points: 5,
            },
        );
        let periods: BTreeSet<String> = ["all".to_owned()].into();
        let reached = PointsReached {
            // Member 2's wallet was loaded for earning only; member 3 has no points.
            whole_wallets: [1, 3].into(),
            cached_wallets: BTreeSet::new(),
            usage: Some(UsageReached {
                members: [1, 2, 3].into(),
                periods: periods.clone(),
            }),
        };
        cache.keep_points(&book, &reached, &[]);
        let one = cache.wallets_of(1).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].orders_due, [10], "the order lot matures at 10");
        assert!(one[0].loose.is_empty());
        assert_eq!(cache.wallets_of(2), None, "a partial wallet is not kept");
        assert_eq!(
            cache.wallets_of(3),
            Some(&[][..]),
            "no points is an answer too"
        );
        assert!(cache.usage_of(1).unwrap().covers(&periods));
        assert_eq!(cache.usage_of(1).unwrap().rows.len(), 1);
        assert!(cache.usage_of(2).unwrap().rows.is_empty());
        // A later group earns on member 1's wallet as its view gave it (no order lots):
        // the order lot it left out still matures at 10.
        let mut book = Book::default();
        let mut w = Wallet::new(1, "main");
        let mut later = lot("l1-later", 1, Some("o9"));
        later.available_at = 50;
        w.lots = vec![later];
        book.wallets.insert((1, "main".into()), w);
        let from_view = PointsReached {
            cached_wallets: [1].into(),
            ..PointsReached::default()
        };
        cache.keep_points(&book, &from_view, &[]);
        assert_eq!(cache.wallets_of(1).unwrap()[0].orders_due, [10, 50]);
        let before = cache.bytes();

        // A merge of 2 into 1 drops both sides' points.
        let merge = merge_2_into_1();
        cache.keep_points(&Book::default(), &PointsReached::default(), &[merge]);
        assert_eq!(cache.wallets_of(1), None);
        assert_eq!(cache.usage_of(2), None);
        assert!(cache.wallets_of(3).is_some() && cache.bytes() < before);

        // The points sweep settles by 20 member 1's lots in a programme the cache did not
        // know of (so it never mirrored member 1: dropped) and finds nothing of member
        // 3's: the rest stays trusted.
        cache.keep_points(
            &Book::default(),
            &PointsReached {
                whole_wallets: [1].into(),
                ..PointsReached::default()
            },
            &[],
        );
        let mut swept = Book::default();
        swept
            .wallets
            .insert((1, "other".into()), Wallet::new(1, "other"));
        cache.advance_settled(1, 2, &swept, &[1, 3], 20);
        assert!(cache.check(2));
        assert_eq!(cache.wallets_of(1), None);
        assert_eq!(cache.wallets_of(3), Some(&[][..]));
    }

    #[test]
    fn a_budget_in_bytes_trims_it_and_its_count_stays_exact() {
        let mut cache = cache_with_member_2();
        let full = cache.bytes();
        assert!(full > 0);
        // What the entries hold, counted afresh, is what the running total says.
        let recount = |c: &MemberCache| -> usize {
            let m: usize = c.members.map.iter().map(|(k, v)| Weighed::cost(k, v)).sum();
            let r: usize = c
                .referrals
                .map
                .iter()
                .map(|(k, v)| Weighed::cost(k, v))
                .sum();
            let o: usize = c.owners.map.iter().map(|(k, v)| Weighed::cost(k, v)).sum();
            let d: usize = c.orders.map.iter().map(|(k, v)| Weighed::cost(k, v)).sum();
            let w: usize = c.wallets.map.iter().map(|(k, v)| Weighed::cost(k, v)).sum();
            let u: usize = c.usage.map.iter().map(|(k, v)| Weighed::cost(k, v)).sum();
            m + r + o + d + w + u
        };
        assert_eq!(cache.bytes(), recount(&cache));
        cache.set_bounds(100, full / 2);
        assert!(
            cache.resident() <= full / 2,
            "{} > {}",
            cache.resident(),
            full / 2
        );
        assert_eq!(cache.bytes(), recount(&cache));
        assert!(cache.check(1), "what is left is still trusted");
        cache.set_bounds(100, 0);
        assert!(!cache.check(1), "a budget of nothing turns it off");
        assert_eq!(cache.bytes(), 0);
    }
}
