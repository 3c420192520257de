//! Daily aggregates (migration 22): points posted and stage changes per UTC day, kept
//! in the transactions that write the rows they count. A period is read as the whole
//! days inside it, from the aggregate, and the pieces of days at its ends, from the rows
//! themselves — so any instant still works as a bound, and the overview's months read a
//! few hundred rows instead of the whole ledger.

use crate::plan::Writes;
use crate::sql::Val;
use flywheel_core::ingest::Transition;
use flywheel_core::time::{DAY, Micros, day_start};
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
