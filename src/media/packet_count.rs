//! A video stream's length read from its packets, without decoding them:
//!
//! `filesrc ! parsebin ─┬ first video ─ queue ! appsink (counts packets)`
//! `                    └ the others  ─ queue ! fakesink`
//!
//! Reading a file's packets costs hundredths of a second where decoding them costs seconds
//! to minutes. The depth scan uses it when it has seen all it needs of the values before
//! the end of the clip, for the frame count and duration it still has to report.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;

use crate::media::decode::DecodeError;
use crate::media::{self, MediaError};

/// What the packets of a file's first video stream say of its frames, on the stream's
/// own timeline (as `Decoder` reads it before rebasing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketCount {
    /// Packets a decoder turns into shown frames: those inside the file's segment (an
    /// mp4 edit list can hide some).
    pub frames: u64,
    /// Stream time of the earliest shown frame: where `Decoder` puts 0.
    pub first_nanos: u64,
    /// Stream time where the last shown frame ends (pts + duration).
    pub end_nanos: u64,
}

impl PacketCount {
    /// The shown frames' extent, from the first one's start to the last one's end.
    pub fn duration_nanos(&self) -> u64 {
        self.end_nanos.saturating_sub(self.first_nanos)
    }
}

#[derive(Default)]
struct Tally {
    frames: u64,
    first: Option<u64>,
    end: u64,
    /// A packet had no timestamp: the count cannot say where frames fall.
    untimed: bool,
    last_packet: Option<Instant>,
}

/// Longest silence from the parser before the count gives up (the caller then decodes).
const STALL: Duration = Duration::from_secs(60);

/// Counts the frames of the file's first video stream from its parsed packets.
/// `frame_nanos` stands in for a packet's missing duration. None when packets do not
/// tell: one without a timestamp, or no video stream; the caller then decodes the clip.
pub fn count_packets(
    path: &Path,
    frame_nanos: Option<u64>,
) -> Result<Option<PacketCount>, DecodeError> {
    let media_err = |cause: MediaError| DecodeError::Media {
        path: path.into(),
        cause,
    };
    let (pipeline, parse) = media::parse_file("stereosplat-count", path).map_err(media_err)?;

    let tally = Arc::new(Mutex::new(Tally::default()));
    let video_taken = Arc::new(AtomicBool::new(false));
    {
        let pipeline = pipeline.downgrade();
        let tally = tally.clone();
        parse.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let is_video = caps
                .structure(0)
                .is_some_and(|s| s.name().starts_with("video/") || s.name().starts_with("image/"));
            // The first video stream is the one `Decoder` decodes.
            let counted = is_video && !video_taken.swap(true, Ordering::SeqCst);
            let linked = if counted {
                counting_sink(tally.clone(), frame_nanos).and_then(|sink| {
                    let queue = media::make("queue")?;
                    media::add_chain(&pipeline, pad, &[&queue, &sink])
                })
            } else {
                media::link_fakesink(&pipeline, pad)
            };
            if let Err(e) = linked {
                log::debug!("packet count of a stream not linked: {e}");
            }
        });
    }
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| media_err(MediaError::Other("the pipeline refused to start".into())))?;
    let result = wait_for_end(&pipeline, &tally).map_err(media_err);
    let _ = pipeline.set_state(gst::State::Null);
    if !result? {
        return Ok(None);
    }
    let tally = tally.lock().unwrap();
    Ok(match (tally.untimed, tally.first) {
        (false, Some(first)) => Some(PacketCount {
            frames: tally.frames,
            first_nanos: first,
            end_nanos: tally.end,
        }),
        _ => None,
    })
}

/// Waits for the end of the file: true at EOS, false when the parser fell silent.
fn wait_for_end(pipeline: &gst::Pipeline, tally: &Mutex<Tally>) -> Result<bool, MediaError> {
    let bus = pipeline.bus().expect("a pipeline has a bus");
    let started = Instant::now();
    loop {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) {
            if let Some(e) = media::bus_error(&msg) {
                return Err(e);
            }
            if let gst::MessageView::Eos(_) = msg.view() {
                return Ok(true);
            }
        }
        let last = tally.lock().unwrap().last_packet.unwrap_or(started);
        if last.elapsed() > STALL {
            return Ok(false);
        }
    }
}

/// An appsink that counts the packets a decoder would show, as they pass.
fn counting_sink(
    tally: Arc<Mutex<Tally>>,
    frame_nanos: Option<u64>,
) -> Result<gst::Element, MediaError> {
    let sink = gst_app::AppSink::builder()
        // As fast as the file reads, not at the clip's pace.
        .sync(false)
        .callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let mut tally = tally.lock().unwrap();
                    tally.last_packet = Some(Instant::now());
                    let Some(buffer) = sample.buffer() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let Some(pts) = buffer.pts() else {
                        // Stream headers (codec set-up in band) are no frame.
                        if !buffer.flags().contains(gst::BufferFlags::HEADER) {
                            tally.untimed = true;
                        }
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let duration = buffer
                        .duration()
                        .or(frame_nanos.map(gst::ClockTime::from_nseconds))
                        .unwrap_or(gst::ClockTime::ZERO);
                    let segment = sample
                        .segment()
                        .and_then(|s| s.downcast_ref::<gst::ClockTime>());
                    // Decoders drop frames wholly outside the segment.
                    if let Some(segment) = segment
                        && segment.clip(pts, pts + duration).is_none()
                    {
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    let start = segment
                        .and_then(|s| s.to_stream_time(pts))
                        .unwrap_or(pts)
                        .nseconds();
                    tally.frames += 1;
                    tally.first = Some(tally.first.map_or(start, |f| f.min(start)));
                    tally.end = tally.end.max(start + duration.nseconds());
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        )
        .build();
    Ok(sink.upcast())
}
