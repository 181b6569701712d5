//! Decoded 4:2:0 frames (8-bit I420 and NV12, 10-bit I420 and P010) to the RGBA the CPU
//! warp reads, with the arithmetic of shaders/yuv_unpack.wgsl: chroma upsampled bilinearly from MPEG-2 siting
//! (co-sited with even columns, between rows), then the stream's matrix and range. The
//! CPU warp used to take videoconvert's RGBA, whose fast path repeats each chroma sample
//! over 2x2 pixels: stair steps along every colour edge.

use rayon::prelude::*;

use crate::frame::{FramePixels, YuvColours};

/// Rows converted per task: enough to amortise the chroma scratch rows.
const BAND: usize = 16;

/// Converts `pixels` (4:2:0 planes; RGBA is copied as it is) of `size` into `out`, tightly
/// packed RGBA8 (one u32 per pixel, its bytes in memory R, G, B, A), on `pool`'s threads.
/// Panics when the planes are too small for `size`.
pub fn yuv_to_rgba(
    pixels: &FramePixels<'_>,
    size: (u32, u32),
    out: &mut Vec<u32>,
    pool: &rayon::ThreadPool,
) {
    let (w, h) = (size.0 as usize, size.1 as usize);
    out.resize(w * h, 0);
    let Some((luma, chroma, colours)) = planes(pixels, size) else {
        let FramePixels::Rgba { data, stride } = *pixels else {
            unreachable!("planes() takes every 4:2:0 format")
        };
        Plane((data, stride), Sample::U8).check(w * 4, h, "RGBA");
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
    in_bands(out, w, w, pool, |y, scratch, row| {
        convert.row(luma, &chroma, y, scratch, row);
    });
}

/// [`yuv_to_rgba`] averaged down to half the width (`out`: RGBA8 rows of `size.0 / 2`
/// pixels), as `super::resample` averages pairs, without the full-width frame in
/// between. `None` (nothing written) for RGBA input.
pub fn yuv_to_rgba_halved(
    pixels: &FramePixels<'_>,
    size: (u32, u32),
    out: &mut [u8],
    pool: &rayon::ThreadPool,
) -> Option<()> {
    let (w, h) = (size.0 as usize, size.1 as usize);
    let (luma, chroma, colours) = planes(pixels, size)?;
    let half = w / 2;
    assert_eq!(out.len(), half * h * 4, "half-width frame size");
    let convert = Converter::new(colours, (w, h));
    in_bands(out, half * 4, w, pool, |y, scratch, row| {
        let mut full = std::mem::take(&mut scratch.full);
        convert.row(luma, &chroma, y, scratch, &mut full);
        for (px, pair) in row.chunks_exact_mut(4).zip(full.chunks_exact(2)) {
            // Bytes in memory order, as `row` stores them.
            let mean = super::average_bytes(pair[0], pair[1]);
            px.copy_from_slice(&mean.to_ne_bytes());
        }
        scratch.full = full;
    });
    Some(())
}

/// Runs `each_row(y, scratch, row)` for every row of `out` (`row_len` items each), in
/// bands of rows on `pool`'s threads; each worker keeps one scratch for a frame `w` wide.
fn in_bands<T: Send>(
    out: &mut [T],
    row_len: usize,
    w: usize,
    pool: &rayon::ThreadPool,
    each_row: impl Fn(usize, &mut Scratch, &mut [T]) + Sync,
) {
    pool.install(|| {
        out.par_chunks_mut(row_len * BAND)
            .enumerate()
            .for_each_init(
                || Scratch::new(w),
                |scratch, (band, rows)| {
                    for (i, row) in rows.chunks_exact_mut(row_len).enumerate() {
                        each_row(band * BAND + i, scratch, row);
                    }
                },
            );
    });
}

/// The luma plane, the chroma planes and their colours, checked to hold a frame of
/// `size`; `None` for RGBA.
fn planes<'a>(
    pixels: &FramePixels<'a>,
    (w, h): (u32, u32),
) -> Option<(Plane<'a>, Chroma<'a>, YuvColours)> {
    let (w, h) = (w as usize, h as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let found = match *pixels {
        FramePixels::Rgba { .. } => return None,
        FramePixels::I420 {
            planes: [y, u, v],
            colours,
        }
        | FramePixels::I420Ten {
            planes: [y, u, v],
            colours,
        } => {
            let sample = if matches!(pixels, FramePixels::I420Ten { .. }) {
                Sample::Low10
            } else {
                Sample::U8
            };
            let plane = |p| Plane(p, sample);
            (plane(y), Chroma::Planar(plane(u), plane(v)), colours)
        }
        FramePixels::Nv12 {
            planes: [y, uv],
            colours,
        } => (
            Plane(y, Sample::U8),
            Chroma::Interleaved(Plane(uv, Sample::U8)),
            colours,
        ),
        FramePixels::P010 {
            planes: [y, uv],
            colours,
        } => (
            Plane(y, Sample::High10),
            Chroma::Interleaved(Plane(uv, Sample::High10)),
            colours,
        ),
    };
    let luma = found.0;
    luma.check(w * luma.1.bytes(), h, "Y");
    match found.1 {
        Chroma::Planar(u, v) => {
            u.check(cw * u.1.bytes(), ch, "U");
            v.check(cw * v.1.bytes(), ch, "V");
        }
        Chroma::Interleaved(uv) => uv.check(2 * cw * uv.1.bytes(), ch, "UV"),
    }
    Some(found)
}

/// How samples are stored.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sample {
    /// A byte.
    U8,
    /// 10 bits at the bottom of a little-endian u16 (I420_10LE).
    Low10,
    /// 10 bits at the top of a little-endian u16 (P010).
    High10,
}

impl Sample {
    fn bytes(self) -> usize {
        if self == Sample::U8 { 1 } else { 2 }
    }

    /// A stored 16-bit sample as an 8-bit code value (exactly: the two extra bits become
    /// a fraction), as shaders/yuv_unpack.wgsl scales it.
    fn scale(self) -> f32 {
        match self {
            Sample::U8 => 1.0,
            Sample::Low10 => 0.25,
            Sample::High10 => 1.0 / 256.0,
        }
    }
}

/// A plane: (bytes, bytes per row), and how its samples are stored.
#[derive(Clone, Copy)]
struct Plane<'a>((&'a [u8], u32), Sample);

impl<'a> Plane<'a> {
    /// Panics unless `rows` rows of `len` bytes fit (a frame of another size).
    fn check(self, len: usize, rows: usize, name: &str) {
        let (data, stride) = (self.0.0, self.0.1 as usize);
        assert!(
            stride >= len && data.len() >= (rows.max(1) - 1) * stride + len,
            "the {name} plane ({} bytes, rows {stride} apart) cannot hold {rows} rows of {len}",
            data.len()
        );
    }

    /// Row `y`'s first `samples` samples, as bytes.
    fn row(self, y: usize, samples: usize) -> &'a [u8] {
        let (data, stride) = self.0;
        &data[y * stride as usize..][..samples * self.1.bytes()]
    }

    /// Row `y`'s first `out.len()` samples as 8-bit code values (see [`Sample::scale`]).
    fn row_f32(self, y: usize, out: &mut [f32]) {
        let bytes = self.row(y, out.len());
        if self.1 == Sample::U8 {
            for (d, &v) in out.iter_mut().zip(bytes) {
                *d = f32::from(v);
            }
        } else {
            let scale = self.1.scale();
            for (d, v) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *d = f32::from(u16::from_le_bytes([v[0], v[1]])) * scale;
            }
        }
    }
}

/// A decoded frame as tightly packed RGBA8 bytes, converted on the CPU warp's threads.
pub fn frame_to_rgba(pixels: &FramePixels<'_>, size: (u32, u32)) -> Vec<u8> {
    let mut px = Vec::new();
    yuv_to_rgba(pixels, size, &mut px, super::workers());
    bytemuck::cast_slice(&px).to_vec()
}

/// The chroma planes.
#[derive(Clone, Copy)]
enum Chroma<'a> {
    Planar(Plane<'a>, Plane<'a>),
    /// U and V interleaved in one plane (NV12, P010).
    Interleaved(Plane<'a>),
}

impl Chroma<'_> {
    /// Chroma row `cy` as f32 Cb and Cr samples (`cb.len()` of them).
    fn row(&self, cy: usize, cb: &mut [f32], cr: &mut [f32]) {
        let cw = cb.len();
        match *self {
            Chroma::Planar(u, v) => {
                u.row_f32(cy, cb);
                v.row_f32(cy, cr);
            }
            Chroma::Interleaved(uv) if uv.1 == Sample::U8 => {
                let row = uv.row(cy, 2 * cw);
                for ((b, r), s) in cb.iter_mut().zip(cr.iter_mut()).zip(row.chunks_exact(2)) {
                    *b = f32::from(s[0]);
                    *r = f32::from(s[1]);
                }
            }
            Chroma::Interleaved(uv) => {
                let row = uv.row(cy, 2 * cw);
                let scale = uv.1.scale();
                let at = |s: &[u8], i: usize| f32::from(u16::from_le_bytes([s[i], s[i + 1]]));
                for ((b, r), s) in cb.iter_mut().zip(cr.iter_mut()).zip(row.chunks_exact(4)) {
                    *b = at(s, 0) * scale;
                    *r = at(s, 2) * scale;
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
    /// The luma row as 8-bit code values, for 10-bit planes.
    luma: Vec<f32>,
    /// One converted full-width row, for the half-width conversion.
    full: Vec<u32>,
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
            luma: Vec::new(),
            full: vec![0; w],
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

    fn row(
        &self,
        luma: Plane<'_>,
        chroma: &Chroma<'_>,
        y: usize,
        s: &mut Scratch,
        out: &mut [u32],
    ) {
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
        let (cb, cr) = (&s.cb_px[..w], &s.cr_px[..w]);
        if luma.1 == Sample::U8 {
            self.pack(luma.row(y, w), f32::from, cb, cr, out);
        } else {
            s.luma.resize(w, 0.0);
            luma.row_f32(y, &mut s.luma);
            self.pack(&s.luma, |l| l, cb, cr, out);
        }
    }

    /// One row of RGBA from its luma and per-pixel chroma (8-bit code values).
    #[inline(always)]
    fn pack<T: Copy>(
        &self,
        luma: &[T],
        value: impl Fn(T) -> f32,
        cb: &[f32],
        cr: &[f32],
        out: &mut [u32],
    ) {
        let [r, g, b] = self.rows;
        for ((o, &l), (&cb, &cr)) in out.iter_mut().zip(luma).zip(cb.iter().zip(cr)) {
            let l = value(l);
            let red = to_byte(r[0] * l + r[2] * cr + r[3]);
            let green = to_byte(g[0] * l + g[1] * cb + g[2] * cr + g[3]);
            let blue = to_byte(b[0] * l + b[1] * cb + b[3]);
            // R, G, B, A in memory on any byte order.
            *o = (red | green << 8 | blue << 16 | 0xFF00_0000).to_le();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
    }

    fn planes_of(size: (usize, usize), seed: u32) -> [Vec<u8>; 3] {
        let mut s = seed;
        let mut byte = move || {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (s >> 16) as u8
        };
        let (cw, ch) = (size.0.div_ceil(2), size.1.div_ceil(2));
        [
            (0..size.0 * size.1).map(|_| byte()).collect(),
            (0..cw * ch).map(|_| byte()).collect(),
            (0..cw * ch).map(|_| byte()).collect(),
        ]
    }

    fn i420<'a>(p: &'a [Vec<u8>; 3], w: usize) -> FramePixels<'a> {
        let cw = w.div_ceil(2) as u32;
        FramePixels::I420 {
            planes: [(&p[0], w as u32), (&p[1], cw), (&p[2], cw)],
            colours: YuvColours {
                matrix: crate::frame::YuvMatrix::Bt709,
                full_range: false,
            },
        }
    }

    #[test]
    fn halving_in_the_conversion_is_converting_then_averaging_pairs() {
        for (w, h) in [(2, 1), (4, 17), (34, 33), (64, 16)] {
            let p = planes_of((w, h), (w * 31 + h) as u32);
            let pixels = i420(&p, w);
            let mut full = Vec::new();
            yuv_to_rgba(&pixels, (w as u32, h as u32), &mut full, &pool());
            let want: Vec<u8> = full
                .chunks_exact(2)
                .flat_map(|pair| super::super::average_bytes(pair[0], pair[1]).to_ne_bytes())
                .collect();
            let mut half = vec![0u8; w / 2 * h * 4];
            yuv_to_rgba_halved(&pixels, (w as u32, h as u32), &mut half, &pool()).unwrap();
            assert!(half == want, "{w}x{h}");
        }
    }

    #[test]
    fn ten_bit_planes_convert_as_their_eight_bit_values() {
        // 10-bit samples of 4 v are the 8-bit samples v exactly; odd size, NV12-free.
        let (w, h) = (37usize, 9usize);
        let p8 = planes_of((w, h), 7);
        let widen = |p: &Vec<u8>| -> Vec<u8> {
            p.iter()
                .flat_map(|&v| (u16::from(v) * 4).to_le_bytes())
                .collect()
        };
        let p10 = [widen(&p8[0]), widen(&p8[1]), widen(&p8[2])];
        let cw = w.div_ceil(2) as u32;
        let colours = YuvColours {
            matrix: crate::frame::YuvMatrix::Bt2020,
            full_range: false,
        };
        // 10-bit planes with the given luma and p10's chroma.
        fn ten_with<'a>(
            luma: &'a [u8],
            chroma: &'a [Vec<u8>],
            (w, cw): (u32, u32),
            colours: YuvColours,
        ) -> FramePixels<'a> {
            FramePixels::I420Ten {
                planes: [(luma, 2 * w), (&chroma[0], 2 * cw), (&chroma[1], 2 * cw)],
                colours,
            }
        }
        let ten = ten_with(&p10[0], &p10[1..], (w as u32, cw), colours);
        let eight = FramePixels::I420 {
            planes: [(&p8[0], w as u32), (&p8[1], cw), (&p8[2], cw)],
            colours,
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        yuv_to_rgba(&ten, (w as u32, h as u32), &mut a, &pool());
        yuv_to_rgba(&eight, (w as u32, h as u32), &mut b, &pool());
        assert!(a == b);
        // And the two extra bits count: one 10-bit step moves some pixel.
        let mut nudged = p10.clone();
        for v in nudged[0].chunks_exact_mut(2) {
            let s = u16::from_le_bytes([v[0], v[1]]).saturating_add(2);
            v.copy_from_slice(&s.to_le_bytes());
        }
        let nudged_px = ten_with(&nudged[0], &p10[1..], (w as u32, cw), colours);
        let mut c = Vec::new();
        yuv_to_rgba(&nudged_px, (w as u32, h as u32), &mut c, &pool());
        assert!(a != c);
    }

    #[test]
    fn p010_converts_as_its_eight_bit_values_and_keeps_two_more_bits() {
        // P010 holds 10 bits at the top of each u16: 8-bit v is stored as v << 8. Odd size,
        // with the interleaved chroma plane wider than it needs to be.
        let (w, h) = (23usize, 11usize);
        let p8 = planes_of((w, h), 3);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let luma: Vec<u8> = p8[0]
            .iter()
            .flat_map(|&v| (u16::from(v) << 8).to_le_bytes())
            .collect();
        let uv_stride = 4 * cw + 8;
        let mut uv = vec![0u8; uv_stride * ch];
        for cy in 0..ch {
            for cx in 0..cw {
                let at = cy * uv_stride + 4 * cx;
                let (u, v) = (p8[1][cy * cw + cx], p8[2][cy * cw + cx]);
                uv[at..at + 2].copy_from_slice(&(u16::from(u) << 8).to_le_bytes());
                uv[at + 2..at + 4].copy_from_slice(&(u16::from(v) << 8).to_le_bytes());
            }
        }
        let colours = YuvColours {
            matrix: crate::frame::YuvMatrix::Bt2020,
            full_range: false,
        };
        let p010 = |luma: &[u8]| {
            let mut out = Vec::new();
            let pixels = FramePixels::P010 {
                planes: [(luma, 2 * w as u32), (&uv, uv_stride as u32)],
                colours,
            };
            yuv_to_rgba(&pixels, (w as u32, h as u32), &mut out, &pool());
            out
        };
        let eight = FramePixels::I420 {
            planes: [(&p8[0], w as u32), (&p8[1], cw as u32), (&p8[2], cw as u32)],
            colours,
        };
        let mut want = Vec::new();
        yuv_to_rgba(&eight, (w as u32, h as u32), &mut want, &pool());
        let got = p010(&luma);
        assert!(got == want);
        // One 10-bit step (64 in P010's u16) up in every luma sample moves some pixel.
        let nudged: Vec<u8> = luma
            .chunks_exact(2)
            .flat_map(|v| {
                u16::from_le_bytes([v[0], v[1]])
                    .saturating_add(64)
                    .to_le_bytes()
            })
            .collect();
        assert!(p010(&nudged) != got);
    }

    #[test]
    fn tiny_frames_convert_and_a_flat_colour_stays_flat() {
        // Every size up to 3x3 and one row past a band: mid grey in, mid grey out.
        for (w, h) in [(1usize, 1usize), (2, 1), (1, 2), (3, 3), (5, 17)] {
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let p = [
                vec![126u8; w * h],
                vec![128u8; cw * ch],
                vec![128u8; cw * ch],
            ];
            let mut out = Vec::new();
            yuv_to_rgba(&i420(&p, w), (w as u32, h as u32), &mut out, &pool());
            let bytes: &[u8] = bytemuck::cast_slice(&out);
            assert_eq!(bytes.len(), w * h * 4);
            // (126 - 16) / 219 of full scale = 128.08.
            assert!(
                bytes.chunks_exact(4).all(|px| px == [128, 128, 128, 255]),
                "{w}x{h}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "cannot hold")]
    fn planes_of_another_size_are_refused() {
        let p = planes_of((8, 8), 1);
        yuv_to_rgba(&i420(&p, 8), (16, 8), &mut Vec::new(), &pool());
    }
}
