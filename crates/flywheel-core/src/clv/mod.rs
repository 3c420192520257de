//! Customer lifetime value: how many more purchases a customer will make, how likely
//! they still are a customer, what their purchases will be worth.
//!
//! The input is a transaction log; [`summarise`] turns it into one [`Customer`] per
//! buyer the way the published models count: purchases on the same day are one
//! transaction, the first purchase is not a repeat, times are measured in periods (days
//! or weeks) from the first purchase, and the spend per transaction is the mean of the
//! repeat transactions. [`BgNbd`] and [`GammaGamma`] are fitted on those summaries and
//! [`Model::predict`] combines them.

mod bgnbd;
mod gamma_gamma;
mod optimize;
mod special;

pub use bgnbd::{BgNbd, BgNbdFit};
pub use gamma_gamma::GammaGamma;

/// One customer's purchase history as the models see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Customer {
    /// Repeat transactions: distinct purchase days after the first.
    pub frequency: u32,
    /// Periods from the first to the last purchase (tₓ).
    pub recency: f64,
    /// Periods from the first purchase to the end of the calibration period (T).
    pub age: f64,
    /// Mean value of the repeat transactions; 0 without repeats.
    pub monetary: f64,
}

/// One purchase: who, which day (days since the epoch), how much.
#[derive(Clone, Debug, PartialEq)]
pub struct Transaction<K> {
    pub customer: K,
    pub day: i64,
    pub amount: f64,
}

/// Summarises a transaction log as of the end of day `end_day` (inclusive), with
/// `period_days` days to a period. Transactions after `end_day` are left out (they are
/// the holdout); customers whose first purchase is after it are not summarised.
/// The result is ordered by customer.
pub fn summarise<K: Ord + Clone>(
    mut transactions: Vec<Transaction<K>>,
    end_day: i64,
    period_days: f64,
) -> Vec<(K, Customer)> {
    transactions.retain(|t| t.day <= end_day);
    transactions.sort_by(|p, q| p.customer.cmp(&q.customer).then(p.day.cmp(&q.day)));
    let mut out = Vec::new();
    let mut rest = transactions.as_slice();
    while let Some(first) = rest.first() {
        let len = rest
            .iter()
            .position(|t| t.customer != first.customer)
            .unwrap_or(rest.len());
        let (mine, tail) = rest.split_at(len);
        rest = tail;
        // Fold same-day purchases into one transaction of their summed value.
        let mut days: Vec<(i64, f64)> = Vec::new();
        for t in mine {
            match days.last_mut() {
                Some((day, value)) if *day == t.day => *value += t.amount,
                _ => days.push((t.day, t.amount)),
            }
        }
        let (first_day, last_day) = (days[0].0, days[days.len() - 1].0);
        let repeats = &days[1..];
        let monetary = if repeats.is_empty() {
            0.0
        } else {
            repeats.iter().map(|(_, v)| v).sum::<f64>() / repeats.len() as f64
        };
        out.push((
            first.customer.clone(),
            Customer {
                frequency: repeats.len() as u32,
                recency: (last_day - first_day) as f64 / period_days,
                age: (end_day - first_day) as f64 / period_days,
                monetary,
            },
        ));
    }
    out
}

/// Both models fitted on one population.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Model {
    pub purchases: BgNbdFit,
    /// `None` when nobody has bought twice: there is no repeat spend to learn from.
    pub spend: Option<GammaGamma>,
}

/// What the model expects of one customer over a horizon.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    pub p_alive: f64,
    pub expected_purchases: f64,
    pub expected_avg_value: f64,
    /// Expected purchases × expected value per purchase, undiscounted.
    pub clv: f64,
}

impl Model {
    pub fn fit(customers: &[Customer]) -> Option<Model> {
        Some(Model {
            purchases: BgNbd::fit(customers)?,
            spend: GammaGamma::fit(customers),
        })
    }

    /// Fits a brand's own population, or says why its models should not be used: too
    /// few buyers or repeat buyers to pin four parameters down, or a fit that ran away
    /// (a three-member population fits r ≈ 2·10¹⁰, which calls a buyer from yesterday
    /// gone). `min_customers` buyers are needed, and a tenth as many repeat buyers (at
    /// least 5).
    pub fn fit_population(customers: &[Customer], min_customers: usize) -> Result<Model, String> {
        let repeat = customers.iter().filter(|c| c.frequency > 0).count();
        let min_repeat = (min_customers / 10).max(5);
        if customers.len() < min_customers {
            return Err(format!(
                "{} members have bought; lifetime value needs at least {min_customers} \
                 (scores.clv_min_customers)",
                customers.len()
            ));
        }
        if repeat < min_repeat {
            return Err(format!(
                "{repeat} members have bought more than once; lifetime value needs at least \
                 {min_repeat}"
            ));
        }
        let model = Model::fit(customers)
            .ok_or_else(|| "no member has been a customer for long enough to fit".to_owned())?;
        plausible(&model.purchases, customers)?;
        Ok(model)
    }

    pub fn predict(&self, c: &Customer, horizon: f64) -> Prediction {
        let bg = &self.purchases.model;
        let expected_purchases = bg.expected_purchases(c, horizon);
        let expected_avg_value = match &self.spend {
            Some(gg) => gg.expected_average_value(c),
            None => c.monetary,
        };
        Prediction {
            p_alive: bg.p_alive(c),
            expected_purchases,
            expected_avg_value,
            clv: expected_purchases * expected_avg_value,
        }
    }
}

/// Whether a fit can be believed: finite, positive parameters, and not calling a recent
/// repeat buyer gone. A fit that ran away (r in the billions) takes any gap since the
/// last purchase as overwhelming evidence of dropping out; it is judged on a buyer of the
/// population's median age who bought twice, the second time at 95% of that age.
fn plausible(fit: &BgNbdFit, customers: &[Customer]) -> Result<(), String> {
    let bg = fit.model;
    let positive = [bg.r, bg.alpha, bg.a, bg.b]
        .into_iter()
        .all(|x| x.is_finite() && x > 0.0);
    if !positive || !fit.log_likelihood.is_finite() {
        return Err("the fit did not converge to finite parameters".to_owned());
    }
    let mut ages: Vec<f64> = customers.iter().map(|c| c.age).collect();
    ages.sort_by(f64::total_cmp);
    let age = ages.get(ages.len() / 2).copied().unwrap_or(1.0);
    let recent = Customer {
        frequency: 1,
        recency: 0.95 * age,
        age,
        monetary: 0.0,
    };
    let alive = bg.p_alive(&recent);
    if alive >= 0.05 {
        Ok(())
    } else {
        Err(format!(
            "the fit ran to implausible parameters (r = {:.3e}, alpha = {:.3e}, a = {:.3e}, \
             b = {:.3e}): it calls a recent repeat buyer gone (P(alive) = {alive:.3}), so the \
             data do not pin the model down",
            bg.r, bg.alpha, bg.a, bg.b
        ))
    }
}

/// An evenly spread sample of at most `max` customers. The parameters of a four-number
/// model are pinned down long before a million customers; fitting on a sample keeps a
/// full recompute to seconds while every customer is still predicted.
pub fn sample(customers: &[Customer], max: usize) -> Vec<Customer> {
    if customers.len() <= max || max == 0 {
        return customers.to_vec();
    }
    let step = customers.len() as f64 / max as f64;
    (0..max)
        .map(|i| customers[(i as f64 * step) as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(customer: &str, day: i64, amount: f64) -> Transaction<String> {
        Transaction {
            customer: customer.into(),
            day,
            amount,
        }
    }

    #[test]
    fn same_day_purchases_are_one_transaction_and_the_first_is_not_a_repeat() {
        let log = vec![
            t("a", 10, 5.0),
            t("a", 10, 7.0),
            t("a", 17, 3.0),
            t("a", 24, 9.0),
            t("a", 40, 100.0), // after the calibration end: holdout
            t("b", 20, 8.0),
            t("c", 32, 1.0), // first purchase after the end: not a customer yet
        ];
        let s = summarise(log, 31, 7.0);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0],
            (
                "a".to_string(),
                Customer {
                    frequency: 2,
                    recency: 2.0,
                    age: 3.0,
                    monetary: 6.0
                }
            )
        );
        assert_eq!(s[1].1.frequency, 0);
        assert_eq!(s[1].1.monetary, 0.0);
        assert!((s[1].1.age - 11.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn a_fit_that_ran_away_is_not_believed() {
        let people = [Customer {
            frequency: 1,
            recency: 20.0,
            age: 30.0,
            monetary: 0.0,
        }];
        let fit = |r, alpha, a, b| BgNbdFit {
            model: BgNbd { r, alpha, a, b },
            log_likelihood: -10.0,
        };
        // What a three-member database fitted.
        let why = plausible(&fit(2.0e10, 1.0e9, 0.5, 1.0), &people).unwrap_err();
        assert!(why.contains("P(alive)"), "{why}");
        // The published CDNOW fit (in weeks), and a fixed dropout rate (a, b both huge).
        assert!(plausible(&fit(0.243, 4.414, 0.793, 2.426), &people).is_ok());
        assert!(plausible(&fit(2.76, 66.5, 1.2e7, 3.5e7), &people).is_ok());
        assert!(plausible(&fit(f64::NAN, 1.0, 1.0, 1.0), &people).is_err());
    }

    #[test]
    fn sampling_keeps_the_spread() {
        let all: Vec<Customer> = (0..10)
            .map(|i| Customer {
                frequency: i,
                recency: 0.0,
                age: 1.0,
                monetary: 0.0,
            })
            .collect();
        let s = sample(&all, 5);
        let f: Vec<u32> = s.iter().map(|c| c.frequency).collect();
        assert_eq!(f, vec![0, 2, 4, 6, 8]);
        assert_eq!(sample(&all, 20).len(), 10);
    }
}
