//! The special functions the lifetime-value models need: log-gamma (from `libm`), its
//! derivative the digamma function (for the likelihoods' gradients), and the Gauss
//! hypergeometric function ₂F₁ by its series.

/// ln Γ(x) for x > 0.
pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// ψ(x) = d/dx ln Γ(x) for x > 0.
///
/// Steps x up with ψ(x) = ψ(x + 1) − 1/x until it is at least 10, where the asymptotic
/// series ln x − 1/(2x) − Σ B₂ₖ / (2k x²ᵏ) is accurate to double precision in six terms.
pub fn digamma(x: f64) -> f64 {
    let mut x = x;
    let mut shift = 0.0;
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let inv2 = 1.0 / (x * x);
    // B₂ₖ / 2k for k = 1..6, innermost last (Horner in 1/x²).
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2
                                * (1.0 / 240.0 - inv2 * (1.0 / 132.0 - inv2 * 691.0 / 32760.0)))));
    shift + x.ln() - 0.5 / x - series
}

/// ₂F₁(a, b; c; z) for 0 ≤ z < 1, summed term by term until the terms stop mattering.
///
/// The models only call it with z = t / (α + T + t), which stays well below 1 for any
/// fitted α, so the series converges in tens to hundreds of terms.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    debug_assert!((0.0..1.0).contains(&z), "z = {z}");
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..100_000 {
        let k = f64::from(k);
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term.abs() <= 1e-15 * sum.abs() {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_gamma_matches_factorials() {
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn digamma_matches_known_values_and_the_slope_of_log_gamma() {
        let euler_gamma = 0.577_215_664_901_532_9;
        assert!(
            (digamma(1.0) + euler_gamma).abs() < 1e-14,
            "{}",
            digamma(1.0) + euler_gamma
        );
        assert!((digamma(0.5) + euler_gamma + 2.0 * 2f64.ln()).abs() < 1e-14);
        // ψ(n) = H(n−1) − γ
        let h9: f64 = (1..10).map(|k| 1.0 / f64::from(k)).sum();
        assert!((digamma(10.0) - (h9 - euler_gamma)).abs() < 1e-14);
        for x in [0.013, 0.24, 2.4, 7.9, 85.0, 1234.5] {
            let h = 1e-5 * x;
            let slope = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert!(
                (digamma(x) - slope).abs() < 1e-6 * (1.0 + slope.abs()),
                "{x}"
            );
        }
    }

    #[test]
    fn hypergeometric_matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z
        let z = 0.6;
        assert!((hyp2f1(1.0, 1.0, 2.0, z) - (-(1.0f64 - z).ln() / z)).abs() < 1e-12);
        // ₂F₁(a, b; b; z) = (1 − z)^−a
        assert!((hyp2f1(2.5, 3.0, 3.0, 0.3) - 0.7f64.powf(-2.5)).abs() < 1e-12);
        assert_eq!(hyp2f1(2.0, 3.0, 4.0, 0.0), 1.0);
    }
}
