//! The language end to end in memory: parse, check, evaluate, and the instants at which
//! a time-bound answer flips.

use super::*;
use crate::event::{Channel, Event, Item, Payload, Purchase};
use crate::facts::MemberFacts;
use crate::money::Money;
use crate::profile::Profile;
use crate::stage::{Lens, Stage};
use crate::time::{DAY, Micros};

static LANG: std::sync::LazyLock<Language> = std::sync::LazyLock::new(|| Language::new(365));
/// 2026-12-04T12:00:00Z
const NOW: Micros = 1_796_385_600_000_000;

fn err(text: &str) -> ExprError {
    compile(text, &LANG).expect_err(text)
}

fn ok(text: &str) -> Cond {
    compile(text, &LANG).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn bought(f: &mut MemberFacts, at: Micros, amount: i64, category: &str) {
    let p = Purchase {
        order_id: format!("o{at}"),
        amount: Money::from_minor(amount),
        currency: "CNY".into(),
        store: None,
        items: vec![Item {
            sku: "s1".into(),
            sub_brand: None,
            category: Some(category.into()),
            qty: 1,
            price: None,
        }],
    };
    f.record_purchase(&p, at, Money::ZERO, NOW - 365 * DAY);
}

struct Member {
    facts: MemberFacts,
    profile: Profile,
    extras: Extras,
    stage: Stage,
}

impl Member {
    fn new() -> Member {
        Member {
            facts: MemberFacts::default(),
            profile: Profile::default(),
            extras: Extras::default(),
            stage: Stage::Weak,
        }
    }

    fn view(&self) -> MemberView<'_> {
        MemberView {
            created_at: NOW - 400 * DAY,
            stage: self.stage,
            lens: Lens::Shallow,
            facts: &self.facts,
            profile: &self.profile,
            extras: &self.extras,
        }
    }

    fn is(&self, text: &str) -> bool {
        ok(text).holds(&self.view(), NOW, &LANG)
    }
}

#[test]
fn the_issue_example_reads_and_holds() {
    let mut m = Member::new();
    m.stage = Stage::Strong;
    bought(&mut m.facts, NOW - 10 * DAY, 9900, "tea");
    m.extras.tags.insert("vip".into());
    m.extras.memberships.push(Held {
        programme: "paid".into(),
        tier: "V2".into(),
        active_until: Some(NOW + 30 * DAY),
        expires_at: Some(NOW + 30 * DAY),
    });
    let text = r#"stage >= strong and purchases_within(30d) >= 1 and tier("paid") in ("V2", "V3") and tag("vip") and not open_complaint"#;
    assert!(m.is(text));
    m.stage = Stage::Weak;
    assert!(!m.is(text));
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let m = Member::new();
    assert!(m.is("false and false or true"));
    assert!(!m.is("false and (false or true)"));
    assert!(m.is("not false and true"));
    assert!(!m.is("not (false or true)"));
}

#[test]
fn missing_values_make_comparisons_false_and_their_negation_true() {
    let m = Member::new();
    assert!(!m.is("age >= 18"));
    assert!(!m.is(r#"city = "Shanghai""#));
    assert!(!m.is(r#"city != "Shanghai""#));
    assert!(m.is(r#"not city = "Shanghai""#));
    assert!(!m.is("super_user > 0"));
    assert!(!m.is("days_since_last_purchase > 180"));
}

#[test]
fn windows_count_at_the_instant_asked_and_say_when_they_flip() {
    let mut m = Member::new();
    bought(&mut m.facts, NOW - 20 * DAY, 5000, "tea");
    bought(&mut m.facts, NOW - 40 * DAY, 7000, "cake");
    assert!(m.is("purchases_within(30d) = 1"));
    assert!(m.is("spent_within(60d) = 120.00"));
    assert!(m.is("total_spent >= 119.99"));
    assert!(m.is(r#"category("cake") = 1"#));
    let c = ok("purchases_within(30d) >= 1");
    assert_eq!(c.next_change(&m.view(), NOW, &LANG), Some(NOW + 10 * DAY));
    assert!(!c.holds(&m.view(), NOW + 10 * DAY, &LANG));
    let silent = ok("days_since_last_purchase >= 30");
    assert!(!silent.holds(&m.view(), NOW, &LANG));
    let flip = silent.next_change(&m.view(), NOW, &LANG).unwrap();
    assert_eq!(flip, NOW + 10 * DAY);
    assert!(silent.holds(&m.view(), flip, &LANG));
}

#[test]
fn interactions_count_by_utc_day() {
    let mut m = Member::new();
    let like = |at: Micros| Event {
        event_id: format!("e{at}"),
        type_name: "like".into(),
        channel: Channel::APP,
        occurred_at: at,
        identities: vec![],
        payload: Payload::Like,
        properties: Default::default(),
    };
    for days_ago in [0, 1, 6, 7, 30] {
        m.facts.record(&like(NOW - days_ago * DAY), NOW - 365 * DAY);
    }
    assert!(m.is("interactions_within(7d) = 3"));
    assert!(m.is("interactions_within(1d) = 1"));
    let c = ok("interactions_within(7d) >= 3");
    // The oldest day counted (6 days ago) leaves at the start of tomorrow.
    let tomorrow = (crate::time::day_number(NOW) + 1) * DAY;
    assert_eq!(c.next_change(&m.view(), NOW, &LANG), Some(tomorrow));
}

#[test]
fn channels_count_events_and_split_owned_from_platforms() {
    let mut m = Member::new();
    m.facts.channels.insert("app".into(), 3);
    m.facts.channels.insert("tmall".into(), 2);
    assert!(m.is("channel(\"tmall\") = 2 and channels_used = 2"));
    assert!(m.is("owned_channel_events = 3 and platform_channel_events = 2"));
    let tmall_owned = Language {
        owned_channels: [Channel::TMALL].into(),
        ..LANG.clone()
    };
    let c = compile("owned_channel_events = 2", &tmall_owned).unwrap();
    assert!(c.holds(&m.view(), NOW, &tmall_owned));
    let e = err("channel(\"fax\") >= 1");
    assert!(e.message.contains("tmall"), "{}", e.message);
    assert_eq!((e.line, e.column), (1, 9));

    // A brand's own list: a channel it added is known, one it dropped is not, and the
    // platforms are its channels it does not own.
    let bilibili = Channel::new("bilibili").unwrap();
    let brand = Language::with_channels(365, &[Channel::APP, bilibili], &[Channel::APP]);
    m.facts.channels.insert("bilibili".into(), 4);
    let c = compile(
        "channel(\"bilibili\") = 4 and platform_channel_events = 4",
        &brand,
    )
    .unwrap();
    assert!(c.holds(&m.view(), NOW, &brand));
    let e = compile("channel(\"tmall\") >= 1", &brand).unwrap_err();
    assert!(e.message.contains("app, bilibili"), "{}", e.message);
}

#[test]
fn birthdays_and_ages_follow_the_calendar() {
    let mut m = Member::new();
    m.profile.birthday = Some("1990-12-09".into());
    assert!(m.is("birthday_within(7d)"));
    assert!(!m.is("birthday_within(3d)"));
    assert!(m.is("age = 35"));
    assert!(m.is("age in (34, 35)"));
    assert!(m.is("age < 36 and age > 34 and age >= 35 and age <= 35 and age != 36"));
    let c = ok("birthday_within(3d)");
    let opens = c.next_change(&m.view(), NOW, &LANG).unwrap();
    assert_eq!(calendar::date_of(opens).to_string(), "2026-12-06");
    assert!(c.holds(&m.view(), opens, &LANG));
    let age = ok("age >= 36");
    let next = age.next_change(&m.view(), NOW, &LANG).unwrap();
    assert_eq!(calendar::date_of(next).to_string(), "2026-12-09");
    assert!(age.holds(&m.view(), next, &LANG));
}

#[test]
fn tiers_count_until_they_end() {
    let mut m = Member::new();
    m.extras.memberships.push(Held {
        programme: "paid".into(),
        tier: "V1".into(),
        active_until: Some(NOW + DAY),
        expires_at: Some(NOW + DAY),
    });
    let c = ok(r#"tier("paid") = "V1""#);
    assert!(c.holds(&m.view(), NOW, &LANG));
    assert_eq!(c.next_change(&m.view(), NOW, &LANG), Some(NOW + DAY));
    assert!(!c.holds(&m.view(), NOW + DAY, &LANG));
    assert!(m.is(r#"holds("paid")"#));
}

#[test]
fn days_since_a_category_count_from_its_last_order_and_move_with_the_clock() {
    let mut m = Member::new();
    bought(&mut m.facts, NOW - 40 * DAY, 9900, "pram");
    bought(&mut m.facts, NOW - 23 * DAY, 1200, "pram");
    bought(&mut m.facts, NOW - 2 * DAY, 500, "tea");
    assert!(m.is(r#"days_since_category("pram") = 23"#));
    assert!(m.is(r#"days_since_category("tea") < 7d"#));
    // Never bought: missing, so no comparison holds.
    assert!(!m.is(r#"days_since_category("shoes") >= 0"#));
    let due = ok(r#"days_since_category("pram") >= 30"#);
    assert!(!due.holds(&m.view(), NOW, &LANG));
    let next = due.next_change(&m.view(), NOW, &LANG).unwrap();
    assert_eq!(next, NOW + 7 * DAY);
    assert!(due.holds(&m.view(), next, &LANG));
    assert!(!due.holds(&m.view(), next - 1, &LANG));
}

#[test]
fn days_until_expiry_counts_down_to_the_end_not_the_grace() {
    let mut m = Member::new();
    m.extras.memberships.push(Held {
        programme: "paid".into(),
        tier: "V1".into(),
        active_until: Some(NOW + 40 * DAY),
        expires_at: Some(NOW + 10 * DAY + DAY / 2),
    });
    assert!(m.is(r#"days_until_expiry("paid") = 10"#));
    assert!(!m.is(r#"days_until_expiry("card") >= 0"#));
    let soon = ok(r#"days_until_expiry("paid") <= 7d"#);
    assert!(!soon.holds(&m.view(), NOW, &LANG));
    let next = soon.next_change(&m.view(), NOW, &LANG).unwrap();
    assert!(soon.holds(&m.view(), next, &LANG));
    assert!(!soon.holds(&m.view(), next - 1, &LANG));
    // In its grace the membership still counts, with no days left.
    assert!(ok(r#"days_until_expiry("paid") = 0"#).holds(&m.view(), NOW + 20 * DAY, &LANG));
}

#[test]
fn stages_compare_by_rank_and_scores_by_value() {
    let mut m = Member::new();
    m.extras.scores = Some(ScoreValues {
        super_user: 0.7,
        p_alive_millionths: Some(812_000),
        cell: Some("545".into()),
        ..ScoreValues::default()
    });
    assert!(m.is("stage > micro and stage < strong and stage in (weak)"));
    assert!(m.is("super_user >= 0.7 and p_alive > 0.8 and rfm.cell = \"545\""));
    assert!(m.is("0.5 <= super_user"));
}

#[test]
fn errors_say_where_what_was_expected_and_what_was_found() {
    let e = err("stage >= 5");
    assert_eq!((e.line, e.column), (1, 10));
    assert!(
        e.message
            .contains("none, micro, weak, strong, super_strong"),
        "{}",
        e.message
    );
    assert!(e.message.contains("stage"), "{}", e.message);

    let e = err("purchase_count >= 1 and\n  (likes > 2");
    assert_eq!((e.line, e.column), (2, 13));
    assert_eq!(e.found, "end of input");
    assert!(e.expected.contains("')'"), "{}", e.expected);

    let e = err("purchase_cuont >= 1");
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.message.contains("purchase_count"), "{}", e.message);

    let e = err("likes");
    assert!(e.message.contains("compare it"), "{}", e.message);

    let e = err("purchases_within(400d) >= 1");
    assert_eq!((e.line, e.column), (1, 18));

    let e = err("city > \"A\"");
    assert!(e.message.contains("text"), "{}", e.message);

    let e = err("likes >= 1 likes");
    assert_eq!((e.line, e.column), (1, 12));
    assert!(e.expected.contains("end of input"), "{}", e.expected);

    let e = err("first_purchase_at >= 2026-02-30");
    assert!(e.message.contains("calendar date"), "{}", e.message);

    let e = err(&"(".repeat(100));
    assert!(e.message.contains("nested"), "{}", e.message);

    for bad in [
        "",
        "and",
        "likes >=",
        "tag(vip)",
        "tag(\"a\", \"b\")",
        "total_spent >= ten",
        "'open",
    ] {
        err(bad);
    }
}
