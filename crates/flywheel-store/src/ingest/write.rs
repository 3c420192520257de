//! Planning the writes of what the processor changed: merged members' rows re-pointed,
//! members, identities, orders, referrals, stage transitions, merges, conflicts, and the
//! events themselves. Nothing here touches the database; the plan runs in the batch's
//! transaction or, written behind, in a later flush (`plan.rs`).

use crate::error::StoreError;
use crate::plan::Writes;
use crate::rows::{
    MEMBER_INSERT, MEMBER_UPSERT_HOT_TAIL, MEMBER_UPSERT_TAIL, MemberColdColumns, member_values,
};
use flywheel_core::Money;
use flywheel_core::event::Event;
use flywheel_core::ingest::farming;
use flywheel_core::ingest::{Changes, MemberId, WorkingSet};
use flywheel_core::time::Micros;
use sqlx::AnyConnection;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Re-points the rows of the members a batch merged at the member each now stands for:
/// one statement per column for the whole batch (a statement per merge and column was a
/// tenth of an import's SQL on PostgreSQL). Following each chain to its end gives what
/// replaying the merges in order would: rows of a member merged into one that is merged
/// later end at the last survivor either way. Runs before the member upserts, which
/// write each merged member's own `merged_into`.
fn repoint_merged(w: &mut Writes, ws: &WorkingSet, changes: &Changes) {
    if changes.merges.is_empty() {
        return;
    }
    let moves: BTreeMap<MemberId, MemberId> = changes
        .merges
        .iter()
        .map(|m| (m.merged, ws.survivor(m.merged)))
        .collect();
    let moves: Vec<(MemberId, MemberId)> = moves.into_iter().collect();
    for (table, column) in [
        ("identities", "member_id"),
        ("events", "member_id"),
        ("orders", "member_id"),
        ("referrals", "inviter_id"),
        ("referrals", "invitee_id"),
        ("stage_transitions", "member_id"),
        ("members", "merged_into"),
        ("points_orders", "member_id"),
        ("redemptions", "member_id"),
        ("share_links", "member_id"),
        ("wecom_contacts", "member_id"),
        ("wecom_group_members", "member_id"),
        ("ideas", "member_id"),
    ] {
        w.remap(table, column, moves.clone());
    }
}

/// Writes what the processor changed (everything but the events themselves), now,
/// and the journeys its stage changes start.
pub(crate) async fn write_changes(
    conn: &mut AnyConnection,
    ws: &WorkingSet,
    changes: &Changes,
    now: Micros,
    journeys: &crate::engagement::journeys::JourneyBook,
) -> Result<(), StoreError> {
    let mut w = Writes::default();
    // Nothing is known of how the members were loaded: every column is written.
    plan_changes(&mut w, ws, changes, &HashMap::new(), now)?;
    crate::engagement::triggers::plan_stage_triggers(&mut w, journeys, &changes.transitions);
    Ok(w.run(conn).await?)
}

/// Plans the writes of what the processor changed (everything but the events).
pub(crate) fn plan_changes(
    w: &mut Writes,
    ws: &WorkingSet,
    changes: &Changes,
    as_loaded: &HashMap<MemberId, MemberColdColumns>,
    now: Micros,
) -> Result<(), StoreError> {
    repoint_merged(w, ws, changes);
    // A member loaded with the same cold columns it has now is updated without them
    // (`MEMBER_UPSERT_HOT_TAIL`); a new member, or one whose stage, lens, merge or
    // source moved, is written whole.
    let mut hot = Vec::new();
    let mut whole = Vec::new();
    for m in changes
        .dirty_members
        .iter()
        .filter_map(|id| ws.members.get(id))
    {
        let unmoved = as_loaded
            .get(&m.id)
            .is_some_and(|before| *before == MemberColdColumns::of(m));
        let rows = if unmoved { &mut hot } else { &mut whole };
        rows.push(member_values(m, now)?);
    }
    w.rows(MEMBER_INSERT, whole, MEMBER_UPSERT_TAIL);
    w.rows(MEMBER_INSERT, hot, MEMBER_UPSERT_HOT_TAIL);

    let identities = changes
        .new_identities
        .iter()
        .map(|n| {
            vec![
                n.identity.key().into(),
                n.identity.kind.as_str().into(),
                n.identity.value.clone().into(),
                ws.survivor(n.member_id).into(),
                n.at.into(),
                n.event_id.clone().into(),
            ]
        })
        .collect();
    w.rows(
        "INSERT INTO identities (key, kind, value, member_id, created_at, source_event_id)",
        identities,
        "",
    );

    let orders = changes
        .dirty_orders
        .iter()
        .filter_map(|id| ws.orders.get(id))
        .map(|o| {
            vec![
                o.order_id.clone().into(),
                ws.survivor(o.member_id).into(),
                o.purchase_event_id.clone().into(),
                o.amount.map(Money::minor).into(),
                o.refunded.minor().into(),
                o.occurred_at.into(),
            ]
        })
        .collect();
    w.rows(
        "INSERT INTO orders (order_id, member_id, purchase_event_id, amount, refunded, occurred_at)",
        orders,
        "ON CONFLICT (order_id) DO UPDATE SET member_id = excluded.member_id, purchase_event_id = excluded.purchase_event_id, \
         amount = excluded.amount, refunded = excluded.refunded, occurred_at = excluded.occurred_at",
    );

    let referral_ids: BTreeSet<&String> = changes
        .new_referrals
        .iter()
        .chain(&changes.dirty_referrals)
        .collect();
    let referrals = referral_ids
        .into_iter()
        .filter_map(|id| ws.referrals.get(id))
        .map(|r| {
            vec![
                r.event_id.clone().into(),
                ws.survivor(r.inviter_id).into(),
                ws.survivor(r.invitee_id).into(),
                r.referred_at.into(),
                r.converted_at.into(),
                r.status.clone().into(),
                farming::encode(&r.fingerprint).into(),
                r.hold_reason.clone().into(),
            ]
        })
        .collect();
    w.rows(
        "INSERT INTO referrals (event_id, inviter_id, invitee_id, referred_at, converted_at, status, fingerprint, hold_reason)",
        referrals,
        "ON CONFLICT (event_id) DO UPDATE SET inviter_id = excluded.inviter_id, invitee_id = excluded.invitee_id, \
         converted_at = excluded.converted_at, status = excluded.status, fingerprint = excluded.fingerprint, \
         hold_reason = excluded.hold_reason",
    );

    let transitions = changes
        .transitions
        .iter()
        .map(|t| {
            vec![
                ws.survivor(t.member_id).into(),
                t.member_id.into(),
                t.from.as_str().into(),
                t.to.as_str().into(),
                t.from_lens.as_str().into(),
                t.to_lens.as_str().into(),
                t.at.into(),
                t.rule.clone().into(),
                t.reason.clone().into(),
                t.event_id.clone().into(),
            ]
        })
        .collect();
    w.rows(
        "INSERT INTO stage_transitions (member_id, origin_member_id, from_stage, to_stage, from_lens, to_lens, at, rule, reason, event_id)",
        transitions,
        "",
    );
    crate::daily::plan_stage_flows_daily(w, &changes.transitions);

    let merges = changes
        .merges
        .iter()
        .map(|m| {
            vec![
                m.survivor.into(),
                m.merged.into(),
                m.at.into(),
                m.event_id.clone().into(),
                m.actor.clone().into(),
                m.explanation.clone().into(),
            ]
        })
        .collect();
    w.rows(
        "INSERT INTO merges (survivor_id, merged_id, at, event_id, actor, explanation)",
        merges,
        "",
    );

    // A disagreement already on record (open or settled) is not recorded again: a family
    // tablet naming the spouse's phone on every visit makes one conflict, not hundreds.
    for c in &changes.conflicts {
        let member_ids = serde_json::to_string(&c.member_ids)?;
        let values = serde_json::to_string(&c.values)?;
        w.statement(
            "INSERT INTO identity_conflicts (created_at, event_id, kind, member_ids, identity_values, explanation, status) \
             SELECT $1, $2, $3, $4, $5, $6, 'open' WHERE NOT EXISTS \
             (SELECT 1 FROM identity_conflicts WHERE kind = $3 AND member_ids = $4 AND identity_values = $5)",
            vec![
                c.at.into(),
                c.event_id.clone().into(),
                c.kind.as_str().into(),
                member_ids.into(),
                values.into(),
                c.explanation.clone().into(),
            ],
        );
    }
    Ok(())
}

/// Plans the rows of the events a batch accepted, with the member each now belongs to
/// and the clock it was applied at: what replaying the event log needs.
pub(super) fn plan_events(
    w: &mut Writes,
    ws: &WorkingSet,
    events: &[Event],
    digests: &[String],
    accepted: &[(usize, MemberId)],
    clocks: &[Micros],
) -> Result<(), StoreError> {
    let rows = accepted
        .iter()
        .zip(clocks)
        .map(|((i, member), &received_at)| {
            let e = &events[*i];
            let identities: serde_json::Map<String, serde_json::Value> = e
                .identities
                .iter()
                .map(|i| (i.kind.as_str().to_owned(), i.value.clone().into()))
                .collect();
            Ok(vec![
                e.event_id.clone().into(),
                ws.survivor(*member).into(),
                e.type_name.clone().into(),
                e.channel.as_str().into(),
                e.occurred_at.into(),
                received_at.into(),
                serde_json::to_string(&identities)?.into(),
                serde_json::to_string(&e.properties)?.into(),
                digests[*i].clone().into(),
            ])
        })
        .collect::<Result<_, StoreError>>()?;
    w.rows(
        "INSERT INTO events (event_id, member_id, type, channel, occurred_at, received_at, identities, properties, digest)",
        rows,
        "",
    );
    Ok(())
}
