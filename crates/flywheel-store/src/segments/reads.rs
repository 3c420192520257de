//! Reading segments: their members newest first, their entries and exits, a member's
//! segments, exports with identities, and the live builder's preview (SQL, writing
//! nothing).

use super::sql::{Compiled, SqlContext, compile};
use crate::db::Store;
use crate::dialect::{float_type, json_int, json_int_or_null};
use crate::error::StoreError;
use crate::sql::{Val, bind_ref, select_in};
use crate::survivor::survivor_id;
use flywheel_core::ingest::MemberId;
use flywheel_core::segment::Cond;
use flywheel_core::segment::expr::Quantity;
use flywheel_core::time::Micros;
use sqlx::{AssertSqlSafe, Row};
use std::collections::{BTreeMap, HashMap};

/// A member as a leaderboard ranks them.
#[derive(Clone, Debug, PartialEq)]
pub struct RankedMember {
    pub member_id: MemberId,
    pub member_since: Micros,
    pub score: f64,
}

/// A member of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentMemberRow {
    pub member_id: MemberId,
    pub entered_at: Micros,
}

/// Where a page ends: the last row's instant and its tiebreaker (the member, for
/// members; the change's sequence number, for changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentCursor {
    pub at: Micros,
    pub member_id: MemberId,
}

impl SegmentCursor {
    /// Before the newest row: where the first page starts.
    pub const FIRST: SegmentCursor = SegmentCursor {
        at: Micros::MAX,
        member_id: MemberId::MAX,
    };

    pub fn encode(&self) -> String {
        format!("{}_{}", self.at, self.member_id)
    }

    pub fn decode(s: &str) -> Option<SegmentCursor> {
        let (a, m) = s.split_once('_')?;
        Some(SegmentCursor {
            at: a.parse().ok()?,
            member_id: m.parse().ok()?,
        })
    }
}

/// An entry or exit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRow {
    pub seq: i64,
    pub segment_id: String,
    pub member_id: MemberId,
    pub at: Micros,
    pub entered: bool,
    pub cause: String,
    pub version: i64,
}

/// A segment a member is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSegmentRow {
    pub segment_id: String,
    pub entered_at: Micros,
}

/// The live builder's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    pub count: i64,
    pub sample: Vec<MemberId>,
}

fn change_from_row(r: &sqlx::any::AnyRow) -> Result<ChangeRow, StoreError> {
    Ok(ChangeRow {
        seq: r.try_get("seq")?,
        segment_id: r.try_get("segment_id")?,
        member_id: r.try_get("member_id")?,
        at: r.try_get("at")?,
        entered: r.try_get::<i64, _>("entered")? != 0,
        cause: r.try_get("cause")?,
        version: r.try_get("version")?,
    })
}

impl Store {
    /// `cond` compiled to SQL under the brand's settings at `now`.
    async fn segment_sql(&self, cond: &Cond, now: Micros) -> Result<Compiled, StoreError> {
        Ok(self.ranking_sql(cond, None, now).await?.0)
    }

    /// The condition's SQL and, with `score`, the SQL of the value to rank by.
    async fn ranking_sql(
        &self,
        cond: &Cond,
        score: Option<&Quantity>,
        now: Micros,
    ) -> Result<(Compiled, Option<String>), StoreError> {
        let settings = self.segment_settings();
        let catalogue = self.catalogue().await?;
        let graces: HashMap<String, Micros> = catalogue
            .programmes
            .iter()
            .map(|(id, p)| {
                (
                    id.clone(),
                    i64::from(p.downgrade.grace_days) * flywheel_core::time::DAY,
                )
            })
            .collect();
        let ctx = SqlContext {
            backend: self.backend(),
            now,
            lang: settings.lang,
            graces: &graces,
            points_programme: &settings.points_programme,
        };
        Ok(compile(cond, score, &ctx))
    }

    /// The members `cond` selects now, ranked by `score` (highest first; members
    /// without a value left out), with ties in member-since order, then by id. Reads
    /// the members table, so it may lag ingest by one flush.
    pub async fn rank_members(
        &self,
        cond: &Cond,
        score: &Quantity,
        now: Micros,
        limit: i64,
    ) -> Result<Vec<RankedMember>, StoreError> {
        let (c, score_sql) = self.ranking_sql(cond, Some(score), now).await?;
        let score_sql = score_sql.unwrap_or_default();
        let real = float_type(self.backend());
        let sql = format!(
            "SELECT id, created_at, score FROM (SELECT m.id AS id, m.created_at AS created_at, \
             CAST({score_sql} AS {real}) AS score FROM {} WHERE {}) ranked \
             WHERE score IS NOT NULL ORDER BY score DESC, created_at, id LIMIT {}",
            c.from,
            c.condition,
            limit.clamp(1, 10_000)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for v in &c.args {
            q = bind_ref(q, v);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(RankedMember {
                    member_id: r.try_get("id")?,
                    member_since: r.try_get("created_at")?,
                    score: r.try_get("score")?,
                })
            })
            .collect()
    }

    /// Members of a segment, newest entries first, after `cursor`.
    pub async fn segment_members(
        &self,
        id: &str,
        cursor: Option<SegmentCursor>,
        limit: i64,
    ) -> Result<Vec<SegmentMemberRow>, StoreError> {
        let c = cursor.unwrap_or(SegmentCursor::FIRST);
        let rows = sqlx::query(
            "SELECT member_id, entered_at FROM segment_members WHERE segment_id = $1 \
             AND (entered_at < $2 OR (entered_at = $2 AND member_id < $3)) \
             ORDER BY entered_at DESC, member_id DESC LIMIT $4",
        )
        .bind(id.to_owned())
        .bind(c.at)
        .bind(c.member_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SegmentMemberRow {
                    member_id: r.try_get("member_id")?,
                    entered_at: r.try_get("entered_at")?,
                })
            })
            .collect()
    }

    /// Entries and exits of a segment, newest first, after `cursor`.
    pub async fn segment_changes(
        &self,
        id: &str,
        cursor: Option<SegmentCursor>,
        limit: i64,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        let c = cursor.unwrap_or(SegmentCursor::FIRST);
        let rows = sqlx::query(
            "SELECT seq, segment_id, member_id, at, entered, cause, version FROM segment_changes WHERE segment_id = $1 \
             AND (at < $2 OR (at = $2 AND seq < $3)) ORDER BY at DESC, seq DESC LIMIT $4",
        )
        .bind(id.to_owned())
        .bind(c.at)
        .bind(c.member_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(change_from_row).collect()
    }

    /// When a segment's membership last changed (its definition's time if never).
    pub async fn segment_changed_at(&self, id: &str) -> Result<Option<Micros>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT max(at) FROM segment_changes WHERE segment_id = $1")
                .bind(id.to_owned())
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// The segments a member (or the member it merged into) is in, and its latest
    /// entries and exits. None when no member has the id.
    #[allow(clippy::type_complexity)]
    pub async fn member_segments(
        &self,
        id: MemberId,
        changes: i64,
    ) -> Result<Option<(MemberId, Vec<MemberSegmentRow>, Vec<ChangeRow>)>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let Some(id) = survivor_id(&mut conn, id).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT segment_id, entered_at FROM segment_members WHERE member_id = $1 ORDER BY entered_at DESC, segment_id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let segments = rows
            .iter()
            .map(|r| {
                Ok(MemberSegmentRow {
                    segment_id: r.try_get("segment_id")?,
                    entered_at: r.try_get("entered_at")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let rows = sqlx::query(
            "SELECT seq, segment_id, member_id, at, entered, cause, version FROM segment_changes WHERE member_id = $1 \
             ORDER BY at DESC, seq DESC LIMIT $2",
        )
        .bind(id)
        .bind(changes)
        .fetch_all(&mut *conn)
        .await?;
        let changes = rows
            .iter()
            .map(change_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((id, segments, changes)))
    }

    /// Identities (`kind:value` keys) of members, for exports.
    pub async fn identities_of(
        &self,
        ids: &[MemberId],
    ) -> Result<HashMap<MemberId, Vec<String>>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let rows = select_in(
            &mut conn,
            "SELECT member_id, key FROM identities WHERE member_id",
            ids.iter().map(|m| Val::Int(*m)),
            "ORDER BY key",
        )
        .await?;
        let mut out: HashMap<MemberId, Vec<String>> = HashMap::new();
        for r in rows {
            out.entry(r.try_get("member_id")?)
                .or_default()
                .push(r.try_get("key")?);
        }
        for v in out.values_mut() {
            v.sort();
        }
        Ok(out)
    }

    /// Counts the members `cond` selects now, with up to `sample` of them (newest
    /// members first), in one read transaction; writes nothing.
    pub async fn preview_segment(
        &self,
        cond: &Cond,
        now: Micros,
        sample: i64,
    ) -> Result<Preview, StoreError> {
        let c = self.segment_sql(cond, now).await?;
        let mut conn = self.pool().acquire().await?;
        let count_sql = format!("SELECT count(*) AS n FROM {} WHERE {}", c.from, c.condition);
        let mut q = sqlx::query(AssertSqlSafe(count_sql));
        for v in &c.args {
            q = bind_ref(q, v);
        }
        let count: i64 = q.fetch_one(&mut *conn).await?.try_get("n")?;
        let sample_sql = format!(
            "SELECT m.id AS id FROM {} WHERE {} ORDER BY m.id DESC LIMIT {}",
            c.from,
            c.condition,
            sample.clamp(0, 1000)
        );
        let mut q = sqlx::query(AssertSqlSafe(sample_sql));
        for v in &c.args {
            q = bind_ref(q, v);
        }
        let sample = q
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<Vec<MemberId>, _>>()?;
        Ok(Preview { count, sample })
    }

    /// Whether `cond` selects `member` now (an activity's eligibility).
    pub async fn member_matches(
        &self,
        cond: &Cond,
        member: MemberId,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let c = self.segment_sql(cond, now).await?;
        // The id is a number formatted here, not text from outside.
        let sql = format!(
            "SELECT count(*) AS n FROM {} WHERE ({}) AND m.id = {member}",
            c.from, c.condition
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for v in &c.args {
            q = bind_ref(q, v);
        }
        let n: i64 = q.fetch_one(self.pool()).await?.try_get("n")?;
        Ok(n > 0)
    }

    /// Every member `cond` selects now, by id (for tests and checks of the two
    /// evaluators).
    pub async fn select_members_by_sql(
        &self,
        cond: &Cond,
        now: Micros,
    ) -> Result<Vec<MemberId>, StoreError> {
        let c = self.segment_sql(cond, now).await?;
        let sql = format!(
            "SELECT m.id AS id FROM {} WHERE {} ORDER BY m.id",
            c.from, c.condition
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for v in &c.args {
            q = bind_ref(q, v);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// Every segment's members, for the canonical dump and checks: segment → ids.
    pub async fn all_segment_members(&self) -> Result<BTreeMap<String, Vec<MemberId>>, StoreError> {
        let rows = sqlx::query(
            "SELECT segment_id, member_id FROM segment_members ORDER BY segment_id, member_id",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out: BTreeMap<String, Vec<MemberId>> = BTreeMap::new();
        for r in rows {
            out.entry(r.try_get("segment_id")?)
                .or_default()
                .push(r.try_get("member_id")?);
        }
        Ok(out)
    }
}

impl Store {
    /// How far a fill pass that has reached member `fill_after` is, from 0 to 1.
    pub async fn segment_fill_progress(&self, fill_after: Option<i64>) -> Result<f64, StoreError> {
        let Some(after) = fill_after else {
            return Ok(1.0);
        };
        let max: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM members")
            .fetch_one(self.pool())
            .await?;
        Ok(match max {
            Some(m) if m > 0 => (after as f64 / m as f64).clamp(0.0, 1.0),
            _ => 0.0,
        })
    }
}

/// A member ranked by reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfluencerRow {
    pub member_id: MemberId,
    pub followers: Option<i64>,
    pub shares: i64,
    /// People who came through the member's referrals, and those who then bought.
    pub referrals_made: i64,
    pub referrals_converted: i64,
    /// Net spend, minor units: shown, never used to rank.
    pub total_spent: i64,
}

/// What influencers are ranked by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The audience they have.
    Followers,
    /// The readers and buyers their shares brought in.
    Referrals,
}

impl Store {
    /// Members with the widest reach, whatever they spend (seed 004: a customer with a
    /// million followers who buys little is worth more than a steady buyer).
    pub async fn influencers(
        &self,
        by: Reach,
        limit: i64,
    ) -> Result<Vec<InfluencerRow>, StoreError> {
        let backend = self.backend();
        let int = |k: &str| json_int(backend, "facts", k);
        let profile_int = json_int_or_null(backend, "profile", "followers");
        let (made, converted, shares) = (
            int("referrals_made"),
            int("referrals_converted"),
            int("shares"),
        );
        let spent = format!("{} - {}", int("gross_spent"), int("refunded"));
        let (filter, order) = match by {
            Reach::Followers => (
                format!("{profile_int} > 0"),
                format!("{profile_int} DESC, id"),
            ),
            Reach::Referrals => (
                format!("({made} > 0 OR {shares} > 0)"),
                format!("{converted} DESC, {made} DESC, {shares} DESC, id"),
            ),
        };
        let sql = format!(
            "SELECT id, {profile_int} AS followers, {shares} AS shares, {made} AS made, {converted} AS converted, \
             {spent} AS spent FROM members WHERE merged_into IS NULL AND erased_at IS NULL AND {filter} \
             ORDER BY {order} LIMIT $1"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(InfluencerRow {
                    member_id: r.try_get("id")?,
                    followers: r.try_get("followers")?,
                    shares: r.try_get("shares")?,
                    referrals_made: r.try_get("made")?,
                    referrals_converted: r.try_get("converted")?,
                    total_spent: r.try_get("spent")?,
                })
            })
            .collect()
    }
}
