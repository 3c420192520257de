//! The brand's policy in one value: identity rules, stage policy, currency, points,
//! scores, segments, do-not-disturb and the tracking protocol's mapping. Read from the
//! `[identity]`, `[stages]`, `[points]`, `[scores]`, `[segments]`, `[engagement]`,
//! `[tracking]` and `currency` parts of the config.

use crate::engagement::EngagementPolicy;
use crate::event::Channel;
use crate::identity::IdentityRules;
use crate::ingest::Rules;
use crate::limits::Limits;
use crate::points::PointsPolicy;
use crate::scores::ScorePolicy;
use crate::segment::Language;
use crate::segment::check::ChannelSet;
use crate::stage::StagePolicy;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// ISO 4217 code of the brand's currency; purchases in another are refused.
    pub currency: String,
    pub identity: IdentityRules,
    pub stages: StagePolicy,
    pub points: PointsPolicy,
    pub scores: ScorePolicy,
    /// The largest order amount and points posting accepted.
    pub limits: Limits,
    pub segments: SegmentPolicy,
    /// Do-not-disturb: the members' clock, quiet hours, caps, channels that need opt-in.
    pub engagement: EngagementPolicy,
    /// Care moments: categories that need a service, how repurchase cycles count.
    pub care: crate::service::care::CarePolicy,
    /// How the tracking protocol's calls become events (`[tracking]`).
    pub tracking: crate::tracking::Mapping,
}

/// What the segment language needs from the brand: which channels it owns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentPolicy {
    /// The brand's own channels (`owned_channel_events`); the rest are platforms'
    /// (`platform_channel_events`).
    pub owned_channels: Vec<Channel>,
}

impl Default for SegmentPolicy {
    fn default() -> Self {
        SegmentPolicy {
            owned_channels: Channel::ALL
                .into_iter()
                .filter(|c| ChannelSet::OWNED_BY_DEFAULT.contains(*c))
                .collect(),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            currency: "CNY".into(),
            identity: IdentityRules::default(),
            stages: StagePolicy::default(),
            points: PointsPolicy::default(),
            scores: ScorePolicy::default(),
            limits: Limits::default(),
            segments: SegmentPolicy::default(),
            engagement: EngagementPolicy::default(),
            care: crate::service::care::CarePolicy::default(),
            tracking: crate::tracking::Mapping::default(),
        }
    }
}

impl Policy {
    pub fn validate(&self) -> Result<(), String> {
        if !["none", "home_store", "city"].contains(&self.care.assign_owners.as_str()) {
            return Err(format!(
                "[care] assign_owners {:?} must be none, home_store or city",
                self.care.assign_owners
            ));
        }
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "currency {:?} must be a three-letter ISO 4217 code such as CNY",
                self.currency
            ));
        }
        self.identity.validate()?;
        self.points.validate()?;
        self.scores.validate()?;
        self.limits.validate()?;
        self.engagement.validate()?;
        self.tracking.validate()?;
        self.stages.validate()
    }

    /// The segment language under this policy: the stage window, the owned channels.
    pub fn language(&self) -> Language {
        Language {
            window_days: self.stages.window_days,
            owned_channels: ChannelSet::of(&self.segments.owned_channels),
        }
    }

    pub fn rules(&self) -> Rules<'_> {
        Rules {
            identity: &self.identity,
            stages: &self.stages,
            points: &self.points,
            limits: &self.limits,
        }
    }

    pub fn parse_context(&self, now: crate::time::Micros) -> crate::event::ParseContext<'_> {
        crate::event::ParseContext {
            identity: &self.identity,
            currency: &self.currency,
            max_amount: self.limits.max_order_amount,
            now,
        }
    }
}
