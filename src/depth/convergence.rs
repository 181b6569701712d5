//! Per-frame convergence distances (`--convergence-depth-file`): the metric depth
//! toolbox moves the zero-parallax plane with the scene, smoothed over time. The file has
//! one distance in metres per input frame, in order; blank lines and `#` comments are
//! skipped.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConvergenceError {
    #[error("cannot read the convergence file {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "{path}, line {line}: {text:?} is not a distance in metres > 0. \
         Put one number per frame on each line (# starts a comment)"
    )]
    Bad {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("the convergence file {path} has no values")]
    Empty { path: PathBuf },
}

#[derive(Clone, Debug)]
pub struct ConvergenceTrack {
    values: Vec<f32>,
}

impl ConvergenceTrack {
    pub fn load(path: &Path, smooth_frames: u32) -> Result<Self, ConvergenceError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConvergenceError::Read {
            path: path.into(),
            cause,
        })?;
        Self::parse(&text, path, smooth_frames)
    }

    pub fn parse(text: &str, path: &Path, smooth_frames: u32) -> Result<Self, ConvergenceError> {
        let mut values = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let body = line.split('#').next().unwrap_or("").trim();
            if body.is_empty() {
                continue;
            }
            match body.parse::<f32>() {
                Ok(v) if v.is_finite() && v > 0.0 => values.push(v),
                _ => {
                    return Err(ConvergenceError::Bad {
                        path: path.into(),
                        line: i + 1,
                        text: body.chars().take(40).collect(),
                    });
                }
            }
        }
        if values.is_empty() {
            return Err(ConvergenceError::Empty { path: path.into() });
        }
        Ok(Self {
            values: smooth(&values, smooth_frames as usize),
        })
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Distance for input frame `index`; past the end the last value holds.
    pub fn at(&self, index: u64) -> f32 {
        let i = (index as usize).min(self.values.len() - 1);
        self.values[i]
    }
}

/// Centred moving average over `window` frames (in 1/z, where parallax is linear).
fn smooth(values: &[f32], window: usize) -> Vec<f32> {
    if window <= 1 {
        return values.to_vec();
    }
    let half = window / 2;
    (0..values.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(values.len());
            let inv: f32 = values[lo..hi].iter().map(|v| 1.0 / v).sum::<f32>() / (hi - lo) as f32;
            1.0 / inv
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_blank_lines_and_holds_the_last_value() {
        let t = ConvergenceTrack::parse(
            "# metres\n2.0\n\n3.5 # closer subject\n4\n",
            Path::new("c.txt"),
            1,
        )
        .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!((t.at(0), t.at(1), t.at(2), t.at(99)), (2.0, 3.5, 4.0, 4.0));
    }

    #[test]
    fn bad_lines_are_named() {
        let e = ConvergenceTrack::parse("2\nfar\n", Path::new("c.txt"), 1).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(ConvergenceTrack::parse("-1\n", Path::new("c.txt"), 1).is_err());
        assert!(ConvergenceTrack::parse("# nothing\n", Path::new("c.txt"), 1).is_err());
    }

    #[test]
    fn smoothing_averages_parallax_not_distance() {
        let t = ConvergenceTrack::parse("1\n1\n4\n1\n1\n", Path::new("c.txt"), 3).unwrap();
        // Any window holding the spike: mean of 1/1, 1/1, 1/4 = 0.75 -> 1.333 m.
        for i in 1..=3 {
            assert!((t.at(i) - 4.0 / 3.0).abs() < 1e-5, "frame {i}: {}", t.at(i));
        }
        assert_eq!(t.at(0), 1.0);
    }
}
