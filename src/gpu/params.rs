//! Uniform structs shared with the shaders. Each has a WGSL twin in shaders/common.wgsl;
//! tests/shader_validation.rs checks the sizes against naga's layout of the WGSL.

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
}

/// Twin: `ComposeParams` in shaders/common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq)]
pub struct ComposeParams {
    pub out_size: [u32; 2],
    pub content_size: [u32; 2],
    pub eye_size: [u32; 2],
    pub _pad: [u32; 2],
    /// Rows of the left and right anaglyph matrices (w unused).
    pub left_rows: [[f32; 4]; 3],
    pub right_rows: [[f32; 4]; 3],
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
