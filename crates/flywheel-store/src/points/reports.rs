//! Points reads: a member's balance and lots, their ledger, the finance report for a
//! period, the trial balance, and the partner settlement report.

use super::ledger::{Lots, load_wallets};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::MemberId;
use flywheel_core::points::{Summary, Wallet};
use flywheel_core::time::{Micros, day_start};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize)]
pub struct LedgerEntry {
    pub key: String,
    pub at: Micros,
    pub kind: String,
    /// `wallet`, `pending` or `debt`.
    pub account: String,
    pub programme: String,
    /// Signed: what the member's account gained (+) or lost (−).
    pub amount: i64,
    pub reason: String,
    pub source_type: String,
    pub source_id: String,
    pub rule_id: Option<String>,
    pub actor: Option<String>,
}

/// Where the next page of a ledger starts (entries are newest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerCursor {
    pub at: Micros,
    pub key: String,
}

/// Totals for a period, and balances at its end.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PointsReport {
    pub programme: String,
    pub from: Micros,
    pub to: Micros,
    /// Awarded by earning rules, less pending points reversed by refunds.
    pub issued: i64,
    /// Pending points reversed by refunds before they became available.
    pub reversed_pending: i64,
    /// Spent on redemptions, less cancelled redemptions.
    pub redeemed: i64,
    pub expired: i64,
    pub clawed_back: i64,
    /// Net points credited (+) or debited (−) by manual adjustments.
    pub adjusted: i64,
    pub transferred: i64,
    pub exchanged_out: i64,
    pub exchanged_in: i64,
    /// Available points held by members at `to` (before any unswept expiry).
    pub outstanding: i64,
    pub pending: i64,
    pub debt: i64,
}

/// What members hold in one programme at an instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PointsBalances {
    /// Available points: what the brand owes.
    pub outstanding: i64,
    /// Earned, not yet available.
    pub pending: i64,
    /// Owed back by members (clawbacks beyond their balance).
    pub debt: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct AccountBalance {
    pub account: String,
    pub account_type: String,
    pub programme: String,
    pub balance: i64,
}

/// Members' accounts of one type, summed.
#[derive(Clone, Debug, Serialize)]
pub struct TrialGroup {
    pub account_type: String,
    pub programme: String,
    pub accounts: i64,
    pub balance: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrialBalance {
    pub accounts: Vec<AccountBalance>,
    pub member_accounts: Vec<TrialGroup>,
    /// The sum of every account's balance: 0 unless the books are broken.
    pub total: i64,
    /// With `verify`: the sum of every entry, recomputed from the entries.
    pub entries_total: Option<i64>,
    /// With `verify`: accounts whose stored balance differs from the sum of their entries.
    pub mismatched_accounts: Option<Vec<String>>,
    /// With `verify`: rows of the daily aggregate (`programme day account_type kind
    /// sign`) that differ from the entries they sum, or that are missing.
    pub mismatched_days: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SettlementRow {
    pub partner_id: String,
    pub day: String,
    pub exchanges: i64,
    pub points_out: i64,
    pub partner_points_out: i64,
    pub points_in: i64,
    pub partner_points_in: i64,
    /// Our points sent minus received: what the partner owes us in their currency terms.
    pub net_points: i64,
    pub net_partner_points: i64,
}

impl Store {
    /// A member's points as seen at `now` (follows merges); None if no such member.
    pub async fn member_points(
        &self,
        member_id: MemberId,
        programme: &str,
        now: Micros,
    ) -> Result<Option<(MemberId, Summary)>, StoreError> {
        let Some(brief) = self.member_brief(member_id).await? else {
            return Ok(None);
        };
        let mut conn = self.pool().acquire().await?;
        let wallets = load_wallets(&mut conn, [brief.member_id], Lots::All).await?;
        let wallet = wallets
            .get(&(brief.member_id, programme.to_owned()))
            .cloned()
            .unwrap_or_else(|| Wallet::new(brief.member_id, programme));
        Ok(Some((brief.member_id, wallet.summary(now))))
    }

    /// A member's ledger lines, newest first.
    pub async fn member_ledger(
        &self,
        member_id: MemberId,
        limit: i64,
        before: Option<&LedgerCursor>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let (at, key) = match before {
            Some(c) => (c.at, c.key.clone()),
            None => (Micros::MAX, String::new()),
        };
        let rows = sqlx::query(
            "SELECT e.txn_key, e.at, e.kind, e.account_type, e.programme, e.amount, t.reason, t.source_type, t.source_id, t.rule_id, t.actor \
             FROM points_entries e JOIN points_transactions t ON t.key = e.txn_key \
             WHERE e.member_id = $1 AND (e.at < $2 OR (e.at = $2 AND ($3 = '' OR e.txn_key < $3))) \
             ORDER BY e.at DESC, e.txn_key DESC, e.account_type LIMIT $4",
        )
        .bind(member_id)
        .bind(at)
        .bind(key)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LedgerEntry {
                    key: r.try_get("txn_key")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    account: r.try_get("account_type")?,
                    programme: r.try_get("programme")?,
                    amount: r.try_get("amount")?,
                    reason: r.try_get("reason")?,
                    source_type: r.try_get("source_type")?,
                    source_id: r.try_get("source_id")?,
                    rule_id: r.try_get("rule_id")?,
                    actor: r.try_get("actor")?,
                })
            })
            .collect()
    }

    /// Flows in [from, to) and balances at `to`, for one programme: whole days from
    /// `points_daily`, the pieces of days at the ends from the entries.
    pub async fn points_report(
        &self,
        programme: &str,
        from: Micros,
        to: Micros,
    ) -> Result<PointsReport, StoreError> {
        let mut flows: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        let split =
            crate::daily::split_days_where_empty(self.pool(), "points_entries", "at", from, to)
                .await?;
        // Both sources answer the same shape: per account type and kind, the sum of
        // what was added and the sum of what was taken.
        let mut queries = Vec::new();
        if let Some((first, end)) = split.days {
            queries.push((
                "SELECT account_type, kind, \
                 CAST(COALESCE(SUM(CASE WHEN sign > 0 THEN amount ELSE 0 END), 0) AS BIGINT) AS plus, \
                 CAST(COALESCE(SUM(CASE WHEN sign < 0 THEN amount ELSE 0 END), 0) AS BIGINT) AS minus \
                 FROM points_daily WHERE programme = $1 AND day >= $2 AND day < $3 GROUP BY account_type, kind",
                first,
                end,
            ));
        }
        for (edge_from, edge_to) in split.edges {
            queries.push((
                "SELECT account_type, kind, \
                 CAST(COALESCE(SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END), 0) AS BIGINT) AS plus, \
                 CAST(COALESCE(SUM(CASE WHEN amount < 0 THEN amount ELSE 0 END), 0) AS BIGINT) AS minus \
                 FROM points_entries WHERE programme = $1 AND at >= $2 AND at < $3 GROUP BY account_type, kind",
                edge_from,
                edge_to,
            ));
        }
        for (sql, start, end) in queries {
            let rows = sqlx::query(sql)
                .bind(programme.to_owned())
                .bind(start)
                .bind(end)
                .fetch_all(self.pool())
                .await?;
            for r in rows {
                let flow = flows
                    .entry((r.try_get("account_type")?, r.try_get("kind")?))
                    .or_default();
                flow.0 += r.try_get::<i64, _>("plus")?;
                flow.1 += r.try_get::<i64, _>("minus")?;
            }
        }
        let net = |account: &str, kind: &str| {
            flows
                .get(&(account.to_owned(), kind.to_owned()))
                .map(|(p, m)| p + m)
                .unwrap_or(0)
        };
        let account_net = |account: &str| -> i64 {
            flows
                .iter()
                .filter(|((a, _), _)| a == account)
                .map(|(_, (p, m))| p + m)
                .sum()
        };
        let reversed_pending = net("issuance", "refund");
        let mut report = PointsReport {
            programme: programme.to_owned(),
            from,
            to,
            issued: -net("issuance", "earn") - reversed_pending,
            reversed_pending,
            redeemed: account_net("redemption"),
            expired: account_net("expiry"),
            clawed_back: account_net("clawback"),
            adjusted: -account_net("adjustment"),
            transferred: -flows
                .get(&("wallet".to_owned(), "transfer".to_owned()))
                .map(|(_, m)| *m)
                .unwrap_or(0),
            exchanged_out: net("clearing", "exchange_out"),
            exchanged_in: -net("clearing", "exchange_in"),
            ..PointsReport::default()
        };
        let balances = self.points_balances(programme, to).await?;
        report.outstanding = balances.outstanding;
        report.pending = balances.pending;
        report.debt = balances.debt;
        Ok(report)
    }

    /// Members' balances in one programme at `to`, from the daily totals (and the
    /// entries of `to`'s own day when more was posted later that day).
    pub async fn points_balances(
        &self,
        programme: &str,
        to: Micros,
    ) -> Result<PointsBalances, StoreError> {
        let mut balances = PointsBalances::default();
        // Balances at `to`: every whole day before its own, then its day so far (or
        // the whole of it, when nothing was posted later that day).
        let upto = crate::daily::split_days_where_empty(
            self.pool(),
            "points_entries",
            "at",
            day_start(to),
            to,
        )
        .await?;
        let (midnight, to) = match upto.days {
            Some((_, end)) => (end, end),
            None => (day_start(to), to),
        };
        let whole_days = sqlx::query(
            "SELECT account_type, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM points_daily \
             WHERE programme = $1 AND day < $2 AND account_type IN ('wallet', 'pending', 'debt') GROUP BY account_type",
        )
        .bind(programme.to_owned())
        .bind(midnight)
        .fetch_all(self.pool())
        .await?;
        let today = sqlx::query(
            "SELECT account_type, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM points_entries \
             WHERE programme = $1 AND at >= $2 AND at < $3 AND account_type IN ('wallet', 'pending', 'debt') GROUP BY account_type",
        )
        .bind(programme.to_owned())
        .bind(midnight)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        for r in whole_days.iter().chain(&today) {
            let total: i64 = r.try_get("total")?;
            match r.try_get::<String, _>("account_type")?.as_str() {
                "wallet" => balances.outstanding += total,
                "pending" => balances.pending += total,
                _ => balances.debt -= total,
            }
        }
        Ok(balances)
    }

    /// Every brand and partner account, members' accounts summed by type, and the total.
    pub async fn trial_balance(&self, verify: bool) -> Result<TrialBalance, StoreError> {
        let mut accounts = Vec::new();
        for r in sqlx::query("SELECT account, account_type, programme, balance FROM points_accounts WHERE member_id IS NULL ORDER BY account")
            .fetch_all(self.pool())
            .await?
        {
            accounts.push(AccountBalance {
                account: r.try_get("account")?,
                account_type: r.try_get("account_type")?,
                programme: r.try_get("programme")?,
                balance: r.try_get("balance")?,
            });
        }
        let mut member_accounts = Vec::new();
        for r in sqlx::query(
            "SELECT account_type, programme, COUNT(*) AS n, CAST(COALESCE(SUM(balance), 0) AS BIGINT) AS total \
             FROM points_accounts WHERE member_id IS NOT NULL GROUP BY account_type, programme ORDER BY programme, account_type",
        )
        .fetch_all(self.pool())
        .await?
        {
            member_accounts.push(TrialGroup {
                account_type: r.try_get("account_type")?,
                programme: r.try_get("programme")?,
                accounts: r.try_get("n")?,
                balance: r.try_get("total")?,
            });
        }
        let total = accounts.iter().map(|a| a.balance).sum::<i64>()
            + member_accounts.iter().map(|g| g.balance).sum::<i64>();
        let (mut entries_total, mut mismatched, mut mismatched_days) = (None, None, None);
        if verify {
            let mut sums: BTreeMap<String, i64> = BTreeMap::new();
            for r in sqlx::query("SELECT account, CAST(SUM(amount) AS BIGINT) AS total FROM points_entries GROUP BY account")
                .fetch_all(self.pool())
                .await?
            {
                sums.insert(r.try_get("account")?, r.try_get("total")?);
            }
            entries_total = Some(sums.values().sum());
            let mut bad = Vec::new();
            for r in sqlx::query("SELECT account, balance FROM points_accounts")
                .fetch_all(self.pool())
                .await?
            {
                let account: String = r.try_get("account")?;
                let balance: i64 = r.try_get("balance")?;
                if sums.remove(&account).unwrap_or(0) != balance {
                    bad.push(account);
                }
            }
            bad.extend(sums.into_iter().filter(|(_, v)| *v != 0).map(|(k, _)| k));
            mismatched = Some(bad);
            mismatched_days = Some(self.mismatched_points_days().await?);
        }
        Ok(TrialBalance {
            accounts,
            member_accounts,
            total,
            entries_total,
            mismatched_accounts: mismatched,
            mismatched_days,
        })
    }

    /// The rows of `points_daily` that differ from the entries they sum (both ways).
    async fn mismatched_points_days(&self) -> Result<Vec<String>, StoreError> {
        type Key = (String, i64, String, String, i64);
        let key = |r: &sqlx::any::AnyRow| -> Result<Key, StoreError> {
            Ok((
                r.try_get("programme")?,
                r.try_get("day")?,
                r.try_get("account_type")?,
                r.try_get("kind")?,
                r.try_get("sign")?,
            ))
        };
        let mut recomputed: BTreeMap<Key, i64> = BTreeMap::new();
        for r in sqlx::query(
            "SELECT programme, at - ((at % 86400000000) + 86400000000) % 86400000000 AS day, account_type, kind, \
             CAST(CASE WHEN amount > 0 THEN 1 ELSE -1 END AS BIGINT) AS sign, CAST(SUM(amount) AS BIGINT) AS total \
             FROM points_entries WHERE amount <> 0 GROUP BY 1, 2, 3, 4, 5",
        )
        .fetch_all(self.pool())
        .await?
        {
            recomputed.insert(key(&r)?, r.try_get("total")?);
        }
        let mut bad = Vec::new();
        let name = |(programme, day, account_type, kind, sign): &Key| {
            format!("{programme} {day} {account_type} {kind} {sign}")
        };
        for r in
            sqlx::query("SELECT programme, day, account_type, kind, sign, amount FROM points_daily")
                .fetch_all(self.pool())
                .await?
        {
            let k = key(&r)?;
            if recomputed.remove(&k) != Some(r.try_get("amount")?) {
                bad.push(name(&k));
            }
        }
        bad.extend(recomputed.keys().map(name));
        Ok(bad)
    }

    /// Exchanges per partner and UTC day (`YYYY-MM-DD`, inclusive).
    pub async fn settlement(
        &self,
        partner_id: Option<&str>,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<SettlementRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT partner_id, day, direction, COUNT(*) AS n, CAST(SUM(points) AS BIGINT) AS points, \
             CAST(SUM(partner_points) AS BIGINT) AS partner_points FROM points_exchanges \
             WHERE day >= $1 AND day <= $2 AND ($3 = '' OR partner_id = $3) \
             GROUP BY partner_id, day, direction ORDER BY partner_id, day",
        )
        .bind(from_day.to_owned())
        .bind(to_day.to_owned())
        .bind(partner_id.unwrap_or("").to_owned())
        .fetch_all(self.pool())
        .await?;
        let mut out: BTreeMap<(String, String), SettlementRow> = BTreeMap::new();
        for r in rows {
            let partner: String = r.try_get("partner_id")?;
            let day: String = r.try_get("day")?;
            let row = out
                .entry((partner.clone(), day.clone()))
                .or_insert_with(|| SettlementRow {
                    partner_id: partner,
                    day,
                    ..SettlementRow::default()
                });
            let n: i64 = r.try_get("n")?;
            let points: i64 = r.try_get("points")?;
            let theirs: i64 = r.try_get("partner_points")?;
            row.exchanges += n;
            if r.try_get::<String, _>("direction")? == "out" {
                row.points_out += points;
                row.partner_points_out += theirs;
            } else {
                row.points_in += points;
                row.partner_points_in += theirs;
            }
            row.net_points = row.points_out - row.points_in;
            row.net_partner_points = row.partner_points_out - row.partner_points_in;
        }
        Ok(out.into_values().collect())
    }
}
