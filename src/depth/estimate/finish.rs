//! Pass 2: the raw maps of pass 1 -> the temporal normalisation (`--normalize`) for
//! relative depth, or metres for metric depth -> a depth file in the format asked for
//! (the render's own, or an export of `stereosplat depth`).

use std::path::Path;

use super::cache::Raw;
use super::{EstimateError, EstimateOptions, ExportFormat, METRIC_GRAY16_SCALE};
use crate::depth::normalize;
use crate::depth::writer::{DepthWriter, PixelLayout};
use crate::media::decode::{DecodeOptions, Decoder, PixelFormat};
use crate::stereo::DepthKind;

/// Writes `raw` to `out` in `format` (`max_depth_m`: full scale of the toolbox's RGB).
pub(super) fn finish(
    raw: &Raw,
    opts: &EstimateOptions,
    format: ExportFormat,
    max_depth_m: f32,
    out: &Path,
) -> Result<(), EstimateError> {
    let mode = raw.normalize(opts);
    let ranges = normalize::ranges(&raw.stats, mode);
    let cache_err = |source| EstimateError::Cache {
        path: raw.video.clone(),
        source,
    };
    let mut dec = Decoder::open(&raw.video, PixelFormat::Gray16, &DecodeOptions::default())
        .map_err(cache_err)?;
    let info = dec.info().clone();
    let layout = match format {
        ExportFormat::Gray8 => PixelLayout::Gray8,
        ExportFormat::Gray16 => PixelLayout::Gray16,
        ExportFormat::Rgb => PixelLayout::Rgb,
        ExportFormat::Ply | ExportFormat::Obj => {
            unreachable!("geometry is written by render::export_geometry, not as a depth video")
        }
    };
    let fps = info.fps.filter(|_| !info.is_still);
    let mut writer = DepthWriter::create(out, (info.width, info.height), layout, fps)?;
    let encode = Encoding {
        format,
        metric: opts.kind == DepthKind::Metric,
        max_depth_m,
    };
    let mut i = 0usize;
    while let Some(frame) = dec.next_frame().map_err(cache_err)? {
        let Some(st) = raw.stats.get(i) else { break };
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        let stride = frame.stride_bytes() as usize;
        let mut bytes = Vec::with_capacity(w * h * layout.bytes_per_pixel());
        for row in frame.data().chunks(stride).take(h) {
            for px in row[..2 * w].chunks_exact(2) {
                let q = f32::from(u16::from_le_bytes([px[0], px[1]]));
                encode.push(
                    st.min + q / 65535.0 * (st.max - st.min),
                    ranges[i],
                    &mut bytes,
                );
            }
        }
        writer.push(bytes, frame.pts_nanos, frame.duration_nanos)?;
        i += 1;
    }
    writer.finish()?;
    log::info!(
        "wrote depth {} ({i} frame(s), {}x{}, {})",
        out.display(),
        info.width,
        info.height,
        encode.describe(mode)
    );
    Ok(())
}

/// How each raw value is stored in the output.
struct Encoding {
    format: ExportFormat,
    metric: bool,
    max_depth_m: f32,
}

impl Encoding {
    fn push(&self, v: f32, range: (f32, f32), bytes: &mut Vec<u8>) {
        match (self.format, self.metric) {
            (ExportFormat::Gray16, false) => {
                let n = normalize::apply(v, range);
                bytes.extend_from_slice(&((n * 65535.0).round() as u16).to_le_bytes());
            }
            (ExportFormat::Gray8, _) => {
                bytes.push((normalize::apply(v, range) * 255.0).round() as u8)
            }
            (ExportFormat::Gray16, true) => {
                let mm = (v / METRIC_GRAY16_SCALE).round().clamp(0.0, 65535.0) as u16;
                bytes.extend_from_slice(&mm.to_le_bytes());
            }
            (ExportFormat::Rgb, _) => bytes.extend_from_slice(
                &crate::depth::codec::rgb_from_metric(f64::from(v), f64::from(self.max_depth_m)),
            ),
            (ExportFormat::Ply | ExportFormat::Obj, _) => unreachable!("checked in `export`"),
        }
    }

    /// What was written and how to read it back, for the log.
    fn describe(&self, mode: normalize::Normalize) -> String {
        match (self.format, self.metric) {
            (ExportFormat::Gray16, true) => {
                "16-bit millimetres: read back with --depth-kind metric --depth-scale 0.001".into()
            }
            (ExportFormat::Rgb, _) => format!(
                "toolbox RGB: read back with --depth-kind metric --depth-rgb --max-depth {}",
                self.max_depth_m
            ),
            (f, _) => format!("{f:?} near = bright, {} normalisation", mode.name()),
        }
    }
}
