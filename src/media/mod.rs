//! Everything that talks to GStreamer: [`decode`] (files to frames and audio), [`bars`]
//! (letterbox and pillarbox found over a clip), [`encode`]
//! (frames and audio to files), the stream metadata mended after muxing ([`stereo_tags`],
//! [`hevc_sei`]), the packet count of a file ([`packet_count`]), raw frames into a file
//! ([`raw_writer`]: depth maps, test media), VR180's spherical boxes ([`spherical`]) and generated test media ([`synth`]). This file holds the plumbing they share: initialisation, element creation
//! and bus errors turned into messages that name the element and say what went wrong.

pub mod bars;
pub mod decode;
pub mod encode;
pub mod hevc_sei;
pub mod mkv_projection;
pub mod packet_count;
pub mod raw_writer;
pub mod spherical;
pub mod stereo_tags;
pub mod synth;

use std::sync::Once;

use gst::prelude::*;
use gstreamer as gst;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(
        "GStreamer element `{0}` is missing. Install the GStreamer plugins \
         (Debian: `bash .ci/setup`, or apt-get install gstreamer1.0-plugins-good \
         gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav)"
    )]
    MissingElement(String),
    #[error("GStreamer could not start: {0}")]
    Init(String),
    #[error("{element}: {message}")]
    Pipeline {
        element: String,
        message: String,
        debug: Option<String>,
    },
    #[error("GStreamer pipeline failed: {0}")]
    Other(String),
}

pub fn init() -> Result<(), MediaError> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = gst::init().map_err(|e| MediaError::Init(e.to_string()));
    });
    result
}

pub fn make(factory: &str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| MediaError::MissingElement(factory.to_owned()))
}

/// [`make`] with an element name. Streaming threads are named after the element whose
/// pad runs them ("dec-video:src"), and threads an element starts (x264's, libav's)
/// inherit that name, which is how `trace::CpuProfile` tells the stages apart.
pub fn make_named(factory: &str, name: &str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory)
        .name(name)
        .build()
        .map_err(|_| MediaError::MissingElement(factory.to_owned()))
}

/// A pipeline named `name` reading `path` into a parsebin: `filesrc ! parsebin`, whose
/// streams the caller links as they appear.
pub fn parse_file(
    name: &str,
    path: &std::path::Path,
) -> Result<(gst::Pipeline, gst::Element), MediaError> {
    init()?;
    let pipeline = gst::Pipeline::with_name(name);
    let src = make("filesrc")?;
    src.set_property("location", path.to_string_lossy().as_ref());
    let parse = make("parsebin")?;
    pipeline
        .add_many([&src, &parse])
        .and_then(|_| src.link(&parse))
        .map_err(|e| MediaError::Other(e.to_string()))?;
    Ok((pipeline, parse))
}

pub fn has_element(factory: &str) -> bool {
    gst::ElementFactory::find(factory).is_some()
}

/// AAC encoders in order of preference: libav's (gstreamer1.0-libav), the Fraunhofer
/// one (what Fedora ships without RPM Fusion's libav), VisualOn's (plugins-bad).
const AAC_ENCODERS: [&str; 3] = ["avenc_aac", "fdkaacenc", "voaacenc"];

/// The first AAC encoder this GStreamer has; missing all of them names libav's, whose
/// package the error's advice installs.
pub fn aac_encoder() -> Result<&'static str, MediaError> {
    init()?;
    AAC_ENCODERS
        .into_iter()
        .find(|f| has_element(f))
        .ok_or_else(|| MediaError::MissingElement(AAC_ENCODERS[0].to_owned()))
}

/// The error a bus message carries, if it is one.
pub fn bus_error(msg: &gst::Message) -> Option<MediaError> {
    match msg.view() {
        gst::MessageView::Error(e) => {
            log::debug!("GStreamer error details: {:?}", e.debug());
            Some(MediaError::Pipeline {
                element: msg
                    .src()
                    .map(|s| s.name().to_string())
                    .unwrap_or_else(|| "pipeline".into()),
                message: e.error().to_string(),
                debug: e.debug().map(|d| d.to_string()),
            })
        }
        _ => None,
    }
}

/// Pops pending bus messages; returns the first error, or whether EOS was seen.
pub fn poll_bus(bus: &gst::Bus) -> Result<bool, MediaError> {
    let mut eos = false;
    while let Some(msg) = bus.pop() {
        if let Some(err) = bus_error(&msg) {
            return Err(err);
        }
        if let gst::MessageView::Eos(_) = msg.view() {
            eos = true;
        }
    }
    Ok(eos)
}

pub fn link_many(elements: &[&gst::Element]) -> Result<(), MediaError> {
    gst::Element::link_many(elements).map_err(|e| MediaError::Other(e.to_string()))
}

/// Adds `chain` to `pipeline`, links it in order, starts it and feeds it from `pad`.
pub fn add_chain(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    chain: &[&gst::Element],
) -> Result<(), MediaError> {
    pipeline
        .add_many(chain.iter().copied())
        .map_err(|e| MediaError::Other(e.to_string()))?;
    link_many(chain)?;
    for e in chain {
        e.sync_state_with_parent()
            .map_err(|e| MediaError::Other(e.to_string()))?;
    }
    let sinkpad = chain[0]
        .static_pad("sink")
        .expect("first element has a sink pad");
    pad.link(&sinkpad)
        .map_err(|e| MediaError::Other(format!("link failed: {e:?}")))?;
    Ok(())
}

/// Streams nobody wants. The queue matters: a sink straight on the demuxer would block
/// its thread in preroll before the video sink got its first frame.
pub fn link_fakesink(pipeline: &gst::Pipeline, pad: &gst::Pad) -> Result<(), MediaError> {
    let queue = make("queue")?;
    let sink = make("fakesink")?;
    sink.set_property("sync", false);
    add_chain(pipeline, pad, &[&queue, &sink])
}
