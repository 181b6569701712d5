//! ONNX Runtime, shared by every model stereosplat runs (depth models, inpainting
//! models): the library and its execution providers ([`runtime`]), a session opened on the
//! provider asked for with the fallback `--ep auto` promises ([`open_session`]), and
//! tensors in the element type the model declares (float32 or float16).

pub mod runtime;

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::{DynValue, Tensor, TensorElementType};

pub use runtime::{Ep, RuntimeError};

/// Why a model file could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("model {0}: no such file")]
    Missing(PathBuf),
    #[error(
        "{path} is not a usable ONNX model: {reason}. Pass an .onnx model export \
         (see models/README.md)"
    )]
    NotOnnx { path: PathBuf, reason: String },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("model {path} failed on {provider}: {reason}")]
    Run {
        path: PathBuf,
        provider: String,
        reason: String,
    },
}

/// Loads `path` on the requested provider (`auto`: the best GPU one the library offers,
/// falling back to the CPU with a logged reason). `what` names the model in the log
/// ("depth model").
pub fn open_session(
    path: &Path,
    ep: Ep,
    ort_lib: Option<&Path>,
    what: &str,
) -> Result<(Session, Ep), SessionError> {
    if !path.is_file() {
        return Err(SessionError::Missing(path.to_path_buf()));
    }
    check_looks_like_onnx(path)?;
    let runtime = runtime::runtime(ort_lib)?;
    let plan = runtime::plan(ep, runtime)?;
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
                    log::warn!("{what} falls back to the CPU: {last_err}");
                }
                log::info!("{what} {} runs on {}", path.display(), candidate.ort_name());
                return Ok((session, candidate));
            }
            Err(msg) if is_model_error(&msg) => {
                return Err(SessionError::NotOnnx {
                    path: path.to_path_buf(),
                    reason: msg,
                });
            }
            Err(msg) if ep != Ep::Auto => {
                return Err(SessionError::Run {
                    path: path.to_path_buf(),
                    provider: candidate.ort_name().into(),
                    reason: msg,
                });
            }
            Err(msg) => {
                log::warn!("{} could not start: {msg}", candidate.ort_name());
                last_err = format!("{} could not start ({msg})", candidate.ort_name());
            }
        }
    }
    Err(SessionError::Run {
        path: path.to_path_buf(),
        provider: "any provider".into(),
        reason: last_err,
    })
}

/// The floating-point element types stereosplat feeds and reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Float {
    F32,
    F16,
}

impl Float {
    /// The type of a model's tensor, if it is one stereosplat handles.
    pub fn of(ty: TensorElementType) -> Option<Self> {
        match ty {
            TensorElementType::Float32 => Some(Float::F32),
            TensorElementType::Float16 => Some(Float::F16),
            _ => None,
        }
    }

    /// A tensor of `shape` holding `data` in this type (float16 models get it rounded).
    pub fn tensor(self, shape: Vec<i64>, data: Vec<f32>) -> ort::Result<DynValue> {
        Ok(match self {
            Float::F32 => Tensor::from_array((shape, data))?.into_dyn(),
            Float::F16 => {
                let half: Vec<half::f16> = data.into_iter().map(half::f16::from_f32).collect();
                Tensor::from_array((shape, half))?.into_dyn()
            }
        })
    }
}

/// An output tensor's shape and values as float32, copied out (so the session's outputs
/// can be dropped before the next run).
pub fn extract_f32(value: &DynValue) -> ort::Result<(Vec<i64>, Vec<f32>)> {
    if let Ok((shape, data)) = value.try_extract_tensor::<f32>() {
        return Ok((shape.iter().copied().collect(), data.to_vec()));
    }
    let (shape, data) = value.try_extract_tensor::<half::f16>()?;
    Ok((
        shape.iter().copied().collect(),
        data.iter().map(|v| v.to_f32()).collect(),
    ))
}

/// ONNX files are protobuf: a quick look catches text files, images and the like with a
/// clear message before ONNX Runtime's parser does.
fn check_looks_like_onnx(path: &Path) -> Result<(), SessionError> {
    let not = |reason: &str| SessionError::NotOnnx {
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

/// A file's identity for cache keys (models, inputs, depth clips): path, size,
/// modification time, and on Unix the inode and change time.
pub fn file_identity(path: &Path) -> String {
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
