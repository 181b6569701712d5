//! The stereo model both warps share (`crate::gpu` and `crate::cpu` are its two back
//! ends): what depth values mean ([`DepthKind`], [`DepthRange`]), the per-frame stereo
//! settings ([`StereoParams`]), and how they become one frame's shader parameters
//! ([`frame_params`]): the shift gain of each synthesised eye and the quantity that stays
//! at the screen plane. [`uniforms`] holds the structs and constants the WGSL shares.

pub mod shape;
pub mod uniforms;

pub use shape::{DepthCurve, Shape};

use uniforms::{
    DEPTH_DISPARITY, DEPTH_METRIC, DEPTH_RELATIVE, DepthParams, FILL_BACKGROUND, FILL_SCANLINE,
    WarpParams,
};

/// Which eye the input is, and which is synthesised.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Eye {
    /// The input is the left eye; the right eye is synthesised (the seeds' default).
    #[default]
    Right,
    /// The input is the right eye; the left eye is synthesised.
    Left,
    /// The input is the centre view; each eye is shifted by half the disparity.
    Both,
}

impl Eye {
    /// How many eyes are synthesised (1, or 2 for `Both`).
    pub fn synthesised(self) -> usize {
        if self == Eye::Both { 2 } else { 1 }
    }
}

/// What the values of a depth map mean (`--depth-kind`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum DepthKind {
    /// Relative inverse depth (near = bright), normalised per clip; disparity follows
    /// StereoCrafter: d = (2v - 1) * max_disp around the convergence.
    #[default]
    Relative,
    /// Distance in metres; the eyes are real cameras --ipd-mm apart with the given field of
    /// view (the metric depth toolbox's geometry).
    Metric,
    /// Disparity in pixels of the input view (stereo datasets, CG renders); no normalisation.
    Disparity,
}

impl DepthKind {
    /// The command-line spelling (`relative`, `metric`, `disparity`).
    pub fn name(self) -> &'static str {
        match self {
            DepthKind::Relative => "relative",
            DepthKind::Metric => "metric",
            DepthKind::Disparity => "disparity",
        }
    }

    pub fn shader_id(self) -> u32 {
        match self {
            DepthKind::Relative => DEPTH_RELATIVE,
            DepthKind::Metric => DEPTH_METRIC,
            DepthKind::Disparity => DEPTH_DISPARITY,
        }
    }
}

/// How disocclusions are filled (`--fill`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum FillMode {
    /// Each hole pixel copies the background-side pixel of its row (the seeds' smear).
    Scanline,
    /// Background-only blend of the row's background and the covered pixels above and
    /// below that are not nearer than it: no streaks, no foreground halo.
    #[default]
    Background,
    /// A learned inpainting model (`--inpaint-model`) repaints the holes, which the warp
    /// first fills as `background` does.
    Model,
}

impl FillMode {
    pub fn shader_id(self) -> u32 {
        match self {
            FillMode::Scanline => FILL_SCANLINE,
            FillMode::Background | FillMode::Model => FILL_BACKGROUND,
        }
    }
}

/// How depth smaller than the frame is enlarged (`--depth-upsample`): guided by the
/// frame's colours (joint bilateral), or bilinear.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DepthUpsample {
    #[default]
    Guided,
    Bilinear,
}

/// Camera geometry for metric depth (SPEC section 2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricCamera {
    /// Distance between the eyes in metres.
    pub ipd_m: f32,
    /// Focal length in pixels of the input frame: W / (2 tan(xfov / 2)).
    pub fx_px: f32,
    /// Distance that stays at the screen plane; None puts infinity there.
    pub convergence_m: Option<f32>,
}

impl Default for MetricCamera {
    fn default() -> Self {
        Self {
            ipd_m: 0.063,
            fx_px: 0.0,
            convergence_m: None,
        }
    }
}

impl MetricCamera {
    /// Focal length from a horizontal or vertical field of view (square pixels).
    pub fn fx_from_fov(
        width: u32,
        height: u32,
        xfov_deg: Option<f32>,
        yfov_deg: Option<f32>,
    ) -> Option<f32> {
        let half_tan = |deg: f32| (deg.to_radians() / 2.0).tan();
        match (xfov_deg, yfov_deg) {
            (Some(x), _) => Some(width as f32 / (2.0 * half_tan(x))),
            (None, Some(y)) => Some(height as f32 / (2.0 * half_tan(y))),
            (None, None) => None,
        }
    }
}

/// Per-frame stereo settings (all may change between frames, e.g. from the preview).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StereoParams {
    /// Relative depth: disparity of the nearest point, as StereoCrafter's max_disp:
    /// d = 2 (v - c) max.
    pub max_disparity_px: f32,
    /// Relative depth: nearness (0 far .. 1 near) that stays at the screen plane.
    pub convergence: f32,
    /// Disparity maps: the disparity (pixels of the input view) that stays at the screen
    /// plane. Its own field, so relative depth's 0.5 never becomes half a pixel here.
    pub convergence_px: f32,
    pub eye: Eye,
    /// Neighbours warped further apart than this become a hole rather than a stretched
    /// surface.
    pub max_stretch_px: f32,
    /// Metric depth: the cameras.
    pub camera: MetricCamera,
    /// Neighbours whose depth differs by more than this fraction (|dz|/z for metric
    /// depth) are not joined into a stretched surface: the gap becomes a hole.
    pub edge_threshold: f32,
    pub fill: FillMode,
    /// Grow the foreground in the depth map by this many pixels (0 = off).
    pub dilate_px: u32,
    /// Upsample lower-resolution depth guided by the frame's colours (joint bilateral), so
    /// depth edges follow image edges; false: plain bilinear.
    pub guided_upsample: bool,
    /// Relative depth: `--divergence`, the total disparity range in % of the frame width.
    /// When set it decides `max_disparity_px` for each clip ([`Self::for_width`]).
    pub divergence_pct: Option<f32>,
    /// Relative depth: `--depth-curve` and `--foreground-scale`.
    pub shape: Shape,
    /// `--preserve-border`: the shift eases to zero over this share of the width (in %)
    /// along the left and right edges.
    pub border_pct: Option<f32>,
}

impl Default for StereoParams {
    fn default() -> Self {
        Self {
            max_disparity_px: 20.0,
            convergence: 0.5,
            convergence_px: 0.0,
            eye: Eye::Right,
            max_stretch_px: 2.0,
            camera: MetricCamera::default(),
            edge_threshold: NO_EDGE_THRESHOLD,
            fill: FillMode::Background,
            dilate_px: 0,
            guided_upsample: true,
            divergence_pct: None,
            shape: Shape::default(),
            border_pct: None,
        }
    }
}

impl StereoParams {
    /// These settings for frames `width` pixels wide: `--divergence` becomes the
    /// disparity of the nearest point, half of the whole range (d = 2 (v - c) max).
    pub fn for_width(mut self, width: u32) -> Self {
        if let Some(pct) = self.divergence_pct {
            self.max_disparity_px = divergence_to_max_disp(pct, width);
        }
        self
    }

    /// The nearness relative depth puts at the screen plane: the convergence, shaped as
    /// the depth is.
    pub fn zero_nearness(&self) -> f32 {
        self.shape.apply(self.convergence)
    }
}

/// `--divergence PCT` (the whole disparity range, in % of `width`) as `--max-disp` pixels.
pub fn divergence_to_max_disp(pct: f32, width: u32) -> f32 {
    pct / 100.0 * width as f32 / 2.0
}

/// `--max-disp PX` as `--divergence` (% of `width`).
pub fn max_disp_to_divergence(px: f32, width: u32) -> f32 {
    2.0 * px / width.max(1) as f32 * 100.0
}

/// `edge_threshold` that never breaks a surface (edge removal off).
pub const NO_EDGE_THRESHOLD: f32 = 1e30;

/// How raw 16-bit depth values become the warp's depth quantity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DepthRange {
    pub kind: DepthKind,
    /// Relative: smallest and largest raw value of the clip, as fractions of 65535.
    pub min: f32,
    pub max: f32,
    /// Relative: the raw value grows with distance (true depth rather than inverse depth).
    pub far_is_bright: bool,
    /// Metric: metres per 16-bit step; disparity: pixels per 16-bit step.
    pub value_scale: f32,
    /// The depth texture holds the toolbox's RGB encoding (see depth::codec).
    pub rgb_encoded: bool,
    /// Largest depth quantity in the clip (1/metres of the nearest point, or the largest
    /// disparity); scales z-buffer keys. Relative depth uses 1.
    pub q_max: f32,
}

impl Default for DepthRange {
    fn default() -> Self {
        Self {
            kind: DepthKind::Relative,
            min: 0.0,
            max: 1.0,
            far_is_bright: false,
            value_scale: 0.0,
            rgb_encoded: false,
            q_max: 1.0,
        }
    }
}

impl DepthRange {
    fn params(
        &self,
        out: (u32, u32),
        raw: (u32, u32),
        dilate: (u32, u32),
        shape: &Shape,
    ) -> DepthParams {
        let span = self.max - self.min;
        let (curve, curve_k) = shape.curve.shader();
        DepthParams {
            out_size: [out.0, out.1],
            raw_size: [raw.0, raw.1],
            range_min: self.min,
            // A constant depth map has no range: the shader then puts everything at 0.5.
            range_scale: if span > 1e-7 { 1.0 / span } else { 0.0 },
            far_is_bright: u32::from(self.far_is_bright),
            kind: self.kind.shader_id(),
            value_scale: self.value_scale,
            dilate_px: dilate.0,
            rgb_encoded: u32::from(self.rgb_encoded),
            dilate_y_px: dilate.1,
            curve,
            curve_k,
            foreground_scale: shape.foreground_scale,
            _pad: 0,
        }
    }

    /// The depth quantity of a raw 16-bit value as depth_prep.wgsl computes it (without
    /// resampling or shaping): relative nearness 0..1, 1/metres, or pixels. None for
    /// unknown depth (a stored 0 in metric and disparity maps).
    pub fn quantity(&self, raw: u16) -> Option<f32> {
        let v = f32::from(raw);
        match self.kind {
            DepthKind::Relative => {
                let span = self.max - self.min;
                let n = if span > 1e-7 {
                    ((v / 65535.0 - self.min) / span).clamp(0.0, 1.0)
                } else {
                    0.5
                };
                Some(if self.far_is_bright { 1.0 - n } else { n })
            }
            _ if raw == 0 => None,
            DepthKind::Metric => Some(1.0 / (v * self.value_scale)),
            DepthKind::Disparity => Some(v * self.value_scale),
        }
    }

    /// Shift gain (pixels per unit of the depth quantity, for both eyes together) and the
    /// quantity that stays at the screen plane.
    fn full_gain_and_zero(&self, p: &StereoParams) -> (f32, f32) {
        match self.kind {
            // d = 2 (f(v) - f(c)) max_disp, f the shaping
            DepthKind::Relative => (2.0 * p.max_disparity_px, p.zero_nearness()),
            // d = fx * ipd * (1/z - 1/zc)
            DepthKind::Metric => (
                p.camera.fx_px * p.camera.ipd_m,
                p.camera.convergence_m.map_or(0.0, |z| 1.0 / z),
            ),
            DepthKind::Disparity => (1.0, p.convergence_px),
        }
    }

    /// The largest distance of the depth quantity from `zero` (the screen plane):
    /// times the gain, the largest shift. `shaped_max`: relative depth's largest shaped
    /// nearness.
    fn reach(&self, zero: f32, shaped_max: f32) -> f32 {
        let top = match self.kind {
            DepthKind::Relative => shaped_max,
            _ => self.q_max.max(0.0),
        };
        zero.abs().max((top - zero).abs())
    }

    /// Maps the depth quantity into 0..1 for z-buffer keys: shaped nearness may pass 1
    /// (a foreground scale above 1).
    fn key_scale(&self, shape: &Shape) -> f32 {
        if self.kind == DepthKind::Relative {
            1.0 / shape.max().max(1.0)
        } else if self.q_max <= 0.0 {
            1.0
        } else {
            1.0 / self.q_max
        }
    }
}

/// The disparity between the two eyes, in pixels of the input frame, of depth quantity
/// `q` ([`DepthRange::quantity`]) under `stereo` (for the frame's width): positive in
/// front of the screen (the eyes cross), negative behind it. The warp's shift away from
/// the frame's edges (where `--preserve-border` lowers it).
pub fn disparity_px(stereo: &StereoParams, range: &DepthRange, q: f32) -> f32 {
    let (full, zero) = range.full_gain_and_zero(stereo);
    let q = if range.kind == DepthKind::Relative {
        stereo.shape.apply(q)
    } else {
        q
    };
    full * (q - zero)
}

/// The disparity gain (pixels of the input frame between the eyes per unit of the depth
/// quantity, before shaping) and the quantity that stays at the screen plane: the stereo
/// pair as two cameras, which `crate::view3d` turns into geometry.
pub fn gain_and_screen(stereo: &StereoParams, range: &DepthRange) -> (f32, f32) {
    range.full_gain_and_zero(stereo)
}

/// `--preserve-border`'s band is at least this many times the largest shift.
pub const BORDER_PER_SHIFT: f32 = 1.6;

/// Horizontal shift per unit of the depth quantity for each synthesised eye, in the order
/// the eye targets are kept (left first). `full` is the gain for the whole eye distance.
fn shift_gains(eye: Eye, full: f32) -> Vec<f32> {
    match eye {
        // x_right = x_left - d
        Eye::Right => vec![-full],
        Eye::Left => vec![full],
        Eye::Both => vec![full / 2.0, -full / 2.0],
    }
}

/// One frame's shader parameters: depth preparation, and the warp of each synthesised
/// eye (left first). Shared by the GPU passes and the CPU warp.
pub struct FrameParams {
    pub depth: DepthParams,
    /// Upsample the depth guided by the frame (joint bilateral).
    pub guided: bool,
    pub eyes: Vec<WarpParams>,
}

/// Parameters for a frame of `frame_size` warped at `work` with depth of `depth_size`.
/// Settings are in frame pixels; the warp runs in work pixels, so they are scaled.
pub fn frame_params(
    stereo: &StereoParams,
    range: &DepthRange,
    frame_size: (u32, u32),
    work: (u32, u32),
    depth_size: (u32, u32),
) -> FrameParams {
    let scale = (
        work.0 as f32 / frame_size.0 as f32,
        work.1 as f32 / frame_size.1 as f32,
    );
    // A dilation of at least one pixel stays at least one pixel when scaled down.
    let scaled = |s: f32| match stereo.dilate_px {
        0 => 0,
        d => ((d as f32 * s).round() as u32).max(1),
    };
    let dilate = (scaled(scale.0), scaled(scale.1));
    let (full, zero) = range.full_gain_and_zero(stereo);
    // Only relative depth is shaped.
    let shape = if range.kind == DepthKind::Relative {
        stereo.shape
    } else {
        Shape::default()
    };
    let border_px = stereo.border_pct.map_or(0.0, |pct| {
        // The easing's steepest slope is 1.5 shift / band: a band narrower than 1.6 times
        // the largest shift would fold the picture over itself (or stretch it into holes)
        // at the edges, so it is widened to that.
        let largest = full.abs() * scale.0 * range.reach(zero, shape.max());
        (pct / 100.0 * work.0 as f32).max(BORDER_PER_SHIFT * largest)
    });
    let eyes = shift_gains(stereo.eye, full * scale.0)
        .into_iter()
        .map(|gain| WarpParams {
            size: [work.0, work.1],
            shift_gain_px: gain,
            zero_nearness: zero,
            max_stretch_px: stereo.max_stretch_px,
            key_scale: range.key_scale(&shape),
            edge_threshold: stereo.edge_threshold,
            fill_mode: stereo.fill.shader_id(),
            border_px,
            _pad: 0,
        })
        .collect();
    // Guided upsampling costs four more loads per pixel; only pay them when the depth is
    // actually enlarged (a full-size depth map is only averaged down to a half-size warp).
    let enlarged = depth_size.0 < work.0 || depth_size.1 < work.1;
    FrameParams {
        depth: range.params(work, depth_size, dilate, &shape),
        guided: stereo.guided_upsample && enlarged,
        eyes,
    }
}
