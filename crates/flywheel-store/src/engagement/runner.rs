//! The journey runner: admits the runs triggers recorded (under each journey's re-entry
//! policy), then walks each due run through its version's program until it waits, ends
//! or meets its goal. One run is one short write transaction: the step's decision (the
//! outbox row, the tag, the next position and when it is due) commits together, so a
//! crash repeats nothing that committed and loses nothing that did not. Points go
//! through the ledger in their own transaction under the key `journey:<run>:<step>`, so
//! a step repeated after a crash is recognised as granted.
//!
//! Due runs are claimed row by row; on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
//! several processes share the work and never walk one run twice.

use super::journeys::compile_stored;
use super::outbox::{Decided, Origin, ToDecide, decide_and_queue};
use crate::audit::AuditActor;
use crate::db::Store;
use crate::error::StoreError;
use crate::points::AdjustRequest;
use crate::rows::member_from_row;
use crate::segments::live::{ExtrasFor, extras_for};
use flywheel_core::Policy;
use flywheel_core::engagement::DoNotDisturb;
use flywheel_core::engagement::journey::{Journey, Op};
use flywheel_core::engagement::quiet::next_time_of_day;
use flywheel_core::ingest::{MemberId, MemberState};
use flywheel_core::segment::{Cond, Language, MemberView};
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use std::sync::Arc;

/// A member's place in a journey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRow {
    pub id: i64,
    pub journey_id: String,
    pub version: i64,
    pub member_id: MemberId,
    pub cause: String,
    /// triggered (not yet admitted) | active | done | exited | skipped | failed
    pub status: String,
    /// The next step to run (0-based into the compiled program).
    pub step: i64,
    pub triggered_at: Micros,
    pub entered_at: Option<Micros>,
    /// When the run is due next (waiting, or admitted and not yet walked).
    pub next_at: Option<Micros>,
    pub reason: Option<String>,
}

/// What one pass of the runner did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    pub admitted: u64,
    pub skipped: u64,
    pub steps: u64,
    pub finished: u64,
    pub messages: u64,
}

/// Where a walk stopped.
enum Stop {
    /// Due again at this instant, at the run's new position.
    Park(Micros),
    /// Ended: done (the last step ran), or exited for the reason given.
    End(&'static str, Option<String>),
    /// A points or coupon step at the run's position: granted outside the run's
    /// transaction (each keyed by the run and step, so a retry grants once).
    Grant(Grant),
}

enum Grant {
    Points { amount: i64, rule: String },
    Coupon(String),
}

const RUN_COLUMNS: &str = "id, journey_id, version, member_id, cause, status, pc, triggered_at, \
     entered_at, next_at, reason";

fn run_from_row(r: &sqlx::any::AnyRow) -> Result<RunRow, StoreError> {
    let status: String = r.try_get("status")?;
    let open = status == "triggered" || status == "active";
    Ok(RunRow {
        id: r.try_get("id")?,
        journey_id: r.try_get("journey_id")?,
        version: r.try_get("version")?,
        member_id: r.try_get("member_id")?,
        cause: r.try_get("cause")?,
        step: r.try_get("pc")?,
        triggered_at: r.try_get("triggered_at")?,
        entered_at: r.try_get("entered_at")?,
        next_at: if open {
            Some(r.try_get("next_at")?)
        } else {
            None
        },
        reason: r.try_get("reason")?,
        status,
    })
}

/// What one pass of the runner works under.
struct Pass<'a> {
    policy: &'a Policy,
    dnd: &'a DoNotDisturb,
    lang: Language,
    /// Where tracked links point (`server.public_url`).
    link_base: &'a str,
    now: Micros,
}

/// Compiled programs by (journey, version), for one pass.
type Programs = HashMap<(String, i64), Option<Arc<Journey>>>;

impl Store {
    /// A member's runs, newest first.
    pub async fn member_journeys(&self, member: MemberId) -> Result<Vec<RunRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM journey_runs WHERE member_id = $1 ORDER BY triggered_at DESC, id DESC LIMIT 500"
        )))
        .bind(member)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    /// How many runs each journey has in each status: (journey, status) → count.
    pub async fn journey_run_counts(
        &self,
    ) -> Result<std::collections::BTreeMap<(String, String), i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT journey_id, status, COUNT(*) AS n FROM journey_runs GROUP BY journey_id, status",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    (r.try_get("journey_id")?, r.try_get("status")?),
                    r.try_get("n")?,
                ))
            })
            .collect()
    }

    /// Walks every run due at `now` (at most `limit`) of the active journeys.
    pub async fn run_journeys(
        &self,
        policy: &Policy,
        link_base: &str,
        now: Micros,
        limit: i64,
    ) -> Result<RunReport, StoreError> {
        let dnd = policy.engagement.rules().map_err(StoreError::Corrupt)?;
        let lang = Language {
            window_days: policy.stages.window_days,
            ..self.segment_settings().lang
        };
        let due: Vec<i64> = sqlx::query_scalar(
            "SELECT r.id FROM journey_runs r JOIN journeys j ON j.id = r.journey_id \
             WHERE r.status IN ('triggered', 'active') AND r.next_at <= $1 AND j.status = 'active' \
             ORDER BY r.next_at, r.id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        if !due.is_empty() {
            // Outside the walk's transactions: a recount reads a quarter's orders.
            self.refresh_best_sellers(now).await?;
        }
        let mut report = RunReport::default();
        let mut programs = Programs::new();
        for id in due {
            let pass = Pass {
                policy,
                dnd: &dnd,
                lang: lang.clone(),
                link_base,
                now,
            };
            self.run_one(id, &pass, &mut programs, &mut report).await?;
        }
        Ok(report)
    }

    async fn run_one(
        &self,
        id: i64,
        pass: &Pass<'_>,
        programs: &mut Programs,
        report: &mut RunReport,
    ) -> Result<(), StoreError> {
        let (policy, now) = (pass.policy, pass.now);
        // A points step ends a transaction; the walk goes on in the next one.
        for _ in 0..64 {
            let mut tx = self.begin_write().await?;
            let conn: &mut AnyConnection = &mut tx;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {RUN_COLUMNS} FROM journey_runs WHERE id = $1 \
                 AND status IN ('triggered', 'active') AND next_at <= $2{}",
                crate::dialect::row_lock_skipping_held(self.backend())
            )))
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            // Taken by another process, or walked already.
            let Some(row) = row else { return Ok(()) };
            let run = run_from_row(&row)?;
            let Some(journey) = self.program(conn, &run, &pass.lang, programs).await? else {
                finish(
                    conn,
                    run.id,
                    "failed",
                    Some("definition no longer compiles"),
                    now,
                )
                .await?;
                tx.commit().await?;
                return Ok(());
            };
            let mut pc = usize::try_from(run.step).unwrap_or(usize::MAX);
            if run.status == "triggered" {
                if !admits(conn, &run, &journey, now).await? {
                    finish(conn, run.id, "skipped", Some("reentry"), now).await?;
                    tx.commit().await?;
                    report.skipped += 1;
                    return Ok(());
                }
                sqlx::query(
                    "UPDATE journey_runs SET status = 'active', entered_at = $1, updated_at = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(run.id)
                .execute(&mut *conn)
                .await?;
                report.admitted += 1;
                pc = 0;
            }
            let stop = self
                .walk(conn, &run, &journey, &mut pc, pass, report)
                .await?;
            match stop {
                Stop::Park(at) => {
                    sqlx::query(
                        "UPDATE journey_runs SET pc = $1, next_at = $2, updated_at = $3 WHERE id = $4",
                    )
                    .bind(pc as i64)
                    .bind(at)
                    .bind(now)
                    .bind(run.id)
                    .execute(&mut *conn)
                    .await?;
                    tx.commit().await?;
                    crate::crash::point("journey.decided");
                    return Ok(());
                }
                Stop::End(status, reason) => {
                    sqlx::query("UPDATE journey_runs SET pc = $1 WHERE id = $2")
                        .bind(pc as i64)
                        .bind(run.id)
                        .execute(&mut *conn)
                        .await?;
                    finish(conn, run.id, status, reason.as_deref(), now).await?;
                    tx.commit().await?;
                    crate::crash::point("journey.decided");
                    report.finished += 1;
                    return Ok(());
                }
                Stop::Grant(grant) => {
                    sqlx::query(
                        "UPDATE journey_runs SET pc = $1, next_at = $2, updated_at = $2 WHERE id = $3",
                    )
                    .bind(pc as i64)
                    .bind(now)
                    .bind(run.id)
                    .execute(&mut *conn)
                    .await?;
                    tx.commit().await?;
                    let key = format!("journey:{}:{pc}", run.id);
                    let outcome = match grant {
                        Grant::Points { amount, rule } => {
                            let request = AdjustRequest {
                                member_id: run.member_id,
                                points: amount,
                                reason: format!("journey {} ({rule})", run.journey_id),
                                programme: policy.points.default_programme().to_owned(),
                                idempotency_key: key,
                                actor: AuditActor {
                                    reference: format!("journey:{}", run.journey_id),
                                    key_id: None,
                                    name: format!("journey {}", run.journey_id),
                                },
                            };
                            match self.adjust_points(&request, &policy.points, now).await {
                                Ok(_) => None,
                                Err(e) => Some(format!("points: {e}")),
                            }
                        }
                        Grant::Coupon(coupon) => {
                            let source = format!("journey:{}", run.journey_id);
                            match self
                                .issue_coupon(&coupon, run.member_id, &key, &source, now)
                                .await
                            {
                                Ok(_) => None,
                                Err(crate::MarketingError::Refused { code, message }) => {
                                    Some(format!("coupon: {} ({message})", code.as_str()))
                                }
                                Err(crate::MarketingError::Points(p)) => {
                                    Some(format!("coupon: {p}"))
                                }
                                Err(crate::MarketingError::Store(e)) => return Err(e),
                            }
                        }
                    };
                    let mut tx = self.begin_write().await?;
                    let conn: &mut AnyConnection = &mut tx;
                    match outcome {
                        None => {
                            sqlx::query(
                                "UPDATE journey_runs SET pc = $1, updated_at = $2 WHERE id = $3 AND pc = $4",
                            )
                            .bind(pc as i64 + 1)
                            .bind(now)
                            .bind(run.id)
                            .bind(pc as i64)
                            .execute(&mut *conn)
                            .await?;
                        }
                        Some(why) => finish(conn, run.id, "failed", Some(&why), now).await?,
                    }
                    tx.commit().await?;
                    report.steps += 1;
                }
            }
        }
        Ok(())
    }

    /// The run's version, compiled (once per pass).
    async fn program(
        &self,
        conn: &mut AnyConnection,
        run: &RunRow,
        lang: &Language,
        programs: &mut Programs,
    ) -> Result<Option<Arc<Journey>>, StoreError> {
        let key = (run.journey_id.clone(), run.version);
        if let Some(p) = programs.get(&key) {
            return Ok(p.clone());
        }
        let text: Option<String> = sqlx::query_scalar(
            "SELECT definition FROM journey_versions WHERE journey_id = $1 AND version = $2",
        )
        .bind(run.journey_id.clone())
        .bind(run.version)
        .fetch_optional(&mut *conn)
        .await?;
        let compiled = text
            .and_then(|t| serde_json::from_str(&t).ok())
            .and_then(|d| compile_stored(&d, lang).ok())
            .map(Arc::new);
        programs.insert(key, compiled.clone());
        Ok(compiled)
    }

    /// Runs steps from `pc` until one waits, the program ends, the goal is met or a
    /// points step needs its own transaction.
    async fn walk(
        &self,
        conn: &mut AnyConnection,
        run: &RunRow,
        journey: &Journey,
        pc: &mut usize,
        pass: &Pass<'_>,
        report: &mut RunReport,
    ) -> Result<Stop, StoreError> {
        let (policy, dnd, lang, now) = (pass.policy, pass.dnd, &pass.lang, pass.now);
        let Some(member) = self.member_now(conn, run.member_id).await? else {
            return Ok(Stop::End("exited", Some("member_gone".into())));
        };
        let catalogue = self.catalogue_on(conn).await?;
        let ctx = ExtrasFor {
            backend: self.backend(),
            catalogue: &catalogue,
            points_programme: policy.points.default_programme(),
            now,
        };
        if let Some(goal) = &journey.goal
            && holds(conn, &ctx, goal, &member, lang, now).await?
        {
            return Ok(Stop::End("done", Some("goal".into())));
        }
        // Jumps only go forward, so a walk ends within the program's length.
        while let Some(op) = journey.program.get(*pc) {
            report.steps += 1;
            match op {
                Op::Wait(d) => {
                    *pc += 1;
                    return Ok(Stop::Park(now + d));
                }
                Op::WaitUntil(minute) => {
                    *pc += 1;
                    let at = next_time_of_day(now, dnd.offset_minutes, *minute);
                    if at > now {
                        return Ok(Stop::Park(at));
                    }
                }
                Op::Send { content, channel } => {
                    let (decided, _) = decide_and_queue(
                        conn,
                        &ToDecide {
                            origin: Origin::Step { run, step: *pc },
                            member: &member,
                            content_id: content,
                            channel: channel.as_deref(),
                            dnd,
                            programme: policy.points.default_programme(),
                            link_base: pass.link_base,
                            now,
                            given: None,
                            service: false,
                        },
                    )
                    .await?;
                    if decided == Decided::Queued {
                        report.messages += 1;
                    }
                    *pc += 1;
                }
                Op::Webhook { event } => {
                    let body = json!({"event": event, "journey": run.journey_id,
                        "member_id": member.id, "run": run.id, "at": now});
                    super::outbox::queue_call(conn, run, *pc, member.id, &body.to_string(), now)
                        .await?;
                    report.messages += 1;
                    *pc += 1;
                }
                Op::Tag(tag) => {
                    let set_by = format!("journey:{}", run.journey_id);
                    crate::segments::set_tag_in(
                        conn, member.id, tag, None, "journey", &set_by, now,
                    )
                    .await?;
                    self.refresh_segments_in(conn, &[member.id], &set_by, now)
                        .await?;
                    *pc += 1;
                }
                Op::Untag(tag) => {
                    sqlx::query("DELETE FROM member_tags WHERE member_id = $1 AND tag = $2")
                        .bind(member.id)
                        .bind(tag.clone())
                        .execute(&mut *conn)
                        .await?;
                    let cause = format!("journey:{}", run.journey_id);
                    self.refresh_segments_in(conn, &[member.id], &cause, now)
                        .await?;
                    *pc += 1;
                }
                Op::Ticket { category, text } => {
                    let book = self.service_book(conn).await?;
                    crate::service::tickets::open_journey_ticket(
                        conn,
                        &book.queues,
                        run.id,
                        *pc,
                        member.id,
                        category.as_deref(),
                        text.clone(),
                        now,
                    )
                    .await?;
                    *pc += 1;
                }
                Op::Points { amount, rule } => {
                    return Ok(Stop::Grant(Grant::Points {
                        amount: *amount,
                        rule: rule.clone(),
                    }));
                }
                Op::Coupon(id) => return Ok(Stop::Grant(Grant::Coupon(id.clone()))),
                Op::JumpUnless { cond, target } => {
                    *pc = if holds(conn, &ctx, cond, &member, lang, now).await? {
                        *pc + 1
                    } else {
                        *target
                    };
                }
                Op::Jump(target) => *pc = *target,
            }
        }
        Ok(Stop::End("done", None))
    }

    /// The member a run belongs to now (its survivor after a merge); None when erased.
    pub(crate) async fn member_now(
        &self,
        conn: &mut AnyConnection,
        id: MemberId,
    ) -> Result<Option<MemberState>, StoreError> {
        let Some(survivor) = crate::survivor::survivor_id(conn, id).await? else {
            return Ok(None);
        };
        let rows =
            crate::dialect::select_members_for_update(conn, self.backend(), [survivor]).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let m = member_from_row(row)?;
        Ok(m.erased_at.is_none().then_some(m))
    }
}

/// Whether `cond` holds for `member` at `now`.
async fn holds(
    conn: &mut AnyConnection,
    ctx: &ExtrasFor<'_>,
    cond: &Cond,
    member: &MemberState,
    lang: &Language,
    now: Micros,
) -> Result<bool, StoreError> {
    let extras = extras_for(conn, ctx, &[cond], &[member.id]).await?;
    let none = Default::default();
    let view = MemberView {
        created_at: member.created_at,
        stage: member.stage,
        lens: member.lens,
        facts: &member.facts,
        profile: &member.profile,
        extras: extras.get(&member.id).unwrap_or(&none),
    };
    Ok(cond.holds(&view, now, lang))
}

/// Whether the re-entry policy lets the run's member in: never while another run of the
/// journey is under way, and otherwise as the policy says of the last entry.
async fn admits(
    conn: &mut AnyConnection,
    run: &RunRow,
    journey: &Journey,
    now: Micros,
) -> Result<bool, StoreError> {
    let open: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM journey_runs WHERE journey_id = $1 AND member_id = $2 AND status = 'active' AND id <> $3",
    )
    .bind(run.journey_id.clone())
    .bind(run.member_id)
    .bind(run.id)
    .fetch_optional(&mut *conn)
    .await?;
    if open.is_some() {
        return Ok(false);
    }
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(entered_at) FROM journey_runs WHERE journey_id = $1 AND member_id = $2 AND entered_at IS NOT NULL",
    )
    .bind(run.journey_id.clone())
    .bind(run.member_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(journey.reentry.admits(last, now))
}

async fn finish(
    conn: &mut AnyConnection,
    id: i64,
    status: &str,
    reason: Option<&str>,
    now: Micros,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE journey_runs SET status = $1, reason = $2, lease_until = NULL, updated_at = $3 WHERE id = $4",
    )
    .bind(status.to_owned())
    .bind(reason.map(str::to_owned))
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
