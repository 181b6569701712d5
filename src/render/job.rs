//! What one render is asked to do ([`RenderJob`], one field per command-line flag) and
//! every check that can be made before a file is opened.

use std::path::PathBuf;

use super::RenderError;
use crate::comfort::Viewing;
use crate::depth::{self, estimate::EstimateOptions};
use crate::fsutil::Named;
use crate::gpu::ShaderSet;
use crate::layout::{Anaglyph, Autocrop, Layout, WarpResolution, tagged_stem};
use crate::media::decode::ColourConvert;
use crate::media::encode::{Container, EncodeSettings};
use crate::stereo::{DepthKind, FillMode, StereoParams};

/// `Err(RenderError::Invalid(..))` from a format string.
macro_rules! invalid {
    ($($t:tt)*) => {
        return Err(RenderError::Invalid(format!($($t)*)))
    };
}

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
    /// Per-frame convergence (one value per input frame, in the depth kind's unit) and
    /// its smoothing (frames; None: the default of each source).
    pub convergence_file: Option<PathBuf>,
    pub convergence_smooth_frames: Option<u32>,
    /// `--convergence auto`: the screen plane follows the subject.
    pub auto_convergence: bool,
    /// `--convergence-out`: write the convergence each frame used.
    pub convergence_out: Option<PathBuf>,
    /// `--floating-window`: black bands where near objects are cut by the frame's edges.
    pub floating_window: bool,
    /// `--vr-screen-fov`, `--vr-fill`: the picture's place in `--layout vr180`.
    pub vr: crate::vr180::VrPlacement,
    /// `--hdr`: an HDR source kept as HDR or tone-mapped to SDR.
    pub hdr: crate::hdr::HdrMode,
    /// `--camera-offset`, `--camera-rotate`, `--camera-path`: `--layout novel`'s camera.
    pub novel: crate::view3d::NovelOptions,
    /// `--inpaint-model` and its options: the model fill of `--fill model`.
    pub inpaint: crate::inpaint::InpaintOptions,
    /// `--chunk-seconds`, `--no-chunks`, `--chunk-worker`: long renders in pieces.
    pub chunks: super::chunks::ChunkOptions,
    /// `--autocrop`: find letterbox or pillarbox bars and warp only the picture inside.
    pub autocrop: Option<Autocrop>,
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
    /// The screen and seat the comfort report is computed for.
    pub viewing: Viewing,
    /// `--report FILE.json`: every frame's parallax figures.
    pub report: Option<PathBuf>,
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
            convergence_smooth_frames: None,
            auto_convergence: false,
            convergence_out: None,
            floating_window: false,
            autocrop: None,
            chunks: Default::default(),
            inpaint: Default::default(),
            novel: Default::default(),
            hdr: Default::default(),
            vr: Default::default(),
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
            viewing: Viewing::default(),
            report: None,
        }
    }
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
        } else if self.layout == Layout::Novel {
            Some("--layout novel (the mesh is drawn by the GPU, or by the software adapter)")
        } else if matches!(self.layout, Layout::Rgbd | Layout::HalfRgbd) {
            Some("--layout rgbd and half-rgbd")
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
    pub fn warps_on_cpu(&self, software: bool) -> Result<bool, RenderError> {
        let blocker = self.gpu_only_feature();
        if self.stereo.fill == FillMode::Model {
            // The model repaints the CPU warp's eyes (the GPU warp's are not read back).
            return match (self.warp_device, blocker) {
                (WarpDevice::Gpu, _) => invalid!(
                    "--fill model runs after the CPU warp for now: leave out --warp-device gpu \
                     (the model itself runs on --ep's provider, a GPU one where there is one)"
                ),
                (_, Some(feature)) => invalid!(
                    "--fill model runs after the CPU warp, which cannot do {feature}; leave out \
                     one of the two"
                ),
                _ => Ok(true),
            };
        }
        match (self.warp_device, blocker) {
            (WarpDevice::Gpu, _) => Ok(false),
            (WarpDevice::Auto, _) => Ok(software && blocker.is_none()),
            (WarpDevice::Cpu, None) => Ok(true),
            (WarpDevice::Cpu, Some(feature)) => invalid!(
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
    pub fn validate_settings(&self) -> Result<(), RenderError> {
        self.warps_on_cpu(false)?;
        if self.stereo.fill == FillMode::Model && self.inpaint.model.is_none() {
            return Err(RenderError::Invalid(
                "--fill model needs the model: give --inpaint-model FILE.onnx (or a catalog \
                 name, see `stereosplat models list`)"
                    .into(),
            ));
        }
        if self.inpaint.model.is_some() && self.stereo.fill != FillMode::Model {
            return Err(RenderError::Invalid(format!(
                "--inpaint-model is used by --fill model; leave out --fill {}",
                crate::cli::value_name(&self.stereo.fill)
            )));
        }
        if !(0.0..1.0).contains(&self.inpaint.temporal) {
            return Err(RenderError::Invalid(format!(
                "--inpaint-temporal is the share of the previous fill kept where nothing moved, \
                 from 0 (none) to below 1; got {}",
                self.inpaint.temporal
            )));
        }
        self.encode
            .encoder
            .resolve(self.encode.bit_depth)
            .map_err(RenderError::Invalid)?;
        if self.post.is_some() && self.autocrop == Some(Autocrop::Keep) {
            return Err(RenderError::Invalid(
                "--autocrop keeps the bars by composing the picture between them, and a --post \
                 shader composes the whole frame itself: use --autocrop=crop with --post"
                    .into(),
            ));
        }
        if let Some(post) = &self.post
            && !post.is_file()
        {
            invalid!(
                "--post {}: no such file (a WGSL file defining fn post(p: vec2<u32>) -> vec4<f32>)",
                post.display()
            );
        }
        if self.estimate.model.is_some() && self.depth.is_none() {
            depth::estimate::validate(&self.estimate)?;
        }
        let s = &self.stereo;
        if !s.max_disparity_px.is_finite() || s.max_disparity_px < 0.0 {
            invalid!(
                "--max-disp must be a number >= 0 (pixels), got {}",
                s.max_disparity_px
            );
        }
        if let Some(pct) = s.divergence_pct
            && !(pct.is_finite() && (0.0..=100.0).contains(&pct))
        {
            invalid!(
                "--divergence must be a percentage of the width from 0 to 100 (2 to 3 is typical), got {pct}"
            );
        }
        let fg = s.shape.foreground_scale;
        if !(fg.is_finite() && fg > 0.0 && fg <= 4.0) {
            invalid!(
                "--foreground-scale must be above 0 and at most 4 (1 changes nothing), got {fg}"
            );
        }
        if let Some(pct) = s.border_pct
            && !(pct.is_finite() && pct > 0.0 && pct <= 50.0)
        {
            invalid!(
                "--preserve-border takes the band's width in % of the frame width, above 0 and at most 50 (e.g. --preserve-border=5), got {pct}"
            );
        }
        if !s.convergence.is_finite() {
            invalid!(
                "--convergence must be a number (0 = far plane at the screen, 1 = near plane), got {}",
                s.convergence
            );
        }
        if !s.max_stretch_px.is_finite() || s.max_stretch_px < 1.0 {
            invalid!(
                "--max-stretch must be a number >= 1 (pixels), got {}",
                s.max_stretch_px
            );
        }
        if !self.start_secs.is_finite() || self.start_secs < 0.0 {
            invalid!(
                "--start must be a number of seconds >= 0, got {}",
                self.start_secs
            );
        }
        let positive = |v: f32| v.is_finite() && v > 0.0;
        if !positive(s.camera.ipd_m) {
            invalid!(
                "--ipd-mm must be a distance > 0 in millimetres, got {}",
                s.camera.ipd_m * 1000.0
            );
        }
        if s.camera.convergence_m.is_some_and(|z| !positive(z)) {
            invalid!("--convergence-depth must be a distance > 0 in metres");
        }
        for (name, fov) in [("--xfov", self.xfov_deg), ("--yfov", self.yfov_deg)] {
            if fov.is_some_and(|f| !(f.is_finite() && f > 0.0 && f < 180.0)) {
                invalid!("{name} must be an angle in degrees between 0 and 180");
            }
        }
        if s.dilate_px > MAX_DILATE_PX {
            invalid!(
                "--dilate must be at most {MAX_DILATE_PX} pixels, got {}",
                s.dilate_px
            );
        }
        if !positive(s.edge_threshold) {
            invalid!(
                "--edge-threshold must be a fraction > 0 (e.g. 0.03), got {}",
                s.edge_threshold
            );
        }
        if self.depth_scale.is_some_and(|v| !positive(v)) {
            invalid!("--depth-scale must be a number > 0");
        }
        if !positive(self.max_depth_m) {
            invalid!("--max-depth must be a distance > 0 in metres");
        }
        if self.convergence_file.is_some() && s.camera.convergence_m.is_some() {
            invalid!("give either --convergence-depth or --convergence-file, not both");
        }
        if self.convergence_file.is_some() && self.auto_convergence {
            invalid!(
                "give either --convergence auto or --convergence-file, not both (a file written by --convergence-out is auto's result)"
            );
        }
        if self.auto_convergence && s.camera.convergence_m.is_some() {
            invalid!("give either --convergence auto or --convergence-depth, not both");
        }
        if self.convergence_smooth_frames == Some(0) {
            invalid!("--convergence-smooth must be at least 1 frame");
        }
        if self.depth_rgb && self.depth_kind != DepthKind::Metric {
            invalid!(
                "--depth-rgb is the metric depth toolbox's encoding: use it with --depth-kind metric and its --max-depth"
            );
        }
        if self.depth_rgb && self.depth_scale.is_some() {
            invalid!("--depth-rgb fixes the scale from --max-depth; leave out --depth-scale");
        }
        if self.depth_kind == DepthKind::Metric
            && self.xfov_deg.is_none()
            && self.yfov_deg.is_none()
        {
            invalid!(
                "metric depth needs the camera's field of view: pass --xfov DEG or --yfov DEG \
                 (a phone's main camera is about 65-75 degrees wide; a 50 mm lens on full frame about 40)"
            );
        }
        self.viewing.check().map_err(RenderError::Invalid)?;
        self.check_novel()?;
        if self.frames == Some(0) {
            invalid!("--frames must be at least 1");
        }
        if self.encode.crf > 51 {
            invalid!("--crf must be between 0 and 51, got {}", self.encode.crf);
        }
        if !crate::media::encode::SPEED_PRESETS.contains(&self.encode.speed_preset.as_str()) {
            invalid!(
                "--speed-preset {} is not an x264 preset; use one of {}",
                self.encode.speed_preset,
                crate::media::encode::SPEED_PRESETS.join(", ")
            );
        }
        Ok(())
    }

    /// `--layout novel` and its camera flags belong together; the camera path parses.
    fn check_novel(&self) -> Result<(), RenderError> {
        let novel = &self.novel;
        if self.layout != Layout::Novel {
            if novel.is_set() {
                invalid!(
                    "--camera-offset, --camera-rotate and --camera-path move the camera of --layout novel; add --layout novel (or leave them out)"
                );
            }
            return Ok(());
        }
        if self.stereo.eye != crate::stereo::Eye::Right {
            invalid!(
                "--layout novel draws one camera moved from the input's; --eye does not apply (leave it out, and move the camera with --camera-offset)"
            );
        }
        if novel.path.is_some() && novel.pose != crate::view3d::Pose::default() {
            invalid!(
                "give either --camera-path or --camera-offset/--camera-rotate, not both (put a fixed offset in every key of the path)"
            );
        }
        let p = &novel.pose;
        if p.offset.iter().chain(&p.rotate_deg).any(|v| !v.is_finite()) {
            invalid!("--camera-offset and --camera-rotate take three numbers each");
        }
        if let Some(path) = &novel.path {
            crate::view3d::path::CameraPath::read(path)
                .map_err(|e| RenderError::Invalid(e.to_string()))?;
        }
        Ok(())
    }

    /// Checks everything that can be checked before opening any file.
    pub fn validate(&self) -> Result<(), RenderError> {
        // First: whatever else is wrong, a file that would destroy an input is named as
        // such (`-o look.toml` is not "an unsupported output type" but the preset).
        crate::fsutil::check_outputs(&self.read_files(), &self.written_files())?;
        self.validate_settings()?;
        // The inpainting model is there, or may be downloaded: said before any work.
        if let Some(m) = self
            .inpaint
            .model
            .as_ref()
            .filter(|_| self.stereo.fill == FillMode::Model)
        {
            crate::models::Store::open(&crate::models::StoreOptions {
                cache_dir: self.estimate.cache_dir.clone(),
                ..self.estimate.store.clone()
            })
            .and_then(|store| store.check(m, crate::models::Task::Inpaint))
            .map_err(|e| RenderError::Invalid(e.to_string()))?;
        }
        for (flag, path) in [
            ("--trace", &self.trace),
            ("--report", &self.report),
            ("--convergence-out", &self.convergence_out),
        ] {
            if let Some(path) = path {
                let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
                if folder.is_some_and(|f| !f.is_dir()) || path.is_dir() {
                    invalid!(
                        "{flag} {}: the folder does not exist or the path is a folder; give a file path in an existing folder",
                        path.display()
                    );
                }
            }
        }
        Container::from_path(&self.final_output())?;
        let out = self.final_output();
        if let Some(mask) = &self.mask_out
            && Container::from_path(mask)?.is_still() != Container::from_path(&out)?.is_still()
        {
            invalid!(
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
            ("--convergence-file", &self.convergence_file),
            ("--post", &self.post),
            ("--inpaint-model", &self.inpaint.model),
            ("--camera-path", &self.novel.path),
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
        written.extend(self.report.as_ref().map(|r| Named::new("--report", r)));
        written.extend(
            self.convergence_out
                .as_ref()
                .map(|c| Named::new("--convergence-out", c)),
        );
        written
    }
}

/// Largest `--dilate`: the filter costs 2 * radius + 1 reads per pixel and pass.
pub const MAX_DILATE_PX: u32 = 64;
