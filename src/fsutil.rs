//! Files as the user sees them: whether two paths name the same file, outputs that must
//! never overwrite an input, and writing through a temporary name beside the target so a
//! final name only ever holds a complete file.

use std::path::{Path, PathBuf};

/// Whether `a` and `b` are the same file on disk: the same path spelled differently
/// (`./x`, `dir/../x`), a symbolic link to the other, or a hard link. False when either
/// does not exist (a file about to be created cannot be an existing input).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// A file a command reads, named for messages (`"--depth"`, `"the paired depth"`).
#[derive(Clone, Debug)]
pub struct Named<'a> {
    pub role: &'a str,
    pub path: PathBuf,
}

impl<'a> Named<'a> {
    pub fn new(role: &'a str, path: impl Into<PathBuf>) -> Self {
        Self {
            role,
            path: path.into(),
        }
    }
}

/// An output that would replace one of the command's inputs.
#[derive(Debug, thiserror::Error)]
#[error(
    "{output_role} {output} is {input_role} {input}: writing it would destroy that input, so \
     nothing was written; choose another output name"
)]
pub struct OverwritesInput {
    pub output_role: String,
    pub output: PathBuf,
    pub input_role: String,
    pub input: PathBuf,
}

/// Refuses any output that is the same file as any input (see [`same_file`]), or the same
/// path as another output.
pub fn check_outputs(inputs: &[Named], outputs: &[Named]) -> Result<(), OverwritesInput> {
    for out in outputs {
        if let Some(input) = inputs.iter().find(|i| same_file(&i.path, &out.path)) {
            return Err(OverwritesInput {
                output_role: out.role.to_owned(),
                output: out.path.clone(),
                input_role: input.role.to_owned(),
                input: input.path.clone(),
            });
        }
    }
    for (k, a) in outputs.iter().enumerate() {
        if let Some(b) = outputs[k + 1..]
            .iter()
            .find(|b| b.path == a.path || same_file(&a.path, &b.path))
        {
            return Err(OverwritesInput {
                output_role: b.role.to_owned(),
                output: b.path.clone(),
                input_role: format!("also {}", a.role),
                input: a.path.clone(),
            });
        }
    }
    Ok(())
}

/// Temporary name beside the target: same folder (so the rename is atomic), hidden.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` through a temporary file beside it, so `path` only ever holds
/// a complete file; on failure the temporary file is removed.
pub fn write_replacing(path: &Path, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
    let tmp = temp_path_for(path);
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

/// stereosplat's cache folder: `explicit` (`--cache-dir`), else `$STEREOSPLAT_CACHE`,
/// `$XDG_CACHE_HOME/stereosplat`, `~/.cache/stereosplat`, or a folder in the system's
/// temporary directory. Depth estimates, depth scans and downloaded models live in it.
pub fn cache_root(explicit: Option<&Path>) -> PathBuf {
    if let Some(d) = explicit {
        d.to_path_buf()
    } else if let Some(d) = std::env::var_os("STEREOSPLAT_CACHE") {
        PathBuf::from(d)
    } else if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        PathBuf::from(d).join("stereosplat")
    } else if let Some(home) = std::env::var_os("HOME") {
        PathBuf::from(home).join(".cache/stereosplat")
    } else {
        std::env::temp_dir().join("stereosplat-cache")
    }
}

/// Temporary files being written right now, so a second Ctrl-C can remove them before the
/// process exits (destructors do not run then).
pub fn live_temp_files() -> &'static std::sync::Mutex<Vec<PathBuf>> {
    static FILES: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    &FILES
}

/// An output being written under a temporary name beside its final one (see
/// [`temp_path_for`]). It is listed in [`live_temp_files`] while it exists, removed when
/// dropped, and reaches a final name only through [`Self::persist`], so a failed or
/// cancelled write never leaves a file under the name the user asked for.
#[derive(Debug)]
pub struct TempOutput {
    tmp: PathBuf,
    persisted: bool,
}

impl TempOutput {
    /// Creates the (empty) temporary file for `target`: a folder that cannot be written
    /// fails here, with a plain error, rather than deep inside a media pipeline.
    pub fn create(target: &Path) -> std::io::Result<Self> {
        let tmp = temp_path_for(target);
        std::fs::File::create(&tmp)?;
        live_temp_files()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tmp.clone());
        Ok(Self {
            tmp,
            persisted: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Gives the finished file its final name.
    pub fn persist(mut self, target: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.tmp, target)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.tmp);
        }
        live_temp_files()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p != &self.tmp);
    }
}

/// `clip.mp4` -> `clip.partial.mp4`: where an interrupted render keeps what it finished.
pub fn partial_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match path.extension() {
        Some(ext) => path.with_file_name(format!("{stem}.partial.{}", ext.to_string_lossy())),
        None => path.with_file_name(format!("{stem}.partial")),
    }
}

/// Stores `value` as JSON in the cache file `path` (its folder made if needed). A cache
/// that cannot be written only costs the work next time, so a failure is logged (as
/// `what`), not returned.
pub fn store_json_cache<T: serde::Serialize>(path: &Path, value: &T, what: &str) {
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| write_replacing(path, serde_json::to_string(value).unwrap_or_default()));
    if let Err(e) = written {
        log::debug!("{what} not cached at {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_spellings_links_and_hard_links_are_the_same_file() {
        let dir = std::env::temp_dir().join(format!("fsutil-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let a = dir.join("a.mp4");
        std::fs::write(&a, b"x").unwrap();
        let spelled = dir.join("sub/../a.mp4");
        let soft = dir.join("soft.mp4");
        let hard = dir.join("hard.mp4");
        let other = dir.join("other.mp4");
        std::os::unix::fs::symlink(&a, &soft).unwrap();
        std::fs::hard_link(&a, &hard).unwrap();
        std::fs::write(&other, b"x").unwrap();
        for p in [&spelled, &soft, &hard] {
            assert!(same_file(&a, p), "{}", p.display());
        }
        assert!(!same_file(&a, &other));
        assert!(!same_file(&a, &dir.join("missing.mp4")));
        let err = check_outputs(
            &[Named::new("the input", &other), Named::new("--depth", &a)],
            &[Named::new("the output", &soft)],
        )
        .unwrap_err();
        assert_eq!(err.input_role, "--depth");
        assert!(
            check_outputs(
                &[Named::new("the input", &a)],
                &[Named::new("-o", &other), Named::new("--mask-out", &other)]
            )
            .is_err()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
