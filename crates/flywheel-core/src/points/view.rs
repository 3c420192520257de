//! What earning needs to know of a member's points, small enough to keep between groups:
//! the ingest writer's member cache holds it so that a group of events by members it
//! knows reads nothing of the ledger.
//!
//! Earning touches few of a wallet's lots: the lots not tied to an order (a credit joins
//! the one with its expiry), the lots due to mature or expire by the group's last instant
//! (settling posts them), and the debt (maturing and crediting repay it). The lots of
//! orders that are not yet due stay as they are until something spends or moves them —
//! and anything that does reads the whole wallet from the database. So a view keeps the
//! lots not tied to an order, the debt, and only when each order lot falls due: until
//! the first of them, it gives exactly the wallet a load of the lots earning can touch
//! would give. The points sweep, which reads only the lots due, can bring a view up to
//! date from what it settled, since those are exactly the order lots the view lists as
//! due by then.
//!
//! A view is made from a wallet that holds every lot with points left (loaded whole),
//! or from an earlier view and what was done to the wallet it gave.

use super::earn::{Usage, UsageKey};
use super::wallet::{Lot, Wallet};
use crate::ingest::MemberId;
use crate::time::Micros;
use std::collections::BTreeSet;

/// One programme's wallet as earning needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarningView {
    pub programme: String,
    /// Points the member owes.
    pub debt: i64,
    /// The lots with points left that no order earned, by id.
    pub loose: Vec<Lot>,
    /// When each order's lot with points left next changes by time alone — matures
    /// while pending, expires once available — earliest first. Lots that never expire
    /// are left out.
    pub orders_due: Vec<Micros>,
}

/// When a lot next changes by time alone: its return window's end while pending, its
/// expiry once available.
fn due(lot: &Lot) -> Option<Micros> {
    if lot.pending {
        Some(lot.available_at)
    } else {
        lot.expires_at
    }
}

/// When each of `lots`' order lots with points left falls due.
fn order_dues<'a>(lots: impl Iterator<Item = &'a Lot> + 'a) -> impl Iterator<Item = Micros> + 'a {
    lots.filter(|l| l.remaining > 0 && l.order_id.is_some())
        .filter_map(due)
}

fn loose_of<'a>(lots: impl Iterator<Item = &'a Lot>) -> Vec<Lot> {
    let mut loose: Vec<Lot> = lots
        .filter(|l| l.remaining > 0 && l.order_id.is_none())
        .cloned()
        .collect();
    loose.sort_by(|a, b| a.id.cmp(&b.id));
    loose
}

impl EarningView {
    /// The view of `wallet`, which must hold every lot of its programme with points left.
    pub fn of(wallet: &Wallet) -> EarningView {
        let mut orders_due: Vec<Micros> = order_dues(wallet.lots.iter()).collect();
        orders_due.sort_unstable();
        EarningView {
            programme: wallet.programme.clone(),
            debt: wallet.debt,
            loose: loose_of(wallet.lots.iter()),
            orders_due,
        }
    }

    /// The view of `wallet` after earning on a wallet [`wallet`](Self::wallet) made
    /// from `before`: the order lots that wallet never held are as `before` says
    /// (only a refund, a merge or spending changes them, and those read the whole
    /// wallet), and the order lots it holds are those earning made.
    pub fn after(wallet: &Wallet, before: &EarningView) -> EarningView {
        let mut view = EarningView::of(wallet);
        view.orders_due.extend_from_slice(&before.orders_due);
        view.orders_due.sort_unstable();
        view
    }

    /// The view after the points sweep settled by `now` the lots of `wallet` due by
    /// then (and read its debt): of the order lots, it held exactly those this view
    /// lists as due by `now`; of the loose lots, those it held replace this view's.
    pub fn settled(&self, wallet: &Wallet, now: Micros) -> EarningView {
        let mut orders_due: Vec<Micros> = self
            .orders_due
            .iter()
            .copied()
            .filter(|&d| d > now)
            .chain(order_dues(wallet.lots.iter()))
            .collect();
        orders_due.sort_unstable();
        let swept: BTreeSet<&str> = wallet.lots.iter().map(|l| l.id.as_str()).collect();
        let kept = self.loose.iter().filter(|l| !swept.contains(l.id.as_str()));
        EarningView {
            programme: self.programme.clone(),
            debt: wallet.debt,
            loose: loose_of(kept.chain(wallet.lots.iter())),
            orders_due,
        }
    }

    /// Whether the view alone answers for earning up to `until`: no order's lot falls
    /// due by then.
    pub fn serves(&self, until: Micros) -> bool {
        self.orders_due.first().is_none_or(|&d| d > until)
    }

    /// The wallet a load of the lots earning can touch gives while the view
    /// [`serves`](Self::serves): its loose lots and its debt. None when that load would
    /// find nothing (no lots to touch, no debt).
    pub fn wallet(&self, member_id: MemberId) -> Option<Wallet> {
        if self.loose.is_empty() && self.debt == 0 {
            return None;
        }
        let mut w = Wallet::new(member_id, &self.programme);
        w.lots = self.loose.clone();
        w.debt = self.debt;
        Some(w)
    }
}

/// One member's awards under every rule in some limit periods — complete for those
/// periods: a rule and period not listed has awarded nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeriodUsage {
    /// The periods the rows are complete for.
    pub periods: BTreeSet<String>,
    /// (rule id, period) → awards.
    pub rows: Vec<(String, String, Usage)>,
}

impl PeriodUsage {
    /// A member's usage from `rows` (all of that member's), which hold every row of
    /// `periods`.
    pub fn of<'a>(
        rows: impl Iterator<Item = (&'a UsageKey, &'a Usage)>,
        periods: &BTreeSet<String>,
    ) -> PeriodUsage {
        let mut rows: Vec<(String, String, Usage)> = rows
            .filter(|(k, _)| periods.contains(&k.period))
            .map(|(k, u)| (k.rule_id.clone(), k.period.clone(), *u))
            .collect();
        rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        PeriodUsage {
            periods: periods.clone(),
            rows,
        }
    }

    /// Whether the rows answer for every period in `wanted`.
    pub fn covers(&self, wanted: &BTreeSet<String>) -> bool {
        wanted.is_subset(&self.periods)
    }

    /// The rows in `wanted`, keyed as a load of them keys them.
    pub fn rows_in<'a>(
        &'a self,
        member_id: MemberId,
        wanted: &'a BTreeSet<String>,
    ) -> impl Iterator<Item = (UsageKey, Usage)> + 'a {
        self.rows
            .iter()
            .filter(|(_, period, _)| wanted.contains(period))
            .map(move |(rule_id, period, u)| {
                (
                    UsageKey {
                        member_id,
                        rule_id: rule_id.clone(),
                        period: period.clone(),
                    },
                    *u,
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lot(id: &str, order: Option<&str>, pending: bool, remaining: i64) -> Lot {
        Lot {
            id: id.into(),
            member_id: 7,
            programme: "main".into(),
            earned_at: 0,
            available_at: 100,
            expires_at: Some(1_000),
            points: 10,
            remaining,
            pending,
            order_id: order.map(str::to_owned),
        }
    }

    #[test]
    fn a_view_keeps_the_loose_lots_and_when_the_first_order_lot_falls_due() {
        let mut w = Wallet::new(7, "main");
        w.debt = 3;
        w.lots = vec![
            lot("z-loose", None, false, 5),
            lot("a-order-pending", Some("o1"), true, 10),
            lot("b-order-available", Some("o2"), false, 10),
            lot("c-spent", None, false, 0),
            lot("d-order-spent", Some("o3"), true, 0),
            lot("e-loose", None, false, 2),
        ];
        let v = EarningView::of(&w);
        assert_eq!(
            v.loose.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
            ["e-loose", "z-loose"],
            "lots with points left, no order, by id"
        );
        assert_eq!(
            v.orders_due,
            [100, 1_000],
            "the pending order lot matures at 100, the available one expires at 1000"
        );
        assert_eq!(v.debt, 3);
        assert!(v.serves(99) && !v.serves(100));
        let rebuilt = v.wallet(7).unwrap();
        assert_eq!(rebuilt.lots, v.loose);
        assert_eq!(rebuilt.debt, 3);
    }

    #[test]
    fn after_earning_the_order_lots_it_never_held_still_fall_due() {
        let mut w = Wallet::new(7, "main");
        w.lots = vec![lot("first-order", Some("o1"), true, 10)];
        let before = EarningView::of(&w);
        // Earning on the wallet the view gives adds a later order's lot.
        let mut earned = before.wallet(7).unwrap_or_else(|| Wallet::new(7, "main"));
        let mut later = lot("second-order", Some("o2"), true, 10);
        later.available_at = 500;
        earned.lots.push(later);
        assert_eq!(EarningView::of(&earned).orders_due, [500]);
        assert_eq!(EarningView::after(&earned, &before).orders_due, [100, 500]);
    }

    #[test]
    fn the_sweep_brings_a_view_up_to_date_from_the_lots_it_settled() {
        let mut w = Wallet::new(7, "main");
        w.debt = 4;
        let mut early_loose = lot("loose-expiring", None, false, 5);
        early_loose.expires_at = Some(150);
        w.lots = vec![
            lot("order-maturing", Some("o1"), true, 10),
            early_loose,
            lot("loose-staying", None, false, 2),
        ];
        let mut later = lot("order-later", Some("o2"), true, 10);
        later.available_at = 900;
        w.lots.push(later);
        let view = EarningView::of(&w);
        assert_eq!(view.orders_due, [100, 900]);
        // What the sweep read by 200 — the lots due then and the debt — settled: the
        // order lot matured (4 of it repaid the debt) and the early loose lot expired.
        let mut swept = Wallet::new(7, "main");
        let mut matured = lot("order-maturing", Some("o1"), false, 6);
        matured.expires_at = Some(1_000);
        let mut expired = lot("loose-expiring", None, false, 0);
        expired.expires_at = Some(150);
        swept.lots = vec![matured, expired];
        let after = view.settled(&swept, 200);
        assert_eq!(after.debt, 0);
        assert_eq!(after.orders_due, [900, 1_000]);
        assert_eq!(
            after
                .loose
                .iter()
                .map(|l| l.id.as_str())
                .collect::<Vec<_>>(),
            ["loose-staying"]
        );
    }

    #[test]
    fn an_empty_view_gives_no_wallet_and_never_falls_due() {
        let mut w = Wallet::new(7, "main");
        w.lots = vec![lot("spent", Some("o"), false, 0)];
        let v = EarningView::of(&w);
        assert!(v.orders_due.is_empty());
        assert!(v.serves(Micros::MAX));
        assert_eq!(v.wallet(7), None);
    }

    #[test]
    fn usage_answers_only_for_the_periods_it_was_complete_for() {
        let mut usage = HashMap::new();
        for (member, period) in [(1, "2026-12-07"), (1, "all"), (2, "all")] {
            usage.insert(
                UsageKey {
                    member_id: member,
                    rule_id: "r".into(),
                    period: period.into(),
                },
                Usage {
                    count: 1,
                    points: 5,
                },
            );
        }
        let periods: BTreeSet<String> = ["2026-12-07", "2026-12", "all"].map(str::to_owned).into();
        let p = PeriodUsage::of(usage.iter().filter(|(k, _)| k.member_id == 1), &periods);
        assert_eq!(p.rows.len(), 2);
        assert!(p.covers(&["2026-12", "all"].map(str::to_owned).into()));
        assert!(!p.covers(&["2026-12-08", "all"].map(str::to_owned).into()));
        let wanted: BTreeSet<String> = ["all"].map(str::to_owned).into();
        let rows: Vec<_> = p.rows_in(1, &wanted).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0.period, "all");
    }
}
