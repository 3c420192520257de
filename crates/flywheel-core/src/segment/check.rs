//! Names and types: turns the syntax tree into a [`Cond`], or says at which line and
//! column the expression stops making sense, what was expected there and what was found.

use super::expr::{
    Cond, Constant, Counter, InstantField, Kind, MoneyField, Quantity, ScoreField, Test,
};
use super::syntax::{self, Node, NodeKind, Op};
use crate::event::Channel;
use crate::money::Money;
use crate::stage::{Lens, Stage};
use std::ops::Range;
use std::sync::Arc;

/// What the language is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Language {
    /// The longest window member facts keep dated signals for (the stage policy's):
    /// `purchases_within` cannot look further back than this.
    pub window_days: u32,
    /// The brand's channels (`channel("…")` must name one).
    pub channels: Arc<[Channel]>,
    /// The channels the brand owns (`owned_channel_events`); its others are platforms'.
    pub owned_channels: Arc<[Channel]>,
}

impl Language {
    /// A window, with the built-in channels and the default owned ones.
    pub fn new(window_days: u32) -> Language {
        Language::with_channels(window_days, &Channel::BUILT_IN, &Channel::OWNED_BY_DEFAULT)
    }

    pub fn with_channels(window_days: u32, channels: &[Channel], owned: &[Channel]) -> Language {
        Language {
            window_days,
            channels: channels.into(),
            owned_channels: owned.into(),
        }
    }

    /// The names of the brand's channels it owns, or (with `owned` false) does not.
    pub fn channel_names(&self, owned: bool) -> Vec<String> {
        self.channels
            .iter()
            .filter(|c| self.owned_channels.contains(c) == owned)
            .map(|c| c.as_str().to_owned())
            .collect()
    }
}

impl Default for Language {
    fn default() -> Self {
        Language::new(365)
    }
}

/// A parse or type error, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub line: u32,
    pub column: u32,
    pub expected: String,
    pub found: String,
    pub message: String,
}

impl std::error::Error for ExprError {}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Parses and checks an expression.
pub fn compile(text: &str, lang: &Language) -> Result<Cond, ExprError> {
    let node = syntax::parse(text).map_err(|e| {
        let expected = if e.expected.is_empty() {
            "a condition".to_owned()
        } else {
            e.expected.join(" or ")
        };
        at(text, e.offset, expected, e.found, None)
    })?;
    Checker { text, lang }.cond(&node)
}

/// Parses and checks a value members are ranked by (a leaderboard's score):
/// `interactions_within(30d)`, `referrals_converted`, `super_user`. Anything with an
/// order will do; text (city, tier, RFM cell) will not.
pub fn compile_quantity(text: &str, lang: &Language) -> Result<Quantity, ExprError> {
    let node = syntax::parse(text).map_err(|e| {
        at(
            text,
            e.offset,
            "a field or function".to_owned(),
            e.found,
            None,
        )
    })?;
    let checker = Checker { text, lang };
    let q = checker.quantity(&node)?;
    if q.kind() == super::expr::Kind::Text {
        return Err(checker.error(
            &node.span,
            "a number to rank by",
            "members are ranked by a count, an amount, a score or a date, not by text".to_owned(),
        ));
    }
    Ok(q)
}

fn at(
    text: &str,
    offset: usize,
    expected: String,
    found: String,
    detail: Option<String>,
) -> ExprError {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() as u32 + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() as u32 + 1;
    let mut message = format!("expected {expected}, found {found}");
    if let Some(d) = detail {
        message.push_str(": ");
        message.push_str(&d);
    }
    ExprError {
        line,
        column,
        expected,
        found,
        message,
    }
}

struct Checker<'a> {
    text: &'a str,
    lang: &'a Language,
}

type Checked<T> = Result<T, ExprError>;

impl Checker<'_> {
    fn error(
        &self,
        span: &Range<usize>,
        expected: &str,
        detail: impl Into<Option<String>>,
    ) -> ExprError {
        let found = self.text.get(span.clone()).unwrap_or("").trim();
        let found = if found.is_empty() {
            "end of input".to_owned()
        } else {
            format!("'{}'", found.chars().take(60).collect::<String>())
        };
        at(
            self.text,
            span.start,
            expected.to_owned(),
            found,
            detail.into(),
        )
    }

    fn cond(&self, node: &Node) -> Checked<Cond> {
        match &node.kind {
            NodeKind::Or(items) => Ok(Cond::Or(
                items.iter().map(|n| self.cond(n)).collect::<Checked<_>>()?,
            )),
            NodeKind::And(items) => Ok(Cond::And(
                items.iter().map(|n| self.cond(n)).collect::<Checked<_>>()?,
            )),
            NodeKind::Not(inner) => Ok(Cond::Not(Box::new(self.cond(inner)?))),
            NodeKind::Bool(b) => Ok(Cond::Const(*b)),
            NodeKind::Compare { left, op, right } => {
                // A constant on the left reads the other way round: `1 <= purchase_count`.
                let (q, op, c) = if is_constant(left) && !is_constant(right) {
                    (right, flip(*op), left)
                } else {
                    (left, *op, right)
                };
                let quantity = self.quantity(q)?;
                let kind = quantity.kind();
                if kind == Kind::Text && !matches!(op, Op::Eq | Op::Ne) {
                    return Err(self.error(
                        &node.span,
                        "'=', '!=' or 'in'",
                        format!("{} is text, which has no order", describe(q)),
                    ));
                }
                let constant = self.constant(c, &quantity, q)?;
                Ok(Cond::Compare(quantity, op, constant))
            }
            NodeKind::In {
                left,
                list,
                negated,
            } => {
                let quantity = self.quantity(left)?;
                let set = list
                    .iter()
                    .map(|c| self.constant(c, &quantity, left))
                    .collect::<Checked<Vec<_>>>()?;
                let cond = Cond::In(quantity, set);
                Ok(if *negated {
                    Cond::Not(Box::new(cond))
                } else {
                    cond
                })
            }
            NodeKind::Name(name) => {
                if name == "open_complaint" {
                    return Ok(Cond::Test(Test::OpenComplaint));
                }
                if name == "complainer_won_back" {
                    return Ok(Cond::Test(Test::ComplainerWonBack));
                }
                match field(name).or_else(|| {
                    name.ends_with("_channel_events")
                        .then_some(Quantity::ChannelsUsed)
                }) {
                    Some(q) => Err(self.needs_comparison(node, &q)),
                    None => Err(self.unknown_name(node, name)),
                }
            }
            NodeKind::Call { name, args } => match name.as_str() {
                "tag" => Ok(Cond::Test(Test::Tag(self.text_arg(
                    node,
                    args,
                    "a tag such as \"vip\"",
                )?))),
                "has" => Ok(Cond::Test(Test::Has(self.text_arg(
                    node,
                    args,
                    "an identity kind such as \"wechat_openid\"",
                )?))),
                "in_segment" => Ok(Cond::Test(Test::InSegment(self.text_arg(
                    node,
                    args,
                    "a segment id",
                )?))),
                "holds" | "card" => Ok(Cond::Test(Test::Holds(self.text_arg(
                    node,
                    args,
                    "a programme id",
                )?))),
                "in_group" => Ok(Cond::Test(Test::InGroup(self.text_arg(
                    node,
                    args,
                    "a customer group's id",
                )?))),
                "birthday_within" => Ok(Cond::Test(Test::BirthdayWithin(
                    self.days_arg(node, args, 0, 366)?,
                ))),
                _ => match self.function(node, name, args)? {
                    Some(q) => Err(self.needs_comparison(node, &q)),
                    None => Err(self.unknown_name(node, name)),
                },
            },
            _ => Err(self.error(
                &node.span,
                "a condition",
                "a value alone is not a condition".to_owned(),
            )),
        }
    }

    fn needs_comparison(&self, node: &Node, q: &Quantity) -> ExprError {
        let example = match q.kind() {
            Kind::Text => "= \"…\"",
            Kind::Stage => ">= strong",
            Kind::Lens => ">= sticky",
            Kind::Instant => ">= 2026-01-01",
            _ => ">= 1",
        };
        let written = self.text.get(node.span.clone()).unwrap_or("").trim();
        self.error(
            &(node.span.end..node.span.end),
            "a comparison",
            format!(
                "{written} is {}; compare it, e.g. `{written} {example}`",
                kind_name(q.kind())
            ),
        )
    }

    fn unknown_name(&self, node: &Node, name: &str) -> ExprError {
        let close: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|n| {
                n.starts_with(name.get(..3.min(name.len())).unwrap_or("")) || n.contains(name)
            })
            .take(6)
            .collect();
        let hint = if close.is_empty() {
            format!("{name:?} is not a field or function; the README lists them")
        } else {
            format!(
                "{name:?} is not a field or function; did you mean {}?",
                close.join(", ")
            )
        };
        self.error(&node.span, "a field or function", hint)
    }

    fn quantity(&self, node: &Node) -> Checked<Quantity> {
        match &node.kind {
            NodeKind::Name(name) if name == "owned_channel_events" => {
                Ok(Quantity::ChannelEvents(self.lang.channel_names(true)))
            }
            NodeKind::Name(name) if name == "platform_channel_events" => {
                Ok(Quantity::ChannelEvents(self.lang.channel_names(false)))
            }
            NodeKind::Name(name) => field(name).ok_or_else(|| {
                if name == "open_complaint" {
                    self.error(
                        &node.span,
                        "a field with a value",
                        "open_complaint is yes or no; use it alone or with not".to_owned(),
                    )
                } else {
                    self.unknown_name(node, name)
                }
            }),
            NodeKind::Call { name, args } => match self.function(node, name, args)? {
                Some(q) => Ok(q),
                None if [
                    "tag",
                    "has",
                    "in_segment",
                    "holds",
                    "card",
                    "birthday_within",
                    "in_group",
                ]
                .contains(&name.as_str()) =>
                {
                    Err(self.error(
                        &node.span,
                        "a field with a value",
                        format!("{name}(…) is yes or no; use it alone, with and/or/not"),
                    ))
                }
                None => Err(self.unknown_name(node, name)),
            },
            _ => Err(self.error(
                &node.span,
                "a field or function",
                "compare a member's field with a value".to_owned(),
            )),
        }
    }

    /// Functions that give a value; None when `name` is not one.
    fn function(&self, node: &Node, name: &str, args: &[Node]) -> Checked<Option<Quantity>> {
        let window = self.lang.window_days;
        Ok(Some(match name {
            "purchases_within" => Quantity::PurchasesWithin(self.days_arg(node, args, 1, window)?),
            "spent_within" => Quantity::SpentWithin(self.days_arg(node, args, 1, window)?),
            "interactions_within" => {
                Quantity::InteractionsWithin(self.days_arg(node, args, 1, window)?)
            }
            "points_redeemed_within" => {
                Quantity::RedeemedWithin(self.days_arg(node, args, 1, 3650)?)
            }
            "tier" => {
                Quantity::Tier(self.text_arg(node, args, "a programme id such as \"paid\"")?)
            }
            "open_rate" | "click_rate" => {
                let channel = self.text_arg(node, args, "a message channel such as \"email\"")?;
                if !crate::engagement::is_channel(&channel) {
                    return Err(self.error(
                        &args[0].span,
                        &format!("one of {}", crate::engagement::CHANNELS.join(", ")),
                        format!("{channel:?} is not a message channel"),
                    ));
                }
                if name == "open_rate" {
                    Quantity::OpenRate(Some(channel))
                } else {
                    Quantity::ClickRate(Some(channel))
                }
            }
            "category" => Quantity::Category(self.text_arg(node, args, "a category")?),
            "days_since_category" => {
                Quantity::DaysSinceCategory(self.text_arg(node, args, "a category")?)
            }
            "days_until_expiry" => Quantity::DaysUntilExpiry(self.text_arg(
                node,
                args,
                "a programme id such as \"paid\"",
            )?),
            "sub_brand" => Quantity::SubBrand(self.text_arg(node, args, "a sub-brand")?),
            "participations" => {
                Quantity::Participations(self.text_arg(node, args, "a kind of participation")?)
            }
            "channel" => {
                let name = self.text_arg(node, args, "a channel such as \"tmall\"")?;
                if Channel::find(&self.lang.channels, &name).is_none() {
                    return Err(self.error(
                        &args[0].span,
                        &format!("one of {}", Channel::names(&self.lang.channels)),
                        format!("{name:?} is not a channel"),
                    ));
                }
                Quantity::ChannelEvents(vec![name])
            }
            _ => return Ok(None),
        }))
    }

    fn one_arg<'n>(&self, call: &Node, args: &'n [Node], what: &str) -> Checked<&'n Node> {
        match args {
            [one] => Ok(one),
            [] => Err(self.error(
                &(call.span.end - 1..call.span.end),
                what,
                "the function takes one argument".to_owned(),
            )),
            [_, extra, ..] => Err(self.error(
                &extra.span,
                "')'",
                "the function takes one argument".to_owned(),
            )),
        }
    }

    fn text_arg(&self, call: &Node, args: &[Node], what: &str) -> Checked<String> {
        let arg = self.one_arg(call, args, what)?;
        match &arg.kind {
            NodeKind::Text(t) if !t.trim().is_empty() => Ok(t.clone()),
            _ => Err(self.error(&arg.span, &format!("{what} in quotes"), None)),
        }
    }

    fn days_arg(&self, call: &Node, args: &[Node], min: u32, max: u32) -> Checked<u32> {
        let arg = self.one_arg(call, args, "a duration such as 30d")?;
        match &arg.kind {
            NodeKind::Duration(d) if (min..=max).contains(d) => Ok(*d),
            NodeKind::Duration(d) => Err(self.error(
                &arg.span,
                &format!("a duration of {min} to {max} days"),
                format!("{d} days is outside what Flywheel keeps for this (the facts' window is {} days)", self.lang.window_days),
            )),
            _ => Err(self.error(&arg.span, "a duration such as 7d, 12w, 6m or 1y", None)),
        }
    }

    fn constant(&self, node: &Node, q: &Quantity, q_node: &Node) -> Checked<Constant> {
        let name = describe(q_node);
        let kind = q.kind();
        let bad =
            |expected: String, detail: Option<String>| self.error(&node.span, &expected, detail);
        match (kind, &node.kind) {
            (Kind::Count, NodeKind::Number(n)) => n
                .parse::<i64>()
                .map(Constant::Int)
                .map_err(|_| bad("a whole number".into(), Some(format!("{name} is a count")))),
            (Kind::Count, NodeKind::Duration(d))
                if matches!(
                    q,
                    Quantity::DaysSince(_)
                        | Quantity::DaysSinceCategory(_)
                        | Quantity::DaysUntilExpiry(_)
                ) =>
            {
                Ok(Constant::Int(i64::from(*d)))
            }
            (Kind::Money, NodeKind::Number(n)) => Money::parse(n)
                .map(|m| Constant::Int(m.minor()))
                .map_err(|e| {
                    bad(
                        "an amount of money such as 99.50".into(),
                        Some(e.to_string()),
                    )
                }),
            (Kind::Score, NodeKind::Number(n)) => n
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Constant::Float)
                .ok_or_else(|| bad("a number".into(), None)),
            (Kind::Fraction, NodeKind::Number(n)) => match n.parse::<f64>() {
                Ok(f) if (0.0..=1.0).contains(&f) => Ok(Constant::Int((f * 1e6).round() as i64)),
                _ => Err(bad("a probability from 0 to 1".into(), None)),
            },
            (Kind::Stage, NodeKind::Name(s) | NodeKind::Text(s)) if Stage::parse(s).is_some() => {
                Ok(Constant::Int(Stage::parse(s).map_or(0, |s| s as i64)))
            }
            (Kind::Stage, _) => Err(bad(
                "one of none, micro, weak, strong, super_strong".into(),
                Some(format!(
                    "{name} is a stage, ordered none < micro < weak < strong < super_strong"
                )),
            )),
            (Kind::Lens, NodeKind::Name(s) | NodeKind::Text(s)) if Lens::parse(s).is_some() => {
                Ok(Constant::Int(Lens::parse(s).map_or(0, |l| l as i64)))
            }
            (Kind::Lens, _) => Err(bad(
                "one of none, shallow, sticky, deep, iron".into(),
                Some(format!(
                    "{name} is a lens, ordered none < shallow < sticky < deep < iron"
                )),
            )),
            (Kind::Text, NodeKind::Text(t)) => Ok(Constant::Text(t.clone())),
            (Kind::Text, NodeKind::Name(t)) => Err(bad(
                format!("text in quotes, e.g. \"{t}\""),
                Some(format!("{name} is text")),
            )),
            (Kind::Instant, NodeKind::Date(d)) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| Constant::Int(t.and_utc().timestamp_micros()))
                .ok_or_else(|| bad("a real calendar date (YYYY-MM-DD)".into(), None)),
            (k, _) => Err(bad(
                match k {
                    Kind::Count => "a whole number".into(),
                    Kind::Money => "an amount of money such as 99.50".into(),
                    Kind::Score => "a number".into(),
                    Kind::Fraction => "a probability from 0 to 1".into(),
                    Kind::Instant => "a date such as 2026-01-31".into(),
                    _ => "text in quotes".into(),
                },
                Some(format!("{name} is {}", kind_name(k))),
            )),
        }
    }
}

fn is_constant(n: &Node) -> bool {
    matches!(
        n.kind,
        NodeKind::Number(_)
            | NodeKind::Text(_)
            | NodeKind::Duration(_)
            | NodeKind::Date(_)
            | NodeKind::Bool(_)
    )
}

fn flip(op: Op) -> Op {
    match op {
        Op::Lt => Op::Gt,
        Op::Le => Op::Ge,
        Op::Gt => Op::Lt,
        Op::Ge => Op::Le,
        other => other,
    }
}

fn describe(n: &Node) -> String {
    match &n.kind {
        NodeKind::Name(s) => s.clone(),
        NodeKind::Call { name, .. } => format!("{name}(…)"),
        _ => "the value".into(),
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Count => "a count",
        Kind::Money => "an amount of money",
        Kind::Score => "a score",
        Kind::Fraction => "a probability",
        Kind::Stage => "a stage",
        Kind::Lens => "a lens",
        Kind::Text => "text",
        Kind::Instant => "a date",
    }
}

/// Counters stored in the facts as they are named on the member document
/// (document name, facts key).
pub const STORED_COUNTERS: [(&str, &str); 23] = [
    ("likes", "likes"),
    ("comments", "comments"),
    ("check_ins", "check_ins"),
    ("reviews", "reviews"),
    ("positive_reviews", "reviews_positive"),
    ("negative_reviews", "reviews_negative"),
    ("shares", "shares"),
    ("referrals_made", "referrals_made"),
    ("referrals_converted", "referrals_converted"),
    ("feedback", "feedback"),
    ("suggestions", "suggestions"),
    ("complaints", "complaints"),
    ("complaints_resolved", "complaints_resolved"),
    ("complaints_resolved_in_time", "complaints_resolved_in_time"),
    ("messages_in", "messages_in"),
    ("messages_out", "messages_out"),
    ("visits", "visits"),
    ("follows", "follows"),
    ("registers", "registers"),
    ("deposits", "deposits"),
    ("content_opens", "content_opens"),
    ("content_clicks", "content_clicks"),
    ("refunded_orders", "refunded_orders"),
];

/// Every name the language knows, for "did you mean".
const NAMES: &[&str] = &[
    "stage",
    "lens",
    "purchase_count",
    "purchases_in_window",
    "open_complaints",
    "open_complaint",
    "complainer_won_back",
    "in_group",
    "groups_count",
    "skus_bought_three_times",
    "repeat_sku_purchases",
    "events",
    "total_spent",
    "gross_spent",
    "refunded",
    "spent_in_window",
    "first_purchase_at",
    "last_purchase_at",
    "first_seen_at",
    "last_seen_at",
    "last_interaction_at",
    "member_since",
    "days_since_last_purchase",
    "days_since_first_purchase",
    "days_since_last_seen",
    "days_since_last_interaction",
    "city",
    "gender",
    "occupation",
    "age",
    "followers",
    "points_balance",
    "open_rate",
    "click_rate",
    "super_user",
    "influence",
    "intimacy",
    "rfm.cell",
    "rfm.r",
    "rfm.f",
    "rfm.m",
    "p_alive",
    "clv",
    "likes",
    "comments",
    "check_ins",
    "reviews",
    "positive_reviews",
    "negative_reviews",
    "shares",
    "referrals_made",
    "referrals_converted",
    "feedback",
    "suggestions",
    "complaints",
    "complaints_resolved",
    "messages_in",
    "messages_out",
    "visits",
    "follows",
    "registers",
    "deposits",
    "content_opens",
    "content_clicks",
    "refunded_orders",
    "purchases_within",
    "spent_within",
    "interactions_within",
    "points_redeemed_within",
    "birthday_within",
    "tag",
    "has",
    "in_segment",
    "holds",
    "tier",
    "category",
    "days_since_category",
    "days_until_expiry",
    "sub_brand",
    "participations",
    "channel",
    "channels_used",
    "owned_channel_events",
    "platform_channel_events",
];

/// A field (a name without arguments) that has a value.
fn field(name: &str) -> Option<Quantity> {
    use InstantField as I;
    if let Some((_, key)) = STORED_COUNTERS.iter().find(|(n, _)| *n == name) {
        return Some(Quantity::Count(Counter::Stored(key)));
    }
    Some(match name {
        "stage" => Quantity::Stage,
        "lens" => Quantity::Lens,
        "events" => Quantity::Count(Counter::Stored("events")),
        "purchase_count" => Quantity::Count(Counter::PurchaseCount),
        "purchases_in_window" => Quantity::Count(Counter::PurchasesInWindow),
        "open_complaints" => Quantity::Count(Counter::OpenComplaints),
        "groups_count" => Quantity::Count(Counter::GroupsCount),
        "skus_bought_three_times" => Quantity::Count(Counter::SkusBoughtThreeTimes),
        "repeat_sku_purchases" => Quantity::Count(Counter::RepeatSkuPurchases),
        "total_spent" => Quantity::Money(MoneyField::TotalSpent),
        "gross_spent" => Quantity::Money(MoneyField::GrossSpent),
        "refunded" => Quantity::Money(MoneyField::Refunded),
        "spent_in_window" => Quantity::Money(MoneyField::SpentInWindow),
        "first_purchase_at" => Quantity::Instant(I::FirstPurchase),
        "last_purchase_at" => Quantity::Instant(I::LastPurchase),
        "first_seen_at" => Quantity::Instant(I::FirstSeen),
        "last_seen_at" => Quantity::Instant(I::LastSeen),
        "last_interaction_at" => Quantity::Instant(I::LastInteraction),
        "member_since" => Quantity::Instant(I::MemberSince),
        "days_since_last_purchase" => Quantity::DaysSince(I::LastPurchase),
        "days_since_first_purchase" => Quantity::DaysSince(I::FirstPurchase),
        "days_since_last_seen" => Quantity::DaysSince(I::LastSeen),
        "days_since_last_interaction" => Quantity::DaysSince(I::LastInteraction),
        "city" => Quantity::City,
        "gender" => Quantity::Gender,
        "occupation" => Quantity::Occupation,
        "age" => Quantity::Age,
        "followers" => Quantity::Followers,
        "points_balance" => Quantity::PointsBalance,
        "open_rate" => Quantity::OpenRate(None),
        "click_rate" => Quantity::ClickRate(None),
        "channels_used" => Quantity::ChannelsUsed,
        "super_user" => Quantity::Score(ScoreField::SuperUser),
        "influence" => Quantity::Score(ScoreField::Influence),
        "intimacy" => Quantity::Score(ScoreField::Intimacy),
        "rfm.cell" => Quantity::Score(ScoreField::RfmCell),
        "rfm.r" => Quantity::Score(ScoreField::RfmR),
        "rfm.f" => Quantity::Score(ScoreField::RfmF),
        "rfm.m" => Quantity::Score(ScoreField::RfmM),
        "p_alive" => Quantity::Score(ScoreField::PAlive),
        "clv" => Quantity::Score(ScoreField::Clv),
        _ => return None,
    })
}
