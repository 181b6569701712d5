//! `stereosplat batch`: every video and image in a folder, each rendered with the same
//! settings through [`crate::render::render`] on one GPU context. Depth pairs by the batch
//! processor's convention (`clip.mp4` + `clip_depth.<ext>` in `--depth-dir` or beside the
//! clip); depth files are never converted themselves. Outputs appear under their final
//! name only when complete, so `--resume` just skips existing outputs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::control::Cancel;
use crate::depth::{self, is_depth_file};
use crate::gpu::GpuContext;
use crate::progress::Progress;
use crate::render::{RenderJob, render};

/// Extensions treated as inputs.
pub const VIDEO_EXTS: &[&str] = &[
    "mp4", "m4v", "mkv", "mov", "webm", "avi", "mpg", "mpeg", "ts", "m2ts", "mts", "wmv", "flv",
    "3gp",
];
pub const IMAGE_EXTS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp"];

/// Suffix the batch processor gives its outputs.
pub const OUTPUT_SUFFIX: &str = "_splatted";

/// Why a batch could not run (a file that fails is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("--input-dir {} is not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io_error(context: String) -> impl FnOnce(std::io::Error) -> BatchError {
    move |source| BatchError::Io { context, source }
}

#[derive(Clone, Debug)]
pub struct BatchJob {
    pub input_dir: PathBuf,
    pub depth_dir: Option<PathBuf>,
    pub output_dir: PathBuf,
    pub recursive: bool,
    pub resume: bool,
    pub skip_error: bool,
    pub report: Option<PathBuf>,
    /// (index, count): this run takes the files whose stable hash falls in its share.
    pub shard: Option<(u64, u64)>,
    /// Container for video outputs (default: the input's when it is mp4/mkv/mov, else mp4).
    pub video_ext: Option<String>,
    /// Settings shared by every file; input, output and depth are filled in per file.
    pub template: RenderJob,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done { frames: u64 },
    Skipped { reason: String },
    Failed { reason: String },
}

#[derive(Clone, Debug)]
pub struct FileResult {
    pub input: PathBuf,
    pub output: PathBuf,
    pub depth: Option<PathBuf>,
    pub outcome: Outcome,
    pub seconds: f64,
    /// The parallax the file's render used (done files).
    pub comfort: Option<crate::comfort::ComfortSummary>,
}

/// Parses `I/N` (0-based index I of N shards).
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 0/4")?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| "I must be a whole number")?,
        n.trim().parse().map_err(|_| "N must be a whole number")?,
    );
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 <= I < N"));
    }
    Ok((i, n))
}

/// FNV-1a of the path relative to the input folder: the same file lands in the same shard
/// on every machine, whatever else is in the folder.
pub fn shard_of(relative: &Path, count: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in relative.to_string_lossy().replace('\\', "/").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % count
}

fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.contains(&e.to_ascii_lowercase().as_str()))
}

/// What a folder holds for a batch: the inputs in a stable (sorted) order, and how many
/// media files were left out and why.
#[derive(Debug, Default)]
pub struct Discovered {
    pub inputs: Vec<PathBuf>,
    /// `<stem>_depth.<ext>`: depth maps pair with inputs, they are not inputs.
    pub depth_files: usize,
    /// Named as this tool names its outputs (`<stem>_splatted[tag][.partial].<ext>`).
    pub outputs: usize,
    /// Inside the output folder, when it sits in the input folder.
    pub in_output_folder: usize,
}

impl Discovered {
    /// "left out 3 files: 2 outputs of an earlier run (*_splatted), 1 depth map", or None.
    pub fn left_out_summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        let mut part = |n: usize, what: &str| {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        };
        part(
            self.outputs,
            "named as this tool's outputs (*_splatted), so not converted again",
        );
        part(self.in_output_folder, "inside the output folder");
        part(
            self.depth_files,
            "depth map(s) (*_depth), paired with their clips",
        );
        let total = self.outputs + self.in_output_folder + self.depth_files;
        (total > 0).then(|| format!("left out {total} file(s): {}", parts.join("; ")))
    }
}

/// Whether `path` is named as `batch` names its outputs: `<stem>_splatted.<ext>`, with
/// the player tag `--name-tags` adds and the `.partial` an interrupted render keeps.
pub fn is_output_name(path: &Path) -> bool {
    let Some(stem) = path.file_stem().map(|s| s.to_string_lossy()) else {
        return false;
    };
    let stem = stem.strip_suffix(".partial").unwrap_or(&stem);
    let untagged = crate::layout::Layout::ALL
        .iter()
        .filter_map(|l| l.name_tag())
        .find_map(|tag| stem.strip_suffix(tag))
        .unwrap_or(stem);
    untagged.ends_with(OUTPUT_SUFFIX)
}

/// Inputs under `dir`, skipping hidden files, depth files, files named as outputs and
/// anything inside `output_dir` (when it sits inside the input folder), so a batch whose
/// outputs land among its inputs never converts its own outputs.
pub fn discover(dir: &Path, recursive: bool, output_dir: &Path) -> Result<Discovered, BatchError> {
    let mut found = Discovered::default();
    let mut stack = vec![dir.to_path_buf()];
    let input_root = std::fs::canonicalize(dir).ok();
    // The output folder is only a tree to leave out when it is not the input folder
    // itself (in place, the names tell outputs apart).
    let output_tree = std::fs::canonicalize(output_dir)
        .ok()
        .filter(|o| Some(o) != input_root.as_ref());
    while let Some(d) = stack.pop() {
        let listing = || format!("cannot list {}", d.display());
        let entries = std::fs::read_dir(&d).map_err(io_error(listing()))?;
        for entry in entries {
            let path = entry.map_err(io_error(listing()))?.path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            if path.is_dir() {
                let is_output_tree = output_tree
                    .as_ref()
                    .is_some_and(|x| std::fs::canonicalize(&path).is_ok_and(|p| p == *x));
                if recursive && is_output_tree {
                    found.in_output_folder += count_media(&path);
                } else if recursive {
                    stack.push(path);
                }
            } else if has_ext(&path, VIDEO_EXTS) || has_ext(&path, IMAGE_EXTS) {
                if is_depth_file(&path) {
                    found.depth_files += 1;
                } else if is_output_name(&path) {
                    found.outputs += 1;
                } else {
                    found.inputs.push(path);
                }
            }
        }
    }
    found.inputs.sort();
    Ok(found)
}

/// Media files anywhere under `dir` (for the count of what was left out).
fn count_media(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| e.path())
        .map(|p| {
            if p.is_dir() {
                count_media(&p)
            } else {
                usize::from(has_ext(&p, VIDEO_EXTS) || has_ext(&p, IMAGE_EXTS))
            }
        })
        .sum()
}

impl BatchJob {
    /// Where the output of `input` goes: the same sub-folder under the output folder,
    /// named `<stem>_splatted[<player tag>].<ext>`.
    pub fn output_for(&self, input: &Path) -> PathBuf {
        let relative = input.strip_prefix(&self.input_dir).unwrap_or(input);
        let stem = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = if has_ext(input, IMAGE_EXTS) {
            "png".to_owned()
        } else if let Some(e) = &self.video_ext {
            e.clone()
        } else {
            match input
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
            {
                Some(e) if ["mp4", "mkv", "mov"].contains(&e.as_str()) => e,
                _ => "mp4".to_owned(),
            }
        };
        let dir = self
            .output_dir
            .join(relative.parent().unwrap_or(Path::new("")));
        dir.join(format!("{stem}{OUTPUT_SUFFIX}.{ext}"))
    }

    fn depth_for(&self, input: &Path) -> Option<PathBuf> {
        if let Some(dd) = &self.depth_dir {
            let relative = input.strip_prefix(&self.input_dir).unwrap_or(input);
            let mirrored = dd.join(relative.parent().unwrap_or(Path::new("")));
            if let Some(p) = depth::find_sidecar(input, Some(&mirrored)) {
                return Some(p);
            }
            if let Some(p) = depth::find_sidecar(input, Some(dd)) {
                return Some(p);
            }
        }
        depth::find_sidecar(input, None)
    }

    /// Runs the batch. `progress` makes a progress reporter per file.
    pub fn run(
        &self,
        ctx: &GpuContext,
        progress: &mut dyn FnMut() -> Box<dyn Progress>,
        cancel: &Cancel,
    ) -> Result<Vec<FileResult>, BatchError> {
        if !self.input_dir.is_dir() {
            return Err(BatchError::NotAFolder(self.input_dir.clone()));
        }
        std::fs::create_dir_all(&self.output_dir).map_err(io_error(format!(
            "cannot create --output-dir {}",
            self.output_dir.display()
        )))?;
        let found = discover(&self.input_dir, self.recursive, &self.output_dir)?;
        if let Some(summary) = found.left_out_summary() {
            log::info!("{}: {summary}", self.input_dir.display());
        }
        let mut inputs = found.inputs;
        if let Some((i, n)) = self.shard {
            inputs.retain(|p| shard_of(p.strip_prefix(&self.input_dir).unwrap_or(p), n) == i);
        }
        log::info!(
            "{} file(s) to convert in {}",
            inputs.len(),
            self.input_dir.display()
        );
        if self.template.estimate.model.is_none() {
            let without = inputs
                .iter()
                .filter(|i| self.depth_for(i).is_none())
                .count();
            if without > 0 {
                crate::depth::estimate::warn_builtin_estimate(&format!(
                    "{without} of {} file(s) have no depth file and there is no --depth-model",
                    inputs.len()
                ));
            }
        }
        let mut results = Vec::new();
        for (k, input) in inputs.iter().enumerate() {
            if cancel.is_cancelled() || cancel.is_interrupted() {
                break;
            }
            let mut job = self.template.clone();
            job.input = input.clone();
            job.output = self.output_for(input);
            job.depth = self.depth_for(input);
            let output = job.final_output();
            let started = Instant::now();
            let mut comfort = None;
            let outcome = if self.resume && output.is_file() {
                Outcome::Skipped {
                    reason: "output exists (--resume)".into(),
                }
            } else {
                log::info!(
                    "[{}/{}] {} -> {}",
                    k + 1,
                    inputs.len(),
                    input.display(),
                    output.display()
                );
                let mut p = progress();
                match render(ctx, &job, p.as_mut(), cancel) {
                    Ok(report) => {
                        comfort = Some(report.comfort.summary());
                        Outcome::Done {
                            frames: report.frames,
                        }
                    }
                    Err(e) => Outcome::Failed {
                        reason: format!("{e:#}"),
                    },
                }
            };
            let failed = matches!(outcome, Outcome::Failed { .. });
            if let Outcome::Failed { reason } = &outcome {
                log::error!("{}: {reason}", input.display());
            }
            results.push(FileResult {
                input: input.clone(),
                output,
                depth: job.depth.clone(),
                outcome,
                seconds: started.elapsed().as_secs_f64(),
                comfort,
            });
            if failed && !self.skip_error {
                log::error!(
                    "stopping at the first failure; pass --skip-error to go on with the other files"
                );
                break;
            }
        }
        if let Some(path) = &self.report {
            write_report(path, &results)?;
        }
        Ok(results)
    }
}

/// The end-of-batch table: one line per file, then the totals.
pub fn summary_table(results: &[FileResult]) -> String {
    let mut out = String::new();
    let (mut done, mut skipped, mut failed) = (0, 0, 0);
    for r in results {
        let (status, detail) = match &r.outcome {
            Outcome::Done { frames } => {
                done += 1;
                (
                    "done",
                    format!(
                        "{frames} frames, {:.1} s -> {}",
                        r.seconds,
                        r.output.display()
                    ),
                )
            }
            Outcome::Skipped { reason } => {
                skipped += 1;
                ("skipped", reason.clone())
            }
            Outcome::Failed { reason } => {
                failed += 1;
                ("FAILED", reason.lines().next().unwrap_or("").to_owned())
            }
        };
        out.push_str(&format!("{status:<8} {}  {detail}\n", r.input.display()));
    }
    out.push_str(&format!(
        "{done} done, {skipped} skipped, {failed} failed\n"
    ));
    out
}

fn write_report(path: &Path, results: &[FileResult]) -> Result<(), BatchError> {
    let files: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let (status, frames, reason) = match &r.outcome {
                Outcome::Done { frames } => ("done", Some(*frames), None),
                Outcome::Skipped { reason } => ("skipped", None, Some(reason.clone())),
                Outcome::Failed { reason } => ("failed", None, Some(reason.clone())),
            };
            serde_json::json!({
                "input": r.input,
                "output": r.output,
                "depth": r.depth,
                "status": status,
                "frames": frames,
                "reason": reason,
                "seconds": r.seconds,
                "comfort": r.comfort,
            })
        })
        .collect();
    let count = |s: &str| {
        results
            .iter()
            .filter(|r| status_name(&r.outcome) == s)
            .count()
    };
    let doc = serde_json::json!({
        "done": count("done"),
        "skipped": count("skipped"),
        "failed": count("failed"),
        "files": files,
    });
    // Written beside its final name first, like every other output.
    let text = serde_json::to_string_pretty(&doc).expect("JSON of plain values serialises");
    crate::fsutil::write_replacing(path, text).map_err(io_error(format!(
        "cannot write the report {}",
        path.display()
    )))?;
    Ok(())
}

fn status_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Done { .. } => "done",
        Outcome::Skipped { .. } => "skipped",
        Outcome::Failed { .. } => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition() {
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        assert!(parse_shard("4/4").is_err());
        assert!(parse_shard("x").is_err());
        let names: Vec<PathBuf> = (0..200)
            .map(|i| PathBuf::from(format!("clip{i}.mp4")))
            .collect();
        let mut counts = [0; 4];
        for n in &names {
            counts[shard_of(n, 4) as usize] += 1;
        }
        assert_eq!(counts.iter().sum::<i32>(), 200);
        assert!(counts.iter().all(|&c| c > 25), "uneven shards {counts:?}");
        assert_eq!(
            shard_of(Path::new("a/b.mp4"), 7),
            shard_of(Path::new("a/b.mp4"), 7)
        );
    }
}
