//! Do-not-disturb arithmetic: quiet hours on a member's local clock and frequency caps.
//! Times of day are minutes after local midnight; a member's clock is a fixed offset
//! from UTC in minutes (+480 for China).

use crate::time::{DAY, Micros, SECOND};

const MINUTE: Micros = 60 * SECOND;

/// Hours when nothing is sent: from `start` to `end` (minutes after midnight), across
/// midnight when `start > end`; none when they are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: u32,
    pub end: u32,
}

/// Minutes after local midnight at `t`.
fn local_minute(t: Micros, offset_minutes: i32) -> i64 {
    let local = t + i64::from(offset_minutes) * MINUTE;
    local.rem_euclid(DAY) / MINUTE
}

/// The start of the local day holding `t`, as a UTC instant.
pub fn local_day_start(t: Micros, offset_minutes: i32) -> Micros {
    let shift = i64::from(offset_minutes) * MINUTE;
    (t + shift).div_euclid(DAY) * DAY - shift
}

/// The first instant at or after `t` whose local clock shows `minute`.
pub fn next_time_of_day(t: Micros, offset_minutes: i32, minute: u32) -> Micros {
    let day = local_day_start(t, offset_minutes);
    let today = day + i64::from(minute) * MINUTE;
    if today >= t { today } else { today + DAY }
}

impl QuietHours {
    /// When a message decided at `t` may go: None when `t` is outside the quiet hours,
    /// else the end of them.
    pub fn hold_until(self, t: Micros, offset_minutes: i32) -> Option<Micros> {
        if self.start == self.end {
            return None;
        }
        let m = local_minute(t, offset_minutes);
        let (start, end) = (i64::from(self.start), i64::from(self.end));
        let quiet = if start < end {
            m >= start && m < end
        } else {
            m >= start || m < end
        };
        quiet.then(|| next_time_of_day(t, offset_minutes, self.end))
    }
}

/// How many messages a member may be sent; 0 means no cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// On one channel in one local day.
    pub channel_per_day: u32,
    /// On one channel in the seven days up to the send.
    pub channel_per_week: u32,
    /// On all channels together in one local day.
    pub all_per_day: u32,
}

/// Messages already going to the member (queued, waiting or sent) in the cap's spans.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counted {
    pub channel_day: u32,
    pub channel_week: u32,
    pub all_day: u32,
}

impl Caps {
    /// The reason one more message would break a cap, if it would.
    pub fn breached(self, counted: Counted) -> Option<&'static str> {
        let over = |cap: u32, n: u32| cap > 0 && n >= cap;
        if over(self.channel_per_day, counted.channel_day) {
            Some("frequency_cap_channel_day")
        } else if over(self.channel_per_week, counted.channel_week) {
            Some("frequency_cap_channel_week")
        } else if over(self.all_per_day, counted.all_day) {
            Some("frequency_cap_all_day")
        } else {
            None
        }
    }
}

/// Parses a UTC offset written `+08:00`, `-05:30` or `Z` into minutes.
pub fn parse_offset(text: &str) -> Result<i32, String> {
    if text == "Z" || text == "+00:00" {
        return Ok(0);
    }
    let bad = || format!("'{text}' is not a UTC offset like +08:00");
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    let minutes = super::duration::parse_time_of_day(rest).map_err(|_| bad())?;
    if minutes > 14 * 60 {
        return Err(bad());
    }
    Ok(sign * minutes as i32)
}

/// The delay before attempt `n + 1` after `n` failed ones: a minute, doubling, at most
/// six hours.
pub fn retry_after(failed_attempts: u32) -> Micros {
    let minutes = 1_i64 << failed_attempts.min(9);
    (minutes * MINUTE).min(6 * 3600 * SECOND)
}
