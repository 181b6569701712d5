//! The decode pipeline and what its streaming threads share with the [`Decoder`]: the
//! parsed streams are linked as they appear (the first video to the decoder and the
//! appsink, the first audio to a channel of compressed buffers, the rest to fakesinks), and
//! a link that fails is posted on the bus as an element error, so the decoder's next read
//! reports it.
//!
//! [`Decoder`]: super::Decoder

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use gst_video::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::DecodeError;
use super::formats::{PixelFormat, bits_of};
use crate::layout::Canvas;
use crate::media::{self, MediaError};

pub(super) struct Shared {
    pub video_linked: AtomicBool,
    pub pads_done: AtomicBool,
    /// The video stream is a still image (png, jpeg...).
    pub is_image: AtomicBool,
    /// Bits per sample the decoder produced before conversion (8 for most video, 16 for
    /// 16-bit grey PNG or FFV1), so stored depth values can be read in their own units.
    pub source_bits: AtomicU32,
    pub audio_caps: Mutex<Option<gst::Caps>>,
    /// The audio branch has delivered its last buffer.
    pub audio_eos: AtomicBool,
}

/// A started decode pipeline.
pub(super) struct Started {
    pub pipeline: gst::Pipeline,
    pub sink: gst_app::AppSink,
    pub shared: Arc<Shared>,
    /// Compressed audio buffers, when audio was asked for.
    pub audio_rx: Option<mpsc::Receiver<gst::Buffer>>,
}

/// Builds and starts the pipeline of `path` (see the module diagram in `decode`).
pub(super) fn start(
    path: &Path,
    format: PixelFormat,
    with_audio: bool,
    crop: Option<Canvas>,
    with_video: bool,
) -> Result<Started, DecodeError> {
    let media_err = |cause: MediaError| DecodeError::Media {
        path: path.into(),
        cause,
    };
    let (pipeline, parse) = media::parse_file("stereosplat-decode", path).map_err(media_err)?;
    if with_audio {
        warn_of_undecodable_audio(&parse, path);
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
        source_bits: AtomicU32::new(8),
        audio_caps: Mutex::new(None),
        audio_eos: AtomicBool::new(false),
    });
    let (audio_tx, audio_rx) = mpsc::channel();
    let links = Links {
        pipeline: pipeline.downgrade(),
        sink: sink.clone(),
        shared: shared.clone(),
        format,
        crop,
        with_video,
        audio_tx: Mutex::new(with_audio.then_some(audio_tx)),
    };
    parse.connect_pad_added(move |parse, pad| links.link(parse, pad));
    let done = shared.clone();
    parse.connect_no_more_pads(move |_| done.pads_done.store(true, Ordering::SeqCst));
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| media_err(first_error(&pipeline)))?;
    Ok(Started {
        pipeline,
        sink,
        shared,
        audio_rx: with_audio.then_some(audio_rx),
    })
}

/// parsebin hands on a parsed stream only when some decoder could take it, so audio with
/// no decoder here vanishes even though it would be passed through: say so.
fn warn_of_undecodable_audio(parse: &gst::Element, path: &Path) {
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

/// What parsebin's pad-added handler needs to link a new stream.
struct Links {
    pipeline: gst::glib::WeakRef<gst::Pipeline>,
    sink: gst_app::AppSink,
    shared: Arc<Shared>,
    format: PixelFormat,
    /// The picture to keep (`--autocrop`) in frames as shown (after rotation).
    crop: Option<Canvas>,
    /// False: the video is dropped undecoded (the audio of a join).
    with_video: bool,
    /// Taken by the first audio stream.
    audio_tx: Mutex<Option<mpsc::Sender<gst::Buffer>>>,
}

impl Links {
    fn link(&self, parse: &gst::Element, pad: &gst::Pad) {
        let Some(pipeline) = self.pipeline.upgrade() else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let Some(name) = caps.structure(0).map(|s| s.name().to_string()) else {
            return;
        };
        log::debug!("stream found: {caps}");
        let shared = &self.shared;
        let result = if self.with_video
            && (name.starts_with("video/") || name.starts_with("image/"))
            && !shared.video_linked.swap(true, Ordering::SeqCst)
        {
            shared
                .is_image
                .store(name.starts_with("image/"), Ordering::SeqCst);
            link_video(
                &pipeline,
                pad,
                &self.sink,
                (self.format, self.crop),
                shared.clone(),
            )
        } else if name.starts_with("audio/")
            && let Some(tx) = self.audio_tx.lock().ok().and_then(|mut t| t.take())
        {
            if let Ok(mut c) = shared.audio_caps.lock() {
                *c = Some(caps.clone());
            }
            link_audio(&pipeline, pad, tx, shared.clone())
        } else {
            media::link_fakesink(&pipeline, pad)
        };
        if let Err(e) = result {
            post_error(parse, &format!("cannot link the {name} stream: {e}"));
        }
    }
}

/// Posts an element error from `element`, so whoever polls the bus reports it.
fn post_error(element: &gst::Element, message: &str) {
    let _ = element.post_message(
        gst::message::Error::builder(gst::StreamError::Failed, message)
            .src(element)
            .build(),
    );
}

/// A buffer's position on the stream's own timeline (what seeks use). Buffer timestamps
/// can be offset from it, e.g. by an mp4 edit list that hides B-frame delay.
pub(super) fn stream_time(sample: &gst::Sample) -> Option<u64> {
    let pts = sample.buffer()?.pts()?;
    let stream = sample
        .segment()
        .and_then(|s| s.downcast_ref::<gst::ClockTime>())
        .and_then(|s| s.to_stream_time(pts));
    Some(stream.unwrap_or(pts).nseconds())
}

pub(super) fn first_error(pipeline: &gst::Pipeline) -> MediaError {
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
    (format, crop): (PixelFormat, Option<Canvas>),
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
    let mut chain = vec![flip.clone()];
    if let Some(c) = crop {
        // After videoflip: the picture was found in frames as they are shown.
        let cropper = media::make_named("videocrop", "dec-autocrop")?;
        let p = c.picture;
        let margin = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        cropper.set_property("left", margin(p.x));
        cropper.set_property("top", margin(p.y));
        cropper.set_property("right", margin(c.size.0.saturating_sub(p.x + p.w)));
        cropper.set_property("bottom", margin(c.size.1.saturating_sub(p.y + p.h)));
        chain.push(cropper);
    }
    chain.push(convert.clone());
    chain.push(sink_el.clone());
    pipeline
        .add_many(chain.iter())
        .map_err(|e| MediaError::Other(e.to_string()))?;
    media::link_many(&chain.iter().collect::<Vec<_>>())?;
    for e in &chain {
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
            post_error(&flip, &format!("cannot link the decoded video ({e:?})"));
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
                        // The receiver goes with the Decoder: a send fails only while
                        // the pipeline is being shut down.
                        let sent = tx.lock().is_ok_and(|tx| tx.send(buffer).is_ok());
                        if !sent {
                            return Err(gst::FlowError::Flushing);
                        }
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
