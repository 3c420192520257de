//! The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee, "RFM and CLV",
//! 2005; after Colombo & Jiang 1999): each customer's transaction values scatter around
//! their own mean, and those means vary across customers. Fitted on the customers with
//! at least one repeat purchase, by the mean value of their repeat purchases.

use super::Customer;
use super::optimize::minimize;
use super::special::ln_gamma;
use serde::Serialize;

/// A customer with repeat purchases, with the logs the likelihood needs precomputed.
struct Repeater {
    x: f64,
    m: f64,
    ln_x: f64,
    ln_m: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

impl GammaGamma {
    /// Maximum-likelihood fit over the customers with repeat purchases of positive
    /// value; `None` when there are none.
    pub fn fit(customers: &[Customer]) -> Option<GammaGamma> {
        let mut repeaters: Vec<Repeater> = customers
            .iter()
            .filter(|c| c.frequency > 0 && c.monetary > 0.0)
            .map(|c| {
                let x = f64::from(c.frequency);
                Repeater {
                    x,
                    m: c.monetary,
                    ln_x: x.ln(),
                    ln_m: c.monetary.ln(),
                }
            })
            .collect();
        // By x, so the gamma terms (which depend on x alone) are computed once per x.
        repeaters.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.m.total_cmp(&b.m)));
        if repeaters.is_empty() {
            return None;
        }
        let n = repeaters.len() as f64;
        let objective = |logs: &[f64]| {
            let m = GammaGamma {
                p: logs[0].exp(),
                q: logs[1].exp(),
                gamma: logs[2].exp(),
            };
            -m.log_likelihood_of(&repeaters) / n
        };
        // Start γ near the spend scale so the search does not wander across magnitudes.
        let mean = repeaters.iter().map(|r| r.m).sum::<f64>() / n;
        let (best, _) = minimize(objective, &[0.0, 0.0, mean.ln()]);
        Some(GammaGamma {
            p: best[0].exp(),
            q: best[1].exp(),
            gamma: best[2].exp(),
        })
    }

    fn log_likelihood_of(&self, repeaters: &[Repeater]) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let shared = -ln_gamma(q) + q * gamma.ln();
        let (mut cached_x, mut gammas) = (f64::NAN, 0.0);
        let mut sum = 0.0;
        for r in repeaters {
            let px = p * r.x;
            if r.x != cached_x {
                cached_x = r.x;
                gammas = ln_gamma(px + q) - ln_gamma(px) + shared;
            }
            sum += gammas + (px - 1.0) * r.ln_m + px * r.ln_x - (px + q) * (gamma + r.m * r.x).ln();
        }
        sum
    }

    /// The expected value of this customer's future transactions: their own repeat mean,
    /// shrunk towards the population mean the fewer repeats there are to go on.
    pub fn expected_average_value(&self, c: &Customer) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let x = if c.monetary > 0.0 {
            f64::from(c.frequency)
        } else {
            0.0
        };
        (gamma + c.monetary * x) * p / (p * x + q - 1.0)
    }
}
