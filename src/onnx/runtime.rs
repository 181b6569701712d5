//! Finding and loading the ONNX Runtime shared library (`ort` with `load-dynamic`), and
//! choosing the execution provider.
//!
//! The library is looked for in this order: `--ort-lib`, `ORT_DYLIB_PATH`, the project's
//! `.venv/` (made by `.ci/setup`) in the working directory or beside the executable's
//! ancestors, then the Python environments on `PATH`. Its version must be 1.31.x: the
//! API level the `ort` crate was built against.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider, ExecutionProviderDispatch};

/// The ONNX Runtime release this build expects (the wheel `.ci/setup` installs).
pub const ORT_VERSION: &str = "1.31.1";

#[cfg(target_os = "windows")]
const LIB_NAMES: &[&str] = &["onnxruntime.dll"];
#[cfg(target_os = "macos")]
const LIB_NAMES: &[&str] = &["libonnxruntime.1.31.1.dylib", "libonnxruntime.dylib"];
#[cfg(not(any(target_os = "windows", target_os = "macos")))]
const LIB_NAMES: &[&str] = &["libonnxruntime.so.1.31.1", "libonnxruntime.so"];

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime was not found (looked in {searched}). Install it with `bash .ci/setup` \
         (puts onnxruntime=={ORT_VERSION} into .venv/), or `pip install onnxruntime=={ORT_VERSION}` \
         (onnxruntime-gpu / onnxruntime-directml for GPU providers), then pass \
         --ort-lib .../site-packages/onnxruntime/capi/{lib} or set ORT_DYLIB_PATH"
    )]
    NotFound { searched: String, lib: &'static str },
    #[error(
        "cannot use ONNX Runtime at {path}: {reason}. This build needs version {ORT_VERSION}: \
         `pip install onnxruntime=={ORT_VERSION}` and pass its capi/ library with --ort-lib"
    )]
    Load { path: PathBuf, reason: String },
    #[error(
        "execution provider {asked} is not available in the ONNX Runtime at {lib}; available: {available}. \
         {hint}"
    )]
    ProviderUnavailable {
        asked: String,
        lib: String,
        available: String,
        hint: &'static str,
    },
    #[error("ONNX Runtime: {0}")]
    Ort(String),
}

/// `--ep`: which execution provider runs the depth model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Ep {
    /// The GPU providers this library offers, best first, falling back to the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
    Tensorrt,
    Directml,
    Coreml,
}

impl Ep {
    /// ONNX Runtime's own name for the provider.
    pub fn ort_name(self) -> &'static str {
        match self {
            Ep::Auto => "auto",
            Ep::Cpu => "CPUExecutionProvider",
            Ep::Cuda => "CUDAExecutionProvider",
            Ep::Tensorrt => "TensorrtExecutionProvider",
            Ep::Directml => "DmlExecutionProvider",
            Ep::Coreml => "CoreMLExecutionProvider",
        }
    }

    /// GPU providers `auto` tries, in order.
    pub const GPU_ORDER: [Ep; 4] = [Ep::Tensorrt, Ep::Cuda, Ep::Directml, Ep::Coreml];

    /// The registration object, or None when this build was compiled without it.
    pub fn dispatch(self) -> Option<ExecutionProviderDispatch> {
        match self {
            Ep::Auto => None,
            Ep::Cpu => Some(ep::CPU::default().build()),
            #[cfg(feature = "cuda")]
            Ep::Cuda => Some(ep::CUDA::default().build()),
            #[cfg(feature = "tensorrt")]
            Ep::Tensorrt => Some(ep::TensorRT::default().build()),
            #[cfg(feature = "directml")]
            Ep::Directml => Some(ep::DirectML::default().build()),
            #[cfg(feature = "coreml")]
            Ep::Coreml => Some(ep::CoreML::default().build()),
            #[allow(
                unreachable_patterns,
                reason = "reachable only when some provider features are left out"
            )]
            _ => None,
        }
    }

    fn cargo_feature(self) -> &'static str {
        match self {
            Ep::Cuda => "cuda",
            Ep::Tensorrt => "tensorrt",
            Ep::Directml => "directml",
            Ep::Coreml => "coreml",
            Ep::Auto | Ep::Cpu => "",
        }
    }
}

/// The loaded library: where it came from and the environment sessions are built in.
pub struct Runtime {
    pub path: PathBuf,
    pub env: Environment,
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// Loads ONNX Runtime once per process. A second call with another path gets the first
/// library (a process can hold only one).
pub fn runtime(explicit: Option<&Path>) -> Result<&'static Runtime, RuntimeError> {
    let loaded = RUNTIME.get_or_init(|| load(explicit).map_err(|e| e.to_string()));
    loaded.as_ref().map_err(|e| RuntimeError::Ort(e.clone()))
}

fn load(explicit: Option<&Path>) -> Result<Runtime, RuntimeError> {
    let path = locate(explicit)?;
    // Check the version ourselves first: a too-new or too-old library would otherwise be
    // reported deep inside ort, or half-work.
    let version = library_version(&path).map_err(|reason| RuntimeError::Load {
        path: path.clone(),
        reason,
    })?;
    if !version.starts_with("1.31.") {
        return Err(RuntimeError::Load {
            path,
            reason: format!("it is version {version}"),
        });
    }
    let builder = ort::init_from(&path).map_err(|e| RuntimeError::Load {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let env = builder
        .with_name("stereosplat")
        .build()
        .map_err(|e| RuntimeError::Ort(e.to_string()))?;
    log::info!("ONNX Runtime {version} from {}", path.display());
    Ok(Runtime { path, env })
}

/// Reads `OrtGetApiBase()->GetVersionString()` without committing to the library.
fn library_version(path: &Path) -> Result<String, String> {
    // SAFETY: loading a shared library runs its initialisers; this is the library the
    // user pointed us at (or the one the set-up installed) and is what ort loads next.
    unsafe {
        let lib = libloading::Library::new(path).map_err(|e| e.to_string())?;
        let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
            lib.get(b"OrtGetApiBase").map_err(|_| {
                "it does not export OrtGetApiBase: not an ONNX Runtime library".to_owned()
            })?;
        let base = get_base();
        if base.is_null() {
            return Err("OrtGetApiBase returned nothing".into());
        }
        let version = std::ffi::CStr::from_ptr(((*base).GetVersionString)());
        Ok(version.to_string_lossy().into_owned())
    }
}

/// Where the library is, following the documented search order.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    if let Some(p) = explicit {
        return existing(p, "--ort-lib");
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return existing(Path::new(&p), "ORT_DYLIB_PATH");
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd.join(".venv"));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(|d| d.join(".venv")));
    }
    if let Some(path) = std::env::var_os("PATH") {
        // A Python environment's bin/ sits beside its lib/.
        roots.extend(
            std::env::split_paths(&path).filter_map(|bin| bin.parent().map(Path::to_path_buf)),
        );
    }
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        roots.insert(0, PathBuf::from(v));
    }
    let mut searched = Vec::new();
    for root in roots {
        for capi in capi_dirs(&root) {
            for name in LIB_NAMES {
                let candidate = capi.join(name);
                if candidate.is_file() {
                    return Ok(candidate);
                }
            }
        }
        searched.push(root.display().to_string());
    }
    searched.dedup();
    Err(RuntimeError::NotFound {
        searched: format!(
            "--ort-lib, ORT_DYLIB_PATH, .venv/ here and above the executable, Python environments on PATH ({} places)",
            searched.len()
        ),
        lib: LIB_NAMES[0],
    })
}

/// `<root>/lib/python3.*/site-packages/onnxruntime/capi` (and Windows' `Lib/`).
fn capi_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64", "Lib"] {
        let Ok(entries) = std::fs::read_dir(root.join(lib)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if name.to_string_lossy().starts_with("python") {
                out.push(e.path().join("site-packages/onnxruntime/capi"));
            }
        }
        out.push(root.join(lib).join("site-packages/onnxruntime/capi"));
    }
    out
}

fn existing(p: &Path, from: &str) -> Result<PathBuf, RuntimeError> {
    if p.is_file() {
        Ok(p.to_path_buf())
    } else {
        Err(RuntimeError::Load {
            path: p.to_path_buf(),
            reason: format!("{from} names no file"),
        })
    }
}

/// Providers the loaded library was built with (ONNX Runtime's names).
pub fn available_providers() -> Vec<String> {
    let api = ort::api();
    let mut list: *mut *mut std::ffi::c_char = std::ptr::null_mut();
    let mut n: std::ffi::c_int = 0;
    // SAFETY: the API fills `list` with `n` C strings that we release right after.
    unsafe {
        let status = (api.GetAvailableProviders)(&mut list, &mut n);
        if !status.0.is_null() || list.is_null() {
            return vec!["CPUExecutionProvider".into()];
        }
        let names = (0..n as isize)
            .map(|i| {
                std::ffi::CStr::from_ptr(*list.offset(i))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let _ = (api.ReleaseAvailableProviders)(list, n);
        names
    }
}

/// The providers to try for `asked`, in order. An explicit provider the library lacks is
/// an error that lists what it has.
pub fn plan(asked: Ep, runtime: &Runtime) -> Result<Vec<Ep>, RuntimeError> {
    let available = available_providers();
    let offered = |e: Ep| available.iter().any(|a| a == e.ort_name());
    match asked {
        Ep::Auto => {
            let mut order: Vec<Ep> = Ep::GPU_ORDER
                .into_iter()
                .filter(|e| offered(*e) && e.dispatch().is_some())
                .collect();
            order.push(Ep::Cpu);
            Ok(order)
        }
        Ep::Cpu => Ok(vec![Ep::Cpu]),
        e if !offered(e) => Err(RuntimeError::ProviderUnavailable {
            asked: e.ort_name().into(),
            lib: runtime.path.display().to_string(),
            available: available.join(", "),
            hint: "Install the matching wheel (onnxruntime-gpu for CUDA/TensorRT, onnxruntime-directml), or use --ep auto / --ep cpu",
        }),
        e if e.dispatch().is_none() => Err(RuntimeError::ProviderUnavailable {
            asked: e.ort_name().into(),
            lib: format!(
                "{} (this stereosplat was built without it: rebuild with --features {})",
                runtime.path.display(),
                e.cargo_feature()
            ),
            available: available.join(", "),
            hint: "",
        }),
        e => Ok(vec![e]),
    }
}

/// Whether a provider type is compiled in and offered (for `stereosplat adapters`).
pub fn cpu_available() -> bool {
    ep::CPU::is_available().unwrap_or(true)
}
