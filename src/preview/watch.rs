//! Live shader editing: polls the shader folder's `.wgsl` modification times (cheap, and
//! works on every file system and editor, unlike inotify with atomic-rename saves).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

const INTERVAL: Duration = Duration::from_millis(300);

pub struct ShaderWatch {
    dir: PathBuf,
    stamp: Option<SystemTime>,
    checked: Instant,
}

impl ShaderWatch {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            stamp: newest(dir),
            checked: Instant::now(),
        }
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
        let now = newest(&self.dir);
        if now != self.stamp {
            self.stamp = now;
            return true;
        }
        false
    }
}

/// The newest modification time of the folder's `.wgsl` files.
fn newest(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "wgsl"))
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()
}
