//! The `[scores]` part of the config: the half-life of silence, the lifetime-value
//! horizon, how often the population scores are recomputed, and the weight of every
//! part. Weights are relative: each score is rescaled to 0–100 whatever they sum to.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScorePolicy {
    /// Days of silence after which a decaying part counts half (intimacy, repurchase).
    pub half_life_days: f64,
    /// The lifetime-value horizon in days ("expected purchases in the next 90 days").
    pub horizon_days: u32,
    /// How often `serve` recomputes RFM and lifetime value (0: only on demand).
    pub recompute_interval_secs: u64,
    /// The lifetime-value models are fitted on at most this many members, evenly
    /// sampled; every member is still predicted.
    pub fit_sample: usize,
    /// Fewer buyers than this and lifetime value is not computed (the models need a
    /// population to learn from); a tenth as many repeat buyers are needed too.
    pub clv_min_customers: usize,
    pub super_user: SuperUserWeights,
    pub influence: InfluenceWeights,
    pub intimacy: IntimacyWeights,
}

impl Default for ScorePolicy {
    fn default() -> Self {
        ScorePolicy {
            half_life_days: 90.0,
            horizon_days: 90,
            recompute_interval_secs: 3600,
            fit_sample: 100_000,
            clv_min_customers: 50,
            super_user: SuperUserWeights::default(),
            influence: InfluenceWeights::default(),
            intimacy: IntimacyWeights::default(),
        }
    }
}

/// Seed 003's four criteria plus the paid membership.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuperUserWeights {
    pub repurchase: f64,
    pub feedback: f64,
    pub advocacy: f64,
    pub system_purchase: f64,
    pub paid_membership: f64,
}

impl Default for SuperUserWeights {
    fn default() -> Self {
        SuperUserWeights {
            repurchase: 35.0,
            feedback: 15.0,
            advocacy: 20.0,
            system_purchase: 15.0,
            paid_membership: 15.0,
        }
    }
}

/// Seed 004's social attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InfluenceWeights {
    pub favour: f64,
    pub positive_reviews: f64,
    pub shares: f64,
    pub followers: f64,
    pub referral_tree: f64,
}

impl Default for InfluenceWeights {
    fn default() -> Self {
        InfluenceWeights {
            favour: 10.0,
            positive_reviews: 15.0,
            shares: 15.0,
            followers: 25.0,
            referral_tree: 35.0,
        }
    }
}

/// Seed 002's Talk + Togetherness + Time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntimacyWeights {
    pub talk: f64,
    pub togetherness: f64,
    pub time: f64,
}

impl Default for IntimacyWeights {
    fn default() -> Self {
        IntimacyWeights {
            talk: 35.0,
            togetherness: 35.0,
            time: 30.0,
        }
    }
}

impl ScorePolicy {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.half_life_days.is_finite() && self.half_life_days > 0.0) {
            return Err("scores.half_life_days must be more than 0".into());
        }
        if self.horizon_days == 0 || self.horizon_days > 3650 {
            return Err("scores.horizon_days must be 1 to 3650".into());
        }
        if self.clv_min_customers < 2 {
            return Err("scores.clv_min_customers must be at least 2".into());
        }
        if self.fit_sample < 100 {
            return Err("scores.fit_sample must be at least 100".into());
        }
        let groups: [(&str, Vec<(&str, f64)>); 3] = [
            (
                "super_user",
                vec![
                    ("repurchase", self.super_user.repurchase),
                    ("feedback", self.super_user.feedback),
                    ("advocacy", self.super_user.advocacy),
                    ("system_purchase", self.super_user.system_purchase),
                    ("paid_membership", self.super_user.paid_membership),
                ],
            ),
            (
                "influence",
                vec![
                    ("favour", self.influence.favour),
                    ("positive_reviews", self.influence.positive_reviews),
                    ("shares", self.influence.shares),
                    ("followers", self.influence.followers),
                    ("referral_tree", self.influence.referral_tree),
                ],
            ),
            (
                "intimacy",
                vec![
                    ("talk", self.intimacy.talk),
                    ("togetherness", self.intimacy.togetherness),
                    ("time", self.intimacy.time),
                ],
            ),
        ];
        for (group, weights) in groups {
            for (name, w) in &weights {
                if !(w.is_finite() && *w >= 0.0) {
                    return Err(format!(
                        "scores.{group}.{name} must be a weight of 0 or more"
                    ));
                }
            }
            if weights.iter().map(|(_, w)| w).sum::<f64>() <= 0.0 {
                return Err(format!(
                    "scores.{group}: at least one weight must be more than 0"
                ));
            }
        }
        Ok(())
    }
}
