//! Decoding any file GStreamer can read into frames, plus its audio, still compressed:
//!
//! `filesrc ! parsebin ─┬ video ─ queue ! decodebin ! videoflip(auto) ! videoconvert ! appsink`
//! `                    └ audio ─ queue ! appsink (parsed, passed to the encoder untouched)`
//!
//! The video appsink asks for the format the caller reads ([`PixelFormat`]): 4:2:0 as it
//! was decoded (I420, NV12, 10-bit I420, P010; videoconvert passes them through) with RGBA
//! for anything else, or grey for depth. Timestamps are rebased so the file's first video
//! frame is at 0 (audio keeps the same offset, so sync survives); frames keep GStreamer's
//! plane stride.
//!
//! - [`formats`]: pixel formats and the decoded [`Frame`];
//! - [`streams`]: the pipeline and the linking of its streams;
//! - [`audio`]: the audio handed to the encoder;
//! - [`choice`]: the `--decoder` setting.

mod audio;
mod choice;
mod formats;
mod streams;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use gst_video::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

pub use choice::{DecoderChoice, DecoderChoiceError};
pub use formats::{ColourConvert, Frame, Grey8Range, Grey10, PixelFormat};

use crate::layout::Canvas;
use crate::media::{self, MediaError};
use streams::{Shared, stream_time};

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{path}: no such file. Check the path")]
    Missing { path: PathBuf },
    #[error(
        "{path} is a directory, not a video or image file (for folders use `stereosplat batch`)"
    )]
    IsDirectory { path: PathBuf },
    #[error("{path} is empty (0 bytes): it is not a video or image; re-export or re-download it")]
    Empty { path: PathBuf },
    #[error("{path} cannot be read: {cause}")]
    Unreadable {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} has no video stream (only audio or data); pass a video or image file")]
    NoVideo { path: PathBuf },
    #[error(
        "{path} is not a video or image GStreamer can decode ({cause}). It may be damaged or \
         truncated, or use a format whose GStreamer plugin is not installed"
    )]
    Media { path: PathBuf, cause: MediaError },
    #[error("{path}: decoding stalled for {secs} s with no frame; the file may be damaged")]
    Stalled { path: PathBuf, secs: u64 },
    #[error("{path}: no frame at or after {start_secs:.3} s (the file is shorter)")]
    StartBeyondEnd { path: PathBuf, start_secs: f64 },
}

/// Stream facts known once the first frame has arrived.
#[derive(Clone, Debug)]
pub struct StreamInfo {
    pub width: u32,
    pub height: u32,
    /// Nominal rate; None for still images and variable-rate streams.
    pub fps: Option<gst::Fraction>,
    pub duration_nanos: Option<u64>,
    pub is_still: bool,
    /// Bits per sample of the decoded source before conversion (8, 10, 12 or 16).
    pub source_bits: u32,
    /// Pixel aspect ratio (width : height of one pixel); not 1:1 for anamorphic video
    /// (DVD, HDV). After the rotation videoflip applied.
    pub pixel_aspect: (i32, i32),
    /// PQ or HLG BT.2020 video, with its static metadata (None: SDR).
    pub hdr: Option<crate::hdr::HdrInfo>,
}

impl StreamInfo {
    /// Frame count implied by duration and rate, when both are known.
    pub fn estimated_frames(&self) -> Option<u64> {
        if self.is_still {
            return Some(1);
        }
        let fps = self.fps?;
        let dur = self.duration_nanos?;
        let f = dur as f64 * f64::from(fps.numer()) / f64::from(fps.denom()) / 1e9;
        Some(f.round() as u64)
    }

    pub fn frame_duration_nanos(&self) -> Option<u64> {
        let fps = self.fps?;
        Some(
            gst::ClockTime::SECOND
                .mul_div_round(fps.denom() as u64, fps.numer() as u64)?
                .nseconds(),
        )
    }
}

#[derive(Clone, Debug, Default)]
pub struct DecodeOptions {
    pub start_nanos: u64,
    pub with_audio: bool,
    /// Keep only the picture inside letterbox or pillarbox bars (`--autocrop`): frames
    /// come out at the picture's size. The canvas is the frame as shown (rotated).
    pub crop: Option<Canvas>,
    /// Map HDR frames to SDR BT.709 RGBA as they are decoded (`crate::hdr::ToneMapper`);
    /// SDR frames are left as they are.
    pub tonemap_hdr: bool,
}

pub struct Decoder {
    path: PathBuf,
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    shared: Arc<Shared>,
    audio_rx: Option<mpsc::Receiver<gst::Buffer>>,
    info: StreamInfo,
    format: PixelFormat,
    /// pts of the file's first frame; subtracted from every timestamp.
    origin_nanos: u64,
    /// A frame pulled ahead (the first one, read to learn the stream's format).
    pending: Option<Frame>,
    /// An audio buffer past the last `take_audio` limit, kept for the next call.
    held_audio: Option<gst::Buffer>,
    /// Stream time of the requested start (`--start`): audio before it is not wanted.
    start_stream_nanos: u64,
    /// Stream time where the output's timeline begins (see `start_output`).
    output_origin_nanos: Option<u64>,
    frames_out: u64,
    eos: bool,
    /// HDR frames become SDR RGBA here (`DecodeOptions::tonemap_hdr`).
    tonemap: Option<crate::hdr::ToneMapper>,
}

/// Longest wait for a frame before the file is declared damaged.
const STALL: Duration = Duration::from_secs(60);

/// Checks a path names a readable, non-empty file, with a message that says what is wrong.
pub fn check_input_file(path: &Path) -> Result<(), DecodeError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DecodeError::Missing { path: path.into() },
        _ => DecodeError::Unreadable {
            path: path.into(),
            cause: e,
        },
    })?;
    if meta.is_dir() {
        return Err(DecodeError::IsDirectory { path: path.into() });
    }
    if meta.len() == 0 {
        return Err(DecodeError::Empty { path: path.into() });
    }
    std::fs::File::open(path).map_err(|e| DecodeError::Unreadable {
        path: path.into(),
        cause: e,
    })?;
    Ok(())
}

impl Decoder {
    pub fn open(
        path: &Path,
        format: PixelFormat,
        opts: &DecodeOptions,
    ) -> Result<Self, DecodeError> {
        check_input_file(path)?;
        let started = streams::start(path, format, opts.with_audio, opts.crop, true)?;
        let mut dec = Self {
            path: path.into(),
            pipeline: started.pipeline,
            sink: started.sink,
            shared: started.shared,
            audio_rx: started.audio_rx,
            info: StreamInfo {
                width: 0,
                height: 0,
                fps: None,
                duration_nanos: None,
                is_still: false,
                source_bits: 8,
                pixel_aspect: (1, 1),
                hdr: None,
            },
            format,
            origin_nanos: 0,
            pending: None,
            held_audio: None,
            start_stream_nanos: 0,
            output_origin_nanos: None,
            frames_out: 0,
            eos: false,
            tonemap: None,
        };
        // The first frame tells the format and the file's time origin.
        let first = dec
            .pull_raw()?
            .ok_or_else(|| DecodeError::NoVideo { path: path.into() })?;
        dec.learn_stream(&first)?;
        if opts.tonemap_hdr {
            dec.tonemap = dec.info.hdr.as_ref().map(crate::hdr::ToneMapper::new);
        }
        if let Some(c) = opts.crop
            && (dec.info.width, dec.info.height) != c.picture.size()
        {
            return Err(DecodeError::Media {
                path: path.into(),
                cause: MediaError::Other(format!(
                    "cropping to {}x{} at ({}, {}) gave {}x{} frames: the file is not {}x{} \
                     as it was when its bars were found",
                    c.picture.w,
                    c.picture.h,
                    c.picture.x,
                    c.picture.y,
                    dec.info.width,
                    dec.info.height,
                    c.size.0,
                    c.size.1
                )),
            });
        }
        if opts.start_nanos > 0 {
            dec.start_stream_nanos = dec.origin_nanos + opts.start_nanos;
            // Released before the seek: appsink reuses one GstSample for everything it
            // hands out and sets the caps re-sent after the flush on it, which GStreamer
            // refuses (a CRITICAL on stderr) while we still hold a reference.
            drop(first);
            dec.seek(opts.start_nanos)?;
        } else {
            dec.pending = Some(dec.map(first)?);
        }
        Ok(dec)
    }

    /// The audio of `video`'s file alone, timed as `video` times its frames, from
    /// `start_nanos` (on the frames' timeline) on: the video stream is dropped undecoded,
    /// so reading a film's whole audio costs a parse. Only the audio calls
    /// (`start_output`, `take_audio`, `finish_audio`) are of use on it.
    pub fn audio_of(video: &Decoder, start_nanos: u64) -> Result<Self, DecodeError> {
        let started = streams::start(&video.path, video.format, true, None, false)?;
        let dec = Self {
            path: video.path.clone(),
            pipeline: started.pipeline,
            sink: started.sink,
            shared: started.shared,
            audio_rx: started.audio_rx,
            info: video.info.clone(),
            format: video.format,
            origin_nanos: video.origin_nanos,
            pending: None,
            held_audio: None,
            start_stream_nanos: video.origin_nanos + start_nanos,
            output_origin_nanos: None,
            frames_out: 0,
            eos: true,
            tonemap: None,
        };
        // The streams are exposed as the demuxer starts: wait for them, so a file with
        // audio is never taken for one without.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dec.shared.pads_done.load(Ordering::SeqCst)
            && dec.shared.audio_caps.lock().unwrap().is_none()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        if start_nanos > 0 {
            // Audio before the start is dropped by timestamp; the seek skips most of it.
            // The pipeline must have prerolled before it can seek.
            let _ = dec.pipeline.state(gst::ClockTime::from_seconds(10));
            let target = gst::ClockTime::from_nseconds(dec.start_stream_nanos);
            dec.pipeline
                .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, target)
                .map_err(|e| DecodeError::Media {
                    path: dec.path.clone(),
                    cause: MediaError::Other(format!("cannot seek the audio: {e}")),
                })?;
        }
        Ok(dec)
    }

    /// Reads the stream's facts and time origin from its first frame.
    fn learn_stream(&mut self, first: &gst::Sample) -> Result<(), DecodeError> {
        let info = self.video_info(first)?;
        log::debug!(
            "{}: frames arrive as {} ({})",
            self.path.display(),
            info.format().to_str(),
            info.colorimetry()
        );
        let fps = info.fps();
        let is_still = fps.numer() == 0 && self.shared.is_image.load(Ordering::SeqCst);
        self.origin_nanos = stream_time(first).unwrap_or(0);
        self.info = StreamInfo {
            width: info.width(),
            height: info.height(),
            fps: (fps.numer() > 0).then_some(fps),
            duration_nanos: self
                .pipeline
                .query_duration::<gst::ClockTime>()
                .map(|d| d.nseconds().saturating_sub(self.origin_nanos)),
            is_still,
            source_bits: self.shared.source_bits.load(Ordering::SeqCst),
            pixel_aspect: match info.par() {
                p if p.numer() > 0 && p.denom() > 0 => (p.numer(), p.denom()),
                _ => (1, 1),
            },
            hdr: first
                .caps()
                .and_then(|caps| crate::hdr::HdrInfo::from_caps(caps, &info)),
        };
        Ok(())
    }

    /// Goes to `start_nanos` (since the first frame): the next frame is the one showing
    /// then. Frames handed out before stay valid.
    pub fn seek_to(&mut self, start_nanos: u64) -> Result<(), DecodeError> {
        self.pending = None;
        self.eos = false;
        self.seek(start_nanos)
    }

    fn seek(&mut self, start_nanos: u64) -> Result<(), DecodeError> {
        let target = gst::ClockTime::from_nseconds(start_nanos + self.origin_nanos);
        self.shared.audio_eos.store(false, Ordering::SeqCst);
        self.pipeline
            .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, target)
            .map_err(|e| DecodeError::Media {
                path: self.path.clone(),
                cause: MediaError::Other(format!("cannot seek to {start_nanos } ns: {e}")),
            })?;
        // Frames before the target that raced the flush are dropped by timestamp.
        loop {
            let Some(frame) = self.next_frame()? else {
                return Err(DecodeError::StartBeyondEnd {
                    path: self.path.clone(),
                    start_secs: start_nanos as f64 / 1e9,
                });
            };
            let half = self.info.frame_duration_nanos().unwrap_or(0) / 2;
            // An accurate seek clips the frame showing at the target to start there (a
            // 41.67 ms frame of Matroska's millisecond timeline can become 6 ns long): one
            // that shows for less than half a frame past the target belongs before it.
            let end = frame.pts_nanos + frame.duration_nanos.unwrap_or(2 * half);
            if frame.pts_nanos + half >= start_nanos && end >= start_nanos + half {
                self.pending = Some(frame);
                return Ok(());
            }
        }
    }

    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Caps of the source audio, as parsed (not decoded), if the file has audio.
    pub fn audio_caps(&self) -> Option<gst::Caps> {
        self.shared.audio_caps.lock().unwrap().clone()
    }

    /// Number of frames handed out so far.
    pub fn frames_out(&self) -> u64 {
        self.frames_out
    }

    /// Gives back the frame `next_frame` just returned: the next call returns it again.
    pub fn push_back(&mut self, frame: Frame) {
        debug_assert!(self.pending.is_none(), "one frame can be pushed back");
        self.frames_out -= 1;
        self.pending = Some(frame);
    }

    /// The next frame, or None at the end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if let Some(f) = self.pending.take() {
            self.frames_out += 1;
            return Ok(Some(f));
        }
        if self.eos {
            return Ok(None);
        }
        let Some(sample) = self.pull_raw()? else {
            self.eos = true;
            return Ok(None);
        };
        let frame = self.map(sample)?;
        self.frames_out += 1;
        Ok(Some(frame))
    }

    fn video_info(&self, sample: &gst::Sample) -> Result<gst_video::VideoInfo, DecodeError> {
        let caps = sample.caps().ok_or_else(|| DecodeError::Media {
            path: self.path.clone(),
            cause: MediaError::Other("decoded frame without caps".into()),
        })?;
        gst_video::VideoInfo::from_caps(caps).map_err(|e| DecodeError::Media {
            path: self.path.clone(),
            cause: MediaError::Other(e.to_string()),
        })
    }

    fn map(&self, sample: gst::Sample) -> Result<Frame, DecodeError> {
        let info = self.video_info(&sample)?;
        let pts_nanos = stream_time(&sample)
            .map(|t| t.saturating_sub(self.origin_nanos))
            .unwrap_or_else(|| self.frames_out * self.info.frame_duration_nanos().unwrap_or(0));
        let buffer = sample.buffer_owned().ok_or_else(|| DecodeError::Media {
            path: self.path.clone(),
            cause: MediaError::Other("empty sample".into()),
        })?;
        let duration_nanos = buffer.duration().map(|d| d.nseconds());
        let frame = gst_video::VideoFrame::from_buffer_readable(buffer, &info).map_err(|_| {
            DecodeError::Media {
                path: self.path.clone(),
                cause: MediaError::Other("cannot map a decoded frame".into()),
            }
        })?;
        debug_assert!(self.format.gst().contains(&frame.format()));
        let frame = match &self.tonemap {
            Some(t) => self.tonemapped(t, &frame)?,
            None => frame,
        };
        Ok(Frame {
            frame,
            pts_nanos,
            duration_nanos,
        })
    }

    /// `frame` mapped to SDR: a new RGBA frame of its size.
    fn tonemapped(
        &self,
        t: &crate::hdr::ToneMapper,
        frame: &gst_video::VideoFrame<gst_video::video_frame::Readable>,
    ) -> Result<gst_video::VideoFrame<gst_video::video_frame::Readable>, DecodeError> {
        let err = |what: &str| DecodeError::Media {
            path: self.path.clone(),
            cause: MediaError::Other(format!("tone mapping: {what}")),
        };
        let size = (frame.width(), frame.height());
        let pixels = Frame::pixels_of(frame);
        let mut rgba = Vec::new();
        t.frame(&pixels, size, &mut rgba);
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgba, size.0, size.1)
            .build()
            .map_err(|_| err("no RGBA layout"))?;
        gst_video::VideoFrame::from_buffer_readable(gst::Buffer::from_mut_slice(rgba), &info)
            .map_err(|_| err("cannot map the SDR frame"))
    }

    /// Pulls the next buffer, watching the bus so errors and "no video" end the wait.
    fn pull_raw(&mut self) -> Result<Option<gst::Sample>, DecodeError> {
        let bus = self.pipeline.bus().expect("a pipeline has a bus");
        let started = Instant::now();
        loop {
            if let Some(sample) = self.sink.try_pull_sample(gst::ClockTime::from_mseconds(50)) {
                return Ok(Some(sample));
            }
            let bus_eos = media::poll_bus(&bus).map_err(|cause| DecodeError::Media {
                path: self.path.clone(),
                cause,
            })?;
            let linked = self.shared.video_linked.load(Ordering::SeqCst);
            // An appsink that is not yet in a running pipeline also reports EOS.
            if linked && self.sink.current_state() >= gst::State::Paused && self.sink.is_eos() {
                return Ok(None);
            }
            if !linked && (bus_eos || self.shared.pads_done.load(Ordering::SeqCst)) {
                return Err(DecodeError::NoVideo {
                    path: self.path.clone(),
                });
            }
            if bus_eos {
                return Ok(None);
            }
            if started.elapsed() > STALL {
                return Err(DecodeError::Stalled {
                    path: self.path.clone(),
                    secs: STALL.as_secs(),
                });
            }
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gst_video::VideoFormat as F;

    #[test]
    fn frames_reach_the_warp_in_the_format_they_are_decoded_in() {
        // 4:2:0 the warp converts itself is offered as decoded (videoconvert then passes
        // it through), and 10-bit 4:2:0 only so, or videoconvert would pick 8-bit I420;
        // other formats become RGBA. Everything asked for is a format frames may arrive in.
        for (decoded, want) in [("I420", F::I420), ("NV12", F::Nv12)] {
            let asked = PixelFormat::Native.for_decoded(Some(decoded));
            assert!(asked.contains(&want), "{decoded}");
        }
        for (decoded, want) in [("I420_10LE", F::I42010le), ("P010_10LE", F::P01010le)] {
            let asked = PixelFormat::Native.for_decoded(Some(decoded));
            assert_eq!(asked, &[want], "{decoded}");
        }
        for f in ["I420", "NV12", "I420_10LE", "P010_10LE", "Y42B"] {
            for asked in PixelFormat::Native.for_decoded(Some(f)) {
                assert!(PixelFormat::Native.gst().contains(asked), "{f}");
            }
        }
        assert!(
            PixelFormat::Native
                .for_decoded(Some("Y42B"))
                .contains(&F::Rgba)
        );
    }

    #[test]
    fn ten_bit_grey_widens_to_the_full_sixteen_bits() {
        let low = Grey10 {
            high_bits: false,
            range: Grey8Range::Limited,
        };
        let high = Grey10 {
            high_bits: true,
            range: Grey8Range::Full,
        };
        assert_eq!(
            (low.value(0xFC00 | 700), high.value(700 << 6 | 0x3F)),
            (700, 700)
        );
        let limited = low.to_16();
        // Black and white of limited range, the middle, and clamping outside them.
        assert_eq!(
            [
                limited[0],
                limited[64],
                limited[502],
                limited[940],
                limited[1023]
            ],
            [0, 0, 32768, 65535, 65535]
        );
        let full = high.to_16();
        assert_eq!([full[0], full[512], full[1023]], [0, 32800, 65535]);
        assert!(limited.windows(2).all(|p| p[0] <= p[1]), "never decreases");
        for depth in ["I420_10LE", "P010_10LE"] {
            assert_eq!(
                PixelFormat::Depth.for_decoded(Some(depth)).len(),
                1,
                "{depth}"
            );
        }
    }
}
