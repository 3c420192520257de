//! Reads about members — documents, look-ups, timelines, stage history, merges,
//! conflicts, counts per stage — and the one manual write: merging two members.

use crate::audit::{AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use crate::ingest::{IdentityScope, load_members, write_changes};
use crate::rows::{
    MEMBER_SELECT, ORDER_SELECT, REFERRAL_SELECT, identity_from_row, member_from_row,
    order_from_row, referral_from_row,
};
use crate::survivor::survivor_row;
use flywheel_core::Identity;
use flywheel_core::ingest::{Changes, ManualMerge, MemberId, MemberState, Rules, WorkingSet};
use flywheel_core::time::Micros;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub event_id: String,
    pub member_id: MemberId,
    pub type_name: String,
    pub channel: String,
    pub occurred_at: Micros,
    pub received_at: Micros,
    pub identities: serde_json::Value,
    pub properties: serde_json::Value,
}

/// Where a timeline page ends: the last event shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineCursor {
    pub occurred_at: Micros,
    pub event_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionRow {
    pub member_id: MemberId,
    pub origin_member_id: MemberId,
    pub from: String,
    pub to: String,
    pub from_lens: String,
    pub to_lens: String,
    pub at: Micros,
    pub rule: String,
    pub reason: String,
    pub event_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeRow {
    pub survivor_id: MemberId,
    pub merged_id: MemberId,
    pub at: Micros,
    pub event_id: Option<String>,
    pub actor: String,
    pub explanation: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictRow {
    pub id: i64,
    pub created_at: Micros,
    pub event_id: Option<String>,
    pub kind: String,
    pub member_ids: Vec<MemberId>,
    pub values: Vec<String>,
    pub explanation: String,
    pub status: String,
    pub resolved_at: Option<Micros>,
    pub resolved_by: Option<String>,
}

/// An order as a till shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderLine {
    pub order_id: String,
    /// Minor units; none when the event gave no amount.
    pub amount: Option<i64>,
    pub refunded: bool,
    pub occurred_at: Option<Micros>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageCounts {
    pub total: i64,
    pub stages: BTreeMap<String, i64>,
    pub lenses: BTreeMap<String, i64>,
}

impl Store {
    /// The member `id` stands for now (following merges), with its identities.
    pub async fn member(&self, id: MemberId) -> Result<Option<MemberState>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let select = format!("{MEMBER_SELECT} = $1");
        let Some(row) = survivor_row(&mut conn, &select, id).await? else {
            return Ok(None);
        };
        let mut m = member_from_row(&row)?;
        let rows =
            sqlx::query("SELECT key, member_id FROM identities WHERE member_id = $1 ORDER BY key")
                .bind(m.id)
                .fetch_all(&mut *conn)
                .await?;
        for r in rows {
            m.identities.insert(identity_from_row(&r)?.0);
        }
        Ok(Some(m))
    }

    /// The member holding a (normalised) identity.
    pub async fn lookup(&self, identity: &Identity) -> Result<Option<MemberId>, StoreError> {
        let row = sqlx::query("SELECT member_id FROM identities WHERE key = $1")
            .bind(identity.key())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("member_id")).transpose()?)
    }

    /// A page of a member's events, newest first, after `cursor`.
    pub async fn timeline(
        &self,
        member: MemberId,
        cursor: Option<&TimelineCursor>,
        limit: u32,
    ) -> Result<(Vec<StoredEvent>, Option<TimelineCursor>), StoreError> {
        let cols = "SELECT event_id, member_id, type, channel, occurred_at, received_at, identities, properties FROM events";
        let order = "ORDER BY occurred_at DESC, event_id DESC";
        let fetch = i64::from(limit) + 1;
        let rows = match cursor {
            Some(c) => {
                let sql = format!(
                    "{cols} WHERE member_id = $1 AND (occurred_at < $2 OR (occurred_at = $2 AND event_id < $3)) {order} LIMIT $4"
                );
                let query = sqlx::query(AssertSqlSafe(sql))
                    .bind(member)
                    .bind(c.occurred_at)
                    .bind(c.event_id.clone());
                query.bind(fetch).fetch_all(self.pool()).await?
            }
            None => {
                let sql = format!("{cols} WHERE member_id = $1 {order} LIMIT $2");
                sqlx::query(AssertSqlSafe(sql))
                    .bind(member)
                    .bind(fetch)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        let mut events = Vec::with_capacity(rows.len());
        for r in rows {
            events.push(StoredEvent {
                event_id: r.try_get("event_id")?,
                member_id: r.try_get("member_id")?,
                type_name: r.try_get("type")?,
                channel: r.try_get("channel")?,
                occurred_at: r.try_get("occurred_at")?,
                received_at: r.try_get("received_at")?,
                identities: serde_json::from_str(&r.try_get::<String, _>("identities")?)?,
                properties: serde_json::from_str(&r.try_get::<String, _>("properties")?)?,
            });
        }
        let next = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events.last().map(|e| TimelineCursor {
                occurred_at: e.occurred_at,
                event_id: e.event_id.clone(),
            })
        } else {
            None
        };
        Ok((events, next))
    }

    /// Every stage change of a member (including those of members merged into it).
    pub async fn transitions(&self, member: MemberId) -> Result<Vec<TransitionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT member_id, origin_member_id, from_stage, to_stage, from_lens, to_lens, at, rule, reason, event_id \
             FROM stage_transitions WHERE member_id = $1 ORDER BY at, id",
        )
        .bind(member)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TransitionRow {
                    member_id: r.try_get("member_id")?,
                    origin_member_id: r.try_get("origin_member_id")?,
                    from: r.try_get("from_stage")?,
                    to: r.try_get("to_stage")?,
                    from_lens: r.try_get("from_lens")?,
                    to_lens: r.try_get("to_lens")?,
                    at: r.try_get("at")?,
                    rule: r.try_get("rule")?,
                    reason: r.try_get("reason")?,
                    event_id: r.try_get("event_id")?,
                })
            })
            .collect()
    }

    /// Merges recorded with `member` as the survivor.
    pub async fn merges_into(&self, member: MemberId) -> Result<Vec<MergeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT survivor_id, merged_id, at, event_id, actor, explanation FROM merges WHERE survivor_id = $1 ORDER BY at, id",
        )
        .bind(member)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MergeRow {
                    survivor_id: r.try_get("survivor_id")?,
                    merged_id: r.try_get("merged_id")?,
                    at: r.try_get("at")?,
                    event_id: r.try_get("event_id")?,
                    actor: r.try_get("actor")?,
                    explanation: r.try_get("explanation")?,
                })
            })
            .collect()
    }

    /// Identity conflicts, oldest first, optionally of one status, after id `after`.
    pub async fn conflicts(
        &self,
        status: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ConflictRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, created_at, event_id, kind, member_ids, identity_values, explanation, status, resolved_at, resolved_by \
             FROM identity_conflicts WHERE ($1 = '' OR status = $1) AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(status.unwrap_or("").to_owned())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ConflictRow {
                    id: r.try_get("id")?,
                    created_at: r.try_get("created_at")?,
                    event_id: r.try_get("event_id")?,
                    kind: r.try_get("kind")?,
                    member_ids: serde_json::from_str(&r.try_get::<String, _>("member_ids")?)?,
                    values: serde_json::from_str(&r.try_get::<String, _>("identity_values")?)?,
                    explanation: r.try_get("explanation")?,
                    status: r.try_get("status")?,
                    resolved_at: r.try_get("resolved_at")?,
                    resolved_by: r.try_get("resolved_by")?,
                })
            })
            .collect()
    }

    /// The latest instant any member was judged at (the clock their row was last
    /// written with); none in an empty database. A history imported afterwards is
    /// judged no earlier than this, so no member's story runs backwards.
    pub async fn judged_until(&self) -> Result<Option<Micros>, StoreError> {
        let row = sqlx::query("SELECT MAX(updated_at) AS t FROM members")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("t")?)
    }

    /// The member's latest `limit` orders, theirs and those of members merged into them.
    pub async fn recent_orders(
        &self,
        member: MemberId,
        limit: i64,
    ) -> Result<Vec<OrderLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT order_id, amount, refunded, occurred_at FROM orders \
             WHERE member_id = $1 OR member_id IN (SELECT id FROM members WHERE merged_into = $1) \
             ORDER BY occurred_at DESC, order_id DESC LIMIT $2",
        )
        .bind(member)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OrderLine {
                    order_id: r.try_get("order_id")?,
                    amount: r.try_get("amount")?,
                    refunded: r.try_get::<i64, _>("refunded")? != 0,
                    occurred_at: r.try_get("occurred_at")?,
                })
            })
            .collect()
    }

    /// Up to `limit` members (newest first) whose profile text contains `text` — the
    /// candidates for a search by name or nickname, which the caller narrows to those
    /// fields. A scan of the members table: a search box, not a hot path.
    pub async fn members_with_profile_text(
        &self,
        text: &str,
        limit: i64,
    ) -> Result<Vec<MemberId>, StoreError> {
        let escaped: String = text
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let rows = sqlx::query(
            "SELECT id FROM members WHERE merged_into IS NULL AND profile LIKE $1 ESCAPE '\\' ORDER BY id DESC LIMIT $2",
        )
        .bind(format!("%{escaped}%"))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// Members per stage and per lens (merged-away members are not counted).
    pub async fn stage_counts(&self) -> Result<StageCounts, StoreError> {
        let mut counts = StageCounts::default();
        for (col, map) in [("stage", &mut counts.stages), ("lens", &mut counts.lenses)] {
            let sql = format!(
                "SELECT {col} AS k, COUNT(*) AS n FROM members WHERE merged_into IS NULL GROUP BY {col}"
            );
            for r in sqlx::query(AssertSqlSafe(sql))
                .fetch_all(self.pool())
                .await?
            {
                map.insert(r.try_get("k")?, r.try_get("n")?);
            }
        }
        counts.total = counts.stages.values().sum();
        Ok(counts)
    }

    /// Merges `merged` into `survivor` at a person's request, closes the identity
    /// conflicts between them, and writes an audit record. `Ok(None)` when either member
    /// does not exist or both are already one.
    pub async fn merge_members(
        &self,
        survivor: MemberId,
        merged: MemberId,
        actor: &AuditActor,
        reason: &str,
        rules: &Rules<'_>,
        as_of: Micros,
    ) -> Result<Option<MemberState>, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let mut ws = WorkingSet::default();
        load_members(
            conn,
            self.backend(),
            &IdentityScope::All,
            &mut ws,
            [survivor, merged],
            None,
        )
        .await?;
        let (s, m) = (ws.survivor(survivor), ws.survivor(merged));
        if !ws.members.contains_key(&s) || !ws.members.contains_key(&m) || s == m {
            return Ok(None);
        }
        load_related(conn, &mut ws, &[s, m]).await?;
        let mut changes = Changes::default();
        let summary = |m: &MemberState| {
            serde_json::json!({"id": m.id, "stage": m.stage.as_str(), "lens": m.lens.as_str(),
                               "merged_into": m.merged_into})
        };
        let before = serde_json::json!({"survivor": summary(&ws.members[&s]), "merged": summary(&ws.members[&m])});
        let request = ManualMerge {
            actor: &actor.reference,
            reason,
        };
        ws.merge_manually(s, m, &request, rules, as_of, &mut changes);
        let journeys = self
            .journey_book(conn, &self.segment_settings().lang)
            .await?;
        write_changes(conn, &ws, &changes, as_of, &journeys).await?;
        crate::points::ingest::move_merged_points(conn, &changes, as_of).await?;
        for pair in [format!("[{s},{m}]"), format!("[{m},{s}]")] {
            sqlx::query(
                "UPDATE identity_conflicts SET status = 'merged', resolved_at = $1, resolved_by = $2 \
                 WHERE status = 'open' AND member_ids = $3",
            )
            .bind(as_of)
            .bind(actor.reference.clone())
            .bind(pair)
            .execute(&mut *conn)
            .await?;
        }
        let after = serde_json::json!({"survivor": summary(&ws.members[&s]), "merged": summary(&ws.members[&m])});
        let change = AuditChange {
            kind: "member_merge",
            action: "merge",
            target: format!("member:{s}"),
            reason: Some(reason.to_owned()),
            before: Some(before),
            after: Some(after),
        };
        crate::audit::record(conn, as_of, actor, change).await?;
        crate::segments::live::move_tags(conn, s, m).await?;
        crate::engagement::consent::move_consents(conn, s, m).await?;
        self.refresh_segments_in(conn, &[s, m], &format!("merged:{s}"), as_of)
            .await?;
        tx.commit().await?;
        self.member(s).await
    }
}

/// Orders and referrals of `members`, so a merge can re-point them in memory too.
async fn load_related(
    conn: &mut AnyConnection,
    ws: &mut WorkingSet,
    members: &[MemberId],
) -> Result<(), StoreError> {
    for &id in members {
        let sql = format!("{ORDER_SELECT} member_id = $1");
        for row in sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
        {
            let o = order_from_row(&row)?;
            ws.orders.insert(o.order_id.clone(), o);
        }
        let sql = format!("{REFERRAL_SELECT} invitee_id = $1 OR inviter_id = $1");
        for row in sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
        {
            let r = referral_from_row(&row)?;
            ws.referrals.insert(r.event_id.clone(), r);
        }
    }
    Ok(())
}

impl Store {
    /// Marks an open conflict dismissed (the members are different people). Returns the
    /// conflict and whether this call closed it; `None` if there is no such conflict.
    pub async fn dismiss_conflict(
        &self,
        id: i64,
        actor: &AuditActor,
        reason: &str,
        now: Micros,
    ) -> Result<Option<(ConflictRow, bool)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let closed = sqlx::query(
            "UPDATE identity_conflicts SET status = 'dismissed', resolved_at = $1, resolved_by = $2 WHERE id = $3 AND status = 'open'",
        )
        .bind(now)
        .bind(actor.reference.clone())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if closed {
            // The conflict's values are identities (phones): the record keeps the members.
            let members: String =
                sqlx::query("SELECT member_ids FROM identity_conflicts WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("member_ids")?;
            let members: serde_json::Value = serde_json::from_str(&members)?;
            let change = AuditChange {
                kind: "identity_conflict",
                action: "dismiss",
                target: format!("identity_conflict:{id}"),
                reason: Some(reason.to_owned()),
                before: Some(serde_json::json!({"status": "open", "member_ids": members})),
                after: Some(serde_json::json!({"status": "dismissed", "member_ids": members})),
            };
            crate::audit::record(&mut tx, now, actor, change).await?;
        }
        tx.commit().await?;
        let rows = self.conflicts(None, id.saturating_sub(1), 1).await?;
        Ok(rows.into_iter().find(|c| c.id == id).map(|c| (c, closed)))
    }
}
