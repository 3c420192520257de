//! Daily aggregates (migration 22): points posted and stage changes per UTC day, kept
//! in the transactions that write the rows they count. A period is read as the whole
//! days inside it, from the aggregate, and the pieces of days at its ends, from the rows
//! themselves — so any instant still works as a bound, and the overview's months read a
//! few hundred rows instead of the whole ledger.

use crate::plan::Writes;
use crate::sql::Val;
use flywheel_core::ingest::Transition;
use flywheel_core::time::{DAY, Micros, day_start};
use sqlx::{AnyPool, AssertSqlSafe};
use std::collections::BTreeMap;

/// A period `[from, to)` cut at UTC midnights.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DaySplit {
    /// The whole days inside the period, as `[first day, end)`, if any.
    pub days: Option<(Micros, Micros)>,
    /// The rest: at most a piece of a day at each end.
    pub edges: Vec<(Micros, Micros)>,
}

pub(crate) fn split_days(from: Micros, to: Micros) -> DaySplit {
    if from >= to {
        return DaySplit::default();
    }
    let first = if day_start(from) == from {
        from
    } else {
        day_start(from) + DAY
    };
    let end = day_start(to);
    if first >= end {
        return DaySplit {
            days: None,
            edges: vec![(from, to)],
        };
    }
    let edges = [(from, first), (end, to)]
        .into_iter()
        .filter(|(a, b)| a < b)
        .collect();
    DaySplit {
        days: Some((first, end)),
        edges,
    }
}

/// [`split_days`], with a piece of a day at either end read as its whole day when the
/// rest of that day holds no row of `table` (by its indexed time `column`): a period
/// ending now, or at the last entry so far, then reads today from the aggregate too.
/// One index probe per end tells.
pub(crate) async fn split_days_where_empty(
    pool: &AnyPool,
    table: &str,
    column: &str,
    from: Micros,
    to: Micros,
) -> Result<DaySplit, sqlx::Error> {
    if from >= to {
        return Ok(DaySplit::default());
    }
    let empty = |a: Micros, b: Micros| async move {
        if a >= b {
            return Ok::<bool, sqlx::Error>(true);
        }
        let sql =
            format!("SELECT 1 AS hit FROM {table} WHERE {column} >= $1 AND {column} < $2 LIMIT 1");
        let hit: Option<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(a)
            .bind(b)
            .fetch_optional(pool)
            .await?;
        Ok(hit.is_none())
    };
    let split = split_days(from, to);
    let (first_day, last_day) = (day_start(from), day_start(to - 1));
    let start_whole = from == first_day || empty(first_day, from).await?;
    let end_whole = to == last_day + DAY || empty(to, last_day + DAY).await?;
    Ok(match split.days {
        None if start_whole && end_whole => DaySplit {
            days: Some((first_day, last_day + DAY)),
            edges: vec![],
        },
        None => split,
        Some((first, end)) => {
            let days = (
                if start_whole { first_day } else { first },
                if end_whole && end < to {
                    end + DAY
                } else {
                    end
                },
            );
            let edges = [(from, first), (end, to)]
                .into_iter()
                .filter(|&(a, b)| a < b && !(a >= days.0 && b <= days.1))
                .collect();
            DaySplit {
                days: Some(days),
                edges,
            }
        }
    })
}

/// Plans adding ledger entries to `points_daily`: `(programme, account type, kind, at,
/// amount)` each, summed per day and sign within the plan (one statement may not upsert
/// a row twice), and with other plans' when a flush runs them together.
pub(crate) fn plan_points_daily<'a>(
    w: &mut Writes,
    entries: impl Iterator<Item = (&'a str, &'a str, &'a str, Micros, i64)>,
) {
    let mut sums: BTreeMap<(&str, Micros, &str, &str, i64), i64> = BTreeMap::new();
    for (programme, account_type, kind, at, amount) in entries {
        if amount == 0 {
            continue;
        }
        let sign = amount.signum();
        *sums
            .entry((programme, day_start(at), account_type, kind, sign))
            .or_default() += amount;
    }
    let rows = sums
        .into_iter()
        .map(|((programme, day, account_type, kind, sign), amount)| {
            vec![
                programme.to_owned().into(),
                day.into(),
                account_type.to_owned().into(),
                kind.to_owned().into(),
                sign.into(),
                amount.into(),
            ]
        })
        .collect();
    w.summed_rows(
        "INSERT INTO points_daily (programme, day, account_type, kind, sign, amount)",
        rows,
        "ON CONFLICT (programme, day, account_type, kind, sign) DO UPDATE SET amount = points_daily.amount + excluded.amount",
    );
}

/// Plans adding stage transitions to `stage_flows_daily`.
pub(crate) fn plan_stage_flows_daily(w: &mut Writes, transitions: &[Transition]) {
    let mut counts: BTreeMap<(Micros, &str, &str), i64> = BTreeMap::new();
    for t in transitions {
        *counts
            .entry((day_start(t.at), t.from.as_str(), t.to.as_str()))
            .or_default() += 1;
    }
    let rows = counts
        .into_iter()
        .map(|((day, from, to), n)| {
            vec![
                day.into(),
                from.to_owned().into(),
                to.to_owned().into(),
                Val::Int(n),
            ]
        })
        .collect();
    w.summed_rows(
        "INSERT INTO stage_flows_daily (day, from_stage, to_stage, n)",
        rows,
        "ON CONFLICT (day, from_stage, to_stage) DO UPDATE SET n = stage_flows_daily.n + excluded.n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_split_into_whole_days_and_the_pieces_at_their_ends() {
        let d = DAY;
        assert_eq!(split_days(5, 5), DaySplit::default());
        assert_eq!(
            split_days(d, 3 * d),
            DaySplit {
                days: Some((d, 3 * d)),
                edges: vec![]
            }
        );
        assert_eq!(
            split_days(d + 7, 3 * d + 9),
            DaySplit {
                days: Some((2 * d, 3 * d)),
                edges: vec![(d + 7, 2 * d), (3 * d, 3 * d + 9)]
            }
        );
        assert_eq!(
            split_days(d + 7, 2 * d + 9),
            DaySplit {
                days: None,
                edges: vec![(d + 7, 2 * d + 9)]
            }
        );
        assert_eq!(
            split_days(-d - 3, d),
            DaySplit {
                days: Some((-d, d)),
                edges: vec![(-d - 3, -d)]
            }
        );
    }
}
