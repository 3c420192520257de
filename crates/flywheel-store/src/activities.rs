//! Activities and their RSVPs, check-ins and challenge days (migration 48; the rules are
//! `flywheel_core::activity`). Seats are counted under a lock on the activity's row (and
//! SQLite's single writer), so two RSVPs for the last seat never both get it; a points
//! cost is debited in the same transaction that confirms the seat, and given back to
//! the lots it came from when the member cancels before the start. A cancelled seat
//! goes to the first in line who can pay for it.
//!
//! The participation event a check-in makes, and a challenge's reward points, are the
//! API's to send (through the ingest queue and the points commands), keyed so a retry
//! sends nothing twice.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::dialect::row_lock;
use crate::error::StoreError;
use crate::points::PointsError;
use crate::points::commands::{book_for, lock_member};
use crate::points::ledger::write_book;
use crate::points::redemptions::lots_moved_by;
use flywheel_core::ErrorCode;
use flywheel_core::activity::{self, Activity, seat_free};
use flywheel_core::ingest::MemberId;
use flywheel_core::points::commands::{pay_activity_fee, refund_activity_fee};
use flywheel_core::time::{DAY, Micros};
use flywheel_core::validation::FieldError;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// How long before the start the door opens for check-ins.
pub const DOORS_OPEN_BEFORE: Micros = 2 * 3_600 * 1_000_000;
/// Days after an activity at which its attendees' stages are compared with theirs then.
pub const MOVEMENT_DAYS: i64 = 30;

/// A stored activity, with its RSVPs counted.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityRow {
    pub id: String,
    pub activity: Activity,
    pub starts_at: Micros,
    pub ends_at: Micros,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub updated_by: String,
    pub confirmed: i64,
    pub waitlisted: i64,
    pub attended: i64,
}

/// One member's RSVP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsvpRow {
    pub activity_id: String,
    pub member_id: MemberId,
    /// confirmed | waitlisted | cancelled
    pub status: String,
    /// api | card | door
    pub via: String,
    pub rsvp_at: Micros,
    /// Points paid for the seat (0 when free or not yet confirmed).
    pub points_paid: i64,
    pub attended_at: Option<Micros>,
    pub completed_at: Option<Micros>,
    /// In line: how many are ahead, plus one.
    pub position: Option<i64>,
}

/// What a check-in did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckInRow {
    pub member_id: MemberId,
    /// The member's first check-in at this activity (a participation to send).
    pub first: bool,
    /// A challenge's days in a row so far, and whether this check-in completed it.
    pub streak: u32,
    pub completed_now: bool,
    pub completed: bool,
}

/// An activity's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivityReport {
    pub confirmed: i64,
    pub waitlisted: i64,
    pub cancelled: i64,
    pub attended: i64,
    /// Confirmed, the activity over, never checked in.
    pub no_shows: i64,
    pub completed: i64,
    /// Members created after the activity was announced who RSVP'd or came.
    pub new_members: i64,
    /// Attendees' stage then → now, with how many.
    pub movement: Vec<(String, String, i64)>,
    pub moved_up: i64,
    pub moved_down: i64,
    /// The 30 days after the end have passed: the movement is final.
    pub movement_final: bool,
}

fn refuse(field: &str, code: ErrorCode, message: impl Into<String>) -> PointsError {
    PointsError::Field(FieldError::new(field, code, message))
}

fn activity_from_row(r: &AnyRow, counts: bool) -> Result<ActivityRow, StoreError> {
    let text: String = r.try_get("definition")?;
    Ok(ActivityRow {
        id: r.try_get("id")?,
        activity: serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
        confirmed: if counts { r.try_get("confirmed")? } else { 0 },
        waitlisted: if counts { r.try_get("waitlisted")? } else { 0 },
        attended: if counts { r.try_get("attended")? } else { 0 },
    })
}

const WITH_COUNTS: &str = "SELECT a.id, a.definition, a.starts_at, a.ends_at, a.created_at, \
     a.updated_at, a.updated_by, \
     (SELECT count(*) FROM activity_rsvps r WHERE r.activity_id = a.id AND r.status = 'confirmed') AS confirmed, \
     (SELECT count(*) FROM activity_rsvps r WHERE r.activity_id = a.id AND r.status = 'waitlisted') AS waitlisted, \
     (SELECT count(*) FROM activity_rsvps r WHERE r.activity_id = a.id AND r.attended_at IS NOT NULL) AS attended \
     FROM activities a";

fn rsvp_from_row(r: &AnyRow) -> Result<RsvpRow, StoreError> {
    Ok(RsvpRow {
        activity_id: r.try_get("activity_id")?,
        member_id: r.try_get("member_id")?,
        status: r.try_get("status")?,
        via: r.try_get("via")?,
        rsvp_at: r.try_get("rsvp_at")?,
        points_paid: 0,
        attended_at: r.try_get("attended_at")?,
        completed_at: r.try_get("completed_at")?,
        position: None,
    })
}

/// The activity's row, locked for the transaction (PostgreSQL; SQLite's writer lock
/// already serialises).
async fn locked(
    conn: &mut AnyConnection,
    store: &Store,
    id: &str,
) -> Result<ActivityRow, PointsError> {
    let sql = format!(
        "SELECT id, definition, starts_at, ends_at, created_at, updated_at, updated_by \
         FROM activities WHERE id = $1{}",
        row_lock(store.backend())
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_owned())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(PointsError::NotFound("activity"))?;
    Ok(activity_from_row(&row, false)?)
}

async fn rsvp_in(
    conn: &mut AnyConnection,
    activity_id: &str,
    member: MemberId,
) -> Result<Option<(RsvpRow, Option<String>)>, StoreError> {
    let row = sqlx::query(
        "SELECT activity_id, member_id, status, via, rsvp_at, fee_key, attended_at, completed_at \
         FROM activity_rsvps WHERE activity_id = $1 AND member_id = $2",
    )
    .bind(activity_id.to_owned())
    .bind(member)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok((rsvp_from_row(&r)?, r.try_get("fee_key")?)))
        .transpose()
}

async fn confirmed_count(conn: &mut AnyConnection, activity_id: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM activity_rsvps WHERE activity_id = $1 AND status = 'confirmed'",
    )
    .bind(activity_id.to_owned())
    .fetch_one(&mut *conn)
    .await?)
}

/// Debits the seat's points; the ledger key, or None when the activity is free.
async fn charge(
    conn: &mut AnyConnection,
    a: &ActivityRow,
    member: MemberId,
    programme: &str,
    now: Micros,
) -> Result<Option<String>, PointsError> {
    if a.activity.cost_points == 0 {
        return Ok(None);
    }
    // One key per seat taken: a seat given back and taken again is paid again.
    let key = format!("activity:{}:{member}:{now}", a.id);
    let mut book = book_for(conn, &[member], programme, now).await?;
    let wallet = book.wallet(member, programme, now);
    let posting = pay_activity_fee(wallet, &key, &a.id, a.activity.cost_points, now)?;
    book.postings.push(posting);
    write_book(conn, &book, now).await?;
    Ok(Some(key))
}

/// Gives a seat's points back to the lots they came from.
async fn refund(
    conn: &mut AnyConnection,
    a: &ActivityRow,
    member: MemberId,
    fee_key: &str,
    now: Micros,
) -> Result<(), PointsError> {
    let programme: Option<String> =
        sqlx::query_scalar("SELECT programme FROM points_transactions WHERE key = $1")
            .bind(fee_key.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
    let Some(programme) = programme else {
        return Ok(());
    };
    let (moves, lots) = lots_moved_by(conn, fee_key).await?;
    let mut book = book_for(conn, &[member], &programme, now).await?;
    let wallet = book.wallet(member, &programme, now);
    let posting = refund_activity_fee(
        wallet,
        &format!("cancel:{fee_key}"),
        &a.id,
        &moves,
        &lots,
        now,
    );
    book.postings.push(posting);
    write_book(conn, &book, now).await?;
    Ok(())
}

impl Store {
    /// Creates or replaces an activity (checked by the caller); audited. True when
    /// created.
    pub async fn save_activity(
        &self,
        id: &str,
        a: &Activity,
        window: activity::Window,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before: Option<String> =
            sqlx::query_scalar("SELECT definition FROM activities WHERE id = $1")
                .bind(id.to_owned())
                .fetch_optional(&mut *conn)
                .await?;
        let text = serde_json::to_string(a)?;
        if before.as_deref() == Some(text.as_str()) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO activities (id, name, kind, starts_at, ends_at, status, definition, \
             created_at, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
             starts_at = excluded.starts_at, ends_at = excluded.ends_at, status = excluded.status, \
             definition = excluded.definition, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by",
        )
        .bind(id.to_owned())
        .bind(a.name.clone())
        .bind(a.kind.clone())
        .bind(window.starts_at)
        .bind(window.ends_at)
        .bind(a.status.clone())
        .bind(text)
        .bind(now)
        .bind(actor.reference.clone())
        .execute(&mut *conn)
        .await?;
        let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).ok();
        let change = AuditChange {
            kind: "activity",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("activity:{id}"),
            reason: None,
            before: before.as_deref().and_then(parse),
            after: Some(json!(a)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(before.is_none())
    }

    /// Every activity, the soonest first, with its RSVPs counted.
    pub async fn activities(&self) -> Result<Vec<ActivityRow>, StoreError> {
        let sql = format!("{WITH_COUNTS} ORDER BY a.starts_at, a.id LIMIT 1000");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| activity_from_row(r, true)).collect()
    }

    pub async fn activity(&self, id: &str) -> Result<Option<ActivityRow>, StoreError> {
        let sql = format!("{WITH_COUNTS} WHERE a.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(|r| activity_from_row(r, true)).transpose()
    }

    /// RSVPs `member` (eligibility is the caller's to have checked): a seat when one is
    /// free (its points paid), else a place in line. Asking again answers the RSVP as it
    /// stands; a cancelled one is made again.
    pub async fn rsvp(
        &self,
        activity_id: &str,
        member: MemberId,
        via: &str,
        programme: &str,
        now: Micros,
    ) -> Result<RsvpRow, PointsError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let a = locked(conn, self, activity_id).await?;
        let member = lock_member(conn, self.backend(), member)
            .await?
            .ok_or(PointsError::NotFound("member"))?;
        if let Some((row, _)) = rsvp_in(conn, activity_id, member).await?
            && row.status != "cancelled"
        {
            drop(tx);
            return self
                .rsvp_of(activity_id, member)
                .await?
                .ok_or(PointsError::NotFound("rsvp"));
        }
        if a.activity.status != "open" || now >= a.ends_at {
            return Err(refuse(
                "activity",
                ErrorCode::ActivityClosed,
                format!(
                    "{} is {}",
                    a.activity.name,
                    if a.activity.status != "open" {
                        "cancelled"
                    } else {
                        "over"
                    }
                ),
            ));
        }
        let seat = seat_free(
            a.activity.capacity,
            confirmed_count(conn, activity_id).await?,
        );
        let fee_key = if seat {
            charge(conn, &a, member, programme, now).await?
        } else {
            None
        };
        sqlx::query(
            "INSERT INTO activity_rsvps (activity_id, member_id, status, via, rsvp_at, fee_key) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (activity_id, member_id) DO UPDATE SET \
             status = excluded.status, via = excluded.via, rsvp_at = excluded.rsvp_at, \
             fee_key = excluded.fee_key",
        )
        .bind(activity_id.to_owned())
        .bind(member)
        .bind(if seat { "confirmed" } else { "waitlisted" })
        .bind(via.to_owned())
        .bind(now)
        .bind(fee_key)
        .execute(&mut *conn)
        .await?;
        tx.commit().await?;
        self.rsvp_of(activity_id, member)
            .await?
            .ok_or(PointsError::NotFound("rsvp"))
    }

    /// Cancels a member's RSVP: points paid come back if the activity has not started,
    /// and the freed seat goes to the first in line who can pay for it. Answers the
    /// members given a seat; a second cancel changes nothing.
    pub async fn cancel_rsvp(
        &self,
        activity_id: &str,
        member: MemberId,
        programme: &str,
        now: Micros,
    ) -> Result<Vec<MemberId>, PointsError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let a = locked(conn, self, activity_id).await?;
        let member = lock_member(conn, self.backend(), member)
            .await?
            .ok_or(PointsError::NotFound("member"))?;
        let Some((row, fee_key)) = rsvp_in(conn, activity_id, member).await? else {
            return Err(PointsError::NotFound("rsvp"));
        };
        if row.status == "cancelled" {
            return Ok(vec![]);
        }
        if row.attended_at.is_some() {
            return Err(refuse(
                "member_id",
                ErrorCode::ActivityClosed,
                "the member has checked in; their RSVP stands",
            ));
        }
        if let Some(key) = &fee_key
            && now < a.starts_at
        {
            refund(conn, &a, member, key, now).await?;
        }
        sqlx::query(
            "UPDATE activity_rsvps SET status = 'cancelled', fee_key = NULL \
             WHERE activity_id = $1 AND member_id = $2",
        )
        .bind(activity_id.to_owned())
        .bind(member)
        .execute(&mut *conn)
        .await?;
        let promoted =
            if row.status == "confirmed" && now < a.ends_at && a.activity.status == "open" {
                promote(conn, self, &a, programme, now).await?
            } else {
                vec![]
            };
        tx.commit().await?;
        Ok(promoted)
    }

    /// A member's RSVP, with their place in line.
    pub async fn rsvp_of(
        &self,
        activity_id: &str,
        member: MemberId,
    ) -> Result<Option<RsvpRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let Some((mut row, fee_key)) = rsvp_in(&mut conn, activity_id, member).await? else {
            return Ok(None);
        };
        if let Some(key) = fee_key {
            let paid: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(sum(points), 0) AS BIGINT) FROM points_lot_moves WHERE txn_key = $1",
            )
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
            row.points_paid = paid.abs();
        }
        if row.status == "waitlisted" {
            let ahead: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM activity_rsvps WHERE activity_id = $1 AND status = 'waitlisted' \
                 AND (rsvp_at < $2 OR (rsvp_at = $2 AND member_id < $3))",
            )
            .bind(activity_id.to_owned())
            .bind(row.rsvp_at)
            .bind(member)
            .fetch_one(&mut *conn)
            .await?;
            row.position = Some(ahead + 1);
        }
        Ok(Some(row))
    }

    /// An activity's RSVPs, in the order they came (cancelled ones too).
    pub async fn activity_rsvps(&self, activity_id: &str) -> Result<Vec<RsvpRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT activity_id, member_id, status, via, rsvp_at, fee_key, attended_at, completed_at \
             FROM activity_rsvps WHERE activity_id = $1 ORDER BY rsvp_at, member_id LIMIT 5000",
        )
        .bind(activity_id.to_owned())
        .fetch_all(self.pool())
        .await?;
        let mut line = 0;
        rows.iter()
            .map(|r| {
                let mut row = rsvp_from_row(r)?;
                if row.status == "waitlisted" {
                    line += 1;
                    row.position = Some(line);
                }
                Ok(row)
            })
            .collect()
    }

    /// The member's RSVPs to activities not yet over, the soonest first.
    pub async fn member_activities(
        &self,
        member: MemberId,
        now: Micros,
    ) -> Result<Vec<(ActivityRow, RsvpRow)>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.activity_id FROM activity_rsvps r JOIN activities a ON a.id = r.activity_id \
             WHERE r.member_id = $1 AND a.ends_at > $2 ORDER BY a.starts_at LIMIT 100",
        )
        .bind(member)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let id: String = r.try_get("activity_id")?;
            if let (Some(a), Some(rsvp)) =
                (self.activity(&id).await?, self.rsvp_of(&id, member).await?)
            {
                out.push((a, rsvp));
            }
        }
        Ok(out)
    }

    /// Checks a member in at `now`: at the door (from two hours before the start to the
    /// end) or, for a challenge, once a day. A member with no RSVP takes a free seat at
    /// the door; one in line takes a seat if one is free. The first check-in records the
    /// member's stage then; a challenge's day is recorded, and its completion once the
    /// days in a row reach the target (with its badge).
    pub async fn check_in(
        &self,
        activity_id: &str,
        member: MemberId,
        programme: &str,
        now: Micros,
    ) -> Result<CheckInRow, PointsError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let a = locked(conn, self, activity_id).await?;
        let member = lock_member(conn, self.backend(), member)
            .await?
            .ok_or(PointsError::NotFound("member"))?;
        if a.activity.status != "open" {
            return Err(refuse(
                "activity",
                ErrorCode::ActivityClosed,
                format!("{} is cancelled", a.activity.name),
            ));
        }
        if now < a.starts_at - DOORS_OPEN_BEFORE || now > a.ends_at {
            return Err(refuse(
                "activity",
                ErrorCode::ActivityClosed,
                format!(
                    "{} takes check-ins from two hours before its start to its end",
                    a.activity.name
                ),
            ));
        }
        let existing = rsvp_in(conn, activity_id, member).await?;
        let seated = matches!(&existing, Some((r, _)) if r.status == "confirmed");
        if !seated {
            if !seat_free(
                a.activity.capacity,
                confirmed_count(conn, activity_id).await?,
            ) {
                return Err(refuse(
                    "member_id",
                    ErrorCode::ActivityFull,
                    format!("every seat of {} is taken", a.activity.name),
                ));
            }
            let fee_key = charge(conn, &a, member, programme, now).await?;
            sqlx::query(
                "INSERT INTO activity_rsvps (activity_id, member_id, status, via, rsvp_at, fee_key) \
                 VALUES ($1, $2, 'confirmed', 'door', $3, $4) ON CONFLICT (activity_id, member_id) \
                 DO UPDATE SET status = 'confirmed', fee_key = excluded.fee_key",
            )
            .bind(activity_id.to_owned())
            .bind(member)
            .bind(now)
            .bind(fee_key)
            .execute(&mut *conn)
            .await?;
        }
        let first = existing
            .as_ref()
            .is_none_or(|(r, _)| r.attended_at.is_none());
        if first {
            let stage: Option<String> =
                sqlx::query_scalar("SELECT stage FROM members WHERE id = $1")
                    .bind(member)
                    .fetch_optional(&mut *conn)
                    .await?;
            sqlx::query(
                "UPDATE activity_rsvps SET attended_at = $3, stage_then = $4 \
                 WHERE activity_id = $1 AND member_id = $2",
            )
            .bind(activity_id.to_owned())
            .bind(member)
            .bind(now)
            .bind(stage)
            .execute(&mut *conn)
            .await?;
        }
        let mut out = CheckInRow {
            member_id: member,
            first,
            streak: 0,
            completed_now: false,
            completed: existing
                .as_ref()
                .is_some_and(|(r, _)| r.completed_at.is_some()),
        };
        if let Some(challenge) = &a.activity.challenge {
            sqlx::query(
                "INSERT INTO activity_days (activity_id, member_id, day, at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (activity_id, member_id, day) DO NOTHING",
            )
            .bind(activity_id.to_owned())
            .bind(member)
            .bind(activity::check_in_day(now))
            .bind(now)
            .execute(&mut *conn)
            .await?;
            let days: Vec<i64> = sqlx::query_scalar(
                "SELECT day FROM activity_days WHERE activity_id = $1 AND member_id = $2",
            )
            .bind(activity_id.to_owned())
            .bind(member)
            .fetch_all(&mut *conn)
            .await?;
            out.streak = activity::streak(&days);
            if !out.completed && out.streak >= challenge.days {
                sqlx::query(
                    "UPDATE activity_rsvps SET completed_at = $3 WHERE activity_id = $1 AND member_id = $2",
                )
                .bind(activity_id.to_owned())
                .bind(member)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                if let Some(badge) = &challenge.badge {
                    sqlx::query(
                        "INSERT INTO member_badges (member_id, segment_id, badge, awarded_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (member_id, segment_id) DO NOTHING",
                    )
                    .bind(member)
                    .bind(format!("activity:{activity_id}"))
                    .bind(badge.clone())
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
                out.completed_now = true;
                out.completed = true;
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The activity's figures at `now`.
    pub async fn activity_report(
        &self,
        a: &ActivityRow,
        now: Micros,
    ) -> Result<ActivityReport, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let rows = sqlx::query(
            "SELECT r.status, r.attended_at, r.completed_at, r.stage_then, \
             m.stage AS stage_now, m.created_at AS member_created \
             FROM activity_rsvps r LEFT JOIN members m ON m.id = r.member_id \
             WHERE r.activity_id = $1",
        )
        .bind(a.id.clone())
        .fetch_all(&mut *conn)
        .await?;
        let over = now > a.ends_at;
        let mut out = ActivityReport {
            movement_final: now >= a.ends_at + MOVEMENT_DAYS * DAY,
            ..ActivityReport::default()
        };
        let mut moves = std::collections::BTreeMap::<(String, String), i64>::new();
        for r in &rows {
            let status: String = r.try_get("status")?;
            let attended: Option<Micros> = r.try_get("attended_at")?;
            let completed: Option<Micros> = r.try_get("completed_at")?;
            let created: Option<Micros> = r.try_get("member_created")?;
            match status.as_str() {
                "confirmed" => out.confirmed += 1,
                "waitlisted" => out.waitlisted += 1,
                _ => out.cancelled += 1,
            }
            if status != "cancelled" && created.is_some_and(|c| c >= a.created_at) {
                out.new_members += 1;
            }
            if completed.is_some() {
                out.completed += 1;
            }
            match attended {
                Some(_) => {
                    out.attended += 1;
                    let then: Option<String> = r.try_get("stage_then")?;
                    let now_stage: Option<String> = r.try_get("stage_now")?;
                    if let (Some(then), Some(now_stage)) = (then, now_stage) {
                        let rank = |s: &str| {
                            flywheel_core::Stage::parse(s)
                                .map(|s| s as i64)
                                .unwrap_or(0)
                        };
                        match rank(&now_stage).cmp(&rank(&then)) {
                            std::cmp::Ordering::Greater => out.moved_up += 1,
                            std::cmp::Ordering::Less => out.moved_down += 1,
                            std::cmp::Ordering::Equal => {}
                        }
                        *moves.entry((then, now_stage)).or_default() += 1;
                    }
                }
                None if over && status == "confirmed" => out.no_shows += 1,
                None => {}
            }
        }
        out.movement = moves.into_iter().map(|((a, b), n)| (a, b, n)).collect();
        Ok(out)
    }
}

/// Seats the first in line who can pay, while seats are free; answers who.
async fn promote(
    conn: &mut AnyConnection,
    store: &Store,
    a: &ActivityRow,
    programme: &str,
    now: Micros,
) -> Result<Vec<MemberId>, PointsError> {
    let line: Vec<MemberId> = sqlx::query_scalar(
        "SELECT member_id FROM activity_rsvps WHERE activity_id = $1 AND status = 'waitlisted' \
         ORDER BY rsvp_at, member_id LIMIT 50",
    )
    .bind(a.id.clone())
    .fetch_all(&mut *conn)
    .await?;
    let mut seated = Vec::new();
    for member in line {
        if !seat_free(a.activity.capacity, confirmed_count(conn, &a.id).await?) {
            break;
        }
        let Some(member) = lock_member(conn, store.backend(), member).await? else {
            continue;
        };
        // One who cannot pay keeps their place; the next may.
        let fee_key = match charge(conn, a, member, programme, now).await {
            Ok(k) => k,
            Err(PointsError::InsufficientPoints { .. }) => continue,
            Err(e) => return Err(e),
        };
        sqlx::query(
            "UPDATE activity_rsvps SET status = 'confirmed', fee_key = $3 \
             WHERE activity_id = $1 AND member_id = $2",
        )
        .bind(a.id.clone())
        .bind(member)
        .bind(fee_key)
        .execute(&mut *conn)
        .await?;
        seated.push(member);
    }
    Ok(seated)
}
