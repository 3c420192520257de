//! Service queues: which team owns a kind of feedback, and how fast it must answer.
//! A ticket is routed by its category to the queue that lists it (a queue listing `*`
//! takes whatever no other queue does); its targets are fixed when it opens, counted
//! in the queue's working hours, so changing a queue later never moves a promise
//! already made.

use super::hours::WorkingHours;
use crate::time::Micros;

/// The category that routes everything no queue names.
pub const CATCH_ALL: &str = "*";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queue {
    pub id: String,
    pub name: String,
    /// Feedback categories routed here (`delivery`, `product`), or [`CATCH_ALL`].
    pub categories: Vec<String>,
    /// The department that owns it, for people reading the list.
    pub team: Option<String>,
    pub respond_minutes: u32,
    pub resolve_minutes: u32,
    pub hours: WorkingHours,
}

/// When a ticket must be answered and closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Targets {
    pub respond_by: Micros,
    pub resolve_by: Micros,
}

impl Queue {
    /// The targets of a ticket opened at `opened_at`.
    pub fn targets(&self, opened_at: Micros) -> Targets {
        Targets {
            respond_by: self.hours.add(opened_at, self.respond_minutes),
            resolve_by: self.hours.add(opened_at, self.resolve_minutes),
        }
    }
}

/// The queue a ticket of `category` goes to: the first (by id) that lists the category,
/// else the first that lists [`CATCH_ALL`]; None when neither exists.
pub fn route<'a>(queues: &'a [Queue], category: Option<&str>) -> Option<&'a Queue> {
    let mut sorted: Vec<&Queue> = queues.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    category
        .and_then(|c| {
            sorted
                .iter()
                .find(|q| q.categories.iter().any(|k| k.eq_ignore_ascii_case(c)))
        })
        .or_else(|| {
            sorted
                .iter()
                .find(|q| q.categories.iter().any(|k| k == CATCH_ALL))
        })
        .copied()
}

/// Target hours as written (a positive number, fractions allowed) in whole minutes;
/// None when out of range (up to a year).
pub fn target_minutes(hours: f64) -> Option<u32> {
    (hours.is_finite() && hours > 0.0 && hours <= 8784.0)
        .then(|| (hours * 60.0).round().max(1.0) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(id: &str, categories: &[&str]) -> Queue {
        Queue {
            id: id.into(),
            name: id.into(),
            categories: categories.iter().map(|c| c.to_string()).collect(),
            team: None,
            respond_minutes: 240,
            resolve_minutes: 2880,
            hours: WorkingHours::always(),
        }
    }

    #[test]
    fn a_category_goes_to_the_queue_that_lists_it_else_the_catch_all() {
        let queues = vec![
            queue("general", &["*"]),
            queue("delivery", &["delivery", "courier"]),
            queue("product", &["product"]),
        ];
        assert_eq!(route(&queues, Some("Delivery")).unwrap().id, "delivery");
        assert_eq!(route(&queues, Some("courier")).unwrap().id, "delivery");
        assert_eq!(route(&queues, Some("billing")).unwrap().id, "general");
        assert_eq!(route(&queues, None).unwrap().id, "general");
        assert_eq!(route(&queues[1..], Some("billing")), None);
    }

    #[test]
    fn targets_count_from_the_opening() {
        let q = queue("delivery", &["delivery"]);
        let t = q.targets(1_000);
        assert_eq!(t.respond_by, 1_000 + 240 * 60_000_000);
        assert_eq!(t.resolve_by, 1_000 + 2880 * 60_000_000);
        assert_eq!(target_minutes(4.0), Some(240));
        assert_eq!(target_minutes(0.5), Some(30));
        assert_eq!(target_minutes(0.0), None);
        assert_eq!(target_minutes(f64::NAN), None);
        assert_eq!(target_minutes(10_000.0), None);
    }
}
