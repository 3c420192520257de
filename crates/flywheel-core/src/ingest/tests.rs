//! The processor end to end, without a database: resolution, merges, conflicts,
//! referrals, refunds and stage moves.

use super::*;
use crate::event::{ParseContext, parse_event};
use crate::time::{DAY, parse_rfc3339};
use serde_json::{Value, json};

const T0: &str = "2026-01-01T00:00:00Z";

struct Harness {
    ws: WorkingSet,
    changes: Changes,
    identity: IdentityRules,
    stages: StagePolicy,
    now: Micros,
    next: u32,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            ws: WorkingSet {
                fresh_ids: (1..=100).rev().collect(),
                ..WorkingSet::default()
            },
            changes: Changes::default(),
            identity: IdentityRules::default(),
            stages: StagePolicy::default(),
            now: parse_rfc3339(T0).unwrap(),
            next: 0,
        }
    }

    /// Sends an event `days` after T0 and evaluates at that instant.
    fn send(
        &mut self,
        days: i64,
        kind: &str,
        identities: Value,
        properties: Value,
    ) -> Result<Outcome, Rejection> {
        self.next += 1;
        let at = self.now + days * DAY;
        let raw = json!({
            "event_id": format!("e{}", self.next), "type": kind, "channel": "app",
            "occurred_at": crate::time::to_rfc3339(at), "identities": identities, "properties": properties,
        });
        let ctx = ParseContext {
            identity: &self.identity,
            channels: &crate::channel::Channel::BUILT_IN,
            currency: "CNY",
            max_amount: crate::limits::Limits::default().max_order_amount,
            now: at,
        };
        let event = parse_event(&raw, &ctx).expect("test events are valid");
        let rules = Rules {
            identity: &self.identity,
            stages: &self.stages,
            points: &crate::points::PointsPolicy::default(),
            limits: &crate::limits::Limits::default(),
        };
        self.ws.apply(&event, &rules, at, &mut self.changes)
    }

    fn buy(&mut self, days: i64, identities: Value, order: &str) -> Outcome {
        self.send(
            days,
            "purchase",
            identities,
            json!({"order_id": order, "amount": "30.00"}),
        )
        .unwrap()
    }
}

#[test]
fn one_phone_spelled_three_ways_is_one_member() {
    let mut h = Harness::new();
    let a = h
        .send(0, "follow", json!({"phone": "13800138000"}), json!({}))
        .unwrap();
    let b = h
        .send(1, "like", json!({"phone": "+86 138-0013-8000"}), json!({}))
        .unwrap();
    let c = h
        .send(2, "like", json!({"phone": "+8613800138000"}), json!({}))
        .unwrap();
    assert_eq!((a.member_id, b.member_id), (c.member_id, c.member_id));
    assert!(h.changes.merges.is_empty());
}

#[test]
fn an_event_naming_two_members_merges_them_into_the_oldest() {
    let mut h = Harness::new();
    let shop = h
        .send(
            0,
            "register",
            json!({"tmall_nick": "yantao"}),
            json!({"name": "Yan Tao"}),
        )
        .unwrap();
    let weibo = h
        .send(5, "like", json!({"weibo_uid": "sanshou"}), json!({}))
        .unwrap();
    assert_ne!(shop.member_id, weibo.member_id);
    // The Weibo account is bound to the shop account later.
    let bound = h
        .send(
            9,
            "follow",
            json!({"weibo_uid": "sanshou", "tmall_nick": "yantao"}),
            json!({}),
        )
        .unwrap();
    assert_eq!(bound.member_id, shop.member_id, "the older member survives");
    let merge = &h.changes.merges[0];
    assert_eq!(
        (merge.survivor, merge.merged),
        (shop.member_id, weibo.member_id)
    );
    assert!(
        merge.explanation.contains("is older and survives"),
        "{}",
        merge.explanation
    );
    let m = h.ws.member(weibo.member_id).unwrap();
    assert_eq!(m.id, shop.member_id);
    assert_eq!(m.facts.likes, 1);
    assert_eq!(m.identities.len(), 2);
    assert_eq!(m.profile.name.as_deref(), Some("Yan Tao"));
}

#[test]
fn a_merge_that_would_give_one_member_two_phones_becomes_a_conflict() {
    let mut h = Harness::new();
    let a = h
        .send(
            0,
            "follow",
            json!({"phone": "13800138000", "wechat_openid": "oA"}),
            json!({}),
        )
        .unwrap();
    let b = h
        .send(
            1,
            "follow",
            json!({"phone": "13900139000", "weibo_uid": "w1"}),
            json!({}),
        )
        .unwrap();
    let c = h
        .send(
            2,
            "like",
            json!({"wechat_openid": "oA", "weibo_uid": "w1"}),
            json!({}),
        )
        .unwrap();
    assert!(h.changes.merges.is_empty());
    assert_eq!(h.changes.conflicts.len(), 1);
    let conflict = &h.changes.conflicts[0];
    assert_eq!(conflict.kind, crate::identity::IdentityKind::Phone);
    assert_eq!(conflict.member_ids, vec![a.member_id, b.member_id]);
    assert_eq!(
        c.member_id, a.member_id,
        "the event goes to the oldest member of the most trusted identity"
    );
}

#[test]
fn a_second_phone_is_not_attached_to_a_member_who_has_one() {
    let mut h = Harness::new();
    let a = h
        .send(
            0,
            "follow",
            json!({"phone": "13800138000", "card_no": "C1"}),
            json!({}),
        )
        .unwrap();
    let b = h
        .send(
            1,
            "like",
            json!({"phone": "13900139000", "card_no": "C1"}),
            json!({}),
        )
        .unwrap();
    assert_eq!(a.member_id, b.member_id);
    assert_eq!(h.changes.conflicts.len(), 1);
    assert!(!h.ws.owners.keys().any(|i| i.value == "+8613900139000"));
}

#[test]
fn a_converted_referral_lifts_the_inviter_from_weak_to_super_strong() {
    let mut h = Harness::new();
    let inviter = json!({"phone": "13800138000"});
    for (d, o) in [(0, "o1"), (10, "o2"), (20, "o3")] {
        h.buy(d, inviter.clone(), o);
    }
    let me = h.ws.owners.values().next().copied().unwrap();
    assert_eq!(h.ws.member(me).unwrap().stage, Stage::Weak);
    h.send(
        30,
        "referral",
        json!({"phone": "13900139000"}),
        json!({"referrer": {"phone": "138 0013 8000"}}),
    )
    .unwrap();
    assert_eq!(h.ws.member(me).unwrap().facts.referrals_made, 1);
    assert_eq!(
        h.ws.member(me).unwrap().stage,
        Stage::Weak,
        "not converted until the invitee buys"
    );
    h.buy(35, json!({"phone": "13900139000"}), "o4");
    let m = h.ws.member(me).unwrap();
    assert_eq!((m.stage, m.lens), (Stage::SuperStrong, Lens::Iron));
    let jump = h
        .changes
        .transitions
        .iter()
        .find(|t| t.member_id == me && t.to == Stage::SuperStrong)
        .unwrap();
    assert_eq!(
        (jump.from, jump.rule.as_str()),
        (Stage::Weak, "super_strong")
    );
    assert_eq!(h.changes.conversions[0].inviter_stage_before, Stage::Weak);
}

#[test]
fn a_referral_back_up_the_chain_is_refused_and_never_converts() {
    let mut h = Harness::new();
    let refer = |h: &mut Harness, day, invitee: &str, inviter: &str| {
        h.send(
            day,
            "referral",
            json!({"phone": invitee}),
            json!({"referrer": {"phone": inviter}}),
        )
        .unwrap()
    };
    // A brought B, B brought C; then C claims to have brought A.
    refer(&mut h, 0, "13900000002", "13900000001");
    refer(&mut h, 1, "13900000003", "13900000002");
    let a = refer(&mut h, 2, "13900000001", "13900000003").member_id;
    let ring: Vec<&str> =
        h.ws.referrals
            .values()
            .filter(|r| r.invitee_id == a)
            .map(|r| r.status.as_str())
            .collect();
    assert_eq!(ring, ["refused_cycle"]);
    let c =
        h.ws.owners
            .iter()
            .find(|(i, _)| i.value == "+8613900000003")
            .unwrap()
            .1;
    assert_eq!(
        h.ws.member(*c).unwrap().facts.referrals_made,
        0,
        "C brought nobody"
    );
    h.buy(3, json!({"phone": "13900000001"}), "o1");
    assert!(
        h.changes.conversions.is_empty(),
        "{:?}",
        h.changes.conversions
    );
}

#[test]
fn an_invitee_who_had_already_bought_does_not_convert() {
    let mut h = Harness::new();
    h.buy(0, json!({"phone": "13900139000"}), "o1");
    h.send(
        5,
        "referral",
        json!({"phone": "13900139000"}),
        json!({"referrer": {"phone": "13800138000"}}),
    )
    .unwrap();
    h.buy(6, json!({"phone": "13900139000"}), "o2");
    assert!(h.changes.conversions.is_empty());
}

#[test]
fn a_refund_that_arrives_before_its_purchase_is_applied_when_the_purchase_lands() {
    let mut h = Harness::new();
    let who = json!({"card_no": "C9"});
    h.send(
        1,
        "refund",
        who.clone(),
        json!({"order_id": "o1", "amount": "30.00"}),
    )
    .unwrap();
    h.buy(0, who, "o1");
    let m = h.ws.members.values().next().unwrap();
    assert_eq!(m.facts.purchase_count(), 0);
    assert_eq!(m.facts.net_spent(), Money::ZERO);
}

#[test]
fn partial_refunds_reduce_spend_and_never_go_below_zero() {
    let mut h = Harness::new();
    let who = json!({"card_no": "C9"});
    h.buy(0, who.clone(), "o1");
    h.send(
        1,
        "refund",
        who.clone(),
        json!({"order_id": "o1", "amount": "10.00"}),
    )
    .unwrap();
    h.send(
        2,
        "refund",
        who,
        json!({"order_id": "o1", "amount": "50.00"}),
    )
    .unwrap();
    let m = h.ws.members.values().next().unwrap();
    assert_eq!(m.facts.net_spent(), Money::ZERO);
    assert_eq!(m.facts.refunded, 3000);
    assert_eq!(m.facts.purchase_count(), 0);
}

#[test]
fn a_second_purchase_event_for_the_same_order_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    h.buy(0, json!({"card_no": "C9"}), "o1");
    let before = h.ws.members.clone();
    let err = h
        .send(
            1,
            "purchase",
            json!({"card_no": "C9"}),
            json!({"order_id": "o1", "amount": "5"}),
        )
        .unwrap_err();
    assert_eq!(err.code, crate::ErrorCode::OrderExists);
    assert_eq!(h.ws.members, before);
}

#[test]
fn stages_rise_with_each_purchase_and_every_move_names_its_rule() {
    let mut h = Harness::new();
    let who = json!({"app_user_id": "u1"});
    let stages: Vec<Stage> = (0..3)
        .map(|d| h.buy(d, who.clone(), &format!("o{d}")).stage)
        .collect();
    assert_eq!(stages, [Stage::Micro, Stage::Micro, Stage::Weak]);
    let rules: Vec<_> = h
        .changes
        .transitions
        .iter()
        .map(|t| (t.from, t.to, t.rule.as_str()))
        .collect();
    assert_eq!(
        rules,
        [
            (Stage::None, Stage::Micro, "micro"),
            (Stage::Micro, Stage::Weak, "weak")
        ]
    );
}

#[test]
fn a_manual_merge_keeps_both_phones_and_records_the_actor() {
    let mut h = Harness::new();
    let a = h
        .send(0, "follow", json!({"phone": "13800138000"}), json!({}))
        .unwrap();
    let b = h
        .send(1, "follow", json!({"phone": "13900139000"}), json!({}))
        .unwrap();
    let rules = Rules {
        identity: &h.identity,
        stages: &h.stages,
        points: &crate::points::PointsPolicy::default(),
        limits: &crate::limits::Limits::default(),
    };
    let request = ManualMerge {
        actor: "key:admin",
        reason: "same person, two SIMs",
    };
    h.ws.merge_manually(
        a.member_id,
        b.member_id,
        &request,
        &rules,
        h.now + 2 * DAY,
        &mut h.changes,
    );
    let m = h.ws.member(b.member_id).unwrap();
    assert_eq!(m.id, a.member_id);
    assert_eq!(m.identities.len(), 2);
    assert_eq!(h.changes.merges[0].actor, "key:admin");
}
