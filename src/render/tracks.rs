//! What changes from frame to frame besides the pictures, settled before the first
//! frame: the screen plane (`--convergence auto`, `--convergence-file`) and the floating
//! window's bands (`--floating-window`), one value per input frame. Auto convergence and
//! the floating window come from a pass over the depth (`depth::profile`), turned into
//! series by `comfort::track`.

use super::{RenderError, RenderJob};
use crate::comfort::track;
use crate::control::Cancel;
use crate::depth::convergence::ConvergenceTrack;
use crate::depth::profile::{DepthProfile, ProfileSpec};
use crate::depth::{DepthScan, Matching};
use crate::layout::Rect;
use crate::media::decode::StreamInfo;
use crate::stereo::{DepthKind, DepthRange, StereoParams};

/// Per input frame: the screen plane (None: the job's fixed one) and the floating
/// window's bands (fractions of the picture's width).
#[derive(Default)]
pub struct SceneTracks {
    pub convergence: Option<ConvergenceTrack>,
    pub window: Option<Vec<[f32; 2]>>,
}

impl SceneTracks {
    /// The floating window's bands for input frame `index` (none past the end).
    pub fn window_at(&self, index: u64) -> [f32; 2] {
        self.window
            .as_ref()
            .and_then(|w| w.get(index as usize).or(w.last()).copied())
            .unwrap_or([0.0; 2])
    }
}

/// `stereo` with `value` (the depth kind's unit) as its screen plane.
pub fn with_convergence(mut stereo: StereoParams, kind: DepthKind, value: f32) -> StereoParams {
    match kind {
        DepthKind::Relative => stereo.convergence = value,
        DepthKind::Metric => stereo.camera.convergence_m = Some(value),
        DepthKind::Disparity => stereo.convergence_px = value,
    }
    stereo
}

/// How input frames find their depth frames.
struct Pairing {
    matching: Matching,
    /// Input frame duration over depth frame duration (timestamp pairing).
    ratio: f64,
    depth_frames: usize,
}

impl Pairing {
    fn depth_index(&self, input: usize) -> usize {
        let j = match self.matching {
            Matching::Still => 0,
            Matching::Index => input,
            Matching::Timestamp => (input as f64 * self.ratio).round() as usize,
        };
        j.min(self.depth_frames.saturating_sub(1))
    }

    fn input_index(&self, depth: usize) -> usize {
        match self.matching {
            Matching::Timestamp if self.ratio > 0.0 => (depth as f64 / self.ratio).round() as usize,
            _ => depth,
        }
    }
}

/// Everything [`settle`] reads.
pub struct TrackInputs<'a> {
    pub job: &'a RenderJob,
    pub scan: &'a DepthScan,
    pub info: &'a StreamInfo,
    pub matching: Matching,
    pub range: &'a DepthRange,
    /// The clip's settings (the strength resolved for its width).
    pub stereo: &'a StereoParams,
    /// The picture's part of the depth frame (`--autocrop`), and its width in input
    /// pixels.
    pub depth_crop: Option<Rect>,
    pub picture_width: u32,
}

/// Settles the job's per-frame tracks, and writes `--convergence-out`.
pub fn settle(t: &TrackInputs<'_>, cancel: &Cancel) -> Result<SceneTracks, RenderError> {
    let job = t.job;
    let kind = job.depth_kind;
    let fps = t
        .info
        .fps
        .map_or(24.0, |f| f64::from(f.numer()) / f64::from(f.denom().max(1)));
    let depth_frames = if t.scan.is_still {
        1
    } else {
        t.scan.frames as usize
    };
    let pairing = Pairing {
        matching: t.matching,
        ratio: match (t.info.frame_duration_nanos(), t.scan.frame_nanos()) {
            (Some(v), d) if d > 0 => v as f64 / d as f64,
            _ => 1.0,
        },
        depth_frames,
    };
    let inputs = match t.info.estimated_frames() {
        Some(n) if !t.info.is_still => n as usize,
        _ if t.info.is_still => 1,
        _ => pairing.input_index(depth_frames),
    }
    .max(1);
    let mut tracks = SceneTracks::default();
    if let Some(path) = &job.convergence_file {
        let smooth = job.convergence_smooth_frames.unwrap_or(1);
        tracks.convergence = Some(ConvergenceTrack::load(path, kind, smooth)?);
    }
    if job.auto_convergence || job.floating_window {
        let spec = ProfileSpec {
            near_is_low: kind == DepthKind::Metric
                || (kind == DepthKind::Relative && job.depth_far_is_bright),
            zero_is_unknown: kind != DepthKind::Relative,
            crop: t.depth_crop,
        };
        let profile = DepthProfile::run_cached(t.scan, spec, &job.estimate, cancel)?;
        let cuts = track::cuts(&profile);
        log::info!(
            "depth {}: {} shot(s) (scene cuts found in the depth)",
            t.scan.path.display(),
            cuts.iter().filter(|&&c| c).count()
        );
        // Per depth frame, in the kind's unit.
        let auto = job.auto_convergence.then(|| {
            let window = job
                .convergence_smooth_frames
                .map_or(fps as f32, |n| n as f32);
            track::auto_convergence(&profile, t.range, t.stereo, &cuts, window)
        });
        if job.floating_window {
            let convergence_of_depth = |j: usize| -> Option<f32> {
                match (&auto, &tracks.convergence) {
                    (Some(a), _) => a.get(j).copied(),
                    (None, Some(file)) => Some(file.at(pairing.input_index(j) as u64)),
                    (None, None) => None,
                }
            };
            let stereo_at = |j: usize| match convergence_of_depth(j) {
                Some(v) => with_convergence(*t.stereo, kind, v),
                None => *t.stereo,
            };
            // A running maximum and then a mean, each a quarter second each side: the
            // band's ramp takes about half a second.
            let ease = ((fps * 0.25).round() as usize).max(1);
            let per_depth =
                track::floating_window(&profile, t.range, &stereo_at, t.picture_width, &cuts, ease);
            tracks.window = Some(
                (0..inputs)
                    .map(|i| per_depth[pairing.depth_index(i).min(per_depth.len() - 1)])
                    .collect(),
            );
        }
        if let Some(auto) = auto {
            let per_input = (0..inputs)
                .map(|i| auto[pairing.depth_index(i).min(auto.len() - 1)])
                .collect();
            tracks.convergence = Some(ConvergenceTrack::new(kind, per_input));
        }
    }
    if let Some(out) = &job.convergence_out {
        let (track, origin) = match &tracks.convergence {
            Some(c) if job.auto_convergence => (c.clone(), "--convergence auto"),
            Some(c) => (c.clone(), "--convergence-file, smoothed as rendered"),
            None => {
                let fixed = match kind {
                    DepthKind::Relative => t.stereo.convergence,
                    DepthKind::Disparity => t.stereo.convergence_px,
                    // Infinity, written as a distance no scene reaches.
                    DepthKind::Metric => t.stereo.camera.convergence_m.unwrap_or(1e9),
                };
                (ConvergenceTrack::new(kind, vec![fixed; inputs]), "fixed")
            }
        };
        track.write(out, origin)?;
        log::info!(
            "wrote the convergence of {} frame(s) to {}",
            track.len(),
            out.display()
        );
    }
    Ok(tracks)
}
