//! stereosplat: 2D video to stereoscopic 3D.
//!
//! Data flows one way through one module per stage:
//! [`decode`] (GStreamer -> RGBA frames) -> [`depth`] (depth per frame) ->
//! [`gpu`] (upload, forward warp, hole fill, compose on the GPU) -> [`encode`]
//! (GStreamer, with the source audio). [`render`] drives them for a whole clip.

pub mod batch;
pub mod bench;
pub mod cli;
pub mod control;
pub mod cpu;
pub mod depth;
pub mod frame;
pub mod fsutil;
pub mod gpu;
pub mod layout;
pub mod media;
pub mod preset;
pub mod preview;
pub mod progress;
pub mod render;
pub mod stereo;
pub mod trace;
