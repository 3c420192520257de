//! The brand's policy in one value: its channels, identity rules, stage policy,
//! currency, points, scores, segments, do-not-disturb and the tracking protocol's
//! mapping. Read from the `[events]`, `[identity]`, `[stages]`, `[points]`, `[scores]`,
//! `[segments]`, `[engagement]`, `[tracking]` and `currency` parts of the config.

use crate::engagement::EngagementPolicy;
use crate::event::Channel;
use crate::identity::IdentityRules;
use crate::ingest::Rules;
use crate::limits::Limits;
use crate::points::PointsPolicy;
use crate::scores::ScorePolicy;
use crate::segment::Language;
use crate::stage::StagePolicy;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// ISO 4217 code of the brand's currency; purchases in another are refused.
    pub currency: String,
    /// The channels events may come from (`[events] channels`).
    pub channels: Vec<Channel>,
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
            owned_channels: Channel::OWNED_BY_DEFAULT.to_vec(),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            currency: "CNY".into(),
            channels: Channel::BUILT_IN.to_vec(),
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
        crate::channel::validate_list(&self.channels)?;
        for c in &self.segments.owned_channels {
            if !self.channels.contains(c) {
                return Err(format!(
                    "[segments] owned_channels: {}",
                    Channel::unknown(&self.channels, c.as_str())
                ));
            }
        }
        if !self.channels.contains(&self.tracking.default_channel) {
            return Err(format!(
                "[tracking] default_channel: {}",
                Channel::unknown(&self.channels, self.tracking.default_channel.as_str())
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
        Language::with_channels(
            self.stages.window_days,
            &self.channels,
            &self.segments.owned_channels,
        )
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
            channels: &self.channels,
            currency: &self.currency,
            max_amount: self.limits.max_order_amount,
            now,
        }
    }
}
