//! Member facts: what a member has done, kept up to date in the same transaction as
//! each event.
//!
//! Two kinds of fact live here. All-time counters (purchases, spend, likes…) are plain
//! numbers. Window facts ("purchases in the last 365 days") are never stored as numbers,
//! because they go stale as time passes: instead the dated signals they are counted from
//! are kept in `recent`, and [`MemberFacts::window`] counts them for any `as_of`. Signals
//! older than the longest window in use are pruned, so the blob stays small.

use crate::event::{Direction, Event, FeedbackKind, Payload, Purchase};
use crate::money::Money;
use crate::time::{self, Micros};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenComplaint {
    pub event_id: String,
    pub since: Micros,
}

/// A dated fact that window rules count.
///
/// Stored as one flat object (`{"at", "signal", …the kind's fields}`). It is read back
/// through [`FlatSignal`] rather than serde's flatten + tag machinery, which buffers
/// every field and made reading a member's facts several times slower; the JSON is the
/// same either way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FlatSignal")]
pub struct Signal {
    pub at: Micros,
    #[serde(flatten)]
    pub kind: SignalKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum SignalKind {
    Purchase {
        order_id: String,
        amount: i64,
        refunded: i64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        categories: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sub_brands: Vec<String>,
    },
    ConvertedReferral,
    Participation {
        kind: String,
    },
    Feedback,
    PositiveReview,
}

/// Every field any signal kind has, for reading a [`Signal`] in one pass.
#[derive(Deserialize)]
struct FlatSignal {
    at: Micros,
    signal: String,
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    refunded: Option<i64>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    sub_brands: Vec<String>,
    #[serde(default)]
    kind: Option<String>,
}

impl TryFrom<FlatSignal> for Signal {
    type Error = String;

    fn try_from(f: FlatSignal) -> Result<Signal, String> {
        let FlatSignal {
            at,
            signal,
            order_id,
            amount,
            refunded,
            categories,
            sub_brands,
            kind,
        } = f;
        let missing = |field: &str| format!("{signal} signal without {field}");
        let kind = match signal.as_str() {
            "purchase" => SignalKind::Purchase {
                order_id: order_id.ok_or_else(|| missing("order_id"))?,
                amount: amount.ok_or_else(|| missing("amount"))?,
                refunded: refunded.ok_or_else(|| missing("refunded"))?,
                categories,
                sub_brands,
            },
            "converted_referral" => SignalKind::ConvertedReferral,
            "participation" => SignalKind::Participation {
                kind: kind.ok_or_else(|| missing("kind"))?,
            },
            "feedback" => SignalKind::Feedback,
            "positive_review" => SignalKind::PositiveReview,
            other => return Err(format!("unknown signal {other:?}")),
        };
        Ok(Signal { at, kind })
    }
}

/// Everything Flywheel knows a member has done. Serialised as JSON in the store, leaving
/// out zeros and empties (most members have most counters at zero).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemberFacts {
    #[serde(skip_serializing_if = "is_zero")]
    pub events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen_at: Option<Micros>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<Micros>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_connected_at: Option<Micros>,
    /// What brought the member: the source their first event named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::source::Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_interaction_at: Option<Micros>,
    /// The last message either way, feedback, or answer to a complaint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_talk_at: Option<Micros>,

    #[serde(skip_serializing_if = "is_zero")]
    pub orders: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub refunded_orders: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub gross_spent: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub refunded: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_purchase_at: Option<Micros>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_purchase_at: Option<Micros>,
    /// Orders per category, sub-brand and SKU (an order counts once per key).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub categories: BTreeMap<String, u32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sub_brands: BTreeMap<String, u32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub skus: BTreeMap<String, u32>,
    /// When an order with an item of each category was last placed: what a service
    /// reminder ("30 days after a pram") or a repurchase nudge counts from.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub category_last_at: BTreeMap<String, Micros>,
    /// Orders per store (`properties.store`): the member's home store is where they buy
    /// most, and its staff care for them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stores: BTreeMap<String, u32>,
    /// When each SKU was last ordered, and the whole days between its latest orders (at
    /// most [`SKU_GAPS_KEPT`], oldest first): the member's own repurchase cycle.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sku_last_at: BTreeMap<String, Micros>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sku_gaps: BTreeMap<String, Vec<u32>>,

    #[serde(skip_serializing_if = "is_zero")]
    pub visits: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub follows: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub unfollows: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub registers: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub profile_updates: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub likes: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub comments: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub check_ins: u32,
    /// Days in a row the member checked in, up to their latest check-in day (a check-in
    /// older than that, arriving late, changes nothing).
    #[serde(skip_serializing_if = "is_zero")]
    pub check_in_streak: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_check_in_day: Option<i64>,
    #[serde(skip_serializing_if = "is_zero")]
    pub reviews: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub reviews_positive: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub reviews_negative: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub shares: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub referrals_made: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub referrals_converted: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub feedback: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub suggestions: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub complaints: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub complaints_resolved: u32,
    /// Of those, answered within their queue's targets (issue 19): a fast answer is
    /// what turns a critic into an advocate.
    #[serde(skip_serializing_if = "is_zero")]
    pub complaints_resolved_in_time: u32,
    /// When the last of them was resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_in_time_at: Option<Micros>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub open_complaints: Vec<OpenComplaint>,
    #[serde(skip_serializing_if = "is_zero")]
    pub messages_in: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub messages_out: u32,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub participations: BTreeMap<String, u32>,
    /// Customer groups the member joined and left (`link.rs`), by group id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: crate::link::Links,
    /// Shop assistants' WeCom contacts with the member, by the assistant's id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub assistants: crate::link::Links,
    #[serde(skip_serializing_if = "is_zero")]
    pub deposits: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub content_opens: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub content_clicks: u32,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, u32>,
    /// Events per channel (`tmall`, `app`…): where the relationship lives.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, u32>,

    /// Dated signals inside the longest window, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<Signal>,
    /// Interactions per UTC day (`[day since the epoch, count]`, oldest first) inside
    /// the longest window: what `interactions_within(7d)` counts. By day rather than one
    /// signal each, because a keen member likes hundreds of things a month.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interaction_days: Vec<(i64, u32)>,
}

/// Window facts counted at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowFacts {
    pub purchases: u32,
    pub spent: i64,
    pub converted_referrals: u32,
    pub feedback: u32,
    pub positive_reviews: u32,
    pub participations: u32,
    pub participations_by_kind: BTreeMap<String, u32>,
    pub categories: BTreeSet<String>,
    pub sub_brands: BTreeSet<String>,
}

/// Gaps between a SKU's orders kept per SKU: enough for a median, bounded per member.
pub const SKU_GAPS_KEPT: usize = 6;

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

fn min_opt(a: Option<Micros>, b: Option<Micros>) -> Option<Micros> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn max_opt(a: Option<Micros>, b: Option<Micros>) -> Option<Micros> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn merge_counts(into: &mut BTreeMap<String, u32>, from: &BTreeMap<String, u32>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

impl MemberFacts {
    /// Net spend: purchases less refunds.
    pub fn net_spent(&self) -> Money {
        Money::from_minor(self.gross_spent.saturating_sub(self.refunded))
    }

    /// Purchases that still stand (orders not refunded in full).
    pub fn purchase_count(&self) -> u32 {
        self.orders.saturating_sub(self.refunded_orders)
    }

    /// The last time the member bought or interacted; falls back to the first time they
    /// connected, so silence is measured from the start of the relationship.
    pub fn last_engaged_at(&self) -> Option<Micros> {
        max_opt(self.last_purchase_at, self.last_interaction_at).or(self.first_connected_at)
    }

    pub fn oldest_open_complaint(&self) -> Option<Micros> {
        self.open_complaints.iter().map(|c| c.since).min()
    }

    /// Orders beyond the first of each SKU: how often the member came back for the same thing.
    pub fn repeat_sku_purchases(&self) -> u32 {
        self.skus.values().map(|n| n.saturating_sub(1)).sum()
    }

    /// Records the parts of an event every type shares, and the counters of the simple
    /// types. Purchases, refunds, referrals and complaint resolutions need state outside
    /// one member and are recorded by the ingest processor through the methods below.
    pub fn record(&mut self, event: &Event, keep_after: Micros) {
        let at = event.occurred_at;
        self.events += 1;
        *self
            .channels
            .entry(event.channel.as_str().to_owned())
            .or_default() += 1;
        // The first event says where the member came from: an earlier one replaces the
        // source (or its absence); one at the same instant only fills a gap.
        let earliest = self.first_seen_at.is_none_or(|seen| at < seen);
        let tie_filling_a_gap = self.first_seen_at == Some(at) && self.source.is_none();
        if earliest || tie_filling_a_gap {
            let source = crate::source::read(&event.type_name, &event.properties, at)
                .ok()
                .flatten();
            if earliest || source.is_some() {
                self.source = source;
            }
        }
        self.first_seen_at = min_opt(self.first_seen_at, Some(at));
        self.last_seen_at = max_opt(self.last_seen_at, Some(at));
        if event.is_connecting() {
            self.first_connected_at = min_opt(self.first_connected_at, Some(at));
        }
        if event.is_interaction() {
            self.last_interaction_at = max_opt(self.last_interaction_at, Some(at));
            if at > keep_after {
                self.count_interaction_day(time::day_number(at), 1);
            }
        }
        if matches!(
            event.payload,
            Payload::Message { .. }
                | Payload::Feedback { .. }
                | Payload::ComplaintResolved { .. }
                | Payload::ContactAdded { .. }
        ) {
            self.last_talk_at = max_opt(self.last_talk_at, Some(at));
        }
        match &event.payload {
            Payload::Visit => self.visits += 1,
            Payload::Follow => self.follows += 1,
            Payload::Unfollow => self.unfollows += 1,
            Payload::Register(_) => self.registers += 1,
            Payload::ProfileUpdate(_) => self.profile_updates += 1,
            Payload::Like => self.likes += 1,
            Payload::CheckIn => {
                self.check_ins += 1;
                let day = time::day_number(at);
                match self.last_check_in_day {
                    Some(last) if day == last + 1 => self.check_in_streak += 1,
                    Some(last) if day <= last => {}
                    _ => self.check_in_streak = 1,
                }
                self.last_check_in_day = Some(self.last_check_in_day.map_or(day, |l| l.max(day)));
            }
            Payload::Comment => self.comments += 1,
            Payload::Share => self.shares += 1,
            Payload::Review { rating } => {
                self.reviews += 1;
                if *rating >= 4 {
                    self.reviews_positive += 1;
                    self.push_signal(at, SignalKind::PositiveReview, keep_after);
                } else if *rating <= 2 {
                    self.reviews_negative += 1;
                }
            }
            Payload::Feedback { kind, .. } => {
                self.feedback += 1;
                self.push_signal(at, SignalKind::Feedback, keep_after);
                match kind {
                    FeedbackKind::Suggestion => self.suggestions += 1,
                    FeedbackKind::Complaint => {
                        self.complaints += 1;
                        self.open_complaints.push(OpenComplaint {
                            event_id: event.event_id.clone(),
                            since: at,
                        });
                        self.open_complaints.sort_by_key(|c| c.since);
                    }
                }
            }
            Payload::ComplaintResolved {
                complaint_event_id,
                within_target,
            } => {
                if self.resolve_complaint(complaint_event_id.as_deref()) && *within_target {
                    self.complaints_resolved_in_time += 1;
                    self.resolved_in_time_at = max_opt(self.resolved_in_time_at, Some(at));
                }
            }
            Payload::Message {
                direction: Direction::In,
            } => self.messages_in += 1,
            Payload::Message {
                direction: Direction::Out,
            } => self.messages_out += 1,
            Payload::Participation { kind } => {
                *self.participations.entry(kind.clone()).or_default() += 1;
                self.push_signal(
                    at,
                    SignalKind::Participation { kind: kind.clone() },
                    keep_after,
                );
            }
            Payload::GroupJoined { group } => crate::link::join(&mut self.groups, group, at),
            Payload::GroupLeft { group } => crate::link::leave(&mut self.groups, group, at),
            Payload::ContactAdded { staff } => crate::link::join(&mut self.assistants, staff, at),
            Payload::ContactEnded { staff } => crate::link::leave(&mut self.assistants, staff, at),
            Payload::Deposit { .. } => self.deposits += 1,
            Payload::ContentOpen => self.content_opens += 1,
            Payload::ContentClick => self.content_clicks += 1,
            Payload::Custom => *self.custom.entry(event.type_name.clone()).or_default() += 1,
            // Counted by the ingest processor, which sees orders and the referral graph.
            Payload::Purchase(_) | Payload::Refund { .. } | Payload::Referral { .. } => {}
            // Not the member's doing: the ingest processor does not record it here.
            Payload::ReferralReview { .. } | Payload::ShareMilestone(_) => {}
        }
        self.prune(keep_after);
    }

    /// The store the member orders from most (ties to the name first), if any.
    pub fn home_store(&self) -> Option<&str> {
        self.stores
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(s, _)| s.as_str())
    }

    /// A complaint resolved within its targets, and a purchase after it.
    pub fn complainer_won_back(&self) -> bool {
        match (self.resolved_in_time_at, self.last_purchase_at) {
            (Some(resolved), Some(bought)) => bought > resolved,
            _ => false,
        }
    }

    /// Closes a complaint; false when none was open.
    fn resolve_complaint(&mut self, complaint_event_id: Option<&str>) -> bool {
        let index = match complaint_event_id {
            Some(id) => self.open_complaints.iter().position(|c| c.event_id == id),
            None => None,
        };
        // An unknown or absent id resolves the oldest open complaint.
        let index = index.or(if self.open_complaints.is_empty() {
            None
        } else {
            Some(0)
        });
        if let Some(i) = index {
            self.open_complaints.remove(i);
            self.complaints_resolved += 1;
        }
        index.is_some()
    }

    /// A purchase of `purchase`, of which `already_refunded` was refunded before the
    /// purchase itself arrived (history imported out of order).
    pub fn record_purchase(
        &mut self,
        purchase: &Purchase,
        at: Micros,
        already_refunded: Money,
        keep_after: Micros,
    ) {
        let amount = purchase.amount.minor();
        let refunded = already_refunded.minor().min(amount);
        self.orders += 1;
        // Saturating: amounts are bounded per order, so only an absurd history could
        // reach the edge, and a statistic pinned there beats one that wraps negative.
        self.gross_spent = self.gross_spent.saturating_add(amount);
        self.refunded = self.refunded.saturating_add(refunded);
        if refunded > 0 && refunded >= amount {
            self.refunded_orders += 1;
        }
        self.first_purchase_at = min_opt(self.first_purchase_at, Some(at));
        self.last_purchase_at = max_opt(self.last_purchase_at, Some(at));
        let distinct = |f: fn(&crate::event::Item) -> Option<&String>| -> Vec<String> {
            purchase
                .items
                .iter()
                .filter_map(f)
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        let categories = distinct(|i| i.category.as_ref());
        let sub_brands = distinct(|i| i.sub_brand.as_ref());
        let skus: BTreeSet<&String> = purchase.items.iter().map(|i| &i.sku).collect();
        for c in &categories {
            *self.categories.entry(c.clone()).or_default() += 1;
            let last = self.category_last_at.entry(c.clone()).or_insert(at);
            *last = (*last).max(at);
        }
        for b in &sub_brands {
            *self.sub_brands.entry(b.clone()).or_default() += 1;
        }
        for s in skus {
            *self.skus.entry(s.clone()).or_default() += 1;
            // Orders arrive in time order but for history imported out of order; an
            // earlier one than the last seen leaves the cycle as it was.
            match self.sku_last_at.get(s).copied() {
                Some(last) if at > last => {
                    let gaps = self.sku_gaps.entry(s.clone()).or_default();
                    gaps.push(((at - last) / time::DAY).clamp(0, i64::from(u32::MAX)) as u32);
                    if gaps.len() > SKU_GAPS_KEPT {
                        gaps.remove(0);
                    }
                    self.sku_last_at.insert(s.clone(), at);
                }
                Some(_) => {}
                None => {
                    self.sku_last_at.insert(s.clone(), at);
                }
            }
        }
        if let Some(store) = &purchase.store {
            *self.stores.entry(store.clone()).or_default() += 1;
        }
        let kind = SignalKind::Purchase {
            order_id: purchase.order_id.clone(),
            amount,
            refunded,
            categories,
            sub_brands,
        };
        self.push_signal(at, kind, keep_after);
    }

    /// A refund of `delta` more on an order of `order_amount`; `was_full`/`now_full` tell
    /// whether the order was, and now is, refunded in full.
    pub fn record_refund(&mut self, order_id: &str, delta: Money, was_full: bool, now_full: bool) {
        self.refunded = self.refunded.saturating_add(delta.minor());
        if now_full && !was_full {
            self.refunded_orders += 1;
        }
        for s in &mut self.recent {
            if let SignalKind::Purchase {
                order_id: id,
                refunded,
                ..
            } = &mut s.kind
                && id == order_id
            {
                *refunded = refunded.saturating_add(delta.minor());
            }
        }
    }

    /// An invitee of this member made their first purchase at `at`.
    pub fn record_converted_referral(&mut self, at: Micros, keep_after: Micros) {
        self.referrals_converted += 1;
        self.push_signal(at, SignalKind::ConvertedReferral, keep_after);
    }

    fn push_signal(&mut self, at: Micros, kind: SignalKind, keep_after: Micros) {
        if at <= keep_after {
            return;
        }
        let index = self.recent.partition_point(|s| s.at <= at);
        self.recent.insert(index, Signal { at, kind });
    }

    fn count_interaction_day(&mut self, day: i64, n: u32) {
        let i = self.interaction_days.partition_point(|(d, _)| *d < day);
        match self.interaction_days.get_mut(i) {
            Some((d, count)) if *d == day => *count = count.saturating_add(n),
            _ => self.interaction_days.insert(i, (day, n)),
        }
    }

    /// Interactions on the UTC day of `as_of` and the `days - 1` days before it.
    pub fn interactions_within(&self, as_of: Micros, days: u32) -> u64 {
        let first = time::day_number(as_of) - i64::from(days) + 1;
        self.interaction_days
            .iter()
            .filter(|(d, _)| *d >= first)
            .map(|(_, n)| u64::from(*n))
            .sum()
    }

    /// Drops signals no window can see any more.
    pub fn prune(&mut self, keep_after: Micros) {
        let cut = self.recent.partition_point(|s| s.at <= keep_after);
        self.recent.drain(..cut);
        // Days wholly before the cut-off; the day it falls in stays.
        let first_day = time::day_number(keep_after);
        let cut = self
            .interaction_days
            .partition_point(|(d, _)| *d < first_day);
        self.interaction_days.drain(..cut);
    }

    /// Counts the window `(as_of - window, as_of]`… and anything later (events may be a
    /// few minutes ahead of the server's clock).
    pub fn window(&self, as_of: Micros, window_days: u32) -> WindowFacts {
        let start = as_of - time::days(window_days);
        let mut w = WindowFacts::default();
        for s in self.recent.iter().filter(|s| s.at > start) {
            match &s.kind {
                SignalKind::Purchase {
                    amount,
                    refunded,
                    categories,
                    sub_brands,
                    ..
                } => {
                    let fully_refunded = *refunded > 0 && refunded >= amount;
                    if !fully_refunded {
                        w.purchases += 1;
                        w.spent += amount - refunded;
                        w.categories.extend(categories.iter().cloned());
                        w.sub_brands.extend(sub_brands.iter().cloned());
                    }
                }
                SignalKind::ConvertedReferral => w.converted_referrals += 1,
                SignalKind::Participation { kind } => {
                    w.participations += 1;
                    *w.participations_by_kind.entry(kind.clone()).or_default() += 1;
                }
                SignalKind::Feedback => w.feedback += 1,
                SignalKind::PositiveReview => w.positive_reviews += 1,
            }
        }
        w
    }

    /// Purchases in the window `(as_of - days, as_of]` (and later) not refunded in full,
    /// and what is left of them: what [`MemberFacts::window`] counts, without gathering
    /// categories (segments ask this once per member and segment at ingest).
    pub fn purchases_within(&self, as_of: Micros, window_days: u32) -> (u32, i64) {
        let start = as_of - time::days(window_days);
        let (mut n, mut spent) = (0u32, 0i64);
        for s in self.recent.iter().filter(|s| s.at > start) {
            if let SignalKind::Purchase {
                amount, refunded, ..
            } = &s.kind
                && !(*refunded > 0 && refunded >= amount)
            {
                n += 1;
                spent += amount - refunded;
            }
        }
        (n, spent)
    }

    /// Folds a merged member's facts into this one.
    pub fn absorb(&mut self, other: &MemberFacts) {
        self.events += other.events;
        // Whoever was seen first says where the pair came from.
        let theirs_first = match (self.first_seen_at, other.first_seen_at) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(mine), Some(theirs)) => {
                theirs < mine || (theirs == mine && self.source.is_none())
            }
        };
        if theirs_first {
            self.source = other.source.clone();
        }
        self.first_seen_at = min_opt(self.first_seen_at, other.first_seen_at);
        self.last_seen_at = max_opt(self.last_seen_at, other.last_seen_at);
        self.first_connected_at = min_opt(self.first_connected_at, other.first_connected_at);
        self.last_interaction_at = max_opt(self.last_interaction_at, other.last_interaction_at);
        self.last_talk_at = max_opt(self.last_talk_at, other.last_talk_at);
        self.orders += other.orders;
        self.refunded_orders += other.refunded_orders;
        self.gross_spent += other.gross_spent;
        self.refunded += other.refunded;
        self.first_purchase_at = min_opt(self.first_purchase_at, other.first_purchase_at);
        self.last_purchase_at = max_opt(self.last_purchase_at, other.last_purchase_at);
        merge_counts(&mut self.categories, &other.categories);
        merge_counts(&mut self.sub_brands, &other.sub_brands);
        merge_counts(&mut self.skus, &other.skus);
        merge_counts(&mut self.stores, &other.stores);
        for (sku, at) in &other.sku_last_at {
            let last = self.sku_last_at.entry(sku.clone()).or_insert(*at);
            *last = (*last).max(*at);
        }
        for (sku, gaps) in &other.sku_gaps {
            let mine = self.sku_gaps.entry(sku.clone()).or_default();
            mine.extend(gaps.iter().copied());
            let extra = mine.len().saturating_sub(SKU_GAPS_KEPT);
            mine.drain(..extra);
        }
        for (c, at) in &other.category_last_at {
            let last = self.category_last_at.entry(c.clone()).or_insert(*at);
            *last = (*last).max(*at);
        }
        self.visits += other.visits;
        self.follows += other.follows;
        self.unfollows += other.unfollows;
        self.registers += other.registers;
        self.profile_updates += other.profile_updates;
        self.likes += other.likes;
        self.comments += other.comments;
        self.check_ins += other.check_ins;
        // The streak running to the later day stands (the two are not spliced).
        if other.last_check_in_day > self.last_check_in_day {
            self.last_check_in_day = other.last_check_in_day;
            self.check_in_streak = other.check_in_streak;
        }
        self.reviews += other.reviews;
        self.reviews_positive += other.reviews_positive;
        self.reviews_negative += other.reviews_negative;
        self.shares += other.shares;
        self.referrals_made += other.referrals_made;
        self.referrals_converted += other.referrals_converted;
        self.feedback += other.feedback;
        self.suggestions += other.suggestions;
        self.complaints += other.complaints;
        self.complaints_resolved += other.complaints_resolved;
        self.complaints_resolved_in_time += other.complaints_resolved_in_time;
        self.resolved_in_time_at = max_opt(self.resolved_in_time_at, other.resolved_in_time_at);
        self.open_complaints
            .extend(other.open_complaints.iter().cloned());
        self.open_complaints.sort_by_key(|c| c.since);
        self.messages_in += other.messages_in;
        self.messages_out += other.messages_out;
        merge_counts(&mut self.participations, &other.participations);
        crate::link::merge(&mut self.groups, &other.groups);
        crate::link::merge(&mut self.assistants, &other.assistants);
        self.deposits += other.deposits;
        self.content_opens += other.content_opens;
        self.content_clicks += other.content_clicks;
        merge_counts(&mut self.custom, &other.custom);
        merge_counts(&mut self.channels, &other.channels);
        self.recent.extend(other.recent.iter().cloned());
        self.recent.sort_by_key(|s| s.at);
        for &(day, n) in &other.interaction_days {
            self.count_interaction_day(day, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Channel, Item};
    use crate::time::DAY;

    fn purchase(order: &str, amount: i64, cats: &[&str]) -> Purchase {
        Purchase {
            order_id: order.into(),
            amount: Money::from_minor(amount),
            currency: "CNY".into(),
            store: None,
            items: cats
                .iter()
                .map(|c| Item {
                    sku: format!("{c}-1"),
                    sub_brand: None,
                    category: Some((*c).into()),
                    qty: 1,
                    price: None,
                })
                .collect(),
        }
    }

    fn event(payload: Payload, at: Micros) -> Event {
        Event {
            event_id: format!("e{at}"),
            type_name: "x".into(),
            occurred_at: at,
            channel: Channel::APP,
            identities: vec![],
            payload,
            properties: Default::default(),
        }
    }

    #[test]
    fn the_first_event_names_the_source_whatever_order_events_arrive_in() {
        let sourced = |name: &str, at: Micros| {
            let mut e = event(Payload::Visit, at);
            e.properties.insert(
                "source".into(),
                serde_json::json!({"kind": "qr", "name": name}),
            );
            e
        };
        let name = |f: &MemberFacts| f.source.as_ref().map(|s| s.name.clone());
        let mut f = MemberFacts::default();
        f.record(&sourced("poster", 10 * DAY), i64::MIN);
        assert_eq!(name(&f).as_deref(), Some("poster"));
        // A later scan does not take the credit; an earlier event does, even one with
        // no source (the member was there before the poster).
        f.record(&sourced("packaging", 11 * DAY), i64::MIN);
        assert_eq!(name(&f).as_deref(), Some("poster"));
        f.record(&event(Payload::Visit, 5 * DAY), i64::MIN);
        assert_eq!(name(&f), None);
        f.record(&sourced("counter", 5 * DAY), i64::MIN);
        assert_eq!(name(&f).as_deref(), Some("counter"), "a tie fills the gap");
        // A merge keeps the source of whichever was seen first.
        let mut early = MemberFacts::default();
        early.record(&sourced("launch", DAY), i64::MIN);
        f.absorb(&early);
        assert_eq!(name(&f).as_deref(), Some("launch"));
        let mut late = MemberFacts::default();
        late.record(&sourced("late", 50 * DAY), i64::MIN);
        f.absorb(&late);
        assert_eq!(name(&f).as_deref(), Some("launch"));
        assert_eq!(f.source.as_ref().unwrap().at, DAY);
    }

    #[test]
    fn check_ins_count_a_streak_of_days_in_a_row() {
        let mut f = MemberFacts::default();
        let day = |d: i64| 100 * DAY + d * DAY + 3_600_000_000;
        for d in [0, 1, 1, 2] {
            f.record(&event(Payload::CheckIn, day(d)), i64::MIN);
        }
        assert_eq!(
            f.check_in_streak, 3,
            "two check-ins on one day count one day"
        );
        // A late check-in from before the run changes nothing; a gap starts again.
        f.record(&event(Payload::CheckIn, day(-5)), i64::MIN);
        assert_eq!((f.check_in_streak, f.last_check_in_day), (3, Some(102)));
        f.record(&event(Payload::CheckIn, day(4)), i64::MIN);
        assert_eq!(f.check_in_streak, 1);
        // Merging keeps the run that reaches the later day.
        let mut other = MemberFacts::default();
        other.record(&event(Payload::CheckIn, day(9)), i64::MIN);
        f.absorb(&other);
        assert_eq!((f.check_in_streak, f.last_check_in_day), (1, Some(109)));
    }

    #[test]
    fn window_counts_follow_the_clock_without_any_write() {
        let mut f = MemberFacts::default();
        f.record_purchase(
            &purchase("o1", 1000, &["tea"]),
            10 * DAY,
            Money::ZERO,
            i64::MIN,
        );
        f.record_purchase(
            &purchase("o2", 2000, &["coffee"]),
            200 * DAY,
            Money::ZERO,
            i64::MIN,
        );
        assert_eq!(f.window(300 * DAY, 365).purchases, 2);
        assert_eq!(f.window(300 * DAY, 365).categories.len(), 2);
        assert_eq!(
            f.window(380 * DAY, 365).purchases,
            1,
            "the first purchase left the window"
        );
        assert_eq!(f.purchase_count(), 2, "all-time count is unaffected");
    }

    #[test]
    fn a_full_refund_takes_the_order_out_of_counts_and_spend() {
        let mut f = MemberFacts::default();
        f.record_purchase(&purchase("o1", 1000, &[]), DAY, Money::ZERO, i64::MIN);
        f.record_purchase(&purchase("o2", 500, &[]), DAY, Money::ZERO, i64::MIN);
        f.record_refund("o1", Money::from_minor(400), false, false);
        assert_eq!(f.net_spent().to_string(), "11.00");
        assert_eq!(f.window(2 * DAY, 365).purchases, 2);
        f.record_refund("o1", Money::from_minor(600), false, true);
        assert_eq!(f.purchase_count(), 1);
        assert_eq!(f.window(2 * DAY, 365).purchases, 1);
        assert_eq!(f.window(2 * DAY, 365).spent, 500);
    }

    #[test]
    fn complaints_open_and_resolve_by_id_or_oldest_first() {
        let mut f = MemberFacts::default();
        let complaint = |id: &str, at| {
            let mut e = event(
                Payload::Feedback {
                    kind: FeedbackKind::Complaint,
                    category: None,
                },
                at,
            );
            e.event_id = id.into();
            e
        };
        f.record(&complaint("c1", DAY), i64::MIN);
        f.record(&complaint("c2", 2 * DAY), i64::MIN);
        f.record(
            &event(
                Payload::ComplaintResolved {
                    complaint_event_id: Some("c2".into()),
                    within_target: true,
                },
                3 * DAY,
            ),
            i64::MIN,
        );
        assert_eq!(f.oldest_open_complaint(), Some(DAY));
        f.record(
            &event(
                Payload::ComplaintResolved {
                    complaint_event_id: None,
                    within_target: false,
                },
                4 * DAY,
            ),
            i64::MIN,
        );
        assert_eq!(f.oldest_open_complaint(), None);
        assert_eq!(f.complaints_resolved, 2);
        assert_eq!(f.complaints_resolved_in_time, 1);
        assert_eq!(f.resolved_in_time_at, Some(3 * DAY));
    }

    #[test]
    fn signals_older_than_every_window_are_pruned() {
        let mut f = MemberFacts::default();
        f.record(
            &event(
                Payload::Participation {
                    kind: "meetup".into(),
                },
                DAY,
            ),
            i64::MIN,
        );
        f.record(
            &event(
                Payload::Participation {
                    kind: "meetup".into(),
                },
                500 * DAY,
            ),
            100 * DAY,
        );
        assert_eq!(f.recent.len(), 1);
        assert_eq!(f.participations["meetup"], 2);
    }

    #[test]
    fn stored_facts_leave_out_zeros_and_read_back_the_same() {
        let mut f = MemberFacts::default();
        f.record(&event(Payload::Like, DAY), i64::MIN);
        let json = serde_json::to_string(&f).unwrap();
        assert!(
            !json.contains("comments") && json.contains("\"likes\":1"),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<MemberFacts>(&json).unwrap(), f);
    }

    #[test]
    fn absorbing_a_merged_member_adds_everything_up() {
        let mut a = MemberFacts::default();
        a.record_purchase(
            &purchase("o1", 1000, &["tea"]),
            5 * DAY,
            Money::ZERO,
            i64::MIN,
        );
        let mut b = MemberFacts::default();
        b.record_purchase(
            &purchase("o2", 300, &["tea"]),
            2 * DAY,
            Money::ZERO,
            i64::MIN,
        );
        b.record(&event(Payload::Like, DAY), i64::MIN);
        a.absorb(&b);
        assert_eq!(a.purchase_count(), 2);
        assert_eq!(a.net_spent().minor(), 1300);
        assert_eq!(a.first_purchase_at, Some(2 * DAY));
        assert_eq!(a.first_seen_at, Some(DAY));
        assert_eq!(a.categories["tea"], 2);
        assert_eq!(a.repeat_sku_purchases(), 1);
        assert!(a.recent.windows(2).all(|w| w[0].at <= w[1].at));
    }
}

#[cfg(test)]
mod signal_format_tests {
    use super::*;

    #[test]
    fn signals_read_back_exactly_as_written() {
        let signals = vec![
            Signal {
                at: 5,
                kind: SignalKind::Purchase {
                    order_id: "o1".into(),
                    amount: 1290,
                    refunded: 90,
                    categories: vec!["tea".into()],
                    sub_brands: vec![],
                },
            },
            Signal {
                at: 6,
                kind: SignalKind::ConvertedReferral,
            },
            Signal {
                at: 7,
                kind: SignalKind::Participation {
                    kind: "tasting".into(),
                },
            },
            Signal {
                at: 8,
                kind: SignalKind::Feedback,
            },
            Signal {
                at: 9,
                kind: SignalKind::PositiveReview,
            },
        ];
        let json = serde_json::to_string(&signals).unwrap();
        assert!(
            json.contains(r#"{"at":5,"signal":"purchase","order_id":"o1""#),
            "{json}"
        );
        let back: Vec<Signal> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, signals);
        let bad = serde_json::from_str::<Signal>(r#"{"at":1,"signal":"purchase"}"#);
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("purchase signal without order_id")
        );
    }
}
