//! Depth for each frame. Today: pre-rendered depth videos or images ([`prerendered`]),
//! given with `--depth` or found beside the input as `<stem>_depth.<ext>`.

pub mod codec;
pub mod convergence;
pub mod prerendered;

pub use prerendered::{DepthError, DepthScan, DepthStream, Matching, find_sidecar, is_depth_file};
