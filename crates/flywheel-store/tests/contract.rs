//! The store contract: the same scenarios on SQLite and on PostgreSQL.
//!
//! The databases come from `flywheel_testkit::databases()`: SQLite, and PostgreSQL when
//! `FLYWHEEL_TEST_PG_URL` is set (`FLYWHEEL_REQUIRE_PG=1` makes its absence a failure).

use flywheel_core::event::{ParseContext, parse_event};
use flywheel_core::ingest::Rules;
use flywheel_core::time::{DAY, parse_rfc3339};
use flywheel_core::{Event, IdentityKind, IdentityRules, Lens, Policy, Stage, StagePolicy};
use flywheel_store::{
    AsOf, AuditActor, AuditQuery, EventQueue, EventResult, IngestMode, Store, TimelineCursor,
};
use serde_json::{Value, json};
use std::sync::Arc;

#[path = "contract/engine.rs"]
mod engine;

struct Db {
    store: Store,
    _db: flywheel_testkit::TestDb,
}

/// Each test database (`flywheel_testkit`), opened.
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

const NOW: &str = "2026-06-01T00:00:00Z";

fn now() -> i64 {
    parse_rfc3339(NOW).unwrap()
}

fn event(
    id: &str,
    kind: &str,
    days_before_now: i64,
    identities: Value,
    properties: Value,
) -> Event {
    event_at(
        id,
        kind,
        now() - days_before_now * DAY,
        identities,
        properties,
    )
}

fn event_at(id: &str, kind: &str, at: i64, identities: Value, properties: Value) -> Event {
    let at = flywheel_core::time::to_rfc3339(at);
    let raw = json!({"event_id": id, "type": kind, "occurred_at": at, "channel": "store",
                     "identities": identities, "properties": properties});
    let rules = IdentityRules::default();
    parse_event(
        &raw,
        &ParseContext {
            identity: &rules,
            channels: &flywheel_core::Channel::BUILT_IN,
            currency: "CNY",
            max_amount: flywheel_core::Limits::default().max_order_amount,
            now: now(),
        },
    )
    .unwrap()
}

fn purchase(id: &str, days: i64, who: Value, order: &str, amount: &str) -> Event {
    event(
        id,
        "purchase",
        days,
        who,
        json!({"order_id": order, "amount": amount, "items": [{"sku": "LATTE", "category": "coffee"}]}),
    )
}

/// The default policies, owned, so that a test can borrow the `Rules` an ingest takes.
#[derive(Default)]
struct Policies {
    identity: IdentityRules,
    stages: StagePolicy,
    points: flywheel_core::points::PointsPolicy,
    limits: flywheel_core::Limits,
}

impl Policies {
    fn rules(&self) -> Rules<'_> {
        Rules {
            identity: &self.identity,
            stages: &self.stages,
            points: &self.points,
            limits: &self.limits,
        }
    }
}

async fn send(store: &Store, events: &[Event]) -> Vec<EventResult> {
    let policies = Policies::default();
    let rules = policies.rules();
    store
        .ingest(events, &rules, AsOf::At(now()), IngestMode::SkipRejected)
        .await
        .unwrap()
}

fn accepted(r: &EventResult) -> &flywheel_core::ingest::Outcome {
    match r {
        EventResult::Accepted(o) => o,
        other => panic!("expected accepted, got {other:?}"),
    }
}

#[tokio::test]
async fn an_event_sent_twice_is_stored_once_and_answers_duplicate() {
    for db in databases().await {
        let s = &db.store;
        let e = event("e1", "like", 1, json!({"phone": "13800138000"}), json!({}));
        let first = send(s, std::slice::from_ref(&e)).await;
        let again = send(s, &[e.clone(), e]).await;
        let member = accepted(&first[0]).member_id;
        assert!(matches!(&again[0], EventResult::Duplicate(o) if o.member_id == member));
        assert!(matches!(&again[1], EventResult::Duplicate(o) if o.member_id == member));
        let m = s.member(member).await.unwrap().unwrap();
        assert_eq!(m.facts.likes, 1);
        assert_eq!(s.timeline(member, None, 10).await.unwrap().0.len(), 1);
    }
}

#[tokio::test]
async fn accounts_of_one_person_merge_across_batches_and_the_old_id_resolves() {
    for db in databases().await {
        let s = &db.store;
        let shop = accepted(
            &send(
                s,
                &[purchase(
                    "a",
                    30,
                    json!({"tmall_nick": "yantao", "phone": "13800138000"}),
                    "T1",
                    "10",
                )],
            )
            .await[0],
        )
        .member_id;
        let weibo = accepted(
            &send(
                s,
                &[event(
                    "b",
                    "like",
                    20,
                    json!({"weibo_uid": "sanshou"}),
                    json!({}),
                )],
            )
            .await[0],
        )
        .member_id;
        assert_ne!(shop, weibo);
        let bound = send(
            s,
            &[event(
                "c",
                "follow",
                10,
                json!({"weibo_uid": "sanshou", "phone": "+86 138 0013 8000"}),
                json!({}),
            )],
        )
        .await;
        assert_eq!(accepted(&bound[0]).member_id, shop);
        let survivor = s.member(weibo).await.unwrap().unwrap();
        assert_eq!(survivor.id, shop);
        assert_eq!(survivor.facts.likes, 1);
        assert_eq!(survivor.facts.purchase_count(), 1);
        let kinds: Vec<_> = survivor.identities.iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            [
                IdentityKind::Phone,
                IdentityKind::WeiboUid,
                IdentityKind::TmallNick
            ]
        );
        let (timeline, _) = s.timeline(shop, None, 10).await.unwrap();
        assert_eq!(
            timeline
                .iter()
                .map(|e| e.event_id.as_str())
                .collect::<Vec<_>>(),
            ["c", "b", "a"]
        );
        let merges = s.merges_into(shop).await.unwrap();
        assert_eq!(merges.len(), 1);
        assert!(
            merges[0].explanation.contains("weibo_uid:sanshou"),
            "{}",
            merges[0].explanation
        );
        // A refund for an order of the merged-in history still finds it.
        send(
            s,
            &[event(
                "d",
                "refund",
                5,
                json!({"weibo_uid": "sanshou"}),
                json!({"order_id": "T1", "amount": "10"}),
            )],
        )
        .await;
        assert_eq!(
            s.member(shop)
                .await
                .unwrap()
                .unwrap()
                .facts
                .purchase_count(),
            0
        );
    }
}

#[tokio::test]
async fn a_refused_merge_is_listed_as_an_open_conflict() {
    for db in databases().await {
        let s = &db.store;
        send(
            s,
            &[event(
                "a",
                "follow",
                3,
                json!({"phone": "13800138000", "wechat_openid": "oA"}),
                json!({}),
            )],
        )
        .await;
        send(
            s,
            &[event(
                "b",
                "follow",
                2,
                json!({"phone": "13900139000", "weibo_uid": "w"}),
                json!({}),
            )],
        )
        .await;
        send(
            s,
            &[event(
                "c",
                "like",
                1,
                json!({"wechat_openid": "oA", "weibo_uid": "w"}),
                json!({}),
            )],
        )
        .await;
        let conflicts = s.conflicts(Some("open"), 0, 10).await.unwrap();
        assert_eq!(conflicts.len(), 1, "the same disagreement is recorded once");
        assert_eq!(conflicts[0].kind, "phone");
        assert_eq!(conflicts[0].values, ["+8613800138000", "+8613900139000"]);
        let [a, b] = conflicts[0].member_ids[..] else {
            panic!()
        };
        // A person decides: they are one member after all.
        let policies = Policies::default();
        let rules = policies.rules();
        let merged = s
            .merge_members(a, b, &admin(), "same person", &rules, now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(merged.identities.len(), 4);
        assert!(s.conflicts(Some("open"), 0, 10).await.unwrap().is_empty());
        assert_eq!(s.conflicts(Some("merged"), 0, 10).await.unwrap().len(), 1);
        assert_eq!(s.member(b).await.unwrap().unwrap().id, a);
    }
}

#[tokio::test]
async fn a_batch_with_a_rejected_event_writes_nothing_when_all_or_nothing() {
    for db in databases().await {
        let s = &db.store;
        send(
            s,
            &[purchase("p1", 5, json!({"card_no": "C1"}), "O1", "10")],
        )
        .await;
        let policies = Policies::default();
        let rules = policies.rules();
        let batch = [
            event("x", "like", 1, json!({"card_no": "C2"}), json!({})),
            purchase("p2", 1, json!({"card_no": "C1"}), "O1", "5"),
        ];
        let results = s
            .ingest(&batch, &rules, AsOf::At(now()), IngestMode::AllOrNothing)
            .await
            .unwrap();
        assert!(
            matches!(&results[1], EventResult::Rejected(r) if r.code == flywheel_core::ErrorCode::OrderExists)
        );
        assert!(
            s.lookup(&flywheel_core::Identity {
                kind: IdentityKind::CardNo,
                value: "C2".into()
            })
            .await
            .unwrap()
            .is_none()
        );
    }
}

#[tokio::test]
async fn referrals_convert_when_the_invitee_first_buys_in_a_later_batch() {
    for db in databases().await {
        let s = &db.store;
        let inviter = json!({"phone": "13800138000"});
        for (i, d) in [40, 30, 20].into_iter().enumerate() {
            send(
                s,
                &[purchase(
                    &format!("p{i}"),
                    d,
                    inviter.clone(),
                    &format!("O{i}"),
                    "30",
                )],
            )
            .await;
        }
        let me = s
            .lookup(&flywheel_core::Identity {
                kind: IdentityKind::Phone,
                value: "+8613800138000".into(),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.member(me).await.unwrap().unwrap().stage, Stage::Weak);
        send(
            s,
            &[event(
                "r",
                "referral",
                10,
                json!({"phone": "13900139000"}),
                json!({"referrer": inviter}),
            )],
        )
        .await;
        send(
            s,
            &[purchase(
                "q",
                5,
                json!({"phone": "13900139000"}),
                "Q1",
                "12",
            )],
        )
        .await;
        let m = s.member(me).await.unwrap().unwrap();
        assert_eq!((m.stage, m.lens), (Stage::SuperStrong, Lens::Iron));
        let moves: Vec<_> = s
            .transitions(me)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.from, t.to, t.rule))
            .collect();
        assert_eq!(
            moves.last().unwrap(),
            &(
                "weak".to_string(),
                "super_strong".to_string(),
                "super_strong".to_string()
            )
        );
    }
}

#[tokio::test]
async fn timelines_page_newest_first() {
    for db in databases().await {
        let s = &db.store;
        let who = json!({"app_user_id": "u"});
        let events: Vec<Event> = (0..5)
            .map(|i| event(&format!("e{i}"), "visit", 10 - i, who.clone(), json!({})))
            .collect();
        let member = accepted(&send(s, &events).await[0]).member_id;
        let (page1, next) = s.timeline(member, None, 2).await.unwrap();
        assert_eq!(
            page1
                .iter()
                .map(|e| e.event_id.as_str())
                .collect::<Vec<_>>(),
            ["e4", "e3"]
        );
        let (page2, next) = s.timeline(member, next.as_ref(), 2).await.unwrap();
        assert_eq!(
            page2
                .iter()
                .map(|e| e.event_id.as_str())
                .collect::<Vec<_>>(),
            ["e2", "e1"]
        );
        let (page3, next) = s.timeline(member, next.as_ref(), 2).await.unwrap();
        assert_eq!((page3.len(), next), (1, None::<TimelineCursor>));
    }
}

#[tokio::test]
async fn the_sweep_demotes_members_as_time_passes() {
    for db in databases().await {
        let s = &db.store;
        let who = json!({"card_no": "C"});
        let evs: Vec<Event> = (0..3)
            .map(|i| {
                purchase(
                    &format!("p{i}"),
                    170 - i,
                    who.clone(),
                    &format!("O{i}"),
                    "9",
                )
            })
            .collect();
        let member = accepted(&send(s, &evs).await[2]).member_id;
        assert_eq!(s.member(member).await.unwrap().unwrap().stage, Stage::Weak);
        let policy = StagePolicy::default();
        let nothing_due = s.sweep(&policy, now(), false).await.unwrap();
        assert_eq!(nothing_due.changed, 0);
        let report = s.sweep(&policy, now() + 30 * DAY, false).await.unwrap();
        assert_eq!((report.examined, report.changed), (1, 1));
        let m = s.member(member).await.unwrap().unwrap();
        assert_eq!(m.stage, Stage::Micro);
        let last = s.transitions(member).await.unwrap().pop().unwrap();
        assert_eq!(
            (last.rule.as_str(), last.event_id),
            ("cap:silent_180d", None)
        );
    }
}

/// More members due than one chunk of the sweep holds, all due at the same instant: the
/// sweep's cursor must visit each of them exactly once across the chunk boundary.
#[tokio::test]
async fn the_sweep_visits_each_due_member_once_across_chunks() {
    for db in databases().await {
        let s = &db.store;
        let evs: Vec<Event> = (0..2100)
            .map(|i| {
                let who = json!({"card_no": format!("C{i}")});
                purchase(&format!("p{i}"), 170, who, &format!("O{i}"), "9")
            })
            .collect();
        send(s, &evs).await;
        let policy = StagePolicy::default();
        let later = now() + 30 * DAY;
        let report = s.sweep(&policy, later, false).await.unwrap();
        assert_eq!(report.examined, 2100);
        let again = s.sweep(&policy, later, false).await.unwrap();
        assert_eq!(again.examined, 0);
    }
}

#[tokio::test]
async fn counts_per_stage_and_lens_leave_out_merged_members() {
    for db in databases().await {
        let s = &db.store;
        send(
            s,
            &[event(
                "a",
                "like",
                3,
                json!({"phone": "13800138000"}),
                json!({}),
            )],
        )
        .await;
        send(
            s,
            &[event("b", "visit", 2, json!({"weibo_uid": "w"}), json!({}))],
        )
        .await;
        send(
            s,
            &[event(
                "c",
                "follow",
                1,
                json!({"weibo_uid": "w", "phone": "13800138000"}),
                json!({}),
            )],
        )
        .await;
        send(
            s,
            &[event(
                "d",
                "visit",
                1,
                json!({"email": "x@y.cn"}),
                json!({}),
            )],
        )
        .await;
        let counts = s.stage_counts().await.unwrap();
        assert_eq!(counts.total, 2);
        assert_eq!(counts.stages.get("micro"), Some(&1));
        assert_eq!(counts.stages.get("none"), Some(&1));
        assert_eq!(counts.lenses.get("sticky"), Some(&1));
    }
}

#[tokio::test]
async fn concurrent_batches_naming_one_new_person_create_one_member() {
    for db in databases().await {
        let s = db.store.clone();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let e = event(
                    &format!("c{i}"),
                    "like",
                    1,
                    json!({"phone": "13700137000", "app_user_id": format!("u{i}")}),
                    json!({}),
                );
                send(&s, &[e]).await
            }));
        }
        let mut members = std::collections::BTreeSet::new();
        for t in tasks {
            members.insert(accepted(&t.await.unwrap()[0]).member_id);
        }
        assert_eq!(members.len(), 1, "every event landed on one member");
        let m = s
            .member(*members.iter().next().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.facts.likes, 8);
        assert_eq!(m.identities.len(), 9);
    }
}

#[tokio::test]
async fn keys_are_found_by_hash_until_revoked() {
    for db in databases().await {
        let s = &db.store;
        let id = s
            .create_key(
                "h1",
                "fw_abcd",
                flywheel_core::auth::Role::Staff,
                "till 3",
                now(),
                &AuditActor::cli(),
            )
            .await
            .unwrap();
        assert_eq!(
            s.find_key("h1").await.unwrap().unwrap().role,
            flywheel_core::auth::Role::Staff
        );
        assert!(s.revoke_key(id, now(), &admin()).await.unwrap());
        assert!(!s.revoke_key(id, now(), &admin()).await.unwrap());
        assert!(s.find_key("h1").await.unwrap().is_none());
        assert_eq!(s.list_keys().await.unwrap().len(), 1);
        // Both changes are in the audit log, newest first, with who and before/after.
        let query = AuditQuery {
            kind: Some("api_key".into()),
            limit: 10,
            ..AuditQuery::default()
        };
        let log = s.audit(&query).await.unwrap();
        let actions: Vec<(&str, &str)> = log
            .iter()
            .map(|r| (r.action.as_str(), r.actor.as_str()))
            .collect();
        assert_eq!(actions, [("revoke", "key:1"), ("create", "cli")]);
        assert_eq!(log[0].actor_key_id, Some(1));
        assert_eq!(log[0].before.as_ref().unwrap()["revoked_at"], Value::Null);
        assert!(log[0].after.as_ref().unwrap()["revoked_at"].is_string());
        assert_eq!(log[1].after.as_ref().unwrap()["label"], "till 3");
        let by_actor = AuditQuery {
            actor: Some("cli".into()),
            limit: 10,
            ..AuditQuery::default()
        };
        assert_eq!(s.audit(&by_actor).await.unwrap().len(), 1);
        let paged = AuditQuery {
            before_id: Some(log[0].id),
            limit: 10,
            ..AuditQuery::default()
        };
        assert_eq!(s.audit(&paged).await.unwrap()[0].id, log[1].id);
    }
}

/// An admin key, as the API names it in the audit log.
fn admin() -> AuditActor {
    AuditActor {
        reference: "key:1".into(),
        key_id: Some(1),
        name: "ops admin".into(),
    }
}

#[tokio::test]
async fn single_events_queued_together_commit_together_and_each_gets_its_own_answer() {
    for db in databases().await {
        let queue = EventQueue::start(db.store.clone(), Arc::new(Policy::default()));
        // Two purchases by each of 40 people, one event sent three times, and another
        // event naming an order that is already taken.
        let mut events = Vec::new();
        for i in 0..40 {
            let who = json!({"phone": format!("1390000{i:04}")});
            for leg in ["a", "b"] {
                let id = format!("g{i}-{leg}");
                events.push(purchase(&id, 1, who.clone(), &format!("GO-{id}"), "10.00"));
            }
        }
        for _ in 0..3 {
            events.push(purchase(
                "same",
                1,
                json!({"card_no": "S1"}),
                "GO-same",
                "5.00",
            ));
        }
        events.push(purchase(
            "late",
            1,
            json!({"card_no": "L1"}),
            "GO-g0-a",
            "7.00",
        ));
        let total = events.len() as u64;
        // On the test's single thread every submission is queued before the worker runs.
        let waiting: Vec<_> = events
            .into_iter()
            .map(|e| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.submit(e, now()).await.unwrap() })
            })
            .collect();
        let mut answers = Vec::new();
        for w in waiting {
            answers.push(w.await.unwrap());
        }

        for i in 0..40 {
            let (a, b) = (accepted(&answers[2 * i]), accepted(&answers[2 * i + 1]));
            assert_eq!(a.member_id, b.member_id, "person {i}: one member");
            let m = db.store.member(a.member_id).await.unwrap().unwrap();
            assert_eq!(m.facts.orders, 2, "person {i}: both purchases counted");
        }
        let first = accepted(&answers[80]).member_id;
        for again in &answers[81..83] {
            assert!(
                matches!(again, EventResult::Duplicate(o) if o.member_id == first),
                "{again:?}"
            );
        }
        assert!(
            matches!(&answers[83], EventResult::Rejected(r) if r.code == flywheel_core::ErrorCode::OrderExists),
            "{:?}",
            answers[83]
        );
        let (transactions, answered) = queue.counts();
        assert_eq!(answered, total);
        assert!(
            transactions < total / 4,
            "{transactions} transactions for {total} events: the queue did not group them"
        );
    }
}

/// Stage flows by period, read from the daily aggregate and the transitions at the
/// periods' ends, count what each member's own stage history says — for calendar months
/// ending now and for bounds that fall anywhere in a day.
#[tokio::test]
async fn stage_flows_by_period_agree_with_every_members_history() {
    use flywheel_core::time::{SECOND, month_bounds};
    for db in databases().await {
        let s = &db.store;
        let mut evs = Vec::new();
        for person in 0..24_i64 {
            let who = json!({"card_no": format!("F{person}")});
            // Purchases spread over 200 days, at hours of the day that vary.
            for k in 0..(1 + person % 5) {
                let at = now() - (200 - person * 7 - k * 11) * DAY
                    + (person * 3 + k) % 24 * 3600 * SECOND;
                let id = format!("f{person}-{k}");
                evs.push(event_at(&id, "purchase", at, who.clone(),
                    json!({"order_id": id, "amount": "30", "items": [{"sku": "LATTE", "category": "coffee"}]})));
            }
        }
        evs.sort_by_key(|e| e.occurred_at);
        let policies = Policies::default();
        let rules = policies.rules();
        // In two batches, so both the first day's rows and later additions to a day
        // already counted are exercised.
        let (early, late) = evs.split_at(evs.len() / 2);
        let mut members = std::collections::BTreeSet::new();
        for part in [early, late] {
            for r in s
                .ingest(part, &rules, AsOf::EventTime(0), IngestMode::SkipRejected)
                .await
                .unwrap()
            {
                members.insert(accepted(&r).member_id);
            }
        }
        // Time passes: the sweep demotes the silent at its own instants.
        for later in [
            now() + 40 * DAY + 5 * 3600 * SECOND,
            now() + 130 * DAY + 77 * SECOND,
        ] {
            s.sweep(&policies.stages, later, false).await.unwrap();
        }
        let mut history = Vec::new();
        for m in &members {
            history.extend(s.transitions(*m).await.unwrap());
        }
        assert!(history.len() > 30, "{} transitions", history.len());
        let end = now() + 150 * DAY + 3 * 3600 * SECOND;
        let bound_sets = [
            month_bounds(end, 12),
            vec![
                now() - 190 * DAY + 17,
                now() - 100 * DAY + 5 * 3600 * SECOND,
                now() - 99 * DAY - 1,
                now() + 41 * DAY,
                end,
            ],
            vec![
                now() + 40 * DAY,
                now() + 40 * DAY + 5 * 3600 * SECOND - 1,
                now() + 40 * DAY + 5 * 3600 * SECOND + 1,
            ],
        ];
        for bounds in bound_sets {
            let flows = s.stage_flows(&bounds).await.unwrap();
            for (i, pair) in bounds.windows(2).enumerate() {
                let mut expected = flywheel_store::FlowCounts::new();
                for t in history.iter().filter(|t| t.at >= pair[0] && t.at < pair[1]) {
                    *expected.entry((t.from.clone(), t.to.clone())).or_default() += 1;
                }
                assert_eq!(flows[i], expected, "period {i} of {bounds:?}");
            }
        }
    }
}
