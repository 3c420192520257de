//! WeCom contacts (issue 22): each link between a shop assistant and a customer, kept
//! from the `wecom_contact_added` / `wecom_contact_ended` events the WeCom callback
//! ingests (`flywheel_core::wechat`), planned with the batch that applies them. The
//! assistant who adds a customer becomes their owner when they have none (seed 003:
//! each shop assistant holds their members).

use crate::db::Store;
use crate::error::StoreError;
use crate::plan::Writes;
use crate::sql::Val;
use flywheel_core::event::Event;
use flywheel_core::ingest::{MemberId, WorkingSet};
use flywheel_core::time::Micros;
use flywheel_core::wechat::{CONTACT_ADDED, CONTACT_ENDED};
use sqlx::Row;

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

impl Store {
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
