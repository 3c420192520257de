//! The in-memory evaluator: does a member satisfy a condition at an instant, and when
//! could the answer change with no new event. Used at ingest, once per member the batch
//! touched and segment, so it allocates nothing on the common paths.
//!
//! Missing values (no birthday, no scores yet, no tier) make a comparison false, never
//! an error; `not` then makes it true — the SQL evaluator does the same.

use super::calendar::{self, born_by_date, month_day};
use super::check::Language;
use super::expr::{Cond, Constant, Counter, InstantField, MoneyField, Quantity, ScoreField, Test};
use super::syntax::Op;
use crate::facts::{MemberFacts, SignalKind};
use crate::profile::Profile;
use crate::stage::{Lens, Stage};
use crate::time::{self, DAY, Micros};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// A membership as segments see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub programme: String,
    pub tier: String,
    /// When it stops counting (its end plus the programme's grace); None: open-ended.
    pub active_until: Option<Micros>,
    /// When it ends (before any grace); None: open-ended.
    pub expires_at: Option<Micros>,
}

/// Scores from the last recompute.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreValues {
    pub super_user: f64,
    pub influence: f64,
    pub intimacy: f64,
    pub cell: Option<String>,
    pub r: Option<i64>,
    pub f: Option<i64>,
    pub m: Option<i64>,
    pub p_alive_millionths: Option<i64>,
    pub clv: Option<i64>,
}

/// What a member is known by beyond the member row; the caller fills what the
/// expressions need ([`super::Needs`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extras {
    pub tags: BTreeSet<String>,
    pub identity_kinds: BTreeSet<String>,
    pub memberships: Vec<Held>,
    /// Spendable points in the default programme.
    pub points_balance: i64,
    /// Redemptions in the default programme: (instant, points).
    pub redemptions: Vec<(Micros, i64)>,
    pub scores: Option<ScoreValues>,
    /// Saved segments the member is in, for `in_segment`.
    pub segments: BTreeSet<String>,
    /// Messages per channel: [delivered, opened, clicked].
    pub messages: BTreeMap<String, [u32; 3]>,
}

/// One member as the evaluator reads it.
#[derive(Clone, Copy, Debug)]
pub struct MemberView<'a> {
    pub created_at: Micros,
    pub stage: Stage,
    pub lens: Lens,
    pub facts: &'a MemberFacts,
    pub profile: &'a Profile,
    pub extras: &'a Extras,
}

enum Value<'a> {
    Int(i64),
    Float(f64),
    Text(&'a str),
}

impl Cond {
    /// Whether the member satisfies the condition at `now`.
    pub fn holds(&self, m: &MemberView<'_>, now: Micros, lang: &Language) -> bool {
        match self {
            Cond::Const(b) => *b,
            Cond::And(cs) => cs.iter().all(|c| c.holds(m, now, lang)),
            Cond::Or(cs) => cs.iter().any(|c| c.holds(m, now, lang)),
            Cond::Not(c) => !c.holds(m, now, lang),
            Cond::Test(t) => test(t, m, now),
            Cond::Compare(Quantity::Age, op, Constant::Int(k)) => age_holds(m, now, *op, *k),
            Cond::Compare(q, op, c) => match value(q, m, now, lang) {
                Some(v) => compare(&v, c).is_some_and(|o| op_holds(*op, o)),
                None => false,
            },
            Cond::In(Quantity::Age, set) => set
                .iter()
                .any(|c| matches!(c, Constant::Int(k) if age_holds(m, now, Op::Eq, *k))),
            Cond::In(q, set) => match value(q, m, now, lang) {
                Some(v) => set.iter().any(|c| compare(&v, c) == Some(Ordering::Equal)),
                None => false,
            },
        }
    }

    /// The earliest instant after `now` at which the answer could change with no new
    /// event: a purchase leaving a window, a day count crossing its threshold, a
    /// birthday window opening or closing, a membership ending. None if it cannot.
    pub fn next_change(&self, m: &MemberView<'_>, now: Micros, lang: &Language) -> Option<Micros> {
        let mut out: Option<Micros> = None;
        let mut offer = |t: Micros| {
            if t > now {
                out = Some(out.map_or(t, |o| o.min(t)));
            }
        };
        self.changes(m, now, lang, &mut offer);
        out
    }

    fn changes(
        &self,
        m: &MemberView<'_>,
        now: Micros,
        lang: &Language,
        offer: &mut impl FnMut(Micros),
    ) {
        match self {
            Cond::Const(_) => {}
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| c.changes(m, now, lang, offer)),
            Cond::Not(c) => c.changes(m, now, lang, offer),
            Cond::Test(Test::BirthdayWithin(days)) => {
                if let Some(b) = &m.profile.birthday {
                    for d in calendar::next_birthdays(b, now) {
                        let start = calendar::start_of(d);
                        offer(start - time::days(*days));
                        offer(start + DAY);
                    }
                }
            }
            Cond::Test(Test::Holds(p)) => held_changes(m, p, offer),
            Cond::Test(_) => {}
            Cond::Compare(q, _, c) => {
                quantity_changes(q, std::slice::from_ref(c), m, now, lang, offer)
            }
            Cond::In(q, set) => quantity_changes(q, set, m, now, lang, offer),
        }
    }
}

fn held_changes(m: &MemberView<'_>, programme: &str, offer: &mut impl FnMut(Micros)) {
    for h in &m.extras.memberships {
        if h.programme == programme
            && let Some(t) = h.active_until
        {
            offer(t);
        }
    }
}

fn quantity_changes(
    q: &Quantity,
    constants: &[Constant],
    m: &MemberView<'_>,
    now: Micros,
    lang: &Language,
    offer: &mut impl FnMut(Micros),
) {
    let window_leaves = |days: u32, offer: &mut dyn FnMut(Micros)| {
        let start = now - time::days(days);
        for s in m.facts.recent.iter().filter(|s| s.at > start) {
            if matches!(s.kind, SignalKind::Purchase { .. }) {
                offer(s.at + time::days(days));
            }
        }
    };
    match q {
        Quantity::PurchasesWithin(d) | Quantity::SpentWithin(d) => window_leaves(*d, offer),
        Quantity::Count(Counter::PurchasesInWindow)
        | Quantity::Money(MoneyField::SpentInWindow) => window_leaves(lang.window_days, offer),
        Quantity::InteractionsWithin(d) => {
            let first = time::day_number(now) - i64::from(*d) + 1;
            for (day, _) in m
                .facts
                .interaction_days
                .iter()
                .filter(|(day, _)| *day >= first)
            {
                offer((day + i64::from(*d)) * DAY);
            }
        }
        Quantity::RedeemedWithin(d) => {
            let start = now - time::days(*d);
            for (at, _) in m.extras.redemptions.iter().filter(|(at, _)| *at > start) {
                offer(at + time::days(*d));
            }
        }
        Quantity::DaysSince(f) => {
            if let Some(t) = instant(*f, m) {
                for k in ints(constants) {
                    offer(t + k * DAY);
                    offer(t + (k + 1) * DAY);
                }
            }
        }
        Quantity::DaysSinceCategory(c) => {
            if let Some(t) = m.facts.category_last_at.get(c) {
                for k in ints(constants) {
                    offer(t + k * DAY);
                    offer(t + (k + 1) * DAY);
                }
            }
        }
        Quantity::DaysUntilExpiry(p) => {
            held_changes(m, p, offer);
            if let Some(end) = active(m, p, now).and_then(|h| h.expires_at) {
                // The count drops to k just after `end - (k + 1) days`.
                for k in ints(constants) {
                    offer(end - (k + 1) * DAY + 1);
                    offer(end - k * DAY + 1);
                }
            }
        }
        Quantity::Age => {
            if let Some(b) = &m.profile.birthday {
                for d in calendar::next_birthdays(b, now) {
                    offer(calendar::start_of(d));
                }
            }
        }
        Quantity::Tier(p) => held_changes(m, p, offer),
        _ => {}
    }
}

/// The whole-number constants of a comparison, clamped to a sane span of days.
fn ints(constants: &[Constant]) -> impl Iterator<Item = i64> + '_ {
    constants.iter().filter_map(|c| match c {
        Constant::Int(k) => Some((*k).clamp(0, 100_000)),
        _ => None,
    })
}

fn test(t: &Test, m: &MemberView<'_>, now: Micros) -> bool {
    match t {
        Test::OpenComplaint => !m.facts.open_complaints.is_empty(),
        Test::ComplainerWonBack => m.facts.complainer_won_back(),
        Test::Tag(tag) => m.extras.tags.contains(tag),
        Test::Has(kind) => m.extras.identity_kinds.contains(kind),
        Test::InSegment(s) => m.extras.segments.contains(s),
        Test::BirthdayWithin(days) => match m.profile.birthday.as_deref().and_then(month_day) {
            Some(md) => calendar::birthday_within(md, now, *days),
            None => false,
        },
        Test::Holds(p) => active(m, p, now).is_some(),
        Test::InGroup(g) => m.facts.groups.get(g).is_some_and(|l| l.is_open()),
    }
}

fn active<'a>(m: &MemberView<'a>, programme: &str, now: Micros) -> Option<&'a Held> {
    m.extras
        .memberships
        .iter()
        .find(|h| h.programme == programme && h.active_until.is_none_or(|t| now < t))
}

/// `age op k`, decided on the birthday text against the cut-off dates of
/// [`calendar::born_by`] (as dates), exactly as the SQL evaluator decides it.
fn age_holds(m: &MemberView<'_>, now: Micros, op: Op, k: i64) -> bool {
    // Dates compare as their YYYY-MM-DD text does (the SQL compares the text).
    let Some(b) = m
        .profile
        .birthday
        .as_deref()
        .filter(|b| b.len() == 10)
        .and_then(|b| chrono::NaiveDate::parse_from_str(b, "%Y-%m-%d").ok())
    else {
        return false;
    };
    if b > born_by_date(now, 0) {
        return false;
    }
    let at_least = |years: i64| b <= born_by_date(now, years);
    let next = k.saturating_add(1);
    match op {
        Op::Ge => at_least(k),
        Op::Gt => at_least(next),
        Op::Le => !at_least(next),
        Op::Lt => !at_least(k),
        Op::Eq => at_least(k) && !at_least(next),
        Op::Ne => !at_least(k) || at_least(next),
    }
}

fn instant(f: InstantField, m: &MemberView<'_>) -> Option<Micros> {
    let facts = m.facts;
    match f {
        InstantField::FirstPurchase => facts.first_purchase_at,
        InstantField::LastPurchase => facts.last_purchase_at,
        InstantField::FirstSeen => facts.first_seen_at,
        InstantField::LastSeen => facts.last_seen_at,
        InstantField::LastInteraction => facts.last_interaction_at,
        InstantField::MemberSince => Some(m.created_at),
    }
}

/// Whole days from `now` to `t`; 0 for instants already past.
pub fn days_until(t: Micros, now: Micros) -> i64 {
    if t < now { 0 } else { (t - now) / DAY }
}

/// Whole days from `t` to `now`; 0 for instants ahead of the clock.
pub fn days_since(t: Micros, now: Micros) -> i64 {
    if t > now { 0 } else { (now - t) / DAY }
}

fn value<'a>(
    q: &'a Quantity,
    m: &MemberView<'a>,
    now: Micros,
    lang: &Language,
) -> Option<Value<'a>> {
    let f = m.facts;
    let int = |n: i64| Some(Value::Int(n));
    match q {
        Quantity::Stage => int(m.stage as i64),
        Quantity::Lens => int(m.lens as i64),
        Quantity::Count(c) => int(match c {
            Counter::Stored(key) => stored_counter(f, key),
            Counter::PurchaseCount => i64::from(f.purchase_count()),
            Counter::PurchasesInWindow => i64::from(f.purchases_within(now, lang.window_days).0),
            Counter::OpenComplaints => f.open_complaints.len() as i64,
            Counter::GroupsCount => crate::link::open(&f.groups).count() as i64,
            Counter::SkusBoughtThreeTimes => f.skus.values().filter(|n| **n >= 3).count() as i64,
            Counter::RepeatSkuPurchases => i64::from(f.repeat_sku_purchases()),
        }),
        Quantity::Money(field) => int(match field {
            MoneyField::TotalSpent => f.gross_spent.saturating_sub(f.refunded),
            MoneyField::GrossSpent => f.gross_spent,
            MoneyField::Refunded => f.refunded,
            MoneyField::SpentInWindow => f.purchases_within(now, lang.window_days).1,
        }),
        Quantity::Instant(field) => instant(*field, m).map(Value::Int),
        Quantity::DaysSince(field) => instant(*field, m).map(|t| Value::Int(days_since(t, now))),
        Quantity::DaysSinceCategory(c) => f
            .category_last_at
            .get(c)
            .map(|t| Value::Int(days_since(*t, now))),
        Quantity::DaysUntilExpiry(p) => active(m, p, now)
            .and_then(|h| h.expires_at)
            .map(|end| Value::Int(days_until(end, now))),
        Quantity::PurchasesWithin(d) => int(i64::from(f.purchases_within(now, *d).0)),
        Quantity::SpentWithin(d) => int(f.purchases_within(now, *d).1),
        Quantity::InteractionsWithin(d) => int(f.interactions_within(now, *d) as i64),
        Quantity::RedeemedWithin(d) => {
            let start = now - time::days(*d);
            int(m
                .extras
                .redemptions
                .iter()
                .filter(|(at, _)| *at > start)
                .map(|(_, p)| p)
                .sum())
        }
        Quantity::Category(c) => int(f.categories.get(c).map_or(0, |n| i64::from(*n))),
        Quantity::SubBrand(c) => int(f.sub_brands.get(c).map_or(0, |n| i64::from(*n))),
        Quantity::Participations(c) => int(f.participations.get(c).map_or(0, |n| i64::from(*n))),
        Quantity::ChannelEvents(names) => int(names
            .iter()
            .filter_map(|c| f.channels.get(c))
            .map(|n| i64::from(*n))
            .sum()),
        Quantity::ChannelsUsed => int(f.channels.len() as i64),
        Quantity::City => m.profile.city.as_deref().map(Value::Text),
        Quantity::Gender => m.profile.gender.as_deref().map(Value::Text),
        Quantity::Occupation => m.profile.occupation.as_deref().map(Value::Text),
        // Compared through `age_holds`; a bare value is never asked for.
        Quantity::Age => None,
        Quantity::Followers => m
            .profile
            .followers
            .map(|n| Value::Int(n.min(i64::MAX as u64) as i64)),
        Quantity::PointsBalance => int(m.extras.points_balance),
        Quantity::OpenRate(ch) => message_rate(m.extras, ch.as_deref(), 1),
        Quantity::ClickRate(ch) => message_rate(m.extras, ch.as_deref(), 2),
        Quantity::Tier(p) => active(m, p, now).map(|h| Value::Text(h.tier.as_str())),
        Quantity::Score(s) => {
            let sc = m.extras.scores.as_ref()?;
            match s {
                ScoreField::SuperUser => Some(Value::Float(sc.super_user)),
                ScoreField::Influence => Some(Value::Float(sc.influence)),
                ScoreField::Intimacy => Some(Value::Float(sc.intimacy)),
                ScoreField::RfmCell => sc.cell.as_deref().map(Value::Text),
                ScoreField::RfmR => sc.r.map(Value::Int),
                ScoreField::RfmF => sc.f.map(Value::Int),
                ScoreField::RfmM => sc.m.map(Value::Int),
                ScoreField::PAlive => sc.p_alive_millionths.map(Value::Int),
                ScoreField::Clv => sc.clv.map(Value::Int),
            }
        }
    }
}

/// A counter stored in the facts under `key` (see `check::STORED_COUNTERS`).
pub fn stored_counter(f: &MemberFacts, key: &str) -> i64 {
    let n: u64 = match key {
        "events" => f.events,
        "likes" => f.likes.into(),
        "comments" => f.comments.into(),
        "check_ins" => f.check_ins.into(),
        "reviews" => f.reviews.into(),
        "reviews_positive" => f.reviews_positive.into(),
        "reviews_negative" => f.reviews_negative.into(),
        "shares" => f.shares.into(),
        "referrals_made" => f.referrals_made.into(),
        "referrals_converted" => f.referrals_converted.into(),
        "feedback" => f.feedback.into(),
        "suggestions" => f.suggestions.into(),
        "complaints" => f.complaints.into(),
        "complaints_resolved" => f.complaints_resolved.into(),
        "complaints_resolved_in_time" => f.complaints_resolved_in_time.into(),
        "messages_in" => f.messages_in.into(),
        "messages_out" => f.messages_out.into(),
        "visits" => f.visits.into(),
        "follows" => f.follows.into(),
        "registers" => f.registers.into(),
        "deposits" => f.deposits.into(),
        "content_opens" => f.content_opens.into(),
        "content_clicks" => f.content_clicks.into(),
        "refunded_orders" => f.refunded_orders.into(),
        _ => 0,
    };
    n.min(i64::MAX as u64) as i64
}

fn compare(v: &Value<'_>, c: &Constant) -> Option<Ordering> {
    match (v, c) {
        (Value::Int(a), Constant::Int(b)) => Some(a.cmp(b)),
        (Value::Float(a), Constant::Float(b)) => a.partial_cmp(b),
        (Value::Text(a), Constant::Text(b)) => Some((*a).cmp(b.as_str())),
        _ => None,
    }
}

fn op_holds(op: Op, o: Ordering) -> bool {
    match op {
        Op::Eq => o == Ordering::Equal,
        Op::Ne => o != Ordering::Equal,
        Op::Lt => o == Ordering::Less,
        Op::Le => o != Ordering::Greater,
        Op::Gt => o == Ordering::Greater,
        Op::Ge => o != Ordering::Less,
    }
}

/// Opened (`part` 1) or clicked (2) over delivered, in millionths, on one channel or
/// all; None before any delivery. Integer division, as the SQL form does.
fn message_rate<'a>(x: &Extras, channel: Option<&str>, part: usize) -> Option<Value<'a>> {
    let (mut delivered, mut n) = (0i64, 0i64);
    for (c, counts) in &x.messages {
        if channel.is_none_or(|want| want == c) {
            delivered += i64::from(counts[0]);
            n += i64::from(counts[part]);
        }
    }
    (delivered > 0).then(|| Value::Int(n * 1_000_000 / delivered))
}
