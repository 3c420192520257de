//! Tracked share links (issue 20, `flywheel_core::marketing::share`): the links members
//! share, the clicks and distinct readers the public redirect counts, the buyers that
//! purchases naming a link's token bring (planned with the batch that ingests them), and
//! the milestones paid. A link whose counts moved is `unsettled` until
//! [`Store::pay_share_milestones`] has judged it: each milestone a rule names and the
//! counts reach goes to the engine as the sharer's `share_milestone` event, whose id is
//! fixed by the link and milestone, so it pays once however often it is sent.

use super::MarketingError;
use super::coupons::refused;
use crate::db::Store;
use crate::error::StoreError;
use crate::ingest::{AsOf, EventResult, IngestMode};
use crate::plan::Writes;
use crate::sql::Val;
use flywheel_core::ErrorCode;
use flywheel_core::event::{Event, Payload};
use flywheel_core::ingest::{MemberId, WorkingSet};
use flywheel_core::marketing::share::{self, SHARE_MILESTONE};
use flywheel_core::marketing::{Milestone, ShareCounts, ShareMeasure};
use flywheel_core::policy::Policy;
use flywheel_core::time::{Micros, to_rfc3339};
use rand::Rng;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeSet, HashMap};

/// A link as stored, with what it counted and the milestones it was paid.
#[derive(Clone, Debug, PartialEq)]
pub struct ShareLinkRow {
    pub token: String,
    pub member_id: MemberId,
    pub url: String,
    pub title: Option<String>,
    pub channel: String,
    pub created_at: Micros,
    pub counts: ShareCounts,
    pub last_click_at: Option<Micros>,
    pub milestones: Vec<PaidMilestone>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaidMilestone {
    pub milestone: Milestone,
    pub event_id: String,
    pub paid_at: Micros,
}

/// What one pass of [`Store::pay_share_milestones`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MilestoneReport {
    /// Links whose counts were judged.
    pub links: u64,
    /// Milestone events the engine accepted (new ones; a repeat is not counted).
    pub paid: u64,
}

/// What a new link says.
#[derive(Clone, Debug)]
pub struct NewShareLink<'a> {
    pub member: MemberId,
    pub key: &'a str,
    pub url: &'a str,
    pub title: Option<&'a str>,
    pub channel: &'a str,
}

const LINK_COLUMNS: &str = "token, member_id, url, title, channel, created_at, clicks, readers, \
     buyers, new_buyers, last_click_at";

fn link_from_row(row: &AnyRow) -> Result<ShareLinkRow, sqlx::Error> {
    let count =
        |c: &str| -> Result<u64, sqlx::Error> { Ok(row.try_get::<i64, _>(c)?.max(0) as u64) };
    Ok(ShareLinkRow {
        token: row.try_get("token")?,
        member_id: row.try_get("member_id")?,
        url: row.try_get("url")?,
        title: row.try_get("title")?,
        channel: row.try_get("channel")?,
        created_at: row.try_get("created_at")?,
        counts: ShareCounts {
            clicks: count("clicks")?,
            readers: count("readers")?,
            buyers: count("buyers")?,
            new_buyers: count("new_buyers")?,
        },
        last_click_at: row.try_get("last_click_at")?,
        milestones: Vec::new(),
    })
}

/// 22 characters of `[A-Za-z0-9]`: about 131 random bits, so a link cannot be guessed.
fn new_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..22)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

const MILESTONE_COLUMNS: &str = "token, measure, reached, event_id, paid_at";

fn milestone_from_row(r: &AnyRow) -> Result<PaidMilestone, StoreError> {
    let measure: String = r.try_get("measure")?;
    let Some(measure) = ShareMeasure::parse(&measure) else {
        let token: String = r.try_get("token")?;
        return Err(StoreError::Invalid(format!(
            "share milestone of link {token} has an unknown measure {measure:?}"
        )));
    };
    let reached: i64 = r.try_get("reached")?;
    Ok(PaidMilestone {
        milestone: Milestone {
            measure,
            at: u32::try_from(reached).unwrap_or(u32::MAX),
        },
        event_id: r.try_get("event_id")?,
        paid_at: r.try_get("paid_at")?,
    })
}

async fn paid_milestones(
    conn: &mut AnyConnection,
    token: &str,
) -> Result<Vec<PaidMilestone>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MILESTONE_COLUMNS} FROM share_milestones WHERE token = $1 \
         ORDER BY paid_at, measure, reached"
    )))
    .bind(token.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(milestone_from_row).collect()
}

impl Store {
    /// Makes a member's tracked link, once per `key`: the same key again answers the
    /// same link (`true`), and a key used for another member or URL is refused.
    pub async fn create_share_link(
        &self,
        link: &NewShareLink<'_>,
        now: Micros,
    ) -> Result<(ShareLinkRow, bool), MarketingError> {
        let mut conn = self.pool().acquire().await?;
        let member = crate::survivor::survivor_id(&mut conn, link.member)
            .await?
            .ok_or_else(|| {
                refused(
                    ErrorCode::MemberNotFound,
                    format!("no member {}", link.member),
                )
            })?;
        drop(conn);
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO share_links (token, member_id, idempotency_key, url, title, channel, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(new_token())
        .bind(member)
        .bind(link.key.to_owned())
        .bind(link.url.to_owned())
        .bind(link.title.map(str::to_owned))
        .bind(link.channel.to_owned())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LINK_COLUMNS} FROM share_links WHERE idempotency_key = $1"
        )))
        .bind(link.key.to_owned())
        .fetch_one(&mut *tx)
        .await?;
        let mut found = link_from_row(&row)?;
        if !inserted {
            let owner = crate::survivor::survivor_id(&mut tx, found.member_id).await?;
            if owner != Some(member) || found.url != link.url {
                return Err(refused(
                    ErrorCode::IdempotencyKeyReused,
                    "the idempotency_key was used for another member's link or another URL",
                ));
            }
            found.milestones = paid_milestones(&mut tx, &found.token).await?;
        }
        tx.commit().await?;
        Ok((found, !inserted))
    }

    /// One link with its paid milestones.
    pub async fn share_link(&self, token: &str) -> Result<Option<ShareLinkRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LINK_COLUMNS} FROM share_links WHERE token = $1"
        )))
        .bind(token.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut link = link_from_row(&row)?;
        link.milestones = paid_milestones(&mut conn, token).await?;
        Ok(Some(link))
    }

    /// Links, the newest first (or, `top`, those that brought the most: new buyers, then
    /// buyers, readers and clicks): one member's (and those of members merged into them),
    /// or everyone's.
    pub async fn share_links(
        &self,
        member: Option<MemberId>,
        top: bool,
        limit: i64,
    ) -> Result<Vec<ShareLinkRow>, StoreError> {
        let order = if top {
            "new_buyers DESC, buyers DESC, readers DESC, clicks DESC, token"
        } else {
            "created_at DESC, token"
        };
        let chosen = format!(
            "SELECT {LINK_COLUMNS} FROM share_links WHERE $1 IS NULL OR member_id = $1 \
             OR member_id IN (SELECT id FROM members WHERE merged_into = $1) \
             ORDER BY {order} LIMIT $2"
        );
        let mut conn = self.pool().acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(chosen.clone()))
            .bind(member)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
        // The chosen links' milestones in one query, not one per link.
        let paid = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MILESTONE_COLUMNS} FROM share_milestones \
             WHERE token IN (SELECT token FROM ({chosen}) chosen) \
             ORDER BY paid_at, measure, reached"
        )))
        .bind(member)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let mut by_token: HashMap<String, Vec<PaidMilestone>> = HashMap::new();
        for r in &paid {
            let token: String = r.try_get("token")?;
            by_token
                .entry(token)
                .or_default()
                .push(milestone_from_row(r)?);
        }
        rows.iter()
            .map(|row| {
                let mut link = link_from_row(row)?;
                link.milestones = by_token.remove(&link.token).unwrap_or_default();
                Ok(link)
            })
            .collect()
    }

    /// The most each measure reached on any one of a member's links (and those of
    /// members merged into them): what a share-milestone task shows as progress.
    pub async fn best_share_counts(&self, member: MemberId) -> Result<ShareCounts, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(clicks), 0) AS clicks, COALESCE(MAX(readers), 0) AS readers, \
             COALESCE(MAX(buyers), 0) AS buyers, COALESCE(MAX(new_buyers), 0) AS new_buyers \
             FROM share_links WHERE member_id = $1 \
             OR member_id IN (SELECT id FROM members WHERE merged_into = $1)",
        )
        .bind(member)
        .fetch_one(self.pool())
        .await?;
        let count =
            |c: &str| -> Result<u64, sqlx::Error> { Ok(row.try_get::<i64, _>(c)?.max(0) as u64) };
        Ok(ShareCounts {
            clicks: count("clicks")?,
            readers: count("readers")?,
            buyers: count("buyers")?,
            new_buyers: count("new_buyers")?,
        })
    }

    /// Counts a visit of a link by the browser `reader`: a click always, a reader the
    /// first time that browser opens this link. Answers the link's URL, or None for a
    /// token no link has.
    pub async fn count_share_click(
        &self,
        token: &str,
        reader: &str,
        now: Micros,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin_write().await?;
        let url: Option<String> =
            sqlx::query_scalar("SELECT url FROM share_links WHERE token = $1")
                .bind(token.to_owned())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(url) = url else {
            return Ok(None);
        };
        let new_reader = sqlx::query(
            "INSERT INTO share_readers (token, reader, first_at) VALUES ($1, $2, $3) \
             ON CONFLICT (token, reader) DO NOTHING",
        )
        .bind(token.to_owned())
        .bind(reader.to_owned())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        sqlx::query(
            "UPDATE share_links SET clicks = clicks + 1, readers = readers + $2, \
             last_click_at = $3, unsettled = 1 WHERE token = $1",
        )
        .bind(token.to_owned())
        .bind(new_reader)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(url))
    }

    /// Judges links whose counts moved (all of them, or the one `token`): each milestone
    /// the rules in force name and a link's counts reach, not yet paid, goes to the
    /// engine as the sharer's `share_milestone` event; then the link is settled, unless
    /// its counts moved meanwhile. A sharer whose identities were erased gets nothing.
    pub async fn pay_share_milestones(
        &self,
        policy: &Policy,
        token: Option<&str>,
        now: Micros,
    ) -> Result<MilestoneReport, StoreError> {
        let mut report = MilestoneReport::default();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LINK_COLUMNS} FROM share_links WHERE unsettled = 1 \
             AND ($1 IS NULL OR token = $1) ORDER BY token LIMIT 500"
        )))
        .bind(token.map(str::to_owned))
        .fetch_all(self.pool())
        .await?;
        if rows.is_empty() {
            return Ok(report);
        }
        let wanted = self.rule_book().await?.at(now).milestones();
        let mut links = Vec::with_capacity(rows.len());
        let mut events: Vec<(String, Milestone, Event)> = Vec::new();
        for row in &rows {
            let link = link_from_row(row)?;
            let mut conn = self.pool().acquire().await?;
            let paid: BTreeSet<Milestone> = paid_milestones(&mut conn, &link.token)
                .await?
                .into_iter()
                .map(|p| p.milestone)
                .collect();
            drop(conn);
            let due = link.counts.due(&wanted, &paid);
            if !due.is_empty()
                && let Some((kind, value)) = self.member_handle(link.member_id).await?
            {
                for m in due {
                    let body = json!({
                        "event_id": m.event_id(&link.token), "type": SHARE_MILESTONE,
                        "occurred_at": to_rfc3339(now), "channel": "other",
                        "identities": {&kind: &value},
                        "properties": {"token": link.token, "measure": m.measure,
                            "reached": m.at, "url": link.url},
                    });
                    match flywheel_core::parse_event(&body, &policy.parse_context(now)) {
                        Ok(e) => events.push((link.token.clone(), m, e)),
                        Err(errors) => tracing::warn!(
                            token = %link.token, ?errors,
                            "a share milestone's event did not parse"
                        ),
                    }
                }
            }
            links.push(link);
        }
        if !events.is_empty() {
            let batch: Vec<Event> = events.iter().map(|(_, _, e)| e.clone()).collect();
            let results = self
                .ingest(
                    &batch,
                    &policy.rules(),
                    AsOf::At(now),
                    IngestMode::SkipRejected,
                )
                .await?;
            let mut tx = self.begin_write().await?;
            for ((token, m, e), result) in events.iter().zip(results) {
                match result {
                    EventResult::Accepted(_) => report.paid += 1,
                    EventResult::Duplicate(_) => {}
                    EventResult::Rejected(r) => {
                        tracing::warn!(%token, reason = %r.message, "a share milestone was refused");
                        continue;
                    }
                }
                sqlx::query(
                    "INSERT INTO share_milestones (token, measure, reached, event_id, paid_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token, measure, reached) DO NOTHING",
                )
                .bind(token.clone())
                .bind(m.measure.as_str())
                .bind(i64::from(m.at))
                .bind(e.event_id.clone())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        let mut tx = self.begin_write().await?;
        for link in &links {
            let c = link.counts;
            sqlx::query(
                "UPDATE share_links SET unsettled = 0 WHERE token = $1 AND clicks = $2 \
                 AND readers = $3 AND buyers = $4 AND new_buyers = $5",
            )
            .bind(link.token.clone())
            .bind(c.clicks as i64)
            .bind(c.readers as i64)
            .bind(c.buyers as i64)
            .bind(c.new_buyers as i64)
            .execute(&mut *tx)
            .await?;
            report.links += 1;
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// Plans what the batch's purchases do to links: a purchase naming a link's token
/// (`properties.share_token`) counts its member as the link's buyer — once per member,
/// never the sharer — and as a new buyer when it was their first purchase.
pub(crate) fn plan_event_shares(
    w: &mut Writes,
    ws: &WorkingSet,
    events: &[Event],
    accepted: &[(usize, MemberId)],
) {
    for &(i, member) in accepted {
        let e = &events[i];
        let Payload::Purchase(p) = &e.payload else {
            continue;
        };
        let Some(token) = e
            .properties
            .get("share_token")
            .and_then(|v| v.as_str())
            .filter(|t| share::is_token(t))
        else {
            continue;
        };
        let buyer = ws.survivor(member);
        let first = ws
            .member(buyer)
            .is_some_and(|m| m.facts.first_purchase_at == Some(e.occurred_at));
        w.statement(
            "INSERT INTO share_buyers (token, member_id, order_id, new_buyer, bought_at) \
             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM share_links l WHERE l.token = $1 \
             AND l.member_id <> $2 AND l.member_id NOT IN (SELECT id FROM members WHERE merged_into = $2)) \
             ON CONFLICT (token, member_id) DO NOTHING",
            vec![
                token.into(),
                Val::Int(buyer),
                p.order_id.as_str().into(),
                Val::Int(i64::from(first)),
                Val::Int(e.occurred_at),
            ],
        );
        w.statement(
            "UPDATE share_links SET buyers = (SELECT COUNT(*) FROM share_buyers b WHERE b.token = $1), \
             new_buyers = (SELECT COUNT(*) FROM share_buyers b WHERE b.token = $1 AND b.new_buyer = 1), \
             unsettled = 1 WHERE token = $1",
            vec![token.into()],
        );
    }
}
