//! stereosplat: 2D video to stereoscopic 3D. [`render`] drives one clip, a frame at a time:
//! [`media::decode`] (frames and audio) -> [`depth`] (a depth file, or an estimate) -> the
//! warp and compose on one of two back ends of the [`stereo`] model: [`gpu`] (WGSL shaders)
//! on a hardware GPU, or [`cpu`] (the same algorithm, on the CPU's cores) where the only
//! GPU is a software rasteriser -> [`media::encode`]. [`preview`] shows the same warp live.

pub mod batch;
pub mod bench;
pub mod cli;
pub mod comfort;
pub mod control;
pub mod cpu;
pub mod depth;
pub mod frame;
pub mod fsutil;
pub mod gpu;
pub mod hdr;
pub mod inpaint;
pub mod layout;
pub mod media;
pub mod models;
pub mod onnx;
pub mod preset;
pub mod preview;
pub mod progress;
pub mod render;
pub mod stereo;
pub mod trace;
pub mod view3d;
pub mod vr180;
