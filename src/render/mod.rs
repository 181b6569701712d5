//! One render from start to end: decode -> depth -> warp and compose (GPU or CPU) ->
//! encode, one frame at a time with a few frames in flight, so memory stays flat however
//! long the clip is. The CLI, `batch`, the preview's render button and the bench all come
//! through [`render`].
//!
//! - [`job`]: what to render ([`RenderJob`]) and every check made before a file opens;
//! - [`plan`]: what is settled before the first frame (input, depth, sizes, device);
//! - [`backend`]: one frame's warp and compose on either device, shared with the preview;
//! - [`output`]: frames from the warp to the encoder(s);
//! - [`stats`]: where the time went.

pub mod backend;
pub mod chunks;
mod geometry;
mod job;
mod output;
mod plan;
mod stats;
pub mod tracks;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use geometry::{GeometryReport, export_geometry};
pub use job::{MAX_DILATE_PX, RenderJob, WarpDevice};
pub use plan::{ResolvedDepth, resolve_depth};
pub use stats::StageTimes;

use crate::comfort::ComfortReport;
use crate::control::{Cancel, Stopped};
use crate::cpu::WarpThreadStopped;
use crate::depth::DepthError;
use crate::depth::convergence::ConvergenceError;
use crate::depth::estimate::EstimateError;
use crate::depth::prerendered::RawExtremes;
use crate::fsutil::OverwritesInput;
use crate::gpu::{GpuContext, GpuError, ReadbackError};
use crate::media::decode::{DecodeError, Decoder};
use crate::media::encode::{EncodeError, Encoder};
use crate::progress::Progress;
use crate::trace::{CpuProfile, CpuReport, write_chrome_trace};
use output::{FrameIn, RenderOutput, Settings};
use plan::Plan;
use stats::Spans;

/// Why a render did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Settings, sizes or paths that cannot work, said in the user's terms.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Stopped(#[from] Stopped),
    #[error(transparent)]
    OverwritesInput(#[from] OverwritesInput),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Depth(#[from] DepthError),
    #[error(transparent)]
    Estimate(#[from] EstimateError),
    #[error(transparent)]
    Convergence(#[from] ConvergenceError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Readback(#[from] ReadbackError),
    #[error(transparent)]
    CpuWarp(#[from] WarpThreadStopped),
    #[error(transparent)]
    Inpaint(#[from] crate::inpaint::InpaintError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
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
    /// The parallax every frame used.
    pub comfort: ComfortReport,
    /// The first frame's timestamp and the end of the last on the input's timeline
    /// (where a chunked render's join takes the audio from).
    pub first_pts_nanos: u64,
    pub range_end_nanos: u64,
}

/// Renders `job` on `ctx`. The output appears under its final name only on success.
pub fn render(
    ctx: &GpuContext,
    job: &RenderJob,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<RenderReport, RenderError> {
    job.validate()?;
    let started = Instant::now();
    let cpu = CpuProfile::start(Duration::from_millis(100));
    let mut spans = Spans::new(started, job.trace.is_some());
    let (mut plan, mut decoder) = Plan::open(ctx, job, progress, cancel)?;
    let mut out = plan.open_output(ctx, decoder.audio_caps().as_ref())?;
    let mut comfort = ComfortReport::new(
        plan.job().depth_kind,
        plan.spec.shown_frame().0,
        job.viewing,
    );
    comfort.divergence_given = job.stereo.divergence_pct.is_some();
    let mut frames = FrameLoop {
        stages: StageTimes {
            scan: plan.scan_wait,
            ..Default::default()
        },
        done: 0,
        video_start: None,
        range_end: 0,
        comfort,
        extremes: None,
    };
    progress.start(plan.total_frames());
    frames.run(
        ctx,
        &mut plan,
        &mut decoder,
        &mut out,
        &mut spans,
        progress,
        cancel,
    )?;
    let (mut main, mask) = out.drain(ctx, &mut frames.stages, &mut spans)?;
    ctx.check_errors()?;
    if frames.done == 0 {
        return Err(RenderError::Invalid(format!(
            "{} has no video frames to render in the requested range",
            plan.job().input.display()
        )));
    }
    if frames.video_start.is_some() {
        let mut audio = Vec::new();
        decoder.finish_audio(frames.range_end, &mut audio);
        for buf in audio {
            main.push_audio(buf)?;
        }
    }
    let had_audio = main.has_audio();
    drop(decoder);
    let output = finish_files(main, mask, cancel.is_interrupted())?;
    progress.finish();
    if cancel.is_interrupted() {
        return Err(Stopped::Interrupted {
            partial: output,
            frames: frames.done,
        }
        .into());
    }
    let cpu = cpu.finish();
    // A piece's figures are summed up at the join.
    // (A novel view is one camera: it has no parallax to report.)
    if job.chunks.piece.is_none() && job.layout != crate::layout::Layout::Novel {
        log::info!("{}", frames.comfort.describe());
        for warning in frames.comfort.warnings() {
            log::warn!("{warning}");
        }
    }
    if let Some(path) = &job.report {
        frames
            .comfort
            .write_json(path, &job.input, &output)
            .map_err(|source| RenderError::Io {
                context: format!("cannot write the report {}", path.display()),
                source,
            })?;
        log::info!("comfort report written to {}", path.display());
    }
    if let (Some(path), Some(list)) = (&job.trace, &spans.list) {
        write_chrome_trace(path, &cpu, list).map_err(|source| RenderError::Io {
            context: format!("cannot write the trace {}", path.display()),
            source,
        })?;
        log::info!(
            "trace written to {} (open it in https://ui.perfetto.dev)",
            path.display()
        );
    }
    Ok(RenderReport {
        output,
        frames: frames.done,
        seconds: started.elapsed().as_secs_f64(),
        size: plan.spec.out,
        audio: had_audio,
        stages: frames.stages,
        cpu,
        comfort: frames.comfort,
        first_pts_nanos: frames.video_start.map_or(0, |(pts, _)| pts),
        range_end_nanos: frames.range_end,
    })
}

/// Closes the output files under their final names (interrupted: `.partial` names), the
/// mask first: the main output appearing under its name means everything is done.
fn finish_files(
    main: Encoder,
    mask: Option<Encoder>,
    interrupted: bool,
) -> Result<PathBuf, RenderError> {
    let name = |p: &Path| {
        if interrupted {
            crate::fsutil::partial_path(p)
        } else {
            p.to_path_buf()
        }
    };
    if let Some(m) = mask {
        let target = name(m.final_path());
        m.finish_as(&target)?;
    }
    let target = name(main.final_path());
    Ok(main.finish_as(&target)?)
}

/// The render loop's state: frames done, where the output's timeline starts, and the
/// time spent per stage.
struct FrameLoop {
    stages: StageTimes,
    done: u64,
    /// The first frame's pts, and where it starts in the output (after any audio that
    /// begins before it, which is kept).
    video_start: Option<(u64, u64)>,
    /// End of the last frame (source timeline): audio is taken up to here.
    range_end: u64,
    /// Every frame's parallax, and the current depth frame's extremes (kept while the
    /// depth frame stays the same).
    comfort: ComfortReport,
    extremes: Option<RawExtremes>,
}

impl FrameLoop {
    /// Decodes, warps and encodes frames until the range, the clip or an interrupt ends.
    #[expect(
        clippy::too_many_arguments,
        reason = "the loop's long-lived parts, borrowed side by side"
    )]
    fn run(
        &mut self,
        ctx: &GpuContext,
        plan: &mut Plan,
        decoder: &mut Decoder,
        out: &mut RenderOutput,
        spans: &mut Spans,
        progress: &mut dyn Progress,
        cancel: &Cancel,
    ) -> Result<(), RenderError> {
        let mut audio = Vec::new();
        let mut stereo = plan.stereo;
        let mut still: Option<crate::media::decode::Frame> = None;
        // A camera path's clock: from --start on the input's timeline.
        let job = plan.job();
        let clock_start = job.novel.clock_start_secs.unwrap_or(job.start_secs);
        let size = plan.spec.frame;
        while plan.frames_wanted.is_none_or(|n| self.done < n) {
            if cancel.is_cancelled() {
                return Err(Stopped::Cancelled.into());
            }
            if cancel.is_interrupted() {
                break;
            }
            let t = Instant::now();
            let frame = match decoder.next_frame()? {
                Some(frame) => {
                    if plan.still_repeats.is_some() {
                        still = Some(frame.repeated(frame.pts_nanos, None));
                    }
                    frame
                }
                // A still along a camera path: shown again, a frame later each time.
                None => match &still {
                    Some(s) => {
                        let step = 1_000_000_000 / plan::STILL_FPS as u64;
                        s.repeated(s.pts_nanos + self.done * step, Some(step))
                    }
                    None => break,
                },
            };
            self.stages.decoder += t.elapsed().as_secs_f64();
            spans.add("wait for a decoded frame", t, Instant::now());
            if (frame.width(), frame.height()) != size {
                return Err(RenderError::Invalid(format!(
                    "{} changes frame size mid-stream ({}x{} -> {}x{}); this is not supported yet",
                    plan.job().input.display(),
                    size.0,
                    size.1,
                    frame.width(),
                    frame.height()
                )));
            }
            let (origin, lead) = self.start(decoder, plan, frame.pts_nanos);
            log::trace!("frame {}: source pts {} ns", self.done, frame.pts_nanos);
            // A repeated still keeps the still's own depth frame.
            let index = plan.start_index + if still.is_some() { 0 } else { self.done };
            let t = Instant::now();
            let depth_pts = still.as_ref().map_or(frame.pts_nanos, |s| s.pts_nanos);
            let (depth, changed) =
                plan.depth
                    .frame_for(index, depth_pts, plan.device == backend::Device::Cpu)?;
            self.stages.depth += t.elapsed().as_secs_f64();
            spans.add("depth frame", t, Instant::now());
            if let Some(track) = &plan.tracks.convergence {
                stereo = tracks::with_convergence(stereo, plan.range.kind, track.at(index));
            }
            if changed || self.extremes.is_none() {
                self.extremes = Some(depth.extremes(plan.spec.depth, plan.spec.rgb_depth));
            }
            if let Some(extremes) = self.extremes {
                self.comfort.push(backend::frame_figures(
                    &stereo,
                    &plan.range,
                    extremes,
                    index,
                    frame.pts_nanos,
                ));
            }
            let duration = frame.duration_nanos.or(plan.frame_nanos);
            self.range_end = frame.pts_nanos + duration.unwrap_or(0);
            let seconds = (frame.pts_nanos as f64 / 1e9 - clock_start).max(0.0);
            let input = FrameIn {
                pts_nanos: frame.pts_nanos - origin + lead,
                duration_nanos: duration,
                frame,
                depth,
                depth_changed: changed,
            };
            let settings = Settings {
                stereo: &stereo,
                range: &plan.range,
                window: plan.tracks.window_at(index),
                novel: plan.novel.as_ref().map(|n| {
                    n.mesh_params(
                        &stereo,
                        &plan.range,
                        plan.spec.frame,
                        plan.spec.work,
                        seconds,
                    )
                }),
            };
            out.submit(ctx, input, &settings, &plan.spec, &mut self.stages, spans)?;
            audio.clear();
            decoder.take_audio(self.range_end, &mut audio);
            for buf in audio.drain(..) {
                out.main_encoder().push_audio(buf)?;
            }
            self.done += 1;
            progress.frame(self.done);
        }
        Ok(())
    }

    /// (first frame's pts, its start in the output), set at the first frame.
    fn start(&mut self, decoder: &mut Decoder, plan: &Plan, pts: u64) -> (u64, u64) {
        *self.video_start.get_or_insert_with(|| {
            let lead = decoder.start_output(pts);
            if lead > 0 {
                log::info!(
                    "{}: the audio starts {:.3} s before the first video frame; it is kept, \
                     and the video starts {:.3} s into the output",
                    plan.job().input.display(),
                    lead as f64 / 1e9,
                    lead as f64 / 1e9
                );
            }
            (pts, lead)
        })
    }
}
