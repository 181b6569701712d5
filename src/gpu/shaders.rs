//! WGSL sources. Release and test builds embed `shaders/*.wgsl`; the preview (and
//! `--shader-dir`) can read them from disk instead so edits apply without a rebuild.
//! Every file is compiled with shaders/common.wgsl prepended (WGSL has no includes).

use std::path::{Path, PathBuf};

/// The shared prelude.
pub const COMMON: (&str, &str) = ("common.wgsl", include_str!("../../shaders/common.wgsl"));

/// Every entry-point file, by name, with its embedded text.
pub const FILES: &[(&str, &str)] = &[
    (
        "resample_color.wgsl",
        include_str!("../../shaders/resample_color.wgsl"),
    ),
    (
        "depth_prep.wgsl",
        include_str!("../../shaders/depth_prep.wgsl"),
    ),
    (
        "depth_dilate.wgsl",
        include_str!("../../shaders/depth_dilate.wgsl"),
    ),
    (
        "warp_splat.wgsl",
        include_str!("../../shaders/warp_splat.wgsl"),
    ),
    (
        "warp_resolve.wgsl",
        include_str!("../../shaders/warp_resolve.wgsl"),
    ),
    (
        "fill_rows.wgsl",
        include_str!("../../shaders/fill_rows.wgsl"),
    ),
    (
        "fill_columns.wgsl",
        include_str!("../../shaders/fill_columns.wgsl"),
    ),
    (
        "fill_resolve.wgsl",
        include_str!("../../shaders/fill_resolve.wgsl"),
    ),
    ("compose.wgsl", include_str!("../../shaders/compose.wgsl")),
    ("yuv_pack.wgsl", include_str!("../../shaders/yuv_pack.wgsl")),
    (
        "yuv_unpack.wgsl",
        include_str!("../../shaders/yuv_unpack.wgsl"),
    ),
    (
        "model_input.wgsl",
        include_str!("../../shaders/model_input.wgsl"),
    ),
    ("mesh.wgsl", include_str!("../../shaders/mesh.wgsl")),
    (
        "depth_cues.wgsl",
        include_str!("../../shaders/depth_cues.wgsl"),
    ),
];

/// Where shader text comes from.
#[derive(Clone, Debug, Default)]
pub enum ShaderSet {
    #[default]
    Embedded,
    Directory(PathBuf),
}

impl ShaderSet {
    /// Full source of `name` (common prelude + file), ready for `create_shader_module`.
    pub fn source(&self, name: &str) -> std::io::Result<String> {
        let (common, body) = match self {
            ShaderSet::Embedded => (COMMON.1.to_owned(), embedded(name).to_owned()),
            ShaderSet::Directory(dir) => (read(dir, COMMON.0)?, read(dir, name)?),
        };
        Ok(with_prelude(&common, &body))
    }
}

/// Joins the prelude and a file. The file's own line numbers are what users see in
/// errors, so callers can subtract [`prelude_lines`] from naga's line numbers.
pub fn with_prelude(common: &str, body: &str) -> String {
    format!("{common}\n{body}")
}

pub fn prelude_lines(common: &str) -> usize {
    common.lines().count() + 1
}

fn embedded(name: &str) -> &'static str {
    FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("no embedded shader named {name}"))
}

fn read(dir: &Path, name: &str) -> std::io::Result<String> {
    let path = dir.join(name);
    std::fs::read_to_string(&path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
