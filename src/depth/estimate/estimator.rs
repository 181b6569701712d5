//! What turns a frame's model input into a depth map: a one-image ONNX model (batched), a
//! video model (in sliding windows, see [`super::windows`]) or the built-in cues. A
//! long-lived [`Estimator`] takes one frame at a time and hands back the maps that are
//! ready, in frame order; `flush` runs what is left at the end. With test-time
//! augmentation (`--tta`), each model run also sees the frames mirrored left to right,
//! and the two estimates are averaged (the mirrored one mirrored back).

use super::EstimateError;
use super::windows::{Plan, Windows};
use crate::depth::cues::CueDepth;
use crate::depth::model::{self, DepthMap, DepthModel, Layout};
use crate::gpu::ChannelNorm;

/// Short side of the cue estimate (it is smooth; more pixels buy nothing).
const CUE_SHORT_SIDE: u32 = 252;

/// A frame's timing and whether a scene cut comes before it, carried with its map.
#[derive(Clone, Copy, Debug)]
pub(super) struct FrameTimes {
    pub pts_nanos: u64,
    pub duration_nanos: Option<u64>,
    pub cut: bool,
}

pub(super) struct Estimator {
    how: How,
    /// Seconds spent inside the model (the rest of a push is the windows' and our own).
    pub model_secs: f64,
}

enum How {
    /// A one-image model, run on batches.
    Image {
        model: Box<DepthModel>,
        batch: usize,
        tta: bool,
        /// Tensors and times of the frames waiting for a full batch.
        pending: Vec<f32>,
        pending_times: Vec<FrameTimes>,
    },
    /// A video model, run on overlapping windows.
    Video {
        model: Box<DepthModel>,
        windows: Windows,
        tta: bool,
        /// The size of the maps the model returns (learned from its first run).
        out_size: (u32, u32),
    },
    Cues(CueDepth),
}

impl Estimator {
    /// The model's estimator (batches of `wanted` frames for one-image models; a
    /// fixed-batch export gets its own size), or the cues.
    pub fn new(model: Option<DepthModel>, wanted: usize, tta: bool) -> Self {
        let how = match model {
            None => How::Cues(CueDepth::default()),
            Some(m) => Self::for_model(m, wanted, tta),
        };
        Self {
            how,
            model_secs: 0.0,
        }
    }

    fn for_model(m: DepthModel, wanted: usize, tta: bool) -> How {
        match m.layout {
            Layout::Video { frames } => {
                let plan = Plan::for_window(frames);
                log::info!(
                    "video depth model: windows of {} frames, {} overlapping the previous window",
                    plan.t,
                    plan.overlap
                );
                How::Video {
                    model: Box::new(m),
                    windows: Windows::new(plan),
                    tta,
                    out_size: (0, 0),
                }
            }
            Layout::Image => {
                let batch = m.batch_limit(wanted);
                if batch != wanted {
                    log::info!(
                        "the model takes batches of {batch}: running {batch} frame(s) per call instead of {wanted}"
                    );
                }
                How::Image {
                    model: Box::new(m),
                    batch,
                    tta,
                    pending: Vec::new(),
                    pending_times: Vec::new(),
                }
            }
        }
    }

    /// The size the frame is resampled to for this estimator, and how the tensor is
    /// normalised.
    pub fn input(&self, frame: (u32, u32), depth_size: u32) -> ((u32, u32), ChannelNorm) {
        match &self.how {
            How::Image { model, .. } | How::Video { model, .. } => {
                (model.input_size(frame, depth_size), ChannelNorm::IMAGENET)
            }
            How::Cues(_) => (
                model::patch_aligned_size(frame, depth_size.min(CUE_SHORT_SIDE)),
                ChannelNorm::IDENTITY,
            ),
        }
    }

    /// Whether the model's input size is fixed by the export (it is then resampled back
    /// to the frame's shape).
    pub fn is_static(&self) -> bool {
        match &self.how {
            How::Image { model, .. } | How::Video { model, .. } => model.shape.width.is_some(),
            How::Cues(_) => false,
        }
    }

    pub fn wants_cues(&self) -> bool {
        matches!(self.how, How::Cues(_))
    }

    pub fn is_video(&self) -> bool {
        matches!(self.how, How::Video { .. })
    }

    /// Takes one frame: its tensor (model input of `size`), or its cue map. Returns the
    /// maps now ready, each with its frame's times.
    pub fn push(
        &mut self,
        tensor: Vec<f32>,
        cue_map: Option<Vec<f32>>,
        size: (u32, u32),
        times: FrameTimes,
    ) -> Result<Vec<(DepthMap, FrameTimes)>, EstimateError> {
        let model_secs = &mut self.model_secs;
        match &mut self.how {
            How::Cues(c) => {
                let cues = cue_map.expect("the cue map is computed for the cue estimator");
                Ok(vec![((c.finish(cues, size, times.cut), size), times)])
            }
            How::Image {
                pending,
                pending_times,
                batch,
                ..
            } => {
                pending.extend_from_slice(&tensor);
                pending_times.push(times);
                if pending_times.len() < *batch {
                    return Ok(Vec::new());
                }
                self.run_pending(size)
            }
            How::Video {
                model,
                windows,
                tta,
                out_size,
            } => {
                let mut run =
                    |slots: &[Vec<f32>]| run_window(model, slots, size, *tta, out_size, model_secs);
                let ready = windows.push(tensor, times, &mut run)?;
                Ok(with_size(ready, *out_size))
            }
        }
    }

    /// Runs the frames still waiting (the end of the clip).
    pub fn flush(
        &mut self,
        size: (u32, u32),
    ) -> Result<Vec<(DepthMap, FrameTimes)>, EstimateError> {
        let model_secs = &mut self.model_secs;
        match &mut self.how {
            How::Image { pending_times, .. } if !pending_times.is_empty() => self.run_pending(size),
            How::Video {
                model,
                windows,
                tta,
                out_size,
            } => {
                let mut run =
                    |slots: &[Vec<f32>]| run_window(model, slots, size, *tta, out_size, model_secs);
                let ready = windows.finish(&mut run)?;
                Ok(with_size(ready, *out_size))
            }
            _ => Ok(Vec::new()),
        }
    }

    fn run_pending(
        &mut self,
        size: (u32, u32),
    ) -> Result<Vec<(DepthMap, FrameTimes)>, EstimateError> {
        let How::Image {
            model,
            batch,
            tta,
            pending,
            pending_times,
        } = &mut self.how
        else {
            return Ok(Vec::new());
        };
        let n = pending_times.len();
        // A fixed-batch model gets its batch filled with copies of the last frame.
        let run_n = if model.shape.batch.is_some() {
            *batch
        } else {
            n
        };
        let per = pending.len() / n;
        while pending.len() < run_n * per {
            let last = pending[pending.len() - per..].to_vec();
            pending.extend_from_slice(&last);
        }
        let images = std::mem::take(pending);
        let t = std::time::Instant::now();
        let maps = if *tta {
            let mirrored = mirror_tensors(&images, per, size);
            let plain = model.run(images, run_n, size)?;
            let flipped = model.run(mirrored, run_n, size)?;
            average_with_mirrored(plain, flipped)
        } else {
            model.run(images, run_n, size)?
        };
        self.model_secs += t.elapsed().as_secs_f64();
        Ok(maps.into_iter().zip(pending_times.drain(..)).collect())
    }

    /// What ran, for the log.
    pub fn describe(&self) -> String {
        match &self.how {
            How::Image { model, tta, .. } | How::Video { model, tta, .. } => format!(
                "{}model on {}{}",
                if self.is_video() { "video " } else { "" },
                model.provider.ort_name(),
                if *tta {
                    ", with its mirror image (--tta)"
                } else {
                    ""
                }
            ),
            How::Cues(_) => "built-in cues".into(),
        }
    }
}

/// One window through a video model: `slots` tensors of `size` in, one map per slot out
/// (with `tta`, averaged with the mirrored window's); `out_size` learns the maps' size and
/// `model_secs` counts the time spent in the model.
fn run_window(
    model: &mut DepthModel,
    slots: &[Vec<f32>],
    size: (u32, u32),
    tta: bool,
    out_size: &mut (u32, u32),
    model_secs: &mut f64,
) -> Result<Vec<Vec<f32>>, EstimateError> {
    let started = std::time::Instant::now();
    let n = slots.len();
    let joined: Vec<f32> = slots.concat();
    let maps = if tta {
        let per = joined.len() / n;
        let mirrored = mirror_tensors(&joined, per, size);
        let plain = model.run_window(joined, n, size)?;
        let flipped = model.run_window(mirrored, n, size)?;
        average_with_mirrored(plain, flipped)
    } else {
        model.run_window(joined, n, size)?
    };
    *model_secs += started.elapsed().as_secs_f64();
    if let Some((_, s)) = maps.first() {
        *out_size = *s;
    }
    Ok(maps.into_iter().map(|(m, _)| m).collect())
}

fn with_size(ready: Vec<(Vec<f32>, FrameTimes)>, size: (u32, u32)) -> Vec<(DepthMap, FrameTimes)> {
    ready.into_iter().map(|(m, t)| ((m, size), t)).collect()
}

/// Planar RGB tensors (each `per` floats of `size`), each mirrored left to right.
fn mirror_tensors(tensors: &[f32], per: usize, (w, _): (u32, u32)) -> Vec<f32> {
    let w = w as usize;
    let mut out = Vec::with_capacity(tensors.len());
    for t in tensors.chunks_exact(per) {
        for row in t.chunks_exact(w) {
            out.extend(row.iter().rev());
        }
    }
    out
}

/// The mean of each plain map and its mirrored twin mirrored back.
fn average_with_mirrored(plain: Vec<DepthMap>, flipped: Vec<DepthMap>) -> Vec<DepthMap> {
    plain
        .into_iter()
        .zip(flipped)
        .map(|((a, size), (b, _))| {
            let w = size.0 as usize;
            let mut out = Vec::with_capacity(a.len());
            for (ra, rb) in a.chunks_exact(w).zip(b.chunks_exact(w)) {
                out.extend(ra.iter().zip(rb.iter().rev()).map(|(x, y)| (x + y) / 2.0));
            }
            (out, size)
        })
        .collect()
}
