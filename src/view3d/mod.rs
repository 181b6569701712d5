//! Depth as geometry: the frame as a surface in front of a pinhole camera, seen again from
//! another camera. Three things use it, so they agree: the preview's 3D view, the novel
//! view render (`--layout novel`, drawn by `crate::gpu::mesh`) and the PLY/OBJ export
//! ([`export`]).
//!
//! The model is the metric depth toolbox's (SPEC section 2): a pinhole with
//! fx = W / (2 tan(xfov / 2)), square pixels and the principal point at the centre. The
//! depth the warp uses (after upsampling, shaping and dilation) becomes distance through
//! 1/z = a + b * q, q the warp's depth quantity:
//! - metric depth: q is 1/z itself (a = 0, b = 1), in metres;
//! - relative depth and disparity maps: q is (shaped) inverse depth up to an unknown
//!   offset and scale, so the clip is placed [`RELATIVE_FAR_RATIO`] deep: the nearest
//!   point of the range one unit in front of the farthest, which is ten times as far.
//!
//! The stereo pair is then two such cameras: the synthesised eye is the input's camera
//! moved sideways by one IPD ([`SourceCamera::ipd`]); the warp's convergence adds one
//! constant shift on top (the screen plane), which a moved camera does not have. With
//! metric depth and the screen plane at infinity, a [`Pose`] one IPD to the right draws
//! the picture the warp makes (tests/novel_view.rs holds them to it).
//!
//! Coordinates: the camera looks down -z with y up and x right (OpenGL, Blender, MeshLab);
//! files and poses use these. Internally the projection works in the image's own axes
//! (y down, z forward), where a pixel's ray is simply ((u - cx) / fx, (v - cy) / fy, 1).

pub mod export;
pub mod path;

use glam::{Mat3, Mat4, Vec3, Vec4};

use crate::stereo::{DepthKind, DepthRange, StereoParams, gain_and_screen};

/// The horizontal field of view relative depth is seen with when none is given (degrees).
pub const DEFAULT_FOV_DEG: f32 = 60.0;

/// Relative depth and disparity maps: the farthest point of the clip's range is this many
/// times as far as the nearest.
pub const RELATIVE_FAR_RATIO: f32 = 10.0;

/// Nothing nearer the viewing camera than this (scene units) is drawn.
pub const NEAR_PLANE: f32 = 1e-3;

/// The camera the frame was taken with, at the size the depth is used at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceCamera {
    /// Pixels of the depth grid (the warp's work size).
    pub size: (u32, u32),
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
    /// 1/z = inv_z.0 + inv_z.1 * q.
    pub inv_z: (f32, f32),
    /// The eye distance in scene units: the sideways move that gives the stereo eye.
    pub ipd: f32,
    /// Metres (metric depth), or units of the depth range.
    pub metric: bool,
}

impl SourceCamera {
    /// The camera of frames `frame` pixels large whose depth is used at `work`, under
    /// the frame's stereo settings. `xfov_deg`: the field of view for relative depth and
    /// disparity maps (metric depth has its focal length in `stereo.camera`).
    pub fn new(
        stereo: &StereoParams,
        range: &DepthRange,
        frame: (u32, u32),
        work: (u32, u32),
        xfov_deg: Option<f32>,
    ) -> Self {
        let fx_frame = match range.kind {
            DepthKind::Metric if stereo.camera.fx_px > 0.0 => stereo.camera.fx_px,
            _ => focal_from_fov(frame.0, xfov_deg.unwrap_or(DEFAULT_FOV_DEG)),
        };
        let inv_z = match range.kind {
            DepthKind::Metric => (0.0, 1.0),
            DepthKind::Relative => relative_inv_z(1.0),
            DepthKind::Disparity => relative_inv_z(range.q_max.max(1e-6)),
        };
        let (gain, _) = gain_and_screen(stereo, range);
        // Moving the camera by t gives a shift of fx t b per unit of q: one IPD is the
        // move whose shift is the stereo gain.
        let ipd = gain / (fx_frame * inv_z.1);
        let sx = work.0 as f32 / frame.0 as f32;
        let sy = work.1 as f32 / frame.1 as f32;
        Self {
            size: work,
            fx: fx_frame * sx,
            fy: fx_frame * sy,
            cx: work.0 as f32 / 2.0,
            cy: work.1 as f32 / 2.0,
            inv_z,
            ipd,
            metric: range.kind == DepthKind::Metric,
        }
    }

    /// Distance along the view axis of depth quantity `q` (None: unknown or at infinity).
    pub fn distance(&self, q: f32) -> Option<f32> {
        let inv = self.inv_z.0 + self.inv_z.1 * q;
        (q >= 0.0 && inv > 0.0).then(|| 1.0 / inv)
    }

    /// The point seen at pixel (x, y) (its centre) with depth quantity `q`, in the image's
    /// axes (x right, y down, z forward).
    pub fn unproject_image(&self, x: f32, y: f32, q: f32) -> Option<Vec3> {
        let z = self.distance(q)?;
        Some(Vec3::new(
            (x + 0.5 - self.cx) * z / self.fx,
            (y + 0.5 - self.cy) * z / self.fy,
            z,
        ))
    }

    /// The same point in the file axes (x right, y up, looking down -z).
    pub fn unproject(&self, x: f32, y: f32, q: f32) -> Option<Vec3> {
        self.unproject_image(x, y, q).map(image_to_file)
    }

    /// The edge test's floor: jumps are measured relative to 1/z, which is q + floor in
    /// units of b (0 for metric depth, so the test is the warp's own |dq| / q).
    pub fn jump_floor(&self) -> f32 {
        self.inv_z.0 / self.inv_z.1
    }

    /// Whether neighbours with depth quantities `q0` and `q1` are one surface under the
    /// warp's edge test (`--edge-threshold`): |dq| / q, with q measured from 1/z = 0.
    pub fn same_surface(&self, q0: f32, q1: f32, edge_threshold: f32) -> bool {
        let floor = self.jump_floor();
        let jump = (q1 - q0).abs() / (q0.max(q1) + floor).max(1e-20);
        q0 >= 0.0 && q1 >= 0.0 && jump <= edge_threshold
    }

    /// The edge threshold for looking at the frame as geometry when none is set: a
    /// surface seen within one degree of edge-on (a relative depth jump of tan(89 deg) / fx
    /// per `step` pixels, the toolbox's `--remove_edges`) is not joined.
    pub fn edge_on_threshold(&self, step: u32) -> f32 {
        89f32.to_radians().tan() / self.fx * step.max(1) as f32
    }
}

/// fx of a frame `width` pixels wide with a horizontal field of view of `deg` degrees.
pub fn focal_from_fov(width: u32, deg: f32) -> f32 {
    width as f32 / (2.0 * (deg.to_radians() / 2.0).tan())
}

/// 1/z = a + b q for a range whose nearest point is q = `q_max` and farthest q = 0: the
/// nearest one unit in front of the farthest, which is [`RELATIVE_FAR_RATIO`] times as far.
fn relative_inv_z(q_max: f32) -> (f32, f32) {
    let r = RELATIVE_FAR_RATIO;
    let near = 1.0 / (r - 1.0);
    let far = r / (r - 1.0);
    (1.0 / far, (1.0 / near - 1.0 / far) / q_max)
}

/// Image axes (y down, z forward) to file axes (y up, looking down -z).
pub fn image_to_file(p: Vec3) -> Vec3 {
    Vec3::new(p.x, -p.y, -p.z)
}

/// Where a viewing camera is, relative to the source camera: moved by `offset` (x right,
/// y up, z forward, in scene units) and turned by `rotate_deg` (yaw to the right, pitch
/// up, roll clockwise, in degrees, applied roll first).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pose {
    pub offset: [f32; 3],
    pub rotate_deg: [f32; 3],
}

impl Pose {
    /// The pose of a camera at `position` in the image's axes (y down, z forward),
    /// turned by `rotate_deg`.
    pub fn from_image_position(position: Vec3, rotate_deg: [f32; 3]) -> Self {
        Pose {
            offset: [position.x, -position.y, position.z],
            rotate_deg,
        }
    }

    /// Camera-to-source rotation in the image's axes (y down, z forward).
    pub fn rotation(&self) -> Mat3 {
        let [yaw, pitch, roll] = self.rotate_deg.map(f32::to_radians);
        // Yaw right turns forward (+z) towards +x; pitch up towards -y (up in image
        // axes); roll clockwise tips +x towards +y.
        Mat3::from_rotation_y(yaw) * Mat3::from_rotation_x(pitch) * Mat3::from_rotation_z(roll)
    }

    /// The camera's position in the image's axes.
    pub fn position(&self) -> Vec3 {
        let [x, y, z] = self.offset;
        Vec3::new(x, -y, z)
    }

    /// The pose between `self` (t = 0) and `other` (t = 1), component by component.
    pub fn lerp(&self, other: &Pose, t: f32) -> Pose {
        let mix = |a: [f32; 3], b: [f32; 3]| std::array::from_fn(|i| a[i] + (b[i] - a[i]) * t);
        Pose {
            offset: mix(self.offset, other.offset),
            rotate_deg: mix(self.rotate_deg, other.rotate_deg),
        }
    }
}

/// A viewing camera: the source camera's intrinsics at `pose`.
#[derive(Clone, Copy, Debug)]
pub struct ViewCamera {
    pub source: SourceCamera,
    pub pose: Pose,
    /// Source image axes -> clip space (wgpu: x, y in -w..w, z in 0..w, reversed depth).
    pub clip_from_source: Mat4,
}

impl ViewCamera {
    pub fn new(source: SourceCamera, pose: Pose) -> Self {
        let r = pose.rotation();
        let c = pose.position();
        // x' = R^T (x - c)
        let view = Mat4::from_mat3(r.transpose()) * Mat4::from_translation(-c);
        let (w, h) = (source.size.0 as f32, source.size.1 as f32);
        let (cx, cy) = (source.cx, source.cy);
        // u = fx x / z + cx, v = fy y / z + cy; clip = (2u/W - 1, 1 - 2v/H) * z, depth
        // NEAR / z (1 at the near plane, falling towards 0 far away), w = z.
        let projection = Mat4::from_cols(
            Vec4::new(2.0 * source.fx / w, 0.0, 0.0, 0.0),
            Vec4::new(0.0, -2.0 * source.fy / h, 0.0, 0.0),
            Vec4::new(2.0 * cx / w - 1.0, 1.0 - 2.0 * cy / h, 0.0, 1.0),
            Vec4::new(0.0, 0.0, NEAR_PLANE, 0.0),
        );
        Self {
            source,
            pose,
            clip_from_source: projection * view,
        }
    }

    /// Where a point in the source's image axes lands in this camera's picture: pixel
    /// coordinates (edges at whole numbers, like the frame's) and distance. None behind
    /// the near plane.
    pub fn project_image(&self, p: Vec3) -> Option<(f32, f32, f32)> {
        let clip = self.clip_from_source * p.extend(1.0);
        if clip.w < NEAR_PLANE {
            return None;
        }
        let (w, h) = (self.source.size.0 as f32, self.source.size.1 as f32);
        let ndc = clip.truncate() / clip.w;
        Some(((ndc.x + 1.0) * 0.5 * w, (1.0 - ndc.y) * 0.5 * h, clip.w))
    }

    /// [`Self::project_image`] for a point in the file axes.
    pub fn project(&self, p: Vec3) -> Option<(f32, f32, f32)> {
        self.project_image(image_to_file(p))
    }

    /// The corners of the source camera's picture at distance `z`, in the file axes
    /// (top left, top right, bottom right, bottom left), for drawing its frustum.
    pub fn source_frustum(&self, z: f32) -> [Vec3; 4] {
        let s = &self.source;
        let (w, h) = (s.size.0 as f32, s.size.1 as f32);
        [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]
            .map(|(u, v)| image_to_file(Vec3::new((u - s.cx) * z / s.fx, (v - s.cy) * z / s.fy, z)))
    }
}

/// `--layout novel`'s camera: a fixed pose (`--camera-offset`, `--camera-rotate`) or a
/// keyframed path (`--camera-path`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NovelOptions {
    pub pose: Pose,
    pub path: Option<std::path::PathBuf>,
    /// Where on the input's timeline the path's clock starts (seconds); None: at
    /// `--start`. A chunked render's pieces keep the whole range's.
    pub clock_start_secs: Option<f64>,
}

impl NovelOptions {
    /// Whether any camera flag was given.
    pub fn is_set(&self) -> bool {
        self.pose != Pose::default() || self.path.is_some()
    }
}

/// A render's novel camera, settled before the first frame.
#[derive(Clone, Debug)]
pub struct NovelCamera {
    pub pose: Pose,
    pub path: Option<path::CameraPath>,
    /// The field of view relative depth is seen with (`--xfov`).
    pub xfov_deg: Option<f32>,
}

impl NovelCamera {
    /// The pose `seconds` into the output.
    pub fn pose_at(&self, seconds: f64) -> Pose {
        self.path.as_ref().map_or(self.pose, |p| p.at(seconds))
    }

    /// The mesh pass's uniform for a frame `seconds` into the output: drawn at every
    /// pixel, broken by the warp's edge and stretch tests (a surface seen almost edge-on
    /// is broken when no --edge-threshold is set, so a depth step leaves a hole to fill
    /// rather than a curtain).
    pub fn mesh_params(
        &self,
        stereo: &StereoParams,
        range: &DepthRange,
        frame: (u32, u32),
        work: (u32, u32),
        seconds: f64,
    ) -> crate::stereo::uniforms::MeshParams {
        let source = SourceCamera::new(stereo, range, frame, work, self.xfov_deg);
        let view = ViewCamera::new(source, self.pose_at(seconds));
        let edge = if stereo.edge_threshold < crate::stereo::NO_EDGE_THRESHOLD {
            stereo.edge_threshold
        } else {
            source.edge_on_threshold(1)
        };
        crate::gpu::mesh_params(&view, 1, edge, stereo.max_stretch_px)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stereo::{MetricCamera, disparity_px};

    fn metric_range() -> DepthRange {
        DepthRange {
            kind: DepthKind::Metric,
            value_scale: 20.0 / 65535.0,
            q_max: 1.0,
            ..Default::default()
        }
    }

    #[test]
    fn one_ipd_to_the_right_shifts_by_the_stereo_disparity() {
        for (range, fx) in [
            (metric_range(), 960.0),
            (DepthRange::default(), 0.0),
            (
                DepthRange {
                    kind: DepthKind::Disparity,
                    value_scale: 1.0 / 256.0,
                    q_max: 40.0,
                    ..Default::default()
                },
                0.0,
            ),
        ] {
            let stereo = StereoParams {
                camera: MetricCamera {
                    ipd_m: 0.063,
                    fx_px: fx,
                    convergence_m: Some(3.0),
                },
                convergence: 0.3,
                convergence_px: 5.0,
                ..Default::default()
            };
            // Warped at half the frame's size.
            let cam = SourceCamera::new(&stereo, &range, (1920, 1080), (960, 540), None);
            let right = ViewCamera::new(
                cam,
                Pose {
                    offset: [cam.ipd, 0.0, 0.0],
                    ..Default::default()
                },
            );
            // Up to the convergence's constant shift: differences between depths.
            let seen = |q: f32| {
                let p = cam.unproject_image(100.0, 300.0, q * range.q_max).unwrap();
                let (u, v, _) = right.project_image(p).unwrap();
                assert!((v - 300.5).abs() < 1e-3);
                (u, disparity_px(&stereo, &range, q * range.q_max) * 0.5)
            };
            let (u0, d0) = seen(0.05);
            for q in [0.2f32, 0.33, 0.5, 0.9] {
                let (u, d) = seen(q);
                assert!(
                    ((u - u0) + (d - d0)).abs() < 1e-2,
                    "{:?} q {q}: moved {} vs disparity {}",
                    range.kind,
                    u - u0,
                    d - d0
                );
            }
        }
    }

    #[test]
    fn the_source_pose_reprojects_every_pixel_onto_itself() {
        let cam = SourceCamera::new(
            &StereoParams::default(),
            &DepthRange::default(),
            (640, 360),
            (640, 360),
            Some(75.0),
        );
        let view = ViewCamera::new(cam, Pose::default());
        let p = cam.unproject(10.0, 20.0, 0.7).unwrap();
        let (u, v, z) = view.project(p).unwrap();
        assert!((u - 10.5).abs() < 1e-3 && (v - 20.5).abs() < 1e-3);
        assert!((z - cam.distance(0.7).unwrap()).abs() < 1e-5);
        // The file axes look down -z with y up: a pixel above the centre has y > 0.
        assert!(p.z < 0.0 && p.y > 0.0 && p.x < 0.0);
    }

    #[test]
    fn relative_depth_spans_one_unit_nearest_to_farthest() {
        let cam = SourceCamera::new(
            &StereoParams::default(),
            &DepthRange::default(),
            (100, 100),
            (100, 100),
            None,
        );
        let (near, far) = (cam.distance(1.0).unwrap(), cam.distance(0.0).unwrap());
        assert!((far - near - 1.0).abs() < 1e-5);
        assert!((far / near - RELATIVE_FAR_RATIO).abs() < 1e-4);
        // The edge test measures jumps against 1/z: 0.55 to 0.5 is a 10 % jump of q but
        // a smaller one of 1/z.
        assert!(!cam.same_surface(0.5, 0.55, 0.05));
        assert!(cam.same_surface(0.5, 0.52, 0.05));
    }

    #[test]
    fn yaw_right_moves_the_picture_left() {
        let cam = SourceCamera::new(
            &StereoParams::default(),
            &DepthRange::default(),
            (200, 100),
            (200, 100),
            None,
        );
        let turned = ViewCamera::new(
            cam,
            Pose {
                rotate_deg: [10.0, 0.0, 0.0],
                ..Default::default()
            },
        );
        let centre = cam.unproject_image(99.5, 49.5, 0.5).unwrap();
        let (u, v, _) = turned.project_image(centre).unwrap();
        let expected = 100.0 - cam.fx * 10f32.to_radians().tan();
        assert!((u - expected).abs() < 1e-2, "{u} vs {expected}");
        assert!((v - 50.0).abs() < 1e-3);
        let pitched = ViewCamera::new(
            cam,
            Pose {
                rotate_deg: [0.0, 10.0, 0.0],
                ..Default::default()
            },
        );
        let (_, v, _) = pitched.project_image(centre).unwrap();
        assert!(v > 50.0 + 5.0, "pitching up moves the picture down: {v}");
    }
}
