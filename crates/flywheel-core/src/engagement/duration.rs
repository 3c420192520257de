//! Durations as people write them in journeys and policies: `30m`, `36h`, `2d`, `1w`.

use crate::time::{DAY, Micros, SECOND};

/// The longest duration a journey may name: two years.
pub const MAX_DAYS: i64 = 730;

/// Parses a whole number followed by `m` (minutes), `h` (hours), `d` (days) or `w`
/// (weeks); at least one minute, at most [`MAX_DAYS`].
pub fn parse_duration(text: &str) -> Result<Micros, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("'{text}' has no unit: write 30m, 12h, 2d or 1w"))?;
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("'{text}' does not start with a whole number"))?;
    let unit_len = match unit {
        "m" => 60 * SECOND,
        "h" => 3600 * SECOND,
        "d" => DAY,
        "w" => 7 * DAY,
        _ => return Err(format!("'{text}': the unit is m, h, d or w")),
    };
    let total = n
        .checked_mul(unit_len)
        .filter(|t| *t >= 60 * SECOND && *t <= MAX_DAYS * DAY)
        .ok_or_else(|| format!("'{text}' is outside 1m to {MAX_DAYS}d"))?;
    Ok(total)
}

/// Parses `HH:MM` (24-hour) into minutes after midnight.
pub fn parse_time_of_day(text: &str) -> Result<u32, String> {
    let bad = || format!("'{text}' is not a time of day as HH:MM");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}
