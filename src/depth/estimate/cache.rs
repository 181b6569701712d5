//! Where estimates are kept between runs, and how a cached pass 1 is recognised: a key of
//! everything that changes its output, and a JSON file of per-frame statistics beside the
//! lossless raw maps.

use std::path::{Path, PathBuf};

use super::{EstimateError, EstimateOptions};
use crate::depth::model;
use crate::depth::normalize::{FrameStats, Normalize};

/// Bumped whenever pass 1's output would change for the same inputs.
pub(super) const CACHE_VERSION: u32 = 2;

/// Pass 1's result: the raw maps (each quantised over its own range) and their
/// statistics.
pub(super) struct Raw {
    pub video: PathBuf,
    pub stats: Vec<FrameStats>,
    pub still: bool,
    /// From a video model (already stable in time).
    pub from_video_model: bool,
}

impl Raw {
    /// The temporal normalisation: the one asked for, else `clip` after a video model
    /// and `ema` otherwise.
    pub fn normalize(&self, opts: &EstimateOptions) -> Normalize {
        opts.normalize.unwrap_or(if self.from_video_model {
            Normalize::Clip
        } else {
            Normalize::Ema
        })
    }
}

/// Where cached depth lives: `--cache-dir`, `$STEREOSPLAT_CACHE`,
/// `$XDG_CACHE_HOME/stereosplat` or `~/.cache/stereosplat`; with `--no-cache` a scratch
/// folder, returned second, for the caller to remove.
pub(crate) fn cache_dir(
    opts: &EstimateOptions,
) -> Result<(PathBuf, Option<PathBuf>), EstimateError> {
    let (dir, scratch) = if opts.no_cache {
        let d = std::env::temp_dir().join(format!("stereosplat-depth-{}", std::process::id()));
        (d.clone(), Some(d))
    } else {
        (crate::fsutil::cache_root(opts.cache_dir.as_deref()), None)
    };
    std::fs::create_dir_all(&dir).map_err(|source| EstimateError::Io {
        context: format!(
            "cannot create the depth cache folder {}: pass --cache-dir DIR (a writable folder) or --no-cache",
            dir.display()
        ),
        source,
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
pub(super) fn cache_key(input: &Path, opts: &EstimateOptions, frame_limit: Option<u64>) -> String {
    let model = opts
        .model
        .as_deref()
        .map(model::model_identity)
        .unwrap_or_else(|| "builtin-cues".into());
    let text = format!(
        "v{CACHE_VERSION}|{}|{model}|{}|{:?}|{frame_limit:?}|{:?}|{}",
        model::model_identity(input),
        opts.depth_size,
        opts.kind,
        opts.output,
        if opts.tta { "tta" } else { "" },
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

/// The metadata file of pass 1 under `key`.
pub(super) fn raw_meta_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.raw.json"))
}

/// A finished pass 1 from an earlier run, if its files are all there and current.
pub(super) fn read_raw(meta: &Path) -> Option<Raw> {
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
        from_video_model: v
            .get("video_model")
            .and_then(|b| b.as_bool())
            .unwrap_or(false),
    })
}

/// Records a finished pass 1, written last (atomically), so a cache entry is complete or
/// absent.
pub(super) fn write_raw(
    meta_path: &Path,
    input: &Path,
    raw: &Raw,
    size: (u32, u32),
) -> Result<(), EstimateError> {
    let meta = serde_json::json!({
        "version": CACHE_VERSION,
        "input": input.display().to_string(),
        "video": raw.video.file_name().map(|n| n.to_string_lossy().into_owned()),
        "still": raw.still,
        "video_model": raw.from_video_model,
        "size": [size.0, size.1],
        "frames": raw.stats.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&meta).expect("JSON of plain values serialises");
    crate::fsutil::write_replacing(meta_path, bytes).map_err(|source| EstimateError::Io {
        context: format!("writing {}", meta_path.display()),
        source,
    })
}
