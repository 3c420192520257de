//! Care moments (migration 31): once per UTC day a pass over the members writes the
//! day's reasons to reach out to each (`flywheel_core::service::care`), with their home
//! store, starts the journeys that name that kind of moment, and gives members without
//! an owner one by the `[care] assign_owners` rule (`owners.rs`). Stores' to-do lists
//! read the day's rows.

use crate::db::Store;
use crate::engagement::triggers::{care_trigger_rows, write_runs};
use crate::error::StoreError;
use crate::rows::{MEMBER_FROM, member_from_row};
use crate::sql::{Val, insert_rows_counting};
use flywheel_core::ingest::MemberId;
use flywheel_core::service::care::{CarePolicy, moments};
use flywheel_core::time::{DAY, Micros};
use sqlx::{AnyConnection, Row};

/// Members read per transaction. Each page holds the writer while it reads and judges
/// its members: 2,000 held it about 25 ms (`flywheel_write_held_seconds`, a server
/// starting on 30,000 members under load), which single-event ingest waited out.
const PAGE: i64 = 250;

/// One line of a care list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CareRow {
    pub member_id: MemberId,
    /// birthday | anniversary | service_due | repurchase
    pub kind: String,
    /// The category or SKU it is about; empty for birthdays and anniversaries.
    pub subject: String,
    pub store: Option<String>,
    pub reason: String,
}

impl Store {
    /// Counts the care moments of `now`'s UTC day unless they are counted already;
    /// the number written, or None when the day was done.
    pub async fn compute_care(
        &self,
        now: Micros,
        policy: &CarePolicy,
    ) -> Result<Option<usize>, StoreError> {
        let day = now.div_euclid(DAY);
        let done: Option<i64> = sqlx::query_scalar("SELECT day FROM care_days WHERE day = $1")
            .bind(day)
            .fetch_optional(self.pool())
            .await?;
        if done.is_some() {
            return Ok(None);
        }
        let mut written = 0;
        let mut after: MemberId = 0;
        let mut owners = {
            let mut conn = self.pool().acquire().await?;
            super::owners::OwnerRule::load(&mut conn, policy).await?
        };
        loop {
            let mut tx = self.begin_write().await?;
            let conn: &mut AnyConnection = &mut tx;
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{MEMBER_FROM} WHERE id > $1 AND merged_into IS NULL ORDER BY id LIMIT $2"
            )))
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut *conn)
            .await?;
            if rows.is_empty() {
                sqlx::query(
                    "INSERT INTO care_days (day, computed_at, moments) VALUES ($1, $2, $3) \
                     ON CONFLICT (day) DO NOTHING",
                )
                .bind(day)
                .bind(now)
                .bind(written as i64)
                .execute(&mut *conn)
                .await?;
                self.commit_keeping_cache(tx).await?;
                return Ok(Some(written));
            }
            let journeys = self
                .journey_book(conn, &self.segment_settings().lang)
                .await?;
            let owned: std::collections::HashSet<MemberId> = match &owners {
                Some(_) => sqlx::query_scalar(
                    "SELECT member_id FROM member_owners WHERE member_id > $1 AND member_id <= $2",
                )
                .bind(after)
                .bind(member_from_row(rows.last().expect("a page"))?.id)
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .collect(),
                None => Default::default(),
            };
            let mut runs = Vec::new();
            let mut found: Vec<[Val; 6]> = Vec::new();
            for r in &rows {
                let m = member_from_row(r)?;
                after = m.id;
                if m.erased_at.is_some() {
                    continue;
                }
                if let Some(rule) = &mut owners
                    && !owned.contains(&m.id)
                {
                    rule.assign(conn, &m, now).await?;
                }
                let store = m.facts.home_store().map(str::to_owned);
                for moment in moments(&m.facts, &m.profile, m.created_at, now, policy) {
                    runs.extend(care_trigger_rows(
                        &journeys,
                        m.id,
                        moment.kind.as_str(),
                        &format!("{day}:{}", moment.subject),
                        now,
                    ));
                    found.push([
                        Val::Int(day),
                        Val::Int(m.id),
                        moment.kind.as_str().into(),
                        moment.subject.into(),
                        Val::OptText(store.clone()),
                        moment.reason.into(),
                    ]);
                }
            }
            // A page's moments in a few statements; a moment the day already has (a pass
            // cut short and run again) is kept as it was and not counted.
            written += insert_rows_counting(
                conn,
                "INSERT INTO care_moments (day, member_id, kind, subject, store, reason)",
                &found,
                "ON CONFLICT (day, member_id, kind, subject) DO NOTHING",
            )
            .await? as usize;
            write_runs(conn, runs).await?;
            // Care moments, owners and journey runs: nothing the member cache holds.
            self.commit_keeping_cache(tx).await?;
        }
    }

    /// The day's care list: for one store (its members by home store), or all.
    pub async fn care_list(
        &self,
        now: Micros,
        store: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CareRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT member_id, kind, subject, store, reason FROM care_moments \
             WHERE day = $1 AND ($2 = '' OR store = $2) ORDER BY member_id, kind, subject LIMIT $3",
        )
        .bind(now.div_euclid(DAY))
        .bind(store.unwrap_or_default().to_owned())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CareRow {
                    member_id: r.try_get("member_id")?,
                    kind: r.try_get("kind")?,
                    subject: r.try_get("subject")?,
                    store: r.try_get("store")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }
}
