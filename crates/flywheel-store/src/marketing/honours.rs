//! Leaderboards, awards and badges (migration 40). A leaderboard's definition is kept;
//! its standings are computed when read (`segments/reads.rs::rank_members`). Awards are
//! proposed from a leaderboard's top — once per leaderboard, title and member — and
//! confirmed or declined by staff, audited. Badges are written by the segment
//! evaluation (`segments/live.rs`) when a member enters a segment that awards one.

use super::coupons::{MarketingError, refused};
use super::definitions::{LEADERBOARDS, write_definition};
use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::ErrorCode;
use flywheel_core::ingest::MemberId;
use flywheel_core::marketing::{Leaderboard, Standing};
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderboardRow {
    pub board: Leaderboard,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AwardRow {
    pub id: String,
    pub leaderboard_id: String,
    pub title: String,
    pub member_id: MemberId,
    pub rank: i64,
    pub score: f64,
    /// proposed | confirmed | declined
    pub status: String,
    pub proposed_at: Micros,
    pub decided_at: Option<Micros>,
    pub decided_by: Option<String>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadgeRow {
    pub segment_id: String,
    pub badge: String,
    pub awarded_at: Micros,
}

const AWARD_COLUMNS: &str = "id, leaderboard_id, title, member_id, rank, score, status, \
    proposed_at, decided_at, decided_by, note";

fn award_from_row(r: &AnyRow) -> Result<AwardRow, StoreError> {
    Ok(AwardRow {
        id: r.try_get("id")?,
        leaderboard_id: r.try_get("leaderboard_id")?,
        title: r.try_get("title")?,
        member_id: r.try_get("member_id")?,
        rank: r.try_get("rank")?,
        score: r.try_get("score")?,
        status: r.try_get("status")?,
        proposed_at: r.try_get("proposed_at")?,
        decided_at: r.try_get("decided_at")?,
        decided_by: r.try_get("decided_by")?,
        note: r.try_get("note")?,
    })
}

fn board_from_row(r: &AnyRow) -> Result<LeaderboardRow, StoreError> {
    let id: String = r.try_get("id")?;
    let board = serde_json::from_str(&r.try_get::<String, _>("definition")?)
        .map_err(|_| StoreError::Corrupt(format!("leaderboard {id}: definition")))?;
    Ok(LeaderboardRow {
        board,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

async fn board_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<LeaderboardRow>, StoreError> {
    sqlx::query("SELECT id, definition, created_at, updated_at FROM leaderboards WHERE id = $1")
        .bind(id.to_owned())
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(board_from_row)
        .transpose()
}

impl Store {
    /// Creates a leaderboard (`replace` false: refused when the id is taken) or changes
    /// it; audited. Returns whether it was created.
    pub async fn save_leaderboard(
        &self,
        board: &Leaderboard,
        replace: bool,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<bool, MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = board_in(conn, &board.id).await?;
        if before.is_some() && !replace {
            return Err(refused(
                ErrorCode::LeaderboardExists,
                format!("a leaderboard {:?} exists; change it with PUT", board.id),
            ));
        }
        write_definition(
            conn,
            &LEADERBOARDS,
            &board.id,
            before.as_ref().map(|b| &b.board),
            board,
            actor,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(before.is_none())
    }

    pub async fn leaderboard(&self, id: &str) -> Result<Option<LeaderboardRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        board_in(&mut conn, id).await
    }

    pub async fn leaderboards(&self) -> Result<Vec<LeaderboardRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, definition, created_at, updated_at FROM leaderboards ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(board_from_row).collect()
    }

    /// Proposes `title` to each of `top` (a leaderboard's standings as read now), once
    /// per leaderboard, title and member: proposing again adds only members new to the
    /// top. Returns the title's awards of this leaderboard.
    pub async fn propose_awards(
        &self,
        board: &str,
        title: &str,
        top: &[Standing],
        actor: &AuditActor,
        now: Micros,
    ) -> Result<Vec<AwardRow>, MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let mut added = Vec::new();
        for s in top {
            let id = format!(
                "award_{}",
                &flywheel_core::auth::hash_key(&format!("{board}\n{title}\n{}", s.member_id))[..16]
            );
            let inserted = sqlx::query(
                "INSERT INTO awards (id, leaderboard_id, title, member_id, rank, score, status, proposed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'proposed', $7) ON CONFLICT (leaderboard_id, title, member_id) DO NOTHING",
            )
            .bind(id.clone())
            .bind(board.to_owned())
            .bind(title.to_owned())
            .bind(s.member_id)
            .bind(i64::from(s.rank))
            .bind(s.score)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted > 0 {
                added.push(json!({"member_id": s.member_id, "rank": s.rank, "score": s.score}));
            }
        }
        if !added.is_empty() {
            let change = AuditChange {
                kind: "award",
                action: "propose",
                target: format!("leaderboard:{board}"),
                reason: Some(title.to_owned()),
                before: None,
                after: Some(json!({"title": title, "proposed": added})),
            };
            audit::record(conn, now, actor, change).await?;
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AWARD_COLUMNS} FROM awards WHERE leaderboard_id = $1 AND title = $2 ORDER BY rank, member_id"
        )))
        .bind(board.to_owned())
        .bind(title.to_owned())
        .fetch_all(&mut *conn)
        .await?;
        let awards = rows.iter().map(award_from_row).collect::<Result<_, _>>()?;
        tx.commit().await?;
        Ok(awards)
    }

    /// Awards of one status (all when None), newest proposals first.
    pub async fn awards(
        &self,
        status: Option<&str>,
        member: Option<MemberId>,
        limit: i64,
    ) -> Result<Vec<AwardRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AWARD_COLUMNS} FROM awards WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR member_id = $2) ORDER BY proposed_at DESC, leaderboard_id, rank, member_id LIMIT $3"
        )))
        .bind(status.map(str::to_owned))
        .bind(member)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(award_from_row).collect()
    }

    /// Confirms or declines a proposed award, audited. Deciding again the same way
    /// answers the award as it is; the other way is refused.
    pub async fn decide_award(
        &self,
        id: &str,
        confirm: bool,
        note: Option<&str>,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<AwardRow, MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let status = if confirm { "confirmed" } else { "declined" };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AWARD_COLUMNS} FROM awards WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| refused(ErrorCode::AwardNotFound, format!("no award {id:?}")))?;
        let before = award_from_row(&row)?;
        if before.status == status {
            return Ok(before);
        }
        if before.status != "proposed" {
            return Err(refused(
                ErrorCode::AlreadyDecided,
                format!("the award was {} already", before.status),
            ));
        }
        sqlx::query(
            "UPDATE awards SET status = $2, decided_at = $3, decided_by = $4, note = $5 WHERE id = $1",
        )
        .bind(id.to_owned())
        .bind(status)
        .bind(now)
        .bind(actor.reference.clone())
        .bind(note.map(str::to_owned))
        .execute(&mut *conn)
        .await?;
        let change = AuditChange {
            kind: "award",
            action: if confirm { "confirm" } else { "decline" },
            target: format!("award:{id}"),
            reason: note.map(str::to_owned),
            before: Some(json!({"status": before.status})),
            after: Some(
                json!({"status": status, "member_id": before.member_id, "title": before.title}),
            ),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(AwardRow {
            status: status.to_owned(),
            decided_at: Some(now),
            decided_by: Some(actor.reference.clone()),
            note: note.map(str::to_owned),
            ..before
        })
    }

    /// A member's badges, oldest first (theirs and those of members merged into them).
    pub async fn member_badges(&self, member: MemberId) -> Result<Vec<BadgeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT segment_id, badge, awarded_at FROM member_badges WHERE member_id = $1 \
             ORDER BY awarded_at, segment_id",
        )
        .bind(member)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BadgeRow {
                    segment_id: r.try_get("segment_id")?,
                    badge: r.try_get("badge")?,
                    awarded_at: r.try_get("awarded_at")?,
                })
            })
            .collect()
    }
}
