//! The demo's people and what they do, as a stream of events in time order.
//!
//! Each person has a value drawn from a Pareto distribution (a few heavy buyers carry
//! most of the spend), a rhythm (mean days between visits, shorter for heavier buyers),
//! a favourite product (repeat purchases), a set of channels, and a day they go quiet.
//! Identities overlap the way they do in a real brand: the shop and the mini-program
//! both know the phone; a Weibo account is anonymous until it is bound to the phone; a
//! family tablet occasionally names a spouse's phone (a conflict to decide).
//!
//! A priority queue of scheduled actions yields events in time order without holding
//! the history in memory, so a million members fit in a few hundred megabytes.
//! Everything is drawn from one seeded RNG in queue order: the same seed and end date
//! give the same events.

use super::catalog::{
    CITIES, DEMO_GROUPS, FEEDBACK_CATEGORIES, GIVEN, OCCUPATIONS, PRODUCTS, STORES_PER_CITY,
    SUGGESTIONS, SURNAMES,
};
use super::memberships::{MAX_POINTS_SHARE, PAID_TIERS};
use flywheel_core::time::{DAY, Micros, SECOND, to_rfc3339};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

const SHOP_CHANNELS: [&str; 6] = ["tmall", "jd", "store", "mini_program", "app", "douyin"];
const PHONE_PREFIXES: [&str; 14] = [
    "135", "136", "137", "138", "139", "150", "151", "152", "158", "159", "186", "187", "188",
    "189",
];

struct Person {
    start: Micros,
    quiet_from: Micros,
    /// Mean days between two activities.
    rhythm_days: f64,
    buy_share: f64,
    engagement: f64,
    favourite: usize,
    channels: Vec<&'static str>,
    city: usize,
    referrer: Option<u32>,
    weibo: bool,
    weibo_bound: bool,
    mini_registered: bool,
    seq: u32,
    orders: u32,
    /// The paid tier held as far as the person's own purchases and spend say (an index
    /// into `PAID_TIERS`; none: never bought one), and its current term: renewals and
    /// upgrades follow it.
    tier: Option<usize>,
    term: (Micros, Micros),
    /// Net spend (fen) in that term, which raises the tier.
    term_spend: i64,
    /// The end of a next term renewed ahead.
    renewed_until: Option<Micros>,
    /// Recent orders' sequence numbers and times, for refunds to find their term.
    recent_orders: VecDeque<(u32, Micros)>,
}

impl Person {
    /// Past the end of a term renewed ahead, the next term has begun.
    fn roll_term(&mut self, at: Micros) {
        if at >= self.term.1
            && let Some(until) = self.renewed_until.take()
        {
            self.term = (self.term.1, until);
            self.term_spend = 0;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Start,
    Activity,
    Refund {
        order_seq: u32,
        amount: i64,
    },
    /// Shortly before the paid term ends: renew it, or let it run out.
    Renew,
    Resolve {
        complaint_seq: u32,
    },
    BindWeibo,
    FamilyTablet,
}

pub struct Generator {
    rng: StdRng,
    seed: u64,
    end: Micros,
    people: Vec<Person>,
    /// Indexes of the everyday products (drinks, pastries): most order lines.
    cheap: Vec<usize>,
    queue: BinaryHeap<Reverse<(Micros, u64, u32, Action)>>,
    order: u64,
    ready: VecDeque<Value>,
}

impl Generator {
    /// `members` people whose history runs over the two years before `end`.
    pub fn new(seed: u64, members: u32, end: Micros) -> Generator {
        let mut rng = StdRng::seed_from_u64(seed);
        let start = end - 730 * DAY;
        let mut people = Vec::with_capacity(members as usize);
        for _ in 0..members {
            // More people join as the brand grows: start ~ sqrt(u) over two years.
            let joined = start + (rng.random::<f64>().sqrt() * 730.0 * DAY as f64) as Micros;
            let value = (1.0 / (1.0 - rng.random::<f64>()).powf(1.0 / 1.16)).min(60.0);
            let quiet_after_days = -rng.random::<f64>().max(1e-9).ln() * 500.0;
            let mut channels = vec![SHOP_CHANNELS[rng.random_range(0..SHOP_CHANNELS.len())]];
            for c in SHOP_CHANNELS {
                if !channels.contains(&c) && rng.random::<f64>() < 0.18 {
                    channels.push(c);
                }
            }
            people.push(Person {
                start: joined,
                quiet_from: joined + (quiet_after_days * DAY as f64) as Micros,
                rhythm_days: (60.0 / value.powf(0.8)).clamp(2.0, 120.0),
                buy_share: 0.3 + 0.35 * (value / 8.0).min(1.0),
                engagement: (rng.random::<f64>().powi(2) + value / 30.0).min(1.0),
                favourite: rng.random_range(0..PRODUCTS.len()),
                channels,
                city: rng.random_range(0..CITIES.len()),
                referrer: None,
                weibo: rng.random::<f64>() < 0.25,
                weibo_bound: false,
                mini_registered: false,
                seq: 0,
                orders: 0,
                tier: None,
                term: (0, 0),
                term_spend: 0,
                renewed_until: None,
                recent_orders: VecDeque::new(),
            });
        }
        // One in ten people was invited by someone who joined before them.
        let mut by_start: Vec<u32> = (0..members).collect();
        by_start.sort_by_key(|&i| (people[i as usize].start, i));
        for pos in 1..by_start.len() {
            if rng.random::<f64>() < 0.10 {
                let inviter = by_start[rng.random_range(0..pos)];
                people[by_start[pos] as usize].referrer = Some(inviter);
            }
        }
        let mut g = Generator {
            rng,
            seed,
            end,
            people,
            cheap: PRODUCTS
                .iter()
                .enumerate()
                .filter(|(_, p)| p.price < 3000)
                .map(|(i, _)| i)
                .collect(),
            queue: BinaryHeap::new(),
            order: 0,
            ready: VecDeque::new(),
        };
        for i in 0..members {
            let at = g.people[i as usize].start;
            g.schedule(at, i, Action::Start);
        }
        g
    }

    fn schedule(&mut self, at: Micros, person: u32, action: Action) {
        if at < self.end {
            self.order += 1;
            self.queue.push(Reverse((at, self.order, person, action)));
        }
    }

    fn next_activity(&mut self, person: u32, after: Micros) {
        let p = &self.people[person as usize];
        let gap = -self.rng.random::<f64>().max(1e-9).ln() * p.rhythm_days;
        let at = after + (gap * DAY as f64) as Micros + self.rng.random_range(0..3_600_000_000);
        if at < p.quiet_from {
            self.schedule(at, person, Action::Activity);
        }
    }

    fn phone(&self, person: u32) -> String {
        format!(
            "{}{:08}",
            PHONE_PREFIXES[person as usize % PHONE_PREFIXES.len()],
            person
        )
    }

    /// The identities a channel knows for a person; shops know the phone on orders.
    fn identities(&self, person: u32, channel: &str, buying: bool) -> Value {
        let p = &self.people[person as usize];
        let phone = self.phone(person);
        match channel {
            "tmall" if buying => json!({"tmall_nick": format!("tb_{person:x}"), "phone": phone}),
            "tmall" => json!({"tmall_nick": format!("tb_{person:x}")}),
            "jd" if buying => json!({"jd_pin": format!("jd_{person}"), "phone": phone}),
            "jd" => json!({"jd_pin": format!("jd_{person}")}),
            "store" => json!({"card_no": format!("C{person:08}"), "phone": phone}),
            "app" => json!({"app_user_id": format!("u{person}"), "phone": phone}),
            "mini_program" if p.mini_registered => {
                json!({"wechat_openid": format!("oM{person:x}"), "wechat_unionid": format!("un{person:x}"), "phone": phone})
            }
            "mini_program" => {
                json!({"wechat_openid": format!("oM{person:x}"), "wechat_unionid": format!("un{person:x}")})
            }
            "wechat" => json!({"wechat_unionid": format!("un{person:x}")}),
            "weibo" if p.weibo_bound => json!({"weibo_uid": format!("wb{person}"), "phone": phone}),
            "weibo" => json!({"weibo_uid": format!("wb{person}")}),
            "douyin" if buying => json!({"douyin_id": format!("dy{person}"), "phone": phone}),
            _ => json!({"douyin_id": format!("dy{person}")}),
        }
    }

    /// What brought `person`, named on their sign-up: the inviter's invitation, the QR
    /// code on the tea tins or on a shop's counter, a Bilibili video campaign; about half
    /// name none. Chosen by the person's number, not the random stream, so adding it
    /// left every other generated value as it was.
    fn source_of(&self, person: u32) -> Option<Value> {
        if self.people[person as usize].referrer.is_some() {
            return Some(json!({"kind": "referral", "name": "member invitation"}));
        }
        match person % 10 {
            0 | 1 => Some(json!({"kind": "qr", "name": "tin-2026", "medium": "packaging"})),
            2 => Some(json!({"kind": "qr", "name": "counter-card", "medium": "store"})),
            3 => Some(json!({"kind": "campaign", "name": "spring-tea-video",
                             "medium": "video", "platform": "bilibili"})),
            4 => Some(json!("double-11")),
            _ => None,
        }
    }

    fn emit(
        &mut self,
        person: u32,
        at: Micros,
        kind: &str,
        channel: &str,
        identities: Value,
        properties: Value,
    ) -> u32 {
        let p = &mut self.people[person as usize];
        p.seq += 1;
        let seq = p.seq;
        if at >= self.end {
            return seq; // a follow-up that would fall after the end of the history
        }
        self.ready.push_back(json!({
            "event_id": format!("demo-{}-{person}-{seq}", self.seed),
            "type": kind,
            "occurred_at": to_rfc3339(at),
            "channel": channel,
            "identities": identities,
            "properties": properties,
        }));
        seq
    }

    fn start(&mut self, person: u32, at: Micros) {
        let channel = self.people[person as usize].channels[0];
        let name = format!(
            "{} {}",
            SURNAMES[self.rng.random_range(0..SURNAMES.len())],
            GIVEN[self.rng.random_range(0..GIVEN.len())]
        );
        let birthday = format!(
            "{}-{:02}-{:02}",
            self.rng.random_range(1965..2006),
            self.rng.random_range(1..=12),
            self.rng.random_range(1..=28)
        );
        let gender = if self.rng.random::<bool>() {
            "female"
        } else {
            "male"
        };
        let mut profile = json!({
            "name": name, "gender": gender, "birthday": birthday,
            "city": CITIES[self.people[person as usize].city],
            "occupation": OCCUPATIONS[self.rng.random_range(0..OCCUPATIONS.len())],
        });
        if let Some(source) = self.source_of(person) {
            profile["source"] = source;
        }
        if channel == "mini_program" {
            self.people[person as usize].mini_registered = true;
        }
        // Members sign up with WeChat login, so the official account knows them too.
        let mut ids = self.identities(person, channel, true);
        ids["wechat_unionid"] = json!(format!("un{person:x}"));
        self.emit(person, at, "register", channel, ids, profile);
        if let Some(inviter) = self.people[person as usize].referrer {
            let ids = self.identities(person, "wechat", false);
            let referrer = json!({"phone": self.phone(inviter)});
            self.emit(
                person,
                at + 60_000_000,
                "referral",
                "wechat",
                ids,
                json!({"referrer": referrer}),
            );
        }
        // Some join a shop assistant's WeCom a few days later (two assistants, by the
        // person's number so the random stream is untouched): the union id their WeChat
        // login gave binds the contact to them, and the assistant becomes their owner.
        if person % 7 == 3 {
            let staff = if person.is_multiple_of(2) {
                "s-zhao"
            } else {
                "s-li"
            };
            let ids = json!({"wecom_external_id": format!("wm{person:x}"),
                             "wechat_unionid": format!("un{person:x}")});
            self.emit(
                person,
                at + 2 * DAY,
                flywheel_core::wechat::CONTACT_ADDED,
                "wechat",
                ids,
                json!({"staff": staff, "state": "store-counter"}),
            );
            // The assistant invites them into their customer group; one in three also
            // joins the salon club, and one in five of those leaves it again.
            let ids = json!({"wecom_external_id": format!("wm{person:x}")});
            let group = if staff == "s-zhao" {
                DEMO_GROUPS[0].0
            } else {
                DEMO_GROUPS[1].0
            };
            let joined = json!({"group": group, "platform": "wecom", "scene": "invite"});
            self.emit(
                person,
                at + 3 * DAY,
                "group_joined",
                "wechat",
                ids.clone(),
                joined,
            );
            if person.is_multiple_of(3) {
                let club = json!({"group": DEMO_GROUPS[2].0, "platform": "wecom", "scene": "qr"});
                self.emit(
                    person,
                    at + 10 * DAY,
                    "group_joined",
                    "wechat",
                    ids.clone(),
                    club.clone(),
                );
                if person.is_multiple_of(5) {
                    self.emit(person, at + 60 * DAY, "group_left", "wechat", ids, club);
                }
            }
        }
        // The official account: QR codes on the tins and on the counters make followers
        // (the scene names the code, as subscribing by QR does).
        if let Some(scene) = self
            .source_of(person)
            .filter(|s| s["kind"] == "qr")
            .and_then(|s| s["name"].as_str().map(str::to_owned))
        {
            let ids = json!({"wechat_openid": format!("oA{person:x}"),
                             "wechat_unionid": format!("un{person:x}")});
            self.emit(
                person,
                at + 120 * SECOND,
                "follow",
                "wechat",
                ids,
                json!({"scene": scene, "account": "gh_flywheel_tea"}),
            );
        }
        if self.people[person as usize].weibo {
            let ids = self.identities(person, "weibo", false);
            self.emit(
                person,
                at + 3_600_000_000,
                "follow",
                "weibo",
                ids,
                json!({}),
            );
            let bind_after = self.rng.random_range(5..200) * DAY;
            self.schedule(at + bind_after, person, Action::BindWeibo);
        }
        if self.people[person as usize].channels.contains(&"app") && self.rng.random::<f64>() < 0.03
        {
            self.schedule(at + 20 * DAY, person, Action::FamilyTablet);
        }
        self.next_activity(person, at);
    }

    fn purchase(&mut self, person: u32, at: Micros) {
        let p = &self.people[person as usize];
        let shops: Vec<&'static str> = p.channels.clone();
        let channel = shops[self.rng.random_range(0..shops.len())];
        let favourite = p.favourite;
        let city = p.city;
        let lines = 1
            + usize::from(self.rng.random::<f64>() < 0.35)
            + usize::from(self.rng.random::<f64>() < 0.1);
        let mut items = Vec::new();
        let mut total = 0;
        for line in 0..lines {
            let idx = if line == 0 && self.rng.random::<f64>() < 0.6 {
                favourite
            } else {
                // Drinks and pastries far more often than beans and grinders.
                if self.rng.random::<f64>() < 0.85 {
                    self.cheap[self.rng.random_range(0..self.cheap.len())]
                } else {
                    self.rng.random_range(0..PRODUCTS.len())
                }
            };
            let product = &PRODUCTS[idx];
            let qty = if self.rng.random::<f64>() < 0.12 {
                2
            } else {
                1
            };
            total += product.price * qty;
            items.push(json!({
                "sku": product.sku, "sub_brand": product.sub_brand, "category": product.category,
                "qty": qty, "price": money(product.price),
            }));
        }
        if self.rng.random::<f64>() < 0.1 {
            total = total * 9 / 10; // a coupon
        }
        let store = match channel {
            "store" => format!(
                "store-{}-{}",
                CITIES[city].to_lowercase(),
                person % STORES_PER_CITY + 1
            ),
            other => format!("{other}-flagship"),
        };
        let order_seq = self.people[person as usize].seq + 1;
        let ids = self.identities(person, channel, true);
        let props = json!({
            "order_id": format!("D{}-{person}-{order_seq}", self.seed), "amount": money(total),
            "currency": "CNY", "store": store, "items": items,
        });
        if channel == "mini_program" {
            self.people[person as usize].mini_registered = true;
        }
        self.emit(person, at, "purchase", channel, ids, props);
        self.count_spend(person, order_seq, at, total);
        // Engaged regulars are offered the paid membership around their fifth order,
        // and some take it; the rest are whom the super-user list says to invite.
        let p = &mut self.people[person as usize];
        p.orders += 1;
        if p.tier.is_none() && p.orders >= 5 {
            let engagement = p.engagement;
            if self.rng.random::<f64>() < 0.08 * engagement {
                let roll = self.rng.random::<f64>();
                let tier = if roll < 0.12 {
                    2
                } else if roll < 0.4 {
                    1
                } else {
                    0
                };
                self.buy_tier(person, at + 60 * SECOND, channel, tier, 0);
            }
        }
        if self.rng.random::<f64>() < 0.03 {
            let amount = if self.rng.random::<bool>() {
                total
            } else {
                total / 2
            };
            let later = at + self.rng.random_range(1..7) * DAY;
            self.schedule(later, person, Action::Refund { order_seq, amount });
        }
    }

    /// Buys a paid tier — a join, or a renewal bought ahead whose term follows the
    /// current one — paying `points` of the fee in points, and schedules the decision
    /// to renew.
    fn buy_tier(&mut self, person: u32, at: Micros, channel: &str, tier: usize, points: i64) {
        let (id, fee, _) = PAID_TIERS[tier];
        let p = &mut self.people[person as usize];
        let renewal = p.tier == Some(tier) && at < p.term.1;
        let next_start = if renewal { p.term.1 } else { at };
        if renewal {
            p.renewed_until = Some(next_start + 365 * DAY);
        } else {
            p.term = (at, at + 365 * DAY);
            p.term_spend = 0;
            p.renewed_until = None;
        }
        p.tier = Some(tier);
        let seq = p.seq + 1;
        let mut props = json!({"programme": "paid", "tier": id,
            "order_id": format!("M{}-{person}-{seq}", self.seed),
            "amount": money(fee - points), "currency": "CNY"});
        if points > 0 {
            props["points"] = json!(points);
        }
        let ids = self.identities(person, channel, true);
        self.emit(person, at, "membership_purchase", channel, ids, props);
        let decide = next_start + 365 * DAY - self.rng.random_range(1..15) * DAY;
        self.schedule(decide, person, Action::Renew);
    }

    /// Near the end of a term: people still buying renew most of the time, some paying
    /// part of the fee with points earned in the term; the rest let it run out, and the
    /// sweep keeps, lowers or ends their tier after the grace.
    fn renew(&mut self, person: u32, at: Micros) {
        self.people[person as usize].roll_term(at);
        let p = &self.people[person as usize];
        let Some(tier) = p.tier else { return };
        if at >= p.quiet_from || self.rng.random::<f64>() > 0.55 + 0.3 * p.engagement {
            return;
        }
        let channel = p.channels[0];
        // A point a yuan, pending a week, some refunded: half the term's spend in
        // points is surely in the wallet. Whole yuan, so the cash part is too.
        let most = (PAID_TIERS[tier].1 as f64 * MAX_POINTS_SHARE) as i64;
        let usable = (p.term_spend / 200).min(most) / 100 * 100;
        let points = if usable >= 500 && self.rng.random::<f64>() < 0.5 {
            usable
        } else {
            0
        };
        self.buy_tier(person, at, channel, tier, points);
    }

    /// Counts an order in the paid term it falls in, raising the tier when the term's
    /// spend reaches a higher one's threshold (as ingest does at that moment).
    fn count_spend(&mut self, person: u32, order_seq: u32, at: Micros, total: i64) {
        let p = &mut self.people[person as usize];
        p.recent_orders.push_back((order_seq, at));
        if p.recent_orders.len() > 32 {
            p.recent_orders.pop_front();
        }
        p.roll_term(at);
        let Some(tier) = p.tier else { return };
        if at < p.term.0 || at >= p.term.1 {
            return;
        }
        p.term_spend += total;
        if let Some(higher) = (tier + 1..PAID_TIERS.len()).rev().find(|t| {
            PAID_TIERS[*t]
                .2
                .is_some_and(|needed| p.term_spend >= needed)
        }) {
            p.tier = Some(higher);
        }
    }

    fn count_refund(&mut self, person: u32, order_seq: u32, amount: i64) {
        let p = &mut self.people[person as usize];
        let at = p
            .recent_orders
            .iter()
            .find(|(s, _)| *s == order_seq)
            .map(|(_, at)| *at);
        if let Some(at) = at
            && at >= p.term.0
            && at < p.term.1
        {
            p.term_spend -= amount;
        }
    }

    fn interact(&mut self, person: u32, at: Micros) {
        let p = &self.people[person as usize];
        let engagement = p.engagement;
        let channel = if p.weibo && self.rng.random::<f64>() < 0.3 {
            "weibo"
        } else if self.rng.random::<f64>() < 0.5 {
            "wechat"
        } else {
            p.channels[0]
        };
        let ids = self.identities(person, channel, false);
        let roll = self.rng.random::<f64>() * 100.0;
        let (kind, props) = match roll {
            r if r < 15.0 => ("visit", json!({"page": "menu"})),
            r if r < 25.0 => (
                "content_open",
                json!({"content_id": format!("post-{}", self.rng.random_range(1..300))}),
            ),
            r if r < 30.0 => (
                "content_click",
                json!({"content_id": format!("post-{}", self.rng.random_range(1..300))}),
            ),
            r if r < 30.0 + 20.0 * engagement.max(0.3) => ("like", json!({})),
            r if r < 58.0 => ("check_in", json!({})),
            r if r < 64.0 => ("comment", json!({"text": "tasty"})),
            r if r < 70.0 => {
                let rating = match self.rng.random::<f64>() {
                    x if x < 0.70 => 5,
                    x if x < 0.85 => 4,
                    x if x < 0.92 => 3,
                    x if x < 0.97 => 2,
                    _ => 1,
                };
                (
                    "review",
                    json!({"rating": rating, "sku": PRODUCTS[self.people[person as usize].favourite].sku}),
                )
            }
            r if r < 76.0 => (
                "share",
                json!({"content_id": format!("post-{}", self.rng.random_range(1..300))}),
            ),
            r if r < 84.0 => {
                let direction = if self.rng.random::<f64>() < 0.6 {
                    "in"
                } else {
                    "out"
                };
                ("message", json!({"direction": direction, "text": "hello"}))
            }
            r if r < 88.0 => {
                let complaint = self.rng.random::<f64>() < 0.4;
                let category =
                    FEEDBACK_CATEGORIES[self.rng.random_range(0..FEEDBACK_CATEGORIES.len())];
                let kind = if complaint { "complaint" } else { "suggestion" };
                let text = if complaint {
                    "…"
                } else {
                    // Said in words, for the co-creation board (the stream is untouched).
                    let c = FEEDBACK_CATEGORIES.iter().position(|c| *c == category);
                    let ideas = SUGGESTIONS[c.unwrap_or(0)];
                    ideas[(person as usize + self.people[person as usize].seq as usize)
                        % ideas.len()]
                };
                let seq = self.emit(
                    person,
                    at,
                    "feedback",
                    channel,
                    ids,
                    json!({"kind": kind, "category": category, "text": text}),
                );
                if complaint && self.rng.random::<f64>() < 0.7 {
                    let later = at + self.rng.random_range(1..20) * DAY;
                    self.schedule(later, person, Action::Resolve { complaint_seq: seq });
                }
                return;
            }
            r if r < 88.0 + 6.0 * engagement => {
                let kind = match self.rng.random::<f64>() {
                    x if x < 0.5 => "meetup",
                    x if x < 0.7 => "beta_test",
                    x if x < 0.85 => "volunteer",
                    _ => "co_creation",
                };
                ("participation", json!({"kind": kind}))
            }
            _ => ("follow", json!({})),
        };
        self.emit(person, at, kind, channel, ids, props);
    }

    fn act(&mut self, at: Micros, person: u32, action: Action) {
        match action {
            Action::Start => self.start(person, at),
            Action::Activity => {
                if self.rng.random::<f64>() < self.people[person as usize].buy_share {
                    self.purchase(person, at);
                } else {
                    self.interact(person, at);
                }
                self.next_activity(person, at);
            }
            Action::Refund { order_seq, amount } => {
                self.count_refund(person, order_seq, amount);
                let channel = self.people[person as usize].channels[0];
                let ids = self.identities(person, channel, true);
                let props = json!({"order_id": format!("D{}-{person}-{order_seq}", self.seed), "amount": money(amount)});
                self.emit(person, at, "refund", channel, ids, props);
            }
            Action::Renew => self.renew(person, at),
            Action::Resolve { complaint_seq } => {
                // The call centre knows the caller by phone.
                let ids = json!({"phone": self.phone(person)});
                let complaint = format!("demo-{}-{person}-{complaint_seq}", self.seed);
                self.emit(
                    person,
                    at,
                    "complaint_resolved",
                    "call_center",
                    ids,
                    json!({"complaint_event_id": complaint}),
                );
            }
            Action::BindWeibo => {
                self.people[person as usize].weibo_bound = true;
                let ids = self.identities(person, "weibo", false);
                self.emit(
                    person,
                    at,
                    "profile_update",
                    "weibo",
                    ids,
                    json!({"nickname": format!("weibo-fan-{person}")}),
                );
            }
            Action::FamilyTablet => {
                // The spouse signs in on this person's app: a second phone for one account.
                let spouse = (person + 1) % self.people.len() as u32;
                let ids = json!({"app_user_id": format!("u{person}"), "phone": self.phone(spouse)});
                self.emit(
                    person,
                    at,
                    "content_open",
                    "app",
                    ids,
                    json!({"content_id": "family-tablet"}),
                );
            }
        }
    }
}

pub(super) fn money(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

impl Iterator for Generator {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        let time = |v: &Value| {
            v["occurred_at"]
                .as_str()
                .and_then(flywheel_core::time::parse_rfc3339)
                .unwrap_or(Micros::MIN)
        };
        loop {
            // Actions may emit events a few minutes after their instant: an event waits
            // until no queued action comes before it, so the stream is in time order
            // (an import replays it at its own time).
            let next_action = self.queue.peek().map(|Reverse((at, ..))| *at);
            if let Some(v) = self.ready.front()
                && next_action.is_none_or(|at| time(v) <= at)
            {
                return self.ready.pop_front();
            }
            let Reverse((at, _, person, action)) = self.queue.pop()?;
            self.act(at, person, action);
            self.ready.make_contiguous().sort_by_key(|v| time(v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_core::time::parse_rfc3339;

    fn end() -> Micros {
        parse_rfc3339("2026-11-01T00:00:00Z").unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_events() {
        let a: Vec<Value> = Generator::new(7, 50, end()).collect();
        let b: Vec<Value> = Generator::new(7, 50, end()).collect();
        let c: Vec<Value> = Generator::new(8, 50, end()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.len() > 200, "{} events", a.len());
    }

    #[test]
    fn events_come_in_time_order() {
        let times: Vec<Micros> = Generator::new(5, 300, end())
            .map(|v| parse_rfc3339(v["occurred_at"].as_str().unwrap()).unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn every_generated_event_is_valid_and_in_the_past() {
        let policy = flywheel_core::Policy::default();
        let ctx = policy.parse_context(end());
        for v in Generator::new(3, 3000, end()) {
            let at =
                flywheel_core::time::parse_rfc3339(v["occurred_at"].as_str().unwrap()).unwrap();
            assert!(at < end(), "{v}");
            if let Err(e) = flywheel_core::parse_event(&v, &ctx) {
                panic!("{v}: {e:?}");
            }
        }
    }

    #[test]
    fn spending_is_concentrated_in_few_people() {
        let mut spend = std::collections::HashMap::<String, f64>::new();
        for v in Generator::new(11, 2000, end()).filter(|v| v["type"] == "purchase") {
            let who = v["event_id"]
                .as_str()
                .unwrap()
                .split('-')
                .nth(2)
                .unwrap()
                .to_owned();
            *spend.entry(who).or_default() += v["properties"]["amount"]
                .as_str()
                .unwrap()
                .parse::<f64>()
                .unwrap();
        }
        let mut values: Vec<f64> = spend.into_values().collect();
        values.sort_by(|a, b| b.total_cmp(a));
        let total: f64 = values.iter().sum();
        let top: f64 = values.iter().take(values.len() / 5).sum();
        assert!(
            top / total > 0.5,
            "top fifth of buyers spend {:.0}%",
            100.0 * top / total
        );
    }
}
