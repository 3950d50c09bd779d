//! The post-transforms of ONNX-ML's tree ensembles, applied to a row's aggregated scores:
//! NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO (zeros stay zero) and PROBIT (the standard normal
//! quantile, through libm's `erf`).

use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::{bail, TractResult};

use super::attributes::strings;

/// What is applied to the aggregated scores of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    pub fn parse(node: &NodeProto) -> TractResult<PostTransform> {
        let text = strings(node, "post_transform")?;
        Ok(match text.first().map(String::as_str).unwrap_or("NONE") {
            "NONE" => PostTransform::None,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX" => PostTransform::Softmax,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => PostTransform::Probit,
            other => bail!("unknown post_transform {other:?}"),
        })
    }

    /// Applies the transform to one row's scores, in place.
    pub fn apply(self, scores: &mut [f64]) {
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
            PostTransform::Softmax => softmax(scores, false),
            PostTransform::SoftmaxZero => softmax(scores, true),
            PostTransform::Probit => scores.iter_mut().for_each(|s| *s = probit(*s)),
        }
    }
}

pub fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Softmax; with `skip_zeros`, a score of exactly zero stays zero (SOFTMAX_ZERO).
fn softmax(scores: &mut [f64], skip_zeros: bool) {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        if skip_zeros && *s == 0.0 {
            continue;
        }
        *s = (*s - max).exp();
        sum += *s;
    }
    if sum > 0.0 {
        scores.iter_mut().for_each(|s| *s /= sum);
    }
}

/// The standard normal quantile of `p`: √2 · erfinv(2p − 1).
pub fn probit(p: f64) -> f64 {
    std::f64::consts::SQRT_2 * erf_inv(2.0 * p - 1.0)
}

/// The inverse error function: Winitzki's closed form as a start, then Newton steps on
/// libm's `erf` to full double precision.
fn erf_inv(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= -1.0 {
        return f64::NEG_INFINITY;
    }
    if x >= 1.0 {
        return f64::INFINITY;
    }
    const A: f64 = 0.147;
    let ln = ((1.0 - x) * (1.0 + x)).ln();
    let first = 2.0 / (std::f64::consts::PI * A) + ln / 2.0;
    let mut y = x.signum() * ((first * first - ln / A).sqrt() - first).sqrt();
    for _ in 0..4 {
        let error = libm::erf(y) - x;
        y -= error / (std::f64::consts::FRAC_2_SQRT_PI * (-y * y).exp());
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probit_is_the_standard_normal_quantile() {
        // Quantiles to 1e-12 (scipy.special.ndtri).
        for (p, z) in [
            (0.5, 0.0),
            (0.975, 1.959_963_984_540_054),
            (0.1, -1.281_551_565_544_600_5),
            (0.999, 3.090_232_306_167_813),
            (1e-6, -4.753_424_308_822_899),
        ] {
            assert!(
                (probit(p) - z).abs() < 1e-9,
                "probit({p}) = {}, not {z}",
                probit(p)
            );
        }
        assert_eq!(probit(0.0), f64::NEG_INFINITY);
        assert_eq!(probit(1.0), f64::INFINITY);
        assert!(probit(f64::NAN).is_nan());
    }

    #[test]
    fn post_transforms_follow_the_spec() {
        let mut scores = [1.0, 0.0, -1.0];
        PostTransform::Softmax.apply(&mut scores);
        let total: f64 = [1f64, 0.0, -1.0].iter().map(|s| s.exp()).sum();
        assert!((scores[0] - 1f64.exp() / total).abs() < 1e-15);
        assert!((scores.iter().sum::<f64>() - 1.0).abs() < 1e-15);

        // SOFTMAX_ZERO leaves exact zeros at zero and normalises the rest.
        let mut scores = [1.0, 0.0, -1.0];
        PostTransform::SoftmaxZero.apply(&mut scores);
        assert_eq!(scores[1], 0.0);
        assert!((scores[0] + scores[2] - 1.0).abs() < 1e-15);

        let mut scores = [0.0, 2.0];
        PostTransform::Logistic.apply(&mut scores);
        assert_eq!(scores[0], 0.5);
        assert!((scores[1] - 1.0 / (1.0 + (-2f64).exp())).abs() < 1e-15);

        let mut scores = [0.975];
        PostTransform::Probit.apply(&mut scores);
        assert!((scores[0] - 1.959_963_984_540_054).abs() < 1e-9);
    }
}
