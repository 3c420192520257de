//! Tags: plain (`vip`) or in a dimension designed in advance (`diet:vegetarian`,
//! `life_stage:new_parent`). A dimension says whether a member holds one value of it
//! (setting another replaces it) or many, and may list the values it allows.

use serde::{Deserialize, Serialize};

/// The longest tag accepted, dimension included.
pub const MAX_TAG_LEN: usize = 64;

/// A tag split at its dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagName<'a> {
    pub dimension: Option<&'a str>,
    pub value: &'a str,
}

fn part_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Reads a tag, or says what is wrong with it.
pub fn parse_tag(text: &str) -> Result<TagName<'_>, String> {
    if text.is_empty() || text.len() > MAX_TAG_LEN {
        return Err(format!("a tag is 1 to {MAX_TAG_LEN} bytes"));
    }
    let (dimension, value) = match text.split_once(':') {
        Some((d, v)) => (Some(d), v),
        None => (None, text),
    };
    if dimension.is_some_and(|d| !part_ok(d)) || !part_ok(value) {
        return Err(
            "a tag is letters, digits, '_', '-' or '.', with at most one ':' after its dimension (diet:vegetarian)"
                .into(),
        );
    }
    Ok(TagName { dimension, value })
}

/// A dimension of tags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    pub id: String,
    pub name: String,
    /// Whether a member may hold several values at once (`interest:tea`, `interest:cake`)
    /// or one (`life_stage`: setting `new_parent` removes `student`).
    pub multiple: bool,
    /// The values allowed; empty allows any.
    #[serde(default)]
    pub values: Vec<String>,
}

impl Dimension {
    /// Checks a value of this dimension.
    pub fn allows(&self, value: &str) -> Result<(), String> {
        if self.values.is_empty() || self.values.iter().any(|v| v == value) {
            Ok(())
        } else {
            Err(format!(
                "{value:?} is not a value of dimension {:?} (allowed: {})",
                self.id,
                self.values.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_at_their_dimension() {
        assert_eq!(
            parse_tag("diet:vegetarian").unwrap(),
            TagName {
                dimension: Some("diet"),
                value: "vegetarian"
            }
        );
        assert_eq!(parse_tag("vip").unwrap().dimension, None);
        assert!(parse_tag("素食").is_ok());
        for bad in ["", "a:b:c", ":x", "x:", "has space", &"x".repeat(65)] {
            assert!(parse_tag(bad).is_err(), "{bad}");
        }
    }
}
