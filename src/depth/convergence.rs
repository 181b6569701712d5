//! Per-frame convergence (`--convergence-file`, and `--convergence-depth-file` for metric
//! depth): the screen plane moves with the scene, as the metric depth toolbox does. The
//! file has one value per input frame, in order, in the depth kind's own unit: nearness
//! (0 far .. 1 near) for relative depth, metres for metric depth, pixels of disparity for
//! disparity maps. Blank lines and `#` comments are skipped. `--convergence auto` writes
//! the same format with `--convergence-out`, so its result can be edited and fed back.

use std::path::{Path, PathBuf};

use crate::stereo::DepthKind;

#[derive(Debug, thiserror::Error)]
pub enum ConvergenceError {
    #[error("cannot read the convergence file {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "{path}, line {line}: {text:?} is not {unit}. Put one number per frame on each line \
         (# starts a comment)"
    )]
    Bad {
        path: PathBuf,
        line: usize,
        text: String,
        unit: &'static str,
    },
    #[error("the convergence file {path} has no values")]
    Empty { path: PathBuf },
    #[error("cannot write the convergence file {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// What a value of the file means for `kind`, for messages and the file's header.
pub fn unit(kind: DepthKind) -> &'static str {
    match kind {
        DepthKind::Relative => "a nearness (0 far .. 1 near)",
        DepthKind::Metric => "a distance in metres > 0",
        DepthKind::Disparity => "a disparity in pixels",
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConvergenceTrack {
    kind: DepthKind,
    values: Vec<f32>,
}

impl ConvergenceTrack {
    pub fn new(kind: DepthKind, values: Vec<f32>) -> Self {
        Self { kind, values }
    }

    pub fn load(
        path: &Path,
        kind: DepthKind,
        smooth_frames: u32,
    ) -> Result<Self, ConvergenceError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConvergenceError::Read {
            path: path.into(),
            cause,
        })?;
        Self::parse(&text, path, kind, smooth_frames)
    }

    pub fn parse(
        text: &str,
        path: &Path,
        kind: DepthKind,
        smooth_frames: u32,
    ) -> Result<Self, ConvergenceError> {
        let mut values = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let body = line.split('#').next().unwrap_or("").trim();
            if body.is_empty() {
                continue;
            }
            let ok = |v: f32| v.is_finite() && (kind != DepthKind::Metric || v > 0.0);
            match body.parse::<f32>() {
                Ok(v) if ok(v) => values.push(v),
                _ => {
                    return Err(ConvergenceError::Bad {
                        path: path.into(),
                        line: i + 1,
                        text: body.chars().take(40).collect(),
                        unit: unit(kind),
                    });
                }
            }
        }
        if values.is_empty() {
            return Err(ConvergenceError::Empty { path: path.into() });
        }
        Ok(Self {
            kind,
            values: smooth(kind, &values, smooth_frames as usize),
        })
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The value for input frame `index`; past the end the last value holds.
    pub fn at(&self, index: u64) -> f32 {
        let i = (index as usize).min(self.values.len() - 1);
        self.values[i]
    }

    /// Writes the track in the format [`Self::load`] reads, with a header saying what it
    /// is (`origin`, e.g. "--convergence auto"), under a temporary name first.
    pub fn write(&self, path: &Path, origin: &str) -> Result<(), ConvergenceError> {
        let mut text = format!(
            "# stereosplat convergence per input frame ({origin}): {} for --depth-kind {}.\n\
             # Edit and pass back with --convergence-file {}\n",
            unit(self.kind),
            self.kind.name(),
            path.display()
        );
        for v in &self.values {
            text.push_str(&format!("{v}\n"));
        }
        crate::fsutil::write_replacing(path, text).map_err(|cause| ConvergenceError::Write {
            path: path.into(),
            cause,
        })
    }
}

/// Centred moving average over `window` frames, in the quantity parallax is linear in
/// (1/z for metres).
fn smooth(kind: DepthKind, values: &[f32], window: usize) -> Vec<f32> {
    if window <= 1 {
        return values.to_vec();
    }
    // Metres are averaged as 1/z, which is its own inverse.
    let linear = |v: f32| {
        if kind == DepthKind::Metric {
            1.0 / v
        } else {
            v
        }
    };
    let half = window / 2;
    (0..values.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(values.len());
            let mean = values[lo..hi].iter().map(|&v| linear(v)).sum::<f32>() / (hi - lo) as f32;
            linear(mean)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRIC: DepthKind = DepthKind::Metric;

    #[test]
    fn parses_comments_blank_lines_and_holds_the_last_value() {
        let t = ConvergenceTrack::parse(
            "# metres\n2.0\n\n3.5 # closer subject\n4\n",
            Path::new("c.txt"),
            METRIC,
            1,
        )
        .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!((t.at(0), t.at(1), t.at(2), t.at(99)), (2.0, 3.5, 4.0, 4.0));
    }

    #[test]
    fn bad_lines_are_named() {
        let e = ConvergenceTrack::parse("2\nfar\n", Path::new("c.txt"), METRIC, 1).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(ConvergenceTrack::parse("-1\n", Path::new("c.txt"), METRIC, 1).is_err());
        assert!(ConvergenceTrack::parse("# nothing\n", Path::new("c.txt"), METRIC, 1).is_err());
        // Nearness and pixels may be negative (behind the farthest point, crossed).
        let t = ConvergenceTrack::parse("-0.2\n1.5\n", Path::new("c.txt"), DepthKind::Relative, 1);
        assert_eq!(t.unwrap().values(), &[-0.2, 1.5]);
    }

    #[test]
    fn smoothing_averages_parallax_not_distance() {
        let t = ConvergenceTrack::parse("1\n1\n4\n1\n1\n", Path::new("c.txt"), METRIC, 3).unwrap();
        // Any window holding the spike: mean of 1/1, 1/1, 1/4 = 0.75 -> 1.333 m.
        for i in 1..=3 {
            assert!((t.at(i) - 4.0 / 3.0).abs() < 1e-5, "frame {i}: {}", t.at(i));
        }
        assert_eq!(t.at(0), 1.0);
        let r = ConvergenceTrack::parse("0\n0\n0.9\n", Path::new("c.txt"), DepthKind::Relative, 3);
        assert!((r.unwrap().at(1) - 0.3).abs() < 1e-6);
    }

    #[test]
    fn written_tracks_read_back() {
        let dir = std::env::temp_dir().join(format!("stereosplat-conv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.txt");
        let t = ConvergenceTrack::new(DepthKind::Relative, vec![0.5, 0.625, 0.71]);
        t.write(&path, "--convergence auto").unwrap();
        let back = ConvergenceTrack::load(&path, DepthKind::Relative, 1).unwrap();
        assert_eq!(back, t);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
