//! Pass 1, streaming: decode -> GPU resample and normalise (model_input.wgsl) -> model or
//! cues -> each map quantised to 16 bits over its own min..max and written losslessly,
//! with per-frame statistics and scene cuts for pass 2.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::cache::{self, Raw};
use super::estimator::{Estimator, FrameTimes};
use super::{EstimateError, EstimateOptions};
use crate::control::{Cancel, Stopped};
use crate::depth::model::{self, DepthMap, DepthModel};
use crate::depth::normalize::{self, FrameStats};
use crate::depth::writer::{DepthWriter, PixelLayout};
use crate::gpu::{ChannelNorm, GpuContext, ModelInput};
use crate::media::decode::{DecodeOptions, Decoder, PixelFormat, StreamInfo};
use crate::progress::Progress;

/// Pass 1 of one clip: its decoder, the model input pass, the estimator and the writer of
/// the raw maps, all built before the first frame.
struct RawPass {
    input: PathBuf,
    info: StreamInfo,
    decoder: Decoder,
    estimator: Estimator,
    prep: ModelInput,
    norm: ChannelNorm,
    /// Model input size, and what a static model was fed (the frame's aspect ratio).
    model_size: (u32, u32),
    fed: (u32, u32),
    /// The size maps are stored at: the first map's, at the frame's aspect ratio (the
    /// render pairs depth and frames by shape). A map smaller than the model input keeps
    /// its own size: the render enlarges it with its edge-aware upsampling.
    map_size: Option<(u32, u32)>,
    video: PathBuf,
    /// Created with the first map, once its size is known.
    writer: Option<DepthWriter>,
    stats: Vec<FrameStats>,
    previous_luma: Option<Vec<f32>>,
    /// Time in ours (resample, readback, post-processing) and in the whole estimator
    /// (the model, plus a video model's windows).
    ours_secs: f64,
    estimator_secs: f64,
}

/// Runs pass 1 of `input` into `dir` under `key`, or takes it from the cache.
#[expect(
    clippy::too_many_arguments,
    reason = "the estimate's inputs, passed through from its two entry points"
)]
pub(super) fn ensure_raw(
    ctx: &GpuContext,
    input: &Path,
    opts: &EstimateOptions,
    frame_limit: Option<u64>,
    dir: &Path,
    key: &str,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<Raw, EstimateError> {
    let meta = cache::raw_meta_path(dir, key);
    if let Some(raw) = cache::read_raw(&meta) {
        log::info!(
            "depth estimate from the cache ({} frames): inference skipped",
            raw.stats.len()
        );
        return Ok(raw);
    }
    let mut pass = RawPass::open(ctx, input, opts, dir, key)?;
    progress.start(frame_limit.or(pass.info.estimated_frames()));
    let mut frames = 0u64;
    while let Some(frame) = pass.decoder.next_frame()? {
        Stopped::check(cancel, "estimating depth")?;
        if frame_limit.is_some_and(|n| frames >= n) {
            break;
        }
        let times = (frame.pts_nanos, frame.duration_nanos);
        pass.frame(ctx, frame.data(), frame.stride_bytes(), times)?;
        frames += 1;
        progress.frame(frames);
    }
    progress.finish();
    let (raw, map_size) = pass.finish()?;
    cache::write_raw(&meta, input, &raw, map_size)?;
    Ok(raw)
}

impl RawPass {
    fn open(
        ctx: &GpuContext,
        input: &Path,
        opts: &EstimateOptions,
        dir: &Path,
        key: &str,
    ) -> Result<Self, EstimateError> {
        let decoder = Decoder::open(
            input,
            PixelFormat::Rgba,
            &DecodeOptions {
                start_nanos: 0,
                with_audio: false,
                // Depth models learnt from SDR pictures: an HDR source is shown to them
                // tone-mapped, as a viewer would see it.
                tonemap_hdr: true,
                ..Default::default()
            },
        )?;
        let info = decoder.info().clone();
        let frame_size = (info.width, info.height);
        ctx.check_texture(
            frame_size,
            "depth estimation (it resamples each whole frame on the GPU for the model)",
            "Give a pre-rendered depth file with --depth, or scale the input down first.",
        )?;
        let model = match &opts.model {
            Some(path) => Some(DepthModel::open(
                path,
                opts.ep,
                opts.ort_lib.as_deref(),
                opts.output.as_deref(),
            )?),
            None => None,
        };
        let estimator = Estimator::new(model, opts.batch, opts.tta);
        let (model_size, norm) = estimator.input(frame_size, opts.depth_size);
        check_input_fits(ctx, input, model_size, opts.depth_size)?;
        // Maps are stored at the frame's aspect ratio (the render pairs depth and frames
        // by shape): a static square model's output, or the multiple-of-14 rounding on
        // small frames, is resampled to it.
        let fed = if estimator.is_static() {
            model::patch_aligned_size(frame_size, opts.depth_size)
        } else {
            model_size
        };
        log::info!(
            "estimating depth of {} (model input {}x{})",
            input.display(),
            model_size.0,
            model_size.1
        );
        let mut prep = ModelInput::new(ctx, &opts.shaders)?;
        prep.prepare(ctx, frame_size, model_size);
        let video = dir.join(format!(
            "{key}.raw.{}",
            if info.is_still { "png" } else { "mkv" }
        ));
        Ok(Self {
            input: input.to_path_buf(),
            info,
            decoder,
            estimator,
            prep,
            norm,
            model_size,
            fed,
            map_size: None,
            video,
            writer: None,
            stats: Vec::new(),
            previous_luma: None,
            ours_secs: 0.0,
            estimator_secs: 0.0,
        })
    }

    /// One decoded RGBA frame: model input, scene-cut test, estimate, and the maps that
    /// are ready written out.
    fn frame(
        &mut self,
        ctx: &GpuContext,
        rgba: &[u8],
        stride: u32,
        (pts_nanos, duration_nanos): (u64, Option<u64>),
    ) -> Result<(), EstimateError> {
        let t = Instant::now();
        let with_cues = self.estimator.wants_cues();
        let (tensor, cue_map) = self.prep.run(ctx, rgba, stride, self.norm, with_cues)?;
        ctx.check_errors()?;
        let luma = luma_of(&tensor, self.norm);
        let cut = self
            .previous_luma
            .as_ref()
            .is_some_and(|p| normalize::luma_change(p, &luma) > normalize::SCENE_CUT_LUMA);
        if cut {
            log::debug!("scene cut before frame {}", self.stats.len());
        }
        self.previous_luma = Some(luma);
        self.ours_secs += t.elapsed().as_secs_f64();
        let times = FrameTimes {
            pts_nanos,
            duration_nanos,
            cut,
        };
        let t = Instant::now();
        let ready = self
            .estimator
            .push(tensor, cue_map, self.model_size, times)?;
        self.estimator_secs += t.elapsed().as_secs_f64();
        self.write(ready)
    }

    /// The size maps are stored at, from the first map of `size`.
    fn map_size(&mut self, size: (u32, u32)) -> Result<(u32, u32), EstimateError> {
        if let Some(s) = self.map_size {
            return Ok(s);
        }
        let frame = (self.info.width, self.info.height);
        // A static square model saw the frame squeezed: its map is stretched back to
        // the frame's shape at the size it would have had (`fed`); a smaller map than
        // the input stays smaller.
        let base = if size == self.model_size {
            self.fed
        } else {
            size
        };
        let s = aspect_true(base, frame);
        log::info!("depth maps stored at {}x{}", s.0, s.1);
        let fps = self.info.fps.filter(|_| !self.info.is_still);
        self.writer = Some(DepthWriter::create(
            &self.video,
            s,
            PixelLayout::Gray16,
            fps,
        )?);
        self.map_size = Some(s);
        Ok(s)
    }

    /// Quantises each map over its own range and writes it, with its statistics.
    fn write(&mut self, ready: Vec<(DepthMap, FrameTimes)>) -> Result<(), EstimateError> {
        for ((map, size), times) in ready {
            let t = Instant::now();
            let map_size = self.map_size(size)?;
            let map = if size == map_size {
                map
            } else {
                resize_bilinear(&map, size, map_size)
            };
            let st = FrameStats::of(&map, times.cut);
            let span = (st.max - st.min).max(f32::MIN_POSITIVE);
            let mut bytes = Vec::with_capacity(map.len() * 2);
            for v in &map {
                let q = ((v - st.min) / span * 65535.0).round().clamp(0.0, 65535.0) as u16;
                bytes.extend_from_slice(&q.to_le_bytes());
            }
            self.writer
                .as_mut()
                .expect("created with the map size")
                .push(bytes, times.pts_nanos, times.duration_nanos)?;
            self.stats.push(st);
            self.ours_secs += t.elapsed().as_secs_f64();
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(Raw, (u32, u32)), EstimateError> {
        let t = Instant::now();
        let ready = self.estimator.flush(self.model_size)?;
        self.estimator_secs += t.elapsed().as_secs_f64();
        self.write(ready)?;
        let frames = self.stats.len();
        let (Some(writer), Some(size)) = (self.writer.take(), self.map_size) else {
            return Err(EstimateError::NoFrames(self.input));
        };
        writer.finish()?;
        let per = |secs: f64| secs * 1000.0 / frames as f64;
        let model = self.estimator.model_secs;
        let (ours, windows) = if self.estimator.wants_cues() {
            (self.ours_secs + self.estimator_secs, 0.0)
        } else {
            (self.ours_secs, self.estimator_secs - model)
        };
        log::info!(
            "depth estimated for {frames} frames ({}): ours (GPU resample+normalise, readback, post) {:.1} ms/frame, {}model {:.1} ms/frame",
            self.estimator.describe(),
            per(ours),
            if self.estimator.is_video() {
                format!(
                    "video windows (alignment, blending) {:.2} ms/frame, ",
                    per(windows)
                )
            } else {
                String::new()
            },
            per(model)
        );
        let raw = Raw {
            video: self.video,
            stats: self.stats,
            still: self.info.is_still,
            from_video_model: self.estimator.is_video(),
        };
        Ok((raw, size))
    }
}

/// The model input lives in GPU buffers of 12 bytes a pixel (three floats): a large
/// --depth-size on a large frame can ask for more than one buffer may hold.
fn check_input_fits(
    ctx: &GpuContext,
    input: &Path,
    model_size: (u32, u32),
    depth_size: u32,
) -> Result<(), EstimateError> {
    let limits = ctx.device.limits();
    let buffer_limit = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    let input_bytes = u64::from(model_size.0) * u64::from(model_size.1) * 12;
    if input_bytes > buffer_limit {
        return Err(EstimateError::Invalid(format!(
            "{}: a {}x{} model input (--depth-size {depth_size}) needs {} MB of GPU buffer, and \
             the adapter {} allows {} MB; use a smaller --depth-size",
            input.display(),
            model_size.0,
            model_size.1,
            input_bytes / 1_000_000,
            ctx.describe(),
            buffer_limit / 1_000_000
        )));
    }
    Ok(())
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
pub(crate) fn resize_bilinear(src: &[f32], (sw, sh): (u32, u32), (dw, dh): (u32, u32)) -> Vec<f32> {
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
