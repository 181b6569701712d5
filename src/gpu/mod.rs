//! Everything that runs on the GPU: one [`GpuContext`], the [`Warper`] that turns a frame
//! and its depth into the two eye views, the [`Composer`] that packs them into the output
//! layout, and [`Readback`] that brings only the final frame back to the CPU.

mod binding;
mod compose;
mod context;
mod model_input;
mod profile;
mod readback;
pub mod shaders;
pub mod warp;
mod yuv;

pub use compose::Composer;
pub use context::{AdapterChoice, GpuContext, GpuError, list_adapters};
pub use model_input::{ChannelNorm, ModelInput};
pub use profile::PassTimer;
pub use readback::{Readback, ReadbackError, padded_row_bytes, read_texture};
pub use shaders::ShaderSet;
pub use warp::{Warper, mesh_params};
pub use yuv::YuvPacker;

/// How precisely the warp and compose hold colour: 8 bits per channel, or half floats
/// for HDR sources kept as HDR (10-bit code values survive the round trip exactly).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    Unorm8,
    Float16,
}

impl Precision {
    /// The format of the frame, the eye views and the composed output.
    pub fn colour_format(self) -> wgpu::TextureFormat {
        match self {
            Precision::Unorm8 => wgpu::TextureFormat::Rgba8Unorm,
            Precision::Float16 => wgpu::TextureFormat::Rgba16Float,
        }
    }

    /// Bytes per pixel of the colour format.
    pub fn pixel_bytes(self) -> u32 {
        match self {
            Precision::Unorm8 => 4,
            Precision::Float16 => 8,
        }
    }

    /// A shader's text with its colour outputs (the frame, the resampled frame, the eye
    /// views, the composed output) in this precision's format; masks stay 8-bit.
    pub fn widen(self, source: String) -> String {
        if self == Precision::Unorm8 {
            return source;
        }
        let mut s = source;
        for var in [
            "frame",
            "resampled",
            "warped_out",
            "filled_out",
            "out_frame",
        ] {
            s = s.replace(
                &format!("var {var}: texture_storage_2d<rgba8unorm, write>"),
                &format!("var {var}: texture_storage_2d<rgba16float, write>"),
            );
        }
        s
    }
}

/// Prefix of every GPU object label, so captures and validation errors name their owner.
pub(crate) const LABEL: &str = "stereosplat";

/// Workgroup edge of every per-pixel compute pass (shaders use `@workgroup_size(16, 16)`).
pub(crate) const WORKGROUP: u32 = 16;

pub(crate) fn dispatch_size(width: u32, height: u32) -> (u32, u32) {
    (width.div_ceil(WORKGROUP), height.div_ceil(WORKGROUP))
}
