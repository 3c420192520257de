//! The ingest engine's property: random groups written behind, at random flush sizes,
//! with the process "crashing" between random groups and other writers (points
//! adjustments, the stage sweep) running between others, leave the tables exactly as
//! the same groups and commands written through do.
//!
//! A crash here drops the store with plans still waiting in memory — what a killed
//! process loses — and opens the database again, which replays the event log's
//! unapplied tail. (Crashes inside a flush or a commit are the CLI's crash tests,
//! `crates/flywheel/tests/crash.rs`, which abort a real process at named points.)

use flywheel_core::event::parse_event;
use flywheel_core::time::{DAY, parse_rfc3339};
use flywheel_core::{Event, Policy};
use flywheel_store::{
    AdjustRequest, AsOf, AuditActor, EngineOptions, EventResult, IngestMode, Store,
};
use serde_json::{Value, json};
use std::time::Duration;

/// A small, seeded generator (xorshift64*): every case can be run again from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One group: the clock it is applied at and its events.
struct Group {
    clock: i64,
    events: Vec<Event>,
}

/// Identities of person `p`: a phone (unique), a card and a Tmall nick, some of them.
/// Now and then an identity of another person rides along, which merges the two — or,
/// when both hold phones, is held as a conflict.
fn who(rng: &mut Rng, people: u64) -> Value {
    let p = rng.below(people);
    let mut ids = serde_json::Map::new();
    match rng.below(4) {
        0 => {
            ids.insert("phone".into(), json!(format!("1380013{p:04}")));
        }
        1 => {
            ids.insert("card_no".into(), json!(format!("C{p}")));
        }
        2 => {
            ids.insert("phone".into(), json!(format!("1380013{p:04}")));
            ids.insert("card_no".into(), json!(format!("C{p}")));
        }
        _ => {
            ids.insert("tmall_nick".into(), json!(format!("nick{p}")));
        }
    }
    if rng.chance(8) {
        let other = rng.below(people);
        let kind = if rng.chance(50) {
            "tmall_nick"
        } else {
            "card_no"
        };
        let value = if kind == "card_no" {
            format!("C{other}")
        } else {
            format!("nick{other}")
        };
        ids.insert(kind.into(), json!(value));
    }
    Value::Object(ids)
}

fn random_groups(rng: &mut Rng, policy: &Policy) -> Vec<Group> {
    let start = parse_rfc3339("2026-03-01T00:00:00Z").unwrap();
    let people = 6 + rng.below(20);
    let mut orders: Vec<String> = Vec::new();
    let mut sent: Vec<Value> = Vec::new();
    let mut clock = start;
    let mut n = 0;
    let mut groups = Vec::new();
    for _ in 0..10 + rng.below(25) {
        // Clocks go forward by hours to weeks, so lots mature and expire along the way.
        clock += (1 + rng.below(24 * 20) as i64) * DAY / 24;
        let mut events = Vec::new();
        for _ in 0..1 + rng.below(12) {
            // A retry of something sent before: a duplicate, whatever was flushed.
            if !sent.is_empty() && rng.chance(10) {
                let raw = &sent[rng.below(sent.len() as u64) as usize];
                events.push(parse_event(raw, &policy.parse_context(clock)).unwrap());
                continue;
            }
            n += 1;
            let at = flywheel_core::time::to_rfc3339(clock - rng.below(DAY as u64) as i64);
            let (kind, properties) = match rng.below(10) {
                0..=3 => {
                    let order = format!("O{n}");
                    orders.push(order.clone());
                    let amount = format!("{}.{:02}", 5 + rng.below(400), rng.below(100));
                    ("purchase", json!({"order_id": order, "amount": amount}))
                }
                4 if !orders.is_empty() => {
                    let order = &orders[rng.below(orders.len() as u64) as usize];
                    let amount = format!("{}.00", 1 + rng.below(30));
                    ("refund", json!({"order_id": order, "amount": amount}))
                }
                5 => ("referral", json!({"referrer": who(rng, people)})),
                6 => ("check_in", json!({})),
                7 => ("share", json!({})),
                _ => ("like", json!({})),
            };
            let raw = json!({"event_id": format!("e{n}"), "type": kind, "occurred_at": at,
                             "channel": "store", "identities": who(rng, people),
                             "properties": properties});
            events.push(parse_event(&raw, &policy.parse_context(clock)).unwrap());
            sent.push(raw);
        }
        groups.push(Group { clock, events });
    }
    groups
}

async fn send(store: &Store, policy: &Policy, group: &Group) -> Vec<EventResult> {
    store
        .ingest(
            &group.events,
            &policy.rules(),
            AsOf::At(group.clock),
            IngestMode::SkipRejected,
        )
        .await
        .unwrap()
}

/// What runs before a group besides ingest: another writer in the same process.
#[derive(Clone, Copy)]
enum Other {
    /// Adjust the points of the member of the `pick`-th answer so far (debits may be
    /// refused: both runs must refuse alike).
    Adjust { pick: u64, points: i64 },
    /// The stage sweep at the group's clock.
    Sweep,
}

fn random_others(rng: &mut Rng, groups: usize) -> Vec<Vec<Other>> {
    (0..groups)
        .map(|_| {
            let mut others = Vec::new();
            if rng.chance(20) {
                let points = rng.below(300) as i64 - 100;
                others.push(Other::Adjust {
                    pick: rng.next(),
                    points,
                });
            }
            if rng.chance(10) {
                others.push(Other::Sweep);
            }
            others
        })
        .collect()
}

/// Runs `others` before group `g`, answering each as text to compare between runs.
async fn run_others(
    store: &Store,
    policy: &Policy,
    others: &[Other],
    g: usize,
    clock: i64,
    answered: &[Vec<EventResult>],
) -> Vec<String> {
    let members: Vec<i64> = answered
        .iter()
        .flatten()
        .filter_map(|r| match r {
            EventResult::Accepted(o) => Some(o.member_id),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for (i, other) in others.iter().enumerate() {
        match *other {
            Other::Adjust { pick, points } if !members.is_empty() && points != 0 => {
                let request = AdjustRequest {
                    member_id: members[(pick % members.len() as u64) as usize],
                    points,
                    reason: "goodwill".into(),
                    programme: "points".into(),
                    idempotency_key: format!("adjust-{g}-{i}"),
                    actor: AuditActor::cli(),
                };
                let answer = store.adjust_points(&request, &policy.points, clock).await;
                out.push(format!("{answer:?}"));
            }
            Other::Adjust { .. } => {}
            Other::Sweep => {
                let report = store.sweep(&policy.stages, clock, false).await.unwrap();
                out.push(format!("swept {}", report.changed));
            }
        }
    }
    out
}

async fn dump(store: &Store) -> String {
    let mut out = Vec::new();
    store.dump_canonical(&mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

/// Opens the database and starts the engine writing behind, replaying what the log
/// holds unapplied. A store just dropped may still be letting go of the lease.
async fn open_behind(
    url: &str,
    policy: &Policy,
    (flush_rows, slice_rows): (usize, usize),
    cache: usize,
) -> Store {
    for _ in 0..100 {
        let store = Store::open(url).await.unwrap();
        // An odd bound in members comes with a budget in bytes tight enough to evict by.
        let bytes = if cache % 2 == 1 {
            cache * 1500
        } else {
            usize::MAX
        };
        store.set_member_cache(cache, bytes).await;
        let options = EngineOptions {
            write_behind: true,
            flush_rows,
            slice_rows,
        };
        if store.start_engine(policy, options).await.unwrap() {
            return store;
        }
        store.close().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the engine's lease was never let go");
}

#[tokio::test]
async fn random_groups_written_behind_through_crashes_leave_the_tables_written_through() {
    let policy = Policy::default();
    // Four fixed cases in every run; `FLYWHEEL_ENGINE_CASES=N` adds N more from the
    // clock, to search for a failing one (a failure names its seed).
    let mut seeds = vec![0x5eed_0001_u64, 0xdead_beef, 0x0123_4567_89ab, 0x7777_1111];
    let more: u64 = std::env::var("FLYWHEEL_ENGINE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut clock = Rng(std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos() as u64 | 1);
    seeds.extend((0..more).map(|_| clock.next() | 1));
    for seed in seeds {
        let mut rng = Rng(seed);
        let groups = random_groups(&mut rng, &policy);
        let flush_rows = 1 + rng.below(150) as usize;
        let slice_rows = 1 + rng.below(80) as usize;
        let cache = if rng.chance(50) {
            0
        } else {
            5 + rng.below(40) as usize
        };
        let crash_percent = 10 + rng.below(30);
        let crashes_at: Vec<bool> = groups.iter().map(|_| rng.chance(crash_percent)).collect();
        let others = random_others(&mut rng, groups.len());
        let case = format!(
            "seed {seed:#x}: {} groups, {} events, flush at {flush_rows} rows in slices of {slice_rows}, cache {cache}, {} crashes",
            groups.len(),
            groups.iter().map(|g| g.events.len()).sum::<usize>(),
            crashes_at.iter().filter(|&&c| c).count()
        );

        let references = flywheel_testkit::databases().await;
        let behinds = flywheel_testkit::databases().await;
        for (reference, behind) in references.zip(behinds) {
            let through = reference.open().await;
            let mut answers = Vec::new();
            let mut other_answers = Vec::new();
            for (g, group) in groups.iter().enumerate() {
                let done = run_others(&through, &policy, &others[g], g, group.clock, &answers);
                other_answers.push(done.await);
                answers.push(send(&through, &policy, group).await);
            }
            let expected = dump(&through).await;
            through.close().await;

            let mut store =
                open_behind(&behind.url, &policy, (flush_rows, slice_rows), cache).await;
            for (g, ((group, crash), answered)) in
                groups.iter().zip(&crashes_at).zip(&answers).enumerate()
            {
                let done = run_others(&store, &policy, &others[g], g, group.clock, &answers[..g]);
                assert_eq!(
                    done.await,
                    other_answers[g],
                    "{case}: other writers before group {g}"
                );
                let got = send(&store, &policy, group).await;
                // Acknowledged the same, duplicates included, whatever waits in memory.
                assert_eq!(&got, answered, "{case}: answers at clock {}", group.clock);
                if *crash {
                    drop(store);
                    store =
                        open_behind(&behind.url, &policy, (flush_rows, slice_rows), cache).await;
                }
            }
            // Every event again: all duplicates, flushed or not.
            for group in &groups {
                for r in send(&store, &policy, group).await {
                    assert!(matches!(r, EventResult::Duplicate(_)), "{case}: {r:?}");
                }
            }
            store.settle().await.unwrap();
            let books = store.trial_balance(true).await.unwrap();
            assert_eq!(books.total, 0, "{case}");
            assert_eq!(books.mismatched_accounts, Some(vec![]), "{case}");
            let got = dump(&store).await;
            store.close().await;
            if got != expected {
                let first = expected
                    .lines()
                    .zip(got.lines())
                    .find(|(a, b)| a != b)
                    .map(|(a, b)| format!("\n  written through: {a}\n  written behind:  {b}"))
                    .unwrap_or_else(|| "one dump is longer".into());
                panic!("{case}: the tables differ{first}");
            }
        }
    }
}

#[tokio::test]
async fn a_process_without_the_lease_takes_it_over_when_the_holder_dies_and_replays_its_log() {
    let policy = Policy::default();
    let groups = random_groups(&mut Rng(0x7a4e_0fe2), &policy);
    let half = groups.len() / 2;
    let references = flywheel_testkit::databases().await;
    let shared = flywheel_testkit::databases().await;
    for (reference, db) in references.zip(shared) {
        let through = reference.open().await;
        let mut answers = Vec::new();
        for group in &groups {
            answers.push(send(&through, &policy, group).await);
        }
        let expected = dump(&through).await;
        through.close().await;

        // The holder writes behind and never fills a flush; a second process writes
        // through beside it.
        let holder = open_behind(&db.url, &policy, (1_000_000, 500), 0).await;
        let other = Store::open(&db.url).await.unwrap();
        let took = other
            .start_engine(&policy, EngineOptions::default())
            .await
            .unwrap();
        assert!(!took, "the lease is the holder's");
        for (group, answered) in groups[..half].iter().zip(&answers) {
            assert_eq!(&send(&holder, &policy, group).await, answered);
        }
        // The holder dies with plans waiting: the other process takes the lease over,
        // replays the log, and its own writes go on.
        drop(holder);
        for (group, answered) in groups[half..].iter().zip(&answers[half..]) {
            assert_eq!(&send(&other, &policy, group).await, answered);
        }
        let got = dump(&other).await;
        other.close().await;
        assert!(
            got == expected,
            "the tables differ from those written through"
        );
    }
}

#[tokio::test]
async fn only_the_lease_holder_may_work_alone() {
    let policy = Policy::default();
    for db in flywheel_testkit::databases().await {
        let holder = Store::open(&db.url).await.unwrap();
        let other = Store::open(&db.url).await.unwrap();
        // Before the engine starts nobody holds the lease.
        assert!(!holder.work_alone());
        assert!(
            holder
                .start_engine(&policy, EngineOptions::default())
                .await
                .unwrap()
        );
        assert!(
            !other
                .start_engine(&policy, EngineOptions::default())
                .await
                .unwrap()
        );
        assert!(holder.work_alone(), "the holder serves nobody else");
        assert!(
            !other.work_alone(),
            "a process beside the holder may have requests waiting"
        );
        // The holder's passes, now in their largest slices, still do their work.
        let now = parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
        holder.sweep(&policy.stages, now, true).await.unwrap();
        holder.sweep_points(now).await.unwrap();
        holder.sweep_segments(now).await.unwrap();
        other.close().await;
        holder.close().await;
    }
}
