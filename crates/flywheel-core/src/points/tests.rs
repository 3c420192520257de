//! Points tests: the default rules, pending points, refunds and debt, expiry by lots,
//! redemption and cancellation, transfers, exchange — and a property test that random
//! sequences of all of them keep the books consistent.

use super::commands;
use super::*;
use crate::event::Item;
use crate::limits::Limits;
use crate::money::Money;
use crate::stage::Stage;
use crate::time::{self, DAY, Micros};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

fn t(s: &str) -> Micros {
    time::parse_rfc3339(s).unwrap()
}

fn trigger<'a>(kind: &'a str, at: Micros, amount: Option<&str>, stage: Stage) -> Trigger<'a> {
    Trigger {
        kind,
        occurred_at: at,
        channel: None,
        stage,
        amount: amount.map(|a| Money::parse(a).unwrap()),
        items: &[],
        tiers: &[],
        referred_at: None,
        progress: Default::default(),
        milestone: None,
    }
}

fn earning<'a>(id: &'a str, member: i64, trig: Trigger<'a>, order: Option<&'a str>) -> Earning<'a> {
    Earning {
        source_key: format!("event:{id}"),
        source_type: "event",
        source_id: id,
        member_id: member,
        trigger: trig,
        order_id: order,
    }
}

fn defaults() -> RuleSet {
    RuleBook::new(Vec::new()).at(0).clone()
}

/// Each account's balance from the postings.
fn balances(postings: &[Posting]) -> BTreeMap<Account, i64> {
    let mut out = BTreeMap::new();
    for p in postings {
        assert!(p.is_balanced(), "unbalanced posting {p:?}");
        for (a, v) in &p.entries {
            *out.entry(a.clone()).or_insert(0) += v;
        }
    }
    out
}

#[test]
fn a_purchase_earns_one_point_per_yuan_pending_for_seven_days() {
    let policy = PointsPolicy::default();
    let mut book = Book::default();
    let at = t("2026-03-01T10:00:00Z");
    let e = earning(
        "p1",
        1,
        trigger("purchase", at, Some("128.90"), Stage::Micro),
        Some("o1"),
    );
    let lines = book.earn(&defaults(), &policy, &Limits::default(), &e, at);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].points, 128);
    let w = &book.wallets[&(1, "points".to_owned())];
    assert_eq!(w.summary(at).balance, 0);
    assert_eq!(w.summary(at).pending, 128);
    assert_eq!(w.summary(at + 7 * DAY).balance, 128);
    assert_eq!(w.summary(at + 7 * DAY).pending, 0);
    assert_eq!(
        w.summary(at).next_expiry,
        None,
        "pending points do not count as expiring"
    );
    assert_eq!(
        w.summary(at + 8 * DAY).next_expiry,
        Some((128, t("2028-01-01T00:00:00Z")))
    );
}

#[test]
fn daily_limits_stop_the_twenty_first_like_and_register_pays_once() {
    let policy = PointsPolicy::default();
    let mut book = Book::default();
    let at = t("2026-03-01T10:00:00Z");
    let rules = defaults();
    let ids: Vec<String> = (0..22).map(|i| format!("like{i}")).collect();
    let mut earned = 0;
    for id in &ids {
        let e = earning(id, 1, trigger("like", at, None, Stage::Micro), None);
        earned += book
            .earn(&rules, &policy, &Limits::default(), &e, at)
            .iter()
            .map(|l| l.points)
            .sum::<i64>();
    }
    assert_eq!(earned, 20);
    let next_day = at + DAY;
    let e = earning(
        "like-next",
        1,
        trigger("like", next_day, None, Stage::Micro),
        None,
    );
    assert_eq!(
        book.earn(&rules, &policy, &Limits::default(), &e, next_day)[0].points,
        1
    );
    for id in ["r1", "r2"] {
        let e = earning(id, 1, trigger("register", at, None, Stage::None), None);
        book.earn(&rules, &policy, &Limits::default(), &e, at);
    }
    assert_eq!(
        book.wallets[&(1, "points".to_owned())]
            .summary(next_day)
            .balance,
        71
    );
}

#[test]
fn a_super_strong_inviter_earns_five_times_the_referral_bonus() {
    let policy = PointsPolicy::default();
    let mut book = Book::default();
    let at = t("2026-03-01T10:00:00Z");
    let rules = defaults();
    let weak = earning(
        "ref1",
        1,
        trigger(rules::REFERRAL_CONVERTED, at, None, Stage::Weak),
        None,
    );
    let superb = earning(
        "ref2",
        2,
        trigger(rules::REFERRAL_CONVERTED, at, None, Stage::SuperStrong),
        None,
    );
    assert_eq!(
        book.earn(&rules, &policy, &Limits::default(), &weak, at)[0].points,
        100
    );
    let line = &book.earn(&rules, &policy, &Limits::default(), &superb, at)[0];
    assert_eq!(line.points, 500);
    assert!(line.explanation.contains("×5"), "{}", line.explanation);
}

#[test]
fn festival_windows_categories_and_budgets_shape_the_award() {
    let rule: EarningRule = serde_json::from_value(serde_json::json!({
        "id": "tea-festival",
        "trigger": "purchase",
        "conditions": {"categories": ["tea"], "min_amount": "50.00"},
        "award": {"points": 2, "per": "1.00"},
        "windows": [{"name": "Singles' Day", "from": "2026-11-11T00:00:00Z",
                     "until": "2026-11-12T00:00:00Z", "factor": 1.5}],
        "budget": 400
    }))
    .unwrap();
    assert!(
        rules::validate(
            std::slice::from_ref(&rule),
            &PointsPolicy::default(),
            &Limits::default()
        )
        .is_empty()
    );
    let items = vec![
        Item {
            sku: "t".into(),
            sub_brand: None,
            category: Some("tea".into()),
            qty: 2,
            price: Some(Money::from_minor(4050)),
        },
        Item {
            sku: "c".into(),
            sub_brand: None,
            category: Some("cup".into()),
            qty: 1,
            price: Some(Money::from_minor(9900)),
        },
    ];
    let mut trig = trigger(
        "purchase",
        t("2026-11-11T08:00:00Z"),
        Some("180.00"),
        Stage::Weak,
    );
    trig.items = &items;
    let book = Book::default();
    let line = book.preview(
        &rule,
        &earning("e", 1, trig.clone(), Some("o")),
        &Limits::default(),
    );
    // 81.00 of tea × 2 per yuan × 1.5 = 243.
    assert_eq!(line.points, 243, "{}", line.explanation);
    let mut spent = Book::default();
    spent.budgets.insert("tea-festival".into(), 300);
    let line = spent.preview(&rule, &earning("e", 1, trig, Some("o")), &Limits::default());
    assert_eq!(line.points, 100);
    assert_eq!(line.limited_by.as_deref(), Some("budget of 400 points"));
}

#[test]
fn rule_sets_are_validated_field_by_field() {
    let mut bad = rules::default_rules();
    bad[1].id = "purchase".into();
    bad[2].award.points = 0;
    bad[3].programme = "miles".into();
    let errors = rules::validate(&bad, &PointsPolicy::default(), &Limits::default());
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["rules[1].id", "rules[2].award.points", "rules[3].programme"]
    );
}

#[test]
fn a_rule_on_a_channel_the_brand_does_not_list_is_named() {
    use crate::event::Channel;
    let mut set = rules::default_rules();
    let vipshop = Channel::new("vipshop").unwrap();
    set[0].conditions.channels = vec![Channel::STORE, vipshop];
    let errors = rules::unknown_channels(&set, &Channel::BUILT_IN);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["rules[0].conditions.channels[1]"]);
    assert!(errors[0].message.contains("vipshop"));
    let brand = [Channel::STORE, vipshop];
    assert!(rules::unknown_channels(&set, &brand).is_empty());
}

#[test]
fn the_rules_in_force_are_those_effective_when_the_event_happened() {
    let mut later = rules::default_rules();
    later[1].award.points = 2;
    let book = RuleBook::new(vec![RuleSet {
        version: 1,
        effective_from: t("2026-06-01T00:00:00Z"),
        rules: later,
    }]);
    assert_eq!(book.at(t("2026-05-31T23:00:00Z")).version, 0);
    assert_eq!(book.at(t("2026-06-01T00:00:00Z")).version, 1);
}

#[test]
fn a_refund_reverses_pending_points_then_claws_back_then_records_debt() {
    let policy = PointsPolicy::default();
    let mut book = Book::default();
    let at = t("2026-03-01T10:00:00Z");
    let rules = defaults();
    let e = earning(
        "p1",
        1,
        trigger("purchase", at, Some("100.00"), Stage::Micro),
        Some("o1"),
    );
    book.earn(&rules, &policy, &Limits::default(), &e, at);
    // Partial refund inside the return window: 30.99 reverses 30 pending points.
    book.reconcile_refund(
        "r1",
        "o1",
        Money::from_minor(10_000),
        Money::from_minor(3099),
        at + DAY,
    );
    let w = &book.wallets[&(1, "points".to_owned())];
    assert_eq!(w.summary(at + DAY).pending, 70);
    // After the window, the member spends 60; a full refund then claws back 10 and
    // leaves a debt of 60 (100 − 30 already reversed − 10 available).
    let later = at + 10 * DAY;
    let w = book.wallet(1, "points", later);
    commands::redeem(w, "red1", "red1", 60, later).unwrap();
    book.reconcile_refund(
        "r2",
        "o1",
        Money::from_minor(10_000),
        Money::from_minor(10_000),
        later,
    );
    let s = book.wallets[&(1, "points".to_owned())].summary(later);
    assert_eq!((s.balance, s.pending, s.debt), (0, 0, 60));
    // A later earning repays the debt first.
    let e = earning(
        "like1",
        1,
        trigger("comment", later, None, Stage::Micro),
        None,
    );
    book.earn(&rules, &policy, &Limits::default(), &e, later);
    assert_eq!(
        book.wallets[&(1, "points".to_owned())].summary(later).debt,
        50
    );
    let b = balances(&book.postings);
    assert_eq!(b.get(&Account::debt(1, "points")), Some(&-50));
    assert_eq!(
        b.get(&Account::brand("points", BrandAccount::Clawback)),
        Some(&70)
    );
}

#[test]
fn spending_takes_the_earliest_expiring_lots_and_cancelling_returns_them() {
    let policy = PointsPolicy::default();
    let mut book = Book::default();
    let rules = defaults();
    let y1 = t("2025-02-01T00:00:00Z");
    let y2 = t("2026-02-01T00:00:00Z");
    for (id, at) in [("a", y1), ("b", y2)] {
        let e = earning(id, 1, trigger("review", at, None, Stage::Micro), None);
        book.earn(&rules, &policy, &Limits::default(), &e, at);
    }
    let now = t("2026-06-01T00:00:00Z");
    let w = book.wallet(1, "points", now);
    let red = commands::redeem(w, "red", "red", 30, now).unwrap();
    // 20 from the 2025 lot (expires 2027-01-01), 10 from the 2026 lot.
    assert_eq!(
        red.lot_moves.iter().map(|m| m.points).collect::<Vec<_>>(),
        [-20, -10]
    );
    // Cancelled after the 2025 lot expired: its 20 stay expired, 10 come back.
    let after = t("2027-03-01T00:00:00Z");
    let w = book.wallet(1, "points", after);
    let lots = w.lots.clone();
    let cancel = commands::cancel_redemption(w, "cancel", "red", &red.lot_moves, &lots, after);
    assert_eq!(
        cancel.amount_on(&Account::brand("points", BrandAccount::Expiry)),
        20
    );
    assert_eq!(cancel.amount_on(&Account::wallet(1, "points")), 10);
    assert_eq!(
        book.wallets[&(1, "points".to_owned())]
            .summary(after)
            .balance,
        20
    );
}

#[test]
fn a_balance_read_excludes_expired_points_before_any_sweep() {
    let policy = PointsPolicy::default();
    let mut book = Book::default();
    let at = t("2024-05-01T00:00:00Z");
    let e = earning("a", 1, trigger("register", at, None, Stage::None), None);
    book.earn(&defaults(), &policy, &Limits::default(), &e, at);
    let w = &book.wallets[&(1, "points".to_owned())];
    assert_eq!(w.summary(t("2025-12-31T23:59:59Z")).balance, 50);
    assert_eq!(w.summary(t("2026-01-01T00:00:00Z")).balance, 0);
}

#[test]
fn transfers_keep_the_senders_expiry_and_exchange_is_exact() {
    let policy = PointsPolicy::default();
    let mut book = Book::default();
    let at = t("2026-03-01T00:00:00Z");
    let e = earning("a", 1, trigger("register", at, None, Stage::None), None);
    book.earn(&defaults(), &policy, &Limits::default(), &e, at);
    let mut from = book.wallet(1, "points", at).clone();
    let mut to = Wallet::new(2, "points");
    let p = commands::transfer(&mut from, &mut to, "tr", 30, at).unwrap();
    assert!(p.is_balanced());
    assert_eq!(p.amount_on(&Account::wallet(1, "points")), -30);
    assert_eq!(p.amount_on(&Account::wallet(2, "points")), 30);
    assert_eq!(to.lots[0].expires_at, from.lots[0].expires_at);
    assert_eq!(commands::partner_points(100, 100, 30, i64::MAX), Ok(30));
    assert_eq!(commands::partner_points(110, 100, 30, i64::MAX), Ok(33));
    assert_eq!(
        commands::partner_points(105, 100, 30, i64::MAX),
        Err(commands::ExchangeRateError::Inexact { step: 10 })
    );
    assert!(commands::transfer(&mut from, &mut to, "tr2", 21, at).is_err());
}

#[test]
fn an_erased_member_forfeits_available_and_pending_points_and_keeps_the_debt() {
    let policy = PointsPolicy::default();
    let limits = Limits::default();
    let mut book = Book::default();
    let at = t("2026-03-01T10:00:00Z");
    let e = earning(
        "p1",
        1,
        trigger("purchase", at, Some("80.00"), Stage::Micro),
        Some("o1"),
    );
    book.earn(&defaults(), &policy, &limits, &e, at);
    let e = earning("c1", 1, trigger("comment", at, None, Stage::Micro), None);
    book.earn(&defaults(), &policy, &limits, &e, at);
    let w = book.wallet(1, "points", at);
    assert_eq!((w.available(at), w.pending()), (10, 80));
    let (posting, points) = commands::forfeit(w, "forfeit:1:points", at);
    assert_eq!(points, 90);
    assert_eq!((w.available(at), w.pending()), (0, 0));
    assert_eq!(
        w.summary(at + 30 * DAY).balance,
        0,
        "nothing matures afterwards"
    );
    book.postings.push(posting);
    check(&book, at);
    let b = balances(&book.postings);
    assert_eq!(b[&Account::brand("points", BrandAccount::Expiry)], 90);
}

// ---- property test -------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Purchase { member: usize, yuan: i64 },
    Refund { order: usize, percent: i64 },
    Comment { member: usize },
    Redeem { member: usize, points: i64 },
    Cancel { redemption: usize },
    Transfer { from: usize, to: usize, points: i64 },
    ExchangeOut { member: usize, points: i64 },
    ExchangeIn { member: usize, points: i64 },
    Adjust { member: usize, points: i64 },
    Merge { from: usize },
    Wait { days: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 1..500i64).prop_map(|(member, yuan)| Op::Purchase { member, yuan }),
        (0..8usize, 1..=100i64).prop_map(|(order, percent)| Op::Refund { order, percent }),
        (0..3usize).prop_map(|member| Op::Comment { member }),
        (0..3usize, 1..300i64).prop_map(|(member, points)| Op::Redeem { member, points }),
        (0..8usize).prop_map(|redemption| Op::Cancel { redemption }),
        (0..3usize, 0..3usize, 1..200i64).prop_map(|(from, to, points)| Op::Transfer {
            from,
            to,
            points
        }),
        (0..3usize, 1..200i64).prop_map(|(member, points)| Op::ExchangeOut { member, points }),
        (0..3usize, 1..200i64).prop_map(|(member, points)| Op::ExchangeIn { member, points }),
        (0..3usize, -100..100i64).prop_map(|(member, points)| Op::Adjust { member, points }),
        (1..3usize).prop_map(|from| Op::Merge { from }),
        (1..400i64).prop_map(|days| Op::Wait { days }),
    ]
}

/// Checks every invariant of the books.
fn check(book: &Book, now: Micros) {
    let b = balances(&book.postings);
    assert_eq!(b.values().sum::<i64>(), 0, "the books must sum to zero");
    let mut keys: Vec<&str> = book.postings.iter().map(|p| p.key.as_str()).collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "posting keys must be unique");
    for ((member, programme), w) in &book.wallets {
        let get = |a: Account| b.get(&a).copied().unwrap_or(0);
        let lots = |pending: bool| -> i64 {
            w.lots
                .iter()
                .filter(|l| l.pending == pending)
                .map(|l| l.remaining)
                .sum()
        };
        assert!(w.lots.iter().all(|l| l.remaining >= 0));
        assert!(w.debt >= 0);
        assert_eq!(
            get(Account::wallet(*member, programme)),
            lots(false),
            "wallet = its lots"
        );
        assert_eq!(
            get(Account::pending(*member, programme)),
            lots(true),
            "pending = its lots"
        );
        assert_eq!(
            get(Account::debt(*member, programme)),
            -w.debt,
            "debt account = debt"
        );
        let s = w.summary(now);
        assert!(s.balance >= 0 && s.pending >= 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_sequences_keep_the_books_consistent(ops in proptest::collection::vec(op(), 1..60)) {
        let policy = PointsPolicy::default();
        let rules = defaults();
        let mut book = Book::default();
        let mut now = t("2026-01-01T00:00:00Z");
        let mut orders: Vec<(String, i64, Money, Money)> = Vec::new();
        let mut redemptions: Vec<(String, i64, Vec<LotMove>, bool)> = Vec::new();
        let mut members: HashMap<usize, i64> = (0..3).map(|i| (i, i as i64 + 1)).collect();
        for (step, op) in ops.into_iter().enumerate() {
            let key = format!("k{step}");
            let member = |i: usize| members[&i];
            match op {
                Op::Purchase { member: m, yuan } => {
                    let id = format!("o{step}");
                    let amount = format!("{yuan}.50");
                    let e = earning(&key, member(m), trigger("purchase", now, Some(&amount), Stage::Weak), Some(&id));
                    book.earn(&rules, &policy, &Limits::default(), &e, now);
                    orders.push((id, member(m), Money::parse(&amount).unwrap(), Money::ZERO));
                }
                Op::Refund { order, percent } => {
                    if let Some(o) = orders.get_mut(order) {
                        let more = Money::from_minor(o.2.minor() * percent / 100);
                        o.3 = Money::from_minor((o.3 + more).minor().min(o.2.minor()));
                        let (id, amount, refunded) = (o.0.clone(), o.2, o.3);
                        book.reconcile_refund(&key, &id, amount, refunded, now);
                    }
                }
                Op::Comment { member: m } => {
                    let e = earning(&key, member(m), trigger("comment", now, None, Stage::Weak), None);
                    book.earn(&rules, &policy, &Limits::default(), &e, now);
                }
                Op::Redeem { member: m, points } => {
                    let id = member(m);
                    let w = book.wallet(id, "points", now);
                    if let Ok(p) = commands::redeem(w, &key, &key, points, now) {
                        redemptions.push((key.clone(), id, p.lot_moves.clone(), false));
                        book.postings.push(p);
                    }
                }
                Op::Cancel { redemption } => {
                    if let Some(r) = redemptions.get_mut(redemption).filter(|r| !r.3) {
                        r.3 = true;
                        let owner = book.survivor(r.1);
                        let w = book.wallet(owner, "points", now);
                        let lots = w.lots.clone();
                        let p = commands::cancel_redemption(w, &key, &r.0, &r.2, &lots, now);
                        book.postings.push(p);
                    }
                }
                Op::Transfer { from, to, points } => {
                    let (a, b) = (member(from), member(to));
                    if a != b {
                        let mut wa = book.wallet(a, "points", now).clone();
                        let mut wb = book.wallet(b, "points", now).clone();
                        if let Ok(p) = commands::transfer(&mut wa, &mut wb, &key, points, now) {
                            book.postings.push(p);
                            book.wallets.insert((a, "points".into()), wa);
                            book.wallets.insert((b, "points".into()), wb);
                        }
                    }
                }
                Op::ExchangeOut { member: m, points } => {
                    let w = book.wallet(member(m), "points", now);
                    if let Ok(p) = commands::exchange_out(w, "airline", &key, points, now) {
                        book.postings.push(p);
                    }
                }
                Op::ExchangeIn { member: m, points } => {
                    let w = book.wallet(member(m), "points", now);
                    let p = commands::exchange_in(w, "airline", &key, points, &policy, now);
                    book.postings.push(p);
                }
                Op::Adjust { member: m, points } => {
                    if points != 0 {
                        let w = book.wallet(member(m), "points", now);
                        if let Ok(p) = commands::adjust(w, &key, points, "test", "tester", &policy, now) {
                            book.postings.push(p);
                        }
                    }
                }
                Op::Merge { from } => {
                    let (survivor, merged) = (member(0), member(from));
                    if survivor != merged {
                        book.wallet(merged, "points", now);
                        book.merge(survivor, merged, now);
                        members.insert(from, survivor);
                    }
                }
                Op::Wait { days } => now += days * DAY,
            }
            check(&book, now);
        }
        // After a final settle the books still hold, and expired points are gone.
        let later = now + 800 * DAY;
        let ids: Vec<(i64, String)> = book.wallets.keys().cloned().collect();
        for (m, p) in ids {
            book.wallet(m, &p, later);
        }
        check(&book, later);
        for w in book.wallets.values() {
            prop_assert_eq!(w.available(later), w.lots.iter().filter(|l| !l.pending).map(|l| l.remaining).sum::<i64>());
        }
    }
}

// ---- at the limits ---------------------------------------------------------------------

/// A purchase rule awarding `points` per `per_minor`, times `factor` (thousandths) for
/// weak members and during a window around every test instant.
fn rule_at(points: i64, per_minor: i64, factor: u32) -> rules::EarningRule {
    let mut rule = rules::default_rules().remove(0);
    rule.award.points = points;
    rule.award.per = Some(Money::from_minor(per_minor));
    rule.pending_days = 0;
    rule.stage_multipliers = [(Stage::Weak, rules::Factor(factor))].into();
    rule.windows = vec![rules::Window {
        name: "always".into(),
        from: 0,
        until: i64::MAX / 2,
        factor: rules::Factor(factor),
    }];
    rule
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Orders of the largest amount, awards as large as a rule may be, adjustments,
    /// redemptions and exchanges of the most points a posting may carry, partner rates
    /// anywhere from 1 to a trillion: nothing panics or wraps, every posting stays within
    /// the limit, and the books balance after every step.
    #[test]
    fn amounts_and_rates_at_the_limits_keep_the_books_balanced(
        points in 1..=1_000_000_000i64,
        per_minor in 1..=1_000_000i64,
        factor in 1_000..=100_000u32,
        steps in proptest::collection::vec((0..5u8, 0..=1_000_000_000_000i64, 1..=1_000_000_000_000i64), 1..40),
    ) {
        let limits = Limits::default();
        let max = limits.max_points_per_posting;
        let policy = PointsPolicy::default();
        let rule = rule_at(points, per_minor, factor);
        let valid = rules::validate(std::slice::from_ref(&rule), &policy, &limits).is_empty();
        let set = RuleSet { version: 1, effective_from: 0, rules: vec![rule] };
        let mut book = Book::default();
        let now = t("2026-06-01T00:00:00Z");
        let largest = limits.max_order_amount.to_string();
        for (i, (kind, a, b)) in steps.into_iter().enumerate() {
            let key = format!("k{i}");
            let member = 1 + (i as i64 % 2);
            match kind {
                0 => {
                    let order = format!("o{i}");
                    let e = earning(&key, member, trigger("purchase", now, Some(&largest), Stage::Weak), Some(&order));
                    for line in book.earn(&set, &policy, &limits, &e, now) {
                        prop_assert!(line.points <= max, "{line:?}");
                        if valid {
                            prop_assert!(line.limited_by.is_none(), "a valid rule is never refused: {line:?}");
                        }
                    }
                }
                1 => {
                    let w = book.wallet(member, "points", now);
                    let n = if a % 2 == 0 { max } else { -max };
                    if let Ok(p) = commands::adjust(w, &key, n, "limit test", "tester", &policy, now) {
                        book.postings.push(p);
                    }
                }
                2 => {
                    let w = book.wallet(member, "points", now);
                    if let Ok(p) = commands::redeem(w, &key, &key, max, now) {
                        book.postings.push(p);
                    }
                }
                3 => {
                    let w = book.wallet(member, "points", now);
                    let p = commands::exchange_in(w, "airline", &key, max, &policy, now);
                    book.postings.push(p);
                }
                _ => {
                    let ours = (a % max).max(1);
                    match commands::partner_points(ours, b, (a % 1_000_000_000_000).max(1), max) {
                        Ok(theirs) => prop_assert!((1..=max).contains(&theirs) || theirs == 0),
                        Err(commands::ExchangeRateError::TooLarge { max: m }) => prop_assert_eq!(m, max),
                        Err(commands::ExchangeRateError::Inexact { step }) => prop_assert!(step >= 1),
                    }
                }
            }
            for p in &book.postings {
                prop_assert!(p.entries.values().all(|v| v.abs() <= max), "posting {} over the limit", p.key);
            }
            check(&book, now);
        }
    }
}

#[test]
fn a_rule_that_could_give_more_than_a_posting_may_carry_is_refused_and_never_capped() {
    let limits = Limits::default();
    let policy = PointsPolicy::default();
    // 10^9 points per 0.01 on an order of up to 10,000,000.00: 10^20 points.
    let greedy = rule_at(1_000_000_000, 1, 1_000);
    let errors = rules::validate(std::slice::from_ref(&greedy), &policy, &limits);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "rules[0].award.points");
    assert_eq!(errors[0].code, crate::ErrorCode::OutOfRange);
    // Stored anyway (say, before the limit was lowered), it awards nothing and says why.
    let set = RuleSet {
        version: 1,
        effective_from: 0,
        rules: vec![greedy],
    };
    let now = t("2026-06-01T00:00:00Z");
    let mut book = Book::default();
    let e = earning(
        "p",
        1,
        trigger("purchase", now, Some("10000000.00"), Stage::Weak),
        Some("o"),
    );
    let lines = book.earn(&set, &policy, &limits, &e, now);
    assert_eq!(lines[0].points, 0);
    assert!(
        lines[0]
            .limited_by
            .as_deref()
            .unwrap()
            .contains("max_points_per_posting")
    );
    assert!(book.postings.is_empty());
    // Just within the limit: 100 points per 10.00 on the largest order is 10^8.
    let fair = rule_at(100, 1_000, 1_000);
    assert!(rules::validate(std::slice::from_ref(&fair), &policy, &limits).is_empty());
}

#[test]
fn a_rebate_pays_on_referred_purchases_within_its_days_only() {
    let rule: EarningRule = serde_json::from_value(serde_json::json!({
        "id": "rebate", "trigger": "referred_purchase",
        "conditions": {"days_after_referral": 30},
        "award": {"points": 5, "per": "1.00"}
    }))
    .unwrap();
    let (policy, limits) = (PointsPolicy::default(), Limits::default());
    assert!(rules::validate(std::slice::from_ref(&rule), &policy, &limits).is_empty());
    let referred = t("2026-03-01T00:00:00Z");
    let mut within = trigger(
        rules::REFERRED_PURCHASE,
        referred + time::days(30),
        Some("20.00"),
        Stage::Weak,
    );
    within.referred_at = Some(referred);
    assert_eq!(rules::quote(&rule, &within).map(|q| q.points), Ok(100));
    let late = Trigger {
        occurred_at: referred + time::days(30) + 1,
        ..within
    };
    assert_eq!(
        rules::quote(&rule, &late).map(|q| q.points),
        Err("the purchase came more than 30 days after the referral".into())
    );
    let unreferred = Trigger {
        referred_at: None,
        ..within
    };
    assert!(rules::quote(&rule, &unreferred).is_err());
    // The condition belongs to rebates only, and has bounds.
    let mut bad = rule.clone();
    bad.trigger = "purchase".into();
    bad.conditions.days_after_referral = Some(0);
    let errors = rules::validate(&[bad], &policy, &limits);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "rules[0].conditions.days_after_referral");
}

#[test]
fn a_share_milestone_rule_pays_only_its_milestone() {
    use crate::marketing::{Milestone, ShareMeasure};
    let (policy, limits) = (PointsPolicy::default(), Limits::default());
    let rule: EarningRule = serde_json::from_value(serde_json::json!({
        "id": "ten-readers", "trigger": "share_milestone",
        "conditions": {"milestone": {"measure": "readers", "at": 10}},
        "award": {"points": 30}, "task": {"title": "Get 10 friends to read a share"}
    }))
    .unwrap();
    assert!(rules::validate(std::slice::from_ref(&rule), &policy, &limits).is_empty());
    let mut reached = trigger(
        "share_milestone",
        t("2026-05-01T00:00:00Z"),
        None,
        Stage::Weak,
    );
    reached.milestone = Some(Milestone {
        measure: ShareMeasure::Readers,
        at: 10,
    });
    assert_eq!(rules::quote(&rule, &reached).map(|q| q.points), Ok(30));
    let other = Trigger {
        milestone: Some(Milestone {
            measure: ShareMeasure::Clicks,
            at: 10,
        }),
        ..reached
    };
    assert_eq!(
        rules::quote(&rule, &other).map(|q| q.points),
        Err("the rule pays a link's 10 readers, not this milestone".into())
    );
    // The trigger needs its milestone, the milestone its trigger, and bounds hold.
    let mut bare = rule.clone();
    bare.conditions.milestone = None;
    let mut misplaced = rule.clone();
    misplaced.trigger = "share".into();
    let mut zero = rule.clone();
    zero.conditions.milestone = Some(Milestone {
        measure: ShareMeasure::Buyers,
        at: 0,
    });
    for (bad, field) in [
        (bare, "rules[0].conditions.milestone"),
        (misplaced, "rules[0].conditions.milestone"),
        (zero, "rules[0].conditions.milestone.at"),
    ] {
        let errors = rules::validate(&[bad], &policy, &limits);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, field);
    }
}
