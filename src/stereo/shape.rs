//! Depth shaping for relative depth (`--depth-curve`, `--foreground-scale`): a monotonic
//! map from normalised nearness (0 far .. 1 near) to the nearness the shift is computed
//! from. Twin: `shape_nearness` in shaders/common.wgsl (the CPU warp and the per-frame
//! parameters call [`Shape::apply`]); tests/shader_validation.rs and the warp tests keep
//! the two equal.
//!
//! Every curve maps 0 to 0 and 1 to 1 and rises in between, so what is nearer stays
//! nearer (the z-buffer's order is kept) and only the spacing of depths changes.

use std::fmt;
use std::str::FromStr;

use super::uniforms::{CURVE_GAMMA, CURVE_INVERSE, CURVE_LINEAR, CURVE_SIGMOID, CURVE_SOFTPLUS};

/// `--depth-curve`: how normalised relative depth is reshaped before the shift.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum DepthCurve {
    /// As stored.
    #[default]
    Linear,
    /// `v^G`: G > 1 pushes the middle depths back (more room in front of the background,
    /// iw3's `pow2` is G = 2); G < 1 brings them forward.
    Gamma(f32),
    /// `v (1 + K) / (1 + K v)`: reads the depth as disparity of a scene whose farthest
    /// point is K + 1 times as far as its nearest, and makes the shift linear in distance
    /// instead, so the far range gets more depth (iw3's `div_*` mappers for inverse-depth
    /// models). Negative K (above -1) does the opposite.
    Inverse(f32),
    /// A logistic S-curve of steepness K around the middle: more depth within the subject's
    /// range, less between the nearest and farthest extremes.
    Sigmoid(f32),
    /// `softplus(K (v - 1))`, rescaled: the near range stays close to linear while the far
    /// range flattens, so a busy background no longer bulges (iw3's `softplus` mappers).
    Softplus(f32),
}

impl DepthCurve {
    pub const DEFAULT_GAMMA: f32 = 2.0;
    pub const DEFAULT_INVERSE: f32 = 4.0;
    pub const DEFAULT_SIGMOID: f32 = 6.0;
    pub const DEFAULT_SOFTPLUS: f32 = 4.0;

    /// Every kind with its default parameter (the preview's list).
    pub const ALL: [DepthCurve; 5] = [
        DepthCurve::Linear,
        DepthCurve::Gamma(Self::DEFAULT_GAMMA),
        DepthCurve::Inverse(Self::DEFAULT_INVERSE),
        DepthCurve::Sigmoid(Self::DEFAULT_SIGMOID),
        DepthCurve::Softplus(Self::DEFAULT_SOFTPLUS),
    ];

    /// The kind's name as typed (`gamma`), without the parameter.
    pub fn name(self) -> &'static str {
        match self {
            DepthCurve::Linear => "linear",
            DepthCurve::Gamma(_) => "gamma",
            DepthCurve::Inverse(_) => "inverse",
            DepthCurve::Sigmoid(_) => "sigmoid",
            DepthCurve::Softplus(_) => "softplus",
        }
    }

    /// The parameter, if the curve has one.
    pub fn parameter(self) -> Option<f32> {
        match self {
            DepthCurve::Linear => None,
            DepthCurve::Gamma(k)
            | DepthCurve::Inverse(k)
            | DepthCurve::Sigmoid(k)
            | DepthCurve::Softplus(k) => Some(k),
        }
    }

    /// The same kind with another parameter.
    pub fn with_parameter(self, k: f32) -> Self {
        match self {
            DepthCurve::Linear => DepthCurve::Linear,
            DepthCurve::Gamma(_) => DepthCurve::Gamma(k),
            DepthCurve::Inverse(_) => DepthCurve::Inverse(k),
            DepthCurve::Sigmoid(_) => DepthCurve::Sigmoid(k),
            DepthCurve::Softplus(_) => DepthCurve::Softplus(k),
        }
    }

    /// The range the parameter may take, and what it is called (for messages and the
    /// preview's slider).
    pub fn parameter_range(self) -> Option<(f32, f32, &'static str)> {
        match self {
            DepthCurve::Linear => None,
            DepthCurve::Gamma(_) => Some((0.2, 5.0, "G (exponent)")),
            DepthCurve::Inverse(_) => Some((-0.9, 50.0, "K (far/near - 1)")),
            DepthCurve::Sigmoid(_) => Some((0.5, 20.0, "K (steepness)")),
            DepthCurve::Softplus(_) => Some((0.5, 20.0, "K (far flattening)")),
        }
    }

    /// The shader's id and parameter.
    pub fn shader(self) -> (u32, f32) {
        match self {
            DepthCurve::Linear => (CURVE_LINEAR, 0.0),
            DepthCurve::Gamma(k) => (CURVE_GAMMA, k),
            DepthCurve::Inverse(k) => (CURVE_INVERSE, k),
            DepthCurve::Sigmoid(k) => (CURVE_SIGMOID, k),
            DepthCurve::Softplus(k) => (CURVE_SOFTPLUS, k),
        }
    }

    fn check(self) -> Result<Self, String> {
        match (self.parameter(), self.parameter_range()) {
            (Some(k), Some((lo, hi, what))) if !(k.is_finite() && (lo..=hi).contains(&k)) => {
                Err(format!(
                    "--depth-curve {}: {what} must be between {lo} and {hi}, got {k}",
                    self.name()
                ))
            }
            _ => Ok(self),
        }
    }
}

impl fmt::Display for DepthCurve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parameter() {
            None => f.write_str(self.name()),
            Some(k) => write!(f, "{}:{k}", self.name()),
        }
    }
}

impl FromStr for DepthCurve {
    type Err = String;

    /// `linear`, `gamma[:G]`, `inverse[:K]`, `sigmoid[:K]`, `softplus[:K]`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, value) = match s.split_once(':') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (s.trim(), None),
        };
        let curve = DepthCurve::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!(
                    "unknown depth curve {name:?}: use linear, gamma:G, inverse:K, sigmoid:K or softplus:K"
                )
            })?;
        let curve = match (curve, value) {
            (DepthCurve::Linear, Some(_)) => {
                return Err("the linear depth curve takes no parameter".into());
            }
            (c, None) => c,
            (c, Some(v)) => {
                let k: f32 = v
                    .parse()
                    .map_err(|_| format!("{v:?} is not a number (as in {}:2)", c.name()))?;
                c.with_parameter(k)
            }
        };
        curve.check()
    }
}

impl serde::Serialize for DepthCurve {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DepthCurve {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where `--foreground-scale` starts to act: nearness below it is left in place.
pub const FOREGROUND_PIVOT: f32 = 0.5;

/// The whole shaping of relative nearness: the curve, then the foreground scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub curve: DepthCurve,
    /// `--foreground-scale`: the slope of the nearest depth relative to the far range.
    /// 1 changes nothing; 2 doubles the spread of the near half at its near end; 0.5
    /// halves it. The far half (below [`FOREGROUND_PIVOT`]) stays where it was.
    pub foreground_scale: f32,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            curve: DepthCurve::Linear,
            foreground_scale: 1.0,
        }
    }
}

impl Shape {
    pub fn is_identity(&self) -> bool {
        self.curve == DepthCurve::Linear && self.foreground_scale == 1.0
    }

    /// Shaped nearness of normalised nearness `v` (0..1).
    pub fn apply(&self, v: f32) -> f32 {
        foreground(curve(self.curve, v), self.foreground_scale)
    }

    /// The shaping a [`DepthParams`](super::uniforms::DepthParams) describes (the CPU
    /// warp reads it back from there, as the shader does).
    pub fn from_shader(curve: u32, k: f32, foreground_scale: f32) -> Self {
        let curve = match curve {
            CURVE_GAMMA => DepthCurve::Gamma(k),
            CURVE_INVERSE => DepthCurve::Inverse(k),
            CURVE_SIGMOID => DepthCurve::Sigmoid(k),
            CURVE_SOFTPLUS => DepthCurve::Softplus(k),
            _ => DepthCurve::Linear,
        };
        Self {
            curve,
            foreground_scale,
        }
    }

    /// The largest shaped nearness (of `v = 1`): z-buffer keys are scaled by its inverse.
    pub fn max(&self) -> f32 {
        self.apply(1.0)
    }
}

/// The curve alone (`shape_curve` in common.wgsl, which computes every kind and selects).
pub fn curve(c: DepthCurve, v: f32) -> f32 {
    let x = v.max(0.0);
    match c {
        DepthCurve::Linear => x,
        DepthCurve::Gamma(g) => {
            if x > 0.0 {
                x.powf(g)
            } else {
                0.0
            }
        }
        DepthCurve::Inverse(k) => x * (1.0 + k) / (1.0 + x * k),
        DepthCurve::Sigmoid(k) => {
            let lo = sigmoid(-0.5 * k);
            let hi = sigmoid(0.5 * k);
            (sigmoid(k * (x - 0.5)) - lo) / (hi - lo)
        }
        DepthCurve::Softplus(k) => {
            let lo = softplus(-k);
            (softplus(k * (x - 1.0)) - lo) / (std::f32::consts::LN_2 - lo)
        }
    }
}

/// `v + (s - 1) t^2 / (2 (1 - p))` with `t = max(v - p, 0)`: continuous in value and
/// slope at the pivot `p`, with slope `s` at `v = 1`.
pub fn foreground(v: f32, s: f32) -> f32 {
    let t = (v - FOREGROUND_PIVOT).max(0.0);
    v + (s - 1.0) * t * t / (2.0 * (1.0 - FOREGROUND_PIVOT))
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// ln(1 + e^x) without overflow.
fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_curve_keeps_the_ends_and_the_order() {
        for c in DepthCurve::ALL.into_iter().chain([
            DepthCurve::Gamma(0.3),
            DepthCurve::Inverse(-0.8),
            DepthCurve::Inverse(30.0),
            DepthCurve::Sigmoid(18.0),
            DepthCurve::Softplus(0.6),
        ]) {
            assert!(curve(c, 0.0).abs() < 1e-5, "{c}: {}", curve(c, 0.0));
            assert!((curve(c, 1.0) - 1.0).abs() < 1e-5, "{c}: {}", curve(c, 1.0));
            let mut last = -1.0;
            for i in 0..=1000 {
                let y = curve(c, i as f32 / 1000.0);
                assert!(y > last, "{c} falls at {i}");
                last = y;
            }
        }
    }

    #[test]
    fn curves_are_their_formulas() {
        assert!((curve(DepthCurve::Gamma(2.0), 0.5) - 0.25).abs() < 1e-6);
        // Scene 5x as deep as near: the middle disparity is 1/3 of the way in distance.
        assert!((curve(DepthCurve::Inverse(4.0), 0.5) - 2.5 / 3.0).abs() < 1e-6);
        assert!((curve(DepthCurve::Sigmoid(6.0), 0.5) - 0.5).abs() < 1e-6);
        // Softplus at K = 4: (ln(1 + e^-2) - ln(1 + e^-4)) / (ln 2 - ln(1 + e^-4)).
        let want = ((1.0f64 + (-2.0f64).exp()).ln() - (1.0f64 + (-4.0f64).exp()).ln())
            / (2.0f64.ln() - (1.0f64 + (-4.0f64).exp()).ln());
        assert!((f64::from(curve(DepthCurve::Softplus(4.0), 0.5)) - want).abs() < 1e-6);
    }

    #[test]
    fn foreground_scale_moves_only_the_near_half() {
        for s in [0.25, 0.5, 2.0, 3.0] {
            for i in 0..=50 {
                let v = i as f32 / 100.0;
                assert_eq!(foreground(v, s), v);
            }
            // Slope s at the near end.
            let slope = (foreground(1.0, s) - foreground(0.999, s)) / 0.001;
            assert!((slope - s).abs() < 0.01, "{s}: {slope}");
        }
        assert_eq!(foreground(1.0, 2.0), 1.25);
    }

    #[test]
    fn parsing_and_printing_round_trip() {
        for text in [
            "linear",
            "gamma:2",
            "inverse:4",
            "sigmoid:6.5",
            "softplus:3",
        ] {
            let c: DepthCurve = text.parse().unwrap();
            assert_eq!(c.to_string(), text);
        }
        assert_eq!(
            "gamma".parse::<DepthCurve>().unwrap(),
            DepthCurve::Gamma(2.0)
        );
        assert_eq!(
            "Softplus".parse::<DepthCurve>().unwrap(),
            DepthCurve::Softplus(4.0)
        );
        for bad in [
            "cubic",
            "gamma:x",
            "gamma:0",
            "linear:2",
            "inverse:-1",
            "sigmoid:nan",
        ] {
            let e = bad.parse::<DepthCurve>().unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
    }
}
