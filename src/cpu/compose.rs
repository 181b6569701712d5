//! The eye views packed into the output layout (shaders/compose.wgsl) and, for video
//! encoders, converted to I420 in the same pass over the rows (shaders/yuv_pack.wgsl).

use super::{CpuWarper, FrameIn, Rgba, band_rows, run_bands, unorm8};
use crate::frame::I420Layout;
use crate::layout::{Anaglyph, Canvas, Layout, Rect};
use crate::media::encode::FrameInput;
use crate::vr180::{VrMap, VrPlacement};

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
    /// The frame the eyes are shown in (bars around the warped picture with `--autocrop`
    /// keeping them).
    canvas: Canvas,
    /// `--floating-window` bands: fractions of the picture's width.
    window: [f32; 2],
    /// `--layout vr180`: `vr180::VrPlacement::shader` for the eye's aspect, and the map
    /// built from it.
    vr: [f32; 4],
    vr_map: Option<VrMap>,
    /// The encoder's input format, kept for [`Self::with_canvas`].
    input: FrameInput,
    even: bool,
}

impl CpuComposer {
    /// Whether the CPU can compose `layout` from eyes warped at `work` for frames of
    /// `frame` size: every layout that shows whole eyes at the warp's size. The
    /// inspection layouts (grid, depth, holes) and eyes squeezed after the warp
    /// (`--warp-resolution input` with a half layout) need the GPU.
    pub fn supports(layout: Layout, frame: (u32, u32), work: (u32, u32)) -> bool {
        layout.shows_eyes() && layout.shown_eye_size(frame.0, frame.1) == work
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
        let mut composer = Self {
            layout,
            anaglyph: anaglyph.matrices(),
            eye: work,
            out: (0, 0),
            content: (0, 0),
            yuv: None,
            frame_len: 0,
            frame: Vec::new(),
            canvas: Canvas::whole(frame),
            window: [0.0; 2],
            vr: VrPlacement::default().shader(work.0 as f32 / work.1.max(1) as f32),
            vr_map: None,
            input,
            even,
        };
        composer.size_for(Canvas::whole(frame));
        composer
    }

    /// Places the picture on the hemisphere as `vr` says (`--layout vr180`).
    pub fn with_vr(mut self, vr: VrPlacement) -> Self {
        self.vr = vr.shader(self.eye.0 as f32 / self.eye.1.max(1) as f32);
        self.build_vr_map();
        self
    }

    /// Shows the warped picture inside `canvas`, black around it (`--autocrop` keeping
    /// the bars): the output has the canvas's size.
    pub fn with_canvas(mut self, canvas: Canvas) -> Self {
        self.size_for(canvas);
        self
    }

    fn size_for(&mut self, canvas: Canvas) {
        let (out, content) = self.layout.frame_sizes(canvas.size, self.even);
        self.yuv = match self.input {
            FrameInput::Rgba => None,
            FrameInput::HalfFloat => {
                unreachable!("16-bit output is composed on the GPU (backend::choose_device)")
            }
            FrameInput::I420(matrix) => Some((I420Layout::new(out.0, out.1), matrix.rows())),
        };
        self.frame_len = match &self.yuv {
            Some((l, _)) => l.len as usize,
            None => out.0 as usize * out.1 as usize * 4,
        };
        (self.out, self.content, self.canvas) = (out, content, canvas);
        self.build_vr_map();
    }

    /// `--layout vr180`: where each pixel of an eye's half looks, worked out once for the
    /// output's size and placement (the frames only sample along it).
    fn build_vr_map(&mut self) {
        self.vr_map = (self.layout == Layout::Vr180)
            .then(|| VrMap::new((self.content.0 / 2, self.content.1), self.vr));
    }

    /// `--floating-window` for the next frames: black bands over the left eye's left edge
    /// and the right eye's right edge, as fractions of the picture's width.
    pub fn set_window(&mut self, [left, right]: [f32; 2]) {
        self.window = [left, right];
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
        frame.resize(self.frame_len, 0);
        self.compose_to(warper, input, frame);
    }

    /// Bytes of one composed frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// [`Self::compose`] into `frame`, exactly [`Self::frame_len`] bytes: the encoder's own
    /// frame buffer, so the frame is not copied again on its way.
    pub fn compose_to<'a>(
        &self,
        warper: &CpuWarper,
        input: impl Into<FrameIn<'a>>,
        frame: &mut [u8],
    ) {
        assert_eq!(warper.work_size(), self.eye, "eye size changed");
        assert_eq!(frame.len(), self.frame_len, "frame buffer size");
        let input: FrameIn<'_> = input.into();
        let (left, right) = warper.views(input);
        let pool = warper.pool();
        let content = (self.content.0 as usize, self.content.1 as usize);
        let region = match self.layout {
            Layout::Sbs | Layout::HalfSbs | Layout::Cross | Layout::HalfCross | Layout::Vr180 => {
                (content.0 / 2, content.1)
            }
            Layout::Tb | Layout::HalfTb => (content.0, content.1 / 2),
            _ => content,
        };
        let picture = self
            .canvas
            .picture_in((region.0 as u32, region.1 as u32), self.eye);
        let rows = RowSource {
            layout: self.layout,
            anaglyph: self.anaglyph,
            left,
            right,
            out_w: self.out.0 as usize,
            content,
            region,
            picture,
            window: self.window.map(|f| f * picture.w as f32),
            vr_map: self.vr_map.as_ref(),
        };
        let (w, h) = (self.out.0 as usize, self.out.1 as usize);
        match &self.yuv {
            None => {
                let per_band = band_rows(h, pool);
                let bands: Vec<_> = frame.chunks_mut(per_band * w * 4).enumerate().collect();
                run_bands(pool, bands, |(band, out)| {
                    for (i, row) in out.chunks_exact_mut(w * 4).enumerate() {
                        rows.fill(band * per_band + i, row, true);
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
                    // Words, so pack_pair reads whole pixels.
                    let mut top = vec![0u32; w];
                    let mut bottom = vec![0u32; w];
                    let mut sums = ColumnSums::new(w);
                    for (i, ((y_pair, u_row), v_row)) in y_out
                        .chunks_exact_mut(2 * ys)
                        .zip(u_out.chunks_exact_mut(cs))
                        .zip(v_out.chunks_exact_mut(cs))
                        .enumerate()
                    {
                        let y = 2 * (band * pairs + i);
                        rows.fill(y, bytemuck::cast_slice_mut(&mut top), false);
                        rows.fill(y + 1, bytemuck::cast_slice_mut(&mut bottom), false);
                        pack_pair(&top, &bottom, coefs, y_pair, u_row, v_row, ys, &mut sums);
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
    /// Each eye's region of the output, and where its picture sits in it (the rest is
    /// black); the views are the picture's size.
    region: (usize, usize),
    picture: Rect,
    /// `--floating-window` bands in output pixels: the left eye's left edge, the right
    /// eye's right edge.
    window: [f32; 2],
    /// `--layout vr180`: where each pixel of an eye's half looks in the picture.
    vr_map: Option<&'a VrMap>,
}

impl RowSource<'_> {
    /// Row `ry` of an eye's region into `out` (the region's width): the picture's row
    /// where it has one, black elsewhere, darkened under the eye's floating-window band
    /// (compose.wgsl `eye_pixel`).
    fn eye_row(&self, view: Rgba<'_>, left: bool, ry: usize, out: &mut [u8]) {
        let p = &self.picture;
        let (x0, y0) = (p.x as usize, p.y as usize);
        let (pw, ph) = (p.w as usize, p.h as usize);
        if ry < y0 || ry >= y0 + ph {
            out.fill(0);
            return;
        }
        out[..x0 * 4].fill(0);
        out[(x0 + pw) * 4..].fill(0);
        let row = &mut out[x0 * 4..(x0 + pw) * 4];
        row.copy_from_slice(&view.row(ry - y0)[..pw * 4]);
        let band = if left { self.window[0] } else { self.window[1] };
        if band <= 0.0 {
            return;
        }
        // Whole covered pixels, then the one the band's edge falls in (anti-aliased).
        for i in 0..(band.ceil() as usize).min(pw) {
            let cover = (band - i as f32).clamp(0.0, 1.0);
            let x = if left { i } else { pw - 1 - i };
            for c in &mut row[x * 4..x * 4 + 3] {
                *c = unorm8(f32::from(*c) / 255.0 * (1.0 - cover));
            }
        }
    }

    /// Output row `y` as RGBA8 (padding rows and columns repeat the content's edge).
    /// `opaque`: alpha set to 255 (RGBA output); the I420 pack reads only R, G and B.
    fn fill(&self, y: usize, out: &mut [u8], opaque: bool) {
        let (cw, ch) = self.content;
        let (rw, rh) = self.region;
        let py = y.min(ch - 1);
        match self.layout {
            Layout::Sbs | Layout::HalfSbs | Layout::Cross | Layout::HalfCross => {
                let left_first = matches!(self.layout, Layout::Sbs | Layout::HalfSbs);
                let (first, second) = out[..cw * 4].split_at_mut(rw * 4);
                let (l, r) = if left_first {
                    (first, second)
                } else {
                    (second, first)
                };
                self.eye_row(self.left, true, py, l);
                self.eye_row(self.right, false, py, r);
            }
            Layout::Tb | Layout::HalfTb => {
                if py < rh {
                    self.eye_row(self.left, true, py, &mut out[..cw * 4]);
                } else {
                    self.eye_row(self.right, false, py - rh, &mut out[..cw * 4]);
                }
            }
            Layout::Left => self.eye_row(self.left, true, py, &mut out[..cw * 4]),
            // A novel view (GPU only) is drawn where the right eye goes.
            Layout::Right | Layout::Novel => {
                self.eye_row(self.right, false, py, &mut out[..cw * 4])
            }
            Layout::Anaglyph => {
                // The eyes' rows as they are, unless bars or bands change them.
                let plain = self.picture == Rect::whole((rw as u32, rh as u32))
                    && self.window == [0.0, 0.0];
                let (mut lbuf, mut rbuf) = (Vec::new(), Vec::new());
                let (l, r) = if plain {
                    (self.left.row(py), self.right.row(py))
                } else {
                    lbuf.resize(cw * 4, 0);
                    rbuf.resize(cw * 4, 0);
                    self.eye_row(self.left, true, py, &mut lbuf);
                    self.eye_row(self.right, false, py, &mut rbuf);
                    (&lbuf[..], &rbuf[..])
                };
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
            Layout::Vr180 => {
                // Each eye's half: the hemisphere's pixel looks at a point of the picture
                // (compose.wgsl vr180_eye), sampled bilinearly like the GPU's sampler.
                let map = self.vr_map.expect("built with the layout");
                for (i, view) in [self.left, self.right].into_iter().enumerate() {
                    let half = &mut out[i * rw * 4..(i + 1) * rw * 4];
                    for (x, px) in half.chunks_exact_mut(4).enumerate() {
                        let rgb = map.at(x, py).map_or([0; 3], |t| bilinear(view, t));
                        px[..3].copy_from_slice(&rgb);
                    }
                }
            }
            Layout::Grid | Layout::Depth | Layout::Holes | Layout::Rgbd | Layout::HalfRgbd => {
                unreachable!("checked in new")
            }
        }
        if opaque {
            for x in 0..cw {
                out[x * 4 + 3] = 255;
            }
        }
        for x in cw..self.out_w {
            out.copy_within((cw - 1) * 4..cw * 4, x * 4);
        }
    }
}

/// The colour of `view` at `t` (0..1 both ways), interpolated between the four nearest
/// texel centres with edges clamped: what a GPU linear sampler gives.
fn bilinear(view: Rgba<'_>, t: glam::Vec2) -> [u8; 3] {
    let (w, h) = (view.size.0 as i32, view.size.1 as i32);
    let x = t.x * w as f32 - 0.5;
    let y = t.y * h as f32 - 0.5;
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let at = |xx: i32, yy: i32, c: usize| {
        let (xx, yy) = (xx.clamp(0, w - 1) as usize, yy.clamp(0, h - 1) as usize);
        f32::from(view.row(yy)[xx * 4 + c])
    };
    let (x0, y0) = (x0 as i32, y0 as i32);
    [0, 1, 2].map(|c| {
        let top = at(x0, y0, c) * (1.0 - fx) + at(x0 + 1, y0, c) * fx;
        let bottom = at(x0, y0 + 1, c) * (1.0 - fx) + at(x0 + 1, y0 + 1, c) * fx;
        unorm8((top * (1.0 - fy) + bottom * fy) / 255.0)
    })
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

/// The two rows' sums per channel (R, G, B) at the even and the odd columns, so the
/// chroma filter reads plain integer arrays at unit stride, which the compiler vectorises.
pub(super) struct ColumnSums {
    even: [Vec<i32>; 3],
    odd: [Vec<i32>; 3],
}

impl ColumnSums {
    pub(super) fn new(width: usize) -> Self {
        let pairs = || std::array::from_fn(|_| vec![0; width / 2]);
        Self {
            even: pairs(),
            odd: pairs(),
        }
    }
}

/// An RGBA pixel's R, G and B, from its four bytes read as one word (in memory order):
/// shifts and masks on whole words vectorise where byte loads do not.
#[inline]
fn channels(p: u32) -> [i32; 3] {
    let p = u32::from_le(p);
    [p & 0xFF, (p >> 8) & 0xFF, (p >> 16) & 0xFF].map(|c| c as i32)
}

/// yuv_pack.wgsl for two RGBA rows (one word per pixel): their Y rows (columns past the
/// width repeat the last one) and the chroma row between them, MPEG-2 sited: [1 2 1] / 4
/// across columns around each even column, averaged over the two rows (a sum of eight
/// taps here).
#[expect(
    clippy::too_many_arguments,
    reason = "the rows and planes of one pair, as the shader reads them"
)]
fn pack_pair(
    top: &[u32],
    bottom: &[u32],
    [y_row, cb_row, cr_row]: &Rows,
    y_out: &mut [u8],
    u_out: &mut [u8],
    v_out: &mut [u8],
    y_stride: usize,
    sums: &mut ColumnSums,
) {
    let w = top.len();
    let y_m = Fixed::new(y_row, 1.0);
    let cb_m = Fixed::new(cb_row, 8.0);
    let cr_m = Fixed::new(cr_row, 8.0);
    let (y_top, y_bottom) = y_out.split_at_mut(y_stride);
    for (row, out) in [(top, &mut *y_top), (bottom, &mut *y_bottom)] {
        for (o, &p) in out.iter_mut().zip(row) {
            let [r, g, b] = channels(p);
            *o = y_m.code(r, g, b);
        }
        let last = out[w - 1];
        out[w..].fill(last);
    }
    // The two rows' sum per channel at column x (clamped to the row).
    let column = |x: usize| -> [i32; 3] {
        let x = x.min(w - 1);
        let (t, b) = (channels(top[x]), channels(bottom[x]));
        [t[0] + b[0], t[1] + b[1], t[2] + b[2]]
    };
    let pairs = w / 2;
    let ColumnSums { even, odd } = sums;
    for c in 0..3 {
        let (e, o) = (&mut even[c][..pairs], &mut odd[c][..pairs]);
        let (t2, b2) = (
            top[..2 * pairs].chunks_exact(2),
            bottom[..2 * pairs].chunks_exact(2),
        );
        for (((e, o), t), b) in e.iter_mut().zip(o.iter_mut()).zip(t2).zip(b2) {
            let sum = |k: usize| channels(t[k])[c] + channels(b[k])[c];
            (*e, *o) = (sum(0), sum(1));
        }
    }
    // Sample i reads columns 2i - 1, 2i and 2i + 1: odd[i - 1], even[i] and odd[i].
    // Samples 1 ..= (w - 2) / 2 need no clamping; a loop over equal-length slices.
    let n = u_out.len();
    let inner = (w.saturating_sub(2) / 2).min(n.saturating_sub(1));
    if inner > 0 {
        let [er, eg, eb] = even.each_ref().map(|a| &a[1..1 + inner]);
        let [lr, lg, lb] = odd.each_ref().map(|a| &a[..inner]);
        let [rr, rg, rb] = odd.each_ref().map(|a| &a[1..1 + inner]);
        let (us, vs) = (&mut u_out[1..1 + inner], &mut v_out[1..1 + inner]);
        for j in 0..inner {
            let r = lr[j] + 2 * er[j] + rr[j];
            let g = lg[j] + 2 * eg[j] + rg[j];
            let b = lb[j] + 2 * eb[j] + rb[j];
            us[j] = cb_m.code(r, g, b);
            vs[j] = cr_m.code(r, g, b);
        }
    }
    for i in std::iter::once(0).chain(1 + inner..n) {
        let x = 2 * i;
        let (l, m, r) = (column(x.saturating_sub(1)), column(x), column(x + 1));
        let tap = |c: usize| l[c] + 2 * m[c] + r[c];
        let (r, g, b) = (tap(0), tap(1), tap(2));
        u_out[i] = cb_m.code(r, g, b);
        v_out[i] = cr_m.code(r, g, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::YuvMatrix;

    /// yuv_pack.wgsl's formulas one sample at a time, in the fixed point `pack_pair` uses.
    /// Returns both Y rows, and the U row followed by the V row.
    fn reference(top: &[u8], bottom: &[u8], rows: &Rows, cw: usize) -> (Vec<u8>, Vec<u8>) {
        let w = top.len() / 4;
        let y_m = Fixed::new(&rows[0], 1.0);
        let (cb_m, cr_m) = (Fixed::new(&rows[1], 8.0), Fixed::new(&rows[2], 8.0));
        let y: Vec<u8> = [top, bottom]
            .iter()
            .flat_map(|row| {
                (0..w).map(|x| {
                    let p = &row[x * 4..];
                    y_m.code(p[0].into(), p[1].into(), p[2].into())
                })
            })
            .collect();
        let at = |row: &[u8], x: usize, c: usize| i32::from(row[x.min(w - 1) * 4 + c]);
        let sum = |x: usize, c: usize| at(top, x, c) + at(bottom, x, c);
        let (mut u, mut v) = (Vec::new(), Vec::new());
        for i in 0..cw {
            let x = 2 * i;
            let tap = |c| sum(x.saturating_sub(1), c) + 2 * sum(x, c) + sum(x + 1, c);
            u.push(cb_m.code(tap(0), tap(1), tap(2)));
            v.push(cr_m.code(tap(0), tap(1), tap(2)));
        }
        u.extend(v);
        (y, u)
    }

    #[test]
    fn packing_matches_the_per_sample_formula_at_every_width() {
        let mut seed = 99u32;
        let mut byte = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as u8
        };
        let rows = YuvMatrix::Bt709.rows();
        for w in (1..=12usize).chain([33, 64, 960]) {
            // Chroma rows as long as the encoder's stride: past half the width too.
            let cw = w.div_ceil(2) + 3;
            let ys = w + 5;
            let top: Vec<u8> = (0..w * 4).map(|_| byte()).collect();
            let bottom: Vec<u8> = (0..w * 4).map(|_| byte()).collect();
            let words = |b: &[u8]| -> Vec<u32> {
                b.chunks_exact(4)
                    .map(|p| u32::from_ne_bytes([p[0], p[1], p[2], p[3]]))
                    .collect()
            };
            let (mut y, mut u, mut v) = (vec![0; 2 * ys], vec![0; cw], vec![0; cw]);
            let mut sums = ColumnSums::new(w);
            pack_pair(
                &words(&top),
                &words(&bottom),
                &rows,
                &mut y,
                &mut u,
                &mut v,
                ys,
                &mut sums,
            );
            let (want_y, want_uv) = reference(&top, &bottom, &rows, cw);
            let got_y: Vec<u8> = [&y[..w], &y[ys..ys + w]].concat();
            assert_eq!(got_y, want_y, "Y at width {w}");
            assert_eq!([u, v].concat(), want_uv, "chroma at width {w}");
            // Columns past the width repeat the last one.
            assert!(y[w..ys].iter().all(|&p| p == y[w - 1]), "padding at {w}");
        }
    }
}
