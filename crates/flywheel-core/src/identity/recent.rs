//! A small memo of the phone numbers a thread normalised lately.
//!
//! Parsing a phone number against the numbering plan's metadata is the dearest step of
//! reading an event (tens of microseconds: the plan's patterns are regular expressions
//! looked up by their text). The same member's number comes back event after event — a
//! visit, a basket, an order, a referral naming them — so each thread keeps what it
//! worked out lately. The answer depends only on the text and the default region, both
//! in the key, so a remembered answer is exactly the one parsing would give.
//!
//! Bounded by two generations rather than true recency: answers go into `young`; when
//! it is full, it becomes `old` and the previous `old` is dropped. A hit in `old` moves
//! the answer back into `young`, so what keeps being asked for survives, and the memo
//! never holds more than twice its capacity.

use std::collections::HashMap;

/// A phone number's normalised form, or `None` when it is not a valid number.
pub(super) type Answer = Option<String>;

/// The default region, a colon, the text (a region code holds no colon) → answer.
type Key = String;

pub(super) struct Recent {
    capacity: usize,
    young: HashMap<Key, Answer>,
    old: HashMap<Key, Answer>,
}

impl Recent {
    pub(super) fn new(capacity: usize) -> Self {
        Recent {
            capacity,
            young: HashMap::new(),
            old: HashMap::new(),
        }
    }

    /// The answer for `raw` under `region`, computing it with `work` when not kept.
    pub(super) fn get_or(
        &mut self,
        raw: &str,
        region: &str,
        work: impl FnOnce() -> Answer,
    ) -> Answer {
        let mut key = String::with_capacity(region.len() + 1 + raw.len());
        key.push_str(region);
        key.push(':');
        key.push_str(raw);
        if let Some(answer) = self.young.get(&key) {
            return answer.clone();
        }
        let answer = match self.old.remove(&key) {
            Some(answer) => answer,
            None => work(),
        };
        if self.young.len() >= self.capacity {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, answer.clone());
        answer
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_worked_out_once_while_it_keeps_being_asked_for() {
        let mut memo = Recent::new(2);
        let worked = std::cell::Cell::new(0);
        let ask = |memo: &mut Recent, raw: &str| {
            memo.get_or(raw, "CN", || {
                worked.set(worked.get() + 1);
                Some(format!("+86{raw}"))
            })
        };
        assert_eq!(ask(&mut memo, "1"), Some("+861".into()));
        ask(&mut memo, "2");
        ask(&mut memo, "1");
        ask(&mut memo, "3"); // young was full: {1, 2} become old
        ask(&mut memo, "1"); // found in old, moved back
        ask(&mut memo, "4"); // young {3, 1} full: becomes old, 2 is dropped
        ask(&mut memo, "1");
        ask(&mut memo, "2");
        assert_eq!(
            worked.get(),
            5,
            "1 was worked out once; 2 twice, after it was dropped"
        );
        assert!(memo.len() <= 4, "never more than two generations");
    }

    #[test]
    fn the_region_is_part_of_the_question() {
        let mut memo = Recent::new(8);
        memo.get_or("2015550123", "CN", || None);
        let us = memo.get_or("2015550123", "US", || Some("+12015550123".into()));
        assert_eq!(us, Some("+12015550123".into()));
        assert_eq!(memo.get_or("2015550123", "CN", || unreachable!()), None);
    }
}
