//! The member profile: name, nicknames per channel, gender, birthday, city, occupation
//! and follower count, each field last-writer-wins by the time the update *occurred*,
//! so history imported out of order still ends with the newest value.

use crate::ErrorCode;
use crate::time::Micros;
use crate::validation::{Errors, FieldError, optional_text};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub const PROFILE_FIELDS: [&str; 8] = [
    "name",
    "nickname",
    "gender",
    "birthday",
    "city",
    "occupation",
    "followers",
    "consent",
];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Nickname per channel ("Yan Tao" on the shop, "Sanshou" on Weibo).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nicknames: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occupation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followers: Option<u64>,
    /// When each field was last set (occurred_at of the update); used to keep the newest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub updated_at: BTreeMap<String, Micros>,
}

/// The fields a complete profile has (the task centre's "complete your profile").
pub const TASK_FIELDS: [&str; 4] = ["name", "gender", "birthday", "city"];

impl Profile {
    /// How many of [`TASK_FIELDS`] are filled in.
    pub fn task_fields_filled(&self) -> u8 {
        [&self.name, &self.gender, &self.birthday, &self.city]
            .iter()
            .filter(|f| f.as_deref().is_some_and(|v| !v.is_empty()))
            .count() as u8
    }
}

/// The fields one event sets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProfileChange {
    pub name: Option<String>,
    pub nickname: Option<String>,
    pub gender: Option<String>,
    pub birthday: Option<String>,
    pub city: Option<String>,
    pub occupation: Option<String>,
    pub followers: Option<u64>,
    /// The member's word on being contacted, per channel (`{"sms": false}`): kept as
    /// consent with the event's channel as its source, not in the profile.
    pub consent: BTreeMap<String, bool>,
}

impl ProfileChange {
    pub fn is_empty(&self) -> bool {
        *self == ProfileChange::default()
    }

    /// Reads profile fields from `properties`. With `strict`, keys other than profile
    /// fields are errors (a `profile_update`); otherwise they are ignored (a `register`).
    pub fn parse(props: &Map<String, Value>, strict: bool, errors: &mut Errors) -> ProfileChange {
        let p = "properties";
        if strict {
            for key in props.keys() {
                if !PROFILE_FIELDS.contains(&key.as_str()) {
                    errors.push(FieldError::new(
                        format!("{p}.{key}"),
                        ErrorCode::UnknownField,
                        format!(
                            "{p}.{key} is not a profile field (expected one of {})",
                            PROFILE_FIELDS.join(", ")
                        ),
                    ));
                }
            }
        }
        let gender = optional_text(props, "gender", p, 16, errors).and_then(|g| {
            let g = g.to_lowercase();
            if ["male", "female", "other", "unknown"].contains(&g.as_str()) {
                Some(g)
            } else {
                errors.push(FieldError::new(
                    "properties.gender",
                    ErrorCode::InvalidValue,
                    "properties.gender must be one of male, female, other, unknown",
                ));
                None
            }
        });
        let birthday = optional_text(props, "birthday", p, 10, errors).and_then(|b| {
            if valid_birthday(&b) {
                Some(b)
            } else {
                errors.push(FieldError::new(
                    "properties.birthday",
                    ErrorCode::InvalidValue,
                    "properties.birthday must be a date YYYY-MM-DD or a day MM-DD",
                ));
                None
            }
        });
        let followers = match props.get("followers") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) => Some(n),
                None => {
                    errors.push(FieldError::wrong_type(
                        "properties.followers",
                        "a non-negative integer",
                    ));
                    None
                }
            },
        };
        let mut consent = BTreeMap::new();
        match props.get("consent") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (channel, v) in map {
                    let field = format!("properties.consent.{channel}");
                    if !crate::engagement::is_channel(channel) {
                        errors.push(FieldError::new(
                            field,
                            ErrorCode::UnknownField,
                            format!(
                                "'{channel}' is not a channel (expected one of {})",
                                crate::engagement::CHANNELS.join(", ")
                            ),
                        ));
                    } else if let Some(b) = v.as_bool() {
                        consent.insert(channel.clone(), b);
                    } else {
                        errors.push(FieldError::wrong_type(field, "true or false"));
                    }
                }
            }
            Some(_) => errors.push(FieldError::wrong_type(
                "properties.consent",
                "an object of channel: true or false",
            )),
        }
        ProfileChange {
            consent,
            name: optional_text(props, "name", p, 100, errors),
            nickname: optional_text(props, "nickname", p, 100, errors),
            gender,
            birthday,
            city: optional_text(props, "city", p, 100, errors),
            occupation: optional_text(props, "occupation", p, 100, errors),
            followers,
        }
    }
}

fn valid_birthday(text: &str) -> bool {
    use chrono::NaiveDate;
    match text.len() {
        10 => NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        // A day without a year: check it against a leap year so 02-29 is allowed.
        5 => NaiveDate::parse_from_str(&format!("2000-{text}"), "%Y-%m-%d").is_ok(),
        _ => false,
    }
}

impl Profile {
    /// Applies a change that occurred at `at` on `channel`; older values never overwrite
    /// newer ones.
    pub fn apply(&mut self, change: &ProfileChange, channel: &str, at: Micros) {
        fn set<T: Clone>(
            slot: &mut Option<T>,
            value: &Option<T>,
            key: &str,
            stamps: &mut BTreeMap<String, Micros>,
            at: Micros,
        ) {
            if let Some(v) = value
                && stamps.get(key).is_none_or(|t| *t <= at)
            {
                *slot = Some(v.clone());
                stamps.insert(key.to_owned(), at);
            }
        }
        let stamps = &mut self.updated_at;
        set(&mut self.name, &change.name, "name", stamps, at);
        set(&mut self.gender, &change.gender, "gender", stamps, at);
        set(&mut self.birthday, &change.birthday, "birthday", stamps, at);
        set(&mut self.city, &change.city, "city", stamps, at);
        set(
            &mut self.occupation,
            &change.occupation,
            "occupation",
            stamps,
            at,
        );
        set(
            &mut self.followers,
            &change.followers,
            "followers",
            stamps,
            at,
        );
        if let Some(nick) = &change.nickname {
            let key = format!("nickname.{channel}");
            if stamps.get(&key).is_none_or(|t| *t <= at) {
                self.nicknames.insert(channel.to_owned(), nick.clone());
                stamps.insert(key, at);
            }
        }
    }

    /// Folds a merged member's profile in: for each field the newer value wins.
    pub fn absorb(&mut self, other: &Profile) {
        let take = |key: &str, mine: &BTreeMap<String, Micros>| match (
            mine.get(key),
            other.updated_at.get(key),
        ) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(a), Some(b)) => b > a,
        };
        macro_rules! field {
            ($f:ident) => {
                if take(stringify!($f), &self.updated_at) && other.$f.is_some() {
                    self.$f = other.$f.clone();
                    self.updated_at
                        .insert(stringify!($f).into(), other.updated_at[stringify!($f)]);
                }
            };
        }
        field!(name);
        field!(gender);
        field!(birthday);
        field!(city);
        field!(occupation);
        field!(followers);
        for (channel, nick) in &other.nicknames {
            let key = format!("nickname.{channel}");
            if take(&key, &self.updated_at) || !self.nicknames.contains_key(channel) {
                self.nicknames.insert(channel.clone(), nick.clone());
                if let Some(t) = other.updated_at.get(&key) {
                    self.updated_at.insert(key, *t);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(v: Value, strict: bool) -> (ProfileChange, Vec<FieldError>) {
        let mut errors = Errors::default();
        let c = ProfileChange::parse(v.as_object().unwrap(), strict, &mut errors);
        (c, errors.0)
    }

    #[test]
    fn an_older_update_imported_late_does_not_overwrite_a_newer_one() {
        let mut p = Profile::default();
        p.apply(&change(json!({"city": "Hangzhou"}), true).0, "app", 200);
        p.apply(
            &change(json!({"city": "Shanghai", "name": "Li"}), true).0,
            "app",
            100,
        );
        assert_eq!(p.city.as_deref(), Some("Hangzhou"));
        assert_eq!(p.name.as_deref(), Some("Li"));
    }

    #[test]
    fn nicknames_are_kept_per_channel() {
        let mut p = Profile::default();
        p.apply(&change(json!({"nickname": "Yan Tao"}), true).0, "tmall", 1);
        p.apply(&change(json!({"nickname": "Sanshou"}), true).0, "weibo", 2);
        assert_eq!(p.nicknames.len(), 2);
    }

    #[test]
    fn every_bad_profile_field_is_reported() {
        let (_, errors) = change(
            json!({"gender": "x", "birthday": "1990-02-30", "followers": -3, "shoe": 42}),
            true,
        );
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "properties.shoe",
                "properties.gender",
                "properties.birthday",
                "properties.followers"
            ]
        );
    }

    #[test]
    fn a_merge_keeps_the_newer_value_of_each_field() {
        let mut a = Profile::default();
        a.apply(
            &change(json!({"city": "Hangzhou", "name": "Li"}), true).0,
            "app",
            100,
        );
        let mut b = Profile::default();
        b.apply(
            &change(json!({"city": "Beijing", "occupation": "teacher"}), true).0,
            "weibo",
            300,
        );
        a.absorb(&b);
        assert_eq!(a.city.as_deref(), Some("Beijing"));
        assert_eq!(a.name.as_deref(), Some("Li"));
        assert_eq!(a.occupation.as_deref(), Some("teacher"));
    }
}
