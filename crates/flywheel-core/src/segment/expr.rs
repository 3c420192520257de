//! A checked segment expression: every name resolved to something Flywheel knows about a
//! member, every constant converted to the unit it is compared in (money in minor
//! units, dates in microseconds, stages by rank). Both evaluators — in memory
//! (`eval.rs`) and SQL (the store's `segments/sql.rs`) — read this, never the text.

use super::syntax::Op;

#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Const(bool),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Test(Test),
    Compare(Quantity, Op, Constant),
    /// `quantity in (…)`; `not in` is `Not(In(…))`.
    In(Quantity, Vec<Constant>),
}

/// A yes/no fact about a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Test {
    /// At least one complaint is open.
    OpenComplaint,
    /// A complaint was resolved within its targets and the member bought after it: a
    /// critic turned back into a customer, a potential super user (seed 002).
    ComplainerWonBack,
    /// The member carries the tag (`diet:vegetarian`, `vip`).
    Tag(String),
    /// The member has an identity of this kind (`wechat_openid`).
    Has(String),
    /// The member is in another saved segment (as that segment stands).
    InSegment(String),
    /// The member's birthday (month and day) is today or within the next N days (UTC).
    BirthdayWithin(u32),
    /// The member holds an active membership of this programme (any tier; a card).
    Holds(String),
    /// The member is in this customer group now (its id, e.g. a WeCom chat id).
    InGroup(String),
}

/// A value of a member that can be compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Quantity {
    Stage,
    Lens,
    /// An all-time counter of the member's facts.
    Count(Counter),
    Money(MoneyField),
    Instant(InstantField),
    /// Whole days from the instant to now; missing when the instant is.
    DaysSince(InstantField),
    /// Orders not refunded in full, placed in the last N days.
    PurchasesWithin(u32),
    /// Their net amount.
    SpentWithin(u32),
    /// Interactions on today's UTC day and the N - 1 before.
    InteractionsWithin(u32),
    /// Points redeemed (spent on rewards) in the last N days, in the default programme.
    RedeemedWithin(u32),
    /// Whole days since the last order with an item of this category; missing when
    /// the member never bought one.
    DaysSinceCategory(String),
    /// Whole days until the membership of this programme ends (0 once it has, in
    /// its grace); missing without an active membership or for one without an end.
    DaysUntilExpiry(String),
    /// Orders with an item of this category / sub-brand, all time.
    Category(String),
    SubBrand(String),
    /// Participations of this kind (`masterclass`), all time.
    Participations(String),
    /// Events on any of these channels, all time.
    ChannelEvents(Vec<String>),
    /// How many channels the member has used.
    ChannelsUsed,
    City,
    Gender,
    Occupation,
    /// Whole years since a full birthday (YYYY-MM-DD); missing otherwise.
    Age,
    Followers,
    /// Spendable points in the default programme.
    PointsBalance,
    /// Of the messages delivered to the member (on one channel, or all), the share
    /// opened / clicked, in millionths; missing before any delivery.
    OpenRate(Option<String>),
    ClickRate(Option<String>),
    /// The tier held in an active membership of this programme.
    Tier(String),
    Score(ScoreField),
}

/// Counters as `GET /v1/members/{id}` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Stored as is in the facts, under this key.
    Stored(&'static str),
    /// Orders less those refunded in full.
    PurchaseCount,
    /// Orders in the facts' window (the stage policy's), not refunded in full.
    PurchasesInWindow,
    OpenComplaints,
    /// Customer groups the member is in now.
    GroupsCount,
    SkusBoughtThreeTimes,
    RepeatSkuPurchases,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoneyField {
    /// Net: gross less refunds.
    TotalSpent,
    GrossSpent,
    Refunded,
    SpentInWindow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstantField {
    FirstPurchase,
    LastPurchase,
    FirstSeen,
    LastSeen,
    LastInteraction,
    /// When the member record was created.
    MemberSince,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreField {
    SuperUser,
    Influence,
    Intimacy,
    /// The RFM cell, e.g. "555".
    RfmCell,
    RfmR,
    RfmF,
    RfmM,
    /// Probability the member is still a customer, in millionths.
    PAlive,
    /// Expected value over the configured horizon, minor units.
    Clv,
}

/// A constant in the unit its quantity is compared in.
#[derive(Clone, Debug, PartialEq)]
pub enum Constant {
    /// Counts, days, money (minor units), instants (µs), stage and lens ranks,
    /// fractions in millionths.
    Int(i64),
    Float(f64),
    Text(String),
}

/// The type of a quantity, which decides what it may be compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Count,
    Money,
    Score,
    /// A probability, kept in millionths.
    Fraction,
    Stage,
    Lens,
    Text,
    Instant,
}

impl Quantity {
    pub fn kind(&self) -> Kind {
        use Quantity::*;
        match self {
            Stage => Kind::Stage,
            Lens => Kind::Lens,
            Count(_)
            | DaysSince(_)
            | DaysSinceCategory(_)
            | DaysUntilExpiry(_)
            | PurchasesWithin(_)
            | InteractionsWithin(_)
            | RedeemedWithin(_)
            | Category(_)
            | SubBrand(_)
            | Participations(_)
            | ChannelEvents(_)
            | ChannelsUsed
            | Age
            | Followers
            | PointsBalance => Kind::Count,
            OpenRate(_) | ClickRate(_) => Kind::Fraction,
            Money(_) | SpentWithin(_) => Kind::Money,
            Instant(_) => Kind::Instant,
            City | Gender | Occupation | Tier(_) => Kind::Text,
            Score(s) => match s {
                ScoreField::SuperUser | ScoreField::Influence | ScoreField::Intimacy => Kind::Score,
                ScoreField::RfmCell => Kind::Text,
                ScoreField::RfmR | ScoreField::RfmF | ScoreField::RfmM => Kind::Count,
                ScoreField::PAlive => Kind::Fraction,
                ScoreField::Clv => Kind::Money,
            },
        }
    }
}

/// What an expression reads beyond the member row, so a caller loads only that.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub tags: bool,
    pub identities: bool,
    pub memberships: bool,
    pub points: bool,
    pub redemptions: bool,
    pub scores: bool,
    /// Messages delivered, opened and clicked (`open_rate`, `click_rate`).
    pub messages: bool,
    pub segments: Vec<String>,
    /// Changes with the clock alone (windows, days since, birthdays, age, tier expiry).
    pub clock: bool,
}

impl Needs {
    pub fn add(&mut self, other: &Needs) {
        self.tags |= other.tags;
        self.identities |= other.identities;
        self.memberships |= other.memberships;
        self.points |= other.points;
        self.redemptions |= other.redemptions;
        self.scores |= other.scores;
        self.messages |= other.messages;
        self.clock |= other.clock;
        for s in &other.segments {
            if !self.segments.contains(s) {
                self.segments.push(s.clone());
            }
        }
    }
}

impl Cond {
    /// What evaluating this condition reads.
    pub fn needs(&self) -> Needs {
        let mut n = Needs::default();
        self.visit(&mut |c| match c {
            Cond::Test(t) => match t {
                Test::OpenComplaint | Test::ComplainerWonBack | Test::InGroup(_) => {}
                Test::Tag(_) => n.tags = true,
                Test::Has(_) => n.identities = true,
                Test::InSegment(s) => {
                    if !n.segments.contains(s) {
                        n.segments.push(s.clone())
                    }
                }
                Test::BirthdayWithin(_) => n.clock = true,
                Test::Holds(_) => {
                    n.memberships = true;
                    n.clock = true;
                }
            },
            Cond::Compare(q, ..) | Cond::In(q, _) => match q {
                Quantity::DaysSince(_)
                | Quantity::DaysSinceCategory(_)
                | Quantity::PurchasesWithin(_)
                | Quantity::SpentWithin(_)
                | Quantity::InteractionsWithin(_)
                | Quantity::Age
                | Quantity::Count(Counter::PurchasesInWindow)
                | Quantity::Money(MoneyField::SpentInWindow) => n.clock = true,
                Quantity::RedeemedWithin(_) => {
                    n.redemptions = true;
                    n.clock = true;
                }
                Quantity::PointsBalance => n.points = true,
                Quantity::OpenRate(_) | Quantity::ClickRate(_) => n.messages = true,
                Quantity::Tier(_) | Quantity::DaysUntilExpiry(_) => {
                    n.memberships = true;
                    n.clock = true;
                }
                Quantity::Score(_) => n.scores = true,
                _ => {}
            },
            _ => {}
        });
        n
    }

    fn visit(&self, f: &mut impl FnMut(&Cond)) {
        f(self);
        match self {
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| c.visit(f)),
            Cond::Not(c) => c.visit(f),
            _ => {}
        }
    }
}
