//! Loading wallets and writing postings: the only code that touches the ledger tables'
//! rows directly. Account balances are updated by delta in the same transaction as their
//! entries; the brand's accounts last and in a fixed order, because every earning touches
//! them and on PostgreSQL their row locks are held until commit.

use crate::error::StoreError;
use crate::plan::Writes;
use crate::sql::{Val, select_in, select_in_binding};
use flywheel_core::MemberId;
use flywheel_core::points::{Book, Kind, Lot, Posting, Wallet};
use flywheel_core::time::Micros;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;

pub(crate) const LOT_SELECT: &str = "SELECT id, member_id, programme, earned_at, available_at, expires_at, points, remaining, pending, order_id FROM points_lots WHERE";

pub(crate) fn lot_from_row(row: &AnyRow) -> Result<Lot, StoreError> {
    Ok(Lot {
        id: row.try_get("id")?,
        member_id: row.try_get("member_id")?,
        programme: row.try_get("programme")?,
        earned_at: row.try_get("earned_at")?,
        available_at: row.try_get("available_at")?,
        expires_at: row.try_get("expires_at")?,
        points: row.try_get("points")?,
        remaining: row.try_get("remaining")?,
        pending: row.try_get::<i64, _>("pending")? != 0,
        order_id: row.try_get("order_id")?,
    })
}

/// Which of a wallet's lots with points left to load.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lots {
    /// All of them: anything that spends, moves or sums points needs every lot.
    All,
    /// Only the lots earning can touch up to this instant: those due to mature or expire
    /// by then (settling posts them) and available lots not tied to an order (a credit
    /// joins the one with its expiry). The lots left out — order lots not yet due — stay
    /// as they are in the database until something spends or moves them, which refunds
    /// and merges do, so those load `All`.
    ForEarningUntil(Micros),
    /// Only the lots settling can touch by this instant: pending lots whose return window
    /// has passed and available lots past expiry. The sweep posts nothing else, and
    /// what it does not load it does not write.
    DueBy(Micros),
}

/// The wallets (every programme) of `members`: their lots with points left (as `lots`
/// says) and their debt.
pub(crate) async fn load_wallets(
    conn: &mut AnyConnection,
    members: impl IntoIterator<Item = MemberId>,
    lots: Lots,
) -> Result<BTreeMap<(MemberId, String), Wallet>, StoreError> {
    let ids: Vec<MemberId> = members.into_iter().collect();
    let mut wallets: BTreeMap<(MemberId, String), Wallet> = BTreeMap::new();
    let head = format!("{LOT_SELECT} member_id");
    let (tail, until) = match lots {
        Lots::All => ("AND remaining > 0", Vec::new()),
        Lots::ForEarningUntil(until) => (
            "AND remaining > 0 AND (order_id IS NULL OR (pending = 1 AND available_at <= $T1) \
             OR (pending = 0 AND expires_at <= $T1))",
            vec![Val::Int(until)],
        ),
        Lots::DueBy(until) => (
            "AND remaining > 0 AND ((pending = 1 AND available_at <= $T1) \
             OR (pending = 0 AND expires_at <= $T1))",
            vec![Val::Int(until)],
        ),
    };
    let rows =
        select_in_binding(conn, &head, ids.iter().map(|i| Val::Int(*i)), tail, &until).await?;
    for row in rows {
        let lot = lot_from_row(&row)?;
        wallets
            .entry((lot.member_id, lot.programme.clone()))
            .or_insert_with(|| Wallet::new(lot.member_id, &lot.programme))
            .lots
            .push(lot);
    }
    let rows = select_in(
        conn,
        "SELECT member_id, programme, balance FROM points_accounts WHERE member_id",
        ids.iter().map(|i| Val::Int(*i)),
        "AND account_type = 'debt' AND balance <> 0",
    )
    .await?;
    for row in rows {
        let member: MemberId = row.try_get("member_id")?;
        let programme: String = row.try_get("programme")?;
        let balance: i64 = row.try_get("balance")?;
        wallets
            .entry((member, programme.clone()))
            .or_insert_with(|| Wallet::new(member, &programme))
            .debt = -balance;
    }
    for w in wallets.values_mut() {
        w.lots.sort_by(|a, b| a.id.cmp(&b.id));
    }
    Ok(wallets)
}

/// Lots by id, whatever is left of them (a cancelled redemption returns points to them).
pub(crate) async fn load_lots(
    conn: &mut AnyConnection,
    ids: impl IntoIterator<Item = String>,
) -> Result<Vec<Lot>, StoreError> {
    let head = format!("{LOT_SELECT} id");
    select_in(conn, &head, ids.into_iter().map(Val::Text), "")
        .await?
        .iter()
        .map(lot_from_row)
        .collect()
}

/// Plans postings with their entries, lot moves and account balances.
fn plan_postings(w: &mut Writes, postings: &[Posting], now: Micros) -> Result<(), StoreError> {
    if postings.is_empty() {
        return Ok(());
    }
    let mut txns = Vec::with_capacity(postings.len());
    let mut entries = Vec::new();
    let mut moves = Vec::new();
    let mut deltas: BTreeMap<String, (i64, &flywheel_core::points::Account)> = BTreeMap::new();
    for p in postings {
        if !p.is_balanced() {
            return Err(StoreError::Invalid(format!(
                "refusing unbalanced posting {}",
                p.key
            )));
        }
        txns.push(vec![
            p.key.clone().into(),
            p.kind.as_str().into(),
            p.programme.clone().into(),
            p.reason.clone().into(),
            p.source_type.into(),
            p.source_id.clone().into(),
            p.rule_id.clone().into(),
            p.actor.clone().into(),
            p.member_id.into(),
            p.at.into(),
            now.into(),
        ]);
        for (account, amount) in &p.entries {
            let code = account.to_string();
            entries.push(vec![
                p.key.clone().into(),
                code.clone().into(),
                account.type_name().into(),
                account.programme().into(),
                account.member_id().into(),
                account.partner_id().map(str::to_owned).into(),
                p.kind.as_str().into(),
                p.at.into(),
                (*amount).into(),
            ]);
            let delta = &mut deltas.entry(code).or_insert((0, account)).0;
            *delta = delta.checked_add(*amount).ok_or_else(|| {
                StoreError::Invalid(format!("the postings of {} overflow an account", p.key))
            })?;
        }
        // Only a redemption's moves are ever read back (a cancellation returns points to
        // those lots); storing every earning's move would double the rows per event.
        for m in p.lot_moves.iter().filter(|_| p.kind == Kind::Redeem) {
            moves.push(vec![
                p.key.clone().into(),
                m.lot_id.clone().into(),
                m.points.into(),
            ]);
        }
    }
    w.rows(
        "INSERT INTO points_transactions (key, kind, programme, reason, source_type, source_id, rule_id, actor, member_id, at, posted_at)",
        txns,
        "",
    );
    w.rows(
        "INSERT INTO points_entries (txn_key, account, account_type, programme, member_id, partner_id, kind, at, amount)",
        entries,
        "",
    );
    crate::daily::plan_points_daily(
        w,
        postings.iter().flat_map(|p| {
            p.entries.iter().map(|(account, amount)| {
                (
                    account.programme(),
                    account.type_name(),
                    p.kind.as_str(),
                    p.at,
                    *amount,
                )
            })
        }),
    );
    w.rows(
        "INSERT INTO points_lot_moves (txn_key, lot_id, points)",
        moves,
        "",
    );
    // Every account an entry touched, even when its entries net to zero (a member's
    // earning moved on by a merge in the same batch): the account then exists however
    // the stream was cut into batches.
    let (members, brand): (Vec<_>, Vec<_>) = deltas
        .into_iter()
        .partition(|(_, (_, a))| a.member_id().is_some());
    // Members' accounts, then the brand's and partners'. A member's account is written
    // by one waiting plan at a time; the brand's by nearly every plan, so a flush sums
    // their deltas into one row per account (`plan.rs`).
    for (group, summed) in [(members, false), (brand, true)] {
        let rows = group
            .into_iter()
            .map(|(code, (delta, a))| {
                vec![
                    code.into(),
                    a.type_name().into(),
                    a.programme().into(),
                    a.member_id().into(),
                    a.partner_id().map(str::to_owned).into(),
                    delta.into(),
                ]
            })
            .collect();
        let head = "INSERT INTO points_accounts (account, account_type, programme, member_id, partner_id, balance)";
        let tail = "ON CONFLICT (account) DO UPDATE SET balance = points_accounts.balance + excluded.balance";
        if summed {
            w.summed_rows(head, rows, tail);
        } else {
            w.rows(head, rows, tail);
        }
    }
    Ok(())
}

/// Plans the lots created or changed.
fn plan_lots<'a>(w: &mut Writes, lots: impl Iterator<Item = &'a Lot>) {
    let rows = lots
        .map(|l| {
            vec![
                l.id.clone().into(),
                l.member_id.into(),
                l.programme.clone().into(),
                l.earned_at.into(),
                l.available_at.into(),
                l.expires_at.into(),
                l.points.into(),
                l.remaining.into(),
                i64::from(l.pending).into(),
                l.order_id.clone().into(),
            ]
        })
        .collect();
    w.rows(
        "INSERT INTO points_lots (id, member_id, programme, earned_at, available_at, expires_at, points, remaining, pending, order_id)",
        rows,
        "ON CONFLICT (id) DO UPDATE SET member_id = excluded.member_id, points = excluded.points, remaining = excluded.remaining, pending = excluded.pending",
    );
}

/// Writes everything a [`Book`] changed, now.
pub(crate) async fn write_book(
    conn: &mut AnyConnection,
    book: &Book,
    now: Micros,
) -> Result<(), StoreError> {
    let mut w = Writes::default();
    plan_book(&mut w, book, now)?;
    Ok(w.run(conn).await?)
}

/// Plans everything a [`Book`] changed: usage, budgets, orders, lots, then postings.
pub(crate) fn plan_book(w: &mut Writes, book: &Book, now: Micros) -> Result<(), StoreError> {
    let usage = book
        .dirty_usage
        .iter()
        .map(|k| {
            let u = book.usage[k];
            vec![
                k.member_id.into(),
                k.rule_id.clone().into(),
                k.period.clone().into(),
                u.count.into(),
                u.points.into(),
            ]
        })
        .collect();
    w.rows(
        "INSERT INTO points_usage (member_id, rule_id, period, count, points)",
        usage,
        "ON CONFLICT (member_id, rule_id, period) DO UPDATE SET count = excluded.count, points = excluded.points",
    );
    let budgets = book
        .dirty_budgets
        .iter()
        .map(|r| vec![r.clone().into(), book.budgets[r].into()])
        .collect();
    w.rows(
        "INSERT INTO points_budgets (rule_id, spent)",
        budgets,
        "ON CONFLICT (rule_id) DO UPDATE SET spent = excluded.spent",
    );
    let orders = book
        .dirty_orders
        .iter()
        .map(|k| {
            let o = &book.orders[k];
            vec![
                k.0.clone().into(),
                k.1.clone().into(),
                o.programme.clone().into(),
                book.survivor(o.member_id).into(),
                o.earned.into(),
                o.reversed.into(),
                o.rate_points.into(),
                o.rate_per.into(),
            ]
        })
        .collect();
    w.rows(
        "INSERT INTO points_orders (order_id, rule_id, programme, member_id, earned, reversed, rate_points, rate_per)",
        orders,
        "ON CONFLICT (order_id, rule_id) DO UPDATE SET member_id = excluded.member_id, earned = excluded.earned, \
         reversed = excluded.reversed, rate_points = excluded.rate_points, rate_per = excluded.rate_per",
    );
    plan_lots(w, book.dirty_lots());
    plan_postings(w, &book.postings, now)
}
