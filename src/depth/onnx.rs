//! A depth model run through ONNX Runtime: any export that takes one NCHW float image and
//! returns one depth map per image, (B,H,W) or (B,1,H,W). Names and shapes are read from
//! the session, so Depth-Anything exports with `image`/`depth`, `pixel_values`/
//! `predicted_depth` or `input`/`output`, static or dynamic H and W, all load unchanged.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::{Tensor, TensorElementType, ValueType};

use super::ort_runtime::{self, Ep, RuntimeError};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("depth model {0}: no such file")]
    Missing(PathBuf),
    #[error(
        "{path} is not a usable ONNX model: {reason}. Pass an .onnx depth model export \
         (see models/README.md)"
    )]
    NotOnnx { path: PathBuf, reason: String },
    #[error(
        "depth model {path}: {reason}. A depth model takes one image tensor [batch, 3, height, width] \
         of float32 and returns one depth map per image"
    )]
    NotDepthModel { path: PathBuf, reason: String },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
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

pub struct OnnxModel {
    path: PathBuf,
    session: Session,
    input_name: String,
    output_name: String,
    pub shape: InputShape,
    /// The provider that runs it.
    pub provider: Ep,
}

/// A file's identity for cache keys (models, inputs, depth clips): path, size,
/// modification time, and on Unix the inode and change time.
pub fn model_identity(path: &Path) -> String {
    let meta = std::fs::metadata(path).ok();
    // On Unix also the inode and the change time, which every rewrite moves even where
    // the modification time is coarse or was set back.
    #[cfg(unix)]
    let changed = meta.as_ref().map(|m| {
        use std::os::unix::fs::MetadataExt;
        (m.ino(), m.ctime(), m.ctime_nsec())
    });
    #[cfg(not(unix))]
    let changed: Option<()> = None;
    format!(
        "{}|{}|{:?}|{changed:?}",
        path.canonicalize()
            .unwrap_or_else(|_| path.to_path_buf())
            .display(),
        meta.as_ref().map(|m| m.len()).unwrap_or(0),
        meta.as_ref().and_then(|m| m.modified().ok())
    )
}

impl OnnxModel {
    /// Loads the model on the requested provider (`auto`: the best GPU one the library
    /// offers, falling back to the CPU with a logged reason).
    pub fn open(path: &Path, ep: Ep, ort_lib: Option<&Path>) -> Result<Self, ModelError> {
        if !path.is_file() {
            return Err(ModelError::Missing(path.to_path_buf()));
        }
        check_looks_like_onnx(path)?;
        let runtime = ort_runtime::runtime(ort_lib)?;
        let plan = ort_runtime::plan(ep, runtime)?;
        let mut last_err = String::new();
        for candidate in plan {
            let dispatch = candidate
                .dispatch()
                .expect("planned providers are compiled in");
            let built = (|| -> Result<Session, String> {
                let builder = Session::builder(&runtime.env).map_err(|e| e.to_string())?;
                let mut builder = builder
                    .with_execution_providers([dispatch.error_on_failure()])
                    .map_err(|e| e.to_string())?;
                builder.commit_from_file(path).map_err(|e| e.to_string())
            })();
            match built {
                Ok(session) => {
                    if ep == Ep::Auto && candidate == Ep::Cpu && !last_err.is_empty() {
                        log::warn!("depth model falls back to the CPU: {last_err}");
                    }
                    log::info!(
                        "depth model {} runs on {}",
                        path.display(),
                        candidate.ort_name()
                    );
                    return Self::from_session(path, session, candidate);
                }
                Err(msg) => {
                    if is_model_error(&msg) {
                        return Err(ModelError::NotOnnx {
                            path: path.to_path_buf(),
                            reason: msg,
                        });
                    }
                    if ep != Ep::Auto {
                        return Err(ModelError::Run {
                            path: path.to_path_buf(),
                            provider: candidate.ort_name().into(),
                            reason: msg,
                        });
                    }
                    log::warn!("{} could not start: {msg}", candidate.ort_name());
                    last_err = format!("{} could not start ({msg})", candidate.ort_name());
                }
            }
        }
        Err(ModelError::Run {
            path: path.to_path_buf(),
            provider: "any provider".into(),
            reason: last_err,
        })
    }

    fn from_session(path: &Path, session: Session, provider: Ep) -> Result<Self, ModelError> {
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
        let Some(output) = session.outputs().first() else {
            return Err(bad("it has no outputs".into()));
        };
        let ValueType::Tensor { ty, shape, .. } = input.dtype() else {
            return Err(bad(format!("input `{}` is not a tensor", input.name())));
        };
        if *ty != TensorElementType::Float32 {
            return Err(bad(format!(
                "input `{}` holds {ty:?}, not float32",
                input.name()
            )));
        }
        let dims: Vec<i64> = shape.iter().copied().collect();
        if dims.len() != 4 || !(dims[1] == 3 || dims[1] < 0) {
            return Err(bad(format!(
                "input `{}` has shape {dims:?}, not [batch, 3, height, width]",
                input.name()
            )));
        }
        let ValueType::Tensor {
            shape: out_shape, ..
        } = output.dtype()
        else {
            return Err(bad(format!("output `{}` is not a tensor", output.name())));
        };
        let out_dims: Vec<i64> = out_shape.iter().copied().collect();
        let out_ok = out_dims.len() == 3 || (out_dims.len() == 4 && out_dims[1] <= 1);
        if !out_ok {
            return Err(bad(format!(
                "output `{}` has shape {out_dims:?}, not [batch, height, width] or [batch, 1, height, width]",
                output.name()
            )));
        }
        let fixed = |d: i64| (d > 0).then_some(d);
        let shape = InputShape {
            batch: fixed(dims[0]).map(|d| d as usize),
            height: fixed(dims[2]).map(|d| d as u32),
            width: fixed(dims[3]).map(|d| d as u32),
        };
        log::info!(
            "depth model input `{}` {dims:?}, output `{}` {out_dims:?}",
            input.name(),
            output.name()
        );
        Ok(Self {
            path: path.to_path_buf(),
            input_name: input.name().to_owned(),
            output_name: output.name().to_owned(),
            session,
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
        let shape = [n as i64, 3, i64::from(size.1), i64::from(size.0)];
        let err = |e: ort::Error| ModelError::Run {
            path: self.path.clone(),
            provider: self.provider.ort_name().into(),
            reason: e.to_string(),
        };
        let tensor = Tensor::from_array((shape, images)).map_err(err)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(err)?;
        let (out_shape, data) = outputs[self.output_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(err)?;
        let dims: Vec<i64> = out_shape.iter().copied().collect();
        let (h, w) = (dims[dims.len() - 2] as usize, dims[dims.len() - 1] as usize);
        if dims[0] as usize != n || data.len() != n * h * w {
            return Err(ModelError::Run {
                path: self.path.clone(),
                provider: self.provider.ort_name().into(),
                reason: format!("it returned shape {dims:?} for {n} image(s)"),
            });
        }
        // Copied out so the session's outputs are dropped before the next run.
        Ok(data
            .chunks_exact(h * w)
            .map(|c| (c.to_vec(), (w as u32, h as u32)))
            .collect())
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

/// ONNX files are protobuf: a quick look catches text files, images and the like with a
/// clear message before ONNX Runtime's parser does.
fn check_looks_like_onnx(path: &Path) -> Result<(), ModelError> {
    let not = |reason: &str| ModelError::NotOnnx {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    let mut head = [0u8; 16];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| not(&e.to_string()))?;
    if n < 2 {
        return Err(not("the file is empty"));
    }
    // ModelProto starts with field 1 (ir_version, varint: 0x08) in every exporter we know.
    if head[0] != 0x08 {
        return Err(not("it does not start like an ONNX protobuf"));
    }
    Ok(())
}

fn is_model_error(msg: &str) -> bool {
    [
        "INVALID_PROTOBUF",
        "INVALID_GRAPH",
        "Protobuf parsing failed",
        "NO_MODEL",
    ]
    .iter()
    .any(|k| msg.contains(k))
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
