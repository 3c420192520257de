//! Leaderboards and honours (比, seed 002): members ranked by a value of the segment
//! language (`interactions_within(30d)`, `referrals_converted`, `positive_reviews`)
//! among those a filter selects, with ties ranked the same and explained; annual
//! awards proposed from a leaderboard's top for staff to confirm. Badges are awarded
//! by segments (a segment's `badge`), so they follow the same real-time evaluation.

use crate::ErrorCode;
use crate::validation::{FieldError, check_line};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leaderboard {
    pub id: String,
    pub name: String,
    /// What members are ranked by, in the segment language.
    pub score: String,
    /// Who may appear, in the segment language; everyone when absent.
    pub filter: Option<String>,
    /// How many places it shows.
    pub size: u32,
}

/// How ties are ranked, as every leaderboard answer says.
pub const TIE_RULE: &str = "Members with the same score share a rank and the next rank \
     skips as many places (1, 2, 2, 4); within a shared rank the longer-standing member \
     comes first, then the lower member id.";

impl Leaderboard {
    pub fn check(&self) -> Result<(), FieldError> {
        let name = check_line("name", &self.name, 200)?;
        if name.trim().is_empty() {
            return Err(FieldError::new(
                "name",
                ErrorCode::InvalidValue,
                "name is empty",
            ));
        }
        check_line("score", &self.score, 500)?;
        if let Some(f) = &self.filter
            && f.len() > 4000
        {
            return Err(FieldError::new(
                "filter",
                ErrorCode::TooLong,
                "filter is at most 4,000 characters",
            ));
        }
        if !(1..=500).contains(&self.size) {
            return Err(FieldError::new(
                "size",
                ErrorCode::OutOfRange,
                "size is 1 to 500 places",
            ));
        }
        Ok(())
    }
}

/// One place on a leaderboard.
#[derive(Clone, Debug, PartialEq)]
pub struct Standing {
    pub rank: u32,
    pub member_id: i64,
    pub score: f64,
    /// Others on the board with the same score (0: none).
    pub tied_with: u32,
}

/// Ranks members already sorted by score (highest first, ties in the order to list
/// them): standard competition ranking, so equal scores share the rank of the first.
pub fn standings(sorted: &[(i64, f64)]) -> Vec<Standing> {
    let mut out: Vec<Standing> = Vec::with_capacity(sorted.len());
    for (i, &(member_id, score)) in sorted.iter().enumerate() {
        let rank = match out.last() {
            Some(prev) if prev.score == score => prev.rank,
            _ => i as u32 + 1,
        };
        out.push(Standing {
            rank,
            member_id,
            score,
            tied_with: 0,
        });
    }
    let mut start = 0;
    while start < out.len() {
        let end = out[start..]
            .iter()
            .position(|s| s.rank != out[start].rank)
            .map_or(out.len(), |n| start + n);
        let tied = (end - start - 1) as u32;
        for s in &mut out[start..end] {
            s.tied_with = tied;
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_scores_share_a_rank_and_the_next_skips() {
        let s = standings(&[(7, 9.0), (3, 5.0), (4, 5.0), (1, 2.0), (2, 2.0), (9, 1.0)]);
        let ranks: Vec<(i64, u32, u32)> = s
            .iter()
            .map(|s| (s.member_id, s.rank, s.tied_with))
            .collect();
        assert_eq!(
            ranks,
            [
                (7, 1, 0),
                (3, 2, 1),
                (4, 2, 1),
                (1, 4, 1),
                (2, 4, 1),
                (9, 6, 0)
            ]
        );
        assert!(standings(&[]).is_empty());
    }
}
