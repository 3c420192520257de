//! Tiers that move as members act (seed 003: "spend 10,000 within the year and V1
//! becomes V2 free"), decided event by event inside ingest, beside the points of the same
//! events: a tier changes in the transaction of the event that caused it, and comes out
//! the same however a stream is cut into batches.
//!
//! What moves a tier here:
//! - a `membership_purchase` event naming a programme joins, renews or raises a paid
//!   tier, its term starting when the purchase happened (so imported history comes out
//!   right), any points part debited from the wallet at that moment;
//! - spend (orders less refunds) or points earned raise a paid tier by its upgrade rule,
//!   while the term runs, free until the term ends;
//! - the measure over an earned programme's window reaching a tier gives it (or holds it
//!   for another window).
//!
//! Nothing here lowers a tier: that is the end of a term (`lifecycle.rs`, run by the
//! sweep). The points balance is never a measure, so spending points cannot lower one.
//!
//! The store loads a [`TierPass`] with what the batch's members held and their
//! qualifying history ([`wanted`] says whose, and since when), and the points pass calls
//! [`TierPass::after_event`] after each event; the store then writes what it recorded.

use super::lifecycle::{TermMeasures, earned_tier};
use super::programme::{Measure, Programme, ProgrammeKind};
use super::state::{Membership, Source, purchase};
use crate::event::{Event, Payload};
use crate::ingest::points::{Accepted, Batch};
use crate::ingest::{Changes, MemberId, WorkingSet};
use crate::money::Money;
use crate::points::commands::pay_membership_fee;
use crate::points::{Account, Book, Kind, MemberAccount};
use crate::scores::super_user::MEMBERSHIP_PURCHASE;
use crate::time::{DAY, Micros, to_rfc3339};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Every programme as its newest version defines it, by id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalogue {
    pub programmes: Vec<(String, Programme)>,
}

impl Catalogue {
    pub fn get(&self, id: &str) -> Option<&Programme> {
        self.programmes
            .iter()
            .find(|(p, _)| p == id)
            .map(|(_, def)| def)
    }

    /// Whether `measure` can move a tier in real time: an upgrade rule or an earned
    /// ladder measured by it.
    pub fn moved_by(&self, measure: Measure) -> bool {
        self.programmes.iter().any(|(_, p)| {
            p.tiers.iter().any(|t| match p.kind {
                ProgrammeKind::Paid => t.upgrade.as_ref().is_some_and(|u| u.measure == measure),
                ProgrammeKind::Earned => t.qualify.as_ref().is_some_and(|q| q.measure == measure),
                ProgrammeKind::Card => false,
            })
        })
    }

    /// How far before an event its measures reach: the longest term or window, twice
    /// (a renewal bought early keeps the term's start, so a term can span two).
    pub fn reach(&self) -> Micros {
        let days = self
            .programmes
            .iter()
            .map(|(_, p)| match p.kind {
                ProgrammeKind::Earned => p.window_days(),
                _ => p.term.as_ref().and_then(|t| t.days).unwrap_or(366),
            })
            .max()
            .unwrap_or(0);
        2 * i64::from(days) * DAY
    }
}

/// What a `membership_purchase` event names in its properties (checked when it was
/// parsed). Events that name no programme are facts only, as before programmes existed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPurchase<'e> {
    pub programme: &'e str,
    pub tier: &'e str,
    pub cash: Money,
    pub points: i64,
    /// Set on the event the API writes for its own purchase: already recorded.
    pub purchase_id: Option<&'e str>,
}

pub fn named_purchase(event: &Event) -> Option<NamedPurchase<'_>> {
    if event.type_name != MEMBERSHIP_PURCHASE {
        return None;
    }
    let p = &event.properties;
    Some(NamedPurchase {
        programme: p.get("programme")?.as_str()?,
        tier: p.get("tier")?.as_str()?,
        cash: p
            .get("amount")
            .and_then(Value::as_str)
            .and_then(|s| Money::parse(s).ok())
            .unwrap_or_default(),
        points: p.get("points").and_then(Value::as_i64).unwrap_or(0),
        purchase_id: p.get("purchase_id").and_then(Value::as_str),
    })
}

/// Whose memberships and history a batch needs, and since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Members whose tiers the batch can move: their memberships and history.
    pub members: BTreeSet<MemberId>,
    /// Members who earn points by rules that look at tiers: their memberships only.
    pub holders: BTreeSet<MemberId>,
    /// Orders and points earned from this instant on.
    pub since: Micros,
    /// Whether points earned are a measure at all (else they need not be loaded).
    pub points: bool,
}

/// The members of `batch` whose tiers its events can move, and (when `rules_use_tiers`:
/// some earning rule has tier conditions or multipliers) every member who may earn, or
/// None when neither is needed.
pub fn wanted(catalogue: &Catalogue, batch: &Batch<'_>, rules_use_tiers: bool) -> Option<Wanted> {
    if catalogue.programmes.is_empty() {
        return None;
    }
    let by_spend = catalogue.moved_by(Measure::Spend);
    let by_points = catalogue.moved_by(Measure::Points);
    let mut members = BTreeSet::new();
    let mut holders = BTreeSet::new();
    let mut earliest = None::<Micros>;
    for a in batch.accepted {
        let e = a.event;
        earliest = Some(earliest.map_or(e.occurred_at, |t| t.min(e.occurred_at)));
        if rules_use_tiers {
            holders.insert(a.member_id);
        }
        let spends = matches!(e.payload, Payload::Purchase(_) | Payload::Refund { .. });
        let moves = named_purchase(e).is_some() || by_points || (by_spend && spends);
        if !moves {
            continue;
        }
        members.insert(a.member_id);
        if let Payload::Refund { order_id, .. } = &e.payload
            && let Some(o) = batch.ws.orders.get(order_id)
        {
            members.insert(o.member_id);
        }
    }
    if rules_use_tiers {
        // Inviters earn by converted referrals, as they stand when those convert.
        holders.extend(batch.changes.conversions.iter().map(|c| c.inviter_id));
    }
    if members.is_empty() && holders.is_empty() {
        return None;
    }
    Some(Wanted {
        members,
        holders,
        since: earliest? - catalogue.reach(),
        points: by_points,
    })
}

/// A tier change the pass recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierMove {
    pub member: MemberId,
    pub programme: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub at: Micros,
    /// `purchase`, `renewal`, `upgrade`, `qualify`, or `refused` (a purchase event that
    /// changed nothing, and why).
    pub rule: &'static str,
    pub reason: String,
    /// The purchase, or the event, that caused it.
    pub reference: String,
}

/// A purchase made by an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventPurchase {
    pub id: String,
    pub event_id: String,
    pub member: MemberId,
    pub programme: String,
    pub tier: String,
    pub cash: Money,
    pub points: i64,
    pub term_start: Micros,
    pub expires_at: Option<Micros>,
    /// The ledger transaction of the points part.
    pub txn_key: Option<String>,
    pub previous: Option<Membership>,
    pub at: Micros,
}

/// The tier pass of one batch.
pub struct TierPass<'c> {
    catalogue: &'c Catalogue,
    points_programme: String,
    members: BTreeSet<MemberId>,
    /// What each wanted member holds, by (member, programme), as loaded and as changed.
    held: BTreeMap<(MemberId, String), Membership>,
    /// Memberships changed (written back; absent from `held` means removed).
    pub dirty: BTreeSet<(MemberId, String)>,
    /// Net spend of each order, by owner: (when it happened, amount less refunds).
    spend: HashMap<MemberId, HashMap<String, (Micros, i64)>>,
    order_owner: HashMap<String, MemberId>,
    /// Points earned, by member: (when, points).
    points: HashMap<MemberId, Vec<(Micros, i64)>>,
    postings_seen: usize,
    pub moves: Vec<TierMove>,
    pub purchases: Vec<EventPurchase>,
}

impl<'c> TierPass<'c> {
    pub fn new(catalogue: &'c Catalogue, points_programme: &str, wanted: &Wanted) -> Self {
        TierPass {
            catalogue,
            points_programme: points_programme.to_owned(),
            members: wanted.members.clone(),
            held: BTreeMap::new(),
            dirty: BTreeSet::new(),
            spend: HashMap::new(),
            order_owner: HashMap::new(),
            points: HashMap::new(),
            postings_seen: 0,
            moves: Vec::new(),
            purchases: Vec::new(),
        }
    }

    /// A membership as stored.
    pub fn hold(&mut self, m: Membership) {
        self.held.insert((m.member_id, m.programme.clone()), m);
    }

    /// An order as stored (net of refunds, in minor units).
    pub fn order(&mut self, order_id: &str, member: MemberId, at: Micros, net: i64) {
        if let Some(old) = self.order_owner.insert(order_id.to_owned(), member)
            && old != member
            && let Some(orders) = self.spend.get_mut(&old)
        {
            orders.remove(order_id);
        }
        self.spend
            .entry(member)
            .or_default()
            .insert(order_id.to_owned(), (at, net));
    }

    /// Points earned, as stored.
    pub fn earned(&mut self, member: MemberId, at: Micros, points: i64) {
        self.points.entry(member).or_default().push((at, points));
    }

    /// The tiers `member` holds at `at`, as `"programme:tier"`, for earning rules that
    /// look at tiers: memberships reached by then and not past their term and grace.
    pub fn held_at(&self, member: MemberId, at: Micros) -> Vec<String> {
        self.held
            .range((member, String::new())..)
            .take_while(|((m, _), _)| *m == member)
            .filter(|(_, m)| {
                m.since <= at
                    && self
                        .catalogue
                        .get(&m.programme)
                        .is_some_and(|p| m.active_at(p, at))
            })
            .map(|((_, programme), m)| format!("{programme}:{}", m.tier))
            .collect()
    }

    /// The membership a member holds, as the pass stands.
    pub fn membership(&self, member: MemberId, programme: &str) -> Option<&Membership> {
        self.held.get(&(member, programme.to_owned()))
    }

    /// What the member's orders and earnings in `[from, to)` come to.
    pub fn measures(&self, member: MemberId, from: Micros, to: Micros) -> TermMeasures {
        let within = |at: Micros| at >= from && at < to;
        TermMeasures {
            spend: self.spend.get(&member).map_or(0, |orders| {
                orders
                    .values()
                    .filter(|(at, _)| within(*at))
                    .map(|(_, net)| net)
                    .sum()
            }),
            points: self.points.get(&member).map_or(0, |earned| {
                earned
                    .iter()
                    .filter(|(at, _)| within(*at))
                    .map(|(_, p)| p)
                    .sum()
            }),
        }
    }

    /// Runs one accepted event's effect on tiers, after its points: counts its spend
    /// and the points it earned, applies the purchase it names, then raises whatever
    /// the member's measures now reach.
    pub fn after_event(
        &mut self,
        book: &mut Book,
        a: &Accepted<'_>,
        ws: &WorkingSet,
        changes: &Changes,
    ) {
        let spent = self.count_spend(a, ws, changes);
        let earned = self.count_points(book, a.member_id);
        if !self.members.contains(&a.member_id) {
            return;
        }
        // Only what a programme measures reviews tiers — the same test `wanted` makes
        // of the event alone, so a review never depends on what else is in the batch
        // (a check-in's points must not renew a tier measured by spend).
        let counted = (spent && self.catalogue.moved_by(Measure::Spend))
            || (earned && self.catalogue.moved_by(Measure::Points));
        let at = a.event.occurred_at;
        let reference = a.event.event_id.clone();
        let bought = match named_purchase(a.event) {
            Some(p) if p.purchase_id.is_none() => self.buy(book, a, &p),
            _ => false,
        };
        if counted || bought {
            let ids: Vec<String> = self
                .catalogue
                .programmes
                .iter()
                .map(|(id, _)| id.clone())
                .collect();
            for id in ids {
                self.review(a.member_id, &id, at, &reference);
            }
        }
    }

    /// Takes the spend of the event's order as the event left it. True if it had one.
    fn count_spend(&mut self, a: &Accepted<'_>, ws: &WorkingSet, changes: &Changes) -> bool {
        let order_id = match &a.event.payload {
            Payload::Purchase(p) => &p.order_id,
            Payload::Refund { order_id, .. } => order_id,
            _ => return false,
        };
        let (Some(after), Some(order)) = (
            changes.orders_after.get(&a.event.event_id),
            ws.orders.get(order_id),
        ) else {
            return false;
        };
        let (Some(amount), Some(occurred_at)) = (after.amount, order.occurred_at) else {
            return false;
        };
        let net = amount.minor() - after.refunded.minor();
        self.order(order_id, order.member_id, occurred_at, net);
        true
    }

    /// Takes the points earned by postings added since the last look. True if `member`
    /// earned any.
    fn count_points(&mut self, book: &Book, member: MemberId) -> bool {
        let mut any = false;
        for p in &book.postings[self.postings_seen..] {
            if p.kind != Kind::Earn {
                continue;
            }
            for (account, amount) in &p.entries {
                if let Account::Member {
                    member_id,
                    kind: MemberAccount::Wallet | MemberAccount::Pending,
                    ..
                } = account
                    && *amount > 0
                {
                    self.points
                        .entry(*member_id)
                        .or_default()
                        .push((p.at, *amount));
                    any |= *member_id == member;
                }
            }
        }
        self.postings_seen = book.postings.len();
        any
    }

    fn set(&mut self, m: Membership) {
        let key = (m.member_id, m.programme.clone());
        self.dirty.insert(key.clone());
        self.held.insert(key, m);
    }

    fn refuse(
        &mut self,
        member: MemberId,
        p: &NamedPurchase<'_>,
        at: Micros,
        event_id: &str,
        why: String,
    ) {
        let held = self.membership(member, p.programme).map(|m| m.tier.clone());
        self.moves.push(TierMove {
            member,
            programme: p.programme.to_owned(),
            from: held.clone(),
            to: held,
            at,
            rule: "refused",
            reason: format!("purchase of {} not applied: {why}", p.tier),
            reference: event_id.to_owned(),
        });
    }

    /// Applies a purchase an event names. False when it was refused (recorded as such).
    fn buy(&mut self, book: &mut Book, a: &Accepted<'_>, p: &NamedPurchase<'_>) -> bool {
        let member = a.member_id;
        let at = a.event.occurred_at;
        let event_id = a.event.event_id.as_str();
        let Some(programme) = self.catalogue.get(p.programme) else {
            let why = format!("there is no programme {:?}", p.programme);
            self.refuse(member, p, at, event_id, why);
            return false;
        };
        let current = self
            .membership(member, p.programme)
            .filter(|m| m.active_at(programme, at))
            .cloned();
        let decided = match purchase(p.programme, programme, member, current.as_ref(), p.tier, at) {
            Ok(d) => d,
            Err(e) => {
                self.refuse(member, p, at, event_id, e.message);
                return false;
            }
        };
        // Shaped like the API's purchase ids, derived from the event: the same on replay.
        let id = format!(
            "mbr_{}",
            &crate::auth::hash_key(&format!("event:{event_id}"))[..20]
        );
        let txn_key = (p.points > 0).then(|| format!("membership:event:{event_id}"));
        if let Some(key) = &txn_key {
            let wallet = book.wallet(member, &self.points_programme, a.as_of);
            match pay_membership_fee(wallet, key, &id, p.points, a.as_of) {
                Ok(posting) => book.postings.push(posting),
                Err(short) => {
                    let why = format!(
                        "{} points were to pay part of it; the member had {}",
                        short.requested, short.available
                    );
                    self.refuse(member, p, at, event_id, why);
                    return false;
                }
            }
            self.postings_seen = book.postings.len();
        }
        let paid = match (p.cash.minor(), p.points) {
            (_, 0) => format!("{} cash", p.cash),
            (0, n) => format!("{n} points"),
            (_, n) => format!("{} cash and {n} points", p.cash),
        };
        let until = decided
            .membership
            .expires_at
            .map(to_rfc3339)
            .unwrap_or_default();
        self.moves.push(TierMove {
            member,
            programme: p.programme.to_owned(),
            from: current.as_ref().map(|m| m.tier.clone()),
            to: Some(p.tier.to_owned()),
            at,
            rule: decided.rule,
            reason: format!("{} {} for {paid}, until {until}", decided.verb, p.tier),
            reference: id.clone(),
        });
        self.purchases.push(EventPurchase {
            id,
            event_id: event_id.to_owned(),
            member,
            programme: p.programme.to_owned(),
            tier: p.tier.to_owned(),
            cash: p.cash,
            points: p.points,
            term_start: decided.term_start,
            expires_at: decided.membership.expires_at,
            txn_key,
            previous: current,
            at,
        });
        self.set(decided.membership);
        true
    }

    /// Raises the member's tier in one programme as far as their measures reach at `at`.
    fn review(&mut self, member: MemberId, programme_id: &str, at: Micros, reference: &str) {
        let Some(programme) = self.catalogue.get(programme_id) else {
            return;
        };
        let current = self
            .membership(member, programme_id)
            .filter(|m| m.active_at(programme, at))
            .cloned();
        let rank_of = |id: &str| programme.tier(id).map_or(0, |t| t.rank);
        match programme.kind {
            ProgrammeKind::Paid => {
                let Some(m) = current else { return };
                // What is done in the term `at` falls in raises the tier, not the span
                // of terms renewed in a row.
                let (start, end) = m.term_at(programme, at);
                let Some(end) = end.filter(|end| at >= start && at < *end) else {
                    return;
                };
                let got = self.measures(member, start, end);
                let rank = rank_of(&m.tier);
                let Some((tier, needed, measure)) =
                    programme.ladder().into_iter().rev().find_map(|t| {
                        let u = t.upgrade.as_ref()?;
                        let needed = u.needed().ok()?;
                        (t.rank > rank && got.of(u.measure) >= needed)
                            .then(|| (t.id.clone(), needed, u.measure))
                    })
                else {
                    return;
                };
                let reason = format!(
                    "raised from {} to {tier} free until {}: {} in the term from {}, {} reaches {tier}",
                    m.tier,
                    to_rfc3339(end),
                    describe(measure, got.of(measure)),
                    to_rfc3339(start),
                    describe(measure, needed),
                );
                self.moves.push(TierMove {
                    member,
                    programme: programme_id.to_owned(),
                    from: Some(m.tier.clone()),
                    to: Some(tier.clone()),
                    at,
                    rule: "upgrade",
                    reason,
                    reference: reference.to_owned(),
                });
                self.set(Membership {
                    tier,
                    since: at,
                    source: Source::Upgrade,
                    ..m
                });
            }
            ProgrammeKind::Earned => {
                let window = programme.window_days();
                let got = self.measures(member, at - i64::from(window) * DAY, at + 1);
                let Some(reached) = earned_tier(programme, got) else {
                    return;
                };
                let held_until = at + i64::from(window) * DAY;
                match current {
                    // Reached again: held for a window from now.
                    Some(m) if m.tier == reached.id => {
                        if m.expires_at.is_some_and(|end| end < held_until) {
                            self.set(Membership {
                                expires_at: Some(held_until),
                                ..m
                            });
                        }
                    }
                    Some(m) if rank_of(&m.tier) > reached.rank => {}
                    current => {
                        let q = reached.qualify.as_ref().expect("a reached tier qualifies");
                        let reason = format!(
                            "reached {}: {} in the {window} days to {}, {} reaches it",
                            reached.id,
                            describe(q.measure, got.of(q.measure)),
                            to_rfc3339(at),
                            describe(q.measure, q.needed().unwrap_or_default()),
                        );
                        self.moves.push(TierMove {
                            member,
                            programme: programme_id.to_owned(),
                            from: current.as_ref().map(|m| m.tier.clone()),
                            to: Some(reached.id.clone()),
                            at,
                            rule: "qualify",
                            reason,
                            reference: reference.to_owned(),
                        });
                        self.set(Membership {
                            member_id: member,
                            programme: programme_id.to_owned(),
                            tier: reached.id.clone(),
                            since: at,
                            term_start: at,
                            expires_at: Some(held_until),
                            source: Source::Earned,
                        });
                    }
                }
            }
            ProgrammeKind::Card => {}
        }
    }

    /// The memberships to write back: each changed one as it now stands.
    pub fn written(&self) -> impl Iterator<Item = &Membership> {
        self.dirty.iter().filter_map(|k| self.held.get(k))
    }
}

/// An amount of a measure, for sentences.
pub fn describe(measure: Measure, n: i64) -> String {
    match measure {
        Measure::Spend => format!("{} spent", Money::from_minor(n)),
        Measure::Points => format!("{n} points earned"),
    }
}

/// A purchase made through the API, as an event in the member's history: facts and the
/// super-user score count it as they count a till's `membership_purchase`, and the tier
/// pass leaves it alone (`purchase_id` says it is recorded already). Its id comes from
/// the purchase, so writing it again changes nothing.
pub struct ApiPurchase<'a> {
    pub purchase_id: &'a str,
    pub identity: crate::identity::Identity,
    pub programme: &'a str,
    pub tier: &'a str,
    pub cash: Money,
    pub points: i64,
    pub currency: &'a str,
    pub at: Micros,
}

pub fn purchase_event(p: ApiPurchase<'_>) -> Event {
    let properties = serde_json::json!({
        "programme": p.programme, "tier": p.tier, "order_id": p.purchase_id,
        "amount": p.cash.to_string(), "currency": p.currency, "points": p.points,
        "purchase_id": p.purchase_id,
    });
    Event {
        event_id: format!("membership:{}", p.purchase_id),
        type_name: MEMBERSHIP_PURCHASE.to_owned(),
        occurred_at: p.at,
        channel: crate::event::Channel::OTHER,
        identities: vec![p.identity],
        payload: Payload::Custom,
        properties: match properties {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        },
    }
}
