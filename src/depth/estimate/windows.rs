//! Video depth models in sliding windows, run the way Video Depth Anything's own inference
//! runs them, but streaming (memory bounded by two windows, not the clip):
//!
//! - windows of `T` frames (32) start every `T - overlap` frames (22), so each overlaps the
//!   one before by `overlap` (10) frames;
//! - in every window after the first, those overlap slots carry key frames of the
//!   previous window (its slots 0, 12 and 24..31): slot 0 is thus always the clip's first
//!   frame, which anchors the scale of the whole clip;
//! - each window's output is mapped onto the clip's scale by a least-squares scale and
//!   shift over its first two slots, whose frames the previous windows have already
//!   placed (`ALIGN`);
//! - the last `INTERP` (8) frames of a window are blended linearly into the next window's
//!   estimate of the same frames, so window boundaries do not jump;
//! - the clip is padded at its end with its last frame to whole windows (as VDA pads:
//!   to `L + (step - L % step) % step + overlap` frames), and the padding is dropped.
//!
//! Aligned depth below zero is clamped to zero, as VDA does. Where a fit is degenerate
//! (a window that predicts one constant value), the scale is 1 and only the shift is fit,
//! instead of VDA's zero scale, which would blank the window.

use std::collections::VecDeque;

use super::estimator::FrameTimes;

/// Slots of the previous window's overlap whose aligned depth anchors the fit.
const ALIGN: usize = 2;

/// The window plan for windows of `t` frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub t: usize,
    pub overlap: usize,
    /// Slots of the previous window that fill the overlap slots of the next, in order.
    pub keyframes: Vec<usize>,
}

impl Plan {
    /// VDA's plan for 32 frames (overlap 10, key frames 0, 12, 24..31), and the same
    /// proportions for another window length.
    pub fn for_window(t: usize) -> Self {
        let t = t.max(4);
        let overlap = (t * 10 / 32).clamp(ALIGN + 1, t - 1);
        let second = (t * 12 / 32).clamp(1, t - 1);
        let tail = overlap - ALIGN;
        let mut keyframes = vec![0, second];
        keyframes.extend(t - tail..t);
        Self {
            t,
            overlap,
            keyframes,
        }
    }

    pub fn step(&self) -> usize {
        self.t - self.overlap
    }

    /// Frames blended between consecutive windows.
    pub fn interp(&self) -> usize {
        self.overlap - ALIGN
    }

    /// How many windows a clip of `len` frames takes (VDA's padding).
    pub fn windows(&self, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        let step = self.step();
        let padded = len + (step - len % step) % step + self.overlap;
        (padded - self.t) / step + 1
    }
}

/// One window's model run: the inputs of its `t` slots (model tensors) in, one depth map
/// per slot out.
pub type RunWindow<'a, E> = dyn FnMut(&[Vec<f32>]) -> Result<Vec<Vec<f32>>, E> + 'a;

/// The streaming state of a clip's windows.
pub struct Windows {
    plan: Plan,
    /// The inputs of the window being filled, by slot.
    filling: Vec<Vec<f32>>,
    /// Windows run so far.
    run: usize,
    /// The last real frame's input (the padding).
    last_input: Option<Vec<f32>>,
    /// Times of the real frames not yet handed out, in order.
    times: VecDeque<FrameTimes>,
    /// Aligned depth of the frames whose value may still change (the last `interp` of
    /// the last window), oldest first.
    tail: VecDeque<Vec<f32>>,
    /// Aligned depth of the frames in the next window's `ALIGN` slots.
    reference: Vec<Vec<f32>>,
    received: usize,
}

impl Windows {
    pub fn new(plan: Plan) -> Self {
        Self {
            plan,
            filling: Vec::new(),
            run: 0,
            last_input: None,
            times: VecDeque::new(),
            tail: VecDeque::new(),
            reference: Vec::new(),
            received: 0,
        }
    }

    /// Takes one frame's model input; runs a window when one is complete and returns the
    /// depth maps now final, each with its frame's times.
    pub fn push<E>(
        &mut self,
        input: Vec<f32>,
        times: FrameTimes,
        run: &mut RunWindow<'_, E>,
    ) -> Result<Vec<(Vec<f32>, FrameTimes)>, E> {
        self.received += 1;
        self.times.push_back(times);
        self.last_input = Some(input.clone());
        self.filling.push(input);
        let mut ready = Vec::new();
        if self.filling.len() == self.plan.t {
            ready = self.run_window(run)?;
        }
        Ok(ready)
    }

    /// Pads the clip to whole windows, runs the rest and returns the last maps.
    pub fn finish<E>(
        &mut self,
        run: &mut RunWindow<'_, E>,
    ) -> Result<Vec<(Vec<f32>, FrameTimes)>, E> {
        let Some(pad) = self.last_input.clone() else {
            return Ok(Vec::new());
        };
        let mut ready = Vec::new();
        while self.run < self.plan.windows(self.received) {
            while self.filling.len() < self.plan.t {
                self.filling.push(pad.clone());
            }
            ready.extend(self.run_window(run)?);
        }
        let tail: Vec<Vec<f32>> = self.tail.drain(..).collect();
        ready.extend(self.hand_out(tail));
        Ok(ready)
    }

    /// Runs the full window, aligns it and starts the next one with its key frames.
    fn run_window<E>(
        &mut self,
        run: &mut RunWindow<'_, E>,
    ) -> Result<Vec<(Vec<f32>, FrameTimes)>, E> {
        let maps = run(&self.filling)?;
        let plan = &self.plan;
        let (interp, overlap) = (plan.interp(), plan.overlap);
        let final_maps = if self.run == 0 {
            self.reference = vec![maps[0].clone(), maps[plan.keyframes[1]].clone()];
            let mut all: VecDeque<Vec<f32>> = maps.into();
            let done: Vec<Vec<f32>> = all.drain(..plan.t - interp).collect();
            self.tail = all;
            done
        } else {
            let (scale, shift) = fit(&maps[..ALIGN], &self.reference);
            let place = |m: &Vec<f32>| -> Vec<f32> {
                m.iter().map(|v| (v * scale + shift).max(0.0)).collect()
            };
            // The previous window's last frames, blended into this window's estimate of
            // the same frames (its slots ALIGN..overlap).
            let mut done: Vec<Vec<f32>> = Vec::with_capacity(plan.t);
            for (i, (pre, post)) in self.tail.drain(..).zip(&maps[ALIGN..overlap]).enumerate() {
                let w = (i + 1) as f32 / (interp + 1) as f32;
                let post = place(post);
                done.push(
                    pre.iter()
                        .zip(&post)
                        .map(|(a, b)| a * (1.0 - w) + b * w)
                        .collect(),
                );
            }
            let mut fresh: VecDeque<Vec<f32>> = maps[overlap..].iter().map(place).collect();
            done.extend(fresh.drain(..fresh.len() - interp));
            self.tail = fresh;
            self.reference.truncate(1);
            self.reference.push(place(&maps[plan.keyframes[1]]));
            done
        };
        self.run += 1;
        let next: Vec<Vec<f32>> = plan
            .keyframes
            .iter()
            .map(|&k| self.filling[k].clone())
            .collect();
        self.filling = next;
        Ok(self.hand_out(final_maps))
    }

    /// Pairs final maps with the times of the real frames they belong to (padding has
    /// none and is dropped).
    fn hand_out(&mut self, maps: Vec<Vec<f32>>) -> Vec<(Vec<f32>, FrameTimes)> {
        maps.into_iter()
            .map_while(|m| self.times.pop_front().map(|t| (m, t)))
            .collect()
    }
}

/// Least-squares (scale, shift) taking `pred` onto `target`, over every pixel of every
/// pair of maps (MiDaS's closed form). Degenerate predictions fit the shift alone.
pub fn fit(pred: &[Vec<f32>], target: &[Vec<f32>]) -> (f32, f32) {
    let (mut a00, mut a01, mut a11, mut b0, mut b1) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (p, t) in pred.iter().zip(target) {
        for (&p, &t) in p.iter().zip(t) {
            let (p, t) = (f64::from(p), f64::from(t));
            a00 += p * p;
            a01 += p;
            a11 += 1.0;
            b0 += p * t;
            b1 += t;
        }
    }
    let det = a00 * a11 - a01 * a01;
    if a11 == 0.0 {
        return (1.0, 0.0);
    }
    if det <= 1e-12 * a00.max(1.0) * a11 {
        return (1.0, ((b1 - a01) / a11) as f32);
    }
    let scale = (a11 * b0 - a01 * b1) / det;
    let shift = (-a01 * b0 + a00 * b1) / det;
    (scale as f32, shift as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_vdas_for_32_frames() {
        let p = Plan::for_window(32);
        assert_eq!(p.overlap, 10);
        assert_eq!(p.step(), 22);
        assert_eq!(p.interp(), 8);
        assert_eq!(p.keyframes, [0, 12, 24, 25, 26, 27, 28, 29, 30, 31]);
        // VDA pads L to L + (22 - L % 22) % 22 + 10.
        assert_eq!(p.windows(5), 1);
        assert_eq!(p.windows(22), 1);
        assert_eq!(p.windows(32), 2);
        assert_eq!(p.windows(54), 3);
        assert_eq!(p.windows(70), 4);
    }

    #[test]
    fn the_fit_recovers_scale_and_shift() {
        let pred = vec![vec![1.0, 2.0, 3.0], vec![0.5, 4.0, -1.0]];
        let target: Vec<Vec<f32>> = pred
            .iter()
            .map(|m| m.iter().map(|v| 2.5 * v - 0.75).collect())
            .collect();
        let (s, b) = fit(&pred, &target);
        assert!((s - 2.5).abs() < 1e-5 && (b + 0.75).abs() < 1e-5, "{s} {b}");
        // A constant prediction keeps scale 1 and fits the shift.
        let (s, b) = fit(&[vec![2.0, 2.0]], &[vec![3.0, 5.0]]);
        assert_eq!((s, b), (1.0, 2.0));
    }

    #[test]
    fn every_real_frame_comes_out_once_in_order() {
        let plan = Plan::for_window(32);
        for len in [1usize, 21, 32, 33, 54, 70, 100] {
            let mut w = Windows::new(plan.clone());
            let mut run =
                |inputs: &[Vec<f32>]| -> Result<Vec<Vec<f32>>, ()> { Ok(inputs.to_vec()) };
            let mut out = Vec::new();
            for i in 0..len {
                let t = FrameTimes {
                    pts_nanos: i as u64,
                    duration_nanos: None,
                    cut: false,
                };
                out.extend(w.push(vec![i as f32 + 1.0], t, &mut run).unwrap());
            }
            out.extend(w.finish(&mut run).unwrap());
            let pts: Vec<u64> = out.iter().map(|(_, t)| t.pts_nanos).collect();
            assert_eq!(pts, (0..len as u64).collect::<Vec<_>>(), "len {len}");
            // An identity "model" whose windows agree keeps every value (scale 1, shift 0).
            for (m, t) in &out {
                assert!(
                    (m[0] - (t.pts_nanos as f32 + 1.0)).abs() < 1e-3,
                    "len {len}: {m:?} at {}",
                    t.pts_nanos
                );
            }
        }
    }
}
