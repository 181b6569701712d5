//! Depth for each frame: pre-rendered depth videos or images ([`prerendered`]), given with
//! `--depth` or found beside the input as `<stem>_depth.<ext>`; otherwise estimated
//! ([`estimate`]) by an ONNX model ([`model`], through [`crate::onnx`]) or by the built-in image
//! cues ([`cues`]), normalised over time ([`normalize`]), cached and exportable
//! ([`writer`]).

pub mod codec;
pub mod convergence;
pub mod cues;
pub mod estimate;
pub mod model;
pub mod normalize;
pub mod prerendered;
pub mod profile;
pub mod scan;
pub mod writer;

pub use prerendered::{DepthError, DepthScan, DepthStream, Matching, find_sidecar, is_depth_file};
