//! Nelder–Mead minimisation, enough for the handful of parameters the lifetime-value
//! models fit. The models optimise the logs of their parameters, so the search is
//! unconstrained and every point it visits is a valid model.

/// Minimises `f` from `start`; returns the best point and its value.
///
/// Restarts from the best point until a restart no longer improves it, because a
/// collapsed simplex can stop short of the minimum on long, narrow valleys.
pub fn minimize(f: impl Fn(&[f64]) -> f64, start: &[f64]) -> (Vec<f64>, f64) {
    let mut best = start.to_vec();
    let mut best_value = f(&best);
    for _ in 0..10 {
        let (x, value) = simplex_search(&f, &best, 0.5);
        let improved = best_value - value;
        best = x;
        best_value = value;
        if improved.abs() <= 1e-12 * (1.0 + value.abs()) {
            break;
        }
    }
    (best, best_value)
}

/// One Nelder–Mead run with the standard coefficients (reflect 1, expand 2, contract
/// ½, shrink ½), until the simplex's values and extent are both tiny.
fn simplex_search(f: &impl Fn(&[f64]) -> f64, start: &[f64], step: f64) -> (Vec<f64>, f64) {
    let n = start.len();
    let mut points: Vec<Vec<f64>> = vec![start.to_vec()];
    for i in 0..n {
        let mut p = start.to_vec();
        p[i] += step;
        points.push(p);
    }
    let mut values: Vec<f64> = points.iter().map(|p| finite(f(p))).collect();
    for _ in 0..20_000 {
        let mut order: Vec<usize> = (0..=n).collect();
        order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
        points = order.iter().map(|&i| points[i].clone()).collect();
        values = order.iter().map(|&i| values[i]).collect();

        let spread = values[n] - values[0];
        let extent = points[1..]
            .iter()
            .flat_map(|p| p.iter().zip(&points[0]).map(|(a, b)| (a - b).abs()))
            .fold(0.0, f64::max);
        if spread <= 1e-13 * (1.0 + values[0].abs()) && extent <= 1e-9 {
            break;
        }

        let centroid: Vec<f64> = (0..n)
            .map(|d| points[..n].iter().map(|p| p[d]).sum::<f64>() / n as f64)
            .collect();
        let towards = |t: f64| -> Vec<f64> {
            centroid
                .iter()
                .zip(&points[n])
                .map(|(c, w)| c + t * (c - w))
                .collect()
        };
        let reflected = towards(1.0);
        let fr = finite(f(&reflected));
        if fr < values[0] {
            let expanded = towards(2.0);
            let fe = finite(f(&expanded));
            (points[n], values[n]) = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
        } else if fr < values[n - 1] {
            (points[n], values[n]) = (reflected, fr);
        } else {
            let contracted = if fr < values[n] {
                towards(0.5)
            } else {
                towards(-0.5)
            };
            let fc = finite(f(&contracted));
            if fc < values[n].min(fr) {
                (points[n], values[n]) = (contracted, fc);
            } else {
                for i in 1..=n {
                    let shrunk: Vec<f64> = points[i]
                        .iter()
                        .zip(&points[0])
                        .map(|(p, b)| b + 0.5 * (p - b))
                        .collect();
                    values[i] = finite(f(&shrunk));
                    points[i] = shrunk;
                }
            }
        }
    }
    let best = (0..=n)
        .min_by(|&i, &j| values[i].total_cmp(&values[j]))
        .unwrap_or(0);
    (points[best].clone(), values[best])
}

/// Treats a NaN (a model evaluated where it overflows) as worse than anything.
fn finite(v: f64) -> f64 {
    if v.is_nan() { f64::INFINITY } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_bottom_of_the_rosenbrock_valley() {
        let rosenbrock = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let (x, v) = minimize(rosenbrock, &[-1.2, 1.0]);
        assert!(
            (x[0] - 1.0).abs() < 1e-5 && (x[1] - 1.0).abs() < 1e-5,
            "{x:?}"
        );
        assert!(v < 1e-10);
    }
}
