//! Letterbox and pillarbox bars (`--autocrop`): the black bands a film was framed in to
//! fit another shape of screen. They are found over the whole clip, not in one frame: a
//! dark scene's black rows are not bars unless every other sampled frame agrees.
//!
//! A row or column is picture in a frame when more than [`BRIGHT_SHARE`] of its pixels
//! are brighter than [`DARK`] (full-range luma): compression noise in the bars stays
//! under that, a dark scene's highlights do not. The bars are the runs of rows and
//! columns from each edge that were never picture in any sampled frame (frames black as a
//! whole, in fades, tell nothing and are skipped). Burnt-in subtitles inside a bar make
//! those rows picture: they are kept rather than cut.

use std::path::Path;

use super::decode::{DecodeError, DecodeOptions, Decoder, Frame, PixelFormat};
use crate::layout::{Canvas, Rect};

/// Full-range luma at or below which a pixel counts as black (about 10 %: limited-range
/// video's black at 16 with noise reaches 25 or so, out of 255).
pub const DARK: u8 = 26;
/// Share of a row's or column's pixels that must be brighter than [`DARK`] for it to be
/// picture in a frame.
pub const BRIGHT_SHARE: f32 = 0.005;
/// Frames sampled across a clip.
pub const SAMPLES: u32 = 24;
/// Bars narrower than this (after rounding to even) are left alone: a line or two of black
/// at an edge is the encoder's padding, not framing.
pub const MIN_BAR_PX: u32 = 4;

/// The picture the bars of a clip leave, accumulated frame by frame.
#[derive(Clone, Debug)]
pub struct BarFinder {
    size: (u32, u32),
    /// Whether each row / column was picture in some frame.
    rows: Vec<bool>,
    cols: Vec<bool>,
    /// Frames that showed anything.
    frames_seen: u32,
}

impl BarFinder {
    pub fn new(size: (u32, u32)) -> Self {
        Self {
            size,
            rows: vec![false; size.1 as usize],
            cols: vec![false; size.0 as usize],
            frames_seen: 0,
        }
    }

    /// Adds one frame of full-range 8-bit luma, `stride` bytes per row.
    pub fn add(&mut self, luma: &[u8], stride: usize) {
        let (w, h) = (self.size.0 as usize, self.size.1 as usize);
        let mut col_bright = vec![0u32; w];
        let mut row_bright = vec![0u32; h];
        for (y, row) in luma.chunks(stride).take(h).enumerate() {
            for (x, &v) in row[..w].iter().enumerate() {
                let bright = u32::from(v > DARK);
                row_bright[y] += bright;
                col_bright[x] += bright;
            }
        }
        let total: u32 = row_bright.iter().sum();
        // A black frame (a fade) or one with a few specks says nothing about the bars.
        if (total as f32) < BRIGHT_SHARE * (w * h) as f32 {
            return;
        }
        self.frames_seen += 1;
        let mark = |marks: &mut [bool], counts: &[u32], len: usize| {
            let need = BRIGHT_SHARE * len as f32;
            for (m, &c) in marks.iter_mut().zip(counts) {
                *m |= c as f32 > need;
            }
        };
        mark(&mut self.rows, &row_bright, w);
        mark(&mut self.cols, &col_bright, h);
    }

    /// The picture inside the bars, on even pixels (4:2:0 chroma stays aligned); None
    /// when there are no bars, nothing was seen, or what is left is too small to be a
    /// picture (a mostly dark clip fooling the test).
    pub fn picture(&self) -> Option<Rect> {
        if self.frames_seen == 0 {
            return None;
        }
        let span = |marks: &[bool]| -> Option<(u32, u32)> {
            let first = marks.iter().position(|&m| m)? as u32;
            let last = marks.iter().rposition(|&m| m)? as u32 + 1;
            // Inward to even: a half-covered row at the border is bar.
            let (a, b) = (first.next_multiple_of(2), last & !1);
            let len = marks.len() as u32;
            let a = if a < MIN_BAR_PX { 0 } else { a };
            let b = if len - b.min(len) < MIN_BAR_PX {
                len
            } else {
                b
            };
            (b > a).then_some((a, b))
        };
        let (x0, x1) = span(&self.cols)?;
        let (y0, y1) = span(&self.rows)?;
        let rect = Rect {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        };
        let (w, h) = self.size;
        if rect == Rect::whole(self.size) || rect.w * 4 < w || rect.h * 4 < h {
            return None;
        }
        Some(rect)
    }
}

/// Finds `path`'s bars from [`SAMPLES`] frames spread over the clip: the canvas (the frame
/// as shown) and the picture in it, or None when it has none.
pub fn find_bars(path: &Path) -> Result<Option<Canvas>, DecodeError> {
    let mut decoder = Decoder::open(path, PixelFormat::Depth, &DecodeOptions::default())?;
    let info = decoder.info().clone();
    let size = (info.width, info.height);
    let mut finder = BarFinder::new(size);
    let mut luma = Vec::new();
    let samples = match info.duration_nanos {
        Some(d) if !info.is_still && d > 0 => (0..SAMPLES)
            .map(|i| d * (2 * u64::from(i) + 1) / (2 * u64::from(SAMPLES)))
            .collect(),
        _ => vec![0],
    };
    for (i, &t) in samples.iter().enumerate() {
        if i > 0 && decoder.seek_to(t).is_err() {
            // Past the real end (durations can include audio): what was seen decides.
            break;
        }
        let Some(frame) = decoder.next_frame()? else {
            break;
        };
        full_range_luma(&frame, &mut luma);
        finder.add(&luma, size.0 as usize);
    }
    let found = finder.picture().map(|picture| Canvas { size, picture });
    match &found {
        Some(c) => log::info!(
            "{}: bars found, the picture is {}x{} at ({}, {}) of {}x{}",
            path.display(),
            c.picture.w,
            c.picture.h,
            c.picture.x,
            c.picture.y,
            size.0,
            size.1
        ),
        None => log::info!("{}: no letterbox or pillarbox bars found", path.display()),
    }
    Ok(found)
}

/// A frame decoded as [`PixelFormat::Depth`] (its luma) as full-range 8-bit, packed.
fn full_range_luma(frame: &Frame, out: &mut Vec<u8>) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    out.clear();
    let rows = frame.data().chunks(frame.stride_bytes() as usize).take(h);
    let sixteen = |row: &[u8], out: &mut Vec<u8>, map: &dyn Fn(u16) -> u16| {
        out.extend(
            row[..w * 2]
                .chunks_exact(2)
                .map(|p| (map(u16::from_le_bytes([p[0], p[1]])) >> 8) as u8),
        );
    };
    if let Some(ten) = frame.grey10() {
        let table = ten.to_16();
        for row in rows {
            sixteen(row, out, &|v| table[usize::from(ten.value(v).min(1023))]);
        }
    } else if let Some(range) = frame.grey8() {
        let full = range.to_full();
        for row in rows {
            out.extend(row[..w].iter().map(|&v| full[usize::from(v)]));
        }
    } else {
        // 16-bit grey (videoconvert's luma of RGB and other formats).
        for row in rows {
            sixteen(row, out, &|v| v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w`x`h` frame: black bars, a picture at `rect` of `level` with a little noise
    /// in the bars.
    fn frame(w: usize, h: usize, rect: Rect, level: u8) -> Vec<u8> {
        let mut f = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let inside = (rect.x as usize..(rect.x + rect.w) as usize).contains(&x)
                    && (rect.y as usize..(rect.y + rect.h) as usize).contains(&y);
                // Noise up to 20 in the bars: compression's ringing.
                f[y * w + x] = if inside {
                    level.wrapping_add(((x * 7 + y * 13) % 40) as u8)
                } else {
                    ((x * 31 + y * 17) % 21) as u8
                };
            }
        }
        f
    }

    #[test]
    fn letterbox_and_pillarbox_are_found_over_frames_and_rounded_inward() {
        let (w, h) = (160usize, 90usize);
        let picture = Rect {
            x: 21,
            y: 11,
            w: 118,
            h: 67,
        };
        let mut finder = BarFinder::new((w as u32, h as u32));
        // A dark frame whose only bright part is the picture's middle: alone it would crop
        // far too much.
        let middle = Rect {
            x: 60,
            y: 30,
            w: 40,
            h: 30,
        };
        finder.add(&frame(w, h, middle, 200), w);
        finder.add(&vec![0; w * h], w);
        finder.add(&frame(w, h, picture, 120), w);
        assert_eq!(
            finder.picture(),
            Some(Rect {
                x: 22,
                y: 12,
                w: 116,
                h: 66
            })
        );
    }

    #[test]
    fn no_bars_thin_edges_and_black_clips_give_none() {
        let (w, h) = (64usize, 48usize);
        let mut whole = BarFinder::new((64, 48));
        whole.add(&frame(w, h, Rect::whole((64, 48)), 100), w);
        assert_eq!(whole.picture(), None);
        // Two black lines at the top are padding, not a letterbox.
        let mut thin = BarFinder::new((64, 48));
        thin.add(
            &frame(
                w,
                h,
                Rect {
                    x: 0,
                    y: 2,
                    w: 64,
                    h: 46,
                },
                100,
            ),
            w,
        );
        assert_eq!(thin.picture(), None);
        let mut black = BarFinder::new((64, 48));
        black.add(&vec![10; w * h], w);
        assert_eq!(black.picture(), None);
    }
}
