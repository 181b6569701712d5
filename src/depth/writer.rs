//! Writes depth maps as a lossless file stereosplat (and other tools) read back as
//! `--depth`: FFV1 in Matroska for clips, PNG for a single image. Written under a
//! temporary name and renamed when complete, like every output.

use std::path::{Path, PathBuf};

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::fsutil::TempOutput;
use crate::media::MediaError;
use crate::media::raw_writer::RawWriter;

/// Sample format of the written maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelLayout {
    Gray8,
    Gray16,
    /// The metric depth toolbox's RGB encoding.
    Rgb,
}

impl PixelLayout {
    fn caps_format(self, png: bool) -> &'static str {
        match self {
            PixelLayout::Gray8 => "GRAY8",
            // pngenc wants big-endian 16-bit grey; our buffers are little endian and are
            // swapped for it in `push`.
            PixelLayout::Gray16 if png => "GRAY16_BE",
            PixelLayout::Gray16 => "GRAY16_LE",
            PixelLayout::Rgb => "RGB",
        }
    }
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelLayout::Gray8 => 1,
            PixelLayout::Gray16 => 2,
            PixelLayout::Rgb => 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error(
        "{0}: depth is written losslessly as FFV1 in .mkv (or .png for a single image); choose one of those names"
    )]
    Extension(PathBuf),
    #[error("writing depth to {path}: {cause}")]
    Media { path: PathBuf, cause: MediaError },
}

/// Whether `path` names a PNG (true) or an MKV (false); anything else is refused.
pub fn is_png_name(path: &Path) -> Result<bool, WriterError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "mkv" => Ok(false),
        "png" => Ok(true),
        _ => Err(WriterError::Extension(path.to_path_buf())),
    }
}

pub struct DepthWriter {
    writer: RawWriter,
    layout: PixelLayout,
    png: bool,
    size: (u32, u32),
    temp: TempOutput,
    path: PathBuf,
}

impl DepthWriter {
    /// `fps` is the nominal rate written into the caps (None: a still or variable rate).
    pub fn create(
        path: &Path,
        size: (u32, u32),
        layout: PixelLayout,
        fps: Option<gst::Fraction>,
    ) -> Result<Self, WriterError> {
        let png = is_png_name(path)?;
        let media_err = |cause| WriterError::Media {
            path: path.to_path_buf(),
            cause,
        };
        let temp = TempOutput::create(path)
            .map_err(|e| media_err(MediaError::Other(format!("cannot write here: {e}"))))?;
        let tail = if png {
            "pngenc"
        } else {
            "avenc_ffv1 ! matroskamux"
        };
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", layout.caps_format(png))
            .field("width", size.0 as i32)
            .field("height", size.1 as i32)
            .field("framerate", fps.unwrap_or(gst::Fraction::new(0, 1)))
            .build();
        let writer = RawWriter::open(
            &format!("videoconvert ! {tail} ! filesink name=sink"),
            &caps,
        )
        .map_err(media_err)?;
        let sink = writer.element("sink").expect("filesink in the description");
        sink.set_property("location", temp.path().to_string_lossy().as_ref());
        writer.start().map_err(media_err)?;
        Ok(Self {
            writer,
            layout,
            png,
            size,
            temp,
            path: path.to_path_buf(),
        })
    }

    /// One map, tightly packed rows (16-bit little endian for Gray16).
    pub fn push(
        &mut self,
        mut data: Vec<u8>,
        pts_nanos: u64,
        duration_nanos: Option<u64>,
    ) -> Result<(), WriterError> {
        debug_assert_eq!(
            data.len(),
            self.size.0 as usize * self.size.1 as usize * self.layout.bytes_per_pixel()
        );
        if self.png && self.layout == PixelLayout::Gray16 {
            for px in data.chunks_exact_mut(2) {
                px.swap(0, 1);
            }
        }
        // GStreamer's default layout for these caps pads each row to 4 bytes.
        let row = self.size.0 as usize * self.layout.bytes_per_pixel();
        let stride = row.next_multiple_of(4);
        if stride != row {
            let mut padded = vec![0u8; stride * self.size.1 as usize];
            for (dst, src) in padded.chunks_exact_mut(stride).zip(data.chunks_exact(row)) {
                dst[..row].copy_from_slice(src);
            }
            data = padded;
        }
        self.writer
            .push(data, pts_nanos, duration_nanos)
            .map_err(|e| self.error(e))
    }

    fn error(&self, cause: MediaError) -> WriterError {
        WriterError::Media {
            path: self.path.clone(),
            cause,
        }
    }

    /// Ends the stream, waits for the file to be complete and gives it its final name.
    pub fn finish(self) -> Result<PathBuf, WriterError> {
        let Self {
            writer, temp, path, ..
        } = self;
        let err = |cause| WriterError::Media {
            path: path.clone(),
            cause,
        };
        writer.finish().map_err(err)?;
        temp.persist(&path).map_err(|e| {
            err(MediaError::Other(format!(
                "renaming the finished file: {e}"
            )))
        })?;
        Ok(path)
    }
}
