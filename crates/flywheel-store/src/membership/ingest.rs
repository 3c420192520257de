//! Tiers inside ingest: loads what the batch's members hold and their qualifying
//! history for the core's tier pass (`flywheel_core::membership::realtime`), and plans
//! what it decided — memberships, tier changes, purchases made by events, card numbers —
//! with the batch's other derived rows, so they commit (or wait in memory, written
//! behind) with the events that caused them.

use super::purchases::{MEMBERSHIP_SELECT, membership_from_row, membership_json};
use crate::error::StoreError;
use crate::plan::Writes;
use crate::sql::{Val, select_in, select_in_binding};
use flywheel_core::membership::card::card_number;
use flywheel_core::membership::realtime::Wanted;
use flywheel_core::membership::{Catalogue, TierPass};
use flywheel_core::time::Micros;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;

/// Loads the tier pass of a batch: the wanted members' memberships, their orders and
/// (when points are a measure) their earnings since `wanted.since`; for members who
/// only earn by rules that look at tiers, their memberships alone.
pub(crate) async fn load_tier_pass<'c>(
    conn: &mut AnyConnection,
    catalogue: &'c Catalogue,
    wanted: &Wanted,
    points_programme: &str,
) -> Result<TierPass<'c>, StoreError> {
    let mut pass = TierPass::new(catalogue, points_programme, wanted);
    let ids = || wanted.members.iter().map(|m| Val::Int(*m));
    let holding = wanted.members.union(&wanted.holders).map(|m| Val::Int(*m));
    let head = format!("{MEMBERSHIP_SELECT} WHERE member_id");
    for row in select_in(conn, &head, holding, "").await? {
        pass.hold(membership_from_row(&row)?);
    }
    // Bound, so each look-up keeps one text (`select_in_binding`).
    let since = [Val::Int(wanted.since)];
    let orders = select_in_binding(
        conn,
        "SELECT order_id, member_id, occurred_at, amount - refunded AS net FROM orders WHERE member_id",
        ids(),
        "AND amount IS NOT NULL AND occurred_at >= $T1",
        &since,
    )
    .await?;
    for row in orders {
        let order_id: String = row.try_get("order_id")?;
        pass.order(
            &order_id,
            row.try_get("member_id")?,
            row.try_get("occurred_at")?,
            row.try_get("net")?,
        );
    }
    if wanted.points {
        let earned = select_in_binding(
            conn,
            "SELECT member_id, at, amount FROM points_entries WHERE member_id",
            ids(),
            "AND kind = 'earn' AND account_type IN ('wallet', 'pending') AND amount > 0 AND at >= $T1",
            &since,
        )
        .await?;
        for row in earned {
            pass.earned(
                row.try_get("member_id")?,
                row.try_get("at")?,
                row.try_get("amount")?,
            );
        }
    }
    Ok(pass)
}

const MEMBERSHIP_INSERT: &str =
    "INSERT INTO memberships (member_id, programme, tier, since, term_start, expires_at, source)";
const MEMBERSHIP_UPSERT_TAIL: &str = "ON CONFLICT (member_id, programme) DO UPDATE SET \
     tier = excluded.tier, since = excluded.since, term_start = excluded.term_start, \
     expires_at = excluded.expires_at, source = excluded.source";
const CHANGE_INSERT: &str = "INSERT INTO tier_changes (member_id, programme, from_tier, to_tier, at, rule, reason, actor, reference)";
const PURCHASE_INSERT: &str = "INSERT INTO membership_purchases (id, idempotency_key, request, member_id, programme, tier, cash, points, \
     term_start, expires_at, txn_key, status, created_at, actor, previous)";
const CARD_INSERT: &str = "INSERT INTO member_cards (member_id, card_no, issued_at)";
const CARD_TAIL: &str = "ON CONFLICT (member_id) DO NOTHING";

/// Plans the rows the tier pass decided. `now` is the batch's clock.
pub(crate) fn plan_tiers(w: &mut Writes, pass: &TierPass<'_>, now: Micros) {
    let memberships: Vec<Vec<Val>> = pass
        .written()
        .map(|m| {
            vec![
                Val::Int(m.member_id),
                m.programme.as_str().into(),
                m.tier.as_str().into(),
                Val::Int(m.since),
                Val::Int(m.term_start),
                Val::OptInt(m.expires_at),
                m.source.as_str().into(),
            ]
        })
        .collect();
    w.rows(MEMBERSHIP_INSERT, memberships, MEMBERSHIP_UPSERT_TAIL);
    let purchases: Vec<Vec<Val>> = pass
        .purchases
        .iter()
        .map(|p| {
            let request = serde_json::json!({"event_id": p.event_id}).to_string();
            vec![
                p.id.as_str().into(),
                format!("event:{}", p.event_id).into(),
                request.into(),
                Val::Int(p.member),
                p.programme.as_str().into(),
                p.tier.as_str().into(),
                Val::Int(p.cash.minor()),
                Val::Int(p.points),
                Val::Int(p.term_start),
                Val::OptInt(p.expires_at),
                Val::OptText(p.txn_key.clone()),
                "completed".into(),
                Val::Int(p.at),
                format!("event:{}", p.event_id).into(),
                Val::OptText(p.previous.as_ref().map(membership_json)),
            ]
        })
        .collect();
    w.rows(PURCHASE_INSERT, purchases, "");
    let changes: Vec<Vec<Val>> = pass
        .moves
        .iter()
        .map(|c| {
            vec![
                Val::Int(c.member),
                c.programme.as_str().into(),
                Val::OptText(c.from.clone()),
                Val::OptText(c.to.clone()),
                Val::Int(c.at),
                c.rule.into(),
                c.reason.as_str().into(),
                "ingest".into(),
                c.reference.as_str().into(),
            ]
        })
        .collect();
    w.rows(CHANGE_INSERT, changes, "");
    // A card is issued when its member first holds a tier: dated then (the tier's
    // `since`), not by the batch the event happened to land in, so a history replayed
    // at its own time issues the same cards whatever its batches.
    let mut carded: BTreeMap<i64, Micros> = BTreeMap::new();
    for m in pass.written() {
        let at = carded.entry(m.member_id).or_insert(now);
        *at = (*at).min(m.since);
    }
    let cards: Vec<Vec<Val>> = carded
        .into_iter()
        .map(|(m, at)| vec![Val::Int(m), card_number(m).into(), Val::Int(at)])
        .collect();
    w.rows(CARD_INSERT, cards, CARD_TAIL);
}
