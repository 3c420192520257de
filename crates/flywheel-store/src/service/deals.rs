//! Deals (migration 34): each deposit, delivery or deposit refund moves its deal, one row
//! per member and order, at ingest; the service report's deposit funnel reads the deals
//! that began in its period, split by whether a service team was around the member.

use crate::db::Store;
use crate::error::StoreError;
use crate::plan::Writes;
use crate::sql::Val;
use flywheel_core::Event;
use flywheel_core::ingest::{MemberId, WorkingSet};
use flywheel_core::service::deposit::{Deal, Funnel, deal_step};
use flywheel_core::time::Micros;
use sqlx::Row;
use std::collections::BTreeMap;

const DEAL_INSERT: &str =
    "INSERT INTO deals (member_id, deal, first_at, small_at, full_at, delivered_at, refunded_at)";

/// Each step keeps its first time, so a retry, a replay or history out of order all
/// leave the row as one pass in order would.
const DEAL_UPSERT: &str = "ON CONFLICT (member_id, deal) DO UPDATE SET \
    first_at = CASE WHEN excluded.first_at < deals.first_at THEN excluded.first_at ELSE deals.first_at END, \
    small_at = CASE WHEN deals.small_at IS NULL OR excluded.small_at < deals.small_at \
        THEN COALESCE(excluded.small_at, deals.small_at) ELSE deals.small_at END, \
    full_at = CASE WHEN deals.full_at IS NULL OR excluded.full_at < deals.full_at \
        THEN COALESCE(excluded.full_at, deals.full_at) ELSE deals.full_at END, \
    delivered_at = CASE WHEN deals.delivered_at IS NULL OR excluded.delivered_at < deals.delivered_at \
        THEN COALESCE(excluded.delivered_at, deals.delivered_at) ELSE deals.delivered_at END, \
    refunded_at = CASE WHEN deals.refunded_at IS NULL OR excluded.refunded_at < deals.refunded_at \
        THEN COALESCE(excluded.refunded_at, deals.refunded_at) ELSE deals.refunded_at END";

/// Plans the deals the accepted events move: one row per deal for the whole batch (an
/// upsert may touch a row once per statement).
pub(crate) fn plan_event_deals(
    w: &mut Writes,
    ws: &WorkingSet,
    events: &[Event],
    accepted: &[(usize, MemberId)],
) {
    let mut deals: BTreeMap<(MemberId, &str), Deal> = BTreeMap::new();
    for &(i, member) in accepted {
        let e = &events[i];
        let Some((step, deal)) = deal_step(e) else {
            continue;
        };
        let moved = Deal::of(step, e.occurred_at);
        deals
            .entry((ws.survivor(member), deal))
            .and_modify(|d| d.merge(&moved))
            .or_insert(moved);
    }
    if deals.is_empty() {
        return;
    }
    let rows = deals
        .into_iter()
        .map(|((member, deal), d)| {
            vec![
                Val::Int(member),
                deal.into(),
                Val::Int(d.first_at),
                d.small_at.into(),
                d.full_at.into(),
                d.delivered_at.into(),
                d.refunded_at.into(),
            ]
        })
        .collect();
    w.rows(DEAL_INSERT, rows, DEAL_UPSERT);
}

/// The deposit funnel of deals begun in a period: all of them, those with a service
/// team around the member while the deal was open, and those without.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DepositFunnels {
    pub all: Funnel,
    pub with_team: Funnel,
    pub without_team: Funnel,
}

impl Store {
    /// The funnel of the deals whose first step fell in `[from, to)`. A deal had a team
    /// when one formed for its member before the deal ended (its delivery, else the
    /// refund, else `to`) and had not closed before the deal began.
    pub async fn deposit_funnels(
        &self,
        from: Micros,
        to: Micros,
    ) -> Result<DepositFunnels, StoreError> {
        let rows = sqlx::query(
            "SELECT d.first_at, d.small_at, d.full_at, d.delivered_at, d.refunded_at, \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM service_teams t WHERE t.member_id = d.member_id \
               AND t.opened_at IS NOT NULL \
               AND t.triggered_at <= COALESCE(d.delivered_at, d.refunded_at, $2) \
               AND (t.closed_at IS NULL OR t.closed_at >= d.first_at)) THEN 1 ELSE 0 END AS BIGINT) AS team \
             FROM deals d WHERE d.first_at >= $1 AND d.first_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for r in &rows {
            let deal = Deal {
                first_at: r.try_get("first_at")?,
                small_at: r.try_get("small_at")?,
                full_at: r.try_get("full_at")?,
                delivered_at: r.try_get("delivered_at")?,
                refunded_at: r.try_get("refunded_at")?,
            };
            if r.try_get::<i64, _>("team")? == 1 {
                with.push(deal);
            } else {
                without.push(deal);
            }
        }
        Ok(DepositFunnels {
            all: Funnel::of(with.iter().chain(&without)),
            with_team: Funnel::of(&with),
            without_team: Funnel::of(&without),
        })
    }
}
