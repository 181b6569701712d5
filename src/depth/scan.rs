//! The one pass over a pre-rendered depth clip before rendering: its size, frame count,
//! timing and value range (StereoCrafter normalises relative depth with one min/max per
//! clip). Cached per file, and split across cores for long clips.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};

use super::DepthError;
use super::estimate::{self, EstimateOptions};
use crate::media::decode::{DecodeOptions, Decoder, Frame, PixelFormat, StreamInfo};
use crate::media::packet_count;
use crate::stereo::{DepthKind, DepthRange};

/// What of the clip's values a render reads, which decides when the scan may stop: at
/// the first frame after which they can move no further, with the frame count and
/// duration then read from the file's packets (a parse, no decoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanNeed {
    /// Relative depth: the clip's min and max, settled once 0 and full scale have both
    /// been seen. Depth normalised per clip (DepthCrafter, Video Depth Anything) holds
    /// both somewhere; depth normalised per frame holds both in its first frame.
    Range,
    /// Disparity: the largest value, settled at full scale.
    Max,
    /// Every frame (metric depth reads the smallest value above 0, which has no
    /// natural floor; the preview, whose depth kind can change, reads everything).
    All,
}

impl ScanNeed {
    pub fn of(kind: DepthKind) -> Self {
        match kind {
            DepthKind::Relative => ScanNeed::Range,
            DepthKind::Disparity => ScanNeed::Max,
            DepthKind::Metric => ScanNeed::All,
        }
    }

    /// Whether a clip whose values so far span `min..=max` can change what this reads.
    fn met(self, min: u16, max: u16) -> bool {
        match self {
            ScanNeed::Range => min == 0 && max == u16::MAX,
            ScanNeed::Max => max == u16::MAX,
            ScanNeed::All => false,
        }
    }
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
    /// Smallest value above 0 (0 marks unknown depth in metric and disparity maps); over
    /// the frames read when the scan is not `complete`.
    pub min_nonzero: u16,
    /// Bits per sample of the stored depth (8 or 16): the unit of `--depth-scale`.
    pub source_bits: u32,
    /// Stored in the metric depth toolbox's RGB encoding (values are R * 256 + B).
    pub rgb: bool,
    /// Every frame's values were read. False when the scan stopped early because what
    /// its render reads was settled ([`ScanNeed`]); `frames` and `duration_nanos` then
    /// come from the file's packets.
    pub complete: bool,
    /// Frames whose values were read: all of them when `complete` (a frame that two
    /// parts of a split scan both read counts twice).
    pub frames_read: u64,
}

/// Bump when `DepthScan` or the scan's meaning changes, so old cached scans are ignored.
// 2: 8-bit depth is read as 8-bit grey widened by 257 (was GStreamer's 16-bit grey).
// 3: the luma of 8-bit 4:2:0 depth video is read directly and expanded from limited
//    range, whatever its colour matrix (GStreamer's grey conversion expanded it for
//    BT.709 only).
// 4: the luma of 10-bit 4:2:0 depth video is read directly and widened to 16 bits
//    (GStreamer's grey conversion rounded it slightly differently).
// 5: a scan can stop early (`complete`, `frames_read`).
const SCAN_CACHE_VERSION: u32 = 5;

impl DepthScan {
    /// [`Self::run`], remembered in the depth cache (`--cache-dir`; not with
    /// `--no-cache`) under the file's identity (path, size, modification time): the scan
    /// can decode the whole depth clip once more, and a preview, a re-render or a resumed
    /// batch of the same clip need not pay for it again. A scan that stopped early
    /// answers only for needs it settled; another need scans again.
    pub fn run_cached(
        path: &Path,
        rgb: bool,
        need: ScanNeed,
        cache: &EstimateOptions,
    ) -> Result<Self, DepthError> {
        let file = (!cache.no_cache)
            .then(|| estimate::cache_dir(cache).ok())
            .flatten()
            .map(|(dir, _)| {
                let key = format!(
                    "scan-v{SCAN_CACHE_VERSION}|{}|{rgb}",
                    crate::onnx::file_identity(path)
                );
                dir.join("scans")
                    .join(format!("{:016x}.json", estimate::fnv1a(&key)))
            });
        if let Some(f) = &file
            && let Ok(text) = std::fs::read_to_string(f)
            && let Ok(mut scan) = serde_json::from_str::<DepthScan>(&text)
            && scan.serves(need)
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
        let scan = Self::run(path, rgb, need)?;
        if let Some(f) = &file {
            crate::fsutil::store_json_cache(f, &scan, "depth scan");
        }
        Ok(scan)
    }

    /// Decodes the clip and records its values' range, until `need` is settled or the
    /// clip ends. A clip of a minute or more is cut into parts decoded side by side, one
    /// per core (up to four): decoding is the scan's whole cost, and a film's depth takes
    /// many minutes on one core. (Each part after the first also decodes from the
    /// keyframe before its start, up to a GOP, which shorter clips would not win back.)
    pub fn run(path: &Path, rgb: bool, need: ScanNeed) -> Result<Self, DepthError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::run_in_parts(path, rgb, need, cores.min(4), MIN_SPLIT_NANOS).map(|(scan, _)| scan)
    }

    /// Whether this scan answers for `need`: it read every frame, or it settled it.
    pub fn serves(&self, need: ScanNeed) -> bool {
        self.complete || need.met(self.min, self.max)
    }

    /// [`Self::run`] in up to `parts` parts when the clip lasts at least
    /// `min_split_nanos`; also says whether it was decoded in parts that met (false when
    /// it ran in one part, or a part did not start where the one before stopped and the
    /// scan went on in order).
    pub fn run_in_parts(
        path: &Path,
        rgb: bool,
        need: ScanNeed,
        parts: usize,
        min_split_nanos: u64,
    ) -> Result<(Self, bool), DepthError> {
        let mut dec = Decoder::open(path, pixel_format(rgb), &DecodeOptions::default())?;
        let info = dec.info().clone();
        // A still has one frame: nothing to stop early from.
        let seen = Seen::new(if info.is_still { ScanNeed::All } else { need });
        let asked_parts = parts;
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
                    let (info, seen) = (&info, &seen);
                    scope.spawn(move || -> Result<Tally, DepthError> {
                        let options = DecodeOptions {
                            start_nanos: start,
                            with_audio: false,
                            ..Default::default()
                        };
                        let mut dec = Decoder::open(path, pixel_format(rgb), &options)?;
                        // The seek clips the frame showing at `start` to begin there (a
                        // bound seldom falls between frames). It began in the part before,
                        // which reads it. A frame that starts at the bound is whole, give
                        // or take the rounding of its duration to nanoseconds.
                        if let Some(first) = dec.next_frame()? {
                            let clipped = first.pts_nanos == start
                                && first
                                    .duration_nanos
                                    .zip(info.frame_duration_nanos())
                                    .is_some_and(|(d, nominal)| d + 1_000 < nominal);
                            if !clipped {
                                dec.push_back(first);
                            }
                        }
                        Tally::over(&mut dec, info, rgb, end, seen)
                    })
                })
                .collect();
            let mut tally = Tally::over(&mut dec, &info, rgb, bounds.first().copied(), &seen)?;
            let split = !others.is_empty();
            let mut rest = Vec::new();
            for other in others {
                rest.push(other.join().expect("a depth scan thread panicked"));
            }
            if tally.settled || rest.iter().flatten().any(|part| part.settled) {
                return Ok((tally, false, true));
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
                tally.read(&mut dec, &info, rgb, None, &seen)?;
            }
            // Reading on in order can settle the need too.
            let settled = tally.settled;
            Ok::<_, DepthError>((tally, split && meet, settled))
        })?;
        let (tally, in_parts, stopped_early) = tally;
        let (mut frames, mut duration_nanos) = (tally.frames, tally.end);
        let frames_read = seen.frames_read.load(Ordering::Relaxed);
        let complete = !stopped_early;
        if !complete {
            // The length is still wanted (pairing with the video, and the message when the
            // depth runs out): the packets tell it.
            let counted = packet_count::count_packets(path, info.frame_duration_nanos())
                .unwrap_or_else(|e| {
                    log::debug!("packet count of {}: {e}", path.display());
                    None
                })
                .filter(|count| count.frames >= tally.frames);
            let Some(count) = counted else {
                log::debug!(
                    "depth scan of {}: its packets do not tell its length, so it is decoded to the end",
                    path.display()
                );
                return Self::run_in_parts(path, rgb, ScanNeed::All, asked_parts, min_split_nanos);
            };
            (frames, duration_nanos) = (count.frames, count.duration_nanos());
            log::info!(
                "depth {}: its range was settled after {frames_read} of {frames} frames, so the scan stopped there",
                path.display()
            );
        }
        let scan = Self {
            path: path.into(),
            width: info.width,
            height: info.height,
            frames,
            duration_nanos,
            is_still: info.is_still || frames == 1,
            min: seen.min.load(Ordering::Relaxed),
            max: seen.max.load(Ordering::Relaxed),
            min_nonzero: seen.min_nonzero.load(Ordering::Relaxed),
            source_bits: if rgb { 16 } else { info.source_bits },
            rgb,
            complete,
            frames_read,
        };
        Ok((scan, in_parts && complete))
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

/// The values seen so far by every part of a scan, shared so that each part stops as
/// soon as what the render needs is settled.
struct Seen {
    need: ScanNeed,
    min: AtomicU16,
    max: AtomicU16,
    min_nonzero: AtomicU16,
    frames_read: AtomicU64,
}

impl Seen {
    fn new(need: ScanNeed) -> Self {
        Self {
            need,
            min: AtomicU16::new(u16::MAX),
            max: AtomicU16::new(0),
            min_nonzero: AtomicU16::new(u16::MAX),
            frames_read: AtomicU64::new(0),
        }
    }

    fn add(&self, (lo, lo_nonzero, hi): (u16, u16, u16)) {
        self.min.fetch_min(lo, Ordering::Relaxed);
        self.min_nonzero.fetch_min(lo_nonzero, Ordering::Relaxed);
        self.max.fetch_max(hi, Ordering::Relaxed);
        self.frames_read.fetch_add(1, Ordering::Relaxed);
    }

    fn settled(&self) -> bool {
        self.need.met(
            self.min.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        )
    }
}

/// Where a run of frames lies (its values go to [`Seen`]).
struct Tally {
    frames: u64,
    /// End of the last frame (pts + duration).
    end: u64,
    /// Timestamp of the first frame, and of the frame the run stopped before (None: it
    /// ran to the end of the clip).
    first_pts: Option<u64>,
    stopped_at: Option<u64>,
    /// It stopped because the need was settled, before the end of its run.
    settled: bool,
}

impl Tally {
    /// The frames of `dec` up to (not including) the first at or after `until`, or to the
    /// end of the clip, or until `seen` is settled.
    fn over(
        dec: &mut Decoder,
        info: &StreamInfo,
        rgb: bool,
        until: Option<u64>,
        seen: &Seen,
    ) -> Result<Self, DepthError> {
        let mut tally = Self {
            frames: 0,
            end: 0,
            first_pts: None,
            stopped_at: None,
            settled: false,
        };
        tally.read(dec, info, rgb, until, seen)?;
        Ok(tally)
    }

    fn read(
        &mut self,
        dec: &mut Decoder,
        info: &StreamInfo,
        rgb: bool,
        until: Option<u64>,
        seen: &Seen,
    ) -> Result<(), DepthError> {
        self.stopped_at = None;
        loop {
            if seen.settled() {
                self.settled = true;
                return Ok(());
            }
            let Some(f) = dec.next_frame()? else {
                return Ok(());
            };
            if until.is_some_and(|u| f.pts_nanos >= u) {
                self.stopped_at = Some(f.pts_nanos);
                // Kept for a later `read`, which resumes with it.
                dec.push_back(f);
                return Ok(());
            }
            seen.add(value_range(&f, rgb));
            self.first_pts.get_or_insert(f.pts_nanos);
            self.frames += 1;
            let dur = f
                .duration_nanos
                .or(info.frame_duration_nanos())
                .unwrap_or(0);
            self.end = self.end.max(f.pts_nanos + dur);
        }
    }

    /// The next part's frames after this one's.
    fn append(&mut self, next: Tally) {
        self.frames += next.frames;
        self.end = self.end.max(next.end);
        self.stopped_at = next.stopped_at;
    }
}

pub(super) fn pixel_format(rgb: bool) -> PixelFormat {
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
