//! A second pass over a depth clip, only when a render asks for what moves with the
//! scene (`--convergence auto`, `--floating-window`): a few numbers per frame, from which
//! `comfort::track` derives the per-frame screen plane and floating-window bands.
//!
//! Values are kept on the 16-bit scale, turned so that larger is nearer ("oriented"):
//! what the render's settings make of them is decided later, so changing the strength,
//! the curve or the convergence needs no new pass. Cached like the scan.

use serde::{Deserialize, Serialize};

use super::estimate::{self, EstimateOptions};
use super::prerendered::DepthPixels;
use super::{DepthError, DepthScan, DepthStream, Matching};
use crate::control::Cancel;
use crate::layout::Rect;

/// Edge bands, in depth pixels from the picture's left or right edge: [0, 1), [1, 2),
/// [2, 4), [4, 8) ... [256, 512).
pub const EDGE_BANDS: usize = 10;

/// The first column of edge band `b` (its distance from the edge).
pub fn band_start(b: usize) -> u32 {
    if b == 0 { 0 } else { 1 << (b - 1) }
}

/// The subject's nearness: this weighted percentile of the frame's nearness.
pub const SUBJECT_PERCENTILE: f32 = 0.85;
/// The centre weight's standard deviation, as a share of the picture's width and height.
pub const CENTRE_SIGMA: f32 = 0.25;

/// How to read the clip's values (what the render's depth kind says of them).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileSpec {
    /// Smaller stored values are nearer (metric distance, far-is-bright relative depth).
    pub near_is_low: bool,
    /// A stored 0 is unknown depth (metric and disparity maps), left out.
    pub zero_is_unknown: bool,
    /// The part of the depth frame that holds the picture (`--autocrop`), in depth pixels.
    pub crop: Option<Rect>,
}

/// One frame's numbers, on the 16-bit scale, larger = nearer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameProfile {
    /// Where the subject is: the centre-weighted [`SUBJECT_PERCENTILE`] of nearness. A
    /// subject is usually near the centre and in front of what is behind it; weighting by
    /// a Gaussian around the centre and taking a high percentile lands on it while it
    /// covers more than 15 % of the weight, and on the nearest central surface otherwise.
    pub subject: u16,
    /// The nearest value in each edge band at the left and right edges (0: none known).
    pub left: [u16; EDGE_BANDS],
    pub right: [u16; EDGE_BANDS],
    /// The frame's nearest and farthest values.
    pub near: u16,
    pub far: u16,
    /// Mean absolute change of a 16x9 thumbnail from the previous frame's, as a share
    /// of the 16-bit range: large at scene cuts.
    pub change: f32,
}

/// Every frame's numbers for one depth clip, read one way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepthProfile {
    pub spec: ProfileSpec,
    /// The analysed picture's size in depth pixels (the crop, or the whole frame).
    pub width: u32,
    pub height: u32,
    pub frames: Vec<FrameProfile>,
}

/// Bump when `DepthProfile` or what it measures changes.
const PROFILE_VERSION: u32 = 1;
const THUMB: (usize, usize) = (16, 9);

impl DepthProfile {
    /// [`Self::run`], remembered in the depth cache under the file's identity and `spec`.
    pub fn run_cached(
        scan: &DepthScan,
        spec: ProfileSpec,
        cache: &EstimateOptions,
        cancel: &Cancel,
    ) -> Result<Self, DepthError> {
        let file = (!cache.no_cache)
            .then(|| estimate::cache_dir(cache).ok())
            .flatten()
            .map(|(dir, _)| {
                let key = format!(
                    "profile-v{PROFILE_VERSION}|{}|{}|{spec:?}",
                    crate::onnx::file_identity(&scan.path),
                    scan.rgb
                );
                dir.join("profiles")
                    .join(format!("{:016x}.json", estimate::fnv1a(&key)))
            });
        if let Some(f) = &file
            && let Ok(text) = std::fs::read_to_string(f)
            && let Ok(profile) = serde_json::from_str::<DepthProfile>(&text)
            && profile.spec == spec
        {
            log::debug!(
                "depth profile of {} from {}",
                scan.path.display(),
                f.display()
            );
            return Ok(profile);
        }
        let profile = Self::run(scan, spec, cancel)?;
        if let Some(f) = &file {
            crate::fsutil::store_json_cache(f, &profile, "depth profile");
        }
        Ok(profile)
    }

    /// Decodes every frame of the scanned clip and measures it.
    pub fn run(scan: &DepthScan, spec: ProfileSpec, cancel: &Cancel) -> Result<Self, DepthError> {
        let started = std::time::Instant::now();
        let matching = if scan.is_still {
            Matching::Still
        } else {
            Matching::Index
        };
        let mut stream = DepthStream::open(scan, matching, 0, 0)?;
        let crop = spec
            .crop
            .unwrap_or_else(|| Rect::whole((scan.width, scan.height)));
        let mut measure = Measure::new(crop, spec, scan.rgb);
        let mut frames = Vec::with_capacity(scan.frames as usize);
        let count = if scan.is_still { 1 } else { scan.frames };
        for i in 0..count {
            crate::control::Stopped::check(cancel, "profiling the depth")?;
            let (pixels, _) = match stream.frame_for(i, 0, false) {
                Ok(f) => f,
                // A clip whose packets promised one more frame than it decodes.
                Err(DepthError::TooShort { .. }) if i > 0 => break,
                Err(e) => return Err(e),
            };
            frames.push(measure.frame(&pixels));
        }
        log::info!(
            "depth {}: profiled {} frame(s) for the screen plane and frame edges in {:.1} s",
            scan.path.display(),
            frames.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(Self {
            spec,
            width: crop.w,
            height: crop.h,
            frames,
        })
    }
}

/// The per-frame measurement, with what it keeps between frames.
struct Measure {
    crop: Rect,
    spec: ProfileSpec,
    rgb: bool,
    /// Sampled columns and rows (in depth pixels) and their centre weights.
    columns: Vec<(usize, f32)>,
    rows: Vec<(usize, f32)>,
    /// Rows read for the edge bands.
    edge_rows: Vec<usize>,
    histogram: Vec<f32>,
    thumb: Vec<f32>,
    previous: Option<Vec<f32>>,
}

impl Measure {
    fn new(crop: Rect, spec: ProfileSpec, rgb: bool) -> Self {
        // About 160 x 90 samples for the subject, and about 270 rows for the edges.
        let axis = |start: u32, len: u32, samples: u32| -> Vec<(usize, f32)> {
            let step = len.div_ceil(samples).max(1);
            (0..len)
                .step_by(step as usize)
                .map(|i| {
                    let u = (i as f32 + 0.5) / len as f32 - 0.5;
                    let w = (-0.5 * (u / CENTRE_SIGMA).powi(2)).exp();
                    ((start + i) as usize, w)
                })
                .collect()
        };
        let edge_step = crop.h.div_ceil(270).max(1) as usize;
        Self {
            crop,
            spec,
            rgb,
            columns: axis(crop.x, crop.w, 160),
            rows: axis(crop.y, crop.h, 90),
            edge_rows: (crop.y as usize..(crop.y + crop.h) as usize)
                .step_by(edge_step)
                .collect(),
            histogram: vec![0.0; 4096],
            thumb: vec![0.0; THUMB.0 * THUMB.1],
            previous: None,
        }
    }

    /// The oriented value at depth pixel (x, y), or None where unknown.
    #[inline]
    fn at(&self, px: &DepthPixels<'_>, x: usize, y: usize) -> Option<u16> {
        let row = &px.data[y * px.stride as usize..];
        let v = if self.rgb {
            u16::from(row[x * 4]) << 8 | u16::from(row[x * 4 + 2])
        } else if px.gray8 {
            u16::from(row[x]) * 257
        } else {
            u16::from_le_bytes([row[x * 2], row[x * 2 + 1]])
        };
        if self.spec.zero_is_unknown && v == 0 {
            None
        } else if self.spec.near_is_low {
            Some(u16::MAX - v)
        } else {
            Some(v)
        }
    }

    fn frame(&mut self, px: &DepthPixels<'_>) -> FrameProfile {
        self.histogram.fill(0.0);
        self.thumb.fill(0.0);
        let mut counts = vec![0u32; self.thumb.len()];
        let (mut near, mut far) = (0u16, u16::MAX);
        let mut total = 0.0;
        let (cx, cy, cw, ch) = (
            self.crop.x as usize,
            self.crop.y as usize,
            self.crop.w as usize,
            self.crop.h as usize,
        );
        for &(y, wy) in &self.rows {
            let ty = (y - cy) * THUMB.1 / ch;
            for &(x, wx) in &self.columns {
                let Some(o) = self.at(px, x, y) else {
                    continue;
                };
                let w = wx * wy;
                self.histogram[usize::from(o >> 4)] += w;
                total += w;
                near = near.max(o);
                far = far.min(o);
                let t = ty * THUMB.0 + (x - cx) * THUMB.0 / cw;
                self.thumb[t] += f32::from(o);
                counts[t] += 1;
            }
        }
        let subject = if total > 0.0 {
            let goal = total * SUBJECT_PERCENTILE;
            let mut sum = 0.0;
            let bin = self
                .histogram
                .iter()
                .position(|&h| {
                    sum += h;
                    sum >= goal
                })
                .unwrap_or(4095);
            (bin as u16) << 4 | 8
        } else {
            0
        };
        for (t, &n) in self.thumb.iter_mut().zip(&counts) {
            *t /= n.max(1) as f32 * 65535.0;
        }
        let change = match &self.previous {
            Some(prev) => {
                prev.iter()
                    .zip(&self.thumb)
                    .map(|(a, b)| (a - b).abs())
                    .sum::<f32>()
                    / self.thumb.len() as f32
            }
            None => 0.0,
        };
        self.previous = Some(self.thumb.clone());
        let mut left = [0u16; EDGE_BANDS];
        let mut right = [0u16; EDGE_BANDS];
        for b in 0..EDGE_BANDS {
            let lo = band_start(b) as usize;
            let hi = (band_start(b + 1) as usize).min(cw / 2);
            for &y in &self.edge_rows {
                for k in lo..hi {
                    if let Some(o) = self.at(px, cx + k, y) {
                        left[b] = left[b].max(o);
                    }
                    if let Some(o) = self.at(px, cx + cw - 1 - k, y) {
                        right[b] = right[b].max(o);
                    }
                }
            }
        }
        FrameProfile {
            subject,
            left,
            right,
            near,
            far: if near == 0 { 0 } else { far },
            change,
        }
    }
}

/// Converts an oriented value back to the stored 16-bit value.
pub fn stored(spec: &ProfileSpec, oriented: u16) -> u16 {
    if spec.near_is_low {
        u16::MAX - oriented
    } else {
        oriented
    }
}
