//! WeCom contacts (issue 22): each link between a shop assistant and a customer, kept
//! from the `wecom_contact_added` / `wecom_contact_ended` events the WeCom callback
//! ingests (`flywheel_core::wechat`), planned with the batch that applies them. The
//! assistant who adds a customer becomes their owner when they have none (seed 003:
//! each shop assistant holds their members).
//!
//! Customer groups likewise: each WeCom group chat and its customers' joins and leaves
//! (`group_joined` / `group_left` events naming a `wecom_external_id`), kept as the
//! latest of each so pushes arriving out of order agree with the member's facts.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use crate::plan::Writes;
use crate::sql::Val;
use flywheel_core::event::{Event, Payload};
use flywheel_core::ingest::{MemberId, WorkingSet};
use flywheel_core::time::Micros;
use flywheel_core::wechat::{CONTACT_ADDED, CONTACT_ENDED};
use serde_json::json;
use sqlx::{AnyConnection, Row};

/// One assistant's link with a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WecomContactRow {
    pub staff_id: String,
    pub external_id: String,
    pub added_at: Micros,
    pub state: Option<String>,
    pub ended_at: Option<Micros>,
    /// `staff` or `customer`.
    pub ended_by: Option<String>,
}

fn text<'a>(e: &'a Event, key: &str) -> Option<&'a str> {
    e.properties.get(key).and_then(|v| v.as_str())
}

/// The links the batch's WeCom contact events open and end, and the owners they set.
pub(crate) fn plan_wecom_contacts(
    w: &mut Writes,
    ws: &WorkingSet,
    events: &[Event],
    accepted: &[(usize, MemberId)],
) {
    for &(i, member) in accepted {
        let e = &events[i];
        if let Payload::GroupJoined { group } | Payload::GroupLeft { group } = &e.payload {
            plan_group_member(w, ws, e, group, member);
            continue;
        }
        if e.type_name != CONTACT_ADDED && e.type_name != CONTACT_ENDED {
            continue;
        }
        let (Some(staff), Some(external)) = (
            text(e, "staff"),
            e.identities
                .iter()
                .find(|id| id.kind == flywheel_core::IdentityKind::WecomExternalId)
                .map(|id| id.value.as_str()),
        ) else {
            continue;
        };
        let member = ws.survivor(member);
        if e.type_name == CONTACT_ADDED {
            // Added again after an end (by this event's clock): open again.
            w.statement(
                "INSERT INTO wecom_contacts (staff_id, external_id, member_id, added_at, state) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (staff_id, external_id) DO UPDATE SET \
                 member_id = excluded.member_id, state = COALESCE(excluded.state, wecom_contacts.state), \
                 added_at = CASE WHEN wecom_contacts.ended_at IS NOT NULL \
                   AND wecom_contacts.ended_at <= excluded.added_at THEN excluded.added_at \
                   WHEN excluded.added_at < wecom_contacts.added_at THEN excluded.added_at \
                   ELSE wecom_contacts.added_at END, \
                 ended_by = CASE WHEN wecom_contacts.ended_at IS NOT NULL \
                   AND wecom_contacts.ended_at <= excluded.added_at THEN NULL ELSE wecom_contacts.ended_by END, \
                 ended_at = CASE WHEN wecom_contacts.ended_at IS NOT NULL \
                   AND wecom_contacts.ended_at <= excluded.added_at THEN NULL ELSE wecom_contacts.ended_at END",
                vec![
                    staff.into(),
                    external.into(),
                    Val::Int(member),
                    Val::Int(e.occurred_at),
                    text(e, "state").map(str::to_owned).into(),
                ],
            );
            w.statement(
                "INSERT INTO member_owners (member_id, staff_id, since, assigned_by, reason) \
                 VALUES ($1, $2, $3, 'wecom:add_external_contact', 'added the customer on WeCom') \
                 ON CONFLICT (member_id) DO NOTHING",
                vec![Val::Int(member), staff.into(), Val::Int(e.occurred_at)],
            );
        } else {
            w.statement(
                "UPDATE wecom_contacts SET ended_at = $3, ended_by = $4 \
                 WHERE staff_id = $1 AND external_id = $2 AND ended_at IS NULL AND added_at <= $3",
                vec![
                    staff.into(),
                    external.into(),
                    Val::Int(e.occurred_at),
                    text(e, "ended_by").unwrap_or("staff").into(),
                ],
            );
        }
    }
}

fn external_id(e: &Event) -> Option<&str> {
    e.identities
        .iter()
        .find(|id| id.kind == flywheel_core::IdentityKind::WecomExternalId)
        .map(|id| id.value.as_str())
}

/// A WeCom customer joining or leaving a group chat; the group's row if it is new.
fn plan_group_member(w: &mut Writes, ws: &WorkingSet, e: &Event, group: &str, member: MemberId) {
    let Some(external) = external_id(e) else {
        return;
    };
    let joined = matches!(e.payload, Payload::GroupJoined { .. });
    w.statement(
        "INSERT INTO wecom_groups (chat_id, created_at) VALUES ($1, $2) \
         ON CONFLICT (chat_id) DO UPDATE SET created_at = \
           CASE WHEN excluded.created_at < wecom_groups.created_at \
           THEN excluded.created_at ELSE wecom_groups.created_at END",
        vec![group.into(), Val::Int(e.occurred_at)],
    );
    let (joined_at, left_at) = if joined {
        (Val::Int(e.occurred_at), Val::OptInt(None))
    } else {
        (Val::Int(0), Val::Int(e.occurred_at))
    };
    w.statement(
        "INSERT INTO wecom_group_members (chat_id, external_id, member_id, joined_at, left_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chat_id, external_id) DO UPDATE SET \
         member_id = excluded.member_id, \
         joined_at = CASE WHEN excluded.joined_at > wecom_group_members.joined_at \
           THEN excluded.joined_at ELSE wecom_group_members.joined_at END, \
         left_at = CASE WHEN excluded.left_at IS NULL THEN wecom_group_members.left_at \
           WHEN wecom_group_members.left_at IS NULL OR excluded.left_at > wecom_group_members.left_at \
           THEN excluded.left_at ELSE wecom_group_members.left_at END",
        vec![
            group.into(),
            external.into(),
            Val::Int(ws.survivor(member)),
            joined_at,
            left_at,
        ],
    );
}

/// A WeCom customer group and how many customers are in it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WecomGroupRow {
    pub chat_id: String,
    pub name: Option<String>,
    pub created_at: Micros,
    pub dismissed_at: Option<Micros>,
    pub members: i64,
}

impl Store {
    /// Records a group chat WeCom says was created (or dismissed) at `at`; a replay
    /// changes nothing.
    pub async fn record_wecom_group(
        &self,
        chat_id: &str,
        at: Micros,
        dismissed: bool,
    ) -> Result<(), StoreError> {
        let dismissed_at = dismissed.then_some(at);
        self.write_alone(
            sqlx::query(
                "INSERT INTO wecom_groups (chat_id, created_at, dismissed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (chat_id) DO UPDATE SET \
             created_at = CASE WHEN excluded.created_at < wecom_groups.created_at \
               THEN excluded.created_at ELSE wecom_groups.created_at END, \
             dismissed_at = COALESCE(wecom_groups.dismissed_at, excluded.dismissed_at)",
            )
            .bind(chat_id)
            .bind(at)
            .bind(dismissed_at),
        )
        .await?;
        Ok(())
    }

    /// The customers in a group now, by their WeCom external id.
    pub async fn wecom_group_customers(&self, chat_id: &str) -> Result<Vec<String>, StoreError> {
        // "In the group now", as `link::Link::is_open` decides it.
        let rows = sqlx::query(
            "SELECT external_id FROM wecom_group_members gm WHERE chat_id = $1 \
             AND gm.joined_at > 0 AND (gm.left_at IS NULL OR gm.left_at < gm.joined_at) \
             ORDER BY external_id",
        )
        .bind(chat_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(r.try_get("external_id")?)).collect()
    }

    /// Every WeCom group, the largest first, with its customers now.
    pub async fn wecom_groups(&self) -> Result<Vec<WecomGroupRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.chat_id, g.name, g.created_at, g.dismissed_at, \
             (SELECT count(*) FROM wecom_group_members gm WHERE gm.chat_id = g.chat_id \
               AND gm.joined_at > 0 AND (gm.left_at IS NULL OR gm.left_at < gm.joined_at)) AS members \
             FROM wecom_groups g ORDER BY members DESC, g.chat_id LIMIT 1000",
        )
        .fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(WecomGroupRow {
                    chat_id: r.try_get("chat_id")?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    dismissed_at: r.try_get("dismissed_at")?,
                    members: r.try_get("members")?,
                })
            })
            .collect()
    }

    /// Names a group (staff's name for it; WeCom's pushes carry none). False when
    /// Flywheel has not seen the group.
    pub async fn name_wecom_group(
        &self,
        chat_id: &str,
        name: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before: Option<Option<String>> =
            sqlx::query_scalar("SELECT name FROM wecom_groups WHERE chat_id = $1")
                .bind(chat_id)
                .fetch_optional(&mut *conn)
                .await?;
        let Some(before) = before else {
            return Ok(false);
        };
        sqlx::query("UPDATE wecom_groups SET name = $2 WHERE chat_id = $1")
            .bind(chat_id)
            .bind(name)
            .execute(&mut *conn)
            .await?;
        let change = AuditChange {
            kind: "wecom_group",
            action: "update",
            target: format!("wecom_group:{chat_id}"),
            reason: None,
            before: before.map(|n| json!({ "name": n })),
            after: Some(json!({ "name": name })),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A member's WeCom links, the newest first (ended ones too).
    pub async fn wecom_contacts(
        &self,
        member: MemberId,
    ) -> Result<Vec<WecomContactRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT staff_id, external_id, added_at, state, ended_at, ended_by FROM wecom_contacts \
             WHERE member_id = $1 ORDER BY added_at DESC, staff_id",
        )
        .bind(member)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WecomContactRow {
                    staff_id: r.try_get("staff_id")?,
                    external_id: r.try_get("external_id")?,
                    added_at: r.try_get("added_at")?,
                    state: r.try_get("state")?,
                    ended_at: r.try_get("ended_at")?,
                    ended_by: r.try_get("ended_by")?,
                })
            })
            .collect()
    }
}
