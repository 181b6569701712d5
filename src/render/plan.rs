//! Everything a render settles before its first frame: the input opened and probed, the
//! depth found, estimated or scanned and paired with the frames, the sizes, the device,
//! the stereo settings and the encoder(s).

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Instant;

use super::backend::{self, Device, WarpSpec};
use super::output::{RenderOutput, mask_layout};
use super::tracks::{self, SceneTracks};
use super::{RenderError, RenderJob};
use crate::control::Cancel;
use crate::depth::estimate::{self, Estimated};
use crate::depth::scan::ScanNeed;
use crate::depth::{self, DepthError, DepthScan, DepthStream};
use crate::gpu::GpuContext;
use crate::layout::Autocrop;
use crate::media::bars;
use crate::media::decode::{DecodeOptions, Decoder, StreamInfo};
use crate::media::encode::{Container, EncodeSettings, Encoder};
use crate::progress::Progress;
use crate::stereo::{DepthKind, DepthRange, StereoParams};

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
) -> Result<ResolvedDepth, RenderError> {
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

/// A render's clip, depth and settings, opened and checked.
pub(super) struct Plan {
    /// Kept alive to the end: with `--no-cache` it removes its scratch folder on drop.
    pub resolved: ResolvedDepth,
    pub output: PathBuf,
    pub info: StreamInfo,
    pub depth: DepthStream,
    pub range: DepthRange,
    pub stereo: StereoParams,
    /// What changes per frame: the screen plane and the floating window.
    pub tracks: SceneTracks,
    pub spec: WarpSpec,
    pub device: Device,
    /// At most this many frames (stills: one).
    pub frames_wanted: Option<u64>,
    /// Index of the first frame rendered (`--start`), for depth and convergence.
    pub start_index: u64,
    /// `--layout novel`'s camera.
    pub novel: Option<crate::view3d::NovelCamera>,
    /// What became of an HDR source (None: SDR).
    pub hdr: Option<HdrOutput>,
    /// A still image rendered to a video along a camera path: it is shown this many
    /// times (once per output frame until the path's last key).
    pub still_repeats: Option<u64>,
    /// Nominal frame duration, for frames that carry none.
    pub frame_nanos: Option<u64>,
    /// How long the first frame waited for the depth scan.
    pub scan_wait: f64,
}

impl Plan {
    /// Opens `job`'s input (returned beside the plan) and depth, and settles the rest.
    pub fn open(
        ctx: &GpuContext,
        job: &RenderJob,
        progress: &mut dyn Progress,
        cancel: &Cancel,
    ) -> Result<(Self, Decoder), RenderError> {
        let output = job.final_output();
        let container = Container::from_path(&output)?;
        Self::open_as(ctx, job, container, progress, cancel)
    }

    /// [`Self::open`] for output of the kind `container` whatever `job.output` names (the
    /// geometry export writes a folder of files, frame by frame as a video would).
    pub fn open_as(
        ctx: &GpuContext,
        job: &RenderJob,
        container: Container,
        progress: &mut dyn Progress,
        cancel: &Cancel,
    ) -> Result<(Self, Decoder), RenderError> {
        let output = job.final_output();
        let frames_wanted = if container.is_still() {
            Some(1)
        } else {
            job.frames
        };
        let start_nanos = (job.start_secs * 1e9).round() as u64;
        // Fails early on --warp-device cpu with a GPU-only feature.
        job.warps_on_cpu(ctx.is_software())?;
        let early_scan = start_scan(job);
        // Letterbox and pillarbox bars, found before the input opens: its frames are
        // cropped to the picture as they are decoded.
        let canvas = match job.autocrop {
            Some(_) => bars::find_bars(&job.input)?,
            None => None,
        };
        let keep_hdr = hdr_can_be_kept(job, container);
        let open = |format| {
            Decoder::open(
                &job.input,
                format,
                &DecodeOptions {
                    start_nanos,
                    with_audio: job.audio && !container.is_still(),
                    crop: canvas,
                    tonemap_hdr: keep_hdr.is_err(),
                },
            )
        };
        let mut decoder = open(job.colour_convert.pixel_format())?;
        if decoder.info().hdr.is_some()
            && keep_hdr.is_ok()
            && job.colour_convert.pixel_format() != crate::media::decode::PixelFormat::Native
        {
            // HDR kept as HDR takes the frames as decoded (10-bit planes, converted by the
            // 16-bit warp): an RGBA8 conversion would lose the bits it is kept for.
            drop(decoder);
            decoder = open(crate::media::decode::PixelFormat::Native)?;
        }
        let info = decoder.info().clone();
        log_input(job, &info);
        let hdr = info.hdr.as_ref().map(|h| match &keep_hdr {
            Ok(()) => {
                log::info!(
                    "HDR source ({}): kept as HDR, 10-bit H.265 with its transfer, primaries \
                     and metadata (--hdr tonemap makes SDR)",
                    h.describe()
                );
                HdrOutput::Kept(h.clone())
            }
            Err(why) => {
                log::info!(
                    "HDR source ({}): tone-mapped to SDR BT.709 ({why})",
                    h.describe()
                );
                HdrOutput::ToneMapped
            }
        });
        // The frame the eyes are shown in: the whole input when the bars are kept.
        let keep_bars = canvas.filter(|_| job.autocrop == Some(Autocrop::Keep));
        let shown = keep_bars.map_or((info.width, info.height), |c| c.size);
        backend::frame_stereo(job, shown)?;

        let limit = frames_wanted.filter(|_| start_nanos == 0);
        let resolved = resolve_depth(ctx, job, limit, progress, cancel)?;
        let job = &resolved.job;
        let scan_started = Instant::now();
        let scan = finish_scan(early_scan, &resolved)?;
        let scan_wait = scan_started.elapsed().as_secs_f64();
        log_depth(job, &resolved.path, &scan);
        let frame_nanos = info.frame_duration_nanos();
        // Depth covers the whole frame, bars included: it pairs with the uncropped input
        // and is cropped as it streams.
        let uncropped = StreamInfo {
            width: canvas.map_or(info.width, |c| c.size.0),
            height: canvas.map_or(info.height, |c| c.size.1),
            ..info.clone()
        };
        let matching = depth::prerendered::choose_matching(&scan, &uncropped, frames_wanted)?;
        let start_index = frame_nanos.map_or(0, |d| first_frame_index(start_nanos, d));
        let mut depth = DepthStream::open(&scan, matching, start_nanos, start_index)?;
        let depth_crop = canvas.map(|c| c.scaled_picture((scan.width, scan.height)));
        depth.set_crop(depth_crop);
        let range = scan.range(
            job.depth_kind,
            job.depth_far_is_bright,
            job.depth_scale,
            job.max_depth_m,
        );
        let stereo = backend::frame_stereo(job, shown)?;
        if job.depth_kind == DepthKind::Relative {
            log::info!(
                "strength: {}{}",
                backend::describe_strength(&job.stereo, shown.0),
                if job.stereo.shape.is_identity() {
                    String::new()
                } else {
                    format!(
                        ", depth curve {}, foreground scale {}",
                        job.stereo.shape.curve, job.stereo.shape.foreground_scale
                    )
                }
            );
        }
        let frame = (info.width, info.height);
        let tracks = tracks::settle(
            &tracks::TrackInputs {
                job,
                scan: &scan,
                info: &info,
                matching,
                range: &range,
                stereo: &stereo,
                depth_crop,
                picture_width: frame.0,
            },
            cancel,
        )?;
        let spec = WarpSpec::new(
            job,
            job.layout,
            frame,
            depth.size(),
            container.needs_even_size(),
        )?
        .in_canvas(keep_bars);
        let spec = WarpSpec {
            precision: match hdr {
                Some(HdrOutput::Kept(_)) => crate::gpu::Precision::Float16,
                _ => crate::gpu::Precision::Unorm8,
            },
            ..spec
        };
        let device = backend::choose_device(ctx, job, &spec, false)?;
        backend::log_device(ctx, job, device);
        let novel = novel_camera(job, &stereo, &range, &spec)?;
        // A still along a camera path lasts until the path's last key.
        let still_repeats = match (&novel, info.is_still && !container.is_still()) {
            (
                Some(crate::view3d::NovelCamera {
                    path: Some(path), ..
                }),
                true,
            ) => {
                let n = (path.end_seconds() * STILL_FPS as f64 + 1e-6).floor() as u64 + 1;
                Some(job.frames.map_or(n, |f| f.min(n)))
            }
            _ => None,
        };
        let frames_wanted = still_repeats.or(frames_wanted);
        let plan = Self {
            resolved,
            output,
            info,
            depth,
            range,
            stereo,
            tracks,
            spec,
            device,
            frames_wanted,
            start_index,
            novel,
            still_repeats,
            hdr,
            frame_nanos,
            scan_wait,
        };
        Ok((plan, decoder))
    }

    /// The resolved job (reading the depth file in use).
    pub fn job(&self) -> &RenderJob {
        &self.resolved.job
    }

    /// Frames the render will take, when known (for progress).
    pub fn total_frames(&self) -> Option<u64> {
        self.frames_wanted.or_else(|| {
            self.info
                .estimated_frames()
                .map(|n| n.saturating_sub(self.start_index))
        })
    }

    /// The encoder(s) and the warp that feeds them. `audio_caps`: the source's audio.
    pub fn open_output(
        &self,
        ctx: &GpuContext,
        audio_caps: Option<&gstreamer::Caps>,
    ) -> Result<RenderOutput, RenderError> {
        let job = self.job();
        if let Some(parent) = self.output.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| RenderError::Io {
                context: format!(
                    "cannot create the output folder {} (is part of the path a file, or read-only?); choose another output path",
                    parent.display()
                ),
                source,
            })?;
        }
        let fps = self.info.fps.or(self
            .info
            .is_still
            .then(|| gstreamer::Fraction::new(STILL_FPS, 1)));
        let settings = self.encode_settings();
        let encoder = Encoder::open(&self.output, self.spec.out, fps, audio_caps, &settings)?;
        let mask = match &job.mask_out {
            None => None,
            Some(path) => {
                let layout = mask_layout(job.layout, job.stereo.eye);
                let (size, _) = layout.frame_sizes(self.spec.shown_frame(), self.spec.even);
                let settings = EncodeSettings {
                    layout,
                    // Crisp edges: the mask is thresholded by whatever reads it.
                    crf: 0,
                    // A mask is not a picture: no HDR description.
                    hdr: None,
                    ..settings.clone()
                };
                Some((Encoder::open(path, size, fps, None, &settings)?, layout))
            }
        };
        let source_bits = self.info.source_bits;
        RenderOutput::open(
            ctx,
            job,
            &self.spec,
            self.device,
            encoder,
            mask,
            source_bits,
        )
    }

    fn encode_settings(&self) -> EncodeSettings {
        let job = self.job();
        let mut settings = job.encode.clone();
        settings.layout = job.layout;
        // Every layout keeps the input's pixel shape: a half-SBS frame displays with the
        // input's aspect, and each half of a full SBS frame is an input frame.
        settings.pixel_aspect = self.info.pixel_aspect;
        match &self.hdr {
            Some(HdrOutput::Kept(h)) => {
                settings.bit_depth = 10;
                settings.hdr = Some(h.clone());
            }
            Some(HdrOutput::ToneMapped) => settings.matrix = Some(crate::frame::YuvMatrix::Bt709),
            None => {}
        }
        if self.info.pixel_aspect.0 != self.info.pixel_aspect.1 {
            log::info!(
                "{}: non-square pixels ({}:{}); the output keeps them",
                job.input.display(),
                self.info.pixel_aspect.0,
                self.info.pixel_aspect.1
            );
        }
        settings
    }
}

/// What a render does with an HDR source.
#[derive(Clone, Debug)]
pub enum HdrOutput {
    /// Kept as HDR (`--hdr keep` into a 10-bit H.265 video).
    Kept(crate::hdr::HdrInfo),
    /// Tone-mapped to SDR BT.709 as decoded.
    ToneMapped,
}

/// Whether an HDR source can stay HDR in `job`'s output; else why it is tone-mapped.
fn hdr_can_be_kept(job: &RenderJob, container: Container) -> Result<(), String> {
    use crate::media::encode::VideoEncoder as E;
    if job.hdr == crate::hdr::HdrMode::Tonemap {
        Err("--hdr tonemap".into())
    } else if container.is_still() {
        Err("a still image is SDR".into())
    } else if job.post.is_some() {
        Err("--post shaders write 8-bit colour".into())
    } else if !matches!(
        job.encode.encoder,
        E::Auto | E::X265 | E::NvencH265 | E::VaapiH265
    ) {
        Err(format!(
            "--encoder {} writes 8-bit H.264; an H.265 encoder keeps HDR",
            job.encode.encoder.flag()
        ))
    } else {
        Ok(())
    }
}

/// Frames per second of a video made from a still image.
pub const STILL_FPS: i32 = 25;

/// `--layout novel`'s camera, read and described once; None for other layouts.
fn novel_camera(
    job: &RenderJob,
    stereo: &StereoParams,
    range: &DepthRange,
    spec: &WarpSpec,
) -> Result<Option<crate::view3d::NovelCamera>, RenderError> {
    if job.layout != crate::layout::Layout::Novel {
        return Ok(None);
    }
    let path = match &job.novel.path {
        Some(p) => Some(
            crate::view3d::path::CameraPath::read(p)
                .map_err(|e| RenderError::Invalid(e.to_string()))?,
        ),
        None => None,
    };
    let source =
        crate::view3d::SourceCamera::new(stereo, range, spec.frame, spec.work, job.xfov_deg);
    let unit = if source.metric {
        "m".to_owned()
    } else {
        format!(
            "units of the depth range (the scene is seen with a {} degree field of view; --xfov changes it)",
            job.xfov_deg.unwrap_or(crate::view3d::DEFAULT_FOV_DEG)
        )
    };
    log::info!(
        "novel view: one IPD (the stereo eye's offset) is {:.4} {unit}",
        source.ipd
    );
    Ok(Some(crate::view3d::NovelCamera {
        pose: job.novel.pose,
        path,
        xfov_deg: job.xfov_deg,
    }))
}

/// The index of the first frame a render from `start_nanos` shows: the decoder starts
/// with the frame showing at the start unless less than half of it is left (see
/// `Decoder::open`), so a start between frames rounds to the nearer frame boundary.
pub fn first_frame_index(start_nanos: u64, frame_nanos: u64) -> u64 {
    let d = frame_nanos.max(1);
    (start_nanos + d / 2 - 1) / d
}

type EarlyScan = (
    PathBuf,
    std::io::Result<JoinHandle<Result<DepthScan, DepthError>>>,
);

/// The scan decodes the whole depth clip before the first frame can be warped; started
/// here, on a thread, it runs while the input opens. (Left to finish on its own if the
/// render fails first: it only fills the cache.)
fn start_scan(job: &RenderJob) -> Option<EarlyScan> {
    given_depth(job).map(|path| {
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
    })
}

/// The early scan's result when it scanned the depth in use, else a scan now.
fn finish_scan(
    early: Option<EarlyScan>,
    resolved: &ResolvedDepth,
) -> Result<DepthScan, RenderError> {
    let job = &resolved.job;
    Ok(match early {
        Some((path, Ok(thread))) if path == resolved.path => thread
            .join()
            .map_err(|_| RenderError::Invalid("the depth scan thread panicked".into()))??,
        _ => DepthScan::run_cached(
            &resolved.path,
            job.depth_rgb,
            ScanNeed::of(job.depth_kind),
            &job.estimate,
        )?,
    })
}

fn log_input(job: &RenderJob, info: &StreamInfo) {
    log::info!(
        "input {}: {}x{}{}",
        job.input.display(),
        info.width,
        info.height,
        info.fps
            .map(|f| format!(", {:.3} fps", f64::from(f.numer()) / f64::from(f.denom())))
            .unwrap_or_default()
    );
}

fn log_depth(job: &RenderJob, path: &std::path::Path, scan: &DepthScan) {
    log::info!(
        "depth {}: {}x{}, {} frame(s), values {}..{}",
        path.display(),
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
            path.display()
        );
    }
    if job.depth_kind != DepthKind::Relative {
        let range = scan.range(
            job.depth_kind,
            job.depth_far_is_bright,
            job.depth_scale,
            job.max_depth_m,
        );
        let unit = if job.depth_kind == DepthKind::Metric {
            " m"
        } else {
            " px"
        };
        log::info!(
            "depth is {}: {} per stored step{unit}",
            job.depth_kind.name(),
            range.value_scale * 65535.0 / ((1u32 << scan.source_bits.min(16)) - 1) as f32,
        );
    }
}
