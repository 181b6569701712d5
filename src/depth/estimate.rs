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

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::json;

use super::cues::CueDepth;
use super::normalize::{self, FrameStats, Normalize};
use super::onnx::{self, OnnxModel};
use super::ort_runtime::Ep;
use super::writer::{DepthWriter, PixelLayout};
use crate::control::{Cancel, Stopped};
use crate::gpu::{ChannelNorm, GpuContext, ModelInput, ShaderSet};
use crate::media::decode::{DecodeOptions, Decoder, PixelFormat};
use crate::progress::Progress;
use crate::stereo::DepthKind;

/// Bumped whenever pass 1's output would change for the same inputs.
const CACHE_VERSION: u32 = 1;
/// Short side of the cue estimate (it is smooth; more pixels buy nothing).
const CUE_SHORT_SIDE: u32 = 252;

#[derive(Clone, Debug)]
pub struct EstimateOptions {
    /// None: the built-in cue estimate.
    pub model: Option<PathBuf>,
    pub ep: Ep,
    pub ort_lib: Option<PathBuf>,
    /// Short side fed to a dynamic-size model.
    pub depth_size: u32,
    /// What the model outputs: relative disparity or metres.
    pub kind: DepthKind,
    pub normalize: Normalize,
    /// Frames per inference call.
    pub batch: usize,
    pub cache_dir: Option<PathBuf>,
    pub no_cache: bool,
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
            normalize: Normalize::Ema,
            batch: 1,
            cache_dir: None,
            no_cache: false,
            shaders: ShaderSet::Embedded,
            force: false,
        }
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

pub fn validate(opts: &EstimateOptions) -> anyhow::Result<()> {
    if opts.kind == DepthKind::Disparity {
        bail!(
            "--depth-kind disparity describes depth files; a model outputs relative depth or metres (--depth-kind relative|metric)"
        );
    }
    if opts.model.is_none() && opts.kind == DepthKind::Metric {
        bail!(
            "the built-in depth estimate is relative: metric depth needs a metric model (--depth-model FILE --depth-kind metric)"
        );
    }
    if !(14..=4096).contains(&opts.depth_size) {
        bail!(
            "--depth-size {} is out of range: use a short side between 14 and 4096 (518 for Depth-Anything)",
            opts.depth_size
        );
    }
    if opts.batch == 0 || opts.batch > 256 {
        bail!("--batch-size must be between 1 and 256");
    }
    if let Some(m) = &opts.model
        && !m.is_file()
    {
        bail!("depth model {}: no such file", m.display());
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
             colour, motion). For much better depth, pass --depth-model with \
             Depth-Anything-V2-Small (see models/README.md) or a depth video with --depth"
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
) -> anyhow::Result<Estimated> {
    validate(opts)?;
    if opts.model.is_none() {
        warn_builtin_estimate("no depth file and no --depth-model");
    }
    let (dir, scratch) = cache_dir(opts)?;
    let key = cache_key(input, opts, frame_limit);
    let raw = ensure_raw(ctx, input, opts, frame_limit, &dir, &key, progress, cancel)?;
    let ext = if raw.still { "png" } else { "mkv" };
    let mode = if opts.kind == DepthKind::Metric {
        "metric"
    } else {
        opts.normalize.name()
    };
    let finished = dir.join(format!("{key}.{mode}.{ext}"));
    if finished.is_file() {
        log::info!("depth from the cache: {}", finished.display());
    } else {
        finish(&raw, opts, ExportFormat::Gray16, 20.0, &finished)?;
    }
    Ok(Estimated {
        path: finished,
        kind: opts.kind,
        depth_scale: (opts.kind == DepthKind::Metric).then_some(METRIC_GRAY16_SCALE),
        scratch,
    })
}

/// `stereosplat depth`: the estimate written to `out` in `format`.
#[allow(clippy::too_many_arguments)]
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
) -> anyhow::Result<()> {
    validate(opts)?;
    if opts.model.is_none() {
        warn_builtin_estimate("no --depth-model");
    }
    match (format, opts.kind) {
        (ExportFormat::Rgb, DepthKind::Relative) => bail!(
            "--format rgb stores metric depth (the metric depth toolbox's encoding): use it with a metric model and --depth-kind metric, or export relative depth as gray16/gray8"
        ),
        (ExportFormat::Gray8, DepthKind::Metric) => bail!(
            "8 bits cannot hold metric depth: export it as --format gray16 (millimetres) or --format rgb"
        ),
        _ => {}
    }
    if !(max_depth_m > 0.0 && max_depth_m.is_finite()) {
        bail!("--max-depth must be a distance > 0 in metres");
    }
    super::writer::is_png_name(out)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        bail!(
            "cannot write {}: the folder {} does not exist",
            out.display(),
            parent.display()
        );
    }
    let (dir, _scratch) = cache_dir(opts)?;
    let key = cache_key(input, opts, frame_limit);
    let raw = ensure_raw(ctx, input, opts, frame_limit, &dir, &key, progress, cancel)?;
    finish(&raw, opts, format, max_depth_m, out)?;
    if let Some(dir) = _scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// Where cached depth lives: `--cache-dir`, `$STEREOSPLAT_CACHE`, `$XDG_CACHE_HOME/stereosplat`
/// or `~/.cache/stereosplat`; a scratch folder removed afterwards with `--no-cache`.
pub(crate) fn cache_dir(opts: &EstimateOptions) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    let (dir, scratch) = if opts.no_cache {
        let d = std::env::temp_dir().join(format!("stereosplat-depth-{}", std::process::id()));
        (d.clone(), Some(d))
    } else if let Some(d) = &opts.cache_dir {
        (d.clone(), None)
    } else if let Some(d) = std::env::var_os("STEREOSPLAT_CACHE") {
        (PathBuf::from(d), None)
    } else if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        (PathBuf::from(d).join("stereosplat"), None)
    } else if let Some(home) = std::env::var_os("HOME") {
        (PathBuf::from(home).join(".cache/stereosplat"), None)
    } else {
        (std::env::temp_dir().join("stereosplat-cache"), None)
    };
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create the depth cache folder {}: pass --cache-dir DIR (a writable folder) or --no-cache",
            dir.display()
        )
    })?;
    Ok((dir, scratch))
}

/// 64-bit FNV-1a: stable across builds and platforms (std's hasher is not).
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Everything that changes pass 1's output: the input file (path, size, time), the model
/// file, the model's input size, its kind, and how many frames.
fn cache_key(input: &Path, opts: &EstimateOptions, frame_limit: Option<u64>) -> String {
    let model = opts
        .model
        .as_deref()
        .map(onnx::model_identity)
        .unwrap_or_else(|| "builtin-cues".into());
    let text = format!(
        "v{CACHE_VERSION}|{}|{model}|{}|{:?}|{frame_limit:?}",
        onnx::model_identity(input),
        opts.depth_size,
        opts.kind,
    );
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{stem}-{:016x}", fnv1a(&text))
}

/// Pass 1's result.
struct Raw {
    video: PathBuf,
    stats: Vec<FrameStats>,
    still: bool,
}

#[allow(clippy::too_many_arguments)]
fn ensure_raw(
    ctx: &GpuContext,
    input: &Path,
    opts: &EstimateOptions,
    frame_limit: Option<u64>,
    dir: &Path,
    key: &str,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> anyhow::Result<Raw> {
    let meta = dir.join(format!("{key}.raw.json"));
    if let Some(raw) = read_raw(&meta) {
        log::info!(
            "depth estimate from the cache ({} frames): inference skipped",
            raw.stats.len()
        );
        return Ok(raw);
    }
    estimate(ctx, input, opts, frame_limit, dir, key, progress, cancel)
}

fn read_raw(meta: &Path) -> Option<Raw> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(meta).ok()?).ok()?;
    if v.get("version")?.as_u64()? != u64::from(CACHE_VERSION) {
        return None;
    }
    let video = meta.with_file_name(v.get("video")?.as_str()?);
    if !video.is_file() {
        return None;
    }
    let stats = v
        .get("frames")?
        .as_array()?
        .iter()
        .map(FrameStats::from_json)
        .collect::<Option<Vec<_>>>()?;
    Some(Raw {
        video,
        stats,
        still: v.get("still")?.as_bool()?,
    })
}

enum Estimator {
    Model(Box<OnnxModel>),
    Cues(CueDepth),
}

#[allow(clippy::too_many_arguments)]
fn estimate(
    ctx: &GpuContext,
    input: &Path,
    opts: &EstimateOptions,
    frame_limit: Option<u64>,
    dir: &Path,
    key: &str,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> anyhow::Result<Raw> {
    let mut decoder = Decoder::open(
        input,
        PixelFormat::Rgba,
        &DecodeOptions {
            start_nanos: 0,
            with_audio: false,
        },
    )?;
    let info = decoder.info().clone();
    let frame_size = (info.width, info.height);
    ctx.check_texture(
        frame_size,
        "depth estimation (it resamples each whole frame on the GPU for the model)",
        "Give a pre-rendered depth file with --depth, or scale the input down first.",
    )?;
    let mut estimator = match &opts.model {
        Some(path) => Estimator::Model(Box::new(OnnxModel::open(
            path,
            opts.ep,
            opts.ort_lib.as_deref(),
        )?)),
        None => Estimator::Cues(CueDepth::default()),
    };
    let (model_size, norm, batch) = match &estimator {
        Estimator::Model(m) => {
            let b = m.batch_limit(opts.batch);
            if b != opts.batch {
                log::info!(
                    "the model takes batches of {b}: running {b} frame(s) per call instead of {}",
                    opts.batch
                );
            }
            (
                m.input_size(frame_size, opts.depth_size),
                ChannelNorm::IMAGENET,
                b,
            )
        }
        Estimator::Cues(_) => (
            onnx::patch_aligned_size(frame_size, opts.depth_size.min(CUE_SHORT_SIDE)),
            ChannelNorm::IDENTITY,
            1,
        ),
    };
    // The model input lives in GPU buffers of 12 bytes a pixel (three floats): a large
    // --depth-size on a large frame can ask for more than one buffer may hold.
    let limits = ctx.device.limits();
    let buffer_limit = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    let input_bytes = u64::from(model_size.0) * u64::from(model_size.1) * 12;
    if input_bytes > buffer_limit {
        bail!(
            "{}: a {}x{} model input (--depth-size {}) needs {} MB of GPU buffer, and the \
             adapter {} allows {} MB; use a smaller --depth-size",
            input.display(),
            model_size.0,
            model_size.1,
            opts.depth_size,
            input_bytes / 1_000_000,
            ctx.describe(),
            buffer_limit / 1_000_000
        );
    }
    // Maps are stored at the frame's aspect ratio (the render pairs depth and frames by
    // shape): a static square model's output, or the multiple-of-14 rounding on small
    // frames, is resampled to it.
    let fed = match &estimator {
        Estimator::Model(m) if m.shape.width.is_some() => {
            onnx::patch_aligned_size(frame_size, opts.depth_size)
        }
        _ => model_size,
    };
    let map_size = aspect_true(fed, frame_size);
    log::info!(
        "estimating depth of {} at {}x{} (model input {}x{})",
        input.display(),
        map_size.0,
        map_size.1,
        model_size.0,
        model_size.1
    );
    let mut prep = ModelInput::new(ctx, &opts.shaders)?;
    prep.prepare(ctx, frame_size, model_size);

    let video = dir.join(format!(
        "{key}.raw.{}",
        if info.is_still { "png" } else { "mkv" }
    ));
    let fps = info.fps.filter(|_| !info.is_still);
    let mut writer = DepthWriter::create(&video, map_size, PixelLayout::Gray16, fps)?;
    let mut stats = Vec::new();
    let mut pending: Vec<f32> = Vec::new();
    let mut pending_times: Vec<(u64, Option<u64>, bool)> = Vec::new();
    let mut previous_luma: Option<Vec<f32>> = None;
    let (mut model_secs, mut prep_secs, mut frames) = (0.0f64, 0.0f64, 0u64);
    // Post-processing (resize, statistics, quantisation, writing) counts as ours too.
    let post_secs = std::cell::Cell::new(0.0f64);
    progress.start(frame_limit.or(info.estimated_frames()));

    let emit = |map: Vec<f32>,
                size: (u32, u32),
                (pts, dur, cut): (u64, Option<u64>, bool),
                writer: &mut DepthWriter,
                stats: &mut Vec<FrameStats>|
     -> anyhow::Result<()> {
        let t = Instant::now();
        let map = if size == map_size {
            map
        } else {
            resize_bilinear(&map, size, map_size)
        };
        let st = FrameStats::of(&map, cut);
        let span = (st.max - st.min).max(f32::MIN_POSITIVE);
        let mut bytes = Vec::with_capacity(map.len() * 2);
        for v in &map {
            let q = ((v - st.min) / span * 65535.0).round().clamp(0.0, 65535.0) as u16;
            bytes.extend_from_slice(&q.to_le_bytes());
        }
        writer.push(bytes, pts, dur)?;
        stats.push(st);
        post_secs.set(post_secs.get() + t.elapsed().as_secs_f64());
        Ok(())
    };

    while let Some(frame) = decoder.next_frame()? {
        Stopped::check(cancel, "estimating depth")?;
        if frame_limit.is_some_and(|n| frames >= n) {
            break;
        }
        let t = Instant::now();
        let with_cues = matches!(estimator, Estimator::Cues(_));
        let (tensor, cue_map) =
            prep.run(ctx, frame.data(), frame.stride_bytes(), norm, with_cues)?;
        ctx.check_errors()?;
        let luma = luma_of(&tensor, norm);
        let cut = previous_luma
            .as_ref()
            .is_some_and(|p| normalize::luma_change(p, &luma) > normalize::SCENE_CUT_LUMA);
        if cut {
            log::debug!("scene cut before frame {frames}");
        }
        previous_luma = Some(luma);
        let times = (frame.pts_nanos, frame.duration_nanos, cut);
        match &mut estimator {
            Estimator::Cues(c) => {
                let map = c.finish(cue_map.expect("cues asked for"), model_size, cut);
                prep_secs += t.elapsed().as_secs_f64();
                emit(map, model_size, times, &mut writer, &mut stats)?;
            }
            Estimator::Model(m) => {
                pending.extend_from_slice(&tensor);
                pending_times.push(times);
                prep_secs += t.elapsed().as_secs_f64();
                if pending_times.len() == batch {
                    let t = Instant::now();
                    let maps = m.run(std::mem::take(&mut pending), batch, model_size)?;
                    model_secs += t.elapsed().as_secs_f64();
                    for ((map, size), times) in maps.into_iter().zip(pending_times.drain(..)) {
                        emit(map, size, times, &mut writer, &mut stats)?;
                    }
                }
            }
        }
        frames += 1;
        progress.frame(frames);
    }
    if let Estimator::Model(m) = &mut estimator
        && !pending_times.is_empty()
    {
        let n = pending_times.len();
        let t = Instant::now();
        // A fixed-batch model gets its batch filled with copies of the last frame.
        let run_n = if m.shape.batch.is_some() { batch } else { n };
        let per = pending.len() / n;
        while pending.len() < run_n * per {
            let last = pending[pending.len() - per..].to_vec();
            pending.extend_from_slice(&last);
        }
        let maps = m.run(std::mem::take(&mut pending), run_n, model_size)?;
        model_secs += t.elapsed().as_secs_f64();
        for ((map, size), times) in maps.into_iter().zip(pending_times.drain(..)) {
            emit(map, size, times, &mut writer, &mut stats)?;
        }
    }
    progress.finish();
    if stats.is_empty() {
        bail!(
            "{} has no video frames to estimate depth from",
            input.display()
        );
    }
    writer.finish()?;
    let what = match &estimator {
        Estimator::Model(m) => format!("model on {}", m.provider.ort_name()),
        Estimator::Cues(_) => "built-in cues".into(),
    };
    log::info!(
        "depth estimated for {frames} frames ({what}): ours (GPU resample+normalise, readback, post) {:.1} ms/frame, model {:.1} ms/frame",
        (prep_secs + post_secs.get()) * 1000.0 / frames as f64,
        model_secs * 1000.0 / frames as f64
    );
    let meta = json!({
        "version": CACHE_VERSION,
        "input": input.display().to_string(),
        "video": video.file_name().map(|n| n.to_string_lossy().into_owned()),
        "still": info.is_still,
        "size": [map_size.0, map_size.1],
        "frames": stats.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
    });
    let meta_path = dir.join(format!("{key}.raw.json"));
    crate::fsutil::write_replacing(&meta_path, serde_json::to_vec(&meta)?)
        .with_context(|| format!("writing {}", meta_path.display()))?;
    Ok(Raw {
        video,
        stats,
        still: info.is_still,
    })
}

/// Luma (0..1) of the resampled frame, undoing the tensor's normalisation (for
/// scene-cut detection).
fn luma_of(tensor: &[f32], norm: ChannelNorm) -> Vec<f32> {
    let n = tensor.len() / 3;
    let weights = [0.299, 0.587, 0.114];
    (0..n)
        .map(|i| {
            (0..3)
                .map(|c| weights[c] * (tensor[c * n + i] * norm.std[c] + norm.mean[c]))
                .sum()
        })
        .collect()
}

/// Pass 2: raw maps -> normalised (relative) or metric values in `format` at `out`.
fn finish(
    raw: &Raw,
    opts: &EstimateOptions,
    format: ExportFormat,
    max_depth_m: f32,
    out: &Path,
) -> anyhow::Result<()> {
    let ranges = normalize::ranges(&raw.stats, opts.normalize);
    let mut dec = Decoder::open(&raw.video, PixelFormat::Gray16, &DecodeOptions::default())
        .with_context(|| format!("reading the cached depth {}", raw.video.display()))?;
    let info = dec.info().clone();
    let layout = match format {
        ExportFormat::Gray8 => PixelLayout::Gray8,
        ExportFormat::Gray16 => PixelLayout::Gray16,
        ExportFormat::Rgb => PixelLayout::Rgb,
    };
    let fps = info.fps.filter(|_| !info.is_still);
    let mut writer = DepthWriter::create(out, (info.width, info.height), layout, fps)?;
    let metric = opts.kind == DepthKind::Metric;
    let mut i = 0usize;
    while let Some(frame) = dec.next_frame()? {
        let Some(st) = raw.stats.get(i) else { break };
        let range = ranges[i];
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        let stride = frame.stride_bytes() as usize;
        let data = frame.data();
        let mut bytes = Vec::with_capacity(w * h * layout.bytes_per_pixel());
        for y in 0..h {
            for x in 0..w {
                let o = y * stride + 2 * x;
                let q = f32::from(u16::from_le_bytes([data[o], data[o + 1]]));
                let v = st.min + q / 65535.0 * (st.max - st.min);
                match (format, metric) {
                    (ExportFormat::Gray16, false) => {
                        let n = normalize::apply(v, range);
                        bytes.extend_from_slice(&((n * 65535.0).round() as u16).to_le_bytes());
                    }
                    (ExportFormat::Gray8, _) => {
                        bytes.push((normalize::apply(v, range) * 255.0).round() as u8)
                    }
                    (ExportFormat::Gray16, true) => {
                        let mm = (v / METRIC_GRAY16_SCALE).round().clamp(0.0, 65535.0) as u16;
                        bytes.extend_from_slice(&mm.to_le_bytes());
                    }
                    (ExportFormat::Rgb, _) => bytes.extend_from_slice(
                        &super::codec::rgb_from_metric(f64::from(v), f64::from(max_depth_m)),
                    ),
                }
            }
        }
        writer.push(bytes, frame.pts_nanos, frame.duration_nanos)?;
        i += 1;
    }
    writer.finish()?;
    log::info!(
        "wrote depth {} ({i} frame(s), {}x{}, {})",
        out.display(),
        info.width,
        info.height,
        match (format, metric) {
            (ExportFormat::Gray16, true) =>
                "16-bit millimetres: read back with --depth-kind metric --depth-scale 0.001"
                    .to_string(),
            (ExportFormat::Rgb, _) => format!(
                "toolbox RGB: read back with --depth-kind metric --depth-rgb --max-depth {max_depth_m}"
            ),
            (f, _) => format!(
                "{f:?} near = bright, {} normalisation",
                opts.normalize.name()
            ),
        }
    );
    Ok(())
}

/// `size` with its width adjusted to the frame's aspect ratio when they differ by more
/// than 0.5 %.
fn aspect_true(size: (u32, u32), frame: (u32, u32)) -> (u32, u32) {
    let want = f64::from(frame.0) / f64::from(frame.1);
    let have = f64::from(size.0) / f64::from(size.1);
    if ((have - want) / want).abs() <= 0.005 {
        size
    } else {
        (((f64::from(size.1) * want).round() as u32).max(1), size.1)
    }
}

/// Bilinear resize of a single-channel map (pixel centres aligned).
fn resize_bilinear(src: &[f32], (sw, sh): (u32, u32), (dw, dh): (u32, u32)) -> Vec<f32> {
    let (sw, sh, dw, dh) = (sw as usize, sh as usize, dw as usize, dh as usize);
    let mut out = Vec::with_capacity(dw * dh);
    for y in 0..dh {
        let fy = ((y as f32 + 0.5) * sh as f32 / dh as f32 - 0.5).clamp(0.0, (sh - 1) as f32);
        let (y0, ty) = (fy.floor() as usize, fy.fract());
        let y1 = (y0 + 1).min(sh - 1);
        for x in 0..dw {
            let fx = ((x as f32 + 0.5) * sw as f32 / dw as f32 - 0.5).clamp(0.0, (sw - 1) as f32);
            let (x0, tx) = (fx.floor() as usize, fx.fract());
            let x1 = (x0 + 1).min(sw - 1);
            let top = src[y0 * sw + x0] * (1.0 - tx) + src[y0 * sw + x1] * tx;
            let bottom = src[y1 * sw + x0] * (1.0 - tx) + src[y1 * sw + x1] * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    out
}
