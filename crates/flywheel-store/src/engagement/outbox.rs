//! The outbox: every message a journey (or, later, a campaign) decided, written in the
//! transaction that decided it. The decision reads consent, the suppression list and
//! what is already going to the member (the caps), and holds a message met in quiet
//! hours until they end; a message that may not go is kept `suppressed` with the
//! reason. Senders claim due rows for a while (a lease; on PostgreSQL with
//! `SKIP LOCKED`), deliver them outside any transaction and record each attempt.
//! Delivery is at least once on the wire: a sender killed after a provider took a
//! message and before it recorded so delivers it again under the same message id, which
//! receivers use to tell.

use super::runner::RunRow;
use crate::db::Store;
use crate::error::StoreError;
use crate::membership::purchases::{MEMBERSHIP_SELECT, membership_from_row};
use crate::points::ledger::{Lots, load_wallets};
use flywheel_core::engagement::quiet::{Counted, local_day_start};
use flywheel_core::engagement::{
    Circumstances, Decision, DoNotDisturb, address_kind, recommend, template,
};
use flywheel_core::ingest::{MemberId, MemberState};
use flywheel_core::time::{DAY, Micros, to_datetime};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;

/// A message as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub member_id: MemberId,
    pub journey_id: Option<String>,
    pub campaign_id: Option<String>,
    pub run_id: Option<i64>,
    pub step: Option<i64>,
    pub content_id: Option<String>,
    pub content_version: Option<i64>,
    /// `message` to a member, `notice` (a service notice), or `call` (a journey's
    /// webhook step).
    pub kind: String,
    pub channel: String,
    /// queued | waiting (quiet hours) | sending | delivered | failed | suppressed
    pub status: String,
    pub reason: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub created_at: Micros,
    pub send_at: Micros,
    pub attempts: i64,
    pub done_at: Option<Micros>,
    /// The provider's last answer.
    pub answer: Option<String>,
    /// The first open and the first click its tracked links saw.
    pub opened_at: Option<Micros>,
    pub clicked_at: Option<Micros>,
}

/// Which messages to list.
#[derive(Clone, Debug, Default)]
pub struct OutboxQuery {
    pub member_id: Option<MemberId>,
    pub journey_id: Option<String>,
    pub status: Option<String>,
    pub limit: i64,
}

/// A message claimed for delivery, on its `attempt`-th attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub message: OutboxRow,
    pub attempt: i64,
    /// Where the channel reaches the member now (`address_kind`): a phone, an e-mail
    /// address, an openid; None when it has none (or needs none).
    pub to: Option<String>,
}

/// The member's (or its survivor's) identity of `kind`, the first by key.
async fn address_of(
    conn: &mut AnyConnection,
    member: MemberId,
    kind: &str,
) -> Result<Option<String>, StoreError> {
    let Some(id) = crate::survivor::survivor_id(conn, member).await? else {
        return Ok(None);
    };
    let value: Option<String> = sqlx::query_scalar(
        "SELECT value FROM identities WHERE member_id = $1 AND kind = $2 ORDER BY key LIMIT 1",
    )
    .bind(id)
    .bind(kind.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(value)
}

/// What a delivery attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    Delivered(String),
    /// Failed; tried again at this instant.
    Retry {
        answer: String,
        at: Micros,
    },
    /// Failed for good.
    Failed(String),
}

/// A tracked link or open image seen: the message, where the link leads, and an
/// identity of its member (now) to send the `content_click` or `content_open` event
/// under; None when the member is erased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracked {
    pub message: OutboxRow,
    pub link: Option<String>,
    pub identity: Option<(String, String)>,
}

/// What deciding a send did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decided {
    Queued,
    Suppressed,
    /// The step had decided before (a repeated walk): nothing new.
    Already,
}

/// Messages a sender may claim at `$1`: due, or claimed by a sender whose lease ran out.
const DUE: &str = "((status IN ('queued', 'waiting') AND send_at <= $1) \
     OR (status = 'sending' AND lease_until < $1))";

const COLUMNS: &str = "id, member_id, journey_id, campaign_id, run_id, step, content_id, content_version, kind, \
     channel, status, reason, subject, body, created_at, send_at, attempts, done_at, answer, \
     opened_at, clicked_at";

const INSERT: &str = "INSERT INTO outbox (run_id, step, journey_id, campaign_id, member_id, kind, \
     channel, content_id, content_version, subject, body, status, reason, created_at, send_at, attempts, \
     token, link) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 0, $16, $17) \
     ON CONFLICT (run_id, step) DO NOTHING";

/// A fresh, unguessable token for a message's tracked links.
fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn outbox_from_row(r: &AnyRow) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id: r.try_get("id")?,
        member_id: r.try_get("member_id")?,
        journey_id: r.try_get("journey_id")?,
        campaign_id: r.try_get("campaign_id")?,
        run_id: r.try_get("run_id")?,
        step: r.try_get("step")?,
        content_id: r.try_get("content_id")?,
        content_version: r.try_get("content_version")?,
        kind: r.try_get("kind")?,
        channel: r.try_get("channel")?,
        status: r.try_get("status")?,
        reason: r.try_get("reason")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        created_at: r.try_get("created_at")?,
        send_at: r.try_get("send_at")?,
        attempts: r.try_get("attempts")?,
        done_at: r.try_get("done_at")?,
        answer: r.try_get("answer")?,
        opened_at: r.try_get("opened_at")?,
        clicked_at: r.try_get("clicked_at")?,
    })
}

/// The values a member gives a template's variables at `now`.
pub(crate) async fn template_values(
    conn: &mut AnyConnection,
    member: &MemberState,
    programme: &str,
    now: Micros,
) -> Result<BTreeMap<&'static str, String>, StoreError> {
    let mut values = BTreeMap::new();
    let name = member.profile.name.clone();
    values.insert("member_id", member.id.to_string());
    values.insert("stage", member.stage.as_str().to_owned());
    if let Some(n) = member.profile.nicknames.values().next().or(name.as_ref()) {
        values.insert("nickname", n.clone());
    }
    if let Some(n) = name {
        values.insert("name", n);
    }
    let tier = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{MEMBERSHIP_SELECT} WHERE member_id = $1 ORDER BY programme"
    )))
    .bind(member.id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = tier {
        values.insert("tier", membership_from_row(&row)?.tier);
    }
    let wallets = load_wallets(conn, [member.id], Lots::All).await?;
    if let Some(w) = wallets.get(&(member.id, programme.to_owned())) {
        let summary = w.summary(now);
        values.insert("points.balance", summary.balance.to_string());
        if let Some((points, at)) = summary.next_expiry {
            values.insert("points.expiring_next", points.to_string());
            values.insert(
                "points.expiring_at",
                to_datetime(at).format("%Y-%m-%d").to_string(),
            );
        }
    } else {
        values.insert("points.balance", "0".to_owned());
    }
    Ok(values)
}

/// Fills `recommended.*` for the member from the counted best sellers; false when
/// there is nothing to recommend.
pub(crate) async fn add_recommendation(
    conn: &mut AnyConnection,
    member: &MemberState,
    values: &mut BTreeMap<&'static str, String>,
) -> Result<bool, StoreError> {
    let best = super::recommend::best_sellers_for(conn, &member.facts.categories).await?;
    match recommend::recommend(&member.facts.categories, &member.facts.skus, &best) {
        Some(r) => {
            values.insert("recommended.sku", r.sku);
            values.insert("recommended.category", r.category);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// What is already going to `member` in the caps' spans around `at`.
async fn counted(
    conn: &mut AnyConnection,
    member: MemberId,
    channel: &str,
    at: Micros,
    offset_minutes: i32,
) -> Result<Counted, StoreError> {
    let day = local_day_start(at, offset_minutes);
    let rows = sqlx::query(
        "SELECT channel, send_at FROM outbox WHERE member_id = $1 AND kind = 'message' \
         AND status IN ('queued', 'waiting', 'sending', 'delivered') AND send_at > $2 AND send_at < $3",
    )
    .bind(member)
    .bind(at - 7 * DAY)
    .bind(day + DAY)
    .fetch_all(&mut *conn)
    .await?;
    let mut c = Counted::default();
    for r in rows {
        let ch: String = r.try_get("channel")?;
        let t: Micros = r.try_get("send_at")?;
        let today = t >= day;
        if ch == channel {
            c.channel_week += 1;
            if today {
                c.channel_day += 1;
            }
        }
        if today {
            c.all_day += 1;
        }
    }
    Ok(c)
}

/// Where a message comes from: a journey's step, a campaign, or a membership notice.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Origin<'a> {
    Step { run: &'a RunRow, step: usize },
    Campaign { id: &'a str },
    Notice,
}

/// A message to decide.
pub(crate) struct ToDecide<'a> {
    pub origin: Origin<'a>,
    pub member: &'a MemberState,
    pub content_id: &'a str,
    /// The channel to send on; the content's own when None.
    pub channel: Option<&'a str>,
    pub dnd: &'a DoNotDisturb,
    /// The points programme `{{points.balance}}` reads.
    pub programme: &'a str,
    /// Where tracked links point.
    pub link_base: &'a str,
    pub now: Micros,
    /// Text given by the caller (a service notice) instead of content from the library.
    pub given: Option<&'a super::ContentRow>,
    /// A service notice: no opt-in, no caps (`Circumstances::service`).
    pub service: bool,
}

/// Decides a message and writes it to the outbox: rendered for the member now, queued
/// (or waiting for quiet hours to end), or suppressed with why. Answers what it did and
/// the message's id; a journey step decided before is [`Decided::Already`].
pub(crate) async fn decide_and_queue(
    conn: &mut AnyConnection,
    d: &ToDecide<'_>,
) -> Result<(Decided, Option<i64>), StoreError> {
    let ToDecide {
        origin,
        member,
        content_id,
        channel,
        dnd,
        programme,
        link_base,
        now,
        given,
        service,
    } = *d;
    let (run_id, step, journey_id, campaign_id) = match origin {
        Origin::Step { run, step } => (
            Some(run.id),
            Some(step as i64),
            Some(run.journey_id.clone()),
            None,
        ),
        Origin::Campaign { id } => (None, None, None, Some(id.to_owned())),
        Origin::Notice => (None, None, None, None),
    };
    if let (Some(run_id), Some(step)) = (run_id, step) {
        let done: Option<i64> =
            sqlx::query_scalar("SELECT id FROM outbox WHERE run_id = $1 AND step = $2")
                .bind(run_id)
                .bind(step)
                .fetch_optional(&mut *conn)
                .await?;
        if done.is_some() {
            return Ok((Decided::Already, done));
        }
    }
    let content = match given {
        Some(c) => Some(c.clone()),
        None => super::content::content_in(conn, content_id).await?,
    };
    let token = new_token();
    let base = link_base.trim_end_matches('/');
    let (channel, version, subject, body, decision) = match &content {
        None => (
            channel.unwrap_or("webhook").to_owned(),
            None,
            None,
            String::new(),
            Decision::Suppress("content_missing"),
        ),
        Some(c) => {
            let channel = channel.unwrap_or(&c.channel).to_owned();
            let mut values = template_values(conn, member, programme, now).await?;
            let mut named = template::variables(&c.body);
            named.extend(
                c.subject
                    .as_deref()
                    .map(template::variables)
                    .unwrap_or_default(),
            );
            let unrecommended = if recommend::wanted(&named) {
                !add_recommendation(conn, member, &mut values).await?
            } else {
                false
            };
            if c.link.is_some() {
                values.insert("link", format!("{base}/l/{token}"));
            }
            values.insert("open_url", format!("{base}/o/{token}"));
            let consent: Option<i64> = sqlx::query_scalar(
                "SELECT granted FROM member_consents WHERE member_id = $1 AND channel = $2",
            )
            .bind(member.id)
            .bind(channel.clone())
            .fetch_optional(&mut *conn)
            .await?;
            let listed: Option<String> = sqlx::query_scalar(
                "SELECT channel FROM suppressions WHERE member_id = $1 AND (channel = $2 OR channel = '*')",
            )
            .bind(member.id)
            .bind(channel.clone())
            .fetch_optional(&mut *conn)
            .await?;
            let no_address = match address_kind(&channel) {
                Some((kind, true)) => address_of(conn, member.id, kind).await?.is_none(),
                _ => false,
            };
            let goes_at = dnd.quiet.hold_until(now, dnd.offset_minutes).unwrap_or(now);
            let circumstances = Circumstances {
                consent: consent.map(|g| g != 0),
                suppressed: listed.is_some(),
                gone: false,
                no_address,
                service,
                counted: counted(conn, member.id, &channel, goes_at, dnd.offset_minutes).await?,
            };
            (
                channel.clone(),
                given.is_none().then_some(c.version),
                c.subject.as_ref().map(|s| template::render(s, &values)),
                template::render(&c.body, &values),
                if unrecommended {
                    Decision::Suppress("no_recommendation")
                } else {
                    dnd.decide(&channel, circumstances, now)
                },
            )
        }
    };
    let (status, reason, send_at) = match decision {
        Decision::Send => ("queued", None, now),
        Decision::Hold(at) => ("waiting", Some("quiet_hours".to_owned()), at),
        Decision::Suppress(why) => ("suppressed", Some(why.to_owned()), now),
    };
    sqlx::query(INSERT)
        .bind(run_id)
        .bind(step)
        .bind(journey_id)
        .bind(campaign_id)
        .bind(member.id)
        .bind(if service { "notice" } else { "message" })
        .bind(channel)
        .bind(content_id.to_owned())
        .bind(version)
        .bind(subject)
        .bind(body)
        .bind(status)
        .bind(reason)
        .bind(now)
        .bind(send_at)
        .bind(token.clone())
        .bind(content.and_then(|c| c.link))
        .execute(&mut *conn)
        .await?;
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM outbox WHERE token = $1")
        .bind(token)
        .fetch_optional(&mut *conn)
        .await?;
    let decided = if status == "suppressed" {
        Decided::Suppressed
    } else {
        Decided::Queued
    };
    Ok((decided, id))
}

/// Queues a journey's webhook step: a call to the integrator, not a message to the
/// member, so neither consent nor caps nor quiet hours apply.
pub(crate) async fn queue_call(
    conn: &mut AnyConnection,
    run: &RunRow,
    step: usize,
    member: MemberId,
    body: &str,
    now: Micros,
) -> Result<(), StoreError> {
    sqlx::query(INSERT)
        .bind(run.id)
        .bind(step as i64)
        .bind(run.journey_id.clone())
        .bind(None::<String>)
        .bind(member)
        .bind("call")
        .bind("webhook")
        .bind(None::<String>)
        .bind(None::<i64>)
        .bind(None::<String>)
        .bind(body.to_owned())
        .bind("queued")
        .bind(None::<String>)
        .bind(now)
        .bind(now)
        .bind(new_token())
        .bind(None::<String>)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// Records that the message holding `token` was opened (`click` false) or its link
    /// followed, the first time only; None when no message has the token.
    pub async fn track_message(
        &self,
        token: &str,
        click: bool,
        now: Micros,
    ) -> Result<Option<Tracked>, StoreError> {
        if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, link FROM outbox WHERE token = $1"
        )))
        .bind(token.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let message = outbox_from_row(&row)?;
        let link: Option<String> = row.try_get("link")?;
        let column = if click { "clicked_at" } else { "opened_at" };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET {column} = $1 WHERE id = $2 AND {column} IS NULL"
        )))
        .bind(now)
        .bind(message.id)
        .execute(&mut *conn)
        .await?;
        let identity = match crate::survivor::survivor_id(conn, message.member_id).await? {
            Some(m) => sqlx::query(
                "SELECT kind, value FROM identities WHERE member_id = $1 ORDER BY key LIMIT 1",
            )
            .bind(m)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| Ok::<_, StoreError>((r.try_get("kind")?, r.try_get("value")?)))
            .transpose()?,
            None => None,
        };
        tx.commit().await?;
        Ok(Some(Tracked {
            message,
            link,
            identity,
        }))
    }

    /// The values member `id` (or its survivor) gives a template's variables at `now`;
    /// None when there is no such member.
    pub async fn template_values(
        &self,
        id: MemberId,
        programme: &str,
        now: Micros,
    ) -> Result<Option<BTreeMap<&'static str, String>>, StoreError> {
        let Some(member) = self.member(id).await? else {
            return Ok(None);
        };
        // A preview shows the recommendation the member would be sent today.
        self.refresh_best_sellers(now).await?;
        let mut conn = self.pool().acquire().await?;
        let mut values = template_values(&mut conn, &member, programme, now).await?;
        add_recommendation(&mut conn, &member, &mut values).await?;
        Ok(Some(values))
    }

    /// Messages, newest first.
    pub async fn outbox(&self, q: &OutboxQuery) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM outbox WHERE ($1 < 0 OR member_id = $1) \
             AND ($2 = '' OR journey_id = $2) AND ($3 = '' OR status = $3) \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        )))
        .bind(q.member_id.unwrap_or(-1))
        .bind(q.journey_id.clone().unwrap_or_default())
        .bind(q.status.clone().unwrap_or_default())
        .bind(q.limit.clamp(1, 1000))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// Claims up to `limit` messages due at `now` (and any whose sender's lease ran out)
    /// until `now + lease`.
    pub async fn claim_messages(
        &self,
        now: Micros,
        lease: Micros,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        if !self
            .anything_due(&format!("outbox WHERE {DUE}"), now)
            .await?
        {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let lock = crate::dialect::row_lock_skipping_held(self.backend());
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM outbox WHERE {DUE} ORDER BY send_at, id LIMIT $2{lock}"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut m = outbox_from_row(r)?;
            m.attempts += 1;
            sqlx::query(
                "UPDATE outbox SET status = 'sending', lease_until = $1, attempts = $2 WHERE id = $3",
            )
            .bind(now + lease)
            .bind(m.attempts)
            .bind(m.id)
            .execute(&mut *conn)
            .await?;
            m.status = "sending".into();
            let to = match address_kind(&m.channel) {
                Some((kind, _)) if m.kind != "call" => address_of(conn, m.member_id, kind).await?,
                _ => None,
            };
            claimed.push(Claimed {
                attempt: m.attempts,
                message: m,
                to,
            });
        }
        // Messages only: nothing the member cache holds.
        self.commit_keeping_cache(tx).await?;
        Ok(claimed)
    }

    /// Records an attempt and where the message stands after it. An attempt recorded
    /// before (a sender that outlived its lease) changes nothing.
    pub async fn record_delivery(
        &self,
        claimed: &Claimed,
        result: &Delivery,
        now: Micros,
    ) -> Result<(), StoreError> {
        crate::crash::point("outbox.before_record");
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let (ok, answer) = match result {
            Delivery::Delivered(a) => (1, a),
            Delivery::Retry { answer, .. } | Delivery::Failed(answer) => (0, answer),
        };
        let answer: String = answer.chars().take(500).collect();
        let recorded = sqlx::query(
            "INSERT INTO outbox_attempts (message_id, attempt, at, ok, answer) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (message_id, attempt) DO NOTHING",
        )
        .bind(claimed.message.id)
        .bind(claimed.attempt)
        .bind(now)
        .bind(ok)
        .bind(answer.clone())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if recorded == 0 {
            return Ok(());
        }
        let (status, send_at, done_at) = match result {
            Delivery::Delivered(_) => ("delivered", claimed.message.send_at, Some(now)),
            Delivery::Retry { at, .. } => ("queued", *at, None),
            Delivery::Failed(_) => ("failed", claimed.message.send_at, Some(now)),
        };
        sqlx::query(
            "UPDATE outbox SET status = $1, send_at = $2, done_at = $3, answer = $4, lease_until = NULL \
             WHERE id = $5 AND status = 'sending' AND attempts = $6",
        )
        .bind(status)
        .bind(send_at)
        .bind(done_at)
        .bind(answer)
        .bind(claimed.message.id)
        .bind(claimed.attempt)
        .execute(&mut *conn)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
