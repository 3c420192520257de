//! The BG/NBD model of repeat buying (Fader, Hardie & Lee, "Counting Your Customers the
//! Easy Way", Marketing Science 2005): while alive, a customer buys at a Poisson rate
//! drawn from Gamma(r, α); after each purchase they drop out with a probability drawn
//! from Beta(a, b).
//!
//! Fitted by maximum likelihood over the customers' (x, tₓ, T): repeat purchases, the
//! time of the last one and the time since the first, all from the first purchase on.

use super::Customer;
use super::optimize::minimize_with_gradient;
use super::special::{digamma, hyp2f1, ln_gamma};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A fitted model and the log-likelihood it reached on the customers it was fitted on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BgNbdFit {
    pub model: BgNbd,
    pub log_likelihood: f64,
}

/// Customers with the same (x, tₓ, T) contribute the same likelihood; fitting over the
/// distinct ones with their counts is exact and, on daily data, much faster. Times are
/// kept once each in `times` (groups point into it), because ln(α + t) is the costly
/// part of the likelihood and far fewer distinct times exist than groups.
struct Groups {
    groups: Vec<Group>,
    times: Vec<f64>,
}

struct Group {
    x: f64,
    recency: usize,
    age: usize,
    count: f64,
}

fn groups(customers: &[Customer]) -> Groups {
    let mut counts: HashMap<(u32, u64, u64), f64> = HashMap::new();
    for c in customers {
        *counts
            .entry((c.frequency, c.recency.to_bits(), c.age.to_bits()))
            .or_default() += 1.0;
    }
    let mut times: Vec<f64> = customers.iter().flat_map(|c| [c.recency, c.age]).collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let at = |t: f64| times.partition_point(|u| *u < t);
    let mut groups: Vec<Group> = counts
        .into_iter()
        .map(|((x, recency, age), count)| Group {
            x: f64::from(x),
            recency: at(f64::from_bits(recency)),
            age: at(f64::from_bits(age)),
            count,
        })
        .collect();
    // A fixed order makes the floating-point sums, and so the fit, reproducible; by x
    // first, so the gamma terms change only when x does.
    groups.sort_by(|p, q| {
        (p.x, p.recency, p.age)
            .partial_cmp(&(q.x, q.recency, q.age))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Groups { groups, times }
}

impl BgNbd {
    /// Maximum-likelihood fit. `None` when there is nothing to fit (no customers, or no
    /// customer with any time since their first purchase).
    pub fn fit(customers: &[Customer]) -> Option<BgNbdFit> {
        let groups = groups(customers);
        let total: f64 = groups.groups.iter().map(|g| g.count).sum();
        if total == 0.0 || groups.times.iter().all(|t| *t <= 0.0) {
            return None;
        }
        // Minimise the mean negative log-likelihood over the logs of the parameters; by
        // the chain rule, d/d(ln p) = p · d/dp.
        let objective = |logs: &[f64], gradient: &mut [f64]| {
            let m = BgNbd::from_logs(logs);
            let (ll, grad) = m.log_likelihood_and_gradient(&groups);
            for (k, p) in [m.r, m.alpha, m.a, m.b].into_iter().enumerate() {
                gradient[k] = -grad[k] * p / total;
            }
            -ll / total
        };
        let (best, _) = minimize_with_gradient(objective, &[0.0; 4]);
        let model = BgNbd::from_logs(&best);
        Some(BgNbdFit {
            model,
            log_likelihood: model.log_likelihood_of(&groups),
        })
    }

    fn from_logs(p: &[f64]) -> BgNbd {
        BgNbd {
            r: p[0].exp(),
            alpha: p[1].exp(),
            a: p[2].exp(),
            b: p[3].exp(),
        }
    }

    /// The log-likelihood of these customers under this model.
    pub fn log_likelihood(&self, customers: &[Customer]) -> f64 {
        self.log_likelihood_of(&groups(customers))
    }

    fn log_likelihood_of(&self, groups: &Groups) -> f64 {
        self.log_likelihood_and_gradient(groups).0
    }

    /// The log-likelihood and its partial derivatives in (r, α, a, b).
    ///
    /// Per group, ln L = head(x) + ln(e^A + e^B) with A = −(r + x)·ln(α + T) (still
    /// alive) and, for x > 0, B = ln a − ln(b + x − 1) − (r + x)·ln(α + tₓ) (dropped out
    /// after the last purchase). The derivative of the second part is the derivatives of
    /// A and B weighted by w = e^A / (e^A + e^B), the share of the likelihood that says
    /// "alive"; the head's are digammas.
    fn log_likelihood_and_gradient(&self, groups: &Groups) -> (f64, [f64; 4]) {
        let BgNbd { r, alpha, a, b } = *self;
        let ln_times: Vec<f64> = groups.times.iter().map(|t| (alpha + t).ln()).collect();
        let inv_times: Vec<f64> = groups.times.iter().map(|t| 1.0 / (alpha + t)).collect();
        let shared = r * alpha.ln() - ln_gamma(r) + ln_gamma(a + b) - ln_gamma(b);
        let (psi_r, psi_ab, psi_b) = (digamma(r), digamma(a + b), digamma(b));
        let ln_a = a.ln();
        // Groups come sorted by x, and the gamma terms depend on x alone: compute them
        // (and their derivatives) once per distinct x rather than once per group.
        let mut cached_x = f64::NAN;
        let (mut head, mut dropped_head) = (0.0, 0.0);
        let mut head_grad = [0.0; 4];
        let mut sum = 0.0;
        let mut grad = [0.0; 4];
        for g in &groups.groups {
            let x = g.x;
            if x != cached_x {
                cached_x = x;
                head = ln_gamma(r + x) + ln_gamma(b + x) - ln_gamma(a + b + x) + shared;
                dropped_head = if x > 0.0 {
                    ln_a - (b + x - 1.0).ln()
                } else {
                    0.0
                };
                let psi_abx = digamma(a + b + x);
                head_grad = [
                    digamma(r + x) + alpha.ln() - psi_r,
                    r / alpha,
                    psi_ab - psi_abx,
                    digamma(b + x) - psi_abx + psi_ab - psi_b,
                ];
            }
            let (ln_t, inv_t) = (ln_times[g.age], inv_times[g.age]);
            let still_alive = -(r + x) * ln_t;
            // d/dr, d/dα, d/da, d/db of each branch of the tail.
            let alive_grad = [-ln_t, -(r + x) * inv_t, 0.0, 0.0];
            let (tail, tail_grad) = if x > 0.0 {
                let (ln_tx, inv_tx) = (ln_times[g.recency], inv_times[g.recency]);
                let dropped = dropped_head - (r + x) * ln_tx;
                let top = still_alive.max(dropped);
                let (e_alive, e_dropped) = ((still_alive - top).exp(), (dropped - top).exp());
                let total = e_alive + e_dropped;
                let w = e_alive / total;
                let dropped_grad = [-ln_tx, -(r + x) * inv_tx, 1.0 / a, -1.0 / (b + x - 1.0)];
                let mut mixed = [0.0; 4];
                for k in 0..4 {
                    mixed[k] = w * alive_grad[k] + (1.0 - w) * dropped_grad[k];
                }
                (top + total.ln(), mixed)
            } else {
                (still_alive, alive_grad)
            };
            sum += g.count * (head + tail);
            for k in 0..4 {
                grad[k] += g.count * (head_grad[k] + tail_grad[k]);
            }
        }
        (sum, grad)
    }

    /// The probability that a customer with this history is still a customer.
    pub fn p_alive(&self, c: &Customer) -> f64 {
        1.0 / (1.0 + self.dropout_odds(c))
    }

    /// (a / (b + x − 1)) · ((α + T) / (α + tₓ))^(r + x): how much likelier the history is
    /// if the customer dropped out after their last purchase than if they are alive.
    fn dropout_odds(&self, c: &Customer) -> f64 {
        if c.frequency == 0 {
            return 0.0;
        }
        let x = f64::from(c.frequency);
        let BgNbd { r, alpha, a, b } = *self;
        a / (b + x - 1.0) * ((alpha + c.age) / (alpha + c.recency)).powf(r + x)
    }

    /// Expected repeat purchases in the next `horizon` periods for a customer with this
    /// history (the paper's equation 10).
    pub fn expected_purchases(&self, c: &Customer, horizon: f64) -> f64 {
        if horizon <= 0.0 {
            return 0.0;
        }
        let x = f64::from(c.frequency);
        let BgNbd { r, alpha, a, b } = *self;
        // At a = 1 the leading factor's pole cancels; step off it rather than divide by 0.
        let a = if (a - 1.0).abs() < 1e-9 {
            1.0 + 1e-9
        } else {
            a
        };
        let z = horizon / (alpha + c.age + horizon);
        let hyp = hyp2f1(r + x, b + x, a + b + x - 1.0, z);
        let decay = ((alpha + c.age) / (alpha + c.age + horizon)).powf(r + x);
        let lead = (a + b + x - 1.0) / (a - 1.0);
        lead * (1.0 - decay * hyp) / (1.0 + self.dropout_odds(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_the_slope_of_the_likelihood() {
        let customers: Vec<Customer> = (0..200u32)
            .map(|i| {
                let age = 5.0 + f64::from(i % 37);
                Customer {
                    frequency: i % 7,
                    recency: if i % 7 == 0 {
                        0.0
                    } else {
                        age * f64::from(i % 5) / 5.0
                    },
                    age,
                    monetary: 0.0,
                }
            })
            .collect();
        let groups = groups(&customers);
        let model = BgNbd {
            r: 0.7,
            alpha: 3.1,
            a: 0.45,
            b: 1.9,
        };
        let (_, grad) = model.log_likelihood_and_gradient(&groups);
        for k in 0..4 {
            let nudged = |h: f64| {
                let mut p = [model.r, model.alpha, model.a, model.b];
                p[k] += h;
                BgNbd {
                    r: p[0],
                    alpha: p[1],
                    a: p[2],
                    b: p[3],
                }
                .log_likelihood_of(&groups)
            };
            let h = 1e-6;
            let slope = (nudged(h) - nudged(-h)) / (2.0 * h);
            assert!(
                (grad[k] - slope).abs() < 1e-5 * (1.0 + slope.abs()),
                "parameter {k}: {} vs {slope}",
                grad[k]
            );
        }
    }
}
