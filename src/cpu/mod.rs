//! The warp and compose on the CPU, for machines whose only Vulkan adapter is a software
//! rasteriser (lavapipe). It is the algorithm of the WGSL passes in `shaders/`, step for
//! step and with the same parameters ([`crate::stereo::frame_params`]), written for a few
//! cores instead of thousands of lanes: the splat, resolve and row fill of a row run
//! together on one core, and the column fill sweeps rows top-down and bottom-up. On
//! lavapipe the shaders cost about five times more CPU for the same frame
//! (BENCHMARKS.md). `render --warp-device auto` picks it on software adapters;
//! tests/cpu_warp.rs holds it to the GPU's output.
//!
//! Data flows one way: [`CpuWarper::warp`] (frame + depth -> eye views), then
//! [`CpuComposer::compose`] (eye views -> output frame, RGBA or I420); a render runs both
//! on the thread of a [`CpuPipeline`].

mod compose;
mod depth;
mod eye;
mod pipeline;
mod yuv;

pub use compose::CpuComposer;
pub use pipeline::{
    CpuPipeline, Finished as CpuFinished, Job as CpuJob, Output as CpuOutput, WarpThreadStopped,
};
pub use yuv::{frame_to_rgba, yuv_to_rgba, yuv_to_rgba_halved};

use crate::frame::FramePixels;
use crate::stereo::uniforms::WarpParams;
use crate::stereo::{Eye, FrameParams};

/// The widest warp: the z-buffer keys keep the source column in 14 bits (as the GPU's).
pub const MAX_WARP_WIDTH: u32 = 1 << 14;

/// A frame to warp: RGBA, or a decoder's planes, which the warp converts as it reads them
/// (see `yuv`).
#[derive(Clone, Copy)]
pub enum FrameIn<'a> {
    Rgba(Rgba<'a>),
    Decoded(&'a FramePixels<'a>),
}

impl<'a> From<Rgba<'a>> for FrameIn<'a> {
    fn from(frame: Rgba<'a>) -> Self {
        FrameIn::Rgba(frame)
    }
}

impl<'a> From<&'a FramePixels<'a>> for FrameIn<'a> {
    fn from(pixels: &'a FramePixels<'a>) -> Self {
        FrameIn::Decoded(pixels)
    }
}

/// An RGBA8 image whose rows are `stride` bytes apart.
#[derive(Clone, Copy)]
pub struct Rgba<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub size: (u32, u32),
}

impl<'a> Rgba<'a> {
    pub fn row(&self, y: usize) -> &'a [u8] {
        let start = y * self.stride;
        &self.data[start..start + self.size.0 as usize * 4]
    }
}

/// Raw depth as decoded.
#[derive(Clone, Copy)]
pub struct RawDepth<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub size: (u32, u32),
    pub format: DepthFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepthFormat {
    /// 16-bit grey, little endian.
    Gray16,
    /// 8-bit grey from an 8-bit source: v stands for v * 257 (0..65535, as 16-bit grey
    /// of the same source would be), saving the widening copy.
    Gray8,
    /// RGBA8 for the metric depth toolbox's RGB encoding: R * 256 + B when the frame's
    /// `DepthParams` say so, else R (as depth_prep.wgsl reads its RGBA texture).
    Rgba,
}

impl DepthFormat {
    /// The toolbox's RGB encoding, else 8-bit or 16-bit grey.
    pub fn of(rgb: bool, gray8: bool) -> Self {
        match (rgb, gray8) {
            (true, _) => DepthFormat::Rgba,
            (false, true) => DepthFormat::Gray8,
            (false, false) => DepthFormat::Gray16,
        }
    }
}

pub struct CpuWarper {
    frame_size: (u32, u32),
    /// Where the warp runs (see `Warper::prepare_at`).
    work: (u32, u32),
    depth_size: (u32, u32),
    eye: Eye,
    pool: &'static rayon::ThreadPool,
    /// The frame averaged down to `work` (empty when the warp runs at the frame size).
    resampled: Vec<u8>,
    /// A decoded frame converted to RGBA at its own size, when it has to be (the warp runs
    /// at the frame size, or the resample is not a plain halving).
    converted: Vec<u32>,
    nearness: Vec<f32>,
    /// The dilation's horizontal pass.
    dilate_scratch: Vec<f32>,
    eyes: Vec<eye::EyeBuffers>,
}

impl CpuWarper {
    /// Buffers for frames of `frame_size` with depth of `depth_size`, warped at `work`.
    pub fn new(frame_size: (u32, u32), depth_size: (u32, u32), eye: Eye, work: (u32, u32)) -> Self {
        let work = (work.0.clamp(1, frame_size.0), work.1.clamp(1, frame_size.1));
        let pixels = work.0 as usize * work.1 as usize;
        let synthesised = if eye == Eye::Both { 2 } else { 1 };
        Self {
            frame_size,
            work,
            depth_size,
            eye,
            pool: workers(),
            resampled: if work == frame_size {
                Vec::new()
            } else {
                vec![0; pixels * 4]
            },
            converted: Vec::new(),
            nearness: vec![0.0; pixels],
            dilate_scratch: vec![0.0; pixels],
            eyes: (0..synthesised)
                .map(|_| eye::EyeBuffers::new(pixels))
                .collect(),
        }
    }

    pub fn frame_size(&self) -> (u32, u32) {
        self.frame_size
    }

    pub fn work_size(&self) -> (u32, u32) {
        self.work
    }

    pub fn depth_size(&self) -> (u32, u32) {
        self.depth_size
    }

    /// Warps one frame: depth preparation, then splat, resolve and hole filling for each
    /// synthesised eye. `params` comes from [`crate::stereo::frame_params`] for this
    /// warper's sizes.
    pub fn warp<'a>(
        &mut self,
        frame: impl Into<FrameIn<'a>>,
        depth: RawDepth<'_>,
        params: &FrameParams,
    ) {
        let frame = frame.into();
        self.prepare_depth(frame, depth, params);
        let pool = self.pool;
        let colour = work_colour(
            &self.resampled,
            &self.converted,
            self.work,
            self.external(frame),
        );
        for (buffers, p) in self.eyes.iter_mut().zip(&params.eyes) {
            eye::warp(p, colour, &self.nearness, buffers, pool);
        }
    }

    /// The first half of [`Self::warp`]: the frame at the work size ([`Self::colour`])
    /// and the depth quantity per pixel ([`Self::nearness`]), upsampled, shaped and
    /// dilated, without warping any eye (the depth as geometry, `crate::view3d`).
    pub fn prepare_depth<'a>(
        &mut self,
        frame: impl Into<FrameIn<'a>>,
        depth: RawDepth<'_>,
        params: &FrameParams,
    ) {
        let frame = frame.into();
        assert_eq!(depth.size, self.depth_size, "depth size changed");
        assert_eq!(params.eyes.len(), self.eyes.len(), "eye mode changed");
        let work = [self.work.0, self.work.1];
        assert!(
            params.depth.out_size == work
                && params.depth.raw_size == [depth.size.0, depth.size.1]
                && params.eyes.iter().all(|e| e.size == work),
            "params are for other sizes (use stereo::frame_params with this warper's sizes)"
        );
        assert!(
            self.work.0 <= MAX_WARP_WIDTH,
            "z-buffer keys hold 14 bits of column"
        );
        let pool = self.pool;
        let external = self.external(frame);
        match (external, frame) {
            (Some(f), _) => {
                assert_eq!(f.size, self.frame_size, "frame size changed");
                if !self.resampled.is_empty() {
                    resample(f, &mut self.resampled, self.work, pool);
                }
            }
            (None, FrameIn::Decoded(pixels)) => {
                // Half the width (half-SBS): converted and averaged in one pass.
                let halved = self.frame_size == (2 * self.work.0, self.work.1)
                    && yuv::yuv_to_rgba_halved(pixels, self.frame_size, &mut self.resampled, pool)
                        .is_some();
                if !halved {
                    yuv_to_rgba(pixels, self.frame_size, &mut self.converted, pool);
                    if !self.resampled.is_empty() {
                        let full = converted_rgba(&self.converted, self.frame_size);
                        resample(full, &mut self.resampled, self.work, pool);
                    }
                }
            }
            (None, FrameIn::Rgba(_)) => unreachable!("RGBA frames are external"),
        }
        // The frame itself when the warp runs at its size: no copy.
        let colour = work_colour(&self.resampled, &self.converted, self.work, external);
        depth::prepare(
            &params.depth,
            params.guided,
            depth,
            colour,
            &mut self.nearness,
            pool,
        );
        if params.depth.dilate_px > 0 || params.depth.dilate_y_px > 0 {
            depth::dilate(
                &params.depth,
                &mut self.nearness,
                &mut self.dilate_scratch,
                pool,
            );
        }
    }

    /// `frame` as an RGBA image of the frame's size, when it is one (else the warp
    /// converts it into its own buffers).
    fn external<'a>(&self, frame: FrameIn<'a>) -> Option<Rgba<'a>> {
        match frame {
            FrameIn::Rgba(f) => Some(f),
            FrameIn::Decoded(&FramePixels::Rgba { data, stride }) => Some(Rgba {
                data,
                stride: stride as usize,
                size: self.frame_size,
            }),
            FrameIn::Decoded(_) => None,
        }
    }

    /// The input frame at the work size: `frame`, or the warp's converted or resampled
    /// copy of it.
    pub fn colour<'a>(&'a self, frame: FrameIn<'a>) -> Rgba<'a> {
        work_colour(
            &self.resampled,
            &self.converted,
            self.work,
            self.external(frame),
        )
    }

    /// (left, right) eye views of the last `warp`, at the work size. `frame` is the frame
    /// that was warped: the input eye is read from it (or from the warp's copy of it).
    pub fn views<'a>(&'a self, frame: impl Into<FrameIn<'a>>) -> (Rgba<'a>, Rgba<'a>) {
        let frame = frame.into();
        let filled = |i: usize| Rgba {
            data: &self.eyes[i].filled,
            stride: self.work.0 as usize * 4,
            size: self.work,
        };
        match self.eye {
            Eye::Right => (self.colour(frame), filled(0)),
            Eye::Left => (filled(0), self.colour(frame)),
            Eye::Both => (filled(0), filled(1)),
        }
    }

    /// Per synthesised eye: the filled view (changeable: the model fill repaints its hole
    /// pixels) and the warped view before filling (alpha 0 = hole), at the work size.
    pub fn eyes_to_repaint(&mut self) -> impl Iterator<Item = (&mut [u8], &[u8])> {
        self.eyes
            .iter_mut()
            .map(|e| (e.filled.as_mut_slice(), e.warped.as_slice()))
    }

    /// Per synthesised eye: the warped view before filling (alpha 0 = hole), for tests.
    pub fn warped(&self) -> Vec<&[u8]> {
        self.eyes.iter().map(|e| e.warped.as_slice()).collect()
    }

    pub(crate) fn pool(&self) -> &'static rayon::ThreadPool {
        self.pool
    }

    /// The depth quantity per work pixel of the last `warp`, for tests.
    pub fn nearness(&self) -> &[f32] {
        &self.nearness
    }
}

/// The warp's worker threads, one per core, named `cpu-warp-N` so the render's CPU
/// profile (`crate::trace`) charges their time to the warp. Started once per process
/// (a batch renders many files) and kept: a frame's stages hand them bands of rows.
pub fn workers() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("cpu-warp-{i}"))
            .build()
            .expect("starting the CPU warp's threads")
    })
}

/// The frame at the warp's `work` size: `resampled` (its copy at that size) when there is
/// one, else the frame itself: `external` when it came as RGBA, else `converted`.
fn work_colour<'a>(
    resampled: &'a [u8],
    converted: &'a [u32],
    work: (u32, u32),
    external: Option<Rgba<'a>>,
) -> Rgba<'a> {
    if !resampled.is_empty() {
        Rgba {
            data: resampled,
            stride: work.0 as usize * 4,
            size: work,
        }
    } else {
        external.unwrap_or_else(|| converted_rgba(converted, work))
    }
}

/// The warp's converted frame (tightly packed) as an image of `size`.
fn converted_rgba(converted: &[u32], size: (u32, u32)) -> Rgba<'_> {
    Rgba {
        data: bytemuck::cast_slice(converted),
        stride: size.0 as usize * 4,
        size,
    }
}

/// Runs `f` on each band on the worker threads and returns when all are done.
fn run_bands<B: Send>(pool: &rayon::ThreadPool, bands: Vec<B>, f: impl Fn(B) + Sync) {
    let f = &f;
    pool.scope(|s| {
        for band in bands {
            s.spawn(move |_| f(band));
        }
    });
}

/// Rows per band: four bands per worker, so a worker that finishes early (the decoder
/// and encoder share the cores) takes over bands instead of waiting for the slowest.
fn band_rows(rows: usize, pool: &rayon::ThreadPool) -> usize {
    rows.div_ceil(4 * pool.current_num_threads().max(1)).max(1)
}

/// Bilinear taps of a linear, clamp-to-edge sampler reading `src` texels at the centres
/// of `dst` pixels: (first texel, second texel, weight of the second).
fn linear_taps(dst: u32, src: u32) -> Vec<(usize, usize, f32)> {
    (0..dst)
        .map(|i| {
            let pos = (i as f32 + 0.5) / dst as f32 * src as f32 - 0.5;
            let base = pos.floor();
            let clamped = |v: f32| (v.max(0.0) as usize).min(src as usize - 1);
            (clamped(base), clamped(base + 1.0), pos - base)
        })
        .collect()
}

/// The frame resampled to `size` (shaders/resample_color.wgsl): at exactly half size, the
/// mean of each pair. In 8-bit units throughout.
fn resample(frame: Rgba<'_>, out: &mut [u8], size: (u32, u32), pool: &rayon::ThreadPool) {
    let xs = linear_taps(size.0, frame.size.0);
    let ys = linear_taps(size.1, frame.size.1);
    let row_bytes = size.0 as usize * 4;
    let rows = band_rows(size.1 as usize, pool);
    let bands: Vec<_> = out.chunks_mut(rows * row_bytes).enumerate().collect();
    // Exactly half the width at the same height (half-SBS): the mean of each pair, in
    // integers (the same value: the pair's sum is exact and + 1 >> 1 rounds half up).
    let pairs = frame.size.0 == 2 * size.0 && frame.size.1 == size.1;
    run_bands(pool, bands, |(band, out)| {
        for (i, row) in out.chunks_exact_mut(row_bytes).enumerate() {
            let y = band * rows + i;
            if pairs {
                // The same row (the taps' float positions may land a hair before it).
                for (px, src) in row.chunks_exact_mut(4).zip(frame.row(y).chunks_exact(8)) {
                    let a = u32::from_ne_bytes([src[0], src[1], src[2], src[3]]);
                    let b = u32::from_ne_bytes([src[4], src[5], src[6], src[7]]);
                    px.copy_from_slice(&average_bytes(a, b).to_ne_bytes());
                }
                continue;
            }
            let (y0, y1, fy) = ys[y];
            let (r0, r1) = (frame.row(y0), frame.row(y1));
            for (px, &(x0, x1, fx)) in row.chunks_exact_mut(4).zip(&xs) {
                for c in 0..4 {
                    let at = |r: &[u8], x: usize| f32::from(r[x * 4 + c]);
                    let top = at(r0, x0) * (1.0 - fx) + at(r0, x1) * fx;
                    let bottom = at(r1, x0) * (1.0 - fx) + at(r1, x1) * fx;
                    px[c] = (top * (1.0 - fy) + bottom * fy + 0.5) as u8;
                }
            }
        }
    });
}

/// (a + b + 1) >> 1 in each of the four bytes at once: a | b is the sum less the bits
/// both have ((a ^ b) counted once), so subtracting half of a ^ b (each byte's low bit
/// dropped first so nothing shifts into the byte below) leaves each byte's mean, rounded
/// up.
#[inline]
fn average_bytes(a: u32, b: u32) -> u32 {
    (a | b) - (((a ^ b) & 0xFEFE_FEFE) >> 1)
}

/// A value in 0..1 stored as 8-bit unorm (round to nearest, as GPUs store it).
#[inline]
fn unorm8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// `v.floor()` and `v.ceil()` as integers for |v| < 2^31, without the libm calls those
/// become on baseline x86-64 (it has no rounding instruction before SSE4.1).
#[inline]
fn floor_i(v: f32) -> i64 {
    let t = v as i64;
    t - i64::from((t as f32) > v)
}

#[inline]
fn ceil_i(v: f32) -> i64 {
    let t = v as i64;
    t + i64::from((t as f32) < v)
}

/// Round half to even (WGSL's `round`) for |v| < 2^22: adding and removing 1.5 * 2^23
/// leaves no fraction bits, so the FPU's default rounding does it, without a libm call.
/// Larger values come back unrounded but still large.
#[inline]
fn round_ties_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// `v` (0 ..= 2^22) rounded to the nearest integer, ties to even: in 2^23 + v the float
/// has no fraction bits left, so the addition rounds and the low mantissa bits are the
/// result. Where `(v + 0.5) as u32` (the shaders' rounding) costs range and NaN checks
/// with branches, this is two instructions; the two differ only on exact halves.
#[inline]
fn round_small(v: f32) -> u32 {
    const TWO_23: f32 = 8_388_608.0;
    (v + TWO_23).to_bits() & 0x7F_FFFF
}

/// WGSL's mix: a (1 - t) + b t.
#[inline]
fn mix(a: f32, b: f32, t: f32) -> f32 {
    a * (1.0 - t) + b * t
}

/// Where a source pixel lands on its row (common.wgsl `warped_x`); `weight` is the
/// column's [`border_weights`] entry.
#[inline]
fn warped_x(x: usize, n: f32, p: &WarpParams, weight: f32) -> f32 {
    x as f32 + p.shift_gain_px * (n - p.zero_nearness) * weight
}

/// Each column's share of the shift under `--preserve-border` (common.wgsl
/// `border_weight`): 0 at the outermost columns, a smoothstep up to 1 at `border_px`
/// from the edge; all 1 when it is off.
fn border_weights(p: &WarpParams) -> Vec<f32> {
    let w = p.size[0] as usize;
    if p.border_px <= 0.0 {
        return vec![1.0; w];
    }
    (0..w)
        .map(|x| {
            let from_edge = x.min(w - 1 - x) as f32;
            let t = (from_edge / p.border_px.max(1e-6)).clamp(0.0, 1.0);
            t * t * (3.0 - 2.0 * t)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_bytes_rounds_each_byte_up_like_the_integer_mean() {
        for a in 0..=255u32 {
            for b in 0..=255u32 {
                let want = (a + b + 1) >> 1;
                // Each lane, with other values beside it that must not leak in.
                let x = a | (255 - a) << 8 | b << 16 | a << 24;
                let y = b | (255 - b) << 8 | a << 16 | b << 24;
                let got = average_bytes(x, y).to_le_bytes();
                let other = ((255 - a) + (255 - b) + 1) >> 1;
                assert_eq!(got.map(u32::from), [want, other, want, want], "{a} and {b}");
            }
        }
    }
}
