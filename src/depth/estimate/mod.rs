//! Depth for a clip that has none: an ONNX model (`--depth-model`) or the built-in cue
//! estimate, computed once per clip and settings and cached on disk.
//!
//! Two passes, both streaming (memory does not grow with the clip):
//! 1. estimate: decode -> GPU resample/normalise (model_input.wgsl) -> model or cues ->
//!    each map quantised to 16 bits with its own min..max, written losslessly
//!    (`<key>.raw.mkv`) with per-frame statistics and scene cuts (`<key>.raw.json`);
//! 2. finish: the temporal normalisation (`--normalize`) turns the raw maps into the
//!    depth file the render reads (`<key>.<mode>.mkv`), or into an export
//!    (`stereosplat depth`) in the format asked for.
//!
//! A second render of the same clip with the same model and settings reuses pass 1 (and
//! pass 2 when the normalisation matches) and runs no inference at all.

mod cache;
mod estimator;
mod finish;
mod raw;
mod windows;

use std::path::{Path, PathBuf};

use super::model::ModelError;
use super::normalize::Normalize;
use super::writer::WriterError;
use crate::control::{Cancel, Stopped};
use crate::gpu::{GpuContext, GpuError, ReadbackError, ShaderSet};
use crate::media::decode::DecodeError;
use crate::models::{self, StoreError, StoreOptions, Task};
use crate::onnx::Ep;
use crate::progress::Progress;
use crate::stereo::DepthKind;

pub(crate) use cache::{cache_dir, fnv1a};

/// Why an estimate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    /// Options or sizes that cannot work, said in the user's terms.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Stopped(#[from] Stopped),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Readback(#[from] ReadbackError),
    #[error(transparent)]
    Writer(#[from] WriterError),
    #[error("reading the cached depth {path}: {source}")]
    Cache { path: PathBuf, source: DecodeError },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{} has no video frames to estimate depth from", .0.display())]
    NoFrames(PathBuf),
}

/// `Err(EstimateError::Invalid(..))` from a format string.
macro_rules! invalid {
    ($($t:tt)*) => {
        return Err(EstimateError::Invalid(format!($($t)*)))
    };
}

#[derive(Clone, Debug)]
pub struct EstimateOptions {
    /// A model file or catalog name; None: the built-in cue estimate.
    pub model: Option<PathBuf>,
    pub ep: Ep,
    pub ort_lib: Option<PathBuf>,
    /// Short side fed to a dynamic-size model.
    pub depth_size: u32,
    /// What the model outputs: relative disparity or metres.
    pub kind: DepthKind,
    /// Temporal normalisation; None: `clip` for video models (already stable in time),
    /// `ema` otherwise.
    pub normalize: Option<Normalize>,
    /// Frames per inference call.
    pub batch: usize,
    /// The model output holding the depth, for models with several (`--depth-output`).
    pub output: Option<String>,
    /// Average each estimate with that of the mirrored frame (`--tta`).
    pub tta: bool,
    pub cache_dir: Option<PathBuf>,
    pub no_cache: bool,
    /// Where catalog models are found and whether they may be downloaded.
    pub store: StoreOptions,
    pub shaders: ShaderSet,
    /// Estimate even when a `<stem>_depth` file sits beside the input.
    pub force: bool,
}

impl Default for EstimateOptions {
    fn default() -> Self {
        Self {
            model: None,
            ep: Ep::Auto,
            ort_lib: None,
            depth_size: 518,
            kind: DepthKind::Relative,
            normalize: None,
            batch: 1,
            output: None,
            tta: false,
            cache_dir: None,
            no_cache: false,
            store: StoreOptions::default(),
            shaders: ShaderSet::Embedded,
            force: false,
        }
    }
}

impl EstimateOptions {
    /// The model store these options read (the same cache folder as the estimates).
    fn store(&self) -> Result<models::Store, StoreError> {
        models::Store::open(&StoreOptions {
            cache_dir: self.cache_dir.clone(),
            ..self.store.clone()
        })
    }

    /// These options with the model made into a file: a catalog name is downloaded when
    /// missing (unless offline), with a line in the log saying what and from where.
    fn with_model_file(&self) -> Result<Self, EstimateError> {
        let Some(reference) = &self.model else {
            return Ok(self.clone());
        };
        let quiet = log::max_level() < log::LevelFilter::Info;
        let mut progress = crate::progress::transfer_for_terminal(quiet);
        let resolved = self
            .store()?
            .resolve(reference, Task::Depth, progress.as_mut())?;
        Ok(Self {
            model: Some(resolved.path),
            ..self.clone()
        })
    }
}

/// Export formats of `stereosplat depth`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// 8-bit grey, near = bright (relative depth).
    Gray8,
    /// 16-bit grey, lossless: relative depth near = bright, or metric depth in millimetres.
    #[default]
    Gray16,
    /// The metric depth toolbox's RGB encoding (metric models; with --max-depth).
    Rgb,
    /// Coloured points, one binary PLY per frame into the folder -o names (ASCII with
    /// --ascii): metres for metric depth.
    Ply,
    /// A coloured triangle mesh, one OBJ per frame into the folder -o names.
    Obj,
}

impl ExportFormat {
    /// Whether this format is geometry (files per frame in a folder) rather than a depth
    /// video.
    pub fn is_geometry(self) -> bool {
        matches!(self, ExportFormat::Ply | ExportFormat::Obj)
    }
}

/// A depth file ready for the render, and how to read it.
pub struct Estimated {
    pub path: PathBuf,
    pub kind: DepthKind,
    /// Metric: metres per stored step.
    pub depth_scale: Option<f32>,
    /// Removed on drop (`--no-cache`).
    scratch: Option<PathBuf>,
}

impl Drop for Estimated {
    fn drop(&mut self) {
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Millimetres: metric depth in 16-bit files (65.535 m at most; farther clamps).
pub const METRIC_GRAY16_SCALE: f32 = 0.001;

pub fn validate(opts: &EstimateOptions) -> Result<(), EstimateError> {
    if opts.kind == DepthKind::Disparity {
        invalid!(
            "--depth-kind disparity describes depth files; a model outputs relative depth or metres (--depth-kind relative|metric)"
        );
    }
    if opts.model.is_none() && opts.kind == DepthKind::Metric {
        invalid!(
            "the built-in depth estimate is relative: metric depth needs a metric model (--depth-model FILE --depth-kind metric)"
        );
    }
    if !(14..=4096).contains(&opts.depth_size) {
        invalid!(
            "--depth-size {} is out of range: use a short side between 14 and 4096 (518 for Depth-Anything)",
            opts.depth_size
        );
    }
    if opts.batch == 0 || opts.batch > 256 {
        invalid!("--batch-size must be between 1 and 256");
    }
    if let Some(m) = &opts.model {
        let store = opts.store()?;
        store.check(m, Task::Depth)?;
        // A catalog model says what it outputs: a mismatch would read metres as
        // disparity or the reverse.
        if !m.is_file()
            && let Some(out) = store
                .catalog()
                .get(&m.to_string_lossy())
                .and_then(|e| e.output)
        {
            let want = match out {
                models::Output::Relative => DepthKind::Relative,
                models::Output::Metric => DepthKind::Metric,
            };
            if want != opts.kind {
                invalid!(
                    "{} outputs {} depth: pass --depth-kind {}{}",
                    m.display(),
                    want.name(),
                    want.name(),
                    if want == DepthKind::Metric {
                        " and the camera's field of view (--xfov DEG)"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    Ok(())
}

/// Warns, once per process, that depth comes from the built-in cue estimate; `what`
/// says for which files ("no depth file and no --depth-model", or a batch's count). A
/// batch warns once for all its files, and a cached estimate warns as a fresh one does.
pub fn warn_builtin_estimate(what: &str) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        log::warn!(
            "{what}: using the built-in depth estimate from image cues (position, focus, \
             colour, motion). For much better depth, pass --depth-model \
             depth-anything-v2-small (downloaded on first use; `stereosplat models list` shows \
             the others) or a depth video with --depth"
        );
    }
}

/// The render's depth: from the cache when this clip was estimated before with the same
/// settings, otherwise estimated now. `frame_limit` stops after that many frames from
/// the start of the clip.
pub fn depth_for_render(
    ctx: &GpuContext,
    input: &Path,
    opts: &EstimateOptions,
    frame_limit: Option<u64>,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<Estimated, EstimateError> {
    validate(opts)?;
    if opts.model.is_none() {
        warn_builtin_estimate("no depth file and no --depth-model");
    }
    let opts = &opts.with_model_file()?;
    let (dir, scratch) = cache_dir(opts)?;
    let key = cache::cache_key(input, opts, frame_limit);
    let raw = raw::ensure_raw(ctx, input, opts, frame_limit, &dir, &key, progress, cancel)?;
    let ext = if raw.still { "png" } else { "mkv" };
    let mode = if opts.kind == DepthKind::Metric {
        "metric"
    } else {
        raw.normalize(opts).name()
    };
    let finished = dir.join(format!("{key}.{mode}.{ext}"));
    if finished.is_file() {
        log::info!("depth from the cache: {}", finished.display());
    } else {
        finish::finish(&raw, opts, ExportFormat::Gray16, 20.0, &finished)?;
    }
    Ok(Estimated {
        path: finished,
        kind: opts.kind,
        depth_scale: (opts.kind == DepthKind::Metric).then_some(METRIC_GRAY16_SCALE),
        scratch,
    })
}

/// `stereosplat depth`: the estimate written to `out` in `format`.
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per option of the `depth` command"
)]
pub fn export(
    ctx: &GpuContext,
    input: &Path,
    opts: &EstimateOptions,
    frame_limit: Option<u64>,
    out: &Path,
    format: ExportFormat,
    max_depth_m: f32,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<(), EstimateError> {
    validate(opts)?;
    if opts.model.is_none() {
        warn_builtin_estimate("no --depth-model");
    }
    let opts = &opts.with_model_file()?;
    match (format, opts.kind) {
        (ExportFormat::Rgb, DepthKind::Relative) => invalid!(
            "--format rgb stores metric depth (the metric depth toolbox's encoding): use it with a metric model and --depth-kind metric, or export relative depth as gray16/gray8"
        ),
        (ExportFormat::Gray8, DepthKind::Metric) => invalid!(
            "8 bits cannot hold metric depth: export it as --format gray16 (millimetres) or --format rgb"
        ),
        _ => {}
    }
    if !(max_depth_m > 0.0 && max_depth_m.is_finite()) {
        invalid!("--max-depth must be a distance > 0 in metres");
    }
    super::writer::is_png_name(out)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        invalid!(
            "cannot write {}: the folder {} does not exist",
            out.display(),
            parent.display()
        );
    }
    let (dir, scratch) = cache_dir(opts)?;
    let key = cache::cache_key(input, opts, frame_limit);
    let raw = raw::ensure_raw(ctx, input, opts, frame_limit, &dir, &key, progress, cancel)?;
    finish::finish(&raw, opts, format, max_depth_m, out)?;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}
