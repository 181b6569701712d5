//! Decoding any file GStreamer can read into frames, plus its audio, still compressed:
//!
//! `filesrc ! parsebin ─┬ video ─ queue ! decodebin ! videoflip(auto) ! videoconvert ! appsink(RGBA|GRAY16_LE)`
//! `                    └ audio ─ queue ! appsink (parsed, passed to the encoder untouched)`
//!
//! Timestamps are rebased so the file's first video frame is at 0; the audio keeps the
//! same offset, so sync survives. Frames keep GStreamer's plane stride.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use gst_video::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use crate::frame::{FramePixels, YuvColours, YuvMatrix};
use crate::media::{self, MediaError};

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

/// Where decoded YUV frames become RGB (`--colour-convert`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColourConvert {
    /// Where the warp runs: the decoder's I420/NV12 planes go to the warp, which converts
    /// them (a shader, or the CPU warp's own code) with bilinear chroma. On a software
    /// rasteriser the GPU warp gets them converted by that same CPU code (the shader
    /// costs about fifteen times the CPU there).
    #[default]
    Auto,
    /// In a shader: as `auto`, and the GPU warp even where `--warp-device auto` would
    /// pick the CPU.
    Gpu,
    /// GStreamer's videoconvert to RGBA before the warp. Its SIMD path repeats each
    /// chroma sample over 2x2 pixels (stair steps along colour edges).
    Cpu,
}

impl ColourConvert {
    /// The decoder output format for the frames the warp reads.
    pub fn pixel_format(self) -> PixelFormat {
        match self {
            ColourConvert::Cpu => PixelFormat::Rgba,
            ColourConvert::Auto | ColourConvert::Gpu => PixelFormat::Native,
        }
    }
}

/// What the appsink asks videoconvert for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    Rgba,
    Gray16,
    /// Grey depth: 16-bit, or 8-bit when the source has no more bits (converting 8-bit
    /// video to 16-bit grey costs videoconvert twice the CPU of 8-bit grey). 8-bit 4:2:0
    /// video (I420, NV12) comes as it is decoded and its luma plane is the depth
    /// (`Frame::grey8`): videoconvert's grey conversion cost more CPU than the decoding.
    Depth,
    /// 4:2:0 as most decoders produce it (8-bit I420, NV12 and P010 from hardware decoders,
    /// 10-bit I420), which the warp converts (`Frame::pixels`): 10-bit samples keep their two
    /// extra bits that way and skip videoconvert's pass. videoconvert turns 4:2:2, 4:4:4
    /// and RGB into RGBA (no chroma lost).
    Native,
}

impl PixelFormat {
    /// The formats the appsink asks for, preferred first, given the decoder's output
    /// format once it is known. Depth from 8-bit 4:2:0 video stays in that format (only
    /// its luma is read); anything else, 10-bit video included, becomes grey
    /// (videoconvert would otherwise pick 8-bit I420 for 10-bit input and drop its extra
    /// bits), and so does everything before the format is known.
    fn for_decoded(self, decoded: Option<&str>) -> &'static [gst_video::VideoFormat] {
        use gst_video::VideoFormat as F;
        match (self, decoded) {
            (PixelFormat::Depth, Some("I420")) => &[F::I420],
            (PixelFormat::Depth, Some("NV12")) => &[F::Nv12],
            // 10-bit 4:2:0 depth: its luma too, widened by `Frame::grey10`.
            (PixelFormat::Depth, Some("I420_10LE")) => &[F::I42010le],
            (PixelFormat::Depth, Some("P010_10LE")) => &[F::P01010le],
            (PixelFormat::Depth, _) => &[F::Gray16Le, F::Gray8],
            (PixelFormat::Native, Some("I420_10LE")) => &[F::I42010le],
            // Hardware decoders' 10-bit output (NVDEC, VA-API): read as it is, where
            // videoconvert would spend CPU time squeezing it to 8-bit I420.
            (PixelFormat::Native, Some("P010_10LE")) => &[F::P01010le],
            // Offered 10-bit 4:2:0, videoconvert would prefer it to RGBA for 10-bit 4:2:2
            // and drop chroma.
            (PixelFormat::Native, _) => &[F::I420, F::Nv12, F::Rgba],
            _ => self.gst(),
        }
    }

    /// Every format frames may arrive in.
    fn gst(self) -> &'static [gst_video::VideoFormat] {
        use gst_video::VideoFormat as F;
        match self {
            PixelFormat::Rgba => &[F::Rgba],
            PixelFormat::Gray16 => &[F::Gray16Le],
            PixelFormat::Depth => &[
                F::Gray16Le,
                F::Gray8,
                F::I420,
                F::Nv12,
                F::I42010le,
                F::P01010le,
            ],
            PixelFormat::Native => &[F::I420, F::Nv12, F::I42010le, F::P01010le, F::Rgba],
        }
    }
}

/// One decoded frame, mapped; the buffer stays alive as long as this does.
pub struct Frame {
    frame: gst_video::VideoFrame<gst_video::video_frame::Readable>,
    /// Presentation time since the file's first frame.
    pub pts_nanos: u64,
    pub duration_nanos: Option<u64>,
}

impl Frame {
    pub fn width(&self) -> u32 {
        self.frame.width()
    }
    pub fn height(&self) -> u32 {
        self.frame.height()
    }
    pub fn stride_bytes(&self) -> u32 {
        self.frame.plane_stride()[0] as u32
    }
    pub fn data(&self) -> &[u8] {
        self.frame.plane_data(0).expect("plane 0 of a mapped frame")
    }

    /// 8-bit grey in plane 0 (from `PixelFormat::Depth` on an 8-bit source): GRAY8, or
    /// the luma of 8-bit 4:2:0 video, which may be limited range (16..235).
    pub fn grey8(&self) -> Option<Grey8Range> {
        use gst_video::VideoFormat as F;
        match self.frame.format() {
            F::Gray8 => Some(Grey8Range::Full),
            F::I420 | F::Nv12 => Some(match self.frame.info().colorimetry().range() {
                gst_video::VideoColorRange::Range0_255 => Grey8Range::Full,
                // Unknown range in YUV video means limited, as GStreamer assumes.
                _ => Grey8Range::Limited,
            }),
            _ => None,
        }
    }

    /// 10-bit grey in plane 0 (from `PixelFormat::Depth` on a 10-bit source): the luma
    /// of 10-bit 4:2:0 video, in the low (I420_10LE) or high (P010) bits of each sample.
    pub fn grey10(&self) -> Option<Grey10> {
        use gst_video::VideoFormat as F;
        let high_bits = match self.frame.format() {
            F::I42010le => false,
            F::P01010le => true,
            _ => return None,
        };
        let range = match self.frame.info().colorimetry().range() {
            gst_video::VideoColorRange::Range0_255 => Grey8Range::Full,
            _ => Grey8Range::Limited,
        };
        Some(Grey10 { high_bits, range })
    }

    /// The pixels in whichever format was negotiated (see `PixelFormat::Native`).
    pub fn pixels(&self) -> FramePixels<'_> {
        let plane = |i: u32| {
            (
                self.frame.plane_data(i).expect("plane of a mapped frame"),
                self.frame.plane_stride()[i as usize] as u32,
            )
        };
        let colours = || {
            let c = self.frame.info().colorimetry();
            let matrix = match c.matrix() {
                gst_video::VideoColorMatrix::Bt709 => YuvMatrix::Bt709,
                gst_video::VideoColorMatrix::Bt2020 => YuvMatrix::Bt2020,
                gst_video::VideoColorMatrix::Bt601 => YuvMatrix::Bt601,
                _ => YuvMatrix::for_height(self.height()),
            };
            YuvColours {
                matrix,
                full_range: c.range() == gst_video::VideoColorRange::Range0_255,
            }
        };
        match self.frame.format() {
            gst_video::VideoFormat::I420 => FramePixels::I420 {
                planes: [plane(0), plane(1), plane(2)],
                colours: colours(),
            },
            gst_video::VideoFormat::Nv12 => FramePixels::Nv12 {
                planes: [plane(0), plane(1)],
                colours: colours(),
            },
            gst_video::VideoFormat::I42010le => FramePixels::I420Ten {
                planes: [plane(0), plane(1), plane(2)],
                colours: colours(),
            },
            gst_video::VideoFormat::P01010le => FramePixels::P010 {
                planes: [plane(0), plane(1)],
                colours: colours(),
            },
            _ => FramePixels::Rgba {
                data: self.data(),
                stride: self.stride_bytes(),
            },
        }
    }
}

/// The value range of 8-bit grey in a frame's plane 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grey8Range {
    /// 0..255.
    Full,
    /// 16..235 (video luma): black 16 and white 235.
    Limited,
}

impl Grey8Range {
    /// The table from stored values to full-range ones (16 -> 0, 235 -> 255, clamped).
    pub fn to_full(self) -> &'static [u8; 256] {
        static FULL: [u8; 256] = {
            let mut t = [0u8; 256];
            let mut i = 0;
            while i < 256 {
                t[i] = i as u8;
                i += 1;
            }
            t
        };
        static LIMITED: [u8; 256] = {
            let mut t = [0u8; 256];
            let mut i = 0;
            while i < 256 {
                // round((v - 16) * 255 / 219) in integers, clamped to 0..255.
                let v = (i as i32 - 16) * 255;
                let r = if v <= 0 { 0 } else { (v + 109) / 219 };
                t[i] = if r > 255 { 255 } else { r as u8 };
                i += 1;
            }
            t
        };
        match self {
            Grey8Range::Full => &FULL,
            Grey8Range::Limited => &LIMITED,
        }
    }
}

/// How 10-bit grey is stored: which bits of each little-endian u16, and its range
/// (limited: black 64, white 940).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grey10 {
    pub high_bits: bool,
    pub range: Grey8Range,
}

impl Grey10 {
    /// The 10-bit value in a stored sample.
    #[inline]
    pub fn value(self, stored: u16) -> u16 {
        if self.high_bits {
            stored >> 6
        } else {
            stored & 0x3FF
        }
    }

    /// The table from 10-bit values to full-range 16-bit ones: v * 65535 / 1023, or
    /// (v - 64) * 65535 / 876 for limited range, rounded and clamped.
    pub fn to_16(self) -> &'static [u16; 1024] {
        const fn table(black: i64, span: i64) -> [u16; 1024] {
            let mut t = [0u16; 1024];
            let mut i = 0;
            while i < 1024 {
                let v = (i as i64 - black) * 65535;
                let r = if v <= 0 { 0 } else { (v + span / 2) / span };
                t[i] = if r > 65535 { 65535 } else { r as u16 };
                i += 1;
            }
            t
        }
        static FULL: [u16; 1024] = table(0, 1023);
        static LIMITED: [u16; 1024] = table(64, 876);
        match self.range {
            Grey8Range::Full => &FULL,
            Grey8Range::Limited => &LIMITED,
        }
    }
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
}

struct Shared {
    video_linked: AtomicBool,
    pads_done: AtomicBool,
    /// The video stream is a still image (png, jpeg...).
    is_image: AtomicBool,
    /// Bits per sample the decoder produced before conversion (8 for most video, 16 for
    /// 16-bit grey PNG or FFV1), so stored depth values can be read in their own units.
    source_bits: std::sync::atomic::AtomicU32,
    audio_caps: Mutex<Option<gst::Caps>>,
    /// The audio branch has delivered its last buffer.
    audio_eos: AtomicBool,
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
        let media_err = |cause: MediaError| DecodeError::Media {
            path: path.into(),
            cause,
        };
        let (pipeline, parse) = media::parse_file("stereosplat-decode", path).map_err(media_err)?;
        if opts.with_audio {
            // parsebin hands on a parsed stream only when some decoder could take it, so
            // audio with no decoder here vanishes even though it would be passed through.
            let shown = path.display().to_string();
            parse.connect("unknown-type", false, move |args| {
                let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
                let name = caps
                    .as_ref()
                    .and_then(|c| c.structure(0))
                    .map(|s| s.name().to_string())
                    .unwrap_or_default();
                if name.starts_with("audio/") {
                    log::warn!(
                        "{shown}: its audio ({name}) is left out: GStreamer here has no decoder \
                         for it, and without one it does not hand the stream on, not even to be \
                         copied. Install gstreamer1.0-libav (or the plugin for that codec)"
                    );
                }
                None
            });
        }
        let formats: Vec<&str> = format
            .for_decoded(None)
            .iter()
            .map(|f| f.to_str().as_str())
            .collect();
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", gst::List::new(formats))
            .build();
        let sink = gst_app::AppSink::builder()
            .caps(&caps)
            .max_buffers(4)
            .drop(false)
            .sync(false)
            .build();

        let shared = Arc::new(Shared {
            video_linked: AtomicBool::new(false),
            pads_done: AtomicBool::new(false),
            is_image: AtomicBool::new(false),
            source_bits: std::sync::atomic::AtomicU32::new(8),
            audio_caps: Mutex::new(None),
            audio_eos: AtomicBool::new(false),
        });
        let (audio_tx, audio_rx) = mpsc::channel();
        let with_audio = opts.with_audio;
        let dec_shared = shared.clone();
        {
            let pipeline = pipeline.downgrade();
            let sink = sink.clone();
            let shared = shared.clone();
            let audio_tx = Mutex::new(Some(audio_tx));
            parse.connect_pad_added(move |_, pad| {
                let Some(pipeline) = pipeline.upgrade() else {
                    return;
                };
                let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
                let Some(name) = caps.structure(0).map(|s| s.name().to_string()) else {
                    return;
                };
                log::debug!("stream found: {caps}");
                let result = if (name.starts_with("video/") || name.starts_with("image/"))
                    && !shared.video_linked.swap(true, Ordering::SeqCst)
                {
                    shared
                        .is_image
                        .store(name.starts_with("image/"), Ordering::SeqCst);
                    link_video(&pipeline, pad, &sink, format, shared.clone())
                } else if name.starts_with("audio/")
                    && with_audio
                    && shared.audio_caps.lock().unwrap().is_none()
                {
                    *shared.audio_caps.lock().unwrap() = Some(caps.clone());
                    let tx = audio_tx.lock().unwrap().take();
                    tx.map(|tx| link_audio(&pipeline, pad, tx, shared.clone()))
                        .unwrap_or(Ok(()))
                } else {
                    media::link_fakesink(&pipeline, pad)
                };
                if let Err(e) = result {
                    log::error!("cannot link stream {name}: {e}");
                }
            });
            let shared_done = dec_shared.clone();
            parse
                .connect_no_more_pads(move |_| shared_done.pads_done.store(true, Ordering::SeqCst));
        }
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| media_err(first_error(&pipeline)))?;

        let mut dec = Self {
            path: path.into(),
            pipeline,
            sink,
            shared,
            audio_rx: with_audio.then_some(audio_rx),
            info: StreamInfo {
                width: 0,
                height: 0,
                fps: None,
                duration_nanos: None,
                is_still: false,
                source_bits: 8,
                pixel_aspect: (1, 1),
            },
            format,
            origin_nanos: 0,
            pending: None,
            held_audio: None,
            start_stream_nanos: 0,
            output_origin_nanos: None,
            frames_out: 0,
            eos: false,
        };
        // The first frame tells the format and the file's time origin.
        let first = dec
            .pull_raw()?
            .ok_or_else(|| DecodeError::NoVideo { path: path.into() })?;
        let info = dec.video_info(&first)?;
        log::debug!(
            "{}: frames arrive as {} ({})",
            path.display(),
            info.format().to_str(),
            info.colorimetry()
        );
        let fps = info.fps();
        let is_still = fps.numer() == 0 && dec.shared.is_image.load(Ordering::SeqCst);
        dec.origin_nanos = stream_time(&first).unwrap_or(0);
        dec.info = StreamInfo {
            width: info.width(),
            height: info.height(),
            fps: (fps.numer() > 0).then_some(fps),
            duration_nanos: dec
                .pipeline
                .query_duration::<gst::ClockTime>()
                .map(|d| d.nseconds().saturating_sub(dec.origin_nanos)),
            is_still,
            source_bits: dec.shared.source_bits.load(Ordering::SeqCst),
            pixel_aspect: match info.par() {
                p if p.numer() > 0 && p.denom() > 0 => (p.numer(), p.denom()),
                _ => (1, 1),
            },
        };
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

    /// Starts the output's timeline at the first video frame rendered (`first_frame_pts`,
    /// on the frames' timeline), or earlier where the audio begins before it: that
    /// audio is kept with its timing, and the video starts later in the output. Returns
    /// the video's start in the output (0 when the audio does not lead). Waits briefly
    /// for the first audio buffer when the file has audio.
    pub fn start_output(&mut self, first_frame_pts: u64) -> u64 {
        let video = self.origin_nanos + first_frame_pts;
        let first_audio = self.first_audio_pts();
        let origin = first_audio.map_or(video, |a| a.min(video));
        self.output_origin_nanos = Some(origin);
        video - origin
    }

    /// Stream time of the first audio buffer at or after the requested start, held for
    /// `take_audio`; None without audio or when none has come within a quarter second.
    /// Demuxers hand out packets in time order, so audio that starts before the first
    /// frame has arrived by the time that frame is decoded; audio that has not may be
    /// queued behind video (a demuxer blocked on a full video queue sends nothing else),
    /// and waiting longer for it would only stall the start.
    fn first_audio_pts(&mut self) -> Option<u64> {
        let rx = self.audio_rx.as_ref()?;
        let deadline = Instant::now() + Duration::from_millis(250);
        loop {
            let ended = self.shared.audio_eos.load(Ordering::SeqCst);
            let next = self.held_audio.take().or_else(|| rx.try_recv().ok());
            match next {
                // Buffers before a seek's target raced its flush.
                Some(b)
                    if b.pts()
                        .is_none_or(|p| p.nseconds() < self.start_stream_nanos) => {}
                Some(b) => {
                    let pts = b.pts().map(|p| p.nseconds());
                    self.held_audio = Some(b);
                    return pts;
                }
                None if ended || self.shared.audio_caps.lock().unwrap().is_none() => {
                    return None;
                }
                None if Instant::now() >= deadline => return None,
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    /// Audio buffers decoded so far that start before `until_nanos` (on the frames'
    /// timeline), with their times on the output's (see `start_output`; without it, the
    /// output starts at the first frame). Audio before the output's start is dropped;
    /// later buffers wait for the next call. Returns true once the audio has reached
    /// `until_nanos`.
    pub fn take_audio(&mut self, until_nanos: u64, out: &mut Vec<gst::Buffer>) -> bool {
        let Some(rx) = &self.audio_rx else {
            return true;
        };
        let origin = self.output_origin_nanos.unwrap_or(self.origin_nanos);
        let until = self.origin_nanos + until_nanos;
        loop {
            let buf = match self.held_audio.take() {
                Some(b) => b,
                None => match rx.try_recv() {
                    Ok(b) => b,
                    Err(mpsc::TryRecvError::Empty) => return false,
                    Err(mpsc::TryRecvError::Disconnected) => return true,
                },
            };
            let Some(pts) = buf.pts().map(|p| p.nseconds()) else {
                continue;
            };
            if pts < origin.max(self.start_stream_nanos) {
                continue;
            }
            if pts >= until {
                self.held_audio = Some(buf);
                return true;
            }
            let mut buf = buf;
            let b = buf.make_mut();
            b.set_pts(gst::ClockTime::from_nseconds(pts - origin));
            b.set_dts(gst::ClockTime::NONE);
            out.push(buf);
        }
    }

    /// Like [`Self::take_audio`] at the end of the range: waits (briefly) for audio that
    /// is still being demuxed, so the tail of the sound track is not cut.
    /// It returns as soon as nothing more can come: the file has no audio stream, or the
    /// audio branch has delivered its last buffer (waiting out the deadline there cost
    /// every render of a silent clip two idle seconds).
    pub fn finish_audio(&mut self, until_nanos: u64, out: &mut Vec<gst::Buffer>) {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            // Read before draining: buffers sent before the end are then all taken.
            let ended = self.shared.audio_eos.load(Ordering::SeqCst);
            if self.take_audio(until_nanos, out) || ended {
                return;
            }
            // By the end of the video every stream has long been exposed (demuxers
            // expose theirs before data flows): none linked means no audio at all.
            let no_audio_stream = self.shared.audio_caps.lock().unwrap().is_none();
            if no_audio_stream || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
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
        Ok(Frame {
            frame,
            pts_nanos,
            duration_nanos,
        })
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

/// Bits per sample of a GStreamer raw video format name.
fn bits_of(format: &str) -> u32 {
    if format.contains("16") || format.contains("64") {
        16
    } else if format.contains("12") {
        12
    } else if format.contains("10") {
        10
    } else {
        8
    }
}

/// A buffer's position on the stream's own timeline (what seeks use). Buffer timestamps
/// can be offset from it, e.g. by an mp4 edit list that hides B-frame delay.
fn stream_time(sample: &gst::Sample) -> Option<u64> {
    let pts = sample.buffer()?.pts()?;
    let stream = sample
        .segment()
        .and_then(|s| s.downcast_ref::<gst::ClockTime>())
        .and_then(|s| s.to_stream_time(pts));
    Some(stream.unwrap_or(pts).nseconds())
}

fn first_error(pipeline: &gst::Pipeline) -> MediaError {
    let bus = pipeline.bus().expect("a pipeline has a bus");
    while let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) {
        if let Some(e) = media::bus_error(&msg) {
            return e;
        }
    }
    MediaError::Other("the pipeline refused to start".into())
}

fn link_video(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    sink: &gst_app::AppSink,
    format: PixelFormat,
    shared: Arc<Shared>,
) -> Result<(), MediaError> {
    let queue = media::make_named("queue", "dec-video")?;
    let decode = media::make("decodebin")?;
    // Phones store rotation as a tag; videoflip applies it.
    let flip = media::make("videoflip")?;
    flip.set_property_from_str("video-direction", "auto");
    let convert = media::make("videoconvert")?;
    // All cores: the depth scan decodes a whole clip before rendering starts, with the
    // other cores idle, and its conversion is most of its CPU time.
    convert.set_property("n-threads", 0u32);
    let sink_el: &gst::Element = sink.upcast_ref();
    pipeline
        .add_many([&flip, &convert, sink_el])
        .map_err(|e| MediaError::Other(e.to_string()))?;
    media::link_many(&[&flip, &convert, sink_el])?;
    for e in [&flip, &convert, sink_el] {
        e.sync_state_with_parent()
            .map_err(|e| MediaError::Other(e.to_string()))?;
    }
    let flip_weak = flip.downgrade();
    let sink_weak = sink.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let Some(flip) = flip_weak.upgrade() else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_video = caps
            .structure(0)
            .is_some_and(|s| s.name().starts_with("video/"));
        if let Some(decoded) = caps.structure(0).and_then(|s| s.get::<&str>("format").ok()) {
            shared.source_bits.store(bits_of(decoded), Ordering::SeqCst);
            // Before linking, so videoconvert negotiates with the narrowed caps.
            if let Some(sink) = sink_weak.upgrade() {
                let formats = format
                    .for_decoded(Some(decoded))
                    .iter()
                    .map(|f| f.to_str().as_str());
                sink.set_caps(Some(
                    &gst::Caps::builder("video/x-raw")
                        .field("format", gst::List::new(formats))
                        .build(),
                ));
            }
        }
        let target = flip.static_pad("sink").expect("videoflip sink pad");
        if is_video
            && !target.is_linked()
            && let Err(e) = pad.link(&target)
        {
            log::error!("cannot link decoded video: {e:?}");
        }
    });
    media::add_chain(pipeline, pad, &[&queue, &decode])
}

fn link_audio(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    tx: mpsc::Sender<gst::Buffer>,
    shared: Arc<Shared>,
) -> Result<(), MediaError> {
    let queue = media::make_named("queue", "dec-audio")?;
    let tx = Mutex::new(tx);
    // Audio never blocks the demuxer: it is tiny next to video, and blocking it could
    // starve the video branch that shares the demuxer's thread.
    let sink = gst_app::AppSink::builder()
        .sync(false)
        .callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let stream_pts = stream_time(&sample);
                    if let Some(mut buffer) = sample.buffer_owned() {
                        // Same timeline as the video frames (stream time).
                        if let Some(pts) = stream_pts {
                            buffer
                                .make_mut()
                                .set_pts(gst::ClockTime::from_nseconds(pts));
                        }
                        let _ = tx.lock().unwrap().send(buffer);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                // After the last new_sample (same streaming thread): every buffer is sent.
                .eos(move |_| shared.audio_eos.store(true, Ordering::SeqCst))
                .build(),
        )
        .build();
    media::add_chain(pipeline, pad, &[&queue, sink.upcast_ref()])
}

/// `--decoder`: which video decoders GStreamer's decodebin may pick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DecoderChoice {
    /// GStreamer's ranking: a hardware decoder first when one supports the stream.
    #[default]
    Auto,
    /// Software decoders only.
    Software,
    /// Hardware decoders only where one exists (an error when there is none at all).
    Hardware,
}

impl DecoderChoice {
    /// Applies the choice to this process's GStreamer registry (decoder ranks) and says
    /// which hardware decoders there are.
    pub fn apply(self) -> anyhow::Result<()> {
        media::init()?;
        let hardware: Vec<gst::ElementFactory> = gst::ElementFactory::factories_with_type(
            gst::ElementFactoryType::DECODER | gst::ElementFactoryType::MEDIA_VIDEO,
            gst::Rank::NONE,
        )
        .into_iter()
        .filter(|f| f.metadata("klass").is_some_and(|k| k.contains("Hardware")))
        .collect();
        let names: Vec<String> = hardware.iter().map(|f| f.name().to_string()).collect();
        match self {
            DecoderChoice::Auto => {
                if names.is_empty() {
                    log::info!("video decoding: software (GStreamer has no hardware decoder here)");
                } else {
                    log::info!(
                        "video decoding: hardware where supported ({})",
                        names.join(", ")
                    );
                }
            }
            DecoderChoice::Software => {
                for f in &hardware {
                    f.set_rank(gst::Rank::NONE);
                }
                log::info!("video decoding: software only");
            }
            DecoderChoice::Hardware => {
                if hardware.is_empty() {
                    anyhow::bail!(
                        "--decoder hardware: GStreamer has no hardware video decoder here \
                         (they come with gstreamer1.0-plugins-bad's nvcodec / va plugins or \
                         gstreamer1.0-vaapi, and need the GPU's driver); use --decoder auto"
                    );
                }
                for f in &hardware {
                    f.set_rank(gst::Rank::PRIMARY + 100);
                }
                log::info!("video decoding: hardware first ({})", names.join(", "));
            }
        }
        Ok(())
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
