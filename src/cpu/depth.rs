//! Raw depth -> the warp's depth quantity at the work size (shaders/depth_prep.wgsl), and
//! the foreground dilation (shaders/depth_dilate.wgsl).

use super::{DepthFormat, RawDepth, Rgba, band_rows, mix, run_bands};
use crate::stereo::Shape;
use crate::stereo::uniforms::{DEPTH_METRIC, DEPTH_RELATIVE, DepthParams, GUIDE_SIGMA};

impl RawDepth<'_> {
    fn row(&self, y: usize) -> &[u8] {
        &self.data[y * self.stride..]
    }
}

/// Where output pixel `i` of `out` samples a raw axis of `raw` texels (depth_prep.wgsl):
/// the position, its two texels (clamped) and the weight of the second, and the
/// frame pixel at the centre of each texel (the guide).
struct Tap {
    pos: f32,
    t0: usize,
    t1: usize,
    f: f32,
    guide0: usize,
    guide1: usize,
}

fn taps(out: u32, raw: u32) -> Vec<Tap> {
    let scale = raw as f32 / out as f32;
    let clamp_raw = |t: i32| t.clamp(0, raw as i32 - 1) as usize;
    // The frame's pixel at the centre of raw texel t (guide_at in the shader).
    let guide = |t: i32| {
        let c = ((t as f32 + 0.5) * out as f32 / raw as f32 - 0.5).round_ties_even();
        (c as i32).clamp(0, out as i32 - 1) as usize
    };
    (0..out)
        .map(|i| {
            let pos = (i as f32 + 0.5) * scale - 0.5;
            let base = pos.floor();
            let t = base as i32;
            Tap {
                pos,
                t0: clamp_raw(t),
                t1: clamp_raw(t + 1),
                f: pos - base,
                guide0: guide(t),
                guide1: guide(t + 1),
            }
        })
        .collect()
}

fn rgb_at(img: Rgba<'_>, x: usize, y: usize) -> [f32; 3] {
    let p = &img.data[y * img.stride + x * 4..];
    [
        f32::from(p[0]) / 255.0,
        f32::from(p[1]) / 255.0,
        f32::from(p[2]) / 255.0,
    ]
}

fn similarity(a: [f32; 3], b: [f32; 3]) -> f32 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    let dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    (-dd / (2.0 * GUIDE_SIGMA * GUIDE_SIGMA)).exp()
}

/// Writes the depth quantity of every work pixel into `out` (one value per pixel).
/// `guided`: joint bilateral upsampling with `frame` (the frame at the work size).
pub(super) fn prepare(
    p: &DepthParams,
    guided: bool,
    raw: RawDepth<'_>,
    frame: Rgba<'_>,
    out: &mut [f32],
    pool: &rayon::ThreadPool,
) {
    // One copy of the loop per stored format, so the format is not decided per tap.
    let encoded = p.rgb_encoded == 1;
    match (raw.format, encoded) {
        (DepthFormat::Gray16, _) => prepare_with(p, guided, raw, frame, out, pool, |row, x| {
            f32::from(u16::from_le_bytes([row[x * 2], row[x * 2 + 1]]))
        }),
        // v * 257 is below 2^24: exact in a float.
        (DepthFormat::Gray8, _) => prepare_with(p, guided, raw, frame, out, pool, |row, x| {
            f32::from(row[x]) * 257.0
        }),
        (DepthFormat::Rgba, true) => prepare_with(p, guided, raw, frame, out, pool, |row, x| {
            f32::from(row[x * 4]) * 256.0 + f32::from(row[x * 4 + 2])
        }),
        (DepthFormat::Rgba, false) => prepare_with(p, guided, raw, frame, out, pool, |row, x| {
            f32::from(row[x * 4])
        }),
    }
}

/// [`prepare`] with `value(row, x)` reading the stored value at column `x` of a row.
fn prepare_with(
    p: &DepthParams,
    guided: bool,
    raw: RawDepth<'_>,
    frame: Rgba<'_>,
    out: &mut [f32],
    pool: &rayon::ThreadPool,
    value: impl Fn(&[u8], usize) -> f32 + Sync,
) {
    let w = p.out_size[0] as usize;
    let xs = taps(p.out_size[0], p.raw_size[0]);
    let ys = taps(p.out_size[1], p.raw_size[1]);
    let rows = band_rows(p.out_size[1] as usize, pool);
    let bands: Vec<_> = out.chunks_mut(rows * w).enumerate().collect();
    let shape = Shape::from_shader(p.curve, p.curve_k, p.foreground_scale);
    // Shaping is a pass of its own over each row, so the common unshaped case keeps its
    // vectorised loop.
    let shape = (p.kind == DEPTH_RELATIVE && !shape.is_identity()).then_some(shape);
    if !guided && p.kind == DEPTH_RELATIVE {
        // The common case in its own loops: across, down, normalise.
        let columns = Columns::of(&xs);
        run_bands(pool, bands, |(band, out)| {
            let (mut top, mut bottom) = (vec![0f32; w], vec![0f32; w]);
            for (i, row) in out.chunks_exact_mut(w).enumerate() {
                let ty = &ys[band * rows + i];
                across(raw.row(ty.t0), &xs, columns, &value, &mut top);
                // At fy = 0 (depth as tall as the warp) the second row weighs nothing:
                // mix(top, bottom, 0) is top exactly, so it is not read.
                if ty.f != 0.0 {
                    across(raw.row(ty.t1), &xs, columns, &value, &mut bottom);
                    for (t, &b) in top.iter_mut().zip(&bottom) {
                        *t = mix(*t, b, ty.f);
                    }
                }
                normalise_relative(p, &top, row);
                if let Some(shape) = &shape {
                    shape_row(shape, row);
                }
            }
        });
        return;
    }
    run_bands(pool, bands, |(band, out)| {
        for (i, row) in out.chunks_exact_mut(w).enumerate() {
            let y = band * rows + i;
            let ty = &ys[y];
            let (r0, r1) = (raw.row(ty.t0), raw.row(ty.t1));
            let fy = ty.f;
            for (x, (q_out, tx)) in row.iter_mut().zip(&xs).enumerate() {
                let fx = tx.f;
                let a = value(r0, tx.t0);
                let b = value(r0, tx.t1);
                let c = value(r1, tx.t0);
                let d = value(r1, tx.t1);
                let bilinear = mix(mix(a, b, fx), mix(c, d, fx), fy);
                let blended = if guided {
                    // Each tap also counts by how much the frame at that tap resembles
                    // the frame here, so depth edges land on the frame's edges.
                    let here = rgb_at(frame, x, y);
                    let g = |gx: usize, gy: usize| similarity(here, rgb_at(frame, gx, gy));
                    let wa = (1.0 - fx) * (1.0 - fy) * g(tx.guide0, ty.guide0);
                    let wb = fx * (1.0 - fy) * g(tx.guide1, ty.guide0);
                    let wc = (1.0 - fx) * fy * g(tx.guide0, ty.guide1);
                    let wd = fx * fy * g(tx.guide1, ty.guide1);
                    let wsum = wa + wb + wc + wd;
                    if wsum > 1e-4 {
                        (a * wa + b * wb + c * wc + d * wd) / wsum.max(1e-20)
                    } else {
                        bilinear
                    }
                } else {
                    bilinear
                };
                *q_out = if p.kind == DEPTH_RELATIVE {
                    relative(p, blended)
                } else {
                    // Never blend a known value with an unknown one (stored 0): take the
                    // nearest tap instead.
                    let raw_value = if a.min(b).min(c.min(d)) == 0.0 {
                        let near_x = if tx.pos.round_ties_even() > tx.pos.floor() {
                            tx.t1
                        } else {
                            tx.t0
                        };
                        let near_y = if ty.pos.round_ties_even() > ty.pos.floor() {
                            r1
                        } else {
                            r0
                        };
                        value(near_y, near_x)
                    } else {
                        blended
                    };
                    let v = raw_value.max(1.0) * p.value_scale;
                    let q = if p.kind == DEPTH_METRIC { 1.0 / v } else { v };
                    if raw_value > 0.0 { q } else { -1.0 }
                };
            }
            if let Some(shape) = &shape {
                shape_row(shape, row);
            }
        }
    });
}

/// Relative nearness through `--depth-curve` and `--foreground-scale` (common.wgsl
/// `shape_nearness`).
fn shape_row(shape: &Shape, row: &mut [f32]) {
    for v in row {
        *v = shape.apply(*v);
    }
}

/// How the output columns sample a raw row, found from the taps themselves: the same
/// columns (depth as wide as the warp), exact pairs (depth twice as wide: a half-SBS
/// warp of full-size depth), or any other ratio. The first two read the row in order,
/// without the taps' indices, and give the same values as the taps would (a weight of
/// 0 or exactly 0.5).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Columns {
    Same,
    Pairs,
    Taps,
}

impl Columns {
    fn of(xs: &[Tap]) -> Self {
        let all = |f: &dyn Fn(usize, &Tap) -> bool| xs.iter().enumerate().all(|(i, t)| f(i, t));
        if all(&|i, t| t.t0 == i && t.f == 0.0) {
            Columns::Same
        } else if all(&|i, t| t.t0 == 2 * i && t.t1 == 2 * i + 1 && t.f == 0.5) {
            Columns::Pairs
        } else {
            Columns::Taps
        }
    }
}

/// A raw row sampled at every output column: the horizontal half of the bilinear filter.
#[inline]
fn across(
    raw_row: &[u8],
    xs: &[Tap],
    columns: Columns,
    value: &impl Fn(&[u8], usize) -> f32,
    out: &mut [f32],
) {
    match columns {
        // mix(a, b, 0) is a exactly.
        Columns::Same => {
            for (i, h) in out.iter_mut().enumerate() {
                *h = value(raw_row, i);
            }
        }
        Columns::Pairs => {
            for (i, h) in out.iter_mut().enumerate() {
                *h = mix(value(raw_row, 2 * i), value(raw_row, 2 * i + 1), 0.5);
            }
        }
        Columns::Taps => {
            for (h, tx) in out.iter_mut().zip(xs) {
                *h = mix(value(raw_row, tx.t0), value(raw_row, tx.t1), tx.f);
            }
        }
    }
}

/// Relative depth (16-bit scale) -> nearness 0..1 over the clip's range (depth_prep.wgsl).
#[inline]
fn relative(p: &DepthParams, blended: f32) -> f32 {
    let mut n = ((blended / 65535.0 - p.range_min) * p.range_scale).clamp(0.0, 1.0);
    if p.range_scale == 0.0 {
        n = 0.5;
    }
    if p.far_is_bright == 1 {
        n = 1.0 - n;
    }
    n
}

/// [`relative`] over a row, in a loop the compiler vectorises.
fn normalise_relative(p: &DepthParams, blended: &[f32], out: &mut [f32]) {
    for (o, &b) in out.iter_mut().zip(blended) {
        *o = relative(p, b);
    }
}

/// Separable max filter on the depth quantity: horizontal into `scratch`, vertical back
/// into `near`. Unknown depth (< 0) stays unknown and never spreads.
pub(super) fn dilate(
    p: &DepthParams,
    near: &mut [f32],
    scratch: &mut [f32],
    pool: &rayon::ThreadPool,
) {
    let (w, h) = (p.out_size[0] as usize, p.out_size[1] as usize);
    let rows = band_rows(h, pool);
    let (rx, ry) = (p.dilate_px as i64, p.dilate_y_px as i64);
    {
        let source = &*near;
        let bands: Vec<_> = scratch.chunks_mut(rows * w).enumerate().collect();
        run_bands(pool, bands, |(band, out)| {
            for (i, row) in out.chunks_exact_mut(w).enumerate() {
                let src = &source[(band * rows + i) * w..][..w];
                for (x, o) in row.iter_mut().enumerate() {
                    let mut best = src[x];
                    if best >= 0.0 {
                        for k in -rx..=rx {
                            let q = (x as i64 + k).clamp(0, w as i64 - 1) as usize;
                            best = best.max(src[q]);
                        }
                    }
                    *o = best;
                }
            }
        });
    }
    let source = &*scratch;
    let bands: Vec<_> = near.chunks_mut(rows * w).enumerate().collect();
    run_bands(pool, bands, |(band, out)| {
        for (i, row) in out.chunks_exact_mut(w).enumerate() {
            let y = band * rows + i;
            row.copy_from_slice(&source[y * w..][..w]);
            for k in -ry..=ry {
                let q = (y as i64 + k).clamp(0, h as i64 - 1) as usize;
                let other = &source[q * w..][..w];
                for (o, &v) in row.iter_mut().zip(other) {
                    if *o >= 0.0 {
                        *o = o.max(v);
                    }
                }
            }
        }
    });
}
