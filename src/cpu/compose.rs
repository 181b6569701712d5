//! The eye views packed into the output layout (shaders/compose.wgsl) and, for video
//! encoders, converted to I420 in the same pass over the rows (shaders/yuv_pack.wgsl).

use super::{CpuWarper, FrameIn, Rgba, band_rows, run_bands, unorm8};
use crate::encode::FrameInput;
use crate::gpu::{Composer, I420Layout};
use crate::layout::{Anaglyph, Layout};

type Rows = [[f32; 4]; 3];

pub struct CpuComposer {
    layout: Layout,
    anaglyph: (Rows, Rows),
    /// Size of each eye view (the warp's work size).
    eye: (u32, u32),
    out: (u32, u32),
    /// The part of `out` holding the picture; the rest repeats the edge.
    content: (u32, u32),
    /// I420 conversion rows (Y, Cb, Cr) when the encoder takes I420.
    yuv: Option<(I420Layout, Rows)>,
    /// Bytes of one output frame.
    frame_len: usize,
    frame: Vec<u8>,
}

impl CpuComposer {
    /// Whether the CPU can compose `layout` from eyes warped at `work` for frames of
    /// `frame` size: every layout that shows whole eyes at the warp's size. The
    /// inspection layouts (grid, depth, holes) and eyes squeezed after the warp
    /// (`--warp-resolution input` with a half layout) need the GPU.
    pub fn supports(layout: Layout, frame: (u32, u32), work: (u32, u32)) -> bool {
        let shows_eyes = !matches!(layout, Layout::Grid | Layout::Depth | Layout::Holes);
        shows_eyes && layout.shown_eye_size(frame.0, frame.1) == work
    }

    /// The output frame for eyes of `work` size (input frames of `frame` size), in the
    /// format the encoder takes.
    pub fn new(
        layout: Layout,
        anaglyph: Anaglyph,
        frame: (u32, u32),
        work: (u32, u32),
        even: bool,
        input: FrameInput,
    ) -> Self {
        assert!(Self::supports(layout, frame, work), "layout needs the GPU");
        let (out, content) = Composer::frame_sizes(layout, frame, even);
        let yuv = match input {
            FrameInput::Rgba => None,
            FrameInput::I420(matrix) => Some((I420Layout::new(out.0, out.1), matrix.rows())),
        };
        let len = match &yuv {
            Some((l, _)) => l.len as usize,
            None => out.0 as usize * out.1 as usize * 4,
        };
        Self {
            layout,
            anaglyph: anaglyph.matrices(),
            eye: work,
            out,
            content,
            yuv,
            frame_len: len,
            frame: Vec::new(),
        }
    }

    pub fn output_size(&self) -> (u32, u32) {
        self.out
    }

    /// Bytes between rows of RGBA output (I420 output uses GStreamer's layout).
    pub fn stride_bytes(&self) -> u32 {
        self.out.0 * 4
    }

    /// Composes the warper's eyes for `input`, the frame it last warped; returns the
    /// frame for `Encoder::push_video`.
    pub fn compose<'a>(&mut self, warper: &CpuWarper, input: impl Into<FrameIn<'a>>) -> &[u8] {
        let mut frame = std::mem::take(&mut self.frame);
        self.compose_into(warper, input.into(), &mut frame);
        self.frame = frame;
        &self.frame
    }

    /// [`Self::compose`] into `frame` (resized to fit), for frames handed to another
    /// thread.
    pub fn compose_into<'a>(
        &self,
        warper: &CpuWarper,
        input: impl Into<FrameIn<'a>>,
        frame: &mut Vec<u8>,
    ) {
        assert_eq!(warper.work_size(), self.eye, "eye size changed");
        frame.resize(self.frame_len, 0);
        let input: FrameIn<'_> = input.into();
        let (left, right) = warper.views(input);
        let pool = warper.pool();
        let rows = RowSource {
            layout: self.layout,
            anaglyph: self.anaglyph,
            left,
            right,
            out_w: self.out.0 as usize,
            content: (self.content.0 as usize, self.content.1 as usize),
        };
        let (w, h) = (self.out.0 as usize, self.out.1 as usize);
        match &self.yuv {
            None => {
                let per_band = band_rows(h, pool);
                let bands: Vec<_> = frame.chunks_mut(per_band * w * 4).enumerate().collect();
                run_bands(pool, bands, |(band, out)| {
                    for (i, row) in out.chunks_exact_mut(w * 4).enumerate() {
                        rows.fill(band * per_band + i, row);
                    }
                });
            }
            Some((layout, coefs)) => {
                let pairs = band_rows(h / 2, pool);
                let (y_plane, chroma) = frame.split_at_mut(layout.u_offset as usize);
                let (u_plane, v_plane) =
                    chroma.split_at_mut((layout.v_offset - layout.u_offset) as usize);
                let (ys, cs) = (layout.y_stride as usize, layout.c_stride as usize);
                let bands: Vec<_> = y_plane
                    .chunks_mut(pairs * 2 * ys)
                    .zip(u_plane.chunks_mut(pairs * cs))
                    .zip(v_plane.chunks_mut(pairs * cs))
                    .enumerate()
                    .collect();
                run_bands(pool, bands, |(band, ((y_out, u_out), v_out))| {
                    let mut top = vec![0u8; w * 4];
                    let mut bottom = vec![0u8; w * 4];
                    for (i, ((y_pair, u_row), v_row)) in y_out
                        .chunks_exact_mut(2 * ys)
                        .zip(u_out.chunks_exact_mut(cs))
                        .zip(v_out.chunks_exact_mut(cs))
                        .enumerate()
                    {
                        let y = 2 * (band * pairs + i);
                        rows.fill(y, &mut top);
                        rows.fill(y + 1, &mut bottom);
                        pack_pair(&top, &bottom, coefs, y_pair, u_row, v_row, ys);
                    }
                });
            }
        }
    }
}

/// Produces output rows from the eye views (compose.wgsl without the inspection layouts).
struct RowSource<'a> {
    layout: Layout,
    anaglyph: (Rows, Rows),
    left: Rgba<'a>,
    right: Rgba<'a>,
    out_w: usize,
    content: (usize, usize),
}

impl RowSource<'_> {
    /// Output row `y` as RGBA8 (padding rows and columns repeat the content's edge).
    fn fill(&self, y: usize, out: &mut [u8]) {
        let (cw, ch) = self.content;
        let py = y.min(ch - 1);
        let copy = |out: &mut [u8], x0: usize, x1: usize, src: &[u8], sx: usize| {
            out[x0 * 4..x1 * 4].copy_from_slice(&src[sx * 4..(sx + x1 - x0) * 4]);
        };
        match self.layout {
            Layout::Sbs | Layout::HalfSbs | Layout::Cross | Layout::HalfCross => {
                let (first, second) = if matches!(self.layout, Layout::Sbs | Layout::HalfSbs) {
                    (self.left, self.right)
                } else {
                    (self.right, self.left)
                };
                let half = cw / 2;
                copy(out, 0, half, first.row(py), 0);
                copy(out, half, cw, second.row(py), 0);
            }
            Layout::Tb | Layout::HalfTb => {
                let half = ch / 2;
                let src = if py < half {
                    self.left.row(py)
                } else {
                    self.right.row(py - half)
                };
                copy(out, 0, cw, src, 0);
            }
            Layout::Left | Layout::Right => {
                let view = if self.layout == Layout::Left {
                    self.left
                } else {
                    self.right
                };
                copy(out, 0, cw, view.row(py), 0);
            }
            Layout::Anaglyph => {
                let (l, r) = (self.left.row(py), self.right.row(py));
                let (lm, rm) = &self.anaglyph;
                for x in 0..cw {
                    let lc = [0, 1, 2].map(|k| f32::from(l[x * 4 + k]) / 255.0);
                    let rc = [0, 1, 2].map(|k| f32::from(r[x * 4 + k]) / 255.0);
                    for k in 0..3 {
                        let dot =
                            |m: &[f32; 4], c: &[f32; 3]| m[0] * c[0] + m[1] * c[1] + m[2] * c[2];
                        out[x * 4 + k] = unorm8(dot(&lm[k], &lc) + dot(&rm[k], &rc));
                    }
                }
            }
            Layout::Grid | Layout::Depth | Layout::Holes => unreachable!("checked in new"),
        }
        for x in 0..cw {
            out[x * 4 + 3] = 255;
        }
        for x in cw..self.out_w {
            out.copy_within((cw - 1) * 4..cw * 4, x * 4);
        }
    }
}

/// Fixed-point weights (16 fraction bits) of one conversion row applied to 8-bit R, G,
/// B, or to a sum of `taps` 8-bit values: integer arithmetic the compiler vectorises.
/// The code values are the float row's rounded to nearest (ties may differ by one level).
#[derive(Clone, Copy)]
struct Fixed {
    w: [i32; 3],
    offset: i32,
}

impl Fixed {
    fn new(m: &[f32; 4], taps: f32) -> Self {
        let scale = 65536.0 / (255.0 * taps);
        Self {
            w: [0, 1, 2].map(|k| (m[k] * scale).round() as i32),
            // + 0.5 of a level: the shift then rounds to nearest.
            offset: ((m[3] + 0.5) * 65536.0).round() as i32,
        }
    }

    #[inline]
    fn code(&self, r: i32, g: i32, b: i32) -> u8 {
        ((self.w[0] * r + self.w[1] * g + self.w[2] * b + self.offset) >> 16).clamp(0, 255) as u8
    }
}

/// yuv_pack.wgsl for two RGBA rows: their Y rows (columns past the width repeat the last
/// one) and the chroma row between them, MPEG-2 sited: [1 2 1] / 4 across columns around
/// each even column, averaged over the two rows (a sum of eight taps here).
fn pack_pair(
    top: &[u8],
    bottom: &[u8],
    [y_row, cb_row, cr_row]: &Rows,
    y_out: &mut [u8],
    u_out: &mut [u8],
    v_out: &mut [u8],
    y_stride: usize,
) {
    let w = top.len() / 4;
    let y_m = Fixed::new(y_row, 1.0);
    let cb_m = Fixed::new(cb_row, 8.0);
    let cr_m = Fixed::new(cr_row, 8.0);
    let (y_top, y_bottom) = y_out.split_at_mut(y_stride);
    for (row, out) in [(top, &mut *y_top), (bottom, &mut *y_bottom)] {
        for (o, p) in out.iter_mut().zip(row.chunks_exact(4)) {
            *o = y_m.code(i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
        }
        let last = out[w - 1];
        out[w..].fill(last);
    }
    // The two rows' sum per channel at column x (clamped to the row).
    let column = |x: usize| -> [i32; 3] {
        let x = x.min(w - 1) * 4;
        let (t, b) = (&top[x..x + 3], &bottom[x..x + 3]);
        [
            i32::from(t[0]) + i32::from(b[0]),
            i32::from(t[1]) + i32::from(b[1]),
            i32::from(t[2]) + i32::from(b[2]),
        ]
    };
    // Each chroma sample reads columns x - 1, x and x + 1 (x even), so the right column
    // of one is the left column of the next.
    let mut left = column(0);
    for (i, (u, v)) in u_out.iter_mut().zip(v_out.iter_mut()).enumerate() {
        let x = 2 * i;
        let (mid, right) = (column(x), column(x + 1));
        let r = left[0] + 2 * mid[0] + right[0];
        let g = left[1] + 2 * mid[1] + right[1];
        let b = left[2] + 2 * mid[2] + right[2];
        *u = cb_m.code(r, g, b);
        *v = cr_m.code(r, g, b);
        left = right;
    }
}
