//! Instants as microseconds since the Unix epoch (UTC), the unit every table stores.
//!
//! Rules are evaluated against an explicit `as_of` instant passed in by the caller, never
//! against a clock read deep inside the domain, so history imports and tests are
//! deterministic.

use chrono::{DateTime, SecondsFormat, Utc};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

pub const SECOND: Micros = 1_000_000;
pub const MINUTE: Micros = 60 * SECOND;
pub const HOUR: Micros = 60 * MINUTE;
pub const DAY: Micros = 86_400 * SECOND;

pub fn days(n: u32) -> Micros {
    i64::from(n) * DAY
}

/// The UTC day an instant falls in, counted from 1970-01-01 (day 0).
pub fn day_number(t: Micros) -> i64 {
    t.div_euclid(DAY)
}

/// The first microsecond of the UTC day `t` falls in.
pub fn day_start(t: Micros) -> Micros {
    t - t.rem_euclid(DAY)
}

pub fn from_datetime(t: DateTime<Utc>) -> Micros {
    t.timestamp_micros()
}

pub fn to_datetime(t: Micros) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t).unwrap_or_default()
}

/// RFC 3339 in UTC with the precision the instant needs (`2026-11-23T10:00:00Z`).
pub fn to_rfc3339(t: Micros) -> String {
    to_datetime(t).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses an RFC 3339 timestamp with an explicit offset.
pub fn parse_rfc3339(text: &str) -> Option<Micros> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| from_datetime(t.with_timezone(&Utc)))
}

/// Whole days from `earlier` to `later`, rounded down; negative if `later` is earlier.
pub fn whole_days_between(earlier: Micros, later: Micros) -> i64 {
    (later - earlier).div_euclid(DAY)
}

/// The start (UTC) of the month `t` falls in.
pub fn month_start(t: Micros) -> Micros {
    use chrono::{Datelike, TimeZone};
    let d = to_datetime(t);
    Utc.with_ymd_and_hms(d.year(), d.month(), 1, 0, 0, 0)
        .single()
        .map_or(t, from_datetime)
}

/// `2026-11` for any instant in November 2026 (UTC).
pub fn month_label(t: Micros) -> String {
    to_datetime(t).format("%Y-%m").to_string()
}

/// The bounds of the last `months` calendar months up to `now`: the start of each month,
/// oldest first, then `now` (the current month is counted so far).
pub fn month_bounds(now: Micros, months: u32) -> Vec<Micros> {
    let mut starts = vec![month_start(now)];
    for _ in 1..months.max(1) {
        let previous = month_start(starts[starts.len() - 1] - 1);
        starts.push(previous);
    }
    starts.reverse();
    starts.push(now);
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_bounds_end_at_now_and_start_on_the_first() {
        let now = parse_rfc3339("2026-03-15T12:00:00Z").unwrap();
        let bounds = month_bounds(now, 3);
        let labels: Vec<String> = bounds.iter().map(|t| to_rfc3339(*t)).collect();
        assert_eq!(
            labels,
            [
                "2026-01-01T00:00:00Z",
                "2026-02-01T00:00:00Z",
                "2026-03-01T00:00:00Z",
                "2026-03-15T12:00:00Z"
            ]
        );
        assert_eq!(month_label(bounds[1]), "2026-02");
        assert_eq!(month_bounds(now, 0).len(), 2);
    }

    #[test]
    fn offsets_are_folded_into_utc() {
        let a = parse_rfc3339("2026-01-01T08:00:00+08:00").unwrap();
        let b = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(to_rfc3339(a), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn timestamps_without_an_offset_are_refused() {
        assert!(parse_rfc3339("2026-01-01T00:00:00").is_none());
        assert!(parse_rfc3339("yesterday").is_none());
    }
}
