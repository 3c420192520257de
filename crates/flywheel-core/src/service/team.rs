//! Service teams (seed 002's deposit example): when a member pays a deposit, a team
//! forms around them — sales 1, service 2, delivery 1, city manager 1, after-sales 2 —
//! and stays until the order is delivered and settled. A template says which roles and
//! how many, what starts a team (an event type, with a condition), and when it closes
//! (a number of days after an event such as `delivery`, or after it opened). Who joins
//! is chosen from the roster: people of the role in the member's store, then their
//! city, then anywhere, the least loaded first.

use crate::ErrorCode;
use crate::segment::{Cond, Language, compile};
use crate::validation::FieldError;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct TeamTemplate {
    pub id: String,
    /// Role → how many people.
    pub roles: BTreeMap<String, u32>,
    /// The event type that starts a team.
    pub trigger_event: String,
    /// Checked on the member when the team forms.
    pub when: Option<Cond>,
    pub close_after_days: u32,
    /// The event type the closing days count from; from the opening when None.
    pub close_on: Option<String>,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::new(field, ErrorCode::InvalidValue, message)
}

fn event_type(v: &Value, field: &str) -> Result<String, FieldError> {
    let t = v
        .as_str()
        .ok_or_else(|| FieldError::wrong_type(field, "a string"))?;
    let sound = !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if sound {
        Ok(t.to_owned())
    } else {
        Err(invalid(
            field,
            "an event type is 1-64 lower-case letters, digits or '_'",
        ))
    }
}

fn slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Checks a template's definition: `{"roles": {"sales": 1, …}, "trigger": {"event":
/// "deposit", "when"?: "…"}, "close_after_days": 30, "close_on"?: "delivery"}`.
pub fn compile_template(id: &str, v: &Value, lang: &Language) -> Result<TeamTemplate, FieldError> {
    let map = v
        .as_object()
        .ok_or_else(|| FieldError::wrong_type("", "an object"))?;
    for k in map.keys() {
        if ![
            "id",
            "name",
            "roles",
            "trigger",
            "close_after_days",
            "close_on",
        ]
        .contains(&k.as_str())
        {
            return Err(FieldError::new(
                k.clone(),
                ErrorCode::UnknownField,
                format!("{k} is not one of id, name, roles, trigger, close_after_days, close_on"),
            ));
        }
    }
    let roles_v = map
        .get("roles")
        .ok_or_else(|| FieldError::missing("roles"))?
        .as_object()
        .ok_or_else(|| FieldError::wrong_type("roles", "an object of role → how many"))?;
    if roles_v.is_empty() || roles_v.len() > 20 {
        return Err(invalid("roles", "a team has 1 to 20 roles"));
    }
    let mut roles = BTreeMap::new();
    let mut people = 0;
    for (role, n) in roles_v {
        let field = format!("roles.{role}");
        if !slug(role) {
            return Err(invalid(
                &field,
                "a role is 1-40 lower-case letters, digits, '_' or '-'",
            ));
        }
        let n = n
            .as_u64()
            .filter(|n| (1..=10).contains(n))
            .ok_or_else(|| invalid(&field, "a role needs 1 to 10 people"))?;
        people += n;
        roles.insert(role.clone(), n as u32);
    }
    if people > 30 {
        return Err(invalid("roles", "a team has at most 30 people"));
    }
    let trigger = map
        .get("trigger")
        .ok_or_else(|| FieldError::missing("trigger"))?
        .as_object()
        .ok_or_else(|| FieldError::wrong_type("trigger", "an object"))?;
    for k in trigger.keys() {
        if k != "event" && k != "when" {
            return Err(FieldError::new(
                format!("trigger.{k}"),
                ErrorCode::UnknownField,
                format!("trigger.{k} is not one of event, when"),
            ));
        }
    }
    let trigger_event = event_type(
        trigger
            .get("event")
            .ok_or_else(|| FieldError::missing("trigger.event"))?,
        "trigger.event",
    )?;
    let when = match trigger.get("when") {
        None | Some(Value::Null) => None,
        Some(w) => {
            let text = w
                .as_str()
                .ok_or_else(|| FieldError::wrong_type("trigger.when", "a string"))?;
            Some(compile(text, lang).map_err(|e| {
                FieldError::new(
                    "trigger.when",
                    ErrorCode::InvalidExpression,
                    format!("trigger.when: {e}"),
                )
            })?)
        }
    };
    let close_after_days = map
        .get("close_after_days")
        .ok_or_else(|| FieldError::missing("close_after_days"))?
        .as_u64()
        .filter(|d| (1..=3650).contains(d))
        .ok_or_else(|| invalid("close_after_days", "close_after_days is 1 to 3650"))?
        as u32;
    let close_on = match map.get("close_on") {
        None | Some(Value::Null) => None,
        Some(v) => Some(event_type(v, "close_on")?),
    };
    Ok(TeamTemplate {
        id: id.to_owned(),
        roles,
        trigger_event,
        when,
        close_after_days,
        close_on,
    })
}

/// A person on the roster as the choice sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub roles: Vec<String>,
    pub city: Option<String>,
    pub store: Option<String>,
    /// Open teams they are on now.
    pub load: u32,
}

/// Who fills which role, and the roles no one was found for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Formed {
    pub team: Vec<(String, String)>,
    pub missing: Vec<String>,
}

/// Fills each role with the nearest, least loaded people of that role (the same store,
/// then the same city, then anywhere; ties to the id first); a person takes one place in
/// a team at most.
pub fn choose(
    roles: &BTreeMap<String, u32>,
    roster: &[Candidate],
    city: Option<&str>,
    store: Option<&str>,
) -> Formed {
    let mut load: BTreeMap<&str, u32> = roster.iter().map(|c| (c.id.as_str(), c.load)).collect();
    let mut taken: Vec<&str> = Vec::new();
    let mut formed = Formed::default();
    let nearness = |c: &Candidate| -> u8 {
        if store.is_some() && c.store.as_deref() == store {
            0
        } else if city.is_some() && c.city.as_deref() == city {
            1
        } else {
            2
        }
    };
    for (role, n) in roles {
        for _ in 0..*n {
            let pick = roster
                .iter()
                .filter(|c| c.roles.iter().any(|r| r == role) && !taken.contains(&c.id.as_str()))
                .min_by(|a, b| {
                    (nearness(a), load[a.id.as_str()], &a.id).cmp(&(
                        nearness(b),
                        load[b.id.as_str()],
                        &b.id,
                    ))
                });
            match pick {
                Some(c) => {
                    taken.push(&c.id);
                    *load.entry(&c.id).or_default() += 1;
                    formed.team.push((c.id.clone(), role.clone()));
                }
                None => formed.missing.push(role.clone()),
            }
        }
    }
    formed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn person(id: &str, roles: &[&str], city: &str, load: u32) -> Candidate {
        Candidate {
            id: id.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            city: Some(city.into()),
            store: None,
            load,
        }
    }

    #[test]
    fn the_issue_template_reads() {
        let t = compile_template(
            "deposit",
            &json!({"roles": {"sales": 1, "service": 2, "delivery": 1, "city_manager": 1, "after_sales": 2},
                    "trigger": {"event": "deposit"}, "close_after_days": 30}),
            &Language::new(365),
        )
        .unwrap();
        assert_eq!(t.roles.values().sum::<u32>(), 7);
        assert_eq!(
            (t.trigger_event.as_str(), t.close_after_days),
            ("deposit", 30)
        );
        let e = compile_template("x", &json!({"roles": {"sales": 0}, "trigger": {"event": "deposit"}, "close_after_days": 30}), &Language::new(365)).unwrap_err();
        assert_eq!(e.field, "roles.sales");
        let e = compile_template("x", &json!({"roles": {"sales": 1}, "trigger": {"event": "Deposit!"}, "close_after_days": 30}), &Language::new(365)).unwrap_err();
        assert_eq!(e.field, "trigger.event");
    }

    #[test]
    fn the_nearest_least_loaded_people_fill_each_role_once() {
        let roster = vec![
            person("a", &["service"], "Shanghai", 3),
            person("b", &["service"], "Shanghai", 1),
            person("c", &["service", "sales"], "Beijing", 0),
            person("d", &["sales"], "Shanghai", 5),
        ];
        let roles: BTreeMap<String, u32> =
            [("sales".to_string(), 1), ("service".to_string(), 2)].into();
        let f = choose(&roles, &roster, Some("Shanghai"), None);
        assert_eq!(
            f.team,
            vec![
                ("d".into(), "sales".into()),
                ("b".into(), "service".into()),
                ("a".into(), "service".into())
            ]
        );
        assert!(f.missing.is_empty());
        // Too few people: the role is named as missing.
        let roles: BTreeMap<String, u32> = [("service".to_string(), 4)].into();
        let f = choose(&roles, &roster, Some("Shanghai"), None);
        assert_eq!(f.team.len(), 3);
        assert_eq!(f.missing, vec!["service".to_string()]);
    }
}
