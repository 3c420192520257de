//! Deposits as a funnel (seed 002's car: a small refundable deposit, then the full
//! deposit, then delivery). A *deal* is one purchase on its way: the events that move
//! it name the same `order_id`, or none, when a member has one deal at a time. Each
//! step keeps the first time it happened, so retries, replays and history sent out of
//! order all come to the same deal; the funnel counts how many deals reached each step
//! and the conversion between them.
//!
//! The events: `deposit` (`stage`: "small" or "full", "full" when absent), `delivery`,
//! and `deposit_refund` (the deposit given back: the deal is lost unless delivered).

use crate::event::Event;
use crate::time::{DAY, Micros};

/// A step a deal takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DealStep {
    /// A small, refundable deposit (小定): an intention.
    Small,
    /// The full deposit (大定): a commitment.
    Full,
    Delivered,
    Refunded,
}

/// The values `deposit.stage` may take, for the parser's error and the docs.
pub const DEPOSIT_STAGES: [&str; 2] = ["small", "full"];

/// The event types that move a deal.
pub const DEAL_EVENTS: [&str; 3] = ["deposit", "delivery", "deposit_refund"];

/// The step an event takes and the deal it moves (its `order_id`, "" without one), if
/// it is one of [`DEAL_EVENTS`]. The parser has already checked the properties.
pub fn deal_step(e: &Event) -> Option<(DealStep, &str)> {
    let step = match e.type_name.as_str() {
        "deposit" => match e.properties.get("stage").and_then(|v| v.as_str()) {
            Some("small") => DealStep::Small,
            _ => DealStep::Full,
        },
        "delivery" => DealStep::Delivered,
        "deposit_refund" => DealStep::Refunded,
        _ => return None,
    };
    let deal = e
        .properties
        .get("order_id")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    Some((step, deal))
}

/// When a deal took each step (the first time it did).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deal {
    pub first_at: Micros,
    pub small_at: Option<Micros>,
    pub full_at: Option<Micros>,
    pub delivered_at: Option<Micros>,
    pub refunded_at: Option<Micros>,
}

fn earliest(a: Option<Micros>, b: Option<Micros>) -> Option<Micros> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Deal {
    /// A deal that has taken one step.
    pub fn of(step: DealStep, at: Micros) -> Deal {
        let mut d = Deal {
            first_at: at,
            ..Deal::default()
        };
        let slot = match step {
            DealStep::Small => &mut d.small_at,
            DealStep::Full => &mut d.full_at,
            DealStep::Delivered => &mut d.delivered_at,
            DealStep::Refunded => &mut d.refunded_at,
        };
        *slot = Some(at);
        d
    }

    /// Both deals' steps, each at its first time: the order they come in does not
    /// matter, and merging a deal with itself changes nothing.
    pub fn merge(&mut self, other: &Deal) {
        self.first_at = self.first_at.min(other.first_at);
        self.small_at = earliest(self.small_at, other.small_at);
        self.full_at = earliest(self.full_at, other.full_at);
        self.delivered_at = earliest(self.delivered_at, other.delivered_at);
        self.refunded_at = earliest(self.refunded_at, other.refunded_at);
    }

    /// Given back before (or without) a delivery.
    pub fn lost(&self) -> bool {
        match (self.refunded_at, self.delivered_at) {
            (Some(r), Some(d)) => r < d,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// How a set of deals went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Funnel {
    pub deals: i64,
    /// Deals that took each step.
    pub small: i64,
    pub full: i64,
    pub delivered: i64,
    /// Deals whose deposit was given back before any delivery.
    pub lost: i64,
    /// Of the deals with a small deposit, the share that paid the full one.
    pub small_to_full: Option<f64>,
    /// Of the deals with a full deposit, the share delivered.
    pub full_to_delivery: Option<f64>,
    /// Of all deals, the share delivered.
    pub deposit_to_delivery: Option<f64>,
    /// Median days from a deal's first deposit to its delivery.
    pub median_days_to_delivery: Option<f64>,
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Funnel {
    pub fn of<'a>(deals: impl IntoIterator<Item = &'a Deal>) -> Funnel {
        let mut f = Funnel::default();
        let (mut small_then_full, mut full_then_delivered) = (0, 0);
        let mut days = Vec::new();
        for d in deals {
            f.deals += 1;
            f.small += i64::from(d.small_at.is_some());
            f.full += i64::from(d.full_at.is_some());
            f.lost += i64::from(d.lost());
            if d.small_at.is_some() && d.full_at.is_some() {
                small_then_full += 1;
            }
            if let Some(at) = d.delivered_at {
                f.delivered += 1;
                full_then_delivered += i64::from(d.full_at.is_some());
                days.push((at - d.first_at).max(0) as f64 / DAY as f64);
            }
        }
        f.small_to_full = share(small_then_full, f.small);
        f.full_to_delivery = share(full_then_delivered, f.full);
        f.deposit_to_delivery = share(f.delivered, f.deals);
        days.sort_by(f64::total_cmp);
        f.median_days_to_delivery = match days.len() {
            0 => None,
            n if n % 2 == 1 => Some(days[n / 2]),
            n => Some((days[n / 2 - 1] + days[n / 2]) / 2.0),
        };
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(steps: &[(DealStep, i64)]) -> Deal {
        let mut d = Deal::of(steps[0].0, steps[0].1 * DAY);
        for &(s, day) in &steps[1..] {
            d.merge(&Deal::of(s, day * DAY));
        }
        d
    }

    #[test]
    fn a_deal_keeps_each_steps_first_time_whatever_the_order() {
        let forward = deal(&[
            (DealStep::Small, 1),
            (DealStep::Full, 5),
            (DealStep::Delivered, 20),
            (DealStep::Full, 7),
        ]);
        let backward = deal(&[
            (DealStep::Full, 7),
            (DealStep::Delivered, 20),
            (DealStep::Full, 5),
            (DealStep::Small, 1),
        ]);
        assert_eq!(forward, backward);
        assert_eq!(forward.first_at, DAY);
        assert_eq!(forward.full_at, Some(5 * DAY));
        let mut again = forward;
        again.merge(&forward);
        assert_eq!(again, forward);
    }

    #[test]
    fn the_funnel_counts_each_step_and_the_conversion_between() {
        let deals = [
            // Small → full → delivered in 19 days.
            deal(&[
                (DealStep::Small, 1),
                (DealStep::Full, 5),
                (DealStep::Delivered, 20),
            ]),
            // Small, given back.
            deal(&[(DealStep::Small, 2), (DealStep::Refunded, 4)]),
            // Small → full, waiting.
            deal(&[(DealStep::Small, 3), (DealStep::Full, 9)]),
            // Straight to the full deposit, delivered in 9 days.
            deal(&[(DealStep::Full, 10), (DealStep::Delivered, 19)]),
        ];
        let f = Funnel::of(&deals);
        assert_eq!(
            (f.deals, f.small, f.full, f.delivered, f.lost),
            (4, 3, 3, 2, 1)
        );
        assert_eq!(f.small_to_full, Some(2.0 / 3.0));
        assert_eq!(f.full_to_delivery, Some(2.0 / 3.0));
        assert_eq!(f.deposit_to_delivery, Some(0.5));
        assert_eq!(f.median_days_to_delivery, Some(14.0));
        assert_eq!(Funnel::of(&[]), Funnel::default());
    }

    #[test]
    fn a_refund_after_delivery_does_not_lose_the_deal() {
        let d = deal(&[
            (DealStep::Full, 1),
            (DealStep::Delivered, 3),
            (DealStep::Refunded, 9),
        ]);
        assert!(!d.lost());
    }
}
