//! The recompute job: scores every member at one instant. RFM ranks members against
//! each other and the lifetime-value models are fitted on the whole population, so
//! these cannot be kept up to date event by event; the member-local scores are written
//! alongside so lists and exports read one consistent row per member.
//!
//! Reads members in pages by id (with their orders), then ranks and fits in memory,
//! then writes in transactions of a few thousand rows so ingest is never held up for
//! long on SQLite's single writer. Rows left from members merged away since the last
//! run are removed at the end.

use super::member::{INVITED, net_spend_of};
use super::to_millionths;
use crate::db::Store;
use crate::error::StoreError;
use crate::sql::{Val, insert_rows};
use flywheel_core::MemberId;
use flywheel_core::clv::{self, BgNbd, Customer, GammaGamma, Model, Transaction};
use flywheel_core::money::Money;
use flywheel_core::scores::rfm::{self, Measures, RfmScores};
use flywheel_core::scores::{ScoreInputs, ScorePolicy, influence, intimacy, super_user};
use flywheel_core::time::{DAY, Micros};
use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;
use std::sync::Arc;

const PAGE: i64 = 10_000;
/// Scores are computed before the writer is taken; each transaction only writes. 5,000
/// rows held it about 16 ms; ingest waits that long.
const ROWS_PER_TRANSACTION: usize = 1_000;

/// Where a recompute is, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Reading { done: u64, total: u64 },
    Fitting,
    Writing { done: u64, total: u64 },
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelSummary {
    pub bgnbd: BgNbd,
    pub log_likelihood: f64,
    pub gamma_gamma: Option<GammaGamma>,
    /// Members the models were fitted on (an even sample when there are many).
    pub fitted_on: usize,
    /// Days to a period: the models count time in days.
    pub period_days: u32,
    pub horizon_days: u32,
}

/// Whether lifetime value was computed, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClvFit {
    /// `fitted` or `insufficient_data`.
    pub status: &'static str,
    pub reason: Option<String>,
    /// The fewest buyers the models are fitted on (`scores.clv_min_customers`).
    pub min_customers: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct RecomputeReport {
    pub computed_at: Micros,
    pub members: u64,
    pub rfm_members: u64,
    pub clv_members: u64,
    pub model: Option<ModelSummary>,
    pub clv: ClvFit,
    pub elapsed_ms: u64,
}

/// One member's scores, waiting for the population parts.
struct Scored {
    id: MemberId,
    measures: Option<Measures>,
    customer: Option<Customer>,
    super_user: f64,
    paid: bool,
    influence: f64,
    intimacy: f64,
}

impl Store {
    pub async fn recompute_scores(
        &self,
        policy: &ScorePolicy,
        now: Micros,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<RecomputeReport, StoreError> {
        let started = std::time::Instant::now();
        let scored = self.score_members(policy, now, progress).await?;
        let read_ms = started.elapsed().as_millis();
        progress(Progress::Fitting);

        // Rank the members who bought, then hand each their scores back by position.
        let measures: Vec<Measures> = scored.iter().filter_map(|s| s.measures).collect();
        let mut ranks = rfm::score_all(&measures).into_iter();
        let ranks: Vec<Option<RfmScores>> = scored
            .iter()
            .map(|s| s.measures.and_then(|_| ranks.next()))
            .collect();

        let customers: Vec<Customer> = scored.iter().filter_map(|s| s.customer).collect();
        let fitted = Model::fit_population(
            &clv::sample(&customers, policy.fit_sample),
            policy.clv_min_customers,
        );
        let clv_fit = ClvFit {
            status: if fitted.is_ok() {
                "fitted"
            } else {
                "insufficient_data"
            },
            reason: fitted.as_ref().err().cloned(),
            min_customers: policy.clv_min_customers,
        };
        if let Err(why) = &fitted {
            tracing::info!(reason = %why, "lifetime value not computed");
        }
        let model = fitted.ok();
        let horizon = f64::from(policy.horizon_days);

        let fit_ms = started.elapsed().as_millis() - read_ms;
        // Rows are built a transaction's worth at a time: all of them at once would
        // hold hundreds of megabytes of bound values for a million members.
        let members = scored.len() as u64;
        let head = format!("INSERT INTO member_scores ({})", super::SCORE_COLUMNS);
        progress(Progress::Writing {
            done: 0,
            total: members,
        });
        for (i, chunk) in scored.chunks(ROWS_PER_TRANSACTION).enumerate() {
            let first = i * ROWS_PER_TRANSACTION;
            let rows: Vec<Vec<Val>> = chunk
                .iter()
                .zip(&ranks[first..])
                .map(|(s, rank)| score_row(s, rank.as_ref(), model.as_ref(), horizon, now))
                .collect();
            let mut tx = self.begin_write().await?;
            insert_rows(&mut tx, &head, &rows, UPSERT_TAIL).await?;
            // Scores: nothing the member cache holds.
            self.commit_keeping_cache(tx).await?;
            progress(Progress::Writing {
                done: (first + chunk.len()) as u64,
                total: members,
            });
        }
        self.delete_stale_scores(now).await?;
        let rfm_cells = serde_json::to_string(&self.count_rfm_cells().await?)?;
        let write_ms = started.elapsed().as_millis() - read_ms - fit_ms;
        tracing::info!(members, read_ms, fit_ms, write_ms, "scores recomputed");
        metrics::histogram!("flywheel_recompute_seconds").record(started.elapsed().as_secs_f64());

        let report = RecomputeReport {
            computed_at: now,
            members,
            rfm_members: measures.len() as u64,
            clv_members: if model.is_some() {
                customers.len() as u64
            } else {
                0
            },
            model: model.map(|m| ModelSummary {
                bgnbd: m.purchases.model,
                log_likelihood: m.purchases.log_likelihood,
                gamma_gamma: m.spend,
                fitted_on: customers.len().min(policy.fit_sample),
                period_days: 1,
                horizon_days: policy.horizon_days,
            }),
            clv: clv_fit,
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        sqlx::query(
            "INSERT INTO score_runs (started_at, finished_at, members, rfm_members, clv_members, model, clv_status, clv_reason, rfm_cells) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (started_at) DO NOTHING",
        )
        .bind(now)
        .bind(now + report.elapsed_ms as i64 * 1000)
        .bind(report.members as i64)
        .bind(report.rfm_members as i64)
        .bind(report.clv_members as i64)
        .bind(serde_json::to_string(&report.model)?)
        .bind(report.clv.status)
        .bind(report.clv.reason.clone())
        .bind(rfm_cells)
        .execute(self.pool())
        .await?;
        // Segments over scores are evaluated again, every member, in the background.
        let mut tx = self.begin_write().await?;
        self.refill_segments_reading_scores(&mut tx).await?;
        // Segments' fill marks: nothing the member cache holds (it drops the definitions
        // it kept, segments among them).
        self.commit_keeping_cache(tx).await?;
        Ok(report)
    }

    /// Reads every member in pages and computes what does not depend on the others,
    /// while a second connection scans the orders for the lifetime-value summaries.
    async fn score_members(
        &self,
        policy: &ScorePolicy,
        now: Micros,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Vec<Scored>, StoreError> {
        let (mut scored, purchases) = tokio::try_join!(
            self.read_members(policy, now, progress),
            self.purchases_by_member()
        )?;
        // Both are in member order; purchases of members merged away are skipped.
        let today = now.div_euclid(DAY);
        let mut rest = purchases.as_slice();
        for s in &mut scored {
            let skip = rest.partition_point(|t| t.customer < s.id);
            let mine = rest[skip..].partition_point(|t| t.customer == s.id);
            if mine > 0 {
                let log = rest[skip..skip + mine].to_vec();
                s.customer = clv::summarise(log, today, 1.0).first().map(|(_, c)| *c);
            }
            rest = &rest[skip + mine..];
        }
        Ok(scored)
    }

    async fn read_members(
        &self,
        policy: &ScorePolicy,
        now: Micros,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Vec<Scored>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM members WHERE merged_into IS NULL")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        let total = total as u64;
        progress(Progress::Reading { done: 0, total });

        // The referral graph and what the invitees spent, for influence.
        let mut children: HashMap<MemberId, Vec<MemberId>> = HashMap::new();
        let sql = format!("SELECT inviter_id, invitee_id FROM referrals WHERE {INVITED}");
        for row in sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?
        {
            children
                .entry(row.try_get(0)?)
                .or_default()
                .push(row.try_get(1)?);
        }
        let invitees: Vec<MemberId> = children.values().flatten().copied().collect();
        let spend = net_spend_of(&mut conn, &invitees).await?;

        // Each page is scored on a blocking thread while the next one is read, so
        // parsing and fetching use both cores.
        let context = Arc::new(PageContext {
            children,
            spend,
            policy: policy.clone(),
            now,
        });
        let mut out = Vec::with_capacity(total as usize);
        let mut scoring: Option<tokio::task::JoinHandle<Result<Vec<Scored>, StoreError>>> = None;
        let mut after = i64::MIN;
        loop {
            let rows = sqlx::query(
                "SELECT id, profile, facts FROM members \
                 WHERE merged_into IS NULL AND id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut *conn)
            .await?;
            if let Some(page) = scoring.take() {
                out.extend(
                    page.await
                        .map_err(|e| StoreError::Corrupt(e.to_string()))??,
                );
                progress(Progress::Reading {
                    done: out.len() as u64,
                    total,
                });
            }
            let Some(last) = rows.last() else {
                break;
            };
            after = last.try_get("id")?;
            let context = context.clone();
            scoring = Some(tokio::task::spawn_blocking(move || {
                score_page(&rows, &context)
            }));
        }
        Ok(out)
    }

    /// Every member's purchases as the lifetime-value models count them: orders that
    /// still stand, valued net of refunds, by day; sorted by member. One sequential scan
    /// of the orders is far cheaper than looking them up member by member.
    async fn purchases_by_member(&self) -> Result<Vec<Transaction<MemberId>>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        // Streamed, not fetched whole: millions of rows would hold gigabytes at once.
        let mut rows = sqlx::query(
            "SELECT member_id, occurred_at, amount - refunded AS net FROM orders \
             WHERE amount IS NOT NULL AND amount > refunded",
        )
        .fetch(&mut *conn);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await? {
            let member: i64 = row.try_get(0)?;
            let at: i64 = row.try_get(1)?;
            let net: i64 = row.try_get(2)?;
            out.push(Transaction {
                customer: member,
                day: at.div_euclid(DAY),
                amount: net as f64,
            });
        }
        out.sort_unstable_by_key(|t| (t.customer, t.day));
        Ok(out)
    }

    /// Rows of members merged away since their row was written.
    async fn delete_stale_scores(&self, now: Micros) -> Result<(), StoreError> {
        self.write_alone(
            sqlx::query(
                "DELETE FROM member_scores WHERE computed_at < $1 \
             AND member_id IN (SELECT id FROM members WHERE merged_into IS NOT NULL)",
            )
            .bind(now),
        )
        .await?;
        Ok(())
    }
}

/// The one profile field the scores read.
#[derive(serde::Deserialize)]
struct Audience {
    #[serde(default)]
    followers: Option<u64>,
}

/// What scoring a page of members needs besides the members.
struct PageContext {
    children: HashMap<MemberId, Vec<MemberId>>,
    spend: HashMap<MemberId, i64>,
    policy: ScorePolicy,
    now: Micros,
}

/// The member-local scores and RFM measures of a page of `id, profile, facts` rows.
fn score_page(rows: &[AnyRow], c: &PageContext) -> Result<Vec<Scored>, StoreError> {
    let today = c.now.div_euclid(DAY);
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: MemberId = row.try_get(0)?;
        // Only the fields the scores read are kept from the JSON.
        let audience: Audience = serde_json::from_str(row.try_get(1)?)?;
        let m: ScoreInputs = serde_json::from_str(row.try_get(2)?)?;
        let tree = influence::referral_tree(
            id,
            |x| c.children.get(&x).map(Vec::as_slice).unwrap_or(&[]),
            |x| Money::from_minor(c.spend.get(&x).copied().unwrap_or(0)),
        );
        let measures = match m.last_purchase_at {
            Some(last) if m.orders > 0 => Some(Measures {
                recency_days: (today - last.div_euclid(DAY)).max(0),
                frequency: m.orders,
                monetary: m.net_spent(),
            }),
            _ => None,
        };
        out.push(Scored {
            id,
            measures,
            customer: None,
            super_user: super_user::points(&m, &c.policy, c.now),
            paid: m.paid_member,
            influence: influence::points(&m, audience.followers, &tree, &c.policy),
            intimacy: intimacy::points(&m, &c.policy, c.now),
        });
    }
    Ok(out)
}

/// A later run's row wins; an earlier run finishing late never overwrites it.
const UPSERT_TAIL: &str = "ON CONFLICT (member_id) DO UPDATE SET computed_at = excluded.computed_at, \
    recency_days = excluded.recency_days, frequency = excluded.frequency, monetary = excluded.monetary, \
    r = excluded.r, f = excluded.f, m = excluded.m, cell = excluded.cell, \
    p_alive_millionths = excluded.p_alive_millionths, \
    expected_purchases_millionths = excluded.expected_purchases_millionths, \
    expected_value = excluded.expected_value, super_user = excluded.super_user, \
    paid_member = excluded.paid_member, influence = excluded.influence, intimacy = excluded.intimacy \
    WHERE member_scores.computed_at <= excluded.computed_at";

/// One `member_scores` row, in `SCORE_COLUMNS` order.
fn score_row(
    s: &Scored,
    rank: Option<&RfmScores>,
    model: Option<&Model>,
    horizon: f64,
    now: Micros,
) -> Vec<Val> {
    let rfm_cols: [Val; 7] = match (rank, s.measures) {
        (Some(score), Some(m)) => [
            m.recency_days.into(),
            i64::from(m.frequency).into(),
            m.monetary.into(),
            i64::from(score.r).into(),
            i64::from(score.f).into(),
            i64::from(score.m).into(),
            Val::OptText(Some(score.cell().into())),
        ],
        _ => {
            let none = || Val::OptInt(None);
            [
                none(),
                none(),
                none(),
                none(),
                none(),
                none(),
                Val::OptText(None),
            ]
        }
    };
    let clv_cols: [Val; 3] = match (model, s.customer) {
        (Some(model), Some(c)) => {
            let p = model.predict(&c, horizon);
            [
                to_millionths(p.p_alive).into(),
                to_millionths(p.expected_purchases).into(),
                (p.clv.round() as i64).into(),
            ]
        }
        _ => [Val::OptInt(None), Val::OptInt(None), Val::OptInt(None)],
    };
    let mut row = vec![s.id.into(), now.into()];
    row.extend(rfm_cols);
    row.extend(clv_cols);
    row.extend([
        s.super_user.into(),
        i64::from(s.paid).into(),
        s.influence.into(),
        s.intimacy.into(),
    ]);
    row
}
