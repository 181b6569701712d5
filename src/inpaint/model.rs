//! An ONNX image inpainting model, its inputs read from the file: an image
//! `[N,3,H,W]` and a mask `[N,1,H,W]` (LaMa, MI-GAN exports), or the two concatenated as
//! `[N,4,H,W]` (image first); an output `[N,3,H,W]`. Height and width are fixed (LaMa's
//! common 512x512 export) or free.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::ValueType;

use super::{InpaintError, MaskValue, ValueRange};
use crate::onnx::{self, Ep, Float};

/// How the image and mask go in.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Inputs {
    Two { image: String, mask: String },
    Four { name: String },
}

pub struct InpaintModel {
    path: PathBuf,
    session: Session,
    provider: Ep,
    inputs: Inputs,
    input_type: Float,
    output: String,
    /// The model's own (width, height), when fixed.
    pub fixed_size: Option<(u32, u32)>,
    /// Tiles per call it takes, when fixed.
    pub batch: Option<usize>,
    range: ValueRange,
    mask: MaskValue,
}

/// One tile to fill: RGB in 0..1 (planar, `3 * w * h`) and its holes (`w * h`, true =
/// hole).
pub struct TileInput {
    pub rgb: Vec<f32>,
    pub holes: Vec<bool>,
}

impl InpaintModel {
    pub fn open(
        path: &Path,
        ep: Ep,
        ort_lib: Option<&Path>,
        range: ValueRange,
        mask: MaskValue,
    ) -> Result<Self, InpaintError> {
        let (session, provider) = onnx::open_session(path, ep, ort_lib, "inpainting model")?;
        let bad = |reason: String| InpaintError::NotInpaintModel {
            path: path.to_path_buf(),
            reason,
        };
        let mut tensors = Vec::new();
        for input in session.inputs() {
            let ValueType::Tensor { ty, shape, .. } = input.dtype() else {
                return Err(bad(format!("input `{}` is not a tensor", input.name())));
            };
            let float = Float::of(*ty).ok_or_else(|| {
                bad(format!(
                    "input `{}` holds {ty:?}, not float32 or float16",
                    input.name()
                ))
            })?;
            let dims: Vec<i64> = shape.iter().copied().collect();
            if dims.len() != 4 {
                return Err(bad(format!(
                    "input `{}` has shape {dims:?}, not [batch, channels, height, width]",
                    input.name()
                )));
            }
            tensors.push((input.name().to_owned(), float, dims));
        }
        let (inputs, input_type, dims) = match tensors.as_slice() {
            [(name, float, dims)] if dims[1] == 4 => {
                (Inputs::Four { name: name.clone() }, *float, dims.clone())
            }
            [a, b] => {
                // The mask is the one-channel input (or, with both free, the one named so).
                let is_mask = |t: &(String, Float, Vec<i64>)| {
                    t.2[1] == 1 || (t.2[1] < 0 && t.0.to_ascii_lowercase().contains("mask"))
                };
                let (image, mask) = if is_mask(b) { (a, b) } else { (b, a) };
                if !is_mask(mask) || image.2[1] > 0 && image.2[1] != 3 {
                    return Err(bad(format!(
                        "its inputs `{}` {:?} and `{}` {:?} are not an image [N,3,H,W] and a \
                         mask [N,1,H,W]",
                        a.0, a.2, b.0, b.2
                    )));
                }
                (
                    Inputs::Two {
                        image: image.0.clone(),
                        mask: mask.0.clone(),
                    },
                    image.1,
                    image.2.clone(),
                )
            }
            other => {
                return Err(bad(format!(
                    "it has {} input(s) ({}); an inpainting model takes an image and a mask, \
                     or one [N,4,H,W] input",
                    other.len(),
                    other
                        .iter()
                        .map(|t| format!("`{}` {:?}", t.0, t.2))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        };
        // The output: the one with three channels (or the only one).
        let outputs = session.outputs();
        let output = outputs
            .iter()
            .find(|o| match o.dtype() {
                ValueType::Tensor { shape, .. } => shape.len() == 4 && shape[1] == 3,
                _ => false,
            })
            .or(if outputs.len() == 1 {
                outputs.first()
            } else {
                None
            })
            .ok_or_else(|| bad("no output is an image [N,3,H,W]".into()))?
            .name()
            .to_owned();
        let fixed = |d: i64| (d > 0).then_some(d);
        let fixed_size = fixed(dims[3])
            .zip(fixed(dims[2]))
            .map(|(w, h)| (w as u32, h as u32));
        log::info!(
            "inpainting model inputs {} {dims:?} ({input_type:?}), output `{output}`, values {}, \
             holes marked {}",
            match &inputs {
                Inputs::Two { image, mask } => format!("`{image}` + `{mask}`"),
                Inputs::Four { name } => format!("`{name}` (image and mask)"),
            },
            range.describe(),
            mask.describe()
        );
        Ok(Self {
            path: path.to_path_buf(),
            session,
            provider,
            inputs,
            input_type,
            output,
            fixed_size,
            batch: fixed(dims[0]).map(|b| b as usize),
            range,
            mask,
        })
    }

    /// Fills `tiles` (all of `size`) and returns each one's RGB in 0..1, planar.
    pub fn run(
        &mut self,
        tiles: &[TileInput],
        size: (u32, u32),
    ) -> Result<Vec<Vec<f32>>, InpaintError> {
        let n = tiles.len();
        let (w, h) = (size.0 as usize, size.1 as usize);
        let px = w * h;
        let hole_value = |hole: bool| {
            if hole == (self.mask == MaskValue::HoleOne) {
                1.0
            } else {
                0.0
            }
        };
        // Holes go in blank (as the models were trained), the rest in the model's range.
        let image = |t: &TileInput, out: &mut Vec<f32>| {
            for c in 0..3 {
                out.extend(
                    t.rgb[c * px..(c + 1) * px]
                        .iter()
                        .zip(&t.holes)
                        .map(|(&v, &hole)| self.range.to_model(if hole { 0.0 } else { v })),
                );
            }
        };
        let err = |e: ort::Error| InpaintError::Run {
            path: self.path.clone(),
            provider: self.provider.ort_name().into(),
            reason: e.to_string(),
        };
        let shape = |c: i64| vec![n as i64, c, h as i64, w as i64];
        let outputs = match &self.inputs {
            Inputs::Two { image: iname, mask } => {
                let mut img = Vec::with_capacity(n * 3 * px);
                let mut msk = Vec::with_capacity(n * px);
                for t in tiles {
                    image(t, &mut img);
                    msk.extend(t.holes.iter().map(|&hole| hole_value(hole)));
                }
                let img = self.input_type.tensor(shape(3), img).map_err(err)?;
                let msk = self.input_type.tensor(shape(1), msk).map_err(err)?;
                let out = self
                    .session
                    .run(ort::inputs![iname.as_str() => img, mask.as_str() => msk])
                    .map_err(err)?;
                onnx::extract_f32(&out[self.output.as_str()]).map_err(err)?
            }
            Inputs::Four { name } => {
                let mut all = Vec::with_capacity(n * 4 * px);
                for t in tiles {
                    image(t, &mut all);
                    all.extend(t.holes.iter().map(|&hole| hole_value(hole)));
                }
                let input = self.input_type.tensor(shape(4), all).map_err(err)?;
                let out = self
                    .session
                    .run(ort::inputs![name.as_str() => input])
                    .map_err(err)?;
                onnx::extract_f32(&out[self.output.as_str()]).map_err(err)?
            }
        };
        let (dims, data) = outputs;
        if data.len() != n * 3 * px {
            return Err(InpaintError::Run {
                path: self.path.clone(),
                provider: self.provider.ort_name().into(),
                reason: format!(
                    "it returned shape {dims:?} for {n} tile(s) of {w}x{h}: an inpainting model \
                     returns the image at the size it was given"
                ),
            });
        }
        // Exports that return 0..255 (some LaMa ones do) are told by their values.
        let scale = self.range.output_scale(&data);
        Ok(data
            .chunks_exact(3 * px)
            .map(|c| c.iter().map(|&v| self.range.to_unit(v / scale)).collect())
            .collect())
    }
}
