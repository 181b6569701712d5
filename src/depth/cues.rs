//! The no-model default depth: classical monocular cues. The GPU (depth_cues.wgsl) turns
//! each resampled frame into per-pixel evidence (sharpness, colour, motion); this module
//! smooths it into regions, adds the strongest cue of ordinary footage, vertical position
//! (the ground plane: lower in the frame is nearer), and blends each frame with the
//! previous one so the estimate does not flicker. Output: relative disparity
//! (near = large), like a model's, so it goes through the same normalisation and cache.

/// How much of the estimate the vertical-position cue carries; the rest is the
/// image-dependent evidence.
const VERTICAL_WEIGHT: f32 = 0.6;
/// Weight of the previous frame's estimate (temporal stability); reset at scene cuts.
const TEMPORAL_KEEP: f32 = 0.7;

#[derive(Default)]
pub struct CueDepth {
    previous: Option<Vec<f32>>,
}

impl CueDepth {
    /// The estimate for one frame of `size` from its cue map.
    pub fn finish(&mut self, mut cues: Vec<f32>, (w, h): (u32, u32), cut: bool) -> Vec<f32> {
        let (w, h) = (w as usize, h as usize);
        // Regions, not pixels: two box passes approximate a Gaussian of ~1/25 of the width.
        let r = (w / 50).max(2);
        for _ in 0..2 {
            box_blur(&mut cues, w, h, r);
        }
        let mut out = cues;
        for y in 0..h {
            let v = if h > 1 {
                y as f32 / (h - 1) as f32
            } else {
                0.5
            };
            for px in &mut out[y * w..(y + 1) * w] {
                *px = VERTICAL_WEIGHT * v + (1.0 - VERTICAL_WEIGHT) * *px;
            }
        }
        if let Some(prev) = self
            .previous
            .as_ref()
            .filter(|p| p.len() == out.len() && !cut)
        {
            for (o, p) in out.iter_mut().zip(prev) {
                *o = TEMPORAL_KEEP * p + (1.0 - TEMPORAL_KEEP) * *o;
            }
        }
        self.previous = Some(out.clone());
        out
    }
}

/// In-place separable box filter of radius `r` with clamped edges (running sums: O(1) per
/// pixel whatever the radius).
fn box_blur(img: &mut [f32], w: usize, h: usize, r: usize) {
    let mut line = Vec::new();
    let mut pass =
        |img: &mut [f32], len: usize, count: usize, at: &dyn Fn(usize, usize) -> usize| {
            for j in 0..count {
                line.clear();
                line.extend((0..len).map(|i| img[at(j, i)]));
                let get = |i: isize| line[i.clamp(0, len as isize - 1) as usize];
                let mut sum: f32 = (-(r as isize)..=r as isize).map(get).sum();
                let norm = 1.0 / (2 * r + 1) as f32;
                for i in 0..len {
                    img[at(j, i)] = sum * norm;
                    sum += get(i as isize + r as isize + 1) - get(i as isize - r as isize);
                }
            }
        };
    pass(img, w, h, &|y, x| y * w + x);
    pass(img, h, w, &|x, y| y * w + x);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_is_nearer_and_static_input_settles() {
        let (w, h) = (40u32, 30u32);
        let mut cd = CueDepth::default();
        let mut last = Vec::new();
        for _ in 0..30 {
            last = cd.finish(vec![0.0; (w * h) as usize], (w, h), false);
        }
        let row = |y: usize| last[y * w as usize + 20];
        assert!(row(29) > row(0) + 0.5, "bottom {} top {}", row(29), row(0));
        let again = cd.finish(vec![0.0; (w * h) as usize], (w, h), false);
        let change: f32 = again.iter().zip(&last).map(|(a, b)| (a - b).abs()).sum();
        assert!(change < 1e-3);
    }

    #[test]
    fn box_blur_keeps_constants_and_spreads_a_spike() {
        let (w, h) = (9, 5);
        let mut img = vec![1.0; w * h];
        box_blur(&mut img, w, h, 2);
        assert!(img.iter().all(|v| (v - 1.0).abs() < 1e-6));
        let mut img = vec![0.0; w * h];
        img[2 * w + 4] = 25.0;
        box_blur(&mut img, w, h, 2);
        assert!((img[2 * w + 4] - 1.0).abs() < 1e-5 && (img[w + 3] - 1.0).abs() < 1e-5);
        assert_eq!(img[0], 0.0);
    }
}
