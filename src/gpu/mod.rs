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

/// Prefix of every GPU object label, so captures and validation errors name their owner.
pub(crate) const LABEL: &str = "stereosplat";

/// Workgroup edge of every per-pixel compute pass (shaders use `@workgroup_size(16, 16)`).
pub(crate) const WORKGROUP: u32 = 16;

pub(crate) fn dispatch_size(width: u32, height: u32) -> (u32, u32) {
    (width.div_ceil(WORKGROUP), height.div_ceil(WORKGROUP))
}
