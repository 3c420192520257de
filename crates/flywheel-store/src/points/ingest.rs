//! Points inside ingest: the core decides (`flywheel_core::ingest::points`) which events
//! earn, which merged members' points move, which refunds reverse and which referrals
//! pay, and what of the ledger that needs; this file loads that — wallets, limit usage,
//! budgets, the orders' points — and writes the book back, in the batch's transaction. A
//! replayed event never reaches here (ingest drops it as a duplicate), and posting keys
//! are unique besides.

use super::ledger::{Lots, load_wallets, write_book};
use crate::cache::{MemberCache, PointsReached, UsageReached};
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
use std::collections::{BTreeSet, HashMap};

/// Loads what the batch's earning reads and earns; the caller plans the book's writes.
/// None when the batch earns nothing.
///
/// Members the batch created (not in `loaded`) have no points yet: nothing is read for
/// them. With `cache` (the member cache, trusted at this write generation), wallets and
/// rule usage it holds are taken from it instead of the database, and wallets it lacks
/// are loaded whole so that they can be kept: [`PointsReached`] says which the book
/// then holds in full, for `MemberCache::install` after the commit.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn earn_for_batch(
    conn: &mut AnyConnection,
    backend: Backend,
    rules: &RuleBook,
    policy: &Rules<'_>,
    batch: &Batch<'_>,
    tiers: Option<&mut TierPass<'_>>,
    now: Micros,
    loaded: &BTreeSet<MemberId>,
    cache: Option<&MemberCache>,
) -> Result<Option<(Book, PointsReached)>, StoreError> {
    if batch.earns_nothing() {
        return Ok(None);
    }
    let members: Vec<MemberId> = batch.ws.members.keys().copied().collect();
    let mut book = Book::default();
    load_orders(conn, &mut book, batch.orders()).await?;
    let mut reached = load_earning_wallets(conn, &mut book, batch, now, loaded, cache).await?;
    reached.usage = load_usage(conn, &mut book, rules, &members, batch, loaded, cache).await?;
    load_budgets(conn, backend, &mut book, rules).await?;
    earn_batch(&mut book, rules, policy.points, policy.limits, batch, tiers);
    Ok(Some((book, reached)))
}

/// The wallets of the batch's members into `book`: whole for those whose points a
/// refund takes back, a merge moves or a purchase spends; for the rest, the lots
/// earning can touch up to the batch's horizon — from the cache's views where they
/// answer, else (to keep a view after the commit) whole, or without a cache only those
/// lots.
async fn load_earning_wallets(
    conn: &mut AnyConnection,
    book: &mut Book,
    batch: &Batch<'_>,
    now: Micros,
    loaded: &BTreeSet<MemberId>,
    cache: Option<&MemberCache>,
) -> Result<PointsReached, StoreError> {
    let whole = batch.members_spending_or_moving(book);
    let until = batch.horizon(now);
    // Members the batch created: known to have nothing.
    let mut known = Vec::new();
    let mut from_cache = Vec::new();
    let mut partial = Vec::new();
    let mut full: Vec<MemberId> = whole.iter().copied().collect();
    for &m in batch.ws.members.keys().filter(|m| !whole.contains(m)) {
        if !loaded.contains(&m) {
            known.push(m);
            continue;
        }
        match cache.and_then(|c| c.wallets_of(m)) {
            Some(views) if views.iter().all(|v| v.serves(until)) => {
                for v in views {
                    if let Some(w) = v.wallet(m) {
                        book.wallets.insert((m, v.programme.clone()), w);
                    }
                }
                from_cache.push(m);
            }
            _ if cache.is_some() => full.push(m),
            _ => partial.push(m),
        }
    }
    if cfg!(debug_assertions) && !(from_cache.is_empty() && known.is_empty()) {
        // Tests run debug builds: every wallet taken from the cache or taken to be empty
        // is checked against the database (which, written behind, the group flushed for
        // these members first).
        let checked = from_cache.iter().chain(&known).copied();
        let stored = load_wallets(conn, checked, Lots::ForEarningUntil(until)).await?;
        assert_eq!(
            stored, book.wallets,
            "the member cache's wallets differ from the database's"
        );
    }
    book.wallets
        .extend(load_wallets(conn, partial.iter().copied(), Lots::ForEarningUntil(until)).await?);
    book.wallets
        .extend(load_wallets(conn, full.iter().copied(), Lots::All).await?);
    metrics::counter!("flywheel_member_cache_wallets_total", "from" => "cache")
        .increment(from_cache.len() as u64);
    metrics::counter!("flywheel_member_cache_wallets_total", "from" => "database")
        .increment((full.len() + partial.len()) as u64);
    Ok(PointsReached {
        whole_wallets: full.into_iter().chain(known).collect(),
        cached_wallets: from_cache.into_iter().collect(),
        usage: None,
    })
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
/// with limits: from the cache where it holds them for those periods. Answers which
/// members' usage the book then holds in full for which periods (None: no rule has
/// limits, nothing was loaded).
async fn load_usage(
    conn: &mut AnyConnection,
    book: &mut Book,
    rules: &RuleBook,
    members: &[MemberId],
    batch: &Batch<'_>,
    loaded: &BTreeSet<MemberId>,
    cache: Option<&MemberCache>,
) -> Result<Option<UsageReached>, StoreError> {
    let limited = rules
        .versions
        .iter()
        .flat_map(|v| v.rules.iter())
        .any(|r| r.limits.any());
    if !limited || members.is_empty() {
        return Ok(None);
    }
    let wanted = batch.usage_periods();
    let mut missing = Vec::new();
    let mut from_cache = BTreeSet::new();
    for &m in members {
        match cache.and_then(|c| c.usage_of(m)) {
            // A member the batch created has awarded nothing yet.
            _ if !loaded.contains(&m) => {
                from_cache.insert(m);
            }
            Some(u) if u.covers(&wanted) => {
                book.usage.extend(u.rows_in(m, &wanted));
                from_cache.insert(m);
            }
            _ => missing.push(m),
        }
    }
    if cfg!(debug_assertions) && !from_cache.is_empty() {
        // Checked against the database in tests, as the wallets are (with the members the
        // batch created).
        let stored = read_usage(conn, from_cache.iter().copied(), &wanted).await?;
        let cached: HashMap<UsageKey, Usage> = book
            .usage
            .iter()
            .filter(|(k, _)| from_cache.contains(&k.member_id))
            .map(|(k, u)| (k.clone(), *u))
            .collect();
        assert_eq!(
            stored, cached,
            "the member cache's rule usage differs from the database's"
        );
    }
    book.usage
        .extend(read_usage(conn, missing.into_iter(), &wanted).await?);
    Ok(Some(UsageReached {
        members: members.iter().copied().collect(),
        periods: wanted,
    }))
}

/// Every usage row of `members` in `periods`.
async fn read_usage(
    conn: &mut AnyConnection,
    members: impl Iterator<Item = MemberId>,
    periods: &BTreeSet<String>,
) -> Result<HashMap<UsageKey, Usage>, StoreError> {
    // Bound, so the look-up keeps one text per count of periods (`select_in_binding`).
    let periods: Vec<Val> = periods.iter().map(|p| Val::Text(p.clone())).collect();
    let marks: Vec<String> = (1..=periods.len()).map(|t| format!("$T{t}")).collect();
    let tail = format!("AND period IN ({})", marks.join(","));
    let rows = select_in_binding(
        conn,
        "SELECT member_id, rule_id, period, count, points FROM points_usage WHERE member_id",
        members.map(Val::Int),
        &tail,
        &periods,
    )
    .await?;
    let mut out = HashMap::new();
    for row in rows {
        out.insert(
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
    Ok(out)
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
            let wanted: BTreeSet<String> = periods(at).into_iter().collect();
            book.usage = read_usage(&mut conn, std::iter::once(member), &wanted).await?;
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
