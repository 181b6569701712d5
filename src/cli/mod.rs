//! Command line: `stereosplat render`, `batch`, `depth`, `preview`, `bench`, `adapters`.
//! The argument structs here map the flags one to one onto the library's jobs
//! ([`crate::render::RenderJob`] and the others); [`run`] runs them.

pub mod run;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::depth::estimate::{EstimateOptions, ExportFormat};
use crate::depth::normalize::Normalize;
use crate::gpu::{AdapterChoice, ShaderSet};
use crate::layout::{Anaglyph, Layout, WarpResolution};
use crate::media::decode::{ColourConvert, DecoderChoice};
use crate::media::encode::{EncodeSettings, VideoEncoder};
use crate::onnx::runtime::Ep;
use crate::render::{RenderJob, WarpDevice};
use crate::stereo::{
    DepthKind, DepthUpsample, Eye, FillMode, MetricCamera, NO_EDGE_THRESHOLD, StereoParams,
};

#[derive(Debug, Parser)]
#[command(
    name = "stereosplat",
    version,
    about = "Turn 2D video into stereoscopic 3D on the GPU"
)]
pub struct Cli {
    /// Only print warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More logging (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a stereo video (or image) from a 2D input and its depth.
    Render(Box<RenderArgs>),
    /// Convert every video and image in a folder (depth paired as <stem>_depth.<ext>).
    Batch(Box<BatchArgs>),
    /// Measure warp and end-to-end speed on this machine.
    Bench(BenchArgs),
    /// Estimate depth (ONNX model or the built-in cues) and write it as a depth file that
    /// `render --depth` (and other tools) read back, or write a clip's depth as 3D points or
    /// meshes (--format ply|obj).
    Depth(Box<DepthArgs>),
    /// The models known by name: list them, download one, or print where one lives.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// List the GPU adapters --adapter can pick, and the ONNX Runtime providers.
    Adapters {
        /// ONNX Runtime library to report on (default: found like --depth-model finds it).
        #[arg(long, value_name = "FILE")]
        ort_lib: Option<PathBuf>,
    },
    /// Open a window to tune the stereo settings on a clip while watching the result, then
    /// render it.
    Preview(Box<PreviewArgs>),
    /// Join the pieces of a chunked render (`render --chunk-seconds` or `--chunk-worker`)
    /// in OUTPUT.chunks/ into OUTPUT, once every piece is done.
    Join {
        /// The render's output file (its pieces are in OUTPUT.chunks/).
        output: PathBuf,
        /// Also write the comfort report of the whole output.
        #[arg(long, value_name = "FILE.json")]
        report: Option<PathBuf>,
    },
    /// Write the ray-traced sample clip and its depth (sample.mp4, sample_depth.mkv) into DIR.
    MakeSample {
        dir: PathBuf,
        #[arg(long, default_value_t = 96)]
        frames: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Every model of the catalog: name, task and output, licence, size, input, source,
    /// and whether it is downloaded.
    List(ModelsArgs),
    /// Download a model into <cache>/models/ (resuming an interrupted download, checking
    /// its SHA-256). Without a name: the default depth model.
    Get {
        name: Option<String>,
        #[command(flatten)]
        args: ModelsArgs,
    },
    /// Print where a model lives (downloaded or not).
    Path {
        name: String,
        #[command(flatten)]
        args: ModelsArgs,
    },
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// The cache folder the models go in (as for render).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct GpuArgs {
    /// GPU adapter: auto (hardware if any), hardware, software, an index or a name from
    /// `stereosplat adapters`.
    #[arg(long, default_value = "auto")]
    pub adapter: AdapterChoice,
    /// Load shaders from this folder instead of the built-in copies.
    #[arg(long, value_name = "DIR")]
    pub shader_dir: Option<PathBuf>,
}

impl GpuArgs {
    pub fn shaders(&self) -> ShaderSet {
        self.shader_dir
            .clone()
            .map(ShaderSet::Directory)
            .unwrap_or_default()
    }
}

/// The `--help` heading of the settings that decide how deep the picture looks and how
/// comfortable it is to watch.
pub const COMFORT: &str = "Comfort and shaping";

#[derive(Debug, Args)]
pub struct StereoArgs {
    /// Relative depth: disparity of the nearest point in pixels (StereoCrafter's
    /// max_disp): d = (2v - 1) * max. Or give --divergence.
    #[arg(
        long = "max-disp",
        default_value_t = 20.0,
        value_name = "PX",
        allow_negative_numbers = true,
        help_heading = COMFORT
    )]
    pub max_disp: f32,
    /// Relative depth: the whole disparity range in % of the frame width (iw3's
    /// --divergence), so one setting looks the same at 720p and 4K: 2 gives 19.2 px of
    /// max disparity at 1920 wide. An alternative to --max-disp.
    #[arg(
        long,
        value_name = "PCT",
        allow_negative_numbers = true,
        conflicts_with = "max_disp",
        help_heading = COMFORT
    )]
    pub divergence: Option<f32>,
    /// Relative depth: reshape the normalised depth before the shift: linear, gamma:G
    /// (v^G; 2 pushes the middle back), inverse:K (more depth in the far range), sigmoid:K
    /// (more depth around the subject), softplus:K (flattens the far range).
    #[arg(long, value_name = "CURVE", default_value = "linear", help_heading = COMFORT)]
    pub depth_curve: crate::stereo::DepthCurve,
    /// Relative depth: stretch (above 1) or compress (below 1) the near half of the depth
    /// range, keeping the far half in place; the slope at the nearest point.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 1.0,
        allow_negative_numbers = true,
        help_heading = COMFORT
    )]
    pub foreground_scale: f32,
    /// Ease the parallax to zero over a band along the left and right edges, PCT of the
    /// width (default 5), so nothing pokes through the frame's edge (also
    /// --preserve-screen-border, iw3's name).
    #[arg(
        long,
        value_name = "PCT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "5",
        allow_negative_numbers = true,
        // iw3's name for it.
        alias = "preserve-screen-border",
        help_heading = COMFORT
    )]
    pub preserve_border: Option<f32>,
    /// What appears at the screen plane, in the unit of --depth-kind: relative depth takes
    /// nearness from 0 (far) to 1 (near), default 0.5; disparity depth takes pixels of
    /// disparity, default 0. Metric depth uses --convergence-depth instead. `auto` (any
    /// kind): the screen plane follows the subject, frame by frame (see --convergence-out).
    #[arg(
        long,
        value_name = "V|auto",
        allow_negative_numbers = true,
        help_heading = COMFORT
    )]
    pub convergence: Option<ConvergenceArg>,
    /// Which eye to synthesise: right (input is the left eye), left, or both (input is the centre).
    #[arg(long, value_enum, default_value_t = Eye::Right)]
    pub eye: Eye,
    /// Neighbouring pixels pulled further apart than this become a hole (filled from the
    /// background) instead of a stretched surface.
    #[arg(
        long = "max-stretch",
        default_value_t = 2.0,
        value_name = "PX",
        allow_negative_numbers = true
    )]
    pub max_stretch: f32,
    /// Remove edges: neighbours whose depth jumps by more than this fraction (|dz|/z for
    /// metric depth, e.g. 0.03) become a hole instead of a stretched surface. Default: off.
    #[arg(long, value_name = "FRACTION", allow_negative_numbers = true)]
    pub edge_threshold: Option<f32>,
    /// An ONNX inpainting model (file or catalog name) that repaints the holes after the
    /// warp: LaMa or MI-GAN exports, or any model taking an image [N,3,H,W] and a mask
    /// [N,1,H,W] (or both as [N,4,H,W]) and returning the image. Implies --fill model.
    #[arg(long, value_name = "FILE.onnx|NAME", help_heading = INPAINT)]
    pub inpaint_model: Option<PathBuf>,
    /// The values the inpainting model takes and returns: zero-one (0..1, LaMa) or
    /// minus-one-one (-1..1).
    #[arg(long, value_enum, default_value_t = crate::inpaint::ValueRange::ZeroOne, help_heading = INPAINT)]
    pub inpaint_range: crate::inpaint::ValueRange,
    /// What the inpainting model's mask holds at a hole: hole-one (1 at holes, LaMa) or
    /// hole-zero.
    #[arg(long, value_enum, default_value_t = crate::inpaint::MaskValue::HoleOne, help_heading = INPAINT)]
    pub inpaint_mask: crate::inpaint::MaskValue,
    /// Tile side fed to an inpainting model of free size (a fixed-size model gets its own).
    #[arg(long, value_name = "PX", default_value_t = 256, value_parser = clap::value_parser!(u32).range(32..=4096), help_heading = INPAINT)]
    pub inpaint_tile: u32,
    /// Tiles per inference call (a model with a fixed batch gets its own).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64), help_heading = INPAINT)]
    pub inpaint_batch: u64,
    /// Share of the previous frame's fill a tile keeps where nothing around its holes
    /// moved (0 to below 1; 0: every frame afresh): keeps a still scene's fill from
    /// boiling.
    #[arg(long, value_name = "SHARE", default_value_t = 0.7, help_heading = INPAINT)]
    pub inpaint_temporal: f32,
    /// How holes are filled: background (blend of background pixels around the hole),
    /// scanline (copy the background-side pixel of the row) or model (--inpaint-model
    /// repaints them). Default: background, or model with --inpaint-model.
    #[arg(long, value_enum)]
    pub fill: Option<FillMode>,
    /// How depth smaller than the frame is enlarged: guided (joint bilateral: depth edges
    /// snap to the frame's colour edges) or bilinear.
    #[arg(long, value_enum, default_value_t = DepthUpsample::Guided)]
    pub depth_upsample: DepthUpsample,
    /// Grow the foreground in the depth map by this many pixels (iw3's edge dilation), so
    /// thin foreground objects stay whole.
    #[arg(long, default_value_t = 0, value_name = "PX")]
    pub dilate: u32,
    /// Metric depth: distance between the eyes in millimetres.
    #[arg(long = "ipd-mm", default_value_t = 63.0, allow_negative_numbers = true)]
    pub ipd_mm: f32,
    /// Metric depth: distance in metres that appears at the screen plane (default: infinity).
    #[arg(
        long = "convergence-depth",
        value_name = "M",
        allow_negative_numbers = true
    )]
    pub convergence_depth: Option<f32>,
}

/// `--convergence V` or `--convergence auto`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConvergenceArg {
    Value(f32),
    Auto,
}

impl std::str::FromStr for ConvergenceArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(ConvergenceArg::Auto);
        }
        s.trim()
            .parse::<f32>()
            .map(ConvergenceArg::Value)
            .map_err(|_| {
                format!("{s:?} is neither a number (the depth at the screen plane) nor `auto`")
            })
    }
}

impl StereoArgs {
    /// `--convergence V`, if a value was given.
    pub fn convergence_value(&self) -> Option<f32> {
        match self.convergence {
            Some(ConvergenceArg::Value(v)) => Some(v),
            _ => None,
        }
    }

    /// The settings for depth of `kind`: `--convergence` goes to that kind's own
    /// screen-plane quantity only, and the others keep their defaults.
    pub fn params(&self, kind: DepthKind) -> StereoParams {
        let defaults = StereoParams::default();
        let convergence_for = |k: DepthKind, default: f32| match self.convergence_value() {
            Some(v) if kind == k => v,
            _ => default,
        };
        StereoParams {
            max_disparity_px: self.max_disp,
            convergence: convergence_for(DepthKind::Relative, defaults.convergence),
            convergence_px: convergence_for(DepthKind::Disparity, defaults.convergence_px),
            eye: self.eye,
            max_stretch_px: self.max_stretch,
            camera: MetricCamera {
                ipd_m: self.ipd_mm / 1000.0,
                fx_px: 0.0, // set from --xfov/--yfov once the frame size is known
                convergence_m: self.convergence_depth,
            },
            edge_threshold: self.edge_threshold.unwrap_or(NO_EDGE_THRESHOLD),
            fill: self.fill.unwrap_or(if self.inpaint_model.is_some() {
                FillMode::Model
            } else {
                FillMode::Background
            }),
            dilate_px: self.dilate,
            guided_upsample: self.depth_upsample == DepthUpsample::Guided,
            divergence_pct: self.divergence,
            shape: crate::stereo::Shape {
                curve: self.depth_curve,
                foreground_scale: self.foreground_scale,
            },
            border_pct: self.preserve_border,
        }
    }
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Input video or image (anything GStreamer decodes: mp4, mkv, webm, mov, png, jpg...).
    pub input: PathBuf,
    /// Output file: .mp4, .mkv or .mov (H.264), or .png / .jpg for a still.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Depth video or image (grey, 8 or 16 bit; near = bright). Default: <stem>_depth.<ext> beside the input.
    #[arg(long)]
    pub depth: Option<PathBuf>,
    /// Also write the infill mask video: holes coloured (red next to the nearer surface,
    /// blue next to the farther, green inside), the rest black.
    #[arg(long, value_name = "FILE")]
    pub mask_out: Option<PathBuf>,
    /// Write a Chrome trace of the render (CPU use per stage over time and the render
    /// loop's waits; open it in https://ui.perfetto.dev or chrome://tracing).
    #[arg(long, value_name = "FILE.json")]
    pub trace: Option<PathBuf>,
    /// Write the comfort report: every frame's parallax (px, % of the width, degrees for
    /// --screen-width-m and --viewing-distance-m) and whether it stays within the limits.
    #[arg(long, value_name = "FILE.json", help_heading = COMFORT)]
    pub report: Option<PathBuf>,
    /// Render in pieces of about this many seconds, each encoded on its own into
    /// <output>.chunks/, then joined without re-encoding: rerunning the same command after
    /// a crash or Ctrl-C renders only the missing pieces. The default above 10 minutes
    /// (60 s pieces).
    #[arg(long, value_name = "SECONDS", help_heading = CHUNKS, value_parser = parse_chunk_seconds)]
    pub chunk_seconds: Option<f64>,
    /// Render in one piece whatever the length.
    #[arg(long, help_heading = CHUNKS, conflicts_with_all = ["chunk_seconds", "chunk_worker"])]
    pub no_chunks: bool,
    /// Render only the pieces k with k mod N = I (one process per GPU, or per Slurm or
    /// Kubernetes task on shared storage); whichever finishes the last piece joins them.
    #[arg(long, value_name = "I/N", help_heading = CHUNKS)]
    pub chunk_worker: Option<crate::render::chunks::Worker>,
    /// Leave the finished pieces for `stereosplat join OUTPUT` (a join job of its own,
    /// such as a Slurm job that depends on the array), instead of joining them here.
    #[arg(long, help_heading = CHUNKS)]
    pub no_join: bool,
    #[command(flatten)]
    pub options: RenderOptions,
}

/// `--help` heading of the learned fill's options.
const INPAINT: &str = "Filling holes with a model";

/// `--help` heading of the novel view's options.
const NOVEL: &str = "Novel views (--layout novel)";

/// `X,Y,Z`: three numbers separated by commas.
fn parse_triple(s: &str) -> Result<[f32; 3], String> {
    let v: Vec<f32> = s
        .split(',')
        .map(|p| p.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            format!("expected three numbers separated by commas, like 0.1,0,-0.2; got {s:?}")
        })?;
    match v[..] {
        [a, b, c] if v.iter().all(|x| x.is_finite()) => Ok([a, b, c]),
        _ => Err(format!(
            "expected three numbers separated by commas, like 0.1,0,-0.2; got {s:?}"
        )),
    }
}

/// `--help` heading of the chunked-render options.
const CHUNKS: &str = "Long renders in pieces";

fn parse_screen_fov(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (10.0..=170.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "--vr-screen-fov is the picture's width in degrees, 10 to 170 (100 suits most \
             films); got {s:?}"
        )),
    }
}

fn parse_chunk_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.5 => Ok(v),
        _ => Err(format!(
            "--chunk-seconds is the length of each piece in seconds (0.5 or more; a minute, \
             60, suits most films); got {s:?}"
        )),
    }
}

/// Everything `render` and `batch` share.
#[derive(Debug, Args)]
pub struct RenderOptions {
    /// The depth file stores distance (far = bright) instead of inverse depth (relative kind).
    #[arg(long)]
    pub depth_far_bright: bool,
    /// What depth values mean: relative inverse depth, metric distance, or disparity in pixels.
    #[arg(long, value_enum, default_value_t = DepthKind::Relative)]
    pub depth_kind: DepthKind,
    /// Metres (metric) or pixels (disparity) per stored step, e.g. 1/256 for 16-bit
    /// disparity PNGs. Default: metric uses --max-depth at full scale, disparity 1.
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub depth_scale: Option<f32>,
    /// The depth video is the metric depth toolbox's RGB encoding (R, G = high byte, B = low
    /// byte; lossless, e.g. FFV1 in MKV), decoded with --max-depth. Needs --depth-kind metric.
    #[arg(long)]
    pub depth_rgb: bool,
    /// Metric depth: distance in metres of the largest stored value (when no --depth-scale),
    /// or the toolbox's max_depth with --depth-rgb.
    #[arg(
        long,
        default_value_t = 20.0,
        value_name = "M",
        allow_negative_numbers = true
    )]
    pub max_depth: f32,
    /// Metric depth: horizontal field of view of the camera in degrees.
    #[arg(long, value_name = "DEG", allow_negative_numbers = true)]
    pub xfov: Option<f32>,
    /// Metric depth: vertical field of view in degrees (used when --xfov is not given).
    #[arg(long, value_name = "DEG", allow_negative_numbers = true)]
    pub yfov: Option<f32>,
    #[command(flatten)]
    pub stereo: StereoArgs,
    /// The comfort report's screen: its width in metres (a 55-inch TV is 1.21).
    #[arg(
        long,
        value_name = "M",
        default_value_t = crate::comfort::DEFAULT_SCREEN_WIDTH_M,
        allow_negative_numbers = true,
        help_heading = COMFORT
    )]
    pub screen_width_m: f32,
    /// The comfort report's seat: the distance from the eyes to the screen in metres.
    #[arg(
        long,
        value_name = "M",
        default_value_t = crate::comfort::DEFAULT_VIEWING_DISTANCE_M,
        allow_negative_numbers = true,
        help_heading = COMFORT
    )]
    pub viewing_distance_m: f32,
    /// Output layout.
    #[arg(long, value_enum, default_value_t = Layout::Sbs)]
    pub layout: Layout,
    /// --layout vr180: how wide the picture is in front of the viewer, as a flat screen
    /// on black (degrees across; 10 to 170).
    #[arg(long, value_name = "DEG", default_value_t = crate::vr180::DEFAULT_SCREEN_FOV_DEG, value_parser = parse_screen_fov)]
    pub vr_screen_fov: f32,
    /// --layout vr180: stretch the picture over the whole 180-degree half instead.
    #[arg(long)]
    pub vr_fill: bool,
    /// --layout novel: move the camera by X,Y,Z (right, up, forward) in metres for metric
    /// depth, else in units of the depth range (nearest to farthest is 1); the stereo
    /// eye is one IPD to the right (the log says how much that is).
    #[arg(long, value_name = "X,Y,Z", allow_hyphen_values = true, value_parser = parse_triple, help_heading = NOVEL)]
    pub camera_offset: Option<[f32; 3]>,
    /// --layout novel: turn the camera by YAW,PITCH,ROLL degrees (right, up, clockwise).
    #[arg(long, value_name = "YAW,PITCH,ROLL", allow_hyphen_values = true, value_parser = parse_triple, help_heading = NOVEL)]
    pub camera_rotate: Option<[f32; 3]>,
    /// --layout novel: a keyframed camera move, .csv (time,x,y,z,yaw,pitch,roll per
    /// line) or .toml ([[key]] time, offset, rotate); linear between keys. A still image
    /// along a path becomes a clip that ends at the last key.
    #[arg(long, value_name = "FILE", help_heading = NOVEL)]
    pub camera_path: Option<PathBuf>,
    /// Anaglyph colour method (with --layout anaglyph).
    #[arg(long, value_enum, default_value_t = Anaglyph::Dubois)]
    pub anaglyph: Anaglyph,
    /// Where the warp runs: output (the size each eye is shown at; half-width and
    /// half-height layouts warp half the pixels) or input (full size, then squeezed).
    #[arg(long, value_enum, default_value_t = WarpResolution::Output)]
    pub warp_resolution: WarpResolution,
    /// x264 constant rate factor: 0 lossless .. 51 worst.
    #[arg(long, default_value_t = 20)]
    pub crf: u32,
    /// x264 speed preset (ultrafast .. veryslow).
    #[arg(long, default_value = "medium")]
    pub speed_preset: String,
    /// Video encoder: auto (hardware when GStreamer has one, else x264), x264, x265,
    /// nvenc, nvenc-h265, vaapi, vaapi-h265, qsv, v4l2.
    #[arg(long, value_enum, default_value_t = VideoEncoder::Auto)]
    pub encoder: VideoEncoder,
    /// HDR sources (10-bit BT.2020 PQ or HLG): keep them HDR in a 10-bit H.265 output
    /// with their metadata, or tone-map them to SDR BT.709 for players and screens that
    /// cannot show HDR. Stills and 8-bit encoders always get the tone map.
    #[arg(long, value_enum, default_value_t = crate::hdr::HdrMode::Keep)]
    pub hdr: crate::hdr::HdrMode,
    /// Bits per sample of the output video: 8, or 10 (H.265 encoders).
    #[arg(long, default_value_t = 8, value_parser = parse_bit_depth)]
    pub bit_depth: u32,
    /// Video decoder: auto (GStreamer's ranking, hardware first when present), software,
    /// or hardware (fails when there is none).
    #[arg(long, value_enum, default_value_t = DecoderChoice::Auto)]
    pub decoder: DecoderChoice,
    /// Where decoded YUV frames become RGB: gpu (upload the decoder's planes, 1.5 bytes
    /// per pixel, convert in a shader), cpu (GStreamer's videoconvert), or auto: gpu on a
    /// hardware adapter, cpu on a software rasteriser (where it is cheaper).
    #[arg(long, value_enum, default_value_t = ColourConvert::Auto)]
    pub colour_convert: ColourConvert,
    /// Where the warp and compose run: gpu, cpu (the same algorithm on the CPU's
    /// cores), or auto: the CPU when the only GPU is a software rasteriser (lavapipe) and
    /// nothing GPU-only (--post, --shader-dir, --mask-out, inspection layouts) is asked for.
    /// The preview's live view always warps on the GPU; its render button honours this.
    #[arg(long, value_enum, default_value_t = WarpDevice::Auto)]
    pub warp_device: WarpDevice,
    /// Append the layout's player tag to the output name (_LRF_Full_SBS, _LR, _TB, ...).
    #[arg(long)]
    pub name_tags: bool,
    /// Render at most N frames (default: all).
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Start this many seconds into the input.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub start: f64,
    /// Per-frame convergence: one value per input frame per line, in the unit of
    /// --convergence (nearness, pixels) or, for metric depth, metres; `#` starts a
    /// comment; past the end the last value holds. --convergence-out writes this format.
    #[arg(
        long,
        value_name = "FILE",
        alias = "convergence-depth-file",
        help_heading = COMFORT
    )]
    pub convergence_file: Option<PathBuf>,
    /// Smooth the per-frame convergence over this many frames: a centred average for
    /// --convergence-file (of 1/z for metres), a local linear fit for --convergence auto
    /// (default: one second of frames).
    #[arg(long, value_name = "FRAMES", help_heading = COMFORT)]
    pub convergence_smooth: Option<u32>,
    /// Write the convergence each frame used (with --convergence auto: where the subject
    /// was) in the --convergence-file format, to edit and feed back.
    #[arg(long, value_name = "FILE", help_heading = COMFORT)]
    pub convergence_out: Option<PathBuf>,
    /// A floating window: where something in front of the screen is cut by the left or
    /// right edge of the frame, a black band over that edge of one eye brings the
    /// frame's edge in front of it, easing in and out over half a second.
    #[arg(long, help_heading = COMFORT)]
    pub floating_window: bool,
    /// Letterbox and pillarbox: find the black bars over the clip, warp and fill only the
    /// picture inside them, and keep the bars pure black in both eyes (`keep`, the
    /// default) or leave them out (`crop`: the output is the picture's size).
    #[arg(
        long,
        value_name = "keep|crop",
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "keep",
        help_heading = COMFORT
    )]
    pub autocrop: Option<crate::layout::Autocrop>,
    /// Leave the source audio out.
    #[arg(long)]
    pub no_audio: bool,
    /// Post-process slot: a WGSL file defining `fn post(p: vec2<u32>) -> vec4<f32>`, the
    /// colour of each output pixel, from the eyes, depth and input (see
    /// shaders/post/row_interleaved.wgsl). The output size is the --layout's.
    #[arg(long, value_name = "FILE.wgsl")]
    pub post: Option<PathBuf>,
    /// Settings saved by the preview (TOML); flags typed on the command line win over it.
    #[arg(long, value_name = "FILE.toml")]
    pub preset: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

/// Depth estimation: an ONNX model, or the built-in cue estimate when there is no depth.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// ONNX depth model: a file, or a name from `stereosplat models list` (e.g.
    /// depth-anything-v2-small), downloaded on first use. Used when no --depth is given,
    /// even if a <stem>_depth file exists.
    #[arg(long, value_name = "FILE.onnx|NAME")]
    pub depth_model: Option<PathBuf>,
    /// The model output that holds the depth, for models with several (default: the one
    /// shaped like a depth map, preferring a name with "depth" in it).
    #[arg(long, value_name = "NAME")]
    pub depth_output: Option<String>,
    /// Test-time augmentation: also estimate each frame mirrored left to right and average
    /// the two (twice the inference time; steadier edges).
    #[arg(long)]
    pub tta: bool,
    /// ONNX Runtime execution provider: auto tries the GPU providers the library offers,
    /// then the CPU.
    #[arg(long, value_enum, default_value_t = Ep::Auto)]
    pub ep: Ep,
    /// The ONNX Runtime library (libonnxruntime.so.1.31.1, onnxruntime.dll). Default:
    /// ORT_DYLIB_PATH, then .venv/ from `bash .ci/setup`, then Python environments on PATH.
    #[arg(long, value_name = "FILE")]
    pub ort_lib: Option<PathBuf>,
    /// Short side of the model input for dynamic-size models (multiples of 14 are used).
    #[arg(long, default_value_t = 518, value_name = "N")]
    pub depth_size: u32,
    /// Temporal normalisation of estimated relative depth: ema (smoothed percentiles,
    /// reset at scene cuts), clip (one range per clip) or frame (each frame alone).
    /// Default: clip for video depth models (already stable in time), ema otherwise.
    #[arg(long, value_enum)]
    pub normalize: Option<Normalize>,
    /// Frames per inference call.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub batch_size: usize,
    /// Folder of cached depth estimates (default: $XDG_CACHE_HOME/stereosplat or ~/.cache/stereosplat).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or keep cached depth estimates.
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where catalog models come from (`--depth-model NAME`, `stereosplat models`).
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// A model catalog of your own (TOML, the format of models/catalog.toml) that adds
    /// models or replaces them by name. Default: STEREOSPLAT_CATALOG.
    #[arg(long, value_name = "FILE.toml")]
    pub catalog: Option<PathBuf>,
    /// Never download: a catalog model that is not there yet is an error that gives the
    /// command to fetch it. Also STEREOSPLAT_OFFLINE=1.
    #[arg(long)]
    pub offline: bool,
}

impl StoreArgs {
    pub fn options(&self, cache_dir: Option<PathBuf>) -> crate::models::StoreOptions {
        crate::models::StoreOptions {
            cache_dir,
            catalog: self.catalog.clone(),
            offline: self.offline,
        }
    }
}

impl ModelArgs {
    pub fn options(&self, kind: DepthKind, shaders: ShaderSet) -> EstimateOptions {
        EstimateOptions {
            model: self.depth_model.clone(),
            ep: self.ep,
            ort_lib: self.ort_lib.clone(),
            depth_size: self.depth_size,
            kind,
            normalize: self.normalize,
            batch: self.batch_size,
            output: self.depth_output.clone(),
            tta: self.tta,
            cache_dir: self.cache_dir.clone(),
            no_cache: self.no_cache,
            store: self.store.options(self.cache_dir.clone()),
            shaders,
            force: false,
        }
    }
}

#[derive(Debug, Args)]
pub struct DepthArgs {
    /// Input video or image.
    pub input: PathBuf,
    /// Output depth file: .mkv (FFV1, lossless) or .png for an image; with --format ply or
    /// obj, the folder the files go into (one per frame).
    #[arg(short, long)]
    pub output: PathBuf,
    /// gray16 (lossless; relative near = bright, or metric in millimetres), gray8, rgb
    /// (the metric depth toolbox's encoding, with --max-depth), or the depth as geometry:
    /// ply (points) or obj (a mesh).
    #[arg(long, value_enum, default_value_t = ExportFormat::Gray16)]
    pub format: ExportFormat,
    /// What the model outputs (or, with --depth, what the file holds): relative (inverse
    /// depth), metric (metres) or disparity (pixels).
    #[arg(long, value_enum, default_value_t = DepthKind::Relative)]
    pub depth_kind: DepthKind,
    /// --format rgb: the distance in metres of full scale.
    #[arg(
        long,
        default_value_t = 20.0,
        value_name = "M",
        allow_negative_numbers = true
    )]
    pub max_depth: f32,
    /// Estimate at most N frames from the start.
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    #[command(flatten)]
    pub geometry: GeometryArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

/// `--help` heading of the geometry export's options.
const GEOMETRY: &str = "Depth as geometry (--format ply|obj)";

/// `depth --format ply|obj`: where the depth comes from and how it becomes geometry.
#[derive(Debug, Args)]
pub struct GeometryArgs {
    /// A depth file to export instead of estimating one (as `render --depth`; default:
    /// `<stem>_depth.<ext>` beside the input when there is one, else the estimate).
    #[arg(long, value_name = "FILE", help_heading = GEOMETRY)]
    pub depth: Option<PathBuf>,
    /// The depth file stores distance (far = bright) instead of inverse depth.
    #[arg(long, help_heading = GEOMETRY)]
    pub depth_far_bright: bool,
    /// Metres (metric) or pixels (disparity) per stored step of the depth file.
    #[arg(long, value_name = "S", help_heading = GEOMETRY)]
    pub depth_scale: Option<f32>,
    /// The depth file is the metric depth toolbox's RGB encoding (with --max-depth).
    #[arg(long, help_heading = GEOMETRY)]
    pub depth_rgb: bool,
    /// Horizontal field of view of the camera in degrees (needed for metric depth;
    /// relative depth is seen with 60 unless given).
    #[arg(long, value_name = "DEG", help_heading = GEOMETRY)]
    pub xfov: Option<f32>,
    /// Vertical field of view in degrees (used when --xfov is not given).
    #[arg(long, value_name = "DEG", help_heading = GEOMETRY)]
    pub yfov: Option<f32>,
    /// Neighbours whose 1/z differs by more than this fraction are not joined (the
    /// render's edge test). Default: surfaces seen within a degree of edge-on are cut.
    #[arg(long, value_name = "FRACTION", help_heading = GEOMETRY)]
    pub edge_threshold: Option<f32>,
    /// Pixels between vertices: 1 keeps every pixel, 4 writes a sixteenth of the points.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64), help_heading = GEOMETRY)]
    pub grid_step: u32,
    /// Write ASCII PLY instead of binary.
    #[arg(long, help_heading = GEOMETRY)]
    pub ascii: bool,
    /// Start this many seconds into the input.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0, help_heading = GEOMETRY)]
    pub start: f64,
}

/// Refuses flags typed for another depth kind than the one in use (`typed` says whether
/// a flag, by its argument id, was on the command line). Each kind has its own strength
/// and screen-plane quantity, in its own unit; one given for another kind would be
/// silently ignored, or worse, read in the wrong unit.
pub fn check_kind_flags(
    kind: DepthKind,
    auto_convergence: bool,
    typed: &dyn Fn(&str) -> bool,
) -> anyhow::Result<()> {
    let kind_name = DepthKind::name;
    let only = |id: &str, flag: &str, wanted: DepthKind, instead: &str| {
        if typed(id) && kind != wanted {
            anyhow::bail!(
                "{flag} applies to --depth-kind {} only, and this depth is {}: {instead}",
                kind_name(wanted),
                kind_name(kind)
            );
        }
        Ok(())
    };
    let relative_strength = match kind {
        DepthKind::Metric => "metric depth takes its strength from --ipd-mm and --xfov",
        _ => "disparity depth is already in pixels (scale it with --depth-scale)",
    };
    only(
        "max_disp",
        "--max-disp",
        DepthKind::Relative,
        relative_strength,
    )?;
    only(
        "divergence",
        "--divergence",
        DepthKind::Relative,
        relative_strength,
    )?;
    for (id, flag) in [
        ("depth_curve", "--depth-curve"),
        ("foreground_scale", "--foreground-scale"),
    ] {
        only(
            id,
            flag,
            DepthKind::Relative,
            "shaping works on relative depth normalised over the clip; metric and disparity values are used as they are",
        )?;
    }
    only(
        "depth_far_bright",
        "--depth-far-bright",
        DepthKind::Relative,
        "metric and disparity values say which way they run",
    )?;
    only(
        "convergence_depth",
        "--convergence-depth",
        DepthKind::Metric,
        "use --convergence (nearness 0..1 for relative depth, pixels for disparity)",
    )?;
    only(
        "max_depth",
        "--max-depth",
        DepthKind::Metric,
        "relative depth is normalised over the clip, and disparity depth is in pixels",
    )?;
    only(
        "ipd_mm",
        "--ipd-mm",
        DepthKind::Metric,
        "use --max-disp for relative depth; disparity depth is already in pixels",
    )?;
    if typed("convergence") && kind == DepthKind::Metric && !auto_convergence {
        anyhow::bail!(
            "--convergence is for relative depth (nearness 0..1) and disparity depth (pixels); \
             metric depth sets its screen plane with --convergence-depth M (metres)"
        );
    }
    if typed("depth_scale") && kind == DepthKind::Relative {
        anyhow::bail!(
            "--depth-scale gives metres (metric) or pixels (disparity) per stored step; relative \
             depth is normalised over the clip and takes no scale (use --max-disp for strength)"
        );
    }
    Ok(())
}

/// The command-line spelling of a value (`half-sbs` for `Layout::HalfSbs`), for messages
/// that tell the user what to type.
pub fn value_name<T: clap::ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_owned())
        .unwrap_or_default()
}

fn parse_bit_depth(s: &str) -> Result<u32, String> {
    match s {
        "8" => Ok(8),
        "10" => Ok(10),
        _ => Err("the output bit depth is 8 or 10".into()),
    }
}

impl RenderOptions {
    /// The job every file shares; input, output, depth and mask are set per file.
    pub fn template(&self) -> RenderJob {
        RenderJob {
            input: PathBuf::new(),
            output: PathBuf::new(),
            depth: None,
            depth_far_is_bright: self.depth_far_bright,
            depth_kind: self.depth_kind,
            depth_scale: self.depth_scale,
            depth_rgb: self.depth_rgb,
            max_depth_m: self.max_depth,
            xfov_deg: self.xfov,
            yfov_deg: self.yfov,
            stereo: self.stereo.params(self.depth_kind),
            layout: self.layout,
            anaglyph: self.anaglyph,
            encode: EncodeSettings {
                crf: self.crf,
                speed_preset: self.speed_preset.clone(),
                layout: self.layout,
                encoder: self.encoder,
                bit_depth: self.bit_depth,
                // Set from the input when it is opened.
                pixel_aspect: (1, 1),
                hdr: None,
                matrix: None,
            },
            name_tags: self.name_tags,
            mask_out: None,
            convergence_file: self.convergence_file.clone(),
            convergence_smooth_frames: self.convergence_smooth,
            auto_convergence: self.stereo.convergence == Some(ConvergenceArg::Auto),
            convergence_out: self.convergence_out.clone(),
            floating_window: self.floating_window,
            autocrop: self.autocrop,
            chunks: Default::default(),
            vr: crate::vr180::VrPlacement {
                screen_fov_deg: self.vr_screen_fov,
                fill: self.vr_fill,
            },
            novel: crate::view3d::NovelOptions {
                pose: crate::view3d::Pose {
                    offset: self.camera_offset.unwrap_or_default(),
                    rotate_deg: self.camera_rotate.unwrap_or_default(),
                },
                path: self.camera_path.clone(),
                clock_start_secs: None,
            },
            hdr: self.hdr,
            inpaint: crate::inpaint::InpaintOptions {
                model: self.stereo.inpaint_model.clone(),
                range: self.stereo.inpaint_range,
                mask: self.stereo.inpaint_mask,
                tile: self.stereo.inpaint_tile,
                batch: self.stereo.inpaint_batch as usize,
                temporal: self.stereo.inpaint_temporal,
            },
            frames: self.frames,
            start_secs: self.start,
            audio: !self.no_audio,
            shaders: self.gpu.shaders(),
            estimate: self.model.options(self.depth_kind, self.gpu.shaders()),
            post: self.post.clone(),
            warp_resolution: self.warp_resolution,
            trace: None,
            preset: self.preset.clone(),
            colour_convert: self.colour_convert,
            warp_device: self.warp_device,
            viewing: crate::comfort::Viewing {
                screen_width_m: self.screen_width_m,
                viewing_distance_m: self.viewing_distance_m,
            },
            report: None,
        }
    }
}

impl RenderArgs {
    pub fn job(&self) -> RenderJob {
        RenderJob {
            input: self.input.clone(),
            output: self.output.clone(),
            depth: self.depth.clone(),
            mask_out: self.mask_out.clone(),
            trace: self.trace.clone(),
            report: self.report.clone(),
            chunks: crate::render::chunks::ChunkOptions {
                seconds: self.chunk_seconds,
                off: self.no_chunks,
                worker: self.chunk_worker,
                no_join: self.no_join,
                piece: None,
            },
            ..self.options.template()
        }
    }
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Input video or image (can also be opened from the window).
    pub input: Option<PathBuf>,
    /// Depth video or image; default as for render.
    #[arg(long)]
    pub depth: Option<PathBuf>,
    /// Start playing at once.
    #[arg(long)]
    pub play: bool,
    /// Close the window after showing N frames (scripts and tests).
    #[arg(long, value_name = "N")]
    pub exit_after_frames: Option<u64>,
    /// Benchmark: change the disparity N times and report the time from each change to
    /// the next window frame after the updated picture was drawn, then close.
    #[arg(long, value_name = "N")]
    pub measure_latency: Option<u32>,
    #[command(flatten)]
    pub options: RenderOptions,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Frames in the generated end-to-end clip. The default, ten seconds at 30 fps, is
    /// long enough that start-up and x264's drain after the last frame (its 40-frame
    /// lookahead) no longer set the ratio, as they did at 60 frames.
    #[arg(long, default_value_t = 300)]
    pub frames: u64,
    /// Warp iterations per size.
    #[arg(long, default_value_t = 20)]
    pub iterations: u32,
    /// Skip the end-to-end clip (GPU warp timing only; needs no GStreamer encoder).
    #[arg(long)]
    pub warp_only: bool,
    /// Folder for the generated clips (default: a temporary folder).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Where the end-to-end render warps (as render's --warp-device).
    #[arg(long, value_enum, default_value_t = WarpDevice::Auto)]
    pub warp_device: WarpDevice,
    /// Size of an end-to-end clip, WxH; repeat for several (e.g. --e2e-size 1920x1080
    /// --e2e-size 3840x2160). Default: 1920x1080.
    #[arg(long = "e2e-size", value_name = "WxH", value_parser = parse_size)]
    pub e2e_sizes: Vec<(u32, u32)>,
    /// Render and baseline runs per size, alternated; the run with the median ratio is
    /// reported, and every run's times are listed.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub e2e_runs: u32,
    /// Video encoder of the end-to-end render and of its decode+encode-only baseline
    /// alike (as render's --encoder; both use its resolved element).
    #[arg(long, value_enum, default_value_t = VideoEncoder::Auto)]
    pub encoder: VideoEncoder,
    /// Video decoder of both (as render's --decoder).
    #[arg(long, value_enum, default_value_t = DecoderChoice::Auto)]
    pub decoder: DecoderChoice,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

/// "1920x1080" -> (1920, 1080); even sides, as 4:2:0 video needs.
fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let parsed = s
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((w, h)) if w >= 16 && h >= 16 && w % 2 == 0 && h % 2 == 0 => Ok((w, h)),
        Some(_) => Err(format!("{s}: both sides must be even and at least 16")),
        None => Err(format!("{s}: expected WIDTHxHEIGHT, e.g. 1920x1080")),
    }
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Folder of videos and images to convert.
    #[arg(long)]
    pub input_dir: PathBuf,
    /// Folder of pre-rendered depth (<stem>_depth.<ext>, same sub-folders); default: beside each input.
    #[arg(long)]
    pub depth_dir: Option<PathBuf>,
    /// Where outputs go, as <stem>_splatted.<ext> in the same sub-folders.
    #[arg(long)]
    pub output_dir: PathBuf,
    /// Include sub-folders.
    #[arg(long)]
    pub recursive: bool,
    /// Skip files whose output already exists (outputs only appear once complete).
    #[arg(long)]
    pub resume: bool,
    /// Go on with the next file after a failure (the exit code still reports it).
    #[arg(long)]
    pub skip_error: bool,
    /// Write a JSON report of every file (status, frames, reason, seconds).
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
    /// Take only share I of N (0-based), stable per file: run N copies, e.g. as a Slurm
    /// array or a Kubernetes indexed Job, with no coordinator.
    #[arg(long, value_name = "I/N", value_parser = crate::batch::parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Container for video outputs: mp4, mkv or mov (default: the input's if it is one of those, else mp4).
    #[arg(long, value_parser = ["mp4", "mkv", "mov"])]
    pub format: Option<String>,
    #[command(flatten)]
    pub options: RenderOptions,
}

impl BatchArgs {
    pub fn job(&self) -> crate::batch::BatchJob {
        crate::batch::BatchJob {
            input_dir: self.input_dir.clone(),
            depth_dir: self.depth_dir.clone(),
            output_dir: self.output_dir.clone(),
            recursive: self.recursive,
            resume: self.resume,
            skip_error: self.skip_error,
            report: self.report.clone(),
            shard: self.shard,
            video_ext: self.format.clone(),
            template: self.options.template(),
        }
    }
}
