//! Fission campaigns (migration 38): group-buys, help requests and bargains.
//!
//! A join locks the joiner's member row and then the round's row (`UPDATE … SET joined
//! = joined` takes the lock on both databases), reads the round's counters, and moves
//! them in the same transaction that inserts the join — so a group never takes more
//! members than its size and a bargain's cuts always add up, whatever the number of
//! friends at once or of servers. A member joins one round of a campaign
//! (`fission_joins_once`); joining again answers the same join.
//!
//! Rounds past their deadline close lazily (in the transaction of their next join) and
//! in the engagement task's pass: a group-buy fails and charges nothing, a help request
//! or bargain expires. A help round that reaches its target is rewarded once — points as
//! an adjustment keyed by the round, a coupon issued under the round's key — after the
//! join commits, and again by the pass should the process stop in between.

use super::coupons::{MarketingError, refused, retrying};
use super::definitions::{FISSION_CAMPAIGNS, write_definition};
use crate::audit::AuditActor;
use crate::db::Store;
use crate::error::StoreError;
use crate::points::AdjustRequest;
use crate::points::commands::lock_member;
use flywheel_core::ErrorCode;
use flywheel_core::ingest::MemberId;
use flywheel_core::marketing::{FissionCampaign, Mechanic, RoundProgress};
use flywheel_core::money::Money;
use flywheel_core::points::PointsPolicy;
use flywheel_core::time::Micros;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A campaign as stored, with its rounds counted by status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FissionCampaignRow {
    pub campaign: FissionCampaign,
    pub rounds: i64,
    pub completed: i64,
    pub joins: i64,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// One leader's group, help request or bargain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundRow {
    pub id: String,
    pub campaign_id: String,
    pub kind: String,
    pub leader_id: MemberId,
    /// open | filled (group-buy) | unlocked (help, bargain) | failed (group-buy) | expired
    pub status: String,
    pub opened_at: Micros,
    pub deadline: Micros,
    pub closed_at: Option<Micros>,
    pub joined: i64,
    pub progress: i64,
    pub price: Money,
    pub rewarded_at: Option<Micros>,
}

impl RoundRow {
    pub fn progress(&self) -> RoundProgress {
        RoundProgress {
            joined: self.joined as u32,
            progress: self.progress as u32,
            price: self.price,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinRow {
    pub round_id: String,
    pub member_id: MemberId,
    pub at: Micros,
    /// The member came to the brand after the round opened.
    pub new_member: bool,
    pub weight: i64,
    pub cut: Money,
    /// The number a bargain's cut was drawn from.
    pub number: i64,
}

/// A join as answered: the join, the round after it, and whether it was made before.
#[derive(Clone, Debug)]
pub struct Joined {
    pub join: JoinRow,
    pub round: RoundRow,
    pub replayed: bool,
}

const ROUND_COLUMNS: &str = "id, campaign_id, kind, leader_id, status, opened_at, deadline, \
    closed_at, joined, progress, price_minor, rewarded_at";
const JOIN_COLUMNS: &str = "round_id, member_id, at, new_member, weight, cut_minor, number";

fn round_from_row(r: &AnyRow) -> Result<RoundRow, StoreError> {
    Ok(RoundRow {
        id: r.try_get("id")?,
        campaign_id: r.try_get("campaign_id")?,
        kind: r.try_get("kind")?,
        leader_id: r.try_get("leader_id")?,
        status: r.try_get("status")?,
        opened_at: r.try_get("opened_at")?,
        deadline: r.try_get("deadline")?,
        closed_at: r.try_get("closed_at")?,
        joined: r.try_get("joined")?,
        progress: r.try_get("progress")?,
        price: Money::from_minor(r.try_get("price_minor")?),
        rewarded_at: r.try_get("rewarded_at")?,
    })
}

fn join_from_row(r: &AnyRow) -> Result<JoinRow, StoreError> {
    Ok(JoinRow {
        round_id: r.try_get("round_id")?,
        member_id: r.try_get("member_id")?,
        at: r.try_get("at")?,
        new_member: r.try_get::<i64, _>("new_member")? != 0,
        weight: r.try_get("weight")?,
        cut: Money::from_minor(r.try_get("cut_minor")?),
        number: r.try_get("number")?,
    })
}

const CAMPAIGN_COLUMNS: &str = "id, definition, created_at, updated_at, \
    (SELECT COUNT(*) FROM fission_rounds r WHERE r.campaign_id = fission_campaigns.id) AS rounds, \
    (SELECT COUNT(*) FROM fission_rounds r WHERE r.campaign_id = fission_campaigns.id \
        AND r.status IN ('filled', 'unlocked')) AS completed, \
    (SELECT COUNT(*) FROM fission_joins j WHERE j.campaign_id = fission_campaigns.id) AS joins";

fn campaign_from_row(r: &AnyRow) -> Result<FissionCampaignRow, StoreError> {
    let id: String = r.try_get("id")?;
    let campaign = serde_json::from_str(&r.try_get::<String, _>("definition")?)
        .map_err(|_| StoreError::Corrupt(format!("fission campaign {id}: definition")))?;
    Ok(FissionCampaignRow {
        campaign,
        rounds: r.try_get("rounds")?,
        completed: r.try_get("completed")?,
        joins: r.try_get("joins")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

async fn campaign_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<FissionCampaignRow>, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM fission_campaigns WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(campaign_from_row)
    .transpose()
}

async fn round_in(conn: &mut AnyConnection, id: &str) -> Result<Option<RoundRow>, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ROUND_COLUMNS} FROM fission_rounds WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(round_from_row)
    .transpose()
}

/// Which rounds a closing pass looks at.
enum Due<'a> {
    All,
    Round(&'a str),
    Leader(&'a str, MemberId),
}

/// Rounds still open past their deadline (`$1` is now).
const PAST_DEADLINE: &str = "status = 'open' AND deadline <= $1";

/// Closes rounds still open past their deadline: a group-buy fails, the others expire.
async fn close_due(conn: &mut AnyConnection, due: Due<'_>, now: Micros) -> Result<u64, StoreError> {
    let only = match due {
        Due::All => "",
        Due::Round(_) => " AND id = $2",
        Due::Leader(..) => " AND campaign_id = $2 AND leader_id = $3",
    };
    let query = format!(
        "UPDATE fission_rounds SET status = CASE kind WHEN 'group_buy' THEN 'failed' ELSE 'expired' END, \
         closed_at = deadline WHERE {PAST_DEADLINE}{only}"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(query)).bind(now);
    match due {
        Due::All => {}
        Due::Round(id) => q = q.bind(id.to_owned()),
        Due::Leader(campaign, leader) => q = q.bind(campaign.to_owned()).bind(leader),
    }
    Ok(q.execute(&mut *conn).await?.rows_affected())
}

/// A bargain's draw, derived from the round and the helper so it can be worked out
/// again from the stored join (and comes out the same on every database).
fn bargain_number(round: &str, member: MemberId) -> i64 {
    let digest = flywheel_core::auth::hash_key(&format!("bargain:{round}:{member}"));
    (u64::from_str_radix(&digest[..15], 16).unwrap_or(0) >> 1) as i64
}

impl Store {
    /// Creates a campaign (`replace` false: refused when the id is taken) or changes it;
    /// a campaign's kind cannot change once it has rounds. Returns whether it was created.
    pub async fn save_fission_campaign(
        &self,
        campaign: &FissionCampaign,
        replace: bool,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<bool, MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = campaign_in(conn, &campaign.id).await?;
        if let Some(b) = &before {
            if !replace {
                return Err(refused(
                    ErrorCode::FissionCampaignExists,
                    format!(
                        "a fission campaign {:?} exists; change it with PUT",
                        campaign.id
                    ),
                ));
            }
            if b.rounds > 0 && b.campaign.mechanic.kind() != campaign.mechanic.kind() {
                return Err(refused(
                    ErrorCode::InvalidValue,
                    format!(
                        "the campaign has rounds as a {}; its kind cannot change",
                        b.campaign.mechanic.kind()
                    ),
                ));
            }
        }
        write_definition(
            conn,
            &FISSION_CAMPAIGNS,
            &campaign.id,
            before.as_ref().map(|b| &b.campaign),
            campaign,
            actor,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(before.is_none())
    }

    pub async fn fission_campaign(
        &self,
        id: &str,
    ) -> Result<Option<FissionCampaignRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        campaign_in(&mut conn, id).await
    }

    pub async fn fission_campaigns(&self) -> Result<Vec<FissionCampaignRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM fission_campaigns ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(campaign_from_row).collect()
    }

    /// A round with its joins in the order they came.
    pub async fn fission_round(
        &self,
        id: &str,
    ) -> Result<Option<(RoundRow, Vec<JoinRow>)>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let Some(round) = round_in(&mut conn, id).await? else {
            return Ok(None);
        };
        let joins = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOIN_COLUMNS} FROM fission_joins WHERE round_id = $1 ORDER BY at, member_id"
        )))
        .bind(id.to_owned())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(join_from_row)
        .collect::<Result<_, _>>()?;
        Ok(Some((round, joins)))
    }

    /// The joins of each of `rounds`, in the order they came (one query for a page).
    pub async fn fission_joins_of(
        &self,
        rounds: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<JoinRow>>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let head = format!("SELECT {JOIN_COLUMNS} FROM fission_joins WHERE round_id");
        let rows = crate::sql::select_in(
            &mut conn,
            &head,
            rounds.iter().map(|r| crate::sql::Val::Text(r.clone())),
            "",
        )
        .await?;
        let mut out: std::collections::HashMap<String, Vec<JoinRow>> = Default::default();
        for row in &rows {
            let j = join_from_row(row)?;
            out.entry(j.round_id.clone()).or_default().push(j);
        }
        for joins in out.values_mut() {
            joins.sort_by_key(|j| (j.at, j.member_id));
        }
        Ok(out)
    }

    /// A campaign's rounds, newest first, optionally of one status.
    pub async fn fission_rounds(
        &self,
        campaign: &str,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RoundRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ROUND_COLUMNS} FROM fission_rounds WHERE campaign_id = $1 \
             AND ($2 IS NULL OR status = $2) ORDER BY opened_at DESC, id LIMIT $3"
        )))
        .bind(campaign.to_owned())
        .bind(status.map(str::to_owned))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(round_from_row).collect()
    }

    /// Opens a round led by `leader`, once per `key`; a leader with a round of the
    /// campaign still open gets that round. Answers whether it was opened before.
    pub async fn open_fission_round(
        &self,
        campaign_id: &str,
        leader: MemberId,
        key: &str,
        now: Micros,
    ) -> Result<(RoundRow, bool), MarketingError> {
        retrying(|| self.open_round_once(campaign_id, leader, key, now)).await
    }

    async fn open_round_once(
        &self,
        campaign_id: &str,
        leader: MemberId,
        key: &str,
        now: Micros,
    ) -> Result<(RoundRow, bool), MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let leader = lock_member(conn, self.backend(), leader)
            .await?
            .ok_or_else(|| refused(ErrorCode::MemberNotFound, format!("no member {leader}")))?;
        let open_key = format!("{campaign_id}:{key}");
        if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ROUND_COLUMNS} FROM fission_rounds WHERE open_key = $1"
        )))
        .bind(open_key.clone())
        .fetch_optional(&mut *conn)
        .await?
        {
            let round = round_from_row(&row)?;
            if round.leader_id != leader {
                return Err(refused(
                    ErrorCode::IdempotencyKeyReused,
                    "the idempotency_key was used for another member's round",
                ));
            }
            return Ok((round, true));
        }
        let campaign = campaign_in(conn, campaign_id).await?.ok_or_else(|| {
            refused(
                ErrorCode::FissionNotFound,
                format!("no fission campaign {campaign_id:?}"),
            )
        })?;
        let c = &campaign.campaign;
        if !c.open_at(now) {
            return Err(refused(
                ErrorCode::CampaignNotOpen,
                format!("the campaign {campaign_id:?} opens no rounds now"),
            ));
        }
        close_due(conn, Due::Leader(campaign_id, leader), now).await?;
        if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ROUND_COLUMNS} FROM fission_rounds WHERE campaign_id = $1 AND leader_id = $2 \
             AND status = 'open'"
        )))
        .bind(campaign_id.to_owned())
        .bind(leader)
        .fetch_optional(&mut *conn)
        .await?
        {
            return Ok((round_from_row(&row)?, true));
        }
        let earlier: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM fission_rounds WHERE campaign_id = $1 AND leader_id = $2",
        )
        .bind(campaign_id.to_owned())
        .bind(leader)
        .fetch_one(&mut *conn)
        .await?;
        let id = format!("{campaign_id}-{leader}-{}", earlier + 1);
        sqlx::query(
            "INSERT INTO fission_rounds (id, campaign_id, kind, leader_id, open_key, status, opened_at, \
             deadline, joined, progress, price_minor) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, 0, 0, $8)",
        )
        .bind(id.clone())
        .bind(campaign_id.to_owned())
        .bind(c.mechanic.kind())
        .bind(leader)
        .bind(open_key)
        .bind(now)
        .bind(c.deadline(now))
        .bind(c.mechanic.opening_price().minor())
        .execute(&mut *conn)
        .await?;
        let round = round_in(conn, &id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("round {id} vanished")))?;
        tx.commit().await?;
        Ok((round, false))
    }

    /// A member joins (group-buy) or helps (help, bargain) a round. `first_seen_at` is
    /// when the member first came to the brand, which makes them a new member to a help
    /// campaign that weighs those more.
    pub async fn join_fission_round(
        &self,
        round_id: &str,
        member: MemberId,
        first_seen_at: Option<Micros>,
        policy: &PointsPolicy,
        now: Micros,
    ) -> Result<Joined, MarketingError> {
        let joined = retrying(|| self.join_once(round_id, member, first_seen_at, now)).await?;
        if joined.round.status == "unlocked" && joined.round.rewarded_at.is_none() {
            self.reward_round(&joined.round, policy, now).await?;
        }
        Ok(joined)
    }

    async fn join_once(
        &self,
        round_id: &str,
        member: MemberId,
        first_seen_at: Option<Micros>,
        now: Micros,
    ) -> Result<Joined, MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let member = lock_member(conn, self.backend(), member)
            .await?
            .ok_or_else(|| refused(ErrorCode::MemberNotFound, format!("no member {member}")))?;
        // Take the round's row lock before reading its counters.
        let locked = sqlx::query("UPDATE fission_rounds SET joined = joined WHERE id = $1")
            .bind(round_id.to_owned())
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if locked == 0 {
            return Err(refused(
                ErrorCode::FissionNotFound,
                format!("no fission round {round_id:?}"),
            ));
        }
        let closed_now = close_due(conn, Due::Round(round_id), now).await? > 0;
        let round = round_in(conn, round_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("round {round_id} vanished")))?;
        if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOIN_COLUMNS} FROM fission_joins WHERE campaign_id = $1 AND member_id = $2"
        )))
        .bind(round.campaign_id.clone())
        .bind(member)
        .fetch_optional(&mut *conn)
        .await?
        {
            let join = join_from_row(&row)?;
            if join.round_id != round.id {
                return Err(refused(
                    ErrorCode::AlreadyJoined,
                    format!(
                        "member {member} already joined round {} of this campaign",
                        join.round_id
                    ),
                ));
            }
            return Ok(Joined {
                join,
                round,
                replayed: true,
            });
        }
        if round.leader_id == member {
            return Err(refused(
                ErrorCode::SelfReferral,
                "the round's leader cannot join or help their own round",
            ));
        }
        if round.status != "open" {
            if closed_now {
                // The refusal stands on the round closed just now: keep the closing.
                tx.commit().await?;
            }
            return Err(refused(
                ErrorCode::RoundClosed,
                format!("the round is {}", round.status),
            ));
        }
        let campaign = campaign_in(conn, &round.campaign_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("round {round_id}: no campaign")))?
            .campaign;
        let is_new = first_seen_at.is_none_or(|first| first >= round.opened_at);
        let number = match campaign.mechanic {
            Mechanic::Bargain { .. } => bargain_number(&round.id, member),
            _ => 0,
        };
        let effect = campaign.join(round.progress(), is_new, number as u64);
        let status = match (&campaign.mechanic, effect.completes) {
            (_, false) => "open",
            (Mechanic::GroupBuy { .. }, true) => "filled",
            (_, true) => "unlocked",
        };
        sqlx::query(
            "INSERT INTO fission_joins (round_id, campaign_id, member_id, at, new_member, weight, \
             cut_minor, number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(round.id.clone())
        .bind(round.campaign_id.clone())
        .bind(member)
        .bind(now)
        .bind(i64::from(is_new))
        .bind(i64::from(effect.weight))
        .bind(effect.cut.minor())
        .bind(number)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE fission_rounds SET joined = joined + 1, progress = progress + $2, \
             price_minor = price_minor - $3, status = $4, \
             closed_at = CASE WHEN $4 = 'open' THEN NULL ELSE $5 END WHERE id = $1",
        )
        .bind(round.id.clone())
        .bind(i64::from(effect.weight))
        .bind(effect.cut.minor())
        .bind(status)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        let round = round_in(conn, round_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("round {round_id} vanished")))?;
        let join = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOIN_COLUMNS} FROM fission_joins WHERE round_id = $1 AND member_id = $2"
        )))
        .bind(round.id.clone())
        .bind(member)
        .fetch_one(&mut *conn)
        .await?;
        let join = join_from_row(&join)?;
        tx.commit().await?;
        Ok(Joined {
            join,
            round,
            replayed: false,
        })
    }

    /// Gives an unlocked help round's leader the campaign's reward, once: the points as
    /// an adjustment keyed by the round, the coupon issued under the round's key.
    async fn reward_round(
        &self,
        round: &RoundRow,
        policy: &PointsPolicy,
        now: Micros,
    ) -> Result<(), MarketingError> {
        let Some(campaign) = self.fission_campaign(&round.campaign_id).await? else {
            return Ok(());
        };
        if let Mechanic::Help {
            reward_points,
            reward_coupon,
            ..
        } = &campaign.campaign.mechanic
        {
            let key = format!("fission-reward:{}", round.id);
            if let Some(points) = reward_points {
                let req = AdjustRequest {
                    member_id: round.leader_id,
                    points: *points,
                    reason: format!("help campaign {} reached its target", round.campaign_id),
                    programme: policy.default_programme().to_owned(),
                    idempotency_key: key.clone(),
                    actor: AuditActor {
                        reference: "fission".into(),
                        key_id: None,
                        name: "Flywheel's help campaign (a target reached)".into(),
                    },
                };
                self.adjust_points(&req, policy, now).await?;
            }
            if let Some(coupon) = reward_coupon {
                match self
                    .issue_coupon(
                        coupon,
                        round.leader_id,
                        &key,
                        &format!("fission:{}", round.campaign_id),
                        now,
                    )
                    .await
                {
                    // A coupon whose budget is spent or that was switched off gives
                    // nothing more; the points part still stands.
                    Ok(_) | Err(MarketingError::Refused { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.write_alone(
            sqlx::query(
                "UPDATE fission_rounds SET rewarded_at = $2 WHERE id = $1 AND rewarded_at IS NULL",
            )
            .bind(round.id.clone())
            .bind(now),
        )
        .await?;
        Ok(())
    }

    /// The engagement task's pass: closes rounds past their deadline and rewards any
    /// unlocked round whose reward did not go out. Returns the rounds closed.
    pub async fn close_due_fission_rounds(
        &self,
        policy: &PointsPolicy,
        now: Micros,
    ) -> Result<u64, MarketingError> {
        let due = format!("fission_rounds WHERE {PAST_DEADLINE}");
        let closed = if self.anything_due(&due, now).await? {
            let mut tx = self.begin_write().await?;
            let n = close_due(&mut tx, Due::All, now).await?;
            // Rounds only: nothing the member cache holds.
            self.commit_keeping_cache(tx).await?;
            n
        } else {
            0
        };
        let unrewarded = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ROUND_COLUMNS} FROM fission_rounds WHERE status = 'unlocked' AND kind = 'help' \
             AND rewarded_at IS NULL"
        )))
        .fetch_all(self.pool())
        .await?;
        for row in &unrewarded {
            self.reward_round(&round_from_row(row)?, policy, now)
                .await?;
        }
        Ok(closed)
    }
}
