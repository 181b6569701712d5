//! Writes depth maps as a lossless file stereosplat (and other tools) read back as
//! `--depth`: FFV1 in Matroska for clips, PNG for a single image. Written under a
//! temporary name and renamed when complete, like every output.

use std::path::{Path, PathBuf};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::fsutil::temp_path_for;
use crate::media::encode::live_temp_files;
use crate::media::{self, MediaError};

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
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    layout: PixelLayout,
    png: bool,
    size: (u32, u32),
    tmp: PathBuf,
    path: PathBuf,
    frames: u64,
    done: bool,
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
        media::init().map_err(media_err)?;
        let tmp = temp_path_for(path);
        let tail = if png {
            "pngenc"
        } else {
            "avenc_ffv1 ! matroskamux"
        };
        let desc = format!("appsrc name=src ! videoconvert ! {tail} ! filesink name=sink");
        let pipeline = gst::parse::launch(&desc)
            .map_err(|e| media_err(MediaError::Other(e.to_string())))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| media_err(MediaError::Other("not a pipeline".into())))?;
        let sink = pipeline
            .by_name("sink")
            .expect("filesink in the description");
        sink.set_property("location", tmp.to_string_lossy().as_ref());
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .expect("appsrc in the description");
        let fps = fps.unwrap_or(gst::Fraction::new(0, 1));
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", layout.caps_format(png))
            .field("width", size.0 as i32)
            .field("height", size.1 as i32)
            .field("framerate", fps)
            .build();
        src.set_caps(Some(&caps));
        src.set_format(gst::Format::Time);
        src.set_block(true);
        live_temp_files()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tmp.clone());
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| media_err(MediaError::Other(e.to_string())))?;
        Ok(Self {
            pipeline,
            src,
            layout,
            png,
            size,
            tmp,
            path: path.to_path_buf(),
            frames: 0,
            done: false,
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
        let mut buf = gst::Buffer::from_mut_slice(data);
        {
            let b = buf.get_mut().expect("fresh buffer");
            b.set_pts(gst::ClockTime::from_nseconds(pts_nanos));
            if let Some(d) = duration_nanos {
                b.set_duration(gst::ClockTime::from_nseconds(d));
            }
        }
        self.frames += 1;
        let pushed = self.src.push_buffer(buf);
        self.check_bus()?;
        pushed.map_err(|e| self.error(MediaError::Other(format!("the writer stopped: {e:?}"))))?;
        Ok(())
    }

    fn error(&self, cause: MediaError) -> WriterError {
        WriterError::Media {
            path: self.path.clone(),
            cause,
        }
    }

    fn check_bus(&self) -> Result<(), WriterError> {
        let bus = self.pipeline.bus().expect("pipeline bus");
        media::poll_bus(&bus).map(|_| ()).map_err(|e| self.error(e))
    }

    /// Ends the stream, waits for the file to be complete and gives it its final name.
    pub fn finish(mut self) -> Result<PathBuf, WriterError> {
        let _ = self.src.end_of_stream();
        let bus = self.pipeline.bus().expect("pipeline bus");
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::NONE,
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(e) = msg.as_ref().and_then(media::bus_error) {
            return Err(self.error(e));
        }
        std::fs::rename(&self.tmp, &self.path).map_err(|e| {
            self.error(MediaError::Other(format!(
                "renaming the finished file: {e}"
            )))
        })?;
        self.done = true;
        Ok(self.path.clone())
    }
}

impl Drop for DepthWriter {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
        live_temp_files()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p != &self.tmp);
    }
}
