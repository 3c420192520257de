//! The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee, "RFM and CLV",
//! 2005; after Colombo & Jiang 1999): each customer's transaction values scatter around
//! their own mean, and those means vary across customers. Fitted on the customers with
//! at least one repeat purchase, by the mean value of their repeat purchases.

use super::Customer;
use super::optimize::minimize;
use super::special::ln_gamma;
use serde::Serialize;

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
        let repeaters: Vec<(f64, f64)> = customers
            .iter()
            .filter(|c| c.frequency > 0 && c.monetary > 0.0)
            .map(|c| (f64::from(c.frequency), c.monetary))
            .collect();
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
        let mean = repeaters.iter().map(|(_, m)| m).sum::<f64>() / n;
        let (best, _) = minimize(objective, &[0.0, 0.0, mean.ln()]);
        Some(GammaGamma {
            p: best[0].exp(),
            q: best[1].exp(),
            gamma: best[2].exp(),
        })
    }

    fn log_likelihood_of(&self, repeaters: &[(f64, f64)]) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let shared = -ln_gamma(q) + q * gamma.ln();
        repeaters
            .iter()
            .map(|&(x, m)| {
                ln_gamma(p * x + q) - ln_gamma(p * x) + (p * x - 1.0) * m.ln() + p * x * x.ln()
                    - (p * x + q) * (gamma + m * x).ln()
                    + shared
            })
            .sum()
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
