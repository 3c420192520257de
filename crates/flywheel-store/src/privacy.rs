//! A member's rights under PIPL: a copy of everything Flywheel holds about them
//! ([`Store::member_export`]) and erasure ([`Store::erase_member`]).
//!
//! Erasure keeps the member as an anonymous row, so the books still balance and the
//! aggregates (counts by stage, RFM populations, partner settlements) stay right, and
//! removes what identifies the person: their identities (so no later event can reach the
//! row again — the same phone makes a new member), their profile, the identities and
//! personal properties of their events, their identity values wherever a record quoted
//! them (conflicts, merge explanations, ledger reasons, the audit log, a referral naming
//! them as the inviter). Their points are forfeited to the brand's expiry account. On
//! SQLite the writer zeroes freed space (`secure_delete`) and the log is checkpointed
//! and truncated afterwards, so the old values are gone from the files too.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::dialect::lock_identity_keys;
use crate::dialect::{text_columns_query, truncate_write_ahead_log};
use crate::dump::row_json;
use crate::error::StoreError;
use crate::points::ledger::{Lots, load_wallets, write_book};
use crate::rows::member_from_row;
use flywheel_core::MemberId;
use flywheel_core::points::{Book, commands};
use flywheel_core::time::Micros;
use serde_json::{Map, Value};
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::BTreeSet;

/// Everything held about one member, table by table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberExport {
    pub member_id: MemberId,
    /// Ids of members merged into this one.
    pub merged_from: Vec<MemberId>,
    pub erased_at: Option<Micros>,
    pub events: Vec<Value>,
    pub stage_history: Vec<Value>,
    pub merges: Vec<Value>,
    pub identity_conflicts: Vec<Value>,
    pub orders: Vec<Value>,
    pub referrals: Vec<Value>,
    pub points_accounts: Vec<Value>,
    pub points_lots: Vec<Value>,
    pub points_ledger: Vec<Value>,
    pub redemptions: Vec<Value>,
    pub transfers: Vec<Value>,
    pub exchanges: Vec<Value>,
    pub adjustments: Vec<Value>,
    /// Consent per channel, with its source (issue 18).
    pub consents: Vec<Value>,
    /// Service tickets, theirs and those of members merged into them (issue 19).
    pub tickets: Vec<Value>,
    /// Coupon codes issued to them and what became of each (issue 20).
    pub coupons: Vec<Value>,
    /// Links they shared and what each counted (issue 20).
    pub share_links: Vec<Value>,
    pub scores: Option<Value>,
}

/// What an erasure did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Erasure {
    pub member_id: MemberId,
    pub erased_at: Micros,
    /// True when the member had been erased before: nothing changed this time.
    pub already_erased: bool,
    pub identities: usize,
    pub events: usize,
    pub points_forfeited: i64,
}

/// How one erasure attempt ended: done (with the erasure, or `None` for no such member),
/// or to be tried again (the member was merged, or gained identities, under it).
enum Attempt {
    Done(Option<Erasure>),
    Again,
}

/// Event properties that describe what happened rather than who it happened to; erasure
/// keeps these (so orders, refunds and reviews still count) and drops every other key.
const KEPT_PROPERTIES: [&str; 11] = [
    "order_id",
    "amount",
    "currency",
    "store",
    "items",
    "rating",
    "kind",
    "category",
    "direction",
    "complaint_event_id",
    "referrer_erased",
];

async fn rows_json(
    conn: &mut AnyConnection,
    sql: &str,
    member: MemberId,
) -> Result<Vec<Value>, StoreError> {
    let rows = sqlx::query(AssertSqlSafe(sql.to_owned()))
        .bind(member)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.iter().map(row_json).collect())
}

/// Conflicts naming `member` among their members (`member_ids` is a JSON list).
const CONFLICTS_OF: &str = "SELECT id, created_at, event_id, kind, member_ids, identity_values, explanation, status, resolved_at, resolved_by \
     FROM identity_conflicts WHERE (',' || substr(member_ids, 2, length(member_ids) - 2) || ',') LIKE '%,' || CAST($1 AS TEXT) || ',%' ORDER BY id";

impl Store {
    /// Everything held about the member `id` stands for; `None` if there is none.
    pub async fn member_export(&self, id: MemberId) -> Result<Option<MemberExport>, StoreError> {
        let Some(brief) = self.member_brief(id).await? else {
            return Ok(None);
        };
        let m = brief.member_id;
        let mut conn = self.pool().acquire().await?;
        let c: &mut AnyConnection = &mut conn;
        let merged_from: Vec<MemberId> =
            sqlx::query("SELECT id FROM members WHERE merged_into = $1 ORDER BY id")
                .bind(m)
                .fetch_all(&mut *c)
                .await?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()?;
        let erased_at: Option<Micros> = sqlx::query("SELECT erased_at FROM members WHERE id = $1")
            .bind(m)
            .fetch_one(&mut *c)
            .await?
            .try_get("erased_at")?;
        let scores = rows_json(c, "SELECT * FROM member_scores WHERE member_id = $1", m).await?;
        Ok(Some(MemberExport {
            member_id: m,
            merged_from,
            erased_at,
            events: rows_json(
                c,
                "SELECT event_id, type, channel, occurred_at, received_at, identities, properties \
                 FROM events WHERE member_id = $1 ORDER BY occurred_at, event_id",
                m,
            )
            .await?,
            stage_history: rows_json(
                c,
                "SELECT at, from_stage, to_stage, from_lens, to_lens, rule, reason, event_id, origin_member_id \
                 FROM stage_transitions WHERE member_id = $1 ORDER BY at, id",
                m,
            )
            .await?,
            merges: rows_json(
                c,
                "SELECT survivor_id, merged_id, at, event_id, actor, explanation FROM merges \
                 WHERE survivor_id = $1 OR merged_id = $1 ORDER BY at, id",
                m,
            )
            .await?,
            identity_conflicts: rows_json(c, CONFLICTS_OF, m).await?,
            orders: rows_json(
                c,
                "SELECT order_id, purchase_event_id, amount, refunded, occurred_at FROM orders \
                 WHERE member_id = $1 ORDER BY occurred_at, order_id",
                m,
            )
            .await?,
            referrals: rows_json(
                c,
                "SELECT event_id, inviter_id, invitee_id, referred_at, converted_at, status, hold_reason FROM referrals \
                 WHERE inviter_id = $1 OR invitee_id = $1 ORDER BY referred_at, event_id",
                m,
            )
            .await?,
            points_accounts: rows_json(
                c,
                "SELECT account_type, programme, balance FROM points_accounts WHERE member_id = $1 ORDER BY account",
                m,
            )
            .await?,
            points_lots: rows_json(
                c,
                "SELECT id, programme, earned_at, available_at, expires_at, points, remaining, pending, order_id \
                 FROM points_lots WHERE member_id = $1 ORDER BY earned_at, id",
                m,
            )
            .await?,
            points_ledger: rows_json(
                c,
                "SELECT e.txn_key, e.at, e.kind, e.account_type, e.programme, e.amount, t.reason, t.source_type, t.source_id, t.rule_id, t.actor \
                 FROM points_entries e JOIN points_transactions t ON t.key = e.txn_key \
                 WHERE e.member_id = $1 ORDER BY e.at, e.txn_key, e.account_type",
                m,
            )
            .await?,
            redemptions: rows_json(
                c,
                "SELECT id, idempotency_key, reward_id, programme, points, cash, status, created_at, cancelled_at, actor \
                 FROM redemptions WHERE member_id = $1 ORDER BY created_at, id",
                m,
            )
            .await?,
            transfers: rows_json(
                c,
                "SELECT idempotency_key, from_member_id, to_member_id, programme, points, at FROM points_transfers \
                 WHERE from_member_id = $1 OR to_member_id = $1 ORDER BY at, idempotency_key",
                m,
            )
            .await?,
            exchanges: rows_json(
                c,
                "SELECT idempotency_key, partner_id, direction, points, partner_points, at FROM points_exchanges \
                 WHERE member_id = $1 ORDER BY at, idempotency_key",
                m,
            )
            .await?,
            adjustments: rows_json(
                c,
                "SELECT idempotency_key, programme, points, reason, actor, at FROM points_adjustments \
                 WHERE member_id = $1 ORDER BY at, idempotency_key",
                m,
            )
            .await?,
            consents: rows_json(
                c,
                "SELECT channel, granted, source, at, set_by FROM member_consents \
                 WHERE member_id = $1 ORDER BY channel",
                m,
            )
            .await?,
            tickets: rows_json(
                c,
                "SELECT id, kind, category, queue_id, text, channel, status, opened_at, \
                 responded_at, resolved_at FROM tickets WHERE member_id = $1 \
                 OR member_id IN (SELECT id FROM members WHERE merged_into = $1) ORDER BY opened_at, id",
                m,
            )
            .await?,
            coupons: rows_json(
                c,
                "SELECT code, coupon_id, source, issued_at, expires_at, status, order_id, \
                 discount, redeemed_at FROM coupon_codes WHERE member_id = $1 \
                 OR member_id IN (SELECT id FROM members WHERE merged_into = $1) ORDER BY issued_at, code",
                m,
            )
            .await?,
            share_links: rows_json(
                c,
                "SELECT token, url, title, channel, created_at, clicks, readers, buyers, \
                 new_buyers FROM share_links WHERE member_id = $1 \
                 OR member_id IN (SELECT id FROM members WHERE merged_into = $1) ORDER BY created_at, token",
                m,
            )
            .await?,
            scores: scores.into_iter().next(),
        }))
    }

    /// Erases the personal data of the member `id` stands for (see the module's notes),
    /// in one transaction, audited. `None` if there is no such member; erasing an erased
    /// member again changes nothing and says so.
    pub async fn erase_member(
        &self,
        id: MemberId,
        actor: &AuditActor,
        reason: &str,
        now: Micros,
    ) -> Result<Option<Erasure>, StoreError> {
        let mut attempt = 1;
        loop {
            match self.erase_once(id, actor, reason, now).await {
                Ok(Attempt::Done(done)) => return Ok(done),
                Ok(Attempt::Again) if attempt < 8 => {}
                Ok(Attempt::Again) => {
                    return Err(StoreError::Invalid(format!(
                        "member {id} kept changing while being erased"
                    )));
                }
                Err(e) if e.is_transient() && attempt < 8 => {}
                Err(e) => return Err(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(5 << attempt.min(6))).await;
            attempt += 1;
        }
    }

    async fn erase_once(
        &self,
        id: MemberId,
        actor: &AuditActor,
        reason: &str,
        now: Micros,
    ) -> Result<Attempt, StoreError> {
        let Some(brief) = self.member_brief(id).await? else {
            return Ok(Attempt::Done(None));
        };
        let m = brief.member_id;
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        // Ingest's order: the identity keys' locks, then the member's row. A batch that
        // named one of these identities before commits first (and its event is scrubbed
        // with the rest); one that names them after finds no owner and makes a new member.
        let held = member_keys(conn, m).await?;
        lock_identity_keys(conn, self.backend(), &held).await?;
        let rows = crate::dialect::select_members_for_update(conn, self.backend(), [m]).await?;
        let member = match rows.first() {
            Some(row) => member_from_row(row)?,
            None => return Ok(Attempt::Done(None)),
        };
        if member.merged_into.is_some() {
            return Ok(Attempt::Again);
        }
        let now_held = member_keys(conn, m).await?;
        if now_held.iter().any(|k| !held.contains(k)) {
            // Identities arrived between the two reads: lock them all and start over.
            return Ok(Attempt::Again);
        }
        let erased_at: Option<Micros> = sqlx::query("SELECT erased_at FROM members WHERE id = $1")
            .bind(m)
            .fetch_one(&mut *conn)
            .await?
            .try_get("erased_at")?;
        if let Some(at) = erased_at {
            return Ok(Attempt::Done(Some(Erasure {
                member_id: m,
                erased_at: at,
                already_erased: true,
                identities: 0,
                events: 0,
                points_forfeited: 0,
            })));
        }

        let identities: Vec<(String, String)> =
            sqlx::query("SELECT kind, value FROM identities WHERE member_id = $1 ORDER BY key")
                .bind(m)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("kind")?, r.try_get("value")?)))
                .collect::<Result<_, StoreError>>()?;
        let values = spellings(&identities);
        sqlx::query("DELETE FROM identities WHERE member_id = $1")
            .bind(m)
            .execute(&mut *conn)
            .await?;

        // Messages rendered for them carry their name: the text goes, what was sent when
        // stays; nothing still waiting goes out.
        sqlx::query(
            "UPDATE outbox SET subject = NULL, body = '', \
             status = CASE WHEN status IN ('queued', 'waiting', 'sending') THEN 'suppressed' ELSE status END, \
             reason = CASE WHEN status IN ('queued', 'waiting', 'sending') THEN 'member_erased' ELSE reason END \
             WHERE member_id = $1",
        )
        .bind(m)
        .execute(&mut *conn)
        .await?;

        // What they told the service team goes, and the notes about it; when and how
        // fast it was answered stays for the reports.
        sqlx::query(
            "UPDATE ticket_notes SET note = NULL WHERE ticket_id IN \
             (SELECT id FROM tickets WHERE member_id = $1)",
        )
        .bind(m)
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE tickets SET text = NULL WHERE member_id = $1")
            .bind(m)
            .execute(&mut *conn)
            .await?;

        // The hashes of their device, payment account and phone block on the referrals
        // that brought them in go too; why a referral was held stays.
        sqlx::query("UPDATE referrals SET fingerprint = '' WHERE invitee_id = $1")
            .bind(m)
            .execute(&mut *conn)
            .await?;

        // Their own events: no identities, only the properties that say what happened.
        let own = sqlx::query("SELECT event_id, properties FROM events WHERE member_id = $1")
            .bind(m)
            .fetch_all(&mut *conn)
            .await?;
        let events = own.len();
        for row in &own {
            let event_id: String = row.try_get("event_id")?;
            let properties: Map<String, Value> =
                serde_json::from_str(&row.try_get::<String, _>("properties")?)?;
            let kept: Map<String, Value> = properties
                .into_iter()
                .filter(|(k, _)| KEPT_PROPERTIES.contains(&k.as_str()))
                .collect();
            sqlx::query(
                "UPDATE events SET identities = '{}', properties = $1, digest = NULL WHERE event_id = $2",
            )
            .bind(Value::Object(kept).to_string())
            .bind(event_id)
            .execute(&mut *conn)
            .await?;
        }
        // Other members' events that name them: a referral naming them as the inviter,
        // and events whose identities disagreed with theirs (recorded as conflicts).
        let mut others: BTreeSet<String> =
            sqlx::query("SELECT event_id FROM referrals WHERE inviter_id = $1")
                .bind(m)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| r.try_get("event_id"))
                .collect::<Result<_, _>>()?;
        let conflicts = sqlx::query(CONFLICTS_OF)
            .bind(m)
            .fetch_all(&mut *conn)
            .await?;
        for row in &conflicts {
            let conflict: i64 = row.try_get("id")?;
            if let Some(e) = row.try_get::<Option<String>, _>("event_id")? {
                others.insert(e);
            }
            let listed: Vec<String> =
                serde_json::from_str(&row.try_get::<String, _>("identity_values")?)?;
            let listed: Vec<String> = listed
                .into_iter()
                .map(|v| {
                    if values.contains(&v) {
                        "[erased]".into()
                    } else {
                        v
                    }
                })
                .collect();
            let explanation = scrub(&row.try_get::<String, _>("explanation")?, &values);
            sqlx::query(
                "UPDATE identity_conflicts SET identity_values = $1, explanation = $2 WHERE id = $3",
            )
            .bind(serde_json::to_string(&listed)?)
            .bind(explanation)
            .bind(conflict)
            .execute(&mut *conn)
            .await?;
        }
        for event_id in others {
            scrub_foreign_event(conn, &event_id, &values).await?;
        }

        // Free text that may quote an identity value.
        let merged: Vec<MemberId> = sqlx::query("SELECT id FROM members WHERE merged_into = $1")
            .bind(m)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        for value in &values {
            for sql in [
                "UPDATE merges SET explanation = REPLACE(explanation, $1, '[erased]') WHERE survivor_id = $2 OR merged_id = $2",
                "UPDATE stage_transitions SET reason = REPLACE(reason, $1, '[erased]') WHERE member_id = $2",
                "UPDATE points_transactions SET reason = REPLACE(reason, $1, '[erased]') WHERE member_id = $2",
                "UPDATE points_adjustments SET reason = REPLACE(reason, $1, '[erased]'), \
                 request = REPLACE(request, $1, '[erased]') WHERE member_id = $2",
            ] {
                sqlx::query(sql)
                    .bind(value.clone())
                    .bind(m)
                    .execute(&mut *conn)
                    .await?;
            }
            let pattern = format!("%{value}%");
            sqlx::query(
                "UPDATE audit_log SET reason = REPLACE(reason, $1, '[erased]'), \
                 before_value = REPLACE(before_value, $1, '[erased]'), after_value = REPLACE(after_value, $1, '[erased]'), \
                 details = REPLACE(details, $1, '[erased]') \
                 WHERE reason LIKE $2 OR before_value LIKE $2 OR after_value LIKE $2 OR details LIKE $2",
            )
            .bind(value.clone())
            .bind(pattern)
            .execute(&mut *conn)
            .await?;
        }

        // The member row (and those merged into it) stays, anonymous.
        for id in std::iter::once(m).chain(merged.iter().copied()) {
            sqlx::query(
                "UPDATE members SET profile = '{}', erased_at = $1, updated_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }

        // Points nobody can spend any more are forfeited, as expiry.
        let mut book = Book {
            wallets: load_wallets(conn, [m], Lots::All).await?,
            ..Book::default()
        };
        let programmes: Vec<String> = book.wallets.keys().map(|(_, p)| p.clone()).collect();
        let mut forfeited = 0;
        for programme in programmes {
            let wallet = book.wallet(m, &programme, now);
            let (posting, points) =
                commands::forfeit(wallet, &format!("forfeit:erasure:{m}:{programme}"), now);
            forfeited += points;
            if !posting.is_empty() {
                book.postings.push(posting);
            }
        }
        write_book(conn, &book, now).await?;

        let counts = identities.iter().fold(Map::new(), |mut acc, (kind, _)| {
            let n = acc.get(kind).and_then(Value::as_u64).unwrap_or(0);
            acc.insert(kind.clone(), (n + 1).into());
            acc
        });
        let change = AuditChange {
            kind: "member_erasure",
            action: "erase",
            target: format!("member:{m}"),
            reason: Some(reason.to_owned()),
            before: Some(
                serde_json::json!({"identities_by_kind": counts, "events": events,
                                            "merged_from": merged}),
            ),
            after: Some(
                serde_json::json!({"erased_at": flywheel_core::time::to_rfc3339(now),
                                           "points_forfeited": forfeited}),
            ),
        };
        audit::record(conn, now, actor, change).await?;
        // An erased member leaves every segment.
        self.refresh_segments_in(conn, &[m], "erased", now).await?;
        tx.commit().await?;
        self.purge_log_after_erasure().await;
        Ok(Attempt::Done(Some(Erasure {
            member_id: m,
            erased_at: now,
            already_erased: false,
            identities: identities.len(),
            events,
            points_forfeited: forfeited,
        })))
    }

    /// SQLite keeps old page images in its write-ahead log until a checkpoint copies the
    /// log and it starts over: truncate it now, so the erased values leave the files
    /// (the writer's `secure_delete` has zeroed them in the database pages).
    /// A reader in the middle of a query (a request, the background checkpoint) makes
    /// the truncation give up at once, so it is tried again for up to a second.
    async fn purge_log_after_erasure(&self) {
        for attempt in 0..PURGE_ATTEMPTS {
            let done = async {
                let mut writer = self.inner.writes.acquire().await?;
                truncate_write_ahead_log(&mut writer, self.backend()).await
            };
            match done.await {
                Ok(None | Some(true)) => return,
                Ok(Some(false)) if attempt + 1 < PURGE_ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
                Ok(Some(false)) => tracing::warn!(
                    "after an erasure the log could not be truncated (a reader stayed busy); the next checkpoints overwrite it"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "checkpoint after an erasure failed");
                    return;
                }
            }
        }
    }
}

/// How often [`Store::purge_log_after_erasure`] tries, 25 ms apart.
const PURGE_ATTEMPTS: u32 = 40;

/// The keys (`kind:value`) of the identities `member` holds.
async fn member_keys(
    conn: &mut AnyConnection,
    member: MemberId,
) -> Result<Vec<String>, StoreError> {
    sqlx::query("SELECT key FROM identities WHERE member_id = $1 ORDER BY key")
        .bind(member)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get("key").map_err(StoreError::from))
        .collect()
}

/// Every way a record may have spelt the member's identity values: as stored, and a
/// phone also without its `+` and without its country code (`+8613800138000`,
/// `8613800138000`, `13800138000`). Longest first, so a longer spelling is replaced
/// before a shorter one inside it.
fn spellings(identities: &[(String, String)]) -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    for (kind, value) in identities {
        out.insert(value.clone());
        if kind == "phone"
            && let Some(digits) = value.strip_prefix('+')
        {
            out.insert(digits.to_owned());
            if let Some(national) = digits.strip_prefix("86") {
                out.insert(national.to_owned());
            }
        }
    }
    let mut out: Vec<String> = out.into_iter().filter(|v| v.len() >= 3).collect();
    out.sort_by_key(|v| std::cmp::Reverse(v.len()));
    out
}

fn scrub(text: &str, values: &[String]) -> String {
    values
        .iter()
        .fold(text.to_owned(), |t, v| t.replace(v.as_str(), "[erased]"))
}

/// Removes the erased values from another member's event: identities holding one of
/// them, and a referrer naming them.
async fn scrub_foreign_event(
    conn: &mut AnyConnection,
    event_id: &str,
    values: &[String],
) -> Result<(), StoreError> {
    let Some(row) = sqlx::query("SELECT identities, properties FROM events WHERE event_id = $1")
        .bind(event_id.to_owned())
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(());
    };
    let mut identities: Map<String, Value> =
        serde_json::from_str(&row.try_get::<String, _>("identities")?)?;
    let mut properties: Map<String, Value> =
        serde_json::from_str(&row.try_get::<String, _>("properties")?)?;
    let holds = |v: &Value| {
        let text = v.to_string();
        values.iter().any(|x| text.contains(x.as_str()))
    };
    identities.retain(|_, v| !holds(v));
    if properties.get("referrer").is_some_and(holds) {
        properties.remove("referrer");
        properties.insert("referrer_erased".into(), Value::Bool(true));
    }
    sqlx::query(
        "UPDATE events SET identities = $1, properties = $2, digest = NULL WHERE event_id = $3",
    )
    .bind(Value::Object(identities).to_string())
    .bind(Value::Object(properties).to_string())
    .bind(event_id.to_owned())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Every `table.column` whose text holds `needle` — to check that an erasure left
    /// nothing behind. It reads every text column of every table: slow on a large
    /// database, meant for checks and investigations, not for requests.
    pub async fn locate_text(&self, needle: &str) -> Result<Vec<String>, StoreError> {
        let columns: Vec<(String, String)> = sqlx::query(text_columns_query(self.backend()))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("t")?, r.try_get("c")?)))
            .collect::<Result<_, StoreError>>()?;
        let mut found = Vec::new();
        for (table, column) in columns {
            // Names come from the catalogue, not from a caller.
            let sql = format!("SELECT COUNT(*) AS n FROM \"{table}\" WHERE \"{column}\" LIKE $1");
            let n: i64 = sqlx::query(AssertSqlSafe(sql))
                .bind(format!("%{needle}%"))
                .fetch_one(self.pool())
                .await?
                .try_get("n")?;
            if n > 0 {
                found.push(format!("{table}.{column}"));
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_is_scrubbed_in_every_spelling() {
        let values = spellings(&[
            ("phone".into(), "+8613800138000".into()),
            ("email".into(), "li@example.com".into()),
        ]);
        assert_eq!(
            scrub(
                "same as +8613800138000 / 13800138000 / li@example.com",
                &values
            ),
            "same as [erased] / [erased] / [erased]"
        );
    }
}
