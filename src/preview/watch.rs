//! Live shader editing: polls the shader folder's `.wgsl` modification times (cheap, and
//! works on every file system and editor, unlike inotify with atomic-rename saves).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

const INTERVAL: Duration = Duration::from_millis(300);

pub struct ShaderWatch {
    dir: PathBuf,
    /// Single files watched too (the `--post` shader).
    files: Vec<PathBuf>,
    stamp: Option<SystemTime>,
    checked: Instant,
}

impl ShaderWatch {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            files: Vec::new(),
            stamp: newest(dir, &[]),
            checked: Instant::now(),
        }
    }

    /// Also watch `file` (e.g. the post-process shader, which may live anywhere).
    pub fn with_file(mut self, file: &Path) -> Self {
        self.files.push(file.to_path_buf());
        self.stamp = newest(&self.dir, &self.files);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True once after any shader file changed (at most every 300 ms).
    pub fn changed(&mut self) -> bool {
        if self.checked.elapsed() < INTERVAL {
            return false;
        }
        self.checked = Instant::now();
        let now = newest(&self.dir, &self.files);
        if now != self.stamp {
            self.stamp = now;
            return true;
        }
        false
    }
}

/// The newest modification time of the folder's `.wgsl` files and of `files`.
fn newest(dir: &Path, files: &[PathBuf]) -> Option<SystemTime> {
    let in_dir = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "wgsl"))
        .filter_map(|e| e.metadata().ok()?.modified().ok());
    let single = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok()?.modified().ok());
    in_dir.chain(single).max()
}
