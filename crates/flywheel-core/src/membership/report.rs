//! The membership report (`GET /v1/reports/memberships`): per programme and tier, how
//! many hold it, and what moved in a period — joined, renewed, raised, lowered, lapsed,
//! cancelled — with the renewal rate and the revenue. The store counts tier changes and
//! purchases; what each change means is decided here, from the ladder's ranks.

use super::programme::Programme;
use std::collections::BTreeMap;

/// What a recorded tier change was, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Movement {
    /// Into the programme (from no tier).
    Joined,
    /// The same tier for another term: renewed by paying, or kept by the retention
    /// measure.
    Renewed,
    /// To a higher tier.
    Raised,
    /// To a lower tier.
    Lowered,
    /// Out of the programme.
    Lapsed,
    /// A purchase undone within its cooling-off period.
    Cancelled,
    /// Nothing to count (a manual change to the same tier, an unknown tier).
    Unchanged,
}

/// Classifies one change. A cancellation is counted as such whatever it restored.
pub fn movement(
    programme: &Programme,
    from: Option<&str>,
    to: Option<&str>,
    rule: &str,
) -> Movement {
    if rule == "cancellation" {
        return Movement::Cancelled;
    }
    let rank = |id: &str| programme.tier(id).map(|t| t.rank);
    match (from, to) {
        (None, Some(_)) => Movement::Joined,
        (Some(_), None) => Movement::Lapsed,
        (Some(a), Some(b)) if a == b => match rule {
            "renewal" | "retention" => Movement::Renewed,
            _ => Movement::Unchanged,
        },
        (Some(a), Some(b)) => match (rank(a), rank(b)) {
            (Some(x), Some(y)) if y > x => Movement::Raised,
            (Some(x), Some(y)) if y < x => Movement::Lowered,
            _ => Movement::Unchanged,
        },
        (None, None) => Movement::Unchanged,
    }
}

/// One tier's figures for a period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TierFigures {
    /// Members holding the tier at the end of the period.
    pub members: i64,
    /// Joined the programme at this tier.
    pub new: i64,
    /// Renewed or kept this tier for another term.
    pub renewed: i64,
    /// Raised to this tier.
    pub upgraded: i64,
    /// Lowered from this tier.
    pub downgraded: i64,
    /// Left the programme from this tier.
    pub lapsed: i64,
    /// Purchases of this tier cancelled.
    pub cancelled: i64,
    /// Terms of this tier that ended without renewal: lowered or lapsed by the sweep
    /// (not by hand), the denominator of the renewal rate beside `renewed`.
    pub not_renewed: i64,
    /// Completed purchases of this tier (cancelled ones excluded), and what they paid.
    pub purchases: i64,
    pub cash: i64,
    pub points: i64,
}

impl TierFigures {
    /// Renewed terms over terms that came up for renewal; None when none did.
    pub fn renewal_rate(&self) -> Option<f64> {
        let due = self.renewed + self.not_renewed;
        (due > 0).then(|| self.renewed as f64 / due as f64)
    }

    fn add(&mut self, o: &TierFigures) {
        self.members += o.members;
        self.new += o.new;
        self.renewed += o.renewed;
        self.upgraded += o.upgraded;
        self.downgraded += o.downgraded;
        self.lapsed += o.lapsed;
        self.cancelled += o.cancelled;
        self.not_renewed += o.not_renewed;
        self.purchases += o.purchases;
        self.cash += o.cash;
        self.points += o.points;
    }
}

/// A programme's figures, per tier (ladder order) and in total.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgrammeFigures {
    pub tiers: Vec<(String, TierFigures)>,
    pub total: TierFigures,
}

/// Builds the figures from counted changes `(from, to, rule, count)`, holders per tier at
/// the end of the period, and purchases per tier `(count, cash, points)`. Tiers no
/// longer in the programme keep their rows, after the ladder.
pub fn figures(
    programme: &Programme,
    changes: &[(Option<String>, Option<String>, String, i64)],
    holders: &BTreeMap<String, i64>,
    purchases: &BTreeMap<String, (i64, i64, i64)>,
) -> ProgrammeFigures {
    let mut by_tier: BTreeMap<String, TierFigures> = BTreeMap::new();
    for (from, to, rule, n) in changes {
        let m = movement(programme, from.as_deref(), to.as_deref(), rule);
        let tier = match m {
            Movement::Joined | Movement::Raised => to,
            _ => from,
        };
        let Some(tier) = tier else { continue };
        let f = by_tier.entry(tier.clone()).or_default();
        match m {
            Movement::Joined => f.new += n,
            Movement::Renewed => f.renewed += n,
            Movement::Raised => f.upgraded += n,
            Movement::Lowered => f.downgraded += n,
            Movement::Lapsed => f.lapsed += n,
            Movement::Cancelled => f.cancelled += n,
            Movement::Unchanged => {}
        }
        if matches!(m, Movement::Lowered | Movement::Lapsed)
            && matches!(rule.as_str(), "downgrade" | "lapse")
        {
            f.not_renewed += n;
        }
    }
    for (tier, n) in holders {
        by_tier.entry(tier.clone()).or_default().members += n;
    }
    for (tier, (count, cash, points)) in purchases {
        let f = by_tier.entry(tier.clone()).or_default();
        f.purchases += count;
        f.cash += cash;
        f.points += points;
    }
    let mut out = ProgrammeFigures::default();
    for t in programme.ladder() {
        let f = by_tier.remove(&t.id).unwrap_or_default();
        out.total.add(&f);
        out.tiers.push((t.id.clone(), f));
    }
    for (tier, f) in by_tier {
        out.total.add(&f);
        out.tiers.push((tier, f));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ladder() -> Programme {
        serde_json::from_value(serde_json::json!({
            "name": "Paid", "kind": "paid",
            "tiers": [{"id": "V1", "name": "V1", "rank": 1, "fee": "99.00"},
                      {"id": "V2", "name": "V2", "rank": 2, "fee": "199.00"}]}))
        .unwrap()
    }

    fn change(
        from: Option<&str>,
        to: Option<&str>,
        rule: &str,
        n: i64,
    ) -> (Option<String>, Option<String>, String, i64) {
        (from.map(Into::into), to.map(Into::into), rule.into(), n)
    }

    #[test]
    fn each_change_counts_once_against_the_tier_it_concerns() {
        let p = ladder();
        let changes = [
            change(None, Some("V1"), "purchase", 4),
            change(Some("V1"), Some("V2"), "upgrade", 1),
            change(Some("V1"), Some("V1"), "renewal", 2),
            change(Some("V1"), Some("V1"), "retention", 1),
            change(Some("V2"), Some("V1"), "downgrade", 1),
            change(Some("V1"), None, "lapse", 1),
            change(Some("V1"), None, "manual", 1),
            change(Some("V1"), None, "cancellation", 1),
            change(Some("V1"), Some("V1"), "manual", 1),
        ];
        let holders = BTreeMap::from([("V1".to_owned(), 3), ("V2".to_owned(), 1)]);
        let purchases = BTreeMap::from([("V1".to_owned(), (6, 50_000, 10_000))]);
        let f = figures(&p, &changes, &holders, &purchases);
        let v1 = &f.tiers[0].1;
        assert_eq!((v1.new, v1.renewed, v1.lapsed, v1.cancelled), (4, 3, 2, 1));
        assert_eq!(v1.not_renewed, 1, "a manual end is not a term that came up");
        assert_eq!(v1.renewal_rate(), Some(0.75));
        let v2 = &f.tiers[1].1;
        assert_eq!((v2.upgraded, v2.downgraded, v2.not_renewed), (1, 1, 1));
        assert_eq!(v2.renewal_rate(), Some(0.0));
        assert_eq!(f.total.members, 4);
        assert_eq!(f.total.cash, 50_000);
        assert_eq!(TierFigures::default().renewal_rate(), None);
    }
}
