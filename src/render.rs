//! One render job from start to end: decode -> depth -> GPU warp and compose -> readback
//! -> encode, one frame at a time with a few frames in flight, so memory stays flat however
//! long the clip is. The CLI, `batch`, the preview's render button and the bench all come
//! through [`render`].

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::control::{Cancel, Stopped};
use crate::cpu::{CpuComposer, CpuJob, CpuOutput, CpuPipeline, CpuWarper, DepthFormat};
use crate::depth::estimate::{self, EstimateOptions, Estimated};
use crate::depth::scan::ScanNeed;
use crate::depth::{self, DepthScan, DepthStream};
use crate::frame::FramePixels;
use crate::fsutil::Named;
use crate::gpu::{Composer, GpuContext, PassTimer, Readback, ShaderSet, Warper, YuvPacker};
use crate::layout::{Anaglyph, Layout, WarpResolution, tagged_stem};
use crate::media::decode::{ColourConvert, DecodeOptions, Decoder};
use crate::media::encode::{Container, EncodeSettings, Encoder, FrameInput};
use crate::progress::Progress;
use crate::stereo::{DepthKind, MetricCamera, StereoParams, frame_params};
use crate::trace::{CpuProfile, CpuReport, Span, write_chrome_trace};

/// Everything one render needs; the CLI flags map onto it one to one.
#[derive(Clone, Debug)]
pub struct RenderJob {
    pub input: PathBuf,
    pub output: PathBuf,
    /// Pre-rendered depth; None looks for `<stem>_depth.<ext>` beside the input.
    pub depth: Option<PathBuf>,
    /// The depth file stores distance (far = bright) rather than inverse depth.
    pub depth_far_is_bright: bool,
    pub depth_kind: DepthKind,
    /// Metres or pixels per stored depth step (metric / disparity).
    pub depth_scale: Option<f32>,
    /// The depth is the metric depth toolbox's RGB encoding (with `max_depth_m`).
    pub depth_rgb: bool,
    /// Metric: metres at the largest stored value when no scale is given.
    pub max_depth_m: f32,
    /// Metric: camera field of view in degrees (one of them is needed).
    pub xfov_deg: Option<f32>,
    pub yfov_deg: Option<f32>,
    pub stereo: StereoParams,
    pub layout: Layout,
    pub anaglyph: Anaglyph,
    pub encode: EncodeSettings,
    /// Metric: per-frame convergence distances (one per input frame) and their smoothing.
    pub convergence_file: Option<PathBuf>,
    pub convergence_smooth_frames: u32,
    /// Also write the infill mask video here (`--mask-out`).
    pub mask_out: Option<PathBuf>,
    /// Append the player tag of the layout to the output name.
    pub name_tags: bool,
    /// Render at most this many frames.
    pub frames: Option<u64>,
    pub start_secs: f64,
    pub audio: bool,
    pub shaders: ShaderSet,
    /// How depth is estimated when there is no depth file (`--depth-model`, or the
    /// built-in cues).
    pub estimate: EstimateOptions,
    /// `--post FILE.wgsl`: a user `post()` function replacing the layout's packing.
    pub post: Option<PathBuf>,
    /// `--warp-resolution`: warp at the size the eyes are shown at, or the input's.
    pub warp_resolution: WarpResolution,
    /// `--preset FILE.toml` the settings came from (read, so never written).
    pub preset: Option<PathBuf>,
    /// `--trace FILE.json`: write a Chrome trace of the render (CPU per stage, loop waits).
    pub trace: Option<PathBuf>,
    /// `--colour-convert`: where decoded YUV becomes RGB.
    pub colour_convert: ColourConvert,
    /// `--warp-device`: warp and compose on the GPU or the CPU.
    pub warp_device: WarpDevice,
}

/// Where the warp and compose run (`--warp-device`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum WarpDevice {
    /// The CPU when the adapter is a software rasteriser such as lavapipe (its shaders
    /// cost several times the CPU) and the job needs nothing GPU-only; else the GPU.
    #[default]
    Auto,
    /// The WGSL shaders on the chosen adapter.
    Gpu,
    /// The same warp on the CPU's cores (src/cpu/).
    Cpu,
}

impl RenderJob {
    /// The size the warp runs at for `layout` and input frames of `frame` size. A post
    /// shader reads the eyes at output coordinates, so it always gets full-size eyes.
    pub fn warp_size(&self, layout: Layout, frame: (u32, u32)) -> (u32, u32) {
        if self.post.is_some() {
            frame
        } else {
            self.warp_resolution.work_size(layout, frame.0, frame.1)
        }
    }
}

impl Default for RenderJob {
    fn default() -> Self {
        Self {
            input: PathBuf::new(),
            output: PathBuf::new(),
            depth: None,
            depth_far_is_bright: false,
            depth_kind: DepthKind::Relative,
            depth_scale: None,
            depth_rgb: false,
            max_depth_m: 20.0,
            xfov_deg: None,
            yfov_deg: None,
            stereo: StereoParams::default(),
            layout: Layout::Sbs,
            anaglyph: Anaglyph::Dubois,
            encode: EncodeSettings::default(),
            name_tags: false,
            mask_out: None,
            convergence_file: None,
            convergence_smooth_frames: 1,
            frames: None,
            start_secs: 0.0,
            audio: true,
            shaders: ShaderSet::Embedded,
            estimate: EstimateOptions::default(),
            post: None,
            warp_resolution: WarpResolution::Output,
            trace: None,
            preset: None,
            colour_convert: ColourConvert::Auto,
            warp_device: WarpDevice::Auto,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RenderReport {
    pub output: PathBuf,
    pub frames: u64,
    pub seconds: f64,
    pub size: (u32, u32),
    pub audio: bool,
    pub stages: StageTimes,
    /// CPU time per stage, from every thread (the warp's own cost on a software GPU).
    pub cpu: CpuReport,
}

impl RenderJob {
    /// What in this job only the GPU warp can do, if anything (the flag to name).
    pub fn gpu_only_feature(&self) -> Option<&'static str> {
        let squeezes_after_warp = self.warp_resolution == WarpResolution::Input
            && self.layout.shown_eye_size(2, 2) != (2, 2);
        if self.post.is_some() {
            Some("--post (user shaders run on the GPU)")
        } else if matches!(self.shaders, ShaderSet::Directory(_)) {
            Some("--shader-dir (the shaders are the GPU's)")
        } else if self.mask_out.is_some() {
            Some("--mask-out")
        } else if matches!(self.layout, Layout::Grid | Layout::Depth | Layout::Holes) {
            Some("--layout grid, depth and holes (inspection views)")
        } else if squeezes_after_warp {
            Some("--warp-resolution input with a half-width or half-height layout")
        } else if self.colour_convert == ColourConvert::Gpu {
            Some("--colour-convert gpu")
        } else {
            None
        }
    }

    /// Whether frames too large for the GPU's textures or buffers warp on the CPU
    /// instead: with `--warp-device auto`, when nothing in the job needs the GPU.
    pub fn falls_back_to_cpu(&self) -> bool {
        self.warp_device == WarpDevice::Auto && self.gpu_only_feature().is_none()
    }

    /// Whether this job warps on the CPU, on an adapter that is `software` or not.
    pub fn warps_on_cpu(&self, software: bool) -> anyhow::Result<bool> {
        let blocker = self.gpu_only_feature();
        match (self.warp_device, blocker) {
            (WarpDevice::Gpu, _) => Ok(false),
            (WarpDevice::Auto, _) => Ok(software && blocker.is_none()),
            (WarpDevice::Cpu, None) => Ok(true),
            (WarpDevice::Cpu, Some(feature)) => bail!(
                "--warp-device cpu cannot do {feature}; leave out one of the two (--warp-device auto picks the GPU for it)"
            ),
        }
    }

    /// The output path after `--name-tags`.
    pub fn final_output(&self) -> PathBuf {
        if !self.name_tags {
            return self.output.clone();
        }
        let stem = self
            .output
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut name = tagged_stem(&stem, self.layout);
        if let Some(ext) = self.output.extension() {
            name.push('.');
            name.push_str(&ext.to_string_lossy());
        }
        self.output.with_file_name(name)
    }

    /// Checks the settings (not the paths): shared by every file of a batch.
    pub fn validate_settings(&self) -> anyhow::Result<()> {
        self.warps_on_cpu(false)?;
        self.encode
            .encoder
            .resolve(self.encode.bit_depth)
            .map_err(|m| anyhow::anyhow!(m))?;
        if let Some(post) = &self.post
            && !post.is_file()
        {
            bail!(
                "--post {}: no such file (a WGSL file defining fn post(p: vec2<u32>) -> vec4<f32>)",
                post.display()
            );
        }
        if self.estimate.model.is_some() && self.depth.is_none() {
            estimate::validate(&self.estimate)?;
        }
        let s = &self.stereo;
        if !s.max_disparity_px.is_finite() || s.max_disparity_px < 0.0 {
            bail!(
                "--max-disp must be a number >= 0 (pixels), got {}",
                s.max_disparity_px
            );
        }
        if !s.convergence.is_finite() {
            bail!(
                "--convergence must be a number (0 = far plane at the screen, 1 = near plane), got {}",
                s.convergence
            );
        }
        if !s.max_stretch_px.is_finite() || s.max_stretch_px < 1.0 {
            bail!(
                "--max-stretch must be a number >= 1 (pixels), got {}",
                s.max_stretch_px
            );
        }
        if !self.start_secs.is_finite() || self.start_secs < 0.0 {
            bail!(
                "--start must be a number of seconds >= 0, got {}",
                self.start_secs
            );
        }
        let positive = |v: f32| v.is_finite() && v > 0.0;
        if !positive(s.camera.ipd_m) {
            bail!(
                "--ipd-mm must be a distance > 0 in millimetres, got {}",
                s.camera.ipd_m * 1000.0
            );
        }
        if s.camera.convergence_m.is_some_and(|z| !positive(z)) {
            bail!("--convergence-depth must be a distance > 0 in metres");
        }
        for (name, fov) in [("--xfov", self.xfov_deg), ("--yfov", self.yfov_deg)] {
            if fov.is_some_and(|f| !(f.is_finite() && f > 0.0 && f < 180.0)) {
                bail!("{name} must be an angle in degrees between 0 and 180");
            }
        }
        if s.dilate_px > MAX_DILATE_PX {
            bail!(
                "--dilate must be at most {MAX_DILATE_PX} pixels, got {}",
                s.dilate_px
            );
        }
        if !positive(s.edge_threshold) {
            bail!(
                "--edge-threshold must be a fraction > 0 (e.g. 0.03), got {}",
                s.edge_threshold
            );
        }
        if self.depth_scale.is_some_and(|v| !positive(v)) {
            bail!("--depth-scale must be a number > 0");
        }
        if !positive(self.max_depth_m) {
            bail!("--max-depth must be a distance > 0 in metres");
        }
        if self.convergence_file.is_some() && self.depth_kind != DepthKind::Metric {
            bail!(
                "--convergence-depth-file needs --depth-kind metric (use --convergence for relative depth)"
            );
        }
        if self.convergence_file.is_some() && s.camera.convergence_m.is_some() {
            bail!("give either --convergence-depth or --convergence-depth-file, not both");
        }
        if self.depth_rgb && self.depth_kind != DepthKind::Metric {
            bail!(
                "--depth-rgb is the metric depth toolbox's encoding: use it with --depth-kind metric and its --max-depth"
            );
        }
        if self.depth_rgb && self.depth_scale.is_some() {
            bail!("--depth-rgb fixes the scale from --max-depth; leave out --depth-scale");
        }
        if self.depth_kind == DepthKind::Metric
            && self.xfov_deg.is_none()
            && self.yfov_deg.is_none()
        {
            bail!(
                "metric depth needs the camera's field of view: pass --xfov DEG or --yfov DEG \
                 (a phone's main camera is about 65-75 degrees wide; a 50 mm lens on full frame about 40)"
            );
        }
        if self.frames == Some(0) {
            bail!("--frames must be at least 1");
        }
        if self.encode.crf > 51 {
            bail!("--crf must be between 0 and 51, got {}", self.encode.crf);
        }
        if !crate::media::encode::SPEED_PRESETS.contains(&self.encode.speed_preset.as_str()) {
            bail!(
                "--speed-preset {} is not an x264 preset; use one of {}",
                self.encode.speed_preset,
                crate::media::encode::SPEED_PRESETS.join(", ")
            );
        }
        Ok(())
    }

    /// Checks everything that can be checked before opening any file.
    pub fn validate(&self) -> anyhow::Result<()> {
        // First: whatever else is wrong, a file that would destroy an input is named as
        // such (`-o look.toml` is not "an unsupported output type" but the preset).
        crate::fsutil::check_outputs(&self.read_files(), &self.written_files())?;
        self.validate_settings()?;
        if let Some(trace) = &self.trace {
            let folder = trace.parent().filter(|p| !p.as_os_str().is_empty());
            if folder.is_some_and(|f| !f.is_dir()) || trace.is_dir() {
                bail!(
                    "--trace {}: the folder does not exist or the path is a folder; give a file path like trace.json",
                    trace.display()
                );
            }
        }
        Container::from_path(&self.final_output())?;
        let out = self.final_output();
        if let Some(mask) = &self.mask_out
            && Container::from_path(mask)?.is_still() != Container::from_path(&out)?.is_still()
        {
            bail!(
                "--mask-out {} must be the same kind of file as the output (video or image)",
                mask.display()
            );
        }
        Ok(())
    }

    /// Every file this job reads, named for messages: none of them may be written.
    pub fn read_files(&self) -> Vec<Named<'static>> {
        let mut read = vec![Named::new("the input", &self.input)];
        match &self.depth {
            Some(d) => read.push(Named::new("--depth", d)),
            // The depth file beside the input is the user's data even when a model is
            // asked for instead: never write over it.
            None => read.extend(
                depth::find_sidecar(&self.input, None).map(|d| Named::new("the paired depth", d)),
            ),
        }
        let optional = [
            ("--depth-model", &self.estimate.model),
            ("--preset", &self.preset),
            ("--convergence-depth-file", &self.convergence_file),
            ("--post", &self.post),
        ];
        for (role, path) in optional {
            read.extend(path.as_ref().map(|p| Named::new(role, p)));
        }
        read
    }

    /// Every file this job writes, with the names an interrupted render keeps.
    pub fn written_files(&self) -> Vec<Named<'static>> {
        let out = self.final_output();
        let mut written = vec![
            Named::new("the output", crate::fsutil::partial_path(&out)),
            Named::new("the output", out),
        ];
        if let Some(mask) = &self.mask_out {
            written.push(Named::new("--mask-out", crate::fsutil::partial_path(mask)));
            written.push(Named::new("--mask-out", mask));
        }
        written.extend(self.trace.as_ref().map(|t| Named::new("--trace", t)));
        written
    }
}

/// Largest `--dilate`: the filter costs 2 * radius + 1 reads per pixel and pass.
pub const MAX_DILATE_PX: u32 = 64;

/// One encoded stream of composed frames: its composer, the GPU conversion to the
/// encoder's format (I420 for videos), readback ring and encoder.
struct Stream {
    composer: Composer,
    yuv: Option<YuvPacker>,
    readback: Readback,
    encoder: Encoder,
}

impl Stream {
    /// `composer` must be prepared; frames in flight: 3.
    fn new(
        ctx: &GpuContext,
        composer: Composer,
        encoder: Encoder,
        shaders: &ShaderSet,
    ) -> anyhow::Result<Self> {
        let size = composer.output_size();
        let (yuv, readback) = match encoder.input() {
            FrameInput::Rgba => (None, Readback::new(ctx, size, 3)),
            FrameInput::I420(matrix) => {
                let mut packer = YuvPacker::new(ctx, shaders)?;
                packer.prepare(
                    ctx,
                    composer.output_view(),
                    size,
                    composer.output_generation(),
                    matrix,
                );
                let len = u64::from(packer.layout().len);
                (Some(packer), Readback::with_len(ctx, len, 3))
            }
        };
        Ok(Self {
            composer,
            yuv,
            readback,
            encoder,
        })
    }

    fn record(&mut self, queue: &wgpu::Queue, enc: &mut wgpu::CommandEncoder) -> usize {
        self.composer.encode(queue, enc);
        match &self.yuv {
            Some(packer) => {
                packer.encode(enc, &mut PassTimer::disabled());
                self.readback.record_buffer(enc, packer.planes())
            }
            None => self.readback.record(enc, self.composer.output_texture()),
        }
    }

    fn push(
        &mut self,
        ctx: &GpuContext,
        slot: usize,
        pts: u64,
        dur: Option<u64>,
        stages: &mut StageTimes,
        spans: &mut Spans,
    ) -> anyhow::Result<()> {
        let stride = self.readback.stride_bytes();
        let encoder = &mut self.encoder;
        let t = Instant::now();
        let (pushed_at, encode_secs) = self.readback.read(ctx, slot, |bytes| {
            let t = Instant::now();
            encoder
                .push_video(bytes, stride, pts, dur)
                .map(|_| (t, t.elapsed().as_secs_f64()))
        })??;
        stages.encoder += encode_secs;
        stages.gpu_wait += t.elapsed().as_secs_f64() - encode_secs;
        spans.add("wait for the GPU", t, pushed_at);
        spans.add("hand to the encoder", pushed_at, Instant::now());
        Ok(())
    }
}

/// Where frames are warped and composed, and the encoder(s) they go to.
// One per render, never moved around: boxing the GPU variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Gpu {
        warper: Warper,
        main: Stream,
        /// The infill mask video (`--mask-out`).
        mask: Option<Stream>,
        /// Frames on the GPU, not yet encoded: (main slot, mask slot, pts, duration).
        in_flight: VecDeque<InFlight>,
        /// Where decoded 4:2:0 frames are converted to RGBA on the CPU before upload
        /// (`--colour-convert auto` on a software rasteriser), else None.
        cpu_converted: Option<Vec<u32>>,
    },
    Cpu(CpuStream),
}

type InFlight = (usize, Option<usize>, u64, Option<u64>);

impl Backend {
    fn main_encoder(&mut self) -> &mut Encoder {
        match self {
            Backend::Gpu { main, .. } => &mut main.encoder,
            Backend::Cpu(c) => &mut c.encoder,
        }
    }

    /// (main, mask) encoders, for finishing the files.
    fn into_encoders(self) -> (Encoder, Option<Encoder>) {
        match self {
            Backend::Gpu { main, mask, .. } => (main.encoder, mask.map(|m| m.encoder)),
            Backend::Cpu(c) => (c.encoder, None),
        }
    }
}

/// Hands one finished GPU frame (and its mask) to the encoder(s).
fn drain(
    ctx: &GpuContext,
    main: &mut Stream,
    mask: &mut Option<Stream>,
    stages: &mut StageTimes,
    spans: &mut Spans,
    (slot, mask_slot, pts, dur): InFlight,
) -> anyhow::Result<()> {
    main.push(ctx, slot, pts, dur, stages, spans)?;
    if let (Some(m), Some(ms)) = (mask.as_mut(), mask_slot) {
        m.push(ctx, ms, pts, dur, stages, spans)?;
    }
    Ok(())
}

/// The CPU warp's thread and the encoder its frames go to.
struct CpuStream {
    /// The warp on its own thread, up to two frames ahead of the encoder.
    pipeline: CpuPipeline,
    encoder: Encoder,
    /// Bytes between rows of the RGBA frames it produces (I420: unused).
    stride: u32,
    /// Output and depth buffers back from the warp thread, for reuse.
    free_frames: Vec<Vec<u8>>,
    free_depth: Vec<Vec<u8>>,
}

impl CpuStream {
    /// Hands every frame the warp has finished to the encoder; with `all`, waits for the
    /// rest first (no more frames will come).
    fn push_finished(
        &mut self,
        all: bool,
        stages: &mut StageTimes,
        spans: &mut Spans,
    ) -> anyhow::Result<()> {
        loop {
            let finished = if all {
                self.pipeline.close().next()
            } else {
                self.pipeline.try_finished()
            };
            let Some(finished) = finished else {
                return Ok(());
            };
            stages.cpu_warp += finished
                .ended
                .duration_since(finished.started)
                .as_secs_f64();
            spans.add("CPU warp + compose", finished.started, finished.ended);
            let t = Instant::now();
            match finished.out {
                CpuOutput::Encoder(buffer) => {
                    self.encoder
                        .push_frame_buffer(buffer, finished.pts, finished.duration)?;
                }
                CpuOutput::Bytes(bytes) => {
                    self.encoder.push_video(
                        &bytes,
                        self.stride,
                        finished.pts,
                        finished.duration,
                    )?;
                    self.free_frames.push(bytes);
                }
            }
            stages.encoder += t.elapsed().as_secs_f64();
            spans.add("hand to the encoder", t, Instant::now());
            self.free_depth.extend(finished.spare_depth);
        }
    }
}

/// The render loop's waits as trace spans, when `--trace` asks for them.
struct Spans {
    origin: Instant,
    list: Option<Vec<Span>>,
}

impl Spans {
    fn add(&mut self, name: &'static str, from: Instant, to: Instant) {
        if let Some(list) = &mut self.list {
            list.push(Span {
                name,
                start: from.duration_since(self.origin).as_secs_f64(),
                secs: to.duration_since(from).as_secs_f64(),
            });
        }
    }
}

/// Where the render loop's time went, seen from its thread: waiting for decoded frames,
/// reading depth, uploading and recording GPU work, waiting for the GPU's result, and
/// handing frames to the encoder (which waits when x264 is behind). The stage that
/// dominates is the one that sets the speed.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimes {
    /// Waiting, before the first frame, for the depth scan to finish (none when it came
    /// from the cache): the one part a re-render of the clip does not pay.
    pub scan: f64,
    pub decoder: f64,
    pub depth: f64,
    /// `--warp-device cpu`: warping and composing (on the CPU warp's threads, alongside
    /// the loop), and the loop waiting to queue a frame for it.
    pub cpu_warp: f64,
    pub cpu_wait: f64,
    pub gpu_submit: f64,
    pub gpu_wait: f64,
    pub encoder: f64,
}

impl std::fmt::Display for StageTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.scan >= 0.005 {
            write!(f, "waiting for the depth scan {:.2} s, ", self.scan)?;
        }
        write!(
            f,
            "waiting for decoded frames {:.2} s, depth {:.2} s, ",
            self.decoder, self.depth
        )?;
        if self.cpu_warp > 0.0 {
            write!(
                f,
                "CPU warp+compose {:.2} s (on its thread), waiting to queue frames for it {:.2} s, ",
                self.cpu_warp, self.cpu_wait
            )?;
        } else {
            write!(
                f,
                "GPU upload+submit {:.2} s, waiting for the GPU {:.2} s, ",
                self.gpu_submit, self.gpu_wait
            )?;
        }
        write!(f, "handing to the encoder {:.2} s", self.encoder)
    }
}

/// Layout of the `--mask-out` video: the output's own stereo layout when it has one,
/// else the synthesised eye(s).
fn mask_layout(layout: Layout, eye: crate::stereo::Eye) -> Layout {
    use crate::stereo::Eye;
    if layout.is_stereo_pair() {
        layout
    } else {
        match eye {
            Eye::Right => Layout::Right,
            Eye::Left => Layout::Left,
            Eye::Both => Layout::Sbs,
        }
    }
}

/// Renders `job` on `ctx`. The output appears under its final name only on success.
/// The depth a job renders with: the job's `--depth`, a `<stem>_depth` file beside the
/// input, or (with `--depth-model`, or when there is none) an estimate from the cache or
/// computed now. `job` comes back adjusted to read that file.
pub struct ResolvedDepth {
    pub job: RenderJob,
    pub path: PathBuf,
    /// Kept alive while the file is used: with `--no-cache` it removes its scratch folder.
    pub estimated: Option<Estimated>,
}

/// The depth file the job names, or the sidecar beside its input (when no model is asked
/// for): depth that needs no estimating.
fn given_depth(job: &RenderJob) -> Option<PathBuf> {
    let sidecar = || {
        let estimating = job.estimate.model.is_some() || job.estimate.force;
        (!estimating)
            .then(|| depth::find_sidecar(&job.input, None))
            .flatten()
    };
    job.depth.clone().or_else(sidecar)
}

/// See [`ResolvedDepth`]. An estimate covers the clip from its start (`frame_limit`
/// frames at most) so it pairs with the frames by timestamp like any depth video.
pub fn resolve_depth(
    ctx: &GpuContext,
    job: &RenderJob,
    frame_limit: Option<u64>,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> anyhow::Result<ResolvedDepth> {
    if let Some(path) = given_depth(job) {
        return Ok(ResolvedDepth {
            job: job.clone(),
            path,
            estimated: None,
        });
    }
    let est = estimate::depth_for_render(
        ctx,
        &job.input,
        &job.estimate,
        frame_limit,
        progress,
        cancel,
    )?;
    let mut j = job.clone();
    j.depth = Some(est.path.clone());
    j.depth_kind = est.kind;
    j.depth_scale = est.depth_scale;
    j.depth_rgb = false;
    j.depth_far_is_bright = false;
    Ok(ResolvedDepth {
        job: j,
        path: est.path.clone(),
        estimated: Some(est),
    })
}

pub fn render(
    ctx: &GpuContext,
    job: &RenderJob,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> anyhow::Result<RenderReport> {
    job.validate()?;
    let started = Instant::now();
    let cpu = CpuProfile::start(std::time::Duration::from_millis(100));
    let mut spans = Spans {
        origin: started,
        list: job.trace.is_some().then(Vec::new),
    };
    let output = job.final_output();
    let container = Container::from_path(&output)?;
    let frames_wanted = if container.is_still() {
        Some(1)
    } else {
        job.frames
    };
    let start_nanos = (job.start_secs * 1e9).round() as u64;

    let on_cpu = job.warps_on_cpu(ctx.is_software())?;
    if on_cpu && job.warp_device == WarpDevice::Auto {
        log::info!(
            "warping on the CPU: the only GPU is a software rasteriser ({}), where the shaders cost more; --warp-device gpu uses it anyway",
            ctx.describe()
        );
    }
    let pixel_format = job.colour_convert.pixel_format();
    // The scan decodes the whole depth clip before the first frame can be warped; started
    // here, on a thread, it runs while the input opens. (Left to finish on its own if the
    // render fails first: it only fills the cache.)
    let early_scan = given_depth(job).map(|path| {
        let (rgb, cache) = (job.depth_rgb, job.estimate.clone());
        let need = ScanNeed::of(job.depth_kind);
        let scan = std::thread::Builder::new()
            // "dec-": the CPU profile charges it to decoding.
            .name("dec-depth-scan".into())
            .spawn({
                let path = path.clone();
                move || DepthScan::run_cached(&path, rgb, need, &cache)
            });
        (path, scan)
    });
    let mut decoder = Decoder::open(
        &job.input,
        pixel_format,
        &DecodeOptions {
            start_nanos,
            with_audio: job.audio && !container.is_still(),
        },
    )?;
    let info = decoder.info().clone();
    log::info!(
        "input {}: {}x{}{}",
        job.input.display(),
        info.width,
        info.height,
        info.fps
            .map(|f| format!(", {:.3} fps", f64::from(f.numer()) / f64::from(f.denom())))
            .unwrap_or_default()
    );
    if job.depth_kind == DepthKind::Relative
        && job.stereo.max_disparity_px > info.width as f32 / 2.0
    {
        bail!(
            "--max-disp {} is more than half the frame width ({} px): nothing sensible can be shown; use a value of at most {}",
            job.stereo.max_disparity_px,
            info.width,
            info.width as f32 / 2.0
        );
    }

    // Kept alive to the end: with --no-cache it removes its scratch folder on drop.
    let resolved = resolve_depth(
        ctx,
        job,
        frames_wanted.filter(|_| start_nanos == 0),
        progress,
        cancel,
    )?;
    let job = &resolved.job;
    let depth_path = resolved.path.clone();
    let scan_started = Instant::now();
    let scan = match early_scan {
        Some((path, Ok(thread))) if path == depth_path => thread
            .join()
            .map_err(|_| anyhow::anyhow!("the depth scan thread panicked"))??,
        _ => DepthScan::run_cached(
            &depth_path,
            job.depth_rgb,
            ScanNeed::of(job.depth_kind),
            &job.estimate,
        )?,
    };
    let scan_wait = scan_started.elapsed().as_secs_f64();
    log::info!(
        "depth {}: {}x{}, {} frame(s), values {}..{}",
        depth_path.display(),
        scan.width,
        scan.height,
        scan.frames,
        scan.min,
        scan.max
    );
    // Only relative depth is normalised over the clip: constant metric depth or
    // disparity still shifts the picture, as a flat plane at that distance.
    if scan.min == scan.max && job.depth_kind == DepthKind::Relative {
        log::warn!(
            "depth {} is constant: the output will have no depth",
            depth_path.display()
        );
    }
    let frame_nanos = info.frame_duration_nanos();
    let matching = depth::prerendered::choose_matching(&scan, &info, frames_wanted)?;
    let start_index = frame_nanos.map(|d| start_nanos / d.max(1)).unwrap_or(0);
    let mut depth = DepthStream::open(&scan, matching, start_nanos, start_index)?;
    let range = scan.range(
        job.depth_kind,
        job.depth_far_is_bright,
        job.depth_scale,
        job.max_depth_m,
    );
    let mut stereo = job.stereo;
    if let Some(fx) = MetricCamera::fx_from_fov(info.width, info.height, job.xfov_deg, job.yfov_deg)
    {
        stereo.camera.fx_px = fx;
    }
    if job.depth_kind != DepthKind::Relative {
        log::info!(
            "depth is {}: {} per stored step{}",
            job.depth_kind.name(),
            range.value_scale * 65535.0 / ((1u32 << scan.source_bits.min(16)) - 1) as f32,
            if job.depth_kind == DepthKind::Metric {
                " m"
            } else {
                " px"
            }
        );
    }

    let convergence = job
        .convergence_file
        .as_deref()
        .map(|p| {
            crate::depth::convergence::ConvergenceTrack::load(p, job.convergence_smooth_frames)
        })
        .transpose()?;
    let size = (info.width, info.height);
    let even = container.needs_even_size();
    let (out_size, _) = job.layout.frame_sizes(size, even);
    if out_size.0 == 0 || out_size.1 == 0 {
        bail!(
            "{}: a {}x{} input leaves no pixels in the --layout {} output; use another --layout",
            job.input.display(),
            size.0,
            size.1,
            job.layout.name()
        );
    }
    let work = job.warp_size(job.layout, size);
    let depth_size = depth.size();
    let mut on_cpu = on_cpu;
    if !on_cpu && let Err(e) = ctx.check_frame_fits(size, depth_size, out_size) {
        if !job.falls_back_to_cpu() || work.0 > crate::cpu::MAX_WARP_WIDTH {
            return Err(e.into());
        }
        // The same warp on the CPU has no texture or buffer limits: slower, but it renders.
        log::warn!(
            "{}: {}x{} frames are too large for the GPU warp ({}); warping them on the CPU \
             instead, which is slower",
            job.input.display(),
            size.0,
            size.1,
            e.limit_exceeded()
        );
        on_cpu = true;
    }
    if on_cpu && work.0 > crate::cpu::MAX_WARP_WIDTH {
        // The CPU warp allocates no GPU textures or buffers, so only its own limit counts.
        bail!(
            "{}: a {}x{} input warps {} pixels wide in the --layout {} output, and the warp \
             handles at most {} (its z-buffer keeps the source column in 14 bits); use a half \
             layout or a smaller input",
            job.input.display(),
            size.0,
            size.1,
            work.0,
            job.layout.name(),
            crate::cpu::MAX_WARP_WIDTH
        );
    }

    let fps = info
        .fps
        .or(info.is_still.then(|| gstreamer::Fraction::new(25, 1)));
    let audio_caps = decoder.audio_caps();
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| {
            format!(
                "cannot create the output folder {} (is part of the path a file, or read-only?); choose another output path",
                parent.display()
            )
        })?;
    }
    let mut settings = job.encode.clone();
    settings.layout = job.layout;
    // Every layout keeps the input's pixel shape: a half-SBS frame displays with the
    // input's aspect, and each half of a full SBS frame is an input frame.
    settings.pixel_aspect = info.pixel_aspect;
    if info.pixel_aspect.0 != info.pixel_aspect.1 {
        log::info!(
            "{}: non-square pixels ({}:{}); the output keeps them",
            job.input.display(),
            info.pixel_aspect.0,
            info.pixel_aspect.1
        );
    }
    let encoder = Encoder::open(&output, out_size, fps, audio_caps.as_ref(), &settings)?;
    let mut backend = if on_cpu {
        let warper = CpuWarper::new(size, depth.size(), job.stereo.eye, work);
        let composer =
            CpuComposer::new(job.layout, job.anaglyph, size, work, even, encoder.input());
        Backend::Cpu(CpuStream {
            stride: composer.stride_bytes(),
            pipeline: CpuPipeline::start(warper, composer),
            encoder,
            free_frames: Vec::new(),
            free_depth: Vec::new(),
        })
    } else {
        let mut warper = Warper::new(ctx, &job.shaders)?;
        warper.set_rgb_depth(job.depth_rgb);
        let mut composer = Composer::new(ctx, &job.shaders)?;
        if let Some(post) = &job.post {
            composer.set_post(ctx, Some(post))?;
        }
        warper.prepare_at(ctx, size, depth.size(), job.stereo.eye, work);
        composer.prepare(ctx, &warper, job.layout, job.anaglyph, even)?;
        let main = Stream::new(ctx, composer, encoder, &job.shaders)?;
        let mask = match &job.mask_out {
            None => None,
            Some(path) => {
                let layout = mask_layout(job.layout, job.stereo.eye);
                let mut composer = Composer::new(ctx, &job.shaders)?;
                composer.prepare_views(
                    ctx,
                    &warper,
                    &warper.mask_views(),
                    layout,
                    job.anaglyph,
                    even,
                )?;
                let size = composer.output_size();
                let settings = EncodeSettings {
                    layout,
                    // Crisp edges: the mask is thresholded by whatever reads it.
                    crf: 0,
                    ..settings.clone()
                };
                let encoder = Encoder::open(path, size, fps, None, &settings)?;
                Some(Stream::new(ctx, composer, encoder, &job.shaders)?)
            }
        };
        // Decoded planes reach the GPU in one storage buffer (rows padded by GStreamer:
        // counted generously). Larger than one binding (16K video under Direct3D 12),
        // they are converted here instead.
        let sample_bytes = if info.source_bits > 8 { 2 } else { 1 };
        let planes = (u64::from(size.0) + 64) * u64::from(size.1) * 3 / 2 * sample_bytes;
        let planes_too_large = planes > ctx.storage_binding_limit();
        if planes_too_large && job.colour_convert != ColourConvert::Cpu {
            log::info!(
                "{}x{} decoded frames are larger than one GPU storage buffer may be: \
                 converting them to RGBA on the CPU",
                size.0,
                size.1
            );
        }
        Backend::Gpu {
            warper,
            main,
            mask,
            in_flight: VecDeque::new(),
            // On a software rasteriser the shader's conversion costs about 45 ms of CPU
            // per 1080p frame and the CPU warp's own 3 (BENCHMARKS.md); same arithmetic.
            cpu_converted: ((job.colour_convert == ColourConvert::Auto && ctx.is_software())
                || planes_too_large)
                .then(Vec::new),
        }
    };

    let total = frames_wanted.or_else(|| {
        info.estimated_frames()
            .map(|n| n.saturating_sub(start_index))
    });
    progress.start(total);
    let mut audio = Vec::new();
    // The first frame's pts, and where it starts in the output (after any audio that
    // begins before it, which is kept).
    let mut video_start: Option<(u64, u64)> = None;
    let mut range_end = 0u64;
    let mut done = 0u64;
    let mut stages = StageTimes {
        scan: scan_wait,
        ..Default::default()
    };

    while frames_wanted.is_none_or(|n| done < n) {
        if cancel.is_cancelled() {
            return Err(Stopped::Cancelled.into());
        }
        if cancel.is_interrupted() {
            break;
        }
        let t = Instant::now();
        let Some(frame) = decoder.next_frame()? else {
            break;
        };
        stages.decoder += t.elapsed().as_secs_f64();
        spans.add("wait for a decoded frame", t, Instant::now());
        if (frame.width(), frame.height()) != size {
            bail!(
                "{} changes frame size mid-stream ({}x{} -> {}x{}); this is not supported yet",
                job.input.display(),
                size.0,
                size.1,
                frame.width(),
                frame.height()
            );
        }
        let (origin, lead) = *video_start.get_or_insert_with(|| {
            let lead = decoder.start_output(frame.pts_nanos);
            if lead > 0 {
                log::info!(
                    "{}: the audio starts {:.3} s before the first video frame; it is kept, \
                     and the video starts {:.3} s into the output",
                    job.input.display(),
                    lead as f64 / 1e9,
                    lead as f64 / 1e9
                );
            }
            (frame.pts_nanos, lead)
        });
        log::trace!("frame {done}: source pts {} ns", frame.pts_nanos);
        let t = Instant::now();
        let (dframe, changed) = depth.frame_for(start_index + done, frame.pts_nanos, on_cpu)?;
        stages.depth += t.elapsed().as_secs_f64();
        spans.add("depth frame", t, Instant::now());
        if let Some(track) = &convergence {
            stereo.camera.convergence_m = Some(track.at(start_index + done));
        }
        let dur = frame.duration_nanos.or(frame_nanos);
        let pts = frame.pts_nanos - origin + lead;
        range_end = frame.pts_nanos + dur.unwrap_or(0);
        let t = Instant::now();
        match &mut backend {
            Backend::Gpu {
                warper,
                main,
                mask,
                in_flight,
                cpu_converted,
            } => {
                let pixels = frame.pixels();
                match cpu_converted {
                    Some(rgba) if !matches!(pixels, FramePixels::Rgba { .. }) => {
                        crate::cpu::yuv_to_rgba(&pixels, size, rgba, crate::cpu::workers());
                        warper.upload_frame(
                            ctx,
                            &FramePixels::Rgba {
                                data: bytemuck::cast_slice(rgba),
                                stride: size.0 * 4,
                            },
                        );
                    }
                    _ => warper.upload_frame(ctx, &pixels),
                }
                if changed {
                    warper.upload_depth(&ctx.queue, dframe.data, dframe.stride);
                }
                let mut enc = ctx
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("stereosplat.frame"),
                    });
                warper.encode(&ctx.queue, &mut enc, &stereo, &range);
                let slot = main.record(&ctx.queue, &mut enc);
                let mask_slot = mask.as_mut().map(|m| m.record(&ctx.queue, &mut enc));
                let index = ctx.queue.submit([enc.finish()]);
                ctx.check_errors()?;
                stages.gpu_submit += t.elapsed().as_secs_f64();
                spans.add("upload + GPU submit", t, Instant::now());
                main.readback.submitted(slot, index.clone());
                if let (Some(m), Some(ms)) = (mask.as_mut(), mask_slot) {
                    m.readback.submitted(ms, index);
                }
                in_flight.push_back((slot, mask_slot, pts, dur));
                drop(frame);
                // Keep one frame on the GPU while the previous one goes to the encoder.
                while in_flight.len() >= main.readback.capacity() - 1 {
                    let next = in_flight.pop_front().expect("non-empty");
                    drain(ctx, main, mask, &mut stages, &mut spans, next)?;
                }
            }
            Backend::Cpu(cpu) => {
                let depth = changed.then(|| {
                    let mut copy = cpu.free_depth.pop().unwrap_or_default();
                    copy.clear();
                    copy.extend_from_slice(dframe.data);
                    copy
                });
                let job = CpuJob {
                    frame,
                    depth,
                    depth_stride: dframe.stride as usize,
                    depth_format: DepthFormat::of(job.depth_rgb, dframe.gray8),
                    params: frame_params(&stereo, &range, size, work, depth_size),
                    pts,
                    duration: dur,
                    // I420 video is composed straight into the encoder's buffer.
                    out: match cpu.encoder.input() {
                        FrameInput::I420(_) => CpuOutput::Encoder(cpu.encoder.frame_buffer()?),
                        FrameInput::Rgba => {
                            CpuOutput::Bytes(cpu.free_frames.pop().unwrap_or_default())
                        }
                    },
                };
                cpu.pipeline.submit(job)?;
                stages.cpu_wait += t.elapsed().as_secs_f64();
                spans.add("wait for the CPU warp", t, Instant::now());
                cpu.push_finished(false, &mut stages, &mut spans)?;
            }
        }
        audio.clear();
        decoder.take_audio(range_end, &mut audio);
        for buf in audio.drain(..) {
            backend.main_encoder().push_audio(buf)?;
        }
        done += 1;
        progress.frame(done);
    }
    match &mut backend {
        Backend::Gpu {
            main,
            mask,
            in_flight,
            ..
        } => {
            while let Some(next) = in_flight.pop_front() {
                drain(ctx, main, mask, &mut stages, &mut spans, next)?;
            }
        }
        Backend::Cpu(cpu) => cpu.push_finished(true, &mut stages, &mut spans)?,
    }
    ctx.check_errors()?;
    if done == 0 {
        bail!(
            "{} has no video frames to render in the requested range",
            job.input.display()
        );
    }
    if video_start.is_some() {
        audio.clear();
        decoder.finish_audio(range_end, &mut audio);
        for buf in audio.drain(..) {
            backend.main_encoder().push_audio(buf)?;
        }
    }
    let had_audio = backend.main_encoder().has_audio();
    drop(decoder);
    let interrupted = cancel.is_interrupted();
    let name = |p: &Path| {
        if interrupted {
            crate::fsutil::partial_path(p)
        } else {
            p.to_path_buf()
        }
    };
    let (main, mask) = backend.into_encoders();
    // The mask first: the main output appearing under its name means everything is done.
    if let Some(m) = mask {
        let target = name(m.final_path());
        m.finish_as(&target)?;
    }
    let target = name(main.final_path());
    let output = main.finish_as(&target)?;
    if interrupted {
        progress.finish();
        return Err(Stopped::Interrupted {
            partial: output,
            frames: done,
        }
        .into());
    }
    progress.finish();
    let cpu = cpu.finish();
    if let (Some(path), Some(list)) = (&job.trace, &spans.list) {
        write_chrome_trace(path, &cpu, list)
            .with_context(|| format!("cannot write the trace {}", path.display()))?;
        log::info!(
            "trace written to {} (open it in https://ui.perfetto.dev)",
            path.display()
        );
    }
    Ok(RenderReport {
        output,
        frames: done,
        seconds: started.elapsed().as_secs_f64(),
        size: out_size,
        audio: had_audio,
        stages,
        cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::StageTimes;

    #[test]
    fn the_scan_wait_is_shown_only_when_a_render_paid_for_it() {
        let cached = StageTimes {
            decoder: 0.07,
            cpu_warp: 9.2,
            ..Default::default()
        };
        let first = StageTimes {
            scan: 0.37,
            ..cached
        };
        assert!(
            first.to_string().starts_with(
                "waiting for the depth scan 0.37 s, waiting for decoded frames 0.07 s"
            )
        );
        assert!(
            cached
                .to_string()
                .starts_with("waiting for decoded frames 0.07 s")
        );
    }
}
