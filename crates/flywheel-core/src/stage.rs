//! Relationship stages (5CR: none → micro → weak → strong → super_strong) and the
//! 浅/粘/深/铁 lens, decided by a declarative policy the brand can rewrite in its config.
//!
//! A policy is an ordered list of stage rules (first match wins) followed by caps (each
//! may lower the result). Rules are built from [`Condition`]s over window facts and
//! recency, and every decision carries the id of the rule that made it and a sentence
//! with the values that were seen.

use crate::facts::{MemberFacts, WindowFacts};
use crate::time::{self, Micros};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    None,
    Micro,
    Weak,
    Strong,
    SuperStrong,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::None,
        Stage::Micro,
        Stage::Weak,
        Stage::Strong,
        Stage::SuperStrong,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::None => "none",
            Stage::Micro => "micro",
            Stage::Weak => "weak",
            Stage::Strong => "strong",
            Stage::SuperStrong => "super_strong",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 浅/粘/深/铁: shallow (connected) → sticky (interacts) → deep (bought) → iron (brings friends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lens {
    None,
    Shallow,
    Sticky,
    Deep,
    Iron,
}

impl Lens {
    pub const ALL: [Lens; 5] = [
        Lens::None,
        Lens::Shallow,
        Lens::Sticky,
        Lens::Deep,
        Lens::Iron,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Lens::None => "none",
            Lens::Shallow => "shallow",
            Lens::Sticky => "sticky",
            Lens::Deep => "deep",
            Lens::Iron => "iron",
        }
    }

    pub fn parse(s: &str) -> Option<Lens> {
        Lens::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The lens follows the definitions over the member's whole history.
    pub fn of(facts: &MemberFacts) -> Lens {
        if facts.referrals_converted >= 1 {
            Lens::Iron
        } else if facts.orders >= 1 {
            Lens::Deep
        } else if facts.last_interaction_at.is_some() {
            Lens::Sticky
        } else if facts.first_connected_at.is_some() {
            Lens::Shallow
        } else {
            Lens::None
        }
    }
}

/// A count over the look-back window. `participations:co_creation` counts one kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Count {
    Purchases,
    ConvertedReferrals,
    Feedback,
    PositiveReviews,
    Participations,
    ParticipationsOf(String),
    Categories,
    SubBrands,
}

impl TryFrom<String> for Count {
    type Error = String;
    fn try_from(s: String) -> Result<Count, String> {
        Ok(match s.as_str() {
            "purchases" => Count::Purchases,
            "converted_referrals" => Count::ConvertedReferrals,
            "feedback" => Count::Feedback,
            "positive_reviews" => Count::PositiveReviews,
            "participations" => Count::Participations,
            "categories" => Count::Categories,
            "sub_brands" => Count::SubBrands,
            other => match other.strip_prefix("participations:") {
                Some(kind) if !kind.is_empty() => Count::ParticipationsOf(kind.to_owned()),
                _ => {
                    return Err(format!(
                        "unknown count {other:?}: expected purchases, converted_referrals, feedback, positive_reviews, \
                         participations, participations:<kind>, categories or sub_brands"
                    ));
                }
            },
        })
    }
}

impl From<Count> for String {
    fn from(c: Count) -> String {
        match c {
            Count::Purchases => "purchases".into(),
            Count::ConvertedReferrals => "converted_referrals".into(),
            Count::Feedback => "feedback".into(),
            Count::PositiveReviews => "positive_reviews".into(),
            Count::Participations => "participations".into(),
            Count::ParticipationsOf(k) => format!("participations:{k}"),
            Count::Categories => "categories".into(),
            Count::SubBrands => "sub_brands".into(),
        }
    }
}

impl Count {
    fn of(&self, w: &WindowFacts) -> u32 {
        match self {
            Count::Purchases => w.purchases,
            Count::ConvertedReferrals => w.converted_referrals,
            Count::Feedback => w.feedback,
            Count::PositiveReviews => w.positive_reviews,
            Count::Participations => w.participations,
            Count::ParticipationsOf(kind) => {
                w.participations_by_kind.get(kind).copied().unwrap_or(0)
            }
            Count::Categories => w.categories.len() as u32,
            Count::SubBrands => w.sub_brands.len() as u32,
        }
    }
}

/// An instant a recency condition measures from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Since {
    /// The last purchase.
    LastPurchase,
    /// The last purchase or interaction (or, failing both, the first connection).
    LastEngagement,
    /// The oldest complaint still open.
    OldestOpenComplaint,
}

impl Since {
    fn of(self, facts: &MemberFacts) -> Option<Micros> {
        match self {
            Since::LastPurchase => facts.last_purchase_at,
            Since::LastEngagement => facts.last_engaged_at(),
            Since::OldestOpenComplaint => facts.oldest_open_complaint(),
        }
    }
}

/// One test in a stage rule or cap. In TOML:
/// `{ count = "purchases", at_least = 3 }`, `{ since = "last_purchase", within_days = 90 }`,
/// `{ since = "last_engagement", more_than_days = 180 }`, `{ any = [ … ] }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Condition {
    AtLeast { count: Count, at_least: u32 },
    Within { since: Since, within_days: u32 },
    MoreThan { since: Since, more_than_days: u32 },
    Any { any: Vec<Condition> },
}

/// The facts a decision is made from.
pub struct Inputs<'a> {
    pub facts: &'a MemberFacts,
    pub window: WindowFacts,
    pub as_of: Micros,
    pub window_days: u32,
}

impl Condition {
    pub fn holds(&self, x: &Inputs<'_>) -> bool {
        match self {
            Condition::AtLeast { count, at_least } => count.of(&x.window) >= *at_least,
            Condition::Within { since, within_days } => since
                .of(x.facts)
                .is_some_and(|t| x.as_of - t <= time::days(*within_days)),
            Condition::MoreThan {
                since,
                more_than_days,
            } => since
                .of(x.facts)
                .is_some_and(|t| x.as_of - t > time::days(*more_than_days)),
            Condition::Any { any } => any.iter().any(|c| c.holds(x)),
        }
    }

    /// What was required and what was seen: "purchases in 365 days ≥ 3 (saw 4)".
    pub fn explain(&self, x: &Inputs<'_>) -> String {
        let ago = |since: Since| match since.of(x.facts) {
            Some(t) => format!("{} days", time::whole_days_between(t, x.as_of)),
            None => "never".to_owned(),
        };
        match self {
            Condition::AtLeast { count, at_least } => format!(
                "{} in {} days ≥ {at_least} (saw {})",
                String::from(count.clone()),
                x.window_days,
                count.of(&x.window)
            ),
            Condition::Within { since, within_days } => {
                format!(
                    "{} ≤ {within_days} days ago (saw {})",
                    since_name(*since),
                    ago(*since)
                )
            }
            Condition::MoreThan {
                since,
                more_than_days,
            } => {
                format!(
                    "{} > {more_than_days} days ago (saw {})",
                    since_name(*since),
                    ago(*since)
                )
            }
            Condition::Any { any } => {
                let parts: Vec<_> = any.iter().map(|c| c.explain(x)).collect();
                format!("any of ({})", parts.join("; "))
            }
        }
    }

    /// Instants after which this recency condition may flip without any new event.
    /// (Counts change only when a signal leaves the window; `next_review_at` adds that
    /// instant once for the whole policy.)
    fn boundaries(&self, facts: &MemberFacts, out: &mut Vec<Micros>) {
        match self {
            Condition::AtLeast { .. } => {}
            Condition::Within { since, within_days } => {
                out.extend(since.of(facts).map(|t| t + time::days(*within_days) + 1))
            }
            Condition::MoreThan {
                since,
                more_than_days,
            } => out.extend(since.of(facts).map(|t| t + time::days(*more_than_days) + 1)),
            Condition::Any { any } => any.iter().for_each(|c| c.boundaries(facts, out)),
        }
    }
}

fn since_name(s: Since) -> &'static str {
    match s {
        Since::LastPurchase => "last purchase",
        Since::LastEngagement => "last purchase or interaction",
        Since::OldestOpenComplaint => "oldest open complaint",
    }
}

/// A stage the member reaches when every condition holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRule {
    pub stage: Stage,
    pub when: Vec<Condition>,
}

/// A ceiling applied after the rules: when every condition holds, the stage is at most `at_most`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageCap {
    pub name: String,
    pub at_most: Stage,
    pub when: Vec<Condition>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StagePolicy {
    pub window_days: u32,
    pub rules: Vec<StageRule>,
    pub caps: Vec<StageCap>,
}

/// The outcome of evaluating a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub stage: Stage,
    pub lens: Lens,
    /// `super_strong`, `micro`, `cap:silent_180d`, or `default` when no rule matched.
    pub rule: String,
    pub reason: String,
}

impl Default for StagePolicy {
    fn default() -> Self {
        use Condition::*;
        let purchases = |n| AtLeast {
            count: Count::Purchases,
            at_least: n,
        };
        let at_least = |count, n| AtLeast { count, at_least: n };
        StagePolicy {
            window_days: 365,
            rules: vec![
                StageRule {
                    stage: Stage::SuperStrong,
                    when: vec![
                        purchases(3),
                        Any {
                            any: vec![
                                at_least(Count::ConvertedReferrals, 1),
                                at_least(Count::ParticipationsOf("co_creation".into()), 1),
                            ],
                        },
                    ],
                },
                StageRule {
                    stage: Stage::Strong,
                    when: vec![
                        purchases(5),
                        Within {
                            since: Since::LastPurchase,
                            within_days: 90,
                        },
                        Any {
                            any: vec![
                                at_least(Count::Feedback, 1),
                                at_least(Count::PositiveReviews, 1),
                                at_least(Count::Participations, 1),
                                at_least(Count::Categories, 2),
                                at_least(Count::SubBrands, 2),
                            ],
                        },
                    ],
                },
                StageRule {
                    stage: Stage::Weak,
                    when: vec![purchases(3)],
                },
                // "Connected" is not a window count: the micro rule is built in, see evaluate().
            ],
            caps: vec![
                StageCap {
                    name: "silent_365d".into(),
                    at_most: Stage::None,
                    when: vec![MoreThan {
                        since: Since::LastEngagement,
                        more_than_days: 365,
                    }],
                },
                StageCap {
                    name: "silent_180d".into(),
                    at_most: Stage::Micro,
                    when: vec![MoreThan {
                        since: Since::LastEngagement,
                        more_than_days: 180,
                    }],
                },
                StageCap {
                    name: "complaint_open_14d".into(),
                    at_most: Stage::Weak,
                    when: vec![MoreThan {
                        since: Since::OldestOpenComplaint,
                        more_than_days: 14,
                    }],
                },
            ],
        }
    }
}

impl StagePolicy {
    pub fn validate(&self) -> Result<(), String> {
        if self.window_days == 0 {
            return Err("stages.window_days must be at least 1".into());
        }
        Ok(())
    }

    fn inputs<'a>(&self, facts: &'a MemberFacts, as_of: Micros) -> Inputs<'a> {
        Inputs {
            facts,
            window: facts.window(as_of, self.window_days),
            as_of,
            window_days: self.window_days,
        }
    }

    /// Decides the stage at `as_of`: rules top-down (first match wins), then a built-in
    /// `micro` rule (connected, or a purchase in the window), then every cap.
    pub fn evaluate(&self, facts: &MemberFacts, as_of: Micros) -> Decision {
        let x = self.inputs(facts, as_of);
        let matched = self
            .rules
            .iter()
            .find(|r| r.when.iter().all(|c| c.holds(&x)));
        let (mut stage, mut rule, mut reason) = match matched {
            Some(r) => {
                let why: Vec<_> = r.when.iter().map(|c| c.explain(&x)).collect();
                (r.stage, r.stage.as_str().to_owned(), why.join(" and "))
            }
            None if facts.first_connected_at.is_some() || x.window.purchases >= 1 => {
                let mut seen = Vec::new();
                if let Some(t) = facts.first_connected_at {
                    seen.push(format!("connected since {}", &time::to_rfc3339(t)[..10]));
                }
                if x.window.purchases >= 1 {
                    seen.push(format!(
                        "{} purchases in {} days",
                        x.window.purchases, self.window_days
                    ));
                }
                let reason = format!("{}; no higher rule met", seen.join(" and "));
                (Stage::Micro, "micro".to_owned(), reason)
            }
            None => (
                Stage::None,
                "default".to_owned(),
                "not connected and no purchase in the window".to_owned(),
            ),
        };
        for cap in &self.caps {
            if stage > cap.at_most && cap.when.iter().all(|c| c.holds(&x)) {
                let why: Vec<_> = cap.when.iter().map(|c| c.explain(&x)).collect();
                reason = format!(
                    "{reason}; capped at {} by {}: {}",
                    cap.at_most,
                    cap.name,
                    why.join(" and ")
                );
                rule = format!("cap:{}", cap.name);
                stage = cap.at_most;
            }
        }
        Decision {
            stage,
            lens: Lens::of(facts),
            rule,
            reason,
        }
    }

    /// The earliest instant after `as_of` at which the decision could change with no new
    /// event — a purchase leaving the window, a silence or complaint crossing its limit.
    pub fn next_review_at(&self, facts: &MemberFacts, as_of: Micros) -> Option<Micros> {
        let mut candidates = Vec::new();
        // Every count, and the built-in micro rule, can drop only when a signal leaves
        // the window: the oldest signal still inside decides when.
        let start = as_of - time::days(self.window_days);
        let oldest_inside = facts.recent.iter().find(|s| s.at > start);
        candidates.extend(oldest_inside.map(|s| s.at + time::days(self.window_days)));
        let conditions = self
            .rules
            .iter()
            .flat_map(|r| &r.when)
            .chain(self.caps.iter().flat_map(|c| &c.when));
        for c in conditions {
            c.boundaries(facts, &mut candidates);
        }
        candidates.into_iter().filter(|t| *t > as_of).min()
    }

    /// The longest look-back any rule needs: signals older than this are pruned.
    pub fn keep_after(&self, as_of: Micros) -> Micros {
        as_of - time::days(self.window_days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Channel, Event, FeedbackKind, Item, Payload, Purchase};
    use crate::money::Money;
    use crate::time::DAY;

    const NOW: Micros = 1000 * DAY;

    fn buy(f: &mut MemberFacts, day: i64, category: &str) {
        let p = Purchase {
            order_id: format!("o{day}{category}"),
            amount: Money::from_minor(100),
            currency: "CNY".into(),
            store: None,
            items: vec![Item {
                sku: "s".into(),
                sub_brand: None,
                category: Some(category.into()),
                qty: 1,
                price: None,
            }],
        };
        let at = NOW - day * DAY;
        // As the ingest processor does: the common part, then the purchase itself.
        let e = Event {
            event_id: format!("p{day}"),
            type_name: "purchase".into(),
            occurred_at: at,
            channel: Channel::STORE,
            identities: vec![],
            payload: Payload::Purchase(p.clone()),
            properties: Default::default(),
        };
        f.record(&e, i64::MIN);
        f.record_purchase(&p, at, Money::ZERO, i64::MIN);
    }

    fn happen(f: &mut MemberFacts, days_ago: i64, payload: Payload) {
        let e = Event {
            event_id: format!("e{days_ago}"),
            type_name: "x".into(),
            occurred_at: NOW - days_ago * DAY,
            channel: Channel::APP,
            identities: vec![],
            payload,
            properties: Default::default(),
        };
        f.record(&e, i64::MIN);
    }

    fn stage(f: &MemberFacts) -> (Stage, String) {
        let d = StagePolicy::default().evaluate(f, NOW);
        (d.stage, d.rule)
    }

    #[test]
    fn the_ladder_climbs_with_purchases_and_trust() {
        let mut f = MemberFacts::default();
        assert_eq!(stage(&f), (Stage::None, "default".into()));
        happen(&mut f, 30, Payload::Follow);
        assert_eq!(stage(&f), (Stage::Micro, "micro".into()));
        let why = StagePolicy::default().evaluate(&f, NOW).reason;
        assert_eq!(
            why,
            format!(
                "connected since {}; no higher rule met",
                &time::to_rfc3339(NOW - 30 * DAY)[..10]
            )
        );
        for d in [20, 10, 5] {
            buy(&mut f, d, "tea");
        }
        assert_eq!(stage(&f), (Stage::Weak, "weak".into()));
        buy(&mut f, 4, "tea");
        buy(&mut f, 3, "coffee");
        assert_eq!(
            stage(&f),
            (Stage::Strong, "strong".into()),
            "five purchases across two categories"
        );
    }

    #[test]
    fn a_converted_referral_jumps_weak_to_super_strong() {
        let mut f = MemberFacts::default();
        for d in [20, 10, 5] {
            buy(&mut f, d, "tea");
        }
        assert_eq!(stage(&f).0, Stage::Weak);
        f.record_converted_referral(NOW - DAY, i64::MIN);
        assert_eq!(stage(&f), (Stage::SuperStrong, "super_strong".into()));
        assert_eq!(Lens::of(&f), Lens::Iron);
    }

    #[test]
    fn strong_needs_a_recent_purchase() {
        let mut f = MemberFacts::default();
        for d in [200, 150, 120, 100, 95] {
            buy(&mut f, d, if d == 95 { "coffee" } else { "tea" });
        }
        happen(&mut f, 10, Payload::Like);
        let d = StagePolicy::default().evaluate(&f, NOW);
        assert_eq!(d.stage, Stage::Weak);
    }

    #[test]
    fn long_silence_caps_the_stage_down_to_micro_then_none() {
        let mut f = MemberFacts::default();
        for d in [200, 195, 190] {
            buy(&mut f, d, "tea");
        }
        let (s, rule) = stage(&f);
        assert_eq!((s, rule.as_str()), (Stage::Micro, "cap:silent_180d"));
        let later = StagePolicy::default().evaluate(&f, NOW + 200 * DAY);
        assert_eq!(
            (later.stage, later.rule.as_str()),
            (Stage::None, "cap:silent_365d")
        );
    }

    #[test]
    fn a_complaint_open_more_than_fourteen_days_caps_at_weak() {
        let mut f = MemberFacts::default();
        for d in [40, 30, 20, 10, 5] {
            buy(&mut f, d, if d == 5 { "coffee" } else { "tea" });
        }
        happen(
            &mut f,
            14,
            Payload::Feedback {
                kind: FeedbackKind::Complaint,
                category: None,
            },
        );
        assert_eq!(
            stage(&f).0,
            Stage::Strong,
            "exactly 14 days is not more than 14"
        );
        let d = StagePolicy::default().evaluate(&f, NOW + DAY);
        assert_eq!(
            (d.stage, d.rule.as_str()),
            (Stage::Weak, "cap:complaint_open_14d")
        );
        assert!(
            d.reason
                .contains("oldest open complaint > 14 days ago (saw 15 days)"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn the_next_review_is_when_something_time_based_flips() {
        let mut f = MemberFacts::default();
        for d in [20, 10, 5] {
            buy(&mut f, d, "tea");
        }
        let policy = StagePolicy::default();
        let next = policy.next_review_at(&f, NOW).unwrap();
        // The last purchase is five days old: 90 days after it "last purchase ≤ 90 days" flips.
        assert_eq!(next, NOW - 5 * DAY + 90 * DAY + 1);
        assert_eq!(policy.evaluate(&f, next).stage, Stage::Weak);
    }

    #[test]
    fn policies_deserialise_from_the_config_shape() {
        let policy: StagePolicy = serde_json::from_value(serde_json::json!({
            "window_days": 180,
            "rules": [{"stage": "weak", "when": [
                {"count": "purchases", "at_least": 2},
                {"any": [{"count": "participations:meetup", "at_least": 1}]}
            ]}],
            "caps": [{"name": "quiet", "at_most": "micro", "when": [{"since": "last_purchase", "more_than_days": 60}]}]
        }))
        .unwrap();
        assert_eq!(policy.window_days, 180);
        assert_eq!(
            policy.rules[0].when[1],
            Condition::Any {
                any: vec![Condition::AtLeast {
                    count: Count::ParticipationsOf("meetup".into()),
                    at_least: 1
                }]
            }
        );
        let bad = serde_json::from_value::<StagePolicy>(
            serde_json::json!({"rules": [{"stage": "weak", "when": [{"count": "hugs", "at_least": 1}]}]}),
        );
        assert!(bad.is_err());
    }
}
