//! The comfort report: the parallax each frame actually used (the nearest and farthest
//! depth of its depth map through the frame's settings), in pixels, % of the width and
//! degrees for a given screen, and the share of frames within the usual limits. Logged
//! after every render, with a warning that names the setting to change when frames break
//! them; `--report FILE.json` writes every frame's figures.

use std::path::Path;

use serde::Serialize;

use super::{EYE_SEPARATION_M, FRONT_LIMIT_DEG, Viewing};
use crate::stereo::DepthKind;

/// One frame's parallax: the disparity of its nearest and farthest depth, in pixels of
/// the input frame (positive in front of the screen).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FrameFigures {
    /// The input frame's index (counting from the clip's start).
    pub frame: u64,
    pub time_s: f64,
    pub near_px: f32,
    pub far_px: f32,
    /// What was at the screen plane, in the depth kind's unit (relative nearness before
    /// shaping, metres, or pixels).
    pub convergence: f32,
}

/// Every frame's figures for one render.
#[derive(Clone, Debug)]
pub struct ComfortReport {
    pub kind: DepthKind,
    /// The input frame's width: disparities are in its pixels.
    pub width: u32,
    pub viewing: Viewing,
    /// The strength was given as `--divergence` (for the advice).
    pub divergence_given: bool,
    /// The screen plane follows the subject (`--convergence auto`).
    pub auto_convergence: bool,
    pub frames: Vec<FrameFigures>,
}

/// The whole render's figures.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ComfortSummary {
    pub frames: u64,
    /// The largest disparity in front of the screen (px; negative when everything is
    /// behind it) and the farthest (px; positive when everything is in front).
    pub near_px: f32,
    pub far_px: f32,
    pub near_pct: f32,
    pub far_pct: f32,
    /// Angular disparity relative to the screen, degrees, positive behind.
    pub near_deg: f32,
    pub far_deg: f32,
    /// Screen parallax of the farthest depth, millimetres (positive behind).
    pub far_parallax_mm: f32,
    /// Shares of frames (0..1) that keep the eyes from diverging, that stay within the
    /// front limit, and both.
    pub behind_ok: f64,
    pub front_ok: f64,
    pub all_ok: f64,
}

impl ComfortReport {
    pub fn new(kind: DepthKind, width: u32, viewing: Viewing) -> Self {
        Self {
            kind,
            width,
            viewing,
            divergence_given: false,
            auto_convergence: false,
            frames: Vec::new(),
        }
    }

    pub fn push(&mut self, f: FrameFigures) {
        self.frames.push(f);
    }

    fn behind_ok(&self, f: &FrameFigures) -> bool {
        self.viewing.behind_ok(f.far_px, self.width)
    }

    fn front_ok(&self, f: &FrameFigures) -> bool {
        self.viewing.front_ok(f.near_px, self.width)
    }

    pub fn summary(&self) -> ComfortSummary {
        let near = self
            .frames
            .iter()
            .map(|f| f.near_px)
            .fold(f32::NEG_INFINITY, f32::max);
        let far = self
            .frames
            .iter()
            .map(|f| f.far_px)
            .fold(f32::INFINITY, f32::min);
        let (near, far) = if self.frames.is_empty() {
            (0.0, 0.0)
        } else {
            (near, far)
        };
        let n = self.frames.len().max(1) as f64;
        let share = |ok: &dyn Fn(&FrameFigures) -> bool| {
            self.frames.iter().filter(|f| ok(f)).count() as f64 / n
        };
        let pct = |d: f32| d / self.width.max(1) as f32 * 100.0;
        ComfortSummary {
            frames: self.frames.len() as u64,
            near_px: near,
            far_px: far,
            near_pct: pct(near),
            far_pct: pct(far),
            near_deg: self.viewing.angle_deg(near, self.width),
            far_deg: self.viewing.angle_deg(far, self.width),
            far_parallax_mm: self.viewing.parallax_m(far, self.width) * 1000.0,
            behind_ok: share(&|f| self.behind_ok(f)),
            front_ok: share(&|f| self.front_ok(f)),
            all_ok: share(&|f| self.behind_ok(f) && self.front_ok(f)),
        }
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        let s = self.summary();
        format!(
            "parallax used: {:+.1} px ({:+.2} %, {:+.2} deg) in front to {:+.1} px ({:+.2} %, {:+.2} deg) at the back, \
             on a {} m screen seen from {} m; {:.1} % of frames within the limits (nothing diverges behind the \
             screen, at most {FRONT_LIMIT_DEG} deg in front)",
            s.near_px,
            s.near_pct,
            s.near_deg,
            s.far_px,
            s.far_pct,
            s.far_deg,
            self.viewing.screen_width_m,
            self.viewing.viewing_distance_m,
            s.all_ok * 100.0
        )
    }

    /// Warnings for the limits this render breaks, each naming the setting to change.
    pub fn warnings(&self) -> Vec<String> {
        let s = self.summary();
        let strength = match (self.kind, self.divergence_given) {
            (DepthKind::Relative, true) => "--divergence",
            (DepthKind::Relative, false) => "--max-disp (or --divergence)",
            (DepthKind::Metric, _) => "--ipd-mm",
            (DepthKind::Disparity, _) => "--depth-scale",
        };
        let mut out = Vec::new();
        if s.behind_ok < 1.0 {
            let plane = match (self.auto_convergence, self.kind) {
                (true, _) => String::new(),
                (false, DepthKind::Relative | DepthKind::Disparity) => {
                    ", or lower --convergence (a farther depth sits at the screen, so the background comes forward)".into()
                }
                (false, DepthKind::Metric) => {
                    ", or raise --convergence-depth (a farther depth sits at the screen, so the background comes forward)".into()
                }
            };
            out.push(format!(
                "{:.1} % of frames push the background up to {:.0} mm behind a {} m screen, more than the eyes' \
                 {:.0} mm apart: viewers' eyes would have to diverge. Lower {strength}{plane}",
                (1.0 - s.behind_ok) * 100.0,
                s.far_parallax_mm,
                self.viewing.screen_width_m,
                EYE_SEPARATION_M * 1000.0
            ));
        }
        if s.front_ok < 1.0 {
            let plane = match (self.auto_convergence, self.kind) {
                (true, _) => String::new(),
                (false, DepthKind::Metric) => {
                    ", or lower --convergence-depth (a nearer depth sits at the screen, so the foreground moves back)".into()
                }
                (false, _) => {
                    ", or raise --convergence (a nearer depth sits at the screen, so the foreground moves back)".into()
                }
            };
            out.push(format!(
                "{:.1} % of frames bring the nearest depth up to {:.2} deg in front of the screen (more than \
                 {FRONT_LIMIT_DEG} deg strains the eyes). Lower {strength}{plane}",
                (1.0 - s.front_ok) * 100.0,
                -s.near_deg
            ));
        }
        out
    }

    /// Writes every frame's figures and the summary as JSON (under a temporary name,
    /// renamed when whole).
    pub fn write_json(&self, path: &Path, input: &Path, output: &Path) -> std::io::Result<()> {
        #[derive(Serialize)]
        struct Frame {
            frame: u64,
            time_s: f64,
            convergence: f32,
            near_px: f32,
            far_px: f32,
            near_pct: f32,
            far_pct: f32,
            near_deg: f32,
            far_deg: f32,
            behind_ok: bool,
            front_ok: bool,
        }
        #[derive(Serialize)]
        struct Doc<'a> {
            input: &'a Path,
            output: &'a Path,
            depth_kind: &'static str,
            frame_width_px: u32,
            screen_width_m: f32,
            viewing_distance_m: f32,
            eye_separation_m: f32,
            front_limit_deg: f32,
            auto_convergence: bool,
            summary: ComfortSummary,
            frames: Vec<Frame>,
        }
        let pct = |d: f32| d / self.width.max(1) as f32 * 100.0;
        let doc = Doc {
            input,
            output,
            depth_kind: self.kind.name(),
            frame_width_px: self.width,
            screen_width_m: self.viewing.screen_width_m,
            viewing_distance_m: self.viewing.viewing_distance_m,
            eye_separation_m: EYE_SEPARATION_M,
            front_limit_deg: FRONT_LIMIT_DEG,
            auto_convergence: self.auto_convergence,
            summary: self.summary(),
            frames: self
                .frames
                .iter()
                .map(|f| Frame {
                    frame: f.frame,
                    time_s: f.time_s,
                    convergence: f.convergence,
                    near_px: f.near_px,
                    far_px: f.far_px,
                    near_pct: pct(f.near_px),
                    far_pct: pct(f.far_px),
                    near_deg: self.viewing.angle_deg(f.near_px, self.width),
                    far_deg: self.viewing.angle_deg(f.far_px, self.width),
                    behind_ok: self.behind_ok(f),
                    front_ok: self.front_ok(f),
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?;
        crate::fsutil::write_replacing(path, text)
    }
}
