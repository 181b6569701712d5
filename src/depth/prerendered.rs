//! Pre-rendered depth: a grey video or image (8 or 16 bit) beside the colour clip.
//! The clip is scanned once for its value range (StereoCrafter normalises with one
//! min/max per clip) and frame timing, then streamed in step with the colour frames,
//! matched by timestamp (or frame by frame when only the rate differs).

use std::path::{Path, PathBuf};

pub use super::scan::DepthScan;
use super::scan::pixel_format;
use crate::layout::Rect;
use crate::media::decode::{
    DecodeError, DecodeOptions, Decoder, Frame, Grey8Range, Grey10, StreamInfo,
};

#[derive(Debug, thiserror::Error)]
pub enum DepthError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(
        "depth {depth} is {dw}x{dh} (aspect {da:.3}) but the video is {vw}x{vh} (aspect {va:.3}). \
         Render the depth at the video's aspect ratio (any size with the same shape is resampled)"
    )]
    Aspect {
        depth: PathBuf,
        dw: u32,
        dh: u32,
        da: f64,
        vw: u32,
        vh: u32,
        va: f64,
    },
    #[error(
        "depth {depth} has {depth_frames} frames ({depth_secs:.2} s) but the video goes on: \
         frame {video_frames} is at {video_secs:.2} s. Re-render the depth for the whole clip, \
         or render only the part it covers with --frames N"
    )]
    TooShort {
        depth: PathBuf,
        depth_frames: u64,
        depth_secs: f64,
        video_frames: u64,
        video_secs: f64,
    },
    #[error(transparent)]
    Stopped(#[from] crate::control::Stopped),
}

/// Extensions tried for `<stem>_depth.<ext>`, after the input's own.
const SIDECAR_EXTS: &[&str] = &[
    "mp4", "mkv", "mov", "webm", "avi", "png", "tif", "tiff", "jpg",
];

/// Suffix of a pre-rendered depth file's stem (the batch processor's convention).
pub const DEPTH_SUFFIX: &str = "_depth";

/// `clip.mp4` -> the first existing `clip_depth.<ext>` in `dir` (default: beside it).
pub fn find_sidecar(input: &Path, dir: Option<&Path>) -> Option<PathBuf> {
    let stem = input.file_stem()?.to_string_lossy();
    let dir = dir
        .map(Path::to_path_buf)
        .or_else(|| input.parent().map(Path::to_path_buf))?;
    let own = input
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    own.iter()
        .map(String::as_str)
        .chain(SIDECAR_EXTS.iter().copied())
        .map(|ext| dir.join(format!("{stem}{DEPTH_SUFFIX}.{ext}")))
        .find(|p| p.is_file())
}

/// Whether a file is itself a depth map by the naming convention.
pub fn is_depth_file(path: &Path) -> bool {
    path.file_stem()
        .is_some_and(|s| s.to_string_lossy().ends_with(DEPTH_SUFFIX))
}

/// How depth frames are paired with video frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matching {
    /// One depth image for every frame.
    Still,
    /// The depth frame nearest in time.
    Timestamp,
    /// Same frame count, different rate: the n-th depth frame for the n-th video frame.
    Index,
}

/// Decides how to pair depth with video, or explains why they cannot be paired.
/// `needed_frames` is the length of the range being rendered, if limited.
pub fn choose_matching(
    scan: &DepthScan,
    video: &StreamInfo,
    needed_frames: Option<u64>,
) -> Result<Matching, DepthError> {
    let va = f64::from(video.width) / f64::from(video.height);
    let da = f64::from(scan.width) / f64::from(scan.height);
    if ((va - da) / va).abs() > 0.02 {
        return Err(DepthError::Aspect {
            depth: scan.path.clone(),
            dw: scan.width,
            dh: scan.height,
            da,
            vw: video.width,
            vh: video.height,
            va,
        });
    }
    if scan.is_still || video.is_still {
        return Ok(Matching::Still);
    }
    // Container durations include the audio track, so they only decide between pairing
    // by time and by index; running out of depth is caught exactly while streaming.
    let slack = scan
        .frame_nanos()
        .max(video.frame_duration_nanos().unwrap_or(0))
        * 3
        / 2;
    if let (Some(vf), Some(vd)) = (
        needed_frames.or(video.estimated_frames()),
        video.duration_nanos,
    ) {
        let same_length = scan.duration_nanos + slack >= vd && scan.duration_nanos <= vd + slack;
        if !same_length && scan.frames == vf && needed_frames.is_none() {
            log::info!(
                "depth {} runs at another rate than the video but has the same {} frames: pairing frame by frame",
                scan.path.display(),
                scan.frames
            );
            return Ok(Matching::Index);
        }
    }
    Ok(Matching::Timestamp)
}

/// Streams depth frames in step with the video.
pub struct DepthStream {
    decoder: Decoder,
    scan: DepthScan,
    matching: Matching,
    current: Option<Frame>,
    next: Option<Frame>,
    /// Index of `current` in the depth stream.
    current_index: u64,
    /// Nothing handed out yet: the first frame always counts as changed.
    fresh: bool,
    /// `current` converted when the warp cannot read it as decoded: 8-bit grey widened
    /// to 16 bits, or video luma expanded to full range.
    converted: Vec<u8>,
    /// What `converted` holds: 8-bit (true) or 16-bit (false); None before the first.
    converted_8bit: Option<bool>,
    /// The part of each depth frame handed out (`--autocrop`: the picture inside bars).
    crop: Option<Rect>,
}

/// How the luma of depth video becomes the values the warps read.
#[derive(Clone, Copy)]
enum Widen {
    Eight(Grey8Range),
    Ten(Grey10),
}

/// A depth frame as the warp takes it: 16-bit grey (little endian), 8-bit grey (only
/// when asked for, standing for v * 257), or RGBA for the toolbox's RGB encoding; rows
/// `stride` bytes apart.
pub struct DepthPixels<'a> {
    pub data: &'a [u8],
    pub stride: u32,
    pub gray8: bool,
}

/// The smallest and largest value of a depth frame, on the 16-bit scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawExtremes {
    pub min: u16,
    /// The smallest value above 0 (0 marks unknown metric depth and disparity); None when
    /// every value is 0.
    pub min_nonzero: Option<u16>,
    pub max: u16,
}

impl<'a> DepthPixels<'a> {
    /// The part `crop` of the frame, `bytes` per pixel: the same rows, read from the
    /// crop's first pixel on (the rows' stride is unchanged).
    fn cropped(self, crop: Option<Rect>, bytes: usize) -> DepthPixels<'a> {
        let Some(c) = crop else { return self };
        let start = c.y as usize * self.stride as usize + c.x as usize * bytes;
        DepthPixels {
            data: &self.data[start.min(self.data.len())..],
            ..self
        }
    }

    /// The frame's extremes, for `size` pixels; `rgb`: RGBA holding the toolbox's
    /// encoding (R * 256 + B), else 16-bit grey (or 8-bit, as flagged).
    pub fn extremes(&self, (w, h): (u32, u32), rgb: bool) -> RawExtremes {
        let (w, h) = (w as usize, h as usize);
        let (mut lo, mut lo_above_0, mut hi) = (u16::MAX, u16::MAX, 0u16);
        // 0 - 1 wraps to the top, so the smallest of v - 1 skips zeros: a loop the
        // compiler vectorises, with no branch per pixel.
        let mut take = |row: &mut dyn Iterator<Item = u16>| {
            for v in row {
                lo = lo.min(v);
                hi = hi.max(v);
                lo_above_0 = lo_above_0.min(v.wrapping_sub(1));
            }
        };
        for row in self.data.chunks(self.stride as usize).take(h) {
            if self.gray8 {
                take(&mut row[..w].iter().map(|&v| u16::from(v) * 257));
            } else if rgb {
                take(
                    &mut row[..w * 4]
                        .chunks_exact(4)
                        .map(|p| u16::from(p[0]) << 8 | u16::from(p[2])),
                );
            } else {
                take(
                    &mut row[..w * 2]
                        .chunks_exact(2)
                        .map(|p| u16::from_le_bytes([p[0], p[1]])),
                );
            }
        }
        RawExtremes {
            min: lo,
            min_nonzero: (hi > 0).then(|| lo_above_0.wrapping_add(1)),
            max: hi,
        }
    }
}

impl DepthStream {
    pub fn open(
        scan: &DepthScan,
        matching: Matching,
        start_nanos: u64,
        start_index: u64,
    ) -> Result<Self, DepthError> {
        // Start a little early so the frame nearest the first video frame is included.
        let start = match matching {
            Matching::Timestamp => start_nanos.saturating_sub(scan.frame_nanos() * 2),
            Matching::Index => (start_index.saturating_sub(1)) * scan.frame_nanos(),
            Matching::Still => 0,
        };
        let mut decoder = Decoder::open(
            &scan.path,
            pixel_format(scan.rgb),
            &DecodeOptions {
                start_nanos: start,
                with_audio: false,
                ..Default::default()
            },
        )?;
        let current = decoder.next_frame()?;
        let current_index = if start == 0 {
            0
        } else {
            start / scan.frame_nanos().max(1)
        };
        let next = if matching == Matching::Still {
            None
        } else {
            decoder.next_frame()?
        };
        Ok(Self {
            decoder,
            scan: scan.clone(),
            matching,
            current,
            next,
            current_index,
            fresh: true,
            converted: Vec::new(),
            converted_8bit: None,
            crop: None,
        })
    }

    /// The size of the depth frames handed out (the crop's, when cropping).
    pub fn size(&self) -> (u32, u32) {
        let i = self.decoder.info();
        self.crop.map_or((i.width, i.height), |c| c.size())
    }

    /// Hands out only `crop` of every depth frame from now on (in depth pixels; clamped
    /// to the frame). Costs nothing: the frames are read from inside.
    pub fn set_crop(&mut self, crop: Option<Rect>) {
        let i = self.decoder.info();
        self.crop = crop.map(|c| {
            let x = c.x.min(i.width.saturating_sub(1));
            let y = c.y.min(i.height.saturating_sub(1));
            Rect {
                x,
                y,
                w: c.w.clamp(1, i.width - x),
                h: c.h.clamp(1, i.height - y),
            }
        });
    }

    /// The depth frame for video frame `index` at `pts_nanos`; the flag says whether it
    /// differs from the previous call's (so an unchanged one is not uploaded again).
    /// `keep_8bit`: hand 8-bit grey over as it is (the CPU warp reads it) instead of
    /// widening it to 16 bits (the GPU's depth texture).
    pub fn frame_for(
        &mut self,
        index: u64,
        pts_nanos: u64,
        keep_8bit: bool,
    ) -> Result<(DepthPixels<'_>, bool), DepthError> {
        let mut changed = std::mem::take(&mut self.fresh);
        loop {
            let advance = match (self.matching, &self.current, &self.next) {
                (Matching::Still, _, _) | (_, _, None) => false,
                (Matching::Index, _, Some(_)) => self.current_index < index,
                (Matching::Timestamp, Some(c), Some(n)) => {
                    n.pts_nanos.abs_diff(pts_nanos) <= c.pts_nanos.abs_diff(pts_nanos)
                }
                (Matching::Timestamp, None, Some(_)) => true,
            };
            if !advance {
                break;
            }
            self.current = self.next.take();
            self.current_index += 1;
            self.next = self.decoder.next_frame()?;
            changed = true;
        }
        let frame = self
            .current
            .as_ref()
            .expect("a depth stream has at least one frame");
        let ran_out = match self.matching {
            Matching::Still => false,
            Matching::Index => self.current_index < index,
            Matching::Timestamp => {
                self.next.is_none() && pts_nanos > frame.pts_nanos + self.scan.frame_nanos() * 3 / 2
            }
        };
        if ran_out {
            return Err(DepthError::TooShort {
                depth: self.scan.path.clone(),
                depth_frames: self.scan.frames,
                depth_secs: self.scan.duration_nanos as f64 / 1e9,
                video_frames: index + 1,
                video_secs: pts_nanos as f64 / 1e9,
            });
        }
        // Depth the warps read as decoded: 16-bit grey, RGBA, or full-range 8-bit grey
        // where the warp takes 8 bits. The rest is converted below.
        let widen = match (frame.grey10(), frame.grey8()) {
            (Some(ten), _) => Widen::Ten(ten),
            (None, Some(range)) if !(keep_8bit && range == Grey8Range::Full) => Widen::Eight(range),
            (None, eight) => {
                let pixels = DepthPixels {
                    data: frame.data(),
                    stride: frame.stride_bytes(),
                    gray8: eight.is_some(),
                };
                let bytes = match (pixels.gray8, self.scan.rgb) {
                    (true, _) => 1,
                    (false, true) => 4,
                    (false, false) => 2,
                };
                return Ok((pixels.cropped(self.crop, bytes), changed));
            }
        };
        // Video luma expanded to full range (8-bit, for the CPU warp), or widened to 16
        // bits: 8-bit as v * 257, which spans the same 0..65535 as 16-bit grey of the same
        // source, and 10-bit through its table.
        let gray8 = keep_8bit && matches!(widen, Widen::Eight(_));
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        let bytes = if gray8 { 1 } else { 2 };
        if changed || self.converted_8bit != Some(gray8) {
            self.converted_8bit = Some(gray8);
            self.converted.resize(w * h * bytes, 0);
            let rows = frame.data().chunks(frame.stride_bytes() as usize);
            for (out, row) in self.converted.chunks_exact_mut(w * bytes).zip(rows) {
                match widen {
                    Widen::Eight(range) if gray8 => {
                        let full = range.to_full();
                        for (o, &v) in out.iter_mut().zip(&row[..w]) {
                            *o = full[usize::from(v)];
                        }
                    }
                    Widen::Eight(range) => {
                        let full = range.to_full();
                        for (o, &v) in out.chunks_exact_mut(2).zip(&row[..w]) {
                            let wide = u16::from(full[usize::from(v)]) * 257;
                            o.copy_from_slice(&wide.to_le_bytes());
                        }
                    }
                    Widen::Ten(ten) => {
                        let table = ten.to_16();
                        for (o, px) in out.chunks_exact_mut(2).zip(row[..w * 2].chunks_exact(2)) {
                            let v = ten.value(u16::from_le_bytes([px[0], px[1]])).min(1023);
                            o.copy_from_slice(&table[usize::from(v)].to_le_bytes());
                        }
                    }
                }
            }
        }
        let pixels = DepthPixels {
            data: &self.converted,
            stride: (w * bytes) as u32,
            gray8,
        };
        Ok((pixels.cropped(self.crop, bytes), changed))
    }
}
