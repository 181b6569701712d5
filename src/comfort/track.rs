//! What moves with the scene, from the depth profile (`depth::profile`): scene cuts, the
//! screen plane that follows the subject (`--convergence auto`), and the floating
//! window's bands (`--floating-window`). Each is a series with one value per depth frame.
//!
//! - Cuts: a frame whose depth thumbnail changed by more than [`CUT_SHARE`] of the
//!   clip's depth range, and by several times the recent changes, starts a new shot.
//!   Smoothing never crosses a cut.
//! - The screen plane: the subject's depth per frame (see `FrameProfile::subject`),
//!   smoothed by a local linear fit over a window of frames (Gaussian weights), in the
//!   quantity the shift is linear in. A linear fit follows a subject that approaches at a
//!   steady pace without lag, where a moving average would trail it.
//! - The floating window: content at `x` pixels from the left edge with a crossed
//!   disparity `d > x` is cut off by the edge in the right eye while it stands in front
//!   of the screen; a black band `d - x` wide over the left eye's left edge brings the
//!   frame's edge in front of it (the right edge likewise, in the right eye). The band
//!   is widened in time (a running maximum) and then eased (a Hann window), so it is in
//!   place before the object arrives, leaves after it, and never flickers.

use crate::depth::profile::{DepthProfile, band_start, stored};
use crate::stereo::{DepthKind, DepthRange, StereoParams, disparity_px};

/// A cut changes the depth thumbnail by more than this share of the clip's range...
pub const CUT_SHARE: f32 = 0.15;
/// ...and by more than this many times the mean of the changes before it.
pub const CUT_RATIO: f32 = 3.0;

/// Whether each frame starts a new shot (the first always does).
pub fn cuts(profile: &DepthProfile) -> Vec<bool> {
    let near = profile.frames.iter().map(|f| f.near).max().unwrap_or(0);
    let far = profile.frames.iter().map(|f| f.far).min().unwrap_or(0);
    let span = (f32::from(near) - f32::from(far)).max(1.0) / 65535.0;
    let mut recent: Vec<f32> = Vec::new();
    profile
        .frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let typical = if recent.is_empty() {
                0.0
            } else {
                recent.iter().sum::<f32>() / recent.len() as f32
            };
            let cut = i == 0 || (f.change > CUT_SHARE * span && f.change > CUT_RATIO * typical);
            if cut {
                recent.clear();
            } else {
                recent.push(f.change);
                if recent.len() > 12 {
                    recent.remove(0);
                }
            }
            cut
        })
        .collect()
}

/// The shots: ranges of frames between cuts.
fn shots(cuts: &[bool]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=cuts.len() {
        if i == cuts.len() || cuts[i] {
            out.push(start..i);
            start = i;
        }
    }
    out
}

/// Local linear fit at every frame of `values`, Gaussian weights with `sigma` frames,
/// reaching two sigmas, within each shot.
pub fn smooth_linear(values: &[f32], cuts: &[bool], sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return values.to_vec();
    }
    let reach = (2.0 * sigma).ceil() as usize;
    let mut out = values.to_vec();
    for shot in shots(cuts) {
        for i in shot.clone() {
            let lo = i.saturating_sub(reach).max(shot.start);
            let hi = (i + reach + 1).min(shot.end);
            let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0f64, 0f64, 0f64, 0f64, 0f64);
            for (j, &v) in values.iter().enumerate().take(hi).skip(lo) {
                let x = j as f64 - i as f64;
                let w = (-0.5 * (x / f64::from(sigma)).powi(2)).exp();
                let y = f64::from(v);
                sw += w;
                sx += w * x;
                sy += w * y;
                sxx += w * x * x;
                sxy += w * x * y;
            }
            let det = sw * sxx - sx * sx;
            // The value of the fitted line at x = 0 (the frame itself).
            out[i] = if det.abs() > 1e-9 {
                ((sy * sxx - sx * sxy) / det) as f32
            } else {
                (sy / sw) as f32
            };
        }
    }
    out
}

/// The screen plane per depth frame for `--convergence auto`, in the depth kind's unit
/// (relative nearness before shaping, metres, or pixels), smoothed over about
/// `window_frames` frames.
pub fn auto_convergence(
    profile: &DepthProfile,
    range: &DepthRange,
    stereo: &StereoParams,
    cuts: &[bool],
    window_frames: f32,
) -> Vec<f32> {
    let shape = stereo.shape;
    // The subject's depth quantity per frame; unknown (an empty frame) holds the last.
    let mut last = None;
    let raw: Vec<f32> = profile
        .frames
        .iter()
        .map(|f| {
            let q = range.quantity(stored(&profile.spec, f.subject)).or(last);
            last = q;
            q.unwrap_or(match range.kind {
                DepthKind::Relative => 0.5,
                _ => 0.0,
            })
        })
        .collect();
    // Smoothed where the shift is linear: shaped nearness, 1/z, pixels.
    let linear: Vec<f32> = match range.kind {
        DepthKind::Relative => raw.iter().map(|&v| shape.apply(v)).collect(),
        _ => raw,
    };
    let smoothed = smooth_linear(&linear, cuts, window_frames / 4.0);
    smoothed
        .into_iter()
        .map(|v| match range.kind {
            DepthKind::Relative => shape_inverse(stereo, v),
            // 1/z back to metres; a subject at infinity stays far away.
            DepthKind::Metric => 1.0 / v.max(1e-6),
            DepthKind::Disparity => v,
        })
        .collect()
}

/// The nearness whose shaped value is `y` (bisection: shaping is increasing).
fn shape_inverse(stereo: &StereoParams, y: f32) -> f32 {
    let shape = stereo.shape;
    if shape.is_identity() {
        return y;
    }
    let (mut lo, mut hi) = (0.0f32, 1.0f32);
    if y <= shape.apply(lo) {
        return lo;
    }
    if y >= shape.apply(hi) {
        return hi;
    }
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if shape.apply(mid) < y {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Bands narrower than this many pixels are left out (no faint slivers).
pub const MIN_BAND_PX: f32 = 0.5;

/// `--floating-window` per depth frame: the band over the left eye's left edge and over
/// the right eye's right edge, as fractions of the picture's width. `stereo_at(i)` gives
/// frame `i`'s settings (its screen plane); `frame_width` is the picture's width in input
/// pixels; the band eases in and out over `ease_frames` frames.
pub fn floating_window(
    profile: &DepthProfile,
    range: &DepthRange,
    stereo_at: &dyn Fn(usize) -> StereoParams,
    frame_width: u32,
    cuts: &[bool],
    ease_frames: usize,
) -> Vec<[f32; 2]> {
    let scale = frame_width as f32 / profile.width.max(1) as f32;
    let known = |o: u16| range.kind == DepthKind::Relative || o > 0;
    let mut left = Vec::with_capacity(profile.frames.len());
    let mut right = Vec::with_capacity(profile.frames.len());
    for (i, f) in profile.frames.iter().enumerate() {
        let stereo = stereo_at(i);
        let band = |edge: &[u16]| {
            edge.iter()
                .enumerate()
                .filter(|&(_, &o)| known(o))
                .filter_map(|(b, &o)| {
                    let q = range.quantity(stored(&profile.spec, o))?;
                    Some(disparity_px(&stereo, range, q) - band_start(b) as f32 * scale)
                })
                .fold(0.0f32, f32::max)
        };
        let cut_off = |w: f32| if w < MIN_BAND_PX { 0.0 } else { w };
        left.push(cut_off(band(&f.left)));
        right.push(cut_off(band(&f.right)));
    }
    let left = ease(&left, cuts, ease_frames);
    let right = ease(&right, cuts, ease_frames);
    left.iter()
        .zip(&right)
        .map(|(&l, &r)| [l / frame_width as f32, r / frame_width as f32])
        .collect()
}

/// A running maximum over `reach` frames each side, then a Hann-weighted mean over the
/// same reach, within each shot: never narrower than the band a frame needs (every
/// maximum in its window covers it), and smooth in time.
fn ease(values: &[f32], cuts: &[bool], reach: usize) -> Vec<f32> {
    if reach == 0 {
        return values.to_vec();
    }
    let mut out = values.to_vec();
    for shot in shots(cuts) {
        let range =
            |i: usize| i.saturating_sub(reach).max(shot.start)..(i + reach + 1).min(shot.end);
        let widest: Vec<f32> = shot
            .clone()
            .map(|i| values[range(i)].iter().copied().fold(0.0, f32::max))
            .collect();
        for i in shot.clone() {
            let (mut sum, mut weights) = (0.0, 0.0);
            for j in range(i) {
                let x = (j as f32 - i as f32) / (reach + 1) as f32;
                let w = 0.5 + 0.5 * (std::f32::consts::PI * x).cos();
                sum += w * widest[j - shot.start];
                weights += w;
            }
            out[i] = sum / weights;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_fit_follows_a_steady_ramp_exactly_and_restarts_at_cuts() {
        let ramp: Vec<f32> = (0..40).map(|i| 0.2 + 0.01 * i as f32).collect();
        let mut cuts = vec![false; 40];
        cuts[0] = true;
        let s = smooth_linear(&ramp, &cuts, 4.0);
        for (a, b) in s.iter().zip(&ramp) {
            assert!((a - b).abs() < 1e-5, "{a} {b}");
        }
        // Two shots at different depths: the fit never mixes them.
        let steps: Vec<f32> = (0..40).map(|i| if i < 20 { 0.3 } else { 0.8 }).collect();
        cuts[20] = true;
        let s = smooth_linear(&steps, &cuts, 4.0);
        assert!(s.iter().zip(&steps).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    #[test]
    fn easing_covers_every_frame_and_rises_smoothly() {
        let mut v = vec![0.0; 30];
        for x in &mut v[12..16] {
            *x = 10.0;
        }
        let mut cuts = vec![false; 30];
        cuts[0] = true;
        let e = ease(&v, &cuts, 5);
        for (i, &v) in e.iter().enumerate().take(16).skip(12) {
            assert!(v >= 10.0 - 1e-4, "frame {i}: {v}");
        }
        assert_eq!(e[0], 0.0);
        assert!(e[8] > 0.0 && e[8] < 10.0, "eases in: {}", e[8]);
        let steps: Vec<f32> = e.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        assert!(steps.iter().all(|&s| s < 3.5), "no jumps: {steps:?}");
    }
}
