//! Encoding composed frames and the source audio into the output file:
//!
//! `appsrc(I420, converted on the GPU) ! queue ! videoconvert (passthrough for x264) ! I420 ! x264enc ! h264parse ! [capssetter] ! mp4mux|matroskamux ! filesink`
//! `appsrc(source audio) ! queue ! mux` (passed through), or `... ! decodebin ! audioconvert ! audioresample ! avenc_aac (or another AAC encoder) ! mux`
//! `appsrc(RGBA) ! videoconvert ! pngenc|jpegenc ! filesink` for a still.
//!
//! The file is written under a temporary name beside the target and renamed only when the
//! container is closed properly, so a failed run never leaves a broken file under the
//! final name. The stereo metadata the muxers get wrong is mended in between
//! (`stereo_tags`).
//!
//! - [`container`]: the output type;
//! - [`codec`]: the encoder element (`--encoder`) and its settings;
//! - [`chain`]: building the pipeline;
//! - [`join`]: pieces encoded apart joined into one file without re-encoding.

mod chain;
mod codec;
mod container;
mod join;

use std::path::{Path, PathBuf};
use std::time::Duration;

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;

pub use codec::{Codec, EncoderElement, SPEED_PRESETS, VideoEncoder, encoder_branch};
pub use container::Container;
pub use join::Joiner;

use crate::frame::YuvMatrix;
use crate::fsutil::TempOutput;
use crate::layout::Layout;
use crate::media::stereo_tags;
use crate::media::{self, MediaError};

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(
        "{path}: unsupported output type `.{ext}`. Use .mp4, .mkv or .mov for video, \
         .png or .jpg for a still image"
    )]
    UnsupportedExtension { path: PathBuf, ext: String },
    #[error("{path}: cannot write here: {cause}. Check the folder exists and is writable")]
    NotWritable {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("writing {path} failed: {cause}")]
    Media { path: PathBuf, cause: MediaError },
    #[error("writing {path} failed: the encoder stopped accepting frames ({flow:?})")]
    Flow { path: PathBuf, flow: gst::FlowError },
    #[error(
        "cannot write {path} ({message}): the disk may be full, or the file larger than this \
         file system or limit allows. Free some space or choose another folder and run again; \
         nothing was left under the output name"
    )]
    WriteFailed { path: PathBuf, message: String },
    #[error("{path}: the encoder did not finish within {secs} s")]
    FinishTimeout { path: PathBuf, secs: u64 },
    #[error(
        "{path}: the output would be {}x{}, and {encoder} encodes at most {limit} pixels a \
         side. Use a half layout (such as --layout half-sbs) or a smaller input, or \
         --encoder x265",
        size.0,
        size.1
    )]
    FrameTooLarge {
        path: PathBuf,
        size: (u32, u32),
        encoder: &'static str,
        limit: u32,
    },
}

#[derive(Clone, Debug)]
pub struct EncodeSettings {
    /// Constant quality (x264/x265 CRF-like; a QP for hardware encoders): 0 best .. 51 worst.
    pub crf: u32,
    /// x264/x265 preset name (ultrafast .. placebo).
    pub speed_preset: String,
    pub layout: Layout,
    pub encoder: VideoEncoder,
    /// 8, or 10 (H.265 encoders only).
    pub bit_depth: u32,
    /// Pixel aspect ratio written to the stream (the input's, so anamorphic video keeps
    /// its shape in players).
    pub pixel_aspect: (i32, i32),
    /// An HDR source kept as HDR (`--hdr keep`): its transfer, BT.2020 primaries and
    /// static metadata go into the encoder's caps (10-bit H.265 only).
    pub hdr: Option<crate::hdr::HdrInfo>,
    /// The Y'CbCr matrix of 8-bit I420 output; None: GStreamer's default for the height
    /// (a tone-mapped HDR source is BT.709 at any size).
    pub matrix: Option<crate::frame::YuvMatrix>,
}

impl Default for EncodeSettings {
    fn default() -> Self {
        Self {
            crf: 20,
            speed_preset: "medium".into(),
            layout: Layout::Sbs,
            encoder: VideoEncoder::Auto,
            bit_depth: 8,
            pixel_aspect: (1, 1),
            hdr: None,
            matrix: None,
        }
    }
}

pub struct Encoder {
    pipeline: gst::Pipeline,
    video: gst_app::AppSrc,
    audio: Option<gst_app::AppSrc>,
    container: Container,
    layout: Layout,
    /// The file being written; taken when it gets its final name.
    temp: Option<TempOutput>,
    final_path: PathBuf,
    size: (u32, u32),
    /// What `push_video` takes.
    input: FrameInput,
    /// Reused buffers for the video frames (a fresh multi-megabyte allocation per frame
    /// costs page faults).
    pool: gst::BufferPool,
    frames: u64,
}

/// Half float bit patterns to 16-bit code values (0..1 to 0..65535, clamped), built once.
fn half_to_u16() -> &'static [u16] {
    static LUT: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();
    LUT.get_or_init(|| {
        (0..=u16::MAX)
            .map(|bits| {
                let v = half::f16::from_bits(bits).to_f32();
                let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
                (v * 65535.0).round() as u16
            })
            .collect()
    })
}

/// The pixel data an encoder takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameInput {
    /// RGBA8 rows (stills: PNG and JPEG stay lossless up to their own coding).
    Rgba,
    /// 8-bit I420 in GStreamer's default layout, with this matrix (videos: the GPU
    /// converts, see gpu::YuvPacker).
    I420(YuvMatrix),
    /// RGBA rows of half floats, 0..1 (the GPU's 16-bit output for HDR kept as HDR),
    /// widened to 16-bit integers for GStreamer as they are copied.
    HalfFloat,
}

impl Encoder {
    /// Opens the output. `fps` is the nominal rate (None for variable rate or stills);
    /// `audio_caps` are the source's parsed audio caps to carry over.
    pub fn open(
        path: &Path,
        size: (u32, u32),
        fps: Option<gst::Fraction>,
        audio_caps: Option<&gst::Caps>,
        settings: &EncodeSettings,
    ) -> Result<Self, EncodeError> {
        let container = Container::from_path(path)?;
        let media_err = |cause: MediaError| EncodeError::Media {
            path: path.into(),
            cause,
        };
        media::init().map_err(media_err)?;
        // From here on, an error removes the temporary file again.
        let temp = TempOutput::create(path).map_err(|e| EncodeError::NotWritable {
            path: path.into(),
            cause: e,
        })?;
        let pipeline = gst::Pipeline::with_name("stereosplat-encode");
        let input = chain::input_for(container, settings, size);
        let (video, pool) = chain::video_source(size, fps, settings, input).map_err(media_err)?;
        let sink = media::make("filesink").map_err(media_err)?;
        sink.set_property("location", temp.path().to_string_lossy().as_ref());
        let mut audio = None;
        if container.is_still() {
            chain::still_chain(&pipeline, &video, &sink, container).map_err(media_err)?;
        } else {
            let mux =
                chain::video_chain(&pipeline, &video, &sink, (path, container, size), settings)?;
            if let Some(caps) = audio_caps {
                audio = Some(chain::add_audio(&pipeline, &mux, caps, false).map_err(media_err)?);
            }
        }
        pipeline.set_state(gst::State::Playing).map_err(|_| {
            let bus = pipeline.bus().expect("bus");
            let err = media::poll_bus(&bus)
                .err()
                .unwrap_or_else(|| MediaError::Other("the encoder refused to start".into()));
            let _ = pipeline.set_state(gst::State::Null);
            media_err(err)
        })?;
        Ok(Self {
            pipeline,
            video,
            audio,
            container,
            layout: settings.layout,
            temp: Some(temp),
            final_path: path.into(),
            size,
            input,
            pool,
            frames: 0,
        })
    }

    /// Where the file is being written.
    fn temp_path(&self) -> &Path {
        self.temp
            .as_ref()
            .map_or(self.final_path.as_path(), TempOutput::path)
    }

    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    fn check_bus(&self) -> Result<(), EncodeError> {
        let bus = self.pipeline.bus().expect("bus");
        media::poll_bus(&bus)
            .map(|_| ())
            .map_err(|cause| media_failure(&self.final_path, cause))
    }

    /// What `push_video` takes.
    pub fn input(&self) -> FrameInput {
        self.input
    }

    /// Pushes one frame in the `input()` format: RGBA rows `stride_bytes` apart (repacked
    /// tightly while copying into the GStreamer buffer, a copy needed anyway), or a whole
    /// I420 frame in GStreamer's layout (`stride_bytes` unused).
    pub fn push_video(
        &mut self,
        data: &[u8],
        stride_bytes: u32,
        pts_nanos: u64,
        duration_nanos: Option<u64>,
    ) -> Result<(), EncodeError> {
        // The bus is checked once, when the buffer is pushed.
        let mut buffer = self
            .pool
            .acquire_buffer(None)
            .map_err(|flow| self.flow_error(flow))?;
        {
            let b = buffer.get_mut().expect("a pooled buffer is ours alone");
            let mut map = b.map_writable().expect("a pooled buffer maps");
            let len = map.len();
            match self.input {
                FrameInput::I420(_) => map.copy_from_slice(&data[..len]),
                FrameInput::Rgba => {
                    let row = self.size.0 as usize * 4;
                    let stride = stride_bytes as usize;
                    if stride == row {
                        map.copy_from_slice(&data[..len]);
                    } else {
                        for (dst, src) in map.chunks_exact_mut(row).zip(data.chunks(stride)) {
                            dst.copy_from_slice(&src[..row]);
                        }
                    }
                }
                FrameInput::HalfFloat => {
                    let row = self.size.0 as usize * 8;
                    let lut = half_to_u16();
                    for (dst, src) in map
                        .chunks_exact_mut(row)
                        .zip(data.chunks(stride_bytes as usize))
                    {
                        for (d, s) in dst.chunks_exact_mut(2).zip(src[..row].chunks_exact(2)) {
                            let v = lut[usize::from(u16::from_le_bytes([s[0], s[1]]))];
                            d.copy_from_slice(&v.to_le_bytes());
                        }
                    }
                }
            }
        }
        self.push_frame_buffer(buffer, pts_nanos, duration_nanos)
    }

    /// An unused frame buffer from the encoder's pool, one whole frame in the `input()`
    /// format, to be filled and given to [`Self::push_frame_buffer`] (from any thread).
    pub fn frame_buffer(&self) -> Result<gst::Buffer, EncodeError> {
        self.check_bus()?;
        self.pool
            .acquire_buffer(None)
            .map_err(|flow| self.flow_error(flow))
    }

    /// Pushes a filled buffer from [`Self::frame_buffer`].
    pub fn push_frame_buffer(
        &mut self,
        mut buffer: gst::Buffer,
        pts_nanos: u64,
        duration_nanos: Option<u64>,
    ) -> Result<(), EncodeError> {
        self.check_bus()?;
        {
            let b = buffer.make_mut();
            b.set_pts(gst::ClockTime::from_nseconds(pts_nanos));
            b.set_duration(duration_nanos.map(gst::ClockTime::from_nseconds));
        }
        self.video
            .push_buffer(buffer)
            .map_err(|flow| self.flow_error(flow))?;
        self.frames += 1;
        Ok(())
    }

    /// Pushes source audio (already rebased to the output timeline).
    pub fn push_audio(&mut self, buffer: gst::Buffer) -> Result<(), EncodeError> {
        if let Some(src) = &self.audio {
            src.push_buffer(buffer)
                .map_err(|flow| self.flow_error(flow))?;
        }
        Ok(())
    }

    fn flow_error(&self, flow: gst::FlowError) -> EncodeError {
        // The bus usually holds the real reason (disk full, ...).
        match self.check_bus() {
            Err(e) => e,
            Ok(()) => EncodeError::Flow {
                path: self.final_path.clone(),
                flow,
            },
        }
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Closes the container and moves the file to its final name.
    pub fn finish(self) -> Result<PathBuf, EncodeError> {
        let target = self.final_path.clone();
        self.finish_as(&target)
    }

    /// Closes the container and moves the file to `target` (e.g. a `.partial` name).
    pub fn finish_as(mut self, target: &Path) -> Result<PathBuf, EncodeError> {
        self.final_path = target.to_path_buf();
        let _ = self.video.end_of_stream();
        if let Some(a) = &self.audio {
            let _ = a.end_of_stream();
        }
        wait_for_end(&self.pipeline, &self.final_path, Duration::from_secs(120))?;
        mend_stereo_tags(
            self.container,
            self.layout,
            self.temp_path(),
            &self.final_path,
        );
        let temp = self.temp.take().expect("finish_as runs once");
        temp.persist(&self.final_path)
            .map_err(|e| EncodeError::NotWritable {
                path: self.final_path.clone(),
                cause: e,
            })?;
        Ok(self.final_path.clone())
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // Stopped before the temporary file (if still held) is removed.
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Waits for `pipeline` to write its last buffer (EOS) or fail, at most `timeout`, and
/// stops it either way; the error names `path`.
fn wait_for_end(
    pipeline: &gst::Pipeline,
    path: &Path,
    timeout: Duration,
) -> Result<(), EncodeError> {
    let bus = pipeline.bus().expect("bus");
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let _ = pipeline.set_state(gst::State::Null);
    match msg {
        None => Err(EncodeError::FinishTimeout {
            path: path.into(),
            secs: timeout.as_secs(),
        }),
        Some(msg) => match media::bus_error(&msg) {
            Some(err) => Err(media_failure(path, err)),
            None => Ok(()),
        },
    }
}

/// Writes the stereo metadata the muxers get wrong into the finished file at `temp`
/// (`shown` names it in warnings): the Matroska StereoMode, and the view order of the
/// MP4/MOV svmi box.
fn mend_stereo_tags(container: Container, layout: Layout, temp: &Path, shown: &Path) {
    if container == Container::Matroska
        && let Some(mode) = layout.matroska_stereo_mode()
        && let Err(e) = stereo_tags::set_matroska_stereo_mode(temp, mode)
    {
        log::warn!(
            "could not set the Matroska StereoMode of {}: {e}",
            shown.display()
        );
    }
    if layout == Layout::Vr180
        && container == Container::Matroska
        && let Err(e) = crate::media::mkv_projection::add_vr180_projection(temp)
    {
        log::warn!(
            "could not write the VR180 metadata (Projection) of {}: {e}",
            shown.display()
        );
    }
    if layout == Layout::Vr180
        && matches!(container, Container::Mp4 | Container::Mov)
        && let Err(e) = crate::media::spherical::add_vr180_boxes(temp)
    {
        log::warn!(
            "could not write the VR180 metadata (st3d, sv3d) of {}: {e}",
            shown.display()
        );
    }
    if matches!(container, Container::Mp4 | Container::Mov)
        && let Err(e) = stereo_tags::set_mp4_left_first(temp, !layout.is_right_first())
    {
        log::warn!(
            "could not mend the stereo box (svmi) of {}: {e}",
            shown.display()
        );
    }
}

/// A pipeline error, told as a write failure when the file sink is what failed.
fn media_failure(path: &Path, cause: MediaError) -> EncodeError {
    match cause {
        MediaError::Pipeline {
            element, message, ..
        } if element.starts_with("filesink") => EncodeError::WriteFailed {
            path: path.into(),
            message,
        },
        cause => EncodeError::Media {
            path: path.into(),
            cause,
        },
    }
}
