//! Working hours: the clock a service queue's targets run on. "Respond within 4 hours"
//! means 4 hours while the team works — a complaint at 17:50 on Friday for a team that
//! works 09:00–18:00 on weekdays is due at 11:50 on Monday — in the team's own time
//! zone, across daylight-saving changes (the IANA database, `chrono-tz`).

use crate::time::{Micros, SECOND};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

const MINUTE: Micros = 60 * SECOND;

/// Day names as queues write them.
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// When a team works: on these weekdays, from `from` to `to` (minutes after local
/// midnight; `to` may be 1440, "24:00"), in `tz`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkingHours {
    /// Monday first.
    pub days: [bool; 7],
    pub from: u32,
    pub to: u32,
    pub tz: Tz,
}

/// Why working hours do not read: the field and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoursError {
    pub field: &'static str,
    pub message: String,
}

fn error(field: &'static str, message: impl Into<String>) -> HoursError {
    HoursError {
        field,
        message: message.into(),
    }
}

/// `HH:MM` as minutes after midnight; "24:00" only where `end` allows it.
fn clock(text: &str, field: &'static str, end: bool) -> Result<u32, HoursError> {
    let bad = || error(field, format!("{field} is a time of day such as \"09:00\""));
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    match (h, m) {
        (24, 0) if end => Ok(1440),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

impl WorkingHours {
    /// Every hour of every day, in UTC: the clock of a queue that says nothing.
    pub fn always() -> WorkingHours {
        WorkingHours {
            days: [true; 7],
            from: 0,
            to: 1440,
            tz: Tz::UTC,
        }
    }

    /// Reads a queue's `working_hours`.
    pub fn parse(
        days: &[String],
        from: &str,
        to: &str,
        time_zone: &str,
    ) -> Result<WorkingHours, HoursError> {
        let mut set = [false; 7];
        for d in days {
            let i = DAY_NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(d.trim()))
                .ok_or_else(|| {
                    error(
                        "working_hours.days",
                        format!("{d:?} is not a day; use {}", DAY_NAMES.join(", ")),
                    )
                })?;
            set[i] = true;
        }
        if !set.contains(&true) {
            return Err(error(
                "working_hours.days",
                "working_hours.days names at least one day",
            ));
        }
        let from = clock(from, "working_hours.from", false)?;
        let to = clock(to, "working_hours.to", true)?;
        if to <= from {
            return Err(error(
                "working_hours.to",
                "working_hours.to is later than working_hours.from (a day's hours do not wrap past midnight)",
            ));
        }
        let tz: Tz = time_zone.parse().map_err(|_| {
            error(
                "working_hours.time_zone",
                format!("{time_zone:?} is not an IANA time zone such as \"Asia/Shanghai\""),
            )
        })?;
        Ok(WorkingHours {
            days: set,
            from,
            to,
            tz,
        })
    }

    /// The days as written, Monday first.
    pub fn day_names(&self) -> Vec<&'static str> {
        DAY_NAMES
            .iter()
            .zip(self.days)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }

    /// `from` and `to` as `HH:MM`.
    pub fn from_text(&self) -> String {
        hhmm(self.from)
    }

    pub fn to_text(&self) -> String {
        hhmm(self.to)
    }

    /// The instant `minutes` working minutes after `start`.
    pub fn add(&self, start: Micros, minutes: u32) -> Micros {
        let mut left = i64::from(minutes) * MINUTE;
        if left == 0 {
            return start;
        }
        for (a, b) in self.windows(start) {
            if b - a >= left {
                return a + left;
            }
            left -= b - a;
        }
        // Unreachable with at least one working day; a plain clock is the safe answer.
        start + i64::from(minutes) * MINUTE
    }

    /// Working time from `a` to `b`, in microseconds (0 when `b` is not after `a`).
    pub fn between(&self, a: Micros, b: Micros) -> Micros {
        let mut total = 0;
        if b <= a {
            return 0;
        }
        for (s, e) in self.windows(a) {
            if s >= b {
                break;
            }
            total += e.min(b) - s;
        }
        total
    }

    /// The working stretches at or after `t`, clipped to start no earlier than `t`, for
    /// the next ten years.
    fn windows(&self, t: Micros) -> impl Iterator<Item = (Micros, Micros)> + '_ {
        let first = self.local_date(t) - Duration::days(1);
        (0..3660)
            .filter_map(move |i| {
                let date = first + Duration::days(i);
                if !self.days[date.weekday().num_days_from_monday() as usize] {
                    return None;
                }
                let start = self.instant(date, self.from);
                let end = self.instant(date, self.to);
                Some((start.max(t), end))
            })
            .filter(|(s, e)| e > s)
    }

    fn local_date(&self, t: Micros) -> NaiveDate {
        let utc = chrono::DateTime::from_timestamp_micros(t).unwrap_or_default();
        utc.with_timezone(&self.tz).date_naive()
    }

    /// The UTC instant of `minutes` after local midnight on `date`; a time skipped by a
    /// daylight-saving change is read an hour later, a repeated one at its first pass.
    fn instant(&self, date: NaiveDate, minutes: u32) -> Micros {
        let naive =
            NaiveDateTime::new(date, NaiveTime::MIN) + Duration::minutes(i64::from(minutes));
        for shift in [0, 60, 120] {
            let local = naive + Duration::minutes(shift);
            if let Some(t) = self.tz.from_local_datetime(&local).earliest() {
                return t.timestamp_micros();
            }
        }
        naive.and_utc().timestamp_micros()
    }
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Whole and fractional hours, for reports: `between` as hours.
pub fn as_hours(t: Micros) -> f64 {
    t as f64 / (60.0 * MINUTE as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{DAY, parse_rfc3339};

    fn at(s: &str) -> Micros {
        parse_rfc3339(s).unwrap()
    }

    fn weekdays_nine_to_six(tz: &str) -> WorkingHours {
        let days: Vec<String> = ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| d.to_string())
            .collect();
        WorkingHours::parse(&days, "09:00", "18:00", tz).unwrap()
    }

    #[test]
    fn a_late_friday_complaint_is_due_on_monday_morning() {
        let w = weekdays_nine_to_six("Asia/Shanghai");
        // Friday 17:50 in Shanghai is 09:50 UTC.
        let opened = at("2026-12-04T09:50:00Z");
        assert_eq!(w.add(opened, 4 * 60), at("2026-12-07T04:50:00Z"));
        assert_eq!(
            w.between(opened, at("2026-12-07T04:50:00Z")),
            4 * 60 * MINUTE
        );
        // Opened on a Saturday: the clock starts on Monday at nine.
        let saturday = at("2026-12-05T02:00:00Z");
        assert_eq!(w.add(saturday, 60), at("2026-12-07T02:00:00Z"));
        assert_eq!(w.between(saturday, at("2026-12-07T01:00:00Z")), 0);
    }

    #[test]
    fn round_the_clock_hours_are_a_plain_clock() {
        let days: Vec<String> = DAY_NAMES.iter().map(|d| d.to_string()).collect();
        let w = WorkingHours::parse(&days, "00:00", "24:00", "Asia/Shanghai").unwrap();
        let t = at("2026-12-05T10:17:00Z");
        assert_eq!(w.add(t, 48 * 60), t + 2 * DAY);
        assert_eq!(w.between(t, t + 3 * DAY), 3 * DAY);
        assert_eq!(w.add(t, 0), t);
        assert_eq!(WorkingHours::always().add(t, 90), t + 90 * MINUTE);
    }

    #[test]
    fn daylight_saving_does_not_stretch_the_working_day() {
        // New York springs forward on 8 March 2026: nine to six is still nine hours.
        let w = weekdays_nine_to_six("America/New_York");
        let monday = at("2026-03-09T13:00:00Z"); // 09:00 EDT
        assert_eq!(w.add(monday, 9 * 60), at("2026-03-09T22:00:00Z"));
        let friday = at("2026-03-06T14:00:00Z"); // 09:00 EST
        assert_eq!(w.add(friday, 9 * 60), at("2026-03-06T23:00:00Z"));
    }

    #[test]
    fn bad_hours_name_their_field() {
        let days = vec!["mon".to_owned()];
        let e = WorkingHours::parse(&days, "9am", "18:00", "UTC").unwrap_err();
        assert_eq!(e.field, "working_hours.from");
        let e = WorkingHours::parse(&days, "18:00", "09:00", "UTC").unwrap_err();
        assert_eq!(e.field, "working_hours.to");
        let e = WorkingHours::parse(&days, "09:00", "18:00", "Mars/Olympus").unwrap_err();
        assert_eq!(e.field, "working_hours.time_zone");
        let e = WorkingHours::parse(&["funday".into()], "09:00", "18:00", "UTC").unwrap_err();
        assert_eq!(e.field, "working_hours.days");
        let e = WorkingHours::parse(&[], "09:00", "18:00", "UTC").unwrap_err();
        assert_eq!(e.field, "working_hours.days");
        assert!(WorkingHours::parse(&days, "00:00", "24:00", "UTC").is_ok());
        assert!(WorkingHours::parse(&days, "24:00", "24:00", "UTC").is_err());
    }
}
