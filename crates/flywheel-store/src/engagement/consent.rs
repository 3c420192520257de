//! Consent per member per channel: set by staff or the member's own channels through
//! the API (audited, with its source) or by the member's `register` and
//! `profile_update` events (the event is the record), carried to the survivor when members merge — a
//! withdrawal wins over a grant, since either person may have said no.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use crate::plan::Writes;
use crate::sql::Val;
use crate::survivor::survivor_id;
use flywheel_core::ingest::MemberId;
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::{AnyConnection, Row};

/// One channel's consent as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRow {
    pub channel: String,
    pub granted: bool,
    pub source: String,
    pub at: Micros,
    pub set_by: String,
}

const MOVE: &str = "INSERT INTO member_consents (member_id, channel, granted, source, at, set_by) \
     SELECT $1, channel, granted, source, at, set_by FROM member_consents WHERE member_id = $2 \
     ON CONFLICT (member_id, channel) DO UPDATE SET granted = excluded.granted, \
     source = excluded.source, at = excluded.at, set_by = excluded.set_by \
     WHERE excluded.granted = 0 AND member_consents.granted = 1";
const DROP_MERGED: &str = "DELETE FROM member_consents WHERE member_id = $1";

/// Plans moving the consents of members a batch merged to their survivors.
pub(crate) fn plan_merged_consents(w: &mut Writes, merges: &[(MemberId, MemberId)]) {
    use super::suppressions::{DROP_SUPPRESSIONS, MOVE_SUPPRESSIONS};
    for &(survivor, merged) in merges {
        w.statement(MOVE, vec![Val::Int(survivor), Val::Int(merged)]);
    }
    for &(_, merged) in merges {
        w.statement(DROP_MERGED, vec![Val::Int(merged)]);
    }
    // The suppression list follows the member as consent does.
    for &(survivor, merged) in merges {
        w.statement(
            MOVE_SUPPRESSIONS,
            vec![Val::Int(survivor), Val::Int(merged)],
        );
    }
    for &(_, merged) in merges {
        w.statement(DROP_SUPPRESSIONS, vec![Val::Int(merged)]);
    }
}

const FROM_EVENT: &str =
    "INSERT INTO member_consents (member_id, channel, granted, source, at, set_by)";
const FROM_EVENT_TAIL: &str = "ON CONFLICT (member_id, channel) DO UPDATE SET \
     granted = excluded.granted, source = excluded.source, at = excluded.at, set_by = excluded.set_by \
     WHERE excluded.at >= member_consents.at";

/// Plans the consent the batch's accepted `register` and `profile_update` events gave
/// (`"consent": {"sms": true}`): on the member each landed on (its survivor), with the
/// event's channel as the source, unless a later word is on record.
pub(crate) fn plan_event_consents(
    w: &mut Writes,
    ws: &flywheel_core::ingest::WorkingSet,
    events: &[flywheel_core::Event],
    accepted: &[(usize, MemberId)],
) {
    use flywheel_core::event::Payload;
    use std::collections::BTreeMap;
    // The latest word per member and channel: one row each, so one statement can
    // carry them.
    let mut latest: BTreeMap<(MemberId, &str), (bool, &flywheel_core::Event)> = BTreeMap::new();
    for &(i, member) in accepted {
        let e = &events[i];
        let change = match &e.payload {
            Payload::ProfileUpdate(c) | Payload::Register(c) => c,
            _ => continue,
        };
        for (channel, granted) in &change.consent {
            let key = (ws.survivor(member), channel.as_str());
            let newer = latest
                .get(&key)
                .is_none_or(|(_, before)| e.occurred_at >= before.occurred_at);
            if newer {
                latest.insert(key, (*granted, e));
            }
        }
    }
    let rows = latest
        .into_iter()
        .map(|((member, channel), (granted, e))| {
            vec![
                Val::Int(member),
                channel.into(),
                Val::Int(i64::from(granted)),
                format!("event:{}", e.channel.as_str()).into(),
                Val::Int(e.occurred_at),
                format!("event:{}", e.event_id).into(),
            ]
        })
        .collect();
    w.rows(FROM_EVENT, rows, FROM_EVENT_TAIL);
}

/// Moves a merged member's consents to its survivor now (a merge by hand).
pub(crate) async fn move_consents(
    conn: &mut AnyConnection,
    survivor: MemberId,
    merged: MemberId,
) -> Result<(), StoreError> {
    sqlx::query(MOVE)
        .bind(survivor)
        .bind(merged)
        .execute(&mut *conn)
        .await?;
    sqlx::query(DROP_MERGED)
        .bind(merged)
        .execute(&mut *conn)
        .await?;
    super::suppressions::move_suppressions(conn, survivor, merged).await
}

async fn consents_in(
    conn: &mut AnyConnection,
    member: MemberId,
) -> Result<Vec<ConsentRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT channel, granted, source, at, set_by FROM member_consents \
         WHERE member_id = $1 ORDER BY channel",
    )
    .bind(member)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ConsentRow {
                channel: r.try_get("channel")?,
                granted: r.try_get::<i64, _>("granted")? != 0,
                source: r.try_get("source")?,
                at: r.try_get("at")?,
                set_by: r.try_get("set_by")?,
            })
        })
        .collect()
}

impl Store {
    /// The member's consents (the survivor's, for a merged id): None when there is no
    /// such member.
    pub async fn consents(
        &self,
        member: MemberId,
    ) -> Result<Option<(MemberId, Vec<ConsentRow>)>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let Some(id) = survivor_id(&mut conn, member).await? else {
            return Ok(None);
        };
        Ok(Some((id, consents_in(&mut conn, id).await?)))
    }

    /// Records a grant or withdrawal on one channel (on the survivor of a merged id),
    /// audited when it changes anything; None when there is no such member.
    pub async fn set_consent(
        &self,
        member: MemberId,
        channel: &str,
        granted: bool,
        source: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<Option<(MemberId, Vec<ConsentRow>)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let Some(id) = survivor_id(conn, member).await? else {
            return Ok(None);
        };
        let before = consents_in(conn, id)
            .await?
            .into_iter()
            .find(|c| c.channel == channel);
        let same = before
            .as_ref()
            .is_some_and(|b| b.granted == granted && b.source == source);
        if !same {
            sqlx::query(
                "INSERT INTO member_consents (member_id, channel, granted, source, at, set_by) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (member_id, channel) DO UPDATE SET \
                 granted = excluded.granted, source = excluded.source, at = excluded.at, \
                 set_by = excluded.set_by",
            )
            .bind(id)
            .bind(channel.to_owned())
            .bind(i64::from(granted))
            .bind(source.to_owned())
            .bind(now)
            .bind(actor.reference.clone())
            .execute(&mut *conn)
            .await?;
            let change = AuditChange {
                kind: "consent",
                action: if granted { "grant" } else { "withdraw" },
                target: format!("member:{id}"),
                reason: None,
                before: before
                    .as_ref()
                    .map(|b| json!({"channel": channel, "granted": b.granted, "source": b.source})),
                after: Some(json!({"channel": channel, "granted": granted, "source": source})),
            };
            audit::record(conn, now, actor, change).await?;
        }
        let all = consents_in(conn, id).await?;
        tx.commit().await?;
        Ok(Some((id, all)))
    }
}
