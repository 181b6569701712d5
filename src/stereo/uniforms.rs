//! What the shaders and the CPU warp share: the uniform structs (each has a WGSL twin in
//! shaders/common.wgsl) and the constants of the algorithm. tests/shader_validation.rs
//! reads both back from the WGSL with naga: every struct's size and field offsets, and
//! every constant in [`SHADER_CONSTANTS`].

use bytemuck::{Pod, Zeroable};

/// Twin: `WarpParams` in shaders/common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq)]
pub struct WarpParams {
    pub size: [u32; 2],
    pub shift_gain_px: f32,
    pub zero_nearness: f32,
    pub max_stretch_px: f32,
    pub key_scale: f32,
    pub edge_threshold: f32,
    pub fill_mode: u32,
    /// `--preserve-border`: the shift eases to zero over this many work pixels along the
    /// left and right edges (0 = off).
    pub border_px: f32,
    pub _pad: u32,
}

/// Twin: `BandParams` in shaders/common.wgsl: the rows one z-buffer pass covers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq)]
pub struct BandParams {
    pub first_row: u32,
    pub rows: u32,
    pub _pad: [u32; 2],
}

/// Twin: `DepthParams` in shaders/common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq)]
pub struct DepthParams {
    pub out_size: [u32; 2],
    pub raw_size: [u32; 2],
    pub range_min: f32,
    pub range_scale: f32,
    pub far_is_bright: u32,
    pub kind: u32,
    pub value_scale: f32,
    /// Radius of the depth max filter along x and y (work pixels); 0 = off.
    pub dilate_px: u32,
    pub rgb_encoded: u32,
    pub dilate_y_px: u32,
    /// Relative depth's shaping (stereo::shape): a `CURVE_*` id, its parameter, and the
    /// foreground scale.
    pub curve: u32,
    pub curve_k: f32,
    pub foreground_scale: f32,
    pub _pad: u32,
}

/// Twin: `ComposeParams` in shaders/common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq)]
pub struct ComposeParams {
    pub out_size: [u32; 2],
    pub content_size: [u32; 2],
    pub eye_size: [u32; 2],
    /// `--floating-window`: black bands over the left eye's left edge and the right eye's
    /// right edge, as fractions of the picture's width.
    pub window: [f32; 2],
    /// Where the picture sits in each eye's region, as fractions (x0, y0, x1, y1): the
    /// rest is black (`--autocrop` keeping the bars).
    pub picture: [f32; 4],
    /// Rows of the left and right anaglyph matrices (w unused).
    pub left_rows: [[f32; 4]; 3],
    pub right_rows: [[f32; 4]; 3],
    /// VR180 (`vr180::VrPlacement::shader`): the screen's half width and height as
    /// tangents, and 1 to stretch the picture over the whole half instead.
    pub vr: [f32; 4],
}

/// Twin: `MeshParams` in shaders/common.wgsl: the frame drawn as a mesh from another
/// camera (shaders/mesh.wgsl, `crate::view3d`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq)]
pub struct MeshParams {
    /// The source camera's image axes (x right, y down, z forward) -> clip space.
    pub clip_from_source: [[f32; 4]; 4],
    /// The depth grid (the warp's work size) and the distance between vertices in pixels.
    pub size: [u32; 2],
    pub step: u32,
    /// `view3d::SourceCamera::jump_floor`.
    pub jump_floor: f32,
    pub focal: [f32; 2],
    pub centre: [f32; 2],
    /// 1/z = inv_z.x + inv_z.y * depth quantity.
    pub inv_z: [f32; 2],
    /// Triangles whose corners jump more than this (`--edge-threshold`) are dropped...
    pub edge_threshold: f32,
    /// ...and those stretched more than this many times what their distance explains.
    pub max_stretch: f32,
}

/// Twin: `ModelInputParams` in shaders/common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq)]
pub struct ModelInputParams {
    pub src_size: [u32; 2],
    pub dst_size: [u32; 2],
    pub mean: [f32; 4],
    pub inv_std: [f32; 4],
    pub taps: [u32; 2],
    pub has_prev: u32,
    pub _pad: u32,
}

/// Twin: `YuvParams` in shaders/common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq)]
pub struct YuvParams {
    pub size: [u32; 2],
    pub y_stride: u32,
    pub c_stride: u32,
    pub u_offset: u32,
    pub v_offset: u32,
    pub scratch_word: u32,
    pub _pad: u32,
    pub y_row: [f32; 4],
    pub cb_row: [f32; 4],
    pub cr_row: [f32; 4],
}

/// Twin: `UnpackParams` in shaders/common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq)]
pub struct UnpackParams {
    pub size: [u32; 2],
    pub y_offset: u32,
    pub u_offset: u32,
    pub v_offset: u32,
    pub y_stride: u32,
    pub c_stride: u32,
    pub interleaved: u32,
    pub v_stride: u32,
    /// 1, or 2 for 10-bit samples.
    pub sample_bytes: u32,
    /// What a 16-bit sample is multiplied by to give an 8-bit code value: 1/4 for 10-bit
    /// I420 (the value in the low bits), 1/256 for P010 (in the high bits).
    pub sample_scale: f32,
    pub _pad: u32,
    pub r_row: [f32; 4],
    pub g_row: [f32; 4],
    pub b_row: [f32; 4],
}

/// `WarpParams::fill_mode`: copy the background-side pixel of the row.
pub const FILL_SCANLINE: u32 = 0;
/// `WarpParams::fill_mode`: blend the background around the hole.
pub const FILL_BACKGROUND: u32 = 1;
/// "No pixel" in index buffers.
pub const NONE: u32 = u32::MAX;
/// "No row" in the fill's 16-bit halves of a word.
pub const NONE16: u32 = 0xFFFF;
/// `DepthParams::kind`.
pub const DEPTH_RELATIVE: u32 = 0;
pub const DEPTH_METRIC: u32 = 1;
pub const DEPTH_DISPARITY: u32 = 2;
/// Z-buffer keys: the upper 18 bits hold the nearness (larger = nearer, so the maximum
/// keeps the nearest surface), the lower 14 bits the source column, so the resolve can
/// recompute the exact sub-pixel sample that won. Hence the warp's width limit.
pub const KEY_X_BITS: u32 = 14;
pub const KEY_X_MASK: u32 = (1 << KEY_X_BITS) - 1;
pub const KEY_NEAR_LEVELS: f32 = 262142.0;
/// Resolve: depth tolerance (in key units) of samples averaged on a compressed surface,
/// and the reach of that box filter in source pixels.
pub const SAME_SURFACE: f32 = 0.02;
pub const GATHER: i32 = 3;
/// Fill: depth tolerance of a vertical neighbour on the row's background.
pub const BACKGROUND_TOLERANCE: f32 = 0.02;
/// Guided depth upsampling: colour difference at which a tap's weight falls to 1/e^2.
pub const GUIDE_SIGMA: f32 = 0.08;
/// `DepthParams::curve` (stereo::shape::DepthCurve).
pub const CURVE_LINEAR: u32 = 0;
pub const CURVE_GAMMA: u32 = 1;
pub const CURVE_INVERSE: u32 = 2;
pub const CURVE_SIGMOID: u32 = 3;
pub const CURVE_SOFTPLUS: u32 = 4;

/// (shader file, constant, value) for every constant above, as the WGSL declares it.
pub const SHADER_CONSTANTS: &[(&str, &str, f64)] = &[
    ("common.wgsl", "FILL_SCANLINE", FILL_SCANLINE as f64),
    ("common.wgsl", "FILL_BACKGROUND", FILL_BACKGROUND as f64),
    ("common.wgsl", "NONE", NONE as f64),
    ("common.wgsl", "DEPTH_RELATIVE", DEPTH_RELATIVE as f64),
    ("common.wgsl", "DEPTH_METRIC", DEPTH_METRIC as f64),
    ("common.wgsl", "DEPTH_DISPARITY", DEPTH_DISPARITY as f64),
    ("common.wgsl", "KEY_X_BITS", KEY_X_BITS as f64),
    ("common.wgsl", "KEY_X_MASK", KEY_X_MASK as f64),
    ("common.wgsl", "KEY_NEAR_LEVELS", KEY_NEAR_LEVELS as f64),
    ("warp_resolve.wgsl", "SAME_SURFACE", SAME_SURFACE as f64),
    ("warp_resolve.wgsl", "GATHER", GATHER as f64),
    ("fill_columns.wgsl", "NONE16", NONE16 as f64),
    ("fill_resolve.wgsl", "NONE16", NONE16 as f64),
    (
        "fill_resolve.wgsl",
        "BACKGROUND_TOLERANCE",
        BACKGROUND_TOLERANCE as f64,
    ),
    ("depth_prep.wgsl", "GUIDE_SIGMA", GUIDE_SIGMA as f64),
    ("common.wgsl", "CURVE_LINEAR", CURVE_LINEAR as f64),
    ("common.wgsl", "CURVE_GAMMA", CURVE_GAMMA as f64),
    ("common.wgsl", "CURVE_INVERSE", CURVE_INVERSE as f64),
    ("common.wgsl", "CURVE_SIGMOID", CURVE_SIGMOID as f64),
    ("common.wgsl", "CURVE_SOFTPLUS", CURVE_SOFTPLUS as f64),
    (
        "common.wgsl",
        "FOREGROUND_PIVOT",
        super::shape::FOREGROUND_PIVOT as f64,
    ),
];
