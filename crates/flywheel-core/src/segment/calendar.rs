//! Birthdays and ages, computed the same way by both evaluators: the SQL one is handed
//! the month-days and cut-off dates worked out here, so the two cannot disagree on a
//! leap day or a birthday at midnight. All in UTC.

use crate::time::{self, Micros};
use chrono::{Datelike, Months, NaiveDate};

/// The UTC calendar date of an instant.
pub fn date_of(t: Micros) -> NaiveDate {
    time::to_datetime(t).date_naive()
}

/// Midnight (UTC) at the start of a date.
pub fn start_of(d: NaiveDate) -> Micros {
    d.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_micros())
}

/// The `MM-DD` strings `birthday_within(days)` matches at `now`: today and the `days`
/// after it. In years without 29 February, a 02-29 birthday falls on 28 February.
pub fn birthday_month_days(now: Micros, days: u32) -> Vec<String> {
    let today = date_of(now);
    let mut out = Vec::new();
    for k in 0..=days {
        let Some(d) = today.checked_add_days(chrono::Days::new(u64::from(k))) else {
            break;
        };
        let md = format!("{:02}-{:02}", d.month(), d.day());
        if !out.contains(&md) {
            out.push(md);
        }
        if d.month() == 2 && d.day() == 28 && !d.leap_year() && !out.contains(&"02-29".into()) {
            out.push("02-29".into());
        }
    }
    out
}

/// Whether a birthday's `MM-DD` is one of [`birthday_month_days`]`(now, days)`, without
/// building the list (ingest asks once per member and segment).
pub fn birthday_within(month_day: &str, now: Micros, days: u32) -> bool {
    let (Some(m), Some(d)) = (
        month_day.get(..2).and_then(|m| m.parse::<u32>().ok()),
        month_day.get(3..).and_then(|d| d.parse::<u32>().ok()),
    ) else {
        return false;
    };
    let today = date_of(now);
    (0..=days).any(|k| {
        today
            .checked_add_days(chrono::Days::new(u64::from(k)))
            .is_some_and(|day| {
                (day.month(), day.day()) == (m, d)
                    || ((m, d) == (2, 29)
                        && day.month() == 2
                        && day.day() == 28
                        && !day.leap_year())
            })
    })
}

/// The latest birth date of someone at least `years` old at `now` (as [`born_by`]).
pub fn born_by_date(now: Micros, years: i64) -> NaiveDate {
    let years = years.clamp(0, MAX_AGE + 1) as u32;
    date_of(now)
        .checked_sub_months(Months::new(12 * years))
        .unwrap_or(NaiveDate::MIN)
}

/// The month and day of a birthday written `YYYY-MM-DD` or `MM-DD`.
pub fn month_day(birthday: &str) -> Option<&str> {
    match birthday.len() {
        10 => birthday.get(5..),
        5 => Some(birthday),
        _ => None,
    }
}

/// The youngest and oldest ages the language compares with; beyond them a comparison
/// is clamped (nobody is 151).
pub const MAX_AGE: i64 = 150;

/// The latest full birthday (`YYYY-MM-DD`) of someone at least `years` old on `today`.
pub fn born_by(now: Micros, years: i64) -> String {
    let years = years.clamp(0, MAX_AGE + 1) as u32;
    let today = date_of(now);
    today
        .checked_sub_months(Months::new(12 * years))
        .unwrap_or(NaiveDate::MIN)
        .format("%Y-%m-%d")
        .to_string()
}

/// The next instant, after `now`, at which a birthday's month-day begins (for age and
/// birthday windows changing with the calendar). None for unreadable birthdays.
pub fn next_birthdays(birthday: &str, now: Micros) -> Vec<NaiveDate> {
    let Some(md) = month_day(birthday) else {
        return Vec::new();
    };
    let (Ok(m), Ok(d)) = (md[..2].parse::<u32>(), md[3..].parse::<u32>()) else {
        return Vec::new();
    };
    let year = date_of(now).year();
    (year - 1..=year + 1)
        .filter_map(|y| {
            NaiveDate::from_ymd_opt(y, m, d).or_else(|| NaiveDate::from_ymd_opt(y, m, d - 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str) -> Micros {
        start_of(NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap()) + 3600 * time::SECOND
    }

    #[test]
    fn birthday_days_include_today_and_a_leap_day_in_common_years() {
        assert_eq!(
            birthday_month_days(at("2026-12-30"), 2),
            ["12-30", "12-31", "01-01"]
        );
        let feb = birthday_month_days(at("2027-02-27"), 2);
        assert_eq!(feb, ["02-27", "02-28", "02-29", "03-01"]);
        let leap = birthday_month_days(at("2028-02-27"), 2);
        assert_eq!(leap, ["02-27", "02-28", "02-29"]);
    }

    #[test]
    fn the_quick_birthday_test_matches_the_list_the_sql_is_given() {
        let start = at("2027-02-20");
        for offset in 0..800 {
            let now = start + offset * time::DAY;
            for days in [0, 1, 7, 30] {
                let list = birthday_month_days(now, days);
                for md in ["02-28", "02-29", "03-01", "12-31", "01-01", "06-15"] {
                    assert_eq!(
                        birthday_within(md, now, days),
                        list.iter().any(|d| d == md),
                        "{md} {days} {offset}"
                    );
                }
            }
        }
    }

    #[test]
    fn born_by_counts_whole_years() {
        assert_eq!(born_by(at("2026-12-04"), 30), "1996-12-04");
        assert_eq!(born_by(at("2028-02-29"), 1), "2027-02-28");
        assert_eq!(born_by(at("2026-12-04"), -3), "2026-12-04");
    }
}
