//! A campaign: one send of content to a saved segment at a date and time (a festival, a
//! solar term, a product launch), once or again every so often, split between A/B
//! variants with a holdout group that gets nothing, so what the message did can be told
//! from what would have happened anyway.
//!
//! A member's variant is a hash of the campaign and the member, not a draw kept
//! somewhere: the same member lands in the same group at every occurrence and after any
//! restart, and the groups are as good as random for members.

use crate::ErrorCode;
use crate::time::{Micros, parse_rfc3339};
use crate::validation::FieldError;
use serde_json::{Map, Value};

use super::duration::parse_duration;

/// One version of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub id: String,
    pub content: String,
    /// Relative share of the members outside the holdout.
    pub weight: u32,
}

/// A checked campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Campaign {
    pub segment: String,
    /// The first occurrence.
    pub send_at: Micros,
    /// Again this long after each occurrence (at least a day); None: once.
    pub every: Option<Micros>,
    /// No occurrence after this instant.
    pub until: Option<Micros>,
    pub variants: Vec<Variant>,
    /// Percent of the segment held out (0-50).
    pub holdout_percent: u32,
}

/// The group name of the members held out.
pub const HOLDOUT: &str = "holdout";

fn invalid(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::new(field, ErrorCode::InvalidValue, message)
}

fn text<'a>(map: &'a Map<String, Value>, key: &str, field: &str) -> Result<&'a str, FieldError> {
    map.get(key)
        .ok_or_else(|| FieldError::missing(field))?
        .as_str()
        .ok_or_else(|| FieldError::wrong_type(field, "a string"))
}

fn instant(map: &Map<String, Value>, key: &str) -> Result<Micros, FieldError> {
    let t = text(map, key, key)?;
    parse_rfc3339(t).ok_or_else(|| {
        invalid(
            key,
            format!("'{t}' is not an RFC 3339 instant (2026-09-25T10:00:00+08:00)"),
        )
    })
}

/// Checks `{"segment", "send_at", "every"?, "until"?, "variants": [{"id", "content",
/// "weight"?}] | "content", "holdout"?}`. `content_exists` answers whether the library
/// holds a content id.
pub fn compile_campaign(
    map: &Map<String, Value>,
    content_exists: &dyn Fn(&str) -> bool,
) -> Result<Campaign, FieldError> {
    let segment = text(map, "segment", "segment")?.to_owned();
    let send_at = instant(map, "send_at")?;
    let every = match map.get("every") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let d = v
                .as_str()
                .ok_or_else(|| FieldError::wrong_type("every", "a duration such as 7d"))?;
            let every = parse_duration(d).map_err(|m| invalid("every", m))?;
            if every < crate::time::DAY {
                return Err(invalid("every", "a campaign repeats at most once a day"));
            }
            Some(every)
        }
    };
    let until = match map.get("until") {
        None | Some(Value::Null) => None,
        Some(_) => Some(instant(map, "until")?),
    };
    if until.is_some_and(|u| u < send_at) {
        return Err(invalid("until", "until is before send_at"));
    }
    let mut variants = Vec::new();
    match (map.get("variants"), map.get("content")) {
        (Some(_), Some(_)) => {
            return Err(invalid("content", "give content or variants, not both"));
        }
        (None, Some(c)) => {
            let c = c
                .as_str()
                .ok_or_else(|| FieldError::wrong_type("content", "a string"))?;
            variants.push(Variant {
                id: "a".into(),
                content: c.to_owned(),
                weight: 1,
            });
        }
        (Some(v), None) => {
            let list = v
                .as_array()
                .ok_or_else(|| FieldError::wrong_type("variants", "an array"))?;
            if list.is_empty() || list.len() > 5 {
                return Err(invalid("variants", "a campaign has 1 to 5 variants"));
            }
            for (i, item) in list.iter().enumerate() {
                let field = format!("variants[{i}]");
                let o = item
                    .as_object()
                    .ok_or_else(|| FieldError::wrong_type(&field, "an object"))?;
                let id = text(o, "id", &format!("{field}.id"))?;
                let sound = !id.is_empty()
                    && id.len() <= 20
                    && id != HOLDOUT
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !sound || variants.iter().any(|v: &Variant| v.id == id) {
                    return Err(invalid(
                        format!("{field}.id"),
                        "a variant id is 1-20 lower-case letters, digits or '_', unique, not 'holdout'",
                    ));
                }
                let content = text(o, "content", &format!("{field}.content"))?;
                let weight = match o.get("weight") {
                    None => 1,
                    Some(w) => w
                        .as_u64()
                        .filter(|w| (1..=100).contains(w))
                        .ok_or_else(|| invalid(format!("{field}.weight"), "a weight is 1 to 100"))?
                        as u32,
                };
                variants.push(Variant {
                    id: id.to_owned(),
                    content: content.to_owned(),
                    weight,
                });
            }
        }
        (None, None) => return Err(FieldError::missing("variants")),
    }
    for (i, v) in variants.iter().enumerate() {
        if !content_exists(&v.content) {
            let field = if map.contains_key("content") {
                "content".to_owned()
            } else {
                format!("variants[{i}].content")
            };
            return Err(FieldError::new(
                field,
                ErrorCode::ContentNotFound,
                format!("no content '{}' in the library", v.content),
            ));
        }
    }
    let holdout_percent = match map.get("holdout") {
        None => 0,
        Some(h) => h
            .as_u64()
            .filter(|h| *h <= 50)
            .ok_or_else(|| invalid("holdout", "holdout is a percent from 0 to 50"))?
            as u32,
    };
    Ok(Campaign {
        segment,
        send_at,
        every,
        until,
        variants,
        holdout_percent,
    })
}

/// FNV-1a: a small, fixed hash, the same on every machine and release.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Campaign {
    /// The variant a member gets (an index into `variants`), or None: held out.
    pub fn assign(&self, campaign_id: &str, member: i64) -> Option<usize> {
        let h = fnv1a(format!("{campaign_id}:{member}").as_bytes());
        let bucket = (h % 10_000) as u32;
        if bucket < self.holdout_percent * 100 {
            return None;
        }
        let total: u32 = self.variants.iter().map(|v| v.weight).sum();
        // A second hash for the split, so it does not lean on the holdout's buckets.
        let mut pick = (fnv1a(&h.to_le_bytes()) % u64::from(total.max(1))) as u32;
        for (i, v) in self.variants.iter().enumerate() {
            if pick < v.weight {
                return Some(i);
            }
            pick -= v.weight;
        }
        Some(self.variants.len() - 1)
    }

    /// The occurrence after the one at `at`, if there is one, skipping any that were
    /// missed before `now` (a server that was down sends once, not a backlog).
    pub fn next_after(&self, at: Micros, now: Micros) -> Option<Micros> {
        let every = self.every?;
        let mut next = at + every;
        while next <= now {
            next += every;
        }
        match self.until {
            Some(u) if next > u => None,
            _ => Some(next),
        }
    }
}
