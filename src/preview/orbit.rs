//! The preview's 3D view: the current frame as a mesh of the depth the warp uses, seen
//! from a camera the user orbits (drag), dollies (scroll) and resets (R). The camera is
//! a [`Pose`] like `render --layout novel`'s, so the view can be rendered as it is seen
//! ([`Orbit::flags`]). The mesh is drawn by the warper's mesh pass on the preview's own
//! device (`Warper::encode_novel`); this holds the camera and the frustum overlay.

use glam::Vec3;

use crate::stereo::{DepthKind, DepthRange, StereoParams};
use crate::view3d::{Pose, SourceCamera, ViewCamera, focal_from_fov};

/// Degrees of orbit per point dragged.
const DEGREES_PER_POINT: f32 = 0.3;
/// Vertices every this many pixels when the view opens: a 1080p frame is ~500 k
/// triangles at 2, smooth on software adapters; 1 shows every pixel.
pub const DEFAULT_STEP: u32 = 2;

#[derive(Clone, Debug)]
pub struct Orbit {
    pub pose: Pose,
    /// The pose reset returns to (the source camera, or the command line's).
    pub home: Pose,
    /// Distance from the camera to the point it orbits; None: the scene's middle depth,
    /// settled at the first frame.
    pub distance: Option<f32>,
    /// Horizontal field of view the depth is unprojected with; None: `--xfov`, or the
    /// metric camera's, or the default for relative depth.
    pub fov_deg: Option<f32>,
    /// Pixels between vertices.
    pub step: u32,
    /// The camera of the last frame drawn (for the frustum overlay).
    pub last: Option<ViewCamera>,
}

impl Orbit {
    pub fn new(home: Pose) -> Self {
        Self {
            pose: home,
            home,
            distance: None,
            fov_deg: None,
            step: DEFAULT_STEP,
            last: None,
        }
    }

    /// Back to the pose the view opened with.
    pub fn reset(&mut self) {
        self.pose = self.home;
        self.distance = None;
    }

    /// Turns the camera around the point `distance` in front of it: right-drag moves it
    /// to the right around the subject, down-drag moves it up.
    pub fn drag(&mut self, dx: f32, dy: f32) {
        let Some(distance) = self.distance else {
            return;
        };
        let pivot = self.pivot(distance);
        let [yaw, pitch, roll] = self.pose.rotate_deg;
        let turned = [
            yaw - dx * DEGREES_PER_POINT,
            (pitch - dy * DEGREES_PER_POINT).clamp(-89.0, 89.0),
            roll,
        ];
        let forward = Pose {
            rotate_deg: turned,
            ..Pose::default()
        }
        .rotation()
            * Vec3::Z;
        self.pose = Pose::from_image_position(pivot - forward * distance, turned);
    }

    /// Moves the camera towards (positive `amount`) or away from the point it orbits.
    pub fn dolly(&mut self, amount: f32) {
        let Some(distance) = self.distance else {
            return;
        };
        let pivot = self.pivot(distance);
        let nearer = distance * (-amount * 0.002).exp();
        let forward = self.pose.rotation() * Vec3::Z;
        self.pose = Pose::from_image_position(pivot - forward * nearer, self.pose.rotate_deg);
        self.distance = Some(nearer);
    }

    fn pivot(&self, distance: f32) -> Vec3 {
        self.pose.position() + self.pose.rotation() * Vec3::Z * distance
    }

    /// The field of view the frame is unprojected with.
    pub fn fov(
        &self,
        stereo: &StereoParams,
        kind: DepthKind,
        width: u32,
        xfov: Option<f32>,
    ) -> f32 {
        self.fov_deg.or(xfov).unwrap_or_else(|| {
            if kind == DepthKind::Metric && stereo.camera.fx_px > 0.0 {
                2.0 * (width as f32 / (2.0 * stereo.camera.fx_px))
                    .atan()
                    .to_degrees()
            } else {
                crate::view3d::DEFAULT_FOV_DEG
            }
        })
    }

    /// This frame's camera: the source camera at the view's field of view, seen from
    /// the orbit's pose. Settles the orbit distance at the scene's middle depth.
    pub fn view(
        &mut self,
        stereo: &StereoParams,
        range: &DepthRange,
        frame: (u32, u32),
        work: (u32, u32),
        fov_deg: f32,
    ) -> ViewCamera {
        let mut stereo = *stereo;
        stereo.camera.fx_px = focal_from_fov(frame.0, fov_deg);
        let source = SourceCamera::new(&stereo, range, frame, work, Some(fov_deg));
        if self.distance.is_none() {
            let top = if range.kind == DepthKind::Relative {
                1.0
            } else {
                range.q_max
            };
            self.distance = source.distance(0.5 * top).filter(|d| d.is_finite());
        }
        let view = ViewCamera::new(source, self.pose);
        self.last = Some(view);
        view
    }

    /// The flags that render this camera (`render --layout novel ...`), with `--xfov`
    /// once the field of view was changed here.
    pub fn flags(&self) -> String {
        let f = |v: [f32; 3]| format!("{:.4},{:.4},{:.4}", v[0], v[1], v[2]);
        let mut flags = format!(
            "--layout novel --camera-offset {} --camera-rotate {}",
            f(self.pose.offset),
            f(self.pose.rotate_deg)
        );
        if let Some(fov) = self.fov_deg {
            flags.push_str(&format!(" --xfov {fov:.1}"));
        }
        flags
    }

    /// The source camera's frustum as line segments in the last view's pixels: from
    /// the camera to the picture's corners at the orbit distance, and the picture's
    /// outline there. Segments with an end behind the view are left out.
    pub fn frustum_lines(&self) -> Vec<[(f32, f32); 2]> {
        let (Some(view), Some(distance)) = (&self.last, self.distance) else {
            return Vec::new();
        };
        let corners = view.source_frustum(distance).map(|c| view.project(c));
        let apex = view.project(Vec3::ZERO);
        let mut lines = Vec::new();
        for i in 0..4 {
            let pairs = [(apex, corners[i]), (corners[i], corners[(i + 1) % 4])];
            for (a, b) in pairs {
                if let (Some(a), Some(b)) = (a, b) {
                    lines.push([(a.0, a.1), (b.0, b.1)]);
                }
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orbiting_keeps_the_pivot_in_the_middle_and_reset_returns() {
        let mut o = Orbit::new(Pose::default());
        let range = DepthRange::default();
        let stereo = StereoParams::default();
        let v = o.view(&stereo, &range, (200, 100), (200, 100), 60.0);
        let d = o.distance.unwrap();
        let pivot = v.source.unproject_image(99.5, 49.5, 0.5).unwrap();
        assert!((pivot.z - d).abs() < 1e-4);
        o.drag(40.0, -25.0);
        let v = o.view(&stereo, &range, (200, 100), (200, 100), 60.0);
        let (u, w, _) = v.project_image(pivot).unwrap();
        assert!(
            (u - 100.0).abs() < 1e-2 && (w - 50.0).abs() < 1e-2,
            "{u} {w}"
        );
        assert!(
            o.pose.offset[0] > 0.0,
            "dragging right moves the camera right: {:?}",
            o.pose
        );
        o.dolly(200.0);
        assert!(o.distance.unwrap() < d);
        let v = o.view(&stereo, &range, (200, 100), (200, 100), 60.0);
        let (u, _, z) = v.project_image(pivot).unwrap();
        assert!((u - 100.0).abs() < 1e-2 && (z - o.distance.unwrap()).abs() < 1e-4);
        // Dollied in past the source camera: only the picture's outline is in front.
        assert_eq!(o.frustum_lines().len(), 4);
        o.reset();
        assert_eq!(o.pose, Pose::default());
        assert!(
            o.flags()
                .starts_with("--layout novel --camera-offset 0.0000,0.0000,0.0000")
        );
        o.fov_deg = Some(75.0);
        assert!(o.flags().ends_with(" --xfov 75.0"));
        o.view(&stereo, &range, (200, 100), (200, 100), 60.0);
        o.drag(0.0, 30.0);
        o.view(&stereo, &range, (200, 100), (200, 100), 60.0);
        assert_eq!(
            o.frustum_lines().len(),
            8,
            "the source camera seen from above"
        );
    }
}
