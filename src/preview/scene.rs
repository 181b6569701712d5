//! What the preview shows beyond one frame's warp: `--convergence auto` and
//! `--floating-window` need the whole clip's depth, so they are settled on a thread by
//! the render's own code (`render::tracks`, whose depth profile is cached on disk: only
//! the first pass over a clip decodes its depth) and used once ready; and the current
//! frame's comfort figures.

use std::sync::Arc;
use std::thread::JoinHandle;

use super::source::{CachedFrame, Source};
use crate::comfort::Viewing;
use crate::control::Cancel;
use crate::depth::prerendered::DepthPixels;
use crate::render::backend::{WarpSpec, frame_figures};
use crate::render::tracks::{self, SceneTracks, TrackInputs};
use crate::render::{RenderError, RenderJob};
use crate::stereo::{DepthKind, DepthRange, StereoParams};

/// The clip's tracks for the settings they were settled for.
#[derive(Default)]
pub struct Scene {
    /// The settings (as text) the ready or pending tracks are for.
    ready: Option<(String, Arc<SceneTracks>)>,
    pending: Option<(String, JoinHandle<Result<SceneTracks, RenderError>>)>,
    /// Dropped with the pending thread's result when the settings moved on.
    cancel: Cancel,
    /// What the panel says: measuring, or the failure.
    pub status: Option<String>,
}

impl Scene {
    /// Starts settling the tracks `job` asks for when the settings changed, and takes
    /// finished ones; true when new tracks arrived (the frame needs composing again).
    pub fn update(
        &mut self,
        source: &Source,
        job: &RenderJob,
        stereo: &StereoParams,
        range: &DepthRange,
    ) -> bool {
        if !job.auto_convergence && !job.floating_window {
            self.ready = None;
            self.status = None;
            return false;
        }
        let key = format!(
            "{:?} {} {} {} {:?} {:?} {:?}",
            job.depth_kind,
            job.depth_far_is_bright,
            job.auto_convergence,
            job.floating_window,
            job.convergence_smooth_frames,
            stereo,
            range
        );
        let mut arrived = false;
        if let Some((k, handle)) = self.pending.take_if(|(_, h)| h.is_finished()) {
            match handle.join() {
                Ok(Ok(t)) => {
                    self.ready = Some((k, Arc::new(t)));
                    self.status = None;
                    arrived = true;
                }
                Ok(Err(e)) => self.status = Some(format!("cannot follow the clip: {e}")),
                Err(_) => self.status = Some("the clip's depth pass panicked".into()),
            }
        }
        let ready_now = self.ready.as_ref().is_some_and(|(have, _)| *have == key);
        if !ready_now && self.pending.is_none() {
            self.status = Some("measuring the clip's depth (auto convergence, window)…".into());
            let inputs = Owned {
                job: job.clone(),
                scan: source.scan.clone(),
                info: source.info.clone(),
                matching: source.matching(),
                range: *range,
                stereo: *stereo,
                depth_crop: source.depth_crop,
                picture_width: source.info.width,
            };
            let cancel = self.cancel.clone();
            let spawned = std::thread::Builder::new()
                .name("preview-tracks".into())
                .spawn(move || inputs.settle(&cancel));
            match spawned {
                Ok(h) => self.pending = Some((key, h)),
                Err(e) => self.status = Some(format!("cannot start the depth pass: {e}")),
            }
        }
        arrived
    }

    /// Frame `index`'s settings with the ready tracks' screen plane, and its window bands.
    pub fn at(
        &self,
        stereo: StereoParams,
        kind: DepthKind,
        index: u64,
    ) -> (StereoParams, [f32; 2]) {
        match &self.ready {
            Some((_, t)) => {
                let stereo = match &t.convergence {
                    Some(c) => tracks::with_convergence(stereo, kind, c.at(index)),
                    None => stereo,
                };
                (stereo, t.window_at(index))
            }
            None => (stereo, [0.0; 2]),
        }
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        // A pass still running has nobody to report to.
        self.cancel.cancel();
    }
}

/// [`TrackInputs`] owned, for the thread.
struct Owned {
    job: RenderJob,
    scan: crate::depth::DepthScan,
    info: crate::media::decode::StreamInfo,
    matching: crate::depth::Matching,
    range: DepthRange,
    stereo: StereoParams,
    depth_crop: Option<crate::layout::Rect>,
    picture_width: u32,
}

impl Owned {
    fn settle(self, cancel: &Cancel) -> Result<SceneTracks, RenderError> {
        tracks::settle(
            &TrackInputs {
                job: &self.job,
                scan: &self.scan,
                info: &self.info,
                matching: self.matching,
                range: &self.range,
                stereo: &self.stereo,
                depth_crop: self.depth_crop,
                picture_width: self.picture_width,
            },
            cancel,
        )
    }
}

/// The current frame's parallax, in the report's units: "this frame: +12.0 px (0.62 %,
/// -0.41 deg) in front .. -8.1 px (...) behind", with what breaks the limits.
pub fn comfort_line(
    f: &CachedFrame,
    spec: &WarpSpec,
    stereo: &StereoParams,
    range: &DepthRange,
    viewing: Viewing,
) -> String {
    let px = DepthPixels {
        data: &f.depth,
        stride: f.depth_stride,
        gray8: false,
    };
    let extremes = px.extremes(spec.depth, spec.rgb_depth);
    let fig = frame_figures(stereo, range, extremes, f.index, f.pts_nanos);
    let width = spec.shown_frame().0;
    let part = |d: f32| {
        format!(
            "{d:+.1} px ({:+.2} %, {:+.2} deg)",
            100.0 * d / width.max(1) as f32,
            viewing.angle_deg(d, width)
        )
    };
    let mut line = format!(
        "this frame: nearest {}, farthest {}",
        part(fig.near_px),
        part(fig.far_px)
    );
    if !viewing.behind_ok(fig.far_px, width) {
        line.push_str(" — the background diverges: lower the strength");
    }
    if !viewing.front_ok(fig.near_px, width) {
        line.push_str(" — more than 1 deg in front: lower the strength or raise convergence");
    }
    line
}
