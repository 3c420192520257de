//! The earning engine: runs earning rules for the events of an ingest batch, with limits
//! per member and budgets per rule, reverses points when purchases are refunded, and
//! moves a merged member's points to the survivor. It works on a [`Book`] the store
//! loads in the batch's transaction and writes back from it, so points are earned in the
//! same transaction as the event that earned them.

use super::account::Account;
use super::account::BrandAccount;
use super::policy::PointsPolicy;
use super::posting::{Kind, Posting};
use super::rules::{EarningRule, Quote, RuleSet, Trigger, quote};
use super::wallet::{Credit, Wallet};
use crate::ingest::MemberId;
use crate::limits::Limits;
use crate::money::Money;
use crate::time::{self, Micros};
use chrono::Datelike;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Awards of one rule to one member in one period: `2026-11-23`, `2026-11` or `all`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageKey {
    pub member_id: MemberId,
    pub rule_id: String,
    pub period: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub count: i64,
    pub points: i64,
}

/// The periods an instant falls in, for limits: its UTC day, its month, and all time.
pub fn periods(at: Micros) -> [String; 3] {
    let d = time::to_datetime(at);
    [
        format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        format!("{:04}-{:02}", d.year(), d.month()),
        "all".to_owned(),
    ]
}

/// Points one rule awarded for an order and how many refunds have reversed, with the
/// rule's rate so a refund reverses exactly the points its amount earned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderPoints {
    pub member_id: MemberId,
    pub programme: String,
    pub earned: i64,
    pub reversed: i64,
    /// Points = floor(amount in minor units × rate_points / rate_per). 0 when the award
    /// was not per amount of the whole order (fixed, or on some items only): such points
    /// are reversed in proportion to the amount refunded.
    pub rate_points: i64,
    pub rate_per: i64,
}

impl OrderPoints {
    /// Points that should stand reversed once `refunded` of `amount` has been refunded.
    pub fn reversal_due(&self, amount: Money, refunded: Money) -> i64 {
        let refunded = i128::from(refunded.minor().min(amount.minor()).max(0));
        let due = if self.rate_per > 0 {
            refunded * i128::from(self.rate_points) / i128::from(self.rate_per)
        } else if amount.minor() > 0 {
            i128::from(self.earned) * refunded / i128::from(amount.minor())
        } else {
            0
        };
        (due as i64).min(self.earned)
    }
}

/// One rule's verdict on one trigger, after limits and budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub rule_id: String,
    pub programme: String,
    /// Points the rule gives (0 if it does not fire or a limit stops it).
    pub points: i64,
    /// Points before limits and budget.
    pub quoted: i64,
    /// The multiplier applied (stage and festival windows).
    pub factor: super::rules::Factor,
    pub pending_until: Option<Micros>,
    /// Why the rule fired, or why it did not.
    pub explanation: String,
    /// Which limit cut the award, if one did.
    pub limited_by: Option<String>,
}

/// An earning: which event (or referral) on which member.
#[derive(Clone, Debug)]
pub struct Earning<'a> {
    /// `event:<id>` or `referral:<id>`; prefixes every posting key it makes.
    pub source_key: String,
    pub source_type: &'static str,
    pub source_id: &'a str,
    pub member_id: MemberId,
    pub trigger: Trigger<'a>,
    pub order_id: Option<&'a str>,
}

/// What a batch can touch, loaded by the store; postings and dirty sets are written back.
#[derive(Debug, Default)]
pub struct Book {
    pub wallets: BTreeMap<(MemberId, String), Wallet>,
    /// Loaded for the members, rules and periods the batch can touch.
    pub usage: HashMap<UsageKey, Usage>,
    /// Points already awarded by each budgeted rule.
    pub budgets: HashMap<String, i64>,
    /// By (order id, rule id).
    pub orders: HashMap<(String, String), OrderPoints>,
    /// Merged member → survivor, for orders loaded under the old id.
    pub redirect: HashMap<MemberId, MemberId>,
    pub postings: Vec<Posting>,
    pub dirty_usage: BTreeSet<UsageKey>,
    pub dirty_budgets: BTreeSet<String>,
    pub dirty_orders: BTreeSet<(String, String)>,
}

impl Book {
    pub fn survivor(&self, mut id: MemberId) -> MemberId {
        while let Some(next) = self.redirect.get(&id) {
            id = *next;
        }
        id
    }

    /// Every wallet of `member` the book holds, by programme.
    pub fn wallets_of(&self, member: MemberId) -> impl Iterator<Item = &Wallet> {
        self.wallets
            .range((member, String::new())..)
            .take_while(move |((id, _), _)| *id == member)
            .map(|(_, w)| w)
    }

    /// The member's settled wallet (created empty if the member has none yet).
    pub fn wallet(&mut self, member_id: MemberId, programme: &str, now: Micros) -> &mut Wallet {
        let key = (member_id, programme.to_owned());
        let wallet = self
            .wallets
            .entry(key)
            .or_insert_with(|| Wallet::new(member_id, programme));
        let settled = wallet.settle(now);
        self.postings.extend(settled);
        self.wallets
            .get_mut(&(member_id, programme.to_owned()))
            .expect("inserted above")
    }

    fn usage_of(&self, member_id: MemberId, rule_id: &str, period: &str) -> Usage {
        self.usage
            .get(&UsageKey {
                member_id,
                rule_id: rule_id.to_owned(),
                period: period.to_owned(),
            })
            .copied()
            .unwrap_or_default()
    }

    /// What `rule` gives `e` now, limits and budget applied; writes nothing.
    pub fn preview(&self, rule: &EarningRule, e: &Earning<'_>, limits: &Limits) -> Line {
        let mut line = Line {
            rule_id: rule.id.clone(),
            programme: rule.programme.clone(),
            points: 0,
            quoted: 0,
            factor: super::rules::Factor::ONE,
            pending_until: None,
            explanation: String::new(),
            limited_by: None,
        };
        let q: Quote = match quote(rule, &e.trigger) {
            Ok(q) => q,
            Err(miss) => {
                line.explanation = miss;
                return line;
            }
        };
        line.quoted = q.points;
        line.factor = q.factor;
        line.explanation = q.explanation;
        if q.points > limits.max_points_per_posting {
            // Rules stored before the limit was lowered can ask for more than a posting
            // may carry: such an award is refused, never cut down silently.
            line.limited_by = Some(format!(
                "limits.max_points_per_posting: at most {} points",
                limits.max_points_per_posting
            ));
            return line;
        }
        let mut points = q.points;
        let [day, month, all] = periods(e.trigger.occurred_at);
        let l = &rule.limits;
        let counts = [
            (l.per_day, &day, "per_day"),
            (l.per_month, &month, "per_month"),
            (l.per_member, &all, "per_member"),
        ];
        for (limit, period, name) in counts {
            if let Some(limit) = limit
                && self.usage_of(e.member_id, &rule.id, period).count >= i64::from(limit)
            {
                line.limited_by = Some(format!("{name}: at most {limit} awards"));
                points = 0;
            }
        }
        for (cap, period, name) in [
            (l.points_per_day, &day, "points_per_day"),
            (l.points_per_month, &month, "points_per_month"),
        ] {
            if let Some(cap) = cap {
                let left = (cap - self.usage_of(e.member_id, &rule.id, period).points).max(0);
                if points > left {
                    points = left;
                    line.limited_by = Some(format!("{name}: at most {cap} points"));
                }
            }
        }
        if let Some(budget) = rule.budget {
            let left = (budget - self.budgets.get(&rule.id).copied().unwrap_or(0)).max(0);
            if points > left {
                points = left;
                line.limited_by = Some(format!("budget of {budget} points"));
            }
        }
        line.points = points;
        if points > 0 && rule.pending_days > 0 {
            line.pending_until = Some(e.trigger.occurred_at + time::days(rule.pending_days));
        }
        line
    }

    /// Runs every rule of `rules` on `e`, crediting what fires. Returns every rule's line
    /// for the trigger (fired or not).
    pub fn earn(
        &mut self,
        rules: &RuleSet,
        policy: &PointsPolicy,
        limits: &Limits,
        e: &Earning<'_>,
        now: Micros,
    ) -> Vec<Line> {
        let mut lines = Vec::new();
        for rule in rules.rules.iter().filter(|r| r.trigger == e.trigger.kind) {
            let line = self.preview(rule, e, limits);
            if line.points > 0 {
                self.credit(rule, e, &line, policy, now);
            }
            lines.push(line);
        }
        lines
    }

    fn credit(
        &mut self,
        rule: &EarningRule,
        e: &Earning<'_>,
        line: &Line,
        policy: &PointsPolicy,
        now: Micros,
    ) {
        let key = format!("earn:{}:{}", e.source_key, rule.id);
        let occurred = e.trigger.occurred_at;
        let mut posting = Posting::new(key.clone(), Kind::Earn, &rule.programme, now)
            .reason(format!("rule:{}", rule.id))
            .source(e.source_type, e.source_id)
            .member(e.member_id);
        posting.rule_id = Some(rule.id.clone());
        let credit = Credit {
            lot_id: key,
            points: line.points,
            earned_at: occurred,
            available_at: line.pending_until.unwrap_or(occurred),
            expires_at: policy.expires_at(occurred),
            order_id: e.order_id.map(str::to_owned),
        };
        let from = Account::brand(&rule.programme, BrandAccount::Issuance);
        self.wallet(e.member_id, &rule.programme, now)
            .credit(&mut posting, from, credit, now);
        self.postings.push(posting);

        if rule.limits.any() {
            // Only the periods this rule's limits look at: a like limited per day keeps
            // one row per member and day, not three.
            let l = &rule.limits;
            let wanted = [
                l.per_day.is_some() || l.points_per_day.is_some(),
                l.per_month.is_some() || l.points_per_month.is_some(),
                l.per_member.is_some(),
            ];
            for (period, _) in periods(occurred)
                .into_iter()
                .zip(wanted)
                .filter(|(_, w)| *w)
            {
                let k = UsageKey {
                    member_id: e.member_id,
                    rule_id: rule.id.clone(),
                    period,
                };
                let u = self.usage.entry(k.clone()).or_default();
                u.count = u.count.saturating_add(1);
                u.points = u.points.saturating_add(line.points);
                self.dirty_usage.insert(k);
            }
        }
        if rule.budget.is_some() {
            let spent = self.budgets.entry(rule.id.clone()).or_default();
            *spent = spent.saturating_add(line.points);
            self.dirty_budgets.insert(rule.id.clone());
        }
        if let Some(order) = e.order_id {
            let whole_order =
                rule.conditions.categories.is_empty() && rule.conditions.sub_brands.is_empty();
            let (rate_points, rate_per) = match rule.award.per {
                Some(per) if whole_order => (
                    rule.award.points * i64::from(line.factor.0),
                    per.minor() * 1000,
                ),
                _ => (0, 0),
            };
            let k = (order.to_owned(), rule.id.clone());
            let o = self.orders.entry(k.clone()).or_default();
            o.member_id = e.member_id;
            o.programme = rule.programme.clone();
            o.earned = o.earned.saturating_add(line.points);
            o.rate_points = rate_points;
            o.rate_per = rate_per;
            self.dirty_orders.insert(k);
        }
    }

    /// Brings the points of `order_id` in line with how much of it has been refunded:
    /// each rule's points for the order are reversed down to what the refunded amount
    /// earned (rounded down). Called on each refund, and after a purchase whose refund
    /// arrived first.
    pub fn reconcile_refund(
        &mut self,
        event_id: &str,
        order_id: &str,
        amount: Money,
        refunded: Money,
        now: Micros,
    ) {
        let mut keys: Vec<(String, String)> = self
            .orders
            .keys()
            .filter(|(o, _)| o == order_id)
            .cloned()
            .collect();
        keys.sort();
        for k in keys {
            let o = self.orders[&k].clone();
            let delta = o.reversal_due(amount, refunded) - o.reversed;
            if delta <= 0 {
                continue;
            }
            let rule_id = k.1.clone();
            let member = self.survivor(o.member_id);
            let mut posting = Posting::new(
                format!("refund:event:{event_id}:{order_id}:{rule_id}"),
                Kind::Refund,
                &o.programme,
                now,
            )
            .reason(format!("refund of order {order_id}"))
            .source("event", event_id)
            .member(member);
            posting.rule_id = Some(rule_id);
            self.wallet(member, &o.programme, now).reverse_order(
                &mut posting,
                order_id,
                delta,
                now,
            );
            self.postings.push(posting);
            let o = self.orders.get_mut(&k).expect("key listed above");
            o.member_id = member;
            o.reversed += delta;
            self.dirty_orders.insert(k);
        }
    }

    /// Moves `merged`'s points (every programme) to `survivor`.
    pub fn merge(&mut self, survivor: MemberId, merged: MemberId, at: Micros) {
        let survivor = self.survivor(survivor);
        self.redirect.insert(merged, survivor);
        let programmes: Vec<String> = self
            .wallets
            .keys()
            .filter(|(m, _)| *m == merged)
            .map(|(_, p)| p.clone())
            .collect();
        for programme in programmes {
            let Some(mut other) = self.wallets.remove(&(merged, programme.clone())) else {
                continue;
            };
            // Settle first, so what moves is what the member really had.
            let settled = other.settle(at);
            self.postings.extend(settled);
            let mut posting = Posting::new(
                format!("merge:{merged}:{programme}"),
                Kind::Merge,
                &programme,
                at,
            )
            .reason(format!("member {merged} merged into {survivor}"))
            .source("merge", merged.to_string())
            .member(survivor);
            let target = self.wallet(survivor, &programme, at);
            target.absorb(&mut posting, other);
            if !posting.is_empty() {
                self.postings.push(posting);
            }
        }
    }

    /// Every lot changed since loading, to write back.
    pub fn dirty_lots(&self) -> impl Iterator<Item = &super::wallet::Lot> {
        self.wallets
            .values()
            .flat_map(|w| w.lots.iter().filter(|l| w.dirty.contains(&l.id)))
    }
}
