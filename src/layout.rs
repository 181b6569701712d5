//! Output layouts: frame sizes, anaglyph matrices, container stereo metadata and the
//! file-name tags VR players read (../shared/docs/SPEC.md section 5).

use clap::ValueEnum;

/// Where the warp runs (`--warp-resolution`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum WarpResolution {
    /// At the size each eye is shown at in the output: half-width and half-height
    /// layouts warp half the pixels (the frame is averaged down first, the box filter the
    /// output squeeze applies anyway).
    #[default]
    Output,
    /// At the input's size, squeezing the warped eyes afterwards.
    Input,
}

impl WarpResolution {
    /// The warp size for `layout` and an input frame of `w` x `h`.
    pub fn work_size(self, layout: Layout, w: u32, h: u32) -> (u32, u32) {
        match self {
            WarpResolution::Output => layout.shown_eye_size(w, h),
            WarpResolution::Input => (w, h),
        }
    }
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Full side by side: left | right, twice the input width.
    #[default]
    Sbs,
    /// Half side by side: each eye squeezed to half width; keeps the input size.
    HalfSbs,
    /// Full top-bottom: left over right, twice the input height.
    Tb,
    /// Half top-bottom: each eye squeezed to half height.
    HalfTb,
    /// Red/cyan anaglyph for glasses (see --anaglyph).
    Anaglyph,
    /// Cross-eyed viewing: right | left, full width.
    Cross,
    /// Cross-eyed, each eye at half width.
    HalfCross,
    /// Left eye only.
    Left,
    /// Right eye only.
    Right,
    /// StereoCrafter's 2x2 grid: input, depth (inferno), hole mask, warped view with holes.
    Grid,
    /// The depth in use, as an inferno colour map (near = bright).
    Depth,
    /// The disocclusion holes of the synthesised view (white), before filling.
    Holes,
    /// Colour and depth side by side (Looking Glass and other glasses-free displays):
    /// the input on the left, the depth in use on the right as grey (near = bright),
    /// twice the input width.
    Rgbd,
    /// Colour and depth side by side, each squeezed to half width.
    HalfRgbd,
    /// VR180 for headsets: each eye a 180-degree equirectangular square, left | right,
    /// the picture on it as a flat screen (`--vr-screen-fov`, `--vr-fill`).
    Vr180,
    /// The input seen from a moved camera (`--camera-offset`, `--camera-rotate`,
    /// `--camera-path`): the frame drawn as a mesh of its depth, holes filled by --fill.
    Novel,
}

impl Layout {
    pub const ALL: [Layout; 16] = [
        Layout::Sbs,
        Layout::HalfSbs,
        Layout::Tb,
        Layout::HalfTb,
        Layout::Anaglyph,
        Layout::Cross,
        Layout::HalfCross,
        Layout::Left,
        Layout::Right,
        Layout::Grid,
        Layout::Depth,
        Layout::Holes,
        Layout::Rgbd,
        Layout::HalfRgbd,
        Layout::Vr180,
        Layout::Novel,
    ];

    /// Matches the LAYOUT_* constants in shaders/compose.wgsl.
    pub fn shader_id(self) -> u32 {
        match self {
            Layout::Sbs => 0,
            Layout::HalfSbs => 1,
            Layout::Tb => 2,
            Layout::HalfTb => 3,
            Layout::Anaglyph => 4,
            Layout::Cross => 5,
            Layout::Left => 6,
            Layout::Right => 7,
            Layout::Grid => 8,
            Layout::HalfCross => 9,
            Layout::Depth => 10,
            Layout::Holes => 11,
            Layout::Rgbd => 12,
            Layout::HalfRgbd => 13,
            Layout::Vr180 => 14,
            // The warper draws the novel view where the right eye goes.
            Layout::Novel => 7,
        }
    }

    /// The command-line spelling (`half-sbs`), for messages that say what to type.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }

    /// What a viewer calls this layout, for lists in the window and in messages.
    pub fn label(self) -> &'static str {
        match self {
            Layout::Sbs => "Side by side, full width",
            Layout::HalfSbs => "Half side by side",
            Layout::Tb => "Top and bottom, full height",
            Layout::HalfTb => "Half top and bottom",
            Layout::Anaglyph => "Anaglyph (red/cyan glasses)",
            Layout::Cross => "Cross-eyed, full width",
            Layout::HalfCross => "Half cross-eyed",
            Layout::Left => "Left eye only",
            Layout::Right => "Right eye only",
            Layout::Grid => "Grid: input, depth, holes, warped view",
            Layout::Depth => "Depth map",
            Layout::Holes => "Hole mask",
            Layout::Rgbd => "Colour and depth (RGBD), full width",
            Layout::HalfRgbd => "Colour and depth (RGBD), half width",
            Layout::Vr180 => "VR180 for headsets",
            Layout::Novel => "Novel view from a moved camera",
        }
    }

    /// Output frame size for one eye of `w` x `h`.
    pub fn output_size(self, w: u32, h: u32) -> (u32, u32) {
        match self {
            Layout::Sbs | Layout::Cross | Layout::Rgbd => (2 * w, h),
            // A square per eye, as wide as the input (even: 4:2:0).
            Layout::Vr180 => {
                let side = (w + w % 2).max(2);
                (2 * side, side)
            }
            Layout::Tb => (w, 2 * h),
            Layout::Grid => (2 * w, 2 * h),
            Layout::HalfSbs | Layout::HalfCross | Layout::HalfRgbd => (w - w % 2, h),
            Layout::HalfTb => (w, h - h % 2),
            Layout::Anaglyph
            | Layout::Left
            | Layout::Right
            | Layout::Depth
            | Layout::Holes
            | Layout::Novel => (w, h),
        }
    }

    /// (output size, the part of it that holds the picture) for an eye of `eye` size;
    /// `even` rounds the output up to even sides (4:2:0 encoders), the extra row or
    /// column repeating the edge.
    pub fn frame_sizes(self, eye: (u32, u32), even: bool) -> ((u32, u32), (u32, u32)) {
        let content = self.output_size(eye.0, eye.1);
        let out = if even {
            (content.0 + content.0 % 2, content.1 + content.1 % 2)
        } else {
            content
        };
        (out, content)
    }

    /// The size each eye is shown at in this layout's output, for an eye of `w` x `h`:
    /// half-width and half-height layouts squeeze it. The warp runs at this size
    /// (`--warp-resolution output`), so it never computes pixels the output drops.
    pub fn shown_eye_size(self, w: u32, h: u32) -> (u32, u32) {
        match self {
            Layout::HalfSbs | Layout::HalfCross => ((w / 2).max(1), h),
            Layout::HalfTb => (w, (h / 2).max(1)),
            _ => (w, h),
        }
    }

    /// Whether the output shows the eyes (every layout but the inspection views: grid,
    /// depth and holes).
    pub fn shows_eyes(self) -> bool {
        !matches!(
            self,
            Layout::Grid | Layout::Depth | Layout::Holes | Layout::Rgbd | Layout::HalfRgbd
        )
    }

    /// Whether the right eye's view comes first (left or top) in the frame.
    pub fn is_right_first(self) -> bool {
        matches!(self, Layout::Cross | Layout::HalfCross)
    }

    /// Matroska StereoMode (SPEC section 5), if the layout has one.
    pub fn matroska_stereo_mode(self) -> Option<u8> {
        match self {
            Layout::Sbs | Layout::HalfSbs => Some(1),
            Layout::Cross | Layout::HalfCross => Some(11),
            Layout::Vr180 => Some(1),
            Layout::Tb | Layout::HalfTb => Some(3),
            Layout::Anaglyph => Some(10),
            Layout::Left
            | Layout::Right
            | Layout::Grid
            | Layout::Depth
            | Layout::Holes
            | Layout::Rgbd
            | Layout::HalfRgbd
            | Layout::Novel => None,
        }
    }

    /// File-name tag VR players use to detect the layout (`--name-tags`).
    pub fn name_tag(self) -> Option<&'static str> {
        match self {
            Layout::Sbs => Some("_LRF_Full_SBS"),
            Layout::HalfSbs => Some("_LR"),
            Layout::Tb => Some("_TBF"),
            Layout::HalfTb => Some("_TB"),
            Layout::Cross => Some("_RLF"),
            Layout::HalfCross => Some("_RL"),
            Layout::Anaglyph => Some("_Anaglyph"),
            Layout::Rgbd => Some("_RGBD"),
            Layout::HalfRgbd => Some("_HRGBD"),
            Layout::Vr180 => Some("_VR180_180x180_3dh_LR"),
            Layout::Left
            | Layout::Right
            | Layout::Grid
            | Layout::Depth
            | Layout::Holes
            | Layout::Novel => None,
        }
    }

    pub fn is_stereo_pair(self) -> bool {
        !matches!(
            self,
            Layout::Left
                | Layout::Right
                | Layout::Grid
                | Layout::Anaglyph
                | Layout::Depth
                | Layout::Holes
                | Layout::Rgbd
                | Layout::HalfRgbd
                | Layout::Novel
        )
    }
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Anaglyph {
    /// Dubois least-squares red/cyan: the least ghosting for red/cyan glasses.
    #[default]
    Dubois,
    /// Full colour (L.r, R.g, R.b), as StereoCrafter writes.
    Color,
    /// Grey in both eyes: no retinal rivalry, no colour.
    Gray,
    /// Grey left eye, colour right eye.
    HalfColor,
}

impl Anaglyph {
    pub const ALL: [Anaglyph; 4] = [
        Anaglyph::Dubois,
        Anaglyph::Color,
        Anaglyph::Gray,
        Anaglyph::HalfColor,
    ];

    /// What the method is called in lists.
    pub fn label(self) -> &'static str {
        match self {
            Anaglyph::Dubois => "Dubois (least ghosting)",
            Anaglyph::Color => "Full colour",
            Anaglyph::Gray => "Grey",
            Anaglyph::HalfColor => "Half colour",
        }
    }
}

type Rows = [[f32; 4]; 3];

const LUMA: [f32; 4] = [0.299, 0.587, 0.114, 0.0];
const ZERO: [f32; 4] = [0.0; 4];

impl Anaglyph {
    /// (left rows, right rows): out.rgb = Lrows * left.rgb + Rrows * right.rgb.
    pub fn matrices(self) -> (Rows, Rows) {
        match self {
            // Eric Dubois' red-cyan matrices (published coefficients).
            Anaglyph::Dubois => (
                [
                    [0.456, 0.500, 0.176, 0.0],
                    [-0.040, -0.038, -0.016, 0.0],
                    [-0.015, -0.021, -0.005, 0.0],
                ],
                [
                    [-0.043, -0.088, -0.002, 0.0],
                    [0.378, 0.734, -0.018, 0.0],
                    [-0.072, -0.113, 1.226, 0.0],
                ],
            ),
            Anaglyph::Color => (
                [[1.0, 0.0, 0.0, 0.0], ZERO, ZERO],
                [ZERO, [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]],
            ),
            Anaglyph::Gray => ([LUMA, ZERO, ZERO], [ZERO, LUMA, LUMA]),
            Anaglyph::HalfColor => (
                [LUMA, ZERO, ZERO],
                [ZERO, [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]],
            ),
        }
    }
}

/// Appends the layout's player tag to a file stem: `clip` -> `clip_LRF_Full_SBS`.
pub fn tagged_stem(stem: &str, layout: Layout) -> String {
    match layout.name_tag() {
        Some(tag) if !stem.ends_with(tag) => format!("{stem}{tag}"),
        _ => stem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_layout() {
        assert_eq!(Layout::Sbs.output_size(640, 360), (1280, 360));
        assert_eq!(Layout::HalfSbs.output_size(640, 360), (640, 360));
        assert_eq!(Layout::Tb.output_size(640, 360), (640, 720));
        assert_eq!(Layout::Grid.output_size(640, 360), (1280, 720));
        assert_eq!(Layout::HalfSbs.output_size(853, 480), (852, 480));
    }

    #[test]
    fn tags_are_appended_once() {
        assert_eq!(tagged_stem("clip", Layout::Sbs), "clip_LRF_Full_SBS");
        assert_eq!(tagged_stem("clip_LR", Layout::HalfSbs), "clip_LR");
        assert_eq!(tagged_stem("clip", Layout::Grid), "clip");
    }
}

/// What `--autocrop` does with letterbox and pillarbox bars.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Autocrop {
    /// Warp only the picture and put it back between pure black bars: the output keeps
    /// the input's frame.
    #[default]
    Keep,
    /// Warp only the picture and output it alone: the output is the picture's size.
    Crop,
}

/// A rectangle of pixels: origin and size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn whole(size: (u32, u32)) -> Self {
        Self {
            x: 0,
            y: 0,
            w: size.0,
            h: size.1,
        }
    }

    pub fn size(&self) -> (u32, u32) {
        (self.w, self.h)
    }
}

/// The frame each eye is shown in and where the warped picture sits in it. Normally the
/// picture is the whole frame; `--autocrop` (keeping the bars) warps only the picture
/// inside letterbox or pillarbox bars and puts it back between pure black bars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Canvas {
    /// The eye's frame, bars included (the input's size).
    pub size: (u32, u32),
    /// The picture inside it (the size the warp's frames have).
    pub picture: Rect,
}

impl Canvas {
    pub fn whole(size: (u32, u32)) -> Self {
        Self {
            size,
            picture: Rect::whole(size),
        }
    }

    /// The picture's place in an eye region of `region` pixels (the canvas as shown in a
    /// layout, squeezed or not), where the eye view is `view` pixels: its origin is
    /// scaled and rounded, and its size is the view's, so that the view copies in 1:1.
    pub fn picture_in(&self, region: (u32, u32), view: (u32, u32)) -> Rect {
        let scale = |v: u32, to: u32, from: u32| {
            (f64::from(v) * f64::from(to) / f64::from(from.max(1))).round() as u32
        };
        let w = view.0.min(region.0);
        let h = view.1.min(region.1);
        Rect {
            x: scale(self.picture.x, region.0, self.size.0).min(region.0 - w),
            y: scale(self.picture.y, region.1, self.size.1).min(region.1 - h),
            w,
            h,
        }
    }

    /// The picture as fractions of the canvas: (x0, y0, x1, y1).
    pub fn fractions(&self) -> [f32; 4] {
        let (w, h) = (self.size.0.max(1) as f32, self.size.1.max(1) as f32);
        let p = &self.picture;
        [
            p.x as f32 / w,
            p.y as f32 / h,
            (p.x + p.w) as f32 / w,
            (p.y + p.h) as f32 / h,
        ]
    }

    /// The picture in a frame of `size` showing the same view at another resolution
    /// (a depth map of the whole canvas): edges scaled and rounded, at least a pixel.
    pub fn scaled_picture(&self, size: (u32, u32)) -> Rect {
        let edge = |v: u32, to: u32, from: u32| {
            ((f64::from(v) * f64::from(to) / f64::from(from.max(1))).round() as u32).min(to)
        };
        let p = &self.picture;
        let x0 = edge(p.x, size.0, self.size.0).min(size.0.saturating_sub(1));
        let y0 = edge(p.y, size.1, self.size.1).min(size.1.saturating_sub(1));
        let x1 = edge(p.x + p.w, size.0, self.size.0).max(x0 + 1);
        let y1 = edge(p.y + p.h, size.1, self.size.1).max(y0 + 1);
        Rect {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        }
    }

    pub fn is_whole(&self) -> bool {
        self.picture == Rect::whole(self.size)
    }
}
