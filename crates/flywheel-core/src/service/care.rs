//! Care moments (seed 003): the days a store's staff should reach out to a member —
//! their birthday, the anniversary of joining, a service due on something they bought
//! (announced some days before), and their own repurchase cycle come round — each with
//! the reason in a sentence staff can read out. Days are UTC days, as birthdays are
//! everywhere else in Flywheel.

use crate::facts::MemberFacts;
use crate::profile::Profile;
use crate::segment::calendar;
use crate::time::{DAY, Micros, to_datetime};
use chrono::Datelike;
use serde::{Deserialize, Serialize};

/// A category that needs a service some days after it is bought.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceInterval {
    pub category: String,
    /// The service is due this many days after the purchase…
    pub after_days: u32,
    /// …and staff are told this many days before.
    pub announce_days: u32,
}

/// `[care]` in the config file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CarePolicy {
    /// `[[care.service]] category = "pram", after_days = 30, announce_days = 7`.
    pub service: Vec<ServiceInterval>,
    /// Gaps between orders of a SKU needed before its cycle counts (2: three orders).
    pub repurchase_min_gaps: u32,
    /// How the daily pass gives a member without an owner one: "home_store" (staff of
    /// the store they buy from most, else of their city), "city", or "none".
    pub assign_owners: String,
    /// The roles that own relationships.
    pub owner_roles: Vec<String>,
    /// Points each member of staff may give members at their discretion per calendar
    /// month (UTC); 0 allows none.
    pub staff_allowance_points: i64,
}

impl Default for CarePolicy {
    fn default() -> Self {
        CarePolicy {
            service: Vec::new(),
            repurchase_min_gaps: 2,
            assign_owners: "none".into(),
            owner_roles: vec!["sales".into(), "service".into()],
            staff_allowance_points: 500,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CareKind {
    Birthday,
    Anniversary,
    ServiceDue,
    Repurchase,
}

impl CareKind {
    pub const ALL: [CareKind; 4] = [
        CareKind::Birthday,
        CareKind::Anniversary,
        CareKind::ServiceDue,
        CareKind::Repurchase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CareKind::Birthday => "birthday",
            CareKind::Anniversary => "anniversary",
            CareKind::ServiceDue => "service_due",
            CareKind::Repurchase => "repurchase",
        }
    }

    pub fn parse(s: &str) -> Option<CareKind> {
        CareKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One reason to reach out today.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moment {
    pub kind: CareKind,
    /// The category or SKU it is about; empty for birthdays and anniversaries.
    pub subject: String,
    pub reason: String,
}

fn date(t: Micros) -> String {
    to_datetime(t).format("%Y-%m-%d").to_string()
}

fn median(gaps: &[u32]) -> u32 {
    let mut g = gaps.to_vec();
    g.sort_unstable();
    let n = g.len();
    if n % 2 == 1 {
        g[n / 2]
    } else {
        (g[n / 2 - 1] + g[n / 2]).div_ceil(2)
    }
}

/// The member's care moments on the UTC day of `now`.
pub fn moments(
    facts: &MemberFacts,
    profile: &Profile,
    member_since: Micros,
    now: Micros,
    policy: &CarePolicy,
) -> Vec<Moment> {
    let mut out = Vec::new();
    let today = now.div_euclid(DAY);
    if let Some(b) = profile.birthday.as_deref()
        && let Some(md) = calendar::month_day(b)
        && calendar::birthday_within(md, now, 0)
    {
        out.push(Moment {
            kind: CareKind::Birthday,
            subject: String::new(),
            reason: "Birthday today".into(),
        });
    }
    let joined = to_datetime(member_since);
    let now_date = to_datetime(now);
    let years = now_date.year() - joined.year();
    if years >= 1 && (joined.month(), joined.day()) == (now_date.month(), now_date.day()) {
        let plural = if years == 1 { "year" } else { "years" };
        out.push(Moment {
            kind: CareKind::Anniversary,
            subject: String::new(),
            reason: format!(
                "A member for {years} {plural} today (joined {})",
                date(member_since)
            ),
        });
    }
    for s in &policy.service {
        let Some(bought) = facts.category_last_at.get(&s.category) else {
            continue;
        };
        let due = bought + i64::from(s.after_days) * DAY;
        let due_day = due.div_euclid(DAY);
        if today >= due_day - i64::from(s.announce_days) && today <= due_day {
            let when = match due_day - today {
                0 => "today".to_owned(),
                1 => "tomorrow".to_owned(),
                n => format!("in {n} days"),
            };
            out.push(Moment {
                kind: CareKind::ServiceDue,
                subject: s.category.clone(),
                reason: format!(
                    "{} bought {}: its {}-day service is due {when} ({})",
                    s.category,
                    date(*bought),
                    s.after_days,
                    date(due)
                ),
            });
        }
    }
    for (sku, gaps) in &facts.sku_gaps {
        if gaps.len() < policy.repurchase_min_gaps.max(1) as usize {
            continue;
        }
        let Some(last) = facts.sku_last_at.get(sku) else {
            continue;
        };
        let cycle = median(gaps).max(1);
        let since = today - last.div_euclid(DAY);
        // Come round, and not yet a whole cycle late: past that it is a lapse, not a
        // reminder.
        if since >= i64::from(cycle) && since < 2 * i64::from(cycle) {
            out.push(Moment {
                kind: CareKind::Repurchase,
                subject: sku.clone(),
                reason: format!(
                    "Buys {sku} every {cycle} days (median of {} gaps); last {}, {since} days ago",
                    gaps.len(),
                    date(*last)
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    const NOW: &str = "2026-12-05T10:00:00Z";

    fn at(s: &str) -> Micros {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn birthdays_anniversaries_services_and_cycles_come_with_a_reason() {
        let now = at(NOW);
        let mut facts = MemberFacts::default();
        facts
            .category_last_at
            .insert("pram".into(), at("2026-11-10T09:00:00Z"));
        facts
            .sku_last_at
            .insert("LEAF-PUER".into(), at("2026-11-20T09:00:00Z"));
        facts.sku_gaps.insert("LEAF-PUER".into(), vec![14, 15, 13]);
        facts
            .sku_last_at
            .insert("MUG".into(), at("2026-01-20T09:00:00Z"));
        facts.sku_gaps.insert("MUG".into(), vec![10, 12]);
        let profile = Profile {
            birthday: Some("1990-12-05".into()),
            ..Profile::default()
        };
        let policy = CarePolicy {
            service: vec![ServiceInterval {
                category: "pram".into(),
                after_days: 30,
                announce_days: 7,
            }],
            ..CarePolicy::default()
        };
        let found = moments(&facts, &profile, at("2024-12-05T08:00:00Z"), now, &policy);
        let kinds: Vec<CareKind> = found.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            vec![
                CareKind::Birthday,
                CareKind::Anniversary,
                CareKind::ServiceDue,
                CareKind::Repurchase
            ]
        );
        assert_eq!(
            found[1].reason,
            "A member for 2 years today (joined 2024-12-05)"
        );
        assert_eq!(
            found[2].reason,
            "pram bought 2026-11-10: its 30-day service is due in 5 days (2026-12-10)"
        );
        assert_eq!(
            found[3].reason,
            "Buys LEAF-PUER every 14 days (median of 3 gaps); last 2026-11-20, 15 days ago"
        );
        // The mug's cycle lapsed long ago: not a reminder.
        assert!(found.iter().all(|m| m.subject != "MUG"));
        // Too early for the pram's announcement a week before.
        let early = moments(
            &facts,
            &Profile::default(),
            now,
            at("2026-12-01T10:00:00Z"),
            &policy,
        );
        assert!(
            early.iter().all(|m| m.kind != CareKind::ServiceDue),
            "{early:?}"
        );
    }
}
