//! One frame's warp and compose on either device, built and checked the same way for
//! `render` and the preview: what the warp is built for ([`WarpSpec`]), where it runs
//! ([`choose_device`]), the stereo settings of each frame and their limits
//! ([`frame_stereo`]), and each device's warper and composer ([`GpuWarp`], [`CpuWarp`]).

use super::{RenderError, RenderJob, WarpDevice};
use crate::comfort::FrameFigures;
use crate::cpu::{CpuComposer, CpuWarper, MAX_WARP_WIDTH};
use crate::depth::prerendered::RawExtremes;
use crate::gpu::{Composer, GpuContext, Warper};
use crate::layout::{Anaglyph, Canvas, Layout};
use crate::media::encode::FrameInput;
use crate::stereo::{DepthKind, Eye, MetricCamera, StereoParams};

/// What a warp and compose are built for: fixed for a clip and a layout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WarpSpec {
    /// Decoded frames, and the raw depth that goes with them.
    pub frame: (u32, u32),
    pub depth: (u32, u32),
    /// Where the warp runs: the frame size, or the size each eye is shown at.
    pub work: (u32, u32),
    /// The composed output (even sides for 4:2:0 encoders when `even`).
    pub out: (u32, u32),
    pub layout: Layout,
    pub anaglyph: Anaglyph,
    pub eye: Eye,
    pub even: bool,
    /// The depth is the metric depth toolbox's RGB encoding.
    pub rgb_depth: bool,
    /// The frame each eye is shown in when the picture is only part of it (`--autocrop`
    /// keeping the bars); None: the picture is the frame.
    pub canvas: Option<Canvas>,
    /// `--vr-screen-fov`, `--vr-fill` (`--layout vr180`).
    pub vr: crate::vr180::VrPlacement,
    /// How precisely colour is held: half floats for an HDR source kept as HDR (GPU only).
    pub precision: crate::gpu::Precision,
}

impl WarpSpec {
    /// `job`'s frames of `frame` size and depth of `depth` size, composed in `layout`.
    pub fn new(
        job: &RenderJob,
        layout: Layout,
        frame: (u32, u32),
        depth: (u32, u32),
        even: bool,
    ) -> Result<Self, RenderError> {
        let (out, _) = layout.frame_sizes(frame, even);
        if out.0 == 0 || out.1 == 0 {
            return Err(RenderError::Invalid(format!(
                "{}: a {}x{} input leaves no pixels in the --layout {} output; use another --layout",
                job.input.display(),
                frame.0,
                frame.1,
                layout.name()
            )));
        }
        Ok(Self {
            frame,
            depth,
            work: job.warp_size(layout, frame),
            out,
            layout,
            anaglyph: job.anaglyph,
            eye: job.stereo.eye,
            even,
            rgb_depth: job.depth_rgb,
            canvas: None,
            vr: job.vr,
            precision: crate::gpu::Precision::Unorm8,
        })
    }

    /// This spec with the picture shown inside `canvas` (bars around it) in the layouts
    /// that show the eyes; the output grows to the canvas's size.
    pub fn in_canvas(mut self, canvas: Option<Canvas>) -> Self {
        let canvas = canvas.filter(|c| !c.is_whole());
        self.canvas = canvas;
        if let Some(c) = canvas.filter(|_| self.layout.shows_eyes()) {
            self.out = self.layout.frame_sizes(c.size, self.even).0;
        }
        self
    }

    /// Size of the frame the eyes are shown in: the canvas, or the picture.
    pub fn shown_frame(&self) -> (u32, u32) {
        match self.canvas {
            Some(c) if self.layout.shows_eyes() => c.size,
            _ => self.frame,
        }
    }
}

/// Where frames warp and compose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Gpu,
    Cpu,
}

/// Where `job`'s frames of `spec` warp on `ctx`: as `--warp-device` says, and on the CPU
/// for frames too large for the GPU's textures or buffers when the job allows it. With
/// `display`, the composed frame must fit the GPU whichever device warps (the preview
/// shows the GPU composer's texture), so no such fallback is offered.
pub fn choose_device(
    ctx: &GpuContext,
    job: &RenderJob,
    spec: &WarpSpec,
    display: bool,
) -> Result<Device, RenderError> {
    let mut on_cpu = job.warps_on_cpu(ctx.is_software())?;
    if spec.precision != crate::gpu::Precision::Unorm8 {
        // The CPU warp holds 8-bit colour; an HDR source kept as HDR warps at 16 bits.
        if job.warp_device == WarpDevice::Cpu {
            return Err(RenderError::Invalid(
                "an HDR source kept as HDR warps at 16-bit precision on the GPU; leave out \
                 --warp-device cpu, or give --hdr tonemap for an SDR output"
                    .into(),
            ));
        }
        on_cpu = false;
    }
    if let Err(e) = ctx.check_frame_fits(spec.frame, spec.depth, spec.out) {
        if display {
            return Err(RenderError::Invalid(format!(
                "the preview cannot show {}x{} frames in this layout: {}. Try a half layout, \
                 or `stereosplat render`, which warps frames too large for the GPU on the CPU",
                spec.frame.0,
                spec.frame.1,
                e.limit_exceeded()
            )));
        }
        if !on_cpu {
            if !job.falls_back_to_cpu() || spec.work.0 > MAX_WARP_WIDTH {
                return Err(e.into());
            }
            // The same warp on the CPU has no texture or buffer limits: slower, but it
            // renders.
            log::warn!(
                "{}: {}x{} frames are too large for the GPU warp ({}); warping them on the CPU \
                 instead, which is slower",
                job.input.display(),
                spec.frame.0,
                spec.frame.1,
                e.limit_exceeded()
            );
            on_cpu = true;
        }
    }
    if on_cpu && spec.work.0 > MAX_WARP_WIDTH {
        // The CPU warp allocates no GPU textures or buffers, so only its own limit counts.
        return Err(RenderError::Invalid(format!(
            "{}: a {}x{} input warps {} pixels wide in the --layout {} output, and the warp \
             handles at most {MAX_WARP_WIDTH} (its z-buffer keeps the source column in 14 \
             bits); use a half layout or a smaller input",
            job.input.display(),
            spec.frame.0,
            spec.frame.1,
            spec.work.0,
            spec.layout.name(),
        )));
    }
    Ok(if on_cpu { Device::Cpu } else { Device::Gpu })
}

/// The stereo settings for `job`'s frames of `frame` size: the focal length from the field
/// of view, and the limits every frame keeps (relative depth's disparity at most half the
/// width). Called whenever the settings change, by the render and by the preview.
pub fn frame_stereo(job: &RenderJob, frame: (u32, u32)) -> Result<StereoParams, RenderError> {
    let mut stereo = job.stereo.for_width(frame.0);
    if let Some(fx) = MetricCamera::fx_from_fov(frame.0, frame.1, job.xfov_deg, job.yfov_deg) {
        stereo.camera.fx_px = fx;
    }
    let half = frame.0 as f32 / 2.0;
    if job.depth_kind == DepthKind::Relative && stereo.max_disparity_px > half {
        return Err(RenderError::Invalid(format!(
            "--max-disp {} is more than half the frame width ({} px): nothing sensible can be \
             shown; use a value of at most {half}",
            stereo.max_disparity_px, frame.0
        )));
    }
    Ok(stereo)
}

/// The strength of relative depth in both units, for the log and the preview:
/// "max disparity 19.2 px = divergence 2.00 % of 1920 px", naming the one the user gave.
pub fn describe_strength(stereo: &StereoParams, width: u32) -> String {
    let px = stereo.for_width(width).max_disparity_px;
    let pct = crate::stereo::max_disp_to_divergence(px, width);
    match stereo.divergence_pct {
        Some(_) => format!("--divergence {pct:.2} % = max disparity {px:.1} px at {width} px wide"),
        None => format!("--max-disp {px:.1} px = divergence {pct:.2} % of {width} px"),
    }
}

/// One frame's parallax from its depth frame's extremes under the frame's settings.
pub fn frame_figures(
    stereo: &crate::stereo::StereoParams,
    range: &crate::stereo::DepthRange,
    extremes: RawExtremes,
    index: u64,
    pts_nanos: u64,
) -> FrameFigures {
    use crate::stereo::{DepthKind, disparity_px};
    let (lo, hi) = match range.kind {
        DepthKind::Relative => (Some(extremes.min), extremes.max),
        // A stored 0 is unknown depth, never drawn.
        _ => (extremes.min_nonzero, extremes.max),
    };
    let (near_px, far_px) = match lo.and_then(|lo| Some((range.quantity(lo)?, range.quantity(hi)?)))
    {
        Some((a, b)) => {
            let (a, b) = (
                disparity_px(stereo, range, a),
                disparity_px(stereo, range, b),
            );
            (a.max(b), a.min(b))
        }
        None => (0.0, 0.0),
    };
    let convergence = match range.kind {
        DepthKind::Relative => stereo.convergence,
        DepthKind::Metric => stereo.camera.convergence_m.unwrap_or(f32::INFINITY),
        DepthKind::Disparity => stereo.convergence_px,
    };
    FrameFigures {
        frame: index,
        time_s: pts_nanos as f64 / 1e9,
        near_px,
        far_px,
        convergence,
    }
}

/// The GPU's warper and composer.
pub struct GpuWarp {
    pub warper: Warper,
    pub composer: Composer,
}

impl GpuWarp {
    /// Pipelines for `job`'s shaders and `--post` file, holding colour at `precision`.
    pub fn new(
        ctx: &GpuContext,
        job: &RenderJob,
        precision: crate::gpu::Precision,
    ) -> Result<Self, RenderError> {
        let warper = Warper::with_precision(ctx, &job.shaders, precision)?;
        let mut composer = Composer::with_precision(ctx, &job.shaders, precision)?;
        if let Some(post) = &job.post {
            composer.set_post(ctx, Some(post))?;
        }
        Ok(Self { warper, composer })
    }

    /// Textures and bind groups for `spec` (kept when they already fit).
    pub fn prepare(&mut self, ctx: &GpuContext, spec: &WarpSpec) -> Result<(), RenderError> {
        self.warper.set_rgb_depth(spec.rgb_depth);
        self.warper
            .prepare_at(ctx, spec.frame, spec.depth, spec.eye, spec.work);
        self.composer.set_canvas(spec.canvas);
        self.composer.set_vr(spec.vr);
        self.composer
            .prepare(ctx, &self.warper, spec.layout, spec.anaglyph, spec.even)?;
        Ok(())
    }
}

/// The CPU's warper and composer for one [`WarpSpec`].
pub struct CpuWarp {
    pub warper: CpuWarper,
    pub composer: CpuComposer,
    pub spec: WarpSpec,
}

impl CpuWarp {
    /// The warp for `spec`, composing into frames of the encoder's `input` format.
    pub fn new(spec: &WarpSpec, input: FrameInput) -> Self {
        Self {
            warper: CpuWarper::new(spec.frame, spec.depth, spec.eye, spec.work),
            composer: {
                let composer = CpuComposer::new(
                    spec.layout,
                    spec.anaglyph,
                    spec.frame,
                    spec.work,
                    spec.even,
                    input,
                );
                let composer = composer.with_vr(spec.vr);
                match spec.canvas {
                    Some(c) if spec.layout.shows_eyes() => composer.with_canvas(c),
                    _ => composer,
                }
            },
            spec: *spec,
        }
    }
}

/// Logs once per render why the warp runs on the CPU when `--warp-device auto` chose it.
pub fn log_device(ctx: &GpuContext, job: &RenderJob, device: Device) {
    if device == Device::Cpu
        && job.warp_device == WarpDevice::Auto
        && job.warps_on_cpu(ctx.is_software()).unwrap_or(false)
    {
        log::info!(
            "warping on the CPU: the only GPU is a software rasteriser ({}), where the shaders cost more; --warp-device gpu uses it anyway",
            ctx.describe()
        );
    }
}
