//! VR180 output (`--layout vr180`): each eye becomes a 180-degree equirectangular half of
//! a square, the picture placed on it as a flat screen `--vr-screen-fov` degrees wide in
//! front of the viewer, on black (or stretched over the whole half with `--vr-fill`).
//! compose.wgsl `vr180_uv` computes the same mapping per output pixel; this is the CPU
//! composer's and the tests' twin.
//!
//! An eye pixel at (u, v) in 0..1 looks along longitude `(u - 1/2) * 180 deg` and latitude
//! `(1/2 - v) * 180 deg`: the direction `(cos lat sin lon, sin lat, cos lat cos lon)`. The
//! screen is the plane z = 1, `2 tan(fov / 2)` wide and as high as the picture's aspect
//! gives; the direction meets it at `(x / z, y / z)`.

use glam::{Vec2, Vec3};

/// Default horizontal size of the virtual screen, in degrees.
pub const DEFAULT_SCREEN_FOV_DEG: f32 = 100.0;

/// How the picture is placed on the hemisphere.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VrPlacement {
    /// Horizontal field of view of the screen, degrees (ignored with `fill`).
    pub screen_fov_deg: f32,
    /// Stretch the picture over the whole half instead.
    pub fill: bool,
}

impl Default for VrPlacement {
    fn default() -> Self {
        Self {
            screen_fov_deg: DEFAULT_SCREEN_FOV_DEG,
            fill: false,
        }
    }
}

impl VrPlacement {
    /// The shader's parameters: the screen's half width and half height as tangents
    /// (`picture_aspect` = width / height), and whether to fill.
    pub fn shader(&self, picture_aspect: f32) -> [f32; 4] {
        let half_w = (self.screen_fov_deg.to_radians() * 0.5).tan();
        [
            half_w,
            half_w / picture_aspect.max(1e-6),
            if self.fill { 1.0 } else { 0.0 },
            0.0,
        ]
    }
}

/// Where in the picture (0..1 both ways) the eye pixel at `uv` (0..1 over the eye's half)
/// looks, or None where it sees black. `shader`: [`VrPlacement::shader`].
pub fn picture_uv(uv: Vec2, shader: [f32; 4]) -> Option<Vec2> {
    if shader[2] > 0.5 {
        return Some(uv);
    }
    let lon = (uv.x - 0.5) * std::f32::consts::PI;
    let lat = (0.5 - uv.y) * std::f32::consts::PI;
    let dir = Vec3::new(lat.cos() * lon.sin(), lat.sin(), lat.cos() * lon.cos());
    if dir.z <= 1e-6 {
        return None;
    }
    let on_screen = Vec2::new(dir.x / dir.z, dir.y / dir.z);
    let half = Vec2::new(shader[0], shader[1]);
    let p = Vec2::new(
        0.5 + on_screen.x / (2.0 * half.x),
        0.5 - on_screen.y / (2.0 * half.y),
    );
    (p.x >= 0.0 && p.x < 1.0 && p.y >= 0.0 && p.y < 1.0).then_some(p)
}

/// [`picture_uv`] for every pixel of an eye's half of `size` pixels, factored so that a
/// frame costs two multiply-adds a pixel: with the direction's `x / z = tan lon` and
/// `y / z = tan lat / cos lon`, the screen point depends on one value per column and one
/// per row. Built once per output size (the CPU composer's setup).
pub struct VrMap {
    shader: [f32; 4],
    /// Per column: the picture's u, and `1 / cos lon` (0 where the column looks behind).
    columns: Vec<(f32, f32)>,
    /// Per row: `tan lat` (and the row's v when filling).
    rows: Vec<f32>,
}

impl VrMap {
    pub fn new(size: (u32, u32), shader: [f32; 4]) -> Self {
        let pi = std::f32::consts::PI;
        let columns = (0..size.0)
            .map(|x| {
                let u = (x as f32 + 0.5) / size.0 as f32;
                let lon = (u - 0.5) * pi;
                let cos = lon.cos();
                if cos <= 1e-6 {
                    (f32::NAN, 0.0)
                } else {
                    (0.5 + lon.tan() / (2.0 * shader[0]), 1.0 / cos)
                }
            })
            .collect();
        let rows = (0..size.1)
            .map(|y| {
                let v = (y as f32 + 0.5) / size.1 as f32;
                ((0.5 - v) * pi).tan()
            })
            .collect();
        Self {
            shader,
            columns,
            rows,
        }
    }

    /// Where pixel (x, y) of the half looks in the picture, as [`picture_uv`] says.
    #[inline]
    pub fn at(&self, x: usize, y: usize) -> Option<Vec2> {
        if self.shader[2] > 0.5 {
            let (w, h) = (self.columns.len() as f32, self.rows.len() as f32);
            return Some(Vec2::new((x as f32 + 0.5) / w, (y as f32 + 0.5) / h));
        }
        let (u, sec) = self.columns[x];
        let v = 0.5 - self.rows[y] * sec / (2.0 * self.shader[1]);
        // NaN (behind the viewer) fails both tests.
        ((0.0..1.0).contains(&u) && (0.0..1.0).contains(&v)).then_some(Vec2::new(u, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_centre_looks_at_the_centre_and_the_screen_spans_its_field_of_view() {
        let s = VrPlacement::default().shader(16.0 / 9.0);
        assert_eq!(picture_uv(Vec2::splat(0.5), s), Some(Vec2::splat(0.5)));
        // 50 degrees right of centre (half the screen's 100) is the screen's right edge:
        // u = 0.5 + 50/180.
        let edge = 0.5 + 50.0 / 180.0;
        let inside = picture_uv(Vec2::new(edge - 0.002, 0.5), s).unwrap();
        assert!((inside.x - 1.0).abs() < 0.01, "{inside:?}");
        assert_eq!(picture_uv(Vec2::new(edge + 0.002, 0.5), s), None);
        // Behind the viewer's side: black.
        assert_eq!(picture_uv(Vec2::new(0.999, 0.5), s), None);
        let fill = VrPlacement {
            fill: true,
            ..Default::default()
        }
        .shader(1.0);
        assert_eq!(
            picture_uv(Vec2::new(0.1, 0.9), fill),
            Some(Vec2::new(0.1, 0.9))
        );
    }

    #[test]
    fn the_factored_map_is_the_projection() {
        for s in [
            VrPlacement::default().shader(16.0 / 9.0),
            VrPlacement {
                screen_fov_deg: 150.0,
                fill: false,
            }
            .shader(4.0 / 3.0),
        ] {
            let size = (97, 61);
            let map = VrMap::new(size, s);
            for y in 0..size.1 {
                for x in 0..size.0 {
                    let uv = Vec2::new(
                        (x as f32 + 0.5) / size.0 as f32,
                        (y as f32 + 0.5) / size.1 as f32,
                    );
                    match (map.at(x as usize, y as usize), picture_uv(uv, s)) {
                        (Some(a), Some(b)) => assert!((a - b).abs().max_element() < 1e-4),
                        // A point on the screen's very edge may fall either side.
                        (a, b) => assert_eq!(a.is_some(), b.is_some(), "({x}, {y})"),
                    }
                }
            }
        }
    }
}
