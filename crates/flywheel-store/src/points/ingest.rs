//! Earning inside ingest: after the core has applied a batch, load the wallets, limits,
//! budgets and order points the batch can touch, run the earning rules for each accepted
//! event (and each converted referral), reverse points for refunds, move merged members'
//! points, and write it all in the batch's transaction. A replayed event never reaches
//! here (ingest drops it as a duplicate), and posting keys are unique besides.

use super::ledger::{Lots, load_wallets, write_book};
use crate::db::Backend;
use crate::error::StoreError;
use crate::sql::{Val, select_in};
use flywheel_core::Limits;
use flywheel_core::event::{Event, Payload};
use flywheel_core::ingest::{Changes, WorkingSet};
use flywheel_core::points::earn::periods;
use flywheel_core::points::rules::REFERRAL_CONVERTED;
use flywheel_core::points::{
    Book, Earning, OrderPoints, PointsPolicy, RuleBook, Trigger, Usage, UsageKey,
};
use flywheel_core::time::Micros;
use flywheel_core::{MemberId, Stage};
use sqlx::{AnyConnection, Row};
use std::collections::BTreeSet;

/// One accepted event, the member it landed on and the instant it was applied at.
pub(crate) struct Accepted<'a> {
    pub event: &'a Event,
    pub member_id: MemberId,
    pub as_of: Micros,
}

/// What the core made of a batch.
pub(crate) struct Batch<'a> {
    pub ws: &'a WorkingSet,
    pub changes: &'a Changes,
    pub accepted: &'a [Accepted<'a>],
}

pub(crate) async fn earn_for_batch(
    conn: &mut AnyConnection,
    backend: Backend,
    rules: &RuleBook,
    policy: &PointsPolicy,
    limits: &Limits,
    batch: &Batch<'_>,
    now: Micros,
) -> Result<(), StoreError> {
    let Batch {
        ws,
        changes,
        accepted,
    } = *batch;
    if accepted.is_empty() && changes.merges.is_empty() {
        return Ok(());
    }
    let members: Vec<MemberId> = ws.members.keys().copied().collect();
    let mut book = Book::default();
    load_orders(conn, &mut book, accepted).await?;
    // Most members of a batch only earn: their wallets need only the lots earning can
    // touch. Members whose points a refund takes back or a merge moves need every lot.
    let whole = members_spending_or_moving(ws, changes, accepted, &book);
    let until = accepted
        .iter()
        .map(|a| a.as_of)
        .chain(changes.conversions.iter().map(|c| c.at))
        .chain(changes.merges.iter().map(|m| m.at))
        .max()
        .unwrap_or(now);
    let earning_only = members.iter().copied().filter(|m| !whole.contains(m));
    book.wallets = load_wallets(conn, earning_only, Lots::ForEarningUntil(until)).await?;
    book.wallets
        .extend(load_wallets(conn, whole, Lots::All).await?);
    load_usage(conn, &mut book, rules, &members, accepted, changes).await?;
    load_budgets(conn, backend, &mut book, rules).await?;

    for m in &changes.merges {
        book.merge(m.survivor, m.merged, m.at);
    }
    for a in accepted {
        let e = a.event;
        let member = ws.survivor(a.member_id);
        let stage = changes
            .stages_before
            .get(&e.event_id)
            .copied()
            .unwrap_or(Stage::None);
        let (amount, items, order_id) = match &e.payload {
            Payload::Purchase(p) => (
                Some(p.amount),
                p.items.as_slice(),
                Some(p.order_id.as_str()),
            ),
            _ => (None, &[][..], None),
        };
        if let Payload::Refund { order_id, .. } = &e.payload {
            if let Some(order) = ws.orders.get(order_id)
                && let Some(amount) = order.amount
            {
                book.reconcile_refund(&e.event_id, order_id, amount, order.refunded, a.as_of);
            }
            continue;
        }
        let earning = Earning {
            source_key: format!("event:{}", e.event_id),
            source_type: "event",
            source_id: &e.event_id,
            member_id: member,
            trigger: Trigger {
                kind: &e.type_name,
                occurred_at: e.occurred_at,
                channel: Some(e.channel),
                stage,
                amount,
                items,
            },
            order_id,
        };
        book.earn(rules.at(e.occurred_at), policy, limits, &earning, a.as_of);
        // A refund that arrived before its purchase is applied now.
        if let Some(order_id) = order_id
            && let Some(order) = ws.orders.get(order_id)
            && order.refunded.minor() > 0
            && let Some(amount) = order.amount
        {
            book.reconcile_refund(&e.event_id, order_id, amount, order.refunded, a.as_of);
        }
    }
    for c in &changes.conversions {
        let earning = Earning {
            source_key: format!("referral:{}", c.referral_event_id),
            source_type: "referral",
            source_id: &c.referral_event_id,
            member_id: ws.survivor(c.inviter_id),
            trigger: Trigger {
                kind: REFERRAL_CONVERTED,
                occurred_at: c.at,
                channel: None,
                stage: c.inviter_stage_before,
                amount: None,
                items: &[],
            },
            order_id: None,
        };
        book.earn(rules.at(c.at), policy, limits, &earning, c.at);
    }
    write_book(conn, &book, now).await
}

/// The members (under every id they have in this batch) whose points something in the
/// batch spends or moves: both sides of each merge, and the owners of every order a
/// refund touches — refunds in the batch, and purchases whose refund arrived first.
fn members_spending_or_moving(
    ws: &WorkingSet,
    changes: &Changes,
    accepted: &[Accepted<'_>],
    book: &Book,
) -> BTreeSet<MemberId> {
    let mut members: BTreeSet<MemberId> = BTreeSet::new();
    for m in &changes.merges {
        members.extend([m.survivor, m.merged, ws.survivor(m.survivor)]);
    }
    let mut refunded: BTreeSet<&str> = BTreeSet::new();
    for a in accepted {
        let refunded_order = match &a.event.payload {
            Payload::Refund { order_id, .. } => Some(order_id.as_str()),
            Payload::Purchase(p)
                if ws
                    .orders
                    .get(&p.order_id)
                    .is_some_and(|o| o.refunded.minor() > 0) =>
            {
                Some(p.order_id.as_str())
            }
            _ => None,
        };
        let Some(order_id) = refunded_order else {
            continue;
        };
        refunded.insert(order_id);
        members.extend([a.member_id, ws.survivor(a.member_id)]);
        if let Some(o) = ws.orders.get(order_id) {
            members.extend([o.member_id, ws.survivor(o.member_id)]);
        }
    }
    for ((order_id, _), points) in &book.orders {
        if refunded.contains(order_id.as_str()) {
            members.extend([points.member_id, ws.survivor(points.member_id)]);
        }
    }
    members
}

async fn load_orders(
    conn: &mut AnyConnection,
    book: &mut Book,
    accepted: &[Accepted<'_>],
) -> Result<(), StoreError> {
    let ids: BTreeSet<&str> = accepted
        .iter()
        .filter_map(|a| match &a.event.payload {
            Payload::Purchase(p) => Some(p.order_id.as_str()),
            Payload::Refund { order_id, .. } => Some(order_id.as_str()),
            _ => None,
        })
        .collect();
    let rows = select_in(
        conn,
        "SELECT order_id, rule_id, programme, member_id, earned, reversed, rate_points, rate_per FROM points_orders WHERE order_id",
        ids.into_iter().map(Val::from),
        "",
    )
    .await?;
    for row in rows {
        book.orders.insert(
            (row.try_get("order_id")?, row.try_get("rule_id")?),
            OrderPoints {
                member_id: row.try_get("member_id")?,
                programme: row.try_get("programme")?,
                earned: row.try_get("earned")?,
                reversed: row.try_get("reversed")?,
                rate_points: row.try_get("rate_points")?,
                rate_per: row.try_get("rate_per")?,
            },
        );
    }
    Ok(())
}

/// Usage rows for the batch's members in the periods its events fall in, for rules
/// with limits.
async fn load_usage(
    conn: &mut AnyConnection,
    book: &mut Book,
    rules: &RuleBook,
    members: &[MemberId],
    accepted: &[Accepted<'_>],
    changes: &Changes,
) -> Result<(), StoreError> {
    let limited = rules
        .versions
        .iter()
        .flat_map(|v| v.rules.iter())
        .any(|r| r.limits.any());
    if !limited || members.is_empty() {
        return Ok(());
    }
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for t in accepted
        .iter()
        .map(|a| a.event.occurred_at)
        .chain(changes.conversions.iter().map(|c| c.at))
    {
        wanted.extend(periods(t));
    }
    // Periods are digits and dashes we formatted ourselves, so they can sit in the SQL.
    let list: Vec<String> = wanted.iter().map(|p| format!("'{p}'")).collect();
    let tail = format!("AND period IN ({})", list.join(","));
    let rows = select_in(
        conn,
        "SELECT member_id, rule_id, period, count, points FROM points_usage WHERE member_id",
        members.iter().map(|m| Val::Int(*m)),
        &tail,
    )
    .await?;
    for row in rows {
        book.usage.insert(
            UsageKey {
                member_id: row.try_get("member_id")?,
                rule_id: row.try_get("rule_id")?,
                period: row.try_get("period")?,
            },
            Usage {
                count: row.try_get("count")?,
                points: row.try_get("points")?,
            },
        );
    }
    Ok(())
}

/// What budgeted rules have spent, locked on PostgreSQL so two batches cannot both
/// spend the last of a budget.
async fn load_budgets(
    conn: &mut AnyConnection,
    backend: Backend,
    book: &mut Book,
    rules: &RuleBook,
) -> Result<(), StoreError> {
    let ids = rules.budgeted();
    if ids.is_empty() {
        return Ok(());
    }
    for id in &ids {
        sqlx::query("INSERT INTO points_budgets (rule_id, spent) VALUES ($1, 0) ON CONFLICT (rule_id) DO NOTHING")
            .bind(id.clone())
            .execute(&mut *conn)
            .await?;
    }
    let tail = match backend {
        Backend::Sqlite => "ORDER BY rule_id",
        Backend::Postgres => "ORDER BY rule_id FOR UPDATE",
    };
    let rows = select_in(
        conn,
        "SELECT rule_id, spent FROM points_budgets WHERE rule_id",
        ids.iter().map(|i| Val::from(i.as_str())),
        tail,
    )
    .await?;
    for row in rows {
        book.budgets
            .insert(row.try_get("rule_id")?, row.try_get("spent")?);
    }
    Ok(())
}

/// Moves the points of members merged by hand (outside ingest) to their survivors.
pub(crate) async fn move_merged_points(
    conn: &mut AnyConnection,
    changes: &Changes,
    now: Micros,
) -> Result<(), StoreError> {
    let ids: BTreeSet<MemberId> = changes
        .merges
        .iter()
        .flat_map(|m| [m.survivor, m.merged])
        .collect();
    let mut book = Book {
        wallets: load_wallets(conn, ids, Lots::All).await?,
        ..Book::default()
    };
    for m in &changes.merges {
        book.merge(m.survivor, m.merged, m.at);
    }
    write_book(conn, &book, now).await
}

impl crate::db::Store {
    /// What a simulation needs to apply limits and budgets: the member's usage in the
    /// periods `at` falls in, and every rule's spent budget. Reads only.
    pub async fn simulation_book(
        &self,
        member_id: Option<MemberId>,
        at: Micros,
    ) -> Result<Book, StoreError> {
        let mut book = Book::default();
        let mut conn = self.pool().acquire().await?;
        if let Some(member) = member_id {
            for period in periods(at) {
                for row in sqlx::query("SELECT rule_id, count, points FROM points_usage WHERE member_id = $1 AND period = $2")
                    .bind(member)
                    .bind(period.clone())
                    .fetch_all(&mut *conn)
                    .await?
                {
                    book.usage.insert(
                        UsageKey {
                            member_id: member,
                            rule_id: row.try_get("rule_id")?,
                            period: period.clone(),
                        },
                        Usage {
                            count: row.try_get("count")?,
                            points: row.try_get("points")?,
                        },
                    );
                }
            }
        }
        for row in sqlx::query("SELECT rule_id, spent FROM points_budgets")
            .fetch_all(&mut *conn)
            .await?
        {
            book.budgets
                .insert(row.try_get("rule_id")?, row.try_get("spent")?);
        }
        Ok(book)
    }
}
