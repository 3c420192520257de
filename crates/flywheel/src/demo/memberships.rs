//! The demo brand's membership programmes (seed 003): the paid ladder V1/V2/V3 at
//! 99/199/299 a year with benefits, the Tea Club earned by spend, and a student card
//! beside them. The programmes are defined before the history loads, so the purchases
//! and spend in it move tiers as they happened; after it, the sweep brings every term
//! up to today, students get their card, and one benefit leaves V2 with notice.

use super::generate::money;
use flywheel_core::Money;
use flywheel_core::identity::{Identity, IdentityKind};
use flywheel_core::membership::Programme;
use flywheel_core::membership::benefit::Benefit;
use flywheel_core::time::{Micros, to_rfc3339};
use flywheel_store::{AuditActor, MembershipRequest, PointsError, Store};
use serde_json::json;

/// The paid ladder: id, fee in fen, and the spend in one term (fen) that raises a
/// holder of a lower tier to it for free. Thresholds are scaled to what a tea shop's
/// best customers spend in a year (the seed's 10,000 fits a department store).
pub const PAID_TIERS: [(&str, i64, Option<i64>); 3] = [
    ("V1", 9_900, None),
    ("V2", 19_900, Some(500_000)),
    ("V3", 29_900, Some(1_200_000)),
];

/// The share of a fee payable in points.
pub const MAX_POINTS_SHARE: f64 = 0.6;

/// Who the demo's changes are by, in the audit log.
pub fn demo_actor() -> AuditActor {
    AuditActor {
        reference: "demo".into(),
        key_id: None,
        name: "flywheel demo".into(),
    }
}

fn programme(v: serde_json::Value) -> anyhow::Result<Programme> {
    Ok(serde_json::from_value(v)?)
}

/// Defines the three programmes, the benefits and which tiers give them, and the video
/// site's codes. Run before the history loads; `start` is its first day.
pub async fn define(store: &Store, start: Micros, now: Micros) -> anyhow::Result<()> {
    let actor = demo_actor();
    let tiers: Vec<serde_json::Value> = PAID_TIERS
        .iter()
        .enumerate()
        .map(|(i, (id, fee, upgrade))| {
            let mut t = json!({"id": id, "name": id, "rank": i + 1, "fee": money(*fee),
                               "max_points_share": MAX_POINTS_SHARE});
            if let Some(threshold) = upgrade {
                t["upgrade"] = json!({"measure": "spend", "threshold": money(*threshold)});
            }
            t
        })
        .collect();
    let paid = programme(json!({"name": "Paid membership", "kind": "paid",
        "term": {"days": 365}, "tiers": tiers,
        "retention": {"measure": "spend", "threshold": "2000.00"},
        "downgrade": {"policy": "one_down", "grace_days": 30}}))?;
    let club = programme(
        json!({"name": "Tea Club", "kind": "earned", "window_days": 365,
        "tiers": [
          {"id": "silver", "name": "Silver", "rank": 1, "qualify": {"measure": "spend", "threshold": "500.00"}},
          {"id": "gold", "name": "Gold", "rank": 2, "qualify": {"measure": "spend", "threshold": "2000.00"}},
          {"id": "black", "name": "Black", "rank": 3, "qualify": {"measure": "spend", "threshold": "8000.00"}}],
        "downgrade": {"policy": "recompute", "grace_days": 0}}),
    )?;
    let student = programme(json!({"name": "Student card", "kind": "card",
        "term": {"days": 365},
        "tiers": [{"id": "student", "name": "Student", "rank": 1}],
        "eligibility": {"field": "occupation", "equals": "student"}}))?;
    for (id, p) in [("paid", &paid), ("club", &club), ("student", &student)] {
        let errors = p.validate(id);
        anyhow::ensure!(errors.is_empty(), "demo programme {id}: {errors:?}");
        store.put_programme(id, p, &actor, now).await?;
    }

    let from = to_rfc3339(start);
    let benefit = |name: &str, description: &str, extra: serde_json::Value| {
        let mut b = json!({"name": name, "description": description, "effective_from": from});
        if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(extra.clone());
        }
        serde_json::from_value::<Benefit>(b)
    };
    let catalogue = [
        (
            "free-delivery",
            benefit(
                "Free delivery",
                "Two free deliveries a month on online orders",
                json!({"scope": {"channels": ["tmall", "jd", "mini_program", "app", "douyin"]},
                       "limit": {"uses": 2, "per": "month"}}),
            )?,
        ),
        (
            "free-refill",
            benefit(
                "Free refill",
                "One free refill a day in our stores",
                json!({"scope": {"channels": ["store"]}, "limit": {"uses": 1, "per": "day"}}),
            )?,
        ),
        (
            "birthday-gift",
            benefit(
                "Birthday gift",
                "A tin of the season's tea in your birthday month",
                json!({"limit": {"uses": 1, "per": "term"}}),
            )?,
        ),
        (
            "video-site",
            benefit(
                "Video-site membership",
                "A year of Tencent Video VIP, on us",
                json!({"limit": {"uses": 1, "per": "term"},
                       "partner": {"id": "tencent-video", "name": "Tencent Video"}}),
            )?,
        ),
        (
            "student-discount",
            benefit(
                "Student price",
                "15% off milk tea, fruit tea and espresso",
                json!({"scope": {"categories": ["milk_tea", "fruit_tea", "espresso"]}}),
            )?,
        ),
    ];
    for (id, b) in &catalogue {
        let errors = b.validate(id, &flywheel_core::Channel::BUILT_IN);
        anyhow::ensure!(errors.is_empty(), "demo benefit {id}: {errors:?}");
        store.save_benefit(id, b, false, &actor, now).await?;
    }
    let gives: [(&str, &str, &[&str]); 4] = [
        ("paid", "V1", &["free-delivery"]),
        (
            "paid",
            "V2",
            &["free-delivery", "free-refill", "birthday-gift"],
        ),
        (
            "paid",
            "V3",
            &[
                "free-delivery",
                "free-refill",
                "birthday-gift",
                "video-site",
            ],
        ),
        ("student", "student", &["student-discount"]),
    ];
    for (programme, tier, benefits) in gives {
        let ids: Vec<String> = benefits.iter().map(|b| (*b).to_owned()).collect();
        store
            .set_tier_benefits(programme, tier, &ids, 30, &actor, now)
            .await
            .map_err(points_error)?;
    }
    let codes: Vec<String> = (1..=200).map(|i| format!("TXV-DEMO-{i:05}")).collect();
    store
        .load_partner_codes("video-site", &codes, &actor, now)
        .await
        .map_err(points_error)?;
    Ok(())
}

fn points_error(e: PointsError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// What `finish` did.
#[derive(Debug, Default)]
pub struct Finished {
    pub retained: u64,
    pub lowered: u64,
    pub lapsed: u64,
    pub cards: u64,
    pub notices: u64,
}

/// After the history: ends every term that is over, gives the student card to the
/// students (`students`: their WeChat union ids), and keeps the birthday gift for V3
/// from now on: V2 holders keep it to the end of their term, each told in a notice.
pub async fn finish(
    store: &Store,
    students: &[String],
    points_programme: &str,
    now: Micros,
) -> anyhow::Result<Finished> {
    let mut done = Finished::default();
    // A pass handles a few hundred memberships per programme; repeat until none is due.
    loop {
        let r = store.sweep_memberships(now).await?;
        if r == flywheel_store::MembershipSweepReport::default() {
            break;
        }
        done.retained += r.retained;
        done.lowered += r.lowered;
        done.lapsed += r.lapsed;
    }
    let actor = demo_actor();
    for unionid in students {
        let identity = Identity {
            kind: IdentityKind::WechatUnionid,
            value: unionid.clone(),
        };
        let Some(member) = store.lookup(&identity).await? else {
            continue;
        };
        let req = MembershipRequest {
            member_id: member,
            programme: "student".into(),
            tier: "student".into(),
            cash: Money::default(),
            points: 0,
            points_programme: points_programme.to_owned(),
            idempotency_key: format!("demo-card-{unionid}"),
            actor: actor.clone(),
        };
        match store.buy_membership(&req, Money::from_minor(1), now).await {
            Ok(_) => done.cards += 1,
            // Erased, or the profile says otherwise by now: no card, as at the till.
            Err(PointsError::Field(_) | PointsError::NotFound(_)) => {}
            Err(e) => return Err(points_error(e)),
        }
    }
    let change = store
        .set_tier_benefits(
            "paid",
            "V2",
            &["free-delivery".into(), "free-refill".into()],
            30,
            &actor,
            now,
        )
        .await
        .map_err(points_error)?;
    done.notices = change.notices;
    Ok(done)
}
