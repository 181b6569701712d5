//! One synthesised eye: forward splat with a z-buffer, resolve, and hole filling from the
//! background side. Each function mirrors a shader (named in its comment); the formulas
//! and their order are the same, so the two agree to float rounding.
//!
//! The splat only moves pixels along their row, so splat, resolve and the row sweep of
//! the fill run row by row on one core with a row-sized z-buffer that stays in cache.

use super::{
    Rgba, band_rows, border_weights, ceil_i, floor_i, mix, round_small, round_ties_even, run_bands,
    warped_x,
};
use crate::stereo::NO_EDGE_THRESHOLD;
use crate::stereo::uniforms::{
    BACKGROUND_TOLERANCE, FILL_SCANLINE, KEY_NEAR_LEVELS, KEY_X_BITS, KEY_X_MASK, NONE,
    SAME_SURFACE, WarpParams,
};

/// The fill's 16-bit "no row" (`uniforms::NONE16`), as the halves are kept here.
const NONE16: u16 = crate::stereo::uniforms::NONE16 as u16;
/// The resolve's reach (`uniforms::GATHER`), as an index.
const GATHER: usize = crate::stereo::uniforms::GATHER as usize;

pub(super) struct EyeBuffers {
    /// The warped view before filling, RGBA8 (alpha 0 = hole).
    pub warped: Vec<u8>,
    /// Depth quantity of each warped pixel (-1 in holes).
    warped_near: Vec<f32>,
    /// fill_rows: the background-side covered column of each hole's row (or NONE);
    /// not written for covered pixels.
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
    let weights = border_weights(p);
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
            let mut seg = Segments::new(w);
            let mut scratch = ResolveScratch::new(w);
            for (i, ((warped, warped_near), row_source)) in warped
                .chunks_exact_mut(w * 4)
                .zip(warped_near.chunks_exact_mut(w))
                .zip(row_source.chunks_exact_mut(w))
                .enumerate()
            {
                let y = band * rows + i;
                let n = &near[y * w..][..w];
                for (x, ((pos, &nx), &weight)) in prow.iter_mut().zip(n).zip(&weights).enumerate() {
                    *pos = warped_x(x, nx, p, weight);
                }
                seg.compute(p, n, &prow);
                splat_row(p, n, &prow, &seg, &mut zrow);
                resolve_row(
                    p,
                    n,
                    &prow,
                    &zrow,
                    &seg,
                    colour.row(y),
                    warped,
                    warped_near,
                    &mut scratch,
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

/// Up to this many target pixels of a segment get their keys in [`Segments::compute`]:
/// with the default `max_stretch_px` of 2 a segment covers at most three.
const KEYED_TARGETS: usize = 3;

/// The segments of a row (segment x runs from source pixel x to x + 1) as splat and
/// resolve use them. Arrays, not structs, so [`Segments::compute`] fills them on vector
/// lanes.
struct Segments {
    /// 1 / (pos[x + 1] - pos[x]) when the segment is one surface (common.wgsl
    /// `same_surface`), else 0:
    /// a target's position along it is then a product, and 0 off a surface.
    inv_len: Vec<f32>,
    /// One surface landing less than a pixel long (the resolve's box filter).
    compressed: Vec<bool>,
    /// The first target pixel the segment covers.
    first: Vec<i32>,
    /// Targets covered (0 ..= KEYED_TARGETS), or KEYED_TARGETS + 1 for longer segments,
    /// which [`splat_row`] keys itself.
    count: Vec<i32>,
    /// The z-buffer keys of the first KEYED_TARGETS targets.
    keys: [Vec<u32>; KEYED_TARGETS],
}

impl Segments {
    fn new(w: usize) -> Self {
        Self {
            inv_len: vec![0.0; w],
            compressed: vec![false; w],
            first: vec![0; w],
            count: vec![0; w],
            keys: std::array::from_fn(|_| vec![0; w]),
        }
    }

    #[inline]
    fn joined(&self, x: usize) -> bool {
        self.inv_len[x] > 0.0
    }

    /// Every segment of a row whose depth quantities are `n` and warped positions `pos`,
    /// with warp_splat.wgsl's targets and keys, in a loop without branches. Keyed one
    /// target at a time in the splat, each key waited on the previous one's chain of
    /// float operations; here they are independent and run on vector lanes, and the
    /// splat only takes maxima.
    fn compute(&mut self, p: &WarpParams, n: &[f32], pos: &[f32]) {
        let w = n.len();
        let m = w - 1;
        let right_end = m as f32;
        let no_edges = p.edge_threshold >= NO_EDGE_THRESHOLD;
        let (n0s, n1s, p0s, p1s) = (&n[..m], &n[1..], &pos[..m], &pos[1..w]);
        let (inv_len, compressed) = (&mut self.inv_len[..m], &mut self.compressed[..m]);
        let (first_out, count_out) = (&mut self.first[..m], &mut self.count[..m]);
        let [k0, k1, k2] = &mut self.keys;
        let (k0, k1, k2) = (&mut k0[..m], &mut k1[..m], &mut k2[..m]);
        for x in 0..m {
            let (n0, n1, p0, p1) = (n0s[x], n1s[x], p0s[x], p1s[x]);
            // common.wgsl `same_surface`, with `&` and `|`: no short cuts, no branches.
            let stretch = p1 - p0;
            let jump = (n1 - n0).abs() / n0.max(n1).max(1e-20);
            let joined = (n0 >= 0.0)
                & (n1 >= 0.0)
                & (stretch > 0.0)
                & (stretch <= p.max_stretch_px)
                & (no_edges | (jump <= p.edge_threshold));
            let inv = if joined { 1.0 / (p1 - p0) } else { 0.0 };
            inv_len[x] = inv;
            compressed[x] = joined & (p1 - p0 < 1.0);
            // Closed interval [p0, p1] within the row.
            let first = p0.ceil().max(0.0);
            let last = p1.floor().min(right_end);
            let count = (last - first + 1.0).clamp(0.0, (KEYED_TARGETS + 1) as f32);
            // Whole numbers in 0 ..= right_end and 0 ..= 4 (never NaN: max and min drop
            // NaN), converted with bit operations rather than `as`, whose saturation
            // checks the compiler can only do one lane at a time.
            first_out[x] = round_small(first.min(right_end)) as i32;
            count_out[x] = if joined { round_small(count) as i32 } else { 0 };
            let key = |k: f32| pack_key(mix(n0, n1, along(inv, first + k, p0)), x, p);
            k0[x] = key(0.0);
            k1[x] = key(1.0);
            k2[x] = key(2.0);
        }
        // The last pixel's segment leaves the row: never joined.
        self.inv_len[m] = 0.0;
        self.compressed[m] = false;
        self.count[m] = 0;
    }
}

/// warp_splat.wgsl's and warp_resolve.wgsl's (t - p0) / (p1 - p0) on a joined segment
/// (`inv_len` = 1 / (p1 - p0)), clamped to 0..1; 0 on a segment that is not joined
/// (`inv_len` = 0), as the shaders take it.
#[inline]
fn along(inv_len: f32, t: f32, p0: f32) -> f32 {
    ((t - p0) * inv_len).clamp(0.0, 1.0)
}

/// common.wgsl `pack_key`.
#[inline]
fn pack_key(n: f32, x: usize, p: &WarpParams) -> u32 {
    let q = round_small((n * p.key_scale).clamp(0.0, 1.0) * KEY_NEAR_LEVELS) + 1;
    (q << KEY_X_BITS) | (x as u32 & KEY_X_MASK)
}

/// warp_splat.wgsl for one row: the nearest surface's key at every target pixel.
fn splat_row(p: &WarpParams, n: &[f32], pos: &[f32], seg: &Segments, z: &mut [u32]) {
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
            left_ok = false;
            continue;
        }
        let p0 = pos[x];
        let right_ok = seg.joined(x);
        let count = seg.count[x] as usize;
        if count <= KEYED_TARGETS {
            let first = i64::from(seg.first[x]);
            for (k, target_keys) in seg.keys[..count].iter().enumerate() {
                splat(first + k as i64, target_keys[x]);
            }
        } else {
            // A segment longer than the keyed targets (a large --max-stretch).
            let (n1, p1) = (n[x + 1], pos[x + 1]);
            let first = ceil_i(p0).max(0);
            let last = floor_i(p1).min(w as i64 - 1);
            for t in first..=last {
                let f = along(seg.inv_len[x], t as f32, p0);
                splat(t, pack_key(mix(n0, n1, f), x, p));
            }
        }
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

/// A pixel's RGBA in 8-bit units: four lanes, so the arithmetic on colours compiles to
/// vector instructions (alpha rides along and is ignored).
#[inline]
fn rgba8(row: &[u8], x: usize) -> [f32; 4] {
    let c = &row[x * 4..x * 4 + 4];
    [
        f32::from(c[0]),
        f32::from(c[1]),
        f32::from(c[2]),
        f32::from(c[3]),
    ]
}

/// A pixel's colour in 8-bit units.
#[inline]
fn rgb8(row: &[u8], x: usize) -> [f32; 3] {
    let c = rgba8(row, x);
    [c[0], c[1], c[2]]
}

/// A colour channel in 8-bit units (0..255), rounded to the nearest byte.
#[inline]
fn byte(v: f32) -> u8 {
    round_small(v.clamp(0.0, 255.0)) as u8
}

/// Per-row scratch of [`resolve_row`]: each target's two source colours and its weight.
struct ResolveScratch {
    c0: Vec<u32>,
    c1: Vec<u32>,
    f: Vec<f32>,
    covered: Vec<bool>,
    out: Vec<u32>,
    /// Targets on a compressed surface (the box filter's candidates).
    compressed: Vec<usize>,
}

impl ResolveScratch {
    fn new(w: usize) -> Self {
        Self {
            c0: vec![0; w],
            c1: vec![0; w],
            f: vec![0.0; w],
            covered: vec![false; w],
            out: vec![0; w],
            compressed: Vec::with_capacity(w),
        }
    }
}

/// The pixel at `x` of an RGBA8 row as one word, R in the low byte.
#[inline]
fn word(row: &[u8], x: usize) -> u32 {
    let c = &row[x * 4..x * 4 + 4];
    u32::from_le_bytes([c[0], c[1], c[2], c[3]])
}

/// warp_resolve.wgsl for one row: the winning samples' colours and depths. In three
/// passes, so the colour arithmetic runs on vector lanes: each target's sources and
/// weight (indexed loads), the interpolated colours (no branches), then the box filter
/// where a surface is compressed.
#[expect(
    clippy::too_many_arguments,
    reason = "one row's inputs and outputs, as the shader binds them"
)]
fn resolve_row(
    p: &WarpParams,
    n: &[f32],
    pos: &[f32],
    z: &[u32],
    seg: &Segments,
    colour: &[u8],
    warped: &mut [u8],
    warped_near: &mut [f32],
    s: &mut ResolveScratch,
) {
    let w = n.len();
    s.compressed.clear();
    let (c0s, c1s, fs, covered) = (
        &mut s.c0[..w],
        &mut s.c1[..w],
        &mut s.f[..w],
        &mut s.covered[..w],
    );
    for (t, (&key, out_near)) in z.iter().zip(warped_near.iter_mut()).enumerate() {
        let x = (key & KEY_X_MASK) as usize;
        let x1 = (x + 1).min(w - 1);
        let f = along(seg.inv_len[x], t as f32, pos[x]);
        let hit = key != 0;
        covered[t] = hit;
        fs[t] = f;
        c0s[t] = word(colour, x);
        c1s[t] = word(colour, x1);
        *out_near = if hit { mix(n[x], n[x1], f) } else { -1.0 };
        if hit && seg.compressed[x] {
            s.compressed.push(t);
        }
    }
    // Colours stay in 8-bit units (0..255): the shader's mix of v / 255 values, stored
    // as unorm, is the same up to float rounding.
    for ((((o, &a), &b), &f), &hit) in s.out[..w]
        .iter_mut()
        .zip(&*c0s)
        .zip(&*c1s)
        .zip(&*fs)
        .zip(&*covered)
    {
        let channel = |k: u32| {
            let (ca, cb) = (((a >> k) & 0xFF) as f32, ((b >> k) & 0xFF) as f32);
            u32::from(byte(ca * (1.0 - f) + cb * f))
        };
        let rgb = channel(0) | channel(8) << 8 | channel(16) << 16 | 0xFF00_0000;
        *o = if hit { rgb.to_le() } else { 0 };
    }
    for &t in &s.compressed {
        let key = z[t];
        let x = (key & KEY_X_MASK) as usize;
        let near = warped_near[t];
        if let Some(rgb) = gather_compressed(p, n, pos, colour, x, t as f32, near) {
            let b = [byte(rgb[0]), byte(rgb[1]), byte(rgb[2]), 255];
            s.out[t] = u32::from_ne_bytes(b);
        }
    }
    warped.copy_from_slice(bytemuck::cast_slice(&s.out[..w]));
}

/// warp_resolve.wgsl's box filter on a compressed surface (source pixels closer than one
/// target pixel apart): the mean colour of every sample of the surface landing in target
/// pixel `tf`, from x - GATHER ..= x + 1 + GATHER; None when fewer than two land there.
#[inline(never)]
fn gather_compressed(
    p: &WarpParams,
    n: &[f32],
    pos: &[f32],
    colour: &[u8],
    x: usize,
    tf: f32,
    near: f32,
) -> Option<[f32; 4]> {
    let w = n.len();
    // The position test first: it is the one that usually fails.
    let lands_here = |s: usize| {
        let (ns, ps) = (n[s], pos[s]);
        (ps - tf).abs() <= 0.5
            && ps - tf < 0.5
            && ns >= 0.0
            && (ns - near).abs() * p.key_scale <= SAME_SURFACE
    };
    // Only joined pixels get here, and the last pixel of a row is never joined.
    debug_assert!(x + 1 < w);
    // Away from the row's ends, count the samples that land first, all taps at once and
    // without branches: on a gently compressed surface (the common case) fewer than two
    // do, and the caller interpolates.
    const TAPS: usize = 2 * GATHER + 2;
    if x >= GATHER && x + 1 + GATHER < w {
        let at = x - GATHER;
        let ns: &[f32; TAPS] = n[at..at + TAPS].try_into().expect("taps");
        let ps: &[f32; TAPS] = pos[at..at + TAPS].try_into().expect("taps");
        let mut landing = 0u32;
        for i in 0..TAPS {
            let d = ps[i] - tf;
            let here = (d.abs() <= 0.5)
                & (d < 0.5)
                & (ns[i] >= 0.0)
                & ((ns[i] - near).abs() * p.key_scale <= SAME_SURFACE);
            landing += u32::from(here);
        }
        if landing < 2 {
            return None;
        }
    }
    let mut sum = [0f32; 4];
    let mut count = 0.0f32;
    let mut add = |s: usize| {
        let c = rgba8(colour, s);
        for k in 0..4 {
            sum[k] += c[k];
        }
        count += 1.0;
    };
    // x and x + 1 first, then the rest of the reach: the shader's order of summing.
    for s in [x, x + 1] {
        if lands_here(s) {
            add(s);
        }
    }
    for s in x.saturating_sub(GATHER)..=(x + 1 + GATHER).min(w - 1) {
        if s != x && s != x + 1 && lands_here(s) {
            add(s);
        }
    }
    (count >= 2.0).then(|| sum.map(|v| v / count))
}

/// fill_rows.wgsl for one row: each hole's nearest covered pixel on the background side
/// (only holes are written; the fill reads nothing else). Every hole of a run between two
/// covered pixels has the same two neighbours, so runs are decided once.
fn fill_row(warped: &[u8], warped_near: &[f32], row_source: &mut [u32]) {
    let w = warped_near.len();
    let covered = |x: usize| warped[x * 4 + 3] > 0;
    let mut left = NONE;
    let mut x = 0;
    while x < w {
        if covered(x) {
            left = x as u32;
            x += 1;
            continue;
        }
        let end = (x..w).find(|&e| covered(e)).unwrap_or(w);
        let right = if end < w { end as u32 } else { NONE };
        // Both sides covered: the farther (background) one; else whichever exists.
        let take_left = right == NONE
            || (left != NONE && warped_near[left as usize] <= warped_near[right as usize]);
        row_source[x..end].fill(if take_left { left } else { right });
        x = end;
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
