//! Disocclusions filled by a learned inpainting model (`--inpaint-model`, `--fill model`):
//! after the warp has filled each synthesised eye's holes from the background side, the
//! model repaints the hole pixels, tile by tile, from the context around them.
//!
//! - [`model`]: the ONNX model, its inputs read from the file;
//! - [`tiles`]: where it runs (tiles around the holes, only hole pixels written back).
//!
//! The holes are the warp's own (alpha 0 in the warped view: what the `holes` and `grid`
//! layouts and `--mask-out` show). A frame without holes runs no inference. Over time, a
//! tile whose context (the covered pixels around its holes) is unchanged from the previous
//! frame keeps most of its previous fill ([`InpaintOptions::temporal`]), so a steady scene's
//! fill does not boil; a cut or any motion changes the context, and the fill starts afresh.

pub mod model;
pub mod tiles;

use std::path::PathBuf;

use crate::onnx::{Ep, SessionError};
use model::{InpaintModel, TileInput};

#[derive(Debug, thiserror::Error)]
pub enum InpaintError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] crate::models::StoreError),
    #[error(
        "{path} is not an inpainting model stereosplat can run: {reason}. It needs an image \
         [N,3,H,W] and a mask [N,1,H,W] (LaMa, MI-GAN exports), or both as one [N,4,H,W] \
         input, and returns the image [N,3,H,W] (see models/README.md)"
    )]
    NotInpaintModel { path: PathBuf, reason: String },
    #[error("inpainting model {path} failed on {provider}: {reason}")]
    Run {
        path: PathBuf,
        provider: String,
        reason: String,
    },
}

/// The values a model takes and gives (`--inpaint-range`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ValueRange {
    /// 0..1 (LaMa, MI-GAN exports).
    #[default]
    ZeroOne,
    /// -1..1.
    MinusOneOne,
}

impl ValueRange {
    fn to_model(self, v: f32) -> f32 {
        match self {
            ValueRange::ZeroOne => v,
            ValueRange::MinusOneOne => 2.0 * v - 1.0,
        }
    }

    fn to_unit(self, v: f32) -> f32 {
        match self {
            ValueRange::ZeroOne => v,
            ValueRange::MinusOneOne => (v + 1.0) * 0.5,
        }
    }

    /// 255 for outputs in 0..255 (some LaMa exports), else 1.
    fn output_scale(self, data: &[f32]) -> f32 {
        let max = data.iter().copied().fold(0.0f32, f32::max);
        if self == ValueRange::ZeroOne && max > 2.0 {
            255.0
        } else {
            1.0
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ValueRange::ZeroOne => "0..1",
            ValueRange::MinusOneOne => "-1..1",
        }
    }
}

/// What the mask holds at a hole (`--inpaint-mask`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum MaskValue {
    /// 1 at holes, 0 elsewhere (LaMa).
    #[default]
    HoleOne,
    /// 0 at holes, 1 elsewhere.
    HoleZero,
}

impl MaskValue {
    fn describe(self) -> &'static str {
        match self {
            MaskValue::HoleOne => "1",
            MaskValue::HoleZero => "0",
        }
    }
}

/// How the model fill runs.
#[derive(Clone, Debug, PartialEq)]
pub struct InpaintOptions {
    /// The model file (or catalog name, resolved before the render).
    pub model: Option<PathBuf>,
    pub range: ValueRange,
    pub mask: MaskValue,
    /// Tile side for models of free size (a fixed-size model's own size is used).
    pub tile: u32,
    /// Tiles per inference call (a model with a fixed batch gets its own).
    pub batch: usize,
    /// Share of the previous frame's fill a tile keeps when its context is unchanged
    /// (0: none).
    pub temporal: f32,
}

impl Default for InpaintOptions {
    fn default() -> Self {
        Self {
            model: None,
            range: ValueRange::ZeroOne,
            mask: MaskValue::HoleOne,
            tile: 256,
            batch: 4,
            temporal: 0.7,
        }
    }
}

/// Mean change (0..1 per channel) of a tile's covered pixels from the previous frame
/// below which its context counts as unchanged.
pub const CONTEXT_STILL: f32 = 0.02;

/// The previous frame of one eye: its final colours and its holes.
struct Previous {
    rgba: Vec<u8>,
    holes: Vec<bool>,
}

/// The model fill of a render: the model, and the previous frame of each eye.
pub struct Inpainter {
    model: InpaintModel,
    options: InpaintOptions,
    previous: Vec<Option<Previous>>,
    /// Totals for the log: frames seen, frames with holes, tiles, inference calls.
    frames: u64,
    frames_with_holes: u64,
    tiles: u64,
    calls: u64,
    /// Hole pixels and all pixels seen, for the share of holes.
    hole_pixels: u64,
    pixels: u64,
}

impl Inpainter {
    /// The model fill `job` asks for (`--fill model`), its model made into a file first
    /// (a catalog name is downloaded when missing, unless offline); None for the other
    /// fills.
    pub fn for_job(job: &crate::render::RenderJob) -> Result<Option<Self>, InpaintError> {
        let Some(reference) = job
            .inpaint
            .model
            .as_ref()
            .filter(|_| job.stereo.fill == crate::stereo::FillMode::Model)
        else {
            return Ok(None);
        };
        let store = crate::models::Store::open(&crate::models::StoreOptions {
            cache_dir: job.estimate.cache_dir.clone(),
            ..job.estimate.store.clone()
        })?;
        let quiet = log::max_level() < log::LevelFilter::Info;
        let mut progress = crate::progress::transfer_for_terminal(quiet);
        let path = store
            .resolve(reference, crate::models::Task::Inpaint, progress.as_mut())?
            .path;
        let e = &job.estimate;
        Self::open(&path, &job.inpaint, e.ep, e.ort_lib.as_deref()).map(Some)
    }

    pub fn open(
        path: &std::path::Path,
        options: &InpaintOptions,
        ep: Ep,
        ort_lib: Option<&std::path::Path>,
    ) -> Result<Self, InpaintError> {
        let model = InpaintModel::open(path, ep, ort_lib, options.range, options.mask)?;
        Ok(Self {
            model,
            options: options.clone(),
            previous: Vec::new(),
            frames: 0,
            frames_with_holes: 0,
            tiles: 0,
            calls: 0,
            hole_pixels: 0,
            pixels: 0,
        })
    }

    /// Inference calls so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Repaints the holes of eye `eye`: `filled` (RGBA, background-filled) is changed at
    /// the hole pixels of `warped` (RGBA, alpha 0 = hole), both `size`.
    pub fn fill(
        &mut self,
        eye: usize,
        filled: &mut [u8],
        warped: &[u8],
        size: (u32, u32),
    ) -> Result<(), InpaintError> {
        self.frames += 1;
        let w = size.0 as usize;
        let holes: Vec<bool> = warped.chunks_exact(4).map(|p| p[3] == 0).collect();
        self.pixels += holes.len() as u64;
        self.hole_pixels += holes.iter().filter(|&&h| h).count() as u64;
        if self.previous.len() <= eye {
            self.previous.resize_with(eye + 1, || None);
        }
        if !holes.contains(&true) {
            self.previous[eye] = None;
            return Ok(());
        }
        self.frames_with_holes += 1;
        let hole = |x: u32, y: u32| holes[y as usize * w + x as usize];
        // The model's input size: its own, or the tile side (at most the frame's) rounded
        // up to a multiple of 32, which free-size exports (LaMa's) require. A frame (or a
        // tile) smaller than that is padded by repeating its edge pixels.
        let tile = self.model.fixed_size.unwrap_or_else(|| {
            let side = |full: u32| self.options.tile.min(full).next_multiple_of(32);
            (side(size.0), side(size.1))
        });
        let frame_tile = (tile.0.min(size.0), tile.1.min(size.1));
        let context = frame_tile.0.min(frame_tile.1) / 4;
        let plan = tiles::plan(size, frame_tile, context, &hole);
        let batch = self.model.batch.unwrap_or(self.options.batch.max(1));
        let source = filled.to_vec();
        let previous = self.previous[eye]
            .take()
            .filter(|p| p.holes.len() == holes.len());
        for group in plan.chunks(batch) {
            let inputs: Vec<TileInput> = group
                .iter()
                .map(|t| tile_input(&source, &holes, size, t, tile))
                .collect();
            let outputs = self.model.run(&inputs, tile)?;
            self.calls += 1;
            self.tiles += group.len() as u64;
            for (t, out) in group.iter().zip(&outputs) {
                let keep = match &previous {
                    Some(p) if self.options.temporal > 0.0 => {
                        let change = context_change(&source, &holes, p, size, t);
                        log::trace!("tile at ({}, {}): context change {change:.4}", t.x, t.y);
                        (change < CONTEXT_STILL).then_some(self.options.temporal)
                    }
                    _ => None,
                };
                paste(
                    filled,
                    &source,
                    &holes,
                    size,
                    t,
                    tile,
                    out,
                    keep,
                    previous.as_ref(),
                );
            }
        }
        self.previous[eye] = Some(Previous {
            rgba: filled.to_vec(),
            holes,
        });
        Ok(())
    }
}

impl Drop for Inpainter {
    fn drop(&mut self) {
        log::info!(
            "inpainting: {} of {} eye frame(s) had holes ({:.2} % of their pixels); {} tile(s) \
             in {} model call(s)",
            self.frames_with_holes,
            self.frames,
            100.0 * self.hole_pixels as f64 / self.pixels.max(1) as f64,
            self.tiles,
            self.calls
        );
    }
}

/// The model's input for tile `t`: its pixels as RGB 0..1, planar, at `model` size (a
/// tile smaller than the model's fixed size is padded by repeating its edge pixels).
fn tile_input(
    rgba: &[u8],
    holes: &[bool],
    size: (u32, u32),
    t: &tiles::Tile,
    model: (u32, u32),
) -> TileInput {
    let (mw, mh) = (model.0 as usize, model.1 as usize);
    let w = size.0 as usize;
    let mut rgb = vec![0.0; 3 * mw * mh];
    let mut mask = vec![false; mw * mh];
    for y in 0..mh {
        let sy = t.y as usize + y.min(t.h as usize - 1);
        for x in 0..mw {
            let sx = t.x as usize + x.min(t.w as usize - 1);
            let i = sy * w + sx;
            let o = y * mw + x;
            for c in 0..3 {
                rgb[c * mw * mh + o] = f32::from(rgba[i * 4 + c]) / 255.0;
            }
            mask[o] = holes[i];
        }
    }
    TileInput { rgb, holes: mask }
}

/// Mean absolute change of tile `t`'s covered pixels (covered now and before) from the
/// previous frame, per channel in 0..1; 1 when none are comparable.
fn context_change(
    rgba: &[u8],
    holes: &[bool],
    previous: &Previous,
    size: (u32, u32),
    t: &tiles::Tile,
) -> f32 {
    let w = size.0 as usize;
    let (mut sum, mut n) = (0u64, 0u64);
    for y in t.y as usize..(t.y + t.h) as usize {
        for x in t.x as usize..(t.x + t.w) as usize {
            let i = y * w + x;
            if holes[i] || previous.holes[i] {
                continue;
            }
            for c in 0..3 {
                sum += u64::from(rgba[i * 4 + c].abs_diff(previous.rgba[i * 4 + c]));
            }
            n += 3;
        }
    }
    if n == 0 {
        1.0
    } else {
        sum as f32 / n as f32 / 255.0
    }
}

/// Writes tile `t`'s model colours (`out`, planar at `model` size) into the hole pixels
/// of its core, feathered on each hole's rim against the background fill in `source`;
/// with `keep`, each pixel that was a hole before too keeps that share of its previous
/// colour.
#[expect(clippy::too_many_arguments, reason = "one tile's pixels, named")]
fn paste(
    filled: &mut [u8],
    source: &[u8],
    holes: &[bool],
    size: (u32, u32),
    t: &tiles::Tile,
    model: (u32, u32),
    out: &[f32],
    keep: Option<f32>,
    previous: Option<&Previous>,
) {
    let w = size.0 as usize;
    let plane = model.0 as usize * model.1 as usize;
    let hole = |x: u32, y: u32| holes[y as usize * w + x as usize];
    let c = t.core;
    for y in c.y..c.y + c.h {
        for x in c.x..c.x + c.w {
            let i = y as usize * w + x as usize;
            if !holes[i] {
                continue;
            }
            let f = tiles::feather(size, x, y, &hole);
            let o = (y - t.y) as usize * model.0 as usize + (x - t.x) as usize;
            for ch in 0..3 {
                let model_v = out[ch * plane + o].clamp(0.0, 1.0) * 255.0;
                let mut v = f * model_v + (1.0 - f) * f32::from(source[i * 4 + ch]);
                if let (Some(k), Some(p)) = (keep, previous)
                    && p.holes[i]
                {
                    v = k * f32::from(p.rgba[i * 4 + ch]) + (1.0 - k) * v;
                }
                filled[i * 4 + ch] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}
