//! Encoding composed frames and the source audio into the output file:
//!
//! `appsrc(I420, converted on the GPU) ! queue ! videoconvert (passthrough for x264) ! I420 ! x264enc ! h264parse ! [capssetter] ! mp4mux|matroskamux ! filesink`
//! `appsrc(source audio) ! queue ! mux` (passed through), or `... ! decodebin ! audioconvert ! audioresample ! avenc_aac (or another AAC encoder) ! mux`
//! `appsrc(RGBA) ! videoconvert ! pngenc|jpegenc ! filesink` for a still.
//!
//! The file is written under a temporary name beside the target and renamed only when the
//! container is closed properly, so a failed run never leaves a broken file under the
//! final name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use crate::frame::{I420Layout, YuvMatrix};
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    Mp4,
    Mov,
    Matroska,
    Png,
    Jpeg,
}

impl Container {
    pub fn from_path(path: &Path) -> Result<Self, EncodeError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        Ok(match ext.as_str() {
            "mp4" | "m4v" => Container::Mp4,
            "mov" => Container::Mov,
            "mkv" => Container::Matroska,
            "png" => Container::Png,
            "jpg" | "jpeg" => Container::Jpeg,
            _ => {
                return Err(EncodeError::UnsupportedExtension {
                    path: path.into(),
                    ext,
                });
            }
        })
    }

    pub fn is_still(self) -> bool {
        matches!(self, Container::Png | Container::Jpeg)
    }

    /// H.264 in 4:2:0 needs even frame sides.
    pub fn needs_even_size(self) -> bool {
        !self.is_still()
    }
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
        }
    }
}

/// Frames the queue before the video encoder holds (see `Encoder::open`).
const ENCODER_QUEUE_FRAMES: u32 = 16;

/// `--encoder`: which GStreamer video encoder writes the output.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum VideoEncoder {
    /// A hardware encoder when GStreamer has one (NVENC, VA-API, Quick Sync, V4L2), else
    /// x264 (x265 for 10-bit).
    #[default]
    Auto,
    X264,
    X265,
    /// NVIDIA NVENC H.264 (nvh264enc).
    Nvenc,
    /// NVIDIA NVENC H.265 (nvh265enc).
    NvencH265,
    /// VA-API H.264 (Intel/AMD on Linux).
    Vaapi,
    /// VA-API H.265.
    VaapiH265,
    /// Intel Quick Sync H.264.
    Qsv,
    /// V4L2 memory-to-memory H.264 (Raspberry Pi and other SoCs).
    V4l2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::H264 => "H.264",
            Codec::H265 => "H.265",
        }
    }

    /// What the frame size breaks, when no level of the codec allows it: H.264's largest
    /// frame is 139264 macroblocks (level 6.2) with no side over 1055 of them; H.265's
    /// 35651584 luma samples (level 6.2) with no side over sqrt(8 x that) = 16888.
    pub fn frame_too_large(self, (w, h): (u32, u32)) -> Option<&'static str> {
        let (w, h) = (u64::from(w), u64::from(h));
        match self {
            Codec::H264 => {
                let (mw, mh) = (w.div_ceil(16), h.div_ceil(16));
                (mw * mh > 139_264 || mw.max(mh) > 1055)
                    .then_some("any H.264 level allows (139264 macroblocks, e.g. 8192x4320)")
            }
            Codec::H265 => (w * h > 35_651_584 || w.max(h) > 16_888)
                .then_some("any H.265 level allows (35651584 pixels, e.g. 8192x4320)"),
        }
    }
}

/// A concrete encoder element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderElement {
    pub factory: &'static str,
    pub codec: Codec,
    pub hardware: bool,
}

impl std::fmt::Display for EncoderElement {
    /// "nvh264enc (hardware H.264)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.hardware { "hardware " } else { "" };
        write!(f, "{} ({kind}{})", self.factory, self.codec.name())
    }
}

const fn el(factory: &'static str, codec: Codec, hardware: bool) -> EncoderElement {
    EncoderElement {
        factory,
        codec,
        hardware,
    }
}

/// Hardware encoders `auto` tries, best first.
const HARDWARE_H264: [EncoderElement; 5] = [
    el("nvh264enc", Codec::H264, true),
    el("vah264enc", Codec::H264, true),
    el("vaapih264enc", Codec::H264, true),
    el("qsvh264enc", Codec::H264, true),
    el("v4l2h264enc", Codec::H264, true),
];
const HARDWARE_H265: [EncoderElement; 4] = [
    el("nvh265enc", Codec::H265, true),
    el("vah265enc", Codec::H265, true),
    el("vaapih265enc", Codec::H265, true),
    el("qsvh265enc", Codec::H265, true),
];

impl VideoEncoder {
    fn candidates(self, ten_bit: bool) -> Vec<EncoderElement> {
        match self {
            VideoEncoder::Auto if ten_bit => HARDWARE_H265
                .into_iter()
                .chain([el("x265enc", Codec::H265, false)])
                .collect(),
            VideoEncoder::Auto => HARDWARE_H264
                .into_iter()
                .chain([el("x264enc", Codec::H264, false)])
                .collect(),
            VideoEncoder::X264 => vec![el("x264enc", Codec::H264, false)],
            VideoEncoder::X265 => vec![el("x265enc", Codec::H265, false)],
            VideoEncoder::Nvenc => vec![HARDWARE_H264[0]],
            VideoEncoder::NvencH265 => vec![HARDWARE_H265[0]],
            VideoEncoder::Vaapi => vec![HARDWARE_H264[1], HARDWARE_H264[2]],
            VideoEncoder::VaapiH265 => vec![HARDWARE_H265[1], HARDWARE_H265[2]],
            VideoEncoder::Qsv => vec![HARDWARE_H264[3]],
            VideoEncoder::V4l2 => vec![HARDWARE_H264[4]],
        }
    }

    /// The `--encoder` value naming this choice.
    pub fn flag(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }

    /// The element to use: the first candidate GStreamer has (and, for hardware, that
    /// can start). An explicit choice that is missing is an error naming what exists.
    pub fn resolve(self, bit_depth: u32) -> Result<EncoderElement, String> {
        let ten_bit = bit_depth == 10;
        if ten_bit
            && !matches!(
                self,
                VideoEncoder::Auto
                    | VideoEncoder::X265
                    | VideoEncoder::NvencH265
                    | VideoEncoder::VaapiH265
            )
        {
            return Err(format!(
                "--bit-depth 10 needs an H.265 encoder (--encoder x265, nvenc-h265 or vaapi-h265); --encoder {} writes 8-bit H.264",
                self.flag()
            ));
        }
        let _ = media::init();
        for c in self.candidates(ten_bit) {
            if usable(c.factory) {
                return Ok(c);
            }
        }
        let present: Vec<&str> = HARDWARE_H264
            .iter()
            .chain(HARDWARE_H265.iter())
            .map(|e| e.factory)
            .chain(["x264enc", "x265enc"])
            .filter(|f| usable(f))
            .collect();
        Err(format!(
            "--encoder {}: not available in this GStreamer installation (usable here: {}). \
             Hardware encoders come with gstreamer1.0-plugins-bad (nvcodec, va) or gstreamer1.0-vaapi and the GPU's driver",
            self.flag(),
            if present.is_empty() {
                "none".into()
            } else {
                present.join(", ")
            }
        ))
    }
}

/// The element exists and, for hardware, can reach READY (a driver is present). Probed
/// once per process: opening a hardware encoder costs time, and every render of a batch
/// (validation and encoder set-up) asks again.
fn usable(factory: &'static str) -> bool {
    static PROBED: std::sync::Mutex<Vec<(&str, bool)>> = std::sync::Mutex::new(Vec::new());
    let mut probed = PROBED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&(_, ok)) = probed.iter().find(|(f, _)| *f == factory) {
        return ok;
    }
    let ok = gst::ElementFactory::make(factory).build().is_ok_and(|e| {
        let ready = e.set_state(gst::State::Ready).is_ok();
        let _ = e.set_state(gst::State::Null);
        ready
    });
    probed.push((factory, ok));
    ok
}

pub const SPEED_PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// The encoder element with the quality settings it understands.
fn make_encoder(
    chosen: EncoderElement,
    settings: &EncodeSettings,
) -> Result<gst::Element, MediaError> {
    let e = media::make(chosen.factory)?;
    let has = |p: &str| e.find_property(p).is_some();
    match chosen.factory {
        "x264enc" => {
            e.set_property_from_str("speed-preset", &settings.speed_preset);
            e.set_property_from_str("pass", "qual");
            e.set_property("quantizer", settings.crf);
            // Frame-packing SEI: YouTube and some TVs detect 3D from it.
            match settings.layout {
                Layout::Sbs | Layout::HalfSbs => {
                    e.set_property_from_str("frame-packing", "side-by-side")
                }
                Layout::Tb | Layout::HalfTb => {
                    e.set_property_from_str("frame-packing", "top-bottom")
                }
                _ => {}
            }
        }
        "x265enc" => {
            e.set_property_from_str("speed-preset", &settings.speed_preset);
            e.set_property("option-string", format!("crf={}", settings.crf));
        }
        _ => {
            // Hardware: constant QP where the element offers it (names differ by plugin).
            let q = settings.crf;
            if (set_enum(&e, "rc-mode", &["cqp", "constqp"])
                || set_enum(&e, "rate-control", &["cqp", "constqp"]))
                && !["qp-const", "init-qp", "qpi", "qp-i"]
                    .iter()
                    .any(|p| has(p) && set_int(&e, p, q))
            {
                log::debug!(
                    "{}: no constant-QP property; its default rate control applies",
                    chosen.factory
                );
            }
        }
    }
    Ok(e)
}

/// Raw format caps, the encoder with `settings` and its parser: the part of a video
/// branch that the render and `bench`'s decode+encode-only baseline share, so both encode
/// alike.
pub fn encoder_branch(
    chosen: EncoderElement,
    settings: &EncodeSettings,
) -> Result<[gst::Element; 3], MediaError> {
    let format = media::make("capsfilter")?;
    let raw_format = match (chosen.hardware, settings.bit_depth == 10) {
        (false, false) => Some("I420"),
        (false, true) => Some("I420_10LE"),
        (true, true) => Some("P010_10LE"),
        (true, false) => None, // each hardware encoder has its own preferred layout
    };
    let mut raw = gst::Caps::builder("video/x-raw");
    if let Some(f) = raw_format {
        raw = raw.field("format", f);
    }
    format.set_property("caps", raw.build());
    let encoder = make_encoder(chosen, settings)?;
    if chosen.codec == Codec::H265 {
        // What x264's frame-packing property does for H.264 (see hevc_sei).
        crate::media::hevc_sei::mark_stereo(&encoder, settings.layout);
    }
    let parse = media::make(match chosen.codec {
        Codec::H264 => "h264parse",
        Codec::H265 => "h265parse",
    })?;
    Ok([format, encoder, parse])
}

/// Sets enum property `prop` to the first of `nicks` it knows; false if none.
fn set_enum(e: &gst::Element, prop: &str, nicks: &[&str]) -> bool {
    let Some(spec) = e.find_property(prop) else {
        return false;
    };
    let Some(spec) = spec.downcast_ref::<gst::glib::ParamSpecEnum>() else {
        return false;
    };
    let class = spec.enum_class();
    for nick in nicks {
        if class.value_by_nick(nick).is_some() {
            e.set_property_from_str(prop, nick);
            return true;
        }
    }
    false
}

/// Sets integer property `prop` whatever its integer type; false if it is not one.
fn set_int(e: &gst::Element, prop: &str, v: u32) -> bool {
    let Some(spec) = e.find_property(prop) else {
        return false;
    };
    let t = spec.value_type();
    if t == u32::static_type() {
        e.set_property(prop, v);
    } else if t == i32::static_type() {
        e.set_property(prop, v as i32);
    } else if t == u64::static_type() {
        e.set_property(prop, u64::from(v));
    } else if t == i64::static_type() {
        e.set_property(prop, i64::from(v));
    } else {
        return false;
    }
    true
}

pub struct Encoder {
    pipeline: gst::Pipeline,
    video: gst_app::AppSrc,
    audio: Option<gst_app::AppSrc>,
    container: Container,
    layout: Layout,
    tmp_path: PathBuf,
    final_path: PathBuf,
    size: (u32, u32),
    /// What `push_video` takes.
    input: FrameInput,
    /// Reused buffers for the video frames (a fresh multi-megabyte allocation per frame
    /// costs page faults).
    pool: gst::BufferPool,
    frames: u64,
    finished: bool,
}

/// The pixel data an encoder takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameInput {
    /// RGBA8 rows (stills: PNG and JPEG stay lossless up to their own coding).
    Rgba,
    /// 8-bit I420 in GStreamer's default layout, with this matrix (videos: the GPU
    /// converts, see gpu::YuvPacker).
    I420(YuvMatrix),
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
        let tmp_path = crate::fsutil::temp_path_for(path);
        // Fail now, with a plain message, rather than deep inside GStreamer.
        std::fs::File::create(&tmp_path).map_err(|e| EncodeError::NotWritable {
            path: path.into(),
            cause: e,
        })?;
        live_temp_files()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tmp_path.clone());
        // Any error from here on removes the file again; the Encoder takes it over at the end.
        let temp = TempFile(Some(tmp_path.clone()));

        let pipeline = gst::Pipeline::with_name("stereosplat-encode");
        let gst_err = |e: gst::glib::BoolError| media_err(MediaError::Other(e.to_string()));
        // Videos take 8-bit I420 from the GPU when 4:2:0 fits the size. Stills, and 10-bit
        // output (converted from RGBA straight to 10 bits, which keeps the precision
        // 10-bit exists for), take RGBA.
        let input = if container.is_still()
            || settings.bit_depth == 10
            || size.0 % 2 == 1
            || size.1 % 2 == 1
        {
            FrameInput::Rgba
        } else {
            FrameInput::I420(YuvMatrix::for_height(size.1))
        };
        let video_info = match input {
            FrameInput::Rgba => {
                gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgba, size.0, size.1)
            }
            FrameInput::I420(matrix) => {
                let colorimetry: gst_video::VideoColorimetry =
                    matrix.colorimetry().parse().map_err(gst_err)?;
                gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, size.0, size.1)
                    .colorimetry(&colorimetry)
            }
        }
        .fps(fps.unwrap_or_else(|| gst::Fraction::new(0, 1)))
        .par(gst::Fraction::new(
            settings.pixel_aspect.0.max(1),
            settings.pixel_aspect.1.max(1),
        ))
        .build()
        .map_err(gst_err)?;
        if let FrameInput::I420(_) = input {
            // The GPU writes this layout; GStreamer must agree on it byte for byte.
            let gpu = I420Layout::new(size.0, size.1);
            let offsets = video_info.offset();
            let strides = video_info.stride();
            let same = video_info.size() == gpu.len as usize
                && offsets[1] == gpu.u_offset as usize
                && offsets[2] == gpu.v_offset as usize
                && strides[0] == gpu.y_stride as i32
                && strides[1] == gpu.c_stride as i32;
            if !same {
                return Err(media_err(MediaError::Other(format!(
                    "GStreamer's I420 layout for {}x{} differs from the GPU's",
                    size.0, size.1
                ))));
            }
        }
        let frame_bytes = match input {
            FrameInput::Rgba => size.0 as usize * size.1 as usize * 4,
            FrameInput::I420(_) => video_info.size(),
        };
        let caps = video_info.to_caps().map_err(gst_err)?;
        let pool = gst::BufferPool::new();
        let mut config = pool.config();
        // Up to the appsrc queue plus what the encoder holds; more are allocated if needed.
        config.set_params(Some(&caps), frame_bytes as u32, 2, 0);
        pool.set_config(config).map_err(gst_err)?;
        pool.set_active(true).map_err(gst_err)?;
        let video = gst_app::AppSrc::builder()
            .name("enc-frames")
            .caps(&caps)
            .format(gst::Format::Time)
            .is_live(false)
            .block(true)
            // A few frames of slack between the GPU and the encoder thread.
            .max_bytes(frame_bytes as u64 * 4)
            .build();
        let sink = media::make("filesink").map_err(media_err)?;
        sink.set_property("location", tmp_path.to_string_lossy().as_ref());
        let mut audio = None;
        let add = |els: &[&gst::Element]| {
            pipeline
                .add_many(els.iter().copied())
                .map_err(|e| media_err(MediaError::Other(e.to_string())))
        };

        if container.is_still() {
            let convert = media::make("videoconvert").map_err(media_err)?;
            let enc = media::make(if container == Container::Png {
                "pngenc"
            } else {
                "jpegenc"
            })
            .map_err(media_err)?;
            if container == Container::Png {
                enc.set_property("snapshot", false);
            } else {
                enc.set_property("quality", 95i32);
            }
            add(&[video.upcast_ref(), &convert, &enc, &sink])?;
            media::link_many(&[video.upcast_ref(), &convert, &enc, &sink]).map_err(media_err)?;
        } else {
            let queue = media::make_named("queue", "enc-video").map_err(media_err)?;
            // Counted in frames, not the default 10 MB (three 1080p frames): x264's
            // lookahead fills without encoding for its first ~40 frames, then encodes
            // for a while faster than frames arrive and then slower; with a short
            // queue the warp stalls in the slow spells while x264 has cores to spare,
            // and the cores idle. 16 frames is 50 MB at 1080p, 200 MB at 4K.
            queue.set_property("max-size-buffers", ENCODER_QUEUE_FRAMES);
            queue.set_property("max-size-bytes", 0u32);
            queue.set_property("max-size-time", 0u64);
            let convert = media::make("videoconvert").map_err(media_err)?;
            let chosen = settings
                .encoder
                .resolve(settings.bit_depth)
                .map_err(|m| media_err(MediaError::Other(m)))?;
            log::info!(
                "video encoder: {} ({}{}, {}-bit)",
                chosen.factory,
                if chosen.hardware { "hardware " } else { "" },
                chosen.codec.name(),
                settings.bit_depth
            );
            // x264 refuses to start above this ("Can not initialize x264 encoder").
            const X264_MAX_SIDE: u32 = 16384;
            if chosen.factory == "x264enc" && size.0.max(size.1) > X264_MAX_SIDE {
                return Err(EncodeError::FrameTooLarge {
                    path: path.into(),
                    size,
                    encoder: "x264",
                    limit: X264_MAX_SIDE,
                });
            }
            if let Some(limit) = chosen.codec.frame_too_large(size) {
                log::warn!(
                    "{}: the {}x{} output is larger than {limit}; the file is written, but \
                     players and hardware decoders may refuse it (a half layout such as \
                     --layout half-sbs keeps the input's size)",
                    path.display(),
                    size.0,
                    size.1
                );
            }
            let [format, encoder, parse] = encoder_branch(chosen, settings).map_err(media_err)?;
            let mux = match container {
                Container::Mp4 => media::make("mp4mux"),
                Container::Mov => media::make("qtmux"),
                _ => media::make("matroskamux"),
            }
            .map_err(media_err)?;
            let mut chain: Vec<gst::Element> = vec![
                video.clone().upcast(),
                queue,
                convert,
                format,
                encoder,
                parse,
            ];
            // The muxers write their stereo metadata from the caps' multiview-mode:
            // matroskamux its StereoMode; mp4mux and qtmux their svmi box, which they
            // only learn from h264parse reading x264's SEI, so H.265 gets it here.
            let caps_mode = match container {
                Container::Matroska => multiview_caps_mode(settings.layout),
                _ if chosen.codec == Codec::H265 => mp4_multiview_mode(settings.layout),
                _ => None,
            };
            if let Some(mode) = caps_mode {
                let setter = media::make("capssetter").map_err(media_err)?;
                setter.set_property(
                    "caps",
                    gst::Caps::builder(match chosen.codec {
                        Codec::H264 => "video/x-h264",
                        Codec::H265 => "video/x-h265",
                    })
                    .field("multiview-mode", mode)
                    .build(),
                );
                chain.push(setter);
            }
            chain.push(mux.clone());
            chain.push(sink.clone());
            let refs: Vec<&gst::Element> = chain.iter().collect();
            add(&refs)?;
            media::link_many(&refs).map_err(media_err)?;

            if let Some(caps) = audio_caps {
                audio = Some(add_audio(&pipeline, &mux, caps).map_err(media_err)?);
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
        temp.keep();
        Ok(Self {
            pipeline,
            video,
            audio,
            container,
            layout: settings.layout,
            tmp_path,
            final_path: path.into(),
            size,
            input,
            pool,
            frames: 0,
            finished: false,
        })
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
        let bus = self.pipeline.bus().expect("bus");
        let timeout = Duration::from_secs(120);
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        let _ = self.pipeline.set_state(gst::State::Null);
        match msg {
            None => {
                return Err(EncodeError::FinishTimeout {
                    path: self.final_path.clone(),
                    secs: timeout.as_secs(),
                });
            }
            Some(msg) => {
                if let Some(err) = media::bus_error(&msg) {
                    return Err(media_failure(&self.final_path, err));
                }
            }
        }
        if self.container == Container::Matroska
            && let Some(mode) = self.layout.matroska_stereo_mode()
            && let Err(e) = stereo_tags::set_matroska_stereo_mode(&self.tmp_path, mode)
        {
            log::warn!(
                "could not set the Matroska StereoMode of {}: {e}",
                self.final_path.display()
            );
        }
        if matches!(self.container, Container::Mp4 | Container::Mov)
            && let Err(e) =
                stereo_tags::set_mp4_left_first(&self.tmp_path, !self.layout.is_right_first())
        {
            log::warn!(
                "could not mend the stereo box (svmi) of {}: {e}",
                self.final_path.display()
            );
        }
        std::fs::rename(&self.tmp_path, &self.final_path).map_err(|e| {
            EncodeError::NotWritable {
                path: self.final_path.clone(),
                cause: e,
            }
        })?;
        self.finished = true;
        Ok(self.final_path.clone())
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.pipeline.set_state(gst::State::Null);
            let _ = std::fs::remove_file(&self.tmp_path);
        }
        live_temp_files()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p != &self.tmp_path);
    }
}

/// A temporary output that `Encoder::open` created: removed (and forgotten) when dropped
/// unless kept, so an open that fails halfway leaves nothing behind.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(&path);
            live_temp_files()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|p| p != &path);
        }
    }
}

/// Temporary files being written right now, so a second Ctrl-C can remove them before the
/// process exits (destructors do not run then).
pub fn live_temp_files() -> &'static std::sync::Mutex<Vec<PathBuf>> {
    static FILES: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    &FILES
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

/// Multiview mode put in the caps for matroskamux; layouts GStreamer has no mode for get
/// side-by-side here and their real StereoMode patched in after muxing.
fn multiview_caps_mode(layout: Layout) -> Option<&'static str> {
    match layout {
        Layout::Tb | Layout::HalfTb => Some("top-bottom"),
        l if l.matroska_stereo_mode().is_some() => Some("side-by-side"),
        _ => None,
    }
}

/// Multiview mode for an MP4 or MOV svmi box: stereo pairs only (the box has no
/// anaglyph); the view order is mended after muxing (`stereo_tags::set_mp4_left_first`).
fn mp4_multiview_mode(layout: Layout) -> Option<&'static str> {
    match layout {
        Layout::Sbs | Layout::HalfSbs | Layout::Cross | Layout::HalfCross => Some("side-by-side"),
        Layout::Tb | Layout::HalfTb => Some("top-bottom"),
        _ => None,
    }
}

fn add_audio(
    pipeline: &gst::Pipeline,
    mux: &gst::Element,
    caps: &gst::Caps,
) -> Result<gst_app::AppSrc, MediaError> {
    let src = gst_app::AppSrc::builder()
        .caps(caps)
        .format(gst::Format::Time)
        .is_live(false)
        // Audio is small; never block the render loop on it.
        .block(false)
        .max_bytes(0)
        .build();
    let queue = media::make_named("queue", "enc-audio")?;
    let err = |e: gst::glib::BoolError| MediaError::Other(e.to_string());
    let accepts = mux
        .pad_template("audio_%u")
        .is_some_and(|t| t.caps().can_intersect(caps));
    if accepts {
        pipeline.add_many([src.upcast_ref(), &queue]).map_err(err)?;
        media::link_many(&[src.upcast_ref(), &queue])?;
        link_audio_pad(&queue, mux)?;
        log::info!("audio: passed through ({})", caps_name(caps));
    } else {
        let decode = media::make("decodebin")?;
        let convert = media::make("audioconvert")?;
        let resample = media::make("audioresample")?;
        let aac = media::make(media::aac_encoder()?)?;
        pipeline
            .add_many([src.upcast_ref(), &queue, &decode, &convert, &resample, &aac])
            .map_err(err)?;
        media::link_many(&[src.upcast_ref(), &queue, &decode])?;
        media::link_many(&[&convert, &resample, &aac])?;
        link_audio_pad(&aac, mux)?;
        let convert_weak = convert.downgrade();
        decode.connect_pad_added(move |_, pad| {
            if let Some(convert) = convert_weak.upgrade() {
                let sink = convert.static_pad("sink").expect("audioconvert sink");
                if !sink.is_linked()
                    && let Err(e) = pad.link(&sink)
                {
                    log::error!("cannot link decoded audio: {e:?}");
                }
            }
        });
        log::info!(
            "audio: {} cannot go into this container as is; re-encoding to AAC",
            caps_name(caps)
        );
    }
    Ok(src)
}

/// Links to an audio request pad explicitly: with caps still unknown (ANY), automatic
/// linking may pick the muxer's video pad.
fn link_audio_pad(from: &gst::Element, mux: &gst::Element) -> Result<(), MediaError> {
    let sink = mux
        .request_pad_simple("audio_%u")
        .ok_or_else(|| MediaError::Other("the muxer has no audio input".into()))?;
    from.static_pad("src")
        .expect("src pad")
        .link(&sink)
        .map_err(|e| MediaError::Other(format!("cannot link audio to the muxer: {e:?}")))?;
    Ok(())
}

fn caps_name(caps: &gst::Caps) -> String {
    caps.structure(0)
        .map(|s| s.name().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_beyond_every_codec_level_are_named() {
        // 8K half SBS and 4K full SBS are within both codecs' largest levels.
        for ok in [(7680, 4320), (8192, 4320), (7680, 2160), (3840, 2160)] {
            assert_eq!(Codec::H264.frame_too_large(ok), None, "{ok:?}");
            assert_eq!(Codec::H265.frame_too_large(ok), None, "{ok:?}");
        }
        // 8K full SBS: too many pixels for either.
        assert!(Codec::H264.frame_too_large((15360, 4320)).is_some());
        assert!(Codec::H265.frame_too_large((15360, 4320)).is_some());
        // One macroblock too wide for H.264 (1056 x 16 = 16896), with few pixels.
        assert!(Codec::H264.frame_too_large((16896, 64)).is_some());
        assert_eq!(Codec::H264.frame_too_large((16880, 64)), None);
        assert!(Codec::H265.frame_too_large((16896, 64)).is_some());
        // 8224x4352: 514 x 272 = 139808 macroblocks, over 139264.
        assert!(Codec::H264.frame_too_large((8224, 4352)).is_some());
    }
}
