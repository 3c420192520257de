//! Programme definitions: the issue's example bodies are accepted as written, and each
//! kind of mistake is named by its field.

use super::*;
use crate::ErrorCode;
use serde_json::{Value, json};

fn paid() -> Value {
    json!({"name": "Paid membership", "kind": "paid", "term": {"days": 365},
     "tiers": [
       {"id": "V1", "name": "V1", "rank": 1, "fee": "99.00", "max_points_share": 0.6},
       {"id": "V2", "name": "V2", "rank": 2, "fee": "199.00", "max_points_share": 0.6,
        "upgrade": {"measure": "spend", "threshold": "10000.00"}},
       {"id": "V3", "name": "V3", "rank": 3, "fee": "299.00", "max_points_share": 0.6,
        "upgrade": {"measure": "spend", "threshold": "30000.00"}}],
     "retention": {"measure": "spend", "threshold": "3000.00"},
     "downgrade": {"policy": "one_down", "grace_days": 30}})
}

fn club() -> Value {
    json!({"name": "Club", "kind": "earned", "window_days": 365,
     "tiers": [{"id": "silver", "name": "Silver", "rank": 1, "qualify": {"measure": "spend", "threshold": "1000.00"}},
               {"id": "gold", "name": "Gold", "rank": 2, "qualify": {"measure": "spend", "threshold": "5000.00"}}],
     "downgrade": {"policy": "recompute", "grace_days": 0}})
}

fn parse(v: Value) -> Programme {
    serde_json::from_value(v).expect("parses")
}

/// The fields named by the errors of `v` as the programme `id`.
fn faults(id: &str, v: Value) -> Vec<(String, ErrorCode)> {
    parse(v)
        .validate(id)
        .into_iter()
        .map(|e| (e.field, e.code))
        .collect()
}

#[test]
fn the_issues_examples_are_sound() {
    assert_eq!(faults("paid", paid()), vec![]);
    assert_eq!(faults("club", club()), vec![]);
    let p = parse(paid());
    assert_eq!(p.tiers[1].upgrade.as_ref().unwrap().needed(), Ok(1_000_000));
    assert_eq!(p.below("V2").map(|t| t.id.as_str()), Some("V1"));
    assert_eq!(p.below("V1"), None);
    assert_eq!(p.cooling_off_days, 7, "the default");
    let card = json!({"name": "New parents", "kind": "card", "term": {"ends_on": "12-31"},
        "tiers": [{"id": "parent", "name": "New parent", "rank": 1}],
        "eligibility": {"field": "occupation", "equals": "parent"}});
    assert_eq!(faults("parents", card), vec![]);
    let points = json!({"name": "Points club", "kind": "earned",
        "tiers": [{"id": "a", "name": "A", "rank": 1, "qualify": {"measure": "points", "threshold": 500}},
                  {"id": "b", "name": "B", "rank": 2, "qualify": {"measure": "points", "threshold": "2000"}}]});
    assert_eq!(faults("points-club", points), vec![]);
}

#[test]
fn each_mistake_names_its_field() {
    let mut v = paid();
    v["tiers"][1]["fee"] = json!("1.999");
    v["tiers"][2]["rank"] = json!(2);
    v["tiers"][0]["max_points_share"] = json!(1.5);
    v["retention"]["threshold"] = json!("-5");
    v["term"] = json!({"days": 0});
    let found = faults("paid", v);
    for (field, code) in [
        ("tiers[1].fee", ErrorCode::InvalidAmount),
        ("tiers[2].rank", ErrorCode::Duplicate),
        ("tiers[0].max_points_share", ErrorCode::OutOfRange),
        ("retention.threshold", ErrorCode::InvalidValue),
        ("term.days", ErrorCode::OutOfRange),
    ] {
        assert!(
            found.contains(&(field.to_owned(), code)),
            "{field} {code:?} not in {found:?}"
        );
    }

    let mut v = paid();
    v["tiers"][0].as_object_mut().unwrap().remove("fee");
    assert_eq!(
        faults("paid", v),
        vec![("tiers[0].fee".into(), ErrorCode::MissingField)]
    );

    let mut v = club();
    v["tiers"][1]["qualify"]["threshold"] = json!("500.00");
    assert_eq!(
        faults("club", v),
        vec![("tiers[1].qualify.threshold".into(), ErrorCode::InvalidValue)],
        "gold must ask more than silver"
    );
    let mut v = club();
    v["tiers"][0]["fee"] = json!("10.00");
    v["term"] = json!({"days": 30});
    v["tiers"][1].as_object_mut().unwrap().remove("qualify");
    let found = faults("club", v);
    assert_eq!(
        found,
        vec![
            ("tiers[0].fee".into(), ErrorCode::InvalidValue),
            ("tiers[1].qualify".into(), ErrorCode::MissingField),
            ("term".into(), ErrorCode::InvalidValue),
        ]
    );
    assert_eq!(
        faults("Bad Id", club()),
        vec![("id".into(), ErrorCode::InvalidValue)]
    );
    let mut v = club();
    v["tiers"] = json!([]);
    assert_eq!(
        faults("club", v),
        vec![("tiers".into(), ErrorCode::InvalidValue)]
    );
    let card = json!({"name": "Card", "kind": "card", "term": {"ends_on": "02-30"},
        "tiers": [{"id": "c", "name": "C", "rank": 1}],
        "eligibility": {"field": "phone", "equals": "x"}});
    assert_eq!(
        faults("card", card),
        vec![
            ("term.ends_on".into(), ErrorCode::InvalidValue),
            ("eligibility.field".into(), ErrorCode::InvalidValue),
        ]
    );
}

#[test]
fn a_definition_reads_back_as_it_was_written() {
    for v in [paid(), club()] {
        let p = parse(v);
        let again: Programme = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(again, p);
    }
}

#[test]
fn terms_end_after_their_days_or_on_the_cycle_day() {
    use crate::time::{DAY, parse_rfc3339};
    let p = parse(paid());
    let start = parse_rfc3339("2026-03-10T08:00:00Z").unwrap();
    assert_eq!(term_end(&p, start), Some(start + 365 * DAY));
    let mut cycle = paid();
    cycle["term"] = json!({"ends_on": "12-31"});
    let p = parse(cycle);
    assert_eq!(
        term_end(&p, start),
        parse_rfc3339("2027-01-01T00:00:00Z"),
        "ends at the end of 31 December"
    );
    let late = parse_rfc3339("2026-12-31T23:00:00Z").unwrap();
    assert_eq!(term_end(&p, late), parse_rfc3339("2027-01-01T00:00:00Z"));
    let new_year = parse_rfc3339("2027-01-01T00:00:00Z").unwrap();
    assert_eq!(
        term_end(&p, new_year),
        parse_rfc3339("2028-01-01T00:00:00Z")
    );
    assert_eq!(
        term_end(&parse(club()), start),
        Some(start + 365 * DAY),
        "an earned tier is held for the window from when it was last reached"
    );
}

#[test]
fn terms_renewed_in_a_row_are_each_their_own_term() {
    use crate::time::{DAY, parse_rfc3339};
    let p = parse(paid());
    // Bought on day 0, renewed before the end: two terms back to back.
    let m = Membership {
        member_id: 1,
        programme: "paid".into(),
        tier: "V1".into(),
        since: 0,
        term_start: 0,
        expires_at: Some(730 * DAY),
        source: Source::Paid,
    };
    assert_eq!(m.term_at(&p, 100 * DAY), (0, Some(365 * DAY)));
    assert_eq!(m.term_at(&p, 365 * DAY), (365 * DAY, Some(730 * DAY)));
    assert_eq!(
        m.term_at(&p, 800 * DAY),
        (365 * DAY, Some(730 * DAY)),
        "the last"
    );
    assert_eq!(m.term_at(&p, -DAY), (0, Some(365 * DAY)), "the first");
    // A yearly cycle: the first term runs from the purchase to the cycle day, the next
    // a whole year.
    let mut cycle = paid();
    cycle["term"] = json!({"ends_on": "12-31"});
    let p = parse(cycle);
    let at = |t: &str| parse_rfc3339(t).unwrap();
    let m = Membership {
        term_start: at("2026-03-10T08:00:00Z"),
        expires_at: Some(at("2028-01-01T00:00:00Z")),
        ..m
    };
    assert_eq!(
        m.term_at(&p, at("2026-06-01T00:00:00Z")),
        (at("2026-03-10T08:00:00Z"), Some(at("2027-01-01T00:00:00Z")))
    );
    assert_eq!(
        m.term_at(&p, at("2027-06-01T00:00:00Z")),
        (at("2027-01-01T00:00:00Z"), Some(at("2028-01-01T00:00:00Z")))
    );
    // An earned tier's term is its whole span.
    let earned = parse(club());
    assert_eq!(
        m.term_at(&earned, at("2027-06-01T00:00:00Z")).0,
        m.term_start
    );
}

#[test]
fn grace_follows_the_term() {
    use crate::time::DAY;
    let p = parse(paid());
    let m = Membership {
        member_id: 1,
        programme: "paid".into(),
        tier: "V1".into(),
        since: 0,
        term_start: 0,
        expires_at: Some(365 * DAY),
        source: Source::Paid,
    };
    assert!(m.active_at(&p, 364 * DAY));
    assert!(!m.in_grace(&p, 364 * DAY));
    assert!(m.active_at(&p, 366 * DAY) && m.in_grace(&p, 366 * DAY));
    assert!(!m.active_at(&p, 395 * DAY), "30 days of grace are over");
}

#[test]
fn a_fee_is_paid_exactly_with_no_more_points_than_allowed() {
    use crate::money::Money;
    let p = parse(paid());
    let v1 = p.tier("V1").unwrap();
    let point = Money::from_minor(1);
    let pay = |cash: &str, points: i64| Payment {
        cash: Money::parse(cash).unwrap(),
        points,
    };
    assert_eq!(check_payment(v1, pay("49.00", 5000), point), Ok(()));
    assert_eq!(check_payment(v1, pay("99.00", 0), point), Ok(()));
    let short = check_payment(v1, pay("40.00", 5000), point).unwrap_err();
    assert_eq!(
        (short.field.as_str(), short.code),
        ("payment", ErrorCode::InvalidValue)
    );
    // 0.6 of 99.00 is 59.40: 5,940 points at most.
    assert_eq!(check_payment(v1, pay("39.60", 5940), point), Ok(()));
    let greedy = check_payment(v1, pay("39.50", 5950), point).unwrap_err();
    assert_eq!(
        (greedy.field.as_str(), greedy.code),
        ("payment.points", ErrorCode::OutOfRange)
    );
}

#[test]
fn a_term_ends_kept_by_retention_lowered_or_lapsed() {
    use super::lifecycle::{TermMeasures, end_of_term};
    use crate::time::DAY;
    let holding = |tier: &str| Membership {
        member_id: 7,
        programme: "paid".into(),
        tier: tier.into(),
        since: 10 * DAY,
        term_start: 10 * DAY,
        expires_at: Some(375 * DAY),
        source: Source::Paid,
    };
    let spent = |yuan: i64| TermMeasures {
        spend: yuan * 100,
        points: 0,
    };
    let p = parse(paid());

    let kept = end_of_term(&p, &holding("V2"), spent(3_000));
    assert_eq!(kept.rule, "retention");
    let next = kept.next.unwrap();
    assert_eq!((next.tier.as_str(), next.since), ("V2", 10 * DAY));
    assert_eq!(
        (next.term_start, next.expires_at),
        (375 * DAY, Some(740 * DAY)),
        "the next term runs on from the last"
    );
    assert!(kept.reason.contains("3000.00"), "{}", kept.reason);

    let lowered = end_of_term(&p, &holding("V2"), spent(2_999));
    assert_eq!(lowered.rule, "downgrade");
    let next = lowered.next.unwrap();
    assert_eq!((next.tier.as_str(), next.since), ("V1", 375 * DAY));
    assert!(
        lowered.reason.contains("less than the 3000.00"),
        "{}",
        lowered.reason
    );
    let lapsed = end_of_term(&p, &holding("V1"), spent(0));
    assert_eq!((lapsed.rule, lapsed.next), ("lapse", None));

    let mut recompute = paid();
    recompute["downgrade"] = json!({"policy": "recompute", "grace_days": 0});
    recompute.as_object_mut().unwrap().remove("retention");
    let p = parse(recompute);
    let to_v2 = end_of_term(&p, &holding("V3"), spent(12_000));
    assert_eq!(
        to_v2.next.map(|m| m.tier),
        Some("V2".into()),
        "{}",
        to_v2.reason
    );
    let to_v1 = end_of_term(&p, &holding("V3"), spent(500));
    assert_eq!(to_v1.next.map(|m| m.tier), Some("V1".into()));

    let mut never = paid();
    never["downgrade"] = json!({"policy": "never"});
    let p = parse(never);
    assert_eq!(end_of_term(&p, &holding("V3"), spent(10)).next, None);
}

#[test]
fn an_earned_tier_is_judged_again_over_the_window_at_the_end_of_its_term() {
    use super::lifecycle::{TermMeasures, end_of_term};
    use crate::time::{DAY, parse_rfc3339};
    let start = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
    let gold = Membership {
        member_id: 1,
        programme: "club".into(),
        tier: "gold".into(),
        since: start,
        term_start: start,
        expires_at: Some(start + 365 * DAY),
        source: Source::Earned,
    };
    let spent = |minor: i64| TermMeasures {
        spend: minor,
        points: 0,
    };
    let with = |policy: &str| {
        let mut v = club();
        v["downgrade"]["policy"] = json!(policy);
        parse(v)
    };
    let kept = end_of_term(&with("recompute"), &gold, spent(600_000));
    assert_eq!(
        (kept.rule, kept.next.as_ref().map(|m| m.tier.as_str())),
        ("retention", Some("gold"))
    );
    assert_eq!(kept.next.unwrap().expires_at, Some(start + 730 * DAY));
    let recomputed = end_of_term(&with("recompute"), &gold, spent(200_000));
    assert_eq!(recomputed.next.map(|m| m.tier), Some("silver".into()));
    assert!(
        recomputed
            .reason
            .contains("less than the 5000.00 that keeps gold"),
        "{}",
        recomputed.reason
    );
    let lapsed = end_of_term(&with("recompute"), &gold, spent(0));
    assert_eq!((lapsed.rule, lapsed.next), ("lapse", None));
    let one_down = end_of_term(&with("one_down"), &gold, spent(0));
    assert_eq!(one_down.next.map(|m| m.tier), Some("silver".into()));
    let never = end_of_term(&with("never"), &gold, spent(0));
    assert_eq!(
        (never.rule, never.next.map(|m| m.tier)),
        ("retention", Some("gold".into()))
    );
}
