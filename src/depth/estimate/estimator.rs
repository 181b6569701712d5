//! What turns a frame's model input into a depth map: an ONNX model (batched) or the
//! built-in cues. A long-lived [`Estimator`] takes one frame at a time and hands back the
//! maps that are ready, in frame order; `flush` runs what is left at the end.

use super::EstimateError;
use crate::depth::cues::CueDepth;
use crate::depth::onnx::{self, DepthMap, OnnxModel};
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

pub(super) enum Estimator {
    Model {
        model: Box<OnnxModel>,
        /// Frames per call.
        batch: usize,
        /// Tensors and times of the frames waiting for a full batch.
        pending: Vec<f32>,
        pending_times: Vec<FrameTimes>,
    },
    Cues(CueDepth),
}

impl Estimator {
    /// The model's estimator with batches of `wanted` frames (a fixed-batch export gets
    /// its own size), or the cues.
    pub fn new(model: Option<OnnxModel>, wanted: usize) -> Self {
        match model {
            None => Estimator::Cues(CueDepth::default()),
            Some(m) => {
                let batch = m.batch_limit(wanted);
                if batch != wanted {
                    log::info!(
                        "the model takes batches of {batch}: running {batch} frame(s) per call instead of {wanted}"
                    );
                }
                Estimator::Model {
                    model: Box::new(m),
                    batch,
                    pending: Vec::new(),
                    pending_times: Vec::new(),
                }
            }
        }
    }

    /// The size the frame is resampled to for this estimator, and how the tensor is
    /// normalised.
    pub fn input(&self, frame: (u32, u32), depth_size: u32) -> ((u32, u32), ChannelNorm) {
        match self {
            Estimator::Model { model, .. } => {
                (model.input_size(frame, depth_size), ChannelNorm::IMAGENET)
            }
            Estimator::Cues(_) => (
                onnx::patch_aligned_size(frame, depth_size.min(CUE_SHORT_SIDE)),
                ChannelNorm::IDENTITY,
            ),
        }
    }

    /// Whether the model's input size is fixed by the export (it is then resampled back
    /// to the frame's shape).
    pub fn is_static(&self) -> bool {
        matches!(self, Estimator::Model { model, .. } if model.shape.width.is_some())
    }

    pub fn wants_cues(&self) -> bool {
        matches!(self, Estimator::Cues(_))
    }

    /// Takes one frame: its tensor (model input of `size`), or its cue map. Returns the
    /// maps now ready, each with its frame's times.
    pub fn push(
        &mut self,
        tensor: &[f32],
        cue_map: Option<Vec<f32>>,
        size: (u32, u32),
        times: FrameTimes,
    ) -> Result<Vec<(DepthMap, FrameTimes)>, EstimateError> {
        match self {
            Estimator::Cues(c) => {
                let cues = cue_map.expect("the cue map is computed for the cue estimator");
                Ok(vec![((c.finish(cues, size, times.cut), size), times)])
            }
            Estimator::Model {
                pending,
                pending_times,
                batch,
                ..
            } => {
                pending.extend_from_slice(tensor);
                pending_times.push(times);
                if pending_times.len() < *batch {
                    return Ok(Vec::new());
                }
                self.run_pending(size)
            }
        }
    }

    /// Runs the frames still waiting for a batch (the end of the clip).
    pub fn flush(
        &mut self,
        size: (u32, u32),
    ) -> Result<Vec<(DepthMap, FrameTimes)>, EstimateError> {
        match self {
            Estimator::Model { pending_times, .. } if !pending_times.is_empty() => {
                self.run_pending(size)
            }
            _ => Ok(Vec::new()),
        }
    }

    fn run_pending(
        &mut self,
        size: (u32, u32),
    ) -> Result<Vec<(DepthMap, FrameTimes)>, EstimateError> {
        let Estimator::Model {
            model,
            batch,
            pending,
            pending_times,
        } = self
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
        let maps = model.run(std::mem::take(pending), run_n, size)?;
        Ok(maps.into_iter().zip(pending_times.drain(..)).collect())
    }

    /// What ran, for the log.
    pub fn describe(&self) -> String {
        match self {
            Estimator::Model { model, .. } => format!("model on {}", model.provider.ort_name()),
            Estimator::Cues(_) => "built-in cues".into(),
        }
    }
}
