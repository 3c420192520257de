//! Tags and segments on SQLite and PostgreSQL: real-time entries in the event's own
//! transaction, exits when the clock passes a window, tags from staff, imports and
//! segment rules, merges, and the two evaluators (in memory, SQL) agreeing on random
//! members and random expressions.

use flywheel_core::event::{ParseContext, parse_event};
use flywheel_core::ingest::Rules;
use flywheel_core::segment::tags::Dimension;
use flywheel_core::segment::{Cond, Language, compile};
use flywheel_core::time::{DAY, parse_rfc3339};
use flywheel_core::{Event, IdentityRules, StagePolicy};
use flywheel_store::{
    AsOf, AuditActor, EventResult, IngestMode, PutSegment, SavedSegment, SetTag, Store,
    TagImportLine,
};
use serde_json::{Value, json};

struct Db {
    store: Store,
    _db: flywheel_testkit::TestDb,
}

async fn databases() -> flywheel_testkit::Each<Db> {
    flywheel_testkit::databases()
        .await
        .then(|db| async move {
            Db {
                store: db.open().await,
                _db: db,
            }
        })
        .await
}

static LANG: std::sync::LazyLock<Language> = std::sync::LazyLock::new(|| Language::new(365));

fn now() -> i64 {
    parse_rfc3339("2026-06-01T12:00:00Z").unwrap()
}

fn event(id: &str, kind: &str, days_ago: i64, who: Value, properties: Value) -> Event {
    let at = flywheel_core::time::to_rfc3339(now() - days_ago * DAY);
    // Channels vary with the id, so channel fields have something to count.
    let channel = ["app", "store", "tmall", "app"][id.len() % 4];
    let raw = json!({"event_id": id, "type": kind, "occurred_at": at, "channel": channel,
                     "identities": who, "properties": properties});
    parse_event(
        &raw,
        &ParseContext {
            identity: &IdentityRules::default(),
            channels: &flywheel_core::Channel::BUILT_IN,
            currency: "CNY",
            max_amount: flywheel_core::Limits::default().max_order_amount,
            now: now(),
        },
    )
    .unwrap()
}

fn purchase(id: &str, days_ago: i64, who: Value, amount: &str, category: &str) -> Event {
    event(
        id,
        "purchase",
        days_ago,
        who,
        json!({"order_id": format!("o-{id}"), "amount": amount,
               "items": [{"sku": format!("sku-{category}"), "category": category}]}),
    )
}

async fn send_at(store: &Store, events: &[Event], at: i64) -> Vec<EventResult> {
    let identity = IdentityRules::default();
    let stages = StagePolicy::default();
    let rules = Rules {
        identity: &identity,
        stages: &stages,
        points: &flywheel_core::points::PointsPolicy::default(),
        limits: &flywheel_core::Limits::default(),
    };
    store
        .ingest(events, &rules, AsOf::At(at), IngestMode::SkipRejected)
        .await
        .unwrap()
}

async fn send(store: &Store, events: &[Event]) -> Vec<i64> {
    send_at(store, events, now())
        .await
        .iter()
        .map(|r| match r {
            EventResult::Accepted(o) | EventResult::Duplicate(o) => o.member_id,
            other => panic!("{other:?}"),
        })
        .collect()
}

async fn define(store: &Store, id: &str, expression: &str, tag: Option<&str>) -> Cond {
    let cond = compile(expression, &LANG).unwrap();
    let def = PutSegment {
        id: id.into(),
        name: id.into(),
        expression: expression.into(),
        tag: tag.map(str::to_owned),
        badge: None,
    };
    let saved = store
        .save_segment(&def, &cond, false, false, &AuditActor::cli(), now())
        .await
        .unwrap();
    assert!(
        matches!(saved, SavedSegment::Created(_) | SavedSegment::Updated(_)),
        "{saved:?}"
    );
    store.fill_segments(now(), 1000).await.unwrap();
    let row = store.segment(id).await.unwrap().unwrap();
    assert_eq!(row.status, "ready");
    cond
}

async fn members_of(store: &Store, id: &str) -> Vec<i64> {
    let mut v: Vec<i64> = store
        .segment_members(id, None, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|m| m.member_id)
        .collect();
    v.sort_unstable();
    v
}

#[tokio::test]
async fn an_event_moves_its_member_into_a_segment_in_its_own_transaction() {
    for db in databases().await {
        let s = &db.store;
        define(
            s,
            "buyers",
            "purchases_within(30d) >= 1 and total_spent >= 50",
            None,
        )
        .await;
        let ids = send(
            s,
            &[purchase(
                "p1",
                2,
                json!({"phone": "13800138001"}),
                "60.00",
                "tea",
            )],
        )
        .await;
        let m = ids[0];
        assert_eq!(members_of(s, "buyers").await, vec![m]);
        let (_, segs, changes) = s.member_segments(m, 10).await.unwrap().unwrap();
        assert_eq!(segs.len(), 1);
        assert_eq!(changes[0].cause, "event:p1");
        assert!(changes[0].entered);
        let feed = s.segment_changes("buyers", None, 10).await.unwrap();
        assert_eq!(feed.len(), 1);
        // A like changes nothing about the segment: no new change is written.
        send(
            s,
            &[event(
                "l1",
                "like",
                0,
                json!({"phone": "13800138001"}),
                json!({}),
            )],
        )
        .await;
        assert_eq!(
            s.segment_changes("buyers", None, 10).await.unwrap().len(),
            1
        );
        // A full refund takes the member out at once.
        send(
            s,
            &[event(
                "r1",
                "refund",
                0,
                json!({"phone": "13800138001"}),
                json!({"order_id": "o-p1", "amount": "60.00"}),
            )],
        )
        .await;
        assert!(members_of(s, "buyers").await.is_empty());
        let feed = s.segment_changes("buyers", None, 10).await.unwrap();
        assert_eq!(
            (feed[0].entered, feed[0].cause.as_str()),
            (false, "event:r1")
        );
    }
}

#[tokio::test]
async fn a_member_leaves_when_the_window_passes_and_the_sweep_runs() {
    for db in databases().await {
        let s = &db.store;
        define(s, "recent", "purchases_within(30d) >= 1", None).await;
        let m = send(
            s,
            &[purchase(
                "p1",
                25,
                json!({"phone": "13800138002"}),
                "10.00",
                "tea",
            )],
        )
        .await[0];
        assert_eq!(members_of(s, "recent").await, vec![m]);
        // Nothing is due yet.
        let r = s.sweep_segments(now() + 4 * DAY).await.unwrap();
        assert_eq!((r.examined, r.left), (0, 0));
        let r = s.sweep_segments(now() + 6 * DAY).await.unwrap();
        assert_eq!((r.examined, r.left), (1, 1));
        assert!(members_of(s, "recent").await.is_empty());
        let feed = s.segment_changes("recent", None, 10).await.unwrap();
        assert_eq!(feed[0].cause, "clock");
        // Done: no review is left for this member.
        let r = s.sweep_segments(now() + 400 * DAY).await.unwrap();
        assert_eq!(r.examined, 0);
    }
}

#[tokio::test]
async fn tags_from_staff_imports_and_segment_rules_feed_expressions() {
    for db in databases().await {
        let s = &db.store;
        let actor = AuditActor::cli();
        let a = send(
            s,
            &[event(
                "v1",
                "visit",
                1,
                json!({"phone": "13800138003"}),
                json!({}),
            )],
        )
        .await[0];
        let b = send(
            s,
            &[purchase(
                "p2",
                1,
                json!({"email": "b@example.com"}),
                "500.00",
                "cake",
            )],
        )
        .await[0];
        define(s, "vips", r#"tag("vip")"#, None).await;
        define(s, "big", "total_spent >= 100", Some("big_spender")).await;
        define(
            s,
            "tagged_big",
            r#"tag("big_spender") and not tag("vip")"#,
            None,
        )
        .await;
        assert_eq!(members_of(s, "big").await, vec![b]);
        assert_eq!(members_of(s, "tagged_big").await, vec![b]);
        let tags = s.member_tags(b).await.unwrap().unwrap().1;
        assert_eq!(
            (
                tags[0].tag.as_str(),
                tags[0].source.as_str(),
                tags[0].set_by.as_str()
            ),
            ("big_spender", "segment", "big")
        );

        let set = s
            .set_member_tag(a, "vip", Some("met at the fair"), "staff", &actor, now())
            .await
            .unwrap();
        assert!(matches!(set, SetTag::Set { .. }), "{set:?}");
        assert_eq!(members_of(s, "vips").await, vec![a]);

        // A dimension with one value: setting another replaces it.
        let dim = Dimension {
            id: "life_stage".into(),
            name: "Life stage".into(),
            multiple: false,
            values: vec!["student".into(), "new_parent".into()],
        };
        s.save_tag_dimension(&dim, &actor, now()).await.unwrap();
        assert!(matches!(
            s.set_member_tag(a, "life_stage:retired", None, "staff", &actor, now())
                .await
                .unwrap(),
            SetTag::Invalid(_)
        ));
        assert!(matches!(
            s.set_member_tag(a, "diet:vegan", None, "staff", &actor, now())
                .await
                .unwrap(),
            SetTag::Invalid(_)
        ));
        s.set_member_tag(a, "life_stage:student", None, "staff", &actor, now())
            .await
            .unwrap();
        let r = s
            .set_member_tag(a, "life_stage:new_parent", None, "staff", &actor, now())
            .await
            .unwrap();
        assert!(
            matches!(&r, SetTag::Set { replaced, .. } if replaced == &vec!["life_stage:student".to_owned()]),
            "{r:?}"
        );

        let lines = vec![
            TagImportLine {
                line: 2,
                identity_key: "email:b@example.com".into(),
                tag: "vip".into(),
            },
            TagImportLine {
                line: 3,
                identity_key: "email:nobody@example.com".into(),
                tag: "vip".into(),
            },
            TagImportLine {
                line: 4,
                identity_key: "email:b@example.com".into(),
                tag: "bad tag".into(),
            },
        ];
        let (set, rejected) = s.import_tags(&lines, "fair.csv", now()).await.unwrap();
        assert_eq!(set, 1);
        assert_eq!(rejected.iter().map(|r| r.0).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(members_of(s, "vips").await, vec![a, b]);
        assert!(members_of(s, "tagged_big").await.is_empty());
        let feed = s.segment_changes("tagged_big", None, 10).await.unwrap();
        assert_eq!(feed[0].cause, "import:fair.csv");

        let counts = s.tag_counts().await.unwrap();
        let vip = counts.iter().find(|c| c.tag == "vip").unwrap();
        assert_eq!(vip.members, 2);

        assert_eq!(
            s.remove_member_tag(a, "vip", &actor, now()).await.unwrap(),
            Some(true)
        );
        assert_eq!(members_of(s, "vips").await, vec![b]);
    }
}

#[tokio::test]
async fn a_merged_member_leaves_its_segments_and_its_tags_go_to_the_survivor() {
    for db in databases().await {
        let s = &db.store;
        let actor = AuditActor::cli();
        define(s, "vips", r#"tag("vip")"#, None).await;
        define(s, "seen", "events >= 1", None).await;
        let a = send(
            s,
            &[event(
                "a1",
                "visit",
                3,
                json!({"phone": "13800138004"}),
                json!({}),
            )],
        )
        .await[0];
        let b = send(
            s,
            &[event(
                "b1",
                "visit",
                2,
                json!({"email": "m@example.com"}),
                json!({}),
            )],
        )
        .await[0];
        s.set_member_tag(b, "vip", None, "staff", &actor, now())
            .await
            .unwrap();
        assert_eq!(members_of(s, "seen").await, vec![a, b]);
        // One event names both: the younger member merges into the older.
        send(
            s,
            &[event(
                "ab",
                "like",
                1,
                json!({"phone": "13800138004", "email": "m@example.com"}),
                json!({}),
            )],
        )
        .await;
        assert_eq!(members_of(s, "seen").await, vec![a]);
        assert_eq!(members_of(s, "vips").await, vec![a]);
        let left = s.segment_changes("seen", None, 10).await.unwrap();
        assert!(
            left.iter()
                .any(|c| c.member_id == b && !c.entered && c.cause == format!("merged:{a}"))
        );
        assert_eq!(s.member_tags(b).await.unwrap().unwrap().0, a);
    }
}

#[tokio::test]
async fn preview_counts_and_writes_nothing() {
    for db in databases().await {
        let s = &db.store;
        for i in 0..5 {
            send(
                s,
                &[purchase(
                    &format!("p{i}"),
                    i,
                    json!({"phone": format!("1380013810{i}")}),
                    "20.00",
                    "tea",
                )],
            )
            .await;
        }
        let before = s.all_segment_members().await.unwrap();
        let cond = compile("purchases_within(3d) >= 1", &LANG).unwrap();
        let p = s.preview_segment(&cond, now(), 20).await.unwrap();
        assert_eq!(p.count, 3);
        assert_eq!(p.sample.len(), 3);
        assert_eq!(s.all_segment_members().await.unwrap(), before);
        assert!(s.segments().await.unwrap().is_empty());
    }
}

/// A small deterministic generator: the property runs the same cases everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

fn random_atom(r: &mut Rng) -> String {
    let n = r.below(6);
    let op = r.pick(&[">=", "<=", ">", "<", "=", "!="]);
    match r.below(29) {
        0 => format!(
            "stage {op} {}",
            r.pick(&["none", "micro", "weak", "strong", "super_strong"])
        ),
        1 => format!("purchases_within({}d) {op} {}", 1 + r.below(60), r.below(3)),
        2 => format!("spent_within({}d) {op} {}.50", 1 + r.below(90), r.below(80)),
        3 => format!("total_spent {op} {}", r.below(150)),
        4 => format!("likes {op} {n}"),
        5 => format!(
            "interactions_within({}d) {op} {}",
            1 + r.below(10),
            r.below(4)
        ),
        6 => format!("days_since_last_purchase {op} {}", r.below(40)),
        7 => format!("age {op} {}", 18 + r.below(30)),
        8 => format!("birthday_within({}d)", r.below(40)),
        9 => format!("tag(\"{}\")", r.pick(&["vip", "diet:vegan", "none"])),
        10 => format!("has(\"{}\")", r.pick(&["phone", "email", "wechat_openid"])),
        11 => format!(
            "city {} \"{}\"",
            r.pick(&["=", "!="]),
            r.pick(&["Shanghai", "Beijing"])
        ),
        12 => "city in (\"Shanghai\", \"Hangzhou\")".to_owned(),
        13 => "open_complaint".to_owned(),
        14 => format!(
            "category(\"{}\") {op} {}",
            r.pick(&["tea", "cake"]),
            r.below(3)
        ),
        15 => format!("purchase_count {op} {n}"),
        16 => format!(
            "lens {op} {}",
            r.pick(&["none", "shallow", "sticky", "deep", "iron"])
        ),
        17 => format!("last_purchase_at {op} 2026-05-{:02}", 1 + r.below(28)),
        18 => format!("skus_bought_three_times {op} {}", r.below(2)),
        19 => format!("age in ({}, {})", 20 + r.below(20), 20 + r.below(20)),
        20 => format!("spent_in_window {op} {}", r.below(200)),
        21 => format!(
            "channel(\"{}\") {op} {}",
            r.pick(&["app", "store", "tmall"]),
            r.below(4)
        ),
        22 => format!("owned_channel_events {op} {n}"),
        23 => format!("platform_channel_events {op} {}", r.below(3)),
        24 => format!("channels_used {op} {}", r.below(3)),
        25 => format!(
            "days_since_category(\"{}\") {op} {}",
            r.pick(&["tea", "cake", "shoes"]),
            r.below(60)
        ),
        26 => format!("in_group(\"{}\")", r.pick(&["g1", "g2", "g3"])),
        27 => format!("groups_count {op} {}", r.below(3)),
        _ => format!("followers {op} {}", r.below(1000)),
    }
}

fn random_expression(r: &mut Rng, depth: u32) -> String {
    if depth == 0 || r.below(3) == 0 {
        let atom = random_atom(r);
        return if r.below(4) == 0 {
            format!("not {atom}")
        } else {
            atom
        };
    }
    let join = r.pick(&["and", "or"]);
    let a = random_expression(r, depth - 1);
    let b = random_expression(r, depth - 1);
    let e = format!("({a} {join} {b})");
    if r.below(5) == 0 {
        format!("not {e}")
    } else {
        e
    }
}

#[tokio::test]
async fn the_two_evaluators_agree_on_random_members_and_expressions() {
    for db in databases().await {
        let s = &db.store;
        let actor = AuditActor::cli();
        let dim = Dimension {
            id: "diet".into(),
            name: "Diet".into(),
            multiple: true,
            values: vec![],
        };
        s.save_tag_dimension(&dim, &actor, now()).await.unwrap();
        let mut r = Rng(0x5eed_f1a7_c0de_0001);
        let mut events = Vec::new();
        for m in 0..60u64 {
            let who = if r.below(2) == 0 {
                json!({"phone": format!("139{:08}", m)})
            } else {
                json!({"email": format!("m{m}@example.com")})
            };
            let mut profile = serde_json::Map::new();
            if r.below(3) > 0 {
                let (y, mo, d) = (1975 + r.below(35), 1 + r.below(12), 1 + r.below(28));
                // Some around today (1 June), to exercise birthday windows and ages.
                let (mo, d) = if r.below(3) == 0 {
                    (6, 1 + r.below(10))
                } else {
                    (mo, d)
                };
                let full = r.below(4) > 0;
                let b = if full {
                    format!("{y}-{mo:02}-{d:02}")
                } else {
                    format!("{mo:02}-{d:02}")
                };
                profile.insert("birthday".into(), json!(b));
            }
            if r.below(2) == 0 {
                profile.insert(
                    "city".into(),
                    json!(r.pick(&["Shanghai", "Beijing", "Hangzhou"])),
                );
            }
            if r.below(3) == 0 {
                profile.insert("followers".into(), json!(r.below(2000)));
            }
            events.push(event(
                &format!("reg{m}"),
                "register",
                100 + r.below(100) as i64,
                who.clone(),
                Value::Object(profile),
            ));
            for k in 0..r.below(5) {
                let cat = r.pick(&["tea", "cake"]);
                let amount = format!("{}.{:02}", 5 + r.below(60), r.below(100));
                events.push(purchase(
                    &format!("p{m}-{k}"),
                    r.below(80) as i64,
                    who.clone(),
                    &amount,
                    cat,
                ));
            }
            for k in 0..r.below(6) {
                events.push(event(
                    &format!("l{m}-{k}"),
                    "like",
                    r.below(12) as i64,
                    who.clone(),
                    json!({}),
                ));
            }
            // Customer groups joined and sometimes left (or left before joining again).
            for g in ["g1", "g2"] {
                if r.below(2) == 0 {
                    let joined = r.below(30) as i64;
                    events.push(event(
                        &format!("gj{m}-{g}"),
                        "group_joined",
                        joined,
                        who.clone(),
                        json!({"group": g}),
                    ));
                    if r.below(2) == 0 {
                        events.push(event(
                            &format!("gl{m}-{g}"),
                            "group_left",
                            r.below(30) as i64,
                            who.clone(),
                            json!({"group": g}),
                        ));
                    }
                }
            }
            if r.below(6) == 0 {
                events.push(event(
                    &format!("c{m}"),
                    "feedback",
                    r.below(5) as i64,
                    who.clone(),
                    json!({"kind": "complaint", "category": "service"}),
                ));
            }
            if r.below(8) == 0 {
                events.push(event(
                    &format!("rf{m}"),
                    "refund",
                    0,
                    who.clone(),
                    json!({"order_id": format!("o-p{m}-0"), "amount": "3.00"}),
                ));
            }
        }
        events.sort_by_key(|e| e.occurred_at);
        let ids = send(s, &events).await;
        let mut members: Vec<i64> = ids.clone();
        members.sort_unstable();
        members.dedup();
        for (i, m) in members.iter().enumerate() {
            match i % 4 {
                0 => {
                    s.set_member_tag(*m, "vip", None, "staff", &actor, now())
                        .await
                        .unwrap();
                }
                1 => {
                    s.set_member_tag(*m, "diet:vegan", None, "staff", &actor, now())
                        .await
                        .unwrap();
                }
                _ => {}
            }
        }
        for case in 0..40 {
            let text = random_expression(&mut r, 3);
            let cond = compile(&text, &LANG).unwrap_or_else(|e| panic!("{text}: {e}"));
            let id = format!("case{case}");
            define(s, &id, &text, None).await;
            let by_sql = s.select_members_by_sql(&cond, now()).await.unwrap();
            assert_eq!(members_of(s, &id).await, by_sql, "{text}");
            // Some days later, after the sweep: still the same answer both ways.
            let later = now() + (1 + (case % 9)) * DAY;
            s.sweep_segments(later).await.unwrap();
            let by_sql = s.select_members_by_sql(&cond, later).await.unwrap();
            assert_eq!(
                members_of(s, &id).await,
                by_sql,
                "{text}, {} days later",
                1 + case % 9
            );
            s.delete_segment(&id, &actor, now()).await.unwrap().unwrap();
        }
    }
}

/// With the member cache on, a group takes the definitions the last one ran under from
/// it. Rules and segments saved in between are someone else's commit, so the next
/// group reads them again and runs under them.
#[tokio::test]
async fn rules_and_segments_saved_between_groups_apply_to_the_next_with_the_member_cache_on() {
    use flywheel_core::points::DEFAULT_PROGRAMME;
    for db in databases().await {
        let s = &db.store;
        s.set_member_cache(1000, usize::MAX).await;
        let who = json!({"phone": "13800138000"});
        let pending = |member: i64| async move {
            s.member_points(member, DEFAULT_PROGRAMME, now())
                .await
                .unwrap()
                .unwrap()
                .1
                .pending
        };
        let a = send(s, &[purchase("p1", 4, who.clone(), "10", "coffee")]).await[0];
        let after_first = pending(a).await;
        // The cache is trusted from here: this group reads no definition.
        send(s, &[purchase("p2", 3, who.clone(), "10", "coffee")]).await;
        let by_default = pending(a).await - after_first;
        assert!(by_default > 0, "the default rules pay for a purchase");

        let mut rules = flywheel_core::points::rules::default_rules();
        let rule = rules.iter_mut().find(|r| r.id == "purchase").unwrap();
        rule.award.points *= 5;
        s.put_rules(&rules, 0, &AuditActor::cli(), now())
            .await
            .unwrap();
        let before = pending(a).await;
        send(s, &[purchase("p3", 2, who.clone(), "10", "coffee")]).await;
        assert_eq!(pending(a).await - before, 5 * by_default, "the new rules");

        let expression = "total_spent >= 35";
        let def = PutSegment {
            id: "big".into(),
            name: "big".into(),
            expression: expression.into(),
            tag: None,
            badge: None,
        };
        let cond = compile(expression, &LANG).unwrap();
        s.save_segment(&def, &cond, true, false, &AuditActor::cli(), now())
            .await
            .unwrap();
        assert!(members_of(s, "big").await.is_empty());
        send(s, &[purchase("p4", 1, who.clone(), "10", "coffee")]).await;
        assert_eq!(
            members_of(s, "big").await,
            [a],
            "entered by the new segment"
        );
    }
}
