//! RFM over the members with at least one purchase: recency (days since the last
//! purchase), frequency (purchases, i.e. orders) and monetary (net spend).
//!
//! Each measure scores 1–5 by rank, ties sharing a score:
//! `score = 1 + floor(5 × w / n)`, where n is the number of scored members and w the
//! number strictly worse on that measure (more days since the last purchase; fewer
//! orders; less net spend). So the best fifth scores 5 and equal members score alike.
//!
//! Named cells come from R and FM = ⌈(F + M) / 2⌉:
//!
//! | R \ FM | 1              | 2                  | 3                  | 4         | 5         |
//! |--------|----------------|--------------------|--------------------|-----------|-----------|
//! | 5      | new            | promising          | potential_loyalist | champions | champions |
//! | 4      | promising      | potential_loyalist | potential_loyalist | loyal     | champions |
//! | 3      | about_to_sleep | need_attention     | need_attention     | loyal     | loyal     |
//! | 2      | hibernating    | about_to_sleep     | at_risk            | at_risk   | cant_lose |
//! | 1      | lost           | lost               | hibernating        | at_risk   | cant_lose |
//!
//! Read it as: recent and valuable → champions; valuable but slipping away → at risk,
//! and the most valuable of those → can't lose; recent but small → new or promising;
//! long gone and small → lost.

use serde::Serialize;

/// One member's measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measures {
    pub recency_days: i64,
    pub frequency: u32,
    /// Net spend in minor units.
    pub monetary: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RfmScores {
    pub r: u8,
    pub f: u8,
    pub m: u8,
}

impl RfmScores {
    pub fn cell(&self) -> &'static str {
        cell(self.r, self.f, self.m)
    }
}

/// Scores every member against the others (same order as `members`).
pub fn score_all(members: &[Measures]) -> Vec<RfmScores> {
    let n = members.len();
    // For R, fewer days is better: rank on the negated days so "worse" is "smaller".
    let r = quintiles(members.iter().map(|m| -m.recency_days).collect(), n);
    let f = quintiles(members.iter().map(|m| i64::from(m.frequency)).collect(), n);
    let m = quintiles(members.iter().map(|m| m.monetary).collect(), n);
    (0..n)
        .map(|i| RfmScores {
            r: r[i],
            f: f[i],
            m: m[i],
        })
        .collect()
}

/// `1 + floor(5 × w / n)` with w = values strictly smaller than each value.
fn quintiles(values: Vec<i64>, n: usize) -> Vec<u8> {
    let mut sorted = values.clone();
    sorted.sort_unstable();
    values
        .iter()
        .map(|v| {
            let worse = sorted.partition_point(|x| x < v);
            (1 + 5 * worse / n) as u8
        })
        .collect()
}

const CELLS: [[&str; 5]; 5] = [
    // R = 1
    ["lost", "lost", "hibernating", "at_risk", "cant_lose"],
    // R = 2
    [
        "hibernating",
        "about_to_sleep",
        "at_risk",
        "at_risk",
        "cant_lose",
    ],
    // R = 3
    [
        "about_to_sleep",
        "need_attention",
        "need_attention",
        "loyal",
        "loyal",
    ],
    // R = 4
    [
        "promising",
        "potential_loyalist",
        "potential_loyalist",
        "loyal",
        "champions",
    ],
    // R = 5
    [
        "new",
        "promising",
        "potential_loyalist",
        "champions",
        "champions",
    ],
];

/// Every cell name, best first.
pub const CELL_NAMES: [&str; 11] = [
    "champions",
    "loyal",
    "potential_loyalist",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
    "lost",
];

/// The named cell of a member's three scores (each 1–5).
pub fn cell(r: u8, f: u8, m: u8) -> &'static str {
    let fm = (f + m).div_ceil(2).clamp(1, 5);
    CELLS[usize::from(r.clamp(1, 5) - 1)][usize::from(fm - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(recency_days: i64, frequency: u32, monetary: i64) -> Measures {
        Measures {
            recency_days,
            frequency,
            monetary,
        }
    }

    #[test]
    fn scores_follow_the_formula_with_ties_sharing() {
        // n = 5: w = 0..4 → 1..5.
        let members = [
            m(50, 1, 10),
            m(40, 2, 20),
            m(30, 3, 30),
            m(20, 4, 40),
            m(10, 5, 50),
        ];
        let s = score_all(&members);
        assert_eq!(s.iter().map(|s| s.r).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(s.iter().map(|s| s.f).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        // Ties: three members with one order share w = 0 → 1; the two with more have
        // w = 3 → 1 + floor(15 / 5) = 4.
        let members = [m(1, 1, 5), m(1, 1, 5), m(1, 1, 5), m(1, 2, 9), m(1, 2, 9)];
        let s = score_all(&members);
        assert_eq!(s.iter().map(|s| s.f).collect::<Vec<_>>(), [1, 1, 1, 4, 4]);
        assert_eq!(s.iter().map(|s| s.r).collect::<Vec<_>>(), [1, 1, 1, 1, 1]);
        // n = 7, w = 6 → 1 + floor(30 / 7) = 5.
        let members: Vec<Measures> = (0..7).map(|i| m(0, i, 0)).collect();
        let f: Vec<u8> = score_all(&members).iter().map(|s| s.f).collect();
        assert_eq!(f, [1, 1, 2, 3, 3, 4, 5]);
    }

    #[test]
    fn every_cell_name_is_reachable_and_documented() {
        let mut seen = std::collections::BTreeSet::new();
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    seen.insert(cell(r, f, m));
                }
            }
        }
        let all: std::collections::BTreeSet<&str> = CELL_NAMES.into_iter().collect();
        assert_eq!(seen, all);
        assert_eq!(cell(5, 5, 5), "champions");
        assert_eq!(cell(1, 5, 5), "cant_lose");
        assert_eq!(cell(1, 1, 1), "lost");
        assert_eq!(cell(5, 1, 1), "new");
        assert_eq!(cell(2, 3, 4), "at_risk");
    }
}
