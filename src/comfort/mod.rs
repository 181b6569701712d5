//! What makes the 3D comfortable to watch, beyond the warp itself: the parallax a render
//! actually used and whether it stays within the usual limits ([`report`]).
//!
//! The geometry: a disparity of `d` pixels (positive in front of the screen) in a frame
//! `W` pixels wide, shown on a screen `S` metres wide, is a screen parallax of
//! `p = -d S / W` metres (positive behind). Seen from `V` metres by eyes `e` apart, the
//! point's vergence differs from the screen's by
//! `2 atan(e / 2V) - 2 atan((e - p) / 2V)` (positive behind). Behind the screen, `p`
//! may not exceed `e`: the eyes would have to turn outward (divergence). In front,
//! about 1 degree is the usual limit for comfortable viewing.

pub mod report;
pub mod track;

pub use report::{ComfortReport, ComfortSummary, FrameFigures};

/// The screen and seat the figures are computed for (`--screen-width-m`,
/// `--viewing-distance-m`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Viewing {
    pub screen_width_m: f32,
    pub viewing_distance_m: f32,
}

impl Default for Viewing {
    /// A 55-inch 16:9 television (1.21 m wide) seen from 2.5 m.
    fn default() -> Self {
        Self {
            screen_width_m: DEFAULT_SCREEN_WIDTH_M,
            viewing_distance_m: DEFAULT_VIEWING_DISTANCE_M,
        }
    }
}

pub const DEFAULT_SCREEN_WIDTH_M: f32 = 1.21;
pub const DEFAULT_VIEWING_DISTANCE_M: f32 = 2.5;
/// The viewer's eye separation (an adult's average).
pub const EYE_SEPARATION_M: f32 = 0.063;
/// The usual limit of crossed (in front of the screen) angular disparity.
pub const FRONT_LIMIT_DEG: f32 = 1.0;

impl Viewing {
    /// Screen parallax in metres (positive behind the screen) of a disparity of `d_px`
    /// pixels (positive in front) in a frame `width` pixels wide.
    pub fn parallax_m(&self, d_px: f32, width: u32) -> f32 {
        -d_px * self.screen_width_m / width.max(1) as f32
    }

    /// Angular disparity in degrees relative to the screen (positive behind) of a
    /// disparity of `d_px` pixels in a frame `width` pixels wide.
    pub fn angle_deg(&self, d_px: f32, width: u32) -> f32 {
        let e = f64::from(EYE_SEPARATION_M);
        let v = f64::from(self.viewing_distance_m);
        let p = f64::from(self.parallax_m(d_px, width));
        let screen = 2.0 * (e / (2.0 * v)).atan();
        let point = 2.0 * ((e - p) / (2.0 * v)).atan();
        (screen - point).to_degrees() as f32
    }

    /// Whether content `d_px` pixels of disparity away keeps the eyes from diverging.
    pub fn behind_ok(&self, d_px: f32, width: u32) -> bool {
        self.parallax_m(d_px, width) <= EYE_SEPARATION_M
    }

    /// Whether content at `d_px` stays within [`FRONT_LIMIT_DEG`] in front.
    pub fn front_ok(&self, d_px: f32, width: u32) -> bool {
        -self.angle_deg(d_px, width) <= FRONT_LIMIT_DEG
    }

    /// Checks the numbers a user gave.
    pub fn check(&self) -> Result<(), String> {
        let ok = |v: f32, lo: f32, hi: f32| v.is_finite() && v >= lo && v <= hi;
        if !ok(self.screen_width_m, 0.05, 50.0) {
            return Err(format!(
                "--screen-width-m is the screen's width in metres (0.05 to 50; a 55-inch TV is 1.21), got {}",
                self.screen_width_m
            ));
        }
        if !ok(self.viewing_distance_m, 0.05, 200.0) {
            return Err(format!(
                "--viewing-distance-m is the distance from the eyes to the screen in metres (0.05 to 200), got {}",
                self.viewing_distance_m
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallax_and_angles_by_hand() {
        let v = Viewing {
            screen_width_m: 2.0,
            viewing_distance_m: 4.0,
        };
        // 20 px in front in a 2000 px frame on a 2 m screen: 2 cm of crossed parallax.
        assert!((v.parallax_m(20.0, 2000) + 0.02).abs() < 1e-7);
        // 2 atan(0.063 / 8) - 2 atan((0.063 + 0.02) / 8), in degrees.
        let want = (2.0 * (0.063f64 / 8.0).atan() - 2.0 * (0.083f64 / 8.0).atan()).to_degrees();
        assert!((f64::from(v.angle_deg(20.0, 2000)) - want).abs() < 1e-5);
        assert!(v.front_ok(20.0, 2000));
        // 63 mm behind is the limit: 63 px here.
        assert!(v.behind_ok(-63.0, 2000));
        assert!(!v.behind_ok(-63.5, 2000));
    }
}
