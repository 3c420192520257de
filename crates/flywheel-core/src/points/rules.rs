//! Earning rules: declarative, stored as JSON, versioned with an effective date.
//!
//! A rule names a trigger (an event type, or `referral_converted`), conditions the event
//! must meet (among them the membership tiers the member must hold), an award (fixed
//! points, or points per amount rounded down), multipliers (by the member's stage, by
//! tier — "V2 earns ×1.5" — and festival windows), limits per member per day / month /
//! lifetime, and an optional budget. [`quote`] says what one rule gives one trigger;
//! the earning engine (`earn.rs`) applies limits and budgets against what was already
//! awarded.

use super::policy::{DEFAULT_PROGRAMME, PointsPolicy, is_code};
use crate::ErrorCode;
use crate::event::{Channel, Item};
use crate::limits::Limits as Maximums;
use crate::marketing::Milestone;
use crate::marketing::share::SHARE_MILESTONE;
use crate::money::Money;
use crate::stage::Stage;
use crate::time::{self, Micros};
use crate::validation::FieldError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// The trigger for a referral whose invitee made a first purchase; points go to the
/// inviter, and the stage conditions and multipliers look at the inviter's stage just
/// before the conversion.
pub const REFERRAL_CONVERTED: &str = "referral_converted";

/// The trigger for a purchase by a member someone referred (a rebate, 分销 style): points
/// go to the inviter, judged on the invitee's order (amount, items, channel) and the
/// inviter's stage and tiers. `conditions.days_after_referral` bounds how long after the
/// referral purchases count. A refund of the order takes the rebate back.
pub const REFERRED_PURCHASE: &str = "referred_purchase";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarningRule {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub trigger: String,
    #[serde(default = "default_programme")]
    pub programme: String,
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
    pub award: Award,
    /// Days after the event before the points can be spent (the return window).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending_days: u32,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stage_multipliers: BTreeMap<Stage, Factor>,
    /// By membership tier, `"programme:tier"` (`{"paid:V2": 1.5}`): a member holding
    /// the tier when the event happens earns `factor` times. A member holding several
    /// named tiers (in different programmes) gets the largest factor, not their product.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tier_multipliers: BTreeMap<String, Factor>,
    /// Festival multipliers: events inside a window earn `factor` times.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<Window>,
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
    /// Most points the rule may ever award, across all members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<i64>,
    #[serde(default = "yes")]
    pub active: bool,
    /// Shown to members in their task list (the task centre) when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
}

/// A rule as a task members see: "Check in 7 days in a row — 50 points".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn default_programme() -> String {
    DEFAULT_PROGRAMME.to_owned()
}

fn yes() -> bool {
    true
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The order amount must be at least this (purchases).
    #[serde(default, with = "money_text", skip_serializing_if = "Option::is_none")]
    pub min_amount: Option<Money>,
    #[serde(default, with = "money_text", skip_serializing_if = "Option::is_none")]
    pub max_amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<Channel>,
    /// Only items of these categories count (purchases): per-amount awards are on their
    /// subtotal, fixed awards need at least one such item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_brands: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<Stage>,
    /// The member must hold one of these tiers (`"programme:tier"`, as `"paid:V2"`) when
    /// the event happens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// The event must have happened in [from, until).
    #[serde(
        default,
        with = "instant_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub from: Option<Micros>,
    #[serde(
        default,
        with = "instant_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub until: Option<Micros>,
    /// `referred_purchase` rules: only purchases at most this many days after the
    /// referral count (none: as long as the referral stands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_after_referral: Option<u32>,
    /// `check_in` rules: the check-in must make a run of this many days in a row (or
    /// a whole multiple of it: 7, 14, 21…); `limits.per_member: 1` makes it once-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streak_days: Option<u32>,
    /// `register` and `profile_update` rules: the profile must be complete after the
    /// event ([`crate::profile::TASK_FIELDS`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub profile_complete: bool,
    /// `share_milestone` rules (required there): the link milestone the rule pays, as
    /// `{"measure": "readers", "at": 10}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone: Option<Milestone>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Conditions {
    fn is_empty(&self) -> bool {
        *self == Conditions::default()
    }
}

/// `{"points": 10}` — ten points; `{"points": 1, "per": "1.00"}` — one point for every
/// full 1.00 of the amount.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Award {
    pub points: i64,
    #[serde(default, with = "money_text", skip_serializing_if = "Option::is_none")]
    pub per: Option<Money>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(with = "instant")]
    pub from: Micros,
    #[serde(with = "instant")]
    pub until: Micros,
    pub factor: Factor,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Awards per member per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_month: Option<u32>,
    /// Awards per member, ever (1 for a sign-up bonus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_member: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points_per_day: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points_per_month: Option<i64>,
}

impl Limits {
    fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    pub fn any(&self) -> bool {
        !self.is_empty()
    }
}

/// A multiplier with at most three decimals, kept as thousandths so no float ever
/// touches a points amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Factor(pub u32);

impl Factor {
    pub const ONE: Factor = Factor(1000);

    pub fn times(self, other: Factor) -> Factor {
        Factor((u64::from(self.0) * u64::from(other.0) / 1000).min(u64::from(u32::MAX)) as u32)
    }
}

impl std::fmt::Display for Factor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{frac:03}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl Serialize for Factor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(f64::from(self.0) / 1000.0)
    }
}

impl<'de> Deserialize<'de> for Factor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Factor, D::Error> {
        let x = f64::deserialize(d)?;
        let milli = (x * 1000.0).round();
        if !(1.0..=100_000.0).contains(&milli) || (milli - x * 1000.0).abs() > 1e-6 {
            return Err(serde::de::Error::custom(
                "a factor must be a number from 0.001 to 100 with at most 3 decimals",
            ));
        }
        Ok(Factor(milli as u32))
    }
}

mod money_text {
    use crate::money::Money;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Money>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(m) => s.serialize_str(&m.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Money>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| Money::parse(&t).map_err(|e| serde::de::Error::custom(format!("{t:?} {e}"))))
            .transpose()
    }
}

mod instant {
    use crate::time::{self, Micros};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Micros, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time::to_rfc3339(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Micros, D::Error> {
        let text = String::deserialize(d)?;
        time::parse_rfc3339(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} must be an RFC 3339 timestamp with an offset"
            ))
        })
    }
}

mod instant_text {
    use crate::time::Micros;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Micros>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => super::instant::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Micros>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::instant")] Micros);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

/// The rules shipped by default (issue 3): purchases 1 point per 1.00, pending 7 days;
/// like 1 (20 a day); comment 10 (5 a day); check-in 5 (once a day); review 20 (3 a day);
/// share 5 (10 a day); feedback 10 (3 a day); register 50 (once); a converted referral
/// 100 to the inviter, five times that from a super-strong inviter.
pub fn default_rules() -> Vec<EarningRule> {
    let simple = |id: &str, points: i64, per_day: Option<u32>| EarningRule {
        id: id.to_owned(),
        name: String::new(),
        trigger: id.to_owned(),
        programme: default_programme(),
        conditions: Conditions::default(),
        award: Award { points, per: None },
        pending_days: 0,
        stage_multipliers: BTreeMap::new(),
        tier_multipliers: BTreeMap::new(),
        windows: Vec::new(),
        limits: Limits {
            per_day,
            ..Limits::default()
        },
        budget: None,
        active: true,
        task: None,
    };
    let purchase = EarningRule {
        name: "1 point per 1.00 spent, available after the 7-day return window".into(),
        award: Award {
            points: 1,
            per: Some(Money::from_minor(100)),
        },
        pending_days: 7,
        ..simple("purchase", 1, None)
    };
    let register = EarningRule {
        name: "Welcome bonus".into(),
        limits: Limits {
            per_member: Some(1),
            ..Limits::default()
        },
        ..simple("register", 50, None)
    };
    let referral = EarningRule {
        name: "Invited a friend who bought; five times from a super user".into(),
        stage_multipliers: BTreeMap::from([(Stage::SuperStrong, Factor(5000))]),
        ..simple(REFERRAL_CONVERTED, 100, None)
    };
    vec![
        purchase,
        simple("like", 1, Some(20)),
        simple("comment", 10, Some(5)),
        simple("check_in", 5, Some(1)),
        simple("review", 20, Some(3)),
        simple("share", 5, Some(10)),
        simple("feedback", 10, Some(3)),
        register,
        referral,
    ]
}

/// Channel conditions that name none of the brand's channels (`rules[1].conditions.channels[0]`):
/// such a rule could never fire.
pub fn unknown_channels(rules: &[EarningRule], channels: &[Channel]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        for (j, c) in r.conditions.channels.iter().enumerate() {
            if !channels.contains(c) {
                errors.push(FieldError::new(
                    format!("rules[{i}].conditions.channels[{j}]"),
                    ErrorCode::UnknownChannel,
                    Channel::unknown(channels, c.as_str()),
                ));
            }
        }
    }
    errors
}

/// Checks a rule set, naming each bad field by its path (`rules[2].award.points`).
pub fn validate(
    rules: &[EarningRule],
    policy: &PointsPolicy,
    limits: &Maximums,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, r) in rules.iter().enumerate() {
        let at = |f: &str| format!("rules[{i}].{f}");
        let mut bad = |f: &str, code: ErrorCode, msg: String| {
            errors.push(FieldError::new(at(f), code, msg));
        };
        if !is_code(&r.id) {
            bad(
                "id",
                ErrorCode::InvalidValue,
                "must be 1-40 lower-case letters, digits, '_' or '-'".into(),
            );
        } else if !seen.insert(r.id.as_str()) {
            bad(
                "id",
                ErrorCode::Duplicate,
                format!("rule id {:?} is used twice", r.id),
            );
        }
        if !r.name.is_empty()
            && let Err(e) = crate::validation::check_line("name", &r.name, 200)
        {
            bad(
                "name",
                e.code,
                e.message.replacen("name", "", 1).trim().to_owned(),
            );
        }
        if !is_code(&r.trigger) {
            bad(
                "trigger",
                ErrorCode::InvalidValue,
                "must be an event type, referral_converted or referred_purchase".into(),
            );
        }
        if !policy.knows(&r.programme) {
            bad(
                "programme",
                ErrorCode::UnknownProgramme,
                format!(
                    "{:?} is not a programme; known: {}",
                    r.programme,
                    policy.programmes.join(", ")
                ),
            );
        }
        if !(1..=1_000_000_000).contains(&r.award.points) {
            bad(
                "award.points",
                ErrorCode::OutOfRange,
                "must be from 1 to 1000000000".into(),
            );
        }
        if r.award.per.is_some_and(|p| p.minor() <= 0) {
            bad(
                "award.per",
                ErrorCode::OutOfRange,
                "must be more than 0.00".into(),
            );
        }
        if r.pending_days > 365 {
            bad(
                "pending_days",
                ErrorCode::OutOfRange,
                "must be at most 365".into(),
            );
        }
        if let (Some(a), Some(b)) = (r.conditions.min_amount, r.conditions.max_amount)
            && a > b
        {
            bad(
                "conditions.max_amount",
                ErrorCode::OutOfRange,
                "must not be below min_amount".into(),
            );
        }
        if let (Some(a), Some(b)) = (r.conditions.from, r.conditions.until)
            && a >= b
        {
            bad(
                "conditions.until",
                ErrorCode::OutOfRange,
                "must be after from".into(),
            );
        }
        for (j, t) in r.conditions.tiers.iter().enumerate() {
            if tier_ref(t).is_none() {
                bad(
                    &format!("conditions.tiers[{j}]"),
                    ErrorCode::InvalidValue,
                    format!("{t:?} must name a tier as \"programme:tier\""),
                );
            }
        }
        for t in r.tier_multipliers.keys() {
            if tier_ref(t).is_none() {
                bad(
                    &format!("tier_multipliers.{t}"),
                    ErrorCode::InvalidValue,
                    format!("{t:?} must name a tier as \"programme:tier\""),
                );
            }
        }
        match r.conditions.streak_days {
            Some(_) if r.trigger != "check_in" => bad(
                "conditions.streak_days",
                ErrorCode::InvalidValue,
                "only check_in rules count a streak".into(),
            ),
            Some(d) if !(2..=365).contains(&d) => bad(
                "conditions.streak_days",
                ErrorCode::OutOfRange,
                "must be from 2 to 365".into(),
            ),
            _ => {}
        }
        if r.conditions.profile_complete
            && !["register", "profile_update"].contains(&r.trigger.as_str())
        {
            bad(
                "conditions.profile_complete",
                ErrorCode::InvalidValue,
                "only register and profile_update rules look at the profile".into(),
            );
        }
        if let Some(task) = &r.task {
            if let Err(e) = crate::validation::check_line("title", &task.title, 80) {
                bad(
                    "task.title",
                    e.code,
                    e.message.replacen("title", "", 1).trim().to_owned(),
                );
            }
            if let Some(d) = &task.description
                && let Err(e) = crate::validation::check_line("description", d, 300)
            {
                bad(
                    "task.description",
                    e.code,
                    e.message.replacen("description", "", 1).trim().to_owned(),
                );
            }
        }
        match r.conditions.milestone {
            None if r.trigger == SHARE_MILESTONE => bad(
                "conditions.milestone",
                ErrorCode::MissingField,
                "a share_milestone rule names the milestone it pays".into(),
            ),
            Some(_) if r.trigger != SHARE_MILESTONE => bad(
                "conditions.milestone",
                ErrorCode::InvalidValue,
                "only share_milestone rules look at a link's milestones".into(),
            ),
            Some(m) => {
                if let Err(e) = m.check("milestone") {
                    bad(
                        &format!("conditions.{}", e.field),
                        e.code,
                        format!(
                            "must be from 1 to {}",
                            crate::marketing::share::MAX_MILESTONE
                        ),
                    );
                }
            }
            None => {}
        }
        match r.conditions.days_after_referral {
            Some(_) if r.trigger != REFERRED_PURCHASE => bad(
                "conditions.days_after_referral",
                ErrorCode::InvalidValue,
                "only referred_purchase rules look at a referral".into(),
            ),
            Some(d) if !(1..=3650).contains(&d) => bad(
                "conditions.days_after_referral",
                ErrorCode::OutOfRange,
                "must be from 1 to 3650".into(),
            ),
            _ => {}
        }
        for (j, w) in r.windows.iter().enumerate() {
            if w.from >= w.until {
                bad(
                    &format!("windows[{j}].until"),
                    ErrorCode::OutOfRange,
                    "must be after from".into(),
                );
            }
        }
        if r.budget.is_some_and(|b| b <= 0) {
            bad("budget", ErrorCode::OutOfRange, "must be positive".into());
        }
        if r.award.per.is_none_or(|p| p.minor() > 0)
            && let Some(most) = worst_case(r, limits)
            && most > i128::from(limits.max_points_per_posting)
        {
            bad(
                "award.points",
                ErrorCode::OutOfRange,
                format!(
                    "at most this rule could award {most} points for one event (the largest \
                     order with every multiplier), more than limits.max_points_per_posting \
                     {}",
                    limits.max_points_per_posting
                ),
            );
        }
        let l = &r.limits;
        let zero_count = [l.per_day, l.per_month, l.per_member].contains(&Some(0));
        let zero_points = [l.points_per_day, l.points_per_month]
            .iter()
            .any(|p| p.is_some_and(|p| p <= 0));
        if zero_count || zero_points {
            bad(
                "limits",
                ErrorCode::OutOfRange,
                "limits must be positive (leave one out for no limit)".into(),
            );
        }
    }
    errors
}

/// The most points `rule` could award one event: the largest order the limits allow,
/// the largest stage multiplier and every festival window at once. `None` when the award
/// is not a positive number (reported on its own).
fn worst_case(rule: &EarningRule, limits: &Maximums) -> Option<i128> {
    if rule.award.points <= 0 {
        return None;
    }
    let stage = rule
        .stage_multipliers
        .values()
        .map(|f| i128::from(f.0))
        .max()
        .unwrap_or(1000)
        .max(1000);
    let tier = rule
        .tier_multipliers
        .values()
        .map(|f| i128::from(f.0))
        .max()
        .unwrap_or(1000)
        .max(1000);
    let mut milli = stage * tier / 1000;
    for w in &rule.windows {
        milli = milli * i128::from(w.factor.0.max(1000)) / 1000;
    }
    let base = match rule.award.per {
        Some(per) => {
            i128::from(limits.max_order_amount.minor()) * i128::from(rule.award.points)
                / i128::from(per.minor().max(1))
        }
        None => i128::from(rule.award.points),
    };
    Some(base * milli / 1000)
}

/// What fired the rules.
#[derive(Clone, Debug)]
pub struct Trigger<'a> {
    /// Event type, or [`REFERRAL_CONVERTED`].
    pub kind: &'a str,
    pub occurred_at: Micros,
    pub channel: Option<Channel>,
    /// The earning member's stage just before.
    pub stage: Stage,
    pub amount: Option<Money>,
    pub items: &'a [Item],
    /// The tiers the member holds when it happens, as `"programme:tier"`.
    pub tiers: &'a [String],
    /// For [`REFERRED_PURCHASE`]: when the invitee was referred.
    pub referred_at: Option<Micros>,
    /// The member's progress on tasks just after the event.
    pub progress: Progress,
    /// For [`SHARE_MILESTONE`]: the milestone the member's link reached.
    pub milestone: Option<Milestone>,
}

/// What task conditions look at: the member's check-in streak and how much of their
/// profile is filled in, just after the event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub check_in_streak: u32,
    pub profile_fields: u8,
}

/// Splits a tier reference `"programme:tier"` into its parts, if well formed.
pub fn tier_ref(text: &str) -> Option<(&str, &str)> {
    let (programme, tier) = text.split_once(':')?;
    let ok = |s: &str| {
        (1..=40).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    (ok(programme) && ok(tier)).then_some((programme, tier))
}

/// What one rule gives one trigger before limits and budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub points: i64,
    pub factor: Factor,
    /// How the points were reached, for people.
    pub explanation: String,
}

/// Why a rule did not fire.
pub type Miss = String;

/// Applies `rule`'s conditions, award and multipliers to `t`.
pub fn quote(rule: &EarningRule, t: &Trigger<'_>) -> Result<Quote, Miss> {
    if !rule.active {
        return Err("the rule is switched off".into());
    }
    if rule.trigger != t.kind {
        return Err(format!("the rule is for {} events", rule.trigger));
    }
    let c = &rule.conditions;
    if !c.channels.is_empty() && !t.channel.is_some_and(|ch| c.channels.contains(&ch)) {
        return Err("the channel is not one the rule names".into());
    }
    if !c.stages.is_empty() && !c.stages.contains(&t.stage) {
        return Err(format!(
            "the member's stage {} is not one the rule names",
            t.stage.as_str()
        ));
    }
    if !c.tiers.is_empty() && !c.tiers.iter().any(|x| t.tiers.contains(x)) {
        return Err(if t.tiers.is_empty() {
            "the member holds none of the tiers the rule names".into()
        } else {
            format!(
                "the member's tiers ({}) are not ones the rule names",
                t.tiers.join(", ")
            )
        });
    }
    if c.from.is_some_and(|f| t.occurred_at < f) || c.until.is_some_and(|u| t.occurred_at >= u) {
        return Err("the event is outside the rule's dates".into());
    }
    if let Some(n) = c.streak_days {
        let streak = t.progress.check_in_streak;
        if streak == 0 || !streak.is_multiple_of(n) {
            return Err(format!(
                "the check-in streak is {streak} days, not a run of {n}"
            ));
        }
    }
    if c.profile_complete {
        let (filled, all) = (t.progress.profile_fields, crate::profile::TASK_FIELDS.len());
        if usize::from(filled) < all {
            return Err(format!("the profile has {filled} of its {all} fields"));
        }
    }
    if let Some(want) = c.milestone
        && t.milestone != Some(want)
    {
        return Err(format!(
            "the rule pays a link's {} {}, not this milestone",
            want.at, want.measure
        ));
    }
    if let Some(days) = c.days_after_referral {
        match t.referred_at {
            None => return Err("the purchase was not referred".into()),
            Some(at) if t.occurred_at > at + time::days(days) => {
                return Err(format!(
                    "the purchase came more than {days} days after the referral"
                ));
            }
            Some(_) => {}
        }
    }
    if c.min_amount.is_some() || c.max_amount.is_some() {
        let Some(amount) = t.amount else {
            return Err("the event has no amount".into());
        };
        if c.min_amount.is_some_and(|m| amount < m) {
            return Err(format!(
                "the amount {amount} is below {}",
                c.min_amount.unwrap_or_default()
            ));
        }
        if c.max_amount.is_some_and(|m| amount > m) {
            return Err(format!(
                "the amount {amount} is above {}",
                c.max_amount.unwrap_or_default()
            ));
        }
    }
    let filtered = !c.categories.is_empty() || !c.sub_brands.is_empty();
    let matches = |item: &Item| {
        (c.categories.is_empty()
            || item
                .category
                .as_ref()
                .is_some_and(|x| c.categories.contains(x)))
            && (c.sub_brands.is_empty()
                || item
                    .sub_brand
                    .as_ref()
                    .is_some_and(|x| c.sub_brands.contains(x)))
    };
    let amount = if filtered {
        let hits: Vec<&Item> = t.items.iter().filter(|i| matches(i)).collect();
        if hits.is_empty() {
            return Err("no item is of the categories or sub-brands the rule names".into());
        }
        let subtotal: i128 = hits
            .iter()
            .filter_map(|i| i.price.map(|p| i128::from(p.minor()) * i128::from(i.qty)))
            .sum();
        let Ok(subtotal) = i64::try_from(subtotal) else {
            return Err("the items the rule names add up to more than can be counted".into());
        };
        Some(Money::from_minor(subtotal))
    } else {
        t.amount
    };
    let mut factor = Factor::ONE;
    let mut why = Vec::new();
    if let Some(f) = rule.stage_multipliers.get(&t.stage) {
        factor = factor.times(*f);
        why.push(format!("×{f} for a {} member", t.stage.as_str()));
    }
    if let Some((tier, f)) = t
        .tiers
        .iter()
        .filter_map(|held| rule.tier_multipliers.get(held).map(|f| (held, *f)))
        .max_by_key(|(_, f)| f.0)
    {
        factor = factor.times(f);
        why.push(format!("×{f} for {tier}"));
    }
    for w in &rule.windows {
        if w.from <= t.occurred_at && t.occurred_at < w.until {
            factor = factor.times(w.factor);
            let name = if w.name.is_empty() {
                "the festival window"
            } else {
                &w.name
            };
            why.push(format!("×{} during {name}", w.factor));
        }
    }
    let (points, base) = match rule.award.per {
        Some(per) => {
            let Some(amount) = amount else {
                return Err("the event has no amount".into());
            };
            // floor(amount / per × points × factor), in integers.
            let num =
                i128::from(amount.minor()) * i128::from(rule.award.points) * i128::from(factor.0);
            let den = i128::from(per.minor()) * 1000;
            (
                num / den,
                format!("{} per {per} of {amount}", rule.award.points),
            )
        }
        None => (
            i128::from(rule.award.points) * i128::from(factor.0) / 1000,
            format!("{} points", rule.award.points),
        ),
    };
    // Never capped: an award too large for the ledger is no award, and says so.
    let Ok(points) = i64::try_from(points) else {
        return Err(format!("{base} would be more points than can be counted"));
    };
    let mut explanation = base;
    for w in why {
        explanation.push(' ');
        explanation.push_str(&w);
    }
    explanation.push_str(&format!(" = {points}"));
    Ok(Quote {
        points,
        factor,
        explanation,
    })
}

/// A stored version of the rule set.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSet {
    /// 0 is the built-in default set, in force until a version is stored.
    pub version: i64,
    pub effective_from: Micros,
    pub rules: Vec<EarningRule>,
}

impl RuleSet {
    /// The link milestones the set's active `share_milestone` rules pay: what a tracked
    /// link's counts are judged against.
    pub fn milestones(&self) -> std::collections::BTreeSet<Milestone> {
        self.rules
            .iter()
            .filter(|r| r.active && r.trigger == SHARE_MILESTONE)
            .filter_map(|r| r.conditions.milestone)
            .collect()
    }
}

/// Every version, so each event is judged by the rules in force when it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleBook {
    /// Sorted by effective date, then version.
    pub versions: Vec<RuleSet>,
}

impl RuleBook {
    pub fn new(mut versions: Vec<RuleSet>) -> RuleBook {
        versions.insert(
            0,
            RuleSet {
                version: 0,
                effective_from: Micros::MIN,
                rules: default_rules(),
            },
        );
        versions.sort_by_key(|v| (v.effective_from, v.version));
        RuleBook { versions }
    }

    /// The rule set in force at `t`: the latest-effective version not after `t`.
    pub fn at(&self, t: Micros) -> &RuleSet {
        self.versions
            .iter()
            .rev()
            .find(|v| v.effective_from <= t)
            .unwrap_or(&self.versions[0])
    }

    /// The newest stored version.
    pub fn latest_version(&self) -> i64 {
        self.versions.iter().map(|v| v.version).max().unwrap_or(0)
    }

    /// Whether any rule of any version looks at the member's tiers, so ingest must know
    /// what each earning member holds.
    pub fn uses_tiers(&self) -> bool {
        self.versions
            .iter()
            .flat_map(|v| v.rules.iter())
            .any(|r| !r.conditions.tiers.is_empty() || !r.tier_multipliers.is_empty())
    }

    /// Whether any rule (any version) has `trigger`.
    pub fn uses_trigger(&self, trigger: &str) -> bool {
        self.versions
            .iter()
            .flat_map(|v| v.rules.iter())
            .any(|r| r.trigger == trigger)
    }

    /// Ids of rules (any version) with a budget.
    pub fn budgeted(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .versions
            .iter()
            .flat_map(|v| v.rules.iter())
            .filter(|r| r.budget.is_some())
            .map(|r| r.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}
