//! Which GStreamer element encodes the video (`--encoder`), with the quality settings
//! each understands: x264 and x265, and the hardware encoders GStreamer offers (NVENC,
//! VA-API, Quick Sync, V4L2), probed once per process.

use gst::prelude::*;
use gstreamer as gst;

use super::EncodeSettings;
use crate::layout::Layout;
use crate::media::{self, MediaError};

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
pub(super) fn usable(factory: &'static str) -> bool {
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
            // --crf 0 is lossless, as it is for x264 (x265's own crf 0 is not).
            let rate = match settings.crf {
                0 => "lossless=1".to_owned(),
                crf => format!("crf={crf}"),
            };
            e.set_property("option-string", rate);
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
    if let Some(hdr) = settings.hdr.as_ref().filter(|_| settings.bit_depth == 10) {
        // videoconvert turns RGB into Y'CbCr with BT.2020's matrix (the transfer is the
        // source's, untouched), and x265 writes the colour description, mastering display
        // and content light level SEI from these fields.
        raw = raw.field("colorimetry", hdr.transfer.colorimetry());
        if let Some(m) = &hdr.mastering_display {
            raw = raw.field("mastering-display-info", m);
        }
        if let Some(c) = &hdr.content_light {
            raw = raw.field("content-light-level", c);
        }
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
