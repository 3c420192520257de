//! Minimisation for the handful of parameters the lifetime-value models fit: BFGS where
//! the model supplies its gradient (BG/NBD), Nelder–Mead where it does not. The models
//! optimise the logs of their parameters, so the search is unconstrained and every
//! point it visits is a valid model.

/// Minimises `f` from `start` by BFGS; returns the best point and its value.
///
/// `f(x, gradient)` returns the value at `x` and writes the gradient there. Stops when
/// the gradient is flat to 10⁻⁹ in every coordinate, or when no step along the search
/// direction lowers the value any more while the gradient is flat to 10⁻⁶ (rounding in
/// the value then hides anything smaller). Falls back to Nelder–Mead from the best
/// point otherwise, so a badly conditioned problem never ends in a half-finished fit.
pub fn minimize_with_gradient(
    f: impl Fn(&[f64], &mut [f64]) -> f64,
    start: &[f64],
) -> (Vec<f64>, f64) {
    let n = start.len();
    let mut x = start.to_vec();
    let mut g = vec![0.0; n];
    let mut value = f(&x, &mut g);
    if !value.is_finite() {
        return minimize(|p| f(p, &mut vec![0.0; n]), start);
    }
    // The inverse Hessian estimate, row-major; identity until the first step scales it.
    let mut h = identity(n);
    let mut first_step = true;
    for _ in 0..500 {
        if flat(&g, 1e-9) {
            return (x, value);
        }
        let mut direction: Vec<f64> = (0..n)
            .map(|i| -(0..n).map(|j| h[i * n + j] * g[j]).sum::<f64>())
            .collect();
        let mut slope = dot(&direction, &g);
        if slope >= 0.0 {
            // The estimate lost positive definiteness: start again from steepest descent.
            h = identity(n);
            direction = g.iter().map(|gi| -gi).collect();
            slope = dot(&direction, &g);
        }
        let Some(next) = line_search(&f, &x, value, slope, &direction) else {
            break;
        };
        let s: Vec<f64> = direction.iter().map(|d| d * next.length).collect();
        let y: Vec<f64> = next.gradient.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        (x, value, g) = (next.point, next.value, next.gradient);
        if sy > 1e-300 {
            if first_step {
                // Scale the identity to the curvature just seen (Nocedal & Wright 6.20).
                let scale = sy / dot(&y, &y);
                h.iter_mut().for_each(|v| *v *= scale);
                first_step = false;
            }
            bfgs_update(&mut h, &s, &y, sy);
        }
    }
    if flat(&g, 1e-6) {
        // Rounding, not the search, stopped it: the sums the value is made of cannot
        // resolve a smaller step.
        return (x, value);
    }
    let (polished, polished_value) = minimize(|p| f(p, &mut vec![0.0; n]), &x);
    if polished_value < value {
        (polished, polished_value)
    } else {
        (x, value)
    }
}

/// Where a line search landed: how far along the direction, and the point it reached.
struct Step {
    length: f64,
    point: Vec<f64>,
    value: f64,
    gradient: Vec<f64>,
}

/// A step along `direction` that lowers the value enough and flattens the slope (the
/// weak Wolfe conditions, c₁ = 10⁻⁴, c₂ = 0.9), found by doubling and bisection; the
/// lowest acceptable-descent step seen when none flattens the slope; `None` when no
/// step lowers the value.
fn line_search(
    f: &impl Fn(&[f64], &mut [f64]) -> f64,
    x: &[f64],
    value: f64,
    slope: f64,
    direction: &[f64],
) -> Option<Step> {
    let (c1, c2) = (1e-4, 0.9);
    let (mut low, mut high) = (0.0, f64::INFINITY);
    let mut step = 1.0;
    let mut best: Option<Step> = None;
    for _ in 0..60 {
        let point: Vec<f64> = x.iter().zip(direction).map(|(a, d)| a + step * d).collect();
        let mut gradient = vec![0.0; x.len()];
        let v = f(&point, &mut gradient);
        if !v.is_finite() || v > value + c1 * step * slope {
            high = step;
        } else {
            let still_steep = dot(&gradient, direction) < c2 * slope;
            let lower = best.as_ref().is_none_or(|b| v < b.value);
            let reached = Step {
                length: step,
                point,
                value: v,
                gradient,
            };
            if !still_steep {
                return Some(reached);
            }
            low = step;
            if lower {
                best = Some(reached);
            }
        }
        step = if high.is_finite() {
            0.5 * (low + high)
        } else {
            2.0 * step
        };
    }
    best.filter(|b| b.value < value)
}

/// H ← (I − ρsyᵀ) H (I − ρysᵀ) + ρssᵀ with ρ = 1 / sᵀy.
fn bfgs_update(h: &mut [f64], s: &[f64], y: &[f64], sy: f64) {
    let n = s.len();
    let rho = 1.0 / sy;
    let hy: Vec<f64> = (0..n)
        .map(|i| (0..n).map(|j| h[i * n + j] * y[j]).sum())
        .collect();
    let yhy = dot(y, &hy);
    for i in 0..n {
        for j in 0..n {
            h[i * n + j] += rho * ((1.0 + rho * yhy) * s[i] * s[j] - hy[i] * s[j] - s[i] * hy[j]);
        }
    }
}

fn flat(gradient: &[f64], tolerance: f64) -> bool {
    gradient.iter().all(|g| g.abs() <= tolerance)
}

fn identity(n: usize) -> Vec<f64> {
    (0..n * n)
        .map(|k| if k / n == k % n { 1.0 } else { 0.0 })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| p * q).sum()
}

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

    #[test]
    fn bfgs_finds_the_bottom_of_the_rosenbrock_valley_with_its_gradient() {
        let rosenbrock = |x: &[f64], g: &mut [f64]| {
            g[0] = -2.0 * (1.0 - x[0]) - 400.0 * x[0] * (x[1] - x[0] * x[0]);
            g[1] = 200.0 * (x[1] - x[0] * x[0]);
            (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2)
        };
        let (x, v) = minimize_with_gradient(rosenbrock, &[-1.2, 1.0]);
        assert!(
            (x[0] - 1.0).abs() < 1e-8 && (x[1] - 1.0).abs() < 1e-8,
            "{x:?}"
        );
        assert!(v < 1e-16);
    }

    #[test]
    fn bfgs_minimises_a_badly_scaled_quadratic_exactly() {
        // Curvatures 1 and 10⁶: steepest descent would crawl; BFGS learns the scale.
        let bowl = |x: &[f64], g: &mut [f64]| {
            g[0] = x[0] - 3.0;
            g[1] = 1e6 * (x[1] + 2.0);
            0.5 * (x[0] - 3.0).powi(2) + 0.5e6 * (x[1] + 2.0).powi(2)
        };
        let (x, _) = minimize_with_gradient(bowl, &[0.0, 0.0]);
        assert!(
            (x[0] - 3.0).abs() < 1e-9 && (x[1] + 2.0).abs() < 1e-12,
            "{x:?}"
        );
    }
}
