//! Service figures per queue over a period: tickets opened, still open, answered and
//! resolved, median working hours to each, how many broke a target, and what resolved
//! complaints came to — a purchase after (complaint-to-repurchase) and the rating of
//! the first review after (satisfaction) — what a service manager reads each morning
//! (issue 19's reports).

use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::time::Micros;
use sqlx::Row;
use std::collections::BTreeMap;

/// One queue's figures (`queue` None: tickets no queue took).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueFigures {
    pub queue: Option<String>,
    /// Opened in the period.
    pub opened: i64,
    /// Open now (whenever opened).
    pub open_now: i64,
    /// Open now and past a target.
    pub breached_now: i64,
    /// Of those opened in the period: answered, resolved, and past a target at any time.
    pub responded: i64,
    pub resolved: i64,
    pub breached: i64,
    /// Median working hours to the first answer and to the resolution, of those.
    pub median_response_hours: Option<f64>,
    pub median_resolution_hours: Option<f64>,
    /// Of the period's complaints resolved: how many members bought again after the
    /// resolution (complaint-to-repurchase), and reviewed after it, with the mean
    /// rating of their first review after it (satisfaction).
    pub complaints_resolved: i64,
    pub bought_after: i64,
    pub reviewed_after: i64,
    pub mean_rating_after: Option<f64>,
}

impl QueueFigures {
    /// Share of resolved complaints whose member bought again after.
    pub fn repurchase_rate(&self) -> Option<f64> {
        (self.complaints_resolved > 0)
            .then(|| self.bought_after as f64 / self.complaints_resolved as f64)
    }

    /// Share of the period's tickets that broke a target.
    pub fn breach_rate(&self) -> Option<f64> {
        (self.opened > 0).then(|| self.breached as f64 / self.opened as f64)
    }
}

fn median_hours(mut minutes: Vec<i64>) -> Option<f64> {
    if minutes.is_empty() {
        return None;
    }
    minutes.sort_unstable();
    let n = minutes.len();
    let m = if n % 2 == 1 {
        minutes[n / 2] as f64
    } else {
        (minutes[n / 2 - 1] + minutes[n / 2]) as f64 / 2.0
    };
    Some(m / 60.0)
}

impl Store {
    /// Figures per queue for tickets opened in `[from, to)`, and those open now.
    pub async fn service_figures(
        &self,
        from: Micros,
        to: Micros,
    ) -> Result<Vec<QueueFigures>, StoreError> {
        let rows = sqlx::query(
            "SELECT queue_id, status, kind, member_id, opened_at, resolved_at, response_minutes, \
             resolution_minutes, response_breached_at, resolution_breached_at FROM tickets \
             WHERE (opened_at >= $1 AND opened_at < $2) OR status <> 'resolved'",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        let mut by_queue: BTreeMap<Option<String>, (QueueFigures, Vec<i64>, Vec<i64>)> =
            BTreeMap::new();
        let mut ratings: BTreeMap<Option<String>, Vec<u8>> = BTreeMap::new();
        for r in &rows {
            let queue: Option<String> = r.try_get("queue_id")?;
            let status: String = r.try_get("status")?;
            let opened_at: Micros = r.try_get("opened_at")?;
            let response: Option<i64> = r.try_get("response_minutes")?;
            let resolution: Option<i64> = r.try_get("resolution_minutes")?;
            let breached = r
                .try_get::<Option<i64>, _>("response_breached_at")?
                .is_some()
                || r.try_get::<Option<i64>, _>("resolution_breached_at")?
                    .is_some();
            let entry = by_queue.entry(queue.clone()).or_insert_with(|| {
                (
                    QueueFigures {
                        queue,
                        ..QueueFigures::default()
                    },
                    Vec::new(),
                    Vec::new(),
                )
            });
            let (f, responses, resolutions) = entry;
            if status != "resolved" {
                f.open_now += 1;
                if breached {
                    f.breached_now += 1;
                }
            }
            if opened_at >= from && opened_at < to {
                f.opened += 1;
                if let Some(m) = response {
                    f.responded += 1;
                    responses.push(m);
                }
                if status == "resolved"
                    && let Some(m) = resolution
                {
                    f.resolved += 1;
                    resolutions.push(m);
                }
                if breached {
                    f.breached += 1;
                }
                let kind: String = r.try_get("kind")?;
                let resolved_at: Option<Micros> = r.try_get("resolved_at")?;
                if status == "resolved"
                    && kind == "complaint"
                    && let Some(at) = resolved_at
                {
                    f.complaints_resolved += 1;
                    let (bought, rating) =
                        self.after_resolution(r.try_get("member_id")?, at).await?;
                    f.bought_after += i64::from(bought);
                    if let Some(rating) = rating {
                        f.reviewed_after += 1;
                        ratings.entry(f.queue.clone()).or_default().push(rating);
                    }
                }
            }
        }
        Ok(by_queue
            .into_values()
            .map(|(mut f, responses, resolutions)| {
                f.median_response_hours = median_hours(responses);
                f.median_resolution_hours = median_hours(resolutions);
                f.mean_rating_after = ratings
                    .get(&f.queue)
                    .filter(|r| !r.is_empty())
                    .map(|r| r.iter().map(|x| f64::from(*x)).sum::<f64>() / r.len() as f64);
                f
            })
            .collect())
    }

    /// Whether the member (as they stand now) bought after `at`, and the rating of their
    /// first review after it.
    async fn after_resolution(
        &self,
        member: i64,
        at: Micros,
    ) -> Result<(bool, Option<u8>), StoreError> {
        let mut conn = self.pool().acquire().await?;
        let Some(member) = crate::survivor::survivor_id(&mut conn, member).await? else {
            return Ok((false, None));
        };
        let bought: Option<String> = sqlx::query_scalar(
            "SELECT order_id FROM orders WHERE member_id = $1 AND occurred_at > $2 LIMIT 1",
        )
        .bind(member)
        .bind(at)
        .fetch_optional(&mut *conn)
        .await?;
        let review: Option<String> = sqlx::query_scalar(
            "SELECT properties FROM events WHERE member_id = $1 AND occurred_at > $2 \
             AND type = 'review' ORDER BY occurred_at LIMIT 1",
        )
        .bind(member)
        .bind(at)
        .fetch_optional(&mut *conn)
        .await?;
        let rating = review
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
            .and_then(|p| p.get("rating").and_then(|r| r.as_u64()))
            .and_then(|r| u8::try_from(r).ok());
        Ok((bought.is_some(), rating))
    }
}

#[cfg(test)]
mod tests {
    use super::median_hours;

    #[test]
    fn medians_are_of_the_middle_answers_in_hours() {
        assert_eq!(median_hours(vec![]), None);
        assert_eq!(median_hours(vec![120, 60, 600]), Some(2.0));
        assert_eq!(median_hours(vec![60, 120]), Some(1.5));
    }
}
