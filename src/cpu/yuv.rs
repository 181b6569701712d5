//! Decoded 8-bit 4:2:0 frames (I420, NV12) to the RGBA the CPU warp reads, with the
//! arithmetic of shaders/yuv_unpack.wgsl: chroma upsampled bilinearly from MPEG-2 siting
//! (co-sited with even columns, between rows), then the stream's matrix and range. The
//! CPU warp used to take videoconvert's RGBA, whose fast path repeats each chroma sample
//! over 2x2 pixels: stair steps along every colour edge.

use rayon::prelude::*;

use crate::gpu::{FramePixels, YuvColours};

/// Rows converted per task: enough to amortise the chroma scratch rows.
const BAND: usize = 16;

/// Converts `pixels` (I420 or NV12; RGBA is copied as it is) of `size` into `out`, tightly
/// packed RGBA8 (one little-endian u32 per pixel), on `pool`'s threads.
pub fn yuv_to_rgba(
    pixels: &FramePixels<'_>,
    size: (u32, u32),
    out: &mut Vec<u32>,
    pool: &rayon::ThreadPool,
) {
    let (w, h) = (size.0 as usize, size.1 as usize);
    out.resize(w * h, 0);
    let Some((luma, chroma, colours)) = planes(pixels) else {
        let FramePixels::Rgba { data, stride } = *pixels else {
            unreachable!("planes() takes every 4:2:0 format")
        };
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(out);
        for (dst, src) in bytes
            .chunks_exact_mut(w * 4)
            .zip(data.chunks(stride as usize))
        {
            dst.copy_from_slice(&src[..w * 4]);
        }
        return;
    };
    let convert = Converter::new(colours, (w, h));
    pool.install(|| {
        out.par_chunks_mut(w * BAND)
            .enumerate()
            .for_each(|(band, rows)| {
                let mut scratch = Scratch::new(w);
                for (i, row) in rows.chunks_exact_mut(w).enumerate() {
                    let y = band * BAND + i;
                    convert.row(luma.row(y, w), &chroma, y, &mut scratch, row);
                }
            });
    });
}

/// [`yuv_to_rgba`] averaged down to half the width (`out`: RGBA8 rows of `size.0 / 2`
/// pixels), as `super::resample` averages pairs, without the full-width frame in
/// between. `None` (nothing written) for RGBA input.
pub(super) fn yuv_to_rgba_halved(
    pixels: &FramePixels<'_>,
    size: (u32, u32),
    out: &mut [u8],
    pool: &rayon::ThreadPool,
) -> Option<()> {
    let (w, h) = (size.0 as usize, size.1 as usize);
    let (luma, chroma, colours) = planes(pixels)?;
    let half = w / 2;
    assert_eq!(out.len(), half * h * 4, "half-width frame size");
    let convert = Converter::new(colours, (w, h));
    pool.install(|| {
        out.par_chunks_mut(half * 4 * BAND)
            .enumerate()
            .for_each(|(band, rows)| {
                let mut scratch = Scratch::new(w);
                let mut full = vec![0u32; w];
                for (i, row) in rows.chunks_exact_mut(half * 4).enumerate() {
                    let y = band * BAND + i;
                    convert.row(luma.row(y, w), &chroma, y, &mut scratch, &mut full);
                    for (px, pair) in row.chunks_exact_mut(4).zip(full.chunks_exact(2)) {
                        px.copy_from_slice(&super::average_bytes(pair[0], pair[1]).to_le_bytes());
                    }
                }
            });
    });
    Some(())
}

/// The luma plane, the chroma planes and their colours; `None` for RGBA.
fn planes<'a>(pixels: &FramePixels<'a>) -> Option<(Plane<'a>, Chroma<'a>, YuvColours)> {
    match *pixels {
        FramePixels::Rgba { .. } => None,
        FramePixels::I420 {
            planes: [y, u, v],
            colours,
        } => Some((Plane(y), Chroma::Planar { u, v }, colours)),
        FramePixels::Nv12 {
            planes: [y, uv],
            colours,
        } => Some((Plane(y), Chroma::Interleaved(uv), colours)),
    }
}

/// A plane: (bytes, bytes per row).
#[derive(Clone, Copy)]
struct Plane<'a>((&'a [u8], u32));

impl<'a> Plane<'a> {
    fn row(self, y: usize, len: usize) -> &'a [u8] {
        let (data, stride) = self.0;
        &data[y * stride as usize..][..len]
    }
}

/// A decoded frame as tightly packed RGBA8 bytes, converted on the CPU warp's threads.
pub fn frame_to_rgba(pixels: &FramePixels<'_>, size: (u32, u32)) -> Vec<u8> {
    let mut px = Vec::new();
    yuv_to_rgba(pixels, size, &mut px, super::workers());
    bytemuck::cast_slice(&px).to_vec()
}

/// The chroma planes: (bytes, bytes per row).
enum Chroma<'a> {
    Planar {
        u: (&'a [u8], u32),
        v: (&'a [u8], u32),
    },
    Interleaved((&'a [u8], u32)),
}

impl Chroma<'_> {
    /// Chroma row `cy` as f32 Cb and Cr samples (`cb.len()` of them).
    fn row(&self, cy: usize, cb: &mut [f32], cr: &mut [f32]) {
        let cw = cb.len();
        match *self {
            Chroma::Planar { u, v } => {
                let u = &u.0[cy * u.1 as usize..][..cw];
                let v = &v.0[cy * v.1 as usize..][..cw];
                for (d, &s) in cb.iter_mut().zip(u) {
                    *d = f32::from(s);
                }
                for (d, &s) in cr.iter_mut().zip(v) {
                    *d = f32::from(s);
                }
            }
            Chroma::Interleaved(uv) => {
                let row = &uv.0[cy * uv.1 as usize..][..2 * cw];
                for ((b, r), s) in cb.iter_mut().zip(cr.iter_mut()).zip(row.chunks_exact(2)) {
                    *b = f32::from(s[0]);
                    *r = f32::from(s[1]);
                }
            }
        }
    }
}

struct Scratch {
    /// Two chroma rows as read, then blended into `cb0` / `cr0`, with one sample of
    /// padding repeating the last.
    cb0: Vec<f32>,
    cr0: Vec<f32>,
    cb1: Vec<f32>,
    cr1: Vec<f32>,
    /// Chroma at every pixel of the row.
    cb_px: Vec<f32>,
    cr_px: Vec<f32>,
}

impl Scratch {
    fn new(w: usize) -> Self {
        let cw = w.div_ceil(2);
        Self {
            cb0: vec![0.0; cw + 1],
            cr0: vec![0.0; cw + 1],
            cb1: vec![0.0; cw],
            cr1: vec![0.0; cw],
            cb_px: vec![0.0; 2 * cw],
            cr_px: vec![0.0; 2 * cw],
        }
    }
}

struct Converter {
    /// R, G, B rows: weights of Y, Cb, Cr code values and an offset, as 0..255.
    rows: [[f32; 4]; 3],
    size: (usize, usize),
}

impl Converter {
    fn new(colours: YuvColours, size: (usize, usize)) -> Self {
        let rows = colours
            .matrix
            .to_rgb_rows(colours.full_range)
            .map(|r| r.map(|v| v * 255.0));
        Self { rows, size }
    }

    fn row(&self, luma: &[u8], chroma: &Chroma<'_>, y: usize, s: &mut Scratch, out: &mut [u32]) {
        let (w, h) = self.size;
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        // Chroma row k sits between luma rows 2k and 2k + 1: row y samples at y / 2 - 1/4
        // (clamped at the top), i.e. weights 3/4 and 1/4 of its two nearest chroma rows.
        let fy = (y as f32 * 0.5 - 0.25).max(0.0);
        let y0 = fy as usize;
        let y1 = (y0 + 1).min(ch - 1);
        let wy = fy - y0 as f32;
        chroma.row(y0, &mut s.cb0[..cw], &mut s.cr0[..cw]);
        if wy > 0.0 {
            chroma.row(y1, &mut s.cb1, &mut s.cr1);
            blend(&mut s.cb0[..cw], &s.cb1, wy);
            blend(&mut s.cr0[..cw], &s.cr1, wy);
        }
        s.cb0[cw] = s.cb0[cw - 1];
        s.cr0[cw] = s.cr0[cw - 1];
        // Even columns sit on a chroma sample, odd ones halfway to the next.
        widen(&s.cb0, &mut s.cb_px);
        widen(&s.cr0, &mut s.cr_px);
        let [r, g, b] = self.rows;
        let chroma_px = s.cb_px[..w].iter().zip(&s.cr_px[..w]);
        for ((o, &l), (&cb, &cr)) in out.iter_mut().zip(luma).zip(chroma_px) {
            let l = f32::from(l);
            let red = to_byte(r[0] * l + r[2] * cr + r[3]);
            let green = to_byte(g[0] * l + g[1] * cb + g[2] * cr + g[3]);
            let blue = to_byte(b[0] * l + b[1] * cb + b[3]);
            *o = red | green << 8 | blue << 16 | 0xFF00_0000;
        }
    }
}

/// a = mix(a, b, t), element-wise.
fn blend(a: &mut [f32], b: &[f32], t: f32) {
    for (a, &b) in a.iter_mut().zip(b) {
        *a = lerp(*a, b, t);
    }
}

/// Per-pixel chroma of a row from its `cw + 1` samples (the last repeated).
fn widen(c: &[f32], px: &mut [f32]) {
    for (pair, ab) in px.chunks_exact_mut(2).zip(c.windows(2)) {
        pair[0] = ab[0];
        pair[1] = 0.5 * (ab[0] + ab[1]);
    }
}

/// 0..255 (clamped) to the nearest integer.
#[inline]
fn to_byte(v: f32) -> u32 {
    super::round_small(v.clamp(0.0, 255.0))
}

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}
