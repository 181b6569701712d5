//! A depth model run through ONNX Runtime. Names, shapes and element types are read from
//! the file, so the exports people download load unchanged:
//!
//! - one-image models: an NCHW image `[batch, 3, height, width]` in, one map per image out,
//!   `[batch, height, width]` or `[batch, 1, height, width]` (Depth-Anything's exports:
//!   `image`/`depth`, `pixel_values`/`predicted_depth`, `input`/`output`);
//! - video models: a clip window `[batch, frames, 3, height, width]` in, one map per
//!   frame out, `[batch, frames, height, width]` (Video Depth Anything), run in sliding
//!   windows by `estimate::windows`;
//! - float32 or float16 inputs and outputs;
//! - several outputs: the depth one is picked by name (`--depth-output`) or by shape;
//! - static or dynamic sizes, and outputs smaller than the input (the render enlarges
//!   them with its edge-aware upsampling).

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::ValueType;

use crate::onnx::{self, Ep, Float, SessionError};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(
        "depth model {path}: {reason}. A depth model takes one image tensor [batch, 3, height, \
         width] (or a clip window [batch, frames, 3, height, width]) of float32 or float16 and \
         returns one depth map per image"
    )]
    NotDepthModel { path: PathBuf, reason: String },
    #[error("depth model {path} failed on {provider}: {reason}")]
    Run {
        path: PathBuf,
        provider: String,
        reason: String,
    },
}

/// One depth map and its size (width, height).
pub type DepthMap = (Vec<f32>, (u32, u32));

/// How the model wants its input: fixed sizes where the export fixes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputShape {
    pub batch: Option<usize>,
    pub height: Option<u32>,
    pub width: Option<u32>,
}

/// What one call of the model takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Separate images: `[batch, 3, h, w]`.
    Image,
    /// A window of `frames` consecutive frames: `[1, frames, 3, h, w]`.
    Video { frames: usize },
}

/// Frames per window of a video model whose export leaves the count open (Video Depth
/// Anything's own: 32).
pub const DEFAULT_WINDOW: usize = 32;

pub struct DepthModel {
    path: PathBuf,
    session: Session,
    input_name: String,
    output_name: String,
    input_type: Float,
    pub layout: Layout,
    pub shape: InputShape,
    /// The provider that runs it.
    pub provider: Ep,
}

/// A file's identity for cache keys (see `onnx::file_identity`).
pub fn model_identity(path: &Path) -> String {
    onnx::file_identity(path)
}

impl DepthModel {
    /// Loads the model on the requested provider; `output` names the depth output of a
    /// model with several.
    pub fn open(
        path: &Path,
        ep: Ep,
        ort_lib: Option<&Path>,
        output: Option<&str>,
    ) -> Result<Self, ModelError> {
        let (session, provider) = onnx::open_session(path, ep, ort_lib, "depth model")?;
        Self::from_session(path, session, provider, output)
    }

    fn from_session(
        path: &Path,
        session: Session,
        provider: Ep,
        wanted_output: Option<&str>,
    ) -> Result<Self, ModelError> {
        let bad = |reason: String| ModelError::NotDepthModel {
            path: path.to_path_buf(),
            reason,
        };
        let [input] = session.inputs() else {
            return Err(bad(format!(
                "it has {} inputs ({})",
                session.inputs().len(),
                names(session.inputs().iter().map(|o| o.name()))
            )));
        };
        let ValueType::Tensor { ty, shape, .. } = input.dtype() else {
            return Err(bad(format!("input `{}` is not a tensor", input.name())));
        };
        let input_type = Float::of(*ty).ok_or_else(|| {
            bad(format!(
                "input `{}` holds {ty:?}, not float32 or float16",
                input.name()
            ))
        })?;
        let dims: Vec<i64> = shape.iter().copied().collect();
        let colour = |d: i64| d == 3 || d < 0;
        let (layout, spatial) = match dims.len() {
            4 if colour(dims[1]) => (Layout::Image, (dims[2], dims[3])),
            5 if colour(dims[2]) => {
                let frames = usize::try_from(dims[1]).unwrap_or(DEFAULT_WINDOW);
                (Layout::Video { frames }, (dims[3], dims[4]))
            }
            _ => {
                return Err(bad(format!(
                    "input `{}` has shape {dims:?}, neither [batch, 3, height, width] nor \
                     [batch, frames, 3, height, width]",
                    input.name()
                )));
            }
        };
        let output_name = pick_output(&session, layout, wanted_output).map_err(bad)?;
        let fixed = |d: i64| (d > 0).then_some(d);
        let shape = InputShape {
            batch: fixed(dims[0]).map(|d| d as usize),
            height: fixed(spatial.0).map(|d| d as u32),
            width: fixed(spatial.1).map(|d| d as u32),
        };
        log::info!(
            "depth model input `{}` {dims:?} ({input_type:?}{}), output `{output_name}`",
            input.name(),
            match layout {
                Layout::Image => String::new(),
                Layout::Video { frames } => format!(", video windows of {frames} frames"),
            }
        );
        Ok(Self {
            path: path.to_path_buf(),
            input_name: input.name().to_owned(),
            output_name,
            input_type,
            session,
            layout,
            shape,
            provider,
        })
    }

    /// The size to feed a frame of `frame` size: the model's own where it is static,
    /// otherwise the short side `short` with both sides multiples of 14 (Depth-Anything's
    /// patch size), keeping the aspect ratio.
    pub fn input_size(&self, frame: (u32, u32), short: u32) -> (u32, u32) {
        match (self.shape.width, self.shape.height) {
            (Some(w), Some(h)) => (w, h),
            _ => patch_aligned_size(frame, short),
        }
    }

    /// Frames per call the model accepts: `wanted`, or 1 for a batch-1 export.
    pub fn batch_limit(&self, wanted: usize) -> usize {
        match self.shape.batch {
            Some(b) => b,
            None => wanted.max(1),
        }
    }

    /// Runs `n` images of `size` (NCHW float32, back to back) and returns each depth map
    /// with its size.
    pub fn run(
        &mut self,
        images: Vec<f32>,
        n: usize,
        size: (u32, u32),
    ) -> Result<Vec<DepthMap>, ModelError> {
        let shape = vec![n as i64, 3, i64::from(size.1), i64::from(size.0)];
        self.infer(shape, images, n)
    }

    /// Runs one window of `frames` consecutive frames of `size` (each NCHW float32, back
    /// to back) and returns each frame's depth map.
    pub fn run_window(
        &mut self,
        frames: Vec<f32>,
        n: usize,
        size: (u32, u32),
    ) -> Result<Vec<DepthMap>, ModelError> {
        let shape = vec![1, n as i64, 3, i64::from(size.1), i64::from(size.0)];
        self.infer(shape, frames, n)
    }

    fn infer(
        &mut self,
        shape: Vec<i64>,
        data: Vec<f32>,
        n: usize,
    ) -> Result<Vec<DepthMap>, ModelError> {
        let err = |e: ort::Error| ModelError::Run {
            path: self.path.clone(),
            provider: self.provider.ort_name().into(),
            reason: e.to_string(),
        };
        let tensor = self.input_type.tensor(shape, data).map_err(err)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(err)?;
        let (dims, data) = onnx::extract_f32(&outputs[self.output_name.as_str()]).map_err(err)?;
        drop(outputs);
        let (h, w) = (dims[dims.len() - 2] as usize, dims[dims.len() - 1] as usize);
        if h == 0 || w == 0 || data.len() != n * h * w {
            return Err(ModelError::Run {
                path: self.path.clone(),
                provider: self.provider.ort_name().into(),
                reason: format!("it returned shape {dims:?} for {n} frame(s)"),
            });
        }
        Ok(data
            .chunks_exact(h * w)
            .map(|c| (c.to_vec(), (w as u32, h as u32)))
            .collect())
    }
}

/// The output holding the depth: the one named `wanted`, the only output, or the one
/// whose shape is a map per image (or per frame) with a depth-like name first.
fn pick_output(session: &Session, layout: Layout, wanted: Option<&str>) -> Result<String, String> {
    let outputs = session.outputs();
    let listed = || names(outputs.iter().map(|o| o.name()));
    if let Some(name) = wanted {
        return outputs
            .iter()
            .find(|o| o.name() == name)
            .map(|o| o.name().to_owned())
            .ok_or_else(|| format!("it has no output `{name}` (outputs: {})", listed()));
    }
    let lead = match layout {
        Layout::Image => 1,
        Layout::Video { .. } => 2,
    };
    let map_like: Vec<&str> = outputs
        .iter()
        .filter(|o| {
            let ValueType::Tensor { ty, shape, .. } = o.dtype() else {
                return false;
            };
            let dims: Vec<i64> = shape.iter().copied().collect();
            // [lead..., h, w], or with one channel before h, w.
            let rank_ok = dims.len() == lead + 2 || (dims.len() == lead + 3 && dims[lead] <= 1);
            Float::of(*ty).is_some() && rank_ok
        })
        .map(|o| o.name())
        .collect();
    let by_name = map_like.iter().find(|n| {
        let n = n.to_ascii_lowercase();
        n.contains("depth") || n.contains("disp")
    });
    match (by_name, map_like.first()) {
        (Some(n), _) | (None, Some(n)) => {
            if outputs.len() > 1 {
                log::info!(
                    "depth model has {} outputs ({}): reading `{n}` (choose another with --depth-output)",
                    outputs.len(),
                    listed()
                );
            }
            Ok((*n).to_owned())
        }
        (None, None) if outputs.is_empty() => Err("it has no outputs".into()),
        (None, None) => Err(format!(
            "none of its outputs ({}) is a depth map per image ([batch, height, width] or \
             [batch, 1, height, width]) of float32 or float16",
            listed()
        )),
    }
}

/// Short side `short`, long side scaled to keep the aspect ratio, both rounded to the
/// nearest multiple of 14 (1920x1080 at 518 -> 924x518).
pub fn patch_aligned_size((w, h): (u32, u32), short: u32) -> (u32, u32) {
    let round14 = |v: f64| ((v / 14.0).round() as u32).max(1) * 14;
    let (long_px, short_px) = (f64::from(w.max(h)), f64::from(w.min(h).max(1)));
    let mut s = f64::from(short);
    // A strip far longer than it is high would have its long side blown up with the
    // short one (a 16000x16 frame at 252 would be 252000 wide). The long side stays
    // within the frame's own, or four short sides where that is more; the short side
    // shrinks to match.
    let long_cap = long_px.max(4.0 * s);
    if long_px * s / short_px > long_cap {
        s = long_cap * short_px / long_px;
    }
    let (long, short) = (round14(long_px * s / short_px), round14(s));
    if w >= h { (long, short) } else { (short, long) }
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod size_tests {
    use super::patch_aligned_size;

    #[test]
    fn model_inputs_keep_the_aspect_ratio_in_steps_of_fourteen() {
        assert_eq!(patch_aligned_size((1920, 1080), 518), (924, 518));
        assert_eq!(patch_aligned_size((1080, 1920), 518), (518, 924));
        // Small frames are scaled up to the short side asked for.
        assert_eq!(patch_aligned_size((98, 54), 252), (462, 252));
        // A strip keeps its long side within the frame's: not 252000 x 252.
        assert_eq!(patch_aligned_size((16000, 16), 252), (16002, 14));
        assert_eq!(patch_aligned_size((16, 16000), 252), (14, 16002));
        // Within four short sides, a long strip is still scaled up.
        assert_eq!(patch_aligned_size((400, 40), 252), (1008, 98));
    }
}
