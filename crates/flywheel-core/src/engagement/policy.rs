//! The brand's do-not-disturb rules (`[engagement]` in the config) and the decision
//! every message goes through before it may leave: consent, an address to reach the
//! member at, the suppression list, frequency caps and quiet hours, in that order. A message that may not go is kept
//! with the reason; one that may not go yet waits with the instant it may.

use super::quiet::{Caps, Counted, QuietHours, parse_offset};
use crate::time::Micros;
use serde::{Deserialize, Serialize};

/// `[engagement]`: written as people write times (`"+08:00"`, `"21:00"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngagementPolicy {
    /// The members' clock: quiet hours and "a day" of the caps are read on it.
    pub utc_offset: String,
    /// Nothing is sent from `quiet_start` to `quiet_end` (across midnight when start is
    /// later); equal times turn quiet hours off.
    pub quiet_start: String,
    pub quiet_end: String,
    /// Channels that need a recorded grant before anything is sent on them; the others
    /// send unless the member withdrew.
    pub opt_in_channels: Vec<String>,
    /// 0 turns a cap off.
    pub per_channel_per_day: u32,
    pub per_channel_per_week: u32,
    pub all_channels_per_day: u32,
    /// The channel service notices (benefit changes) go out on.
    pub notice_channel: String,
}

impl Default for EngagementPolicy {
    fn default() -> Self {
        EngagementPolicy {
            utc_offset: "+08:00".into(),
            quiet_start: "21:00".into(),
            quiet_end: "09:00".into(),
            opt_in_channels: vec!["sms".into(), "email".into()],
            per_channel_per_day: 2,
            per_channel_per_week: 7,
            all_channels_per_day: 3,
            notice_channel: "wechat".into(),
        }
    }
}

/// The policy read into numbers, checked once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoNotDisturb {
    pub offset_minutes: i32,
    pub quiet: QuietHours,
    pub caps: Caps,
    pub opt_in_channels: Vec<String>,
}

impl EngagementPolicy {
    pub fn validate(&self) -> Result<(), String> {
        self.rules().map(|_| ())
    }

    /// The rules as numbers; an error names the setting.
    pub fn rules(&self) -> Result<DoNotDisturb, String> {
        let offset_minutes =
            parse_offset(&self.utc_offset).map_err(|e| format!("engagement.utc_offset: {e}"))?;
        let start = super::duration::parse_time_of_day(&self.quiet_start)
            .map_err(|e| format!("engagement.quiet_start: {e}"))?;
        let end = super::duration::parse_time_of_day(&self.quiet_end)
            .map_err(|e| format!("engagement.quiet_end: {e}"))?;
        for c in &self.opt_in_channels {
            if !super::is_channel(c) {
                return Err(format!(
                    "engagement.opt_in_channels: '{c}' is not one of {}",
                    super::CHANNELS.join(", ")
                ));
            }
        }
        if !super::is_channel(&self.notice_channel) {
            return Err(format!(
                "engagement.notice_channel: '{}' is not one of {}",
                self.notice_channel,
                super::CHANNELS.join(", ")
            ));
        }
        Ok(DoNotDisturb {
            offset_minutes,
            quiet: QuietHours { start, end },
            caps: Caps {
                channel_per_day: self.per_channel_per_day,
                channel_per_week: self.per_channel_per_week,
                all_per_day: self.all_channels_per_day,
            },
            opt_in_channels: self.opt_in_channels.clone(),
        })
    }
}

/// What is known about one member and channel when a message is decided.
#[derive(Clone, Copy, Debug, Default)]
pub struct Circumstances {
    /// The member's recorded choice for the channel: Some(true) granted, Some(false)
    /// withdrawn, None never asked.
    pub consent: Option<bool>,
    /// On the suppression list for this channel (or all channels).
    pub suppressed: bool,
    /// The member is erased or merged away: there is nobody to write to.
    pub gone: bool,
    /// The channel needs an address (a phone for SMS, an e-mail address) the member has
    /// not given.
    pub no_address: bool,
    /// Messages already going to the member in the caps' spans.
    pub counted: Counted,
    /// A service notice (a benefit leaving the member's tier), not marketing: it needs
    /// no opt-in and no cap stops it; a withdrawal, the list and quiet hours still hold.
    pub service: bool,
}

/// What becomes of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// It may go now.
    Send,
    /// It may go at this instant (quiet hours).
    Hold(Micros),
    /// It never goes, for this reason (a stable code).
    Suppress(&'static str),
}

impl DoNotDisturb {
    /// Decides a message on `channel` at `now`. A withdrawal or a missing opt-in beats
    /// everything; caps count what is already going; quiet hours only delay.
    pub fn decide(&self, channel: &str, c: Circumstances, now: Micros) -> Decision {
        if c.gone {
            return Decision::Suppress("member_gone");
        }
        match c.consent {
            Some(false) => return Decision::Suppress("consent_withdrawn"),
            None if !c.service && self.opt_in_channels.iter().any(|o| o == channel) => {
                return Decision::Suppress("no_consent");
            }
            _ => {}
        }
        if c.no_address {
            return Decision::Suppress("no_address");
        }
        if c.suppressed {
            return Decision::Suppress("suppression_list");
        }
        if !c.service
            && let Some(reason) = self.caps.breached(c.counted)
        {
            return Decision::Suppress(reason);
        }
        match self.quiet.hold_until(now, self.offset_minutes) {
            Some(at) => Decision::Hold(at),
            None => Decision::Send,
        }
    }
}
