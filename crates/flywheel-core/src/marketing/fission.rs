//! Fission campaigns (裂变, seed 002): the moves that make members bring members.
//!
//! - **Group-buy** (拼团): a leader opens a group of a size; friends join by its link;
//!   when it is full every member's order is confirmed at the group price, and when the
//!   deadline passes first the group fails and nothing is charged.
//! - **Help** (助力): a member asks friends to help; each friend's help weighs 1 (or
//!   `new_member_weight` when the friend is new to the brand since the round opened)
//!   until the target is reached, which unlocks the reward.
//! - **Bargain** (砍价): each friend takes a random cut from the price, bounded around
//!   an even share of what is left, so the price reaches the floor exactly at the
//!   configured number of helpers.
//!
//! A campaign is the definition; a *round* is one leader's group, help request or
//! bargain. Every join is a referral of the leader (the store's caller records it), so
//! it feeds the influence score and the referral tree. Nothing here does I/O.

use crate::ErrorCode;
use crate::event::{Channel, Event, Payload};
use crate::identity::Identity;
use crate::money::Money;
use crate::time::{HOUR, Micros};
use crate::validation::{FieldError, check_line};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FissionCampaign {
    pub id: String,
    pub name: String,
    /// The product the campaign sells or rewards, if it is in the catalogue.
    pub sku: Option<String>,
    pub mechanic: Mechanic,
    /// A round left open this long after it opened fails (group-buy) or expires.
    pub hours: u32,
    pub starts_at: Micros,
    pub ends_at: Micros,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mechanic {
    GroupBuy {
        /// Members in a full group, the leader included.
        size: u32,
        group_price: Money,
        list_price: Money,
    },
    Help {
        /// Weighted helps needed to unlock the reward.
        target: u32,
        /// What one help of a member new to the brand weighs (1 counts them as anyone).
        new_member_weight: u32,
        reward_points: Option<i64>,
        reward_coupon: Option<String>,
    },
    Bargain {
        price: Money,
        floor: Money,
        /// Helpers it takes to bring the price to the floor.
        helpers: u32,
    },
}

impl Mechanic {
    pub fn kind(&self) -> &'static str {
        match self {
            Mechanic::GroupBuy { .. } => "group_buy",
            Mechanic::Help { .. } => "help",
            Mechanic::Bargain { .. } => "bargain",
        }
    }

    /// The price a new round starts at (what a help round's leader pays: nothing).
    pub fn opening_price(&self) -> Money {
        match self {
            Mechanic::GroupBuy { group_price, .. } => *group_price,
            Mechanic::Help { .. } => Money::ZERO,
            Mechanic::Bargain { price, .. } => *price,
        }
    }
}

/// Where a round stands, as the store keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundProgress {
    /// Members in the round besides the leader.
    pub joined: u32,
    /// Weighted helps so far (help rounds).
    pub progress: u32,
    /// The price now (bargain rounds), or the group price.
    pub price: Money,
}

/// What one more member joining does to a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinEffect {
    pub weight: u32,
    pub cut: Money,
    /// The join fills the group, reaches the help target or the bargain's floor.
    pub completes: bool,
}

fn range(field: &str, message: &str) -> FieldError {
    FieldError::new(field, ErrorCode::OutOfRange, message)
}

fn invalid(field: &str, message: &str) -> FieldError {
    FieldError::new(field, ErrorCode::InvalidValue, message)
}

impl FissionCampaign {
    pub fn check(&self) -> Result<(), FieldError> {
        let name = check_line("name", &self.name, 200)?;
        if name.trim().is_empty() {
            return Err(invalid("name", "name is empty"));
        }
        if let Some(sku) = &self.sku {
            check_line("sku", sku, super::product::MAX_SKU)?;
        }
        if !(1..=720).contains(&self.hours) {
            return Err(range("hours", "hours is 1 to 720"));
        }
        if self.ends_at <= self.starts_at {
            return Err(invalid("ends_at", "ends_at must be after starts_at"));
        }
        match &self.mechanic {
            Mechanic::GroupBuy {
                size,
                group_price,
                list_price,
            } => {
                if !(2..=100).contains(size) {
                    return Err(range(
                        "size",
                        "size is 2 to 100 members, the leader included",
                    ));
                }
                if group_price.minor() <= 0 {
                    return Err(invalid("group_price", "group_price must be above zero"));
                }
                if list_price < group_price {
                    return Err(invalid(
                        "list_price",
                        "list_price must be at least the group price",
                    ));
                }
            }
            Mechanic::Help {
                target,
                new_member_weight,
                reward_points,
                reward_coupon,
            } => {
                if !(1..=1000).contains(target) {
                    return Err(range("target", "target is 1 to 1,000 helps"));
                }
                if !(1..=10).contains(new_member_weight) {
                    return Err(range("new_member_weight", "new_member_weight is 1 to 10"));
                }
                if reward_points.is_some_and(|p| !(1..=1_000_000).contains(&p)) {
                    return Err(range("reward_points", "reward_points is 1 to 1,000,000"));
                }
                if let Some(c) = reward_coupon {
                    check_line("reward_coupon", c, 100)?;
                }
                if reward_points.is_none() && reward_coupon.is_none() {
                    return Err(invalid(
                        "reward_points",
                        "a help campaign rewards its target with points, a coupon or both",
                    ));
                }
            }
            Mechanic::Bargain {
                price,
                floor,
                helpers,
            } => {
                if !(1..=1000).contains(helpers) {
                    return Err(range("helpers", "helpers is 1 to 1,000"));
                }
                if floor.minor() < 0 || price <= floor {
                    return Err(invalid("floor", "floor must be below the price"));
                }
                // Each helper takes at least one minor unit.
                if price.minor() - floor.minor() < i64::from(*helpers) {
                    return Err(invalid(
                        "helpers",
                        "the price is too close to the floor for that many helpers",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether rounds may be opened at `now`.
    pub fn open_at(&self, now: Micros) -> bool {
        now >= self.starts_at && now < self.ends_at
    }

    /// When a round opened at `opened_at` closes, unless it completes first.
    pub fn deadline(&self, opened_at: Micros) -> Micros {
        opened_at + i64::from(self.hours) * HOUR
    }

    /// What a member joining now does. `is_new` says whether the member came to the
    /// brand since the round opened; `random` draws a bargain's cut (stored with it, so
    /// the cut can be worked out again).
    pub fn join(&self, round: RoundProgress, is_new: bool, random: u64) -> JoinEffect {
        match &self.mechanic {
            Mechanic::GroupBuy { size, .. } => JoinEffect {
                weight: 1,
                cut: Money::ZERO,
                completes: round.joined + 2 >= *size,
            },
            Mechanic::Help {
                target,
                new_member_weight,
                ..
            } => {
                let weight = if is_new { *new_member_weight } else { 1 };
                JoinEffect {
                    weight,
                    cut: Money::ZERO,
                    completes: round.progress + weight >= *target,
                }
            }
            Mechanic::Bargain { floor, helpers, .. } => {
                let left = round.price.minor() - floor.minor();
                let helpers_left = helpers.saturating_sub(round.joined).max(1);
                let cut = bargain_cut(left, helpers_left, random);
                JoinEffect {
                    weight: 1,
                    cut: Money::from_minor(cut),
                    completes: cut >= left,
                }
            }
        }
    }
}

/// The events a join writes into the members' histories, so it feeds the influence
/// score and the referral tree: a `referral` of the joiner by the leader and, for help
/// and bargain rounds, the leader's `share` that brought the friend. Their ids come
/// from the round and the joiner, so writing them again adds nothing.
pub fn join_events(
    kind: &str,
    round_id: &str,
    campaign_id: &str,
    at: Micros,
    joiner_id: i64,
    joiner: Identity,
    leader: Identity,
) -> Vec<Event> {
    let properties = |role: &str| {
        let mut map = serde_json::Map::new();
        map.insert("campaign".into(), campaign_id.into());
        map.insert("round".into(), round_id.into());
        map.insert("fission".into(), kind.into());
        map.insert("role".into(), role.into());
        map
    };
    let mut events = vec![Event {
        event_id: format!("fission-referral:{round_id}:{joiner_id}"),
        type_name: "referral".into(),
        occurred_at: at,
        channel: Channel::MINI_PROGRAM,
        identities: vec![joiner],
        payload: Payload::Referral {
            referrer: vec![leader.clone()],
        },
        properties: properties("joiner"),
    }];
    if kind != "group_buy" {
        events.push(Event {
            event_id: format!("fission-share:{round_id}:{joiner_id}"),
            type_name: "share".into(),
            occurred_at: at,
            channel: Channel::MINI_PROGRAM,
            identities: vec![leader],
            payload: Payload::Share,
            properties: properties("leader"),
        });
    }
    events
}

/// One helper's cut of the `left` minor units above the floor when `helpers_left`
/// helpers (this one included) are still to come: between half and one and a half of an
/// even share, leaving at least one unit for each later helper; the last takes the rest.
pub fn bargain_cut(left: i64, helpers_left: u32, random: u64) -> i64 {
    if left <= 0 {
        return 0;
    }
    let n = i64::from(helpers_left);
    if n <= 1 {
        return left;
    }
    let even = left / n;
    let low = (even / 2).max(1);
    let high = (even + even / 2).min(left - (n - 1)).max(low);
    low + (random % (high - low + 1) as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(mechanic: Mechanic) -> FissionCampaign {
        FissionCampaign {
            id: "c".into(),
            name: "C".into(),
            sku: None,
            mechanic,
            hours: 24,
            starts_at: 0,
            ends_at: 1000 * HOUR,
        }
    }

    #[test]
    fn a_bargain_reaches_its_floor_exactly_at_the_last_helper() {
        let c = campaign(Mechanic::Bargain {
            price: Money::from_minor(9_900),
            floor: Money::from_minor(100),
            helpers: 7,
        });
        c.check().unwrap();
        for seed in 0..200u64 {
            let mut round = RoundProgress {
                joined: 0,
                progress: 0,
                price: Money::from_minor(9_900),
            };
            for i in 0..7 {
                let random = seed.wrapping_mul(6364136223846793005).wrapping_add(i);
                let effect = c.join(round, false, random);
                assert!(effect.cut.minor() >= 1);
                if i < 6 {
                    assert!(!effect.completes, "seed {seed} helper {i}");
                    // bounded around the even share of what was left
                    let left = round.price.minor() - 100;
                    let even = left / (7 - i as i64);
                    assert!(
                        effect.cut.minor() <= left - (6 - i as i64),
                        "leaves one each"
                    );
                    assert!(effect.cut.minor() >= even / 2, "seed {seed}: {effect:?}");
                    assert!(
                        effect.cut.minor() <= even + even / 2,
                        "seed {seed}: {effect:?}"
                    );
                }
                round.joined += 1;
                round.price = Money::from_minor(round.price.minor() - effect.cut.minor());
                if i == 6 {
                    assert!(effect.completes);
                    assert_eq!(round.price.minor(), 100);
                }
            }
        }
    }

    #[test]
    fn a_group_completes_when_the_last_seat_is_taken_and_help_weighs_new_members() {
        let g = campaign(Mechanic::GroupBuy {
            size: 3,
            group_price: Money::from_minor(5_000),
            list_price: Money::from_minor(8_000),
        });
        let at = |joined| RoundProgress {
            joined,
            progress: joined,
            price: Money::from_minor(5_000),
        };
        assert!(!g.join(at(0), false, 0).completes);
        assert!(g.join(at(1), false, 0).completes);
        let h = campaign(Mechanic::Help {
            target: 5,
            new_member_weight: 3,
            reward_points: Some(100),
            reward_coupon: None,
        });
        assert_eq!(h.join(at(0), true, 0).weight, 3);
        assert!(!h.join(at(1), false, 0).completes);
        assert!(h.join(at(2), true, 0).completes);
    }

    #[test]
    fn definitions_that_cannot_work_are_refused_by_field() {
        let bad = campaign(Mechanic::Bargain {
            price: Money::from_minor(105),
            floor: Money::from_minor(100),
            helpers: 10,
        });
        assert_eq!(bad.check().unwrap_err().field, "helpers");
        let bad = campaign(Mechanic::Help {
            target: 3,
            new_member_weight: 1,
            reward_points: None,
            reward_coupon: None,
        });
        assert_eq!(bad.check().unwrap_err().field, "reward_points");
        let bad = campaign(Mechanic::GroupBuy {
            size: 1,
            group_price: Money::from_minor(1),
            list_price: Money::from_minor(1),
        });
        assert_eq!(bad.check().unwrap_err().field, "size");
    }
}
