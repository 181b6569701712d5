//! Generated media for tests, the bench and the README's sample: colour clips from
//! videotestsrc (with a tone from audiotestsrc) and depth clips whose values are known.

use std::path::Path;

use gst::prelude::*;
use gstreamer as gst;

use crate::media::{self, MediaError};

/// Runs a gst-launch style description to EOS.
pub fn run_launch(description: &str) -> Result<(), MediaError> {
    media::init()?;
    let pipeline = gst::parse::launch(description)
        .map_err(|e| MediaError::Other(format!("{description}: {e}")))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| MediaError::Other(e.to_string()))?;
    let bus = pipeline.bus().expect("bus");
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::NONE,
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let _ = pipeline.set_state(gst::State::Null);
    match msg.as_ref().and_then(media::bus_error) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn q(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

/// H.264 colour clip (SMPTE bars with a moving ball), optionally with a sine tone in AAC.
pub fn colour_clip(
    path: &Path,
    (w, h): (u32, u32),
    frames: u64,
    fps: u32,
    audio: bool,
) -> Result<(), MediaError> {
    let mux = if path.extension().is_some_and(|e| e == "mkv") {
        "matroskamux"
    } else {
        "mp4mux"
    };
    let mut d = format!(
        "videotestsrc num-buffers={frames} pattern=smpte horizontal-speed=2 ! \
         video/x-raw,width={w},height={h},framerate={fps}/1 ! videoconvert ! video/x-raw,format=I420 ! \
         x264enc speed-preset=ultrafast key-int-max=30 ! h264parse ! {mux} name=mux ! filesink location={}",
        q(path)
    );
    if audio {
        let samples = 48000 * frames / u64::from(fps);
        d.push_str(&format!(
            " audiotestsrc num-buffers={} samplesperbuffer=1024 freq=440 ! audio/x-raw,rate=48000,channels=2 ! \
             audioconvert ! avenc_aac ! aacparse ! mux.",
            samples.div_ceil(1024)
        ));
    }
    run_launch(&d)
}

/// Lossless-enough grey depth clip: a horizontal gradient (near on the right) that drifts.
pub fn depth_clip(
    path: &Path,
    (w, h): (u32, u32),
    frames: u64,
    fps: u32,
) -> Result<(), MediaError> {
    let mux = if path.extension().is_some_and(|e| e == "mkv") {
        "matroskamux"
    } else {
        "mp4mux"
    };
    run_launch(&format!(
        "videotestsrc num-buffers={frames} pattern=gradient ! video/x-raw,width={h},height={w},framerate={fps}/1 ! \
         videoflip method=clockwise ! videoconvert ! video/x-raw,format=I420 ! \
         x264enc speed-preset=ultrafast pass=quant quantizer=0 ! h264parse ! {mux} ! filesink location={}",
        q(path)
    ))
}
