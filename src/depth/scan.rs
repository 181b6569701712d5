//! The one pass over a pre-rendered depth clip before rendering: its size, frame count,
//! timing and value range (StereoCrafter normalises relative depth with one min/max per
//! clip). Cached per file, and split across cores for long clips.

use std::path::{Path, PathBuf};

use super::DepthError;
use super::estimate::{self, EstimateOptions};
use super::onnx;
use crate::decode::{DecodeOptions, Decoder, Frame, PixelFormat, StreamInfo};
use crate::gpu::{DepthKind, DepthRange};

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
