//! Points inside ingest: the core decides (`flywheel_core::ingest::points`) which events
//! earn, which merged members' points move, which refunds reverse and which referrals
//! pay, and what of the ledger that needs; this file loads that — wallets, limit usage,
//! budgets, the orders' points — and writes the book back, in the batch's transaction. A
//! replayed event never reaches here (ingest drops it as a duplicate), and posting keys
//! are unique besides.

use super::ledger::{Lots, load_wallets, write_book};
use crate::db::Backend;
use crate::dialect::row_lock;
use crate::error::StoreError;
use crate::sql::{Val, select_in, select_in_binding};
use flywheel_core::MemberId;
use flywheel_core::ingest::points::{Batch, earn_batch};
use flywheel_core::ingest::{Changes, Rules};
use flywheel_core::membership::TierPass;
use flywheel_core::points::earn::periods;
use flywheel_core::points::{Book, OrderPoints, RuleBook, Usage, UsageKey};
use flywheel_core::time::Micros;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeSet;

/// Loads what the batch's earning reads and earns; the caller plans the book's writes.
/// None when the batch earns nothing.
pub(crate) async fn earn_for_batch(
    conn: &mut AnyConnection,
    backend: Backend,
    rules: &RuleBook,
    policy: &Rules<'_>,
    batch: &Batch<'_>,
    tiers: Option<&mut TierPass<'_>>,
    now: Micros,
) -> Result<Option<Book>, StoreError> {
    if batch.earns_nothing() {
        return Ok(None);
    }
    let members: Vec<MemberId> = batch.ws.members.keys().copied().collect();
    let mut book = Book::default();
    load_orders(conn, &mut book, batch.orders()).await?;
    // Most members of a batch only earn: their wallets need only the lots earning can
    // touch. Members whose points a refund takes back or a merge moves need every lot.
    let whole = batch.members_spending_or_moving(&book);
    let until = batch.horizon(now);
    let earning_only = members.iter().copied().filter(|m| !whole.contains(m));
    book.wallets = load_wallets(conn, earning_only, Lots::ForEarningUntil(until)).await?;
    book.wallets
        .extend(load_wallets(conn, whole, Lots::All).await?);
    load_usage(conn, &mut book, rules, &members, batch).await?;
    load_budgets(conn, backend, &mut book, rules).await?;
    earn_batch(&mut book, rules, policy.points, policy.limits, batch, tiers);
    Ok(Some(book))
}

async fn load_orders(
    conn: &mut AnyConnection,
    book: &mut Book,
    ids: BTreeSet<&str>,
) -> Result<(), StoreError> {
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
    batch: &Batch<'_>,
) -> Result<(), StoreError> {
    let limited = rules
        .versions
        .iter()
        .flat_map(|v| v.rules.iter())
        .any(|r| r.limits.any());
    if !limited || members.is_empty() {
        return Ok(());
    }
    let wanted = batch.usage_periods();
    // Bound, so the look-up keeps one text per count of periods (`select_in_binding`).
    let periods: Vec<Val> = wanted.iter().map(|p| Val::Text(p.to_string())).collect();
    let marks: Vec<String> = (1..=periods.len()).map(|t| format!("$T{t}")).collect();
    let tail = format!("AND period IN ({})", marks.join(","));
    let rows = select_in_binding(
        conn,
        "SELECT member_id, rule_id, period, count, points FROM points_usage WHERE member_id",
        members.iter().map(|m| Val::Int(*m)),
        &tail,
        &periods,
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
    let tail = format!("ORDER BY rule_id{}", row_lock(backend));
    let rows = select_in(
        conn,
        "SELECT rule_id, spent FROM points_budgets WHERE rule_id",
        ids.iter().map(|i| Val::from(i.as_str())),
        &tail,
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
