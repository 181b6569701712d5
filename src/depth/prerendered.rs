//! Pre-rendered depth: a grey video or image (8 or 16 bit) beside the colour clip.
//! The clip is scanned once for its value range (StereoCrafter normalises with one
//! min/max per clip) and frame timing, then streamed in step with the colour frames,
//! matched by timestamp (or frame by frame when only the rate differs).

use std::path::{Path, PathBuf};

use super::estimate::{self, EstimateOptions};
use super::onnx;
use crate::decode::{
    DecodeError, DecodeOptions, Decoder, Frame, Grey8Range, Grey10, PixelFormat, StreamInfo,
};
use crate::gpu::{DepthKind, DepthRange};

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

/// What one pass over the depth clip found.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DepthScan {
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    /// End of the last frame (pts + duration) on the file's timeline.
    pub duration_nanos: u64,
    pub is_still: bool,
    /// Smallest and largest raw value over the whole clip (16-bit scale).
    pub min: u16,
    pub max: u16,
    /// Smallest value above 0 (0 marks unknown depth in metric and disparity maps).
    pub min_nonzero: u16,
    /// Bits per sample of the stored depth (8 or 16): the unit of `--depth-scale`.
    pub source_bits: u32,
    /// Stored in the metric depth toolbox's RGB encoding (values are R * 256 + B).
    pub rgb: bool,
}

/// Bump when `DepthScan` or the scan's meaning changes, so old cached scans are ignored.
// 2: 8-bit depth is read as 8-bit grey widened by 257 (was GStreamer's 16-bit grey).
// 3: the luma of 8-bit 4:2:0 depth video is read directly and expanded from limited
//    range, whatever its colour matrix (GStreamer's grey conversion expanded it for
//    BT.709 only).
// 4: the luma of 10-bit 4:2:0 depth video is read directly and widened to 16 bits
//    (GStreamer's grey conversion rounded it slightly differently).
const SCAN_CACHE_VERSION: u32 = 4;

impl DepthScan {
    /// [`Self::run`], remembered in the depth cache (`--cache-dir`; not with
    /// `--no-cache`) under the file's identity (path, size, modification time): the scan
    /// decodes the whole depth clip once more, and a preview, a re-render or a resumed
    /// batch of the same clip need not pay for it again.
    pub fn run_cached(path: &Path, rgb: bool, cache: &EstimateOptions) -> Result<Self, DepthError> {
        let file = (!cache.no_cache)
            .then(|| estimate::cache_dir(cache).ok())
            .flatten()
            .map(|(dir, _)| {
                let key = format!(
                    "scan-v{SCAN_CACHE_VERSION}|{}|{rgb}",
                    onnx::model_identity(path)
                );
                dir.join("scans")
                    .join(format!("{:016x}.json", estimate::fnv1a(&key)))
            });
        if let Some(f) = &file
            && let Ok(text) = std::fs::read_to_string(f)
            && let Ok(mut scan) = serde_json::from_str::<DepthScan>(&text)
        {
            log::debug!(
                "depth scan of {} from the cache {}",
                path.display(),
                f.display()
            );
            // The key is the canonical file; the path is this call's (it may have been
            // relative to another folder when the scan was stored).
            scan.path = path.to_path_buf();
            return Ok(scan);
        }
        let scan = Self::run(path, rgb)?;
        if let Some(f) = &file {
            // A cache that cannot be written only costs the scan next time.
            let written = f
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|_| {
                    crate::encode::write_replacing(
                        f,
                        serde_json::to_string(&scan).unwrap_or_default(),
                    )
                });
            if let Err(e) = written {
                log::debug!("depth scan not cached at {}: {e}", f.display());
            }
        }
        Ok(scan)
    }

    /// Decodes the whole clip and records its values' range. A clip of a minute or more
    /// is cut into parts decoded side by side, one per core (up to four): decoding is the
    /// scan's whole cost, and a film's depth takes many minutes on one core. (Each part
    /// after the first also decodes from the keyframe before its start, up to a GOP,
    /// which shorter clips would not win back.)
    pub fn run(path: &Path, rgb: bool) -> Result<Self, DepthError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::run_in_parts(path, rgb, cores.min(4), MIN_SPLIT_NANOS).map(|(scan, _)| scan)
    }

    /// [`Self::run`] in up to `parts` parts when the clip lasts at least
    /// `min_split_nanos`; also says whether it was decoded in parts that met (false when
    /// it ran in one part, or a part did not start where the one before stopped and the
    /// scan went on in order).
    pub fn run_in_parts(
        path: &Path,
        rgb: bool,
        parts: usize,
        min_split_nanos: u64,
    ) -> Result<(Self, bool), DepthError> {
        let mut dec = Decoder::open(path, pixel_format(rgb), &DecodeOptions::default())?;
        let info = dec.info().clone();
        let parts = match info.duration_nanos {
            Some(d) if !info.is_still && d >= min_split_nanos => parts.max(1) as u64,
            _ => 1,
        };
        let duration = info.duration_nanos.unwrap_or(0);
        let bounds: Vec<u64> = (1..parts).map(|i| duration * i / parts).collect();
        let tally = std::thread::scope(|scope| {
            // Parts 1.. start at their bound (the decoder seeks there) and run to the
            // next bound; part 0 is this decoder.
            let others: Vec<_> = bounds
                .iter()
                .enumerate()
                .map(|(i, &start)| {
                    let end = bounds.get(i + 1).copied();
                    let info = &info;
                    scope.spawn(move || -> Result<Tally, DepthError> {
                        let options = DecodeOptions {
                            start_nanos: start,
                            with_audio: false,
                        };
                        let mut dec = Decoder::open(path, pixel_format(rgb), &options)?;
                        Tally::over(&mut dec, info, rgb, end)
                    })
                })
                .collect();
            let mut tally = Tally::over(&mut dec, &info, rgb, bounds.first().copied())?;
            let split = !others.is_empty();
            let mut rest = Vec::new();
            for other in others {
                rest.push(other.join().expect("a depth scan thread panicked"));
            }
            // Each part must begin with the frame its predecessor stopped before.
            let mut stopped_at = tally.stopped_at;
            let meet = rest.iter().all(|part| match part {
                Ok(part) if part.first_pts == stopped_at => {
                    stopped_at = part.stopped_at;
                    true
                }
                _ => false,
            });
            if meet {
                for part in rest.into_iter().flatten() {
                    tally.append(part);
                }
            } else {
                // A seek landed elsewhere (or failed): the rest in order, from part 0.
                log::debug!(
                    "depth scan of {}: its parts did not meet, scanning on in order",
                    path.display()
                );
                tally.read(&mut dec, &info, rgb, None)?;
            }
            Ok::<_, DepthError>((tally, split && meet))
        })?;
        let (tally, in_parts) = tally;
        let scan = Self {
            path: path.into(),
            width: info.width,
            height: info.height,
            frames: tally.frames,
            duration_nanos: tally.end,
            is_still: info.is_still || tally.frames == 1,
            min: tally.min,
            max: tally.max,
            min_nonzero: tally.min_nonzero,
            source_bits: if rgb { 16 } else { info.source_bits },
            rgb,
        };
        Ok((scan, in_parts))
    }

    /// How to read this clip's values. Relative depth is normalised with the clip's own
    /// min..max (StereoCrafter). `scale` is metres (metric) or pixels (disparity) per
    /// stored step; metric defaults to `max_depth_m` at full scale, disparity to 1.
    pub fn range(
        &self,
        kind: DepthKind,
        far_is_bright: bool,
        scale: Option<f32>,
        max_depth_m: f32,
    ) -> DepthRange {
        // 16-bit steps per stored step: 257 for 8-bit sources widened to 16 bits.
        let unit = 65535.0 / ((1u32 << self.source_bits.min(16)) - 1) as f32;
        let value_scale = match kind {
            // The toolbox's encoding fixes the scale: maxD at 255^4.
            DepthKind::Metric if self.rgb => {
                super::codec::metres_per_rgb_step(f64::from(max_depth_m)) as f32
            }
            DepthKind::Relative => 0.0,
            DepthKind::Metric => scale.map_or(max_depth_m / 65535.0, |s| s / unit),
            DepthKind::Disparity => scale.unwrap_or(1.0) / unit,
        };
        let q_max = match kind {
            DepthKind::Relative => 1.0,
            DepthKind::Metric => 1.0 / (f32::from(self.min_nonzero.max(1)) * value_scale),
            DepthKind::Disparity => f32::from(self.max) * value_scale,
        };
        DepthRange {
            kind,
            min: f32::from(self.min) / 65535.0,
            max: f32::from(self.max) / 65535.0,
            far_is_bright,
            value_scale,
            rgb_encoded: self.rgb,
            q_max,
        }
    }

    pub fn frame_nanos(&self) -> u64 {
        self.duration_nanos.checked_div(self.frames).unwrap_or(0)
    }
}

/// Clips at least this long are scanned in parts, side by side.
const MIN_SPLIT_NANOS: u64 = 60_000_000_000;

/// What a scan found in a run of frames.
struct Tally {
    min: u16,
    max: u16,
    min_nonzero: u16,
    frames: u64,
    /// End of the last frame (pts + duration).
    end: u64,
    /// Timestamp of the first frame, and of the frame the run stopped before (None: it
    /// ran to the end of the clip).
    first_pts: Option<u64>,
    stopped_at: Option<u64>,
}

impl Tally {
    /// The frames of `dec` up to (not including) the first at or after `until`, or to the
    /// end of the clip.
    fn over(
        dec: &mut Decoder,
        info: &StreamInfo,
        rgb: bool,
        until: Option<u64>,
    ) -> Result<Self, DepthError> {
        let mut tally = Self {
            min: u16::MAX,
            max: 0,
            min_nonzero: u16::MAX,
            frames: 0,
            end: 0,
            first_pts: None,
            stopped_at: None,
        };
        tally.read(dec, info, rgb, until)?;
        Ok(tally)
    }

    fn read(
        &mut self,
        dec: &mut Decoder,
        info: &StreamInfo,
        rgb: bool,
        until: Option<u64>,
    ) -> Result<(), DepthError> {
        self.stopped_at = None;
        while let Some(f) = dec.next_frame()? {
            if until.is_some_and(|u| f.pts_nanos >= u) {
                self.stopped_at = Some(f.pts_nanos);
                // Kept for a later `read`, which resumes with it.
                dec.push_back(f);
                return Ok(());
            }
            let (lo, lo_nonzero, hi) = value_range(&f, rgb);
            self.min = self.min.min(lo);
            self.min_nonzero = self.min_nonzero.min(lo_nonzero);
            self.max = self.max.max(hi);
            self.first_pts.get_or_insert(f.pts_nanos);
            self.frames += 1;
            let dur = f
                .duration_nanos
                .or(info.frame_duration_nanos())
                .unwrap_or(0);
            self.end = self.end.max(f.pts_nanos + dur);
        }
        Ok(())
    }

    /// The next part's frames after this one's.
    fn append(&mut self, next: Tally) {
        self.min = self.min.min(next.min);
        self.max = self.max.max(next.max);
        self.min_nonzero = self.min_nonzero.min(next.min_nonzero);
        self.frames += next.frames;
        self.end = self.end.max(next.end);
        self.stopped_at = next.stopped_at;
    }
}

fn pixel_format(rgb: bool) -> PixelFormat {
    if rgb {
        PixelFormat::Rgba
    } else {
        PixelFormat::Depth
    }
}

/// (min, min above 0, max) of a depth frame's values: 16-bit grey (8-bit grey as v * 257,
/// expanded to full range first; 10-bit luma widened), or R * 256 + B of the toolbox's
/// RGB encoding.
fn value_range(f: &Frame, rgb: bool) -> (u16, u16, u16) {
    let (w, stride) = (f.width() as usize, f.stride_bytes() as usize);
    if let (false, Some(grey)) = (rgb, f.grey10()) {
        // As for 8-bit below: the table never decreases, so the extremes of the stored
        // values give the extremes of the widened ones.
        let table = grey.to_16();
        let zero_top = table.iter().rposition(|&v| v == 0).unwrap_or(0) as u16;
        let (mut lo, mut hi, mut lo_above) = (1023u16, 0u16, 1023u16);
        for row in f.data().chunks(stride).take(f.height() as usize) {
            for px in row[..w * 2].chunks_exact(2) {
                let v = grey.value(u16::from_le_bytes([px[0], px[1]])).min(1023);
                lo = lo.min(v);
                hi = hi.max(v);
                lo_above = lo_above.min(if v > zero_top { v } else { 1023 });
            }
        }
        let wide = |v: u16| table[usize::from(v)];
        return (wide(lo), wide(lo_above), wide(hi));
    }
    let grey8 = f.grey8();
    let bpp = match (rgb, grey8) {
        (true, _) => 4,
        (false, Some(_)) => 1,
        (false, None) => 2,
    };
    let rows = f.data().chunks(stride).take(f.height() as usize);
    if let (false, Some(range)) = (rgb, grey8) {
        // The table to full range never decreases, so the extremes of the stored bytes
        // map to the extremes of the values. The smallest value above 0 comes from the
        // smallest byte above the last one that maps to 0 (bytes at or below it count as
        // 255, which maps to 65535 = u16::MAX, the answer when there is none). Plain
        // minima and maxima over bytes, which the compiler vectorises.
        let full = range.to_full();
        let zero_top = full.iter().rposition(|&v| v == 0).unwrap_or(0) as u8;
        let (mut lo, mut hi, mut lo_above) = (u8::MAX, 0u8, u8::MAX);
        for row in rows {
            for &v in &row[..w] {
                lo = lo.min(v);
                hi = hi.max(v);
                lo_above = lo_above.min(if v > zero_top { v } else { u8::MAX });
            }
        }
        let wide = |v: u8| u16::from(full[usize::from(v)]) * 257;
        return (wide(lo), wide(lo_above), wide(hi));
    }
    let (mut lo, mut lo_nonzero, mut hi) = (u16::MAX, u16::MAX, 0u16);
    for row in rows {
        for px in row[..w * bpp].chunks_exact(bpp) {
            let v = if rgb {
                u16::from(px[0]) << 8 | u16::from(px[2])
            } else {
                u16::from_le_bytes([px[0], px[1]])
            };
            lo = lo.min(v);
            hi = hi.max(v);
            lo_nonzero = lo_nonzero.min(if v > 0 { v } else { u16::MAX });
        }
    }
    (lo, lo_nonzero, hi)
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
        })
    }

    pub fn size(&self) -> (u32, u32) {
        let i = self.decoder.info();
        (i.width, i.height)
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
                return Ok((pixels, changed));
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
        Ok((pixels, changed))
    }
}
