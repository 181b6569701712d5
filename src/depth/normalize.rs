//! Temporal normalisation of relative depth (`--normalize`). A model's relative output has
//! no fixed scale: normalising each frame by its own min..max makes the whole picture
//! pump whenever one outlier pixel changes. `clip` uses one range for the whole clip (the
//! seeds' choice); `ema` follows robust per-frame percentiles with a zero-lag smoother
//! (a forward and a backward exponential average, i.e. look-ahead), restarting at scene
//! cuts, as iw3 does for long films whose scenes differ.

use serde_json::{Value, json};

#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Normalize {
    /// One range for the whole clip (min..max over every frame).
    Clip,
    /// Smoothed 2nd..98th percentiles, restarted at scene cuts.
    #[default]
    Ema,
    /// Each frame by its own min..max (flickers; for comparison and stills).
    Frame,
}

impl Normalize {
    pub fn name(self) -> &'static str {
        match self {
            Normalize::Clip => "clip",
            Normalize::Ema => "ema",
            Normalize::Frame => "frame",
        }
    }
}

/// What the normaliser needs to know about one frame's raw depth map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameStats {
    pub min: f32,
    pub max: f32,
    /// 2nd and 98th percentiles.
    pub p_lo: f32,
    pub p_hi: f32,
    /// A scene cut happens right before this frame.
    pub cut: bool,
}

/// Weight of the past in the exponential averages (per frame).
const EMA_DECAY: f32 = 0.9;
/// Mean absolute luma change (0..1) between consecutive frames above which a new scene
/// starts.
pub const SCENE_CUT_LUMA: f32 = 0.12;

impl FrameStats {
    pub fn of(map: &[f32], cut: bool) -> Self {
        let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in map {
            min = min.min(v);
            max = max.max(v);
        }
        // Percentiles from an evenly strided sample: exact enough, and cheap at 4K maps.
        let step = (map.len() / 65_536).max(1);
        let mut sample: Vec<f32> = map.iter().step_by(step).copied().collect();
        let p = |sample: &mut Vec<f32>, q: f32| {
            let k = ((sample.len() - 1) as f32 * q).round() as usize;
            *sample.select_nth_unstable_by(k, f32::total_cmp).1
        };
        let (p_lo, p_hi) = if sample.is_empty() {
            (0.0, 0.0)
        } else {
            (p(&mut sample, 0.02), p(&mut sample, 0.98))
        };
        Self {
            min,
            max,
            p_lo,
            p_hi,
            cut,
        }
    }

    pub fn to_json(self) -> Value {
        json!([self.min, self.max, self.p_lo, self.p_hi, self.cut])
    }

    pub fn from_json(v: &Value) -> Option<Self> {
        let a = v.as_array()?;
        let f = |i: usize| a.get(i).and_then(Value::as_f64).map(|x| x as f32);
        Some(Self {
            min: f(0)?,
            max: f(1)?,
            p_lo: f(2)?,
            p_hi: f(3)?,
            cut: a.get(4)?.as_bool()?,
        })
    }
}

/// Per frame, the raw values that map to 0 and 1.
pub fn ranges(stats: &[FrameStats], mode: Normalize) -> Vec<(f32, f32)> {
    match mode {
        Normalize::Frame => stats.iter().map(|s| (s.min, s.max)).collect(),
        Normalize::Clip => {
            let lo = stats.iter().map(|s| s.min).fold(f32::INFINITY, f32::min);
            let hi = stats
                .iter()
                .map(|s| s.max)
                .fold(f32::NEG_INFINITY, f32::max);
            vec![(lo, hi); stats.len()]
        }
        Normalize::Ema => {
            let mut out = Vec::with_capacity(stats.len());
            let mut start = 0;
            while start < stats.len() {
                let end = (start + 1..stats.len())
                    .find(|&i| stats[i].cut)
                    .unwrap_or(stats.len());
                let lo: Vec<f32> = stats[start..end].iter().map(|s| s.p_lo).collect();
                let hi: Vec<f32> = stats[start..end].iter().map(|s| s.p_hi).collect();
                out.extend(zero_lag(&lo).into_iter().zip(zero_lag(&hi)));
                start = end;
            }
            out
        }
    }
}

/// Average of a forward and a backward exponential average: smooth, and without the lag
/// a one-sided average would have after a change.
fn zero_lag(x: &[f32]) -> Vec<f32> {
    let mut fwd = Vec::with_capacity(x.len());
    let mut acc = x.first().copied().unwrap_or(0.0);
    for &v in x {
        acc = EMA_DECAY * acc + (1.0 - EMA_DECAY) * v;
        fwd.push(acc);
    }
    let mut acc = x.last().copied().unwrap_or(0.0);
    let mut out = vec![0.0; x.len()];
    for (i, &v) in x.iter().enumerate().rev() {
        acc = EMA_DECAY * acc + (1.0 - EMA_DECAY) * v;
        out[i] = 0.5 * (fwd[i] + acc);
    }
    out
}

/// Maps a raw value into 0..1 with a frame's range (a flat range gives 0.5: no depth).
pub fn apply(v: f32, (lo, hi): (f32, f32)) -> f32 {
    if hi - lo <= f32::EPSILON * hi.abs().max(1.0) {
        0.5
    } else {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    }
}

/// Mean absolute difference of two luma planes (values 0..1).
pub fn luma_change(a: &[f32], b: &[f32]) -> f32 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    let sum: f32 = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
    sum / a.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(lo: f32, hi: f32, cut: bool) -> FrameStats {
        FrameStats {
            min: lo,
            max: hi,
            p_lo: lo,
            p_hi: hi,
            cut,
        }
    }

    #[test]
    fn ema_restarts_at_cuts_and_is_flat_on_flat_input() {
        let mut s: Vec<FrameStats> = (0..20).map(|_| stat(0.0, 1.0, false)).collect();
        s.extend((0..20).map(|i| stat(5.0, 9.0, i == 0)));
        let r = ranges(&s, Normalize::Ema);
        assert!(r[..20].iter().all(|&(lo, hi)| lo == 0.0 && hi == 1.0));
        // The second scene's range is its own from its first frame: nothing leaks across.
        assert!(
            r[20..].iter().all(|&(lo, hi)| lo == 5.0 && hi == 9.0),
            "{r:?}"
        );
    }

    #[test]
    fn clip_is_the_union_and_apply_clamps() {
        let s = [stat(1.0, 2.0, false), stat(0.5, 3.0, false)];
        assert_eq!(ranges(&s, Normalize::Clip), vec![(0.5, 3.0); 2]);
        assert_eq!(apply(4.0, (0.5, 3.0)), 1.0);
        assert_eq!(apply(1.75, (0.5, 3.0)), 0.5);
        assert_eq!(apply(7.0, (2.0, 2.0)), 0.5);
    }

    #[test]
    fn percentiles_ignore_outliers() {
        let mut map: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        map[3] = -50.0;
        map[7] = 80.0;
        let st = FrameStats::of(&map, false);
        assert_eq!((st.min, st.max), (-50.0, 80.0));
        assert!((st.p_lo - 0.02).abs() < 0.01 && (st.p_hi - 0.98).abs() < 0.01);
    }
}
