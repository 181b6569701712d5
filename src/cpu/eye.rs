//! One synthesised eye: forward splat with a z-buffer, resolve, and hole filling from the
//! background side. Each function mirrors a shader (named in its comment); the formulas
//! and their order are the same, so the two agree to float rounding.
//!
//! The splat only moves pixels along their row, so splat, resolve and the row sweep of
//! the fill run row by row on one core with a row-sized z-buffer that stays in cache.

use super::{Rgba, band_rows, ceil_i, floor_i, mix, round_ties_even, run_bands, warped_x};
use crate::gpu::NO_EDGE_THRESHOLD;
use crate::gpu::params::WarpParams;

const FILL_SCANLINE: u32 = 0;
const NONE: u32 = u32::MAX;
const NONE16: u16 = u16::MAX;
const KEY_X_BITS: u32 = 14;
const KEY_X_MASK: u32 = 0x3FFF;
const KEY_NEAR_LEVELS: f32 = 262142.0;
/// warp_resolve.wgsl: depth tolerance and reach of the box filter on compressed surfaces.
const SAME_SURFACE: f32 = 0.02;
const GATHER: usize = 3;
/// fill_resolve.wgsl: depth tolerance of a vertical neighbour on the row's background.
const BACKGROUND_TOLERANCE: f32 = 0.02;

pub(super) struct EyeBuffers {
    /// The warped view before filling, RGBA8 (alpha 0 = hole).
    pub warped: Vec<u8>,
    /// Depth quantity of each warped pixel (-1 in holes).
    warped_near: Vec<f32>,
    /// fill_rows: the background-side covered column of each pixel's row (or NONE).
    row_source: Vec<u32>,
    /// fill_columns: nearest covered row above and below each pixel (or NONE16).
    above: Vec<u16>,
    below: Vec<u16>,
    /// The filled view, RGBA8.
    pub filled: Vec<u8>,
}

impl EyeBuffers {
    pub fn new(pixels: usize) -> Self {
        Self {
            warped: vec![0; pixels * 4],
            warped_near: vec![0.0; pixels],
            row_source: vec![0; pixels],
            above: vec![0; pixels],
            below: vec![0; pixels],
            filled: vec![0; pixels * 4],
        }
    }
}

/// Splat, resolve and fill one eye of `colour` (the frame at the work size) whose depth
/// quantity per pixel is `near`.
pub(super) fn warp(
    p: &WarpParams,
    colour: Rgba<'_>,
    near: &[f32],
    out: &mut EyeBuffers,
    pool: &rayon::ThreadPool,
) {
    let (w, h) = (p.size[0] as usize, p.size[1] as usize);
    let rows = band_rows(h, pool);
    let bands: Vec<_> = out
        .warped
        .chunks_mut(rows * w * 4)
        .zip(out.warped_near.chunks_mut(rows * w))
        .zip(out.row_source.chunks_mut(rows * w))
        .enumerate()
        .collect();
    run_bands(
        pool,
        bands,
        |(band, ((warped, warped_near), row_source))| {
            let mut zrow = vec![0u32; w];
            let mut prow = vec![0f32; w];
            let mut joined = vec![false; w];
            for (i, ((warped, warped_near), row_source)) in warped
                .chunks_exact_mut(w * 4)
                .zip(warped_near.chunks_exact_mut(w))
                .zip(row_source.chunks_exact_mut(w))
                .enumerate()
            {
                let y = band * rows + i;
                let n = &near[y * w..][..w];
                for (x, (pos, &nx)) in prow.iter_mut().zip(n).enumerate() {
                    *pos = warped_x(x, nx, p);
                }
                splat_row(p, n, &prow, &mut zrow, &mut joined);
                resolve_row(
                    p,
                    n,
                    &prow,
                    &zrow,
                    &joined,
                    colour.row(y),
                    warped,
                    warped_near,
                );
                fill_row(warped, warped_near, row_source);
            }
        },
    );
    // Only the background fill looks above and below.
    if p.fill_mode != FILL_SCANLINE {
        columns(&out.warped, (w, h), &mut out.above, &mut out.below, pool);
    }
    fill_resolve(p, out, pool);
}

/// common.wgsl `same_surface`.
#[inline]
fn same_surface(n0: f32, n1: f32, p0: f32, p1: f32, p: &WarpParams) -> bool {
    let stretch = p1 - p0;
    n0 >= 0.0
        && n1 >= 0.0
        && stretch > 0.0
        && stretch <= p.max_stretch_px
        // Edge removal off (the default threshold): no jump is that large, skip the division.
        && (p.edge_threshold >= NO_EDGE_THRESHOLD
            || (n1 - n0).abs() / n0.max(n1).max(1e-20) <= p.edge_threshold)
}

/// common.wgsl `pack_key`.
#[inline]
fn pack_key(n: f32, x: usize, p: &WarpParams) -> u32 {
    let q = ((n * p.key_scale).clamp(0.0, 1.0) * KEY_NEAR_LEVELS + 0.5) as u32 + 1;
    (q << KEY_X_BITS) | (x as u32 & KEY_X_MASK)
}

/// warp_splat.wgsl for one row: the nearest surface's key at every target pixel.
/// `joined[x]`: the segment from x to x + 1 is one surface (the resolve needs it too).
fn splat_row(p: &WarpParams, n: &[f32], pos: &[f32], z: &mut [u32], joined: &mut [bool]) {
    let w = n.len();
    z.fill(0);
    let mut splat = |t: i64, key: u32| {
        if t >= 0 && t < w as i64 {
            let slot = &mut z[t as usize];
            *slot = (*slot).max(key);
        }
    };
    // The segment on a pixel's left is its left neighbour's right segment.
    let mut left_ok = false;
    for x in 0..w {
        let n0 = n[x];
        if n0 < 0.0 {
            joined[x] = false;
            left_ok = false;
            continue;
        }
        let p0 = pos[x];
        let mut right_ok = false;
        if x + 1 < w {
            let (n1, p1) = (n[x + 1], pos[x + 1]);
            right_ok = same_surface(n0, n1, p0, p1, p);
            if right_ok {
                // Closed interval [p0, p1]; targets off the row are skipped anyway.
                let first = ceil_i(p0).max(0);
                let last = floor_i(p1).min(w as i64 - 1);
                for t in first..=last {
                    let f = ((t as f32 - p0) / (p1 - p0)).clamp(0.0, 1.0);
                    splat(t, pack_key(mix(n0, n1, f), x, p));
                }
            }
        }
        joined[x] = right_ok;
        if !left_ok && !right_ok {
            // A thin sliver is kept as one sample; a flying pixel on a ramp is dropped.
            let nl = if x > 0 { n[x - 1] } else { n0 };
            let nr = if x + 1 < w { n[x + 1] } else { n0 };
            let on_ramp = (nl < n0 && n0 < nr) || (nl > n0 && n0 > nr);
            if !on_ramp {
                splat(round_ties_even(p0) as i64, pack_key(n0, x, p));
            }
        }
        left_ok = right_ok;
    }
}

/// A pixel's colour in 8-bit units.
#[inline]
fn rgb8(row: &[u8], x: usize) -> [f32; 3] {
    let c = &row[x * 4..x * 4 + 3];
    [f32::from(c[0]), f32::from(c[1]), f32::from(c[2])]
}

/// A colour channel in 8-bit units (0..255), rounded to the nearest byte.
#[inline]
fn byte(v: f32) -> u8 {
    (v.clamp(0.0, 255.0) + 0.5) as u8
}

/// warp_resolve.wgsl for one row: the winning samples' colours and depths.
#[allow(clippy::too_many_arguments)]
fn resolve_row(
    p: &WarpParams,
    n: &[f32],
    pos: &[f32],
    z: &[u32],
    joined_right: &[bool],
    colour: &[u8],
    warped: &mut [u8],
    warped_near: &mut [f32],
) {
    let w = n.len();
    // The position test first: it is the one that usually fails.
    let lands_here = |ns: f32, ps: f32, t: f32, near: f32| {
        (ps - t).abs() <= 0.5
            && ps - t < 0.5
            && ns >= 0.0
            && (ns - near).abs() * p.key_scale <= SAME_SURFACE
    };
    for (t, (out, out_near)) in warped
        .chunks_exact_mut(4)
        .zip(warped_near.iter_mut())
        .enumerate()
    {
        let key = z[t];
        if key == 0 {
            out.fill(0);
            *out_near = -1.0;
            continue;
        }
        let tf = t as f32;
        let x = (key & KEY_X_MASK) as usize;
        let x1 = (x + 1).min(w - 1);
        let (n0, n1) = (n[x], n[x1]);
        let p0 = pos[x];
        // warped_x(x + 1): past the row's end the shader computes it from n[w - 1].
        let p1 = if x + 1 < w {
            pos[x + 1]
        } else {
            warped_x(x + 1, n1, p)
        };
        let joined = joined_right[x];
        let f = if joined {
            ((tf - p0) / (p1 - p0)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Colours stay in 8-bit units (0..255): the shader's mix of v / 255 values,
        // stored as unorm, is the same up to float rounding.
        let (c0, c1) = (rgb8(colour, x), rgb8(colour, x1));
        let mut rgb = [0f32; 3];
        for k in 0..3 {
            rgb[k] = mix(c0[k], c1[k], f);
        }
        let near = mix(n0, n1, f);
        if joined && p1 - p0 < 1.0 {
            // A compressed surface: average every sample of it landing in this pixel.
            let w0 = if lands_here(n0, p0, tf, near) {
                1.0
            } else {
                0.0
            };
            let w1 = if lands_here(n1, p1, tf, near) {
                1.0
            } else {
                0.0
            };
            let mut sum = [0f32; 3];
            for k in 0..3 {
                sum[k] = c0[k] * w0 + c1[k] * w1;
            }
            let mut count = w0 + w1;
            // x - GATHER ..= x + 1 + GATHER within the row, less x and x + 1.
            let reach = x.saturating_sub(GATHER)..=(x + 1 + GATHER).min(w - 1);
            for s in reach.filter(|&s| s != x && s != x + 1) {
                if lands_here(n[s], pos[s], tf, near) {
                    let cs = rgb8(colour, s);
                    for c in 0..3 {
                        sum[c] += cs[c];
                    }
                    count += 1.0;
                }
            }
            if count >= 2.0 {
                for k in 0..3 {
                    rgb[k] = sum[k] / count.max(1.0);
                }
            }
        }
        out[0] = byte(rgb[0]);
        out[1] = byte(rgb[1]);
        out[2] = byte(rgb[2]);
        out[3] = 255;
        *out_near = near;
    }
}

/// fill_rows.wgsl for one row: each hole's nearest covered pixel on the background side.
fn fill_row(warped: &[u8], warped_near: &[f32], row_source: &mut [u32]) {
    let w = warped_near.len();
    let covered = |x: usize| warped[x * 4 + 3] > 0;
    let mut right = NONE;
    for x in (0..w).rev() {
        if covered(x) {
            right = x as u32;
        }
        row_source[x] = right;
    }
    let mut left = NONE;
    for (x, source) in row_source.iter_mut().enumerate() {
        if covered(x) {
            left = x as u32;
            *source = left;
            continue;
        }
        // Both sides covered: the farther (background) one; else whichever exists.
        let r = *source;
        let take_left =
            r == NONE || (left != NONE && warped_near[left as usize] <= warped_near[r as usize]);
        if take_left {
            *source = left;
        }
    }
}

/// fill_columns.wgsl: the nearest covered row above and below every pixel, swept row by
/// row (above on one worker, below on another) so memory is read in order.
fn columns(
    warped: &[u8],
    (w, h): (usize, usize),
    above: &mut [u16],
    below: &mut [u16],
    pool: &rayon::ThreadPool,
) {
    let sweep = |rows: &mut dyn Iterator<Item = usize>, out: &mut [u16]| {
        let mut last = vec![NONE16; w];
        for y in rows {
            let row = &warped[y * w * 4..][..w * 4];
            for (l, p) in last.iter_mut().zip(row.chunks_exact(4)) {
                if p[3] > 0 {
                    *l = y as u16;
                }
            }
            out[y * w..][..w].copy_from_slice(&last);
        }
    };
    pool.install(|| {
        rayon::join(
            || sweep(&mut (0..h), above),
            || sweep(&mut (0..h).rev(), below),
        )
    });
}

/// fill_resolve.wgsl: covered pixels pass through; holes take the row's background pixel
/// (scanline) or blend it with the covered pixels above and below on the same background
/// surface, by inverse distance.
fn fill_resolve(p: &WarpParams, buffers: &mut EyeBuffers, pool: &rayon::ThreadPool) {
    let (w, h) = (p.size[0] as usize, p.size[1] as usize);
    let EyeBuffers {
        warped,
        warped_near,
        row_source,
        above,
        below,
        filled,
    } = buffers;
    let (warped, warped_near, row_source, above, below) =
        (&*warped, &*warped_near, &*row_source, &*above, &*below);
    let rows = band_rows(h, pool);
    let bands: Vec<_> = filled.chunks_mut(rows * w * 4).enumerate().collect();
    run_bands(pool, bands, |(band, filled)| {
        for (i, out_row) in filled.chunks_exact_mut(w * 4).enumerate() {
            let y = band * rows + i;
            let row = y * w;
            out_row.copy_from_slice(&warped[row * 4..][..w * 4]);
            for x in 0..w {
                if warped[(row + x) * 4 + 3] > 0 {
                    continue;
                }
                let src = row_source[row + x];
                let has_src = src != NONE;
                let s = if has_src { src as usize } else { x };
                let rgb_at = |x: usize, y: usize| rgb8(warped, y * w + x);
                let row_colour = if has_src { rgb_at(s, y) } else { [0.0; 3] };
                let fill = if p.fill_mode == FILL_SCANLINE {
                    row_colour
                } else {
                    let n_bg = warped_near[row + s];
                    let row_weight = if has_src {
                        1.0 / (x.abs_diff(s).max(1) as f32)
                    } else {
                        0.0
                    };
                    let mut sum = row_colour.map(|c| c * row_weight);
                    let mut weight = row_weight;
                    for yy in [above[row + x], below[row + x]] {
                        if yy == NONE16 {
                            continue;
                        }
                        let ys = yy as usize;
                        let n = warped_near[ys * w + x];
                        let same =
                            !has_src || (n - n_bg).abs() * p.key_scale <= BACKGROUND_TOLERANCE;
                        if same {
                            let wgt = 1.0 / (y.abs_diff(ys).max(1) as f32);
                            let c = rgb_at(x, ys);
                            for k in 0..3 {
                                sum[k] += c[k] * wgt;
                            }
                            weight += wgt;
                        }
                    }
                    if weight > 0.0 {
                        sum.map(|v| v / weight.max(1e-30))
                    } else {
                        [0.0; 3]
                    }
                };
                let o = &mut out_row[x * 4..x * 4 + 4];
                o[0] = byte(fill[0]);
                o[1] = byte(fill[1]);
                o[2] = byte(fill[2]);
                o[3] = 255;
            }
        }
    });
}
